//! The Yalo webhooks through the local runner, fed by the sandbox's
//! simulated customers: the 24-hour context, the hand-over to the desk
//! queue during a chat, redeliveries, signatures and malformed bodies.

use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge_tests::{start, Options, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

struct Setup {
    rt: omnibridge::bootstrap::Runtime,
    runner: omnibridge_dev::runner::Running,
    sandbox: omnibridge_dev::sandbox::RunningSandbox,
    token: String,
}

async fn setup(secret: Option<&str>) -> Setup {
    let mut options = Options::new(false); // workers off: these tests look at what reaches the queue
    if let Some(config) = options.sandbox.as_mut() {
        config.yalo.webhook_secret = secret.map(str::to_owned);
    }
    let local = start(options, |p| {
        if let Some(secret) = secret {
            p.secret("YaloWebhookSecretArn", secret);
        }
    })
    .await;
    let (rt, runner, sandbox) = (local.operator, local.runner, local.sandbox.unwrap());
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    let user =
        ApiUser { username: "yaloUser".into(), role: Role::Yalo, password_hash: String::new() };
    let token = keys.issue(&user, now_millis() / 1000).unwrap();
    Setup { rt, runner, sandbox, token }
}

impl Setup {
    async fn context(&self, user: &str) -> Vec<Value> {
        let res = omnibridge_dev::http()
            .get(format!("{}/v1/context/{user}", self.runner.base_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Vec<Value>>().await.unwrap()
    }

    async fn write(&self, w: Value) -> Value {
        self.sandbox.client().customer_writes(&w).await.unwrap()
    }

    /// Opens a chat for the customer, as the handoff will.
    async fn open_chat(&self, channel: ChannelKind, user: &str) -> Conversation {
        let c = Conversation::open(
            channel,
            "coppel-bot",
            Participant::new(user, "Eduardo").unwrap(),
            DeskKind::Salesforce,
            "sf-channel",
            now_millis(),
        )
        .unwrap();
        self.rt.dynamo().unwrap().open_conversation(&c).await.unwrap();
        c
    }

    async fn queued_jobs(&self) -> Vec<QueueJob> {
        let url = self.rt.settings.to_desk_queue_url.clone().unwrap();
        let mut jobs = Vec::new();
        for _ in 0..3 {
            let out = self
                .rt
                .queue()
                .client()
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in out.messages.unwrap_or_default() {
                jobs.push(serde_json::from_str(m.body.as_deref().unwrap()).unwrap());
            }
        }
        jobs
    }
}

#[tokio::test]
async fn when_a_whatsapp_customer_talks_to_the_bot_should_keep_both_sides_in_the_context_only() {
    let s = setup(None).await;
    let user = "5217331175599";
    let out = s.write(json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "Hola"})).await;
    assert_eq!(out["deliveries"][0]["status"], 200, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(out["deliveries"][0]["body"].as_str().unwrap()).unwrap(),
        json!({"Message": "insert success"})
    );
    // AWS calls per webhook, as the IAM gateway counts them: the customer's
    // pointer and the context entry; for the bot's message, the entry alone.
    let calls = || s.runner.gateway.calls("whatsapp-webhook");
    let before = calls();
    s.write(json!({"provider": "whatsapp", "botId": "5215500000000", "userId": user, "type": "text", "text": "¡Hola! Soy Coppelbot", "authorRole": "bot"})).await;
    assert_eq!(calls() - before, 1, "a bot message: the context entry");
    let before = calls();
    s.write(json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "image", "mimeType": "image/jpeg", "caption": "mi ticket"})).await;
    assert_eq!(
        calls() - before,
        2,
        "a customer without a chat: the pointer, then the context entry"
    );
    let ctx = s.context(user).await;
    let from: Vec<&str> = ctx.iter().map(|e| e["from"].as_str().unwrap()).collect();
    assert_eq!(from, ["user", "bot", "user"]);
    assert_eq!(ctx[0]["text"], "Hola");
    assert_eq!(ctx[2]["mimeType"], "image/jpeg");
    assert_eq!(ctx[2]["caption"], "mi ticket");
    assert!(s.queued_jobs().await.is_empty(), "no chat: nothing for the desk");
}

