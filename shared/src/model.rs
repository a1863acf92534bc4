//! The canonical model: what a conversation, a message and a context entry
//! are, whatever channel or desk they came from. Constructors validate; no I/O.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// Milliseconds since the Unix epoch, the unit every platform here uses.
pub type EpochMillis = i64;

/// The current time in epoch milliseconds.
pub fn now_millis() -> EpochMillis {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::invalid(stringify!($name), format!("unknown value {other:?}"))),
                }
            }
        }
    };
}

string_enum!(
    /// Where the customer writes.
    ChannelKind { Whatsapp = "whatsapp", Facebook = "facebook", Custom = "custom" }
);
string_enum!(
    /// Where the agent answers.
    DeskKind { Salesforce = "salesforce", Pipedrive = "pipedrive", Yeahdesk = "yeahdesk" }
);
string_enum!(
    /// Where a conversation stands: with the bot, waiting for an agent, with an agent, over.
    ConversationStatus { Bot = "bot", Queued = "queued", Active = "active", Closed = "closed" }
);
string_enum!(
    /// `inbound` = customer → desk, `outbound` = agent → customer.
    Direction { Inbound = "inbound", Outbound = "outbound" }
);
string_enum!(
    /// Delivery status of one message.
    MessageStatus { Received = "received", Sent = "sent", Delivered = "delivered", Read = "read", Failed = "failed" }
);
string_enum!(
    /// Who wrote a context entry: the customer or the bot.
    Author { User = "user", Bot = "bot" }
);

impl ConversationStatus {
    /// Whether customer messages of this conversation go to the desk.
    pub fn reaches_desk(self) -> bool {
        matches!(self, ConversationStatus::Queued | ConversationStatus::Active)
    }
}

impl MessageStatus {
    /// Whether the message has left omnibridge for good (success or failure).
    pub fn is_final(self) -> bool {
        !matches!(self, MessageStatus::Received)
    }
}

