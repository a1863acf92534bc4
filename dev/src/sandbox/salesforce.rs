//! Salesforce: the OAuth 2.0 JWT bearer token endpoint, the Interaction
//! Service API (`interactions` as multipart, `route`, `agentWork`, `consent`,
//! `acknowledgement`) checked against the published contract, and a
//! simulated agent whose replies reach omnibridge as the outbound custom
//! platform event (deprecated and Spring '24 layouts), through EventBridge
//! (Event Relay → an SQS queue) or posted over HTTPS.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::http::text;
use super::{Handled, Incoming, Reply, Sandbox};
use omnibridge::model::now_millis;

/// The org's field names of the outbound custom platform event.
#[derive(Clone, Debug)]
pub struct EventNames {
    pub event: String,
    pub payload_field: String,
    pub channel_field: String,
    pub recipient_field: String,
    pub event_type_field: String,
}

impl Default for EventNames {
    fn default() -> Self {
        EventNames {
            event: "my__event__e".into(),
            payload_field: "my__event__payloadField__c".into(),
            channel_field: "my__event__chnlAddrIdField__c".into(),
            recipient_field: "my__event__recipientField__c".into(),
            event_type_field: "my__event__EventType__c".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SalesforceConfig {
    /// The Connected App's consumer key (the assertion's `iss`).
    pub consumer_key: String,
    /// The integration user (the assertion's `sub`).
    pub username: String,
    /// The certificate's public key, PEM.
    pub public_key_pem: String,
    /// The assertion's expected `aud`; the sandbox's own `/salesforce` URL when absent.
    pub audience: Option<String>,
    pub org_id: String,
    /// The conversation channel definition's developer name.
    pub authorization_context: String,
    pub channel_address_identifier: String,
    pub token_ttl: Duration,
    pub events: EventNames,
}

/// The partner event bus Event Relay publishes an org's events to.
pub fn partner_bus(org_id: &str) -> String {
    format!("aws.partner/salesforce.com/{org_id}/0YLSB0000000001")
}

pub const SANDBOX_PUBLIC_KEY: &str = include_str!("../../keys/salesforce-sandbox.pub.pem");
pub const SANDBOX_PRIVATE_KEY: &str = include_str!("../../keys/salesforce-sandbox.key");

impl Default for SalesforceConfig {
    fn default() -> Self {
        SalesforceConfig {
            consumer_key: "sandbox-consumer-key".into(),
            username: "integration@omnibridge.sandbox".into(),
            public_key_pem: SANDBOX_PUBLIC_KEY.into(),
            audience: None,
            org_id: "00DSB0000000001EAA".into(),
            authorization_context: "Omnibridge_ChannelDefinition".into(),
            channel_address_identifier: "b0ffeafe-0d89-4338-b14a-172ad203f22a".into(),
            token_ttl: Duration::from_secs(2 * 3600),
            events: EventNames::default(),
        }
    }
}

/// One entry the agent sees in a conversation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub id: String,
    /// `Message`, `TypingStartedIndicator`, `TypingStoppedIndicator`, `MessageDeliveryFailed` or `Attachment`.
    pub kind: String,
    pub text: Option<String>,
    pub attachment: Option<AttachmentSeen>,
    pub error_code: Option<String>,
    pub failed_entry: Option<String>,
    pub timestamp: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AttachmentSeen {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
}

/// A conversation as the agent sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Conversation {
    pub conversation_identifier: String,
    pub work_item_id: String,
    pub channel_address_identifier: String,
    pub end_user: String,
    pub entries: Vec<Entry>,
    pub routes: Vec<Value>,
    pub route_deleted: bool,
    pub agent_work: Vec<Value>,
    pub consent: Option<String>,
    pub session_ended: bool,
}

#[derive(Default)]
pub struct SalesforceState {
    /// access token → expiry (epoch ms).
    pub tokens: HashMap<String, i64>,
    pub conversations: Vec<Conversation>,
    pub entry_ids: HashSet<String>,
}

pub fn route(method: &http::Method, segs: &[&str]) -> Option<&'static str> {
    match (method.as_str(), segs) {
        ("POST", ["services", "oauth2", "token"]) => Some("salesforce.token"),
        ("POST", ["api", "v1", "interactions"]) => Some("salesforce.interactions"),
        ("POST", ["api", "v1", "route"]) => Some("salesforce.route"),
        ("DELETE", ["api", "v1", "route"]) => Some("salesforce.route_delete"),
        ("POST", ["api", "v1", "agentWork"]) => Some("salesforce.agent_work"),
        ("PATCH", ["api", "v1", "consent"]) => Some("salesforce.consent"),
        ("POST", ["api", "v1", "acknowledgement"]) => Some("salesforce.acknowledgement"),
        ("POST", ["api", "v1", "messagingSession"]) => Some("salesforce.messaging_session"),
        ("GET", ["files", _, _]) => Some("salesforce.files"),
        _ => None,
    }
}

fn sf_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, &json!({"code": code, "message": message}))
}

