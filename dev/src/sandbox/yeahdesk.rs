//! Yeahdesk's custom channel (`POST /api/custom-channel/message/{channelId}?token=`)
//! with the seed's semantics — dialogs by id or `reference`, contacts by
//! object or by contact-data ids, contact merge, the ten `E_*` errors — and
//! a simulated agent whose replies reach omnibridge as webhooks, retried
//! until a 200, at most 5 attempts.
//!
//! The seed gives no body for successes or errors; the sandbox answers
//! `{"dialog_id", "message_id", "contact_id"}` and `{"code": "E_...", "message"}`.

use serde_json::{json, Value};
use std::time::Duration;

use super::http::text;
use super::{Handled, Incoming, Reply, Sandbox};

#[derive(Clone, Debug)]
pub struct YeahdeskConfig {
    pub channel_id: String,
    pub token: String,
    /// Where agent replies are POSTed; omnibridge's `/v1/yeahdesk/webhook?secret=<webhook_secret>` when absent.
    pub webhook_url: Option<String>,
    /// The secret omnibridge's webhook endpoint expects.
    pub webhook_secret: String,
    /// Pause between webhook attempts.
    pub retry_pause: Duration,
}

impl Default for YeahdeskConfig {
    fn default() -> Self {
        YeahdeskConfig {
            channel_id: "5cc2f62000568c04afdc0c5e".into(),
            token: "sandbox-yeahdesk-token".into(),
            webhook_url: None,
            webhook_secret: "sandbox-yeahdesk-webhook-secret".into(),
            retry_pause: Duration::from_millis(200),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChannelState {
    pub id: String,
    pub token: String,
    pub enabled: bool,
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContactData {
    pub id: String,
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub service: String,
    pub origin: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub contacts: Vec<ContactData>,
    pub deleted: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Dialog {
    pub id: String,
    pub reference: Option<String>,
    pub title: Option<String>,
    pub contact_id: String,
    pub messages: Vec<Value>,
}

#[derive(Default)]
pub struct YeahdeskState {
    pub channels: Vec<ChannelState>,
    pub contacts: Vec<Contact>,
    pub dialogs: Vec<Dialog>,
    next_id: u64,
}

impl YeahdeskState {
    /// A new 24-hex object id.
    fn object_id(&mut self) -> String {
        self.next_id += 1;
        format!("6543{:020x}", self.next_id)
    }
}

pub fn route(method: &http::Method, segs: &[&str]) -> Option<&'static str> {
    match (method.as_str(), segs) {
        ("POST", ["api", "custom-channel", "message", _]) => Some("yeahdesk.message"),
        ("GET", ["files", _]) => Some("yeahdesk.files"),
        _ => None,
    }
}

fn e(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"code": code, "message": message}))
}

fn refuse(status: u16, code: &str, message: &str) -> Handled {
    Handled::violation(e(status, code, message), format!("yeahdesk {code}: {message}"))
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// A contact-data item of a request; every field but `id` must be filled.
fn contact_data(v: &Value) -> Result<(Option<String>, String, String, String, String), Handled> {
    let filled = |k: &str| text(v, k).map(str::to_owned);
    match (filled("value"), filled("type"), filled("service")) {
        (Some(value), Some(kind), Some(service)) => {
            let origin = filled("origin").unwrap_or_else(|| "custom".into());
            Ok((filled("id"), value, kind, service, origin))
        }
        _ => Err(refuse(400, "E_CONTACTS_VALUE_REQUIRED", "contact data fields must be filled in")),
    }
}

pub async fn handle(sb: &Sandbox, route: &str, req: &Incoming, segs: &[&str]) -> Handled {
    if route == "yeahdesk.files" {
        let (ct, bytes) = super::yalo::media_bytes(segs[1]);
        return Handled::ok(Reply::bytes(ct, bytes));
    }
    let channel_id = segs[3];
    let mut st = sb.lock();
    ensure_default_channel(&mut st.yeahdesk, &sb.config.yeahdesk);
    let channel = st.yeahdesk.channels.iter().find(|c| c.id == channel_id).cloned();
    let token = req.query("token");
    match channel {
        Some(c) if c.deleted => {
            return Handled::ok(e(
                403,
                "E_CHANNEL_DELETED",
                "channel deleted and token invalid; create a new channel",
            ))
        }
        Some(c) if token == Some(c.token.as_str()) && !c.enabled => {
            return Handled::ok(e(
                403,
                "E_CHANNEL_NOT_ENABLED",
                "channel is disabled; enable it in settings",
            ))
        }
        Some(c) if token == Some(c.token.as_str()) => {}
        _ => return Handled::ok(e(401, "E_INVALID_TOKEN", "invalid token")),
    }
    let body = match req.json() {
        Ok(b) if b.is_object() => b,
        _ => return refuse(400, "E_BAD_REQUEST", "the body must be a JSON object"),
    };
    let ys = &mut st.yeahdesk;

    // The contact: exactly one of contact_object / contacts_id.
    let contact_id = match (body.get("contact_object"), body.get("contacts_id")) {
        (Some(obj), None) if obj.is_object() => match upsert_contact(ys, obj) {
            Ok(id) => id,
            Err(h) => return h,
        },
        (None, Some(items)) if items.is_array() => match update_contact_data(ys, items) {
            Ok(id) => id,
            Err(h) => return h,
        },
        _ => return refuse(400, "E_CONTACT_INFO_REQUIRED", "contact information for the customer is required (exactly one of contact_object, contacts_id)"),
    };

    // The dialog: by id, else by reference (find or create), else a new one.
    let dialog_idx = if let Some(id) = body.get("dialog_id").and_then(Value::as_str) {
        match ys.dialogs.iter().position(|d| d.id == id) {
            Some(i) => i,
            None => return Handled::ok(e(404, "E_DIALOG_NOT_FOUND", "dialog not found")),
        }
    } else {
        let reference = text(&body, "reference").map(str::to_owned);
        match reference
            .as_ref()
            .and_then(|r| ys.dialogs.iter().position(|d| d.reference.as_ref() == Some(r)))
        {
            Some(i) => i,
            None => {
                let id = ys.object_id();
                ys.dialogs.push(Dialog {
                    id,
                    reference,
                    title: None,
                    contact_id: contact_id.clone(),
                    messages: vec![],
                });
                ys.dialogs.len() - 1
            }
        }
    };
    if let Some(atts) = body.get("attachments") {
        let ok = atts.as_array().is_some_and(|a| {
            a.iter().all(|x| {
                text(x, "url")
                    .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
            })
        });
        if !ok {
            return refuse(
                400,
                "E_BAD_REQUEST",
                "attachments must be [{url, size, name, mimeType}] with http(s) urls",
            );
        }
    }
    if body.get("timestamp").is_some_and(|t| !t.is_i64()) {
        return refuse(400, "E_BAD_REQUEST", "timestamp must be a number of milliseconds");
    }
    let message_id = ys.object_id();
    let dialog = &mut ys.dialogs[dialog_idx];
    if let Some(t) = text(&body, "dialog_title") {
        dialog.title = Some(t.to_owned());
    }
    dialog.contact_id = contact_id.clone();
    let mut stored = body.clone();
    stored["id"] = json!(message_id);
    stored["timestamp"] = json!(body
        .get("timestamp")
        .and_then(Value::as_i64)
        .unwrap_or_else(omnibridge::model::now_millis));
    dialog.messages.push(stored);
    let dialog_id = dialog.id.clone();
    Handled::ok(Reply::json(
        200,
        &json!({"dialog_id": dialog_id, "message_id": message_id, "contact_id": contact_id}),
    ))
}

fn ensure_default_channel(ys: &mut YeahdeskState, cfg: &YeahdeskConfig) {
    if ys.channels.is_empty() {
        ys.channels.push(ChannelState {
            id: cfg.channel_id.clone(),
            token: cfg.token.clone(),
            enabled: true,
            deleted: false,
        });
    }
}

/// `contact_object`: update the named contact, or merge into one that shares contact data, or create one.
fn upsert_contact(ys: &mut YeahdeskState, obj: &Value) -> Result<String, Handled> {
    let items = obj.get("contacts").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut data = Vec::new();
    for item in &items {
        data.push(contact_data(item)?);
    }
    if !data.iter().any(|(_, _, _, service, _)| service == "custom") {
        return Err(refuse(
            400,
            "E_CUSTOM_CONTACTS_REQUIRED",
            "contact data with service == \"custom\" is required",
        ));
    }
    let name = text(obj, "name").unwrap_or("").to_owned();
    let description = text(obj, "description").map(str::to_owned);
    let idx = if let Some(id) = obj.get("_id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        if !is_object_id(id) {
            return Err(refuse(400, "E_MALFORMED_CONTACT_ID", "wrong or non-existent contact ID"));
        }
        match ys.contacts.iter().position(|c| c.id == id) {
            Some(i) if ys.contacts[i].deleted => {
                return Err(Handled::ok(e(404, "E_CONTACT_DELETED", "contact deleted")))
            }
            Some(i) => i,
            None => return Err(Handled::ok(e(404, "E_CONTACT_NOT_FOUND", "customer not found"))),
        }
    } else {
        // Merge: an existing contact with any of the same contact data.
        let found = ys.contacts.iter().position(|c| {
            !c.deleted
                && data.iter().any(|(_, value, kind, service, _)| {
                    c.contacts
                        .iter()
                        .any(|d| &d.value == value && (&d.kind == kind || &d.service == service))
                })
        });
        match found {
            Some(i) => i,
            None => {
                let id = ys.object_id();
                ys.contacts.push(Contact {
                    id,
                    name: name.clone(),
                    description: None,
                    contacts: vec![],
                    deleted: false,
                });
                ys.contacts.len() - 1
            }
        }
    };
    let mut new_items = Vec::new();
    for (id, value, kind, service, origin) in data {
        let existing =
            ys.contacts[idx].contacts.iter().position(|d| d.value == value && d.kind == kind);
        match existing {
            Some(i) => {
                let d = &mut ys.contacts[idx].contacts[i];
                d.service = service;
                d.origin = origin;
            }
            None => {
                let id = id.filter(|i| is_object_id(i)).unwrap_or_else(|| ys.object_id());
                new_items.push(ContactData { id, value, kind, service, origin });
            }
        }
    }
    let contact = &mut ys.contacts[idx];
    contact.contacts.extend(new_items);
    if !name.is_empty() {
        contact.name = name;
    }
    if description.is_some() {
        contact.description = description;
    }
    Ok(contact.id.clone())
}

/// `contacts_id`: contact-data items that must exist with service "custom"; their values are updated.
fn update_contact_data(ys: &mut YeahdeskState, items: &Value) -> Result<String, Handled> {
    let items = items.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(refuse(400, "E_CONTACT_INFO_REQUIRED", "contacts_id must not be empty"));
    }
    let mut owner: Option<usize> = None;
    for item in &items {
        let (id, value, kind, service, origin) = contact_data(item)?;
        let Some(id) = id.filter(|i| is_object_id(i)) else {
            return Err(refuse(400, "E_MALFORMED_CONTACT_ID", "wrong or non-existent contact ID"));
        };
        let found = ys
            .contacts
            .iter()
            .enumerate()
            .find_map(|(ci, c)| c.contacts.iter().position(|d| d.id == id).map(|di| (ci, di)));
        let Some((ci, di)) = found else {
            return Err(refuse(400, "E_MALFORMED_CONTACT_ID", "wrong or non-existent contact ID"));
        };
        if ys.contacts[ci].contacts[di].service != "custom" || service != "custom" {
            return Err(refuse(
                400,
                "E_MALFORMED_CONTACT_ID",
                "contact data must have service == \"custom\"",
            ));
        }
        if ys.contacts[ci].deleted {
            return Err(Handled::ok(e(404, "E_CONTACT_DELETED", "contact deleted")));
        }
        let d = &mut ys.contacts[ci].contacts[di];
        d.value = value;
        d.kind = kind;
        d.origin = origin;
        owner = Some(ci);
    }
    let ci =
        owner.ok_or_else(|| Handled::ok(e(404, "E_CONTACT_NOT_FOUND", "customer not found")))?;
    Ok(ys.contacts[ci].id.clone())
}

