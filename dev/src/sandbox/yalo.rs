//! Yalo's integrations API (the WhatsApp `outgoing_webhook` and Facebook
//! `passthrough` channels), and a simulated customer whose messages reach
//! omnibridge as the seed's webhook payloads.

use serde_json::{json, Value};
use std::collections::HashMap;

use super::http::text;
use super::{Handled, Incoming, Reply, Sandbox};

#[derive(Clone, Debug)]
pub struct YaloConfig {
    /// The Bearer token Yalo expects from omnibridge.
    pub token: String,
    /// When set, webhooks carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    pub webhook_secret: Option<String>,
}

impl Default for YaloConfig {
    fn default() -> Self {
        YaloConfig { token: "sandbox-yalo-token".into(), webhook_secret: None }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Registration {
    pub channel: String,
    pub bot_id: String,
    pub phone: String,
    pub webhook: String,
    pub provider: Option<String>,
    pub version: Option<i64>,
}

/// A message omnibridge asked Yalo to send to a customer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Delivered {
    pub id: String,
    pub channel: String,
    pub bot_id: String,
    pub user_id: String,
    /// `text`, `image`, `video`, `document`, `audio` (WhatsApp) or `text`, `image`, `video`, `audio`, `file` (Facebook).
    pub kind: String,
    pub text: Option<String>,
    pub url: Option<String>,
    pub caption: Option<String>,
    pub payload: Value,
}

#[derive(Default)]
pub struct YaloState {
    pub registrations: HashMap<(String, String), Registration>,
    pub delivered: Vec<Delivered>,
}

pub const WHATSAPP_CHANNEL: &str = "outgoing_webhook";
pub const FACEBOOK_CHANNEL: &str = "passthrough";

pub fn route(method: &http::Method, segs: &[&str]) -> Option<&'static str> {
    match (method.as_str(), segs) {
        ("POST", ["api", _, "bots", _, "healthcheck"]) => Some("yalo.register"),
        (
            "POST",
            ["api", _, "bots", _, "healthcheck", "remove"] | ["api", _, "bots", _, "remove"],
        ) => Some("yalo.remove"),
        ("POST", ["api", _, "bots", _, "messages"]) => Some("yalo.messages"),
        ("GET", ["media", _]) => Some("yalo.media"),
        _ => None,
    }
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({"error": message}))
}

fn refuse(status: u16, what: &str) -> Handled {
    Handled::violation(error(status, what), format!("yalo: {what}"))
}

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

pub async fn handle(sb: &Sandbox, route: &str, req: &Incoming, segs: &[&str]) -> Handled {
    if route == "yalo.media" {
        let name = segs[1];
        let (ct, bytes) = media_bytes(name);
        return Handled::ok(Reply::bytes(ct, bytes));
    }
    if req.bearer() != Some(sb.config.yalo.token.as_str()) {
        return Handled::ok(error(401, "invalid token"));
    }
    let (channel, bot) = (segs[1].to_owned(), segs[3].to_owned());
    if channel != WHATSAPP_CHANNEL && channel != FACEBOOK_CHANNEL {
        return refuse(404, &format!("unknown channel {channel:?}"));
    }
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return refuse(400, &e),
    };
    match route {
        "yalo.register" => {
            let (Some(phone), Some(webhook)) = (text(&body, "phone"), text(&body, "webhook"))
            else {
                return refuse(400, "register needs phone and webhook");
            };
            if !is_url(webhook) {
                return refuse(400, "webhook must be an http(s) URL");
            }
            let reg = Registration {
                channel: channel.clone(),
                bot_id: bot.clone(),
                phone: phone.to_owned(),
                webhook: webhook.to_owned(),
                provider: text(&body, "provider").map(str::to_owned),
                version: body.get("version").and_then(Value::as_i64),
            };
            sb.lock().yalo.registrations.insert((channel.clone(), bot.clone()), reg);
            Handled::ok(Reply::json(
                201,
                &json!({"bot_id": bot, "channel": channel, "webhook": webhook}),
            ))
        }
        "yalo.remove" => {
            if text(&body, "phone").is_none() {
                return refuse(400, "remove needs phone");
            }
            match sb.lock().yalo.registrations.remove(&(channel, bot)) {
                Some(_) => Handled::ok(Reply::empty(204)),
                None => Handled::ok(error(404, "no webhook registered for this bot")),
            }
        }
        _ => {
            let parsed = if channel == WHATSAPP_CHANNEL {
                whatsapp_message(&body)
            } else {
                facebook_message(&body)
            };
            match parsed {
                Ok((user_id, kind, text_, url, caption)) => {
                    // Yalo downloads the media from the link to hand it to WhatsApp or Messenger.
                    if let Some(u) = &url {
                        match sb.http.get(u).send().await {
                            Ok(r) if r.status().is_success() => {}
                            Ok(r) => {
                                return refuse(
                                    400,
                                    &format!("the media link answered {}", r.status()),
                                )
                            }
                            Err(e) => {
                                return refuse(
                                    400,
                                    &format!("the media link could not be fetched: {e}"),
                                )
                            }
                        }
                    }
                    let id = format!("yalo-{}", uuid::Uuid::new_v4());
                    sb.lock().yalo.delivered.push(Delivered {
                        id: id.clone(),
                        channel,
                        bot_id: bot,
                        user_id,
                        kind,
                        text: text_,
                        url,
                        caption,
                        payload: body,
                    });
                    Handled::ok(Reply::json(200, &json!({"messages": [{"id": id}]})))
                }
                Err(what) => refuse(400, &what),
            }
        }
    }
}

