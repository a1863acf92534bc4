//! A custom channel's source, as omnibridge calls it: agent replies POSTed
//! to the source's webhook URL, signed with the channel's secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::http_client;
use crate::ports::SourceWebhook;
use crate::Result;

/// The header carrying a reply webhook's signature:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
pub const SIGNATURE_HEADER: &str = "x-omnibridge-signature";

/// The signature of `body` sent at `t` (unix seconds) with `secret`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts reply webhooks through the peers' shared HTTP client.
#[derive(Clone)]
pub struct SignedWebhook {
    http: reqwest::Client,
}

impl SignedWebhook {
    pub fn new(http: reqwest::Client) -> Self {
        SignedWebhook { http }
    }
}

impl SourceWebhook for SignedWebhook {
    async fn post(
        &self,
        url: &str,
        secret: &str,
        idempotency_key: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        let signature = sign(secret, crate::model::now_millis() / 1000, &body);
        let req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("idempotency-key", idempotency_key)
            .body(body);
        http_client::send("the custom channel's webhook", req).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_webhook_is_signed_should_cover_the_time_and_the_body() {
        let s = sign("k", 1_700_000_000, b"{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_ne!(s, sign("k", 1_700_000_001, b"{}"));
        assert_ne!(s, sign("k", 1_700_000_000, b"{ }"));
        assert_ne!(s, sign("j", 1_700_000_000, b"{}"));
    }
}
