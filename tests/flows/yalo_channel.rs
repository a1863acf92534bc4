//! Yalo as the customers' channel: registering omnibridge's webhooks, and the
//! `to-customer` worker sending agent messages in the WhatsApp and Facebook
//! shapes, once each, through the sandbox's faults.

use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge_dev::sandbox::{Effect, Fault};
use omnibridge_tests::{eventually, system, System, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

async fn setup(workers: bool) -> System {
    system(workers, |_| {}).await
}

fn token(role: Role) -> String {
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    let username = if role == Role::Yalo { "yaloUser" } else { "salesforceUser" };
    keys.issue(
        &ApiUser { username: username.into(), role, password_hash: String::new() },
        now_millis() / 1000,
    )
    .unwrap()
}

async fn call(method: reqwest::Method, url: String, bearer: Option<String>) -> (u16, Value) {
    let mut req = omnibridge_dev::http().request(method, url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn when_the_bot_registers_the_webhook_should_make_yalo_deliver_to_omnibridge() {
    let s = setup(false).await;
    let base = &s.runner.base_url;
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{base}/v1/integrations/webhook/register/whatsapp"),
        Some(token(Role::Yalo)),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"Message": "Register webhook success with provider : whatsapp"}))
    );
    let regs: Value = reqwest::get(format!("{}/_sandbox/yalo/registrations", s.sandbox.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The URL carries the stack's webhook secret, which the webhook checks.
    let secret =
        s.rt.secret(&s.rt.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
            .await
            .unwrap();
    assert_eq!(
        regs[0]["webhook"],
        format!(
            "{base}/v1/integrations/whatsapp/webhook?secret={}",
            secrecy::ExposeSecret::expose_secret(&secret)
        )
    );
    assert_eq!(regs[0]["version"], 0);

    // The customer's message now reaches omnibridge through the registered webhook.
    let out = s.sandbox.client().customer_writes(&json!({"provider": "whatsapp", "botId": "omnibridge-wa", "userId": "5217331175599", "type": "text", "text": "Hola"})).await.unwrap();
    assert_eq!(out["deliveries"][0]["status"], 200);
    assert_eq!(
        s.rt.dynamo().unwrap().list_context("5217331175599", now_millis()).await.unwrap().len(),
        1
    );

    let (status, body) = call(
        reqwest::Method::DELETE,
        format!("{base}/v1/integrations/webhook/remove/whatsapp"),
        Some(token(Role::Yalo)),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"Message": "Remove webhook success with provider : whatsapp"}))
    );
    assert!(s.sandbox.client().violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_registration_is_refused_or_misused_should_answer_the_seeds_errors() {
    let s = setup(false).await;
    let base = &s.runner.base_url;
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{base}/v1/integrations/webhook/register/telegram"),
        Some(token(Role::Yalo)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{base}/v1/integrations/webhook/register/whatsapp"),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{base}/v1/integrations/webhook/register/whatsapp"),
        Some(token(Role::Salesforce)),
    )
    .await;
    assert_eq!(status, 403);
    s.sandbox
        .client()
        .inject(&Fault {
            peer: "yalo".into(),
            route: Some("yalo.register".into()),
            effect: Effect::Status {
                status: 500,
                retry_after_secs: None,
                sf_code: None,
                body: None,
            },
            times: Some(1),
            ratio: None,
        })
        .await
        .unwrap();
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{base}/v1/integrations/webhook/register/facebook"),
        Some(token(Role::Yalo)),
    )
    .await;
    assert_eq!((status, body), (500, json!({"ErrorDescription": "error register webhook"})));
}

async fn agent_message(
    rt: &omnibridge::bootstrap::Runtime,
    channel: ChannelKind,
    user: &str,
    source_id: &str,
    text: Option<&str>,
    files: &[(&str, &str)],
) -> Message {
    let store = rt.dynamo().unwrap();
    let conv = match store.find_open_conversation(channel, user).await.unwrap() {
        Some(c) => c,
        None => {
            let c = Conversation::open(
                channel,
                "coppel-bot",
                Participant::new(user, "Eduardo").unwrap(),
                DeskKind::Salesforce,
                "sf",
                now_millis(),
            )
            .unwrap();
            store.open_conversation(&c).await.unwrap();
            c
        }
    };
    let attachments = files
        .iter()
        .map(|(ct, url)| {
            let mut a = Attachment::new(ct).unwrap();
            a.source_url = Some(url.to_string());
            a
        })
        .collect();
    let m = Message::received(
        conv.id.clone(),
        Direction::Outbound,
        DeskKind::Salesforce,
        source_id,
        "005SB",
        text.map(str::to_owned),
        attachments,
        now_millis(),
    )
    .unwrap();
    store.append_message(&m).await.unwrap();
    rt.queue().enqueue(QueueName::ToCustomer, &QueueJob::recorded(&m)).await.unwrap();
    m
}

async fn settled(rt: &omnibridge::bootstrap::Runtime, id: &MessageId) -> Message {
    eventually(Duration::from_secs(30), || async {
        rt.dynamo().unwrap().get_message(id).await.unwrap().filter(|m| m.status.is_final())
    })
    .await
    .expect("the worker settled the message")
}

