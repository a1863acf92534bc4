//! IAM policies as AWS evaluates them, for the local stack: a function's
//! role (its `Policies`: inline statements, SAM policy templates, managed
//! policies, and what SAM adds for its event sources) and the resource
//! policies of queues and buckets. An explicit Deny wins, then an Allow,
//! else the request is denied.
//!
//! The SAM policy templates are SAM's own definitions
//! (`sam_policy_templates.json`, from the AWS SAM translator, Apache-2.0),
//! expanded with the same intrinsic evaluator as the template.

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::intrinsics::Scope;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One condition test: `{Operator: {key: [values]}}`.
#[derive(Clone, Debug)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// Who a resource policy statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Anyone,
    Service(Vec<String>),
    Aws(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct Statement {
    /// Where the statement comes from (an inline policy, a policy template, a managed policy).
    pub source: String,
    pub effect: Effect,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub resources: Vec<String>,
    pub not_resources: Vec<String>,
    pub principal: Option<Principal>,
    pub conditions: Vec<Condition>,
}

/// The facts about a request that conditions look at.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The caller: a role ARN, or a service principal (`events.amazonaws.com`).
    pub principal: String,
    pub source_arn: Option<String>,
    pub secure_transport: bool,
}

impl RequestContext {
    fn key(&self, key: &str) -> Option<String> {
        match key.to_ascii_lowercase().as_str() {
            "aws:sourcearn" => self.source_arn.clone(),
            "aws:securetransport" => Some(self.secure_transport.to_string()),
            "aws:principalarn" => Some(self.principal.clone()),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// A set of statements: a role's policies, or a resource's policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

fn strings(v: Option<&Value>, what: &str) -> anyhow::Result<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("{what} must hold strings, got {i}"))
            })
            .collect(),
        Some(other) => bail!("{what} must be a string or a list, got {other}"),
    }
}

const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Bool",
];

fn principal(v: &Value) -> anyhow::Result<Principal> {
    match v {
        Value::String(s) if s == "*" => Ok(Principal::Anyone),
        Value::Object(m) => {
            if let Some(s) = m.get("Service") {
                Ok(Principal::Service(strings(Some(s), "Principal.Service")?))
            } else if let Some(a) = m.get("AWS") {
                let arns = strings(Some(a), "Principal.AWS")?;
                Ok(if arns.iter().any(|a| a == "*") {
                    Principal::Anyone
                } else {
                    Principal::Aws(arns)
                })
            } else {
                bail!("a Principal the local stack does not evaluate: {v}")
            }
        }
        other => bail!("a Principal the local stack does not evaluate: {other}"),
    }
}

impl Statement {
    /// A statement of a policy document, already free of intrinsic functions.
    pub fn parse(v: &Value, source: &str) -> anyhow::Result<Statement> {
        let effect = match v.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => bail!("{source}: Effect must be Allow or Deny, got {other:?}"),
        };
        let mut conditions = Vec::new();
        if let Some(c) = v.get("Condition") {
            let c = c.as_object().ok_or_else(|| anyhow!("{source}: Condition must be a map"))?;
            for (operator, tests) in c {
                let base = operator.trim_end_matches("IfExists");
                if !OPERATORS.contains(&base) {
                    bail!("{source}: the condition operator {operator} is not evaluated by the local stack");
                }
                for (key, values) in tests
                    .as_object()
                    .ok_or_else(|| anyhow!("{source}: {operator} must be a map"))?
                {
                    let values = match values {
                        Value::Bool(b) => vec![b.to_string()],
                        other => strings(Some(other), key)?,
                    };
                    conditions.push(Condition {
                        operator: operator.clone(),
                        key: key.clone(),
                        values,
                    });
                }
            }
        }
        let s = Statement {
            source: source.to_owned(),
            effect,
            actions: strings(v.get("Action"), "Action")?,
            not_actions: strings(v.get("NotAction"), "NotAction")?,
            resources: strings(v.get("Resource"), "Resource")?,
            not_resources: strings(v.get("NotResource"), "NotResource")?,
            principal: v.get("Principal").map(principal).transpose()?,
            conditions,
        };
        if s.actions.is_empty() && s.not_actions.is_empty() {
            bail!("{source}: a statement without Action");
        }
        Ok(s)
    }

    fn matches_action(&self, action: &str) -> bool {
        if !self.not_actions.is_empty() {
            return !self
                .not_actions
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        }
        self.actions.iter().any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()))
    }

    fn matches_resource(&self, resource: &str) -> bool {
        if !self.not_resources.is_empty() {
            return !self.not_resources.iter().any(|p| arn_matches(p, resource));
        }
        self.resources.iter().any(|p| arn_matches(p, resource))
    }

    fn matches_principal(&self, ctx: &RequestContext) -> bool {
        match &self.principal {
            None | Some(Principal::Anyone) => true,
            Some(Principal::Service(s)) => s.contains(&ctx.principal),
            Some(Principal::Aws(arns)) => arns.iter().any(|a| arn_matches(a, &ctx.principal)),
        }
    }

    fn conditions_hold(&self, ctx: &RequestContext) -> bool {
        self.conditions.iter().all(|c| {
            let if_exists = c.operator.ends_with("IfExists");
            let op = c.operator.trim_end_matches("IfExists");
            let negated = op.contains("Not");
            let Some(actual) = ctx.key(&c.key) else { return if_exists || negated };
            let hit = c.values.iter().any(|v| match op {
                "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => *v == actual,
                "Bool" => v.eq_ignore_ascii_case(&actual),
                "StringLike" | "StringNotLike" => glob(v, &actual),
                _ => arn_matches(v, &actual),
            });
            hit != negated
        })
    }

    fn applies(&self, action: &str, resource: &str, ctx: &RequestContext) -> bool {
        self.matches_action(action)
            && self.matches_resource(resource)
            && self.matches_principal(ctx)
            && self.conditions_hold(ctx)
    }
}

