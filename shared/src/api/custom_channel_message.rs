//! `POST /api/custom-channel/message/{channelId}?token=...`: omnibridge as a
//! custom-channel server, with the seed's body, contact handling and `E_*`
//! errors. An `Idempotency-Key` header makes a retried request safe.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::Aws;
use crate::http::{self, custom as envelope};
use crate::ports::SourceFormat;
use crate::services::custom_channel::CustomInbound;
use crate::services::handoff::Handoff;
use crate::Result;

pub struct Endpoint {
    format: Box<dyn SourceFormat>,
    inbound: CustomInbound<Aws>,
}

impl HttpFunction for Endpoint {
    fn failure(err: &crate::Error) -> Response<Body> {
        crate::http::custom::failure(err)
    }

    async fn build(rt: &Runtime) -> Result<Self> {
        let handoff = Handoff::new(rt.dynamo()?, rt.desks().await?, rt.settings.clone());
        let s = &rt.settings;
        Ok(Endpoint {
            format: rt.source_format(),
            inbound: CustomInbound::new(
                rt.dynamo()?,
                rt.queue(),
                handoff,
                s.client_name.clone(),
                s.context_ttl,
            ),
        })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let channel = http::path(&req, "channelId").unwrap_or_default();
        let token = http::query(&req, "token");
        let key = http::header(&req, "idempotency-key");
        // The token first: a stranger learns nothing of the body's checks.
        let channel = match self.inbound.authorize(&channel, token.as_deref()).await {
            Ok(c) => c,
            Err(e) => return envelope::failure(&e),
        };
        let message = match self.format.read(http::body(&req)) {
            Ok(m) => m,
            Err(e) => return envelope::failure(&e),
        };
        match self.inbound.receive(&channel, key, &message).await {
            Ok(accepted) => {
                tracing::info!(dialog_id = %accepted.dialog_id, message_id = %accepted.message_id, "custom channel message queued");
                http::json(StatusCode::OK, &accepted)
            }
            Err(e) => envelope::failure(&e),
        }
    }
}
