//! The handoff: a customer leaves the bot for a human. The conversation is
//! opened (or the open one reused), the agent is shown the customer's profile
//! and the 24-hour bot transcript first, then the conversation is routed.
//! Each step runs once, so a repeated call finishes what an earlier one left.

use serde_json::{Map, Value};
use std::time::Duration;

use crate::config::Settings;
use crate::model::{
    limits, now_millis, Author, ChannelKind, ContextEntry, Conversation, ConversationStatus,
    DeskKind, Direction, EpochMillis, Message, MessageSource, Participant,
};
use crate::ports::{
    ContextStore, ConversationStore, Desk, Handover, MessageStore, Ports, QueueJob, Recorded,
};
use crate::services::delivery::deliver;
use crate::services::desks::Desks;
use crate::services::once::once;
use crate::{Error, Result};

/// Who asks for an agent, as the bot knows them.
#[derive(Clone, Debug)]
pub struct HandoffRequest {
    pub channel: ChannelKind,
    pub bot: String,
    pub customer: Participant,
    pub extra: Map<String, Value>,
}

const STEP_LEASE: Duration = Duration::from_secs(60);

/// The longest line of the transcript (a longer message is cut, with `…`).
const TRANSCRIPT_LINE: usize = 2 * 1024;

/// The text the agent reads first: the profile, then the transcript, oldest
/// first: the newest lines within [`limits::TRANSCRIPT`], saying how many
/// earlier ones are left out.
pub fn transcript(req: &HandoffRequest, entries: &[ContextEntry]) -> String {
    let fmt = time::macros::format_description!("[day]-[month]-[year] [hour]:[minute]:[second]");
    let mut out = format!("Cliente: {}", req.customer.name);
    if let Some(e) = &req.customer.email {
        out.push_str(&format!("\nEmail: {e}"));
    }
    if let Some(p) = &req.customer.phone {
        out.push_str(&format!("\nTeléfono: {p}"));
    }
    for (k, v) in &req.extra {
        let v = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
        out.push_str(&format!("\n{k}: {v}"));
    }
    out.push_str("\n\nContexto:\n");
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let when = time::OffsetDateTime::from_unix_timestamp(e.timestamp / 1000)
                .ok()
                .and_then(|t| t.format(&fmt).ok())
                .unwrap_or_default();
            let who = if e.from == Author::User { "Cliente" } else { "Bot" };
            let mut body = match (&e.text, &e.url) {
                (Some(t), _) => t.trim_end().to_owned(),
                (None, Some(u)) => format!("[{}] {u}", e.mime_type.as_deref().unwrap_or("archivo")),
                _ => String::new(),
            };
            if body.len() > TRANSCRIPT_LINE {
                body.truncate(crate::model::truncate(&body, TRANSCRIPT_LINE).len());
                body.push('…');
            }
            format!("{who} [{when} UTC]: {body}\n")
        })
        .collect();
    // The newest lines that fit, and a word on what was left out.
    let room = limits::TRANSCRIPT.saturating_sub(out.len() + 64);
    let mut kept = 0;
    let mut size = 0;
    for line in lines.iter().rev() {
        if size + line.len() > room {
            break;
        }
        size += line.len();
        kept += 1;
    }
    if kept < lines.len() {
        out.push_str(&format!("[{} mensajes anteriores no se muestran]\n", lines.len() - kept));
    }
    for line in &lines[lines.len() - kept..] {
        out.push_str(line);
    }
    out
}

pub struct Handoff<P: Ports> {
    store: P::Store,
    desks: Desks<P>,
    settings: Settings,
}

impl<P: Ports> Handoff<P> {
    pub fn new(store: P::Store, desks: Desks<P>, settings: Settings) -> Self {
        Handoff { store, desks, settings }
    }

    /// The desk a bot hands customers to.
    pub fn desk_for(&self, bot: &str) -> DeskKind {
        self.settings.desk_for_bot(bot).0
    }

    /// The desk and the desk channel its conversations belong to (`channel`
    /// when given, else the desk's default), or why it cannot be used.
    pub fn destination(&self, desk: DeskKind, channel: Option<&str>) -> Result<(DeskKind, String)> {
        Ok((desk, self.desks.get(desk)?.channel(channel)))
    }

