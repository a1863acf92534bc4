//! `POST /v1/authenticate`: username and password in, a JWT out.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::adapters::dynamodb::DynamoStore;
use crate::bootstrap::{Endpoint as EndpointTrait, Runtime};
use crate::http::{self, yalo};
use crate::ports::UserStore;
use crate::services::auth::{verify_password, TokenKeys};
use crate::Result;

#[derive(Deserialize)]
struct AuthPayload {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
}

pub struct Endpoint {
    users: DynamoStore,
    keys: TokenKeys,
}

impl Endpoint {
    pub fn new(users: DynamoStore, keys: TokenKeys) -> Self {
        Endpoint { users, keys }
    }
}

impl EndpointTrait for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint::new(rt.dynamo()?, super::token_keys(rt).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let payload: AuthPayload = match serde_json::from_slice(http::body(&req)) {
            Ok(p) => p,
            Err(e) => return yalo::bad_payload(&e),
        };
        let missing: Vec<&str> = [("Username", &payload.username), ("Password", &payload.password)]
            .into_iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| k)
            .collect();
        if !missing.is_empty() {
            return yalo::missing_fields("AuthPayload", &missing);
        }
        let user = match self.users.get_user(&payload.username).await {
            Ok(u) => u,
            Err(e) => return yalo::failure(&e),
        };
        // argon2 is deliberately slow: keep it off the async workers.
        let password = payload.password;
        let checked = tokio::task::spawn_blocking(move || (verify_password(user.as_ref(), &password), user)).await;
        let user = match checked {
            Ok((true, Some(user))) => user,
            Ok(_) => {
                tracing::info!(username = %payload.username, "authentication refused");
                return yalo::error(StatusCode::UNAUTHORIZED, "Invalid credentials.");
            }
            Err(e) => return yalo::failure(&crate::Error::permanent("password check did not finish", Some(Box::new(e)))),
        };
        let now = crate::model::now_millis() / 1000;
        match self.keys.issue(&user, now) {
            Ok(token) => http::json(StatusCode::OK, &TokenBody { token }),
            Err(e) => yalo::failure(&e),
        }
    }
}
