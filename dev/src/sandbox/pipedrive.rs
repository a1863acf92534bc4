//! Pipedrive's Channels API as omnibridge calls it (`POST /channels`,
//! `POST /channels/messages/receive`, the deletes), and a simulated agent:
//! Pipedrive calling omnibridge's provider endpoints with Basic auth.

use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::http::text;
use super::{Handled, Incoming, Reply, Sandbox};

#[derive(Clone, Debug)]
pub struct PipedriveConfig {
    /// An OAuth access token omnibridge may present (`Authorization: Bearer`)
    /// until `/_sandbox/pipedrive/expire-tokens`.
    pub api_token: String,
    /// The refresh token `POST /pipedrive/oauth/token` renews access tokens with.
    pub refresh_token: String,
    /// How long a renewed access token lives.
    pub token_ttl: std::time::Duration,
    /// The app's client id and secret: Pipedrive's Basic auth towards omnibridge.
    pub client_id: String,
    pub client_secret: String,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        PipedriveConfig {
            api_token: "sandbox-pipedrive-token".into(),
            refresh_token: "sandbox-pipedrive-refresh".into(),
            token_ttl: std::time::Duration::from_secs(3600),
            client_id: "sandbox-client-id".into(),
            client_secret: "sandbox-client-secret".into(),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub provider_channel_id: String,
    pub provider_type: String,
    pub template_support: bool,
    pub avatar_url: Option<String>,
    pub deleted: bool,
}

#[derive(Default)]
pub struct PipedriveState {
    pub channels: HashMap<String, Channel>,
    /// Every message delivered with `messages/receive`, in order.
    pub received: Vec<Value>,
    pub deleted_conversations: Vec<(String, String)>,
    /// Access tokens that work, with when they expire (ms); the configured
    /// `api_token` works until expired too.
    pub tokens: HashMap<String, i64>,
    pub api_token_expired: bool,
    /// The refresh token that works now, once rotated (the configured one before).
    pub refresh_token: Option<String>,
    /// Each renewal answers a new refresh token and retires the one used.
    pub rotate_refresh_tokens: bool,
}

pub fn route(method: &http::Method, segs: &[&str]) -> Option<&'static str> {
    match (method.as_str(), segs) {
        ("POST", ["oauth", "token"]) => Some("pipedrive.oauth_token"),
        ("POST", ["v1", "channels"]) => Some("pipedrive.channels_create"),
        ("POST", ["v1", "channels", "messages", "receive"]) => Some("pipedrive.receive"),
        ("DELETE", ["v1", "channels", _]) => Some("pipedrive.channels_delete"),
        ("DELETE", ["v1", "channels", _, "conversations", _]) => {
            Some("pipedrive.conversation_delete")
        }
        _ => None,
    }
}

pub fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"success": false, "data": {"message": message, "code": code}}))
}

fn refuse(status: u16, code: &str, message: &str) -> Handled {
    Handled::violation(error(status, code, message), format!("pipedrive {code}: {message}"))
}

/// `YYYY-MM-DD HH:MM`, UTC, as the Channels API wants `created_at`.
pub fn is_pipedrive_time(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    s.len() == 16 && time::PrimitiveDateTime::parse(s, &fmt).is_ok()
}

/// `POST /oauth/token` with the refresh-token grant: the app's client id and
/// secret in Basic auth, a form body; answers a new access token.
fn renew_token(sb: &Sandbox, req: &Incoming) -> Handled {
    let cfg = &sb.config.pipedrive;
    let oauth_error = |status: u16, error: &str, description: &str| {
        Handled::ok(Reply::json(status, &json!({"error": error, "error_description": description})))
    };
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", cfg.client_id, cfg.client_secret));
    if req.header("authorization").and_then(|h| h.strip_prefix("Basic ")) != Some(expected.as_str())
    {
        return oauth_error(401, "invalid_client", "Invalid client credentials");
    }
    if !req.content_type().starts_with("application/x-www-form-urlencoded") {
        return refuse(
            400,
            "BAD_REQUEST",
            "the token request must be application/x-www-form-urlencoded",
        );
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return oauth_error(400, "unsupported_grant_type", "grant_type must be refresh_token");
    }
    let mut st = sb.lock();
    let current = st.pipedrive.refresh_token.clone().unwrap_or_else(|| cfg.refresh_token.clone());
    if form.get("refresh_token") != Some(&current) {
        return oauth_error(400, "invalid_grant", "Invalid refresh token");
    }
    let refresh = if st.pipedrive.rotate_refresh_tokens {
        format!("pdr-{}", uuid::Uuid::new_v4().simple())
    } else {
        current
    };
    st.pipedrive.refresh_token = Some(refresh.clone());
    let access = format!("pd-{}", uuid::Uuid::new_v4().simple());
    let ttl = cfg.token_ttl.as_secs();
    st.pipedrive.tokens.insert(access.clone(), omnibridge::model::now_millis() + ttl as i64 * 1000);
    drop(st);
    Handled::ok(Reply::json(
        200,
        &json!({
            "access_token": access, "token_type": "Bearer", "refresh_token": refresh,
            "scope": "messengers-integration", "expires_in": ttl, "api_domain": sb.base_url,
        }),
    ))
}

