//! Retention: what the store writes expires (the table's TTL), a
//! conversation in use is kept, reads skip what is past its lifetime, and
//! the operator's erase command removes one customer everywhere.

use aws_sdk_dynamodb::types::AttributeValue;
use omnibridge::adapters::dynamodb::{DynamoStore, Retention};
use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge_tests::{eventually, runtime, start, Options, JWT_SECRET};
use serde_json::json;
use std::time::Duration;

const DAY: i64 = 24 * 3600;

async fn expires_at(store: &DynamoStore, pk: &str, sk: &str) -> Option<i64> {
    let key = [
        ("PK".to_owned(), AttributeValue::S(pk.into())),
        ("SK".to_owned(), AttributeValue::S(sk.into())),
    ];
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key.into()))
        .send()
        .await
        .unwrap();
    out.item?.get("expires_at").map(|v| v.as_n().unwrap().parse().unwrap())
}

async fn set_expires_at(store: &DynamoStore, pk: &str, sk: &str, at: i64) {
    let key = [
        ("PK".to_owned(), AttributeValue::S(pk.into())),
        ("SK".to_owned(), AttributeValue::S(sk.into())),
    ];
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(key.into()))
        .update_expression("SET expires_at = :e")
        .expression_attribute_values(":e", AttributeValue::N(at.to_string()))
        .send()
        .await
        .unwrap();
}

fn near(got: Option<i64>, want: i64) -> bool {
    got.is_some_and(|g| (g - want).abs() < 120)
}

