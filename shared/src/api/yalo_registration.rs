//! Registering and removing omnibridge's webhooks with Yalo, shared by
//! [`super::webhook_register`] and [`super::webhook_remove`].

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::adapters::yalo::YaloClient;
use crate::bootstrap::Runtime;
use crate::http::{self, yalo as envelope};
use crate::model::ChannelKind;
use crate::services::auth::{Role, TokenKeys};
use crate::Result;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Register,
    Remove,
}

pub struct Registration {
    action: Action,
    keys: TokenKeys,
    yalo: Option<YaloClient>,
    public_url: Option<String>,
}

impl Registration {
    pub async fn build(rt: &Runtime, action: Action) -> Result<Self> {
        Ok(Registration { action, keys: super::token_keys(rt).await?, yalo: rt.yalo().await?, public_url: rt.settings.public_url.clone() })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = super::authorize(&self.keys, &req, &[Role::Yalo]) {
            return *denied;
        }
        let provider = http::path(&req, "provider").unwrap_or_default();
        let channel = match provider.as_str() {
            "whatsapp" => ChannelKind::Whatsapp,
            "facebook" => ChannelKind::Facebook,
            other => {
                return envelope::error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid provider : {other:?}, the allowed values are whatsapp and facebook"),
                )
            }
        };
        let (verb, noun) = match self.action {
            Action::Register => ("Register", "register"),
            Action::Remove => ("Remove", "remove"),
        };
        let base = self.public_url.clone().or_else(|| http::public_base_url(&req));
        let result = match (&self.yalo, base, self.action) {
            (None, _, _) => Err(crate::Error::Config("OMNIBRIDGE_YALO_API_URL and OMNIBRIDGE_YALO_TOKEN must be set".into())),
            (Some(_), None, Action::Register) => Err(crate::Error::Config("set OMNIBRIDGE_PUBLIC_URL".into())),
            (Some(yalo), Some(base), Action::Register) => {
                yalo.register(channel, &format!("{base}/v1/integrations/{provider}/webhook")).await
            }
            (Some(yalo), _, Action::Remove) => yalo.remove(channel).await,
        };
        match result {
            Ok(()) => envelope::message(&format!("{verb} webhook success with provider : {provider}")),
            Err(e) => {
                tracing::error!(error = %e.chain(), provider, "webhook {noun} failed");
                envelope::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("error {noun} webhook"))
            }
        }
    }
}
