//! The chaos test: conversations across every channel (WhatsApp, Facebook,
//! custom) and every desk (Salesforce, Pipedrive, Yeahdesk), messages and
//! files both ways, while the sandboxes answer 429s and 5xx, slow down and
//! drop connections, webhooks are redelivered (some concurrently), the
//! Salesforce and Pipedrive tokens expire and workers crash mid-batch. Then: no
//! duplicates, no losses, no order inversions; what could not be delivered
//! is `failed`, in a DLQ, and delivered exactly once after redrive.
//!
//! `CHAOS_CONVERSATIONS` (default 40) and `CHAOS_MESSAGES` (each way per
//! conversation, default 8) size it: the default run has every fault,
//! crash and redrive at 640 messages; `CHAOS_CONVERSATIONS=200
//! CHAOS_MESSAGES=10` is the 4,000-message run (about 5 minutes here).

use futures::stream::{self, StreamExt};
use omnibridge::model::*;
use omnibridge::ports::*;
use omnibridge::services::auth::{ApiUser, Role, TokenKeys};
use omnibridge::services::custom_channel::{CustomChannel, CustomChannels};
use omnibridge_dev::sandbox::{Effect, Fault};
use omnibridge_tests::{start, Capture, Options, System, JWT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const PD_CHANNEL: &str = "chaos";
const CONCURRENCY: usize = 16;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One conversation of the test and how to reach both ends of it.
#[derive(Clone, Debug)]
struct Conv {
    i: usize,
    channel: ChannelKind,
    desk: DeskKind,
    /// The customer as the desk knows them (Yalo user id, or custom contact id).
    customer: String,
    id: ConversationId,
    /// Yeahdesk's dialog id, for its agent.
    dialog: Option<String>,
}

fn bot(desk: DeskKind) -> &'static str {
    match desk {
        DeskKind::Salesforce => "sf-bot",
        DeskKind::Pipedrive => "pd-bot",
        DeskKind::Yeahdesk => "yd-bot",
    }
}

fn inbound(i: usize, r: usize) -> String {
    format!("c{i}-in-{r}")
}

fn outbound(i: usize, r: usize) -> String {
    format!("c{i}-out-{r}")
}

fn token() -> String {
    let keys = TokenKeys::new(&SecretString::from(JWT_SECRET), Duration::from_secs(3600)).unwrap();
    keys.issue(
        &ApiUser { username: "yaloUser".into(), role: Role::Yalo, password_hash: String::new() },
        now_millis() / 1000,
    )
    .unwrap()
}

struct Chaos {
    s: System,
    http: reqwest::Client,
    /// Custom channels by desk: (id, token).
    custom: HashMap<DeskKind, (String, String)>,
    source: Capture,
    /// Copies of webhooks and agent actions sent (redeliveries included).
    sent: std::sync::atomic::AtomicUsize,
    /// The webhooks' timestamps count from here (a message's order in its conversation).
    epoch: i64,
}

