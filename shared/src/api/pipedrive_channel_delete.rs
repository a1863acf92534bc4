//! `DELETE /v1/pipedrive/channels/{providerChannelId}` (deleteChannelById):
//! the channel is unregistered and its conversations stop flowing to Pipedrive.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::pipedrive_provider::ProviderEndpoint;
use crate::bootstrap::{Endpoint as EndpointTrait, Runtime};
use crate::http::{self, pipedrive as envelope};
use crate::Result;

pub struct Endpoint(ProviderEndpoint);

impl EndpointTrait for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint(ProviderEndpoint::build(rt).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let channel = match self.0.channel(&req).await {
            Ok(c) => c,
            Err(answer) => return answer,
        };
        let id = channel.provider_channel_id.clone();
        match self.0.provider.delete_channel(channel).await {
            Ok(()) => {
                tracing::info!(channel = %id, "Pipedrive channel deleted");
                http::json(StatusCode::OK, &json!({"success": true}))
            }
            Err(e) => envelope::failure(&e),
        }
    }
}
