//! Agent messages out to the customer's channel, piece by piece, each once.

use std::time::Duration;

use omnibridge::adapters::memory::{Memory, MemoryBlobs, MemoryChannel, MemoryStore};
use omnibridge::model::{now_millis, Attachment, ChannelKind, DeskKind, Direction, Message};
use omnibridge::services::media::StoredFiles;
use omnibridge::services::to_customer::Channels;

fn channels(store: &MemoryStore, channel: &MemoryChannel) -> Channels<Memory> {
    let files = StoredFiles { blobs: MemoryBlobs::default(), presign_ttl: Duration::from_secs(60) };
    Channels::new(vec![Box::new(channel.clone())], files, store.clone())
}

fn reply(c: &omnibridge::model::Conversation, files: usize) -> Message {
    let attachments = (0..files)
        .map(|i| {
            let mut a = Attachment::new("image/png").unwrap();
            a.source_url = Some(format!("https://desk.test/{i}.png"));
            a
        })
        .collect();
    Message::received(
        c.id.clone(),
        Direction::Outbound,
        DeskKind::Salesforce,
        "agent-1",
        "005RM",
        Some("Aquí están".into()),
        attachments,
        now_millis(),
    )
    .unwrap()
}

#[tokio::test]
async fn when_a_piece_fails_and_the_send_is_retried_should_send_each_piece_once() {
    let store = MemoryStore::new();
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let channel = MemoryChannel::default();
    let channels = channels(&store, &channel);
    let m = reply(&chat, 2);
    channel.fail_once(1);
    let e = channels.send(&chat, &m).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let receipt = channels.send(&chat, &m).await.unwrap();
    assert_eq!(channel.sent(), [(m.id.clone(), 0), (m.id.clone(), 1), (m.id.clone(), 2)]);
    assert_eq!(receipt.id, Some(format!("{}-0", m.id)), "the first piece's receipt");
    channels.send(&chat, &m).await.unwrap();
    assert_eq!(channel.sent().len(), 3, "a send again after success sends nothing");
}

#[tokio::test]
async fn when_no_adapter_serves_the_conversations_channel_should_fail_for_good() {
    let store = MemoryStore::new();
    let chat = crate::open_chat(&store, ChannelKind::Facebook, "521").await;
    let channel = MemoryChannel::default();
    let e = channels(&store, &channel).send(&chat, &reply(&chat, 0)).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("no facebook channel adapter"), "{e}");
    assert!(channel.sent().is_empty());
}
