//! The custom channel (omnibridge as the seed's custom-channel server) and
//! Yeahdesk as a desk: every `E_*` error, contacts and dialogs, idempotency,
//! and the stories through the sandboxes.

use omnibridge::adapters::custom_channel::sign;
use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge::services::custom_channel::{CustomChannel, CustomChannels};
use omnibridge_tests::{eventually, system, Capture, System, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

/// A channel handing its customers to Yeahdesk, replies to `webhook`.
async fn channel(s: &System, webhook: Option<&str>) -> (CustomChannel, String) {
    let (c, token) =
        CustomChannel::create("web shop", webhook.map(str::to_owned), DeskKind::Yeahdesk, None);
    CustomChannels::new(s.rt.dynamo().unwrap()).put_channel(&c).await.unwrap();
    (c, token)
}

async fn post(
    s: &System,
    channel: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = omnibridge_dev::http()
        .post(format!("{}/api/custom-channel/message/{channel}?token={token}", s.runner.base_url))
        .json(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

fn contact(value: &str) -> Value {
    json!({"name": "Vasya Pupkin", "contacts": [{"value": value, "type": "id", "service": "custom", "origin": "custom"}]})
}

fn code(r: &(u16, Value)) -> (u16, &str) {
    (r.0, r.1["code"].as_str().unwrap_or("<none>"))
}

#[tokio::test]
async fn when_a_request_breaks_a_rule_of_the_seed_should_answer_its_e_code_and_status() {
    let s = system(false, |_| {}).await;
    let (ch, token) = channel(&s, None).await;
    let id = ch.id.as_str();
    let ok = post(&s, id, &token, None, &json!({"text": "hola", "contact_object": contact("u-1")}))
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let contact_id = ok.1["contact_id"].as_str().unwrap().to_owned();

    assert_eq!(
        code(
            &post(&s, id, "wrong", None, &json!({"text": "x", "contact_object": contact("u-1")}))
                .await
        ),
        (401, "E_INVALID_TOKEN")
    );
    assert_eq!(
        code(&post(&s, "5cc2f62000568c04afdc0c5e", &token, None, &json!({"text": "x"})).await),
        (401, "E_INVALID_TOKEN")
    );
    assert_eq!(
        code(&post(&s, id, &token, None, &json!({"text": "x"})).await),
        (400, "E_CONTACT_INFO_REQUIRED")
    );
    let both = json!({"text": "x", "contact_object": contact("u-1"), "contacts_id": [{"id": "6543000000000000000000aa", "value": "v", "type": "id", "service": "custom"}]});
    assert_eq!(code(&post(&s, id, &token, None, &both).await), (400, "E_CONTACT_INFO_REQUIRED"));
    let no_custom = json!({"text": "x", "contact_object": {"name": "A", "contacts": [{"value": "a@b.c", "type": "mail", "service": "mail"}]}});
    assert_eq!(
        code(&post(&s, id, &token, None, &no_custom).await),
        (400, "E_CUSTOM_CONTACTS_REQUIRED")
    );
    let unfilled = json!({"text": "x", "contact_object": {"name": "A", "contacts": [{"value": "u-2", "service": "custom"}]}});
    assert_eq!(
        code(&post(&s, id, &token, None, &unfilled).await),
        (400, "E_CONTACTS_VALUE_REQUIRED")
    );
    let mut bad_id = contact("u-1");
    bad_id["_id"] = json!("not-an-object-id");
    assert_eq!(
        code(&post(&s, id, &token, None, &json!({"text": "x", "contact_object": bad_id})).await),
        (400, "E_MALFORMED_CONTACT_ID")
    );
    let unknown_data = json!({"text": "x", "contacts_id": [{"id": "6543000000000000000000ab", "value": "v", "type": "id", "service": "custom"}]});
    assert_eq!(
        code(&post(&s, id, &token, None, &unknown_data).await),
        (400, "E_MALFORMED_CONTACT_ID")
    );
    let mut unknown = contact("u-1");
    unknown["_id"] = json!("6543000000000000000000ac");
    assert_eq!(
        code(&post(&s, id, &token, None, &json!({"text": "x", "contact_object": unknown})).await),
        (404, "E_CONTACT_NOT_FOUND")
    );
    let lost_dialog = json!({"text": "x", "dialog_id": uuid::Uuid::new_v4().to_string(), "contact_object": contact("u-1")});
    assert_eq!(code(&post(&s, id, &token, None, &lost_dialog).await), (404, "E_DIALOG_NOT_FOUND"));
    let registry = CustomChannels::new(s.rt.dynamo().unwrap());
    assert!(registry.delete_contact(&contact_id).await.unwrap());
    let mut deleted = contact("u-1");
    deleted["_id"] = json!(contact_id);
    assert_eq!(
        code(&post(&s, id, &token, None, &json!({"text": "x", "contact_object": deleted})).await),
        (404, "E_CONTACT_DELETED")
    );

    let mut c = registry.channel(id).await.unwrap().unwrap();
    c.enabled = false;
    registry.put_channel(&c).await.unwrap();
    assert_eq!(
        code(
            &post(&s, id, &token, None, &json!({"text": "x", "contact_object": contact("u-3")}))
                .await
        ),
        (403, "E_CHANNEL_NOT_ENABLED")
    );
    c.deleted = true;
    registry.put_channel(&c).await.unwrap();
    assert_eq!(
        code(
            &post(&s, id, &token, None, &json!({"text": "x", "contact_object": contact("u-3")}))
                .await
        ),
        (403, "E_CHANNEL_DELETED")
    );
    let (status, body) = post(&s, id, "wrong", None, &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("E_CHANNEL_DELETED")),
        "a deleted channel says so to anyone"
    );
}

#[tokio::test]
async fn when_contacts_share_data_or_dialogs_share_a_reference_should_be_one_contact_and_one_dialog(
) {
    let s = system(false, |_| {}).await;
    let (ch, token) = channel(&s, None).await;
    let id = ch.id.as_str();
    let first = post(
        &s,
        id,
        &token,
        None,
        &json!({"reference": "chat-1", "text": "uno", "contact_object": contact("avito-5521")}),
    )
    .await;
    assert_eq!(first.0, 200, "{}", first.1);
    // The same contact data with more data and no _id: merged into the same contact.
    let more = json!({"name": "Vasya", "contacts": [
        {"value": "avito-5521", "type": "id", "service": "custom", "origin": "custom"},
        {"value": "+79876543210", "type": "phone", "service": "phone", "origin": "custom"}]});
    let second = post(
        &s,
        id,
        &token,
        None,
        &json!({"reference": "chat-1", "text": "dos", "contact_object": more}),
    )
    .await;
    assert_eq!(second.1["contact_id"], first.1["contact_id"]);
    assert_eq!(second.1["dialog_id"], first.1["dialog_id"], "the reference finds the dialog");
    let registry = CustomChannels::new(s.rt.dynamo().unwrap());
    let c = registry
        .contact(ch.owner(), first.1["contact_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.name.as_str(), c.contacts.len()), ("Vasya", 2));
    // contacts_id updates a custom item's value; the phone (not custom) may not be named.
    let custom_item =
        c.contacts.iter().find(|d| d.service == "custom").unwrap().id.clone().unwrap();
    let phone_item = c.contacts.iter().find(|d| d.service == "phone").unwrap().id.clone().unwrap();
    let third = post(&s, id, &token, None, &json!({"dialog_id": first.1["dialog_id"], "text": "tres",
        "contacts_id": [{"id": custom_item, "value": "avito-5521-b", "type": "id", "service": "custom", "origin": "custom"}]})).await;
    assert_eq!(
        (third.0, &third.1["contact_id"], &third.1["dialog_id"]),
        (200, &first.1["contact_id"], &first.1["dialog_id"])
    );
    let not_custom = post(&s, id, &token, None, &json!({"text": "x", "contacts_id": [{"id": phone_item, "value": "+7", "type": "phone", "service": "phone"}]})).await;
    assert_eq!(code(&not_custom), (400, "E_MALFORMED_CONTACT_ID"));
    // Another reference, and none at all: new dialogs.
    let other = post(
        &s,
        id,
        &token,
        None,
        &json!({"reference": "chat-2", "text": "x", "contact_object": contact("avito-5521-b")}),
    )
    .await;
    let none_a = post(
        &s,
        id,
        &token,
        None,
        &json!({"text": "x", "contact_object": contact("avito-5521-b")}),
    )
    .await;
    let none_b = post(
        &s,
        id,
        &token,
        None,
        &json!({"text": "x", "contact_object": contact("avito-5521-b")}),
    )
    .await;
    let dialogs: std::collections::BTreeSet<&str> = [&first, &other, &none_a, &none_b]
        .iter()
        .map(|r| r.1["dialog_id"].as_str().unwrap())
        .collect();
    assert_eq!(dialogs.len(), 4);
    assert_eq!(
        none_a.1["contact_id"], first.1["contact_id"],
        "the updated value still finds the contact"
    );
    let conv = s
        .rt
        .dynamo()
        .unwrap()
        .get_conversation(&ConversationId::parse(first.1["dialog_id"].as_str().unwrap()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (conv.reference.as_deref(), conv.desk, conv.channel),
        (Some("chat-1"), DeskKind::Yeahdesk, ChannelKind::Custom)
    );
    let messages =
        s.rt.dynamo().unwrap().list_messages(&conv.id, 10, None, false).await.unwrap().items;
    let texts: Vec<&str> = messages
        .iter()
        .filter(|m| m.source != MessageSource::Handoff)
        .map(|m| m.text.as_deref().unwrap())
        .collect();
    assert_eq!(texts, ["uno", "dos", "tres"]);
}

#[tokio::test]
async fn when_a_source_retries_with_the_same_idempotency_key_should_create_one_message_and_refuse_a_changed_body(
) {
    let s = system(false, |_| {}).await;
    let (ch, token) = channel(&s, None).await;
    let body = json!({"reference": "chat-9", "text": "hola", "integration_data": "{\"chat\":9}", "contact_object": contact("u-9")});
    let a = post(&s, &ch.id, &token, Some("req-1"), &body).await;
    let b = post(&s, &ch.id, &token, Some("req-1"), &body).await;
    assert_eq!(a.0, 200, "{}", a.1);
    assert_eq!(a, b, "the same answer");
    let conv = ConversationId::parse(a.1["dialog_id"].as_str().unwrap()).unwrap();
    let messages =
        s.rt.dynamo().unwrap().list_messages(&conv, 10, None, false).await.unwrap().items;
    assert_eq!(messages.iter().filter(|m| m.source != MessageSource::Handoff).count(), 1);
    assert_eq!(
        messages
            .iter()
            .find(|m| m.source != MessageSource::Handoff)
            .unwrap()
            .integration_data
            .as_deref(),
        Some("{\"chat\":9}")
    );
    let mut changed = body.clone();
    changed["text"] = json!("adiós");
    assert_eq!(
        code(&post(&s, &ch.id, &token, Some("req-1"), &changed).await),
        (409, "E_IDEMPOTENCY_CONFLICT")
    );
    // Concurrent twins: one message.
    let twin = json!({"reference": "chat-9", "text": "otra", "contact_object": contact("u-9")});
    let (x, y) = tokio::join!(
        post(&s, &ch.id, &token, Some("req-2"), &twin),
        post(&s, &ch.id, &token, Some("req-2"), &twin)
    );
    assert!(x.0 == 200 || y.0 == 200, "{x:?} {y:?}");
    let messages =
        s.rt.dynamo().unwrap().list_messages(&conv, 10, None, false).await.unwrap().items;
    assert_eq!(messages.iter().filter(|m| m.text.as_deref() == Some("otra")).count(), 1);
}

/// Checks a reply webhook's signature as the README tells sources to.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    (now_millis() / 1000 - t).abs() < 300 && sign(secret, t, body) == header
}

#[tokio::test]
async fn when_a_custom_sources_customer_reaches_a_yeahdesk_agent_should_carry_the_reply_back_signed_with_its_integration_data(
) {
    let source = Capture::start().await;
    let s = system(true, |_| {}).await;
    let (ch, token) = channel(&s, Some(&format!("{}/replies", source.url))).await;
    let c = s.sandbox.client();
    let first = post(&s, &ch.id, &token, Some("m-1"), &json!({"reference": "avito-81723", "dialog_title": "bicicleta",
        "text": "¿Sigue disponible?", "integration_data": "{\"avitoChatId\":\"81723\"}", "contact_object": contact("avito-5521")})).await;
    assert_eq!(first.0, 200, "{}", first.1);
    post(&s, &ch.id, &token, Some("m-2"), &json!({"reference": "avito-81723", "text": "foto:", "dialog_title": "bicicleta roja",
        "attachments": [{"url": format!("{}/yeahdesk/files/bici.jpg", s.sandbox.base_url), "name": "bici.jpg", "mimeType": "image/jpeg", "size": 10}],
        "contact_object": contact("avito-5521")})).await;
    // Yeahdesk's agent sees the transcript, then both messages, in one dialog.
    let dialog = eventually(Duration::from_secs(30), || async {
        let d = c.yeahdesk_dialogs().await.unwrap();
        d.as_array()
            .unwrap()
            .iter()
            .find(|d| {
                d["reference"] == first.1["dialog_id"]
                    && d["messages"].as_array().unwrap().len() >= 3
            })
            .cloned()
    })
    .await
    .expect("the agent sees the dialog");
    let msgs = dialog["messages"].as_array().unwrap();
    assert!(msgs[0]["text"].as_str().unwrap().starts_with("Cliente: Vasya Pupkin"), "{}", msgs[0]);
    assert_eq!(msgs[1]["text"], "¿Sigue disponible?");
    assert_eq!(msgs[2]["attachments"][0]["mimeType"], "image/jpeg");
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        dialog["title"], "bicicleta roja",
        "the source's title, updated by its second message"
    );

    let out = c
        .yeahdesk_agent_replies(
            &json!({"dialogId": dialog["id"], "text": "Да, в наличии", "deliveries": 5}),
        )
        .await
        .unwrap();
    assert!(out["deliveries"].as_array().unwrap().iter().all(|d| d == &json!([200])), "{out}");
    let got =
        eventually(Duration::from_secs(30), || async { source.received().into_iter().next() })
            .await
            .expect("the source gets the reply");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(source.received().len(), 1, "five deliveries, one reply");
    assert_eq!(got.path, "/replies");
    assert!(
        verify(&ch.signing_secret, got.header("x-omnibridge-signature").unwrap(), &got.body),
        "signed with the channel's key"
    );
    assert!(!verify("another key", got.header("x-omnibridge-signature").unwrap(), &got.body));
    let reply = got.json();
    assert_eq!(reply["integration_data"], "{\"avitoChatId\":\"81723\"}");
    assert_eq!(
        (reply["dialog_id"].as_str(), reply["reference"].as_str()),
        (first.1["dialog_id"].as_str(), Some("avito-81723"))
    );
    assert_eq!(reply["message"]["text"], "Да, в наличии");
    assert!(c.violations().await.unwrap().is_empty(), "{:?}", c.violations().await.unwrap());
}

#[tokio::test]
async fn when_the_sources_webhook_keeps_failing_should_retry_then_mark_the_reply_failed() {
    let source = Capture::start().await;
    let s = system(true, |_| {}).await;
    let (ch, token) = channel(&s, Some(&source.url)).await;
    let first = post(
        &s,
        &ch.id,
        &token,
        None,
        &json!({"reference": "r-1", "text": "hola", "contact_object": contact("u-77")}),
    )
    .await;
    let conv = ConversationId::parse(first.1["dialog_id"].as_str().unwrap()).unwrap();
    // A 503, then a 400: retried once, then failed for good with the reason.
    source.respond_with(&[503, 400]);
    let reply = Message::received(
        conv.clone(),
        Direction::Outbound,
        DeskKind::Yeahdesk,
        "agent-msg-1",
        "agent",
        Some("hola".into()),
        vec![],
        now_millis(),
    )
    .unwrap();
    let store = s.rt.dynamo().unwrap();
    let conversation = store.get_conversation(&conv).await.unwrap().unwrap();
    omnibridge::services::delivery::record_and_queue(
        &store,
        &s.rt.queue(),
        QueueName::ToCustomer,
        &conversation.reference(),
        &reply,
    )
    .await
    .unwrap();
    let m = eventually(Duration::from_secs(30), || async {
        s.rt.dynamo()
            .unwrap()
            .get_message(&reply.id)
            .await
            .unwrap()
            .filter(|m| m.status == MessageStatus::Failed)
    })
    .await
    .expect("failed after the source refused");
    assert!(m.failure_reason.unwrap().contains("400"));
    assert_eq!(source.received().len(), 2);
}

fn token() -> String {
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    keys.issue(
        &ApiUser { username: "yaloUser".into(), role: Role::Yalo, password_hash: String::new() },
        now_millis() / 1000,
    )
    .unwrap()
}

#[tokio::test]
async fn when_a_whatsapp_customer_reaches_a_yeahdesk_agent_should_carry_the_reply_back_to_whatsapp_once(
) {
    let s = system(true, |p| {
        p.set("DeskByBot", "help-bot=yeahdesk");
    })
    .await;
    let c = s.sandbox.client();
    let user = "5215550009999";
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "help-bot", "userId": user, "type": "text", "text": "Hola"})).await.unwrap();
    let body = json!({"userID": user, "botSlug": "help-bot", "botId": "1", "name": "Ana", "provider": "whatsapp", "email": "ana@example.com"});
    let res = omnibridge_dev::http()
        .post(format!("{}/v1/chats/connect", s.runner.base_url))
        .bearer_auth(token())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "help-bot", "userId": user, "type": "text", "text": "necesito ayuda", "deliveries": 2})).await.unwrap();
    let conv =
        s.rt.dynamo()
            .unwrap()
            .find_open_conversation(ChannelKind::Whatsapp, user)
            .await
            .unwrap()
            .unwrap();
    let dialog = eventually(Duration::from_secs(30), || async {
        let d = c.yeahdesk_dialogs().await.unwrap();
        d.as_array()
            .unwrap()
            .iter()
            .find(|d| {
                d["reference"] == conv.id.as_str() && d["messages"].as_array().unwrap().len() >= 2
            })
            .cloned()
    })
    .await
    .expect("the Yeahdesk agent sees the chat");
    assert!(
        dialog["messages"][0]["text"].as_str().unwrap().contains("Cliente ["),
        "{}",
        dialog["messages"][0]
    );
    assert_eq!(dialog["messages"][1]["text"], "necesito ayuda");
    c.yeahdesk_agent_replies(
        &json!({"dialogId": dialog["id"], "text": "¿En qué te ayudo?", "deliveries": 5,
        "attachments": [{"name": "guia.pdf", "mimeType": "application/pdf"}]}),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(30), || async {
        let d = c.yalo_delivered(Some(user)).await.unwrap();
        (!d.as_array().unwrap().is_empty()).then_some(())
    })
    .await
    .expect("the customer gets the reply");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered = c.yalo_delivered(Some(user)).await.unwrap();
    assert_eq!(
        delivered.as_array().unwrap().len(),
        1,
        "one piece: the file with the text as caption: {delivered}"
    );
    assert_eq!(delivered[0]["caption"], "¿En qué te ayudo?");
    let url = delivered[0]["url"].as_str().unwrap();
    assert!(url.contains(s.rt.settings.bucket().unwrap()), "our copy, not Yeahdesk's link: {url}");
    let conv = s.rt.dynamo().unwrap().get_conversation(&conv.id).await.unwrap().unwrap();
    assert_eq!(conv.status, ConversationStatus::Active);
    assert!(c.violations().await.unwrap().is_empty(), "{:?}", c.violations().await.unwrap());
}

