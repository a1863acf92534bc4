//! Pipedrive Messaging: omnibridge is the provider of Pipedrive channels.
//! Pipedrive reads conversations, messages, senders and templates from
//! omnibridge, and posts its agents' replies to it (customer messages go
//! the other way through `adapters::pipedrive::PipedriveDesk`).

use sha2::{Digest, Sha256};

use crate::model::{
    Attachment, Conversation, ConversationId, ConversationStatus, ConversationView, DeskKind,
    Direction, EpochMillis, LinkedMessage, Message, MessageId, PipedriveChannel, Sender,
};
use crate::ports::{
    BlobStore, ConversationStore, Files, MessageStore, PipedriveRecords, Ports, QueueName,
};
use crate::services::delivery::record_and_queue;
use crate::services::media::StoredFiles;
use crate::{Error, Result};

/// The largest page the provider endpoints serve.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 30;

/// How long the same post from Pipedrive counts as a retry rather than a new message.
pub const RETRY_WINDOW_MS: EpochMillis = 120_000;

/// A message an agent posted (postMessage).
#[derive(Clone, Debug, Default)]
pub struct Posted {
    pub message: String,
    pub sender_id: String,
    pub conversation_id: String,
    pub files: Vec<PostedFile>,
}

#[derive(Clone, Debug)]
pub struct PostedFile {
    pub name: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the provider endpoints serve, from DynamoDB and S3.
pub struct Provider<P: Ports> {
    store: P::Store,
    files: StoredFiles<P::Blobs>,
    queue: P::Queue,
    max_file_bytes: u64,
}

impl<P: Ports> Provider<P> {
    pub fn new(
        store: P::Store,
        files: StoredFiles<P::Blobs>,
        queue: P::Queue,
        max_file_bytes: u64,
    ) -> Self {
        Provider { store, files, queue, max_file_bytes }
    }

    /// The registered channel `id`, deleted or not.
    pub async fn channel(&self, id: &str) -> Result<Option<PipedriveChannel>> {
        self.store.pipedrive_channel(id).await
    }

    /// The channel, if it is registered and not deleted.
    pub async fn active_channel(&self, id: &str) -> Result<PipedriveChannel> {
        self.store.active_pipedrive_channel(id).await
    }

    /// getSenderById: the channel's own side, or a customer of it.
    pub async fn sender(&self, channel: &PipedriveChannel, id: &str) -> Result<Sender> {
        self.store.pipedrive_sender(channel, id).await
    }

    /// The conversation with a page of its messages, newest first, each
    /// attachment with a fresh link.
    async fn view(
        &self,
        c: Conversation,
        limit: u32,
        after: Option<&str>,
    ) -> Result<ConversationView> {
        let page = self.store.list_messages(&c.id, limit, after, true).await?;
        let mut messages = Vec::with_capacity(page.items.len());
        for m in &page.items {
            messages.push(self.files.linked(m).await?);
        }
        Ok(ConversationView { conversation: c, messages, next: page.next })
    }

    /// getConversations: newest conversation first, each with its latest
    /// messages (newest first); the cursor while more conversations remain.
    pub async fn conversations(
        &self,
        channel: &PipedriveChannel,
        conversations_limit: u32,
        messages_limit: u32,
        after: Option<&str>,
    ) -> Result<(Vec<ConversationView>, Option<String>)> {
        let page = self
            .store
            .list_conversations(
                DeskKind::Pipedrive,
                &channel.provider_channel_id,
                conversations_limit,
                after,
            )
            .await?;
        let convs = futures::future::try_join_all(
            page.items.into_iter().map(|c| self.view(c, messages_limit, None)),
        )
        .await?;
        Ok((convs, page.next))
    }

    /// The channel's conversation `id`, or not found.
    async fn conversation_of(&self, channel: &PipedriveChannel, id: &str) -> Result<Conversation> {
        let not_found = || Error::NotFound(format!("conversation {id}"));
        let id = ConversationId::parse(id).map_err(|_| not_found())?;
        match self.store.get_conversation(&id).await? {
            Some(c)
                if c.desk == DeskKind::Pipedrive
                    && c.desk_channel == channel.provider_channel_id =>
            {
                Ok(c)
            }
            _ => Err(not_found()),
        }
    }

    /// getConversationById: the conversation and a page of its messages, newest first.
    pub async fn conversation(
        &self,
        channel: &PipedriveChannel,
        id: &str,
        messages_limit: u32,
        after: Option<&str>,
    ) -> Result<ConversationView> {
        let c = self.conversation_of(channel, id).await?;
        self.view(c, messages_limit, after).await
    }

    /// getMessageById: the message with fresh attachment links.
    pub async fn message(&self, channel: &PipedriveChannel, id: &str) -> Result<LinkedMessage> {
        let not_found = || Error::NotFound(format!("message {id}"));
        let mid = MessageId::parse(id).map_err(|_| not_found())?;
        let m = self.store.get_message(&mid).await?.ok_or_else(not_found)?;
        self.conversation_of(channel, m.conversation_id.as_str()).await.map_err(|_| not_found())?;
        self.files.linked(&m).await
    }

