//! Pipedrive's Channels API: the calls omnibridge makes (register a channel,
//! deliver a message), the provider endpoints' wire types (what Pipedrive
//! reads from omnibridge), and Pipedrive's time format.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

use super::http_client::{self, Token, TokenCache};
use crate::model::EpochMillis;
use crate::{Error, Result};

/// `YYYY-MM-DD HH:MM` in UTC, the Channels API's `created_at`.
pub fn format_time(ms: EpochMillis) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// A participant of a provider conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireParticipant {
    pub id: String,
    pub name: String,
    /// `source_user` (the channel's own side, where agents write) or `end_user` (the customer).
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

/// An attachment as the Channels API carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireAttachment {
    pub id: String,
    /// The MIME type.
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub url: String,
    pub link_expires: bool,
}

/// A message as the provider endpoints serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireMessage {
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: &'static str,
    pub created_at: String,
    pub message: String,
    pub sender_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<WireAttachment>,
}

/// A conversation as the provider endpoints serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireConversation {
    pub id: String,
    pub link: String,
    /// `open` or `closed`.
    pub status: &'static str,
    pub seen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_messages_cursor: Option<String>,
    pub messages: Vec<WireMessage>,
    pub participants: Vec<WireParticipant>,
}

/// `POST /channels/messages/receive`: a message of a channel's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receive<'a> {
    #[serde(flatten)]
    pub message: &'a WireMessage,
    /// The provider channel id.
    pub channel_id: &'a str,
    pub conversation_id: &'a str,
}

/// `POST /channels`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegisterChannel<'a> {
    pub name: &'a str,
    pub provider_channel_id: &'a str,
    pub provider_type: &'a str,
    pub template_support: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<&'a str>,
}

/// How omnibridge gets a new access token when Pipedrive refuses the one it has:
/// the OAuth refresh-token grant of the installing user, with the app's client
/// id and secret (`POST {oauth_url}/oauth/token`).
#[derive(Clone, Debug)]
pub struct Refresh {
    pub oauth_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
}

/// The Channels API as omnibridge calls it (base `https://api.pipedrive.com/v1`).
#[derive(Clone, Debug)]
pub struct PipedriveClient {
    http: reqwest::Client,
    base: String,
    /// The access token; one from the settings has no known expiry.
    access: Arc<TokenCache>,
    refresh: Option<Arc<Refresh>>,
    /// The refresh token Pipedrive last answered with, when it differs from the settings'.
    rotated: Arc<Mutex<Option<SecretString>>>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A token is renewed this long before Pipedrive said it expires.
const EXPIRY_MARGIN_MS: i64 = 60_000;

impl PipedriveClient {
    /// `token` is an access token to start with; `refresh` renews it when it
    /// expires or is refused. At least one of them is needed.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        token: Option<SecretString>,
        refresh: Option<Refresh>,
    ) -> Self {
        PipedriveClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            access: Arc::new(TokenCache::holding(
                token.map(|value| Token { value, expires_at: None }),
            )),
            refresh: refresh.map(Arc::new),
            rotated: Arc::default(),
        }
    }

    /// Renews the access token with the latest refresh token.
    async fn renew(&self) -> Result<Token> {
        let Some(refresh) = &self.refresh else {
            return Err(Error::Config(
                "set OMNIBRIDGE_PIPEDRIVE_REFRESH_TOKEN to renew Pipedrive's access token".into(),
            ));
        };
        let mut rotated = self.rotated.lock().await;
        let refresh_token =
            rotated.as_ref().unwrap_or(&refresh.refresh_token).expose_secret().to_owned();
        let req = self
            .http
            .post(format!("{}/oauth/token", refresh.oauth_url.trim_end_matches('/')))
            .basic_auth(&refresh.client_id, Some(refresh.client_secret.expose_secret()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())]);
        let res = http_client::send("Pipedrive OAuth", req).await?;
        let answer: TokenAnswer = res.json().await.map_err(|e| {
            Error::permanent(
                "Pipedrive's token answer is not an access token",
                Some(Box::new(e.without_url())),
            )
        })?;
        if let Some(new) = answer.refresh_token.filter(|t| *t != refresh_token) {
            *rotated = Some(SecretString::from(new));
        }
        Ok(Token {
            value: SecretString::from(answer.access_token),
            expires_at: answer
                .expires_in
                .map(|s| crate::model::now_millis() + s * 1000 - EXPIRY_MARGIN_MS),
        })
    }

    /// The access token to call with: the one held, unless it is `stale` (just
    /// refused) or about to expire, in which case a renewed one.
    async fn access_token(&self, stale: Option<&str>) -> Result<String> {
        self.access.get(stale, || self.renew()).await
    }

    /// Posts `body`; a refused token is renewed (when a refresh token is set)
    /// and the call made once more.
    async fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<serde_json::Value> {
        let mut token = self.access_token(None).await?;
        let mut renewed = false;
        loop {
            let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(&token).json(body);
            let res = http_client::dispatch("Pipedrive", req).await?;
            let status = res.status().as_u16();
            if status == 401 && self.refresh.is_some() && !renewed {
                token = self.access_token(Some(&token)).await?;
                renewed = true;
                continue;
            }
            let header_wait = http_client::retry_after(&res);
            let text = res.text().await.unwrap_or_default();
            if (200..300).contains(&status) {
                let env: Envelope = serde_json::from_str(&text).unwrap_or(Envelope { data: None });
                return Ok(env.data.unwrap_or_default());
            }
            let wait = retry_by(&text).or(header_wait);
            return Err(http_client::refused("Pipedrive", status, wait, text));
        }
    }

    /// Registers a channel; returns Pipedrive's id for it.
    pub async fn register_channel(&self, channel: &RegisterChannel<'_>) -> Result<String> {
        let data = self.post("/channels", channel).await?;
        data.get("id")
            .and_then(|v| {
                v.as_str().map(str::to_owned).or_else(|| v.as_i64().map(|n| n.to_string()))
            })
            .ok_or_else(|| Error::permanent("Pipedrive registered the channel without an id", None))
    }

    /// Delivers a message (or a new status of one already delivered).
    pub async fn receive(&self, message: &Receive<'_>) -> Result<()> {
        self.post("/channels/messages/receive", message).await.map(|_| ())
    }
}

/// The wait a 429's `retry_by` (RFC 3339, UTC) asks for.
fn retry_by(body: &str) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let at = v.pointer("/data/retry_by").or_else(|| v.get("retry_by"))?.as_str()?;
    let at =
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = (at - time::OffsetDateTime::now_utc()).as_seconds_f64().max(0.0);
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_time_is_formatted_should_be_minutes_in_utc() {
        assert_eq!(format_time(1_636_646_674_958), "2021-11-11 16:04");
    }

    #[test]
    fn when_429_names_retry_by_should_wait_until_then() {
        let at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(30))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let body = format!(
            r#"{{"success":false,"data":{{"message":"slow down","code":"RATE_LIMIT_EXCEEDED","retry_by":"{at}"}}}}"#
        );
        let wait = retry_by(&body).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_by("not json"), None);
    }
}