/// What the simulated Yeahdesk agent replies.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentReplies {
    pub dialog_id: String,
    pub text: Option<String>,
    pub attachments: Vec<super::salesforce::AgentFile>,
    /// Where to POST; the configured webhook URL when absent.
    pub target: Option<String>,
    /// Deliver the same webhook this many times even when answered 200 (default 1).
    pub deliveries: Option<u32>,
}

/// The agent replies: the webhook is POSTed until a 200, at most 5 attempts per delivery.
pub async fn agent_replies(sb: &Sandbox, a: AgentReplies) -> Reply {
    let target =
        a.target.clone().or_else(|| sb.config.yeahdesk.webhook_url.clone()).or_else(|| {
            sb.omnibridge_url().map(|u| {
                format!("{u}/v1/yeahdesk/webhook?secret={}", sb.config.yeahdesk.webhook_secret)
            })
        });
    let payload = {
        let mut st = sb.lock();
        let Some(dialog) = st.yeahdesk.dialogs.iter().find(|d| d.id == a.dialog_id).cloned() else {
            return Reply::json(404, &json!({"error": "no such dialog in the sandbox"}));
        };
        let event_id = st.yeahdesk.object_id();
        let message_id = st.yeahdesk.object_id();
        let integration_data = dialog
            .messages
            .iter()
            .rev()
            .find_map(|m| m.get("integration_data").cloned())
            .unwrap_or(Value::Null);
        let attachments: Vec<Value> = a
            .attachments
            .iter()
            .map(|f| json!({"url": format!("{}/yeahdesk/files/{}", sb.base_url, f.name), "name": f.name, "mimeType": f.mime_type,
                            "size": super::yalo::media_bytes(&f.name).1.len()}))
            .collect();
        let payload = json!({
            "event": "message.created",
            "id": event_id,
            "created_at": omnibridge::model::now_millis(),
            "data": {
                "channel_id": sb.config.yeahdesk.channel_id,
                "dialog_id": dialog.id,
                "reference": dialog.reference,
                "integration_data": integration_data,
                "message": {"id": message_id, "text": a.text, "attachments": attachments,
                            "author": {"type": "operator", "id": "6543000000000000000000aa", "name": "Sandbox Agent"},
                            "timestamp": omnibridge::model::now_millis()},
            },
        });
        payload
    };
    let Some(target) = target else {
        return Reply::json(400, &json!({"error": "no webhook URL configured"}));
    };
    let mut deliveries = Vec::new();
    for _ in 0..a.deliveries.unwrap_or(1).clamp(1, 10) {
        let mut attempts = Vec::new();
        for attempt in 1..=5 {
            let status = match sb.http.post(&target).json(&payload).send().await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            attempts.push(status);
            if status == 200 {
                break;
            }
            if attempt < 5 {
                tokio::time::sleep(sb.config.yeahdesk.retry_pause).await;
            }
        }
        deliveries.push(attempts);
    }
    Reply::json(200, &json!({"payload": payload, "target": target, "deliveries": deliveries}))
}

/// Creates or changes a custom channel (to disable or delete it).
pub fn put_channel(sb: &Sandbox, c: ChannelState) {
    let mut st = sb.lock();
    ensure_default_channel(&mut st.yeahdesk, &sb.config.yeahdesk);
    st.yeahdesk.channels.retain(|x| x.id != c.id);
    st.yeahdesk.channels.push(c);
}

/// Marks a contact deleted.
pub fn delete_contact(sb: &Sandbox, id: &str) -> bool {
    let mut st = sb.lock();
    st.yeahdesk.contacts.iter_mut().find(|c| c.id == id).map(|c| c.deleted = true).is_some()
}
