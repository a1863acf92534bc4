//! Yalo (WhatsApp `outgoing_webhook` and Facebook `passthrough` channels):
//! the webhook payloads of the seed, parsed into canonical inbound events,
//! and their signature check.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;

use crate::model::{
    Author, BadPayload, ChannelKind, EpochMillis, InboundBatch, InboundMedia, InboundMessage,
};
use crate::ports::WebhookFormat;

/// Refuses a message whose parts are over omnibridge's limits, before
/// anything is stored, naming the Go field as the seed's errors do.
fn within_limits(m: InboundMessage, payload: &'static str) -> Result<InboundMessage, BadPayload> {
    use crate::model::limits;
    let id_ok = |s: &str| s.len() <= limits::ID && !s.chars().any(char::is_control);
    let checks = [
        ("From", id_ok(&m.user_id)),
        ("ID", id_ok(&m.source_id)),
        ("Text", m.text.as_ref().is_none_or(|t| t.len() <= limits::TEXT)),
        ("Url", m.media.as_ref().is_none_or(|m| m.url.len() <= limits::URL)),
        (
            "Caption",
            m.media
                .as_ref()
                .and_then(|m| m.caption.as_ref())
                .is_none_or(|c| c.len() <= limits::CAPTION),
        ),
        (
            "MimeType",
            m.media
                .as_ref()
                .and_then(|m| m.mime_type.as_ref())
                .is_none_or(|t| t.len() <= limits::MIME_TYPE),
        ),
    ];
    match checks.into_iter().find(|(_, ok)| !ok) {
        Some((field, _)) => Err(BadPayload::TooLong(payload, field)),
        None => Ok(m),
    }
}

/// Message types that are notices, not messages (the predecessor's `IGNORE_MESSAGE_TYPES`, matched exactly).
const NOTICE_TYPES: &[&str] = &["status", "notification-status"];

#[derive(Deserialize)]
struct WaMedia {
    url: Option<String>,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
    caption: Option<String>,
}

#[derive(Deserialize)]
struct WaRequest {
    #[serde(default)]
    id: String,
    #[serde(default)]
    timestamp: Value,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    text: Option<WaText>,
    image: Option<WaMedia>,
    audio: Option<WaMedia>,
    voice: Option<WaMedia>,
    document: Option<WaMedia>,
    video: Option<WaMedia>,
    sticker: Option<WaMedia>,
    location: Option<WaLocation>,
}

#[derive(Deserialize)]
struct WaText {
    body: Option<String>,
}

#[derive(Deserialize)]
struct WaLocation {
    latitude: Option<f64>,
    longitude: Option<f64>,
    name: Option<String>,
    address: Option<String>,
}

/// Epoch ms from a string (the seed's WhatsApp shape) or a number.
fn millis(v: &Value) -> Option<EpochMillis> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .filter(|ms: &i64| *ms > 0)
}

fn location_text(l: &WaLocation) -> Option<String> {
    let (lat, lon) = (l.latitude?, l.longitude?);
    let mut t = format!("📍 {lat},{lon}");
    for extra in [&l.name, &l.address].into_iter().flatten() {
        t.push_str(&format!(" {extra}"));
    }
    Some(t)
}

