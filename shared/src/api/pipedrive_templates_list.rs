//! `GET /v1/pipedrive/channels/{providerChannelId}/templates` (getTemplates):
//! the channel's approved WhatsApp templates, as set with
//! `omnibridge-admin pipedrive templates`.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::pipedrive_provider::ProviderEndpoint;
use crate::bootstrap::{HttpFunction, Runtime};
use crate::http::pipedrive as envelope;
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
        match self.0.channel(&req).await {
            Ok(c) => envelope::ok(&json!({"templates": c.templates}), None),
            Err(answer) => answer,
        }
    }
}
