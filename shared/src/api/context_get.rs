//! `GET /v1/context/{userID}`: the customer's bot transcript of the last 24
//! hours, oldest first, in the seed's shape.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::AwsStore;
use crate::http::{self, v1};
use crate::model::{now_millis, validate_id};
use crate::ports::ContextStore;
use crate::services::auth::Role;
use crate::services::context::ContextItem;
use crate::Result;

pub struct Endpoint {
    store: AwsStore,
    gate: super::Gate,
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint { store: rt.dynamo()?, gate: super::Gate::from_runtime(rt).await? })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = self.gate.authorize(&req, &[Role::Yalo]).await {
            return *denied;
        }
        let user_id = http::path(&req, "userID").unwrap_or_default();
        if validate_id("userID", &user_id).is_err() {
            return v1::error(StatusCode::BAD_REQUEST, "Missing param : userID");
        }
        match self.store.list_context(&user_id, now_millis()).await {
            // An empty transcript is `[]` (the predecessor answered `null`, which clients had to special-case).
            Ok(entries) => http::json(
                StatusCode::OK,
                &entries.iter().map(ContextItem::from).collect::<Vec<_>>(),
            ),
            Err(e) => v1::failure(&e),
        }
    }
}
