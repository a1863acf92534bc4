//! `GET /v1/tokens/check`: who the token belongs to and its role.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::bootstrap::{HttpFunction, Runtime};
use crate::http;
use crate::services::auth::Role;
use crate::Result;

#[derive(Serialize)]
struct Identity<'a> {
    username: &'a str,
    role: Role,
}

pub struct Endpoint {
    gate: super::Gate,
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint { gate: super::Gate::from_runtime(rt).await? })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        match self.gate.authorize(&req, &[Role::Yalo, Role::Salesforce]).await {
            Ok(claims) => http::json(
                StatusCode::OK,
                &Identity { username: &claims.username, role: claims.role },
            ),
            Err(denied) => *denied,
        }
    }
}
