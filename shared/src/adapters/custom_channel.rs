//! The custom-channel contract (the seed's, which Yeahdesk's custom channel
//! shares): the message a source posts (`POST
//! /api/custom-channel/message/{channelId}`), read into the model, and the
//! agent replies POSTed to the source's webhook URL, signed with the
//! channel's secret.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use super::http_client;
use crate::model::{Attachment, ContactData, ContactObject, SourceContact, SourceMessage};
use crate::ports::{SourceFormat, SourceReply, SourceWebhook};
use crate::{Error, Result};

/// An attachment of a custom-channel message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAttachment {
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

impl WireAttachment {
    /// The attachment, to be fetched from its URL.
    pub fn into_attachment(self) -> Result<Attachment> {
        let mut a =
            Attachment::new(self.mime_type.as_deref().unwrap_or("application/octet-stream"))?;
        a.name = self.name;
        a.size = self.size;
        a.source_url = Some(self.url);
        Ok(a)
    }
}

/// The body of `POST /api/custom-channel/message/{channelId}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_data: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<WireAttachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_object: Option<ContactObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_id: Option<Vec<ContactData>>,
}

impl CustomMessage {
    /// Refuses a message whose parts are over omnibridge's limits, before anything is stored.
    pub fn check_limits(&self) -> Result<()> {
        use crate::model::{check_len, limits};
        let opt = |field: &'static str, v: &Option<String>, max: usize| {
            v.as_deref().map_or(Ok(()), |v| check_len(field, v, max))
        };
        opt("dialog_id", &self.dialog_id, limits::ID)?;
        opt("reference", &self.reference, limits::ID)?;
        opt("dialog_title", &self.dialog_title, limits::NAME)?;
        opt("text", &self.text, limits::TEXT)?;
        opt("html", &self.html, limits::TEXT)?;
        opt("integration_data", &self.integration_data, limits::INTEGRATION_DATA)?;
        if self.attachments.len() > limits::ATTACHMENTS {
            return Err(Error::invalid(
                "attachments",
                format!("at most {} per message", limits::ATTACHMENTS),
            ));
        }
        for a in &self.attachments {
            check_len("attachments.url", &a.url, limits::URL)?;
            opt("attachments.name", &a.name, limits::CAPTION)?;
            opt("attachments.mimeType", &a.mime_type, limits::MIME_TYPE)?;
        }
        let contacts = self
            .contact_object
            .iter()
            .flat_map(|c| c.contacts.iter())
            .chain(self.contacts_id.iter().flatten());
        if self.contact_object.as_ref().is_some_and(|c| c.contacts.len() > limits::CONTACT_DATA)
            || self.contacts_id.as_ref().is_some_and(|c| c.len() > limits::CONTACT_DATA)
        {
            return Err(Error::invalid(
                "contacts",
                format!("at most {} contact data items", limits::CONTACT_DATA),
            ));
        }
        for c in contacts {
            opt("contacts.id", &c.id, limits::ID)?;
            check_len("contacts.value", &c.value, limits::NAME)?;
            check_len("contacts.type", &c.kind, limits::ID)?;
            check_len("contacts.service", &c.service, limits::ID)?;
            check_len("contacts.origin", &c.origin, limits::ID)?;
        }
        if let Some(c) = &self.contact_object {
            opt("contact_object._id", &c.id, limits::ID)?;
            check_len("contact_object.name", &c.name, limits::NAME)?;
            opt("contact_object.description", &c.description, limits::CAPTION)?;
        }
        if self.timestamp.is_some_and(|t| t <= 0 || t > crate::model::now_millis() + 5 * 60 * 1000)
        {
            return Err(Error::invalid(
                "timestamp",
                "must be epoch milliseconds, not in the future",
            ));
        }
        Ok(())
    }
}

/// The custom-channel message format.
pub struct CustomChannelFormat;

impl SourceFormat for CustomChannelFormat {
    fn read(&self, body: &[u8]) -> Result<SourceMessage> {
        let m: CustomMessage = serde_json::from_slice(body).map_err(|e| {
            Error::invalid("body", format!("is not the custom-channel message JSON: {e}"))
        })?;
        m.check_limits()?;
        let contact = match (m.contact_object, m.contacts_id) {
            (Some(obj), None) => SourceContact::Object(obj),
            (None, Some(items)) => SourceContact::Data(items),
            _ => {
                return Err(Error::refused(400, "E_CONTACT_INFO_REQUIRED", "contact information for the customer is required (exactly one of contact_object, contacts_id)"))
            }
        };
        let mut attachments = Vec::with_capacity(m.attachments.len());
        for a in m.attachments {
            if !(a.url.starts_with("https://") || a.url.starts_with("http://")) {
                return Err(Error::invalid("attachments", "each attachment needs an http(s) url"));
            }
            attachments.push(a.into_attachment()?);
        }
        let text = m.text.or(m.html).filter(|t| !t.trim().is_empty());
        if text.is_none() && attachments.is_empty() {
            return Err(Error::invalid("message", "needs text, html or attachments"));
        }
        Ok(SourceMessage {
            dialog_id: m.dialog_id,
            reference: m.reference.filter(|r| !r.is_empty()),
            title: m.dialog_title.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            timestamp: m.timestamp,
            text,
            integration_data: m.integration_data,
            attachments,
            contact,
        })
    }
}

/// The body of a reply webhook.
pub fn reply_body(reply: &SourceReply<'_>) -> Result<Vec<u8>> {
    let (c, m) = (reply.conversation, reply.message);
    let attachments: Vec<_> = reply
        .attachments
        .iter()
        .map(|(url, a)| json!({"url": url, "name": a.name, "mimeType": a.content_type, "size": a.size}))
        .collect();
    let payload = json!({
        "event": "message.created",
        "channel_id": reply.channel_id,
        "dialog_id": c.id,
        "reference": c.reference,
        "contact_id": c.customer.id,
        "integration_data": c.integration_data,
        "message": {
            "id": m.id, "text": m.text, "attachments": attachments,
            "author": {"type": "operator", "id": m.sender_id}, "timestamp": m.created_at,
        },
    });
    serde_json::to_vec(&payload)
        .map_err(|e| Error::permanent("encoding the webhook failed", Some(Box::new(e))))
}

/// The header carrying a reply webhook's signature:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
pub const SIGNATURE_HEADER: &str = "x-omnibridge-signature";

/// The signature of `body` sent at `t` (unix seconds) with `secret`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts reply webhooks through the peers' shared HTTP client.
#[derive(Clone)]
pub struct SignedWebhook {
    http: reqwest::Client,
}

impl SignedWebhook {
    pub fn new(http: reqwest::Client) -> Self {
        SignedWebhook { http }
    }
}

impl SourceWebhook for SignedWebhook {
    async fn post(&self, url: &str, secret: &str, reply: &SourceReply<'_>) -> Result<()> {
        let body = reply_body(reply)?;
        let signature = sign(secret, crate::model::now_millis() / 1000, &body);
        let req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("idempotency-key", reply.message.id.as_str())
            .body(body);
        http_client::send("the custom channel's webhook", req).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_webhook_is_signed_should_cover_the_time_and_the_body() {
        let s = sign("k", 1_700_000_000, b"{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_ne!(s, sign("k", 1_700_000_001, b"{}"));
        assert_ne!(s, sign("k", 1_700_000_000, b"{ }"));
        assert_ne!(s, sign("j", 1_700_000_000, b"{}"));
    }
}
