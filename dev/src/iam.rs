//! IAM as AWS enforces it, in front of the local AWS. Every function of the
//! local stack calls AWS with credentials of its own (as its execution role
//! would); this gateway reads who is calling from the request's signature,
//! works out the IAM actions and resource ARNs the request needs, decides
//! them with the function's policy from template.yaml (and the bucket's or
//! queue's resource policy), and either forwards the request to the emulator
//! or answers as AWS answers a refusal: `AccessDeniedException` from
//! DynamoDB, SQS and Secrets Manager, `AccessDenied` from S3, neither retryable.
//!
//! It also refuses expired presigned S3 URLs (the emulator does not), and
//! records every action each function exercised, for the least-privilege
//! report (`OMNIBRIDGE_IAM_RECORD` names a directory to append them to).

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::template::policy::{Decision, Policy, RequestContext};
use crate::template::Stack;

/// The secret half of every function's local credentials (nothing checks it).
pub const LOCAL_SECRET_KEY: &str = "local-secret-key";

/// A caller the gateway knows: a function and its execution role.
#[derive(Clone, Debug)]
pub struct Identity {
    pub function: String,
    pub role_arn: String,
    pub policy: Policy,
}

/// The access key id a function's calls are signed with.
pub fn access_key_id(binary: &str) -> String {
    format!("LOCAL-{binary}")
}

/// Where the requests go once allowed.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub default: String,
    /// DynamoDB may be served by an emulator of its own.
    pub dynamodb: Option<String>,
}

/// One exercised (or refused) action.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Exercised {
    pub function: String,
    pub action: String,
    /// The resource's logical id (`Table`, `Table/index/*`, `AttachmentsBucket/*`, a parameter name).
    pub resource: String,
    /// The resource's ARN (an object's key or an index's name replaced by `*`).
    pub arn: String,
    pub allowed: bool,
}

struct Gate {
    identities: HashMap<String, Identity>,
    bucket_policies: Vec<(Vec<String>, Policy)>,
    queue_policies: Vec<(Vec<String>, Policy)>,
    stack: Stack,
    upstreams: Upstreams,
    client: reqwest::Client,
    exercised: Mutex<BTreeMap<Exercised, u64>>,
    /// Requests per function (each call, however many actions it needs).
    calls: Mutex<HashMap<String, u64>>,
}

/// A running gateway; stops when dropped.
pub struct Gateway {
    pub url: String,
    gate: Arc<Gate>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Starts a gateway for `stack`'s functions on a free port of 127.0.0.1.
    pub async fn start(stack: &Stack, upstreams: Upstreams) -> anyhow::Result<Gateway> {
        let identities = stack
            .functions
            .iter()
            .map(|f| {
                (
                    access_key_id(&f.binary),
                    Identity {
                        function: f.binary.clone(),
                        role_arn: f.role_arn.clone(),
                        policy: f.policy.clone(),
                    },
                )
            })
            .collect();
        let gate = Arc::new(Gate {
            identities,
            bucket_policies: stack
                .bucket_policies
                .iter()
                .map(|p| (p.resources.clone(), p.policy.clone()))
                .collect(),
            queue_policies: stack
                .queue_policies
                .iter()
                .map(|p| (p.resources.clone(), p.policy.clone()))
                .collect(),
            stack: stack.clone(),
            upstreams,
            client: omnibridge::adapters::http_client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            exercised: Mutex::default(),
            calls: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new().fallback(handle).with_state(gate.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the IAM gateway stopped");
            }
        });
        Ok(Gateway { url, gate, task })
    }

