//! A custom channel's source posts messages: read from the contract, handed
//! to the channel's desk, kept once per idempotency key.

use std::time::Duration;

use omnibridge::adapters::custom_channel::CustomChannelFormat;
use omnibridge::adapters::memory::{DeskCall, MemoryDesk, MemoryQueue, MemoryStore};
use omnibridge::model::{DeskKind, SourceContact};
use omnibridge::ports::{Handover, QueueName, SourceFormat};
use omnibridge::services::custom_channel::{CustomChannel, CustomChannels, CustomInbound};
use omnibridge::Error;

fn body(text: &str) -> Vec<u8> {
    serde_json::json!({"reference": "order-7", "dialog_title": "  Pedido 7 ", "text": text,
        "contact_object": {"name": "Ana", "contacts": [{"value": "ana-1", "type": "id", "service": "custom"}, {"value": "ana@example.com", "type": "mail", "service": "mail"}]}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn when_a_source_posts_the_same_message_twice_under_one_key_should_take_it_once() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    let desk = MemoryDesk::new(DeskKind::Yeahdesk, Handover::FirstMessage);
    let (channel, token) = CustomChannel::create("web", None, DeskKind::Yeahdesk, None);
    CustomChannels::new(store.clone()).put_channel(&channel).await.unwrap();
    let inbound = CustomInbound::new(
        store.clone(),
        queue.clone(),
        crate::handoff::handoff(&store, &desk),
        "omnibridge".into(),
        Duration::from_secs(86400),
    );
    let channel = inbound.authorize(&channel.id, Some(&token)).await.unwrap();
    let m = CustomChannelFormat.read(&body("hola")).unwrap();
    assert_eq!(m.title.as_deref(), Some("Pedido 7"), "the title is trimmed");
    assert!(matches!(m.contact, SourceContact::Object(_)));
    let first = inbound.receive(&channel, Some("k-1"), &m).await.unwrap();
    let again = inbound.receive(&channel, Some("k-1"), &m).await.unwrap();
    assert_eq!(first, again, "the same answer, nothing taken twice");
    assert_eq!(queue.take_jobs(QueueName::ToDesk).len(), 1);
    let opened = desk.calls().iter().filter(|c| matches!(c, DeskCall::Open(_))).count();
    assert_eq!(opened, 1, "the new dialog is handed to the desk once");
    let other = CustomChannelFormat.read(&body("otra cosa")).unwrap();
    let e = inbound.receive(&channel, Some("k-1"), &other).await.unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "the key with another message: {e}");
}

#[tokio::test]
async fn when_a_source_posts_without_contact_or_with_a_bad_token_should_refuse_it() {
    let store = MemoryStore::new();
    let (channel, _) = CustomChannel::create("web", None, DeskKind::Yeahdesk, None);
    CustomChannels::new(store.clone()).put_channel(&channel).await.unwrap();
    let e = CustomChannelFormat.read(br#"{"text": "hola"}"#).unwrap_err();
    assert!(matches!(e, Error::Refused { code: "E_CONTACT_INFO_REQUIRED", .. }), "{e}");
    let e = CustomChannels::new(store).authorize(&channel.id, Some("wrong")).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
}
