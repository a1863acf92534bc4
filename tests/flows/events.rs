//! The sample events in events/ are what `cargo lambda invoke --data-file`
//! sends to the local stack: one per function, and each, once
//! `dev/admin samples` has prepared what it refers to, does what the README
//! says it does — through Lambda's Invoke API, with the function's own
//! configuration and rights.

use omnibridge::model::{ConversationId, MessageId, MessageStatus};
use omnibridge::ports::{ConversationStore, MessageStore};
use omnibridge_dev::samples;
use omnibridge_tests::{eventually, root, start, template, Options};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn sample(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(format!("{name}.json"))).unwrap()
}

/// Sends a sample to the Invoke API as `cargo lambda invoke` does; the function's answer.
async fn invoke(url: &str, function: &str) -> Value {
    let res = omnibridge_dev::http()
        .post(format!("{url}/2015-03-31/functions/{function}/invocations"))
        .body(sample(function))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{function}");
    assert!(
        res.headers().get("x-amz-function-error").is_none(),
        "{function}: {:?}",
        res.text().await
    );
    res.json().await.unwrap()
}

/// An HTTP sample's status and body.
async fn call(url: &str, function: &str) -> (u64, Value) {
    let answer = invoke(url, function).await;
    let body = answer["body"]
        .as_str()
        .map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.to_owned())))
        .unwrap_or(Value::Null);
    (answer["statusCode"].as_u64().unwrap(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_sample_event_is_invoked_after_samples_are_prepared_should_do_what_it_shows() {
    let functions: BTreeSet<String> = template().binaries().unwrap().into_iter().collect();
    let files: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap().trim_end_matches(".json").to_owned())
        .collect();
    assert_eq!(files, functions, "one sample event per function");

    // dev/run's stack: the local JWT key the samples' tokens are signed with.
    let local = start(Options::new(true), omnibridge_dev::local::sample_parameters).await;
    let rt = &local.operator;
    samples::prepare(rt).await.unwrap();
    let url = local.runner.invoke_url.clone().unwrap();
    let sandbox = local.sandbox.as_ref().unwrap().client();
    let store = rt.dynamo().unwrap();
    let ok = |f: &str, (status, body): (u64, Value)| {
        assert!((200..300).contains(&status), "{f}: {status} {body}")
    };

    let (status, body) = call(&url, "authenticate").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].is_string());
    assert_eq!(
        call(&url, "tokens-check").await.1,
        serde_json::json!({"username": "yaloUser", "role": "YALO_ROLE"})
    );
    // The customer in the Salesforce chat writes: into the context, and on to the agent.
    ok("whatsapp-webhook", call(&url, "whatsapp-webhook").await);
    ok("facebook-webhook", call(&url, "facebook-webhook").await);
    let (status, context) = call(&url, "context-get").await;
    assert_eq!(status, 200);
    assert_eq!(context[0]["text"], "Hola", "{context}");

    // The delivery workers send the prepared messages, each to its peer.
    for (worker, message) in [
        ("to-desk-worker", samples::TO_DESK_MESSAGE),
        ("to-customer-worker", samples::TO_CUSTOMER_MESSAGE),
    ] {
        let answer = invoke(&url, worker).await;
        assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{worker}: {answer}");
        let m = store.get_message(&MessageId::parse(message).unwrap()).await.unwrap().unwrap();
        assert!(
            matches!(m.status, MessageStatus::Sent | MessageStatus::Delivered),
            "{worker}: {:?} {:?}",
            m.status,
            m.failure_reason
        );
    }
    assert!(sandbox
        .yalo_delivered(Some(samples::CUSTOMER))
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["text"] == "Hola, soy Eva. ¿En qué te ayudo?"));
    // Salesforce's agent answers, through Event Relay (routed to its
    // conversation's group, then handled) and over HTTPS: both reach the customer.
    for f in ["salesforce-events-router", "salesforce-events-worker"] {
        assert_eq!(invoke(&url, f).await["batchItemFailures"], serde_json::json!([]), "{f}");
    }
    ok("salesforce-events", call(&url, "salesforce-events").await);
    eventually(Duration::from_secs(30), || async {
        let d = sandbox.yalo_delivered(Some(samples::CUSTOMER)).await.unwrap();
        d.as_array().unwrap().iter().any(|d| d["text"] == "Hi, how are you?").then_some(())
    })
    .await
    .expect("the agent's reply reached WhatsApp");

    for f in [
        "chats-connect",
        "consent-update",
        "webhook-register",
        "webhook-remove",
        "custom-channel-message",
        "yeahdesk-webhook",
    ] {
        ok(f, call(&url, f).await);
    }
    // Pipedrive reads the prepared conversation and its agent answers in it.
    let (_, listed) = call(&url, "pipedrive-conversations-list").await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == samples::PIPEDRIVE_CONVERSATION),
        "{listed}"
    );
    for f in [
        "pipedrive-conversation-get",
        "pipedrive-message-get",
        "pipedrive-sender-get",
        "pipedrive-templates-list",
        "pipedrive-message-post",
    ] {
        let (status, body) = call(&url, f).await;
        assert!(
            (200..300).contains(&status) && body.get("success") != Some(&Value::Bool(false)),
            "{f}: {status} {body}"
        );
    }
    ok("chats-finish", call(&url, "chats-finish").await);
    let c = store
        .get_conversation(&ConversationId::parse(samples::CONVERSATION).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, omnibridge::model::ConversationStatus::Closed);
    let (status, body) = call(&url, "pipedrive-channel-delete").await;
    assert!(
        (200..300).contains(&status) && body.get("success") != Some(&Value::Bool(false)),
        "{body}"
    );
    assert!(
        sandbox.violations().await.unwrap().is_empty(),
        "{:?}",
        sandbox.violations().await.unwrap()
    );
}

#[tokio::test]
async fn when_cargo_lambda_invokes_a_sample_should_get_the_functions_answer() {
    let Ok(out) = std::process::Command::new("cargo").args(["lambda", "--version"]).output() else {
        return;
    };
    assert!(
        out.status.success(),
        "cargo lambda is installed by dev/test (pip install cargo-lambda)"
    );
    let local = start(Options::new(false), omnibridge_dev::local::sample_parameters).await;
    samples::prepare(&local.operator).await.unwrap();
    let port = local.runner.invoke_url.as_deref().unwrap().rsplit(':').next().unwrap().to_owned();
    for function in ["tokens-check", "to-desk-worker"] {
        let out = tokio::process::Command::new("cargo")
            .args(["lambda", "invoke", function, "--invoke-port", &port, "--data-file"])
            .arg(root().join("events").join(format!("{function}.json")))
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{function}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{function}: {e}: {stdout}"));
        match function {
            "tokens-check" => assert_eq!(answer["statusCode"], 200, "{answer}"),
            _ => assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}"),
        }
    }
}
