//! The peer sandboxes themselves: each contract check accepts a request
//! built from the seed's own examples and refuses a wrong one; recording,
//! faults, and the simulated customers and agents.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omnibridge_dev::sandbox::{Effect, Fault, SANDBOX_PRIVATE_KEY};
use omnibridge_tests::{start_sandbox, Capture};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn client() -> reqwest::Client {
    omnibridge::bootstrap::install_crypto_provider();
    omnibridge_dev::http()
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

// ------------------------------------------------------------------ Yalo

#[tokio::test]
async fn when_yalo_calls_follow_the_contract_should_be_accepted_and_wrong_ones_refused() {
    let sb = start_sandbox(None, |_| {}).await;
    let c = sb.client();
    let http = client();
    let api = format!("{}/yalo/api", sb.base_url);
    let auth = "Bearer sandbox-yalo-token";
    let media = |name: &str| format!("{}/yalo/media/{name}", sb.base_url);

    // Register, as the seed's example body.
    let (status, body) = send(http.post(format!("{api}/outgoing_webhook/bots/coppel-wa-staging/healthcheck")).header("authorization", auth)
        .json(&json!({"phone": "+5215511223344", "webhook": "http://example.com/api", "media_token": "12341234123"}))).await;
    assert_eq!(
        (status, body),
        (
            201,
            json!({"bot_id": "coppel-wa-staging", "channel": "outgoing_webhook", "webhook": "http://example.com/api"})
        )
    );
    // WhatsApp text and image, Facebook text and attachment.
    for (channel, msg) in [
        (
            "outgoing_webhook",
            json!({"id": "abc", "type": "text", "userId": "5217331175599", "text": {"body": "Hola"}}),
        ),
        (
            "outgoing_webhook",
            json!({"id": "abd", "type": "image", "userId": "5217331175599", "image": {"url": media("a.jpg"), "caption": "foto"}}),
        ),
        (
            "passthrough",
            json!({"messaging_type": "RESPONSE", "recipient": {"id": "6199190013487246"}, "message": {"text": "Hola"}, "metadata": "YALOSOURCE:FIREHOSE"}),
        ),
        (
            "passthrough",
            json!({"messaging_type": "RESPONSE", "recipient": {"id": "6199190013487246"}, "message": {"attachment": {"type": "file", "payload": {"url": media("a.pdf")}}}}),
        ),
    ] {
        let (status, body) = send(
            http.post(format!("{api}/{channel}/bots/coppel-bot/messages"))
                .header("authorization", auth)
                .json(&msg),
        )
        .await;
        assert_eq!(status, 200, "{msg}: {body}");
        assert!(body["messages"][0]["id"].is_string());
    }
    let delivered = c.yalo_delivered(Some("5217331175599")).await.unwrap();
    assert_eq!(delivered.as_array().unwrap().len(), 2);
    assert_eq!(delivered[1]["kind"], "image");
    assert!(c.violations().await.unwrap().is_empty());

    // Wrong: no token (not a violation), a WhatsApp text without text.body, an unknown channel.
    let (status, _) =
        send(http.post(format!("{api}/outgoing_webhook/bots/b/messages")).json(&json!({}))).await;
    assert_eq!(status, 401);
    let (status, _) = send(
        http.post(format!("{api}/outgoing_webhook/bots/b/messages"))
            .header("authorization", auth)
            .json(&json!({"id": "x", "type": "text", "userId": "1", "text": "Hola"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        http.post(format!("{api}/telegram/bots/b/messages"))
            .header("authorization", auth)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 404);
    // A media link Yalo cannot download.
    let (status, _) = send(http.post(format!("{api}/outgoing_webhook/bots/b/messages")).header("authorization", auth)
        .json(&json!({"id": "y", "type": "image", "userId": "1", "image": {"url": "http://127.0.0.1:9/gone.jpg"}}))).await;
    assert_eq!(status, 400);
    let violations = c.violations().await.unwrap();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].violations[0].contains("text.body"));
    assert!(violations[2].violations[0].contains("media link"), "{:?}", violations[2]);

    // Remove.
    let (status, _) = send(
        http.post(format!("{api}/outgoing_webhook/bots/coppel-wa-staging/healthcheck/remove"))
            .header("authorization", auth)
            .json(&json!({"phone": "+5215511223344", "provider": "whatsapp"})),
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn when_a_simulated_customer_writes_should_post_the_seeds_webhook_shapes_signed_and_redelivered(
) {
    let target = Capture::start().await;
    let sb = start_sandbox(None, |c| c.yalo.webhook_secret = Some("shh".into())).await;
    let c = sb.client();

    let out = c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": "5215573735001",
        "type": "text", "text": "Hola", "messageId": "ABGHUhVXNzUALwIQZWnmjBi7IBmfp2EfNrYbRQ", "deliveries": 3, "concurrent": true,
        "target": target.url})).await.unwrap();
    assert_eq!(out["deliveries"].as_array().unwrap().len(), 3);
    let got = target.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.body == got[0].body), "redeliveries are byte-identical");
    let p = got[0].json();
    assert_eq!(p["from"], "5215573735001");
    assert_eq!(p["id"], "ABGHUhVXNzUALwIQZWnmjBi7IBmfp2EfNrYbRQ");
    assert_eq!(p["text"]["body"], "Hola");
    assert_eq!(p["type"], "text");
    assert!(
        p["timestamp"].as_str().unwrap().parse::<i64>().is_ok(),
        "the seed's timestamp is a string of ms"
    );
    // Signed: sha256=<hex HMAC-SHA256 of the raw body>.
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"shh").unwrap();
    mac.update(&got[0].body);
    assert_eq!(
        got[0].header("x-hub-signature-256").unwrap(),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );

    // An image: its URL is served by the sandbox.
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": "5215514732842", "type": "image",
        "mimeType": "image/jpeg", "caption": "", "target": target.url})).await.unwrap();
    let img = target.received()[3].json();
    assert_eq!(img["image"]["mimeType"], "image/jpeg");
    let media = client().get(img["image"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(media.headers()["content-type"], "image/jpeg");
    assert!(media.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));

    // A bot message on WhatsApp carries `to`; Facebook's passthrough shape with authorRole.
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "5215500000000", "userId": "5215514732842", "type": "text",
        "text": "¡Hola! Soy Coppelbot", "authorRole": "bot", "target": target.url})).await.unwrap();
    let bot = target.received()[4].json();
    assert_eq!(
        (bot["from"].as_str(), bot["to"].as_str()),
        (Some("5215500000000"), Some("5215514732842"))
    );
    c.customer_writes(&json!({"provider": "facebook", "botId": "messeger-staging-bot", "userId": "5018811078134037",
        "type": "image", "target": target.url})).await.unwrap();
    let fb = target.received()[5].json();
    assert_eq!(fb["authorRole"], "user");
    assert_eq!(fb["provider"], "facebook");
    assert_eq!(fb["message"]["object"], "page");
    let m = &fb["message"]["entry"][0]["messaging"][0];
    assert_eq!(m["sender"]["id"], "5018811078134037");
    assert_eq!(m["message"]["attachments"][0]["type"], "image");
    assert!(m["message"]["mid"].as_str().unwrap().starts_with("m_"));
    assert!(m["timestamp"].is_i64());
}