#[tokio::test]
async fn when_conversations_and_messages_are_written_should_expire_after_the_retention_unless_in_use(
) {
    let rt = runtime().await;
    let store = rt.dynamo().unwrap();
    let now = now_millis() / 1000;
    let customer = Participant::new("5217331180001", "Eduardo").unwrap();
    let c = Conversation::open(
        ChannelKind::Whatsapp,
        "coppel-bot",
        customer,
        DeskKind::Salesforce,
        "sf",
        now_millis(),
    )
    .unwrap();
    store.open_conversation(&c).await.unwrap();
    let m = Message::received(
        c.id.clone(),
        Direction::Inbound,
        ChannelKind::Whatsapp,
        "wamid.r1",
        "521",
        Some("hola".into()),
        vec![],
        now_millis(),
    )
    .unwrap();
    store.append_message(&m).await.unwrap();
    // The stack's default: 90 days, for the conversation, its pointer and the message.
    let conv_pk = format!("CONV#{}", c.id);
    let open_pk = "OPEN#whatsapp#5217331180001";
    for (pk, sk) in
        [(conv_pk.as_str(), "CONV"), (open_pk, "OPEN"), (&format!("MSG#{}", m.id), "MSG")]
    {
        assert!(near(expires_at(&store, pk, sk).await, now + 90 * DAY), "{pk}");
    }

    // A conversation with more than half its lifetime left is not written again...
    let stored = store.get_conversation(&c.id).await.unwrap().unwrap();
    set_expires_at(&store, &conv_pk, "CONV", now + 60 * DAY).await;
    store
        .keep_conversation(
            &Conversation { expires_at: Some(now + 60 * DAY), ..stored.clone() }.reference(),
        )
        .await
        .unwrap();
    assert_eq!(expires_at(&store, &conv_pk, "CONV").await, Some(now + 60 * DAY));
    // ...one with less is kept another full lifetime, with its customer's pointer.
    set_expires_at(&store, &conv_pk, "CONV", now + 10 * DAY).await;
    set_expires_at(&store, open_pk, "OPEN", now + 10 * DAY).await;
    // (A webhook keeps it as the customer's pointer tells it.)
    let aging = store.find_open(ChannelKind::Whatsapp, "5217331180001").await.unwrap().unwrap();
    assert_eq!(
        (&aging.id, aging.status, aging.expires_at),
        (&c.id, ConversationStatus::Queued, Some(now + 10 * DAY))
    );
    store.keep_conversation(&aging).await.unwrap();
    assert!(near(expires_at(&store, &conv_pk, "CONV").await, now + 90 * DAY));
    assert!(near(expires_at(&store, open_pk, "OPEN").await, now + 90 * DAY));

    // Past its lifetime, an item is not read, even before DynamoDB deletes it.
    set_expires_at(&store, &format!("MSG#{}", m.id), "MSG", now - 1).await;
    assert!(store.get_message(&m.id).await.unwrap().is_none());
    assert!(store.list_messages(&c.id, 10, None, false).await.unwrap().items.is_empty());
    let (message, conversation) = store.get_message_in(&m.id, &c.id).await.unwrap();
    assert!(message.is_none() && conversation.is_some());
    set_expires_at(&store, open_pk, "OPEN", now - 1).await;
    assert!(
        store.find_open(ChannelKind::Whatsapp, "5217331180001").await.unwrap().is_none(),
        "an expired pointer names nothing"
    );
    set_expires_at(&store, &conv_pk, "CONV", now - 1).await;
    assert!(store.get_conversation(&c.id).await.unwrap().is_none());
    assert!(store
        .find_open_conversation(ChannelKind::Whatsapp, "5217331180001")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn when_a_store_has_a_retention_should_give_its_records_and_idempotency_claims_that_lifetime()
{
    let rt = runtime().await;
    let base = rt.dynamo().unwrap();
    let store = DynamoStore::new(base.client().clone(), base.table()).with_retention(Retention {
        records: Duration::from_secs(30 * DAY as u64),
        idempotency: Duration::from_secs(9 * DAY as u64),
    });
    let now = now_millis() / 1000;
    store.claim("retention-test", "fp", Duration::from_secs(30)).await.unwrap();
    assert!(near(expires_at(&store, "IDEM#retention-test", "IDEM").await, now + 9 * DAY));
    let c = Conversation::open(
        ChannelKind::Facebook,
        "bot",
        Participant::new("psid-1", "A").unwrap(),
        DeskKind::Pipedrive,
        "pd",
        now_millis(),
    )
    .unwrap();
    store.open_conversation(&c).await.unwrap();
    assert!(near(expires_at(&store, &format!("CONV#{}", c.id), "CONV").await, now + 30 * DAY));
}

#[tokio::test]
async fn when_the_operator_erases_a_customer_should_leave_nothing_of_them_in_the_table_or_the_bucket(
) {
    let local = start(Options::new(true), |_| {}).await;
    let sandbox = local.sandbox.as_ref().unwrap();
    let c = sandbox.client();
    let user = "5217331180077";
    let other = "5217331180078";
    for u in [user, other] {
        c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": u, "type": "text", "text": "Hola", "authorRole": "user"})).await.unwrap();
    }
    let keys = omnibridge::services::auth::TokenKeys::new(
        &secrecy::SecretString::from(JWT_SECRET),
        Duration::from_secs(600),
    )
    .unwrap();
    let user_of = omnibridge::services::auth::ApiUser {
        username: "yaloUser".into(),
        role: omnibridge::services::auth::Role::Yalo,
        password_hash: String::new(),
    };
    let token = keys.issue(&user_of, now_millis() / 1000).unwrap();
    for u in [user, other] {
        let body = json!({"userID": u, "botSlug": "coppel-bot", "botId": "521554578545", "name": "Eduardo", "provider": "whatsapp", "email": "e@example.com"});
        let res = omnibridge_dev::http()
            .post(format!("{}/v1/chats/connect", local.runner.base_url))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": u, "type": "image", "mimeType": "image/jpeg", "caption": "mi ticket"})).await.unwrap();
    }
    let store = local.operator.dynamo().unwrap();
    let blobs = local.operator.blobs().unwrap();
    let conversation =
        store.find_open_conversation(ChannelKind::Whatsapp, user).await.unwrap().unwrap();
    let others = store.find_open_conversation(ChannelKind::Whatsapp, other).await.unwrap().unwrap();
    let objects = |prefix: String| {
        let blobs = blobs.clone();
        async move {
            blobs
                .client()
                .list_objects_v2()
                .bucket(blobs.bucket())
                .prefix(prefix)
                .send()
                .await
                .unwrap()
                .contents()
                .len()
        }
    };
    for id in [&conversation.id, &others.id] {
        eventually(Duration::from_secs(30), || async {
            (objects(format!("{id}/")).await == 1).then_some(())
        })
        .await
        .expect("the image reached the bucket");
    }

    // The operator's command, as run against a deployment.
    let admin = omnibridge_tests::debug_binaries().join("omnibridge-admin");
    let out = tokio::process::Command::new(&admin)
        .args(["erase-customer", "--channel", "whatsapp", "--customer", user])
        .envs(omnibridge_dev::local::operator_environment(&local.stack))
        .env("AWS_ENDPOINT_URL", &local.endpoint)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} (cargo build --workspace --bins): {e}", admin.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let erased: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(erased["conversations"], 1, "{erased}");
    assert_eq!(erased["attachments"], 1, "{erased}");
    // The image (Salesforce's transcript is not a message of ours), and the
    // two context entries: the bot's conversation and the image's caption.
    assert_eq!(erased["messages"], 1, "{erased}");
    assert_eq!(erased["context_entries"], 2, "{erased}");

    assert!(store.get_conversation(&conversation.id).await.unwrap().is_none());
    assert!(store.find_open_conversation(ChannelKind::Whatsapp, user).await.unwrap().is_none());
    assert!(store
        .list_messages(&conversation.id, 100, None, false)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(store.list_context(user, now_millis()).await.unwrap().is_empty());
    assert_eq!(objects(format!("{}/", conversation.id)).await, 0);
    // The other customer is untouched.
    assert!(store.get_conversation(&others.id).await.unwrap().is_some());
    assert_eq!(store.list_context(other, now_millis()).await.unwrap().len(), 2);
    assert_eq!(objects(format!("{}/", others.id)).await, 1);
}
