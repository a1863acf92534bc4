//! `DELETE /v1/pipedrive/channels/{providerChannelId}` (deleteChannelById):
//! the channel is unregistered and its conversations stop flowing to Pipedrive.
//! Deleting a channel that is already gone succeeds too (the seed's only
//! answers are 200 and 401).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::pipedrive_provider::ProviderEndpoint;
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
        if let Some(refusal) = self.0.refusal(&req) {
            return refusal;
        }
        let id = http::path(&req, "providerChannelId").unwrap_or_default();
        let deleted = match self.0.provider.channel(&id).await {
            Ok(Some(channel)) if !channel.deleted => self.0.provider.delete_channel(channel).await,
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match deleted {
            Ok(()) => {
                tracing::info!(channel = %id, "Pipedrive channel deleted");
                http::json(StatusCode::OK, &json!({"success": true}))
            }
            Err(e) => envelope::failure(&e),
        }
    }
}