/// Checks an identifier coming from a platform: non-empty, bounded, printable.
pub fn validate_id(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > 256 {
        return Err(Error::invalid(field, "must be at most 256 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// omnibridge's own conversation id (a UUID).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    pub fn new() -> Self {
        ConversationId(uuid::Uuid::new_v4().to_string())
    }
    pub fn parse(s: &str) -> Result<Self> {
        uuid::Uuid::parse_str(s).map_err(|e| Error::invalid("conversation id", e.to_string()))?;
        Ok(ConversationId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ConversationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// omnibridge's own message id. It is derived from where the message came
/// from and the platform's id for it, so a redelivered webhook maps to the
/// same id and is recognised by one conditional write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// The id of the message that `source` (e.g. `whatsapp`, `salesforce`) calls `source_id`.
    pub fn from_source(source: &str, source_id: &str) -> Result<Self> {
        validate_id("source message id", source_id)?;
        let name = format!("{source}:{source_id}");
        Ok(MessageId(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()))
    }
    pub fn parse(s: &str) -> Result<Self> {
        uuid::Uuid::parse_str(s).map_err(|e| Error::invalid("message id", e.to_string()))?;
        Ok(MessageId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One person in a conversation: the customer or an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The id the channel (for a customer) or the desk (for an agent) knows them by.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Participant {
    pub fn new(id: &str, name: &str) -> Result<Self> {
        validate_id("participant id", id)?;
        if name.len() > 512 {
            return Err(Error::invalid("participant name", "must be at most 512 bytes"));
        }
        Ok(Participant { id: id.to_owned(), name: name.to_owned(), email: None, phone: None })
    }
}

/// One customer on one channel talking to one desk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub channel: ChannelKind,
    /// The bot (tenant) the customer was talking to, e.g. Yalo's `botSlug`.
    pub bot: String,
    pub customer: Participant,
    pub desk: DeskKind,
    /// The desk-side channel this conversation belongs to (Pipedrive channel,
    /// Salesforce channel address, Yeahdesk channel); used to list conversations.
    pub desk_channel: String,
    /// The desk's own id for the conversation, once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk_conversation_id: Option<String>,
    /// The source's own key for the conversation (a custom channel's `reference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The latest `integration_data` a custom channel source sent in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_data: Option<String>,
    /// The dialog's title, when the source gave one (a custom channel's `dialog_title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub status: ConversationStatus,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
    /// When the store deletes it (epoch seconds; the table's TTL), as the
    /// store set it; `None` until stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Conversation {
    /// A new conversation, waiting for an agent.
    pub fn open(
        channel: ChannelKind,
        bot: &str,
        customer: Participant,
        desk: DeskKind,
        desk_channel: &str,
        now: EpochMillis,
    ) -> Result<Self> {
        validate_id("bot", bot)?;
        validate_id("desk channel", desk_channel)?;
        Ok(Conversation {
            id: ConversationId::new(),
            channel,
            bot: bot.to_owned(),
            customer,
            desk,
            desk_channel: desk_channel.to_owned(),
            desk_conversation_id: None,
            reference: None,
            integration_data: None,
            title: None,
            status: ConversationStatus::Queued,
            created_at: now,
            updated_at: now,
            expires_at: None,
        })
    }

    pub fn reference(&self) -> ConversationRef {
        ConversationRef {
            id: self.id.clone(),
            channel: self.channel,
            customer_id: self.customer.id.clone(),
            status: self.status,
            expires_at: self.expires_at,
        }
    }
}

/// What recording a message needs of its conversation: which it is, whether
/// it reaches the desk, and when it expires. The customer's pointer to their
/// open conversation carries it, so a message in an open chat is recorded
/// without reading the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRef {
    pub id: ConversationId,
    pub channel: ChannelKind,
    pub customer_id: String,
    pub status: ConversationStatus,
    /// As [`Conversation::expires_at`].
    pub expires_at: Option<i64>,
}

/// A file attached to a message. `key` is set once the bytes are in our bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Object key in the attachments bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Where the platform said the file is (may expire within minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

impl Attachment {
    pub fn new(content_type: &str) -> Result<Self> {
        let ct = content_type.trim();
        if ct.is_empty() || !ct.contains('/') || ct.len() > 255 {
            return Err(Error::invalid(
                "attachment content type",
                format!("{content_type:?} is not a MIME type"),
            ));
        }
        Ok(Attachment {
            content_type: ct.to_ascii_lowercase(),
            name: None,
            size: None,
            key: None,
            source_url: None,
        })
    }
}

/// The longest text a message may carry (WhatsApp's limit is 4096 characters;
/// desks accept more, so this only stops abuse).
pub const MAX_TEXT_BYTES: usize = limits::TEXT;

/// What omnibridge takes, stores and forwards, in bytes (or items): larger
/// input is refused with a 400 in the envelope of the API it came to,
/// before anything is stored. The README's "Security" section lists them.
pub mod limits {
    /// Any id (customer, bot, message, channel, reference).
    pub const ID: usize = 256;
    /// A message's text (and a custom channel's `html`).
    pub const TEXT: usize = 64 * 1024;
    /// A file's caption or name.
    pub const CAPTION: usize = 4 * 1024;
    /// A link to a file.
    pub const URL: usize = 4 * 1024;
    /// A MIME type.
    pub const MIME_TYPE: usize = 255;
    /// A person's name, a dialog's title.
    pub const NAME: usize = 256;
    pub const EMAIL: usize = 320;
    pub const PHONE: usize = 64;
    /// `chats/connect`'s `extraData`, as JSON.
    pub const EXTRA_DATA: usize = 8 * 1024;
    /// A custom source's `integration_data`.
    pub const INTEGRATION_DATA: usize = 8 * 1024;
    /// Files in one message.
    pub const ATTACHMENTS: usize = 10;
    /// Contact data items of one contact.
    pub const CONTACT_DATA: usize = 20;
    /// The handoff transcript a desk is shown first (profile and the newest
    /// context lines that fit; the cut is said in it).
    pub const TRANSCRIPT: usize = 16 * 1024;
}

/// The longest start of `s` of at most `max` bytes that ends on a character.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    &s[..end]
}

/// Refuses `value` when it is longer than `max` bytes.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::invalid(field, format!("must be at most {max} bytes")));
    }
    Ok(())
}

/// A file a channel's message links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMedia {
    pub url: String,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
}

/// One message a channel's webhook carried, whoever wrote it (the customer
/// or the bot), as the channel's adapter read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMessage {
    pub channel: ChannelKind,
    /// The customer, whoever wrote the message.
    pub user_id: String,
    pub author: Author,
    /// The platform's message id (WhatsApp `id`, Messenger `mid`).
    pub source_id: String,
    pub timestamp: EpochMillis,
    /// `text`, `image`, `document`, `audio`, `voice`, `video`, `location`, `file`, ...
    pub kind: String,
    pub text: Option<String>,
    pub media: Option<InboundMedia>,
}

