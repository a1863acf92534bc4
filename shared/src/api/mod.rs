//! One module per HTTP endpoint. Each Lambda binary in `functions/` wires
//! exactly one of them; the local runner serves them all.
//!
//! | route | module | function |
//! |---|---|---|
//! | `POST /v1/authenticate` | [`authenticate`] | `functions/authenticate` |
//! | `GET /v1/tokens/check` | [`tokens_check`] | `functions/tokens-check` |
//! | `GET /v1/context/{userID}` | [`context_get`] | `functions/context-get` |
//! | `POST /v1/chats/connect` | [`chats_connect`] | `functions/chats-connect` |
//! | `DELETE /v1/chat/finish/{userID}` | [`chats_finish`] | `functions/chats-finish` |
//! | `POST /v1/consent` | [`consent_update`] | `functions/consent-update` |
//! | `POST /v1/salesforce/events` | [`salesforce_events`] | `functions/salesforce-events` |
//! | `POST /v1/integrations/whatsapp/webhook` | [`whatsapp_webhook`] | `functions/whatsapp-webhook` |
//! | `POST /v1/integrations/facebook/webhook` | [`facebook_webhook`] | `functions/facebook-webhook` |
//! | `POST /v1/integrations/webhook/register/{provider}` | [`webhook_register`] | `functions/webhook-register` |
//! | `DELETE /v1/integrations/webhook/remove/{provider}` | [`webhook_remove`] | `functions/webhook-remove` |
//! | `GET /v1/pipedrive/channels/{providerChannelId}/conversations` | [`pipedrive_conversations_list`] | `functions/pipedrive-conversations-list` |
//! | `GET /v1/pipedrive/channels/{providerChannelId}/conversations/{sourceConversationId}` | [`pipedrive_conversation_get`] | `functions/pipedrive-conversation-get` |
//! | `POST /v1/pipedrive/channels/{providerChannelId}/messages` | [`pipedrive_message_post`] | `functions/pipedrive-message-post` |
//! | `GET /v1/pipedrive/channels/{providerChannelId}/messages/{sourceMessageId}` | [`pipedrive_message_get`] | `functions/pipedrive-message-get` |
//! | `GET /v1/pipedrive/channels/{providerChannelId}/senders/{senderId}` | [`pipedrive_sender_get`] | `functions/pipedrive-sender-get` |
//! | `GET /v1/pipedrive/channels/{providerChannelId}/templates` | [`pipedrive_templates_list`] | `functions/pipedrive-templates-list` |
//! | `DELETE /v1/pipedrive/channels/{providerChannelId}` | [`pipedrive_channel_delete`] | `functions/pipedrive-channel-delete` |
//! | `POST /api/custom-channel/message/{channelId}` | [`custom_channel_message`] | `functions/custom-channel-message` |
//! | `POST /v1/yeahdesk/webhook` | [`yeahdesk_webhook`] | `functions/yeahdesk-webhook` |

pub mod authenticate;
pub mod chats_connect;
pub mod chats_finish;
pub mod consent_update;
pub mod context_get;
pub mod custom_channel_message;
pub mod facebook_webhook;
pub mod pipedrive_channel_delete;
pub mod pipedrive_conversation_get;
pub mod pipedrive_conversations_list;
pub mod pipedrive_message_get;
pub mod pipedrive_message_post;
mod pipedrive_provider;
pub mod pipedrive_sender_get;
pub mod pipedrive_templates_list;
pub mod salesforce_events;
pub mod tokens_check;
pub mod webhook_register;
pub mod webhook_remove;
pub mod whatsapp_webhook;
mod yalo_registration;
mod yalo_webhook;
pub mod yeahdesk_webhook;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::bootstrap::Runtime;
use crate::compose::AwsStore;
use crate::ports::UserStore;
use crate::services::auth::{Claims, Denied, Role, TokenKeys};
use crate::Result;

/// The token keys of the JWT-protected endpoints, from the settings.
pub(crate) async fn token_keys(rt: &Runtime) -> Result<TokenKeys> {
    let secret = rt.secret(&rt.settings.jwt_secret, "OMNIBRIDGE_JWT_SECRET").await?;
    TokenKeys::new(&secret, rt.settings.jwt_ttl)
}

/// How long a warm function trusts that a token's user still exists.
const USER_RECHECK: Duration = Duration::from_secs(60);
/// Users remembered by one warm function, at most.
const USERS_REMEMBERED: usize = 1000;

type Denial = Box<lambda_http::Response<lambda_http::Body>>;

/// The check of the JWT-protected endpoints: a valid token (header or
/// `?token=`) of one of the roles, whose user still exists with that role.
/// A deleted user's tokens stop working within a minute.
pub(crate) struct Gate {
    keys: TokenKeys,
    users: AwsStore,
    /// Users found lately, with their role and when they were looked up.
    seen: std::sync::Mutex<HashMap<String, (Role, Instant)>>,
}

impl Gate {
    pub(crate) async fn from_runtime(rt: &Runtime) -> Result<Self> {
        Ok(Gate { keys: token_keys(rt).await?, users: rt.dynamo()?, seen: Default::default() })
    }

    pub(crate) async fn authorize(
        &self,
        req: &lambda_http::Request,
        roles: &[Role],
    ) -> std::result::Result<Claims, Denial> {
        let denied = |d| Box::new(crate::http::v1::denied(d));
        let query_token = crate::http::query(req, "token");
        let claims = crate::services::auth::authorize(
            &self.keys,
            crate::http::header(req, "authorization"),
            query_token.as_deref(),
            roles,
        )
        .map_err(denied)?;
        match self.role_of(&claims.username).await {
            Ok(Some(role)) if role == claims.role => Ok(claims),
            Ok(_) => {
                tracing::info!(username = %claims.username, "token refused: its user is gone or has another role");
                Err(denied(Denied::InvalidToken))
            }
            Err(e) => Err(Box::new(crate::http::v1::failure(&e))),
        }
    }

    /// The user's current role, from memory when looked up within a minute.
    async fn role_of(&self, username: &str) -> Result<Option<Role>> {
        let now = Instant::now();
        if let Some((role, at)) =
            self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(username)
        {
            if now.duration_since(*at) < USER_RECHECK {
                return Ok(Some(*role));
            }
        }
        let role = self.users.get_user(username).await?.map(|u| u.role);
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match role {
            Some(role) => {
                if seen.len() >= USERS_REMEMBERED {
                    seen.clear();
                }
                seen.insert(username.to_owned(), (role, now));
            }
            None => {
                seen.remove(username);
            }
        }
        Ok(role)
    }
}
