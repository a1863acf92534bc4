//! API Gateway's HTTP API in front of the functions: the route of
//! template.yaml a request matches, the payload format 2.0 event built from
//! the request as API Gateway builds it (lower-case headers with repeats
//! joined by commas, cookies apart, the raw and parsed query string, path
//! parameters, a base64 body unless it is text, the request context with the
//! stage in the path), the function's answer turned back into an HTTP
//! response, and API Gateway's own answers: 404 for no route, 413 for a
//! request over 10 MB or an event over Lambda's 6 MB, 500 when the function
//! fails or times out, 502 when its answer is over 6 MB or malformed, 503
//! when it is throttled or takes longer than the 30 s integration timeout.

use axum::body::Bytes;
use axum::extract::State;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Function, InvokeError};
use crate::template::{match_path, Route, Stack, Throttle};

/// API Gateway's own limit on a request body.
pub const REQUEST_LIMIT: usize = 10 * 1024 * 1024;
/// An HTTP API's longest wait for its integration.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpApi {
    pub routes: Vec<(Route, Arc<Function>)>,
    pub stage: String,
    pub api_id: String,
    pub account: String,
    /// A token bucket per route key, from the stage's throttling settings.
    buckets: std::collections::HashMap<String, std::sync::Mutex<Bucket>>,
    access_log_format: Option<String>,
}

/// API Gateway's throttling of one route: `burst` tokens, refilled at `rate` per second.
#[derive(Debug)]
struct Bucket {
    throttle: Throttle,
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.at).as_secs_f64() * self.throttle.rate)
            .min(self.throttle.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl HttpApi {
    pub fn new(
        stack: &Stack,
        functions: &std::collections::HashMap<String, Arc<Function>>,
    ) -> HttpApi {
        let routes: Vec<(Route, Arc<Function>)> = stack
            .routes()
            .into_iter()
            .filter_map(|r| Some((r.clone(), functions.get(&r.function)?.clone())))
            .collect();
        let buckets = routes
            .iter()
            .filter_map(|(r, _)| {
                let key = format!("{} {}", r.method, r.path);
                let throttle =
                    stack.api.route_throttles.get(&key).copied().or(stack.api.throttle)?;
                Some((
                    key,
                    std::sync::Mutex::new(Bucket {
                        throttle,
                        tokens: throttle.burst,
                        at: std::time::Instant::now(),
                    }),
                ))
            })
            .collect();
        HttpApi {
            routes,
            stage: stack.api.stage.clone(),
            api_id: stack
                .physical
                .get("Api")
                .map_or_else(|| "local".to_owned(), |a| a.reference.clone()),
            account: stack.account.clone(),
            buckets,
            access_log_format: stack.api.access_log_format.clone(),
        }
    }

    fn admit(&self, route_key: &str) -> bool {
        self.buckets
            .get(route_key)
            .is_none_or(|b| b.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take())
    }

    /// The stage's access log line for a request (its `$context` variables filled in).
    fn access_log(
        &self,
        event: &Value,
        status: u16,
        length: usize,
        latency: Duration,
        error: &str,
    ) {
        let Some(format) = &self.access_log_format else { return };
        let ctx = &event["requestContext"];
        let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
        let vars = [
            ("$context.requestId", text(&ctx["requestId"])),
            ("$context.identity.sourceIp", text(&ctx["http"]["sourceIp"])),
            ("$context.requestTime", text(&ctx["time"])),
            ("$context.routeKey", text(&ctx["routeKey"])),
            ("$context.httpMethod", text(&ctx["http"]["method"])),
            ("$context.path", text(&ctx["http"]["path"])),
            ("$context.protocol", text(&ctx["http"]["protocol"])),
            ("$context.status", status.to_string()),
            ("$context.responseLength", length.to_string()),
            ("$context.integrationLatency", latency.as_millis().to_string()),
            ("$context.integrationErrorMessage", error.to_owned()),
        ];
        let line = vars.iter().fold(format.clone(), |line, (k, v)| line.replace(k, v));
        tracing::info!(target: "access", "{line}");
    }
}

fn gateway_answer(status: u16, message: &str) -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::from(
        json!({ "message": message }).to_string(),
    ));
    *res.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    res
}