// ------------------------------------------------------------------ Salesforce

fn assertion(claims: &Value) -> String {
    omnibridge::jwt::install();
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(SANDBOX_PRIVATE_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn sf_token(base: &str, assertion: &str) -> (u16, Value) {
    send(client().post(format!("{base}/salesforce/services/oauth2/token")).form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion),
    ]))
    .await
}

fn good_claims(base: &str) -> Value {
    let exp = omnibridge::model::now_millis() / 1000 + 300;
    json!({"iss": "sandbox-consumer-key", "sub": "integration@omnibridge.sandbox", "aud": format!("{base}/salesforce"), "exp": exp})
}

#[tokio::test]
async fn when_the_jwt_bearer_assertion_is_right_should_issue_an_org_token_and_refuse_any_wrong_claim(
) {
    let sb = start_sandbox(None, |_| {}).await;
    let base = &sb.base_url;
    let (status, body) = sf_token(base, &assertion(&good_claims(base))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("00DSB0000000001EAA!"));
    assert_eq!(body["token_type"], "Bearer");

    let mut wrong = Vec::new();
    for (field, value) in [
        ("iss", json!("other")),
        ("sub", json!("someone@else")),
        ("aud", json!("https://login.salesforce.com")),
        ("exp", json!(1000)),
    ] {
        let mut c = good_claims(base);
        c[field] = value;
        wrong.push(assertion(&c));
    }
    // HS256 with a guessable key is not RS256.
    wrong.push(
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good_claims(base),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap(),
    );
    for a in &wrong {
        let (status, body) = sf_token(base, a).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].is_string());
    }
    let (status, _) = send(
        client()
            .post(format!("{base}/salesforce/services/oauth2/token"))
            .form(&[("grant_type", "password")]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(sb.client().violations().await.unwrap().len(), wrong.len() + 1);
}

struct Sf {
    base: String,
    token: String,
}

impl Sf {
    async fn new(base: &str) -> Sf {
        let (_, body) = sf_token(base, &assertion(&good_claims(base))).await;
        Sf { base: base.to_owned(), token: body["access_token"].as_str().unwrap().to_owned() }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        client()
            .request(method, format!("{}/salesforce/api/v1/{path}", self.base))
            .bearer_auth(&self.token)
            .header("OrgId", "00DSB0000000001EAA")
            .header("AuthorizationContext", "Omnibridge_ChannelDefinition")
            .header("RequestId", uuid::Uuid::new_v4().to_string())
    }

    async fn interaction(&self, json_part: &Value, file: Option<(&str, Vec<u8>)>) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new().part(
            "json",
            reqwest::multipart::Part::text(json_part.to_string())
                .mime_str("application/json")
                .unwrap(),
        );
        if let Some((name, bytes)) = file {
            form = form.part(
                "attachments",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(name.to_owned())
                    .mime_str("image/png")
                    .unwrap(),
            );
        }
        send(self.req(reqwest::Method::POST, "interactions").multipart(form)).await
    }
}

