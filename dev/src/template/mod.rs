//! template.yaml as a deployment reads it: parameters (validated as
//! CloudFormation validates them), conditions, SAM's `Globals`, and every
//! resource with its physical name and attributes. From that, each
//! function's own configuration (environment, timeout, memory, reserved
//! concurrency, its role's policy, its routes and queue event sources), the
//! table, bucket and queues to create, the EventBridge rules and the queue
//! and bucket policies. The local stack takes all of this from here and
//! from nowhere else, and refuses what CloudFormation, SAM or Lambda would
//! refuse.

pub mod intrinsics;
pub mod policy;

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use intrinsics::{Physical, Scope};
pub use policy::Policy;

/// Lambda's limit on a function's environment: keys and values, 4 KB in all.
pub const ENVIRONMENT_LIMIT: usize = 4096;

/// Variables Lambda sets itself; a template may not set them.
const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// The template, its YAML short forms (`!Ref`, `!GetAtt`, ...) written in
/// their long JSON forms.
#[derive(Clone, Debug)]
pub struct Template {
    pub doc: Value,
}

/// An HTTP API route and the function (binary) behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

/// An SQS event source mapping of a worker function.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSource {
    /// The queue's logical id.
    pub queue: String,
    pub function: String,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<u32>,
}

/// One function as deployed.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the binary, and the folder under `functions/`.
    pub binary: String,
    pub name: String,
    pub arn: String,
    /// The execution role's ARN (the principal of its AWS calls).
    pub role_arn: String,
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub reserved_concurrency: Option<u32>,
    /// `LoggingConfig`: `JSON` or `Text`, and the application log level.
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub policy: Policy,
    pub routes: Vec<Route>,
    pub queue_sources: Vec<QueueSource>,
}

#[derive(Clone, Debug)]
pub struct QueueSpec {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub url: String,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    pub visibility_timeout: u32,
    pub maximum_message_size: u32,
    pub retention: u32,
    /// The dead-letter queue's logical id and `maxReceiveCount`.
    pub redrive: Option<(String, u32)>,
}

#[derive(Clone, Debug)]
pub struct TableSpec {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// The resource's properties, evaluated (key schema, indexes, TTL).
    pub properties: Value,
}

#[derive(Clone, Debug)]
pub struct BucketSpec {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
}

/// An EventBridge rule that forwards matching events to SQS queues.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub logical_id: String,
    pub arn: String,
    pub bus: String,
    pub pattern: Value,
    pub enabled: bool,
    /// Target queue ARN and its `SqsParameters.MessageGroupId`.
    pub targets: Vec<(String, Option<String>)>,
}

/// A route's throttle: a token bucket of `burst` refilled at `rate` per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: f64,
}

/// The HTTP API's stage settings.
#[derive(Clone, Debug, Default)]
pub struct ApiSpec {
    pub stage: String,
    /// `DefaultRouteSettings`.
    pub throttle: Option<Throttle>,
    /// `RouteSettings`, by route key (`POST /v1/authenticate`).
    pub route_throttles: BTreeMap<String, Throttle>,
    /// `AccessLogSettings.Format`.
    pub access_log_format: Option<String>,
}

/// A queue's or bucket's resource policy.
#[derive(Clone, Debug)]
pub struct ResourcePolicy {
    /// The queue ARNs or the bucket ARN it governs.
    pub resources: Vec<String>,
    pub policy: Policy,
}

/// A template parameter's declaration.
#[derive(Clone, Debug, Default)]
pub struct ParameterSpec {
    pub kind: String,
    pub default: Option<String>,
    pub description: Option<String>,
    pub no_echo: bool,
}

/// What a stack is made from besides the template.
#[derive(Clone, Debug)]
pub struct StackInput {
    pub name: String,
    pub region: String,
    pub account: String,
    /// Parameter values; the template's defaults fill the rest.
    pub parameters: BTreeMap<String, String>,
    /// Where queue URLs point (`{base}/{account}/{name}`, as the emulator makes them).
    pub queue_url_base: String,
    /// Resources created before the stack is resolved, whose identity only
    /// their creation tells (Secrets Manager secrets: their ARNs end in a
    /// random suffix), by logical id.
    pub created: BTreeMap<String, Physical>,
}

/// The template resolved for one stack: every resource's physical identity
/// and every function's configuration.
#[derive(Clone, Debug)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub account: String,
    pub params: BTreeMap<String, Value>,
    pub conditions: BTreeMap<String, bool>,
    pub physical: BTreeMap<String, Physical>,
    pub functions: Vec<FunctionSpec>,
    pub tables: Vec<TableSpec>,
    pub buckets: Vec<BucketSpec>,
    pub queues: Vec<QueueSpec>,
    pub rules: Vec<RuleSpec>,
    pub queue_policies: Vec<ResourcePolicy>,
    pub bucket_policies: Vec<ResourcePolicy>,
    pub api: ApiSpec,
    pub outputs: BTreeMap<String, String>,
}

/// YAML with CloudFormation's short forms → JSON with the long forms.
fn to_json(v: serde_yaml::Value) -> anyhow::Result<Value> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n)?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<anyhow::Result<_>>()?)
        }
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => bail!("a mapping key that is not a string: {other:?}"),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(t.value)?;
            let (key, arg) = match name {
                "Ref" | "Condition" => (name.to_owned(), inner),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (id, attr) = s
                            .split_once('.')
                            .ok_or_else(|| anyhow!("!GetAtt {s} is not Resource.Attribute"))?;
                        ("Fn::GetAtt".to_owned(), serde_json::json!([id, attr]))
                    }
                    other => ("Fn::GetAtt".to_owned(), other),
                },
                other => (format!("Fn::{other}"), inner),
            };
            Value::Object(Map::from_iter([(key, arg)]))
        }
    })
}

fn is_intrinsic(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.len() == 1 && o.keys().all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
    })
}

