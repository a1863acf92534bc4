//! `GET /v1/pipedrive/channels/{providerChannelId}/senders/{senderId}`
//! (getSenderById): a participant's name and avatar.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::pipedrive_provider::{read_failure, ProviderEndpoint};
use crate::bootstrap::{HttpFunction, Runtime};
use crate::http::{self, pipedrive as envelope};
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
        let id = http::path(&req, "senderId").unwrap_or_default();
        match self.0.provider.sender(&channel, &id).await {
            Ok(s) => envelope::ok(
                &json!({"id": s.id, "name": s.name, "avatar_url": s.avatar_url.unwrap_or_default()}),
                None,
            ),
            Err(e) => read_failure(&e),
        }
    }
}
