//! The DynamoDB adapter: one table, every access a GetItem, a Query or a
//! conditional write (never a Scan).
//!
//! The keys of every item: ARCHITECTURE.md, "The table".
//!
//! GSI2 (only conversations carry its keys) finds a customer's conversations
//! to erase them. `expires_at` (epoch seconds) is the table's TTL attribute. DynamoDB
//! deletes expired items lazily, so reads filter them out themselves.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;
use std::time::Duration;

use super::aws_error;
use crate::model::ApiUser;
use crate::model::{
    now_millis, Attachment, ChannelKind, ContextEntry, Conversation, ConversationId,
    ConversationRef, ConversationStatus, DeskKind, EpochMillis, Message, MessageId, MessageStatus,
    Page,
};
use crate::ports::{
    Claim, ContextStore, ConversationStore, IdempotencyStore, MessageStore, RecordStore, Recorded,
    StatusDetail, UserStore,
};
use crate::{Error, Result};

pub use crate::ports::key_of;

type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "GSI1";
pub const GSI2: &str = "GSI2";
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How long the store keeps what it writes (through the table's TTL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Conversations (from their last change, or their last message while
    /// open) and messages (from when they were written).
    pub records: Duration,
    /// Idempotency records: how long a redelivered request is recognised.
    pub idempotency: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            records: Duration::from_secs(90 * 24 * 3600),
            idempotency: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The single-table store.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Retention,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A sort key that orders by time: zero-padded epoch milliseconds, then an id.
fn time_key(ms: EpochMillis, id: &str) -> String {
    format!("{ms:013}#{id}")
}

fn to_item<T: Serialize>(value: &T, keys: &[(&str, String)]) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(value)
        .map_err(|e| Error::permanent("encoding an item for DynamoDB failed", Some(Box::new(e))))?;
    for (k, v) in keys {
        item.insert((*k).to_owned(), s(v.clone()));
    }
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item)
        .map_err(|e| Error::permanent("decoding a DynamoDB item failed", Some(Box::new(e))))
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

/// An item's table key as text, to match items with their keys.
fn item_key(item: &Item) -> (String, String) {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    (text("PK"), text("SK"))
}

/// The table key of an item.
fn key_attributes(mut item: Item) -> Item {
    ["PK", "SK"].into_iter().filter_map(|k| item.remove_entry(k)).collect()
}

/// Cursors are the key of the last item returned, base64url-encoded JSON.
/// They are opaque to callers and checked to belong to the same listing.
fn encode_cursor(item: &Item, names: &[&str]) -> String {
    let map: HashMap<&str, &str> = names
        .iter()
        .filter_map(|n| item.get(*n).and_then(|v| v.as_s().ok()).map(|v| (*n, v.as_str())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&map).unwrap_or_default())
}

