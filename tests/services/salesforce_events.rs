//! Salesforce's agent events: routed per conversation, then an agent's
//! message queued for the customer and a session's end closing the chat.

use serde_json::{json, Value};

use omnibridge::adapters::memory::{Memory, MemoryQueue, MemoryStore};
use omnibridge::adapters::salesforce::events::PlatformEvents;
use omnibridge::config::{Env, Settings};
use omnibridge::model::{ChannelKind, ConversationStatus, Direction};
use omnibridge::ports::{ConversationStore, QueueName};
use omnibridge::services::salesforce_events::{AgentEvents, Router};

/// The platform event with the default field names.
fn format() -> Box<PlatformEvents> {
    Box::new(PlatformEvents::new(Settings::from_lookup(&Env(|_: &str| None)).unwrap().salesforce))
}

/// An Interaction event as Event Relay delivers it through EventBridge.
fn event(payload: &Value) -> Value {
    json!({"detail": {"payload": {"my__event__payloadField__c": payload.to_string(), "my__event__EventType__c": "Interaction"}}})
}

fn agent_says(customer: &str, id: &str, text: &str) -> Value {
    event(&json!({"channelAddressIdentifier": "sf", "recipient": {"subject": customer},
        "payload": {"identifier": id, "entryType": "Message", "entryPayload": {"entryType": "Message", "id": id,
            "abstractMessage": {"messageType": "StaticContentMessage", "id": id,
                "staticContent": {"formatType": "Text", "text": text}}}, "sender": {"subject": "005RM"}}}))
}

#[tokio::test]
async fn when_events_arrive_in_one_group_should_route_each_to_its_customers_group_once() {
    let queue = MemoryQueue::default();
    let router = Router::new(format(), queue.clone());
    let first = agent_says("521", "e1", "Hola");
    for e in [&first, &first, &agent_says("522", "e2", "Buenas")] {
        router.handle(e).await.unwrap();
    }
    let moved = queue.take(QueueName::SalesforceConversationEvents);
    assert_eq!(moved.len(), 2, "a redelivered event is moved once");
    assert_eq!(serde_json::from_str::<Value>(&moved[0]).unwrap(), first);
}

#[tokio::test]
async fn when_an_agent_writes_then_ends_the_session_should_queue_the_reply_and_close_the_chat() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let events: AgentEvents<Memory> =
        AgentEvents::new(store.clone(), queue.clone(), format(), None);
    events.handle(&agent_says("521", "e1", "Hola, soy Ana")).await.unwrap();
    events.handle(&agent_says("521", "e1", "Hola, soy Ana")).await.unwrap();
    let jobs = queue.take_jobs(QueueName::ToCustomer);
    assert_eq!(jobs.len(), 1, "recorded and queued once");
    let reply = &store.messages()[0];
    assert_eq!(
        (reply.direction, reply.text.as_deref()),
        (Direction::Outbound, Some("Hola, soy Ana"))
    );
    let active = store.get_conversation(&chat.id).await.unwrap().unwrap();
    assert_eq!(active.status, ConversationStatus::Active, "an agent took the chat");

    let ended = json!({"channelAddressIdentifier": "sf", "recipient": {"subject": "521"}, "entryType": "SessionStatusChanged",
        "entryPayload": {"entryType": "SessionStatusChanged", "sessionStatus": "Ended"}});
    events.handle(&event(&ended)).await.unwrap();
    assert_eq!(
        store.get_conversation(&chat.id).await.unwrap().unwrap().status,
        ConversationStatus::Closed
    );
    assert!(
        store.find_open(ChannelKind::Whatsapp, "521").await.unwrap().is_none(),
        "back with the bot"
    );
}
