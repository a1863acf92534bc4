//! Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`),
//! where `cargo lambda invoke` sends its events: any function of the local
//! stack, by binary name, function name or ARN, with its own configuration
//! and rights. Answers as Lambda: the function's answer with 200, a function
//! error with 200 and `X-Amz-Function-Error: Unhandled`, 404, 413 and 429 as
//! Lambda's own errors; `X-Amz-Invocation-Type: Event` answers 202 at once
//! and `DryRun` 204.

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

use super::{Function, InvokeError};

pub type Functions = Arc<HashMap<String, Arc<Function>>>;

fn lambda_error(status: u16, kind: &str, message: &str) -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::from(
        json!({"Type": "User", "message": message}).to_string(),
    ));
    *res.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(
        "x-amzn-errortype",
        http::HeaderValue::from_str(kind)
            .unwrap_or(http::HeaderValue::from_static("ServiceException")),
    );
    res.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    res
}

fn find<'a>(
    functions: &'a HashMap<String, Arc<Function>>,
    name: &str,
) -> Option<&'a Arc<Function>> {
    functions
        .get(name)
        .or_else(|| functions.values().find(|f| f.spec.name == name || f.spec.arn == name))
}

pub async fn invoke(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    headers: http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let Some(function) = find(&functions, &name).cloned() else {
        return lambda_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        );
    };
    let payload = if body.is_empty() { Bytes::from_static(b"{}") } else { body };
    match headers.get("x-amz-invocation-type").and_then(|v| v.to_str().ok()) {
        Some("DryRun") => return empty(204),
        Some("Event") => {
            tokio::spawn(async move {
                let _ = function.invoke(payload).await;
            });
            return empty(202);
        }
        _ => {}
    }
    match function.invoke(payload).await {
        Ok(answer) => {
            let mut res = axum::response::Response::new(axum::body::Body::from(answer));
            res.headers_mut()
                .insert("x-amz-executed-version", http::HeaderValue::from_static("$LATEST"));
            res
        }
        Err(InvokeError::Throttled) => {
            lambda_error(429, "TooManyRequestsException", "Rate Exceeded.")
        }
        Err(e @ InvokeError::RequestTooLarge(_)) => {
            lambda_error(413, "RequestTooLargeException", &e.to_string())
        }
        Err(e) => {
            let body = json!({"errorType": e.error_type(), "errorMessage": e.to_string()});
            let mut res = axum::response::Response::new(axum::body::Body::from(body.to_string()));
            res.headers_mut()
                .insert("x-amz-function-error", http::HeaderValue::from_static("Unhandled"));
            res
        }
    }
}

fn empty(status: u16) -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::empty());
    *res.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    res
}

pub fn router(functions: Functions) -> axum::Router {
    axum::Router::new()
        .route("/2015-03-31/functions/{name}/invocations", axum::routing::post(invoke))
        .with_state(functions)
}