fn decode_cursor(cursor: &str, names: &[&str], partition: (&str, &str)) -> Result<Item> {
    let bad = || Error::invalid("cursor", "is not a cursor of this listing");
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if map.len() != names.len()
        || names.iter().any(|n| !map.contains_key(*n))
        || map[partition.0] != partition.1
    {
        return Err(bad());
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    matches!(e.code(), Some("ConditionalCheckFailedException" | "TransactionCanceledException"))
}

/// The item a conditional put found in its way (asked for with
/// `ReturnValuesOnConditionCheckFailure`, which saves reading it again).
fn item_in_the_way(e: &PutItemError) -> Option<Item> {
    match e {
        PutItemError::ConditionalCheckFailedException(c) => c.item.clone(),
        _ => None,
    }
}

const INDEX_KEYS: [&str; 4] = ["PK", "SK", "GSI1PK", "GSI1SK"];

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), retention: Retention::default() }
    }

    pub fn with_retention(self, retention: Retention) -> Self {
        DynamoStore { retention, ..self }
    }

    /// When a conversation or message written now expires (epoch seconds).
    fn record_expiry(&self) -> i64 {
        now_millis() / 1000 + self.retention.records.as_secs() as i64
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB GetItem", e))?;
        Ok(out.item)
    }

    /// One page of a GSI1 partition: asks for one item more than `limit` so
    /// that a cursor is returned only while more items remain.
    async fn query_index<T: DeserializeOwned>(
        &self,
        partition: String,
        limit: u32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<Page<T>> {
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 1000"));
        }
        let start =
            cursor.map(|c| decode_cursor(c, &INDEX_KEYS, ("GSI1PK", &partition))).transpose()?;
        let mut items: Vec<Item> = Vec::with_capacity(limit as usize + 1);
        let mut exclusive_start = start;
        // A Query page can stop short of Limit (1 MB); keep going until we have enough or the partition ends.
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
                .expression_attribute_values(":pk", s(partition.clone()))
                .expression_attribute_values(":now", n(now_millis() / 1000))
                .scan_index_forward(!newest_first)
                .limit((limit + 1 - items.len() as u32) as i32)
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if items.len() <= limit as usize => exclusive_start = Some(k),
                _ => break,
            }
        }
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| encode_cursor(last, &INDEX_KEYS))
        } else {
            None
        };
        // The index holds keys (and the expiry): the items are read by key,
        // eventually consistent as the index is.
        let keys: Vec<Item> = items.into_iter().map(key_attributes).collect();
        let mut found = self.batch_get(&keys, false).await?;
        let items = keys
            .iter()
            .filter_map(|k| found.remove(&item_key(k)))
            .map(from_item)
            .collect::<Result<Vec<T>>>()?;
        Ok(Page { items, next })
    }

    /// The items with `keys`, by [`item_key`]; those not found are left
    /// out. A hundred keys per request, as DynamoDB takes; keys it leaves
    /// unprocessed (throttling) are asked again.
    async fn batch_get(
        &self,
        keys: &[Item],
        consistent: bool,
    ) -> Result<HashMap<(String, String), Item>> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(consistent)
                .build()
                .map_err(|e| {
                    Error::permanent("DynamoDB BatchGetItem request", Some(Box::new(e)))
                })?;
            for attempt in 0u32.. {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| aws_error("DynamoDB BatchGetItem", e))?;
                for item in
                    out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default()
                {
                    found.insert(item_key(&item), item);
                }
                match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    Some(left) if !left.keys.is_empty() => {
                        if attempt >= 5 {
                            return Err(Error::Retryable {
                                what: "DynamoDB left keys of a BatchGetItem unread".into(),
                                retry_after: None,
                                source: None,
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                        pending = left;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Writes the conversation and the customer's pointer together; `false`
    /// when a condition failed (the customer already has an open conversation).
    async fn put_conversation_with_pointer(&self, c: &Conversation) -> Result<bool> {
        let conv_item = self.conversation_item(c)?;
        let pointer = self.pointer_item(c);
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(|e| {
                    Error::permanent("building a DynamoDB write failed", Some(Box::new(e)))
                })
        };
        let res = self
            .client
            .transact_write_items()
            .transact_items(put(pointer)?)
            .transact_items(put(conv_item)?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(aws_error("DynamoDB TransactWriteItems", e)),
        }
    }

    /// The customer's pointer: the conversation it names, with the status and
    /// expiry it carries (`None` in a pointer written before pointers carried them).
    async fn open_pointer(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Option<(ConversationId, Option<ConversationStatus>, Option<i64>)>> {
        let Some(item) = self.get(open_pk(channel, customer_id), "OPEN").await? else {
            return Ok(None);
        };
        let id = item.get("conversation_id").and_then(|v| v.as_s().ok()).ok_or_else(|| {
            Error::permanent("open-conversation pointer without conversation_id", None)
        })?;
        let status = item.get("status").and_then(|v| v.as_s().ok()).and_then(|v| v.parse().ok());
        let expires_at =
            item.get(TTL_ATTRIBUTE).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        Ok(Some((ConversationId::parse(id)?, status, expires_at)))
    }

    /// The customer's pointer to `c` takes its status and the expiry `exp`.
    async fn update_pointer(&self, c: &ConversationRef, exp: i64) -> Result<()> {
        self.update_own_pointer(c, "SET #status = :status, expires_at = :exp", Some(c.status), exp)
            .await
    }

    /// Applies `expression` (`:exp` is `exp`, `#status` and `:status` are
    /// `status`) to the customer's pointer, unless it names another
    /// conversation than `c` by now.
    async fn update_own_pointer(
        &self,
        c: &ConversationRef,
        expression: &str,
        status: Option<ConversationStatus>,
        exp: i64,
    ) -> Result<()> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(open_pk(c.channel, &c.customer_id), "OPEN")))
            .update_expression(expression)
            .condition_expression("conversation_id = :id")
            .expression_attribute_values(":exp", n(exp))
            .expression_attribute_values(":id", s(c.id.as_str()));
        if let Some(status) = status {
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(aws_error("DynamoDB UpdateItem", e)),
        }
    }

    /// Removes the customer's pointer if it still names `id`.
    async fn drop_pointer(
        &self,
        channel: ChannelKind,
        customer_id: &str,
        id: &ConversationId,
    ) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(open_pk(channel, customer_id), "OPEN")))
            .condition_expression("conversation_id = :id")
            .expression_attribute_values(":id", s(id.as_str()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(aws_error("DynamoDB DeleteItem", e)),
        }
    }
}

