//! `DELETE /v1/chat/finish/{userID}`: the bot ends the customer's chat. The
//! desk ends its side (Salesforce: a chat no agent has taken has its routing
//! withdrawn, a taken one its messaging session ended). Either way the
//! customer's next message goes back to the bot only.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::AwsStore;
use crate::http::{self, v1 as envelope};
use crate::model::{now_millis, ChannelKind, ConversationStatus, DeskKind};
use crate::ports::{ConversationStore, Desk};
use crate::services::auth::Role;
use crate::services::delivery::find_open_on;
use crate::Result;

pub struct Endpoint {
    gate: super::Gate,
    store: AwsStore,
    /// The one desk with a side to end (Salesforce's routing or session);
    /// Pipedrive and Yeahdesk read the conversation's status from us.
    desk: Option<Box<dyn Desk>>,
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint {
            gate: super::Gate::from_runtime(rt).await?,
            store: rt.dynamo()?,
            desk: rt.desk(DeskKind::Salesforce).await?,
        })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = self.gate.authorize(&req, &[Role::Yalo]).await {
            return *denied;
        }
        let user = http::path(&req, "userID").unwrap_or_default();
        let found =
            match find_open_on(&self.store, &[ChannelKind::Whatsapp, ChannelKind::Facebook], &user)
                .await
            {
                Ok(c) => c,
                Err(e) => return envelope::failure(&e),
            };
        let Some(c) = found else {
            return envelope::error(
                StatusCode::NOT_FOUND,
                "could not finish chat : this contact does not have an open chat",
            );
        };
        let ended = match self.desk.as_ref().filter(|d| d.kind() == c.desk) {
            Some(desk) => desk.finish(&c).await,
            None => Ok(()),
        };
        match ended {
            Err(e) if e.is_retryable() => return envelope::failure(&e),
            // Ended on our side regardless: the customer must not stay stuck with a desk that refuses.
            Err(e) => {
                tracing::warn!(error = %e.chain(), conversation_id = %c.id, desk = %c.desk, "the desk did not end the chat")
            }
            Ok(()) => {}
        }
        match self
            .store
            .set_conversation_status(&c.id, ConversationStatus::Closed, now_millis())
            .await
        {
            Ok(_) => envelope::message("Chat finished successfully"),
            Err(e) => envelope::failure(&e),
        }
    }
}
