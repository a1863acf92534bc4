//! CloudFormation's intrinsic functions, evaluated as a deployment would:
//! `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If` and the condition functions,
//! `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::Base64`.
//! A value that is `AWS::NoValue` comes back as `None`, and an object key or
//! list item holding it disappears, as in CloudFormation.

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a resource answers to `Ref` and `Fn::GetAtt`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Physical {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// Everything an expression may refer to.
pub struct Scope<'a> {
    /// Template parameters (given or defaulted) and the pseudo parameters.
    pub params: &'a BTreeMap<String, Value>,
    pub resources: &'a BTreeMap<String, Physical>,
    pub conditions: &'a BTreeMap<String, bool>,
    pub mappings: &'a Map<String, Value>,
}

/// The one key of an intrinsic function object, and its argument.
fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let (k, arg) = o.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), arg))
}

fn text(v: &Value, what: &str) -> anyhow::Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => bail!("{what} must be a string, got {other}"),
    }
}

fn args<'v>(v: &'v Value, n: usize, name: &str) -> anyhow::Result<&'v [Value]> {
    match v.as_array() {
        Some(a) if a.len() == n => Ok(a),
        _ => bail!("{name} takes a list of {n}, got {v}"),
    }
}

impl Scope<'_> {
    /// Evaluates `v`; `None` is `AWS::NoValue`.
    pub fn resolve(&self, v: &Value) -> anyhow::Result<Option<Value>> {
        if let Some((name, arg)) = intrinsic(v) {
            return self.call(name, arg).with_context(|| format!("evaluating {name}"));
        }
        Ok(Some(match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(r) = self.resolve(item)? {
                        out.push(r);
                    }
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, item) in map {
                    if let Some(r) = self.resolve(item).with_context(|| format!("in {k}"))? {
                        out.insert(k.clone(), r);
                    }
                }
                Value::Object(out)
            }
            scalar => scalar.clone(),
        }))
    }

    /// Evaluates `v`, which must not be `AWS::NoValue`.
    pub fn value(&self, v: &Value) -> anyhow::Result<Value> {
        self.resolve(v)?.ok_or_else(|| anyhow!("AWS::NoValue where a value is needed"))
    }

    /// Evaluates `v` to a string.
    pub fn string(&self, v: &Value) -> anyhow::Result<String> {
        text(&self.value(v)?, "the value")
    }

    /// A condition of the template's `Conditions`, by name.
    pub fn condition(&self, name: &str) -> anyhow::Result<bool> {
        self.conditions.get(name).copied().ok_or_else(|| anyhow!("no condition named {name}"))
    }

    /// Evaluates a condition expression (`Fn::Equals`, `Fn::Not`, ...).
    pub fn truth(&self, v: &Value) -> anyhow::Result<bool> {
        match self.value(v)? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            other => bail!("a condition must be true or false, got {other}"),
        }
    }

    fn reference(&self, name: &str) -> anyhow::Result<Option<Value>> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(p) = self.params.get(name) {
            return Ok(Some(p.clone()));
        }
        if let Some(r) = self.resources.get(name) {
            return Ok(Some(Value::String(r.reference.clone())));
        }
        bail!("Ref to {name}, which is neither a parameter nor a resource")
    }

    fn attribute(&self, id: &str, attr: &str) -> anyhow::Result<String> {
        let r = self
            .resources
            .get(id)
            .ok_or_else(|| anyhow!("Fn::GetAtt of {id}, which is not a resource"))?;
        r.attributes.get(attr).cloned().ok_or_else(|| anyhow!("{id} has no attribute {attr} here"))
    }

    fn call(&self, name: &str, arg: &Value) -> anyhow::Result<Option<Value>> {
        let out = match name {
            "Ref" => return self.reference(&text(arg, "Ref")?),
            "Condition" => Value::Bool(self.condition(&text(arg, "Condition")?)?),
            "Fn::GetAtt" => {
                let (id, attr) = match arg {
                    Value::String(s) => {
                        s.split_once('.').map(|(a, b)| (a.to_owned(), b.to_owned()))
                    }
                    Value::Array(a) if a.len() == 2 => {
                        Some((text(&a[0], "Fn::GetAtt")?, self.string(&a[1])?))
                    }
                    _ => None,
                }
                .ok_or_else(|| anyhow!("Fn::GetAtt takes [resource, attribute], got {arg}"))?;
                Value::String(self.attribute(&id, &attr)?)
            }
            "Fn::Sub" => {
                let (pattern, vars) = match arg {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(a) if a.len() == 2 => {
                        let vars = match self.value(&a[1])? {
                            Value::Object(m) => m,
                            other => bail!("Fn::Sub's variables must be a map, got {other}"),
                        };
                        (text(&a[0], "Fn::Sub")?, vars)
                    }
                    _ => bail!("Fn::Sub takes a string or [string, variables], got {arg}"),
                };
                Value::String(self.substitute(&pattern, &vars)?)
            }
            "Fn::If" => {
                let a = args(arg, 3, name)?;
                let branch = if self.condition(&text(&a[0], "Fn::If's condition")?)? {
                    &a[1]
                } else {
                    &a[2]
                };
                return self.resolve(branch);
            }
            "Fn::Equals" => {
                let a = args(arg, 2, name)?;
                Value::Bool(
                    self.value(&a[0])? == self.value(&a[1])?
                        || self.string(&a[0]).ok() == self.string(&a[1]).ok(),
                )
            }
            "Fn::Not" => Value::Bool(!self.truth(&args(arg, 1, name)?[0])?),
            "Fn::And" | "Fn::Or" => {
                let items = arg
                    .as_array()
                    .filter(|a| (2..=10).contains(&a.len()))
                    .ok_or_else(|| anyhow!("{name} takes 2 to 10 conditions"))?;
                let mut truths = Vec::with_capacity(items.len());
                for i in items {
                    truths.push(self.truth(i)?);
                }
                Value::Bool(if name == "Fn::And" {
                    truths.iter().all(|t| *t)
                } else {
                    truths.iter().any(|t| *t)
                })
            }
            "Fn::Join" => {
                let a = args(arg, 2, name)?;
                let delimiter = text(&a[0], "Fn::Join's delimiter")?;
                let parts = match self.value(&a[1])? {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| text(i, "a Fn::Join item"))
                        .collect::<anyhow::Result<Vec<_>>>()?,
                    other => bail!("Fn::Join needs a list, got {other}"),
                };
                Value::String(parts.join(&delimiter))
            }
            "Fn::Select" => {
                let a = args(arg, 2, name)?;
                let index: usize = self.string(&a[0])?.parse().context("Fn::Select's index")?;
                match self.value(&a[1])? {
                    Value::Array(items) => items
                        .get(index)
                        .cloned()
                        .ok_or_else(|| anyhow!("Fn::Select index {index} is out of range"))?,
                    other => bail!("Fn::Select needs a list, got {other}"),
                }
            }
            "Fn::Split" => {
                let a = args(arg, 2, name)?;
                let delimiter = text(&a[0], "Fn::Split's delimiter")?;
                Value::Array(
                    self.string(&a[1])?
                        .split(delimiter.as_str())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )
            }
            "Fn::FindInMap" => {
                let a = args(arg, 3, name)?;
                let (m, k1, k2) = (self.string(&a[0])?, self.string(&a[1])?, self.string(&a[2])?);
                self.mappings
                    .get(&m)
                    .and_then(|v| v.get(&k1))
                    .and_then(|v| v.get(&k2))
                    .cloned()
                    .ok_or_else(|| anyhow!("Fn::FindInMap: no {m}.{k1}.{k2}"))?
            }
            "Fn::Base64" => {
                use base64::Engine;
                Value::String(base64::engine::general_purpose::STANDARD.encode(self.string(arg)?))
            }
            other => bail!("{other} is not evaluated by the local stack"),
        };
        Ok(Some(out))
    }

    /// `${Name}`, `${Resource.Attribute}` and `${!Literal}` in `pattern`.
    fn substitute(&self, pattern: &str, vars: &Map<String, Value>) -> anyhow::Result<String> {
        let mut out = String::with_capacity(pattern.len());
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| anyhow!("unclosed ${{ in {pattern:?}"))?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&text(v, name)?);
            } else if let Some((id, attr)) =
                name.split_once('.').filter(|(id, _)| self.resources.contains_key(*id))
            {
                out.push_str(&self.attribute(id, attr)?);
            } else {
                let v =
                    self.reference(name)?.ok_or_else(|| anyhow!("${{{name}}} is AWS::NoValue"))?;
                out.push_str(&text(&v, name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope_with<'a>(
        params: &'a BTreeMap<String, Value>,
        resources: &'a BTreeMap<String, Physical>,
        conditions: &'a BTreeMap<String, bool>,
        mappings: &'a Map<String, Value>,
    ) -> Scope<'a> {
        Scope { params, resources, conditions, mappings }
    }

    #[test]
    fn when_expressions_refer_to_parameters_resources_and_conditions_should_evaluate_as_cloudformation(
    ) {
        let params = BTreeMap::from([
            ("Stage".to_owned(), json!("prod")),
            ("AWS::Region".to_owned(), json!("us-east-1")),
        ]);
        let resources = BTreeMap::from([(
            "Table".to_owned(),
            Physical {
                reference: "t1".into(),
                attributes: BTreeMap::from([("Arn".to_owned(), "arn:t1".to_owned())]),
            },
        )]);
        let conditions = BTreeMap::from([("On".to_owned(), true), ("Off".to_owned(), false)]);
        let mappings = Map::new();
        let s = scope_with(&params, &resources, &conditions, &mappings);
        assert_eq!(s.value(&json!({"Ref": "Stage"})).unwrap(), json!("prod"));
        assert_eq!(s.value(&json!({"Fn::GetAtt": ["Table", "Arn"]})).unwrap(), json!("arn:t1"));
        assert_eq!(s.value(&json!({"Fn::GetAtt": "Table.Arn"})).unwrap(), json!("arn:t1"));
        assert_eq!(
            s.value(&json!({"Fn::Sub": "${Table.Arn}/index/*"})).unwrap(),
            json!("arn:t1/index/*")
        );
        assert_eq!(
            s.value(&json!({"Fn::Sub": "${AWS::Region}-${Table}-${!Keep}"})).unwrap(),
            json!("us-east-1-t1-${Keep}")
        );
        assert_eq!(
            s.value(&json!({"Fn::Sub": ["${x}/y", {"x": {"Ref": "Stage"}}]})).unwrap(),
            json!("prod/y")
        );
        assert_eq!(s.value(&json!({"Fn::If": ["On", "a", "b"]})).unwrap(), json!("a"));
        assert_eq!(
            s.resolve(&json!({"Fn::If": ["Off", "a", {"Ref": "AWS::NoValue"}]})).unwrap(),
            None
        );
        assert_eq!(
            s.value(&json!({"k": {"Fn::If": ["Off", 1, {"Ref": "AWS::NoValue"}]}, "l": [1, {"Ref": "AWS::NoValue"}]})).unwrap(),
            json!({"l": [1]})
        );
        assert!(s.truth(&json!({"Fn::And": [{"Condition": "On"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "Stage"}, ""]}]}]})).unwrap());
        assert_eq!(
            s.value(&json!({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]})).unwrap(),
            json!("a-prod")
        );
        assert_eq!(
            s.value(&json!({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]})).unwrap(),
            json!("b")
        );
        assert!(s.value(&json!({"Ref": "Nope"})).is_err());
        assert!(s.value(&json!({"Fn::GetAZs": ""})).is_err());
    }
}