type Parsed = (String, String, Option<String>, Option<String>, Option<String>);

/// `{id, type, userId, text: {body}}` or `{id, type, userId, <type>: {url, caption?}}`.
fn whatsapp_message(b: &Value) -> Result<Parsed, String> {
    let user = text(b, "userId").ok_or("message needs userId")?;
    text(b, "id").ok_or("message needs id")?;
    let kind = text(b, "type").ok_or("message needs type")?;
    match kind {
        "text" => {
            let body = b
                .get("text")
                .and_then(|t| text(t, "body"))
                .ok_or("text message needs text.body")?;
            Ok((user.into(), kind.into(), Some(body.into()), None, None))
        }
        "image" | "video" | "document" | "audio" => {
            let media =
                b.get(kind).ok_or_else(|| format!("{kind} message needs a {kind} object"))?;
            let url = text(media, "url")
                .filter(|u| is_url(u))
                .ok_or_else(|| format!("{kind}.url must be an http(s) URL"))?;
            let caption = media
                .get("caption")
                .map(|c| c.as_str().map(str::to_owned).ok_or("caption must be a string"))
                .transpose()?;
            if kind == "audio" && caption.as_deref().is_some_and(|c| !c.is_empty()) {
                return Err("audio messages take no caption".into());
            }
            Ok((user.into(), kind.into(), None, Some(url.into()), caption))
        }
        other => Err(format!("unknown message type {other:?}")),
    }
}

/// `{messaging_type, recipient: {id}, message: {text} | {attachment: {type, payload: {url}}}, metadata?}`.
fn facebook_message(b: &Value) -> Result<Parsed, String> {
    let mt = text(b, "messaging_type").ok_or("message needs messaging_type")?;
    if !["RESPONSE", "UPDATE", "MESSAGE_TAG"].contains(&mt) {
        return Err(format!("messaging_type {mt:?} is not RESPONSE, UPDATE or MESSAGE_TAG"));
    }
    let user =
        b.get("recipient").and_then(|r| text(r, "id")).ok_or("message needs recipient.id")?;
    let msg = b.get("message").ok_or("message needs message")?;
    match (text(msg, "text"), msg.get("attachment")) {
        (Some(t), None) => Ok((user.into(), "text".into(), Some(t.into()), None, None)),
        (None, Some(att)) => {
            let kind = text(att, "type").ok_or("attachment needs type")?;
            if !["image", "video", "audio", "file"].contains(&kind) {
                return Err(format!("attachment type {kind:?} is not image, video, audio or file"));
            }
            let url = att
                .get("payload")
                .and_then(|p| text(p, "url"))
                .filter(|u| is_url(u))
                .ok_or("attachment needs payload.url")?;
            Ok((user.into(), kind.into(), None, Some(url.into()), None))
        }
        _ => Err("message needs exactly one of text or attachment".into()),
    }
}