impl DynamoStore {
    fn conversation_item(&self, c: &Conversation) -> Result<Item> {
        let mut item = to_item(
            c,
            &[
                ("PK", format!("CONV#{}", c.id)),
                ("SK", "CONV".into()),
                ("GSI1PK", format!("DESKCH#{}#{}", c.desk, c.desk_channel)),
                ("GSI1SK", time_key(c.created_at, c.id.as_str())),
                ("GSI2PK", customer_pk(c.channel, &c.customer.id)),
                ("GSI2SK", time_key(c.created_at, c.id.as_str())),
            ],
        )?;
        item.insert(TTL_ATTRIBUTE.into(), n(self.record_expiry()));
        Ok(item)
    }

    fn message_item(&self, message: &Message) -> Result<Item> {
        let mut item = to_item(
            message,
            &[
                ("PK", format!("MSG#{}", message.id)),
                ("SK", "MSG".into()),
                ("GSI1PK", format!("CONVMSG#{}", message.conversation_id)),
                ("GSI1SK", time_key(message.created_at, message.id.as_str())),
            ],
        )?;
        item.insert(TTL_ATTRIBUTE.into(), n(self.record_expiry()));
        Ok(item)
    }

    /// The customer's pointer to their open conversation `c`, with its
    /// status; it expires with it.
    fn pointer_item(&self, c: &Conversation) -> Item {
        let mut pointer = key(open_pk(c.channel, &c.customer.id), "OPEN");
        pointer.insert("conversation_id".into(), s(c.id.as_str()));
        pointer.insert("status".into(), s(c.status.as_str()));
        pointer.insert(TTL_ATTRIBUTE.into(), n(self.record_expiry()));
        pointer
    }

    /// The conversation `id` a customer's pointer names, unless it is gone or
    /// closed; then the pointer (left behind by a close that stopped half
    /// way) is removed.
    async fn pointed_conversation(
        &self,
        channel: ChannelKind,
        customer_id: &str,
        id: &ConversationId,
    ) -> Result<Option<Conversation>> {
        match self.get_conversation(id).await? {
            Some(c) if c.status != ConversationStatus::Closed => Ok(Some(c)),
            _ => {
                self.drop_pointer(channel, customer_id, id).await?;
                Ok(None)
            }
        }
    }
}

/// Whether an item read is past its lifetime (DynamoDB deletes expired
/// items within days, not at once; reads skip them meanwhile).
pub(crate) fn expired(expires_at: Option<i64>) -> bool {
    expires_at.is_some_and(|at| at <= now_millis() / 1000)
}

fn customer_pk(channel: ChannelKind, customer_id: &str) -> String {
    key_of(&["CUST", channel.as_str(), customer_id])
}