impl Chaos {
    /// A custom source's POST, retried as a source would on 503 (same key).
    async fn custom_post(&self, desk: DeskKind, key: &str, body: &Value) -> Value {
        let (id, token) = &self.custom[&desk];
        let url =
            format!("{}/api/custom-channel/message/{id}?token={token}", self.s.runner.base_url);
        for _ in 0..60 {
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let res = self
                .http
                .post(&url)
                .header("idempotency-key", key)
                .json(body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            match status {
                200 => return v,
                503 => tokio::time::sleep(Duration::from_millis(500)).await,
                other => panic!("custom channel answered {other}: {v}"),
            }
        }
        panic!("the custom channel never took {key}");
    }

    async fn open(&self, i: usize) -> Conv {
        let channel = [ChannelKind::Whatsapp, ChannelKind::Facebook, ChannelKind::Custom][i % 3];
        let desk = [DeskKind::Salesforce, DeskKind::Pipedrive, DeskKind::Yeahdesk][(i / 3) % 3];
        let (customer, id) = match channel {
            ChannelKind::Custom => {
                let body = json!({"reference": format!("ref-{i}"), "text": inbound(i, 0), "integration_data": format!("data-{i}"),
                    "contact_object": {"name": format!("Cliente {i}"), "contacts": [{"value": format!("chaos-{i}"), "type": "id", "service": "custom"}]}});
                let v = self.custom_post(desk, &format!("k-{i}-0"), &body).await;
                (
                    v["contact_id"].as_str().unwrap().to_owned(),
                    ConversationId::parse(v["dialog_id"].as_str().unwrap()).unwrap(),
                )
            }
            _ => {
                let user = if channel == ChannelKind::Whatsapp {
                    format!("5215{i:08}")
                } else {
                    format!("77{i:012}")
                };
                let body = json!({"userID": user, "botSlug": bot(desk), "botId": "1", "name": format!("Cliente {i}"),
                    "provider": channel.as_str(), "email": format!("c{i}@example.com")});
                let url = format!("{}/v1/chats/connect", self.s.runner.base_url);
                // A bot retries a 503 (a dependency that may recover), as the seed's callers do.
                let mut status = 0;
                for _ in 0..20 {
                    status = self
                        .http
                        .post(&url)
                        .bearer_auth(token())
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16();
                    if status != 503 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                assert_eq!(status, 200, "handoff {i}");
                let c = self
                    .s
                    .rt
                    .dynamo()
                    .unwrap()
                    .find_open_conversation(channel, &user)
                    .await
                    .unwrap()
                    .unwrap();
                self.customer_writes(i, channel, desk, &user, 0).await;
                (user, c.id)
            }
        };
        Conv { i, channel, desk, customer, id, dialog: None }
    }

    /// The customer's `r`-th message: redelivered 1–3 times, some concurrently; every 5th with a file.
    async fn customer_writes(
        &self,
        i: usize,
        channel: ChannelKind,
        desk: DeskKind,
        user: &str,
        r: usize,
    ) {
        let copies = 1 + (i + r) % 3;
        let text = inbound(i, r);
        if channel == ChannelKind::Custom {
            let mut body = json!({"reference": format!("ref-{i}"), "text": text, "contacts_id": null,
                "contact_object": {"name": format!("Cliente {i}"), "contacts": [{"value": format!("chaos-{i}"), "type": "id", "service": "custom"}]}});
            body.as_object_mut().unwrap().remove("contacts_id");
            if r % 5 == 4 {
                body["attachments"] = json!([{"url": format!("{}/yeahdesk/files/doc-{i}-{r}.pdf", self.s.sandbox.base_url), "name": "doc.pdf", "mimeType": "application/pdf"}]);
            }
            let key = format!("k-{i}-{r}");
            if (i + r) % 2 == 0 {
                let posts: Vec<_> =
                    (0..copies).map(|_| self.custom_post(desk, &key, &body)).collect();
                futures::future::join_all(posts).await;
            } else {
                for _ in 0..copies {
                    self.custom_post(desk, &key, &body).await;
                }
            }
            return;
        }
        let mut w = json!({"provider": channel.as_str(), "botId": bot(desk), "userId": user, "type": "text", "text": text,
            "messageId": format!("wamid.chaos-{i}-{r}"), "deliveries": copies, "concurrent": (i + r) % 2 == 0,
            "timestamp": self.epoch + (i * 100 + r) as i64});
        if channel == ChannelKind::Whatsapp && r % 5 == 4 {
            w["type"] = json!("image");
            w["mimeType"] = json!("image/png");
            w["caption"] = json!(text);
            w.as_object_mut().unwrap().remove("text");
        }
        self.sent.fetch_add(copies, std::sync::atomic::Ordering::Relaxed);
        let out = self.s.sandbox.client().customer_writes(&w).await.unwrap();
        for d in out["deliveries"].as_array().unwrap() {
            assert_eq!(d["status"], 200, "webhook {i}/{r}: {out}");
        }
    }

    /// The agent's `r`-th message: redelivered as each desk does; every 5th with a file (Pipedrive, Yeahdesk).
    async fn agent_writes(&self, c: &Conv, r: usize) {
        let sb = self.s.sandbox.client();
        let text = outbound(c.i, r);
        let copies = 1 + (c.i + r) % 3;
        self.sent.fetch_add(copies, std::sync::atomic::Ordering::Relaxed);
        match c.desk {
            DeskKind::Salesforce => {
                let a = json!({"endUser": c.customer, "text": text, "identifier": format!("sf-{}-{r}", c.i)});
                for _ in 0..copies {
                    sb.salesforce_agent(&a).await.unwrap();
                }
            }
            DeskKind::Pipedrive => {
                let mut a = json!({"providerChannelId": PD_CHANNEL, "conversationId": c.id, "senderId": PD_CHANNEL,
                    "message": text, "deliveries": copies.min(2)});
                if r % 5 == 4 {
                    a["files"] = json!([{"name": format!("pd-{}-{r}.pdf", c.i), "mimeType": "application/pdf"}]);
                }
                let out = sb.pipedrive_agent_sends(&a).await.unwrap();
                assert_eq!(out["deliveries"][0]["status"], 200, "{out}");
            }
            DeskKind::Yeahdesk => {
                let mut a = json!({"dialogId": c.dialog.clone().unwrap(), "text": text, "deliveries": copies});
                if r % 5 == 4 {
                    a["attachments"] =
                        json!([{"name": format!("yd-{}-{r}.jpg", c.i), "mimeType": "image/jpeg"}]);
                }
                sb.yeahdesk_agent_replies(&a).await.unwrap();
            }
        }
    }

    /// What each end of each conversation received, in arrival order (texts),
    /// and how many files reached customers.
    async fn views(&self, convs: &[Conv]) -> (Vec<Vec<String>>, Vec<Vec<String>>, usize) {
        let sb = self.s.sandbox.client();
        let sf = sb.salesforce_conversations().await.unwrap();
        let pd = sb.pipedrive_received().await.unwrap();
        let yd = sb.yeahdesk_dialogs().await.unwrap();
        let replies: Vec<Value> =
            self.source.received().iter().map(omnibridge_tests::Captured::json).collect();
        let mut yalo: HashMap<String, Vec<Value>> = HashMap::new();
        for d in sb.yalo_delivered(None).await.unwrap().as_array().unwrap() {
            yalo.entry(d["user_id"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(d.clone());
        }
        let text_of = |v: &Value| v.as_str().map(str::to_owned);
        let (mut desks, mut customers, mut files) = (Vec::new(), Vec::new(), 0);
        for c in convs {
            let at_desk: Vec<String> = match c.desk {
                DeskKind::Salesforce => sf
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|v| v["end_user"] == c.customer.as_str())
                    .flat_map(|v| {
                        v["entries"].as_array().unwrap().iter().filter_map(|e| text_of(&e["text"]))
                    })
                    .collect(),
                DeskKind::Pipedrive => pd
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| {
                        m["conversation_id"] == c.id.as_str()
                            && m["sender_id"] == c.customer.as_str()
                    })
                    .filter_map(|m| text_of(&m["message"]))
                    .collect(),
                DeskKind::Yeahdesk => yd
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["reference"] == c.id.as_str())
                    .flat_map(|d| {
                        d["messages"].as_array().unwrap().iter().filter_map(|m| text_of(&m["text"]))
                    })
                    .collect(),
            };
            desks.push(at_desk.into_iter().filter(|t| !t.starts_with("Cliente: ")).collect());
            customers.push(match c.channel {
                ChannelKind::Custom => replies
                    .iter()
                    .filter(|p| p["dialog_id"] == c.id.as_str())
                    .filter_map(|p| {
                        files += p["message"]["attachments"].as_array().map_or(0, Vec::len);
                        text_of(&p["message"]["text"])
                    })
                    .collect(),
                _ => yalo
                    .get(&c.customer)
                    .map(|ds| {
                        ds.iter()
                            .filter_map(|d| {
                                if d["kind"] != "text" {
                                    files += 1;
                                }
                                text_of(&d["text"]).or_else(|| text_of(&d["caption"]))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        (desks, customers, files)
    }

    /// The ids of the messages in the delivery DLQs.
    async fn dead_letters(&self) -> HashSet<String> {
        let mut dead = HashSet::new();
        for q in [QueueName::ToDesk, QueueName::ToCustomer] {
            for l in omnibridge_dev::dlq::list(&self.s.rt, q).await.unwrap() {
                dead.insert(l.message_id.unwrap());
            }
        }
        dead
    }

    /// Waits until every message has reached its end or (when `dead_ok`) a DLQ.
    async fn settle(
        &self,
        convs: &[Conv],
        k: usize,
        dead_ok: bool,
        limit: Duration,
    ) -> HashSet<String> {
        let start = Instant::now();
        loop {
            let (desks, customers, _) = self.views(convs).await;
            let mut arrived = 0;
            for (c, (d, u)) in convs.iter().zip(desks.iter().zip(&customers)) {
                arrived += (0..k).filter(|r| d.contains(&inbound(c.i, *r))).count();
                arrived += (0..k).filter(|r| u.contains(&outbound(c.i, *r))).count();
            }
            let dead = if dead_ok { self.dead_letters().await } else { HashSet::new() };
            if arrived + dead.len() >= 2 * convs.len() * k {
                return dead;
            }
            if start.elapsed() > limit {
                let mut missing = Vec::new();
                for (c, (d, u)) in convs.iter().zip(desks.iter().zip(&customers)) {
                    for r in 0..k {
                        if !d.contains(&inbound(c.i, r)) {
                            missing.push(format!(
                                "{} ({} -> {}, {}) desk saw {d:?}",
                                inbound(c.i, r),
                                c.channel,
                                c.desk,
                                c.id
                            ));
                        }
                        if !u.contains(&outbound(c.i, r)) {
                            missing.push(format!(
                                "{} ({} -> {}, {}) customer saw {u:?}",
                                outbound(c.i, r),
                                c.desk,
                                c.channel,
                                c.id
                            ));
                        }
                    }
                }
                panic!("{arrived} arrived and {} dead-lettered of {} after {limit:?}; missing: {missing:#?}; dead: {dead:?}", dead.len(), 2 * convs.len() * k);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

fn fault(peer: &str, route: &str, effect: Effect, ratio: Option<f64>, times: Option<u32>) -> Fault {
    Fault { peer: peer.into(), route: Some(route.into()), effect, times, ratio }
}

fn status(status: u16) -> Effect {
    Effect::Status { status, retry_after_secs: Some(1), sf_code: None, body: None }
}

/// Counts for one direction of one conversation: what arrived vs. what was sent.
#[derive(Default, Debug)]
struct Tally {
    delivered: usize,
    duplicates: usize,
    /// Sent again after a worker crashed between the peer's answer and the
    /// status write (at most once more each).
    resent: usize,
    losses: usize,
    inversions: usize,
}

/// Compares what arrived (in arrival order) with `expected`; messages in
/// `redriven` arrived after redrive and are left out of the order check.
/// A message of a crashed batch (`crashed`) may arrive once more: the
/// crash may have come between the peer's answer and the status write,
/// and no peer takes an idempotency key; its second copy is counted as
/// `resent` and left out of the order check.
fn tally(
    arrived: &[String],
    expected: &[String],
    redriven: &HashSet<String>,
    crashed: &HashSet<String>,
    t: &mut Tally,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for a in arrived {
        *seen.entry(a.as_str()).or_default() += 1;
    }
    for e in expected {
        match seen.get(e.as_str()).copied().unwrap_or(0) {
            0 => t.losses += 1,
            n => {
                let resent = usize::from(n == 2 && crashed.contains(e));
                t.delivered += 1;
                t.resent += resent;
                t.duplicates += n - 1 - resent;
            }
        }
    }
    let order: HashMap<&str, usize> =
        expected.iter().enumerate().map(|(n, e)| (e.as_str(), n)).collect();
    let mut first = HashSet::new();
    let ranks: Vec<usize> = arrived
        .iter()
        .filter(|a| !redriven.contains(*a) && first.insert(a.as_str()))
        .filter_map(|a| order.get(a.as_str()).copied())
        .collect();
    t.inversions += ranks.windows(2).filter(|w| w[1] < w[0]).count();
}

/// The texts of the messages in the batches that crashed.
async fn crashed_texts(chaos: &Chaos) -> HashSet<String> {
    let store = chaos.s.rt.dynamo().unwrap();
    let mut texts = HashSet::new();
    for event in chaos.s.runner.crashed_events() {
        let event: Value = serde_json::from_slice(&event).unwrap();
        for record in event["Records"].as_array().into_iter().flatten() {
            let job: QueueJob = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
            if let Some(m) = store.get_message(&job.message_id).await.unwrap() {
                texts.extend(m.text);
            }
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_peers_fail_webhooks_repeat_tokens_expire_and_workers_crash_should_deliver_every_message_once_in_order(
) {
    let mut options = Options::new(true);
    options.template = quick_redelivery();
    chaos(options, size("CHAOS_CONVERSATIONS", 40), size("CHAOS_MESSAGES", 8)).await;
}

/// The template with the delivery queues' visibility timeout at 30 s (the
/// workers' timeout, the least Lambda allows) instead of 180 s: a crashed
/// batch comes back after it, and the chaos runs should not be mostly waiting.
pub fn quick_redelivery() -> omnibridge_dev::template::Template {
    let mut t = omnibridge_tests::template();
    for q in ["ToDeskQueue", "ToCustomerQueue"] {
        t.resource_mut(q).unwrap()["Properties"]["VisibilityTimeout"] = serde_json::json!(30);
    }
    t
}

/// The chaos run over `n` conversations of `k` messages each way, with the
/// functions hosted as `options` says.
pub async fn chaos(options: Options, n: usize, k: usize) {
    let started = Instant::now();
    let source = Capture::start().await;
    let desks: Vec<String> = [DeskKind::Salesforce, DeskKind::Pipedrive, DeskKind::Yeahdesk]
        .into_iter()
        .map(|d| {
            if d == DeskKind::Pipedrive {
                format!("{}={d}:{PD_CHANNEL}", bot(d))
            } else {
                format!("{}={d}", bot(d))
            }
        })
        .collect();
    let s: System = start(options, |p| {
        p.set("DeskByBot", desks.join(";"));
        // Give up sooner than production's 10 receives; 5xx bursts still pass well within it.
        p.set("MaxReceiveCount", "6");
    })
    .await
    .into();
    let desk = s.rt.pipedrive().await.unwrap().unwrap();
    desk.register_channel(PipedriveChannel::new(PD_CHANNEL, "Chaos", "whatsapp").unwrap())
        .await
        .unwrap();
    let mut custom = HashMap::new();
    for d in [DeskKind::Salesforce, DeskKind::Pipedrive, DeskKind::Yeahdesk] {
        let desk_channel = (d == DeskKind::Pipedrive).then(|| PD_CHANNEL.to_owned());
        let (c, token) = CustomChannel::create(
            "chaos",
            Some(format!("{}/replies", source.url)),
            d,
            desk_channel,
        );
        CustomChannels::new(s.rt.dynamo().unwrap()).put_channel(&c).await.unwrap();
        custom.insert(d, (c.id, token));
    }
    let epoch = now_millis() - 3_600_000;
    let chaos =
        Chaos { s, http: omnibridge_dev::http(), custom, source, sent: Default::default(), epoch };
    let chaos = &chaos;
    let sb = chaos.s.sandbox.client();

    // Every conversation handed over (and its first customer message written).
    let mut convs: Vec<Conv> =
        stream::iter((0..n).map(|i| chaos.open(i))).buffer_unordered(CONCURRENCY).collect().await;
    convs.sort_by_key(|c| c.i);
    let dialogs = sb.yeahdesk_dialogs().await.unwrap();
    for c in convs.iter_mut().filter(|c| c.desk == DeskKind::Yeahdesk) {
        let d = dialogs
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["reference"] == c.id.as_str())
            .expect("the handoff opened the Yeahdesk dialog");
        c.dialog = Some(d["id"].as_str().unwrap().to_owned());
    }
    let opened = started.elapsed();

    // The peers misbehave from here on.
    let faults = [
        fault("yalo", "yalo.messages", status(503), Some(0.05), None),
        fault("yalo", "yalo.messages", Effect::Drop, Some(0.03), None),
        fault("yalo", "yalo.messages", Effect::Latency { ms: 40 }, Some(0.1), None),
        fault("salesforce", "salesforce.interactions", status(429), Some(0.05), None),
        fault("salesforce", "salesforce.interactions", Effect::Drop, Some(0.03), None),
        fault("pipedrive", "pipedrive.receive", status(500), Some(0.05), None),
        fault("pipedrive", "pipedrive.receive", Effect::Latency { ms: 40 }, Some(0.1), None),
        fault("yeahdesk", "yeahdesk.message", status(503), Some(0.05), None),
        fault("yeahdesk", "yeahdesk.message", Effect::Drop, Some(0.03), None),
    ];
    for f in &faults {
        sb.inject(f).await.unwrap();
    }
    for r in 1..k.max(1) {
        stream::iter(
            convs.iter().map(|c| chaos.customer_writes(c.i, c.channel, c.desk, &c.customer, r)),
        )
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        stream::iter(convs.iter().map(|c| chaos.agent_writes(c, r - 1)))
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        if r == 1 {
            sb.expire_salesforce_tokens().await.unwrap();
            sb.expire_pipedrive_tokens().await.unwrap();
            chaos.s.runner.crash_next_batch("to-desk-worker");
            chaos.s.runner.crash_next_batch("to-customer-worker");
        }
        if r == k / 2 {
            // Refusals no retry can change: these messages must end failed, in a DLQ.
            sb.inject(&fault("yalo", "yalo.messages", status(400), None, Some(3))).await.unwrap();
            sb.inject(&fault("yeahdesk", "yeahdesk.message", status(400), None, Some(2)))
                .await
                .unwrap();
        }
    }
    stream::iter(convs.iter().map(|c| chaos.agent_writes(c, k - 1)))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let written = started.elapsed();

    // Everything settles: delivered, or failed with the reason and dead-lettered.
    let dead = chaos.settle(&convs, k, true, Duration::from_secs(240)).await;
    assert!(!dead.is_empty(), "the injected refusals failed some messages");
    let mut redriven = HashSet::new();
    for id in &dead {
        let m = chaos
            .s
            .rt
            .dynamo()
            .unwrap()
            .get_message(&MessageId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MessageStatus::Failed, "{id} is dead-lettered, so failed");
        assert!(
            m.failure_reason.as_deref().is_some_and(|r| r.contains("400")),
            "{:?}",
            m.failure_reason
        );
        redriven.insert(m.text.clone().unwrap());
    }
    let settled = started.elapsed();

    // Faults stop; the DLQs are redriven; each of those is delivered once.
    sb.clear_faults().await.unwrap();
    for q in [QueueName::ToDesk, QueueName::ToCustomer] {
        omnibridge_dev::dlq::redrive(&chaos.s.rt, q, &[]).await.unwrap();
    }
    chaos.settle(&convs, k, false, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(chaos.dead_letters().await.is_empty(), "the DLQs are empty after redrive");

    let (desks, customers, files) = chaos.views(&convs).await;
    let crashed = crashed_texts(chaos).await;
    let (mut to_desk, mut to_customer) = (Tally::default(), Tally::default());
    for (c, (d, u)) in convs.iter().zip(desks.iter().zip(&customers)) {
        tally(
            d,
            &(0..k).map(|r| inbound(c.i, r)).collect::<Vec<_>>(),
            &redriven,
            &crashed,
            &mut to_desk,
        );
        tally(
            u,
            &(0..k).map(|r| outbound(c.i, r)).collect::<Vec<_>>(),
            &redriven,
            &crashed,
            &mut to_customer,
        );
    }
    let total = started.elapsed();
    println!(
        "chaos: {n} conversations, {} messages ({} each way), {} webhook and agent deliveries sent; \
         to desks: {} delivered, {} duplicates, {} sent again after a crash, {} lost, {} order inversions; \
         to customers: {} delivered, {} duplicates, {} sent again after a crash, {} lost, {} order inversions; \
         {} files to customers; {} failed and dead-lettered, then delivered once after redrive; {} worker batches crashed; \
         handoffs {:.0?}, writing {:.0?}, settled {:.0?}, total {:.0?}",
        2 * n * k, n * k, chaos.sent.load(std::sync::atomic::Ordering::Relaxed),
        to_desk.delivered, to_desk.duplicates, to_desk.resent, to_desk.losses, to_desk.inversions,
        to_customer.delivered, to_customer.duplicates, to_customer.resent, to_customer.losses, to_customer.inversions,
        files, dead.len(), chaos.s.runner.crashed(), opened, written, settled, total,
    );
    assert_eq!(
        (to_desk.duplicates, to_desk.losses, to_desk.inversions),
        (0, 0, 0),
        "to desks: {to_desk:?}"
    );
    assert_eq!(
        (to_customer.duplicates, to_customer.losses, to_customer.inversions),
        (0, 0, 0),
        "to customers: {to_customer:?}"
    );
    assert_eq!(to_desk.delivered + to_customer.delivered, 2 * n * k);
    assert!(files > 0, "files reached customers");
    assert!(chaos.s.runner.crashed() >= 1, "a worker crashed mid-batch");
    let tokens = sb
        .requests(Some("salesforce"))
        .await
        .unwrap()
        .iter()
        .filter(|r| r.route == "salesforce.token")
        .count();
    assert!(tokens >= 2, "a token was minted again after expiry ({tokens})");
    assert!(
        sb.violations().await.unwrap().is_empty(),
        "{:?}",
        sb.violations().await.unwrap().first()
    );
}
