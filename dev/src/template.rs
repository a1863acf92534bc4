//! Reads the routes and queue sources that template.yaml declares, so the
//! local runner serves exactly what a deployment serves.

use anyhow::{bail, Context};
use omnibridge::ports::QueueName;
use serde_yaml::Value;
use std::path::Path;

/// An HTTP API route and the function (binary) behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

/// An SQS event source and the worker function behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSource {
    pub queue: QueueName,
    pub function: String,
}

#[derive(Clone, Debug, Default)]
pub struct Template {
    pub routes: Vec<Route>,
    pub queues: Vec<QueueSource>,
}

/// The logical ids of the two queues in template.yaml.
pub fn queue_of_logical_id(id: &str) -> Option<QueueName> {
    match id {
        "ToDeskQueue" => Some(QueueName::ToDesk),
        "ToCustomerQueue" => Some(QueueName::ToCustomer),
        "SalesforceEventsQueue" => Some(QueueName::SalesforceEvents),
        _ => None,
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str)
}

/// `!GetAtt X.Arn` or `{"Fn::GetAtt": [X, Arn]}`: the logical id X.
fn get_att_target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "!GetAtt" => t.value.as_str().and_then(|s| s.split('.').next()).map(str::to_owned),
        Value::Mapping(m) => m.get("Fn::GetAtt").and_then(|a| a.get(0)).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

impl Template {
    pub fn read(path: &Path) -> anyhow::Result<Template> {
        let raw = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&raw)
    }

    pub fn parse(raw: &str) -> anyhow::Result<Template> {
        let doc: Value = serde_yaml::from_str(raw).context("parsing template.yaml")?;
        let resources = doc.get("Resources").and_then(Value::as_mapping).context("template has no Resources")?;
        let mut out = Template::default();
        for (id, res) in resources {
            if text(res, &["Type"]) != Some("AWS::Serverless::Function") {
                continue;
            }
            let id = id.as_str().unwrap_or("?");
            let function = text(res, &["Metadata", "BuildProperties", "Binary"])
                .with_context(|| format!("{id} has no Metadata.BuildProperties.Binary"))?
                .to_owned();
            let Some(events) = res.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping) else {
                continue;
            };
            for event in events.values() {
                match text(event, &["Type"]) {
                    Some("HttpApi") => {
                        let method = text(event, &["Properties", "Method"]).context("HttpApi event without Method")?;
                        let path = text(event, &["Properties", "Path"]).context("HttpApi event without Path")?;
                        out.routes.push(Route {
                            method: method.to_ascii_uppercase(),
                            path: path.to_owned(),
                            function: function.clone(),
                        });
                    }
                    Some("SQS") => {
                        let target = event
                            .get("Properties")
                            .and_then(|p| p.get("Queue"))
                            .and_then(get_att_target)
                            .with_context(|| format!("{id}: SQS event without !GetAtt Queue"))?;
                        let Some(queue) = queue_of_logical_id(&target) else { bail!("{id}: unknown queue {target}") };
                        out.queues.push(QueueSource { queue, function: function.clone() });
                    }
                    _ => {}
                }
            }
        }
        out.routes.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
        Ok(out)
    }
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
            let value: String = serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={}", g.replace('+', "%2B")))
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

    #[test]
    fn when_path_has_parameters_should_match_and_decode_them() {
        assert_eq!(match_path("/v1/context/{userID}", "/v1/context/52%2B1"), Some(vec![("userID".into(), "52+1".into())]));
        assert_eq!(match_path("/v1/context/{userID}", "/v1/context/"), None);
        assert_eq!(match_path("/v1/tokens/check", "/v1/tokens/check"), Some(vec![]));
        assert_eq!(match_path("/v1/tokens/check", "/v1/tokens/other"), None);
    }

    #[test]
    fn when_template_declares_routes_and_queues_should_read_them() {
        let t = Template::parse(
            r#"
Resources:
  A:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: authenticate } }
    Properties:
      Events:
        Api: { Type: HttpApi, Properties: { Path: /v1/authenticate, Method: post } }
  W:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: to-desk-worker } }
    Properties:
      Events:
        Q: { Type: SQS, Properties: { Queue: !GetAtt ToDeskQueue.Arn } }
"#,
        )
        .unwrap();
        assert_eq!(t.routes, vec![Route { method: "POST".into(), path: "/v1/authenticate".into(), function: "authenticate".into() }]);
        assert_eq!(t.queues, vec![QueueSource { queue: QueueName::ToDesk, function: "to-desk-worker".into() }]);
    }
}
