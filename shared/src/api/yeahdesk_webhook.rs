//! `POST /v1/yeahdesk/webhook`: Yeahdesk's webhook when an agent replies.
//! It carries the secret `OMNIBRIDGE_YEAHDESK_WEBHOOK_SECRET` as `?secret=`
//! or in `X-Omnibridge-Secret`. The reply is recorded and queued for the
//! customer and answered 200 at once; Yeahdesk's redeliveries (up to 5) are
//! recognised by the message id and change nothing.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::{AwsQueue, AwsStore};
use crate::config::SecretSource;
use crate::http::{self, custom as envelope};
use crate::ports::ReplyFormat;
use crate::services::yeahdesk::{take_webhook, Hook};
use crate::Result;

pub struct Endpoint {
    store: AwsStore,
    queue: AwsQueue,
    format: Box<dyn ReplyFormat>,
    secret: Option<SecretString>,
}

impl HttpFunction for Endpoint {
    fn failure(err: &crate::Error) -> Response<Body> {
        crate::http::custom::failure(err)
    }

    async fn build(rt: &Runtime) -> Result<Self> {
        let secret = match &rt.settings.yeahdesk.webhook_secret {
            SecretSource::Unset => None,
            s => Some(rt.secret(s, "OMNIBRIDGE_YEAHDESK_WEBHOOK_SECRET").await?),
        };
        Ok(Endpoint { store: rt.dynamo()?, queue: rt.queue(), format: rt.reply_format(), secret })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let Some(secret) = &self.secret else {
            tracing::error!(
                "OMNIBRIDGE_YEAHDESK_WEBHOOK_SECRET is not set; refusing Yeahdesk's webhooks"
            );
            return envelope::error(
                StatusCode::UNAUTHORIZED,
                "E_INVALID_TOKEN",
                "invalid webhook secret",
            );
        };
        let given = http::query(&req, "secret")
            .or_else(|| http::header(&req, "x-omnibridge-secret").map(str::to_owned));
        if !given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(secret.expose_secret().as_bytes())))
        {
            return envelope::error(
                StatusCode::UNAUTHORIZED,
                "E_INVALID_TOKEN",
                "invalid webhook secret",
            );
        }
        let hook = match self.format.read(http::body(&req)) {
            Ok(h) => h,
            Err(e) => return envelope::failure(&e),
        };
        match take_webhook(&self.store, &self.queue, hook).await {
            Ok(Hook::Queued) => http::json(StatusCode::OK, &json!({"ok": true})),
            Ok(Hook::Ignored(why)) => {
                tracing::info!(reason = why, "Yeahdesk webhook ignored");
                http::json(StatusCode::OK, &json!({"ok": true, "ignored": why}))
            }
            Err(e) => envelope::failure(&e),
        }
    }
}