fn open_pk(channel: ChannelKind, customer_id: &str) -> String {
    format!("OPEN#{channel}#{customer_id}")
}

impl ConversationStore for DynamoStore {
    /// Records a conversation that has no per-customer pointer (a custom
    /// channel's dialogs: a contact may have several). Twice is a no-op.
    async fn create_conversation(&self, c: &Conversation) -> Result<()> {
        let item = self.conversation_item(c)?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(aws_error("DynamoDB PutItem", e)),
        }
    }

    /// Records the latest `integration_data` of a custom-channel dialog.
    async fn set_integration_data(&self, id: &ConversationId, data: &str) -> Result<()> {
        self.set_conversation_text(id, "integration_data", data).await
    }

    /// Records a dialog's new title.
    async fn set_title(&self, id: &ConversationId, title: &str) -> Result<()> {
        self.set_conversation_text(id, "title", title).await
    }

    /// Makes `c` its customer's open conversation on its channel (the latest
    /// custom-channel dialog, for desks that address customers, not dialogs).
    async fn point_to(&self, c: &Conversation) -> Result<()> {
        let pointer = self.pointer_item(c);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(pointer))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB PutItem", e))?;
        Ok(())
    }

    /// Every conversation of a customer on a channel, expired or not.
    async fn conversations_of(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Vec<Conversation>> {
        let items =
            self.query_all(Some(GSI2), "GSI2PK", customer_pk(channel, customer_id), None).await?;
        items.into_iter().map(from_item).collect()
    }

    /// Deletes a conversation, its messages and its customer's pointer to
    /// it; returns how many messages there were.
    async fn erase_conversation(&self, c: &Conversation) -> Result<usize> {
        let messages = self
            .query_all(Some(GSI1), "GSI1PK", format!("CONVMSG#{}", c.id), Some("PK, SK"))
            .await?;
        let count = messages.len();
        self.delete_keys(messages).await?;
        self.drop_pointer(c.channel, &c.customer.id, &c.id).await?;
        self.delete_keys(vec![key(format!("CONV#{}", c.id), "CONV")]).await?;
        Ok(count)
    }

    async fn open_conversation(
        &self,
        conversation: &Conversation,
    ) -> Result<Recorded<Conversation>> {
        // Two rounds at most: the second after clearing a pointer left behind
        // by a close that stopped half way.
        for _ in 0..2 {
            if self.put_conversation_with_pointer(conversation).await? {
                return Ok(Recorded::Created);
            }
            if let Some(existing) =
                self.find_open_conversation(conversation.channel, &conversation.customer.id).await?
            {
                return Ok(Recorded::Existing(existing));
            }
        }
        Err(Error::Retryable {
            what: "opening the conversation raced with another change; try again".into(),
            retry_after: None,
            source: None,
        })
    }

    async fn get_conversation(&self, id: &ConversationId) -> Result<Option<Conversation>> {
        let c: Option<Conversation> =
            self.get(format!("CONV#{id}"), "CONV").await?.map(from_item).transpose()?;
        Ok(c.filter(|c| !expired(c.expires_at)))
    }

    async fn find_open_conversation(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Option<Conversation>> {
        let Some((id, _, _)) = self.open_pointer(channel, customer_id).await? else {
            return Ok(None);
        };
        self.pointed_conversation(channel, customer_id, &id).await
    }

    async fn find_open(
        &self,
        channel: ChannelKind,
        customer_id: &str,
    ) -> Result<Option<ConversationRef>> {
        match self.open_pointer(channel, customer_id).await? {
            None => Ok(None),
            Some((_, Some(_), expires_at)) if expired(expires_at) => Ok(None),
            Some((id, Some(status), expires_at)) => Ok(Some(ConversationRef {
                id,
                channel,
                customer_id: customer_id.to_owned(),
                status,
                expires_at,
            })),
            Some((id, None, _)) => Ok(self
                .pointed_conversation(channel, customer_id, &id)
                .await?
                .map(|c| c.reference())),
        }
    }

    async fn set_conversation_status(
        &self,
        id: &ConversationId,
        to: ConversationStatus,
        now: EpochMillis,
    ) -> Result<Conversation> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CONV#{id}"), "CONV")))
            .update_expression("SET #status = :to, updated_at = :now, expires_at = :exp")
            .condition_expression("attribute_exists(PK) AND #status <> :closed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", n(self.record_expiry()))
            .expression_attribute_values(":closed", s(ConversationStatus::Closed.as_str()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let conversation: Conversation = match res {
            Ok(out) => from_item(out.attributes.unwrap_or_default())?,
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                return match self.get_conversation(id).await? {
                    None => Err(Error::NotFound(format!("conversation {id}"))),
                    Some(c) if c.status == to => Ok(c),
                    Some(c) => Err(Error::Conflict(format!("conversation {id} is {}", c.status))),
                };
            }
            Err(e) => return Err(aws_error("DynamoDB UpdateItem", e)),
        };
        if to == ConversationStatus::Closed {
            self.drop_pointer(conversation.channel, &conversation.customer.id, id).await?;
        } else {
            self.update_pointer(
                &conversation.reference(),
                conversation.expires_at.unwrap_or_else(|| self.record_expiry()),
            )
            .await?;
        }
        Ok(conversation)
    }

    async fn set_desk_conversation_id(&self, id: &ConversationId, desk_id: &str) -> Result<()> {
        self.set_conversation_text(id, "desk_conversation_id", desk_id).await
    }

    async fn keep_conversation(&self, c: &ConversationRef) -> Result<()> {
        let half = self.retention.records.as_secs() as i64 / 2;
        if c.expires_at.is_some_and(|at| at > now_millis() / 1000 + half) {
            return Ok(());
        }
        let expiry = self.record_expiry();
        let conversation = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CONV#{}", c.id), "CONV")))
            .update_expression("SET expires_at = :exp")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":exp", n(expiry))
            .send()
            .await;
        match conversation {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => return Ok(()),
            Err(e) => return Err(aws_error("DynamoDB UpdateItem", e)),
        }
        if c.status == ConversationStatus::Closed {
            return Ok(());
        }
        // The expiry only: the status `c` carries may be older than the pointer's.
        self.update_own_pointer(c, "SET expires_at = :exp", None, expiry).await
    }

    async fn list_conversations(
        &self,
        desk: DeskKind,
        desk_channel: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Conversation>> {
        self.query_index(format!("DESKCH#{desk}#{desk_channel}"), limit, cursor, true).await
    }
}

impl MessageStore for DynamoStore {
    /// Records where a message's attachments are kept (their object keys, once copied).
    async fn set_attachments(&self, id: &MessageId, attachments: &[Attachment]) -> Result<()> {
        let value = serde_dynamo::to_attribute_value(attachments).map_err(|e| {
            Error::permanent("encoding attachments for DynamoDB failed", Some(Box::new(e)))
        })?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("MSG#{id}"), "MSG")))
            .update_expression("SET attachments = :a")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":a", value)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB UpdateItem", e))?;
        Ok(())
    }

    async fn append_message(&self, message: &Message) -> Result<Recorded<Message>> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(message)?))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(Recorded::Created),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                let existing = match e.as_service_error().and_then(item_in_the_way) {
                    Some(item) => Some(from_item(item)?),
                    None => self.get_message(&message.id).await?,
                };
                let existing = existing.ok_or_else(|| {
                    Error::permanent("message vanished after a duplicate append", None)
                })?;
                Ok(Recorded::Existing(existing))
            }
            Err(e) => Err(aws_error("DynamoDB PutItem", e)),
        }
    }

    async fn get_message(&self, id: &MessageId) -> Result<Option<Message>> {
        let m: Option<Message> =
            self.get(format!("MSG#{id}"), "MSG").await?.map(from_item).transpose()?;
        Ok(m.filter(|m| !expired(m.expires_at)))
    }

    async fn get_message_in(
        &self,
        id: &MessageId,
        conversation: &ConversationId,
    ) -> Result<(Option<Message>, Option<Conversation>)> {
        let wanted = [key(format!("MSG#{id}"), "MSG"), key(format!("CONV#{conversation}"), "CONV")];
        let mut found = self.batch_get(&wanted, true).await?;
        let mut items: Vec<Option<Item>> =
            wanted.iter().map(|k| found.remove(&item_key(k))).collect();
        let conversation: Option<Conversation> =
            items.pop().flatten().map(from_item).transpose()?;
        let message: Option<Message> = items.pop().flatten().map(from_item).transpose()?;
        Ok((
            message.filter(|m| !expired(m.expires_at)),
            conversation.filter(|c| !expired(c.expires_at)),
        ))
    }

    async fn list_messages(
        &self,
        conversation: &ConversationId,
        limit: u32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<Page<Message>> {
        self.query_index(format!("CONVMSG#{conversation}"), limit, cursor, newest_first).await
    }

    async fn set_message_status(
        &self,
        id: &MessageId,
        status: MessageStatus,
        detail: StatusDetail,
    ) -> Result<()> {
        let mut update = String::from("SET #status = :status, updated_at = :now");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("MSG#{id}"), "MSG")))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", n(now_millis()));
        if let Some(d) = detail.delivered_id {
            update.push_str(", delivered_id = :did");
            req = req.expression_attribute_values(":did", s(d));
        }
        if let Some(r) = detail.failure_reason {
            update.push_str(", failure_reason = :why");
            req = req.expression_attribute_values(":why", s(r));
        }
        match req.update_expression(update).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                Err(Error::NotFound(format!("message {id}")))
            }
            Err(e) => Err(aws_error("DynamoDB UpdateItem", e)),
        }
    }
}