/// Deterministic bytes for a media file name, typed by its extension.
pub fn media_bytes(name: &str) -> (&'static str, Vec<u8>) {
    let ext = name.rsplit('.').next().unwrap_or("");
    let (ct, magic): (&'static str, &[u8]) = match ext {
        "jpg" | "jpeg" => ("image/jpeg", &[0xFF, 0xD8, 0xFF, 0xE0]),
        "png" => ("image/png", b"\x89PNG\r\n\x1a\n"),
        "pdf" => ("application/pdf", b"%PDF-1.4\n"),
        "ogg" => ("audio/ogg", b"OggS"),
        "mp4" => ("video/mp4", b"\x00\x00\x00\x18ftypmp42"),
        _ => ("application/octet-stream", b""),
    };
    let mut bytes = magic.to_vec();
    bytes.extend(name.bytes().cycle().take(2048));
    (ct, bytes)
}

/// What the simulated customer writes.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerWrites {
    /// `whatsapp` or `facebook`.
    pub provider: String,
    pub bot_id: String,
    pub user_id: String,
    /// `text`, `image`, `document`, `audio`, `video` (Facebook: `file` for documents).
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub media_url: Option<String>,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    /// `user` (default) or `bot`: who wrote it.
    pub author_role: Option<String>,
    /// The platform message id; a fresh one when absent.
    pub message_id: Option<String>,
    /// How many times the same webhook is delivered (default 1).
    pub deliveries: Option<u32>,
    /// Deliver the copies at once rather than one after another.
    pub concurrent: bool,
    /// Where to POST; the registered webhook (or omnibridge's webhook path) when absent.
    pub target: Option<String>,
    /// Epoch ms; now when absent.
    pub timestamp: Option<i64>,
}

fn ext_for(kind: &str, mime: Option<&str>) -> &'static str {
    match (kind, mime) {
        (_, Some("image/png")) => "png",
        ("image", _) => "jpg",
        ("audio", _) => "ogg",
        ("video", _) => "mp4",
        _ => "pdf",
    }
}

/// The seed's webhook payload for `w`.
pub fn webhook_payload(
    w: &CustomerWrites,
    base_url: &str,
    message_id: &str,
    now_ms: i64,
) -> Result<Value, String> {
    let ts = w.timestamp.unwrap_or(now_ms);
    let from_bot = w.author_role.as_deref() == Some("bot");
    let media_url = || {
        w.media_url.clone().unwrap_or_else(|| {
            format!(
                "{base_url}/yalo/media/{message_id}.{}",
                ext_for(&w.kind, w.mime_type.as_deref())
            )
        })
    };
    match w.provider.as_str() {
        "whatsapp" => {
            let mut p = json!({"from": w.user_id, "id": message_id, "timestamp": ts.to_string(), "type": w.kind});
            if from_bot {
                p["from"] = json!(w.bot_id);
                p["to"] = json!(w.user_id);
            }
            match w.kind.as_str() {
                "text" => p["text"] = json!({"body": w.text.clone().unwrap_or_default()}),
                "image" | "document" | "audio" | "video" => {
                    let mime = w.mime_type.clone().unwrap_or_else(|| {
                        media_bytes(&format!("x.{}", ext_for(&w.kind, None))).0.to_owned()
                    });
                    let mut m = json!({"mimeType": mime, "url": media_url()});
                    if w.kind != "audio" {
                        m["caption"] = json!(w.caption.clone().unwrap_or_default());
                    }
                    p[w.kind.as_str()] = m;
                }
                other => return Err(format!("unknown WhatsApp message type {other:?}")),
            }
            Ok(p)
        }
        "facebook" => {
            let page = "233726951928054";
            let (sender, recipient) =
                if from_bot { (page, w.user_id.as_str()) } else { (w.user_id.as_str(), page) };
            let message = match w.kind.as_str() {
                "text" => json!({"mid": message_id, "text": w.text.clone().unwrap_or_default()}),
                "image" | "video" | "audio" | "file" | "document" => {
                    let t = if w.kind == "document" { "file" } else { w.kind.as_str() };
                    json!({"mid": message_id, "attachments": [{"payload": {"url": media_url()}, "type": t}]})
                }
                other => return Err(format!("unknown Facebook message type {other:?}")),
            };
            Ok(json!({
                "authorRole": if from_bot { "bot" } else { "user" },
                "botId": w.bot_id,
                "message": {
                    "entry": [{
                        "id": page,
                        "messaging": [{"message": message, "recipient": {"id": recipient}, "sender": {"id": sender}, "timestamp": ts}],
                        "time": ts + 100,
                    }],
                    "object": "page",
                },
                "msgTracking": {},
                "provider": "facebook",
                "timestamp": ts + 100,
            }))
        }
        other => Err(format!("provider must be whatsapp or facebook, got {other:?}")),
    }
}

