//! The sandbox's HTTP plumbing: a hyper server whose handler may drop the
//! connection (to inject dropped connections), and request/reply helpers.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::sync::watch;

use super::{dispatch, Sandbox};

/// A request as the peers see it.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization").and_then(|h| h.strip_prefix("Bearer "))
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }
}

/// A non-empty string field of a JSON object.
pub fn text<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_json::Value::as_str).filter(|s| !s.trim().is_empty())
}

/// A reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: vec![],
            body: vec![],
        }
    }

    pub fn bytes(content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    pub fn not_found() -> Reply {
        Reply::json(404, &serde_json::json!({"message": "Not Found"}))
    }

    pub fn with_header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.into(), value));
        self
    }
}

/// The reply of an injected status fault, in the peer's own error envelope.
pub fn fault_reply(
    peer: &str,
    status: u16,
    retry_after: Option<u64>,
    sf_code: Option<u32>,
    body: Option<serde_json::Value>,
) -> Reply {
    use serde_json::json;
    let body = body.unwrap_or_else(|| match peer {
        "pipedrive" => {
            let code = match status {
                429 => "RATE_LIMIT_EXCEEDED",
                401 => "UNAUTHORIZED",
                403 => "FORBIDDEN",
                404 => "NOT_FOUND",
                400 => "BAD_REQUEST",
                _ => "INTERNAL_ERROR",
            };
            let mut data = json!({"message": format!("injected {status}"), "code": code});
            if status == 429 {
                let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(retry_after.unwrap_or(2) as i64);
                data["retry_by"] = json!(at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
            }
            json!({"success": false, "data": data})
        }
        "salesforce" => json!({"code": sf_code.unwrap_or(status as u32), "message": format!("injected {status}")}),
        "yeahdesk" => json!({"code": "E_INTERNAL", "message": format!("injected {status}")}),
        _ => json!({"error": format!("injected {status}")}),
    });
    let mut reply = Reply::json(status, &body);
    if let Some(secs) = retry_after {
        reply = reply.with_header("retry-after", secs.to_string());
    }
    reply
}

type Resp = hyper::Response<Full<Bytes>>;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    sb: Arc<Sandbox>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Resp, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: serde_urlencoded::from_str(&raw_query).unwrap_or_default(),
        raw_query,
        headers: parts.headers,
        body,
    };
    let Some(reply) = dispatch(sb, incoming).await else { return Err(Dropped) };
    let mut res = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *res.status_mut() = reply.status;
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) =
            (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(&v))
        {
            res.headers_mut().append(k, v);
        }
    }
    Ok(res)
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    sb: Arc<Sandbox>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let sb = sb.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(sb.clone(), req));
            // An Err from the service (an injected drop) closes the connection unanswered.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
