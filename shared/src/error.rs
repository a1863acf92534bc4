//! Typed errors that keep their cause and say whether a retry can help.

use std::time::Duration;

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never be accepted as it is.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),

    /// The request clashes with what is already recorded (for example the
    /// same idempotency key with a different body).
    #[error("conflict: {0}")]
    Conflict(String),

    /// The request is refused with a code of the API it came to (a custom
    /// channel's `E_*`); `status` is the HTTP status that API gives it.
    #[error("{code}: {message}")]
    Refused { status: u16, code: &'static str, message: String },

    /// A dependency failed in a way that may pass: throttling, timeouts, 5xx.
    #[error("{what} (retryable)")]
    Retryable {
        what: String,
        /// How long the peer asked us to wait (Retry-After, `retry_by`).
        retry_after: Option<Duration>,
        #[source]
        source: Option<BoxError>,
    },

    /// A dependency refused for good: retrying the same call cannot help.
    #[error("{what}")]
    Permanent {
        what: String,
        #[source]
        source: Option<BoxError>,
    },

    /// A setting is missing or malformed; raised at cold start.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid { field, reason: reason.into() }
    }

    pub fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Error::Refused { status, code, message: message.into() }
    }

    pub fn retryable(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Retryable { what: what.into(), retry_after: None, source: Some(source.into()) }
    }

    pub fn permanent(what: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Permanent { what: what.into(), source }
    }

    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Retryable { .. })
    }

    /// The wait a peer asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error and its chain of causes on one line, for logs and failure reasons.
    pub fn chain(&self) -> String {
        describe(self)
    }
}

/// An error and its causes on one line.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
