//! The security suite: every public route tried as an attacker and as a
//! careless client would: without credentials, with forged, expired,
//! replayed, wrong-role and another tenant's, and with oversized or odd
//! input. Each attempt must get a 4xx in its API's envelope and leave no
//! trace: nothing stored, nothing queued, nothing in the bucket, no call
//! to a peer.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omnibridge::model::{now_millis, DeskKind};
use omnibridge::ports::{QueueName, UserStore};
use omnibridge::services::auth::{ApiUser, Role};
use omnibridge::services::custom_channel::{CustomChannel, CustomChannels};
use omnibridge_tests::{system, System, JWT_SECRET, TEST_PASSWORD};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// What an attempt could leave behind.
#[derive(Debug, PartialEq, Eq)]
struct Traces {
    items: i32,
    queued: Vec<(QueueName, usize)>,
    objects: i32,
    peer_calls: usize,
}

async fn traces(s: &System) -> Traces {
    let store = s.rt.dynamo().unwrap();
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count();
    let sqs = aws_sdk_sqs::Client::new(s.rt.aws());
    let mut queued = Vec::new();
    for q in [
        QueueName::ToDesk,
        QueueName::ToCustomer,
        QueueName::SalesforceEvents,
        QueueName::SalesforceConversationEvents,
    ] {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(s.rt.settings.queue_url(q).unwrap())
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        let n = attrs
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        queued.push((q, n));
    }
    let blobs = s.rt.blobs().unwrap();
    let objects = blobs
        .client()
        .list_objects_v2()
        .bucket(blobs.bucket())
        .send()
        .await
        .unwrap()
        .key_count()
        .unwrap_or(0);
    let peer_calls = s.sandbox.client().requests(None).await.unwrap().len();
    Traces { items, queued, objects, peer_calls }
}

/// The envelope of the API a route belongs to.
#[derive(Clone, Copy, Debug)]
enum Envelope {
    /// Yalo's API: `{"ErrorDescription": ...}`.
    Yalo,
    /// The custom channel (and Yeahdesk's webhook, its desk side): `{"code": "E_...", ...}`.
    Custom,
    /// Pipedrive's Channels API: `{"success": false, "data": {...}}`.
    Pipedrive,
}

impl Envelope {
    fn holds(self, body: &Value) -> bool {
        match self {
            Envelope::Yalo => body["ErrorDescription"].is_string(),
            Envelope::Custom => body["code"].as_str().is_some_and(|c| c.starts_with("E_")),
            Envelope::Pipedrive => body["success"] == false && body["data"]["code"].is_string(),
        }
    }
}

struct Attempt {
    what: String,
    req: reqwest::RequestBuilder,
    envelope: Envelope,
}

