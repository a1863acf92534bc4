//! `GET /v1/pipedrive/channels/{providerChannelId}/messages/{sourceMessageId}`
//! (getMessageById): the message with fresh attachment links, for when an
//! expiring link has expired.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::pipedrive_provider::{read_failure, ProviderEndpoint};
use crate::bootstrap::{HttpFunction, Runtime};
use crate::http;
use crate::Result;

pub struct Endpoint(ProviderEndpoint);

impl HttpFunction for Endpoint {
    fn failure(err: &crate::Error) -> Response<Body> {
        crate::http::pipedrive::failure(err)
    }

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint(ProviderEndpoint::build(rt).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let channel = match self.0.channel(&req).await {
            Ok(c) => c,
            Err(answer) => return answer,
        };
        let id = http::path(&req, "sourceMessageId").unwrap_or_default();
        match self.0.provider.message(&channel, &id).await {
            // The seed's answer is the message object itself.
            Ok(m) => http::json(StatusCode::OK, &self.0.format.message(&m)),
            Err(e) => read_failure(&e),
        }
    }
}
