//! The DynamoDB adapter against moto: every store operation.

use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge::services::auth::{ApiUser, Role};
use omnibridge_tests::runtime;
use secrecy::SecretString;
use std::time::Duration;

fn customer(id: &str) -> Participant {
    Participant::new(id, "Eduardo Ochoa").unwrap()
}

fn conversation(customer_id: &str, created_at: EpochMillis) -> Conversation {
    Conversation::open(
        ChannelKind::Whatsapp,
        "coppel-bot",
        customer(customer_id),
        DeskKind::Pipedrive,
        "pd-channel-1",
        created_at,
    )
    .unwrap()
}

fn text_message(conv: &ConversationId, source_id: &str, at: EpochMillis) -> Message {
    Message::received(
        conv.clone(),
        Direction::Inbound,
        ChannelKind::Whatsapp,
        source_id,
        "521",
        Some(format!("hello {source_id}")),
        vec![],
        at,
    )
    .unwrap()
}

#[tokio::test]
async fn when_conversation_is_opened_should_be_found_as_the_customers_open_one_until_closed() {
    let store = runtime().await.dynamo().unwrap();
    let c = conversation("5217331175599", 1_000);
    assert_eq!(store.open_conversation(&c).await.unwrap(), Recorded::Created);
    let stored = store.get_conversation(&c.id).await.unwrap().unwrap();
    assert!(stored.expires_at.is_some());
    assert_eq!(Conversation { expires_at: None, ..stored }, c);
    let open = store
        .find_open_conversation(ChannelKind::Whatsapp, "5217331175599")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.id, c.id);
    assert!(store
        .find_open_conversation(ChannelKind::Facebook, "5217331175599")
        .await
        .unwrap()
        .is_none());

    let active =
        store.set_conversation_status(&c.id, ConversationStatus::Active, 2_000).await.unwrap();
    assert_eq!((active.status, active.updated_at), (ConversationStatus::Active, 2_000));

    // A second open for the same customer returns the open conversation.
    let again = conversation("5217331175599", 3_000);
    match store.open_conversation(&again).await.unwrap() {
        Recorded::Existing(existing) => assert_eq!(existing.id, c.id),
        Recorded::Created => panic!("expected the existing conversation, got a new one"),
    }

    store.set_conversation_status(&c.id, ConversationStatus::Closed, 4_000).await.unwrap();
    assert!(store
        .find_open_conversation(ChannelKind::Whatsapp, "5217331175599")
        .await
        .unwrap()
        .is_none());
    // Closed is final: reopening it is a conflict, closing again is a no-op.
    assert!(matches!(
        store.set_conversation_status(&c.id, ConversationStatus::Active, 5_000).await,
        Err(omnibridge::Error::Conflict(_))
    ));
    store.set_conversation_status(&c.id, ConversationStatus::Closed, 5_000).await.unwrap();
    // After closing, the customer can open a new conversation.
    assert_eq!(store.open_conversation(&again).await.unwrap(), Recorded::Created);
}

#[tokio::test]
async fn when_two_opens_race_for_one_customer_should_open_exactly_one() {
    let store = runtime().await.dynamo().unwrap();
    let attempts: Vec<Conversation> =
        (0..8).map(|i| conversation("race-customer", 1_000 + i)).collect();
    let results =
        futures::future::join_all(attempts.iter().map(|c| store.open_conversation(c))).await;
    let created = results.iter().filter(|r| matches!(r, Ok(Recorded::Created))).count();
    assert_eq!(created, 1, "{results:?}");
    let winner = store
        .find_open_conversation(ChannelKind::Whatsapp, "race-customer")
        .await
        .unwrap()
        .unwrap();
    for r in results {
        if let Ok(Recorded::Existing(c)) = r {
            assert_eq!(c.id, winner.id);
        }
    }
}

#[tokio::test]
async fn when_status_of_unknown_conversation_changes_should_be_not_found() {
    let store = runtime().await.dynamo().unwrap();
    let err = store
        .set_conversation_status(&ConversationId::new(), ConversationStatus::Active, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, omnibridge::Error::NotFound(_)));
}

