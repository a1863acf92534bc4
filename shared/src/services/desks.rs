//! The desks of a deployment (Salesforce, Pipedrive, Yeahdesk) behind one
//! dispatch by each conversation's desk.

use crate::adapters::salesforce::{File, SalesforceDesk};
use crate::model::{Conversation, DeskKind, Message, MessageSource};
use crate::ports::{BlobStore, Ports, Receipt};
use crate::services::media::Media;
use crate::services::once::once;
use crate::services::pipedrive::PipedriveDesk;
use crate::services::yeahdesk::YeahdeskDesk;
use crate::{Error, Result};

/// The desk adapters of this deployment, chosen by each conversation's desk.
pub struct Desks<P: Ports> {
    pub salesforce: Option<SalesforceDesk>,
    pub pipedrive: Option<PipedriveDesk<P>>,
    pub yeahdesk: Option<YeahdeskDesk<P>>,
    pub media: Media<P>,
}

fn not_configured(desk: DeskKind) -> Error {
    Error::permanent(format!("no {desk} desk adapter is configured in this deployment"), None)
}

impl<P: Ports> Desks<P> {
    pub fn salesforce(&self) -> Result<&SalesforceDesk> {
        self.salesforce.as_ref().ok_or_else(|| not_configured(DeskKind::Salesforce))
    }

    pub fn pipedrive(&self) -> Result<&PipedriveDesk<P>> {
        self.pipedrive.as_ref().ok_or_else(|| not_configured(DeskKind::Pipedrive))
    }

    pub fn yeahdesk(&self) -> Result<&YeahdeskDesk<P>> {
        self.yeahdesk.as_ref().ok_or_else(|| not_configured(DeskKind::Yeahdesk))
    }

    /// Delivers a customer message into the conversation's desk. A desk
    /// without an adapter in this deployment is a permanent failure: the
    /// message is marked failed and dead-lettered, ready for redrive once
    /// the desk is configured.
    ///
    /// Each message is sent under a run-once claim: two workers holding the
    /// same message (a redelivery racing a slow first attempt) never both
    /// send it, which matters for desks that take the same message twice.
    pub async fn deliver(&self, conversation: &Conversation, message: &Message) -> Result<Receipt> {
        let key = format!("desk-send:{}", message.id);
        let id = once(&self.media.store, &key, message.id.as_str(), SEND_LEASE, || async {
            let receipt = match conversation.desk {
                DeskKind::Salesforce => {
                    deliver_to_salesforce(self.salesforce()?, &self.media, conversation, message)
                        .await?
                }
                DeskKind::Pipedrive => {
                    self.pipedrive()?.deliver(&self.media, conversation, message).await?
                }
                DeskKind::Yeahdesk => {
                    self.yeahdesk()?.deliver(&self.media, conversation, message).await?
                }
            };
            Ok(receipt.id.unwrap_or_default())
        })
        .await?;
        Ok(Receipt { id: Some(id).filter(|id| !id.is_empty()) })
    }

    /// Tells the desk that one of its agent's messages did not reach the
    /// customer: MessageDeliveryFailed for Salesforce, status `failed` for
    /// Pipedrive. Yeahdesk's custom channel has no way to be told.
    pub async fn delivery_failed(
        &self,
        conversation: &Conversation,
        message: &Message,
    ) -> Result<()> {
        match conversation.desk {
            DeskKind::Salesforce if message.source == MessageSource::Desk(DeskKind::Salesforce) => {
                self.salesforce()?
                    .delivery_failed(
                        &conversation.customer.id,
                        &message.source_id,
                        DELIVERY_FAILED_CODE,
                    )
                    .await
            }
            DeskKind::Pipedrive if message.source == MessageSource::Desk(DeskKind::Pipedrive) => {
                self.pipedrive()?.report_status(conversation, message).await
            }
            _ => Ok(()),
        }
    }
}

/// How long one attempt may hold a message's delivery before another may take over.
const SEND_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// The `errorCode` sent with MessageDeliveryFailed: the channel refused the message.
const DELIVERY_FAILED_CODE: &str = "500";

/// One interaction per file (Salesforce takes one file per request), the
/// text with the first; entry ids are stable so a retry is recognised.
async fn deliver_to_salesforce<P: Ports>(
    sf: &SalesforceDesk,
    media: &Media<P>,
    c: &Conversation,
    m: &Message,
) -> Result<Receipt> {
    let from = &c.customer.id;
    for (i, a) in media.store_all(m).await?.iter().enumerate() {
        let key = a.key.as_deref().unwrap_or_default();
        let blob = media.blobs.get_blob(key).await?;
        let name = a.name.clone().unwrap_or_else(|| format!("attachment-{}", i + 1));
        let file = File { name, content_type: blob.content_type, bytes: blob.bytes };
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
