//! Which endpoint or worker each function binary runs: the same pairs the
//! `functions/*/src/main.rs` files wire, for the in-process host. A handler
//! takes the invocation's event as JSON and answers JSON, through the same
//! adapters the Lambda runtime uses (`lambda_http`'s request and response
//! conversions, [`bootstrap::serve_http`] and [`bootstrap::serve_batch`]).

use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use futures::future::BoxFuture;
use lambda_http::request::LambdaRequest;
use lambda_http::Service;
use lambda_runtime::{Context, LambdaEvent};
use omnibridge::bootstrap::{self, HttpFunction, QueueFunction, Runtime};
use omnibridge::{api, workers};
use std::sync::Arc;

use crate::lambda::InvokeError;

/// A built function: event in, answer out.
pub type Handler =
    Arc<dyn Fn(Bytes, Context) -> BoxFuture<'static, Result<Bytes, InvokeError>> + Send + Sync>;

fn unmarshal<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, InvokeError> {
    serde_json::from_slice(payload).map_err(|e| {
        InvokeError::failed("lambda_runtime::deserializer::DeserializeError", e.to_string())
    })
}

fn marshal<T: serde::Serialize>(answer: &T) -> Result<Bytes, InvokeError> {
    serde_json::to_vec(answer)
        .map(Bytes::from)
        .map_err(|e| InvokeError::failed("Runtime.SerializationError", e.to_string()))
}

async fn endpoint<E: HttpFunction>(rt: &Runtime) -> anyhow::Result<Handler> {
    let e = Arc::new(E::build(rt).await?);
    Ok(Arc::new(move |payload: Bytes, context: Context| {
        let e = e.clone();
        Box::pin(async move {
            let request: LambdaRequest = unmarshal(&payload)?;
            let service = lambda_http::service_fn(move |req: lambda_http::Request| {
                let e = e.clone();
                async move { Ok::<_, std::convert::Infallible>(bootstrap::serve_http(&*e, req).await) }
            });
            let mut adapter = lambda_http::Adapter::from(service);
            let answer = adapter
                .call(LambdaEvent::new(request, context))
                .await
                .map_err(|e| InvokeError::failed("Runtime.HandlerError", e.to_string()))?;
            marshal(&answer)
        })
    }))
}

async fn worker<W: QueueFunction>(rt: &Runtime) -> anyhow::Result<Handler> {
    let w = Arc::new(W::build(rt).await?);
    let retry = Arc::new(rt.retry_policy(W::QUEUE)?);
    Ok(Arc::new(move |payload: Bytes, context: Context| {
        let (w, retry) = (w.clone(), retry.clone());
        Box::pin(async move {
            let event: SqsEvent = unmarshal(&payload)?;
            marshal(
                &bootstrap::serve_batch(&*w, Some(&*retry), LambdaEvent::new(event, context)).await,
            )
        })
    }))
}

/// The handler of a function binary, built (its cold start) with `rt`.
pub async fn function(name: &str, rt: &Runtime) -> anyhow::Result<Handler> {
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
        "pipedrive-conversations-list" => {
            endpoint::<api::pipedrive_conversations_list::Endpoint>(rt).await
        }
        "pipedrive-conversation-get" => {
            endpoint::<api::pipedrive_conversation_get::Endpoint>(rt).await
        }
        "pipedrive-message-post" => endpoint::<api::pipedrive_message_post::Endpoint>(rt).await,
        "pipedrive-message-get" => endpoint::<api::pipedrive_message_get::Endpoint>(rt).await,
        "pipedrive-sender-get" => endpoint::<api::pipedrive_sender_get::Endpoint>(rt).await,
        "pipedrive-templates-list" => endpoint::<api::pipedrive_templates_list::Endpoint>(rt).await,
        "pipedrive-channel-delete" => endpoint::<api::pipedrive_channel_delete::Endpoint>(rt).await,
        "custom-channel-message" => endpoint::<api::custom_channel_message::Endpoint>(rt).await,
        "yeahdesk-webhook" => endpoint::<api::yeahdesk_webhook::Endpoint>(rt).await,
        "to-desk-worker" => worker::<workers::to_desk::Worker>(rt).await,
        "to-customer-worker" => worker::<workers::to_customer::Worker>(rt).await,
        "salesforce-events-router" => worker::<workers::salesforce_events::Router>(rt).await,
        "salesforce-events-worker" => worker::<workers::salesforce_events::Worker>(rt).await,
        other => anyhow::bail!("no handler is wired for the function {other}"),
    }
}
