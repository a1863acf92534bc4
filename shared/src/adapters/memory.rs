//! In-memory adapters for every port, for the fast tests of the services
//! (a use case tested in milliseconds with no network). Only built with the
//! `memory` feature, which no function enables: nothing deployed can run
//! on them. They keep the contracts the DynamoDB, S3 and SQS adapters keep
//! (conditional writes, the open-conversation pointer, leases, expiry,
//! pages with cursors), without their limits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::adapters::dynamodb::{expired, Retention};
use crate::model::ApiUser;
use crate::model::{
    now_millis, Attachment, ChannelKind, ContextEntry, Conversation, ConversationId,
    ConversationRef, ConversationStatus, DeskKind, EpochMillis, Message, MessageId, MessageStatus,
    Page, CONTEXT_READ_LIMIT,
};
use crate::ports::{
    BlobStore, Channel, Claim, ContextStore, ConversationStore, Desk, Fetch, Fetched, Files,
    Handover, IdempotencyStore, MessageStore, Ports, Queue, QueueJob, QueueName, Receipt,
    RecordStore, Recorded, SourceReply, SourceWebhook, StatusDetail, StoredBlob, UserStore,
};
use crate::{Error, Result};

/// The in-memory family of adapters.
pub struct Memory;

impl Ports for Memory {
    type Store = MemoryStore;
    type Blobs = MemoryBlobs;
    type Queue = MemoryQueue;
    type Fetch = MemoryFetch;
    type Webhook = MemoryWebhook;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

/// An idempotency claim as stored.
#[derive(Clone, Debug)]
struct ClaimRecord {
    fingerprint: String,
    completed: Option<String>,
    lease_until: EpochMillis,
}

#[derive(Default)]
struct Tables {
    conversations: HashMap<ConversationId, Conversation>,
    /// The customer's pointer to their open conversation, with its status.
    pointers: HashMap<(ChannelKind, String), (ConversationId, ConversationStatus)>,
    messages: HashMap<MessageId, Message>,
    context: HashMap<String, BTreeMap<(EpochMillis, String), ContextEntry>>,
    claims: HashMap<String, ClaimRecord>,
    users: HashMap<String, ApiUser>,
    login_failures: HashMap<String, (u32, i64)>,
    records: HashMap<(String, String), serde_json::Value>,
}

/// Every store port over maps in memory, shared by its clones.
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
    retention: Retention,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn record_expiry(&self) -> i64 {
        now_secs() + self.retention.records.as_secs() as i64
    }

    /// Every message of every conversation, for tests that look at all.
    pub fn messages(&self) -> Vec<Message> {
        let mut all: Vec<Message> = lock(&self.tables).messages.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        all
    }
}

/// One page of `items` (already in order) from `cursor`, an offset this
/// listing gave.
fn page<T: Clone>(items: &[T], listing: &str, limit: u32, cursor: Option<&str>) -> Result<Page<T>> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .strip_prefix(listing)
            .and_then(|rest| rest.strip_prefix('@'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::invalid("cursor", "is not one this listing gave"))?,
    };
    let end = (start + limit.max(1) as usize).min(items.len());
    let next = (end < items.len()).then(|| format!("{listing}@{end}"));
    Ok(Page { items: items.get(start..end).unwrap_or_default().to_vec(), next })
}

impl ConversationStore for MemoryStore {
    async fn open_conversation(&self, c: &Conversation) -> Result<Recorded<Conversation>> {
        let mut t = lock(&self.tables);
        let customer = (c.channel, c.customer.id.clone());
        if let Some((id, _)) = t.pointers.get(&customer).cloned() {
            match t.conversations.get(&id) {
                Some(open) if open.status != ConversationStatus::Closed => {
                    return Ok(Recorded::Existing(open.clone()));
                }
                // A pointer left behind by a close that stopped half way.
                _ => {
                    t.pointers.remove(&customer);
                }
            }
        }
        let mut stored = c.clone();
        stored.expires_at = Some(self.record_expiry());
        t.pointers.insert(customer, (c.id.clone(), c.status));
        t.conversations.insert(c.id.clone(), stored);
        Ok(Recorded::Created)
    }