#[tokio::test]
async fn when_the_agent_answers_should_send_each_message_once_in_the_channels_shape_through_faults()
{
    let s = setup(true).await;
    let c = s.sandbox.client();
    // Yalo fails three times (429, 503, then a dropped connection) before accepting.
    for status in [429, 503] {
        c.inject(&Fault {
            peer: "yalo".into(),
            route: Some("yalo.messages".into()),
            effect: Effect::Status { status, retry_after_secs: Some(1), sf_code: None, body: None },
            times: Some(1),
            ratio: None,
        })
        .await
        .unwrap();
    }
    c.inject(&Fault {
        peer: "yalo".into(),
        route: Some("yalo.messages".into()),
        effect: Effect::Drop,
        times: Some(1),
        ratio: None,
    })
    .await
    .unwrap();
    let text = agent_message(
        &s.rt,
        ChannelKind::Whatsapp,
        "5217331175599",
        "sf-1",
        Some("Hola, soy Eva"),
        &[],
    )
    .await;
    // The desk's file links (the sandbox serves them); the worker sends our copies.
    let file = |name: &str| format!("{}/yeahdesk/files/{name}", s.sandbox.base_url);
    let media = agent_message(
        &s.rt,
        ChannelKind::Whatsapp,
        "5217331175599",
        "sf-2",
        Some("tu factura"),
        &[("application/pdf", &file("f.pdf")), ("image/png", &file("p.png"))],
    )
    .await;
    let fb = agent_message(
        &s.rt,
        ChannelKind::Facebook,
        "5018811078134037",
        "sf-3",
        Some("Hola"),
        &[("image/jpeg", &file("a.jpg"))],
    )
    .await;
    for m in [&text, &media, &fb] {
        let done = settled(&s.rt, &m.id).await;
        assert_eq!(done.status, MessageStatus::Sent, "{:?}", done.failure_reason);
        assert!(done.delivered_id.as_deref().unwrap().starts_with("yalo-"));
    }
    let wa = c.yalo_delivered(Some("5217331175599")).await.unwrap();
    let wa = wa.as_array().unwrap();
    let kinds: Vec<(&str, Option<&str>)> = wa
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["caption"].as_str().or(d["text"].as_str())))
        .collect();
    assert_eq!(
        kinds,
        [("text", Some("Hola, soy Eva")), ("document", Some("tu factura")), ("image", None)],
        "each once, in order"
    );
    assert_eq!(wa[0]["payload"]["userId"], "5217331175599");
    assert!(
        wa[1]["url"].as_str().unwrap().contains(s.rt.settings.bucket().unwrap()),
        "our copy: {}",
        wa[1]["url"]
    );
    let fbd = c.yalo_delivered(Some("5018811078134037")).await.unwrap();
    let fb_kinds: Vec<&str> =
        fbd.as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(fb_kinds, ["text", "image"]);
    assert_eq!(fbd[0]["payload"]["messaging_type"], "RESPONSE");
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_yalo_refuses_a_message_for_good_should_mark_it_failed_with_the_reason() {
    let s = setup(true).await;
    s.sandbox
        .client()
        .inject(&Fault {
            peer: "yalo".into(),
            route: Some("yalo.messages".into()),
            effect: Effect::Status {
                status: 400,
                retry_after_secs: None,
                sf_code: None,
                body: Some(json!({"error": "user blocked the bot"})),
            },
            times: Some(1),
            ratio: None,
        })
        .await
        .unwrap();
    let m = agent_message(&s.rt, ChannelKind::Whatsapp, "5217331175602", "sf-9", Some("Hola"), &[])
        .await;
    let done = settled(&s.rt, &m.id).await;
    assert_eq!(done.status, MessageStatus::Failed);
    assert!(
        done.failure_reason.as_deref().unwrap().contains("user blocked the bot"),
        "{:?}",
        done.failure_reason
    );
    // The agent is told, once.
    let failed = eventually(Duration::from_secs(20), || async {
        let convs = s.sandbox.client().salesforce_conversations().await.unwrap();
        convs
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["entries"].as_array().unwrap().clone())
            .find(|e| e["kind"] == "MessageDeliveryFailed")
    })
    .await
    .expect("MessageDeliveryFailed reached Salesforce");
    assert_eq!(failed["failed_entry"], "sf-9");
    assert!(s.sandbox.client().violations().await.unwrap().is_empty());

    // The operator looks at the DLQ, then redrives once the cause is gone: delivered, once.
    let letters = omnibridge_dev::dlq::list(&s.rt, QueueName::ToCustomer).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].message_id.as_deref(), Some(m.id.as_str()));
    assert!(letters[0].reason.as_deref().unwrap().contains("user blocked the bot"));
    assert_eq!(
        omnibridge_dev::dlq::list(&s.rt, QueueName::ToCustomer).await.unwrap().len(),
        1,
        "listing consumes nothing"
    );
    let redriven = omnibridge_dev::dlq::redrive(&s.rt, QueueName::ToCustomer, &[]).await.unwrap();
    assert_eq!(redriven.len(), 1);
    let sent = eventually(Duration::from_secs(20), || async {
        s.rt.dynamo()
            .unwrap()
            .get_message(&m.id)
            .await
            .unwrap()
            .filter(|m| m.status == MessageStatus::Sent)
    })
    .await
    .expect("delivered after redrive");
    assert!(sent.delivered_id.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.sandbox
            .client()
            .yalo_delivered(Some("5217331175602"))
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(omnibridge_dev::dlq::list(&s.rt, QueueName::ToCustomer).await.unwrap().is_empty());
}