/// Refused for breaking the contract.
fn refuse(status: u16, code: u32, message: &str) -> Handled {
    Handled::violation(sf_error(status, code, message), format!("salesforce {code}: {message}"))
}

fn oauth_error(error: &str, description: &str) -> Handled {
    Handled::violation(
        Reply::json(400, &json!({"error": error, "error_description": description})),
        format!("salesforce oauth: {error}: {description}"),
    )
}

pub async fn handle(sb: &Sandbox, route: &str, req: &Incoming, segs: &[&str]) -> Handled {
    match route {
        "salesforce.token" => token(sb, req),
        "salesforce.files" => {
            let (ct, bytes) = super::yalo::media_bytes(segs[2]);
            Handled::ok(Reply::bytes(ct, bytes))
        }
        _ => {
            if let Err(h) = check_headers(sb, req) {
                return h;
            }
            match route {
                "salesforce.interactions" => interactions(sb, req).await,
                "salesforce.route" => post_route(sb, req),
                "salesforce.route_delete" => delete_route(sb, req),
                "salesforce.agent_work" => agent_work(sb, req),
                "salesforce.consent" => consent(sb, req),
                "salesforce.messaging_session" => messaging_session(sb, req),
                _ => acknowledgement(sb, req),
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: i64,
}

fn token(sb: &Sandbox, req: &Incoming) -> Handled {
    if !req.content_type().starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        );
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error("invalid_request", "assertion missing");
    };
    match jsonwebtoken::decode_header(assertion) {
        Ok(h) if h.alg == Algorithm::RS256 => {}
        Ok(h) => {
            return oauth_error(
                "invalid_grant",
                &format!("assertion must be RS256, got {:?}", h.alg),
            )
        }
        Err(e) => return oauth_error("invalid_grant", &format!("invalid assertion: {e}")),
    }
    omnibridge::jwt::install();
    let key = match DecodingKey::from_rsa_pem(sb.config.salesforce.public_key_pem.as_bytes()) {
        Ok(k) => k,
        Err(e) => {
            return Handled::ok(Reply::json(
                500,
                &json!({"error": format!("sandbox public key: {e}")}),
            ))
        }
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = match jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) {
        Ok(d) => d.claims,
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
            return oauth_error("invalid_grant", "expired assertion")
        }
        Err(e) => {
            return oauth_error(
                "invalid_grant",
                &format!("invalid assertion signature or claims: {e}"),
            )
        }
    };
    let cfg = &sb.config.salesforce;
    let audience = cfg.audience.clone().unwrap_or_else(|| format!("{}/salesforce", sb.base_url));
    let aud_ok = match &claims.aud {
        Value::String(a) => a.trim_end_matches('/') == audience,
        Value::Array(a) => {
            a.iter().any(|v| v.as_str().is_some_and(|s| s.trim_end_matches('/') == audience))
        }
        _ => false,
    };
    if claims.iss != cfg.consumer_key {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if claims.sub != cfg.username {
        return oauth_error("invalid_grant", "user hasn't approved this consumer");
    }
    if !aud_ok {
        return oauth_error("invalid_grant", &format!("audience must be {audience}"));
    }
    let _ = claims.exp;
    let access = format!("{}!{}", cfg.org_id, uuid::Uuid::new_v4().simple());
    let expires = now_millis() + cfg.token_ttl.as_millis() as i64;
    sb.lock().salesforce.tokens.insert(access.clone(), expires);
    Handled::ok(Reply::json(
        200,
        &json!({
            "access_token": access,
            "scope": "interaction_api",
            "instance_url": format!("{}/salesforce", sb.base_url),
            "id": format!("{}/salesforce/id/{}/005SB000000001", sb.base_url, cfg.org_id),
            "token_type": "Bearer",
        }),
    ))
}

fn check_headers(sb: &Sandbox, req: &Incoming) -> Result<(), Handled> {
    let cfg = &sb.config.salesforce;
    let token_ok = req.bearer().is_some_and(|t| {
        let st = sb.lock();
        st.salesforce.tokens.get(t).is_some_and(|exp| *exp > now_millis())
    });
    if !token_ok {
        // An expired or unknown token is normal life, not a contract breach.
        return Err(Handled::ok(sf_error(
            401,
            10004,
            "The supplied Authorization access token is not valid.",
        )));
    }
    if req.header("orgid") != Some(cfg.org_id.as_str()) {
        return Err(refuse(400, 10016, "Enter a valid header. (OrgId)"));
    }
    if req.header("authorizationcontext") != Some(cfg.authorization_context.as_str()) {
        return Err(refuse(403, 10005, "The AuthorizationContext for the request isn't valid based on the supplied Authorization access token."));
    }
    if req.header("requestid").and_then(|r| uuid::Uuid::parse_str(r).ok()).is_none() {
        return Err(refuse(400, 10016, "Enter a valid header. (RequestId must be a UUID)"));
    }
    Ok(())
}

struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

async fn parts(req: &Incoming) -> Result<Vec<Part>, String> {
    let boundary = multer::parse_boundary(req.content_type())
        .map_err(|_| "the request must be multipart/form-data with a boundary".to_owned())?;
    let body = req.body.clone();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    while let Some(field) =
        multipart.next_field().await.map_err(|e| format!("malformed multipart body: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(|m| m.essence_str().to_owned());
        let bytes =
            field.bytes().await.map_err(|e| format!("malformed multipart part: {e}"))?.to_vec();
        out.push(Part { name, file_name, content_type, bytes });
    }
    Ok(out)
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

async fn interactions(sb: &Sandbox, req: &Incoming) -> Handled {
    let parts = match parts(req).await {
        Ok(p) => p,
        Err(e) => return refuse(400, 10029, &e),
    };
    let jsons: Vec<&Part> = parts.iter().filter(|p| p.name == "json").collect();
    let files: Vec<&Part> = parts.iter().filter(|p| p.name == "attachments").collect();
    if let Some(other) = parts.iter().find(|p| p.name != "json" && p.name != "attachments") {
        return refuse(400, 10029, &format!("unexpected multipart part {:?}", other.name));
    }
    let [json_part] = jsons.as_slice() else {
        return refuse(400, 10029, "exactly one part named json is required");
    };
    if json_part.content_type.as_deref() != Some("application/json") {
        return refuse(400, 10029, "the json part must have Content-Type application/json");
    }
    if files.len() > 1 {
        return refuse(400, 10011, "at most one attachment file per request");
    }
    let body: Value = match serde_json::from_slice(&json_part.bytes) {
        Ok(v) => v,
        Err(e) => return refuse(400, 10029, &format!("json part is not JSON: {e}")),
    };
    let cfg = &sb.config.salesforce;
    if text(&body, "to") != Some(cfg.channel_address_identifier.as_str()) {
        return refuse(400, 10017, "The channelAddressIdentifier provided does not exist.");
    }
    let Some(from) = text(&body, "from").map(str::to_owned) else {
        return refuse(400, 10028, "The provided \"from\" field isn't valid.");
    };
    let Some([interaction]) = body.get("interactions").and_then(Value::as_array).map(Vec::as_slice)
    else {
        return refuse(
            400,
            10029,
            "The provided interaction list isn't valid. (exactly one interaction per request)",
        );
    };
    if let Some(attrs) = body.get("routingAttributes") {
        if !attrs.is_object() {
            return refuse(400, 10029, "routingAttributes must be an object");
        }
    }
    let Some(timestamp) = int(interaction, "timestamp") else {
        return refuse(400, 10045, "interaction timestamp must be an integer (epoch milliseconds)");
    };
    let entry = match text(interaction, "interactionType") {
        Some("EntryInteraction") => {
            if !files.is_empty() {
                return refuse(400, 10011, "The number of interactions of type AttachmentInteraction does not match the number of attachment files.");
            }
            match entry_interaction(interaction, timestamp) {
                Ok(e) => e,
                Err((code, msg)) => return refuse(400, code, &msg),
            }
        }
        Some("AttachmentInteraction") => {
            let [file] = files.as_slice() else {
                return refuse(400, 10011, "The number of interactions of type AttachmentInteraction does not match the number of attachment files.");
            };
            let Some(id) = text(interaction, "id") else {
                return refuse(400, 10059, "Interaction ID or Message ID is empty.");
            };
            if int(interaction, "attachmentIndex") != Some(0) {
                return refuse(400, 10029, "attachmentIndex must be 0 (one file per request)");
            }
            let Some(length) = int(interaction, "contentLength") else {
                return refuse(400, 10010, "The interaction contentLength field is empty.");
            };
            if file.bytes.is_empty() {
                return refuse(400, 10009, "The file is empty or doesn’t exist.");
            }
            if file.bytes.len() > 25 * 1024 * 1024 {
                return refuse(400, 10008, "The file size exceeds the maximum limit of 25 MB.");
            }
            if length != file.bytes.len() as i64 {
                return refuse(
                    400,
                    10051,
                    "The file size (in bytes) of uploaded attachment is incorrect.",
                );
            }
            Entry {
                id: id.to_owned(),
                kind: "Attachment".into(),
                text: text(interaction, "text").map(str::to_owned),
                attachment: Some(AttachmentSeen {
                    file_name: file.file_name.clone(),
                    content_type: file.content_type.clone(),
                    size: file.bytes.len(),
                }),
                error_code: None,
                failed_entry: None,
                timestamp,
            }
        }
        _ => {
            return refuse(
                400,
                10029,
                "interactionType must be EntryInteraction or AttachmentInteraction",
            )
        }
    };
    let mut st = sb.lock();
    if !st.salesforce.entry_ids.insert(entry.id.clone()) {
        // Real Salesforce refuses a re-sent entry id; a retry after an unknown outcome must treat this as accepted.
        return Handled::ok(sf_error(
            400,
            10073,
            "Invalid message ID. Provide a unique ID for each message entry.",
        ));
    }
    let channel = cfg.channel_address_identifier.clone();
    let conv = conversation_for(&mut st.salesforce, &channel, &from);
    conv.entries.push(entry);
    let (cid, wid) = (conv.conversation_identifier.clone(), conv.work_item_id.clone());
    Handled::ok(Reply::json(
        202,
        &json!({"conversationIdentifier": cid, "workItemIds": [wid], "success": true}),
    ))
}

fn conversation_for<'a>(
    st: &'a mut SalesforceState,
    channel: &str,
    end_user: &str,
) -> &'a mut Conversation {
    let idx = match st
        .conversations
        .iter()
        .position(|c| c.channel_address_identifier == channel && c.end_user == end_user)
    {
        Some(i) => i,
        None => {
            st.conversations.push(Conversation {
                conversation_identifier: uuid::Uuid::new_v4().to_string(),
                // Work item ids are 15-character Salesforce ids.
                work_item_id: format!("0Mw{:012}", st.conversations.len() + 1),
                channel_address_identifier: channel.to_owned(),
                end_user: end_user.to_owned(),
                entries: Vec::new(),
                routes: Vec::new(),
                route_deleted: false,
                agent_work: Vec::new(),
                consent: None,
                session_ended: false,
            });
            st.conversations.len() - 1
        }
    };
    &mut st.conversations[idx]
}

type Refusal = (u32, String);

fn entry_interaction(interaction: &Value, timestamp: i64) -> Result<Entry, Refusal> {
    let payload =
        interaction.get("payload").ok_or((10045, "EntryInteraction needs a payload".to_owned()))?;
    let id = text(payload, "id")
        .ok_or((10059, "Interaction ID or Message ID is empty.".to_owned()))?
        .to_owned();
    let base = |kind: &str| Entry {
        id: id.clone(),
        kind: kind.into(),
        text: None,
        attachment: None,
        error_code: None,
        failed_entry: None,
        timestamp,
    };
    match text(payload, "entryType") {
        Some("Message") => {
            let msg = payload
                .get("abstractMessage")
                .ok_or((10045, "Message needs abstractMessage".to_owned()))?;
            if text(msg, "messageType") != Some("StaticContentMessage") {
                return Err((10062, "Invalid message type. Only StaticContentMessage, ChoicesResponseMessage, and FormResponseMessage types are supported for messages sent from an end user.".into()));
            }
            if text(msg, "id") != Some(id.as_str()) {
                return Err((10060, "Interaction ID and Message ID are mismatched.".into()));
            }
            let content = msg
                .get("staticContent")
                .ok_or((10045, "StaticContentMessage needs staticContent".to_owned()))?;
            if text(content, "formatType") != Some("Text") {
                return Err((10048, "Specified Format Type is invalid.".into()));
            }
            let t = text(content, "text")
                .ok_or((10045, "staticContent.text must be a non-empty string".to_owned()))?;
            Ok(Entry { text: Some(t.to_owned()), ..base("Message") })
        }
        Some(kind @ ("TypingStartedIndicator" | "TypingStoppedIndicator")) => {
            int(payload, "timestamp")
                .ok_or((10045, "typing indicators need payload.timestamp (epoch ms)".to_owned()))?;
            Ok(base(kind))
        }
        Some("MessageDeliveryFailed") => {
            let failed = text(payload, "failedConversationEntryIdentifier").ok_or((
                10045,
                "MessageDeliveryFailed needs failedConversationEntryIdentifier".to_owned(),
            ))?;
            let r = payload
                .get("recipient")
                .ok_or((10045, "MessageDeliveryFailed needs recipient".to_owned()))?;
            if text(r, "appType") != Some("custom") {
                return Err((
                    10037,
                    "The AppType provided is not supported. (must be custom)".into(),
                ));
            }
            if text(r, "role") != Some("EndUser") {
                return Err((
                    10038,
                    "The Participant Role provided is not supported. (must be EndUser)".into(),
                ));
            }
            text(r, "subject").ok_or((10045, "recipient.subject is required".to_owned()))?;
            let code = text(payload, "errorCode")
                .ok_or((10045, "MessageDeliveryFailed needs errorCode".to_owned()))?;
            Ok(Entry {
                error_code: Some(code.into()),
                failed_entry: Some(failed.into()),
                ..base("MessageDeliveryFailed")
            })
        }
        other => Err((10045, format!("unsupported entryType {other:?}"))),
    }
}

fn json_body(req: &Incoming) -> Result<Value, Handled> {
    if !req.content_type().starts_with("application/json") {
        return Err(refuse(400, 10016, "Content-Type must be application/json"));
    }
    req.json().map_err(|e| refuse(400, 10045, &e))
}

fn find_conversation<'a>(st: &'a mut SalesforceState, id: &str) -> Option<&'a mut Conversation> {
    st.conversations.iter_mut().find(|c| c.conversation_identifier == id)
}