/// Sends each attempt and checks it was refused with a 4xx in its envelope
/// and changed nothing.
async fn refused_without_trace(s: &System, attempts: Vec<Attempt>) {
    let mut before = traces(s).await;
    let mut wrong = Vec::new();
    for a in attempts {
        let res = a.req.send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !(400..500).contains(&status) || !a.envelope.holds(&body) {
            wrong.push(format!("{}: {status} {body}", a.what));
        }
        let after = traces(s).await;
        if after != before {
            wrong.push(format!("{}: left {after:?} (before: {before:?})", a.what));
            before = after;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn sign(claims: &Value, alg: Algorithm, key: &[u8]) -> String {
    omnibridge::jwt::install();
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn claims(user: &str, role: &str, exp_in: i64) -> Value {
    let now = now_millis() / 1000;
    json!({"sub": user, "username": user, "role": role, "iat": now, "exp": now + exp_in, "iss": "omnibridge"})
}

const USER: &str = "5217331190001";

fn whatsapp_webhook(timestamp_ms: i64, text: &str) -> Value {
    json!({"from": USER, "id": format!("wamid.sec.{timestamp_ms}.{}", text.len()), "text": {"body": text}, "timestamp": timestamp_ms.to_string(), "type": "text"})
}

fn messenger_webhook(timestamp_ms: i64) -> Value {
    json!({"authorRole": "user", "botId": "messenger-bot", "provider": "facebook", "timestamp": timestamp_ms,
           "message": {"object": "page", "entry": [{"id": "1", "time": timestamp_ms, "messaging": [{"message": {"mid": format!("m_sec_{timestamp_ms}"), "text": "Hola"},
           "recipient": {"id": "1"}, "sender": {"id": "5018811078134099"}, "timestamp": timestamp_ms}]}]}})
}

fn connect_body() -> Value {
    json!({"userID": USER, "botSlug": "coppel-bot", "botId": "521554578545", "name": "Eduardo", "provider": "whatsapp", "email": "e@example.com"})
}

#[tokio::test]
async fn when_a_route_gets_missing_forged_expired_replayed_wrong_role_or_foreign_credentials_should_refuse_them_without_a_trace(
) {
    let s = system(false, |_| {}).await;
    let base = s.runner.base_url.clone();
    let http = omnibridge_dev::http();
    let store = s.rt.dynamo().unwrap();
    // A user whose token outlives them.
    store
        .put_user(
            &ApiUser::new("gone", Role::Yalo, &secrecy::SecretString::from(TEST_PASSWORD)).unwrap(),
            false,
        )
        .await
        .unwrap();
    let gone = sign(&claims("gone", "YALO_ROLE", 600), Algorithm::HS256, JWT_SECRET.as_bytes());
    assert!(store.delete_user("gone").await.unwrap());

    let yalo = sign(&claims("yaloUser", "YALO_ROLE", 600), Algorithm::HS256, JWT_SECRET.as_bytes());
    let salesforce = sign(
        &claims("salesforceUser", "SALESFORCE_ROLE", 600),
        Algorithm::HS256,
        JWT_SECRET.as_bytes(),
    );
    let bad_tokens = |role: &str| {
        vec![
            (
                "expired",
                sign(&claims("yaloUser", role, -5), Algorithm::HS256, JWT_SECRET.as_bytes()),
            ),
            (
                "another stack's key",
                sign(
                    &claims("yaloUser", role, 600),
                    Algorithm::HS256,
                    b"another-stack-key-that-is-long-enough-00",
                ),
            ),
            (
                "another algorithm",
                sign(&claims("yaloUser", role, 600), Algorithm::HS512, JWT_SECRET.as_bytes()),
            ),
            (
                "a claimed role its user lacks",
                sign(
                    &claims(
                        "yaloUser",
                        if role == "YALO_ROLE" { "SALESFORCE_ROLE" } else { "YALO_ROLE" },
                        600,
                    ),
                    Algorithm::HS256,
                    JWT_SECRET.as_bytes(),
                ),
            ),
            ("a deleted user's", gone.clone()),
            ("garbage", "not.a.jwt".to_owned()),
        ]
    };
    let sf_event = json!({"detail": {"payload": {"EventType__c": "CoreMessaging"}}});
    let jwt_routes: Vec<(Method, String, Value, &str)> = vec![
        (Method::GET, "/v1/tokens/check".into(), Value::Null, "YALO_ROLE"),
        (Method::GET, format!("/v1/context/{USER}"), Value::Null, "YALO_ROLE"),
        (
            Method::POST,
            "/v1/integrations/webhook/register/whatsapp".into(),
            Value::Null,
            "YALO_ROLE",
        ),
        (
            Method::DELETE,
            "/v1/integrations/webhook/remove/whatsapp".into(),
            Value::Null,
            "YALO_ROLE",
        ),
        (Method::POST, "/v1/chats/connect".into(), connect_body(), "YALO_ROLE"),
        (Method::DELETE, format!("/v1/chat/finish/{USER}"), Value::Null, "YALO_ROLE"),
        (
            Method::POST,
            "/v1/consent".into(),
            json!({"userID": USER, "consentStatus": "OptedOut"}),
            "YALO_ROLE",
        ),
        (Method::POST, "/v1/salesforce/events".into(), sf_event, "SALESFORCE_ROLE"),
    ];
    let mut attempts = Vec::new();
    for (method, path, body, role) in &jwt_routes {
        let req = || {
            let r = http.request(method.clone(), format!("{base}{path}"));
            if body.is_null() {
                r
            } else {
                r.json(body)
            }
        };
        attempts.push(Attempt {
            what: format!("{method} {path} without a token"),
            req: req(),
            envelope: Envelope::Yalo,
        });
        attempts.push(Attempt {
            what: format!("{method} {path} with Basic"),
            req: req().basic_auth("yaloUser", Some(TEST_PASSWORD)),
            envelope: Envelope::Yalo,
        });
        for (why, t) in bad_tokens(role) {
            attempts.push(Attempt {
                what: format!("{method} {path} with a token: {why}"),
                req: req().bearer_auth(t),
                envelope: Envelope::Yalo,
            });
        }
        // The other role's valid token (the token check takes both).
        if *path != "/v1/tokens/check" {
            let other = if *role == "YALO_ROLE" { &salesforce } else { &yalo };
            attempts.push(Attempt {
                what: format!("{method} {path} with the other role's token"),
                req: req().bearer_auth(other),
                envelope: Envelope::Yalo,
            });
        }
    }

    // Yalo's webhooks: the stack's secret, in the URL or as Meta's signature;
    // a message outside the accepted window is a replay.
    let secret =
        s.rt.secret(&s.rt.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
            .await
            .unwrap();
    let secret = secret.expose_secret().to_owned();
    let now = now_millis();
    for (channel, fresh, stale, ancient, ahead) in [
        (
            "whatsapp",
            whatsapp_webhook(now, "Hola"),
            whatsapp_webhook(now - 2 * 86_400_000, "Hola"),
            whatsapp_webhook(1_000, "Hola"),
            whatsapp_webhook(now + 3_600_000, "Hola"),
        ),
        (
            "facebook",
            messenger_webhook(now),
            messenger_webhook(now - 2 * 86_400_000),
            messenger_webhook(1_000),
            messenger_webhook(now + 3_600_000),
        ),
    ] {
        let url = format!("{base}/v1/integrations/{channel}/webhook");
        let forged = format!("sha256={}", "0".repeat(64));
        attempts.push(Attempt {
            what: format!("{channel} webhook without the secret"),
            req: http.post(&url).json(&fresh),
            envelope: Envelope::Yalo,
        });
        attempts.push(Attempt {
            what: format!("{channel} webhook with a wrong secret"),
            req: http.post(format!("{url}?secret=guess")).json(&fresh),
            envelope: Envelope::Yalo,
        });
        attempts.push(Attempt {
            what: format!("{channel} webhook with a forged signature"),
            req: http.post(&url).header("x-hub-signature-256", forged).json(&fresh),
            envelope: Envelope::Yalo,
        });
        for (why, body) in
            [("two days old (a replay)", stale), ("from 1970", ancient), ("an hour ahead", ahead)]
        {
            attempts.push(Attempt {
                what: format!("{channel} webhook {why}"),
                req: http.post(format!("{url}?secret={secret}")).json(&body),
                envelope: Envelope::Yalo,
            });
        }
    }

    // The custom channel: a channel's token is good for that channel only.
    let registry = CustomChannels::new(store.clone());
    let (a, a_token) = CustomChannel::create("shop A", None, DeskKind::Yeahdesk, None);
    let (b, b_token) = CustomChannel::create("shop B", None, DeskKind::Yeahdesk, None);
    registry.put_channel(&a).await.unwrap();
    registry.put_channel(&b).await.unwrap();
    let message = json!({"text": "hola", "contact_object": {"name": "V", "contacts": [{"value": "u-1", "type": "id", "service": "custom", "origin": "custom"}]}});
    let custom = |id: &str, token: Option<&str>| {
        let url = match token {
            Some(t) => format!("{base}/api/custom-channel/message/{id}?token={t}"),
            None => format!("{base}/api/custom-channel/message/{id}"),
        };
        http.post(url).json(&message)
    };
    attempts.push(Attempt {
        what: "custom channel without a token".into(),
        req: custom(&a.id, None),
        envelope: Envelope::Custom,
    });
    attempts.push(Attempt {
        what: "custom channel with a wrong token".into(),
        req: custom(&a.id, Some("guess")),
        envelope: Envelope::Custom,
    });
    attempts.push(Attempt {
        what: "custom channel with another channel's token".into(),
        req: custom(&a.id, Some(&b_token)),
        envelope: Envelope::Custom,
    });
    attempts.push(Attempt {
        what: "custom channel with its token on another channel".into(),
        req: custom(&b.id, Some(&a_token)),
        envelope: Envelope::Custom,
    });

    // Yeahdesk's webhook and Pipedrive's Channels API.
    let yeahdesk = json!({"event": "message.created", "id": "6543000000000000000000f1", "data": {"message": {"id": "x", "text": "hola"}}});
    attempts.push(Attempt {
        what: "yeahdesk webhook without the secret".into(),
        req: http.post(format!("{base}/v1/yeahdesk/webhook")).json(&yeahdesk),
        envelope: Envelope::Custom,
    });
    attempts.push(Attempt {
        what: "yeahdesk webhook with a wrong secret".into(),
        req: http.post(format!("{base}/v1/yeahdesk/webhook?secret=guess")).json(&yeahdesk),
        envelope: Envelope::Custom,
    });
    for (method, path) in
        [(Method::GET, "conversations"), (Method::POST, "messages"), (Method::GET, "templates")]
    {
        let url = format!("{base}/v1/pipedrive/channels/omnibridge/{path}");
        attempts.push(Attempt {
            what: format!("pipedrive {path} without credentials"),
            req: http.request(method.clone(), &url),
            envelope: Envelope::Pipedrive,
        });
        attempts.push(Attempt {
            what: format!("pipedrive {path} with another app's"),
            req: http.request(method, &url).basic_auth("other-app", Some("secret")),
            envelope: Envelope::Pipedrive,
        });
    }
    refused_without_trace(&s, attempts).await;
}

#[tokio::test]
async fn when_input_is_oversized_or_odd_should_answer_a_4xx_in_the_routes_envelope_without_a_trace()
{
    let s = system(false, |_| {}).await;
    let base = s.runner.base_url.clone();
    let http = omnibridge_dev::http();
    let yalo = sign(&claims("yaloUser", "YALO_ROLE", 600), Algorithm::HS256, JWT_SECRET.as_bytes());
    let secret =
        s.rt.secret(&s.rt.settings.yalo_webhook_secret, "OMNIBRIDGE_YALO_WEBHOOK_SECRET")
            .await
            .unwrap();
    let webhook =
        format!("{base}/v1/integrations/whatsapp/webhook?secret={}", secret.expose_secret());
    let big = |n: usize| "x".repeat(n);
    let mut attempts = Vec::new();
    let connect = |field: &str, value: Value| {
        let mut body = connect_body();
        body[field] = value;
        http.post(format!("{base}/v1/chats/connect")).bearer_auth(&yalo).json(&body)
    };
    for (field, value) in [
        ("email", json!(format!("{}@example.com", big(500 * 1024)))),
        ("userID", json!(big(300))),
        ("name", json!(big(100 * 1024))),
        ("botSlug", json!(big(1024))),
        ("extraData", json!({"k": big(20 * 1024)})),
        ("phoneNumber", json!(big(1024))),
        ("userID", json!(42)),
    ] {
        attempts.push(Attempt {
            what: format!("chats/connect with {field} of {} bytes", value.to_string().len()),
            req: connect(field, value),
            envelope: Envelope::Yalo,
        });
    }
    attempts.push(Attempt {
        what: "consent with a 1 MB userID".into(),
        req: http
            .post(format!("{base}/v1/consent"))
            .bearer_auth(&yalo)
            .json(&json!({"userID": big(1024 * 1024), "consentStatus": "OptedOut"})),
        envelope: Envelope::Yalo,
    });
    attempts.push(Attempt {
        what: "consent with an unknown status".into(),
        req: http
            .post(format!("{base}/v1/consent"))
            .bearer_auth(&yalo)
            .json(&json!({"userID": USER, "consentStatus": "Maybe"})),
        envelope: Envelope::Yalo,
    });
    attempts.push(Attempt {
        what: "a WhatsApp text of 500 KB".into(),
        req: http.post(&webhook).json(&whatsapp_webhook(now_millis(), &big(500 * 1024))),
        envelope: Envelope::Yalo,
    });
    let mut long_id = whatsapp_webhook(now_millis(), "Hola");
    long_id["id"] = json!(big(10_000));
    attempts.push(Attempt {
        what: "a WhatsApp message id of 10 KB".into(),
        req: http.post(&webhook).json(&long_id),
        envelope: Envelope::Yalo,
    });
    attempts.push(Attempt {
        what: "a webhook that is not JSON".into(),
        req: http.post(&webhook).body("{not json"),
        envelope: Envelope::Yalo,
    });

    // The custom channel.
    let registry = CustomChannels::new(s.rt.dynamo().unwrap());
    let (ch, token) = CustomChannel::create("shop", None, DeskKind::Yeahdesk, None);
    registry.put_channel(&ch).await.unwrap();
    let url = format!("{base}/api/custom-channel/message/{}?token={token}", ch.id);
    let contact = json!({"name": "V", "contacts": [{"value": "u-9", "type": "id", "service": "custom", "origin": "custom"}]});
    // Another owner's customer, reached by its contact data id.
    let (other, other_token) =
        CustomChannel::create("another owner's shop", None, DeskKind::Yeahdesk, None);
    registry.put_channel(&other).await.unwrap();
    let res = http
        .post(format!("{base}/api/custom-channel/message/{}?token={other_token}", other.id))
        .json(&json!({"text": "hola", "contact_object": contact}))
        .send()
        .await
        .unwrap();
    let theirs: Value = res.json().await.unwrap();
    let their_contact = registry
        .contact(other.owner(), theirs["contact_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let their_data = their_contact.contacts[0].id.clone().unwrap();
    let files = |n: usize| {
        (0..n).map(|i| json!({"url": format!("https://files.example.com/{i}.jpg"), "mimeType": "image/jpeg"})).collect::<Vec<_>>()
    };
    for (what, body) in [
        (
            "integration_data of 500 KB",
            json!({"text": "hola", "integration_data": big(500 * 1024), "contact_object": contact}),
        ),
        (
            "dialog_title of 500 KB",
            json!({"text": "hola", "dialog_title": big(500 * 1024), "contact_object": contact}),
        ),
        ("text of 500 KB", json!({"text": big(500 * 1024), "contact_object": contact})),
        ("20,000 attachments", json!({"attachments": files(20_000), "contact_object": contact})),
        ("11 attachments", json!({"attachments": files(11), "contact_object": contact})),
        (
            "a reference of 1 KB",
            json!({"text": "hola", "reference": big(1024), "contact_object": contact}),
        ),
        (
            "21 contact data items",
            json!({"text": "hola", "contact_object": {"name": "V", "contacts": (0..21).map(|i| json!({"value": format!("u-{i}"), "type": "id", "service": "custom"})).collect::<Vec<_>>()}}),
        ),
        (
            "a contact value of 1 KB",
            json!({"text": "hola", "contact_object": {"name": "V", "contacts": [{"value": big(1024), "type": "id", "service": "custom"}]}}),
        ),
        (
            "another owner's contact data",
            json!({"text": "hola", "contacts_id": [{"id": their_data}]}),
        ),
        (
            "contact data that does not exist",
            json!({"text": "hola", "contacts_id": [{"id": "6543000000000000000000ab"}]}),
        ),
        ("no text, html or attachment", json!({"contact_object": contact})),
    ] {
        attempts.push(Attempt {
            what: format!("custom channel: {what}"),
            req: http.post(&url).json(&body),
            envelope: Envelope::Custom,
        });
    }
    // Salesforce's events touch Salesforce conversations only: an agent
    // message for a customer who has none is refused.
    let salesforce = sign(
        &claims("salesforceUser", "SALESFORCE_ROLE", 600),
        Algorithm::HS256,
        JWT_SECRET.as_bytes(),
    );
    let event =
        std::fs::read_to_string(omnibridge_tests::root().join("events/salesforce-events.json"))
            .unwrap();
    let event: Value = serde_json::from_str(&event).unwrap();
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    attempts.push(Attempt {
        what: "a Salesforce agent message for a customer without a Salesforce conversation".into(),
        req: http.post(format!("{base}/v1/salesforce/events")).bearer_auth(&salesforce).json(&body),
        envelope: Envelope::Yalo,
    });
    refused_without_trace(&s, attempts).await;
}