/// Parses a WhatsApp webhook (`outgoing_webhook` channel).
fn parse_whatsapp(body: &[u8]) -> Result<InboundBatch, BadPayload> {
    let req: WaRequest =
        serde_json::from_slice(body).map_err(|e| BadPayload::Decode(e.to_string()))?;
    if NOTICE_TYPES.contains(&req.kind.as_str()) {
        return Ok(InboundBatch::Skipped(req.kind));
    }
    let ts = millis(&req.timestamp);
    let mut missing = Vec::new();
    if req.id.trim().is_empty() {
        missing.push("ID");
    }
    if ts.is_none() {
        missing.push("Timestamp");
    }
    if req.kind.trim().is_empty() {
        missing.push("Type");
    }
    // The message is the bot's when it is addressed `to` the customer.
    let (author, user_id) = if req.to.trim().is_empty() {
        (Author::User, req.from.clone())
    } else {
        (Author::Bot, req.to.clone())
    };
    if user_id.trim().is_empty() {
        missing.push("From");
    }
    if !missing.is_empty() {
        return Err(BadPayload::Missing("IntegrationsRequest", missing));
    }
    let media = |m: &Option<WaMedia>| {
        m.as_ref().and_then(|m| {
            m.url.clone().filter(|u| !u.is_empty()).map(|url| InboundMedia {
                url,
                mime_type: m.mime_type.clone().filter(|s| !s.is_empty()),
                caption: m.caption.clone().filter(|s| !s.is_empty()),
            })
        })
    };
    let (text, media) = match req.kind.as_str() {
        "text" => (req.text.and_then(|t| t.body), None),
        "image" => (None, media(&req.image)),
        "audio" => (None, media(&req.audio)),
        "voice" => (None, media(&req.voice)),
        "document" => (None, media(&req.document)),
        "video" => (None, media(&req.video)),
        "sticker" => (None, media(&req.sticker)),
        "location" => (req.location.as_ref().and_then(location_text), None),
        _ => (None, None),
    };
    let message = InboundMessage {
        channel: ChannelKind::Whatsapp,
        user_id,
        author,
        source_id: req.id,
        timestamp: ts.unwrap_or_default(),
        kind: req.kind,
        text: text.filter(|t| !t.is_empty()),
        media,
    };
    Ok(InboundBatch::Messages(vec![within_limits(message, "IntegrationsRequest")?]))
}

#[derive(Deserialize)]
struct FbRequest {
    #[serde(rename = "authorRole", default)]
    author_role: String,
    #[serde(rename = "botId", default)]
    bot_id: String,
    message: Option<FbMessageEnvelope>,
}

#[derive(Deserialize)]
struct FbMessageEnvelope {
    #[serde(default)]
    entry: Vec<FbEntry>,
}

#[derive(Deserialize)]
struct FbEntry {
    #[serde(default)]
    messaging: Vec<FbMessaging>,
}

#[derive(Deserialize)]
struct FbMessaging {
    sender: Option<FbId>,
    recipient: Option<FbId>,
    #[serde(default)]
    timestamp: Value,
    message: Option<FbMessage>,
}

#[derive(Deserialize)]
struct FbId {
    id: Value,
}

#[derive(Deserialize)]
struct FbMessage {
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<FbAttachment>,
}

#[derive(Deserialize)]
struct FbAttachment {
    #[serde(rename = "type", default)]
    kind: String,
    payload: Option<FbPayload>,
}

#[derive(Deserialize)]
struct FbPayload {
    url: Option<String>,
    coordinates: Option<FbCoordinates>,
}

#[derive(Deserialize)]
struct FbCoordinates {
    lat: f64,
    long: f64,
}

