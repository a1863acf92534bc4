//! The HTTP client every peer adapter uses, and how a peer's HTTP answer is
//! classified: 429, 5xx and transport failures may pass; other 4xx do not.

use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::time::Duration;
use tokio::sync::Mutex;

use crate::model::{now_millis, EpochMillis};
use crate::{Error, Result};

/// The longest a peer call may take (connect, send, answer).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Time kept back from the invocation's deadline after a peer call.
pub const CALL_MARGIN: Duration = Duration::from_secs(1);

/// Makes ring the process's TLS crypto provider (for reqwest). Idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The TLS settings of every HTTPS client but the AWS SDK's: Mozilla's root
/// certificates compiled in (webpki-roots), so that no client reads the
/// system's certificate store (a Debian store is ~290 files, read again by
/// every client built; most of a cold start). Built once per process.
pub fn tls_config() -> rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            install_crypto_provider();
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()
        })
        .clone()
}

/// A reqwest client builder with [`tls_config`]: the only way this workspace
/// builds an HTTP client (`reqwest::Client::new()` would read the system's
/// certificate store again; clippy.toml forbids it).
#[allow(clippy::disallowed_methods)]
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(tls_config())
}

/// The client every peer call of the process goes through, built once (so
/// its connections are shared), with connect and overall timeouts and
/// [`tls_config`].
pub fn client() -> Result<reqwest::Client> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let built = builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(CALL_TIMEOUT)
        .build()
        .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| built).clone())
}

/// An access token as a peer's token endpoint gave it.
#[derive(Debug)]
pub struct Token {
    pub value: SecretString,
    /// When it stops working (ms), renewal margin already taken off; unknown when `None`.
    pub expires_at: Option<EpochMillis>,
}

/// A peer's access token, held for the life of a warm function and renewed
/// when the peer refused it (`stale`) or it is about to expire. Renewals are
/// serialised: callers waiting on one get its token.
#[derive(Debug, Default)]
pub struct TokenCache {
    held: Mutex<Option<Token>>,
}

impl TokenCache {
    pub fn holding(token: Option<Token>) -> Self {
        TokenCache { held: Mutex::new(token) }
    }

    /// The held token, unless it is `stale` or expired; then the one `renew` gives.
    pub async fn get<Fut: Future<Output = Result<Token>>>(
        &self,
        stale: Option<&str>,
        renew: impl FnOnce() -> Fut,
    ) -> Result<String> {
        let mut held = self.held.lock().await;
        if let Some(t) = held.as_ref() {
            let value = t.value.expose_secret();
            if Some(value) != stale && t.expires_at.is_none_or(|at| now_millis() < at) {
                return Ok(value.to_owned());
            }
        }
        let fresh = renew().await?;
        let value = fresh.value.expose_secret().to_owned();
        *held = Some(fresh);
        Ok(value)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
pub fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    res.headers().get("retry-after")?.to_str().ok()?.trim().parse().ok().map(Duration::from_secs)
}

/// A transport failure (timeout, refused or dropped connection): may pass.
/// The URL is dropped from the cause: some carry a token in the query.
pub fn transport(peer: &str, e: reqwest::Error) -> Error {
    Error::Retryable {
        what: format!("{peer} unreachable"),
        retry_after: None,
        source: Some(Box::new(e.without_url())),
    }
}

/// How much of a refusing peer's answer is kept as the cause.
const BODY_KEPT: usize = 512;

/// Classifies a non-success answer by its status; the start of `body` is
/// kept as the cause (a peer's answer may be long, or echo what it was sent).
pub fn refused(peer: &str, status: u16, retry_after: Option<Duration>, mut body: String) -> Error {
    if body.len() > BODY_KEPT {
        body = format!("{}…", crate::model::truncate(&body, BODY_KEPT));
    }
    let what = format!("{peer} answered {status}");
    if status == 429 || status >= 500 || status == 408 {
        Error::Retryable { what, retry_after, source: Some(body.into()) }
    } else {
        Error::Permanent { what, source: Some(body.into()) }
    }
}

/// Sends `req`, whatever it is answered; the call ends before the
/// invocation does (see [`crate::deadline::call_timeout`]).
pub async fn dispatch(peer: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let timeout = crate::deadline::call_timeout(CALL_TIMEOUT, CALL_MARGIN)?;
    req.timeout(timeout).send().await.map_err(|e| transport(peer, e))
}

/// Sends `req` (as [`dispatch`]); a 2xx answer is returned, anything else classified.
pub async fn send(peer: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let res = dispatch(peer, req).await?;
    if res.status().is_success() {
        return Ok(res);
    }
    let status = res.status().as_u16();
    let wait = retry_after(&res);
    let body = res.text().await.unwrap_or_default();
    Err(refused(peer, status, wait, body))
}