/// `*` (any run of characters) and `?` (one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// IAM's ARN matching: each of the first five `:`-separated parts on its
/// own, then the resource part (which may hold `:` and `/`).
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (p, a): (Vec<&str>, Vec<&str>) =
        (pattern.splitn(6, ':').collect(), arn.splitn(6, ':').collect());
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| glob(p, a))
}

impl Policy {
    /// What AWS decides for `action` on `resource`.
    pub fn decide(&self, action: &str, resource: &str, ctx: &RequestContext) -> Decision {
        let mut allowed = false;
        for s in self.statements.iter().filter(|s| s.applies(action, resource, ctx)) {
            match s.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// The statements of a policy document (`{Statement: [...]}`).
    pub fn add_document(&mut self, doc: &Value, source: &str) -> anyhow::Result<()> {
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => bail!("{source}: a policy document needs a Statement"),
        };
        for (i, s) in statements.iter().enumerate() {
            let label = if statements.len() > 1 {
                format!("{source} #{}", i + 1)
            } else {
                source.to_owned()
            };
            self.statements.push(Statement::parse(s, &label)?);
        }
        Ok(())
    }

    /// One entry of a function's SAM `Policies` (already evaluated): a
    /// managed policy's name or ARN, a policy document, or a SAM policy
    /// template with its parameters.
    pub fn add_sam_entry(
        &mut self,
        entry: &Value,
        index: usize,
        pseudo: &BTreeMap<String, Value>,
    ) -> anyhow::Result<()> {
        match entry {
            Value::String(name) => self.add_managed(name),
            Value::Object(m) if m.contains_key("Statement") => {
                self.add_document(entry, &format!("Policies[{index}]"))
            }
            Value::Object(m) if m.len() == 1 => {
                let (name, args) = m.iter().next().expect("one key");
                let doc = expand_policy_template(name, args, pseudo)?;
                self.add_document(&doc, name)
            }
            other => bail!("Policies[{index}] is not a policy the local stack knows: {other}"),
        }
    }

    /// An AWS managed policy the functions may carry.
    pub fn add_managed(&mut self, name: &str) -> anyhow::Result<()> {
        let short = name.rsplit('/').next().unwrap_or(name);
        let logs = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"];
        let actions: Vec<&str> = match short {
            "AWSLambdaBasicExecutionRole" => logs.to_vec(),
            "AWSLambdaSQSQueueExecutionRole" => {
                [&["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"][..], &logs[..]].concat()
            }
            "AWSXrayWriteOnlyAccess" | "AWSXRayDaemonWriteAccess" => {
                vec!["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]
            }
            other => bail!("the managed policy {other} is not known to the local stack; write its statements inline"),
        };
        self.statements.push(Statement {
            source: short.to_owned(),
            effect: Effect::Allow,
            actions: actions.into_iter().map(str::to_owned).collect(),
            not_actions: Vec::new(),
            resources: vec!["*".into()],
            not_resources: Vec::new(),
            principal: None,
            conditions: Vec::new(),
        });
        Ok(())
    }
}

fn templates() -> &'static Map<String, Value> {
    static TEMPLATES: OnceLock<Map<String, Value>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("sam_policy_templates.json"))
            .expect("SAM's policy templates parse");
        doc.get("Templates").and_then(Value::as_object).cloned().unwrap_or_default()
    })
}

