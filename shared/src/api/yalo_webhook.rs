//! The Yalo webhooks (`/v1/integrations/{whatsapp,facebook}/webhook`), shared
//! by [`super::whatsapp_webhook`] and [`super::facebook_webhook`].

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use crate::bootstrap::Runtime;
use crate::compose::{AwsQueue, AwsStore};
use crate::config::SecretSource;
use crate::http::{self, v1 as envelope};
use crate::model::{now_millis, BadPayload, ChannelKind, InboundBatch};
use crate::ports::WebhookFormat;
use crate::services::inbound::Inbound;
use crate::Result;

pub struct Webhook {
    channel: ChannelKind,
    format: Box<dyn WebhookFormat>,
    inbound: Inbound<AwsStore, AwsQueue>,
    secret: Option<SecretString>,
    max_age: std::time::Duration,
}

/// How far ahead of our clock a webhook's timestamp may be.
const MAX_CLOCK_AHEAD_MS: i64 = 5 * 60 * 1000;

/// Whether the request carries the webhook secret: in the URL omnibridge
/// registered with Yalo (`?secret=`), or as Meta's signature of the body.
fn authenticated(
    format: &dyn WebhookFormat,
    secret: &SecretString,
    req: &Request,
    body: &[u8],
) -> bool {
    let secret = secret.expose_secret().as_bytes();
    match http::query(req, "secret") {
        Some(given) => given.as_bytes().ct_eq(secret).into(),
        None => format.signed(secret, body, http::header(req, "x-hub-signature-256")),
    }
}

impl Webhook {
    pub async fn build(rt: &Runtime, channel: ChannelKind) -> Result<Self> {
        let secret = match &rt.settings.yalo_webhook_secret {
            SecretSource::Unset => None,
            source => Some(rt.secret(source, "OMNIBRIDGE_YALO_WEBHOOK_SECRET").await?),
        };
        let inbound = Inbound::new(
            rt.dynamo()?,
            rt.queue(),
            rt.settings.client_name.clone(),
            rt.settings.context_ttl,
        );
        let format = rt.webhook_format(channel);
        Ok(Webhook { channel, format, inbound, secret, max_age: rt.settings.webhook_max_age })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let body = http::body(&req);
        let Some(secret) = &self.secret else {
            tracing::error!("OMNIBRIDGE_YALO_WEBHOOK_SECRET is not set: every webhook is refused");
            return envelope::error(StatusCode::UNAUTHORIZED, "Invalid webhook signature.");
        };
        if !authenticated(self.format.as_ref(), secret, &req, body) {
            return envelope::error(StatusCode::UNAUTHORIZED, "Invalid webhook signature.");
        }
        let messages = match self.format.read(body) {
            Ok(InboundBatch::Messages(m)) => m,
            Ok(InboundBatch::Skipped(kind)) => {
                return envelope::message(&format!("message type: {kind} was skipped"))
            }
            Err(BadPayload::Decode(cause)) => return envelope::bad_payload(&cause),
            Err(BadPayload::Missing(payload, fields)) => {
                return envelope::missing_fields(payload, &fields)
            }
            Err(BadPayload::TooLong(payload, field)) => return envelope::too_long(payload, field),
        };
        let now = now_millis();
        // A webhook from outside the window is a replay (or a forgery): a
        // copy within it is recognised by its message id.
        let oldest = now - self.max_age.as_millis() as i64;
        if let Some(m) =
            messages.iter().find(|m| m.timestamp < oldest || m.timestamp > now + MAX_CLOCK_AHEAD_MS)
        {
            tracing::warn!(source_id = %m.source_id, timestamp = m.timestamp, "webhook outside the accepted window");
            return envelope::error(
                StatusCode::BAD_REQUEST,
                "Error validating payload : Key: 'IntegrationsRequest.Timestamp' Error:Field validation for 'Timestamp' failed on the 'window' tag",
            );
        }
        for m in &messages {
            let span = tracing::info_span!("webhook_message", channel = %self.channel, source_id = %m.source_id);
            match self.inbound.receive(m, now).instrument(span.clone()).await {
                Ok(outcome) => tracing::info!(parent: &span, ?outcome, "webhook message handled"),
                // Not answered 200: the platform redelivers, and nothing recorded is lost.
                Err(e) => return envelope::failure(&e),
            }
        }
        envelope::message("insert success")
    }
}
