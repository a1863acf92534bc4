//! The seed's story with Salesforce: a WhatsApp customer talks to the bot,
//! asks for a human, the agent sees the transcript first and then the
//! customer's next messages in order — through token expiry and faults.

use omnibridge::model::*;
use omnibridge::ports::ConversationStore;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge_dev::sandbox::{Effect, Fault};
use omnibridge_tests::{eventually, runtime_with, start_sandbox, system, System, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

fn token() -> String {
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    keys.issue(
        &ApiUser { username: "yaloUser".into(), role: Role::Yalo, password_hash: String::new() },
        now_millis() / 1000,
    )
    .unwrap()
}

fn chat(user: &str) -> Value {
    json!({"userID": user, "botSlug": "coppel-bot", "botId": "521554578545", "name": "Eduardo Ochoa", "provider": "whatsapp",
           "email": "ochoa@example.com", "phoneNumber": user, "extraData": {"source_flow_bot": "SFB001", "order_traking_id": "1225222565"}})
}

async fn connect(base: &str, body: &Value) -> (u16, Value) {
    let res = omnibridge_dev::http()
        .post(format!("{base}/v1/chats/connect"))
        .bearer_auth(token())
        .json(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn agent_view(
    sandbox: &omnibridge_dev::sandbox::RunningSandbox,
    user: &str,
    entries: usize,
) -> Value {
    eventually(Duration::from_secs(30), || async {
        let convs = sandbox.client().salesforce_conversations().await.unwrap();
        convs
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["end_user"] == user)
            .filter(|c| c["entries"].as_array().unwrap().len() >= entries)
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("the agent did not see {entries} entries"))
}

#[tokio::test]
async fn when_a_whatsapp_customer_asks_for_a_human_should_show_the_agent_the_transcript_then_each_message_once_in_order(
) {
    let System { sandbox, runner, .. } = system(true, |_| {}).await;
    let c = sandbox.client();
    let user = "5217331175599";
    let write = |text: &str, role: &str| json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": text, "authorRole": role});
    c.customer_writes(&write("Hola", "user")).await.unwrap();
    c.customer_writes(&write("¡Hola! Soy Coppelbot, ¿en qué te ayudo?", "bot")).await.unwrap();
    c.customer_writes(&write("Quiero hablar con un asesor", "user")).await.unwrap();

    assert_eq!(
        connect(&runner.base_url, &chat(user)).await,
        (200, json!({"Message": "Chat created succefully"}))
    );
    // Twice: still one chat, one transcript, one routing request.
    assert_eq!(connect(&runner.base_url, &chat(user)).await.0, 200);
    let view = agent_view(&sandbox, user, 1).await;
    let first = view["entries"][0]["text"].as_str().unwrap();
    assert!(first.starts_with("Cliente: Eduardo Ochoa\nEmail: ochoa@example.com"), "{first}");
    let lines: Vec<&str> = first.lines().filter(|l| l.contains(" UTC]: ")).collect();
    assert_eq!(lines.len(), 3, "{first}");
    assert!(lines[0].starts_with("Cliente [") && lines[0].ends_with("Hola"));
    assert!(lines[1].starts_with("Bot ["));
    assert_eq!(view["routes"].as_array().unwrap().len(), 1);
    assert_eq!(view["routes"][0]["routingType"], "Initial");

    // The customer's next messages reach the agent, in order, once each —
    // through a token that expires and a Salesforce "please retry".
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "uno", "deliveries": 3})).await.unwrap();
    // Delivered with the worker's first token, which then expires.
    agent_view(&sandbox, user, 2).await;
    c.expire_salesforce_tokens().await.unwrap();
    for (status, sf_code) in [(409, Some(10055)), (429, None), (503, None)] {
        c.inject(&Fault {
            peer: "salesforce".into(),
            route: Some("salesforce.interactions".into()),
            effect: Effect::Status { status, retry_after_secs: Some(1), sf_code, body: None },
            times: Some(1),
            ratio: None,
        })
        .await
        .unwrap();
    }
    c.customer_writes(&write("dos", "user")).await.unwrap();
    c.customer_writes(&write("tres", "user")).await.unwrap();
    let view = agent_view(&sandbox, user, 4).await;
    let texts: Vec<&str> = view["entries"].as_array().unwrap()[1..]
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["uno", "dos", "tres"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        agent_view(&sandbox, user, 4).await["entries"].as_array().unwrap().len(),
        4,
        "nothing duplicated"
    );
    assert!(c.violations().await.unwrap().is_empty(), "{:?}", c.violations().await.unwrap());
    let tokens = c
        .requests(Some("salesforce"))
        .await
        .unwrap()
        .iter()
        .filter(|r| r.route == "salesforce.token")
        .count();
    assert_eq!(tokens, 3, "one token for each of the two functions, one more after expiry");
}