    /// What each function exercised so far, and how often.
    pub fn exercised(&self) -> BTreeMap<Exercised, u64> {
        self.gate.exercised.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// How many AWS calls `function` (its binary) has made so far.
    pub fn calls(&self, function: &str) -> u64 {
        self.gate
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(function)
            .copied()
            .unwrap_or(0)
    }
}

/// Requests are recorded to `$OMNIBRIDGE_IAM_RECORD/<pid>.jsonl`, each new
/// (function, action, resource, decision) once per process.
fn record_to_file(e: &Exercised) {
    static SEEN: Mutex<Option<std::collections::HashSet<Exercised>>> = Mutex::new(None);
    let Some(dir) = std::env::var_os("OMNIBRIDGE_IAM_RECORD") else { return };
    let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !seen.get_or_insert_with(Default::default).insert(e.clone()) {
        return;
    }
    let path = std::path::Path::new(&dir).join(format!("{}.jsonl", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        writeln!(f, "{}", serde_json::to_string(e).unwrap_or_default())
    };
    if let Err(err) = write() {
        tracing::warn!(error = %err, "could not record an exercised action");
    }
}

/// The wire protocol of a request, which decides how a refusal looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Json,
    SqsJson,
    SqsQuery,
    S3,
}

/// Access key, region and service of a SigV4-signed request (header or presigned query).
fn credential(headers: &HeaderMap, query: &[(String, String)]) -> Option<(String, String, String)> {
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or(c).to_owned())
        .or_else(|| query.iter().find(|(k, _)| k == "X-Amz-Credential").map(|(_, v)| v.clone()))?;
    let mut parts = scope.split('/');
    let key = parts.next()?.to_owned();
    let _date = parts.next()?;
    let region = parts.next()?.to_owned();
    let service = parts.next()?.to_owned();
    Some((key, region, service))
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default()
}

fn target(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1))
        .map(str::to_owned)
}

impl Gate {
    fn table_arn(&self, region: &str, name: &str) -> String {
        if name.starts_with("arn:") {
            name.to_owned()
        } else {
            format!("arn:aws:dynamodb:{region}:{}:table/{name}", self.stack.account)
        }
    }

    fn queue_arn(&self, region: &str, url_or_name: &str) -> String {
        let mut parts = url_or_name.trim_end_matches('/').rsplit('/');
        let name = parts.next().unwrap_or_default();
        let account = parts
            .next()
            .filter(|a| a.chars().all(|c| c.is_ascii_digit()) && !a.is_empty())
            .unwrap_or(&self.stack.account);
        format!("arn:aws:sqs:{region}:{account}:{name}")
    }

