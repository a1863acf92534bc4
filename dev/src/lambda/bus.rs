//! EventBridge for the local stack: the partner event bus Salesforce Event
//! Relay publishes to, and the template's rules on it. An event that matches
//! a rule's pattern is sent to the rule's SQS targets with the target's
//! `MessageGroupId`, as the EventBridge service principal, which the target
//! queue's resource policy must allow for that rule (`aws:SourceArn`), as in AWS.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::sandbox::EventRelay;
use crate::template::policy::{Decision, RequestContext};
use crate::template::Stack;

pub struct LocalBus {
    /// The bus's name (the `EventBusName` the rules are on).
    pub name: String,
    pub stack: Stack,
    /// The emulator, as the EventBridge service.
    pub sqs: aws_sdk_sqs::Client,
}

/// EventBridge's content filtering for one field: `wanted` is the pattern's
/// list for the field, `actual` the event's value (absent: `None`).
fn field_matches(wanted: &[Value], actual: Option<&Value>) -> bool {
    let values: Vec<&Value> = match actual {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    };
    wanted.iter().any(|w| match w {
        Value::Object(m) => match m.iter().next() {
            Some((op, arg)) => match op.as_str() {
                "exists" => arg.as_bool() == Some(!values.is_empty()),
                "prefix" => values
                    .iter()
                    .any(|v| v.as_str().zip(arg.as_str()).is_some_and(|(v, p)| v.starts_with(p))),
                "suffix" => values
                    .iter()
                    .any(|v| v.as_str().zip(arg.as_str()).is_some_and(|(v, p)| v.ends_with(p))),
                "equals-ignore-case" => values.iter().any(|v| {
                    v.as_str().zip(arg.as_str()).is_some_and(|(v, p)| v.eq_ignore_ascii_case(p))
                }),
                "wildcard" => values.iter().any(|v| {
                    v.as_str()
                        .zip(arg.as_str())
                        .is_some_and(|(v, p)| crate::template::policy::glob(p, v))
                }),
                "anything-but" => {
                    let excluded: Vec<&Value> = match arg {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    !values.is_empty()
                        && values.iter().all(|v| {
                            !excluded.iter().any(|e| match e {
                                Value::Object(p) => p
                                    .get("prefix")
                                    .and_then(Value::as_str)
                                    .zip(v.as_str())
                                    .is_some_and(|(p, v)| v.starts_with(p)),
                                e => *e == *v,
                            })
                        })
                }
                _ => false,
            },
            None => false,
        },
        literal => values.contains(&literal),
    })
}

/// Whether `event` matches an EventBridge `pattern`.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(p) = pattern.as_object() else { return false };
    p.iter().all(|(key, wanted)| match wanted {
        Value::Array(list) => field_matches(list, event.get(key)),
        Value::Object(_) => event.get(key).is_some_and(|inner| matches(wanted, inner)),
        _ => false,
    })
}

impl LocalBus {
    async fn publish_event(&self, mut event: Value) -> Result<Value, String> {
        let id = uuid::Uuid::new_v4().to_string();
        let defaults = [
            ("version", json!("0")),
            ("id", json!(id)),
            ("account", json!(self.stack.account)),
            ("region", json!(self.stack.region)),
            (
                "time",
                json!(time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()),
            ),
            ("resources", json!([])),
        ];
        let obj = event.as_object_mut().ok_or("an event must be a JSON object")?;
        for (k, v) in defaults {
            obj.entry(k).or_insert(v);
        }
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        for rule in self
            .stack
            .rules
            .iter()
            .filter(|r| r.enabled && r.bus == self.name && matches(&r.pattern, &event))
        {
            for (arn, group) in &rule.targets {
                let Some(queue) = self.stack.queues.iter().find(|q| q.arn == *arn) else {
                    failed.push(json!({"rule": rule.logical_id, "target": arn, "error": "not a queue of the stack"}));
                    continue;
                };
                let ctx = RequestContext {
                    principal: "events.amazonaws.com".into(),
                    source_arn: Some(rule.arn.clone()),
                    secure_transport: true,
                };
                let allowed = self
                    .stack
                    .queue_policies
                    .iter()
                    .filter(|p| p.resources.contains(arn))
                    .map(|p| p.policy.decide("sqs:SendMessage", arn, &ctx))
                    .fold(Decision::ImplicitDeny, |acc, d| match (acc, d) {
                        (Decision::ExplicitDeny, _) | (_, Decision::ExplicitDeny) => {
                            Decision::ExplicitDeny
                        }
                        (Decision::Allow, _) | (_, Decision::Allow) => Decision::Allow,
                        _ => Decision::ImplicitDeny,
                    });
                if allowed != Decision::Allow {
                    tracing::warn!(rule = %rule.logical_id, queue = %queue.logical_id, "EventBridge may not send to the queue: its policy does not allow this rule");
                    failed.push(json!({"rule": rule.logical_id, "target": queue.logical_id, "error": "AccessDenied: the queue policy does not allow events.amazonaws.com for this rule"}));
                    continue;
                }
                let mut send =
                    self.sqs.send_message().queue_url(&queue.url).message_body(event.to_string());
                if queue.fifo {
                    send = send.set_message_group_id(group.clone());
                    if !queue.content_based_deduplication {
                        send = send.message_deduplication_id(&id);
                    }
                }
                match send.send().await {
                    Ok(_) => delivered.push(json!({"rule": rule.logical_id, "target": queue.logical_id, "messageGroupId": group})),
                    Err(e) => failed.push(json!({"rule": rule.logical_id, "target": queue.logical_id, "error": aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()})),
                }
            }
        }
        Ok(json!({"bus": self.name, "event": event, "delivered": delivered, "failed": failed}))
    }
}

impl EventRelay for LocalBus {
    fn publish(&self, event: Value) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(self.publish_event(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_event_is_published_should_match_patterns_as_eventbridge_does() {
        let event = json!({"source": "aws.partner/salesforce.com/00D/0YL", "detail-type": "E__e", "detail": {"kind": "a", "tags": ["x", "y"]}});
        assert!(matches(&json!({"source": [{"prefix": "aws.partner/salesforce.com"}]}), &event));
        assert!(!matches(&json!({"source": [{"prefix": "aws.partner/other"}]}), &event));
        assert!(matches(&json!({"detail": {"kind": ["b", "a"], "tags": ["y"]}}), &event));
        assert!(matches(&json!({"detail": {"missing": [{"exists": false}]}}), &event));
        assert!(!matches(&json!({"detail": {"kind": [{"anything-but": "a"}]}}), &event));
        assert!(matches(&json!({"detail-type": [{"anything-but": ["b"]}]}), &event));
    }
}