/// Who produced a message: a customer's channel, a desk, the handoff (the
/// transcript it shows the agent first), or a custom channel's source.
/// Stored as its text: `whatsapp`, `salesforce`, `handoff`, `custom:<channel id>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MessageSource {
    /// WhatsApp or Messenger, through Yalo.
    Channel(ChannelKind),
    Desk(DeskKind),
    Handoff,
    /// A custom channel, by its id.
    Custom(String),
}

impl From<ChannelKind> for MessageSource {
    fn from(channel: ChannelKind) -> Self {
        MessageSource::Channel(channel)
    }
}

impl From<DeskKind> for MessageSource {
    fn from(desk: DeskKind) -> Self {
        MessageSource::Desk(desk)
    }
}

impl fmt::Display for MessageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageSource::Channel(c) => f.write_str(c.as_str()),
            MessageSource::Desk(d) => f.write_str(d.as_str()),
            MessageSource::Handoff => f.write_str("handoff"),
            MessageSource::Custom(id) => write!(f, "custom:{id}"),
        }
    }
}

impl FromStr for MessageSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s == "handoff" {
            return Ok(MessageSource::Handoff);
        }
        if let Some(id) = s.strip_prefix("custom:") {
            validate_id("custom channel id", id)?;
            return Ok(MessageSource::Custom(id.to_owned()));
        }
        match (s.parse::<ChannelKind>(), s.parse::<DeskKind>()) {
            (Ok(ChannelKind::Custom), _) | (Err(_), Err(_)) => {
                Err(Error::invalid("message source", format!("unknown value {s:?}")))
            }
            (Ok(c), _) => Ok(MessageSource::Channel(c)),
            (_, Ok(d)) => Ok(MessageSource::Desk(d)),
        }
    }
}

impl TryFrom<String> for MessageSource {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<MessageSource> for String {
    fn from(source: MessageSource) -> String {
        source.to_string()
    }
}

/// One entry of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    /// Who produced it and their id for it (`whatsapp` + wamid, `pipedrive` + …).
    pub source: MessageSource,
    pub source_id: String,
    /// The participant who wrote it.
    pub sender_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    pub status: MessageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The id the receiving side gave it, once delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_id: Option<String>,
    /// A custom channel source's opaque data, echoed back in reply webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_data: Option<String>,
    /// When the platform produced it; orders the conversation.
    pub created_at: EpochMillis,
    /// When the store deletes it (epoch seconds; the table's TTL), as the
    /// store set it; `None` until stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Message {
    /// A message as received, before delivery. It must carry text or at least one attachment.
    #[allow(clippy::too_many_arguments)]
    pub fn received(
        conversation_id: ConversationId,
        direction: Direction,
        source: impl Into<MessageSource>,
        source_id: &str,
        sender_id: &str,
        text: Option<String>,
        attachments: Vec<Attachment>,
        created_at: EpochMillis,
    ) -> Result<Self> {
        let source = source.into();
        validate_id("sender id", sender_id)?;
        let text = text.filter(|t| !t.is_empty());
        if text.is_none() && attachments.is_empty() {
            return Err(Error::invalid("message", "needs text or an attachment"));
        }
        if text.as_ref().is_some_and(|t| t.len() > MAX_TEXT_BYTES) {
            return Err(Error::invalid(
                "message text",
                format!("must be at most {MAX_TEXT_BYTES} bytes"),
            ));
        }
        if attachments.len() > limits::ATTACHMENTS {
            return Err(Error::invalid(
                "attachments",
                format!("at most {} per message", limits::ATTACHMENTS),
            ));
        }
        for a in &attachments {
            a.source_url
                .as_deref()
                .map_or(Ok(()), |u| check_len("attachment url", u, limits::URL))?;
            a.name
                .as_deref()
                .map_or(Ok(()), |n| check_len("attachment name", n, limits::CAPTION))?;
        }
        if created_at <= 0 {
            return Err(Error::invalid("message timestamp", "must be positive epoch milliseconds"));
        }
        Ok(Message {
            id: MessageId::from_source(&source.to_string(), source_id)?,
            conversation_id,
            direction,
            source,
            source_id: source_id.to_owned(),
            sender_id: sender_id.to_owned(),
            text,
            attachments,
            status: MessageStatus::Received,
            failure_reason: None,
            delivered_id: None,
            integration_data: None,
            created_at,
            expires_at: None,
        })
    }
}