    /// The actions and resources a request needs, and its protocol.
    fn classify(
        &self,
        service: &str,
        region: &str,
        request: &http::request::Parts,
        query: &[(String, String)],
        body: &[u8],
    ) -> anyhow::Result<(Protocol, Vec<(String, String)>)> {
        let (method, path, headers) = (&request.method, request.uri.path(), &request.headers);
        let json = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match service {
            "dynamodb" => {
                let op = target(headers).context("a DynamoDB request without X-Amz-Target")?;
                let b = json();
                let mut needs = Vec::new();
                match op.as_str() {
                    "BatchGetItem" | "BatchWriteItem" => {
                        for table in b
                            .get("RequestItems")
                            .and_then(Value::as_object)
                            .into_iter()
                            .flat_map(|m| m.keys())
                        {
                            needs.push((format!("dynamodb:{op}"), self.table_arn(region, table)));
                        }
                    }
                    "TransactWriteItems" | "TransactGetItems" => {
                        for item in
                            b.get("TransactItems").and_then(Value::as_array).into_iter().flatten()
                        {
                            let (kind, inner) = item
                                .as_object()
                                .and_then(|o| o.iter().next())
                                .context("an empty transaction item")?;
                            let action = match kind.as_str() {
                                "Put" => "PutItem",
                                "Update" => "UpdateItem",
                                "Delete" => "DeleteItem",
                                "ConditionCheck" => "ConditionCheckItem",
                                "Get" => "GetItem",
                                other => anyhow::bail!("a transaction item of kind {other}"),
                            };
                            let table = s(inner, "TableName")
                                .context("a transaction item without TableName")?;
                            needs.push((
                                format!("dynamodb:{action}"),
                                self.table_arn(region, &table),
                            ));
                        }
                    }
                    "ListTables" => needs.push(("dynamodb:ListTables".into(), "*".into())),
                    _ => {
                        let table = s(&b, "TableName")
                            .with_context(|| format!("DynamoDB {op} without TableName"))?;
                        let mut arn = self.table_arn(region, &table);
                        if let Some(index) = s(&b, "IndexName") {
                            arn = format!("{arn}/index/{index}");
                        }
                        needs.push((format!("dynamodb:{op}"), arn));
                    }
                }
                Ok((Protocol::Json, needs))
            }
            "sqs" => {
                let (protocol, op, params) = match target(headers) {
                    Some(op) => (Protocol::SqsJson, op, json()),
                    None => {
                        let form: Vec<(String, String)> =
                            serde_urlencoded::from_bytes(body).unwrap_or_default();
                        let map: serde_json::Map<String, Value> =
                            form.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                        let op = s(&Value::Object(map.clone()), "Action")
                            .context("an SQS request without an action")?;
                        (Protocol::SqsQuery, op, Value::Object(map))
                    }
                };
                let action = format!("sqs:{}", op.trim_end_matches("Batch"));
                let resource = match (s(&params, "QueueUrl"), s(&params, "QueueName")) {
                    (Some(url), _) => self.queue_arn(region, &url),
                    (None, Some(name)) => self.queue_arn(region, &name),
                    (None, None) => "*".into(),
                };
                Ok((protocol, vec![(action, resource)]))
            }
            "secretsmanager" => {
                let op =
                    target(headers).context("a Secrets Manager request without X-Amz-Target")?;
                let b = json();
                let arn = |id: String| match id.starts_with("arn:") {
                    true => id,
                    false => format!(
                        "arn:aws:secretsmanager:{region}:{}:secret:{id}",
                        self.stack.account
                    ),
                };
                if op == "BatchGetSecretValue" {
                    // Its own action on every resource, and GetSecretValue on each secret it reads.
                    let ids = b.get("SecretIdList").and_then(Value::as_array).context(
                        "a BatchGetSecretValue without SecretIdList (filters are not emulated)",
                    )?;
                    let mut needs =
                        vec![("secretsmanager:BatchGetSecretValue".to_owned(), "*".to_owned())];
                    needs.extend(ids.iter().filter_map(Value::as_str).map(|id| {
                        ("secretsmanager:GetSecretValue".to_owned(), arn(id.to_owned()))
                    }));
                    return Ok((Protocol::Json, needs));
                }
                let resource = s(&b, "SecretId").map_or_else(|| "*".into(), arn);
                Ok((Protocol::Json, vec![(format!("secretsmanager:{op}"), resource)]))
            }
            "s3" => {
                let path = percent_decode(path);
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let bucket = parts.next().unwrap_or_default().to_owned();
                let key = parts.next().filter(|k| !k.is_empty()).map(str::to_owned);
                let has = |k: &str| query.iter().any(|(q, _)| q == k);
                let bucket_arn = format!("arn:aws:s3:::{bucket}");
                let needs = match (method.as_str(), key) {
                    (_, None) if bucket.is_empty() => {
                        vec![("s3:ListAllMyBuckets".into(), "*".into())]
                    }
                    ("GET" | "HEAD", None) => vec![("s3:ListBucket".into(), bucket_arn)],
                    ("PUT", None) => vec![("s3:CreateBucket".into(), bucket_arn)],
                    ("DELETE", None) => vec![("s3:DeleteBucket".into(), bucket_arn)],
                    (m, Some(key)) => {
                        let object = format!("{bucket_arn}/{key}");
                        let action = match m {
                            "GET" | "HEAD" if has("tagging") => "s3:GetObjectTagging",
                            "GET" | "HEAD" => "s3:GetObject",
                            "PUT" if has("tagging") => "s3:PutObjectTagging",
                            "PUT" | "POST" => "s3:PutObject",
                            "DELETE" if has("uploadId") => "s3:AbortMultipartUpload",
                            "DELETE" => "s3:DeleteObject",
                            other => anyhow::bail!("an S3 {other} on an object"),
                        };
                        let mut needs = vec![(action.to_owned(), object)];
                        if let Some(source) =
                            headers.get("x-amz-copy-source").and_then(|v| v.to_str().ok())
                        {
                            needs.push((
                                "s3:GetObject".into(),
                                format!(
                                    "arn:aws:s3:::{}",
                                    percent_decode(source.trim_start_matches('/'))
                                ),
                            ));
                        }
                        needs
                    }
                    (m, None) => anyhow::bail!("an S3 {m} on a bucket"),
                };
                Ok((Protocol::S3, needs))
            }
            other => {
                anyhow::bail!("the local stack does not serve the {other} service to functions")
            }
        }
    }