    /// deleteChannelById: the channel is unregistered; its conversations stop flowing to Pipedrive.
    pub async fn delete_channel(&self, mut channel: PipedriveChannel) -> Result<()> {
        channel.deleted = true;
        self.store.put_pipedrive_channel(&channel).await
    }

    /// postMessage: records the agent's message (files to our bucket) and
    /// queues it for the customer. The same post again within
    /// [`RETRY_WINDOW_MS`] (Pipedrive retrying) returns the first one's id.
    pub async fn post(
        &self,
        channel: &PipedriveChannel,
        p: Posted,
        now: EpochMillis,
    ) -> Result<MessageId> {
        if p.conversation_id.trim().is_empty() {
            return Err(Error::invalid("conversationId", "is required"));
        }
        if p.sender_id.trim().is_empty() {
            return Err(Error::invalid("senderId", "is required"));
        }
        let c = self.conversation_of(channel, &p.conversation_id).await?;
        if let Some(f) = p.files.iter().find(|f| f.bytes.len() as u64 > self.max_file_bytes) {
            return Err(Error::invalid(
                "files",
                format!(
                    "{} is larger than {} bytes",
                    f.name.as_deref().unwrap_or("a file"),
                    self.max_file_bytes
                ),
            ));
        }
        let fingerprint = post_fingerprint(&channel.provider_channel_id, &p);
        let bucket = now / RETRY_WINDOW_MS;
        for b in [bucket, bucket - 1] {
            let id = MessageId::from_source("pipedrive", &format!("{fingerprint}:{b}"))?;
            if let Some(m) = self.store.get_message(&id).await? {
                if now - m.created_at <= RETRY_WINDOW_MS {
                    tracing::info!(message_id = %m.id, "Pipedrive posted the same message again; not sending twice");
                    return Ok(m.id);
                }
            }
        }
        let source_id = format!("{fingerprint}:{bucket}");
        let id = MessageId::from_source("pipedrive", &source_id)?;
        let mut attachments = Vec::with_capacity(p.files.len());
        for (i, f) in p.files.into_iter().enumerate() {
            let mut a = Attachment::new(&f.content_type)
                .or_else(|_| Attachment::new("application/octet-stream"))?;
            let key = format!("{}/{id}/{i}", c.id);
            a.name = f.name;
            a.size = Some(f.bytes.len() as u64);
            self.files.blobs.put_blob(&key, f.bytes, &a.content_type).await?;
            a.key = Some(key);
            attachments.push(a);
        }
        let text = Some(p.message).filter(|t| !t.trim().is_empty());
        let message = Message::received(
            c.id.clone(),
            Direction::Outbound,
            DeskKind::Pipedrive,
            &source_id,
            &p.sender_id,
            text,
            attachments,
            now,
        )?;
        record_and_queue(&self.store, &self.queue, QueueName::ToCustomer, &c.reference(), &message)
            .await?;
        if c.status == ConversationStatus::Queued {
            // The first agent answer: the conversation is with an agent now.
            match self.store.set_conversation_status(&c.id, ConversationStatus::Active, now).await {
                Ok(_) | Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(message.id)
    }
}

/// What makes two posts the same post: channel, conversation, sender, text and file contents.
fn post_fingerprint(channel: &str, p: &Posted) -> String {
    let mut h = Sha256::new();
    for part in [channel, &p.conversation_id, &p.sender_id, &p.message] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    for f in &p.files {
        h.update(Sha256::digest(&f.bytes));
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_posts_differ_in_any_part_should_have_different_fingerprints() {
        let p = Posted {
            message: "hola".into(),
            sender_id: "s".into(),
            conversation_id: "c".into(),
            files: vec![],
        };
        let a = post_fingerprint("ch", &p);
        assert_eq!(a, post_fingerprint("ch", &p.clone()));
        let mut q = p.clone();
        q.message = "hola!".into();
        assert_ne!(a, post_fingerprint("ch", &q));
        let mut r = p.clone();
        r.files.push(PostedFile {
            name: None,
            content_type: "text/plain".into(),
            bytes: b"x".to_vec(),
        });
        assert_ne!(a, post_fingerprint("ch", &r));
        // Length prefixes: moving a character between fields changes the fingerprint.
        let s = Posted {
            message: "ahola".into(),
            sender_id: "".into(),
            conversation_id: "c".into(),
            files: vec![],
        };
        let t = Posted {
            message: "hola".into(),
            sender_id: "a".into(),
            conversation_id: "c".into(),
            files: vec![],
        };
        assert_ne!(post_fingerprint("ch", &s), post_fingerprint("ch", &t));
    }
}