/// How much of a customer's context one read returns (the newest entries,
/// by their JSON size): what `GET /v1/context/{userID}` answers and the
/// handoff transcript holds stay far under Lambda's 6 MB response limit.
pub const CONTEXT_READ_LIMIT: usize = 1024 * 1024;

/// One line of the customer↔bot transcript of the last 24 hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextEntry {
    /// The customer (phone number with prefix for WhatsApp, PSID for Facebook).
    pub user_id: String,
    /// The tenant name shown as `client`.
    pub client: String,
    /// The platform's id for the message; with `timestamp` it keys the entry,
    /// so a redelivered webhook overwrites rather than duplicates.
    pub source_id: String,
    pub timestamp: EpochMillis,
    pub from: Author,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// When the entry stops counting (epoch seconds); also DynamoDB's TTL.
    pub expires_at: i64,
}

impl ContextEntry {
    /// A new entry that expires `ttl` after `now_ms`.
    pub fn new(
        user_id: &str,
        client: &str,
        source_id: &str,
        timestamp: EpochMillis,
        from: Author,
        now_ms: EpochMillis,
        ttl: std::time::Duration,
    ) -> Result<Self> {
        validate_id("userID", user_id)?;
        validate_id("source message id", source_id)?;
        if timestamp <= 0 {
            return Err(Error::invalid("timestamp", "must be positive epoch milliseconds"));
        }
        Ok(ContextEntry {
            user_id: user_id.to_owned(),
            client: client.to_owned(),
            source_id: source_id.to_owned(),
            timestamp,
            from,
            text: None,
            url: None,
            mime_type: None,
            caption: None,
            expires_at: now_ms / 1000 + ttl.as_secs() as i64,
        })
    }

    pub fn is_expired(&self, now_ms: EpochMillis) -> bool {
        self.expires_at * 1000 <= now_ms
    }
}