/// Whether API Gateway passes a body of this type as text (else base64).
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) =
        content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    else {
        return false;
    };
    ct.starts_with("text/")
        || ct == "application/json"
        || ct.ends_with("+json")
        || ct == "application/xml"
        || ct.ends_with("+xml")
        || ct == "application/javascript"
}

/// The payload format 2.0 event for a request to `route`.
pub fn event(
    api: &HttpApi,
    route: &Route,
    path_params: Vec<(String, String)>,
    parts: &http::request::Parts,
    peer: Option<SocketAddr>,
    body: &[u8],
) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> =
            parts.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        if name == http::header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(|c| Value::from(c.trim()))
                    .filter(|c| c != ""),
            );
            continue;
        }
        headers.insert(name.as_str().to_owned(), Value::from(values.join(",")));
    }
    let source_ip = peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "127.0.0.1".into());
    let domain = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let trace = format!(
        "Root=1-{:08x}-{}",
        now.unix_timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    headers.insert("x-forwarded-for".into(), Value::from(source_ip.clone()));
    headers.insert("x-forwarded-proto".into(), Value::from("http"));
    headers.insert(
        "x-forwarded-port".into(),
        Value::from(domain.rsplit(':').next().filter(|p| p.parse::<u16>().is_ok()).unwrap_or("80")),
    );
    headers.insert("x-amzn-trace-id".into(), Value::from(trace));
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query: Map<String, Value> = Map::new();
    for (k, v) in
        serde_urlencoded::from_str::<Vec<(String, String)>>(&raw_query).unwrap_or_default()
    {
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::from(v));
            }
        }
    }
    let raw_path = if api.stage == "$default" {
        parts.uri.path().to_owned()
    } else {
        format!("/{}{}", api.stage, parts.uri.path())
    };
    let route_key = format!("{} {}", route.method, route.path);
    let text = is_text(parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()));
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": api.account,
            "apiId": api.api_id,
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or(&domain),
            "http": {
                "method": parts.method.as_str(),
                "path": raw_path,
                "protocol": format!("{:?}", parts.version),
                "sourceIp": source_ip,
                "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": base64::engine::general_purpose::STANDARD.encode(&uuid::Uuid::new_v4().as_bytes()[..10]),
            "routeKey": route_key,
            "stage": api.stage,
            "time": now.format(&format).unwrap_or_default(),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_params.is_empty() {
        event["pathParameters"] =
            Value::Object(path_params.into_iter().map(|(k, v)| (k, Value::from(v))).collect());
    }
    if !body.is_empty() {
        if text {
            if let Ok(s) = std::str::from_utf8(body) {
                event["body"] = Value::from(s);
                return event;
            }
        }
        event["body"] = Value::from(base64::engine::general_purpose::STANDARD.encode(body));
        event["isBase64Encoded"] = Value::Bool(true);
    }
    event
}

/// The function's answer (payload format 2.0) as an HTTP response.
pub fn answer(payload: &[u8]) -> Option<axum::response::Response> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let Some(status) = v.get("statusCode").and_then(Value::as_u64) else {
        // Without a statusCode, API Gateway takes the whole answer as a JSON body.
        let mut res = axum::response::Response::new(axum::body::Body::from(payload.to_vec()));
        res.headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        return Some(res);
    };
    let body = match v.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(b) if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            base64::engine::general_purpose::STANDARD.decode(b).ok()?
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    let mut res = axum::response::Response::new(axum::body::Body::from(body));
    *res.status_mut() = http::StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let h = res.headers_mut();
    for (k, value) in v.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let (Ok(name), Some(Ok(value))) = (
            http::HeaderName::try_from(k.as_str()),
            value.as_str().map(http::HeaderValue::from_str),
        ) else {
            return None;
        };
        h.append(name, value);
    }
    for c in
        v.get("cookies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    {
        h.append(http::header::SET_COOKIE, http::HeaderValue::from_str(c).ok()?);
    }
    Some(res)
}

