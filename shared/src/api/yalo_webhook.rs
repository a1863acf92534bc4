//! The Yalo webhooks (`/v1/integrations/{whatsapp,facebook}/webhook`), shared
//! by [`super::whatsapp_webhook`] and [`super::facebook_webhook`].

use tracing::Instrument;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::yalo::{self, Parsed, Refused};
use crate::bootstrap::Runtime;
use crate::config::SecretSource;
use crate::http::{self, yalo as envelope};
use crate::model::{now_millis, ChannelKind};
use crate::services::inbound::Inbound;
use crate::Result;

pub struct Webhook {
    channel: ChannelKind,
    inbound: Inbound<DynamoStore, SqsQueue>,
    secret: Option<SecretString>,
}

impl Webhook {
    pub async fn build(rt: &Runtime, channel: ChannelKind) -> Result<Self> {
        let secret = match &rt.settings.yalo_webhook_secret {
            SecretSource::Unset => None,
            source => Some(rt.secret(source, "OMNIBRIDGE_YALO_WEBHOOK_SECRET").await?),
        };
        let inbound = Inbound::new(rt.dynamo()?, rt.queue(), rt.settings.client_name.clone(), rt.settings.context_ttl);
        Ok(Webhook { channel, inbound, secret })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let body = http::body(&req);
        if let Some(secret) = &self.secret {
            let header = http::header(&req, "x-hub-signature-256");
            if !yalo::signature_is_valid(secret.expose_secret().as_bytes(), body, header) {
                return envelope::error(StatusCode::UNAUTHORIZED, "Invalid webhook signature.");
            }
        }
        let parsed = match self.channel {
            ChannelKind::Facebook => yalo::parse_facebook(body),
            _ => yalo::parse_whatsapp(body),
        };
        let messages = match parsed {
            Ok(Parsed::Messages(m)) => m,
            Ok(Parsed::Skipped(kind)) => return envelope::message(&format!("message type: {kind} was skipped")),
            Err(Refused::Decode(cause)) => return envelope::bad_payload(&cause),
            Err(Refused::Missing(payload, fields)) => return envelope::missing_fields(payload, &fields),
        };
        let now = now_millis();
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