fn post_route(sb: &Sandbox, req: &Incoming) -> Handled {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(h) => return h,
    };
    let Some(cid) = text(&body, "conversationIdentifier") else {
        return refuse(400, 10018, "The conversation identifier is not valid.");
    };
    if !matches!(text(&body, "routingType"), Some("Initial" | "Transfer" | "Conference")) {
        return refuse(400, 10029, "routingType must be Initial, Transfer or Conference");
    }
    if let Some(info) = body.get("routingInfo") {
        let flow = info.get("flow");
        let queue = text(info, "queueId");
        match (flow, queue) {
            (Some(f), None) => {
                if text(f, "flowId").is_none() || text(f, "queueId").is_none() {
                    return refuse(400, 10024, "For Flow based Routing, flow ID and Fallback Queue ID are required fields.");
                }
            }
            (None, Some(_)) => {}
            _ => return refuse(400, 10030, "Specify either a flow or a queue to Route API."),
        }
        if info
            .get("routingAttributes")
            .is_some_and(|a| !a.as_object().is_some_and(|o| o.values().all(Value::is_string)))
        {
            return refuse(400, 10029, "routingAttributes must map names to strings");
        }
    }
    let mut st = sb.lock();
    let Some(conv) = find_conversation(&mut st.salesforce, cid) else {
        return Handled::ok(sf_error(400, 10018, "The conversation identifier is not valid."));
    };
    conv.routes.push(body.clone());
    Handled::ok(Reply::json(202, &json!({"success": true})))
}