    async fn get_conversation(&self, id: &ConversationId) -> Result<Option<Conversation>> {
        Ok(lock(&self.tables).conversations.get(id).filter(|c| !expired(c.expires_at)).cloned())
    }

    async fn find_open_conversation(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Option<Conversation>> {
        let t = lock(&self.tables);
        let Some((id, _)) = t.pointers.get(&(channel, customer_id.to_owned())) else {
            return Ok(None);
        };
        Ok(t.conversations
            .get(id)
            .filter(|c| c.status != ConversationStatus::Closed && !expired(c.expires_at))
            .cloned())
    }

    async fn find_open(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Option<ConversationRef>> {
        Ok(self.find_open_conversation(channel, customer_id).await?.map(|c| c.reference()))
    }

    async fn set_conversation_status(
        &self,
        id: &ConversationId,
        to: ConversationStatus,
        now: EpochMillis,
    ) -> Result<Conversation> {
        let expiry = self.record_expiry();
        let mut t = lock(&self.tables);
        let c = t
            .conversations
            .get_mut(id)
            .ok_or_else(|| Error::NotFound(format!("conversation {id}")))?;
        if c.status == ConversationStatus::Closed {
            return if to == ConversationStatus::Closed {
                Ok(c.clone())
            } else {
                Err(Error::Conflict(format!("conversation {id} is {}", c.status)))
            };
        }
        c.status = to;
        c.updated_at = now;
        c.expires_at = Some(expiry);
        let c = c.clone();
        let customer = (c.channel, c.customer.id.clone());
        if to == ConversationStatus::Closed {
            if t.pointers.get(&customer).is_some_and(|(p, _)| p == id) {
                t.pointers.remove(&customer);
            }
        } else if let Some(pointer) = t.pointers.get_mut(&customer).filter(|(p, _)| p == id) {
            pointer.1 = to;
        }
        Ok(c)
    }

    async fn set_desk_conversation_id(&self, id: &ConversationId, desk_id: &str) -> Result<()> {
        self.update(id, |c| c.desk_conversation_id = Some(desk_id.to_owned()))
    }

    async fn keep_conversation(&self, c: &ConversationRef) -> Result<()> {
        let expiry = self.record_expiry();
        if let Some(stored) = lock(&self.tables).conversations.get_mut(&c.id) {
            stored.expires_at = Some(expiry);
        }
        Ok(())
    }

    async fn list_conversations(
        &self,
        desk: DeskKind,
        desk_channel: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>> {
        let mut found: Vec<Conversation> = lock(&self.tables)
            .conversations
            .values()
            .filter(|c| c.desk == desk && c.desk_channel == desk_channel && !expired(c.expires_at))
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        page(&found, &format!("{desk}#{desk_channel}"), limit, cursor)
    }

    async fn create_conversation(&self, c: &Conversation) -> Result<()> {
        let mut stored = c.clone();
        stored.expires_at = Some(self.record_expiry());
        lock(&self.tables).conversations.entry(c.id.clone()).or_insert(stored);
        Ok(())
    }

    async fn set_integration_data(&self, id: &ConversationId, data: &str) -> Result<()> {
        self.update(id, |c| c.integration_data = Some(data.to_owned()))
    }

    async fn set_title(&self, id: &ConversationId, title: &str) -> Result<()> {
        self.update(id, |c| c.title = Some(title.to_owned()))
    }

    async fn point_to(&self, c: &Conversation) -> Result<()> {
        lock(&self.tables)
            .pointers
            .insert((c.channel, c.customer.id.clone()), (c.id.clone(), c.status));
        Ok(())
    }

    async fn conversations_of(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Vec<Conversation>> {
        let mut found: Vec<Conversation> = lock(&self.tables)
            .conversations
            .values()
            .filter(|c| c.channel == channel && c.customer.id == customer_id)
            .cloned()
            .collect();
        found.sort_by_key(|c| c.created_at);
        Ok(found)
    }

    async fn erase_conversation(&self, c: &Conversation) -> Result<usize> {
        let mut t = lock(&self.tables);
        let before = t.messages.len();
        t.messages.retain(|_, m| m.conversation_id != c.id);
        let count = before - t.messages.len();
        let customer = (c.channel, c.customer.id.clone());
        if t.pointers.get(&customer).is_some_and(|(p, _)| *p == c.id) {
            t.pointers.remove(&customer);
        }
        t.conversations.remove(&c.id);
        Ok(count)
    }
}

impl MemoryStore {
    fn update(&self, id: &ConversationId, change: impl FnOnce(&mut Conversation)) -> Result<()> {
        let expiry = self.record_expiry();
        let mut t = lock(&self.tables);
        let c = t
            .conversations
            .get_mut(id)
            .ok_or_else(|| Error::NotFound(format!("conversation {id}")))?;
        change(c);
        c.expires_at = Some(expiry);
        Ok(())
    }
}

impl MessageStore for MemoryStore {
    async fn append_message(&self, message: &Message) -> Result<Recorded<Message>> {
        let mut t = lock(&self.tables);
        if let Some(existing) = t.messages.get(&message.id) {
            return Ok(Recorded::Existing(existing.clone()));
        }
        let mut stored = message.clone();
        stored.expires_at = Some(self.record_expiry());
        t.messages.insert(message.id.clone(), stored);
        Ok(Recorded::Created)
    }

    async fn get_message(&self, id: &MessageId) -> Result<Option<Message>> {
        Ok(lock(&self.tables).messages.get(id).filter(|m| !expired(m.expires_at)).cloned())
    }

    async fn get_message_in(
        &self,
        id: &MessageId,
        conversation: &ConversationId,
    ) -> Result<(Option<Message>, Option<Conversation>)> {
        Ok((self.get_message(id).await?, self.get_conversation(conversation).await?))
    }

    async fn list_messages(
        &self,
        conversation: &ConversationId,
        limit: u32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<Page<Message>> {
        let mut found: Vec<Message> = self
            .messages()
            .into_iter()
            .filter(|m| &m.conversation_id == conversation && !expired(m.expires_at))
            .collect();
        if newest_first {
            found.reverse();
        }
        page(&found, conversation.as_str(), limit, cursor)
    }

    async fn set_message_status(
        &self,
        id: &MessageId,
        status: MessageStatus,
        detail: StatusDetail,
    ) -> Result<()> {
        let mut t = lock(&self.tables);
        let m = t.messages.get_mut(id).ok_or_else(|| Error::NotFound(format!("message {id}")))?;
        m.status = status;
        if detail.delivered_id.is_some() {
            m.delivered_id = detail.delivered_id;
        }
        if detail.failure_reason.is_some() {
            m.failure_reason = detail.failure_reason;
        }
        Ok(())
    }

    async fn set_attachments(&self, id: &MessageId, attachments: &[Attachment]) -> Result<()> {
        let mut t = lock(&self.tables);
        let m = t.messages.get_mut(id).ok_or_else(|| Error::NotFound(format!("message {id}")))?;
        m.attachments = attachments.to_vec();
        Ok(())
    }
}

impl ContextStore for MemoryStore {
    async fn append_context(&self, entry: &ContextEntry) -> Result<()> {
        lock(&self.tables)
            .context
            .entry(entry.user_id.clone())
            .or_default()
            .insert((entry.timestamp, entry.source_id.clone()), entry.clone());
        Ok(())
    }

    async fn list_context(&self, user_id: &str, now: EpochMillis) -> Result<Vec<ContextEntry>> {
        let t = lock(&self.tables);
        let mut entries = Vec::new();
        let mut size = 0;
        for entry in t.context.get(user_id).into_iter().flat_map(|e| e.values().rev()) {
            if entry.is_expired(now) {
                continue;
            }
            size += serde_json::to_vec(entry).map_or(0, |j| j.len());
            if size > CONTEXT_READ_LIMIT {
                break;
            }
            entries.push(entry.clone());
        }
        entries.reverse();
        Ok(entries)
    }

    async fn erase_context(&self, user_id: &str) -> Result<usize> {
        Ok(lock(&self.tables).context.remove(user_id).map_or(0, |e| e.len()))
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim(&self, key: &str, fingerprint: &str, lease: Duration) -> Result<Claim> {
        let now = now_millis();
        let mut t = lock(&self.tables);
        let fresh = ClaimRecord {
            fingerprint: fingerprint.to_owned(),
            completed: None,
            lease_until: now + lease.as_millis() as i64,
        };
        let Some(existing) = t.claims.get(key).cloned() else {
            t.claims.insert(key.to_owned(), fresh);
            return Ok(Claim::Acquired);
        };
        Ok(match existing.completed {
            _ if existing.fingerprint != fingerprint => Claim::Conflict,
            Some(outcome) => Claim::Completed(outcome),
            None if existing.lease_until < now => {
                t.claims.insert(key.to_owned(), fresh);
                Claim::Acquired
            }
            None => Claim::InProgress,
        })
    }

    async fn complete(&self, key: &str, outcome: &str) -> Result<()> {
        let mut t = lock(&self.tables);
        let claim = t.claims.get_mut(key).ok_or_else(|| Error::NotFound(format!("claim {key}")))?;
        claim.completed = Some(outcome.to_owned());
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        let mut t = lock(&self.tables);
        if t.claims.get(key).is_some_and(|c| c.completed.is_none()) {
            t.claims.remove(key);
        }
        Ok(())
    }
}

impl UserStore for MemoryStore {
    async fn put_user(&self, user: &ApiUser, replace: bool) -> Result<bool> {
        let mut t = lock(&self.tables);
        if !replace && t.users.contains_key(&user.username) {
            return Err(Error::Conflict(format!("user {} exists", user.username)));
        }
        Ok(t.users.insert(user.username.clone(), user.clone()).is_none())
    }

    async fn get_user(&self, username: &str) -> Result<Option<ApiUser>> {
        Ok(lock(&self.tables).users.get(username).cloned())
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        Ok(lock(&self.tables).users.remove(username).is_some())
    }

    async fn login_failures(&self, username: &str, now: i64) -> Result<u32> {
        Ok(lock(&self.tables)
            .login_failures
            .get(username)
            .filter(|(_, until)| *until > now)
            .map_or(0, |(n, _)| *n))
    }

    async fn count_login_failure(&self, username: &str, now: i64, window: i64) -> Result<()> {
        let mut t = lock(&self.tables);
        let entry = t.login_failures.entry(username.to_owned()).or_insert((0, 0));
        if entry.1 > now {
            entry.0 += 1;
        } else {
            *entry = (1, now + window);
        }
        Ok(())
    }

    async fn clear_login_failures(&self, username: &str) -> Result<()> {
        lock(&self.tables).login_failures.remove(username);
        Ok(())
    }
}

fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::permanent("encoding a record failed", Some(Box::new(e))))
}

impl RecordStore for MemoryStore {
    async fn get_record<T: DeserializeOwned + Send>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>> {
        let value = lock(&self.tables).records.get(&(kind.to_owned(), id.to_owned())).cloned();
        value
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::permanent("a stored record could not be read", Some(Box::new(e))))
    }

    async fn put_record<T: Serialize + Sync>(&self, kind: &str, id: &str, value: &T) -> Result<()> {
        let value = encode(value)?;
        lock(&self.tables).records.insert((kind.to_owned(), id.to_owned()), value);
        Ok(())
    }

    async fn put_record_if_absent<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
    ) -> Result<bool> {
        let value = encode(value)?;
        let mut t = lock(&self.tables);
        let key = (kind.to_owned(), id.to_owned());
        if t.records.contains_key(&key) {
            return Ok(false);
        }
        t.records.insert(key, value);
        Ok(true)
    }

    async fn delete_record(&self, kind: &str, id: &str) -> Result<()> {
        lock(&self.tables).records.remove(&(kind.to_owned(), id.to_owned()));
        Ok(())
    }
}

/// Files by key.
#[derive(Clone, Default)]
pub struct MemoryBlobs {
    blobs: Arc<Mutex<BTreeMap<String, StoredBlob>>>,
}

impl BlobStore for MemoryBlobs {
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        let blob = StoredBlob {
            key: key.to_owned(),
            size: bytes.len() as u64,
            content_type: content_type.to_owned(),
            bytes,
        };
        lock(&self.blobs).insert(key.to_owned(), blob);
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        Ok(format!("memory://blobs/{key}?expires-in={}", ttl.as_secs()))
    }

    async fn get_blob(&self, key: &str) -> Result<StoredBlob> {
        lock(&self.blobs).get(key).cloned().ok_or_else(|| Error::NotFound(format!("object {key}")))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let mut blobs = lock(&self.blobs);
        let before = blobs.len();
        blobs.retain(|k, _| !k.starts_with(prefix));
        Ok(before - blobs.len())
    }
}

/// FIFO queues: jobs in order, a deduplication id taken once (SQS forgets
/// one after five minutes; this never does).
#[derive(Clone, Default)]
pub struct MemoryQueue {
    queued: Arc<Mutex<HashMap<QueueName, Vec<String>>>>,
    seen: Arc<Mutex<HashSet<(QueueName, String)>>>,
}

impl MemoryQueue {
    /// Takes every body queued on `queue`, in order.
    pub fn take(&self, queue: QueueName) -> Vec<String> {
        lock(&self.queued).remove(&queue).unwrap_or_default()
    }