fn context_item(entry: &ContextEntry) -> Result<Item> {
    to_item(
        entry,
        &[
            ("PK", format!("CTX#{}", entry.user_id)),
            ("SK", time_key(entry.timestamp, &entry.source_id)),
        ],
    )
}

impl ContextStore for DynamoStore {
    /// Deletes a customer's context entries; returns how many there were.
    async fn erase_context(&self, user_id: &str) -> Result<usize> {
        let entries = self.query_all(None, "PK", format!("CTX#{user_id}"), Some("PK, SK")).await?;
        let count = entries.len();
        self.delete_keys(entries).await?;
        Ok(count)
    }

    async fn append_context(&self, entry: &ContextEntry) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(context_item(entry)?))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB PutItem", e))?;
        Ok(())
    }

    async fn list_context(&self, user_id: &str, now: EpochMillis) -> Result<Vec<ContextEntry>> {
        // Newest first, until the read limit; then oldest first.
        let mut entries = Vec::new();
        let mut size = 0;
        let mut start = None;
        'pages: loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .filter_expression("expires_at > :now")
                .expression_attribute_values(":pk", s(format!("CTX#{user_id}")))
                .expression_attribute_values(":now", n(now / 1000))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB Query", e))?;
            for item in out.items.unwrap_or_default() {
                let entry: ContextEntry = from_item(item)?;
                // DynamoDB's TTL deletes lazily and emulators may not filter: check here too.
                if entry.is_expired(now) {
                    continue;
                }
                size += serde_json::to_vec(&entry).map_or(0, |j| j.len());
                if size > crate::model::CONTEXT_READ_LIMIT {
                    break 'pages;
                }
                entries.push(entry);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        entries.reverse();
        Ok(entries)
    }
}

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

