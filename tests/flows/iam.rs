//! IAM as AWS enforces it: a function whose policy lacks a statement it
//! needs fails as it would deployed, and the least-privilege report of what
//! each function exercised next to what it is granted.

use omnibridge::ports::QueueName;
use omnibridge_dev::iam::Exercised;
use omnibridge_dev::template::policy::{arn_matches, glob, Effect};
use omnibridge_dev::template::{Stack, StackInput};
use omnibridge_tests::{eventually, start, template, Options, System, JWT_SECRET};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[tokio::test]
async fn when_a_needed_statement_is_removed_from_the_template_should_fail_the_flow_with_access_denied(
) {
    // A copy of the template whose to-desk worker may not read a conversation.
    let mut t = template();
    let statements = t.resource_mut("ToDeskWorkerFunction").unwrap()["Properties"]["Policies"][0]
        ["Statement"]
        .as_array_mut()
        .unwrap();
    let reads = statements
        .iter_mut()
        .find(|s| s["Action"].as_array().is_some_and(|a| a.contains(&json!("dynamodb:GetItem"))))
        .unwrap();
    reads["Action"].as_array_mut().unwrap().retain(|a| a != "dynamodb:GetItem");
    let mut options = Options::new(true);
    options.template = t;
    let s: System = start(options, |_| {}).await.into();
    let c = s.sandbox.client();
    let user = "5217331179001";
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "Hola"})).await.unwrap();
    let token = omnibridge::services::auth::TokenKeys::new(
        &secrecy::SecretString::from(JWT_SECRET),
        Duration::from_secs(600),
    )
    .unwrap()
    .issue(
        &omnibridge::services::auth::ApiUser {
            username: "yaloUser".into(),
            role: omnibridge::services::auth::Role::Yalo,
            password_hash: String::new(),
        },
        omnibridge::model::now_millis() / 1000,
    )
    .unwrap();
    let body = json!({"userID": user, "botSlug": "coppel-bot", "botId": "1", "name": "Ana", "provider": "whatsapp", "email": "ana@example.com"});
    let res = omnibridge_dev::http()
        .post(format!("{}/v1/chats/connect", s.runner.base_url))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    c.customer_writes(&json!({"provider": "whatsapp", "botId": "coppel-bot", "userId": user, "type": "text", "text": "necesito ayuda"})).await.unwrap();

    // AccessDenied is not retryable: the job is dead-lettered at once, with the reason.
    let dead = eventually(Duration::from_secs(30), || async {
        let letters = omnibridge_dev::dlq::list(&s.rt, QueueName::ToDesk).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await
    .expect("the message was dead-lettered");
    let reason = dead[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("AccessDeniedException") && reason.contains("dynamodb:GetItem"),
        "{reason}"
    );
    // And the message says so: nothing dead-lettered stays `received`.
    use omnibridge::ports::MessageStore;
    let id = omnibridge::model::MessageId::parse(dead[0].message_id.as_deref().unwrap()).unwrap();
    let m = s.rt.dynamo().unwrap().get_message(&id).await.unwrap().unwrap();
    assert_eq!(m.status, omnibridge::model::MessageStatus::Failed);
    assert!(m.failure_reason.unwrap().contains("AccessDenied"));
    let denied: Vec<Exercised> =
        s.runner.gateway.exercised().into_keys().filter(|e| !e.allowed).collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        (denied[0].function.as_str(), denied[0].action.as_str(), denied[0].resource.as_str()),
        ("to-desk-worker", "dynamodb:GetItem", "Table")
    );
    // Nothing reached the agent but the handoff.
    assert_eq!(
        c.salesforce_conversations().await.unwrap().as_array().unwrap()[0]["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Granted actions that no test exercises, and why they stay: (function, or
/// `*` for any, action, why).
const WHY_UNEXERCISED: &[(&str, &str, &str)] = &[
    ("*", "logs:CreateLogGroup", "Lambda writes the function's logs with it (SAM's AWSLambdaBasicExecutionRole)"),
    ("*", "logs:CreateLogStream", "Lambda writes the function's logs with it (SAM's AWSLambdaBasicExecutionRole)"),
    ("*", "logs:PutLogEvents", "Lambda writes the function's logs with it (SAM's AWSLambdaBasicExecutionRole)"),
    ("*", "sqs:GetQueueAttributes", "Lambda's event source mapping reads the queue with it (SAM's AWSLambdaSQSQueueExecutionRole)"),
    (
        "whatsapp-webhook",
        "dynamodb:DeleteItem",
        "clears a customer's open-conversation pointer that outlived its conversation (a stop between closing it and clearing the pointer); no test makes one",
    ),
    (
        "facebook-webhook",
        "dynamodb:DeleteItem",
        "clears a customer's open-conversation pointer that outlived its conversation (a stop between closing it and clearing the pointer); no test makes one",
    ),
    (
        "salesforce-events-router",
        "sqs:ChangeMessageVisibility",
        "backs off an event it could not move to the conversation queue (SQS unavailable); no test makes SQS fail",
    ),
];
/// The stack the report speaks of: every optional part on, as the local
/// stack runs it; the Yalo webhook secret generated by the stack, or named
/// by its parameter (the tests run both).
fn full_stack(own_yalo_secret: bool) -> Stack {
    let arn = |name: &str| {
        format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:report/{name}-AbCdEf")
    };
    let mut parameters: BTreeMap<String, String> = template()
        .parameters()
        .into_keys()
        .filter(|p| p.ends_with("SecretArn") && (own_yalo_secret || p != "YaloWebhookSecretArn"))
        .map(|p| {
            let v = arn(&p);
            (p, v)
        })
        .collect();
    parameters.insert("SalesforceEventBusName".into(), "aws.partner/salesforce.com/00D/0YL".into());
    parameters.insert("YeahdeskChannelId".into(), "c".into());
    let input = StackInput {
        name: "report".into(),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        parameters,
        queue_url_base: "http://127.0.0.1:5000".into(),
        created: BTreeMap::new(),
    };
    Stack::resolve(&template(), &input).unwrap()
}

/// What the whole test run exercised (`dev/test` records it with `OMNIBRIDGE_IAM_RECORD`).
fn recorded(dir: &str) -> BTreeSet<Exercised> {
    let mut all = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        all.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str::<Exercised>(l).unwrap()),
        );
    }
    all
}