    /// Takes every job queued on `queue`, in order.
    pub fn take_jobs(&self, queue: QueueName) -> Vec<QueueJob> {
        self.take(queue).iter().filter_map(|b| serde_json::from_str(b).ok()).collect()
    }

    fn put(&self, queue: QueueName, body: String, dedup: &str) {
        if lock(&self.seen).insert((queue, dedup.to_owned())) {
            lock(&self.queued).entry(queue).or_default().push(body);
        }
    }
}

impl Queue for MemoryQueue {
    async fn forward(&self, queue: QueueName, body: &str, _group: &str, dedup: &str) -> Result<()> {
        self.put(queue, body.to_owned(), dedup);
        Ok(())
    }
}

/// Files by URL, as the test put them.
#[derive(Clone, Default)]
pub struct MemoryFetch {
    files: Arc<Mutex<HashMap<String, Fetched>>>,
}

impl MemoryFetch {
    pub fn serve(&self, url: &str, content_type: &str, bytes: &[u8]) {
        let file = Fetched { bytes: bytes.to_vec(), content_type: content_type.to_owned() };
        lock(&self.files).insert(url.to_owned(), file);
    }
}

impl Fetch for MemoryFetch {
    async fn fetch(&self, url: &str) -> Result<Fetched> {
        lock(&self.files)
            .get(url)
            .cloned()
            .ok_or_else(|| Error::permanent(format!("media not fetched: nothing at {url}"), None))
    }
}

/// A reply webhook as it was posted.
#[derive(Clone, Debug)]
pub struct Posted {
    pub url: String,
    pub body: Vec<u8>,
}

/// Reply webhooks, kept in order.
#[derive(Clone, Default)]
pub struct MemoryWebhook {
    posted: Arc<Mutex<Vec<Posted>>>,
}

impl MemoryWebhook {
    /// Every webhook posted so far, in order.
    pub fn posted(&self) -> Vec<Posted> {
        lock(&self.posted).clone()
    }
}

impl SourceWebhook for MemoryWebhook {
    async fn post(&self, url: &str, _secret: &str, reply: &SourceReply<'_>) -> Result<()> {
        let body = crate::adapters::custom_channel::reply_body(reply)?;
        lock(&self.posted).push(Posted { url: url.to_owned(), body });
        Ok(())
    }
}

/// What a [`MemoryDesk`] was asked to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeskCall {
    Open(ConversationId),
    Transcript {
        entry_id: String,
        text: String,
    },
    Route {
        bot: String,
        desk_conversation_id: String,
    },
    /// A delivered message: its id, text and each attachment's bytes.
    Deliver {
        message: MessageId,
        text: Option<String>,
        files: Vec<Vec<u8>>,
    },
    DeliveryFailed(MessageId),
    Finish(ConversationId),
}