fn delete_route(sb: &Sandbox, req: &Incoming) -> Handled {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(h) => return h,
    };
    let Some(cid) = text(&body, "conversationIdentifier") else {
        return refuse(400, 10018, "The conversation identifier is not valid.");
    };
    let mut st = sb.lock();
    match find_conversation(&mut st.salesforce, cid) {
        Some(conv) => {
            conv.route_deleted = true;
            Handled::ok(Reply::json(202, &json!({"success": true})))
        }
        None => Handled::ok(sf_error(400, 10018, "The conversation identifier is not valid.")),
    }
}

fn agent_work(sb: &Sandbox, req: &Incoming) -> Handled {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(h) => return h,
    };
    if text(&body, "userId").is_none() {
        return refuse(400, 10029, "userId is required");
    }
    let Some(work_item) = text(&body, "workItemId").map(str::to_owned) else {
        return refuse(400, 10012, "Enter a valid workItemId for the MessagingSession ID.");
    };
    let pct = body.get("capacityPercentage").and_then(Value::as_f64);
    let weight = body.get("capacityWeight").and_then(Value::as_f64);
    match (pct, weight) {
        (Some(_), Some(_)) => {
            return refuse(
                400,
                10013,
                "Enter either a capacityPercentage or a capacityWeight, but not both.",
            )
        }
        (Some(p), None) if !(0.0..=100.0).contains(&p) => {
            return refuse(400, 10015, "Enter a capacity percentage between 0 and 100, inclusive.")
        }
        (None, Some(w)) if w < 0.0 => {
            return refuse(400, 10014, "Enter a capacity weight greater than or equal to 0.")
        }
        _ => {}
    }
    let mut st = sb.lock();
    let Some(conv) = st.salesforce.conversations.iter_mut().find(|c| c.work_item_id == work_item)
    else {
        return Handled::ok(sf_error(
            400,
            10012,
            "Enter a valid workItemId for the MessagingSession ID.",
        ));
    };
    conv.agent_work.push(body);
    Handled::ok(Reply::json(
        202,
        &json!({"agentWorkId": format!("0Bz{:012}", conv.agent_work.len()), "success": true}),
    ))
}