/// A SAM policy template (`DynamoDBCrudPolicy: {TableName: ...}`) as the
/// policy document SAM puts in the function's role.
pub fn expand_policy_template(
    name: &str,
    args: &Value,
    pseudo: &BTreeMap<String, Value>,
) -> anyhow::Result<Value> {
    let t = templates().get(name).ok_or_else(|| anyhow!("{name} is not a SAM policy template"))?;
    let mut params = pseudo.clone();
    let given = args.as_object().cloned().unwrap_or_default();
    if let Some(wanted) = t.get("Parameters").and_then(Value::as_object) {
        for p in wanted.keys() {
            let v = given.get(p).ok_or_else(|| anyhow!("{name} needs the parameter {p}"))?;
            params.insert(p.clone(), v.clone());
        }
    }
    let (resources, conditions, mappings) = (BTreeMap::new(), BTreeMap::new(), Map::new());
    let scope = Scope {
        params: &params,
        resources: &resources,
        conditions: &conditions,
        mappings: &mappings,
    };
    scope
        .value(t.get("Definition").context("a policy template without Definition")?)
        .with_context(|| format!("expanding {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> RequestContext {
        RequestContext { principal: "arn:aws:iam::1:role/f".into(), ..Default::default() }
    }

    #[test]
    fn when_patterns_have_wildcards_should_match_as_iam_does() {
        assert!(glob("sqs:SendMessage*", "sqs:SendMessageBatch"));
        assert!(glob("a?c", "abc") && !glob("a?c", "abbc"));
        assert!(arn_matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.pdf"));
        assert!(!arn_matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"));
        assert!(arn_matches(
            "arn:aws:dynamodb:us-east-1:1:table/T/index/*",
            "arn:aws:dynamodb:us-east-1:1:table/T/index/GSI1"
        ));
        assert!(!arn_matches(
            "arn:aws:dynamodb:us-east-1:1:table/T",
            "arn:aws:dynamodb:us-east-1:1:table/T/index/GSI1"
        ));
        assert!(!arn_matches("arn:aws:sqs:*:1:q", "arn:aws:sqs:us-east-1:2:q"));
    }

    #[test]
    fn when_a_statement_allows_or_denies_should_decide_as_aws() {
        let mut p = Policy::default();
        p.add_document(
            &json!({"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": "arn:t"},
                {"Effect": "Deny", "Action": "dynamodb:Query", "Resource": "*"}
            ]}),
            "inline",
        )
        .unwrap();
        assert_eq!(p.decide("dynamodb:GetItem", "arn:t", &ctx()), Decision::Allow);
        assert_eq!(
            p.decide("dynamodb:getitem", "arn:t", &ctx()),
            Decision::Allow,
            "actions are case-insensitive"
        );
        assert_eq!(p.decide("dynamodb:Query", "arn:t", &ctx()), Decision::ExplicitDeny);
        assert_eq!(p.decide("dynamodb:PutItem", "arn:t", &ctx()), Decision::ImplicitDeny);
        assert_eq!(p.decide("dynamodb:GetItem", "arn:other", &ctx()), Decision::ImplicitDeny);
    }

    #[test]
    fn when_a_resource_policy_names_a_service_and_source_should_allow_only_that() {
        let mut p = Policy::default();
        p.add_document(
            &json!({"Statement": {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": "arn:q", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:rule"}}}}),
            "queue policy",
        )
        .unwrap();
        let events = |source: &str| RequestContext {
            principal: "events.amazonaws.com".into(),
            source_arn: Some(source.into()),
            secure_transport: true,
        };
        assert_eq!(p.decide("sqs:SendMessage", "arn:q", &events("arn:rule")), Decision::Allow);
        assert_eq!(
            p.decide("sqs:SendMessage", "arn:q", &events("arn:other-rule")),
            Decision::ImplicitDeny
        );
        let mut deny = Policy::default();
        deny.add_document(
            &json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}}),
            "bucket policy",
        )
        .unwrap();
        assert_eq!(
            deny.decide(
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &RequestContext { secure_transport: true, ..ctx() }
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(deny.decide("s3:GetObject", "arn:aws:s3:::b/k", &ctx()), Decision::ExplicitDeny);
    }

    #[test]
    fn when_a_function_uses_sam_policy_templates_should_expand_them_as_sam_does() {
        let pseudo = BTreeMap::from([
            ("AWS::Partition".to_owned(), json!("aws")),
            ("AWS::Region".to_owned(), json!("us-east-1")),
            ("AWS::AccountId".to_owned(), json!("123456789012")),
        ]);
        let mut p = Policy::default();
        p.add_sam_entry(&json!({"DynamoDBReadPolicy": {"TableName": "t"}}), 0, &pseudo).unwrap();
        p.add_sam_entry(&json!({"SQSSendMessagePolicy": {"QueueName": "q.fifo"}}), 1, &pseudo)
            .unwrap();
        p.add_sam_entry(&json!("AWSLambdaBasicExecutionRole"), 2, &pseudo).unwrap();
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/t";
        assert_eq!(
            p.decide("dynamodb:Query", &format!("{table}/index/GSI1"), &ctx()),
            Decision::Allow
        );
        assert_eq!(p.decide("dynamodb:PutItem", table, &ctx()), Decision::ImplicitDeny);
        assert_eq!(
            p.decide("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q.fifo", &ctx()),
            Decision::Allow
        );
        assert_eq!(p.decide("logs:PutLogEvents", "arn:any", &ctx()), Decision::Allow);
        assert!(p.add_sam_entry(&json!({"DynamoDBReadPolicy": {}}), 3, &pseudo).is_err());
        assert!(p.add_sam_entry(&json!("AdministratorAccess"), 4, &pseudo).is_err());
    }
}