/// One page of a listing and the opaque cursor of the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_source_is_stored_as_the_text_it_always_was() {
        let all = [
            (MessageSource::Channel(ChannelKind::Whatsapp), "whatsapp"),
            (MessageSource::Channel(ChannelKind::Facebook), "facebook"),
            (MessageSource::Desk(DeskKind::Salesforce), "salesforce"),
            (MessageSource::Desk(DeskKind::Pipedrive), "pipedrive"),
            (MessageSource::Desk(DeskKind::Yeahdesk), "yeahdesk"),
            (MessageSource::Handoff, "handoff"),
            (MessageSource::Custom("65a1b2".into()), "custom:65a1b2"),
        ];
        for (source, text) in all {
            assert_eq!(serde_json::to_value(&source).unwrap(), serde_json::json!(text));
            assert_eq!(serde_json::from_value::<MessageSource>(text.into()).unwrap(), source);
        }
        for odd in ["custom", "custom:", "sms", ""] {
            assert!(odd.parse::<MessageSource>().is_err(), "{odd}");
        }
    }

    #[test]
    fn when_same_source_id_is_seen_twice_should_map_to_one_message_id() {
        let a = MessageId::from_source("whatsapp", "wamid.1").unwrap();
        let b = MessageId::from_source("whatsapp", "wamid.1").unwrap();
        let c = MessageId::from_source("facebook", "wamid.1").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn when_message_has_neither_text_nor_attachment_should_be_refused() {
        let err = Message::received(
            ConversationId::new(),
            Direction::Inbound,
            ChannelKind::Whatsapp,
            "id1",
            "521",
            Some(String::new()),
            vec![],
            1,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "message", .. }));
    }

    #[test]
    fn when_enum_text_is_unknown_should_be_refused() {
        assert_eq!("pipedrive".parse::<DeskKind>().unwrap(), DeskKind::Pipedrive);
        assert!("telegram".parse::<ChannelKind>().is_err());
    }

    #[test]
    fn when_id_has_control_characters_should_be_refused() {
        assert!(validate_id("x", "a\nb").is_err());
        assert!(validate_id("x", " ").is_err());
        assert!(validate_id("x", &"a".repeat(257)).is_err());
        assert!(validate_id("x", "5217331175599").is_ok());
    }

    #[test]
    fn when_context_entry_is_past_its_ttl_should_be_expired() {
        let e = ContextEntry::new(
            "u",
            "c",
            "m",
            1_000,
            Author::User,
            10_000,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        assert!(!e.is_expired(10_000 + 59_000));
        assert!(e.is_expired(10_000 + 60_000));
    }
}

/// A desk asks for its work to be assigned to an agent (Salesforce's CCaaS
/// partner routing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkRequest {
    pub conversation_identifier: String,
    pub work_item_id: String,
    pub routing_type: String,
    pub correlation: String,
}

/// What a desk's event asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentEvent {
    Message {
        end_user: String,
        identifier: String,
        sender: String,
        text: Option<String>,
        files: Vec<(String, String, String)>,
        at: i64,
    },
    SessionEnded {
        end_user: String,
    },
    /// CCaaS partner routing: Salesforce asks the partner to assign the work.
    RoutingRequested(WorkRequest),
    /// Typing, routing and other entries the customer's channel has no use for.
    Ignored(String),
}

impl AgentEvent {
    /// Whose events must keep their order: the end user's (or the Salesforce
    /// conversation's, for a routing request); `None` for an ignored event.
    pub fn group(&self) -> Option<&str> {
        match self {
            AgentEvent::Message { end_user, .. } | AgentEvent::SessionEnded { end_user } => {
                Some(end_user)
            }
            AgentEvent::RoutingRequested(work) => Some(&work.conversation_identifier),
            AgentEvent::Ignored(_) => None,
        }
    }
}

/// What a channel's webhook body holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundBatch {
    Messages(Vec<InboundMessage>),
    /// A platform notice (delivery status and the like) that is not a message.
    Skipped(String),
}

/// Why a channel's webhook body was refused, in the seed's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadPayload {
    /// Not the JSON the webhook takes: `Invalid payload received : <cause>`.
    Decode(String),
    /// Required fields missing: `(payload struct, [Go field names])`.
    Missing(&'static str, Vec<&'static str>),
    /// A field over its limit: `(payload struct, Go field name)`.
    TooLong(&'static str, &'static str),
}

/// What a desk's webhook of agent replies (Yeahdesk's) brings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyHook {
    /// An agent's reply in the dialog of conversation `reference` (our id).
    Reply {
        reference: Option<String>,
        /// The desk's id for the message, which recognises a redelivery.
        id: String,
        sender: String,
        text: Option<String>,
        attachments: Vec<Attachment>,
        at: EpochMillis,
    },
    /// Not an agent's reply; nothing to do.
    Ignored(&'static str),
}

/// One contact-data item: a way to reach the contact (the custom-channel
/// contract's shape, kept as it is in the table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub value: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub origin: String,
}

/// `contact_object`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactObject {
    #[serde(rename = "_id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub contacts: Vec<ContactData>,
}

/// What a custom channel answers a message with (the seed gives none; this
/// is Yeahdesk's and ours).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    #[serde(default)]
    pub dialog_id: String,
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub contact_id: String,
}