/// SAM's `Globals`: the function's own primitives win, maps merge, lists add up.
fn merge_globals(global: &Value, own: &Value) -> Value {
    match (global, own) {
        (Value::Object(g), Value::Object(o)) if !is_intrinsic(global) && !is_intrinsic(own) => {
            let mut out = g.clone();
            for (k, v) in o {
                let merged = match g.get(k) {
                    Some(gv) => merge_globals(gv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Value::Array(o)) => Value::Array(g.iter().chain(o).cloned().collect()),
        (_, own) => own.clone(),
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>, what: &str) -> anyhow::Result<Option<u64>> {
    v.map(|v| {
        text_of(v)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| anyhow!("{what} must be a whole number, got {v}"))
    })
    .transpose()
}

fn truthy(v: Option<&Value>) -> bool {
    v.and_then(text_of).is_some_and(|t| t.eq_ignore_ascii_case("true"))
}

/// A Secrets Manager secret the template creates, with the value it generates.
#[derive(Clone, Debug)]
pub struct SecretSpec {
    pub logical_id: String,
    /// `SecretString`, or `GenerateSecretString`'s length (letters and digits).
    pub value: Option<String>,
    pub generated_length: usize,
}

impl Template {
    /// The `AWS::SecretsManager::Secret` resources (whatever their conditions).
    pub fn secrets(&self) -> Vec<SecretSpec> {
        self.resources()
            .into_iter()
            .filter(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::SecretsManager::Secret")
            })
            .map(|(id, r)| SecretSpec {
                logical_id: id,
                value: r
                    .pointer("/Properties/SecretString")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                generated_length: r
                    .pointer("/Properties/GenerateSecretString/PasswordLength")
                    .and_then(Value::as_u64)
                    .unwrap_or(32) as usize,
            })
            .collect()
    }

    pub fn read(path: &Path) -> anyhow::Result<Template> {
        let raw =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&raw)
    }

    pub fn parse(raw: &str) -> anyhow::Result<Template> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(raw).context("parsing template.yaml")?;
        let doc = to_json(yaml)?;
        if !doc.get("Resources").is_some_and(Value::is_object) {
            bail!("template has no Resources");
        }
        Ok(Template { doc })
    }

    fn section(&self, name: &str) -> Map<String, Value> {
        self.doc.get(name).and_then(Value::as_object).cloned().unwrap_or_default()
    }

    pub fn resources(&self) -> Map<String, Value> {
        self.section("Resources")
    }

    /// A resource by logical id, to edit (tests change copies of the template).
    pub fn resource_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.doc.get_mut("Resources")?.get_mut(id)
    }

    pub fn parameters(&self) -> BTreeMap<String, ParameterSpec> {
        self.section("Parameters")
            .into_iter()
            .map(|(name, p)| {
                let spec = ParameterSpec {
                    kind: p.get("Type").and_then(Value::as_str).unwrap_or("String").to_owned(),
                    default: p.get("Default").and_then(text_of),
                    description: p.get("Description").and_then(Value::as_str).map(str::to_owned),
                    no_echo: truthy(p.get("NoEcho")),
                };
                (name, spec)
            })
            .collect()
    }

    /// The HTTP routes, as declared (paths and methods are literal in SAM).
    pub fn routes(&self) -> anyhow::Result<Vec<Route>> {
        let mut routes = Vec::new();
        for (id, res) in self.resources() {
            if res.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let binary = binary_of(&id, &res)?;
            for event in res
                .pointer("/Properties/Events")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|e| e.values())
            {
                if event.get("Type").and_then(Value::as_str) == Some("HttpApi") {
                    routes.push(route_of(event, &binary)?);
                }
            }
        }
        routes.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
        Ok(routes)
    }

    /// Every function binary the template deploys.
    pub fn binaries(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for (id, res) in self.resources() {
            if res.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function") {
                out.push(binary_of(&id, &res)?);
            }
        }
        out.sort();
        Ok(out)
    }
}

fn binary_of(id: &str, res: &Value) -> anyhow::Result<String> {
    res.pointer("/Metadata/BuildProperties/Binary")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{id} has no Metadata.BuildProperties.Binary"))
}

fn route_of(event: &Value, binary: &str) -> anyhow::Result<Route> {
    let method = event
        .pointer("/Properties/Method")
        .and_then(Value::as_str)
        .context("HttpApi event without Method")?;
    let path = event
        .pointer("/Properties/Path")
        .and_then(Value::as_str)
        .context("HttpApi event without Path")?;
    Ok(Route {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        function: binary.to_owned(),
    })
}

