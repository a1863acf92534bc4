//! `POST /v1/integrations/whatsapp/webhook`: Yalo's Whatsapp messages, between the
//! customer and the bot, into the 24-hour context and, during a chat, to the desk.

use lambda_http::{Body, Request, Response};

use super::yalo_webhook::Webhook;
use crate::bootstrap::{HttpFunction, Runtime};
use crate::model::ChannelKind;
use crate::Result;

pub struct Endpoint(Webhook);

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint(Webhook::build(rt, ChannelKind::Whatsapp).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        self.0.handle(req).await
    }
}