#[tokio::test]
async fn when_desk_channel_has_many_conversations_should_page_newest_first_each_once() {
    let store = runtime().await.dynamo().unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let c = conversation(&format!("customer-{i}"), 10_000 + i);
        store.open_conversation(&c).await.unwrap();
        ids.push(c.id);
    }
    // Another desk channel's conversation must not show up.
    let other = Conversation::open(
        ChannelKind::Facebook,
        "b",
        customer("x"),
        DeskKind::Pipedrive,
        "pd-channel-2",
        1,
    )
    .unwrap();
    store.open_conversation(&other).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_conversations(DeskKind::Pipedrive, "pd-channel-1", 3, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|c| c.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each exactly once");
    assert_eq!(pages, 3);
    // Exactly a page's worth: no cursor pointing at nothing.
    let page =
        store.list_conversations(DeskKind::Pipedrive, "pd-channel-1", 7, None).await.unwrap();
    assert_eq!((page.items.len(), page.next), (7, None));
    // A cursor of another listing is refused.
    let first =
        store.list_conversations(DeskKind::Pipedrive, "pd-channel-1", 1, None).await.unwrap();
    let err = store
        .list_conversations(DeskKind::Pipedrive, "pd-channel-2", 1, first.next.as_deref())
        .await
        .unwrap_err();
    assert!(matches!(err, omnibridge::Error::Invalid { field: "cursor", .. }));
}

#[tokio::test]
async fn when_webhook_is_redelivered_should_append_the_message_once() {
    let store = runtime().await.dynamo().unwrap();
    let conv = ConversationId::new();
    let m = text_message(&conv, "wamid.1", 5_000);
    assert_eq!(store.append_message(&m).await.unwrap(), Recorded::Created);
    let Recorded::Existing(existing) = store.append_message(&m).await.unwrap() else {
        panic!("appended twice")
    };
    assert!(existing.expires_at.is_some());
    let stored = Message { expires_at: None, ..existing };
    assert_eq!(stored, m);
    let page = store.list_messages(&conv, 10, None, false).await.unwrap();
    assert_eq!(
        page.items.into_iter().map(|m| Message { expires_at: None, ..m }).collect::<Vec<_>>(),
        vec![m]
    );
}

