//! A channel's message: kept in the context, and queued for the desk during a chat.

use std::time::Duration;

use omnibridge::adapters::memory::{MemoryQueue, MemoryStore};
use omnibridge::model::{now_millis, Author, ChannelKind, InboundMedia, InboundMessage};
use omnibridge::ports::{ContextStore, MessageStore, QueueName};
use omnibridge::services::inbound::{Inbound, Outcome};

fn written(user: &str, author: Author, id: &str, text: &str) -> InboundMessage {
    InboundMessage {
        channel: ChannelKind::Whatsapp,
        user_id: user.into(),
        author,
        source_id: id.into(),
        timestamp: now_millis(),
        kind: "text".into(),
        text: Some(text.into()),
        media: None,
    }
}

fn inbound(store: &MemoryStore, queue: &MemoryQueue) -> Inbound<MemoryStore, MemoryQueue> {
    Inbound::new(store.clone(), queue.clone(), "coppel".into(), Duration::from_secs(86_400))
}

#[tokio::test]
async fn when_no_chat_is_open_should_keep_both_sides_in_the_context_and_queue_nothing() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    let service = inbound(&store, &queue);
    let now = now_millis();
    let hola = written("521", Author::User, "wamid.1", "Hola");
    assert_eq!(service.receive(&hola, now).await.unwrap(), Outcome::Context);
    let bot = written("521", Author::Bot, "wamid.2", "¿En qué te ayudo?");
    assert_eq!(service.receive(&bot, now).await.unwrap(), Outcome::Context);
    let context = store.list_context("521", now).await.unwrap();
    assert_eq!(
        context.iter().map(|e| e.text.as_deref().unwrap()).collect::<Vec<_>>(),
        ["Hola", "¿En qué te ayudo?"]
    );
    assert!(queue.take(QueueName::ToDesk).is_empty());
}

#[tokio::test]
async fn when_a_chat_is_open_should_queue_the_customers_messages_once_each_carrying_the_message() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let service = inbound(&store, &queue);
    let now = now_millis();
    let mut file = written("521", Author::User, "wamid.B", "factura");
    file.text = None;
    file.media = Some(InboundMedia {
        url: "https://media.test/f.pdf".into(),
        mime_type: Some("application/pdf".into()),
        caption: Some("factura".into()),
    });
    for m in [written("521", Author::User, "wamid.A", "Necesito ayuda"), file] {
        assert_eq!(service.receive(&m, now).await.unwrap(), Outcome::Queued);
        // A redelivered webhook: the queue's deduplication drops the copy.
        service.receive(&m, now).await.unwrap();
    }
    // The bot's messages during the chat stay in the context.
    let bot = written("521", Author::Bot, "wamid.C", "Un agente te atenderá");
    assert_eq!(service.receive(&bot, now).await.unwrap(), Outcome::Context);

    let jobs = queue.take_jobs(QueueName::ToDesk);
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(jobs.iter().all(|j| j.conversation_id == chat.id));
    let carried: Vec<_> = jobs.iter().map(|j| j.record.as_deref().unwrap()).collect();
    assert_eq!(carried[0].text.as_deref(), Some("Necesito ayuda"));
    assert_eq!(carried[1].attachments[0].content_type, "application/pdf");
    assert_eq!(carried[1].text.as_deref(), Some("factura"), "the caption is the text");
    assert!(store.messages().is_empty(), "the worker records them");
    assert_eq!(store.list_context("521", now).await.unwrap().len(), 3);
    assert!(store.get_message(&carried[0].id).await.unwrap().is_none());
}