fn message(id: &str, text: &str) -> Value {
    json!({"to": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "from": "5217331175599", "interactions": [{
        "timestamp": 1690344475409i64, "interactionType": "EntryInteraction",
        "payload": {"id": id, "entryType": "Message", "abstractMessage": {"messageType": "StaticContentMessage", "id": id,
            "staticContent": {"formatType": "Text", "text": text}}}}]})
}

#[tokio::test]
async fn when_interactions_follow_the_seed_should_be_accepted_and_each_broken_rule_refused() {
    let sb = start_sandbox(None, |_| {}).await;
    let sf = Sf::new(&sb.base_url).await;

    let (status, body) = sf.interaction(&message("e1", "Hi there"), None).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["conversationIdentifier"].is_string());
    assert!(body["workItemIds"][0].is_string());
    for entry_type in ["TypingStartedIndicator", "TypingStoppedIndicator"] {
        let j = json!({"to": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "from": "5217331175599", "interactions": [{
            "timestamp": 1690344475409i64, "interactionType": "EntryInteraction",
            "payload": {"id": uuid::Uuid::new_v4().to_string(), "entryType": entry_type, "timestamp": 1690344475409i64}}]});
        assert_eq!(sf.interaction(&j, None).await.0, 202);
    }
    let failed = json!({"to": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "from": "5217331175599", "interactions": [{
        "timestamp": 1690344475409i64, "interactionType": "EntryInteraction",
        "payload": {"id": "f1", "entryType": "MessageDeliveryFailed", "failedConversationEntryIdentifier": "agent-entry-1",
            "recipient": {"appType": "custom", "subject": "5217331175599", "role": "EndUser"}, "errorCode": "500"}}]});
    assert_eq!(sf.interaction(&failed, None).await.0, 202);
    let file = vec![7u8; 10_000];
    let attach = json!({"to": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "from": "5217331175599", "interactions": [{
        "timestamp": 1690344475409i64, "interactionType": "AttachmentInteraction", "id": "a1", "attachmentIndex": 0,
        "contentLength": 10000, "text": "This is my file"}]});
    assert_eq!(sf.interaction(&attach, Some(("photo.png", file.clone()))).await.0, 202);
    assert!(sb.client().violations().await.unwrap().is_empty());

    // The agent sees the conversation in order.
    let convs = sb.client().salesforce_conversations().await.unwrap();
    let kinds: Vec<&str> = convs[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Message",
            "TypingStartedIndicator",
            "TypingStoppedIndicator",
            "MessageDeliveryFailed",
            "Attachment"
        ]
    );
    assert_eq!(convs[0]["entries"][4]["attachment"]["size"], 10000);

    // A re-sent entry id is refused with 10073 (treat as accepted), not a violation.
    let (status, body) = sf.interaction(&message("e1", "Hi there"), None).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(10073)));
    assert!(sb.client().violations().await.unwrap().is_empty());

    // Each broken rule: refused with Salesforce's code, recorded as a violation.
    let mut two = message("e2", "x");
    two["interactions"].as_array_mut().unwrap().push(message("e3", "y")["interactions"][0].clone());
    let mut mismatched = message("e4", "x");
    mismatched["interactions"][0]["payload"]["abstractMessage"]["id"] = json!("other");
    let mut wrong_app = failed.clone();
    wrong_app["interactions"][0]["payload"]["id"] = json!("f2");
    wrong_app["interactions"][0]["payload"]["recipient"]["appType"] = json!("agent");
    let mut string_ts = message("e5", "x");
    string_ts["interactions"][0]["timestamp"] = json!("1690344475409");
    let mut wrong_length = attach.clone();
    wrong_length["interactions"][0]["id"] = json!("a2");
    wrong_length["interactions"][0]["contentLength"] = json!(9);
    let cases = [
        (two, None, 10029),
        (mismatched, None, 10060),
        (wrong_app, None, 10037),
        (string_ts, None, 10045),
        (wrong_length, Some(("p.png", file.clone())), 10051),
        (attach.clone(), None, 10011),
    ];
    let n = cases.len();
    for (j, f, code) in cases {
        let (status, body) = sf.interaction(&j, f).await;
        assert_eq!((status, body["code"].as_i64()), (400, Some(code)), "{j}");
    }
    // The json part must be typed application/json.
    let untyped = reqwest::multipart::Form::new().text("json", message("e6", "x").to_string());
    let (status, _) = send(sf.req(reqwest::Method::POST, "interactions").multipart(untyped)).await;
    assert_eq!(status, 400);
    // RequestId must be a UUID.
    let form = reqwest::multipart::Form::new().part(
        "json",
        reqwest::multipart::Part::text(message("e7", "x").to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    let no_uuid = client()
        .post(format!("{}/salesforce/api/v1/interactions", sf.base))
        .bearer_auth(&sf.token)
        .header("OrgId", "00DSB0000000001EAA")
        .header("AuthorizationContext", "Omnibridge_ChannelDefinition")
        .header("RequestId", "not-a-uuid");
    let (status, _) = send(no_uuid.multipart(form)).await;
    assert_eq!(status, 400);
    assert_eq!(sb.client().violations().await.unwrap().len(), n + 2);

    // An expired token: 401, and not a contract violation.
    sb.client().expire_salesforce_tokens().await.unwrap();
    let (status, body) = sf.interaction(&message("e8", "x"), None).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(10004)));
    assert_eq!(sb.client().violations().await.unwrap().len(), n + 2);
}

