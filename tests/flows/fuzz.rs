//! Property tests of every parser of outside input, through its route on
//! the local stack: Yalo's webhooks (WhatsApp and Messenger), Salesforce's
//! events, the custom channel's body, Pipedrive's multipart messages and
//! Yeahdesk's webhook. Each gets the sample of events/ mutated (fields
//! replaced by anything JSON can hold, removed, added), any JSON, or any
//! bytes, and must never answer a 5xx.
//!
//! CI runs 64 cases per parser; a longer run, with what the cases were
//! answered: `PROPTEST_CASES=5000 dev/test --test flows fuzz -- --nocapture`.

use omnibridge::model::PipedriveChannel;
use omnibridge::model::{now_millis, DeskKind};
use omnibridge::services::custom_channel::{CustomChannel, CustomChannels};
use omnibridge_tests::{start, Options, JWT_SECRET};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const CASES: u32 = 64;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        // Long text, several bytes per character.
        (0usize..40_000).prop_map(|n| Value::from("ñ€".repeat(n))),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(Value),
    Remove,
    Add(String, Value),
}

fn mutation() -> impl Strategy<Value = (Index, Mutation)> {
    let m = prop_oneof![
        3 => any_json().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
        1 => ("[a-zA-Z_]{1,12}", any_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ];
    (any::<Index>(), m)
}

/// The JSON pointers of every node of `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            pointers(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out)
        }),
        Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out))
        }
        _ => {}
    }
    out.push(at);
}

fn mutate(sample: &Value, mutations: &[(Index, Mutation)]) -> Value {
    let mut v = sample.clone();
    for (index, m) in mutations {
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let at = index.get(&all).clone();
        match m {
            Mutation::Replace(new) => match v.pointer_mut(&at) {
                Some(node) => *node = new.clone(),
                None => v = new.clone(),
            },
            Mutation::Remove => {
                let (parent, key) = at.rsplit_once('/').unwrap_or(("", ""));
                match v.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Mutation::Add(k, new) => {
                if let Some(Value::Object(o)) = v.pointer_mut(&at) {
                    o.insert(k.clone(), new.clone());
                }
            }
        }
    }
    v
}

/// A body for a JSON route: mostly `sample` mutated, sometimes any JSON or any bytes.
fn json_body(sample: Value) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(mutation(), 1..4).prop_map(move |m| serde_json::to_vec(&mutate(&sample, &m)).unwrap()),
        1 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// A multipart body (and its content type) as Pipedrive might post it, or
/// one broken in any of the ways a careless client could.
fn multipart_body(conversation: String) -> impl Strategy<Value = (String, Vec<u8>)> {
    let name = prop_oneof![
        Just("message".to_owned()),
        Just("senderId".to_owned()),
        Just("conversationId".to_owned()),
        Just("recipientIds".to_owned()),
        Just("files".to_owned()),
        Just("files[0]".to_owned()),
        "[a-zA-Z\\[\\]0-9_\"]{0,12}",
    ];
    let value = prop_oneof![
        Just(conversation.into_bytes()),
        ".{0,80}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..4096),
        (0usize..300_000).prop_map(|n| vec![b'x'; n]),
    ];
    let part = (
        name,
        value,
        proptest::option::of("[^\"\r\n]{0,20}"),
        proptest::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,12}"),
    );
    (
        prop::collection::vec(part, 0..8),
        "[a-zA-Z0-9]{1,20}",
        any::<bool>(),
        proptest::option::of(0usize..4096),
    )
        .prop_map(|(parts, boundary, closed, cut)| {
            let mut body = Vec::new();
            for (name, value, file_name, content_type) in parts {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"")
                        .as_bytes(),
                );
                if let Some(f) = file_name {
                    body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
                }
                if let Some(t) = content_type {
                    body.extend_from_slice(format!("\r\nContent-Type: {t}").as_bytes());
                }
                body.extend_from_slice(b"\r\n\r\n");
                body.extend_from_slice(&value);
                body.extend_from_slice(b"\r\n");
            }
            if closed {
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            if let Some(at) = cut {
                body.truncate(at);
            }
            (format!("multipart/form-data; boundary={boundary}"), body)
        })
}

fn sample(name: &str) -> Value {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(omnibridge_tests::root().join(format!("events/{name}.json")))
            .unwrap(),
    )
    .unwrap();
    serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
}

struct Target {
    parser: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
}