fn consent(sb: &Sandbox, req: &Incoming) -> Handled {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(h) => return h,
    };
    let (Some(user), Some(channel)) =
        (text(&body, "endUserClientId"), text(&body, "channelAddressIdentifier"))
    else {
        return refuse(400, 10020, "The endUserClientId provided is not valid.");
    };
    let Some(status) = text(&body, "consentStatus").filter(|s| {
        ["OptedOut", "ImplicitlyOptedIn", "ExplicitlyOptedIn", "DoublyOptedIn"].contains(s)
    }) else {
        return refuse(400, 10021, "Enter a valid Consent Status Enum value.");
    };
    if channel != sb.config.salesforce.channel_address_identifier {
        return refuse(400, 10017, "The channelAddressIdentifier provided does not exist.");
    }
    let mut st = sb.lock();
    let conv = conversation_for(&mut st.salesforce, channel, user);
    conv.consent = Some(status.to_owned());
    Handled::ok(Reply::json(200, &json!({"success": true})))
}

fn messaging_session(sb: &Sandbox, req: &Incoming) -> Handled {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(h) => return h,
    };
    let (Some(channel), Some(cid), Some(user)) = (
        text(&body, "channelAddressIdentifier"),
        text(&body, "conversationIdentifier"),
        text(&body, "endUserClientId"),
    ) else {
        return refuse(
            400,
            10029,
            "channelAddressIdentifier, conversationIdentifier and endUserClientId are required",
        );
    };
    if !matches!(text(&body, "operation"), Some("End" | "Inactivate")) {
        return refuse(400, 10029, "operation must be End or Inactivate");
    }
    if body.get("operationBy").is_some()
        && !matches!(text(&body, "operationBy"), Some("EndUser" | "System"))
    {
        return refuse(400, 10029, "operationBy must be EndUser or System");
    }
    if channel != sb.config.salesforce.channel_address_identifier {
        return refuse(400, 10017, "The channelAddressIdentifier provided does not exist.");
    }
    let mut st = sb.lock();
    match find_conversation(&mut st.salesforce, cid)
        .filter(|c| c.end_user == user && !c.session_ended)
    {
        Some(conv) => {
            conv.session_ended = true;
            Handled::ok(Reply::json(200, &json!({"success": true})))
        }
        None => Handled::ok(Reply::json(
            200,
            &json!({"success": false, "errorReason": "ACTIVE_CONVERSATION_NOT_FOUND"}),
        )),
    }
}

