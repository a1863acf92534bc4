//! Request and response helpers, and the error envelope of each API family.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::Error;

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// A header as text, if present and printable.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A query string parameter.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
}

/// A path parameter (`{name}` in the route).
pub fn path(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref().and_then(|p| p.first(name)).map(str::to_owned)
}

/// The public base URL the request came to: `https://{domain}/{stage}` behind
/// API Gateway, else `http://{Host}` (the local runner).
pub fn public_base_url(req: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            let domain = ctx.domain_name.as_deref()?;
            match ctx.stage.as_deref() {
                Some(stage) if stage != "$default" => Some(format!("https://{domain}/{stage}")),
                _ => Some(format!("https://{domain}")),
            }
        }
        _ => header(req, "host").map(|h| format!("http://{h}")),
    }
}

/// The raw body bytes.
pub fn body(req: &Request) -> &[u8] {
    req.body().as_ref()
}

/// The `/v1` family of the seed (the API Yalo's bots call, and the
/// Salesforce events endpoint): `{"Message": ...}` on success,
/// `{"ErrorDescription": ...}` on failure.
pub mod v1 {
    use super::*;
    use crate::services::auth::Denied;

    #[derive(Serialize)]
    struct ErrorBody<'a> {
        #[serde(rename = "ErrorDescription")]
        error_description: &'a str,
    }

    #[derive(Serialize)]
    struct MessageBody<'a> {
        #[serde(rename = "Message")]
        message: &'a str,
    }

    pub fn error(status: StatusCode, description: &str) -> Response<Body> {
        json(status, &ErrorBody { error_description: description })
    }

    pub fn message(text: &str) -> Response<Body> {
        json(StatusCode::OK, &MessageBody { message: text })
    }

    /// A body that is not the JSON the endpoint takes.
    pub fn bad_payload(cause: &dyn std::fmt::Display) -> Response<Body> {
        error(StatusCode::BAD_REQUEST, &format!("Invalid payload received : {cause}"))
    }

    /// Required fields that are missing or empty, in the seed's validator wording:
    /// `Error validating payload : Key: 'ChatPayload.Email' Error:Field validation for 'Email' failed on the 'required' tag`.
    pub fn missing_fields(payload: &str, fields: &[&str]) -> Response<Body> {
        let lines: Vec<String> = fields
            .iter()
            .map(|f| format!("Key: '{payload}.{f}' Error:Field validation for '{f}' failed on the 'required' tag"))
            .collect();
        error(StatusCode::BAD_REQUEST, &format!("Error validating payload : {}", lines.join("\n")))
    }

    /// A field over its limit, in the seed's validator wording (`max` tag).
    pub fn too_long(payload: &str, field: &str) -> Response<Body> {
        error(
            StatusCode::BAD_REQUEST,
            &format!("Error validating payload : Key: '{payload}.{field}' Error:Field validation for '{field}' failed on the 'max' tag"),
        )
    }

    /// The seed's answers for a refused token.
    pub fn denied(reason: Denied) -> Response<Body> {
        match reason {
            Denied::Missing => error(
                StatusCode::UNAUTHORIZED,
                "An Authorization header or an Query Param with name token is required.",
            ),
            Denied::MalformedHeader => {
                error(StatusCode::UNAUTHORIZED, "Invalid Authorization token, header invalid.")
            }
            Denied::InvalidToken | Denied::WrongRole => {
                error(StatusCode::FORBIDDEN, "Invalid Authorization token.")
            }
        }
    }

    /// A failure of ours or of a dependency, logged with its cause; the caller
    /// gets no internals. Dependencies that may recover answer 503 so the
    /// caller retries.
    pub fn failure(err: &Error) -> Response<Body> {
        match err {
            Error::Invalid { .. } | Error::Refused { .. } => {
                error(StatusCode::BAD_REQUEST, &format!("Error validating payload : {err}"))
            }
            Error::NotFound(_) => error(StatusCode::NOT_FOUND, &err.to_string()),
            Error::Conflict(_) => error(StatusCode::CONFLICT, &err.to_string()),
            Error::Retryable { .. } => {
                tracing::warn!(error = %err.chain(), "dependency unavailable");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable, retry later.",
                )
            }
            Error::Permanent { .. } | Error::Config(_) => {
                tracing::error!(error = %err.chain(), "request failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
            }
        }
    }
}

/// Pipedrive's Channels API (the provider endpoints): `{success: false,
/// data: {message, code}}` on failure.
pub mod pipedrive {
    use super::*;
    use serde_json::json;

    pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
        json(status, &json!({"success": false, "data": {"message": message, "code": code}}))
    }

    /// `{success: true, data}` (and `additional_data.after` while more pages remain).
    pub fn ok<T: Serialize>(data: &T, after: Option<&str>) -> Response<Body> {
        match after {
            Some(a) => json(
                StatusCode::OK,
                &json!({"success": true, "data": data, "additional_data": {"after": a}}),
            ),
            None => json(StatusCode::OK, &json!({"success": true, "data": data})),
        }
    }

    pub fn unauthorized(message: &str) -> Response<Body> {
        error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// A failure in the seed's codes. A dependency that may recover answers
    /// 429 with `retry_by`, which Pipedrive honours.
    pub fn failure(err: &Error) -> Response<Body> {
        match err {
            Error::Invalid { .. } | Error::Refused { .. } => {
                error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &err.to_string())
            }
            Error::NotFound(_) => error(StatusCode::NOT_FOUND, "NOT_FOUND", &err.to_string()),
            Error::Conflict(_) => error(StatusCode::FORBIDDEN, "FORBIDDEN", &err.to_string()),
            Error::Retryable { .. } => {
                tracing::warn!(error = %err.chain(), "dependency unavailable");
                let wait = err.retry_after().unwrap_or(std::time::Duration::from_secs(2));
                let at = time::OffsetDateTime::now_utc() + wait;
                let retry_by =
                    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                json(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"success": false, "data": {"message": "temporarily unavailable, retry later", "code": "RATE_LIMIT_EXCEEDED", "retry_by": retry_by}}),
                )
            }
            Error::Permanent { .. } | Error::Config(_) => {
                tracing::error!(error = %err.chain(), "request failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error")
            }
        }
    }
}

/// The custom-channel API (the seed's Yeahdesk contract): `{code, message}`
/// with the seed's `E_*` codes.
pub mod custom {
    use super::*;
    use serde_json::json;

    pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
        json(status, &json!({"code": code, "message": message}))
    }

    pub fn failure(err: &Error) -> Response<Body> {
        match err {
            Error::Refused { status, code, message } => error(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                code,
                message,
            ),
            Error::Invalid { .. } => {
                error(StatusCode::BAD_REQUEST, "E_BAD_REQUEST", &err.to_string())
            }
            Error::NotFound(_) => error(StatusCode::NOT_FOUND, "E_NOT_FOUND", &err.to_string()),
            Error::Conflict(_) => {
                error(StatusCode::CONFLICT, "E_IDEMPOTENCY_CONFLICT", &err.to_string())
            }
            Error::Retryable { .. } => {
                tracing::warn!(error = %err.chain(), "dependency unavailable");
                let secs = err.retry_after().map_or(2, |d| d.as_secs().max(1));
                let mut res = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "E_TEMPORARILY_UNAVAILABLE",
                    "temporarily unavailable; retry with the same Idempotency-Key",
                );
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                res
            }
            Error::Permanent { .. } | Error::Config(_) => {
                tracing::error!(error = %err.chain(), "request failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "E_INTERNAL", "internal error")
            }
        }
    }
}