/// CloudFormation's checks of a parameter value.
fn validate_parameter(name: &str, decl: &Value, value: &str) -> anyhow::Result<()> {
    let kind = decl.get("Type").and_then(Value::as_str).unwrap_or("String");
    if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_array) {
        if !allowed.iter().filter_map(text_of).any(|a| a == value) {
            bail!("Parameter '{name}' must be one of AllowedValues");
        }
    }
    if let Some(pattern) = decl.get("AllowedPattern").and_then(Value::as_str) {
        let re = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
            .with_context(|| format!("{name}'s AllowedPattern"))?;
        if !re.is_match(value) {
            bail!("Parameter '{name}' must match pattern {pattern}");
        }
    }
    let len = value.chars().count() as u64;
    if number(decl.get("MinLength"), "MinLength")?.is_some_and(|min| len < min)
        || number(decl.get("MaxLength"), "MaxLength")?.is_some_and(|max| len > max)
    {
        bail!("Parameter '{name}' has a length outside MinLength/MaxLength");
    }
    if kind == "Number" {
        let n: f64 = value.parse().map_err(|_| anyhow!("Parameter '{name}' must be a number"))?;
        let bound = |k: &str| decl.get(k).and_then(text_of).and_then(|t| t.parse::<f64>().ok());
        if bound("MinValue").is_some_and(|m| n < m) || bound("MaxValue").is_some_and(|m| n > m) {
            bail!("Parameter '{name}' must be within MinValue/MaxValue");
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl Stack {
    /// Resolves `template` for a stack: refuses missing or invalid
    /// parameters and configurations a deployment would refuse.
    pub fn resolve(template: &Template, input: &StackInput) -> anyhow::Result<Stack> {
        let (region, account) = (input.region.clone(), input.account.clone());
        let mut params: BTreeMap<String, Value> = BTreeMap::from([
            ("AWS::Region".to_owned(), Value::from(region.clone())),
            ("AWS::AccountId".to_owned(), Value::from(account.clone())),
            ("AWS::Partition".to_owned(), Value::from("aws")),
            ("AWS::URLSuffix".to_owned(), Value::from("amazonaws.com")),
            ("AWS::StackName".to_owned(), Value::from(input.name.clone())),
            (
                "AWS::StackId".to_owned(),
                Value::from(format!(
                    "arn:aws:cloudformation:{region}:{account}:stack/{}/local",
                    input.name
                )),
            ),
            ("AWS::NotificationARNs".to_owned(), Value::Array(Vec::new())),
        ]);
        let declared = template.section("Parameters");
        if let Some(unknown) = input.parameters.keys().find(|k| !declared.contains_key(*k)) {
            bail!("Parameters: [{unknown}] do not exist in the template");
        }
        let mut missing = Vec::new();
        for (name, decl) in &declared {
            let Some(value) = input
                .parameters
                .get(name)
                .cloned()
                .or_else(|| decl.get("Default").and_then(text_of))
            else {
                missing.push(name.clone());
                continue;
            };
            validate_parameter(name, decl, &value)?;
            let kind = decl.get("Type").and_then(Value::as_str).unwrap_or("String");
            let v = if kind == "CommaDelimitedList" || kind.starts_with("List<") {
                Value::Array(value.split(',').map(|s| Value::from(s.trim())).collect())
            } else {
                Value::from(value)
            };
            params.insert(name.clone(), v);
        }
        if !missing.is_empty() {
            bail!("Parameters: [{}] must have values", missing.join(", "));
        }

        let mappings = template.section("Mappings");
        let no_resources = BTreeMap::new();
        let mut conditions = BTreeMap::new();
        // CloudFormation's Rules: a failed assertion refuses the deployment.
        for (name, rule) in template.section("Rules") {
            let scope = Scope {
                params: &params,
                resources: &no_resources,
                conditions: &conditions,
                mappings: &mappings,
            };
            let applies = match rule.get("RuleCondition") {
                Some(c) => scope.truth(c).with_context(|| format!("rule {name}"))?,
                None => true,
            };
            for assertion in rule
                .get("Assertions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|_| applies)
            {
                let assert = assertion
                    .get("Assert")
                    .with_context(|| format!("rule {name}: an assertion without Assert"))?;
                if !scope.truth(assert).with_context(|| format!("rule {name}"))? {
                    let why = assertion
                        .get("AssertDescription")
                        .and_then(Value::as_str)
                        .unwrap_or("an assertion failed");
                    bail!("Template rule {name} failed: {why}");
                }
            }
        }
        let declared_conditions = template.section("Conditions");
        while conditions.len() < declared_conditions.len() {
            let before = conditions.len();
            let mut last_error = None;
            for (name, expr) in &declared_conditions {
                if conditions.contains_key(name) {
                    continue;
                }
                let scope = Scope {
                    params: &params,
                    resources: &no_resources,
                    conditions: &conditions,
                    mappings: &mappings,
                };
                match scope.truth(expr) {
                    Ok(t) => {
                        conditions.insert(name.clone(), t);
                    }
                    Err(e) => last_error = Some(e.context(format!("condition {name}"))),
                }
            }
            if conditions.len() == before {
                return Err(last_error
                    .unwrap_or_else(|| anyhow!("conditions refer to each other in a cycle")));
            }
        }

        let resources: Vec<(String, Value)> = template
            .resources()
            .into_iter()
            .filter(|(_, r)| {
                r.get("Condition")
                    .and_then(Value::as_str)
                    .is_none_or(|c| conditions.get(c).copied().unwrap_or(false))
            })
            .collect();
        let mut physical = physical_ids(&resources, input, &params);
        for (id, p) in &input.created {
            if physical.contains_key(id) {
                physical.insert(id.clone(), p.clone());
            }
        }
        let scope = Scope {
            params: &params,
            resources: &physical,
            conditions: &conditions,
            mappings: &mappings,
        };
        let globals =
            template.doc.pointer("/Globals/Function").cloned().unwrap_or(Value::Object(Map::new()));

        let mut stack = Stack {
            name: input.name.clone(),
            region,
            account,
            params: params.clone(),
            conditions: conditions.clone(),
            physical: physical.clone(),
            functions: Vec::new(),
            tables: Vec::new(),
            buckets: Vec::new(),
            queues: Vec::new(),
            rules: Vec::new(),
            queue_policies: Vec::new(),
            bucket_policies: Vec::new(),
            api: ApiSpec { stage: "$default".into(), ..Default::default() },
            outputs: BTreeMap::new(),
        };
        let queue_by_arn: BTreeMap<String, String> = resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::SQS::Queue"))
            .filter_map(|(id, _)| {
                Some((physical.get(id)?.attributes.get("Arn")?.clone(), id.clone()))
            })
            .collect();
        for (id, res) in &resources {
            let kind = res.get("Type").and_then(Value::as_str).unwrap_or_default();
            let props = res.get("Properties").cloned().unwrap_or(Value::Object(Map::new()));
            let p = &physical[id];
            let arn = p.attributes.get("Arn").cloned().unwrap_or_default();
            let ctx = || format!("resource {id}");
            match kind {
                "AWS::Serverless::Function" => {
                    let merged = merge_globals(&globals, &props);
                    let spec =
                        function_spec(id, res, &merged, &scope, &queue_by_arn).with_context(ctx)?;
                    stack.functions.push(spec);
                }
                "AWS::SQS::Queue" => {
                    let props = scope.value(&props).with_context(ctx)?;
                    let redrive = match props.get("RedrivePolicy") {
                        None => None,
                        Some(r) => {
                            let target = r
                                .get("deadLetterTargetArn")
                                .and_then(Value::as_str)
                                .context("RedrivePolicy without deadLetterTargetArn")?;
                            let dlq = queue_by_arn.get(target).cloned().with_context(|| {
                                format!("{id}'s dead-letter queue {target} is not in the stack")
                            })?;
                            let max = number(r.get("maxReceiveCount"), "maxReceiveCount")?
                                .context("RedrivePolicy without maxReceiveCount")?;
                            if !(1..=1000).contains(&max) {
                                bail!("{id}: maxReceiveCount must be 1-1000");
                            }
                            Some((dlq, max as u32))
                        }
                    };
                    let visibility_timeout =
                        number(props.get("VisibilityTimeout"), "VisibilityTimeout")?.unwrap_or(30);
                    let maximum_message_size =
                        number(props.get("MaximumMessageSize"), "MaximumMessageSize")?
                            .unwrap_or(262_144);
                    if visibility_timeout > 43_200
                        || !(1024..=1_048_576).contains(&maximum_message_size)
                    {
                        bail!("{id}: VisibilityTimeout must be 0-43200 and MaximumMessageSize 1024-1048576");
                    }
                    stack.queues.push(QueueSpec {
                        logical_id: id.clone(),
                        name: p.attributes["QueueName"].clone(),
                        arn,
                        url: p.reference.clone(),
                        fifo: truthy(props.get("FifoQueue")),
                        content_based_deduplication: truthy(props.get("ContentBasedDeduplication")),
                        visibility_timeout: visibility_timeout as u32,
                        maximum_message_size: maximum_message_size as u32,
                        retention: number(
                            props.get("MessageRetentionPeriod"),
                            "MessageRetentionPeriod",
                        )?
                        .unwrap_or(345_600) as u32,
                        redrive,
                    });
                }
                "AWS::DynamoDB::Table" => stack.tables.push(TableSpec {
                    logical_id: id.clone(),
                    name: p.reference.clone(),
                    arn,
                    properties: scope.value(&props).with_context(ctx)?,
                }),
                "AWS::S3::Bucket" => stack.buckets.push(BucketSpec {
                    logical_id: id.clone(),
                    name: p.reference.clone(),
                    arn,
                }),
                "AWS::Serverless::HttpApi" => {
                    let props = scope.value(&props).with_context(ctx)?;
                    let throttle = |v: &Value| -> Option<Throttle> {
                        let f = |k: &str| {
                            v.get(k).and_then(text_of).and_then(|t| t.parse::<f64>().ok())
                        };
                        Some(Throttle {
                            rate: f("ThrottlingRateLimit")?,
                            burst: f("ThrottlingBurstLimit")?,
                        })
                    };
                    stack.api = ApiSpec {
                        stage: props
                            .get("StageName")
                            .and_then(text_of)
                            .unwrap_or_else(|| "$default".into()),
                        throttle: props.get("DefaultRouteSettings").and_then(throttle),
                        route_throttles: props
                            .get("RouteSettings")
                            .and_then(Value::as_object)
                            .into_iter()
                            .flatten()
                            .filter_map(|(route, v)| Some((route.clone(), throttle(v)?)))
                            .collect(),
                        access_log_format: props
                            .pointer("/AccessLogSettings/Format")
                            .and_then(text_of),
                    };
                }
                "AWS::Events::Rule" => {
                    let props = scope.value(&props).with_context(ctx)?;
                    let targets = props
                        .get("Targets")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            let arn = t
                                .get("Arn")
                                .and_then(Value::as_str)
                                .context("a rule target without Arn")?
                                .to_owned();
                            Ok((arn, t.pointer("/SqsParameters/MessageGroupId").and_then(text_of)))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    stack.rules.push(RuleSpec {
                        logical_id: id.clone(),
                        arn,
                        bus: props
                            .get("EventBusName")
                            .and_then(text_of)
                            .unwrap_or_else(|| "default".into()),
                        pattern: props
                            .get("EventPattern")
                            .cloned()
                            .context("a rule without EventPattern")?,
                        enabled: props
                            .get("State")
                            .and_then(Value::as_str)
                            .is_none_or(|s| s == "ENABLED"),
                        targets,
                    });
                }
                "AWS::SQS::QueuePolicy" | "AWS::S3::BucketPolicy" => {
                    let props = scope.value(&props).with_context(ctx)?;
                    let mut policy = Policy::default();
                    policy.add_document(
                        props.get("PolicyDocument").context("a policy without PolicyDocument")?,
                        id,
                    )?;
                    if kind == "AWS::SQS::QueuePolicy" {
                        let urls: Vec<String> = props
                            .get("Queues")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(text_of)
                            .collect();
                        let resources = urls
                            .iter()
                            .map(|u| {
                                physical
                                    .values()
                                    .find(|p| p.reference == *u)
                                    .and_then(|p| p.attributes.get("Arn").cloned())
                                    .with_context(|| {
                                        format!("{id}: {u} is not a queue of the stack")
                                    })
                            })
                            .collect::<anyhow::Result<_>>()?;
                        stack.queue_policies.push(ResourcePolicy { resources, policy });
                    } else {
                        let bucket = props
                            .get("Bucket")
                            .and_then(text_of)
                            .context("a bucket policy without Bucket")?;
                        stack.bucket_policies.push(ResourcePolicy {
                            resources: vec![format!("arn:aws:s3:::{bucket}")],
                            policy,
                        });
                    }
                }
                _ => {}
            }
        }
        for (name, out) in template.section("Outputs") {
            if out
                .get("Condition")
                .and_then(Value::as_str)
                .is_some_and(|c| !conditions.get(c).copied().unwrap_or(false))
            {
                continue;
            }
            if let Some(v) = out.get("Value") {
                stack.outputs.insert(
                    name.clone(),
                    scope.string(v).with_context(|| format!("output {name}"))?,
                );
            }
        }
        stack.check_event_sources()?;
        Ok(stack)
    }

    /// What Lambda refuses when it creates an SQS event source mapping.
    fn check_event_sources(&self) -> anyhow::Result<()> {
        for f in &self.functions {
            for s in &f.queue_sources {
                let q = self.queue(&s.queue)?;
                if u64::from(q.visibility_timeout) < f.timeout.as_secs() {
                    bail!(
                        "{}: Queue visibility timeout: {} seconds is less than Function timeout: {} seconds",
                        f.logical_id,
                        q.visibility_timeout,
                        f.timeout.as_secs()
                    );
                }
                if q.fifo && (s.batch_size > 10 || !s.batching_window.is_zero()) {
                    bail!(
                        "{}: a FIFO queue takes a BatchSize of at most 10 and no batching window",
                        f.logical_id
                    );
                }
            }
        }
        Ok(())
    }

    pub fn queue(&self, logical_id: &str) -> anyhow::Result<&QueueSpec> {
        self.queues
            .iter()
            .find(|q| q.logical_id == logical_id)
            .with_context(|| format!("no queue {logical_id} in the stack"))
    }

    pub fn function(&self, binary: &str) -> anyhow::Result<&FunctionSpec> {
        self.functions
            .iter()
            .find(|f| f.binary == binary)
            .with_context(|| format!("no function {binary} in the template"))
    }

    /// Every route of every function, sorted by path.
    pub fn routes(&self) -> Vec<Route> {
        let mut routes: Vec<Route> =
            self.functions.iter().flat_map(|f| f.routes.iter().cloned()).collect();
        routes.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
        routes
    }

    /// The logical id (or parameter name) an ARN belongs to, for reports
    /// (`Table`, `Table/index/*`, `AttachmentsBucket/*`, `JwtSecretArn`), and
    /// the ARN with an index's name or an object's key as `*`.
    pub fn name_of(&self, arn: &str) -> (String, String) {
        for (id, p) in &self.physical {
            let Some(own) = p.attributes.get("Arn") else { continue };
            if arn == own {
                return (id.clone(), arn.to_owned());
            }
            if let Some(rest) = arn.strip_prefix(own.as_str()).filter(|r| r.starts_with('/')) {
                let sub = if rest.starts_with("/index/") { "/index/*" } else { "/*" };
                return (format!("{id}{sub}"), format!("{own}{sub}"));
            }
        }
        // A resource whose reference is its ARN (a secret created before the stack).
        if let Some((id, _)) = self.physical.iter().find(|(_, p)| p.reference == arn) {
            return (id.clone(), arn.to_owned());
        }
        let param = self
            .params
            .iter()
            .find(|(name, v)| v.as_str() == Some(arn) && !name.starts_with("AWS::"));
        (param.map_or_else(|| arn.to_owned(), |(name, _)| name.clone()), arn.to_owned())
    }
}

/// Physical names and attributes of every resource, as CloudFormation would
/// give them (names derive from the stack name and logical id).
fn physical_ids(
    resources: &[(String, Value)],
    input: &StackInput,
    params: &BTreeMap<String, Value>,
) -> BTreeMap<String, Physical> {
    let (region, account, stack) = (&input.region, &input.account, &input.name);
    let mut out = BTreeMap::new();
    let named = |props: Option<&Value>, key: &str| {
        props.and_then(|p| p.get(key)).and_then(Value::as_str).map(str::to_owned)
    };
    for (id, res) in resources {
        let kind = res.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = res.get("Properties");
        let default_name = truncate(&format!("{stack}-{id}"), 64);
        let attrs = |pairs: &[(&str, String)]| {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<BTreeMap<_, _>>()
        };
        let p = match kind {
            "AWS::DynamoDB::Table" => {
                let name = named(props, "TableName").unwrap_or(default_name);
                let arn = format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
                Physical {
                    attributes: attrs(&[
                        ("Arn", arn.clone()),
                        ("StreamArn", format!("{arn}/stream/local")),
                    ]),
                    reference: name,
                }
            }
            "AWS::S3::Bucket" => {
                let name = named(props, "BucketName")
                    .unwrap_or_else(|| truncate(&format!("{stack}-{id}").to_ascii_lowercase(), 63));
                Physical {
                    attributes: attrs(&[
                        ("Arn", format!("arn:aws:s3:::{name}")),
                        ("DomainName", format!("{name}.s3.amazonaws.com")),
                        ("RegionalDomainName", format!("{name}.s3.{region}.amazonaws.com")),
                    ]),
                    reference: name,
                }
            }
            "AWS::SQS::Queue" => {
                let fifo = props.map(|p| truthy(p.get("FifoQueue"))).unwrap_or(false);
                let name = named(props, "QueueName").unwrap_or_else(|| {
                    let base = truncate(&format!("{stack}-{id}"), 75);
                    if fifo {
                        format!("{base}.fifo")
                    } else {
                        base
                    }
                });
                let url =
                    format!("{}/{account}/{name}", input.queue_url_base.trim_end_matches('/'));
                Physical {
                    attributes: attrs(&[
                        ("Arn", format!("arn:aws:sqs:{region}:{account}:{name}")),
                        ("QueueName", name.clone()),
                        ("QueueUrl", url.clone()),
                    ]),
                    reference: url,
                }
            }
            "AWS::Serverless::Function" => {
                let name = named(props, "FunctionName").unwrap_or(default_name);
                Physical {
                    attributes: attrs(&[(
                        "Arn",
                        format!("arn:aws:lambda:{region}:{account}:function:{name}"),
                    )]),
                    reference: name,
                }
            }
            "AWS::Events::Rule" => {
                // A rule on a custom bus has the bus in its ARN.
                let bus = props.and_then(|p| p.get("EventBusName")).and_then(|b| {
                    match b.get("Ref").and_then(Value::as_str) {
                        Some(param) => params.get(param).and_then(Value::as_str).map(str::to_owned),
                        None => b.as_str().map(str::to_owned),
                    }
                });
                let name = named(props, "Name").unwrap_or(default_name);
                let arn = match bus.filter(|b| b != "default") {
                    Some(bus) => format!("arn:aws:events:{region}:{account}:rule/{bus}/{name}"),
                    None => format!("arn:aws:events:{region}:{account}:rule/{name}"),
                };
                Physical { attributes: attrs(&[("Arn", arn)]), reference: name }
            }
            "AWS::SNS::Topic" => {
                let arn = format!("arn:aws:sns:{region}:{account}:{default_name}");
                Physical {
                    attributes: attrs(&[("TopicName", default_name), ("TopicArn", arn.clone())]),
                    reference: arn,
                }
            }
            "AWS::Serverless::HttpApi" => {
                Physical { reference: "local".into(), attributes: BTreeMap::new() }
            }
            "AWS::Logs::LogGroup" => {
                let name = named(props, "LogGroupName").unwrap_or(default_name);
                Physical {
                    attributes: attrs(&[(
                        "Arn",
                        format!("arn:aws:logs:{region}:{account}:log-group:{name}:*"),
                    )]),
                    reference: name,
                }
            }
            _ => Physical { reference: default_name, attributes: BTreeMap::new() },
        };
        out.insert(id.clone(), p);
        if kind == "AWS::Serverless::Function" {
            // SAM's implicit execution role.
            let role = truncate(&format!("{stack}-{id}Role"), 64);
            out.insert(
                format!("{id}Role"),
                Physical {
                    attributes: attrs(&[("Arn", format!("arn:aws:iam::{account}:role/{role}"))]),
                    reference: role,
                },
            );
        }
    }
    out
}

fn function_spec(
    id: &str,
    res: &Value,
    merged: &Value,
    scope: &Scope,
    queue_by_arn: &BTreeMap<String, String>,
) -> anyhow::Result<FunctionSpec> {
    let binary = binary_of(id, res)?;
    if merged.get("Role").is_some() {
        bail!("a function with its own Role: the local stack needs its Policies");
    }
    let own = &scope.resources[id];
    let name = own.reference.clone();
    let role = &scope.resources[&format!("{id}Role")];

    let mut environment = BTreeMap::new();
    if let Some(vars) = merged.pointer("/Environment/Variables") {
        let vars = scope.value(vars).context("Environment")?;
        for (k, v) in vars.as_object().context("Environment.Variables must be a map")? {
            let v = text_of(v)
                .with_context(|| format!("the environment variable {k} must be a string"))?;
            let valid = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || k.len() < 2 {
                bail!("{k} is not a valid environment variable name for Lambda");
            }
            if RESERVED_VARIABLES.contains(&k.as_str()) {
                bail!("Lambda reserves the environment variable {k}");
            }
            environment.insert(k.clone(), v);
        }
    }
    let size: usize = environment.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ENVIRONMENT_LIMIT {
        bail!(
            "its environment is {size} bytes; Lambda allows {ENVIRONMENT_LIMIT} (keys and values)"
        );
    }

    let prop = |k: &str| -> anyhow::Result<Option<Value>> {
        merged.get(k).map(|v| scope.value(v)).transpose()
    };
    let timeout = number(prop("Timeout")?.as_ref(), "Timeout")?.unwrap_or(3);
    let memory = number(prop("MemorySize")?.as_ref(), "MemorySize")?.unwrap_or(128);
    if !(1..=900).contains(&timeout) || !(128..=10_240).contains(&memory) {
        bail!("Timeout must be 1-900 seconds and MemorySize 128-10240 MB");
    }
    let reserved =
        number(prop("ReservedConcurrentExecutions")?.as_ref(), "ReservedConcurrentExecutions")?
            .map(|n| n as u32);
    let logging = prop("LoggingConfig")?;

    let mut routes = Vec::new();
    let mut queue_sources = Vec::new();
    for (event_id, event) in merged.get("Events").and_then(Value::as_object).into_iter().flatten() {
        match event.get("Type").and_then(Value::as_str) {
            Some("HttpApi") => routes.push(route_of(event, &binary)?),
            Some("SQS") => {
                let p = scope
                    .value(event.get("Properties").context("an SQS event without Properties")?)?;
                let arn =
                    p.get("Queue").and_then(Value::as_str).context("an SQS event without Queue")?;
                let queue = queue_by_arn.get(arn).cloned().with_context(|| {
                    format!("event {event_id}: {arn} is not a queue of the stack")
                })?;
                let batch_size = number(p.get("BatchSize"), "BatchSize")?.unwrap_or(10);
                let window = number(
                    p.get("MaximumBatchingWindowInSeconds"),
                    "MaximumBatchingWindowInSeconds",
                )?
                .unwrap_or(0);
                if !(1..=10_000).contains(&batch_size)
                    || window > 300
                    || (batch_size > 10 && window == 0)
                {
                    bail!("event {event_id}: BatchSize must be 1-10 (up to 10000 with a batching window of at most 300 s)");
                }
                let maximum_concurrency =
                    number(p.pointer("/ScalingConfig/MaximumConcurrency"), "MaximumConcurrency")?
                        .map(|n| n as u32);
                if maximum_concurrency.is_some_and(|m| !(2..=1000).contains(&m)) {
                    bail!("event {event_id}: ScalingConfig.MaximumConcurrency must be 2-1000");
                }
                let responses: Vec<String> = p
                    .get("FunctionResponseTypes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(text_of)
                    .collect();
                queue_sources.push(QueueSource {
                    queue,
                    function: binary.clone(),
                    batch_size: batch_size as u32,
                    batching_window: Duration::from_secs(window),
                    report_batch_item_failures: responses
                        .iter()
                        .any(|r| r == "ReportBatchItemFailures"),
                    enabled: p.get("Enabled").is_none_or(|e| truthy(Some(e))),
                    maximum_concurrency,
                });
            }
            other => bail!("event {event_id}: the local stack does not emulate {other:?} events"),
        }
    }

    let mut policy = Policy::default();
    policy.add_managed("AWSLambdaBasicExecutionRole")?;
    if !queue_sources.is_empty() {
        policy.add_managed("AWSLambdaSQSQueueExecutionRole")?;
    }
    match prop("Policies")? {
        None => {}
        Some(Value::Array(entries)) => {
            for (i, e) in entries.iter().enumerate() {
                policy.add_sam_entry(e, i, scope.params)?;
            }
        }
        Some(one) => policy.add_sam_entry(&one, 0, scope.params)?,
    }

    Ok(FunctionSpec {
        logical_id: id.to_owned(),
        binary,
        arn: own.attributes["Arn"].clone(),
        role_arn: role.attributes["Arn"].clone(),
        name,
        environment,
        timeout: Duration::from_secs(timeout),
        memory_mb: memory as u32,
        reserved_concurrency: reserved,
        log_format: logging.as_ref().and_then(|l| l.get("LogFormat")).and_then(text_of),
        log_level: logging.as_ref().and_then(|l| l.get("ApplicationLogLevel")).and_then(text_of),
        policy,
        routes,
        queue_sources,
    })
}

/// Matches a request path against a route path with `{name}` segments;
/// returns the (percent-decoded) path parameters.
pub fn match_path(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_matches('/').split('/').collect();
    if pat.len() != got.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, g) in pat.iter().zip(got) {
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if g.is_empty() {
                return None;
            }
            let value: String = serde_urlencoded::from_str::<Vec<(String, String)>>(&format!(
                "v={}",
                g.replace('+', "%2B")
            ))
            .ok()?
            .pop()?
            .1;
            params.push((name.to_owned(), value));
        } else if *p != g {
            return None;
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Secret:
    Type: String
    AllowedPattern: "^arn:.+$"
  Mode:
    Type: String
    Default: a
    AllowedValues: [a, b]
  Optional:
    Type: String
    Default: ""
Rules:
  OptionalOnlyLocally:
    RuleCondition: !Not [!Equals [!Ref Optional, ""]]
    Assertions:
      - Assert: !Equals [!Ref "AWS::AccountId", "123456789012"]
        AssertDescription: Optional is for the emulator's account only
Conditions:
  HasOptional: !Not [!Equals [!Ref Optional, ""]]
Globals:
  Function:
    Timeout: 10
    Environment:
      Variables:
        TABLE: !Ref Table
        MODE: !Ref Mode
Resources:
  A:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: authenticate } }
    Properties:
      Environment:
        Variables:
          EXTRA: !If [HasOptional, !Ref Optional, !Ref AWS::NoValue]
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Table.Arn
        - AWSSecretsManagerGetSecretValuePolicy: { SecretArn: !Ref Secret }
      Events:
        Api: { Type: HttpApi, Properties: { Path: /v1/authenticate, Method: post } }
  W:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: to-desk-worker } }
    Properties:
      Timeout: 30
      Events:
        Q: { Type: SQS, Properties: { Queue: !GetAtt Q.Arn, BatchSize: 10, FunctionResponseTypes: [ReportBatchItemFailures] } }
  Table:
    Type: AWS::DynamoDB::Table
  Q:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      VisibilityTimeout: 180
      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 7 }
  Dlq:
    Type: AWS::SQS::Queue
    Properties: { FifoQueue: true }