/// `X-Hub-Signature-256` value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Makes the simulated customer write: POSTs the webhook (redelivered as asked).
pub async fn customer_writes(sb: &Sandbox, w: CustomerWrites) -> Reply {
    let message_id = w.message_id.clone().unwrap_or_else(|| match w.provider.as_str() {
        "facebook" => format!("m_{}", uuid::Uuid::new_v4().simple()),
        _ => format!("ABGHUh{}", uuid::Uuid::new_v4().simple()),
    });
    let payload =
        match webhook_payload(&w, &sb.base_url, &message_id, omnibridge::model::now_millis()) {
            Ok(p) => p,
            Err(e) => return Reply::json(400, &json!({"error": e})),
        };
    let channel = if w.provider == "facebook" { FACEBOOK_CHANNEL } else { WHATSAPP_CHANNEL };
    let registered = sb
        .lock()
        .yalo
        .registrations
        .get(&(channel.to_owned(), w.bot_id.clone()))
        .map(|r| r.webhook.clone());
    let target = w.target.clone().or(registered).or_else(|| {
        sb.omnibridge_url().map(|u| format!("{u}/v1/integrations/{}/webhook", w.provider))
    });
    let Some(target) = target else {
        return Reply::json(
            400,
            &json!({"error": "no webhook registered for this bot and no omnibridge URL configured"}),
        );
    };
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let signature = sb.yalo_webhook_secret().map(|s| signature(&s, &body));
    let post = || {
        let mut req =
            sb.http.post(&target).header("content-type", "application/json").body(body.clone());
        if let Some(sig) = &signature {
            req = req.header("x-hub-signature-256", sig.clone());
        }
        async move {
            match req.send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    json!({"status": status, "body": res.text().await.unwrap_or_default()})
                }
                Err(e) => json!({"status": 0, "error": e.to_string()}),
            }
        }
    };
    let n = w.deliveries.unwrap_or(1).clamp(1, 20);
    let results: Vec<Value> = if w.concurrent {
        futures::future::join_all((0..n).map(|_| post())).await
    } else {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(post().await);
        }
        out
    };
    Reply::json(
        200,
        &json!({"messageId": message_id, "target": target, "payload": payload, "deliveries": results}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_seed_examples_are_sent_should_parse_and_wrong_shapes_should_not() {
        let wa = json!({"id": "x1", "type": "text", "userId": "5217331175599", "text": {"body": "Hola"}});
        assert!(whatsapp_message(&wa).is_ok());
        let img = json!({"id": "x2", "type": "image", "userId": "521", "image": {"url": "https://x.test/a.jpg", "caption": "c"}});
        assert!(whatsapp_message(&img).is_ok());
        assert!(whatsapp_message(
            &json!({"id": "x", "type": "text", "userId": "521", "text": "Hola"})
        )
        .is_err());
        assert!(whatsapp_message(&json!({"id": "x", "type": "sticker", "userId": "521"})).is_err());
        let fb = json!({"messaging_type": "RESPONSE", "recipient": {"id": "6199"}, "message": {"text": "Hola"}, "metadata": "YALOSOURCE:FIREHOSE"});
        assert!(facebook_message(&fb).is_ok());
        assert!(facebook_message(
            &json!({"messaging_type": "RESPONSE", "recipient": {"id": "1"}, "message": {}})
        )
        .is_err());
    }

    #[test]
    fn when_signature_is_computed_should_match_the_published_hmac_sha256_vector() {
        assert_eq!(
            signature("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
