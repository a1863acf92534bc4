//! The `to-desk` worker: customer messages from the `to-desk` queue into the
//! conversation's desk.

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::fetch::{FetchPolicy, Fetcher};
use crate::adapters::s3::S3Blobs;
use crate::adapters::salesforce::{File, SalesforceDesk};
use crate::ports::BlobStore;
use crate::bootstrap::{Runtime, Worker as WorkerTrait};
use crate::model::{Conversation, DeskKind, Direction, Message};
use crate::ports::{QueueJob, QueueName, Receipt};
use crate::services::delivery::deliver;
use crate::{Error, Result};

/// The desk adapters of this deployment, chosen by each conversation's desk.
pub struct Desks {
    salesforce: Option<SalesforceDesk>,
    media: Media,
}

/// Attachments on their way to a desk: fetched safely from the platform's
/// link (which may expire within minutes) and kept in our bucket.
pub struct Media {
    fetcher: Fetcher,
    blobs: S3Blobs,
}

impl Media {
    pub fn from_runtime(rt: &Runtime) -> Result<Self> {
        let policy = FetchPolicy::new(rt.settings.attachment_max_bytes, rt.settings.fetch_allow_private.clone());
        Ok(Media { fetcher: Fetcher::new(policy)?, blobs: rt.blobs() })
    }

    /// The bytes of attachment `i` of `m`: our copy if we have one, else
    /// fetched from the platform and copied to the bucket.
    pub async fn bytes(&self, m: &Message, i: usize) -> Result<File> {
        let a = &m.attachments[i];
        let name = a.name.clone().unwrap_or_else(|| format!("attachment-{}", i + 1));
        if let Some(key) = &a.key {
            let b = self.blobs.get_blob(key).await?;
            return Ok(File { name, content_type: b.content_type, bytes: b.bytes });
        }
        let key = format!("{}/{}/{i}", m.conversation_id, m.id);
        let url = a.source_url.as_deref().ok_or_else(|| Error::permanent("an attachment has neither a stored copy nor a URL", None))?;
        let fetched = self.fetcher.fetch(url).await?;
        self.blobs.put_blob(&key, fetched.bytes.clone(), &fetched.content_type).await?;
        Ok(File { name, content_type: fetched.content_type, bytes: fetched.bytes })
    }
}

impl Desks {
    pub async fn from_runtime(rt: &Runtime) -> Result<Self> {
        Ok(Desks { salesforce: rt.salesforce().await?, media: Media::from_runtime(rt)? })
    }

    /// Delivers into the conversation's desk. A desk without an adapter in
    /// this deployment is a permanent failure: the message is marked failed
    /// and dead-lettered, ready for redrive once the desk is configured.
    pub async fn deliver(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        match (conversation.desk, &self.salesforce) {
            (DeskKind::Salesforce, Some(sf)) => deliver_to_salesforce(sf, &self.media, conversation, message).await,
            (desk, _) => Err(Error::permanent(format!("no {desk} desk adapter is configured in this deployment"), None)),
        }
    }
}

/// One interaction per file (Salesforce takes one file per request), the
/// text with the first; entry ids are stable so a retry is recognised.
async fn deliver_to_salesforce(sf: &SalesforceDesk, media: &Media, c: &Conversation, m: &Message) -> Result<Receipt> {
    let from = &c.customer.id;
    for i in 0..m.attachments.len() {
        let file = media.bytes(m, i).await?;
        let id = if i == 0 { m.id.to_string() } else { format!("{}-{i}", m.id) };
        let text = if i == 0 { m.text.as_deref() } else { None };
        sf.send_file(from, &id, text, &file, m.created_at).await?;
    }
    if !m.attachments.is_empty() {
        return Ok(Receipt { id: Some(m.id.to_string()) });
    }
    let text = m.text.as_deref().ok_or_else(|| Error::invalid("message", "has no text"))?;
    sf.send_text(from, m.id.as_str(), text, m.created_at).await?;
    if let Some(status) = sf.consent_keyword(text) {
        sf.consent(&c.customer.id, status).await?;
    }
    Ok(Receipt { id: Some(m.id.to_string()) })
}

pub struct Worker {
    store: DynamoStore,
    desks: Desks,
}

impl Worker {
    pub fn new(store: DynamoStore, desks: Desks) -> Self {
        Worker { store, desks }
    }
}

impl WorkerTrait for Worker {
    type Job = QueueJob;
    const QUEUE: QueueName = QueueName::ToDesk;

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Worker::new(rt.dynamo(), Desks::from_runtime(rt).await?))
    }

    async fn process(&self, job: QueueJob) -> Result<()> {
        deliver(&self.store, &job, Direction::Inbound, |c, m| async move { self.desks.deliver(&c, &m).await }).await
    }
}
