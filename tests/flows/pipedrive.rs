//! Pipedrive Messaging: a bot hands the customer to Pipedrive, Pipedrive
//! reads conversations from omnibridge's provider endpoints, and its agents'
//! replies reach the customer — against the sandboxes.

use omnibridge::model::*;
use omnibridge::model::{PipedriveChannel, Sender, Template};
use omnibridge::ports::PipedriveRecords;
use omnibridge::ports::*;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge_dev::sandbox::{Effect, Fault};
use omnibridge_tests::{eventually, system, System, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

const CHANNEL: &str = "wa-main";
const BOT: &str = "shop-bot";

fn token() -> String {
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(600)).unwrap();
    keys.issue(
        &ApiUser { username: "yaloUser".into(), role: Role::Yalo, password_hash: String::new() },
        now_millis() / 1000,
    )
    .unwrap()
}

/// omnibridge and the sandboxes, the bot handing off to Pipedrive, the channel registered.
async fn pipedrive_system(workers: bool) -> System {
    let s = system(workers, |p| {
        p.set("DeskByBot", format!("{BOT}=pipedrive:{CHANNEL}"));
    })
    .await;
    let desk = s.rt.pipedrive().await.unwrap().expect("the sandbox's Pipedrive token");
    let mut channel = PipedriveChannel::new(CHANNEL, "WhatsApp shop", "whatsapp").unwrap();
    channel.template_support = true;
    desk.register_channel(channel).await.unwrap();
    s
}

async fn connect(base: &str, user: &str) -> u16 {
    let body = json!({"userID": user, "botSlug": BOT, "botId": "521554578545", "name": "Ana Pérez", "provider": "whatsapp", "email": "ana@example.com"});
    omnibridge_dev::http()
        .post(format!("{base}/v1/chats/connect"))
        .bearer_auth(token())
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// What Pipedrive received for conversation `conv`, once at least `n` messages.
async fn received(s: &System, conv: &str, n: usize) -> Vec<Value> {
    eventually(Duration::from_secs(30), || async {
        let all = s.sandbox.client().pipedrive_received().await.unwrap();
        let mine: Vec<Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["conversation_id"] == conv)
            .cloned()
            .collect();
        (mine.len() >= n).then_some(mine)
    })
    .await
    .unwrap_or_else(|| panic!("Pipedrive did not receive {n} messages"))
}

async fn read(s: &System, path: &str) -> (u16, Value) {
    let r = s.sandbox.client().pipedrive_agent_reads(path).await.unwrap();
    (r["status"].as_u64().unwrap() as u16, r["body"].clone())
}