"#;

    fn input(params: &[(&str, &str)]) -> StackInput {
        StackInput {
            name: "s".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            parameters: params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            queue_url_base: "http://127.0.0.1:5000".into(),
            created: BTreeMap::new(),
        }
    }

    #[test]
    fn when_path_has_parameters_should_match_and_decode_them() {
        assert_eq!(
            match_path("/v1/context/{userID}", "/v1/context/52%2B1"),
            Some(vec![("userID".into(), "52+1".into())])
        );
        assert_eq!(match_path("/v1/context/{userID}", "/v1/context/"), None);
        assert_eq!(match_path("/v1/tokens/check", "/v1/tokens/check"), Some(vec![]));
        assert_eq!(match_path("/v1/tokens/check", "/v1/tokens/other"), None);
    }

    #[test]
    fn when_a_stack_is_resolved_should_give_each_function_its_own_configuration() {
        let t = Template::parse(TEMPLATE).unwrap();
        let s = Stack::resolve(
            &t,
            &input(&[(
                "Secret",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf",
            )]),
        )
        .unwrap();
        let a = s.function("authenticate").unwrap();
        assert_eq!(
            a.environment,
            BTreeMap::from([("MODE".into(), "a".into()), ("TABLE".into(), "s-Table".into())])
        );
        assert_eq!(a.timeout, Duration::from_secs(10));
        assert_eq!(a.memory_mb, 128);
        assert_eq!(
            a.routes,
            vec![Route {
                method: "POST".into(),
                path: "/v1/authenticate".into(),
                function: "authenticate".into()
            }]
        );
        let ctx = policy::RequestContext { principal: a.role_arn.clone(), ..Default::default() };
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/s-Table";
        assert_eq!(a.policy.decide("dynamodb:GetItem", table, &ctx), policy::Decision::Allow);
        assert_eq!(
            a.policy.decide("dynamodb:PutItem", table, &ctx),
            policy::Decision::ImplicitDeny
        );
        let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf";
        assert_eq!(
            a.policy.decide("secretsmanager:GetSecretValue", secret, &ctx),
            policy::Decision::Allow
        );

        let w = s.function("to-desk-worker").unwrap();
        assert_eq!(w.timeout, Duration::from_secs(30));
        assert_eq!(w.queue_sources[0].queue, "Q");
        assert!(w.queue_sources[0].report_batch_item_failures);
        let q = s.queue("Q").unwrap();
        assert_eq!(
            (q.name.as_str(), q.visibility_timeout, q.redrive.clone()),
            ("s-Q.fifo", 180, Some(("Dlq".into(), 7)))
        );
        assert_eq!(q.url, "http://127.0.0.1:5000/123456789012/s-Q.fifo");
        // SAM gives a worker its event source's rights.
        assert_eq!(w.policy.decide("sqs:ReceiveMessage", &q.arn, &ctx), policy::Decision::Allow);
        assert_eq!(
            s.name_of(&format!("{table}/index/GSI1")),
            ("Table/index/*".to_owned(), format!("{table}/index/*"))
        );
        assert_eq!(s.name_of(secret).0, "Secret");

        let with = Stack::resolve(&t, &input(&[("Secret", "arn:x"), ("Optional", "yes")])).unwrap();
        assert_eq!(
            with.function("authenticate").unwrap().environment.get("EXTRA").map(String::as_str),
            Some("yes")
        );
    }

    #[test]
    fn when_the_template_or_parameters_break_a_deployment_rule_should_refuse_as_aws() {
        let t = Template::parse(TEMPLATE).unwrap();
        let err = |params: &[(&str, &str)], t: &Template| {
            format!("{:#}", Stack::resolve(t, &input(params)).unwrap_err())
        };
        assert!(err(&[], &t).contains("Parameters: [Secret] must have values"));
        assert!(err(&[("Secret", "nope")], &t).contains("must match pattern"));
        assert!(err(&[("Secret", "arn:x"), ("Mode", "c")], &t).contains("AllowedValues"));
        assert!(err(&[("Secret", "arn:x"), ("Nope", "1")], &t).contains("do not exist"));

        let mut short_visibility = t.clone();
        short_visibility.resource_mut("Q").unwrap()["Properties"]["VisibilityTimeout"] = 20.into();
        assert!(err(&[("Secret", "arn:x")], &short_visibility)
            .contains("is less than Function timeout"));

        let mut big_env = t.clone();
        big_env.resource_mut("A").unwrap()["Properties"]["Environment"]["Variables"]["BIG"] =
            "x".repeat(4100).into();
        assert!(err(&[("Secret", "arn:x")], &big_env).contains("Lambda allows 4096"));

        let mut elsewhere = input(&[("Secret", "arn:x"), ("Optional", "yes")]);
        elsewhere.account = "999999999999".into();
        assert!(format!("{:#}", Stack::resolve(&t, &elsewhere).unwrap_err())
            .contains("Optional is for the emulator's account only"));

        let mut reserved = t.clone();
        reserved.resource_mut("A").unwrap()["Properties"]["Environment"]["Variables"]
            ["AWS_REGION"] = "eu-west-1".into();
        assert!(err(&[("Secret", "arn:x")], &reserved).contains("reserves"));
    }
}