/// A desk that records what it is asked, for the services' tests.
#[derive(Clone)]
pub struct MemoryDesk {
    kind: DeskKind,
    handover: Handover,
    calls: Arc<Mutex<Vec<DeskCall>>>,
}

impl MemoryDesk {
    pub fn new(kind: DeskKind, handover: Handover) -> Self {
        MemoryDesk { kind, handover, calls: Arc::default() }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<DeskCall> {
        lock(&self.calls).clone()
    }

    fn record(&self, call: DeskCall) {
        lock(&self.calls).push(call);
    }
}

#[async_trait::async_trait]
impl Desk for MemoryDesk {
    fn kind(&self) -> DeskKind {
        self.kind
    }

    fn channel(&self, requested: Option<&str>) -> String {
        requested.unwrap_or("memory-channel").to_owned()
    }

    fn handover(&self) -> Handover {
        self.handover
    }

    async fn open(&self, c: &Conversation) -> Result<()> {
        self.record(DeskCall::Open(c.id.clone()));
        Ok(())
    }

    async fn send_transcript(
        &self,
        c: &Conversation,
        entry_id: &str,
        text: &str,
        _at: EpochMillis,
    ) -> Result<Option<String>> {
        self.record(DeskCall::Transcript { entry_id: entry_id.to_owned(), text: text.to_owned() });
        Ok(Some(format!("desk-{}", c.id)))
    }

