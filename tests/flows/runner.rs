//! The local runner: serves every route of template.yaml and runs the
//! queue workers in-process against the same queues.

use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge_tests::{eventually, start, start_runner, template, Options};
use std::time::Duration;

#[tokio::test]
async fn when_runner_starts_should_serve_every_route_of_the_template() {
    let (_rt, running) = start_runner(true, |_| {}).await;
    let template = template();
    assert_eq!(running.routes, template.routes().unwrap());
    assert!(!running.routes.is_empty());
    assert_eq!(running.workers.len(), 4);
    // Every function directory is in the template, and every template function has a directory.
    let dirs: std::collections::BTreeSet<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    let declared: std::collections::BTreeSet<String> =
        template.binaries().unwrap().into_iter().collect();
    assert_eq!(dirs, declared);

    let http = omnibridge_dev::http();
    let res = http.get(format!("{}/v1/tokens/check", running.base_url)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http.get(format!("{}/v1/nothing-here", running.base_url)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // A route exists only for its declared method.
    let res = http.delete(format!("{}/v1/authenticate", running.base_url)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    running.shutdown().await;
}

#[tokio::test]
async fn when_job_is_enqueued_should_be_processed_by_the_in_process_worker() {
    let (rt, running) = start_runner(true, |_| {}).await;
    let store = rt.dynamo().unwrap();

    // This deployment has no desk adapter yet: the worker marks the message
    // failed with the reason and dead-letters it, without blocking the queue.
    let customer = Participant::new("5217331175599", "Eduardo").unwrap();
    let conv = Conversation::open(
        ChannelKind::Whatsapp,
        "coppel-bot",
        customer,
        DeskKind::Salesforce,
        "sf-channel",
        now_millis(),
    )
    .unwrap();
    store.open_conversation(&conv).await.unwrap();
    let msg = Message::received(
        conv.id.clone(),
        Direction::Inbound,
        ChannelKind::Whatsapp,
        "wamid.w1",
        "5217331175599",
        Some("Hola".into()),
        vec![],
        now_millis(),
    )
    .unwrap();
    store.append_message(&msg).await.unwrap();
    rt.queue().enqueue(QueueName::ToDesk, &QueueJob::recorded(&msg)).await.unwrap();

    let failed = eventually(Duration::from_secs(20), || async {
        store.get_message(&msg.id).await.unwrap().filter(|m| m.status == MessageStatus::Failed)
    })
    .await
    .expect("the worker handled the job");
    assert!(failed.failure_reason.unwrap().contains("no salesforce desk adapter"));

    let dlq = rt.settings.to_desk_dlq_url.clone().unwrap();
    let dead = eventually(Duration::from_secs(10), || async {
        let out = rt
            .queue()
            .client()
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        out.messages.filter(|m| !m.is_empty())
    })
    .await
    .expect("dead-lettered");
    let job: QueueJob = serde_json::from_str(dead[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(job.message_id, msg.id);
    // The source queue is empty: the worker deleted what it handled.
    let left = rt
        .queue()
        .client()
        .receive_message()
        .queue_url(rt.settings.to_desk_queue_url.as_deref().unwrap())
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(left.messages.unwrap_or_default().is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn when_the_local_system_starts_should_serve_routes_and_wire_the_peers_to_the_sandboxes() {
    let local = start(Options::new(true), |_| {}).await;
    let sandbox = local.sandbox.as_ref().unwrap();
    let worker = local.stack.function("to-desk-worker").unwrap();
    assert_eq!(
        worker.environment["OMNIBRIDGE_PIPEDRIVE_API_URL"],
        format!("{}/pipedrive/v1", sandbox.base_url)
    );
    assert_eq!(
        worker.environment["OMNIBRIDGE_SALESFORCE_LOGIN_URL"],
        format!("{}/salesforce", sandbox.base_url)
    );
    assert!(
        worker.environment["OMNIBRIDGE_SALESFORCE_PRIVATE_KEY_ARN"]
            .starts_with("arn:aws:secretsmanager:"),
        "secrets reach functions by ARN"
    );
    let res = omnibridge_dev::http()
        .post(format!("{}/v1/authenticate", local.runner.base_url))
        .json(&serde_json::json!({"username": "nobody", "password": "nothing-at-all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"ErrorDescription": "Invalid credentials."})
    );
    // The sandbox writes to this omnibridge.
    let control = sandbox.client();
    let out = control
        .customer_writes(&serde_json::json!({"provider": "whatsapp", "botId": "b", "userId": "521", "type": "text", "text": "Hola"}))
        .await
        .unwrap();
    assert_eq!(
        out["target"],
        format!("{}/v1/integrations/whatsapp/webhook", local.runner.base_url)
    );
}

#[tokio::test]
async fn when_the_template_does_not_give_a_function_a_setting_it_needs_should_fail_its_cold_start_as_in_aws(
) {
    let mut t = template();
    t.doc["Globals"]["Function"]["Environment"]["Variables"]
        .as_object_mut()
        .unwrap()
        .remove("OMNIBRIDGE_TABLE");
    let mut options = Options::new(false);
    options.template = t;
    options.sandbox = None;
    let local = start(options, |_| {}).await;
    let res = omnibridge_dev::http()
        .post(format!("{}/v1/authenticate", local.runner.base_url))
        .json(&serde_json::json!({"username": "yaloUser", "password": "whatever-it-is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "Internal Server Error"})
    );
    let invoked = omnibridge_dev::http()
        .post(format!(
            "{}/2015-03-31/functions/authenticate/invocations",
            local.runner.invoke_url.as_deref().unwrap()
        ))
        .body(
            std::fs::read_to_string(omnibridge_tests::root().join("events/authenticate.json"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(invoked.headers()["x-amz-function-error"], "Unhandled");
    let error: serde_json::Value = invoked.json().await.unwrap();
    assert_eq!(error["errorType"], "Runtime.InitError");
    assert!(
        error["errorMessage"].as_str().unwrap().contains("OMNIBRIDGE_TABLE is not set"),
        "{error}"
    );
}
