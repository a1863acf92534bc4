//! Agent messages from the `to-customer` queue to the customer's channel.

use std::time::Duration;

use crate::adapters::yalo::{Outgoing, YaloClient};
use crate::model::{ChannelKind, Conversation, Direction, Message, MessageStatus};
use crate::ports::{BlobStore, ConversationStore, MessageStore, Ports, QueueJob, Receipt};
use crate::services::custom_channel::CustomSender;
use crate::services::delivery::{deliver, Delivered};
use crate::services::desks::Desks;
use crate::services::once::once;
use crate::{Error, Result};

/// The channel adapters of this deployment, chosen by each conversation's channel.
pub struct Channels<P: Ports> {
    pub yalo: Option<YaloClient>,
    pub custom: CustomSender<P>,
    pub blobs: P::Blobs,
    pub presign_ttl: Duration,
    pub sends: P::Store,
}

/// How long one attempt may hold a send before another may take over.
const SEND_LEASE: Duration = Duration::from_secs(60);

impl<P: Ports> Channels<P> {
    /// The message as the pieces a channel sends: each file by URL (the first
    /// with the text as its caption on WhatsApp), or the text alone.
    async fn parts(&self, channel: ChannelKind, message: &Message) -> Result<Vec<Outgoing>> {
        let mut files = Vec::new();
        for a in &message.attachments {
            let url = match (&a.key, &a.source_url) {
                (Some(key), _) => self.blobs.presign_get(key, self.presign_ttl).await?,
                (None, Some(url)) => url.clone(),
                (None, None) => {
                    return Err(Error::permanent(
                        "an attachment has neither a stored copy nor a URL",
                        None,
                    ))
                }
            };
            files.push((a.content_type.clone(), url));
        }
        let text = message.text.clone();
        let mut parts = Vec::new();
        match (channel, files.is_empty()) {
            (ChannelKind::Whatsapp, false) => {
                for (i, (content_type, url)) in files.into_iter().enumerate() {
                    let caption = if i == 0 { text.clone() } else { None };
                    parts.push(Outgoing::Media { content_type, url, caption });
                }
            }
            _ => {
                parts.extend(text.map(Outgoing::Text));
                parts.extend(files.into_iter().map(|(content_type, url)| Outgoing::Media {
                    content_type,
                    url,
                    caption: None,
                }));
            }
        }
        Ok(parts)
    }

    /// Sends to the customer's channel. Each piece is sent once: a retry after
    /// a partial failure skips the pieces already accepted.
    pub async fn send(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        let channel = conversation.channel;
        let yalo = match channel {
            ChannelKind::Whatsapp | ChannelKind::Facebook => self
                .yalo
                .as_ref()
                .ok_or_else(|| Error::permanent("no Yalo adapter is configured (OMNIBRIDGE_YALO_API_URL, OMNIBRIDGE_YALO_TOKEN)", None))?,
            ChannelKind::Custom => return self.custom.send(conversation, message).await,
        };
        let mut first: Option<String> = None;
        for (i, part) in self.parts(channel, message).await?.iter().enumerate() {
            let key = format!("yalo-send:{}:{i}", message.id);
            let id = once(&self.sends, &key, message.id.as_str(), SEND_LEASE, || async {
                let receipt = yalo
                    .send(channel, &conversation.customer.id, &format!("{}-{i}", message.id), part)
                    .await?;
                Ok(receipt.id.unwrap_or_default())
            })
            .await?;
            first.get_or_insert(id);
        }
        Ok(Receipt { id: first.filter(|id| !id.is_empty()) })
    }
}

pub struct ToCustomer<P: Ports> {
    store: P::Store,
    channels: Channels<P>,
    desks: Desks<P>,
}

impl<P: Ports> ToCustomer<P> {
    pub fn new(store: P::Store, channels: Channels<P>, desks: Desks<P>) -> Self {
        ToCustomer { store, channels, desks }
    }

    /// Tells the desk that one of its agent's messages did not reach the
    /// customer, once per message.
    async fn report_if_failed(&self, job: &QueueJob) -> Result<()> {
        let Some(m) = self.store.get_message(&job.message_id).await? else { return Ok(()) };
        if m.status != MessageStatus::Failed {
            return Ok(());
        }
        let Some(c) = self.store.get_conversation(&job.conversation_id).await? else {
            return Ok(());
        };
        let key = format!("delivery-failed:{}", m.id);
        once(&self.store, &key, m.id.as_str(), SEND_LEASE, || async {
            self.desks.delivery_failed(&c, &m).await?;
            Ok("reported".to_owned())
        })
        .await
        .map(|_| ())
    }

    /// Sends one job's message; `last` when the queue will not bring it again.
    pub async fn handle(&self, job: QueueJob, last: bool) -> Result<()> {
        let outcome =
            deliver(&self.store, &job, Direction::Outbound, last, |c, mut m| async move {
                // The desk's links may expire before the customer opens them: send our copies.
                m.attachments = self.desks.media.store_all(&m).await?;
                self.channels.send(&c, &m).await
            })
            .await;
        match outcome {
            Ok(Delivered::Sent | Delivered::Before(_)) => Ok(()),
            Err(e) if e.is_retryable() => Err(e),
            // Failed now, or before (a redelivery, so a lost report is made again).
            Err(e) => {
                self.report_if_failed(&job).await?;
                Err(e)
            }
        }
    }
}
