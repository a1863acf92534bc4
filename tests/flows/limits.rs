//! AWS's limits, enforced by the local stack as deployed: Lambda's 6 MB
//! payloads and timeouts, SQS's message size, DynamoDB's item size, and
//! what omnibridge does so that it never runs into them.

use omnibridge::model::{now_millis, Author, ContextEntry, CONTEXT_READ_LIMIT};
use omnibridge::ports::ContextStore;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge_dev::sandbox::{Effect, Fault};
use omnibridge_tests::{eventually, start, start_runner, template, Options, System, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn token() -> String {
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    keys.issue(
        &ApiUser { username: "yaloUser".into(), role: Role::Yalo, password_hash: String::new() },
        now_millis() / 1000,
    )
    .unwrap()
}

#[tokio::test]
async fn when_a_request_is_over_what_api_gateway_and_lambda_take_should_answer_413() {
    let (_rt, runner) = start_runner(false, |_| {}).await;
    let http = omnibridge_dev::http();
    let url = format!("{}/v1/integrations/whatsapp/webhook", runner.base_url);
    // Over Lambda's 6 MB (the event), under API Gateway's 10 MB (the body).
    let seven = format!("{{\"text\": \"{}\"}}", "x".repeat(7 * 1024 * 1024));
    for body in [seven, "x".repeat(11 * 1024 * 1024)] {
        let res = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"message": "Request Entity Too Large"})
        );
    }
}

#[tokio::test]
async fn when_a_customers_context_is_larger_than_a_response_may_be_should_answer_the_newest_within_the_read_limit(
) {
    let (rt, runner) = start_runner(false, |_| {}).await;
    let store = rt.dynamo().unwrap();
    let user = "5217331170900";
    let now = now_millis();
    // 100 entries of 60 KB: about 6 MB, over Lambda's response limit if all were answered.
    for i in 0..100 {
        let text = format!("{i:03} {}", "y".repeat(60 * 1024));
        let mut entry = ContextEntry::new(
            user,
            "omnibridge",
            &format!("wamid.{i}"),
            now - 100_000 + i * 1000,
            Author::User,
            now,
            Duration::from_secs(3600),
        )
        .unwrap();
        entry.text = Some(text);
        store.append_context(&entry).await.unwrap();
    }
    let res = omnibridge_dev::http()
        .get(format!("{}/v1/context/{user}?token={}", runner.base_url, token()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    assert!(body.len() <= CONTEXT_READ_LIMIT + 64 * 1024, "{} bytes", body.len());
    let entries: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert!(entries.len() >= 10 && entries.len() < 100, "{}", entries.len());
    // The newest, oldest first.
    assert!(entries.last().unwrap()["text"].as_str().unwrap().starts_with("099 "));
    let first: usize = entries[0]["text"].as_str().unwrap()[..3].parse().unwrap();
    assert_eq!(first, 100 - entries.len());
}

#[tokio::test]
async fn when_a_queue_message_or_a_table_item_is_over_its_limit_should_be_refused_as_aws_refuses_it(
) {
    let rt = omnibridge_tests::runtime().await;
    let q = rt.settings.to_desk_queue_url.clone().unwrap();
    let sent = rt
        .queue()
        .client()
        .send_message()
        .queue_url(q)
        .message_body("x".repeat(300 * 1024))
        .message_group_id("g")
        .message_deduplication_id("d")
        .send()
        .await;
    let err = sent.unwrap_err();
    assert!(
        format!("{:?}", err.into_service_error()).contains("InvalidParameterValue"),
        "SQS refuses over the template's 256 KB"
    );
    let dynamo = aws_sdk_dynamodb::Client::new(
        &omnibridge_dev::emulator::sdk_config(&omnibridge_tests::endpoint()).await,
    );
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let put = dynamo
        .put_item()
        .table_name(rt.settings.table().unwrap())
        .item("PK", A::S("big".into()))
        .item("SK", A::S("big".into()))
        .item("data", A::S("z".repeat(410 * 1024)))
        .send()
        .await;
    assert!(format!("{:?}", put.unwrap_err().into_service_error())
        .contains("Item size has exceeded the maximum allowed size"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_peer_is_slower_than_a_functions_timeout_should_answer_before_the_deadline_and_lose_nothing(
) {
    // Short timeouts, so that a slow Salesforce outlasts them.
    let mut t = template();
    t.resource_mut("ChatsConnectFunction").unwrap()["Properties"]["Timeout"] = json!(4);
    t.resource_mut("ToDeskWorkerFunction").unwrap()["Properties"]["Timeout"] = json!(5);
    let mut options = Options::new(true);
    options.template = t;
    let s: System = start(options, |_| {}).await.into();
    let c = s.sandbox.client();
    let user = "5217331170901";
    let slow = |times: u32| Fault {
        peer: "salesforce".into(),
        route: Some("salesforce.interactions".into()),
        effect: Effect::Latency { ms: 7000 },
        times: Some(times),
        ratio: None,
    };
    let chat = json!({"userID": user, "botSlug": "coppel-bot", "botId": "1", "name": "Ana", "provider": "whatsapp", "email": "ana@example.com"});
    let connect = || {
        omnibridge_dev::http()
            .post(format!("{}/v1/chats/connect", s.runner.base_url))
            .bearer_auth(token())
            .json(&chat)
            .send()
    };

    // The handoff answers 503 in the seed's envelope before its 4 s are up, instead of being cut off.
    c.inject(&slow(1)).await.unwrap();
    let started = Instant::now();
    let res = connect().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"ErrorDescription": "Service temporarily unavailable, retry later."})
    );
    // Called again (once the cut-off call's claim has lapsed with its
    // invocation), it finishes what the first call left: one transcript.
    eventually(Duration::from_secs(15), || async {
        (connect().await.unwrap().status() == 200).then_some(())
    })
    .await
    .expect("the handoff finished");

    // The worker hands a message that runs out of time back to the queue, then delivers it once.
    c.inject(&slow(1)).await.unwrap();
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "sigo esperando"})).await.unwrap();
    let view = eventually(Duration::from_secs(60), || async {
        let convs = c.salesforce_conversations().await.unwrap();
        convs
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["end_user"] == user && v["entries"].as_array().unwrap().len() >= 2)
            .cloned()
    })
    .await
    .expect("the message reached the agent");
    let texts: Vec<&str> =
        view["entries"].as_array().unwrap().iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("Cliente: Ana")).count(),
        1,
        "one transcript: {texts:?}"
    );
    assert_eq!(texts.iter().filter(|t| **t == "sigo esperando").count(), 1, "once: {texts:?}");
    assert!(c.violations().await.unwrap().is_empty());
}