pub async fn handle(
    State(api): State<Arc<HttpApi>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let found = api.routes.iter().find_map(|(route, f)| {
        (route.method == method || route.method == "ANY")
            .then(|| match_path(&route.path, parts.uri.path()).map(|p| (route, f, p)))
            .flatten()
    });
    let Some((route, function, params)) = found else { return gateway_answer(404, "Not Found") };
    let body: Bytes = match axum::body::to_bytes(body, REQUEST_LIMIT).await {
        Ok(b) => b,
        Err(_) => return gateway_answer(413, "Request Entity Too Large"),
    };
    let event = event(&api, route, params, &parts, Some(peer), &body);
    if !api.admit(&format!("{} {}", route.method, route.path)) {
        api.access_log(&event, 429, 0, Duration::ZERO, "throttled");
        return gateway_answer(429, "Too Many Requests");
    }
    let started = std::time::Instant::now();
    let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
    // The function runs on even when API Gateway stops waiting for it.
    let (function, request_id) = (
        function.clone(),
        event["requestContext"]["requestId"].as_str().unwrap_or_default().to_owned(),
    );
    let call = tokio::spawn(async move { function.invoke(payload).await });
    let mut res = match tokio::time::timeout(INTEGRATION_TIMEOUT, call).await {
        Err(_) | Ok(Ok(Err(InvokeError::Throttled))) => gateway_answer(503, "Service Unavailable"),
        Ok(Ok(Err(InvokeError::RequestTooLarge(_)))) => {
            gateway_answer(413, "Request Entity Too Large")
        }
        Ok(Ok(Err(InvokeError::ResponseTooLarge(_)))) => {
            gateway_answer(502, "Internal Server Error")
        }
        Ok(Err(_) | Ok(Err(_))) => gateway_answer(500, "Internal Server Error"),
        Ok(Ok(Ok(payload))) => {
            answer(&payload).unwrap_or_else(|| gateway_answer(502, "Internal Server Error"))
        }
    };
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("apigw-requestid", v);
    }
    let length = res
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    api.access_log(&event, res.status().as_u16(), length, started.elapsed(), "");
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> HttpApi {
        HttpApi {
            routes: Vec::new(),
            stage: "prod".into(),
            api_id: "local".into(),
            account: "123456789012".into(),
            buckets: Default::default(),
            access_log_format: None,
        }
    }

    #[test]
    fn when_a_route_is_called_faster_than_its_throttle_should_refuse_the_excess() {
        let mut b = Bucket {
            throttle: Throttle { rate: 1.0, burst: 3.0 },
            tokens: 3.0,
            at: std::time::Instant::now(),
        };
        assert!((0..3).all(|_| b.take()));
        assert!(!b.take(), "the burst is spent");
        b.at -= Duration::from_secs(2);
        assert!(b.take() && b.take() && !b.take(), "refilled at the rate");
    }

    #[test]
    fn when_a_request_arrives_should_build_the_event_as_api_gateway_does() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/v1/context/52%2B1?token=a&x=1&x=2")
            .header("Host", "127.0.0.1:3000")
            .header("Cookie", "a=1; b=2")
            .header("X-Thing", "one")
            .header("X-Thing", "two")
            .header("Content-Type", "application/octet-stream")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let route = Route {
            method: "POST".into(),
            path: "/v1/context/{userID}".into(),
            function: "context-get".into(),
        };
        let e = event(
            &api(),
            &route,
            vec![("userID".into(), "52+1".into())],
            &parts,
            None,
            b"\x00\x01",
        );
        assert_eq!(e["rawPath"], "/prod/v1/context/52%2B1");
        assert_eq!(e["routeKey"], "POST /v1/context/{userID}");
        assert_eq!(e["rawQueryString"], "token=a&x=1&x=2");
        assert_eq!(e["queryStringParameters"], json!({"token": "a", "x": "1,2"}));
        assert_eq!(e["pathParameters"], json!({"userID": "52+1"}));
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["headers"]["x-thing"], "one,two");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AAE=");
        assert_eq!(e["requestContext"]["stage"], "prod");
        let req = lambda_http::request::from_str(&e.to_string()).expect("lambda_http reads it");
        assert_eq!(req.method(), "POST");
    }

    #[test]
    fn when_the_function_answers_should_give_its_status_headers_cookies_and_body() {
        let payload = json!({"statusCode": 201, "headers": {"content-type": "text/plain"}, "cookies": ["s=1"], "body": "aGk=", "isBase64Encoded": true});
        let res = answer(payload.to_string().as_bytes()).unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["set-cookie"], "s=1");
        let bare = answer(b"{\"a\":1}").unwrap();
        assert_eq!(bare.status(), 200);
        assert!(answer(b"not json").is_none());
    }
}
