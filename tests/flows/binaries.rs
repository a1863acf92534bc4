//! The real function binaries, each instance its own process behind the
//! Lambda Runtime API emulator, with the environment and rights of its
//! template entry: the README's story, and a short chaos run.

use omnibridge_tests::{eventually, start, Options, System};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_functions_run_as_their_binaries_should_pass_the_readme_story() {
    let s: System = start(Options::new(true).binaries(), |_| {}).await.into();
    let (base, c, http) = (s.runner.base_url.clone(), s.sandbox.client(), omnibridge_dev::http());

    // "Try it": an API user, a token, the token checked, the context read.
    let password = omnibridge_tests::TEST_PASSWORD;
    let res = http
        .post(format!("{base}/v1/authenticate"))
        .json(&json!({"username": "yaloUser", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let checked: Value = http
        .get(format!("{base}/v1/tokens/check"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(checked, json!({"username": "yaloUser", "role": "YALO_ROLE"}));
    let user = "5217331175599";
    let context: Value = http
        .get(format!("{base}/v1/context/{user}?token={token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(context, json!([]));

    // "The whole story": the customer writes, the bot hands over, the agent sees it all and answers.
    let write = |text: &str| json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": text});
    c.customer_writes(&write("Hola")).await.unwrap();
    let chat = json!({"userID": user, "botSlug": "coppel-bot", "botId": "521554578545", "name": "Eduardo Ochoa", "provider": "whatsapp", "email": "ochoa@example.com"});
    let res = http
        .post(format!("{base}/v1/chats/connect"))
        .bearer_auth(&token)
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    c.customer_writes(&write("Necesito ayuda")).await.unwrap();
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
    .expect("the agent saw the transcript and the message");
    assert!(view["entries"][0]["text"].as_str().unwrap().contains("Hola"));
    assert_eq!(view["entries"][1]["text"], "Necesito ayuda");
    c.salesforce_agent(&json!({"endUser": user, "text": "Hola, soy Eva"})).await.unwrap();
    eventually(Duration::from_secs(60), || async {
        let d = c.yalo_delivered(Some(user)).await.unwrap();
        d.as_array().unwrap().iter().any(|d| d["text"] == "Hola, soy Eva").then_some(())
    })
    .await
    .expect("the customer got the agent's reply on WhatsApp");
    assert!(c.violations().await.unwrap().is_empty());

    // Each function ran as its own processes, started cold once and then
    // warm (a worker's invocation is counted once it has answered).
    for f in [
        "authenticate",
        "chats-connect",
        "whatsapp-webhook",
        "to-desk-worker",
        "salesforce-events-worker",
        "to-customer-worker",
    ] {
        let counted = eventually(Duration::from_secs(10), || async {
            let (invocations, cold) = s.runner.functions[f].counts();
            (invocations >= 1).then_some((invocations, cold))
        })
        .await;
        let (invocations, cold) = counted.unwrap_or_else(|| panic!("{f} was never invoked"));
        assert!(
            cold >= 1 && cold <= invocations,
            "{f}: {invocations} invocations, {cold} cold starts"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_binaries_face_the_chaos_should_deliver_every_message_once_in_order() {
    let mut options = Options::new(true).binaries();
    options.template = crate::chaos::quick_redelivery();
    let n = std::env::var("CHAOS_BINARIES_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    crate::chaos::chaos(options, n, 5).await;
}