    /// Hands the customer to an agent; returns the conversation.
    pub async fn connect(&self, req: &HandoffRequest) -> Result<Conversation> {
        let (desk, channel) = self.settings.desk_for_bot(&req.bot);
        let (desk, desk_channel) = self.destination(desk, channel).map_err(|e| match e {
            Error::Permanent { what, .. } => Error::Config(what),
            other => other,
        })?;
        let now = now_millis();
        let fresh = Conversation::open(
            req.channel,
            &req.bot,
            req.customer.clone(),
            desk,
            &desk_channel,
            now,
        )?;
        let conversation = match self.store.open_conversation(&fresh).await? {
            Recorded::Created => fresh,
            Recorded::Existing(c) => c,
        };
        let id = conversation.id.clone();
        match self.hand_over(req, &conversation).await {
            Ok(()) => Ok(self.store.get_conversation(&id).await?.unwrap_or(conversation)),
            // A handoff that can never succeed must not leave the customer stuck in a queue.
            Err(e) if !e.is_retryable() => {
                self.store
                    .set_conversation_status(&id, ConversationStatus::Closed, now_millis())
                    .await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Shows the agent the profile and the 24-hour transcript of an open
    /// conversation, then routes it. Each step runs once: calling it again
    /// finishes what an earlier call left.
    pub async fn hand_over(&self, req: &HandoffRequest, conversation: &Conversation) -> Result<()> {
        let now = now_millis();
        let entries = self.store.list_context(&req.customer.id, now).await?;
        let text = transcript(req, &entries);
        let desk = self.desks.get(conversation.desk)?;
        match desk.handover() {
            Handover::Routed => self.routed(desk, req, conversation, &text, now).await,
            Handover::FirstMessage => {
                desk.open(conversation).await?;
                self.as_first_message(conversation, text).await
            }
        }
    }

    /// Whether the agent has been shown the transcript already (a routed
    /// desk: the conversation has the desk's id; the others: the transcript
    /// message is delivered or failed). One read; callers that see `false`
    /// call [`Handoff::hand_over`], which finishes what is left.
    pub async fn handed_over(&self, c: &Conversation) -> Result<bool> {
        if self.desks.get(c.desk)?.handover() == Handover::Routed {
            return Ok(c.desk_conversation_id.is_some());
        }
        let id = crate::model::MessageId::from_source(
            &MessageSource::Handoff.to_string(),
            c.id.as_str(),
        )?;
        Ok(self.store.get_message(&id).await?.is_some_and(|m| m.status.is_final()))
    }

    /// A routed desk (Salesforce): the transcript as the desk's first
    /// entry, then the routing request.
    async fn routed(
        &self,
        desk: &dyn Desk,
        req: &HandoffRequest,
        conversation: &Conversation,
        text: &str,
        now: EpochMillis,
    ) -> Result<()> {
        let id = &conversation.id;
        let entry_id =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("transcript:{id}").as_bytes())
                .to_string();
        let desk_id = once(
            &self.store,
            &format!("handoff:{id}:transcript"),
            "handoff",
            STEP_LEASE,
            || async {
                Ok(desk
                    .send_transcript(conversation, &entry_id, text, now)
                    .await?
                    .unwrap_or_default())
            },
        )
        .await?;
        if !desk_id.is_empty()
            && conversation.desk_conversation_id.as_deref() != Some(desk_id.as_str())
        {
            self.store.set_desk_conversation_id(id, &desk_id).await?;
        }
        once(&self.store, &format!("handoff:{id}:route"), "handoff", STEP_LEASE, || async {
            desk.route(&req.bot, &desk_id, &req.extra).await?;
            Ok(String::new())
        })
        .await
        .map(|_| ())
    }

    /// Desks that read our conversations (Pipedrive, Yeahdesk): the transcript
    /// is the conversation's first message, delivered before the call returns.
    async fn as_first_message(&self, conversation: &Conversation, text: String) -> Result<()> {
        let c = conversation;
        let m = Message::received(
            c.id.clone(),
            Direction::Inbound,
            MessageSource::Handoff,
            c.id.as_str(),
            &c.customer.id,
            Some(text),
            vec![],
            c.created_at,
        )?;
        self.store.append_message(&m).await?;
        let job = QueueJob::recorded(&m);
        deliver(&self.store, &job, Direction::Inbound, false, |c, m| async move {
            self.desks.deliver(&c, &m).await
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_transcript_is_built_should_show_the_profile_then_each_entry_oldest_first() {
        let mut customer = Participant::new("5217331175599", "Eduardo Ochoa").unwrap();
        customer.email = Some("ochoa@example.com".into());
        let mut extra = Map::new();
        extra.insert("order_traking_id".into(), Value::String("1225222565".into()));
        let req = HandoffRequest {
            channel: ChannelKind::Whatsapp,
            bot: "coppel-bot".into(),
            customer,
            extra,
        };
        let day = Duration::from_secs(86400);
        let mut a = ContextEntry::new(
            "5217331175599",
            "c",
            "1",
            1636646674958,
            Author::Bot,
            1636646674958,
            day,
        )
        .unwrap();
        a.text = Some("¡Hola! Soy Coppelbot\n".into());
        let mut b = ContextEntry::new(
            "5217331175599",
            "c",
            "2",
            1636646697866,
            Author::User,
            1636646674958,
            day,
        )
        .unwrap();
        b.text = Some("9".into());
        let t = transcript(&req, &[a, b]);
        assert!(t.starts_with("Cliente: Eduardo Ochoa\nEmail: ochoa@example.com\norder_traking_id: 1225222565\n\nContexto:\n"), "{t}");
        assert!(t.contains("Bot [11-11-2021 16:04:34 UTC]: ¡Hola! Soy Coppelbot\nCliente [11-11-2021 16:04:57 UTC]: 9\n"), "{t}");
    }
}
