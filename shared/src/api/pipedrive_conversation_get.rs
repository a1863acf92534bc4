//! `GET /v1/pipedrive/channels/{providerChannelId}/conversations/{sourceConversationId}`
//! (getConversationById): one conversation and a page of its messages,
//! newest first; `after` pages on to older ones.

use lambda_http::{Body, Request, Response};

use super::pipedrive_provider::{limit, read_failure, ProviderEndpoint};
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
        let messages = limit(&req, "messages_limit");
        let id = http::path(&req, "sourceConversationId").unwrap_or_default();
        let after = http::query(&req, "after");
        match self.0.provider.conversation(&channel, &id, messages, after.as_deref()).await {
            Ok(view) => {
                envelope::ok(&self.0.format.conversation(&channel, &view), view.next.as_deref())
            }
            Err(e) => read_failure(&e),
        }
    }
}