fn acknowledgement(sb: &Sandbox, req: &Incoming) -> Handled {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(h) => return h,
    };
    let Some(cid) = text(&body, "conversationIdentifier") else {
        return refuse(400, 10018, "The conversation identifier is not valid.");
    };
    if body.get("sender").is_none() {
        return refuse(400, 10029, "sender is required");
    }
    let n = body.get("acknowledgements").and_then(Value::as_array).map_or(0, Vec::len);
    if !(1..=25).contains(&n) {
        return refuse(400, 10029, "acknowledgements must hold 1 to 25 items");
    }
    let mut st = sb.lock();
    if find_conversation(&mut st.salesforce, cid).is_none() {
        return Handled::ok(sf_error(400, 10018, "The conversation identifier is not valid."));
    }
    Handled::ok(Reply::json(202, &json!({"success": true})))
}

/// What the simulated agent does.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentAction {
    /// The conversation (else the end user's, by `endUser`).
    pub conversation_identifier: Option<String>,
    pub end_user: Option<String>,
    /// `message` (default), `typing_started`, `typing_stopped`, `session_ended` or
    /// `routing_requested` (CCaaS partner routing asks for an agent work).
    pub action: Option<String>,
    pub text: Option<String>,
    /// Files the agent attaches: `{name, mimeType}`.
    pub attachments: Vec<AgentFile>,
    /// `spring24` (default) or `deprecated`.
    pub layout: Option<String>,
    /// `eventbridge` (default: Event Relay → the partner event bus) or `https`.
    pub via: Option<String>,
    /// For `https`: where to POST; omnibridge's `/v1/salesforce/events` when absent.
    pub target: Option<String>,
    pub sender_display_name: Option<String>,
    /// The entry id; fresh when absent (give the same one to redeliver).
    pub identifier: Option<String>,
    /// For `https`: the Authorization header the callout carries.
    pub authorization: Option<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentFile {
    pub name: String,
    pub mime_type: String,
}

