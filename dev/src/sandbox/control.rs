//! The sandbox's control API under `/_sandbox`: what the peers received,
//! contract violations, fault injection, and the simulated customers and agents.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{pipedrive, salesforce, yalo, yeahdesk, Fault, Incoming, Reply, Sandbox, State};

fn parse<T: DeserializeOwned>(req: &Incoming) -> Result<T, Reply> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Reply::json(400, &json!({"error": format!("bad control request: {e}")})))
}

macro_rules! body_or_reply {
    ($req:expr) => {
        match parse($req) {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

pub async fn handle(sb: &Sandbox, req: &Incoming, segs: &[&str]) -> Reply {
    match (req.method.as_str(), segs) {
        ("GET", ["requests"]) => {
            let st = sb.lock();
            let list: Vec<_> = st
                .requests
                .iter()
                .filter(|r| req.query("peer").is_none_or(|p| r.peer == p))
                .filter(|r| req.query("route").is_none_or(|p| r.route == p))
                .collect();
            Reply::json(200, &json!(list))
        }
        ("GET", ["violations"]) => {
            let st = sb.lock();
            let list: Vec<_> = st.requests.iter().filter(|r| !r.violations.is_empty()).collect();
            Reply::json(200, &json!(list))
        }
        ("POST", ["faults"]) => {
            let fault: Fault = body_or_reply!(req);
            sb.lock().faults.push(fault);
            Reply::json(200, &json!({"ok": true}))
        }
        ("DELETE", ["faults"]) => {
            sb.lock().faults.clear();
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", ["reset"]) => {
            *sb.lock() = State::default();
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", ["config"]) => {
            let v: Value = body_or_reply!(req);
            if let Some(url) = v.get("omnibridgeUrl").and_then(Value::as_str) {
                sb.lock().omnibridge_url = Some(url.trim_end_matches('/').to_owned());
            }
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", ["yalo", "customer"]) => yalo::customer_writes(sb, body_or_reply!(req)).await,
        ("GET", ["yalo", "delivered"]) => {
            let st = sb.lock();
            let list: Vec<_> = st
                .yalo
                .delivered
                .iter()
                .filter(|d| req.query("userId").is_none_or(|u| d.user_id == u))
                .collect();
            Reply::json(200, &json!(list))
        }
        ("GET", ["yalo", "registrations"]) => {
            let st = sb.lock();
            Reply::json(200, &json!(st.yalo.registrations.values().collect::<Vec<_>>()))
        }
        ("POST", ["salesforce", "agent"]) => salesforce::agent_acts(sb, body_or_reply!(req)).await,
        ("POST", ["salesforce", "expire-tokens"]) => {
            salesforce::expire_tokens(sb);
            Reply::json(200, &json!({"ok": true}))
        }
        ("GET", ["salesforce", "conversations"]) => {
            Reply::json(200, &json!(sb.lock().salesforce.conversations))
        }
        ("POST", ["pipedrive", "expire-tokens"]) => {
            pipedrive::expire_tokens(sb);
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", ["pipedrive", "rotate-refresh-tokens"]) => {
            sb.lock().pipedrive.rotate_refresh_tokens = true;
            Reply::json(200, &json!({"ok": true}))
        }
        ("POST", ["pipedrive", "agent-sends"]) => {
            pipedrive::agent_sends(sb, body_or_reply!(req)).await
        }
        ("POST", ["pipedrive", "agent-reads"]) => {
            let v: Value = body_or_reply!(req);
            match v.get("path").and_then(Value::as_str) {
                Some(p) if p.starts_with('/') => pipedrive::agent_reads(sb, p).await,
                _ => Reply::json(400, &json!({"error": "path must start with /"})),
            }
        }
        ("GET", ["pipedrive", "received"]) => {
            Reply::json(200, &json!(sb.lock().pipedrive.received))
        }
        ("GET", ["pipedrive", "channels"]) => Reply::json(
            200,
            &json!(sb.lock().pipedrive.channels.values().cloned().collect::<Vec<_>>()),
        ),
        ("POST", ["yeahdesk", "agent-replies"]) => {
            yeahdesk::agent_replies(sb, body_or_reply!(req)).await
        }
        ("GET", ["yeahdesk", "dialogs"]) => Reply::json(200, &json!(sb.lock().yeahdesk.dialogs)),
        ("GET", ["yeahdesk", "contacts"]) => Reply::json(200, &json!(sb.lock().yeahdesk.contacts)),
        ("POST", ["yeahdesk", "channels"]) => {
            yeahdesk::put_channel(sb, body_or_reply!(req));
            Reply::json(200, &json!({"ok": true}))
        }
        ("DELETE", ["yeahdesk", "contacts", id]) => {
            if yeahdesk::delete_contact(sb, id) {
                Reply::json(200, &json!({"ok": true}))
            } else {
                Reply::not_found()
            }
        }
        _ => Reply::not_found(),
    }
}
