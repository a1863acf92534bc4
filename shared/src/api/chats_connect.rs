//! `POST /v1/chats/connect`: the bot hands the customer to a human agent,
//! who first sees the customer's profile and the 24-hour bot transcript.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::Aws;
use crate::http::{self, v1 as envelope};
use crate::model::{ChannelKind, Participant};
use crate::services::auth::Role;
use crate::services::handoff::{Handoff, HandoffRequest};
use crate::Result;

/// The seed's `ChatPayload`.
#[derive(Deserialize)]
struct ChatPayload {
    #[serde(rename = "userID", default)]
    user_id: String,
    #[serde(rename = "botSlug", default)]
    bot_slug: String,
    #[serde(rename = "botId", default)]
    bot_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    email: String,
    #[serde(rename = "phoneNumber", default)]
    phone_number: Option<String>,
    #[serde(rename = "extraData", default)]
    extra_data: Option<Map<String, Value>>,
}

pub struct Endpoint {
    gate: super::Gate,
    handoff: Handoff<Aws>,
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        let handoff = Handoff::new(rt.dynamo()?, rt.desks().await?, rt.settings.clone());
        Ok(Endpoint { gate: super::Gate::from_runtime(rt).await?, handoff })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = self.gate.authorize(&req, &[Role::Yalo]).await {
            return *denied;
        }
        let p: ChatPayload = match serde_json::from_slice(http::body(&req)) {
            Ok(p) => p,
            Err(e) => return envelope::bad_payload(&e),
        };
        let missing: Vec<&str> = [
            ("UserID", &p.user_id),
            ("Name", &p.name),
            ("Provider", &p.provider),
            ("BotSlug", &p.bot_slug),
            ("BotID", &p.bot_id),
            ("Email", &p.email),
        ]
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| k)
        .collect();
        if !missing.is_empty() {
            return envelope::missing_fields("ChatPayload", &missing);
        }
        use crate::model::limits;
        let extra_len = p
            .extra_data
            .as_ref()
            .map_or(0, |e| serde_json::to_vec(e).map_or(usize::MAX, |j| j.len()));
        let too_long = [
            ("UserID", p.user_id.len(), limits::ID),
            ("BotSlug", p.bot_slug.len(), limits::ID),
            ("BotID", p.bot_id.len(), limits::ID),
            ("Name", p.name.len(), limits::NAME),
            ("Email", p.email.len(), limits::EMAIL),
            ("PhoneNumber", p.phone_number.as_ref().map_or(0, String::len), limits::PHONE),
            ("ExtraData", extra_len, limits::EXTRA_DATA),
        ]
        .into_iter()
        .find(|(_, len, max)| len > max);
        if let Some((field, _, _)) = too_long {
            return envelope::too_long("ChatPayload", field);
        }
        let channel = match p.provider.as_str() {
            "whatsapp" => ChannelKind::Whatsapp,
            "facebook" => ChannelKind::Facebook,
            _ => {
                return envelope::error(
                    StatusCode::BAD_REQUEST,
                    "Error validating payload : Key: 'ChatPayload.Provider' Error:Field validation for 'Provider' failed on the 'oneof' tag",
                )
            }
        };
        let mut customer = match Participant::new(&p.user_id, &p.name) {
            Ok(c) => c,
            Err(e) => return envelope::failure(&e),
        };
        customer.email = Some(p.email);
        customer.phone = p.phone_number.filter(|s| !s.is_empty());
        let request = HandoffRequest {
            channel,
            bot: p.bot_slug,
            customer,
            extra: p.extra_data.unwrap_or_default(),
        };
        match self.handoff.connect(&request).await {
            Ok(c) => {
                tracing::info!(conversation_id = %c.id, "chat created");
                envelope::message("Chat created succefully")
            }
            Err(e) if e.is_retryable() => envelope::failure(&e),
            Err(e) => {
                tracing::error!(error = %e.chain(), "handoff failed");
                let desk = self.handoff.desk_for(&request.bot);
                envelope::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("could not create chat in {desk} : {e}"),
                )
            }
        }
    }
}