/// Run by `dev/test` after the whole suite: for each function, the actions
/// the run exercised next to those granted. Fails on an exercised action
/// the template does not grant, and on a granted one never exercised
/// without a reason to keep it. Writes `tests/iam.md`.
#[test]
#[ignore = "reads what the whole run recorded; dev/test runs it last"]
fn iam_report() {
    let dir = std::env::var("OMNIBRIDGE_IAM_RECORD")
        .expect("OMNIBRIDGE_IAM_RECORD: the directory the run recorded to");
    let exercised = recorded(&dir);
    let stack = full_stack(false);
    let with_own_secret = full_stack(true);
    let mut out = String::from(
        "# What each function does with AWS, next to what it may do\n\n\
         Written by `dev/test` from a whole run of the tests (the flow tests, the chaos test and the\n\
         README story, in this process and as the real binaries) with IAM enforced: each function's\n\
         calls are checked against its policy in `template.yaml` (with every optional secret and the\n\
         Event Relay bus set; the Yalo webhook secret both generated by the stack and given). A row\n\
         is an action on a resource (by its logical id, or the parameter that names it); `granted`\n\
         says by which policy, `exercised` whether the run made that call.\n",
    );
    let mut ungranted = Vec::new();
    let mut unexplained = Vec::new();
    for f in &stack.functions {
        // Granted: each allowed action on each resource, by logical name.
        let mut rows: BTreeMap<(String, String), (Option<String>, bool)> = BTreeMap::new();
        let same = with_own_secret.functions.iter().find(|g| g.binary == f.binary);
        for (stack, f) in [(&stack, Some(f)), (&with_own_secret, same)] {
            for s in f
                .into_iter()
                .flat_map(|f| &f.policy.statements)
                .filter(|s| s.effect == Effect::Allow)
            {
                for a in &s.actions {
                    for r in &s.resources {
                        rows.entry((a.clone(), stack.name_of(r).0))
                            .or_insert((Some(s.source.clone()), false));
                    }
                }
            }
        }
        for e in exercised.iter().filter(|e| e.function == f.binary) {
            let covered = rows.iter_mut().find(|((a, r), _)| {
                glob(&a.to_ascii_lowercase(), &e.action.to_ascii_lowercase())
                    && (r == &e.resource || arn_matches(r, &e.resource))
            });
            match covered {
                // A refusal of what the template grants came from a test's changed copy of it.
                Some((_, row)) => row.1 |= e.allowed,
                None => {
                    ungranted.push(format!("{}: {} on {}", f.binary, e.action, e.resource));
                    rows.insert((e.action.clone(), e.resource.clone()), (None, true));
                }
            }
        }
        out.push_str(&format!(
            "\n## {}\n\n| action | resource | granted | exercised |\n|---|---|---|---|\n",
            f.binary
        ));
        for ((action, resource), (granted, used)) in &rows {
            let why = WHY_UNEXERCISED
                .iter()
                .find(|(f_, a, _)| (*f_ == "*" || *f_ == f.binary) && a == action)
                .map(|(_, _, w)| *w);
            if !used && why.is_none() && granted.is_some() {
                unexplained.push(format!("{}: {action} on {resource}", f.binary));
            }
            let granted = granted.as_deref().map_or("**no**".to_owned(), |g| format!("yes ({g})"));
            let used = match (used, why) {
                (true, _) => "yes".to_owned(),
                (false, Some(w)) => format!("no: {w}"),
                (false, None) => "**no**".to_owned(),
            };
            out.push_str(&format!("| `{action}` | {resource} | {granted} | {used} |\n"));
        }
    }
    println!("{out}");
    std::fs::write(omnibridge_tests::root().join("tests/iam.md"), &out).unwrap();
    assert!(ungranted.is_empty(), "exercised but not granted:\n{}", ungranted.join("\n"));
    assert!(
        unexplained.is_empty(),
        "granted but never exercised (remove them or say why they stay):\n{}",
        unexplained.join("\n")
    );
}