    async fn route(
        &self,
        bot: &str,
        desk_conversation_id: &str,
        _attributes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let desk_conversation_id = desk_conversation_id.to_owned();
        self.record(DeskCall::Route { bot: bot.to_owned(), desk_conversation_id });
        Ok(())
    }

    async fn deliver(&self, _c: &Conversation, m: &Message, files: &dyn Files) -> Result<Receipt> {
        let mut bytes = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            bytes.push(files.read(a.key.as_deref().unwrap_or_default()).await?.bytes);
        }
        let call = DeskCall::Deliver { message: m.id.clone(), text: m.text.clone(), files: bytes };
        self.record(call);
        Ok(Receipt { id: Some(format!("desk-{}", m.id)) })
    }

    async fn delivery_failed(&self, _c: &Conversation, m: &Message, _: &dyn Files) -> Result<()> {
        self.record(DeskCall::DeliveryFailed(m.id.clone()));
        Ok(())
    }

    async fn finish(&self, c: &Conversation) -> Result<()> {
        self.record(DeskCall::Finish(c.id.clone()));
        Ok(())
    }
}

/// A channel that records each piece it sends, in order, and refuses the
/// pieces it is told to refuse once (a peer's passing failure).
#[derive(Clone, Default)]
pub struct MemoryChannel {
    sent: Arc<Mutex<Vec<(MessageId, usize)>>>,
    fail_once: Arc<Mutex<HashSet<usize>>>,
}

impl MemoryChannel {
    /// Every piece sent so far: the message and the piece's index.
    pub fn sent(&self) -> Vec<(MessageId, usize)> {
        lock(&self.sent).clone()
    }

    /// The next send of piece `piece` fails with a retryable error.
    pub fn fail_once(&self, piece: usize) {
        lock(&self.fail_once).insert(piece);
    }
}

#[async_trait::async_trait]
impl Channel for MemoryChannel {
    fn serves(&self, channel: ChannelKind) -> bool {
        channel == ChannelKind::Whatsapp
    }

    /// The text, then each file.
    fn pieces(&self, _c: &Conversation, m: &Message) -> usize {
        usize::from(m.text.is_some()) + m.attachments.len()
    }

    async fn send(
        &self,
        _c: &Conversation,
        m: &Message,
        piece: usize,
        _: &dyn Files,
    ) -> Result<Receipt> {
        if lock(&self.fail_once).remove(&piece) {
            return Err(Error::retryable("the channel is unavailable", "503"));
        }
        lock(&self.sent).push((m.id.clone(), piece));
        Ok(Receipt { id: Some(format!("{}-{piece}", m.id)) })
    }
}
