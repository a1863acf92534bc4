//! Erasing a customer everywhere omnibridge keeps them.

use std::time::Duration;

use omnibridge::adapters::memory::{MemoryBlobs, MemoryStore};
use omnibridge::model::{now_millis, Author, ChannelKind, ContextEntry, Direction, Message};
use omnibridge::ports::{BlobStore, ContextStore, ConversationStore, MessageStore};
use omnibridge::services::erase::{erase_customer, Erased};

#[tokio::test]
async fn when_a_customer_is_erased_should_leave_no_conversation_message_file_or_context() {
    let (store, blobs) = (MemoryStore::new(), MemoryBlobs::default());
    let chat = crate::open_chat(&store, ChannelKind::Whatsapp, "521").await;
    let other = crate::open_chat(&store, ChannelKind::Whatsapp, "522").await;
    let now = now_millis();
    for (c, id) in [(&chat, "wamid.1"), (&chat, "wamid.2"), (&other, "wamid.3")] {
        let m = Message::received(
            c.id.clone(),
            Direction::Inbound,
            ChannelKind::Whatsapp,
            id,
            "x",
            Some("Hola".into()),
            vec![],
            now,
        )
        .unwrap();
        store.append_message(&m).await.unwrap();
        blobs
            .put_blob(&format!("{}/{}/0", c.id, m.id), b"%PDF".to_vec(), "application/pdf")
            .await
            .unwrap();
    }
    let day = Duration::from_secs(86_400);
    let entry = ContextEntry::new("521", "coppel", "wamid.1", now, Author::User, now, day).unwrap();
    store.append_context(&entry).await.unwrap();

    let erased = erase_customer(&store, &blobs, ChannelKind::Whatsapp, "521").await.unwrap();
    assert_eq!(
        erased,
        Erased {
            conversations: 1,
            messages: 2,
            attachments: 2,
            context_entries: 1,
            contact: false
        }
    );
    assert!(store.get_conversation(&chat.id).await.unwrap().is_none());
    assert!(store.find_open(ChannelKind::Whatsapp, "521").await.unwrap().is_none());
    assert!(store.list_context("521", now).await.unwrap().is_empty());
    // The other customer keeps everything.
    assert!(store.get_conversation(&other.id).await.unwrap().is_some());
    assert_eq!(store.messages().len(), 1);
    assert_eq!(blobs.delete_prefix("").await.unwrap(), 1);
}