/// When an idempotency record kept for `ttl` expires (epoch seconds).
fn idempotency_ttl_secs(ttl: Duration) -> i64 {
    now_millis() / 1000 + ttl.as_secs() as i64
}

impl DynamoStore {
    /// Like [`IdempotencyStore::claim`] with an explicit retention (tests use short ones).
    pub async fn claim_for(
        &self,
        key_: &str,
        fingerprint: &str,
        lease: Duration,
        keep: Duration,
    ) -> Result<Claim> {
        let now = now_millis();
        let mut item = key(format!("IDEM#{key_}"), "IDEM");
        item.insert("state".into(), s(IN_PROGRESS));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("lease_until".into(), n(now + lease.as_millis() as i64));
        item.insert(TTL_ATTRIBUTE.into(), n(idempotency_ttl_secs(keep)));
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR (#state = :in_progress AND lease_until < :now AND fingerprint = :fp)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":fp", s(fingerprint))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(Claim::Acquired),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                let existing = match e.as_service_error().and_then(item_in_the_way) {
                    Some(item) => Some(item),
                    None => self.get(format!("IDEM#{key_}"), "IDEM").await?,
                };
                let Some(existing) = existing else {
                    return Ok(Claim::InProgress);
                };
                let text = |k: &str| {
                    existing.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
                };
                if text("fingerprint") != fingerprint {
                    Ok(Claim::Conflict)
                } else if text("state") == COMPLETED {
                    Ok(Claim::Completed(text("outcome")))
                } else {
                    Ok(Claim::InProgress)
                }
            }
            Err(e) => Err(aws_error("DynamoDB PutItem", e)),
        }
    }
}