#[tokio::test]
async fn when_a_whatsapp_customer_reaches_a_pipedrive_agent_should_carry_messages_and_files_both_ways_once(
) {
    let s = pipedrive_system(true).await;
    let c = s.sandbox.client();
    let user = "5215550001111";
    let write = |text: &str, role: &str| json!({"provider": "whatsapp", "botId": BOT, "userId": user, "type": "text", "text": text, "authorRole": role});
    c.customer_writes(&write("Hola", "user")).await.unwrap();
    c.customer_writes(&write("¡Hola! ¿En qué te ayudo?", "bot")).await.unwrap();
    assert_eq!(connect(&s.runner.base_url, user).await, 200);
    assert_eq!(connect(&s.runner.base_url, user).await, 200, "a repeated handoff changes nothing");
    let conv =
        s.rt.dynamo()
            .unwrap()
            .find_open_conversation(ChannelKind::Whatsapp, user)
            .await
            .unwrap()
            .unwrap();
    assert_eq!((conv.desk, conv.desk_channel.as_str()), (DeskKind::Pipedrive, CHANNEL));
    let cid = conv.id.to_string();

    // The agent sees the transcript first, then the customer's messages, once each, through a 429 with retry_by.
    let first = received(&s, &cid, 1).await;
    assert!(
        first[0]["message"].as_str().unwrap().starts_with("Cliente: Ana Pérez"),
        "{}",
        first[0]
    );
    assert_eq!(
        (first[0]["channel_id"].as_str(), first[0]["sender_id"].as_str()),
        (Some(CHANNEL), Some(user))
    );
    let retry_by = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    c.inject(&Fault { peer: "pipedrive".into(), route: Some("pipedrive.receive".into()), times: Some(1), ratio: None,
        effect: Effect::Status { status: 429, retry_after_secs: None, sf_code: None,
            body: Some(json!({"success": false, "data": {"message": "slow down", "code": "RATE_LIMIT_EXCEEDED", "retry_by": retry_by}})) } }).await.unwrap();
    // The access token expires on the way: omnibridge renews it with the refresh token.
    c.expire_pipedrive_tokens().await.unwrap();
    c.customer_writes(&json!({"provider": "whatsapp", "botId": BOT, "userId": user, "type": "text", "text": "uno", "deliveries": 3, "concurrent": true})).await.unwrap();
    c.customer_writes(&json!({"provider": "whatsapp", "botId": BOT, "userId": user, "type": "image", "mimeType": "image/png", "caption": "mi ticket"})).await.unwrap();
    let got = received(&s, &cid, 3).await;
    assert_eq!(
        got.iter().map(|m| m["message"].as_str().unwrap()).skip(1).collect::<Vec<_>>(),
        ["uno", "mi ticket"]
    );
    let att = &got[2]["attachments"][0];
    assert_eq!(
        (att["type"].as_str(), att["link_expires"].as_bool()),
        (Some("image/png"), Some(true))
    );
    let image = reqwest::get(att["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(image.status(), 200, "the presigned link serves our copy");

    // Should Pipedrive rotate refresh tokens, the newest one is used.
    c.rotate_pipedrive_refresh_tokens().await.unwrap();
    for (i, text) in ["dos", "tres"].into_iter().enumerate() {
        c.expire_pipedrive_tokens().await.unwrap();
        c.customer_writes(&write(text, "user")).await.unwrap();
        let all = received(&s, &cid, got.len() + i + 1).await;
        assert_eq!(all.last().unwrap()["message"], text);
    }
    let renewals = c
        .requests(Some("pipedrive"))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.route == "pipedrive.oauth_token")
        .collect::<Vec<_>>();
    assert_eq!(
        renewals.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200],
        "one renewal for the worker each time"
    );

    // Pipedrive reads the conversation through the provider endpoints.
    let (status, body) = read(&s, &format!("/channels/{CHANNEL}/conversations")).await;
    assert_eq!(status, 200, "{body}");
    let listed = &body["data"][0];
    assert_eq!(listed["id"], cid);
    assert_eq!(
        listed["participants"],
        json!([
            {"id": CHANNEL, "name": "WhatsApp shop", "role": "source_user"},
            {"id": user, "name": "Ana Pérez", "role": "end_user"}
        ])
    );
    assert_eq!(listed["messages"].as_array().unwrap().len(), 5);
    // The listings' attachment links serve our copy (signed by the functions that answered).
    let (_, one) = read(&s, &format!("/channels/{CHANNEL}/conversations/{cid}")).await;
    for m in [listed, &one["data"]] {
        let image = m["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|m| m["attachments"][0]["url"].as_str())
            .expect("the image's link");
        assert_eq!(reqwest::get(image).await.unwrap().status(), 200);
    }
    let (status, sender) = read(&s, &format!("/channels/{CHANNEL}/senders/{user}")).await;
    assert_eq!(
        (status, &sender["data"]),
        (200, &json!({"id": user, "name": "Ana Pérez", "avatar_url": ""}))
    );

    // The agent answers with text, then a file; Pipedrive posts the text twice (a retry).
    let sent = c
        .pipedrive_agent_sends(
            &json!({"providerChannelId": CHANNEL, "conversationId": cid, "senderId": CHANNEL,
        "recipientIds": [user], "message": "Hola Ana, soy Luis", "deliveries": 2}),
        )
        .await
        .unwrap();
    let ids: Vec<&Value> =
        sent["deliveries"].as_array().unwrap().iter().map(|d| &d["body"]["data"]["id"]).collect();
    assert_eq!(sent["deliveries"][0]["status"], 200, "{sent}");
    assert_eq!(ids[0], ids[1], "the retried post is the same message");
    let sent = c
        .pipedrive_agent_sends(
            &json!({"providerChannelId": CHANNEL, "conversationId": cid, "senderId": CHANNEL,
        "message": "", "files": [{"name": "factura.pdf", "mimeType": "application/pdf"}]}),
        )
        .await
        .unwrap();
    let file_message = sent["deliveries"][0]["body"]["data"]["id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), || async {
        let d = c.yalo_delivered(Some(user)).await.unwrap();
        (d.as_array().unwrap().len() >= 2).then_some(())
    })
    .await
    .expect("the customer gets both");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = c.yalo_delivered(Some(user)).await.unwrap();
    let delivered = delivered.as_array().unwrap();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert_eq!(delivered[0]["text"], "Hola Ana, soy Luis");
    assert_eq!(delivered[1]["kind"], "document");

    // The file's link, refreshed by getMessageById, serves the agent's bytes.
    let (status, m) = read(&s, &format!("/channels/{CHANNEL}/messages/{file_message}")).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["id"].as_str(), m["sender_id"].as_str(), m["attachments"][0]["link_expires"].as_bool()),
        (Some(file_message.as_str()), Some(CHANNEL), Some(true))
    );
    let url = m["attachments"][0]["url"].as_str().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, again) = read(&s, &format!("/channels/{CHANNEL}/messages/{file_message}")).await;
    assert_ne!(again["attachments"][0]["url"].as_str().unwrap(), url, "a fresh link each time");
    let bytes = reqwest::get(again["attachments"][0]["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.starts_with(b"%PDF"), "the agent's file");
    let conv = s.rt.dynamo().unwrap().get_conversation(&conv.id).await.unwrap().unwrap();
    assert_eq!(
        conv.status,
        ConversationStatus::Active,
        "the agent's first answer takes the conversation"
    );
    assert!(c.violations().await.unwrap().is_empty(), "{:?}", c.violations().await.unwrap());
}

#[tokio::test]
async fn when_the_access_token_expires_and_the_refresh_token_is_refused_should_fail_the_message_with_the_reason(
) {
    let s = system(true, |p| {
        p.set("DeskByBot", format!("{BOT}=pipedrive:{CHANNEL}"));
        p.secret("PipedriveRefreshTokenSecretArn", "revoked-by-the-user");
    })
    .await;
    let desk = s.rt.pipedrive().await.unwrap().expect("the sandbox's Pipedrive token");
    desk.register_channel(PipedriveChannel::new(CHANNEL, "WhatsApp shop", "whatsapp").unwrap())
        .await
        .unwrap();
    let c = s.sandbox.client();
    let user = "5215550002222";
    assert_eq!(connect(&s.runner.base_url, user).await, 200);
    let conv =
        s.rt.dynamo()
            .unwrap()
            .find_open_conversation(ChannelKind::Whatsapp, user)
            .await
            .unwrap()
            .unwrap();
    received(&s, conv.id.as_str(), 1).await;

    c.expire_pipedrive_tokens().await.unwrap();
    c.customer_writes(&json!({"provider": "whatsapp", "botId": BOT, "userId": user, "type": "text", "text": "¿hola?", "messageId": "wamid.after-expiry"})).await.unwrap();
    let id = MessageId::from_source("whatsapp", "wamid.after-expiry").unwrap();
    let m = eventually(Duration::from_secs(30), || async {
        s.rt.dynamo()
            .unwrap()
            .get_message(&id)
            .await
            .unwrap()
            .filter(|m| m.status == MessageStatus::Failed)
    })
    .await
    .expect("the message fails for good: the user revoked the app's access");
    let reason = m.failure_reason.unwrap_or_default();
    assert!(
        reason.contains("Pipedrive OAuth answered 400") && reason.contains("invalid_grant"),
        "{reason}"
    );
    assert_eq!(received(&s, conv.id.as_str(), 1).await.len(), 1, "nothing more reached Pipedrive");
}

#[tokio::test]
async fn when_yalo_refuses_an_agent_message_should_mark_it_failed_and_tell_pipedrive() {
    let s = pipedrive_system(true).await;
    let c = s.sandbox.client();
    let user = "5215550002222";
    assert_eq!(connect(&s.runner.base_url, user).await, 200);
    let conv =
        s.rt.dynamo()
            .unwrap()
            .find_open_conversation(ChannelKind::Whatsapp, user)
            .await
            .unwrap()
            .unwrap();
    c.inject(&Fault {
        peer: "yalo".into(),
        route: None,
        times: Some(1),
        ratio: None,
        effect: Effect::Status { status: 400, retry_after_secs: None, sf_code: None, body: None },
    })
    .await
    .unwrap();
    let sent = c.pipedrive_agent_sends(&json!({"providerChannelId": CHANNEL, "conversationId": conv.id, "senderId": CHANNEL, "message": "¿Sigues ahí?"})).await.unwrap();
    let id = sent["deliveries"][0]["body"]["data"]["id"].as_str().unwrap().to_owned();
    let report = eventually(Duration::from_secs(30), || async {
        let all = c.pipedrive_received().await.unwrap();
        all.as_array().unwrap().iter().find(|m| m["id"] == id.as_str()).cloned()
    })
    .await
    .expect("Pipedrive is told");
    assert_eq!(
        (report["status"].as_str(), report["sender_id"].as_str()),
        (Some("failed"), Some(CHANNEL))
    );
    let m =
        s.rt.dynamo().unwrap().get_message(&MessageId::parse(&id).unwrap()).await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Failed);
    assert!(m.failure_reason.unwrap().contains("400"));
    let (_, read_back) = read(&s, &format!("/channels/{CHANNEL}/messages/{id}")).await;
    assert_eq!(read_back["status"], "failed");
}