/// Makes every access token handed out so far (and the configured one) invalid.
pub fn expire_tokens(sb: &Sandbox) {
    let mut st = sb.lock();
    st.pipedrive.api_token_expired = true;
    st.pipedrive.tokens.values_mut().for_each(|exp| *exp = 0);
}

fn token_ok(sb: &Sandbox, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    let st = sb.lock();
    (token == sb.config.pipedrive.api_token && !st.pipedrive.api_token_expired)
        || st.pipedrive.tokens.get(token).is_some_and(|exp| *exp > omnibridge::model::now_millis())
}

pub async fn handle(sb: &Sandbox, route: &str, req: &Incoming, segs: &[&str]) -> Handled {
    if route == "pipedrive.oauth_token" {
        return renew_token(sb, req);
    }
    if !token_ok(sb, req.bearer().or(req.query("api_token"))) {
        return Handled::ok(error(401, "UNAUTHORIZED", "unauthorized access"));
    }
    match route {
        "pipedrive.channels_delete" => {
            let mut st = sb.lock();
            match st.pipedrive.channels.get_mut(segs[2]).filter(|c| !c.deleted) {
                Some(c) => {
                    c.deleted = true;
                    Handled::ok(Reply::json(
                        200,
                        &json!({"success": true, "data": {"id": segs[2]}}),
                    ))
                }
                None => Handled::ok(error(404, "NOT_FOUND", "channel not found")),
            }
        }
        "pipedrive.conversation_delete" => {
            let mut st = sb.lock();
            if st.pipedrive.channels.get(segs[2]).is_none_or(|c| c.deleted) {
                return Handled::ok(error(404, "NOT_FOUND", "channel not found"));
            }
            st.pipedrive.deleted_conversations.push((segs[2].to_owned(), segs[4].to_owned()));
            Handled::ok(Reply::json(200, &json!({"success": true})))
        }
        _ => {
            if !req.content_type().starts_with("application/json") {
                return refuse(400, "BAD_REQUEST", "Content-Type must be application/json");
            }
            let body = match req.json() {
                Ok(b) => b,
                Err(e) => return refuse(400, "INVALID_BODY", &e),
            };
            if route == "pipedrive.channels_create" {
                create_channel(sb, &body)
            } else {
                receive(sb, &body)
            }
        }
    }
}

fn create_channel(sb: &Sandbox, b: &Value) -> Handled {
    let (Some(name), Some(pcid)) = (text(b, "name"), text(b, "provider_channel_id")) else {
        return refuse(400, "INVALID_BODY", "name and provider_channel_id are required");
    };
    let provider_type = text(b, "provider_type").unwrap_or("other");
    if !["facebook", "whatsapp", "other"].contains(&provider_type) {
        return refuse(400, "INVALID_BODY", "provider_type must be facebook, whatsapp or other");
    }
    if b.get("template_support").is_some_and(|t| !t.is_boolean()) {
        return refuse(400, "INVALID_BODY", "template_support must be a boolean");
    }
    let channel = Channel {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        provider_channel_id: pcid.into(),
        provider_type: provider_type.into(),
        template_support: b.get("template_support").and_then(Value::as_bool).unwrap_or(false),
        avatar_url: text(b, "avatar_url").map(str::to_owned),
        deleted: false,
    };
    let data = json!({
        "id": channel.id, "name": channel.name, "avatar_url": channel.avatar_url,
        "provider_channel_id": channel.provider_channel_id, "marketplace_client_id": sb.config.pipedrive.client_id,
        "pd_company_id": 1, "pd_user_id": 1, "created_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "provider_type": channel.provider_type, "template_support": channel.template_support,
    });
    sb.lock().pipedrive.channels.insert(channel.id.clone(), channel);
    Handled::ok(Reply::json(200, &json!({"success": true, "data": data})))
}

