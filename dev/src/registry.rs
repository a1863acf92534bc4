//! Which endpoint or worker each function binary runs: the same pairs the
//! `functions/*/src/main.rs` files wire, for the local runner.

use anyhow::bail;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;
use lambda_http::{Body, Request, Response};
use omnibridge::bootstrap::{handle_batch, Endpoint, Runtime, Worker};
use omnibridge::worker::RetryPolicy;
use omnibridge::{api, services};
use std::sync::Arc;

pub type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response<Body>> + Send + Sync>;
pub type BatchHandler = Arc<dyn Fn(SqsEvent) -> BoxFuture<'static, SqsBatchResponse> + Send + Sync>;

async fn endpoint<E: Endpoint>(rt: &Runtime) -> anyhow::Result<HttpHandler> {
    let e = Arc::new(E::build(rt).await?);
    Ok(Arc::new(move |req| {
        let e = e.clone();
        Box::pin(async move { e.handle(req).await })
    }))
}

async fn worker<W: Worker>(rt: &Runtime) -> anyhow::Result<BatchHandler> {
    let w = Arc::new(W::build(rt).await?);
    let retry: Arc<RetryPolicy> = Arc::new(rt.retry_policy(W::QUEUE)?);
    Ok(Arc::new(move |event| {
        let (w, retry) = (w.clone(), retry.clone());
        Box::pin(async move { handle_batch(&*w, Some(&*retry), event).await })
    }))
}

/// The handler of an HTTP function binary.
pub async fn http_function(name: &str, rt: &Runtime) -> anyhow::Result<HttpHandler> {
    match name {
        "authenticate" => endpoint::<api::authenticate::Endpoint>(rt).await,
        "tokens-check" => endpoint::<api::tokens_check::Endpoint>(rt).await,
        "context-get" => endpoint::<api::context_get::Endpoint>(rt).await,
        "chats-connect" => endpoint::<api::chats_connect::Endpoint>(rt).await,
        "chats-finish" => endpoint::<api::chats_finish::Endpoint>(rt).await,
        "consent-update" => endpoint::<api::consent_update::Endpoint>(rt).await,
        "salesforce-events" => endpoint::<api::salesforce_events::Endpoint>(rt).await,
        "whatsapp-webhook" => endpoint::<api::whatsapp_webhook::Endpoint>(rt).await,
        "facebook-webhook" => endpoint::<api::facebook_webhook::Endpoint>(rt).await,
        "webhook-register" => endpoint::<api::webhook_register::Endpoint>(rt).await,
        "webhook-remove" => endpoint::<api::webhook_remove::Endpoint>(rt).await,
        "pipedrive-conversations-list" => endpoint::<api::pipedrive_conversations_list::Endpoint>(rt).await,
        "pipedrive-conversation-get" => endpoint::<api::pipedrive_conversation_get::Endpoint>(rt).await,
        "pipedrive-message-post" => endpoint::<api::pipedrive_message_post::Endpoint>(rt).await,
        "pipedrive-message-get" => endpoint::<api::pipedrive_message_get::Endpoint>(rt).await,
        "pipedrive-sender-get" => endpoint::<api::pipedrive_sender_get::Endpoint>(rt).await,
        "pipedrive-templates-list" => endpoint::<api::pipedrive_templates_list::Endpoint>(rt).await,
        "pipedrive-channel-delete" => endpoint::<api::pipedrive_channel_delete::Endpoint>(rt).await,
        "custom-channel-message" => endpoint::<api::custom_channel_message::Endpoint>(rt).await,
        "yeahdesk-webhook" => endpoint::<api::yeahdesk_webhook::Endpoint>(rt).await,
        other => bail!("the local runner does not know the HTTP function {other}"),
    }
}

/// The batch handler of a worker function binary.
pub async fn worker_function(name: &str, rt: &Runtime) -> anyhow::Result<BatchHandler> {
    match name {
        "to-desk-worker" => worker::<services::to_desk::Worker>(rt).await,
        "to-customer-worker" => worker::<services::to_customer::Worker>(rt).await,
        "salesforce-events-worker" => worker::<services::salesforce_events::Worker>(rt).await,
        other => bail!("the local runner does not know the worker function {other}"),
    }
}