    fn resource_decision(
        policies: &[(Vec<String>, Policy)],
        action: &str,
        resource: &str,
        ctx: &RequestContext,
    ) -> Decision {
        let mut out = Decision::ImplicitDeny;
        for (governed, policy) in policies {
            if governed.iter().any(|g| resource == g || resource.starts_with(&format!("{g}/"))) {
                match policy.decide(action, resource, ctx) {
                    Decision::ExplicitDeny => return Decision::ExplicitDeny,
                    Decision::Allow => out = Decision::Allow,
                    Decision::ImplicitDeny => {}
                }
            }
        }
        out
    }

    /// `None` when allowed; else the reason AWS gives.
    fn decide(&self, who: &Identity, action: &str, resource: &str) -> Option<String> {
        // Deployed functions reach AWS over TLS; the emulator is plain HTTP.
        let ctx = RequestContext {
            principal: who.role_arn.clone(),
            source_arn: None,
            secure_transport: true,
        };
        let resource_policies =
            if action.starts_with("s3:") { &self.bucket_policies } else { &self.queue_policies };
        let identity = who.policy.decide(action, resource, &ctx);
        let on_resource = Self::resource_decision(resource_policies, action, resource, &ctx);
        match (identity, on_resource) {
            (Decision::ExplicitDeny, _) => {
                Some("with an explicit deny in an identity-based policy".into())
            }
            (_, Decision::ExplicitDeny) => {
                Some("with an explicit deny in a resource-based policy".into())
            }
            (Decision::Allow, _) | (_, Decision::Allow) => None,
            _ => Some(format!("because no identity-based policy allows the {action} action")),
        }
    }

    fn record(&self, who: &Identity, action: &str, resource: &str, allowed: bool) {
        // One record per kind of resource, not per object key or index.
        let (resource, arn) = self.stack.name_of(resource);
        let e = Exercised {
            function: who.function.clone(),
            action: action.to_owned(),
            resource,
            arn,
            allowed,
        };
        record_to_file(&e);
        *self
            .exercised
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(e)
            .or_default() += 1;
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn reply(status: StatusCode, headers: &[(&str, &str)], body: String) -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::from(body));
    *res.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(*k), HeaderValue::from_str(v)) {
            res.headers_mut().insert(name, value);
        }
    }
    res
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A refusal in the shape of the service that refuses.
fn denied(protocol: Protocol, code: &str, message: &str, head: bool) -> axum::response::Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    match protocol {
        Protocol::S3 => {
            let body = if head {
                String::new()
            } else {
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>{request_id}</RequestId><HostId>local</HostId></Error>",
                    xml_escape(message)
                )
            };
            reply(
                StatusCode::FORBIDDEN,
                &[("content-type", "application/xml"), ("x-amz-request-id", &request_id)],
                body,
            )
        }
        Protocol::SqsQuery => {
            let body = format!(
                "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                xml_escape(message)
            );
            reply(StatusCode::FORBIDDEN, &[("content-type", "text/xml")], body)
        }
        Protocol::SqsJson => {
            let body = serde_json::json!({"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}).to_string();
            let query_error = format!("{code};Sender");
            reply(
                StatusCode::BAD_REQUEST,
                &[
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amzn-query-error", &query_error),
                    ("x-amzn-requestid", &request_id),
                ],
                body,
            )
        }
        Protocol::Json => {
            let body = serde_json::json!({"__type": format!("com.amazon.coral.service#{code}"), "Message": message}).to_string();
            reply(
                StatusCode::BAD_REQUEST,
                &[
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amzn-requestid", &request_id),
                ],
                body,
            )
        }
    }
}

