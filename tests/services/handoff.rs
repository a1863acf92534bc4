//! The handoff and the desks' dispatch, over a recording desk: each step
//! once, whatever is called again.

use std::time::Duration;

use omnibridge::adapters::memory::{
    DeskCall, Memory, MemoryBlobs, MemoryDesk, MemoryFetch, MemoryStore,
};
use omnibridge::config::{Env, Settings};
use omnibridge::model::{
    now_millis, Attachment, Author, ChannelKind, ContextEntry, DeskKind, Direction, Message,
    MessageStatus, Participant,
};
use omnibridge::ports::{ContextStore, Desk as _, Handover, MessageStore};
use omnibridge::services::desks::Desks;
use omnibridge::services::handoff::{Handoff, HandoffRequest};
use omnibridge::services::media::{Media, StoredFiles};

fn desks(store: &MemoryStore, fetch: MemoryFetch, desk: &MemoryDesk) -> Desks<Memory> {
    let files = StoredFiles { blobs: MemoryBlobs::default(), presign_ttl: Duration::from_secs(60) };
    Desks::new(vec![Box::new(desk.clone())], Media::new(fetch, files, store.clone()))
}

/// The handoff of a deployment whose bots hand customers to `desk`.
pub fn handoff(store: &MemoryStore, desk: &MemoryDesk) -> Handoff<Memory> {
    let default_desk = desk.kind().to_string();
    let env =
        Env(move |name: &str| (name == "OMNIBRIDGE_DEFAULT_DESK").then(|| default_desk.clone()));
    let settings = Settings::from_lookup(&env).unwrap();
    Handoff::new(store.clone(), desks(store, MemoryFetch::default(), desk), settings)
}

async fn request(store: &MemoryStore) -> HandoffRequest {
    let now = now_millis();
    let mut said = ContextEntry::new(
        "5217331175599",
        "coppel-bot",
        "wamid.1",
        now - 1000,
        Author::User,
        now,
        Duration::from_secs(86400),
    )
    .unwrap();
    said.text = Some("quiero hablar con alguien".into());
    store.append_context(&said).await.unwrap();
    HandoffRequest {
        channel: ChannelKind::Whatsapp,
        bot: "coppel-bot".into(),
        customer: Participant::new("5217331175599", "Eduardo Ochoa").unwrap(),
        extra: serde_json::Map::new(),
    }
}

#[tokio::test]
async fn when_a_routed_desk_takes_a_customer_twice_should_show_the_transcript_and_route_once() {
    let store = MemoryStore::new();
    let desk = MemoryDesk::new(DeskKind::Salesforce, Handover::Routed);
    let handoff = handoff(&store, &desk);
    let req = request(&store).await;
    let first = handoff.connect(&req).await.unwrap();
    let again = handoff.connect(&req).await.unwrap();
    assert_eq!(first.id, again.id, "the open conversation is reused");
    let calls = desk.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let DeskCall::Transcript { text, .. } = &calls[0] else { panic!("{calls:?}") };
    assert!(text.starts_with("Cliente: Eduardo Ochoa"), "{text}");
    assert!(text.contains("quiero hablar con alguien"), "{text}");
    let desk_id = format!("desk-{}", first.id);
    assert_eq!(
        calls[1],
        DeskCall::Route { bot: "coppel-bot".into(), desk_conversation_id: desk_id.clone() }
    );
    assert_eq!(again.desk_conversation_id.as_deref(), Some(desk_id.as_str()));
    assert!(handoff.handed_over(&again).await.unwrap());
}

#[tokio::test]
async fn when_a_desk_reads_the_transcript_as_a_message_should_open_and_deliver_it_first() {
    let store = MemoryStore::new();
    let desk = MemoryDesk::new(DeskKind::Yeahdesk, Handover::FirstMessage);
    let handoff = handoff(&store, &desk);
    let req = request(&store).await;
    let c = handoff.connect(&req).await.unwrap();
    assert!(handoff.handed_over(&c).await.unwrap());
    handoff.hand_over(&req, &c).await.unwrap();
    let calls = desk.calls();
    let delivered: Vec<_> =
        calls.iter().filter(|call| matches!(call, DeskCall::Deliver { .. })).collect();
    assert_eq!(calls[0], DeskCall::Open(c.id.clone()));
    assert_eq!(delivered.len(), 1, "the transcript is delivered once: {calls:?}");
    let DeskCall::Deliver { text: Some(text), .. } = delivered[0] else { panic!("{calls:?}") };
    assert!(text.contains("quiero hablar con alguien"), "{text}");
    let stored = store.messages();
    assert_eq!((stored.len(), stored[0].status), (1, MessageStatus::Sent));
}

#[tokio::test]
async fn when_a_message_with_a_file_reaches_the_desk_should_hand_it_the_stored_bytes_once() {
    let store = MemoryStore::new();
    let desk = MemoryDesk::new(DeskKind::Pipedrive, Handover::FirstMessage);
    let fetch = MemoryFetch::default();
    fetch.serve("https://media.test/a.png", "image/png", b"png bytes");
    let desks = desks(&store, fetch, &desk);
    let handoff = handoff(&store, &desk);
    let c = handoff.connect(&request(&store).await).await.unwrap();
    let mut file = Attachment::new("image/png").unwrap();
    file.source_url = Some("https://media.test/a.png".into());
    let m = Message::received(
        c.id.clone(),
        Direction::Inbound,
        ChannelKind::Whatsapp,
        "wamid.file",
        &c.customer.id,
        Some("mira".into()),
        vec![file],
        now_millis(),
    )
    .unwrap();
    store.append_message(&m).await.unwrap();
    let first = desks.deliver(&c, &m).await.unwrap();
    let twin = desks.deliver(&c, &m).await.unwrap();
    assert_eq!(first, twin, "the second attempt is answered from the claim");
    let delivered: Vec<_> = desk
        .calls()
        .into_iter()
        .filter(|call| matches!(call, DeskCall::Deliver { message, .. } if *message == m.id))
        .collect();
    assert_eq!(
        delivered,
        [DeskCall::Deliver {
            message: m.id.clone(),
            text: Some("mira".into()),
            files: vec![b"png bytes".to_vec()]
        }]
    );
    let recorded = store.get_message(&m.id).await.unwrap().unwrap();
    assert!(recorded.attachments[0].key.is_some(), "the stored copy is recorded");
}

#[tokio::test]
async fn when_a_conversation_names_a_desk_this_deployment_lacks_should_fail_for_good() {
    let store = MemoryStore::new();
    let desk = MemoryDesk::new(DeskKind::Pipedrive, Handover::FirstMessage);
    let desks = desks(&store, MemoryFetch::default(), &desk);
    let e = desks.get(DeskKind::Salesforce).err().expect("no Salesforce desk");
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(desks.get(DeskKind::Pipedrive).unwrap().kind(), DeskKind::Pipedrive);
}
