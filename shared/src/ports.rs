//! The ports: small traits the services depend on. The adapters implement
//! them (DynamoDB, S3, SQS, one module per peer); handlers and workers are
//! generic over them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

use crate::model::ApiUser;
use crate::model::{
    AgentEvent, Attachment, BadPayload, ChannelKind, ContextEntry, Conversation, ConversationId,
    ConversationRef, ConversationStatus, ConversationView, DeskKind, EpochMillis, InboundBatch,
    LinkedMessage, Message, MessageId, MessageStatus, Page, PipedriveChannel, ReplyHook, Sender,
    SourceMessage, WorkRequest,
};
use crate::Result;

/// The result of recording something that may already be recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded<T> {
    /// This call recorded it.
    Created,
    /// It was recorded before (a redelivery, a retry, a racing twin); here is what is stored.
    Existing(T),
}

/// Conversations and the per-customer pointer to the open one.
pub trait ConversationStore: Send + Sync {
    /// Records a new conversation unless the customer already has an open one
    /// on that channel, in which case that one is returned. Two racing calls
    /// open one conversation.
    fn open_conversation(
        &self,
        conversation: &Conversation,
    ) -> impl Future<Output = Result<Recorded<Conversation>>> + Send;
    fn get_conversation(
        &self,
        id: &ConversationId,
    ) -> impl Future<Output = Result<Option<Conversation>>> + Send;
    /// The customer's conversation that is not closed, if any.
    fn find_open_conversation(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<Conversation>>> + Send;
    /// [`ConversationStore::find_open_conversation`] as the customer's pointer
    /// tells it, in one read.
    fn find_open(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<ConversationRef>>> + Send;
    /// Moves a conversation to `to`; closing it frees the customer for a new one.
    fn set_conversation_status(
        &self,
        id: &ConversationId,
        to: ConversationStatus,
        now: EpochMillis,
    ) -> impl Future<Output = Result<Conversation>> + Send;
    /// Records the desk's own id for the conversation.
    fn set_desk_conversation_id(
        &self,
        id: &ConversationId,
        desk_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Keeps `c` (and, while it is open, its customer's pointer to it) for
    /// the retention period from now, when less than half of it is left: a
    /// conversation still in use does not expire.
    fn keep_conversation(&self, c: &ConversationRef) -> impl Future<Output = Result<()>> + Send;
    /// The conversations of one desk channel, newest first.
    fn list_conversations(
        &self,
        desk: DeskKind,
        desk_channel: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Conversation>>> + Send;
    /// Records a conversation that has no per-customer pointer (a custom
    /// channel's dialogs: a contact may have several). Twice is a no-op.
    fn create_conversation(&self, c: &Conversation) -> impl Future<Output = Result<()>> + Send;
    /// Records the latest `integration_data` of a custom-channel dialog.
    fn set_integration_data(
        &self,
        id: &ConversationId,
        data: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records a dialog's new title.
    fn set_title(
        &self,
        id: &ConversationId,
        title: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Makes `c` its customer's open conversation on its channel (the latest
    /// custom-channel dialog, for desks that address customers, not dialogs).
    fn point_to(&self, c: &Conversation) -> impl Future<Output = Result<()>> + Send;
    /// Every conversation of a customer on a channel, expired or not.
    fn conversations_of(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<Conversation>>> + Send;
    /// Deletes a conversation, its messages and its customer's pointer to
    /// it; returns how many messages there were.
    fn erase_conversation(&self, c: &Conversation) -> impl Future<Output = Result<usize>> + Send;
}

/// What to record with a status change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusDetail {
    pub delivered_id: Option<String>,
    pub failure_reason: Option<String>,
}

/// The messages of conversations.
pub trait MessageStore: Send + Sync {
    /// Records a message once: a second append of the same id (a redelivered
    /// webhook, even racing the first) returns the stored message instead.
    fn append_message(
        &self,
        message: &Message,
    ) -> impl Future<Output = Result<Recorded<Message>>> + Send;
    fn get_message(&self, id: &MessageId) -> impl Future<Output = Result<Option<Message>>> + Send;
    /// A message and its conversation in one read (what every delivery starts with).
    fn get_message_in(
        &self,
        id: &MessageId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<(Option<Message>, Option<Conversation>)>> + Send;
    /// A conversation's messages in the order they were produced (or newest first).
    fn list_messages(
        &self,
        conversation: &ConversationId,
        limit: u32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> impl Future<Output = Result<Page<Message>>> + Send;
    fn set_message_status(
        &self,
        id: &MessageId,
        status: MessageStatus,
        detail: StatusDetail,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records where a message's attachments are kept (their object keys, once copied).
    fn set_attachments(
        &self,
        id: &MessageId,
        attachments: &[Attachment],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The 24-hour customer↔bot transcript.
pub trait ContextStore: Send + Sync {
    /// Appends an entry; the same (timestamp, source id) again is a no-op.
    fn append_context(&self, entry: &ContextEntry) -> impl Future<Output = Result<()>> + Send;
    /// The customer's newest unexpired entries, at most
    /// [`crate::model::CONTEXT_READ_LIMIT`] bytes of them, oldest first.
    fn list_context(
        &self,
        user_id: &str,
        now: EpochMillis,
    ) -> impl Future<Output = Result<Vec<ContextEntry>>> + Send;
    /// Deletes a customer's context entries; returns how many there were.
    fn erase_context(&self, user_id: &str) -> impl Future<Output = Result<usize>> + Send;
}

/// The state of an idempotency key after a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller owns the key until the lease ends; it must complete or release it.
    Acquired,
    /// Another attempt holds the key and its lease has not ended.
    InProgress,
    /// The side effect already happened; here is the outcome recorded with it.
    Completed(String),
    /// The key was used with a different request.
    Conflict,
}

/// Records for side effects that must happen once, kept at least 7 days.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` with one conditional write. A claim whose lease has ended
    /// (its holder crashed) can be claimed again.
    fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim>> + Send;
    /// Marks the key done and remembers the outcome.
    fn complete(&self, key: &str, outcome: &str) -> impl Future<Output = Result<()>> + Send;
    /// Gives the key up after a failed attempt, so a retry may claim it.
    fn release(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
}

/// The users of the JWT-protected API.
pub trait UserStore: Send + Sync {
    /// Stores a user; refuses to overwrite unless `replace`. Returns whether it was new.
    fn put_user(&self, user: &ApiUser, replace: bool) -> impl Future<Output = Result<bool>> + Send;
    fn get_user(&self, username: &str) -> impl Future<Output = Result<Option<ApiUser>>> + Send;
    /// Returns whether a user was deleted.
    fn delete_user(&self, username: &str) -> impl Future<Output = Result<bool>> + Send;
    /// The failed logins of `username` in the window that holds `now` (seconds).
    fn login_failures(&self, username: &str, now: i64) -> impl Future<Output = Result<u32>> + Send;
    /// Counts a failed login of `username`: the window starts with the first
    /// failure and lasts `window` seconds (the record then expires).
    fn count_login_failure(
        &self,
        username: &str,
        now: i64,
        window: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Forgets `username`'s failed logins (after a successful one).
    fn clear_login_failures(&self, username: &str) -> impl Future<Output = Result<()>> + Send;
}

/// A key from parts that may hold anything: `#` (the separator) and `%` are
/// escaped, so that no part can forge another key.
pub fn key_of(parts: &[&str]) -> String {
    parts.iter().map(|p| p.replace('%', "%25").replace('#', "%23")).collect::<Vec<_>>().join("#")
}

/// Small records kept by kind and id: the channel registries (Pipedrive
/// channels and senders, custom channels), contacts and dialogs'
/// references, and the pointers that find them. `kind` names the record
/// type (`PDCHANNEL`, …).
pub trait RecordStore: Send + Sync {
    fn get_record<T: DeserializeOwned + Send>(
        &self,
        kind: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send;
    fn put_record<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Writes a record unless one with that id exists; whether it wrote.
    fn put_record_if_absent<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn delete_record(&self, kind: &str, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Writes the record unless one is there; returns the one that is.
    fn create_record<T: Serialize + DeserializeOwned + Send + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
    ) -> impl Future<Output = Result<Recorded<T>>> + Send {
        async move {
            if self.put_record_if_absent(kind, id, value).await? {
                return Ok(Recorded::Created);
            }
            let existing = self.get_record(kind, id).await?.ok_or_else(|| {
                crate::Error::permanent("record vanished after a duplicate write", None)
            })?;
            Ok(Recorded::Existing(existing))
        }
    }
}

/// The Pipedrive channels omnibridge provides and the senders Pipedrive
/// may ask about, as records of the table (every record store keeps them).
pub trait PipedriveRecords: RecordStore {
    fn pipedrive_channel(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<PipedriveChannel>>> + Send {
        self.get_record(PIPEDRIVE_CHANNEL, id)
    }

    fn put_pipedrive_channel(
        &self,
        channel: &PipedriveChannel,
    ) -> impl Future<Output = Result<()>> + Send {
        self.put_record(PIPEDRIVE_CHANNEL, &channel.provider_channel_id, channel)
    }

    /// The channel, if it is registered and not deleted.
    fn active_pipedrive_channel(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<PipedriveChannel>> + Send {
        async move {
            match self.pipedrive_channel(id).await? {
                Some(c) if !c.deleted => Ok(c),
                _ => Err(crate::Error::NotFound(format!("Pipedrive channel {id}"))),
            }
        }
    }

    fn put_pipedrive_sender(
        &self,
        channel: &str,
        sender: &Sender,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            let key = format!("{channel}#{}", sender.id);
            self.put_record(PIPEDRIVE_SENDER, &key, sender).await
        }
    }

    /// A sender of the channel: its own side, or a customer it was opened for.
    fn pipedrive_sender(
        &self,
        channel: &PipedriveChannel,
        id: &str,
    ) -> impl Future<Output = Result<Sender>> + Send {
        async move {
            if id == channel.provider_channel_id {
                return Ok(channel.source_user());
            }
            let key = format!("{}#{id}", channel.provider_channel_id);
            let found: Option<Sender> = self.get_record(PIPEDRIVE_SENDER, &key).await?;
            found.ok_or_else(|| crate::Error::NotFound(format!("sender {id}")))
        }
    }
}

impl<S: RecordStore> PipedriveRecords for S {}

const PIPEDRIVE_CHANNEL: &str = "PDCHANNEL";
const PIPEDRIVE_SENDER: &str = "PDSENDER";

/// A stored attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    pub key: String,
    pub size: u64,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Attachment bytes (S3).
pub trait BlobStore: Send + Sync {
    fn put_blob(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A URL anyone holding it can GET until `ttl` passes.
    fn presign_get(&self, key: &str, ttl: Duration) -> impl Future<Output = Result<String>> + Send;
    fn get_blob(&self, key: &str) -> impl Future<Output = Result<StoredBlob>> + Send;
    /// Deletes every object under `prefix`; returns how many there were.
    fn delete_prefix(&self, prefix: &str) -> impl Future<Output = Result<usize>> + Send;
}

/// A fetched file.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Files fetched from the platforms' links (which may expire within
/// minutes), under a policy that keeps the fetch safe.
pub trait Fetch: Send + Sync {
    fn fetch(&self, url: &str) -> impl Future<Output = Result<Fetched>> + Send;
}

/// The two delivery queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueName {
    /// Customer messages on their way to the desk.
    ToDesk,
    /// Agent messages on their way to the customer.
    ToCustomer,
    /// Salesforce's outbound platform events as Event Relay delivers them
    /// (EventBridge → SQS, all in one message group).
    SalesforceEvents,
    /// The same events, one message group per conversation.
    SalesforceConversationEvents,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::ToDesk => "to-desk",
            QueueName::ToCustomer => "to-customer",
            QueueName::SalesforceEvents => "salesforce-events",
            QueueName::SalesforceConversationEvents => "salesforce-conversation-events",
        }
    }
}

/// What a queue message carries: a pointer to a recorded message, or the
/// message itself for the worker to record first. The message group is the
/// conversation (order), the deduplication id the message id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueJob {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    /// The message, when its sender left recording it to the worker (a
    /// webhook then acknowledges after one call fewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<Message>>,
}

impl QueueJob {
    /// A job for a message already recorded.
    pub fn recorded(message: &Message) -> Self {
        QueueJob {
            conversation_id: message.conversation_id.clone(),
            message_id: message.id.clone(),
            record: None,
        }
    }

    /// A job that carries `message` for the worker to record.
    pub fn to_record(message: &Message) -> Self {
        QueueJob { record: Some(Box::new(message.clone())), ..QueueJob::recorded(message) }
    }

    /// The job as a queue message's body.
    pub fn encode(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| crate::Error::permanent("encoding a job failed", Some(Box::new(e))))
    }
}

/// Sends jobs to a FIFO queue.
pub trait Queue: Send + Sync {
    /// Sends `job`, in its conversation's message group, deduplicated by its message.
    fn enqueue(&self, queue: QueueName, job: &QueueJob) -> impl Future<Output = Result<()>> + Send {
        async move { self.send_encoded(queue, job, &job.encode()?).await }
    }
    /// Sends `job` as `body`, its encoding ([`QueueJob::encode`]) made
    /// already (to measure it), grouped and deduplicated as [`Queue::enqueue`] does.
    fn send_encoded(
        &self,
        queue: QueueName,
        job: &QueueJob,
        body: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        self.forward(queue, body, job.conversation_id.as_str(), job.message_id.as_str())
    }
    /// Puts a body already encoded (an event moved from one queue to
    /// another) in message group `group`, deduplicated by `dedup`.
    fn forward(
        &self,
        queue: QueueName,
        body: &str,
        group: &str,
        dedup: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// What the other side said when it took a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The receiver's id for the message, when it gives one.
    pub id: Option<String>,
}

/// Stored attachments (their `key` set), as a desk or channel takes them.
#[async_trait::async_trait]
pub trait Files: Send + Sync {
    /// The file's bytes and type.
    async fn read(&self, key: &str) -> Result<StoredBlob>;
    /// A link the peer can fetch the file from, for the deployment's presign time.
    async fn link(&self, key: &str) -> Result<String>;
    /// The link to give a peer for an attachment: our copy's, else its source's.
    async fn url(&self, a: &Attachment) -> Result<Option<String>> {
        match (&a.key, &a.source_url) {
            (Some(key), _) => self.link(key).await.map(Some),
            (None, url) => Ok(url.clone()),
        }
    }
    /// The message with each attachment's link.
    async fn linked(&self, m: &Message) -> Result<LinkedMessage> {
        let mut links = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            links.push(self.url(a).await?);
        }
        Ok(LinkedMessage { message: m.clone(), links })
    }
}

/// How a desk shows the agent the bot's transcript at handoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// As the conversation's first message, delivered like any other.
    FirstMessage,
    /// As the desk's own first entry ([`Desk::send_transcript`]), which
    /// gives the desk's id of the conversation, then [`Desk::route`].
    Routed,
}

/// A channel's webhook format (Yalo's WhatsApp and Facebook webhooks).
pub trait WebhookFormat: Send + Sync {
    /// Whether `signature` (Meta's `X-Hub-Signature-256`) signs `body` with `secret`.
    fn signed(&self, secret: &[u8], body: &[u8], signature: Option<&str>) -> bool;
    /// The messages a webhook body holds, in the model's words.
    fn read(&self, body: &[u8]) -> std::result::Result<InboundBatch, BadPayload>;
}

/// A desk's webhook format of agent replies (Yeahdesk's).
pub trait ReplyFormat: Send + Sync {
    fn read(&self, body: &[u8]) -> Result<ReplyHook>;
}

/// How a desk's reads of our conversations are answered (Pipedrive's
/// provider endpoints).
pub trait ProviderFormat: Send + Sync {
    fn conversation(
        &self,
        channel: &PipedriveChannel,
        view: &ConversationView,
    ) -> serde_json::Value;
    fn message(&self, message: &LinkedMessage) -> serde_json::Value;
}

/// A desk's event format (Salesforce's platform events): what an event
/// asks for, in the model's words.
pub trait EventFormat: Send + Sync {
    fn read(&self, event: &serde_json::Value) -> Result<AgentEvent>;
}

/// A desk where agents answer (Salesforce, Pipedrive, Yeahdesk): one
/// adapter each, chosen by each conversation's `desk` (`services::desks`).
/// What a desk cannot do has a default: nothing, or a permanent error.
#[async_trait::async_trait]
pub trait Desk: Send + Sync {
    fn kind(&self) -> DeskKind;
    /// The desk channel a new conversation is filed under: `requested` (a
    /// bot's routing) when the desk has several, else its own.
    fn channel(&self, requested: Option<&str>) -> String;
    /// How the agent is shown the transcript at handoff.
    fn handover(&self) -> Handover {
        Handover::FirstMessage
    }
    /// Makes a new conversation known to the desk before anything is
    /// delivered into it.
    async fn open(&self, _conversation: &Conversation) -> Result<()> {
        Ok(())
    }
    /// [`Handover::Routed`] desks: the transcript as the desk's first entry
    /// (`entry_id` stable across retries); returns the desk's id of the
    /// conversation.
    async fn send_transcript(
        &self,
        _conversation: &Conversation,
        _entry_id: &str,
        _text: &str,
        _at: EpochMillis,
    ) -> Result<Option<String>> {
        Err(unsupported(self.kind(), "a transcript entry"))
    }
    /// [`Handover::Routed`] desks: asks for the conversation to be routed to
    /// an agent, the way the desk's settings say for `bot`.
    async fn route(
        &self,
        _bot: &str,
        _desk_conversation_id: &str,
        _attributes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        Ok(())
    }
    /// Delivers a customer message; its attachments are stored in `files`.
    async fn deliver(
        &self,
        conversation: &Conversation,
        message: &Message,
        files: &dyn Files,
    ) -> Result<Receipt>;
    /// Tells the desk that one of its agent's messages did not reach the customer.
    async fn delivery_failed(
        &self,
        _conversation: &Conversation,
        _message: &Message,
        _files: &dyn Files,
    ) -> Result<()> {
        Ok(())
    }
    /// The bot ends the chat: the desk withdraws or ends its side.
    async fn finish(&self, _conversation: &Conversation) -> Result<()> {
        Ok(())
    }
    /// Records a customer's messaging consent.
    async fn consent(&self, _customer: &str, _status: &str) -> Result<()> {
        Err(unsupported(self.kind(), "consent"))
    }
    /// Assigns work the desk asked to have routed.
    async fn assign(&self, _work: &WorkRequest) -> Result<()> {
        Err(unsupported(self.kind(), "work assignment"))
    }
}

fn unsupported(desk: DeskKind, what: &str) -> crate::Error {
    crate::Error::permanent(format!("the {desk} desk does not take {what}"), None)
}

/// A channel where customers write (Yalo WhatsApp/Facebook, a custom
/// source): one adapter each, chosen by each conversation's `channel`
/// (`services::to_customer::Channels`). A message goes out as one piece or
/// more (a file each, on WhatsApp), each sent once: a retry after a partial
/// failure skips the pieces already accepted.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// Whether this adapter sends on `channel`.
    fn serves(&self, channel: ChannelKind) -> bool;
    /// How many pieces `message` goes out as.
    fn pieces(&self, conversation: &Conversation, message: &Message) -> usize {
        let _ = (conversation, message);
        1
    }
    /// Sends piece `piece` of an agent message to the customer; its
    /// attachments are stored in `files`.
    async fn send(
        &self,
        conversation: &Conversation,
        message: &Message,
        piece: usize,
        files: &dyn Files,
    ) -> Result<Receipt>;
    /// Points the platform's webhook for `channel` at `url`.
    async fn register_webhook(&self, channel: ChannelKind, _url: &str) -> Result<()> {
        Err(crate::Error::permanent(
            format!("the {channel} channel has no webhook to register"),
            None,
        ))
    }
    /// Removes the platform's webhook for `channel`.
    async fn remove_webhook(&self, channel: ChannelKind) -> Result<()> {
        Err(crate::Error::permanent(
            format!("the {channel} channel has no webhook to remove"),
            None,
        ))
    }
}

/// An agent's reply as a custom channel's source receives it.
pub struct SourceReply<'a> {
    pub channel_id: &'a str,
    pub conversation: &'a Conversation,
    pub message: &'a Message,
    /// The attachments that have a link, with it.
    pub attachments: Vec<(String, &'a Attachment)>,
}

/// A custom channel's source: agent replies POSTed to its webhook URL,
/// signed with the channel's secret (the message id is the idempotency key).
pub trait SourceWebhook: Send + Sync {
    fn post(
        &self,
        url: &str,
        secret: &str,
        reply: &SourceReply<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The custom-channel message format: what a source posts, in the model's words.
pub trait SourceFormat: Send + Sync {
    fn read(&self, body: &[u8]) -> Result<SourceMessage>;
}

/// The adapters one deployment runs on, named once: services are generic
/// over it and see only the ports. Production's is `compose::Aws`
/// (DynamoDB, S3, SQS, the guarded fetcher); the fast tests' is
/// `adapters::memory::Memory`.
pub trait Ports: Send + Sync + 'static {
    type Store: ConversationStore
        + MessageStore
        + ContextStore
        + IdempotencyStore
        + UserStore
        + RecordStore
        + Clone
        + 'static;
    type Blobs: BlobStore + Clone + 'static;
    type Queue: Queue + Clone + 'static;
    type Fetch: Fetch + Clone + 'static;
    type Webhook: SourceWebhook + Clone + 'static;
}
