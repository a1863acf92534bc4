//! Registering and removing omnibridge's webhooks with Yalo, shared by
//! [`super::webhook_register`] and [`super::webhook_remove`].

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::bootstrap::Runtime;
use crate::config::SecretSource;
use crate::http::{self, v1 as envelope};
use crate::model::ChannelKind;
use crate::ports::Channel;
use crate::services::auth::Role;
use crate::Result;
use secrecy::{ExposeSecret, SecretString};

/// The webhook URL Yalo is given: the secret in its query, which the webhook checks.
fn webhook_url(base: &str, provider: &str, secret: &SecretString) -> Result<String> {
    let mut url = reqwest::Url::parse(&format!("{base}/v1/integrations/{provider}/webhook"))
        .map_err(|e| {
            crate::Error::Config(format!("OMNIBRIDGE_PUBLIC_URL {base:?} does not make a URL: {e}"))
        })?;
    url.query_pairs_mut().append_pair("secret", secret.expose_secret());
    Ok(url.into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Register,
    Remove,
}

pub struct Registration {
    action: Action,
    gate: super::Gate,
    yalo: Option<Box<dyn Channel>>,
    public_url: Option<String>,
    /// What the registered URL carries for the webhooks to accept Yalo's calls.
    webhook_secret: Option<SecretString>,
}

impl Registration {
    pub async fn build(rt: &Runtime, action: Action) -> Result<Self> {
        let webhook_secret = match (action, &rt.settings.yalo_webhook_secret) {
            (Action::Register, source) if !matches!(source, SecretSource::Unset) => {
                Some(rt.secret(source, "OMNIBRIDGE_YALO_WEBHOOK_SECRET").await?)
            }
            _ => None,
        };
        Ok(Registration {
            action,
            gate: super::Gate::from_runtime(rt).await?,
            yalo: rt.yalo().await?.map(|y| Box::new(y) as Box<dyn Channel>),
            public_url: rt.settings.public_url.clone(),
            webhook_secret,
        })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = self.gate.authorize(&req, &[Role::Yalo]).await {
            return *denied;
        }
        let provider = http::path(&req, "provider").unwrap_or_default();
        let channel = match provider.as_str() {
            "whatsapp" => ChannelKind::Whatsapp,
            "facebook" => ChannelKind::Facebook,
            other => {
                return envelope::error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                    "Invalid provider : {other:?}, the allowed values are whatsapp and facebook"
                ),
                )
            }
        };
        let (verb, noun) = match self.action {
            Action::Register => ("Register", "register"),
            Action::Remove => ("Remove", "remove"),
        };
        let base = self.public_url.clone().or_else(|| http::public_base_url(&req));
        let result = match (&self.yalo, base, self.action) {
            (None, _, _) => Err(crate::Error::Config(
                "OMNIBRIDGE_YALO_API_URL and OMNIBRIDGE_YALO_TOKEN must be set".into(),
            )),
            (Some(_), None, Action::Register) => {
                Err(crate::Error::Config("set OMNIBRIDGE_PUBLIC_URL".into()))
            }
            (Some(yalo), Some(base), Action::Register) => match &self.webhook_secret {
                None => {
                    Err(crate::Error::Config("OMNIBRIDGE_YALO_WEBHOOK_SECRET is not set".into()))
                }
                Some(secret) => match webhook_url(&base, &provider, secret) {
                    Ok(url) => yalo.register_webhook(channel, &url).await,
                    Err(e) => Err(e),
                },
            },
            (Some(yalo), _, Action::Remove) => yalo.remove_webhook(channel).await,
        };
        match result {
            Ok(()) => {
                envelope::message(&format!("{verb} webhook success with provider : {provider}"))
            }
            Err(e) => {
                tracing::error!(error = %e.chain(), provider, "webhook {noun} failed");
                envelope::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("error {noun} webhook"))
            }
        }
    }
}