fn receive(sb: &Sandbox, b: &Value) -> Handled {
    for field in ["id", "channel_id", "sender_id", "conversation_id"] {
        if text(b, field).is_none() {
            return refuse(400, "INVALID_BODY", &format!("{field} is required"));
        }
    }
    if !b.get("message").is_some_and(Value::is_string) {
        return refuse(400, "INVALID_BODY", "message must be a string");
    }
    if !matches!(text(b, "status"), Some("sent" | "delivered" | "read" | "failed")) {
        return refuse(400, "INVALID_BODY", "status must be sent, delivered, read or failed");
    }
    if !text(b, "created_at").is_some_and(is_pipedrive_time) {
        return refuse(400, "INVALID_BODY", "created_at must be \"YYYY-MM-DD HH:MM\" (UTC)");
    }
    if let Some(atts) = b.get("attachments") {
        let Some(atts) = atts.as_array() else {
            return refuse(400, "INVALID_BODY", "attachments must be an array");
        };
        for a in atts {
            if text(a, "id").is_none() || text(a, "type").is_none_or(|t| !t.contains('/')) {
                return refuse(
                    400,
                    "INVALID_BODY",
                    "each attachment needs id and a MIME type in type",
                );
            }
            if !text(a, "url")
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
            {
                return refuse(400, "INVALID_BODY", "each attachment needs an http(s) url");
            }
            if a.get("link_expires").is_some_and(|l| !l.is_boolean()) {
                return refuse(400, "INVALID_BODY", "link_expires must be a boolean");
            }
        }
    }
    // `channel_id` is the channel's id as the provider knows it (provider_channel_id).
    let channel_id = text(b, "channel_id").unwrap_or_default().to_owned();
    let mut st = sb.lock();
    if !st.pipedrive.channels.values().any(|c| c.provider_channel_id == channel_id && !c.deleted) {
        drop(st);
        return refuse(404, "NOT_FOUND", "channel not found (registered and not deleted)");
    }
    st.pipedrive.received.push(b.clone());
    Handled::ok(Reply::json(
        200,
        &json!({"success": true, "data": {"id": b["id"], "conversation_id": b["conversation_id"]}}),
    ))
}

fn basic_auth(cfg: &PipedriveConfig) -> String {
    let creds = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", cfg.client_id, cfg.client_secret));
    format!("Basic {creds}")
}

/// What the simulated Pipedrive agent sends (postMessage).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentSends {
    pub provider_channel_id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub recipient_ids: Vec<String>,
    pub message: String,
    /// Files to attach: `{name, mimeType}`; contents are generated.
    pub files: Vec<super::salesforce::AgentFile>,
    /// How many times Pipedrive posts the same thing (retries; default 1).
    pub deliveries: Option<u32>,
}

/// Pipedrive posts an agent message to omnibridge's postMessage endpoint.
pub async fn agent_sends(sb: &Sandbox, a: AgentSends) -> Reply {
    let Some(base) = sb.omnibridge_url() else {
        return Reply::json(400, &json!({"error": "no omnibridge URL configured"}));
    };
    let url = format!("{base}{PROVIDER_PREFIX}/channels/{}/messages", a.provider_channel_id);
    let mut results = Vec::new();
    for _ in 0..a.deliveries.unwrap_or(1).clamp(1, 10) {
        let mut form = reqwest::multipart::Form::new()
            .text("message", a.message.clone())
            .text("senderId", a.sender_id.clone())
            .text("conversationId", a.conversation_id.clone())
            .text("recipientIds", a.recipient_ids.join(","));
        for f in &a.files {
            let (_, bytes) = super::yalo::media_bytes(&f.name);
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(f.name.clone())
                .mime_str(&f.mime_type);
            match part {
                Ok(p) => form = form.part("files", p),
                Err(e) => return Reply::json(400, &json!({"error": format!("bad mimeType: {e}")})),
            }
        }
        let res = sb
            .http
            .post(&url)
            .header("authorization", basic_auth(&sb.config.pipedrive))
            .multipart(form)
            .send()
            .await;
        results.push(match res {
            Ok(r) => {
                let status = r.status().as_u16();
                json!({"status": status, "body": r.json::<Value>().await.unwrap_or(Value::Null)})
            }
            Err(e) => json!({"status": 0, "error": e.to_string()}),
        });
    }
    Reply::json(200, &json!({"url": url, "deliveries": results}))
}

/// Where omnibridge serves the provider endpoints (the manifest's URLs start here).
pub const PROVIDER_PREFIX: &str = "/v1/pipedrive";

/// Pipedrive reads from omnibridge: a GET on a provider endpoint path
/// (`/channels/...`, below [`PROVIDER_PREFIX`]).
pub async fn agent_reads(sb: &Sandbox, path: &str) -> Reply {
    let Some(base) = sb.omnibridge_url() else {
        return Reply::json(400, &json!({"error": "no omnibridge URL configured"}));
    };
    let url = format!("{base}{PROVIDER_PREFIX}{path}");
    match sb.http.get(&url).header("authorization", basic_auth(&sb.config.pipedrive)).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            Reply::json(
                200,
                &json!({"status": status, "body": r.json::<Value>().await.unwrap_or(Value::Null)}),
            )
        }
        Err(e) => Reply::json(502, &json!({"error": e.to_string()})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_created_at_is_in_the_seed_format_should_pass() {
        assert!(is_pipedrive_time("2026-11-22 05:33"));
        assert!(!is_pipedrive_time("2026-11-22T05:33:00Z"));
        assert!(!is_pipedrive_time("2026-11-22 05:33:10"));
        assert!(!is_pipedrive_time("2026-13-22 05:33"));
    }
}
