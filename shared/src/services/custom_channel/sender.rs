//! Agent replies to a custom channel's source.

use super::CustomChannels;
use crate::model::{ChannelKind, Conversation, Message};
use crate::ports::{Channel, Files, Ports, Receipt, SourceReply, SourceWebhook};
use crate::{Error, Result};

/// Agent replies to a custom channel's customer, POSTed to its webhook URL, signed.
pub struct CustomSender<P: Ports> {
    registry: CustomChannels<P::Store>,
    webhook: P::Webhook,
}

impl<P: Ports> CustomSender<P> {
    pub fn new(store: P::Store, webhook: P::Webhook) -> Self {
        CustomSender { registry: CustomChannels::new(store), webhook }
    }
}

#[async_trait::async_trait]
impl<P: Ports> Channel for CustomSender<P> {
    fn serves(&self, channel: ChannelKind) -> bool {
        channel == ChannelKind::Custom
    }

    async fn send(
        &self,
        c: &Conversation,
        m: &Message,
        _: usize,
        files: &dyn Files,
    ) -> Result<Receipt> {
        let channel =
            self.registry.channel(&c.bot).await?.filter(|ch| !ch.deleted).ok_or_else(|| {
                Error::permanent(
                    format!("custom channel {} does not exist (or was deleted)", c.bot),
                    None,
                )
            })?;
        let url = channel.webhook_url.as_deref().ok_or_else(|| {
            Error::permanent(format!("custom channel {} has no webhook URL", channel.id), None)
        })?;
        let mut attachments = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            if let Some(link) = files.url(a).await? {
                attachments.push((link, a));
            }
        }
        let reply =
            SourceReply { channel_id: &channel.id, conversation: c, message: m, attachments };
        self.webhook.post(url, &channel.signing_secret, &reply).await?;
        Ok(Receipt { id: Some(m.id.to_string()) })
    }
}