impl IdempotencyStore for DynamoStore {
    async fn claim(&self, key_: &str, fingerprint: &str, lease: Duration) -> Result<Claim> {
        self.claim_for(key_, fingerprint, lease, self.retention.idempotency).await
    }

    async fn complete(&self, key_: &str, outcome: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{key_}"), "IDEM")))
            .update_expression("SET #state = :done, outcome = :outcome REMOVE lease_until")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":outcome", s(outcome))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB UpdateItem", e))?;
        Ok(())
    }

    async fn release(&self, key_: &str) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{key_}"), "IDEM")))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(aws_error("DynamoDB DeleteItem", e)),
        }
    }
}

/// Registrations and other small records kept by id: Pipedrive channels and
/// senders, custom channels. `kind` names the record type (`PDCHANNEL`, …).
impl DynamoStore {
    /// Sets one text attribute of an existing conversation.
    async fn set_conversation_text(
        &self,
        id: &ConversationId,
        attribute: &str,
        value: &str,
    ) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CONV#{id}"), "CONV")))
            .update_expression("SET #a = :v, expires_at = :exp")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", s(value))
            .expression_attribute_values(":exp", n(self.record_expiry()))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB UpdateItem", e))?;
        Ok(())
    }

    /// Every item of one partition of the table or an index, page after page.
    async fn query_all(
        &self,
        index: Option<&str>,
        attribute: &str,
        partition: String,
        projection: Option<&str>,
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", attribute)
                .expression_attribute_values(":p", s(partition.clone()))
                .set_projection_expression(projection.map(str::to_owned))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(items),
            }
        }
    }

    /// Deletes items by key (PK and SK; other attributes are ignored),
    /// 25 to a request, until DynamoDB has processed them all.
    async fn delete_keys(&self, items: Vec<Item>) -> Result<()> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let mut pending: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let k = key_attributes(item);
                DeleteRequest::builder()
                    .set_key(Some(k))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| {
                        Error::permanent("building a DynamoDB delete failed", Some(Box::new(e)))
                    })
            })
            .collect::<Result<_>>()?;
        let mut rounds = 0;
        while !pending.is_empty() {
            let batch: Vec<WriteRequest> = pending.drain(..pending.len().min(25)).collect();
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB BatchWriteItem", e))?;
            let left =
                out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if !left.is_empty() {
                rounds += 1;
                if rounds > 10 {
                    return Err(Error::Retryable {
                        what: "DynamoDB kept deletes unprocessed".into(),
                        retry_after: None,
                        source: None,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100 << rounds.min(5))).await;
                pending.extend(left);
            }
        }
        Ok(())
    }
}