#[tokio::test]
async fn when_the_customer_has_a_chat_should_queue_each_message_once_for_the_desk_whose_worker_records_it_once(
) {
    let s = setup(None).await;
    let user = "5217331175600";
    let chat = s.open_chat(ChannelKind::Whatsapp, user).await;
    // The same webhook delivered 3 times one after another, then twice at once.
    let ts = now_millis();
    s.write(json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "Necesito ayuda", "messageId": "wamid.A", "timestamp": ts, "deliveries": 3})).await;
    s.write(json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "Necesito ayuda", "messageId": "wamid.A", "timestamp": ts, "deliveries": 2, "concurrent": true})).await;
    let calls = || s.runner.gateway.calls("whatsapp-webhook");
    let before = calls();
    s.write(json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "document", "mimeType": "application/pdf", "caption": "factura", "messageId": "wamid.B"})).await;
    assert_eq!(
        calls() - before,
        3,
        "in a chat: the pointer, the context entry, the queue (which carries the message)"
    );
    // The bot's messages during the chat stay in the context.
    s.write(json!({"provider": "whatsapp", "botId": "5215500000000", "userId": user, "type": "text", "text": "Un agente te atenderá", "authorRole": "bot"})).await;
    assert_eq!(s.context(user).await.len(), 3, "redeliveries add nothing to the context");

    let jobs = s.queued_jobs().await;
    assert_eq!(jobs.len(), 2, "queued once each: {jobs:?}");
    assert!(jobs.iter().all(|j| j.conversation_id == chat.id));
    let carried: Vec<&Message> =
        jobs.iter().map(|j| j.record.as_deref().expect("the job carries its message")).collect();
    assert_eq!(carried[0].text.as_deref(), Some("Necesito ayuda"), "in order");
    assert_eq!(carried[1].attachments[0].content_type, "application/pdf");
    assert!(carried[1].attachments[0].source_url.as_deref().unwrap().contains("/yalo/media/"));

    // The worker records each message once, even from a copy queued again
    // after the queue's deduplication window (a late redelivered webhook).
    let store = s.rt.dynamo().unwrap();
    let sent = std::sync::atomic::AtomicUsize::new(0);
    for job in jobs.iter().chain(&jobs[..1]) {
        omnibridge::services::delivery::deliver(
            &store,
            job,
            Direction::Inbound,
            false,
            |_, _| async {
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Receipt { id: Some("desk-1".into()) })
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(sent.into_inner(), 2, "each message sent once");
    let page = store.list_messages(&chat.id, 10, None, false).await.unwrap();
    assert_eq!(
        page.items.iter().map(|m| (m.source_id.as_str(), m.status)).collect::<Vec<_>>(),
        [("wamid.A", MessageStatus::Sent), ("wamid.B", MessageStatus::Sent)]
    );
}

#[tokio::test]
async fn when_a_facebook_customer_and_bot_write_should_store_both_and_forward_the_customers_during_a_chat(
) {
    let s = setup(None).await;
    let user = "5018811078134037";
    s.write(json!({"provider": "facebook", "botId": "messeger-staging-bot", "userId": user, "type": "text", "text": "Hola"})).await;
    s.write(json!({"provider": "facebook", "botId": "messeger-staging-bot", "userId": user, "type": "text", "text": "¿En qué te ayudo?", "authorRole": "bot"})).await;
    let ctx = s.context(user).await;
    assert_eq!(
        ctx.iter().map(|e| e["from"].as_str().unwrap()).collect::<Vec<_>>(),
        ["user", "bot"]
    );
    let chat = s.open_chat(ChannelKind::Facebook, user).await;
    s.write(json!({"provider": "facebook", "botId": "messeger-staging-bot", "userId": user, "type": "image"})).await;
    let jobs = s.queued_jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].conversation_id, chat.id);
    assert_eq!(
        jobs[0].record.as_ref().unwrap().source,
        MessageSource::Channel(ChannelKind::Facebook)
    );
}

#[tokio::test]
async fn when_a_webhook_is_malformed_should_answer_the_seeds_400_and_change_nothing() {
    let s = setup(None).await;
    let http = omnibridge_dev::http();
    let secret =
        s.rt.secret(&s.rt.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
            .await
            .unwrap();
    let secret = secrecy::ExposeSecret::expose_secret(&secret).to_owned();
    let post = |path: &str, body: &str| {
        http.post(format!("{}{path}?secret={secret}", s.runner.base_url))
            .body(body.to_owned())
            .send()
    };
    let res = post("/v1/integrations/whatsapp/webhook", "{not json").await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["ErrorDescription"].as_str().unwrap().starts_with("Invalid payload received : "));
    let res = post(
        "/v1/integrations/whatsapp/webhook",
        r#"{"from":"521","type":"text","text":{"body":"x"}}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ErrorDescription"], "Error validating payload : Key: 'IntegrationsRequest.ID' Error:Field validation for 'ID' failed on the 'required' tag\nKey: 'IntegrationsRequest.Timestamp' Error:Field validation for 'Timestamp' failed on the 'required' tag");
    let res = post("/v1/integrations/facebook/webhook", r#"{"message":{}}"#).await.unwrap();
    assert_eq!(res.status(), 400);
    let res =
        post("/v1/integrations/whatsapp/webhook", r#"{"type":"status","id":"x"}"#).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"Message": "message type: status was skipped"})
    );
    assert!(s.context("521").await.is_empty());
}

#[tokio::test]
async fn when_a_webhook_secret_is_set_should_take_only_signed_webhooks() {
    let s = setup(Some("yalo-shared-secret")).await;
    let user = "5217331175601";
    let signed = s.write(json!({"provider": "whatsapp", "botId": "b", "userId": user, "type": "text", "text": "firmado"})).await;
    assert_eq!(signed["deliveries"][0]["status"], 200);
    let http = omnibridge_dev::http();
    let body = signed["payload"].to_string();
    let url = format!("{}/v1/integrations/whatsapp/webhook", s.runner.base_url);
    let res = http.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(
        (res.status().as_u16(), res.json::<Value>().await.unwrap()),
        (401, json!({"ErrorDescription": "Invalid webhook signature."}))
    );
    let forged = http
        .post(&url)
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(s.context(user).await.len(), 1);
    // Messenger's webhook too.
    let psid = "5018811078134099";
    let signed = s.write(json!({"provider": "facebook", "botId": "b", "userId": psid, "type": "text", "text": "firmado"})).await;
    assert_eq!(signed["deliveries"][0]["status"], 200);
    let unsigned = http
        .post(format!("{}/v1/integrations/facebook/webhook", s.runner.base_url))
        .body(signed["payload"].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(s.context(psid).await.len(), 1);
}
