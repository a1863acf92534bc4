//! The services over the in-memory adapters (`omnibridge::adapters::memory`):
//! each use case in milliseconds, no network. What only the real AWS APIs,
//! IAM and the peers' sandboxes can show stays in `tests/flows/`.

mod channels;
mod custom_channel;
mod delivery;
mod erase;
mod handoff;
mod inbound;
mod salesforce_events;

use omnibridge::adapters::memory::MemoryStore;
use omnibridge::model::{now_millis, ChannelKind, Conversation, DeskKind, Participant};
use omnibridge::ports::ConversationStore;

/// A customer's open chat with a Salesforce agent.
pub async fn open_chat(store: &MemoryStore, channel: ChannelKind, customer: &str) -> Conversation {
    let who = Participant::new(customer, "Eduardo Ochoa").unwrap();
    let c =
        Conversation::open(channel, "coppel-bot", who, DeskKind::Salesforce, "sf", now_millis())
            .unwrap();
    store.open_conversation(&c).await.unwrap();
    c
}