/// The conversation entry of an agent action (the `ConversationEntry` schema).
fn conversation_entry(
    sb: &Sandbox,
    a: &AgentAction,
    conv: &Conversation,
    identifier: &str,
    now: i64,
) -> Value {
    let sender = json!({"appType": "agent", "subject": "005SB000000001", "role": "Agent"});
    let (entry_type, entry_payload) = match a.action.as_deref().unwrap_or("message") {
        "typing_started" => (
            "TypingStartedIndicator",
            json!({"entryType": "TypingStartedIndicator", "id": identifier, "timestamp": now}),
        ),
        "typing_stopped" => (
            "TypingStoppedIndicator",
            json!({"entryType": "TypingStoppedIndicator", "id": identifier, "timestamp": now}),
        ),
        "session_ended" => (
            "SessionStatusChanged",
            json!({
                "entryType": "SessionStatusChanged", "id": identifier,
                "conversationIdentifier": conv.conversation_identifier,
                "channelAddressIdentifier": conv.channel_address_identifier,
                "sessionId": format!("0Mw-session-{}", conv.work_item_id),
                "sessionStatusPrev": "Active", "sessionStatus": "Ended", "sessionEndedByRole": "Agent",
                "sessionStartTime": now - 60_000, "sessionEndTime": now,
            }),
        ),
        _ => {
            let content = if a.attachments.is_empty() {
                json!({"formatType": "Text", "text": a.text.clone().unwrap_or_default()})
            } else {
                let files: Vec<Value> = a
                    .attachments
                    .iter()
                    .map(|f| {
                        let id = uuid::Uuid::new_v4().to_string();
                        json!({"name": f.name, "attachmentUploadResult": null, "id": id, "mimeType": f.mime_type,
                               "url": format!("{}/salesforce/files/{id}/{}", sb.base_url, f.name),
                               "referenceId": uuid::Uuid::new_v4().to_string()})
                    })
                    .collect();
                json!({"formatType": "Attachments", "text": a.text.clone().unwrap_or_default(), "attachments": files})
            };
            (
                "Message",
                json!({"entryType": "Message", "id": identifier,
                       "abstractMessage": {"messageType": "StaticContentMessage", "id": identifier, "staticContent": content},
                       "messageReason": null}),
            )
        }
    };
    json!({
        "senderDisplayName": a.sender_display_name.clone().unwrap_or_else(|| "John Dow".into()),
        "identifier": identifier, "entryType": entry_type, "entryPayload": entry_payload, "sender": sender,
        "transcriptedTimestamp": now, "clientTimestamp": now - 50, "clientDuration": 0,
    })
}

/// The platform event's fields (values as strings) in the chosen layout.
fn event_fields(
    sb: &Sandbox,
    a: &AgentAction,
    conv: &Conversation,
    entry: &Value,
) -> Vec<(String, String)> {
    let names = &sb.config.salesforce.events;
    let recipient = json!({"appType": "custom", "subject": conv.end_user, "role": "EndUser"});
    if a.layout.as_deref() == Some("deprecated") {
        vec![
            (names.channel_field.clone(), conv.channel_address_identifier.clone()),
            (names.payload_field.clone(), entry.to_string()),
            (names.recipient_field.clone(), recipient.to_string()),
        ]
    } else {
        // As the seed shows it: flat without attachments, the entry under `payload` with them.
        let payload = if a.attachments.is_empty() {
            let mut p = json!({"channelAddressIdentifier": conv.channel_address_identifier, "recipient": recipient,
                               "conversationIdentifier": conv.conversation_identifier});
            if let (Some(p), Some(e)) = (p.as_object_mut(), entry.as_object()) {
                p.extend(e.clone());
            }
            p
        } else {
            json!({"channelAddressIdentifier": conv.channel_address_identifier, "recipient": recipient,
                   "conversationIdentifier": conv.conversation_identifier, "payload": entry})
        };
        vec![
            (names.payload_field.clone(), payload.to_string()),
            (names.event_type_field.clone(), "Interaction".into()),
        ]
    }
}