fn id_text(id: Option<&FbId>) -> Option<String> {
    match id.map(|i| &i.id) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a Facebook webhook (`passthrough` channel: the Messenger webhook
/// wrapped with `authorRole` and `botId`). One webhook may carry several
/// messages; each attachment becomes its own message.
fn parse_facebook(body: &[u8]) -> Result<InboundBatch, BadPayload> {
    let req: FbRequest =
        serde_json::from_slice(body).map_err(|e| BadPayload::Decode(e.to_string()))?;
    let mut missing = Vec::new();
    if req.author_role.trim().is_empty() {
        missing.push("AuthorRole");
    }
    if req.bot_id.trim().is_empty() {
        missing.push("BotID");
    }
    if req.message.is_none() {
        missing.push("Message");
    }
    if !missing.is_empty() {
        return Err(BadPayload::Missing("IntegrationsFacebook", missing));
    }
    let from_user = req.author_role == "user";
    let mut out = Vec::new();
    for messaging in req.message.into_iter().flat_map(|m| m.entry).flat_map(|e| e.messaging) {
        let Some(message) = messaging.message else { continue };
        let user = if from_user {
            id_text(messaging.sender.as_ref())
        } else {
            id_text(messaging.recipient.as_ref())
        };
        let (Some(user_id), Some(mid), Some(ts)) =
            (user, message.mid.filter(|m| !m.is_empty()), millis(&messaging.timestamp))
        else {
            return Err(BadPayload::Missing(
                "IntegrationsFacebook",
                vec!["Message.Entry.Messaging"],
            ));
        };
        let author = if from_user { Author::User } else { Author::Bot };
        let base = |kind: &str, source_id: String| InboundMessage {
            channel: ChannelKind::Facebook,
            user_id: user_id.clone(),
            author,
            source_id,
            timestamp: ts,
            kind: kind.to_owned(),
            text: None,
            media: None,
        };
        if let Some(text) = message.text.filter(|t| !t.is_empty()) {
            out.push(InboundMessage { text: Some(text), ..base("text", mid.clone()) });
        }
        let many = message.attachments.len() > 1;
        for (i, att) in message.attachments.into_iter().enumerate() {
            // Each attachment is its own message; its id is the mid plus its place.
            let source_id = if many { format!("{mid}#{i}") } else { mid.clone() };
            let payload = att.payload;
            if let Some(c) = payload.as_ref().and_then(|p| p.coordinates.as_ref()) {
                out.push(InboundMessage {
                    text: Some(format!("📍 {},{}", c.lat, c.long)),
                    ..base("location", source_id)
                });
            } else if let Some(url) = payload.and_then(|p| p.url).filter(|u| !u.is_empty()) {
                out.push(InboundMessage {
                    media: Some(InboundMedia { url, mime_type: None, caption: None }),
                    ..base(&att.kind, source_id)
                });
            }
        }
    }
    if out.len() > crate::model::limits::ATTACHMENTS + 1 {
        return Err(BadPayload::TooLong("IntegrationsFacebook", "Message.Entry.Messaging"));
    }
    let out = out
        .into_iter()
        .map(|m| within_limits(m, "IntegrationsFacebook"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InboundBatch::Messages(out))
}

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` in constant time.
fn signature_is_valid(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WA_TEXT: &str = r#"{"from":"5215573735001","id":"ABGHUhVXNzUALwIQZWnmjBi7IBmfp2EfNrYbRQ","text":{"body":"Hola"},"timestamp":"1632367928574","type":"text"}"#;
    const WA_IMAGE: &str = r#"{"from":"5215514732842","id":"ABGHUhVRRzKEPwIKOo4a1mKpR_2KoA","image":{"caption":"","mimeType":"image/jpeg","url":"https://api-staging2.yalochat.com/hooks-proxy/whatsapp/coppel-wa-staging/media/a97f26b7"},"timestamp":"1630107882351","type":"image"}"#;
    const FB_TEXT: &str = r#"{"authorRole":"user","botId":"messeger-staging-bot","message":{"entry":[{"id":"233726951928054","messaging":[{"message":{"mid":"m_rhq1","text":"Hola"},"recipient":{"id":"233726951928054"},"sender":{"id":"5018811078134037"},"timestamp":1632348042261}],"time":1632348042540}],"object":"page"},"msgTracking":{},"provider":"facebook","timestamp":1632348042540}"#;

    #[test]
    fn when_seed_whatsapp_examples_arrive_should_parse_text_and_image() {
        let InboundBatch::Messages(m) = parse_whatsapp(WA_TEXT.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m[0].user_id.as_str(), m[0].author, m[0].text.as_deref(), m[0].timestamp),
            ("5215573735001", Author::User, Some("Hola"), 1632367928574)
        );
        let InboundBatch::Messages(m) = parse_whatsapp(WA_IMAGE.as_bytes()).unwrap() else {
            panic!()
        };
        let media = m[0].media.as_ref().unwrap();
        assert_eq!(
            (media.mime_type.as_deref(), media.caption.as_deref()),
            (Some("image/jpeg"), None)
        );
    }

    #[test]
    fn when_whatsapp_message_is_addressed_to_the_customer_should_be_the_bots() {
        let body = r#"{"from":"bot-number","to":"5215573735001","id":"x","text":{"body":"Menu"},"timestamp":"1632367928574","type":"text"}"#;
        let InboundBatch::Messages(m) = parse_whatsapp(body.as_bytes()).unwrap() else { panic!() };
        assert_eq!((m[0].author, m[0].user_id.as_str()), (Author::Bot, "5215573735001"));
    }

    #[test]
    fn when_whatsapp_fields_are_missing_or_body_is_not_json_should_be_refused() {
        assert_eq!(
            parse_whatsapp(br#"{"from":"1","type":"text"}"#),
            Err(BadPayload::Missing("IntegrationsRequest", vec!["ID", "Timestamp"]))
        );
        assert_eq!(
            parse_whatsapp(br#"{"from":"1","id":"x","timestamp":"abc","type":"text"}"#),
            Err(BadPayload::Missing("IntegrationsRequest", vec!["Timestamp"]))
        );
        assert!(matches!(parse_whatsapp(b"{nope"), Err(BadPayload::Decode(_))));
        // A missing type is a refusal, not a skip (the predecessor's substring match skipped it).
        assert!(matches!(
            parse_whatsapp(br#"{"from":"1","id":"x","timestamp":"1"}"#),
            Err(BadPayload::Missing(_, _))
        ));
        assert_eq!(
            parse_whatsapp(br#"{"type":"status"}"#),
            Ok(InboundBatch::Skipped("status".into()))
        );
    }

    #[test]
    fn when_seed_facebook_example_arrives_should_parse_the_users_message() {
        let InboundBatch::Messages(m) = parse_facebook(FB_TEXT.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].user_id.as_str(), m[0].author, m[0].source_id.as_str()),
            ("5018811078134037", Author::User, "m_rhq1")
        );
        let bot = FB_TEXT.replace(r#""authorRole":"user""#, r#""authorRole":"bot""#);
        let InboundBatch::Messages(m) = parse_facebook(bot.as_bytes()).unwrap() else { panic!() };
        assert_eq!((m[0].user_id.as_str(), m[0].author), ("233726951928054", Author::Bot));
        assert!(matches!(
            parse_facebook(br#"{"botId":"b","message":{}}"#),
            Err(BadPayload::Missing(_, _))
        ));
    }

    #[test]
    fn when_signature_is_checked_should_accept_only_the_hmac_of_the_exact_body() {
        let sig = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let body = b"The quick brown fox jumps over the lazy dog";
        assert!(signature_is_valid(b"key", body, Some(sig)));
        assert!(!signature_is_valid(
            b"key",
            b"The quick brown fox jumps over the lazy cog",
            Some(sig)
        ));
        assert!(!signature_is_valid(b"other", body, Some(sig)));
        assert!(!signature_is_valid(b"key", body, None));
        assert!(!signature_is_valid(b"key", body, Some("sha1=abc")));
    }
}

// ------------------------------------------------------------------ the integrations API

/// Yalo's webhook of one channel (WhatsApp's `outgoing_webhook`, Facebook's `passthrough`).
pub struct YaloWebhook(pub ChannelKind);

impl WebhookFormat for YaloWebhook {
    fn signed(&self, secret: &[u8], body: &[u8], signature: Option<&str>) -> bool {
        signature_is_valid(secret, body, signature)
    }

    fn read(&self, body: &[u8]) -> Result<InboundBatch, BadPayload> {
        match self.0 {
            ChannelKind::Facebook => parse_facebook(body),
            _ => parse_whatsapp(body),
        }
    }
}

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::http_client;
use crate::config::YaloSettings;
use crate::model::{Conversation, Message};
use crate::ports::{Channel, Files, Receipt};
use crate::{Error, Result};

/// One bot on one Yalo channel.
#[derive(Clone, Debug)]
pub struct YaloBot {
    /// `outgoing_webhook` (WhatsApp) or `passthrough` (Facebook).
    pub channel: &'static str,
    pub bot_id: String,
    /// The WhatsApp number or the Facebook page id.
    pub phone: Option<String>,
}

/// What to send to a customer: a text or one file by URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    Media { content_type: String, url: String, caption: Option<String> },
}

/// Yalo's integrations API.
#[derive(Clone)]
pub struct YaloClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
    whatsapp: Option<YaloBot>,
    facebook: Option<YaloBot>,
    remove_path: String,
}

impl YaloClient {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        token: SecretString,
        settings: &YaloSettings,
    ) -> Self {
        let bot = |channel, id: &Option<String>, phone: &Option<String>| {
            id.clone().map(|bot_id| YaloBot { channel, bot_id, phone: phone.clone() })
        };
        YaloClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            whatsapp: bot("outgoing_webhook", &settings.whatsapp_bot_id, &settings.whatsapp_phone),
            facebook: bot("passthrough", &settings.facebook_bot_id, &settings.facebook_page_id),
            remove_path: settings.remove_path.trim_matches('/').to_owned(),
        }
    }

    fn bot(&self, channel: ChannelKind) -> Result<&YaloBot> {
        let (bot, var) = match channel {
            ChannelKind::Whatsapp => (&self.whatsapp, "OMNIBRIDGE_YALO_WHATSAPP_BOT_ID"),
            ChannelKind::Facebook => (&self.facebook, "OMNIBRIDGE_YALO_FACEBOOK_BOT_ID"),
            ChannelKind::Custom => {
                return Err(Error::invalid("channel", "custom channels do not go through Yalo"))
            }
        };
        bot.as_ref().ok_or_else(|| Error::Config(format!("{var} is not set")))
    }

    fn url(&self, bot: &YaloBot, tail: &str) -> String {
        format!("{}/api/{}/bots/{}/{tail}", self.base_url, bot.channel, bot.bot_id)
    }

    /// Registers `webhook` as the bot's webhook on `channel`.
    async fn register(&self, channel: ChannelKind, webhook: &str) -> Result<()> {
        let bot = self.bot(channel)?;
        let phone = bot
            .phone
            .clone()
            .ok_or_else(|| Error::Config(format!("the {channel} number or page id is not set")))?;
        // Facebook's passthrough channel needs version 3 (the seed's note), WhatsApp version 0.
        let version = if channel == ChannelKind::Facebook { 3 } else { 0 };
        let body = json!({"phone": phone, "webhook": webhook, "provider": channel.as_str(), "version": version});
        let req = self
            .http
            .post(self.url(bot, "healthcheck"))
            .bearer_auth(self.token.expose_secret())
            .json(&body);
        http_client::send("Yalo", req).await.map(|_| ())
    }

    /// Removes the bot's webhook on `channel`.
    async fn remove(&self, channel: ChannelKind) -> Result<()> {
        let bot = self.bot(channel)?;
        let phone = bot.phone.clone().unwrap_or_default();
        let body = json!({"phone": phone, "provider": channel.as_str()});
        let req = self
            .http
            .post(self.url(bot, &self.remove_path))
            .bearer_auth(self.token.expose_secret())
            .json(&body);
        http_client::send("Yalo", req).await.map(|_| ())
    }

    /// Sends one message to `user_id`; `id` is ours, so a retried send can be recognised.
    async fn post_message(
        &self,
        channel: ChannelKind,
        user_id: &str,
        id: &str,
        out: &Outgoing,
    ) -> Result<Receipt> {
        let bot = self.bot(channel)?;
        let body = match channel {
            ChannelKind::Facebook => facebook_body(user_id, out),
            _ => whatsapp_body(user_id, id, out),
        };
        let req = self
            .http
            .post(self.url(bot, "messages"))
            .bearer_auth(self.token.expose_secret())
            .json(&body);
        let res = http_client::send("Yalo", req).await?;
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        let id = answer.pointer("/messages/0/id").and_then(Value::as_str).map(str::to_owned);
        Ok(Receipt { id })
    }
}

/// Whether a message goes out text first (then each file), rather than as
/// its files with the text as the first one's caption (WhatsApp).
fn text_first(c: &Conversation, m: &Message) -> bool {
    m.text.is_some() && (c.channel != ChannelKind::Whatsapp || m.attachments.is_empty())
}

#[async_trait::async_trait]
impl Channel for YaloClient {
    fn serves(&self, channel: ChannelKind) -> bool {
        matches!(channel, ChannelKind::Whatsapp | ChannelKind::Facebook)
    }

    /// Each file by URL (on WhatsApp the first with the text as its
    /// caption), or the text first and then each file.
    fn pieces(&self, c: &Conversation, m: &Message) -> usize {
        m.attachments.len() + usize::from(text_first(c, m))
    }

    async fn send(
        &self,
        c: &Conversation,
        m: &Message,
        piece: usize,
        files: &dyn Files,
    ) -> Result<Receipt> {
        let text_first = text_first(c, m);
        let out = match (piece, text_first, &m.text) {
            (0, true, Some(text)) => Outgoing::Text(text.clone()),
            _ => {
                let i = piece - usize::from(text_first);
                let a = m.attachments.get(i).ok_or_else(|| {
                    Error::permanent(format!("message {} has no piece {piece}", m.id), None)
                })?;
                let url = files.url(a).await?.ok_or_else(|| {
                    Error::permanent("an attachment has neither a stored copy nor a URL", None)
                })?;
                let caption = if text_first || i > 0 { None } else { m.text.clone() };
                Outgoing::Media { content_type: a.content_type.clone(), url, caption }
            }
        };
        let id = format!("{}-{piece}", m.id);
        self.post_message(c.channel, &c.customer.id, &id, &out).await
    }

    async fn register_webhook(&self, channel: ChannelKind, url: &str) -> Result<()> {
        self.register(channel, url).await
    }

    async fn remove_webhook(&self, channel: ChannelKind) -> Result<()> {
        self.remove(channel).await
    }
}

/// WhatsApp's kind for a MIME type.
fn media_kind(content_type: &str) -> &'static str {
    match content_type.split('/').next() {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        _ => "document",
    }
}

pub fn whatsapp_body(user_id: &str, id: &str, out: &Outgoing) -> Value {
    match out {
        Outgoing::Text(text) => {
            json!({"id": id, "type": "text", "userId": user_id, "text": {"body": text}})
        }
        Outgoing::Media { content_type, url, caption } => {
            let kind = media_kind(content_type);
            let mut media = json!({"url": url});
            if let (Some(c), false) = (caption, kind == "audio") {
                media["caption"] = json!(c);
            }
            json!({"id": id, "type": kind, "userId": user_id, kind: media})
        }
    }
}

pub fn facebook_body(user_id: &str, out: &Outgoing) -> Value {
    let message = match out {
        Outgoing::Text(text) => json!({"text": text}),
        Outgoing::Media { content_type, url, .. } => {
            let kind = match media_kind(content_type) {
                "document" => "file",
                k => k,
            };
            json!({"attachment": {"type": kind, "payload": {"url": url}}})
        }
    };
    json!({"messaging_type": "RESPONSE", "recipient": {"id": user_id}, "message": message, "metadata": "YALOSOURCE:FIREHOSE"})
}