#[cfg(test)]
mod deployed_template {
    use super::*;

    /// With values as long as a real deployment's (account, stack and queue
    /// names, secret ARNs, URLs), every function's environment still fits
    /// Lambda's 4 KB.
    #[test]
    fn when_the_template_is_deployed_with_real_length_values_should_fit_every_function_environment()
    {
        let t = Template::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .unwrap();
        let arn = |n: &str| {
            format!("arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:omnibridge-production/{n}-AbCdEf")
        };
        let mut parameters: BTreeMap<String, String> = t
            .parameters()
            .into_keys()
            .filter(|p| p.ends_with("SecretArn"))
            .map(|p| (p.clone(), arn(&p)))
            .collect();
        for (k, v) in [
            ("YaloApiUrl", "https://api-global.yalochat.com/integrations/v2"),
            ("SalesforceApiUrl", "https://omnibridge-production-org.my.salesforce-scrt.com"),
            ("SalesforceConsumerKey", "3MVG9JZ_r.QzrS7izXVWrETc3vyjHpv9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789AbCdEfGhIjKlMnOp"),
            ("SalesforceUsername", "integration.user@omnibridge-production-org.example.com"),
            ("SalesforceOrgId", "00D5g000004ABCDEAA"),
            ("SalesforceAuthorizationContext", "Omnibridge_Production_ChannelDefinition"),
            ("SalesforceChannelAddressId", "b0ffeafe-0d89-4338-b14a-172ad203f22a"),
            ("SalesforceEventBusName", "aws.partner/salesforce.com/00D5g000004ABCDEAA/0YL5g000000ABCDEFG"),
            ("PublicUrl", "https://messaging-hub.omnibridge-production.example.com"),
            ("DeskByBot", "shop-bot=pipedrive:wa-main;help-bot=yeahdesk;coppel-bot=salesforce"),
            ("SalesforceRoutingByBot", "coppel-bot=queue:00G5g000003ABCD;coppel-msn=flow:3005g000000ABCD:00G5g000003ABCE"),
            ("YeahdeskChannelId", "5cc2f62000568c04afdc0c5e"),
        ] {
            parameters.insert(k.into(), v.into());
        }
        let input = StackInput {
            name: "omnibridge-production".into(),
            region: "ap-southeast-2".into(),
            account: "123456789012".into(),
            parameters,
            queue_url_base: "https://sqs.ap-southeast-2.amazonaws.com".into(),
            created: BTreeMap::new(),
        };
        let stack = Stack::resolve(&t, &input).unwrap_or_else(|e| panic!("{e:#}"));
        let largest = stack
            .functions
            .iter()
            .map(|f| {
                (f.environment.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>(), &f.binary)
            })
            .max()
            .unwrap();
        assert!(largest.0 <= ENVIRONMENT_LIMIT, "{largest:?}");
        println!("the largest environment: {} bytes ({})", largest.0, largest.1);
    }
}
