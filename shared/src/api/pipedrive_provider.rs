//! What the seven Pipedrive provider endpoints share: HTTP Basic auth with
//! the app's client id and secret, the channel of the path, page sizes, and
//! the seed's error envelope.

use base64::Engine;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::bootstrap::Runtime;
use crate::compose::Aws;
use crate::config::SecretSource;
use crate::http::{self, pipedrive as envelope};
use crate::model::PipedriveChannel;
use crate::ports::ProviderFormat;
use crate::services::pipedrive::{Provider, DEFAULT_PAGE, MAX_PAGE};
use crate::{Error, Result};

pub struct ProviderEndpoint {
    credentials: Option<(String, SecretString)>,
    pub provider: Provider<Aws>,
    /// The answers in the Channels API's shapes.
    pub format: Box<dyn ProviderFormat>,
}

impl ProviderEndpoint {
    pub async fn build(rt: &Runtime) -> Result<Self> {
        let s = &rt.settings;
        let credentials = match (&s.pipedrive.client_id, &s.pipedrive.client_secret) {
            (Some(id), secret) if !matches!(secret, SecretSource::Unset) => {
                Some((id.clone(), rt.secret(secret, "OMNIBRIDGE_PIPEDRIVE_CLIENT_SECRET").await?))
            }
            _ => None,
        };
        let provider = Provider::new(rt.dynamo()?, rt.files()?, rt.queue(), s.attachment_max_bytes);
        Ok(ProviderEndpoint { credentials, provider, format: rt.provider_format() })
    }

    /// Whether the request carries the app's client id and secret (compared in constant time).
    fn authenticated(&self, req: &Request) -> bool {
        let Some((id, secret)) = &self.credentials else {
            tracing::error!("OMNIBRIDGE_PIPEDRIVE_CLIENT_ID and OMNIBRIDGE_PIPEDRIVE_CLIENT_SECRET are not set; refusing Pipedrive");
            return false;
        };
        let Some(given) = http::header(req, "authorization")
            .and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else { return false };
        let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
        let user_ok = user.ct_eq(id.as_bytes());
        let pass_ok = pass.ct_eq(secret.expose_secret().as_bytes());
        (user_ok & pass_ok).into()
    }

    /// The answer to a request without the app's credentials.
    pub fn refusal(&self, req: &Request) -> Option<Response<Body>> {
        (!self.authenticated(req))
            .then(|| envelope::unauthorized("invalid or missing client credentials"))
    }

    /// The request's channel after authentication, or the answer to give.
    pub async fn channel(
        &self,
        req: &Request,
    ) -> std::result::Result<PipedriveChannel, Response<Body>> {
        if let Some(refusal) = self.refusal(req) {
            return Err(refusal);
        }
        let id = http::path(req, "providerChannelId").unwrap_or_default();
        match self.provider.active_channel(&id).await {
            Ok(c) if c.suspended => Err(envelope::error(
                StatusCode::UNAUTHORIZED,
                "ACCOUNT_SUSPENDED",
                "the account of this channel is suspended",
            )),
            Ok(c) => Ok(c),
            Err(e) => Err(envelope::failure(&e)),
        }
    }
}

/// A page size from the query: the seed's default of 30, clamped to
/// 1..=100. The seed documents no 400 for these reads, so a value that is
/// not a whole number (`null`, empty) means the default.
pub fn limit(req: &Request, name: &str) -> u32 {
    let Some(v) = http::query(req, name) else { return DEFAULT_PAGE };
    let v = v.trim();
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return DEFAULT_PAGE;
    }
    // Any whole number is a fine request: past the bounds it means the bound.
    match v.parse::<i64>() {
        Ok(n) => n.clamp(1, MAX_PAGE as i64) as u32,
        Err(_) if v.starts_with('-') => 1,
        Err(_) => MAX_PAGE,
    }
}

/// A read's failure: a cursor or id that names nothing is not found.
pub fn read_failure(err: &Error) -> Response<Body> {
    match err {
        Error::Invalid { .. } => {
            envelope::error(StatusCode::NOT_FOUND, "NOT_FOUND", &err.to_string())
        }
        other => envelope::failure(other),
    }
}
