//! Delivering a queued message once, whatever the queue does.

use std::sync::atomic::{AtomicUsize, Ordering};

use omnibridge::adapters::memory::{MemoryQueue, MemoryStore};
use omnibridge::model::{now_millis, ChannelKind, Direction, Message, MessageStatus};
use omnibridge::ports::{MessageStore, QueueJob, QueueName, Receipt};
use omnibridge::services::delivery::{deliver, queue_to_record, Delivered};
use omnibridge::Error;

fn message(c: &omnibridge::model::Conversation, id: &str) -> Message {
    let text = Some("Hola".to_owned());
    Message::received(
        c.id.clone(),
        Direction::Inbound,
        ChannelKind::Whatsapp,
        id,
        "521",
        text,
        vec![],
        now_millis(),
    )
    .unwrap()
}

#[tokio::test]
async fn when_a_job_carrying_its_message_comes_again_should_record_and_send_it_once() {
    let (store, queue) = (MemoryStore::new(), MemoryQueue::default());
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let m = message(&chat, "wamid.once");
    assert!(queue_to_record(&store, &queue, QueueName::ToDesk, &chat.reference(), &m)
        .await
        .unwrap());
    let job = queue.take_jobs(QueueName::ToDesk).remove(0);
    let sent = AtomicUsize::new(0);
    let send = |_, _| async {
        sent.fetch_add(1, Ordering::SeqCst);
        Ok(Receipt { id: Some("desk-1".into()) })
    };
    assert_eq!(
        deliver(&store, &job, Direction::Inbound, false, send).await.unwrap(),
        Delivered::Sent
    );
    // The same job again (a redelivery, or a copy queued after the
    // deduplication window): recorded before, sent before.
    let again = deliver(&store, &job, Direction::Inbound, false, send).await.unwrap();
    assert_eq!(again, Delivered::Before(MessageStatus::Sent));
    assert_eq!(sent.into_inner(), 1);
    let stored = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.delivered_id.as_deref()),
        (MessageStatus::Sent, Some("desk-1"))
    );
}

#[tokio::test]
async fn when_a_job_names_another_message_than_it_carries_should_refuse_it_for_good() {
    let store = MemoryStore::new();
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let (a, b) = (message(&chat, "wamid.a"), message(&chat, "wamid.b"));
    let forged = QueueJob { record: Some(Box::new(b)), ..QueueJob::recorded(&a) };
    let err = deliver(&store, &forged, Direction::Inbound, false, |_, _| async {
        panic!("nothing is sent")
    })
    .await
    .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(store.messages().is_empty());
}

#[tokio::test]
async fn when_the_peer_keeps_failing_should_retry_then_record_the_failure_on_the_last_try() {
    let store = MemoryStore::new();
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let m = message(&chat, "wamid.fails");
    store.append_message(&m).await.unwrap();
    let job = QueueJob::recorded(&m);
    let busy = || async {
        Err(Error::Retryable { what: "503 from the desk".into(), retry_after: None, source: None })
    };
    let err = deliver(&store, &job, Direction::Inbound, false, |_, _| busy()).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(store.get_message(&m.id).await.unwrap().unwrap().status, MessageStatus::Received);
    let err = deliver(&store, &job, Direction::Inbound, true, |_, _| busy()).await.unwrap_err();
    assert!(!err.is_retryable(), "the last try's failure is for good, into the DLQ");
    let failed = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert!(failed.failure_reason.unwrap().contains("503 from the desk"));
}