/// Runs `strategy`'s cases against `target`; any 5xx fails the test with the body that caused it.
fn never_5xx<S: Strategy<Value = (String, Vec<u8>)>>(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    strategy: S,
) {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES);
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let http = omnibridge_dev::http();
    let tally = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(&strategy, |(content_type, body)| {
        let (status, answer) = rt.block_on(async {
            let mut req =
                http.post(&target.url).header("content-type", &content_type).body(body.clone());
            for (k, v) in &target.headers {
                req = req.header(*k, v);
            }
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        });
        *tally.lock().unwrap().entry(status).or_default() += 1;
        if status >= 500 {
            let shown = String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned();
            return Err(TestCaseError::fail(format!(
                "{} answered {status} {answer} to {shown}",
                target.parser
            )));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", target.parser);
    }
    // What the cases were answered (shown with --nocapture).
    println!("{}: {cases} cases, answered {:?}", target.parser, tally.into_inner().unwrap());
}

#[test]
fn when_any_parser_gets_mutated_odd_or_random_input_should_never_answer_a_5xx() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (local, custom, custom_token, secret, yeahdesk_secret) = rt.block_on(async {
        // Throttling off: the cases come faster than a route's rate.
        let local = start(Options::new(false), |p| {
            p.set("ApiRateLimit", "100000").set("ApiBurstLimit", "100000");
        })
        .await;
        let pipedrive = local.operator.pipedrive().await.unwrap().expect("the sandbox's Pipedrive");
        pipedrive
            .register_channel(PipedriveChannel::new("fuzz", "WhatsApp", "whatsapp").unwrap())
            .await
            .unwrap();
        let (custom, token) = CustomChannel::create("fuzz shop", None, DeskKind::Yeahdesk, None);
        CustomChannels::new(local.operator.dynamo().unwrap()).put_channel(&custom).await.unwrap();
        let rt = &local.operator;
        let secret = rt
            .secret(&rt.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
            .await
            .unwrap()
            .expose_secret()
            .to_owned();
        let yeahdesk = rt
            .secret(&rt.settings.yeahdesk.webhook_secret, "OMNIBRIDGE_YEAHDESK_WEBHOOK_SECRET")
            .await
            .unwrap()
            .expose_secret()
            .to_owned();
        (local, custom, token, secret, yeahdesk)
    });
    let base = local.runner.base_url.clone();
    let json = |s: Vec<u8>| ("application/json".to_owned(), s);
    let now = now_millis();

    let mut whatsapp = sample("whatsapp-webhook");
    whatsapp["timestamp"] = json!(now.to_string());
    let mut messenger = sample("facebook-webhook");
    messenger["timestamp"] = json!(now);
    messenger["message"]["entry"][0]["messaging"][0]["timestamp"] = json!(now);
    for (parser, channel, sample) in
        [("WhatsApp webhook", "whatsapp", whatsapp), ("Messenger webhook", "facebook", messenger)]
    {
        let target = Target {
            parser,
            url: format!("{base}/v1/integrations/{channel}/webhook?secret={secret}"),
            headers: vec![],
        };
        never_5xx(&rt, &target, json_body(sample).prop_map(json));
    }

    let salesforce_token = {
        omnibridge::jwt::install();
        let now = now / 1000;
        let claims = json!({"sub": "salesforceUser", "username": "salesforceUser", "role": "SALESFORCE_ROLE", "iat": now, "exp": now + 3600, "iss": "omnibridge"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let target = Target {
        parser: "Salesforce event",
        url: format!("{base}/v1/salesforce/events"),
        headers: vec![("authorization", format!("Bearer {salesforce_token}"))],
    };
    never_5xx(&rt, &target, json_body(sample("salesforce-events")).prop_map(json));

    let target = Target {
        parser: "custom channel body",
        url: format!("{base}/api/custom-channel/message/{}?token={custom_token}", custom.id),
        headers: vec![],
    };
    never_5xx(&rt, &target, json_body(sample("custom-channel-message")).prop_map(json));

    let target = Target {
        parser: "Yeahdesk webhook",
        url: format!("{base}/v1/yeahdesk/webhook?secret={yeahdesk_secret}"),
        headers: vec![],
    };
    never_5xx(&rt, &target, json_body(sample("yeahdesk-webhook")).prop_map(json));

    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode("sandbox-client-id:sandbox-client-secret");
    let target = Target {
        parser: "Pipedrive multipart message",
        url: format!("{base}/v1/pipedrive/channels/fuzz/messages"),
        headers: vec![("authorization", format!("Basic {basic}"))],
    };
    never_5xx(&rt, &target, multipart_body(uuid::Uuid::new_v4().to_string()));
    rt.block_on(async move { drop(local) });
}
