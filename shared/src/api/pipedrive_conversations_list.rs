//! `GET /v1/pipedrive/channels/{providerChannelId}/conversations`
//! (getConversations): the channel's conversations, newest first, each with
//! its latest messages; `additional_data.after` while more remain.

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
        let (conversations, messages) =
            (limit(&req, "conversations_limit"), limit(&req, "messages_limit"));
        let after = http::query(&req, "after");
        match self
            .0
            .provider
            .conversations(&channel, conversations, messages, after.as_deref())
            .await
        {
            Ok((views, next)) => {
                let data: Vec<_> =
                    views.iter().map(|v| self.0.format.conversation(&channel, v)).collect();
                envelope::ok(&data, next.as_deref())
            }
            Err(e) => read_failure(&e),
        }
    }
}
