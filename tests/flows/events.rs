//! The sample events in events/ (for `cargo lambda invoke --data-file`) are
//! real inputs: each parses as its function's event and gets a proper answer.

use aws_lambda_events::event::sqs::SqsEvent;
use omnibridge_dev::registry;
use omnibridge_dev::template::Template;
use omnibridge_tests::runtime;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn event(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(format!("{name}.json"))).unwrap()
}

#[tokio::test]
async fn when_a_function_exists_should_have_a_sample_event_that_it_answers() {
    let template = Template::read(&root().join("template.yaml")).unwrap();
    let samples: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap().trim_end_matches(".json").to_owned())
        .collect();
    let functions: BTreeSet<String> =
        template.routes.iter().map(|r| r.function.clone()).chain(template.queues.iter().map(|q| q.function.clone())).collect();
    assert_eq!(samples, functions, "one sample event per function");

    let rt = runtime().await;
    // No user and placeholder tokens: the JWT endpoints answer with the seed's
    // refusal; the webhooks take the seed's example messages. Never a 5xx.
    let expected = [
        ("authenticate", 401, "/ErrorDescription"),
        ("tokens-check", 403, "/ErrorDescription"),
        ("context-get", 403, "/ErrorDescription"),
        ("chats-connect", 403, "/ErrorDescription"),
        ("chats-finish", 403, "/ErrorDescription"),
        ("consent-update", 403, "/ErrorDescription"),
        ("salesforce-events", 403, "/ErrorDescription"),
        ("webhook-register", 403, "/ErrorDescription"),
        ("webhook-remove", 403, "/ErrorDescription"),
        ("whatsapp-webhook", 200, "/Message"),
        ("facebook-webhook", 200, "/Message"),
        // Placeholder client credentials: Pipedrive's envelope, UNAUTHORIZED.
        ("pipedrive-conversations-list", 401, "/data/code"),
        ("pipedrive-conversation-get", 401, "/data/code"),
        ("pipedrive-message-post", 401, "/data/code"),
        ("pipedrive-message-get", 401, "/data/code"),
        ("pipedrive-sender-get", 401, "/data/code"),
        ("pipedrive-templates-list", 401, "/data/code"),
        ("pipedrive-channel-delete", 401, "/data/code"),
        // No such custom channel and no webhook secret set: the E_* envelope.
        ("custom-channel-message", 401, "/code"),
        ("yeahdesk-webhook", 401, "/code"),
    ];
    for route in &template.routes {
        let req = lambda_http::request::from_str(&event(&route.function)).unwrap();
        assert_eq!(req.method().as_str(), route.method, "{}", route.function);
        let handler = registry::http_function(&route.function, &rt).await.unwrap();
        let res = handler(req).await;
        let (_, status, key) = expected.iter().find(|(f, _, _)| *f == route.function).expect("an expectation per endpoint");
        assert_eq!(res.status().as_u16(), *status, "{}", route.function);
        let body: serde_json::Value = serde_json::from_slice(res.body().as_ref()).unwrap();
        assert!(body.pointer(key).is_some_and(|v| v.is_string()), "{}: {body}", route.function);
    }
    for source in &template.queues {
        let event: SqsEvent = serde_json::from_str(&event(&source.function)).unwrap();
        assert_eq!(event.records.len(), 1);
        let handler = registry::worker_function(&source.function, &rt).await.unwrap();
        // The sample's message is not in this table: a permanent failure,
        // dead-lettered rather than retried forever.
        let response = handler(event).await;
        assert!(response.batch_item_failures.is_empty(), "{}: {response:?}", source.function);
        let dlq = rt.settings.dlq_url(source.queue).unwrap();
        let out = rt.queue().client().receive_message().queue_url(dlq).wait_time_seconds(1).send().await.unwrap();
        assert_eq!(out.messages.unwrap_or_default().len(), 1, "{}", source.function);
    }
}
