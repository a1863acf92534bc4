//! `POST /v1/authenticate`: username and password in, a JWT out.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::AwsStore;
use crate::http::{self, v1};
use crate::ports::UserStore;
use crate::services::auth::{verify_password, TokenKeys};
use crate::Result;

/// Failed logins of one username in a row before its logins wait.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// How long they wait (the window the failures are counted in).
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The longest password checked (argon2's cost grows with it).
const MAX_PASSWORD: usize = 1024;

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
    users: AwsStore,
    keys: TokenKeys,
}

impl Endpoint {
    pub fn new(users: AwsStore, keys: TokenKeys) -> Self {
        Endpoint { users, keys }
    }
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint::new(rt.dynamo()?, super::token_keys(rt).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let payload: AuthPayload = match serde_json::from_slice(http::body(&req)) {
            Ok(p) => p,
            Err(e) => return v1::bad_payload(&e),
        };
        let missing: Vec<&str> = [("Username", &payload.username), ("Password", &payload.password)]
            .into_iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| k)
            .collect();
        if !missing.is_empty() {
            return v1::missing_fields("AuthPayload", &missing);
        }
        if payload.username.len() > crate::model::limits::ID
            || payload.password.len() > MAX_PASSWORD
        {
            return v1::error(StatusCode::UNAUTHORIZED, "Invalid credentials.");
        }
        let now = crate::model::now_millis() / 1000;
        // The brake: after a few failures in a row, the user's logins wait out
        // the window without a password check (which is costly by design).
        match self.users.login_failures(&payload.username, now).await {
            Ok(n) if n >= MAX_FAILED_LOGINS => {
                tracing::warn!(username = %payload.username, "login refused: too many failed attempts");
                let mut res = v1::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed attempts, try again later.",
                );
                res.headers_mut()
                    .insert(lambda_http::http::header::RETRY_AFTER, LOCKOUT.as_secs().into());
                return res;
            }
            Ok(_) => {}
            Err(e) => return v1::failure(&e),
        }
        let user = match self.users.get_user(&payload.username).await {
            Ok(u) => u,
            Err(e) => return v1::failure(&e),
        };
        // argon2 is deliberately slow: keep it off the async workers.
        let password = payload.password;
        let checked =
            tokio::task::spawn_blocking(move || (verify_password(user.as_ref(), &password), user))
                .await;
        let user = match checked {
            Ok((true, Some(user))) => user,
            Ok(_) => {
                tracing::info!(username = %payload.username, "authentication refused");
                if let Err(e) = self
                    .users
                    .count_login_failure(&payload.username, now, LOCKOUT.as_secs() as i64)
                    .await
                {
                    return v1::failure(&e);
                }
                return v1::error(StatusCode::UNAUTHORIZED, "Invalid credentials.");
            }
            Err(e) => {
                return v1::failure(&crate::Error::permanent(
                    "password check did not finish",
                    Some(Box::new(e)),
                ))
            }
        };
        if let Err(e) = self.users.clear_login_failures(&user.username).await {
            tracing::warn!(error = %e.chain(), "could not clear the failed logins");
        }
        match self.keys.issue(&user, now) {
            Ok(token) => http::json(StatusCode::OK, &TokenBody { token }),
            Err(e) => v1::failure(&e),
        }
    }
}