impl UserStore for DynamoStore {
    /// The failed logins of `username` in the window that holds `now` (seconds).
    async fn login_failures(&self, username: &str, now: i64) -> Result<u32> {
        let Some(item) =
            self.get(format!("LOGINFAIL#{}", key_of(&[username])), "LOGINFAIL").await?
        else {
            return Ok(0);
        };
        let number = |k: &str| {
            item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok()).unwrap_or(0)
        };
        Ok(if number(TTL_ATTRIBUTE) > now { number("failures") as u32 } else { 0 })
    }

    /// Counts a failed login of `username`: the window starts with the first
    /// failure and lasts `window` seconds (the record then expires).
    async fn count_login_failure(&self, username: &str, now: i64, window: i64) -> Result<()> {
        let k = key(format!("LOGINFAIL#{}", key_of(&[username])), "LOGINFAIL");
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k.clone()))
            .update_expression("ADD failures :one")
            .condition_expression("#exp > :now")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(()),
            // No window open (none yet, or the last one is over): a new one.
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception) =>
            {
                let mut item = k;
                item.insert("failures".into(), n(1));
                item.insert(TTL_ATTRIBUTE.into(), n(now + window));
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(|e| aws_error("DynamoDB PutItem", e))?;
                Ok(())
            }
            Err(e) => Err(aws_error("DynamoDB UpdateItem", e)),
        }
    }

    /// Forgets `username`'s failed logins (after a successful one).
    async fn clear_login_failures(&self, username: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("LOGINFAIL#{}", key_of(&[username])), "LOGINFAIL")))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB DeleteItem", e))?;
        Ok(())
    }

    async fn put_user(&self, user: &ApiUser, replace: bool) -> Result<bool> {
        let item =
            to_item(user, &[("PK", format!("USER#{}", user.username)), ("SK", "USER".into())])?;
        let mut req = self.client.put_item().table_name(&self.table).set_item(Some(item));
        if !replace {
            req = req.condition_expression("attribute_not_exists(PK)");
        }
        match req.return_values(ReturnValue::AllOld).send().await {
            Ok(out) => Ok(out.attributes.is_none()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                Err(Error::Conflict(format!("user {} exists", user.username)))
            }
            Err(e) => Err(aws_error("DynamoDB PutItem", e)),
        }
    }

    async fn get_user(&self, username: &str) -> Result<Option<ApiUser>> {
        self.get(format!("USER#{username}"), "USER").await?.map(from_item).transpose()
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("USER#{username}"), "USER")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB DeleteItem", e))?;
        Ok(out.attributes.is_some())
    }
}

impl RecordStore for DynamoStore {
    /// Writes a record unless one with that id exists; whether it wrote.
    async fn put_record_if_absent<T: Serialize>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
    ) -> Result<bool> {
        let item = to_item(value, &[("PK", format!("{kind}#{id}")), ("SK", kind.to_owned())])?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(aws_error("DynamoDB PutItem", e)),
        }
    }

    async fn put_record<T: Serialize>(&self, kind: &str, id: &str, value: &T) -> Result<()> {
        let item = to_item(value, &[("PK", format!("{kind}#{id}")), ("SK", kind.to_owned())])?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB PutItem", e))?;
        Ok(())
    }

    async fn delete_record(&self, kind: &str, id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("{kind}#{id}"), kind)))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB DeleteItem", e))?;
        Ok(())
    }

    async fn get_record<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>> {
        self.get(format!("{kind}#{id}"), kind).await?.map(from_item).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_cursor_is_from_another_listing_should_be_refused() {
        let item: Item = INDEX_KEYS.iter().map(|k| (k.to_string(), s(format!("{k}-v")))).collect();
        let c = encode_cursor(&item, &INDEX_KEYS);
        assert!(decode_cursor(&c, &INDEX_KEYS, ("GSI1PK", "GSI1PK-v")).is_ok());
        assert!(decode_cursor(&c, &INDEX_KEYS, ("GSI1PK", "other")).is_err());
        assert!(decode_cursor("not base64!", &INDEX_KEYS, ("GSI1PK", "x")).is_err());
    }

    #[test]
    fn when_times_differ_in_digits_should_still_sort_in_time_order() {
        assert!(time_key(999, "b") < time_key(1_000, "a"));
    }
}