/// Conversations and messages written straight to the store, newest last.
async fn seed_channel(s: &System, conversations: usize, messages: usize) -> Vec<Conversation> {
    let store = s.rt.dynamo().unwrap();
    let channel = PipedriveChannel::new(CHANNEL, "WhatsApp shop", "whatsapp").unwrap();
    store.put_pipedrive_channel(&channel).await.unwrap();
    let t0 = now_millis() - 1_000_000;
    let mut out = Vec::new();
    for i in 0..conversations {
        let customer =
            Participant::new(&format!("52155500{i:05}"), &format!("Cliente {i}")).unwrap();
        let c = Conversation::open(
            ChannelKind::Whatsapp,
            BOT,
            customer,
            DeskKind::Pipedrive,
            CHANNEL,
            t0 + i as i64,
        )
        .unwrap();
        assert_eq!(store.open_conversation(&c).await.unwrap(), Recorded::Created);
        let sender =
            Sender { id: c.customer.id.clone(), name: c.customer.name.clone(), avatar_url: None };
        store.put_pipedrive_sender(CHANNEL, &sender).await.unwrap();
        out.push(c);
    }
    let first = &out[0];
    for j in 0..messages {
        let m = Message::received(
            first.id.clone(),
            Direction::Inbound,
            ChannelKind::Whatsapp,
            &format!("wamid.{j}"),
            &first.customer.id,
            Some(format!("mensaje {j}")),
            vec![],
            t0 + 10 * j as i64,
        )
        .unwrap();
        store.append_message(&m).await.unwrap();
    }
    out
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn when_pipedrive_pages_through_75_conversations_and_75_messages_should_see_each_once_in_order(
) {
    let s = system(false, |_| {}).await;
    let convs = seed_channel(&s, 75, 75).await;
    let newest_first: Vec<String> = convs.iter().rev().map(|c| c.id.to_string()).collect();
    for limit in [None, Some(1), Some(100)] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q = vec![];
            if let Some(l) = limit {
                q.push(format!("conversations_limit={l}"));
            }
            q.push("messages_limit=2".into());
            if let Some(a) = &after {
                q.push(format!("after={a}"));
            }
            let (status, body) =
                read(&s, &format!("/channels/{CHANNEL}/conversations?{}", q.join("&"))).await;
            assert_eq!(status, 200, "{body}");
            seen.extend(ids(&body["data"]));
            pages += 1;
            match body["additional_data"]["after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, newest_first, "limit {limit:?}");
        assert_eq!(pages, 75usize.div_ceil(limit.unwrap_or(30) as usize), "limit {limit:?}");
    }

    // The first conversation's 75 messages, newest first, through getConversationById.
    let expected: Vec<String> = (0..75).rev().map(|j| format!("mensaje {j}")).collect();
    for limit in [None, Some(1), Some(100)] {
        let mut texts = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![];
            if let Some(l) = limit {
                q.push(format!("messages_limit={l}"));
            }
            if let Some(a) = &after {
                q.push(format!("after={a}"));
            }
            let (status, body) = read(
                &s,
                &format!("/channels/{CHANNEL}/conversations/{}?{}", convs[0].id, q.join("&")),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            texts.extend(
                body["data"]["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["message"].as_str().unwrap().to_owned()),
            );
            assert_eq!(body["data"]["next_messages_cursor"], body["additional_data"]["after"]);
            match body["additional_data"]["after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => break,
            }
        }
        assert_eq!(texts, expected, "limit {limit:?}");
    }
    // A limit that is not a number means the default (the seed documents no 400 here).
    for odd in ["null", "", "abc"] {
        let (status, body) = read(
            &s,
            &format!("/channels/{CHANNEL}/conversations/{}?messages_limit={odd}", convs[0].id),
        )
        .await;
        assert_eq!(
            (status, body["data"]["messages"].as_array().map(Vec::len)),
            (200, Some(30)),
            "messages_limit={odd}"
        );
        let (status, body) = read(
            &s,
            &format!(
                "/channels/{CHANNEL}/conversations?conversations_limit={odd}&messages_limit={odd}"
            ),
        )
        .await;
        assert_eq!(
            (status, body["data"].as_array().map(Vec::len)),
            (200, Some(30)),
            "conversations_limit={odd}"
        );
    }
    // A cursor of another listing names nothing here.
    let (_, first_page) =
        read(&s, &format!("/channels/{CHANNEL}/conversations?conversations_limit=1")).await;
    let cursor = first_page["additional_data"]["after"].as_str().unwrap();
    let (status, body) =
        read(&s, &format!("/channels/{CHANNEL}/conversations/{}?after={cursor}", convs[0].id))
            .await;
    assert_eq!((status, &body["data"]["code"]), (404, &json!("NOT_FOUND")));
}

#[tokio::test]
async fn when_pipedrive_calls_without_the_apps_credentials_or_for_a_channel_it_may_not_use_should_refuse_in_the_seeds_envelope(
) {
    let s = system(false, |_| {}).await;
    let convs = seed_channel(&s, 1, 1).await;
    let base = format!("{}/v1/pipedrive/channels/{CHANNEL}", s.runner.base_url);
    let http = omnibridge_dev::http();
    let routes = [
        (reqwest::Method::GET, format!("{base}/conversations")),
        (reqwest::Method::GET, format!("{base}/conversations/{}", convs[0].id)),
        (reqwest::Method::POST, format!("{base}/messages")),
        (reqwest::Method::GET, format!("{base}/messages/{}", uuid::Uuid::new_v4())),
        (reqwest::Method::GET, format!("{base}/senders/{}", convs[0].customer.id)),
        (reqwest::Method::GET, format!("{base}/templates")),
        (reqwest::Method::DELETE, base.clone()),
    ];
    for (method, url) in &routes {
        for auth in
            [None, Some(("sandbox-client-id", "wrong")), Some(("other", "sandbox-client-secret"))]
        {
            let mut req = http.request(method.clone(), url);
            if let Some((u, p)) = auth {
                req = req.basic_auth(u, Some(p));
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {url} {auth:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(
                body,
                json!({"success": false, "data": {"message": "invalid or missing client credentials", "code": "UNAUTHORIZED"}})
            );
        }
    }
    let pd = |method: reqwest::Method, url: String| {
        http.request(method, url).basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
    };
    let (unknown, status) =
        (format!("{}/v1/pipedrive/channels/nope/templates", s.runner.base_url), 404);
    assert_eq!(pd(reqwest::Method::GET, unknown).send().await.unwrap().status(), status);
    let res = pd(reqwest::Method::GET, format!("{base}/conversations/{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["data"]["code"], "NOT_FOUND");
    let res = pd(reqwest::Method::POST, format!("{base}/messages"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["data"]["code"], "BAD_REQUEST");

    // A suspended account is refused as the seed says; lifting it lets Pipedrive in again.
    let store = s.rt.dynamo().unwrap();
    let mut channel = store.pipedrive_channel(CHANNEL).await.unwrap().unwrap();
    channel.suspended = true;
    store.put_pipedrive_channel(&channel).await.unwrap();
    let res = pd(reqwest::Method::GET, format!("{base}/templates")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["data"]["code"], "ACCOUNT_SUSPENDED");
    channel.suspended = false;
    channel.templates = vec![Template {
        id: "t1".into(),
        name: "saludo".into(),
        content: "Hola {{1}}".into(),
        language: "es".into(),
    }];
    store.put_pipedrive_channel(&channel).await.unwrap();
    let res = pd(reqwest::Method::GET, format!("{base}/templates")).send().await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"success": true, "data": {"templates": [{"id": "t1", "name": "saludo", "content": "Hola {{1}}", "language": "es"}]}})
    );

    // Deleting the channel: it is gone for Pipedrive, and nothing more flows to it.
    let res = pd(reqwest::Method::DELETE, base.clone()).send().await.unwrap();
    assert_eq!(
        (res.status().as_u16(), res.json::<Value>().await.unwrap()),
        (200, json!({"success": true}))
    );
    assert_eq!(
        pd(reqwest::Method::DELETE, base.clone()).send().await.unwrap().status(),
        200,
        "deleting again is no error"
    );
    assert_eq!(
        pd(reqwest::Method::GET, format!("{base}/conversations")).send().await.unwrap().status(),
        404
    );
}

#[tokio::test]
async fn when_the_channel_is_deleted_should_fail_new_customer_messages_with_the_reason_instead_of_sending_them(
) {
    let s = pipedrive_system(true).await;
    let c = s.sandbox.client();
    let user = "5215550003333";
    assert_eq!(connect(&s.runner.base_url, user).await, 200);
    let conv =
        s.rt.dynamo()
            .unwrap()
            .find_open_conversation(ChannelKind::Whatsapp, user)
            .await
            .unwrap()
            .unwrap();
    received(&s, conv.id.as_str(), 1).await;
    let res = omnibridge_dev::http()
        .delete(format!("{}/v1/pipedrive/channels/{CHANNEL}", s.runner.base_url))
        .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    c.customer_writes(&json!({"provider": "whatsapp", "botId": BOT, "userId": user, "type": "text", "text": "¿hola?", "messageId": "wamid.after-delete"})).await.unwrap();
    let id = MessageId::from_source("whatsapp", "wamid.after-delete").unwrap();
    let m = eventually(Duration::from_secs(30), || async {
        s.rt.dynamo()
            .unwrap()
            .get_message(&id)
            .await
            .unwrap()
            .filter(|m| m.status == MessageStatus::Failed)
    })
    .await
    .expect("the message fails");
    assert!(m.failure_reason.unwrap().contains("not registered (or was deleted)"));
    assert_eq!(received(&s, conv.id.as_str(), 1).await.len(), 1, "nothing more reached Pipedrive");
}

/// The seed's OpenAPI document drives schemathesis against the local runner:
/// every response matches the seed's schemas and status codes, nothing
/// answers 5xx, and every route refuses a call without the app's credentials.
#[tokio::test]
async fn when_schemathesis_drives_the_seeds_openapi_document_should_find_every_response_in_contract(
) {
    let s = system(false, |_| {}).await;
    let convs = seed_channel(&s, 3, 5).await;
    let page = s.rt.dynamo().unwrap().list_messages(&convs[0].id, 1, None, true).await.unwrap();
    let to_delete = PipedriveChannel::new("contract-delete", "to delete", "other").unwrap();
    s.rt.dynamo().unwrap().put_pipedrive_channel(&to_delete).await.unwrap();
    let dir = std::env::temp_dir().join(format!("omnibridge-contract-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "[parameters]\nproviderChannelId = \"{CHANNEL}\"\nsourceConversationId = \"{}\"\nsourceMessageId = \"{}\"\nsenderId = \"{}\"\n\n\
         [[operations]]\ninclude-operation-id = \"deleteChannelById\"\nparameters = {{ providerChannelId = \"contract-delete\" }}\n",
        convs[0].id, page.items[0].id, convs[0].customer.id
    );
    std::fs::write(dir.join("schemathesis.toml"), config).unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contract/pipedrive-channels-api.openapi.yaml");
    let out = tokio::process::Command::new("schemathesis")
        .current_dir(&dir)
        .args(["--config-file", "schemathesis.toml", "run"])
        .arg(&seed)
        .args(["--url", &format!("{}/v1/pipedrive", s.runner.base_url)])
        .args(["--auth", "sandbox-client-id:sandbox-client-secret"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth"])
        .args(["--mode", "positive", "--max-examples", "40", "--seed", "7", "--no-color", "--workers", "2"])
        .output()
        .await
        .expect("schemathesis on PATH (dev/test installs it: pip install 'schemathesis>=4,<5')");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "schemathesis found responses out of contract:\n{report}");
    assert!(report.contains("Tested: 7"), "all seven operations ran:\n{report}");
    println!("{report}");
}