#[tokio::test]
async fn when_identical_deliveries_race_should_let_exactly_one_append_win() {
    let store = runtime().await.dynamo().unwrap();
    let conv = ConversationId::new();
    let m = text_message(&conv, "wamid.race", 5_000);
    let results = futures::future::join_all((0..10).map(|_| store.append_message(&m))).await;
    let created = results.iter().filter(|r| matches!(r, Ok(Recorded::Created))).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(std::result::Result::is_ok));
    assert_eq!(store.list_messages(&conv, 10, None, false).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn when_conversation_has_many_messages_should_page_in_order_each_once() {
    let store = runtime().await.dynamo().unwrap();
    let conv = ConversationId::new();
    let mut expected = Vec::new();
    for i in 0..11 {
        // Written out of order: listing follows the platform's timestamps.
        let at = 1_000_000 + ((i * 7) % 11) as i64;
        let m = text_message(&conv, &format!("m{i}"), at);
        store.append_message(&m).await.unwrap();
        expected.push((at, m.id));
    }
    expected.sort_by_key(|(at, _)| *at);
    let expected: Vec<MessageId> = expected.into_iter().map(|(_, id)| id).collect();

    for (newest_first, limit) in [(false, 4), (true, 5), (false, 1), (false, 100)] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page =
                store.list_messages(&conv, limit, cursor.as_deref(), newest_first).await.unwrap();
            seen.extend(page.items.into_iter().map(|m| m.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut want = expected.clone();
        if newest_first {
            want.reverse();
        }
        assert_eq!(seen, want, "limit {limit}, newest_first {newest_first}");
    }
}

#[tokio::test]
async fn when_delivery_status_changes_should_record_it_with_its_detail() {
    let store = runtime().await.dynamo().unwrap();
    let m = text_message(&ConversationId::new(), "s1", 1);
    store.append_message(&m).await.unwrap();
    store
        .set_message_status(
            &m.id,
            MessageStatus::Sent,
            StatusDetail { delivered_id: Some("desk-9".into()), failure_reason: None },
        )
        .await
        .unwrap();
    let got = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.delivered_id.as_deref()), (MessageStatus::Sent, Some("desk-9")));
    store
        .set_message_status(
            &m.id,
            MessageStatus::Failed,
            StatusDetail { delivered_id: None, failure_reason: Some("gone".into()) },
        )
        .await
        .unwrap();
    let got = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.failure_reason.as_deref()), (MessageStatus::Failed, Some("gone")));
    let missing = MessageId::from_source("whatsapp", "nope").unwrap();
    assert!(matches!(
        store.set_message_status(&missing, MessageStatus::Sent, StatusDetail::default()).await,
        Err(omnibridge::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn when_context_entries_expire_should_no_longer_be_read_even_before_dynamodb_deletes_them() {
    let store = runtime().await.dynamo().unwrap();
    let now = now_millis();
    let day = Duration::from_secs(24 * 3600);
    let entry = |id: &str, ts: EpochMillis, written_at: EpochMillis, from: Author| {
        let mut e =
            ContextEntry::new("5217331175599", "coppel", id, ts, from, written_at, day).unwrap();
        e.text = Some(format!("text {id}"));
        e
    };
    // Written 25 hours ago: expired (moto, like DynamoDB, has not deleted it).
    let old = entry("old", now - 25 * 3600 * 1000, now - 25 * 3600 * 1000, Author::User);
    let b = entry("b", now - 1000, now, Author::Bot);
    let a = entry("a", now - 2000, now, Author::User);
    for e in [&b, &old, &a] {
        store.append_context(e).await.unwrap();
    }
    // A redelivered webhook writes the same entry again: still one.
    store.append_context(&a).await.unwrap();
    let got = store.list_context("5217331175599", now).await.unwrap();
    assert_eq!(got, vec![a, b], "unexpired only, oldest first, no duplicates");
    assert!(store.list_context("someone-else", now).await.unwrap().is_empty());
}

#[tokio::test]
async fn when_idempotency_key_is_claimed_should_run_once_and_remember_the_outcome() {
    let store = runtime().await.dynamo().unwrap();
    let lease = Duration::from_secs(30);
    assert_eq!(store.claim("k1", "fp", lease).await.unwrap(), Claim::Acquired);
    assert_eq!(store.claim("k1", "fp", lease).await.unwrap(), Claim::InProgress);
    assert_eq!(store.claim("k1", "other-body", lease).await.unwrap(), Claim::Conflict);
    store.complete("k1", "msg-42").await.unwrap();
    assert_eq!(store.claim("k1", "fp", lease).await.unwrap(), Claim::Completed("msg-42".into()));

    // A released claim (failed attempt) can be taken again.
    assert_eq!(store.claim("k2", "fp", lease).await.unwrap(), Claim::Acquired);
    store.release("k2").await.unwrap();
    assert_eq!(store.claim("k2", "fp", lease).await.unwrap(), Claim::Acquired);

    // A crashed holder's claim is free once its lease ends.
    assert_eq!(store.claim("k3", "fp", Duration::from_millis(1)).await.unwrap(), Claim::Acquired);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.claim("k3", "fp", lease).await.unwrap(), Claim::Acquired);

    // Racing claims: exactly one wins.
    let results = futures::future::join_all((0..8).map(|_| store.claim("k4", "fp", lease))).await;
    assert_eq!(
        results.iter().filter(|r| matches!(r, Ok(Claim::Acquired))).count(),
        1,
        "{results:?}"
    );
}

#[tokio::test]
async fn when_idempotency_record_is_written_should_be_kept_at_least_seven_days() {
    let rt = runtime().await;
    let store = rt.dynamo().unwrap();
    store.claim("keep", "fp", Duration::from_secs(30)).await.unwrap();
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S("IDEM#keep".into()))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("IDEM".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(expires >= now_millis() / 1000 + 7 * 24 * 3600 - 5);
}

#[tokio::test]
async fn when_user_is_created_should_be_read_back_and_not_silently_replaced() {
    let store = runtime().await.dynamo().unwrap();
    let user = ApiUser::new("storeUser", Role::Yalo, &SecretString::from("a long enough password"))
        .unwrap();
    assert!(store.put_user(&user, false).await.unwrap());
    assert_eq!(store.get_user("storeUser").await.unwrap().unwrap(), user);
    assert!(matches!(store.put_user(&user, false).await, Err(omnibridge::Error::Conflict(_))));
    assert!(!store.put_user(&user, true).await.unwrap());
    assert!(store.delete_user("storeUser").await.unwrap());
    assert!(!store.delete_user("storeUser").await.unwrap());
    assert!(store.get_user("storeUser").await.unwrap().is_none());
}