#[tokio::test]
async fn when_the_handoff_request_is_malformed_should_answer_the_seeds_400_and_open_nothing() {
    let System { sandbox, runner, .. } = system(false, |_| {}).await;
    let mut no_email = chat("5217331175500");
    no_email.as_object_mut().unwrap().remove("email");
    assert_eq!(
        connect(&runner.base_url, &no_email).await,
        (
            400,
            json!({"ErrorDescription": "Error validating payload : Key: 'ChatPayload.Email' Error:Field validation for 'Email' failed on the 'required' tag"})
        )
    );
    let mut telegram = chat("5217331175500");
    telegram["provider"] = json!("telegram");
    assert_eq!(connect(&runner.base_url, &telegram).await.0, 400);
    let res = omnibridge_dev::http()
        .post(format!("{}/v1/chats/connect", runner.base_url))
        .json(&chat("5217331175500"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(sandbox
        .client()
        .salesforce_conversations()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn when_the_agent_answers_and_ends_the_session_should_reach_the_customer_once_and_give_them_back_to_the_bot(
) {
    let System { sandbox, rt, runner, .. } = system(true, |_| {}).await;
    let c = sandbox.client();
    let user = "5217331175777";
    assert_eq!(connect(&runner.base_url, &chat(user)).await.0, 200);
    let view = agent_view(&sandbox, user, 1).await;
    let cid = view["conversation_identifier"].as_str().unwrap().to_owned();

    // Over HTTPS (a Flow callout as SALESFORCE_ROLE), the deprecated layout, delivered twice.
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    let sf_token = keys
        .issue(
            &ApiUser {
                username: "salesforceUser".into(),
                role: Role::Salesforce,
                password_hash: String::new(),
            },
            now_millis() / 1000,
        )
        .unwrap();
    let reply = json!({"conversationIdentifier": cid, "text": "Hola, soy Eva", "layout": "deprecated", "via": "https",
                       "authorization": format!("Bearer {sf_token}"), "identifier": "agent-entry-1"});
    let out = c.salesforce_agent(&reply).await.unwrap();
    assert_eq!(out["status"], 200, "{out}");
    c.salesforce_agent(&reply).await.unwrap();
    // Through Event Relay (EventBridge → SQS), Spring '24, with a file.
    c.salesforce_agent(&json!({"conversationIdentifier": cid, "text": "tu factura", "attachments": [{"name": "factura.pdf", "mimeType": "application/pdf"}],
                               })).await.unwrap();
    let delivered = eventually(Duration::from_secs(30), || async {
        let d = c.yalo_delivered(Some(user)).await.unwrap();
        (d.as_array().unwrap().len() >= 2).then_some(d)
    })
    .await
    .expect("the customer got both replies");
    let got: Vec<(&str, Option<&str>)> = delivered
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["text"].as_str().or(d["caption"].as_str())))
        .collect();
    assert_eq!(got, [("text", Some("Hola, soy Eva")), ("document", Some("tu factura"))]);
    let conversation = rt
        .dynamo()
        .unwrap()
        .find_open_conversation(ChannelKind::Whatsapp, user)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.status, ConversationStatus::Active);

    // The agent ends the session: the customer's next message goes to the bot only.
    c.salesforce_agent(&json!({"conversationIdentifier": cid, "action": "session_ended", "via": "https", "authorization": format!("Bearer {sf_token}")})).await.unwrap();
    assert!(rt
        .dynamo()
        .unwrap()
        .find_open_conversation(ChannelKind::Whatsapp, user)
        .await
        .unwrap()
        .is_none());
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "gracias"})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        agent_view(&sandbox, user, 1).await["entries"].as_array().unwrap().len(),
        1,
        "only the transcript reached the agent"
    );
    assert_eq!(
        c.yalo_delivered(Some(user)).await.unwrap().as_array().unwrap().len(),
        2,
        "each reply once"
    );
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_the_bot_finishes_a_chat_should_withdraw_or_end_it_in_salesforce_and_give_the_customer_back_to_the_bot(
) {
    let System { sandbox, rt, runner, .. } = system(true, |_| {}).await;
    let c = sandbox.client();
    let finish = |user: &str| {
        let url = format!("{}/v1/chat/finish/{user}", runner.base_url);
        async move {
            let res = omnibridge_dev::http().delete(url).bearer_auth(token()).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    // Not taken by an agent yet: the routing request is withdrawn.
    assert_eq!(connect(&runner.base_url, &chat("5217331170001")).await.0, 200);
    assert_eq!(
        finish("5217331170001").await,
        (200, json!({"Message": "Chat finished successfully"}))
    );
    let view = agent_view(&sandbox, "5217331170001", 1).await;
    assert_eq!(view["route_deleted"], true);
    assert_eq!(finish("5217331170001").await.0, 404, "nothing left to finish");

    // Taken by an agent: the messaging session is ended.
    assert_eq!(connect(&runner.base_url, &chat("5217331170002")).await.0, 200);
    let cid = agent_view(&sandbox, "5217331170002", 1).await["conversation_identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    rt.dynamo()
        .unwrap()
        .set_conversation_status(
            &rt.dynamo()
                .unwrap()
                .find_open_conversation(ChannelKind::Whatsapp, "5217331170002")
                .await
                .unwrap()
                .unwrap()
                .id,
            ConversationStatus::Active,
            now_millis(),
        )
        .await
        .unwrap();
    assert_eq!(finish("5217331170002").await.0, 200);
    let view = agent_view(&sandbox, "5217331170002", 1).await;
    assert_eq!(
        (view["session_ended"].as_bool(), view["conversation_identifier"].as_str()),
        (Some(true), Some(cid.as_str()))
    );
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": "5217331170002", "type": "text", "text": "gracias"})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        agent_view(&sandbox, "5217331170002", 1).await["entries"].as_array().unwrap().len(),
        1
    );
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_consent_changes_by_the_bot_or_by_keyword_should_reach_salesforce() {
    let System { sandbox, runner, .. } = system(true, |_| {}).await;
    let c = sandbox.client();
    let http = omnibridge_dev::http();
    let consent = |body: Value| {
        http.post(format!("{}/v1/consent", runner.base_url)).bearer_auth(token()).json(&body).send()
    };
    let res = consent(json!({"userID": "5217331170010", "consentStatus": "ExplicitlyOptedIn"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(agent_view(&sandbox, "5217331170010", 0).await["consent"], "ExplicitlyOptedIn");
    let res = consent(json!({"userID": "5217331170010", "consentStatus": "STOP"})).await.unwrap();
    assert_eq!(res.status(), 400);

    // During a chat, the customer writes STOP: the agent sees it and Salesforce records the opt-out.
    assert_eq!(connect(&runner.base_url, &chat("5217331170011")).await.0, 200);
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": "5217331170011", "type": "text", "text": "stop"})).await.unwrap();
    let view = agent_view(&sandbox, "5217331170011", 2).await;
    assert_eq!(view["entries"][1]["text"], "stop");
    let opted = eventually(Duration::from_secs(10), || async {
        Some(agent_view(&sandbox, "5217331170011", 2).await).filter(|v| v["consent"] == "OptedOut")
    })
    .await;
    assert!(opted.is_some(), "the opt-out reached Salesforce");
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_a_facebook_customer_asks_for_a_human_should_get_the_agents_reply_on_messenger() {
    let System { sandbox, runner, .. } = system(true, |_| {}).await;
    let c = sandbox.client();
    let user = "6199190013487246";
    let fb = |text: &str, role: &str| json!({"provider": "facebook", "botId": "messeger-staging-bot", "userId": user, "type": "text", "text": text, "authorRole": role});
    c.customer_writes(&fb("Hola", "user")).await.unwrap();
    c.customer_writes(&fb("¿En qué te ayudo?", "bot")).await.unwrap();
    let mut body = chat(user);
    body["provider"] = json!("facebook");
    body["botSlug"] = json!("coppel-msn-staging");
    assert_eq!(connect(&runner.base_url, &body).await.0, 200);
    c.customer_writes(&fb("Necesito ayuda con mi pedido", "user")).await.unwrap();
    let view = agent_view(&sandbox, user, 2).await;
    assert!(view["entries"][0]["text"].as_str().unwrap().contains("Bot ["));
    assert_eq!(view["entries"][1]["text"], "Necesito ayuda con mi pedido");
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    let sf_token = keys
        .issue(
            &ApiUser {
                username: "salesforceUser".into(),
                role: Role::Salesforce,
                password_hash: String::new(),
            },
            now_millis() / 1000,
        )
        .unwrap();
    c.salesforce_agent(&json!({"endUser": user, "text": "Con gusto te ayudo", "via": "https", "authorization": format!("Bearer {sf_token}")})).await.unwrap();
    let delivered = eventually(Duration::from_secs(20), || async {
        let d = c.yalo_delivered(Some(user)).await.unwrap();
        (!d.as_array().unwrap().is_empty()).then_some(d)
    })
    .await
    .expect("the reply reached Messenger");
    assert_eq!(delivered[0]["channel"], "passthrough");
    assert_eq!(delivered[0]["payload"]["message"]["text"], "Con gusto te ayudo");
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_the_customer_sends_files_during_a_chat_should_reach_the_agent_as_attachments_copied_to_the_bucket(
) {
    let System { sandbox, rt, runner, .. } = system(true, |_| {}).await;
    let c = sandbox.client();
    let user = "5217331170020";
    assert_eq!(connect(&runner.base_url, &chat(user)).await.0, 200);
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "image", "mimeType": "image/jpeg", "caption": "mi ticket"})).await.unwrap();
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "document", "mimeType": "application/pdf"})).await.unwrap();
    let view = agent_view(&sandbox, user, 3).await;
    let files: Vec<(Option<&str>, Option<&str>, u64)> = view["entries"].as_array().unwrap()[1..]
        .iter()
        .map(|e| {
            (
                e["kind"].as_str(),
                e["attachment"]["content_type"].as_str(),
                e["attachment"]["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(files[0].0, Some("Attachment"));
    assert_eq!(files[0].1, Some("image/jpeg"));
    assert_eq!(files[1].1, Some("application/pdf"));
    assert!(files.iter().all(|f| f.2 > 1000), "{files:?}");
    assert_eq!(view["entries"][1]["text"], "mi ticket");
    // The platform's link may expire: the files are kept in our bucket.
    let conversation = rt
        .dynamo()
        .unwrap()
        .find_open_conversation(ChannelKind::Whatsapp, user)
        .await
        .unwrap()
        .unwrap();
    let listed = rt
        .blobs()
        .unwrap()
        .client()
        .list_objects_v2()
        .bucket(rt.blobs().unwrap().bucket())
        .prefix(conversation.id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 2);
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_ccaas_routing_is_on_should_answer_routing_requests_with_agent_work() {
    let System { sandbox, runner, .. } = system(true, |p| {
        p.set("SalesforceAgentWork", "weight:2").set("SalesforceCcaasAgentId", "005SB00000000AG");
    })
    .await;
    let c = sandbox.client();
    let user = "5217331170030";
    assert_eq!(connect(&runner.base_url, &chat(user)).await.0, 200);
    let view = agent_view(&sandbox, user, 1).await;
    c.salesforce_agent(&json!({"conversationIdentifier": view["conversation_identifier"], "action": "routing_requested"})).await.unwrap();
    let assigned = eventually(Duration::from_secs(20), || async {
        let v = agent_view(&sandbox, user, 1).await;
        v["agent_work"].as_array().filter(|a| !a.is_empty()).cloned()
    })
    .await
    .expect("agentWork reached Salesforce");
    assert_eq!(assigned[0]["userId"], "005SB00000000AG");
    assert_eq!(assigned[0]["workItemId"], view["work_item_id"]);
    assert_eq!(assigned[0]["capacityWeight"], 2.0);
    assert!(c.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_bots_route_differently_should_route_each_as_configured() {
    let System { sandbox, runner, .. } = system(false, |p| {
        p.set("SalesforceRouting", "queue:00GSB0000000001")
            .set("SalesforceRoutingByBot", "coppel-flow-bot=flow:300SB0000000001:00GSB0000000002");
    })
    .await;
    assert_eq!(connect(&runner.base_url, &chat("5217331170040")).await.0, 200);
    let mut flow = chat("5217331170041");
    flow["botSlug"] = json!("coppel-flow-bot");
    assert_eq!(connect(&runner.base_url, &flow).await.0, 200);
    let queue_view = agent_view(&sandbox, "5217331170040", 1).await;
    assert_eq!(queue_view["routes"][0]["routingInfo"], json!({"queueId": "00GSB0000000001"}));
    let flow_view = agent_view(&sandbox, "5217331170041", 1).await;
    let info = &flow_view["routes"][0]["routingInfo"];
    assert_eq!(info["flow"], json!({"flowId": "300SB0000000001", "queueId": "00GSB0000000002"}));
    assert_eq!(info["routingAttributes"]["source_flow_bot"], "SFB001");
    assert!(sandbox.client().violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_the_customer_types_should_show_the_agent_the_typing_indicators() {
    let sandbox = start_sandbox(None, |_| {}).await;
    let rt = runtime_with(|p| sandbox.parameters(p)).await;
    let sf = rt.salesforce().await.unwrap().expect("Salesforce is configured");
    sf.typing("5217331170050", true).await.unwrap();
    sf.typing("5217331170050", false).await.unwrap();
    let view = agent_view(&sandbox, "5217331170050", 2).await;
    let kinds: Vec<&str> =
        view["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["TypingStartedIndicator", "TypingStoppedIndicator"]);
    assert!(sandbox.client().violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn when_a_salesforce_event_fails_now_or_for_good_should_retry_it_or_dead_letter_it_and_end_sessions_from_event_relay(
) {
    let System { sandbox, rt, runner, .. } = system(true, |p| {
        p.set("SalesforceAgentWork", "weight:1").set("SalesforceCcaasAgentId", "005SB00000000AG");
    })
    .await;
    let c = sandbox.client();
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    let sf_token = keys
        .issue(
            &ApiUser {
                username: "salesforceUser".into(),
                role: Role::Salesforce,
                password_hash: String::new(),
            },
            now_millis() / 1000,
        )
        .unwrap();
    let (first, second) = ("5217331170060", "5217331170061");
    for user in [first, second] {
        assert_eq!(connect(&runner.base_url, &chat(user)).await.0, 200);
    }
    let (a, b) = (agent_view(&sandbox, first, 1).await, agent_view(&sandbox, second, 1).await);

    // Salesforce answers agentWork 503 once: the worker retries the event and assigns the work.
    c.inject(&Fault {
        peer: "salesforce".into(),
        route: Some("salesforce.agent_work".into()),
        effect: Effect::Status { status: 503, retry_after_secs: None, sf_code: None, body: None },
        times: Some(1),
        ratio: None,
    })
    .await
    .unwrap();
    c.salesforce_agent(&json!({"conversationIdentifier": a["conversation_identifier"], "action": "routing_requested"})).await.unwrap();
    let assigned = |user: &'static str| {
        let sandbox = &sandbox;
        async move {
            eventually(Duration::from_secs(30), || async {
                agent_view(sandbox, user, 1).await["agent_work"]
                    .as_array()
                    .filter(|w| !w.is_empty())
                    .cloned()
            })
            .await
            .unwrap_or_else(|| panic!("agentWork for {user}"));
        }
    };
    assigned(first).await;
    // The same over HTTPS (a Flow's callout).
    let out = c.salesforce_agent(&json!({"conversationIdentifier": b["conversation_identifier"], "action": "routing_requested", "via": "https", "authorization": format!("Bearer {sf_token}")})).await.unwrap();
    assert_eq!(out["status"], 200, "{out}");
    assigned(second).await;
    let work = c
        .requests(Some("salesforce"))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.route == "salesforce.agent_work")
        .count();
    assert_eq!(work, 3, "one refused, then one per conversation");

    // An event that can never be handled is dead-lettered with the reason.
    let queue = rt.settings.salesforce_events_queue_url.clone().unwrap();
    let bad = json!({"detail-type": "my__event__e", "source": "aws.partner/salesforce.com/x/y", "detail": {"payload": {"my__event__payloadField__c": "not json", "my__event__EventType__c": "Interaction"}}});
    rt.queue()
        .client()
        .send_message()
        .queue_url(&queue)
        .message_body(bad.to_string())
        .message_group_id("salesforce-events")
        .message_deduplication_id("bad-event")
        .send()
        .await
        .unwrap();
    let dead = eventually(Duration::from_secs(30), || async {
        let letters =
            omnibridge_dev::dlq::list(&rt, omnibridge::ports::QueueName::SalesforceEvents)
                .await
                .unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await
    .expect("the bad event was dead-lettered");
    assert!(dead[0].reason.as_deref().is_some_and(|r| !r.is_empty()), "{:?}", dead[0]);
    // One that is read but names a customer without a chat is dead-lettered
    // from the conversation queue, where the router moved it.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(
            omnibridge_tests::root().join("events/salesforce-events-router.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let orphan = sample["Records"][0]["body"].as_str().unwrap().to_owned();
    rt.queue()
        .client()
        .send_message()
        .queue_url(&queue)
        .message_body(orphan)
        .message_group_id("salesforce-events")
        .message_deduplication_id("orphan-event")
        .send()
        .await
        .unwrap();
    let dead = eventually(Duration::from_secs(30), || async {
        let letters = omnibridge_dev::dlq::list(
            &rt,
            omnibridge::ports::QueueName::SalesforceConversationEvents,
        )
        .await
        .unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await
    .expect("the event for a customer without a chat was dead-lettered");
    assert!(
        dead[0].reason.as_deref().is_some_and(|r| r.contains("5217331175599")),
        "{:?}",
        dead[0]
    );

    // The agent ends the first session through Event Relay: the customer is the bot's again.
    c.salesforce_agent(
        &json!({"conversationIdentifier": a["conversation_identifier"], "action": "session_ended"}),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(30), || async {
        rt.dynamo()
            .unwrap()
            .find_open_conversation(ChannelKind::Whatsapp, first)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await
    .expect("the session ended");
    assert!(c.violations().await.unwrap().is_empty());
}