/// The simulated agent acts: the event reaches omnibridge by EventBridge (SQS) or HTTPS.
pub async fn agent_acts(sb: &Sandbox, a: AgentAction) -> Reply {
    let conv = {
        let st = sb.lock();
        st.salesforce
            .conversations
            .iter()
            .find(|c| {
                a.conversation_identifier.as_deref() == Some(c.conversation_identifier.as_str())
                    || a.end_user.as_deref() == Some(c.end_user.as_str())
            })
            .cloned()
    };
    let Some(conv) = conv else {
        return Reply::json(404, &json!({"error": "no such conversation in the sandbox"}));
    };
    let now = now_millis();
    let identifier = a.identifier.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let fields = if a.action.as_deref() == Some("routing_requested") {
        let names = &sb.config.salesforce.events;
        let payload = json!({"conversationIdentifier": conv.conversation_identifier, "workRecordId": conv.work_item_id, "routingType": "Initial"});
        vec![
            (names.payload_field.clone(), payload.to_string()),
            (names.event_type_field.clone(), "RoutingRequested".into()),
        ]
    } else {
        let entry = conversation_entry(sb, &a, &conv, &identifier, now);
        event_fields(sb, &a, &conv, &entry)
    };
    let names = &sb.config.salesforce.events;
    let replay_id = now.to_string();
    if a.via.as_deref() == Some("https") {
        // The seed's shape: each field a `{string: ...}` union, under the event's name.
        let mut event = serde_json::Map::new();
        event.insert("CreatedDate".into(), json!(now));
        event.insert("CreatedById".into(), json!("005SB000000001"));
        for (k, v) in &fields {
            event.insert(k.clone(), json!({"string": v}));
        }
        let body =
            json!({"replayId": replay_id, "payload": {names.event.clone(): Value::Object(event)}});
        let target = a
            .target
            .clone()
            .or_else(|| sb.omnibridge_url().map(|u| format!("{u}/v1/salesforce/events")));
        let Some(target) = target else {
            return Reply::json(400, &json!({"error": "no target and no omnibridge URL"}));
        };
        let mut req = sb.http.post(&target).json(&body);
        if let Some(auth) = &a.authorization {
            req = req.header("authorization", auth);
        }
        let res = req.send().await;
        let status = res.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
        return Reply::json(
            200,
            &json!({"identifier": identifier, "event": body, "target": target, "status": status}),
        );
    }
    // Event Relay → EventBridge: the platform event in `detail`, fields as plain values.
    let mut payload = serde_json::Map::new();
    payload.insert(
        "CreatedDate".into(),
        json!(time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()),
    );
    payload.insert("CreatedById".into(), json!("005SB000000001"));
    for (k, v) in &fields {
        payload.insert(k.clone(), json!(v));
    }
    let event = json!({
        "detail-type": names.event,
        "source": partner_bus(&sb.config.salesforce.org_id),
        "time": payload["CreatedDate"],
        "detail": {"payload": Value::Object(payload), "schemaId": "sandbox-schema", "event": {"replayId": replay_id, "EventUuid": uuid::Uuid::new_v4().to_string()}},
    });
    let Some(relay) = sb.event_relay() else {
        return Reply::json(
            400,
            &json!({"error": "no event bus: Event Relay needs the local stack's EventBridge (or use \"via\": \"https\")"}),
        );
    };
    match relay.publish(event).await {
        Ok(published) => {
            Reply::json(200, &json!({"identifier": identifier, "published": published}))
        }
        Err(e) => Reply::json(502, &json!({"error": e})),
    }
}

/// Ends every access token now (a token expiring mid-conversation).
pub fn expire_tokens(sb: &Sandbox) {
    sb.lock().salesforce.tokens.values_mut().for_each(|exp| *exp = 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_seed_message_interaction_is_checked_should_pass_and_mismatched_ids_should_not() {
        let ok = json!({"timestamp": 1, "interactionType": "EntryInteraction", "payload": {
            "id": "i1", "entryType": "Message",
            "abstractMessage": {"messageType": "StaticContentMessage", "id": "i1", "staticContent": {"formatType": "Text", "text": "Hi there"}}}});
        assert_eq!(entry_interaction(&ok, 1).unwrap().text.as_deref(), Some("Hi there"));
        let mut bad = ok.clone();
        bad["payload"]["abstractMessage"]["id"] = json!("other");
        assert_eq!(entry_interaction(&bad, 1).unwrap_err().0, 10060);
        let failed = json!({"payload": {"id": "i2", "entryType": "MessageDeliveryFailed", "failedConversationEntryIdentifier": "i1",
            "recipient": {"appType": "custom", "subject": "u", "role": "EndUser"}, "errorCode": "404"}});
        assert!(entry_interaction(&failed, 1).is_ok());
        let mut wrong = failed.clone();
        wrong["payload"]["recipient"]["appType"] = json!("messaging");
        assert_eq!(entry_interaction(&wrong, 1).unwrap_err().0, 10037);
    }
}