#[tokio::test]
async fn when_route_agent_work_consent_and_acknowledgement_are_called_should_check_their_bodies() {
    let sb = start_sandbox(None, |_| {}).await;
    let sf = Sf::new(&sb.base_url).await;
    let (_, created) = sf.interaction(&message("r1", "hola"), None).await;
    let cid = created["conversationIdentifier"].as_str().unwrap().to_owned();
    let wid = created["workItemIds"][0].as_str().unwrap().to_owned();
    use reqwest::Method;
    let ok = [
        (
            Method::POST,
            "route",
            json!({"conversationIdentifier": cid, "routingType": "Initial",
            "routingInfo": {"flow": {"flowId": "300xx", "queueId": "00Gxx"}, "routingAttributes": {"source_flow_bot": "SFB001"}}}),
        ),
        (
            Method::POST,
            "route",
            json!({"conversationIdentifier": cid, "routingType": "Initial", "routingInfo": {"queueId": "00Gxx"}}),
        ),
        (Method::POST, "route", json!({"conversationIdentifier": cid, "routingType": "Initial"})),
        (Method::DELETE, "route", json!({"conversationIdentifier": cid})),
        (
            Method::POST,
            "agentWork",
            json!({"userId": "005xx", "workItemId": wid, "capacityWeight": 1,
            "routingContext": {"conversationIdentifier": cid, "routingType": "Initial", "routingCorrelationId": "ev1"}}),
        ),
        (
            Method::POST,
            "agentWork",
            json!({"userId": "005xx", "workItemId": wid, "capacityPercentage": 50}),
        ),
        (
            Method::PATCH,
            "consent",
            json!({"endUserClientId": "5217331175599", "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "consentStatus": "OptedOut"}),
        ),
        (
            Method::POST,
            "acknowledgement",
            json!({"conversationIdentifier": cid, "sender": {"appType": "custom", "subject": "5217331175599", "role": "EndUser"},
            "acknowledgements": [{"acknowledgementTimestamp": 1, "acknowledgementType": "Delivery", "acknowledgedConversationEntryIdentifier": "x", "acknowledgmentCreatedConversationEntryIdentifier": "y"}]}),
        ),
    ];
    for (m, path, body) in ok {
        let (status, answer) = send(sf.req(m.clone(), path).json(&body)).await;
        assert!(status == 200 || status == 202, "{m} {path}: {status} {answer}");
    }
    assert!(sb.client().violations().await.unwrap().is_empty());
    let convs = sb.client().salesforce_conversations().await.unwrap();
    assert_eq!(convs[0]["routes"].as_array().unwrap().len(), 3);
    assert_eq!(convs[0]["route_deleted"], true);
    assert_eq!(convs[0]["consent"], "OptedOut");

    let wrong = [
        (
            Method::POST,
            "route",
            json!({"conversationIdentifier": cid, "routingType": "Initial", "routingInfo": {"flow": {"flowId": "300xx"}}}),
            10024,
        ),
        (
            Method::POST,
            "route",
            json!({"conversationIdentifier": cid, "routingType": "Initial", "routingInfo": {}}),
            10030,
        ),
        (
            Method::POST,
            "agentWork",
            json!({"userId": "005xx", "workItemId": wid, "capacityWeight": 1, "capacityPercentage": 5}),
            10013,
        ),
        (
            Method::POST,
            "agentWork",
            json!({"userId": "005xx", "workItemId": wid, "capacityPercentage": 150}),
            10015,
        ),
        (
            Method::PATCH,
            "consent",
            json!({"endUserClientId": "5217", "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "consentStatus": "STOP"}),
            10021,
        ),
    ];
    for (m, path, body, code) in wrong {
        let (status, answer) = send(sf.req(m.clone(), path).json(&body)).await;
        assert_eq!((status, answer["code"].as_i64()), (400, Some(code)), "{m} {path}");
    }
}

#[tokio::test]
async fn when_the_salesforce_agent_replies_should_publish_the_outbound_event_in_both_layouts_and_transports(
) {
    let target = Capture::start().await;
    let sb = start_sandbox(None, |_| {}).await;
    let bus = Arc::new(Bus::default());
    sb.set_event_relay(bus.clone());
    let sf = Sf::new(&sb.base_url).await;
    let (_, created) = sf.interaction(&message("o1", "hola"), None).await;
    let cid = created["conversationIdentifier"].as_str().unwrap();
    let c = sb.client();

    // Spring '24 through Event Relay (the partner event bus): fields as plain values in detail.payload.
    c.salesforce_agent(&json!({"conversationIdentifier": cid, "text": "Hi, how are you?"}))
        .await
        .unwrap();
    let event = bus.0.lock().unwrap()[0].clone();
    assert!(event["source"].as_str().unwrap().starts_with("aws.partner/salesforce.com/"));
    assert_eq!(event["detail-type"], "my__event__e");
    let payload = &event["detail"]["payload"];
    assert_eq!(payload["my__event__EventType__c"], "Interaction");
    let inner: Value =
        serde_json::from_str(payload["my__event__payloadField__c"].as_str().unwrap()).unwrap();
    assert_eq!(inner["channelAddressIdentifier"], "b0ffeafe-0d89-4338-b14a-172ad203f22a");
    assert_eq!(
        inner["recipient"],
        json!({"appType": "custom", "subject": "5217331175599", "role": "EndUser"})
    );
    assert_eq!(
        inner["entryPayload"]["abstractMessage"]["staticContent"]["text"],
        "Hi, how are you?"
    );

    // With attachments, Spring '24 nests the entry under `payload`.
    c.salesforce_agent(&json!({"conversationIdentifier": cid, "text": "did you get my file",
        "attachments": [{"name": "BYO.png", "mimeType": "image/png"}], "via": "https", "target": target.url})).await.unwrap();
    let posted = target.received()[0].json();
    let field = &posted["payload"]["my__event__e"]["my__event__payloadField__c"]["string"];
    let inner: Value = serde_json::from_str(field.as_str().unwrap()).unwrap();
    let att =
        &inner["payload"]["entryPayload"]["abstractMessage"]["staticContent"]["attachments"][0];
    assert_eq!(att["mimeType"], "image/png");
    let file = client().get(att["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "image/png");

    // The deprecated layout: channel and recipient in their own fields.
    c.salesforce_agent(&json!({"endUser": "5217331175599", "text": "old style", "layout": "deprecated", "via": "https", "target": target.url})).await.unwrap();
    let old = &target.received()[1].json()["payload"]["my__event__e"];
    assert_eq!(
        old["my__event__chnlAddrIdField__c"]["string"],
        "b0ffeafe-0d89-4338-b14a-172ad203f22a"
    );
    let recipient: Value =
        serde_json::from_str(old["my__event__recipientField__c"]["string"].as_str().unwrap())
            .unwrap();
    assert_eq!(recipient["subject"], "5217331175599");

    // The session ends.
    c.salesforce_agent(&json!({"conversationIdentifier": cid, "action": "session_ended", "via": "https", "target": target.url})).await.unwrap();
    let ended = &target.received()[2].json()["payload"]["my__event__e"]
        ["my__event__payloadField__c"]["string"];
    let inner: Value = serde_json::from_str(ended.as_str().unwrap()).unwrap();
    assert_eq!(inner["entryType"], "SessionStatusChanged");
    assert_eq!(inner["entryPayload"]["sessionStatus"], "Ended");
}

/// Event Relay's partner bus, keeping what is published.
#[derive(Default)]
struct Bus(std::sync::Mutex<Vec<Value>>);

impl omnibridge_dev::sandbox::EventRelay for Bus {
    fn publish(&self, event: Value) -> futures::future::BoxFuture<'_, Result<Value, String>> {
        self.0.lock().unwrap().push(event);
        Box::pin(async { Ok(json!({"delivered": []})) })
    }
}

// ------------------------------------------------------------------ Pipedrive

#[tokio::test]
async fn when_pipedrive_calls_follow_the_contract_should_be_accepted_and_wrong_ones_refused() {
    let sb = start_sandbox(None, |_| {}).await;
    let http = client();
    let api = format!("{}/pipedrive/v1", sb.base_url);
    let (status, body) = send(http.post(format!("{api}/channels")).bearer_auth("sandbox-pipedrive-token")
        .json(&json!({"name": "WhatsApp (omnibridge)", "provider_channel_id": "wa-coppel", "provider_type": "whatsapp", "template_support": true}))).await;
    assert_eq!(status, 200, "{body}");
    let channel = body["data"]["id"].as_str().unwrap().to_owned();
    // `channel_id` is the provider's id for the channel.
    let msg = json!({"id": "m1", "channel_id": "wa-coppel", "sender_id": "5217331175599", "conversation_id": "c1", "message": "Hola",
        "status": "sent", "created_at": "2026-11-22 05:33",
        "attachments": [{"id": "a1", "type": "image/jpeg", "url": "https://x.test/a.jpg", "name": "a.jpg", "size": 10, "link_expires": true}]});
    let (status, _) = send(
        http.post(format!("{api}/channels/messages/receive"))
            .bearer_auth("sandbox-pipedrive-token")
            .json(&msg),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sb.client().pipedrive_received().await.unwrap()[0]["message"], "Hola");
    assert!(sb.client().violations().await.unwrap().is_empty());

    let (status, body) =
        send(http.post(format!("{api}/channels/messages/receive")).json(&msg)).await;
    assert_eq!((status, body["data"]["code"].as_str()), (401, Some("UNAUTHORIZED")));
    let mut bad_time = msg.clone();
    bad_time["created_at"] = json!("2026-11-22T05:33:00Z");
    let (status, body) = send(
        http.post(format!("{api}/channels/messages/receive"))
            .bearer_auth("sandbox-pipedrive-token")
            .json(&bad_time),
    )
    .await;
    assert_eq!((status, body["success"].as_bool()), (400, Some(false)));
    // After the channel is deleted, messages to it break the contract.
    let (status, _) = send(
        http.delete(format!("{api}/channels/{channel}")).bearer_auth("sandbox-pipedrive-token"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        http.post(format!("{api}/channels/messages/receive"))
            .bearer_auth("sandbox-pipedrive-token")
            .json(&msg),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(sb.client().violations().await.unwrap().len(), 2);
}

#[tokio::test]
async fn when_the_pipedrive_agent_sends_should_post_multipart_with_basic_auth_to_omnibridge() {
    let omnibridge = Capture::start().await;
    let sb = start_sandbox(Some(&omnibridge.url), |_| {}).await;
    let out = sb.client().pipedrive_agent_sends(&json!({"providerChannelId": "wa-coppel", "conversationId": "c1", "senderId": "agent-1",
        "recipientIds": ["5217331175599"], "message": "Hola, soy Eva", "files": [{"name": "factura.pdf", "mimeType": "application/pdf"}]})).await.unwrap();
    assert_eq!(out["deliveries"][0]["status"], 200);
    let got = &omnibridge.received()[0];
    assert_eq!(got.path, "/v1/pipedrive/channels/wa-coppel/messages");
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode("sandbox-client-id:sandbox-client-secret");
    assert_eq!(got.header("authorization").unwrap(), format!("Basic {basic}"));
    assert!(got.header("content-type").unwrap().starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&got.body);
    for part in [
        "name=\"message\"",
        "name=\"senderId\"",
        "name=\"conversationId\"",
        "name=\"recipientIds\"",
        "name=\"files\"; filename=\"factura.pdf\"",
        "Hola, soy Eva",
    ] {
        assert!(body.contains(part), "missing {part}");
    }
}

// ------------------------------------------------------------------ Yeahdesk

async fn yd(
    sb: &omnibridge_dev::sandbox::RunningSandbox,
    channel: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    send(
        client()
            .post(format!(
                "{}/yeahdesk/api/custom-channel/message/{channel}?token={token}",
                sb.base_url
            ))
            .json(body),
    )
    .await
}

const CH: &str = "5cc2f62000568c04afdc0c5e";
const TOKEN: &str = "sandbox-yeahdesk-token";

fn contact(value: &str) -> Value {
    json!({"name": "Vasya Pupkin", "contacts": [{"value": value, "type": "id", "service": "custom", "origin": "custom"}]})
}

#[tokio::test]
async fn when_yeahdesk_messages_come_in_should_find_or_create_dialogs_and_merge_contacts() {
    let sb = start_sandbox(None, |_| {}).await;
    let (status, first) = yd(&sb, CH, TOKEN, &json!({"reference": "conv-1", "dialog_title": "Avito", "text": "hello", "timestamp": 1700000000000i64,
        "integration_data": "order=42", "contact_object": contact("phrw1oc544j18buxazs6tlg7q68vdfyin1emk06")})).await;
    assert_eq!(status, 200, "{first}");
    // Same reference: same dialog. Matching contact data: same contact (merged, new data added).
    let mut merged = contact("phrw1oc544j18buxazs6tlg7q68vdfyin1emk06");
    merged["contacts"].as_array_mut().unwrap().push(
        json!({"value": "+79876543210", "type": "phone", "service": "phone", "origin": "custom"}),
    );
    let (_, second) = yd(
        &sb,
        CH,
        TOKEN,
        &json!({"reference": "conv-1", "text": "again", "contact_object": merged}),
    )
    .await;
    assert_eq!(second["dialog_id"], first["dialog_id"]);
    assert_eq!(second["contact_id"], first["contact_id"]);
    let contacts = sb.client().yeahdesk_contacts().await.unwrap();
    assert_eq!(contacts.as_array().unwrap().len(), 1);
    assert_eq!(contacts[0]["contacts"].as_array().unwrap().len(), 2);
    // dialog_id wins over reference.
    let (_, third) = yd(&sb, CH, TOKEN, &json!({"dialog_id": first["dialog_id"], "reference": "other", "text": "x", "contact_object": contact("phrw1oc544j18buxazs6tlg7q68vdfyin1emk06")})).await;
    assert_eq!(third["dialog_id"], first["dialog_id"]);
    // contacts_id updates existing custom contact data.
    let data_id = contacts[0]["contacts"][0]["id"].as_str().unwrap();
    let (status, fourth) = yd(&sb, CH, TOKEN, &json!({"reference": "conv-2", "text": "y", "contacts_id": [{"id": data_id, "value": "new-value", "type": "id", "service": "custom", "origin": "custom"}]})).await;
    assert_eq!((status, &fourth["contact_id"]), (200, &first["contact_id"]));
    let dialogs = sb.client().yeahdesk_dialogs().await.unwrap();
    assert_eq!(dialogs.as_array().unwrap().len(), 2);
    assert_eq!(dialogs[0]["messages"].as_array().unwrap().len(), 3);
    assert_eq!(dialogs[0]["title"], "Avito");
    assert!(sb.client().violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_the_seeds_error_conditions_occur_should_answer_each_of_the_ten_codes() {
    let sb = start_sandbox(None, |_| {}).await;
    let (_, ok) =
        yd(&sb, CH, TOKEN, &json!({"text": "hi", "contact_object": contact("u-1")})).await;
    let contact_id = ok["contact_id"].as_str().unwrap().to_owned();
    let c = sb.client();
    c.post("/yeahdesk/channels", &json!({"id": "5cc2f62000568c04afdc0c5f", "token": "t2", "enabled": false, "deleted": false})).await.unwrap();
    c.post(
        "/yeahdesk/channels",
        &json!({"id": "5cc2f62000568c04afdc0c60", "token": "t3", "enabled": true, "deleted": true}),
    )
    .await
    .unwrap();
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (CH, TOKEN, json!({"text": "x"}), 400, "E_CONTACT_INFO_REQUIRED"),
        (
            CH,
            TOKEN,
            json!({"text": "x", "contact_object": {"name": "n", "contacts": [{"value": "a@b.c", "type": "mail", "service": "mail"}]}}),
            400,
            "E_CUSTOM_CONTACTS_REQUIRED",
        ),
        (
            CH,
            TOKEN,
            json!({"text": "x", "contact_object": {"name": "n", "contacts": [{"value": "", "type": "id", "service": "custom"}]}}),
            400,
            "E_CONTACTS_VALUE_REQUIRED",
        ),
        (
            CH,
            TOKEN,
            json!({"text": "x", "contacts_id": [{"id": "not-an-id", "value": "v", "type": "id", "service": "custom"}]}),
            400,
            "E_MALFORMED_CONTACT_ID",
        ),
        (
            CH,
            "wrong",
            json!({"text": "x", "contact_object": contact("u-1")}),
            401,
            "E_INVALID_TOKEN",
        ),
        (
            "5cc2f62000568c04afdc0c5f",
            "t2",
            json!({"text": "x", "contact_object": contact("u-1")}),
            403,
            "E_CHANNEL_NOT_ENABLED",
        ),
        (
            "5cc2f62000568c04afdc0c60",
            "t3",
            json!({"text": "x", "contact_object": contact("u-1")}),
            403,
            "E_CHANNEL_DELETED",
        ),
        (
            CH,
            TOKEN,
            json!({"text": "x", "contact_object": {"_id": "0123456789abcdef01234567", "name": "n", "contacts": [{"value": "u-9", "type": "id", "service": "custom"}]}}),
            404,
            "E_CONTACT_NOT_FOUND",
        ),
        (
            CH,
            TOKEN,
            json!({"text": "x", "dialog_id": "0123456789abcdef01234567", "contact_object": contact("u-1")}),
            404,
            "E_DIALOG_NOT_FOUND",
        ),
    ];
    for (channel, token, body, status, code) in cases {
        let (s, b) = yd(&sb, channel, token, &body).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{body}");
    }
    c.post(&format!("/yeahdesk/contacts/{contact_id}"), &json!({})).await.ok();
    client()
        .delete(format!("{}/_sandbox/yeahdesk/contacts/{contact_id}", sb.base_url))
        .send()
        .await
        .unwrap();
    let (s, b) = yd(&sb, CH, TOKEN, &json!({"text": "x", "contact_object": {"_id": contact_id, "name": "n", "contacts": [{"value": "u-1", "type": "id", "service": "custom"}]}})).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("E_CONTACT_DELETED")));
}

#[tokio::test]
async fn when_the_yeahdesk_agent_replies_should_retry_the_webhook_until_a_200_at_most_five_times() {
    let omnibridge = Capture::start().await;
    let sb = start_sandbox(Some(&omnibridge.url), |c| {
        c.yeahdesk.retry_pause = Duration::from_millis(10)
    })
    .await;
    let (_, ok) = yd(&sb, CH, TOKEN, &json!({"reference": "conv-9", "text": "hi", "integration_data": "ticket=7", "contact_object": contact("u-7")})).await;
    omnibridge.respond_with(&[500, 503]);
    let out = sb
        .client()
        .yeahdesk_agent_replies(&json!({"dialogId": ok["dialog_id"], "text": "Здравствуйте"}))
        .await
        .unwrap();
    assert_eq!(out["deliveries"][0], json!([500, 503, 200]));
    let got = omnibridge.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].path, "/v1/yeahdesk/webhook?secret=sandbox-yeahdesk-webhook-secret");
    let p = got[2].json();
    assert_eq!(p["data"]["integration_data"], "ticket=7");
    assert_eq!(p["data"]["reference"], "conv-9");
    assert_eq!(p["data"]["message"]["text"], "Здравствуйте");

    omnibridge.respond_with(&[500; 7]);
    let out = sb
        .client()
        .yeahdesk_agent_replies(&json!({"dialogId": ok["dialog_id"], "text": "again"}))
        .await
        .unwrap();
    assert_eq!(out["deliveries"][0], json!([500, 500, 500, 500, 500]));
}

// ------------------------------------------------------------------ recording and faults

#[tokio::test]
async fn when_faults_are_injected_should_apply_to_the_matching_requests_only_as_many_times_as_asked(
) {
    let sb = start_sandbox(None, |_| {}).await;
    let c = sb.client();
    let http = client();
    let api = format!("{}/pipedrive/v1", sb.base_url);
    let create = || {
        http.post(format!("{api}/channels"))
            .bearer_auth("sandbox-pipedrive-token")
            .json(&json!({"name": "n", "provider_channel_id": "p"}))
    };

    c.inject(&Fault {
        peer: "pipedrive".into(),
        route: Some("pipedrive.channels_create".into()),
        effect: Effect::Status {
            status: 429,
            retry_after_secs: Some(3),
            sf_code: None,
            body: None,
        },
        times: Some(2),
        ratio: None,
    })
    .await
    .unwrap();
    for _ in 0..2 {
        let res = create().send().await.unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "3");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["data"]["code"], "RATE_LIMIT_EXCEEDED");
        assert!(time::OffsetDateTime::parse(
            body["data"]["retry_by"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok());
    }
    assert_eq!(create().send().await.unwrap().status(), 200, "two times only");

    // A Salesforce error code; another route of the same peer is untouched.
    c.inject(&Fault {
        peer: "salesforce".into(),
        route: Some("salesforce.interactions".into()),
        effect: Effect::Status {
            status: 503,
            retry_after_secs: None,
            sf_code: Some(10055),
            body: None,
        },
        times: Some(1),
        ratio: None,
    })
    .await
    .unwrap();
    let (status, _) = sf_token(&sb.base_url, &assertion(&good_claims(&sb.base_url))).await;
    assert_eq!(status, 200);
    let sf = Sf::new(&sb.base_url).await;
    let (status, body) = sf.interaction(&message("z1", "x"), None).await;
    assert_eq!((status, body["code"].as_i64()), (503, Some(10055)));

    // A dropped connection, then latency.
    c.inject(&Fault {
        peer: "pipedrive".into(),
        route: None,
        effect: Effect::Drop,
        times: Some(1),
        ratio: None,
    })
    .await
    .unwrap();
    assert!(create().send().await.is_err(), "the connection was dropped");
    c.inject(&Fault {
        peer: "pipedrive".into(),
        route: None,
        effect: Effect::Latency { ms: 300 },
        times: Some(1),
        ratio: None,
    })
    .await
    .unwrap();
    let start = std::time::Instant::now();
    assert_eq!(create().send().await.unwrap().status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    // A share of requests: ratio 0 never fires.
    c.inject(&Fault {
        peer: "pipedrive".into(),
        route: None,
        effect: Effect::Drop,
        times: None,
        ratio: Some(0.0),
    })
    .await
    .unwrap();
    assert_eq!(create().send().await.unwrap().status(), 200);
    c.clear_faults().await.unwrap();

    // Everything was recorded, faulted ones marked.
    let recorded = c.requests(Some("pipedrive")).await.unwrap();
    assert_eq!(recorded.len(), 6);
    assert_eq!(recorded.iter().filter(|r| r.faulted).count(), 3);
    assert!(recorded[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer sandbox-pipedrive-token"));
    assert!(recorded[0].body.as_deref().unwrap().contains("provider_channel_id"));
}