#[tokio::test]
async fn when_yeahdesks_webhook_lacks_the_secret_or_names_no_dialog_of_ours_should_refuse_or_ignore_it(
) {
    let s = system(false, |_| {}).await;
    let url = format!("{}/v1/yeahdesk/webhook", s.runner.base_url);
    let http = omnibridge_dev::http();
    let hook = json!({"event": "message.created", "data": {"reference": uuid::Uuid::new_v4().to_string(), "message": {"id": "m1", "text": "hi", "author": {"type": "operator", "id": "a"}}}});
    assert_eq!(http.post(&url).json(&hook).send().await.unwrap().status(), 401);
    assert_eq!(
        http.post(format!("{url}?secret=nope")).json(&hook).send().await.unwrap().status(),
        401
    );
    let res = http
        .post(&url)
        .header("x-omnibridge-secret", "sandbox-yeahdesk-webhook-secret")
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["ignored"], "not a dialog of omnibridge's");
    let res = http
        .post(format!("{url}?secret=sandbox-yeahdesk-webhook-secret"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "E_BAD_REQUEST");
}

#[tokio::test]
async fn when_a_contact_is_erased_should_leave_no_contact_data_and_a_new_message_should_make_a_new_contact(
) {
    let s = system(false, |_| {}).await;
    let (ch, token) = channel(&s, None).await;
    let first = post(
        &s,
        &ch.id,
        &token,
        None,
        &json!({"reference": "r-e", "text": "hola", "contact_object": contact("u-erase")}),
    )
    .await;
    assert_eq!(first.0, 200, "{}", first.1);
    let contact_id = first.1["contact_id"].as_str().unwrap().to_owned();
    let dialog = ConversationId::parse(first.1["dialog_id"].as_str().unwrap()).unwrap();
    let store = s.rt.dynamo().unwrap();
    let stored =
        CustomChannels::new(store.clone()).contact(&ch.id, &contact_id).await.unwrap().unwrap();
    let data_id = stored.contacts[0].id.clone().unwrap();
    // A changed value drops the old one: it no longer finds the contact.
    let changed = json!({"text": "x", "contacts_id": [{"id": data_id, "value": "u-erase-2", "type": "id", "service": "custom"}]});
    assert_eq!(post(&s, &ch.id, &token, None, &changed).await.0, 200);
    let moved =
        post(&s, &ch.id, &token, None, &json!({"text": "y", "contact_object": contact("u-erase")}))
            .await;
    assert_ne!(
        moved.1["contact_id"].as_str().unwrap(),
        contact_id,
        "the old value still finds the contact"
    );
    let erased = omnibridge::services::erase::erase_customer(
        &store,
        &s.rt.blobs().unwrap(),
        ChannelKind::Custom,
        &contact_id,
    )
    .await
    .unwrap();
    // Two dialogs ("hola" with its reference, "x" without), each with its message and the desk's transcript.
    assert!(
        erased.contact
            && erased.conversations == 2
            && erased.messages == 4
            && erased.context_entries == 2,
        "{erased:?}"
    );
    assert!(store.get_conversation(&dialog).await.unwrap().is_none());
    assert!(store.list_context(&contact_id, now_millis()).await.unwrap().is_empty());
    let registry = CustomChannels::new(store.clone());
    assert!(registry.contact(&ch.id, &contact_id).await.unwrap().is_none());
    // The new value no longer leads to the erased contact.
    for value in ["u-erase-2"] {
        let again = post(
            &s,
            &ch.id,
            &token,
            None,
            &json!({"text": "otra vez", "contact_object": contact(value)}),
        )
        .await;
        assert_eq!(again.0, 200, "{}", again.1);
        assert_ne!(again.1["contact_id"].as_str().unwrap(), contact_id);
    }
}