/// `X-Amz-Date` plus `X-Amz-Expires` of a presigned URL, passed?
fn presigned_expired(query: &[(String, String)]) -> bool {
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let (Some(date), Some(expires)) = (get("X-Amz-Date"), get("X-Amz-Expires")) else {
        return false;
    };
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let (Ok(signed), Ok(secs)) =
        (time::PrimitiveDateTime::parse(date, &format), expires.parse::<i64>())
    else {
        return true;
    };
    signed.assume_utc() + time::Duration::seconds(secs) < time::OffsetDateTime::now_utc()
}

async fn handle(
    State(gate): State<Arc<Gate>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, &[], String::new()),
    };
    let query = query_pairs(parts.uri.query());
    let head = parts.method == Method::HEAD;
    let Some((key, region, service)) = credential(&parts.headers, &query) else {
        return denied(
            Protocol::Json,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
            head,
        );
    };
    let protocol_guess = if service == "s3" { Protocol::S3 } else { Protocol::Json };
    let Some(who) = gate.identities.get(&key) else {
        return denied(
            protocol_guess,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            head,
        );
    };
    *gate
        .calls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(who.function.clone())
        .or_default() += 1;
    if service == "s3" && presigned_expired(&query) {
        return denied(Protocol::S3, "AccessDenied", "Request has expired", head);
    }
    let (protocol, needs) = match gate.classify(&service, &region, &parts, &query, &body) {
        Ok(c) => c,
        Err(e) => {
            let message = format!("the local stack refuses a request it cannot check: {e:#}");
            return denied(protocol_guess, "AccessDeniedException", &message, head);
        }
    };
    let principal = format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        gate.stack.account,
        who.role_arn.rsplit('/').next().unwrap_or_default(),
        who.function
    );
    // BatchGetSecretValue reads the secrets it may and lists the others as errors.
    let batch = needs.first().is_some_and(|(a, _)| a == "secretsmanager:BatchGetSecretValue");
    let mut withheld = Vec::new();
    for (action, resource) in &needs {
        let refusal = gate.decide(who, action, resource);
        if let (true, "secretsmanager:GetSecretValue", Some(why)) =
            (batch, action.as_str(), &refusal)
        {
            // Not a failed call: the answer leaves the secret out (a function
            // that then asks for it alone is refused, and recorded so).
            let message = format!("User: {principal} is not authorized to perform: {action} on resource: {resource} {why}");
            withheld.push((resource.clone(), message));
            continue;
        }
        gate.record(who, action, resource, refusal.is_none());
        if let Some(why) = refusal {
            let shown =
                if protocol == Protocol::S3 { format!("\"{resource}\"") } else { resource.clone() };
            let message = format!("User: {principal} is not authorized to perform: {action} on resource: {shown} {why}");
            tracing::warn!(function = %who.function, %action, %resource, "AccessDenied");
            let code = if matches!(protocol, Protocol::S3 | Protocol::SqsJson | Protocol::SqsQuery)
            {
                "AccessDenied"
            } else {
                "AccessDeniedException"
            };
            return denied(protocol, code, &message, head);
        }
    }
    if withheld.is_empty() {
        return forward(&gate, &service, parts, body).await;
    }
    batch_without(&gate, parts, body, withheld).await
}

/// A BatchGetSecretValue forwarded without the secrets its caller may not
/// read, which its answer lists under `Errors`, as Secrets Manager does.
async fn batch_without(
    gate: &Gate,
    parts: http::request::Parts,
    body: Bytes,
    withheld: Vec<(String, String)>,
) -> axum::response::Response {
    let mut request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let is_withheld = |id: &str| {
        withheld.iter().any(|(arn, _)| arn == id || arn.ends_with(&format!(":secret:{id}")))
    };
    let ids: Vec<Value> = request["SecretIdList"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !id.as_str().is_some_and(is_withheld))
        .collect();
    let errors: Vec<Value> = withheld
        .iter()
        .map(|(arn, message)| serde_json::json!({"SecretId": arn, "ErrorCode": "AccessDeniedException", "Message": message}))
        .collect();
    let mut answer = serde_json::json!({"SecretValues": []});
    if !ids.is_empty() {
        request["SecretIdList"] = Value::Array(ids);
        let res = forward(gate, "secretsmanager", parts, Bytes::from(request.to_string())).await;
        if !res.status().is_success() {
            return res;
        }
        let bytes =
            axum::body::to_bytes(res.into_body(), 64 * 1024 * 1024).await.unwrap_or_default();
        answer = serde_json::from_slice(&bytes).unwrap_or(answer);
    }
    let mut all = answer["Errors"].as_array().cloned().unwrap_or_default();
    all.extend(errors);
    answer["Errors"] = Value::Array(all);
    reply(StatusCode::OK, &[("content-type", "application/x-amz-json-1.1")], answer.to_string())
}