/// Who a custom channel's message is from: a contact object, or contact
/// data that finds one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SourceContact {
    Object(ContactObject),
    Data(Vec<ContactData>),
}

/// A message from a custom channel's source, within the limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceMessage {
    /// The dialog (our conversation id) the source names, if any.
    pub dialog_id: Option<String>,
    /// The source's own reference for the dialog, if any.
    pub reference: Option<String>,
    /// The dialog's title, trimmed, if not blank.
    pub title: Option<String>,
    pub timestamp: Option<EpochMillis>,
    /// The text (or the HTML), if not blank.
    pub text: Option<String>,
    pub integration_data: Option<String>,
    pub attachments: Vec<Attachment>,
    pub contact: SourceContact,
}

/// A Pipedrive channel omnibridge provides, as registered by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipedriveChannel {
    /// Our id for the channel (Pipedrive's `provider_channel_id`); also the
    /// id of its `source_user`, the side agents write from.
    pub provider_channel_id: String,
    /// Pipedrive's id for the channel, once registered there.
    #[serde(default)]
    pub pipedrive_id: Option<String>,
    pub name: String,
    /// `whatsapp`, `facebook` or `other`.
    pub provider_type: String,
    pub template_support: bool,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The channel's approved WhatsApp templates (getTemplates).
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Pipedrive's calls are refused with ACCOUNT_SUSPENDED.
    #[serde(default)]
    pub suspended: bool,
    /// Unregistered (deleteChannelById): nothing flows to Pipedrive any more.
    #[serde(default)]
    pub deleted: bool,
    pub created_at: EpochMillis,
}

/// An approved message template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub content: String,
    pub language: String,
}

/// A participant Pipedrive may ask about (getSenderById).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

impl PipedriveChannel {
    pub fn new(provider_channel_id: &str, name: &str, provider_type: &str) -> Result<Self> {
        crate::model::validate_id("provider channel id", provider_channel_id)?;
        if !["whatsapp", "facebook", "other"].contains(&provider_type) {
            return Err(Error::invalid("provider type", "must be whatsapp, facebook or other"));
        }
        Ok(PipedriveChannel {
            provider_channel_id: provider_channel_id.to_owned(),
            pipedrive_id: None,
            name: name.to_owned(),
            provider_type: provider_type.to_owned(),
            template_support: false,
            avatar_url: None,
            templates: vec![],
            suspended: false,
            deleted: false,
            created_at: now_millis(),
        })
    }

    /// The channel's own side, where agents write from, as a sender.
    pub fn source_user(&self) -> Sender {
        Sender {
            id: self.provider_channel_id.clone(),
            name: self.name.clone(),
            avatar_url: self.avatar_url.clone(),
        }
    }
}

/// A message as a desk reads it back: each attachment's fresh link (none
/// for one that has neither a copy nor a source URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedMessage {
    pub message: Message,
    pub links: Vec<Option<String>>,
}

/// A conversation as a desk reads it back, with a page of its messages
/// (newest first) and the cursor to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationView {
    pub conversation: Conversation,
    pub messages: Vec<LinkedMessage>,
    pub next: Option<String>,
}

/// What a user may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The bot side (Yalo Studio): handoff, context, webhooks registration.
    #[serde(rename = "YALO_ROLE")]
    Yalo,
    /// The desk side: checks its token and posts Salesforce's events over
    /// HTTPS (`/v1/salesforce/events`).
    #[serde(rename = "SALESFORCE_ROLE")]
    Salesforce,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Yalo => "YALO_ROLE",
            Role::Salesforce => "SALESFORCE_ROLE",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "YALO_ROLE" => Ok(Role::Yalo),
            "SALESFORCE_ROLE" => Ok(Role::Salesforce),
            other => Err(Error::invalid(
                "role",
                format!("{other:?} is not YALO_ROLE or SALESFORCE_ROLE"),
            )),
        }
    }
}

/// A user of the JWT-protected API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUser {
    pub username: String,
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for ApiUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}