async fn forward(
    gate: &Gate,
    service: &str,
    parts: http::request::Parts,
    body: Bytes,
) -> axum::response::Response {
    let base = match (service, &gate.upstreams.dynamodb) {
        ("dynamodb", Some(d)) => d.as_str(),
        _ => gate.upstreams.default.as_str(),
    };
    let path_and_query =
        parts.uri.path_and_query().map(http::uri::PathAndQuery::as_str).unwrap_or("/");
    let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
    let mut headers = parts.headers.clone();
    for hop in ["connection", "transfer-encoding", "keep-alive", "upgrade", "content-length"] {
        headers.remove(hop);
    }
    let sent =
        gate.client.request(parts.method.clone(), &url).headers(headers).body(body).send().await;
    match sent {
        Ok(res) => {
            let status = res.status();
            let headers = res.headers().clone();
            let bytes = res.bytes().await.unwrap_or_default();
            if status.is_server_error() {
                tracing::warn!(%service, %status, answer = %String::from_utf8_lossy(&bytes[..bytes.len().min(300)]), "the local AWS failed a request");
            }
            let mut out = axum::response::Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            for (k, v) in &headers {
                if !matches!(k.as_str(), "connection" | "transfer-encoding" | "content-length") {
                    out.headers_mut().append(k.clone(), v.clone());
                }
            }
            out
        }
        Err(e) => reply(StatusCode::BAD_GATEWAY, &[], format!("the local AWS did not answer: {e}")),
    }
}

/// The SDK configuration a function of the local stack calls AWS with:
/// its own credentials, through the gateway at `url`. Built by hand so
/// that no endpoint from the process environment (such as
/// `AWS_ENDPOINT_URL_DYNAMODB`) can bypass the gateway.
pub fn sdk_config(url: &str, binary: &str, region: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    omnibridge::bootstrap::install_crypto_provider();
    let credentials = aws_sdk_dynamodb::config::Credentials::new(
        access_key_id(binary),
        LOCAL_SECRET_KEY,
        None,
        None,
        "omnibridge-local-role",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .http_client(crate::emulator::http_client(url))
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("a Tokio sleep"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_request_is_signed_should_read_who_signed_it_and_for_which_service() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=LOCAL-authenticate/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"),
        );
        assert_eq!(
            credential(&h, &[]),
            Some(("LOCAL-authenticate".into(), "us-east-1".into(), "dynamodb".into()))
        );
        let q = vec![(
            "X-Amz-Credential".to_owned(),
            "LOCAL-x/20261201/us-east-1/s3/aws4_request".to_owned(),
        )];
        assert_eq!(
            credential(&HeaderMap::new(), &q),
            Some(("LOCAL-x".into(), "us-east-1".into(), "s3".into()))
        );
    }

    #[test]
    fn when_a_presigned_url_is_past_its_expiry_should_be_refused() {
        let now = time::OffsetDateTime::now_utc();
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let signed = |ago: i64| (now - time::Duration::seconds(ago)).format(&format).unwrap();
        let q = |date: String, expires: &str| {
            vec![("X-Amz-Date".to_owned(), date), ("X-Amz-Expires".to_owned(), expires.to_owned())]
        };
        assert!(!presigned_expired(&q(signed(10), "900")));
        assert!(presigned_expired(&q(signed(1000), "900")));
        assert!(!presigned_expired(&[]));
    }

    #[test]
    fn when_a_key_is_percent_encoded_should_decode_it() {
        assert_eq!(percent_decode("/b/a%20b%2Fc.pdf"), "/b/a b/c.pdf");
        assert_eq!(percent_decode("/b/100%"), "/b/100%");
    }
}
