//! `template.yaml` with its CloudFormation intrinsics evaluated for concrete parameter values, so
//! a test reads real ARNs and conditions, as IAM will.
//!
//! The template is written in long-form intrinsics (`Ref:`, `Fn::Sub:`), so it parses as plain
//! YAML. [`Cfn`] evaluates `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Split`, `Fn::Select`,
//! `Fn::If` and the condition functions; any other intrinsic panics with the fix ("teach
//! Cfn::intrinsic"), so a template change can never be silently misread.
//!
//! Guarantees:
//! - Every parameter given must be declared by the template, and every parameter without a
//!   default must be given (a panic names it).
//! - A `Ref` or `Fn::GetAtt` of a resource renders as the placeholder `{Ref X}` / `{GetAtt X.Arn}`
//!   unless a concrete value was supplied with [`Cfn::with_resource`] (the conformance test maps
//!   the state table and the topic to the ones in moto).
//! - `CommaDelimitedList` and `List<...>` parameters split on `,` exactly as CloudFormation does,
//!   so an empty value is a one-element list holding `""`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The account every test ARN is in: moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The region every test runs in (moto's clients and the template's `AWS::Region`).
pub const REGION: &str = crate::moto::REGION;
/// The stack name the template is evaluated for.
pub const STACK: &str = "offpeak";

/// A file of the workspace this crate was built from.
pub fn workspace_file(relative: &str) -> PathBuf {
    crate::workspace_root().join(relative)
}

/// A workspace file parsed as YAML (panics with the path on any error).
pub fn read_yaml(relative: &str) -> Value {
    let path = workspace_file(relative);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// `template.yaml`, parsed once per test process.
pub fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| read_yaml("template.yaml"))
}

/// A template with its parameters and conditions resolved for one parameter set.
pub struct Cfn<'t> {
    template: &'t Value,
    params: BTreeMap<String, Value>,
    /// `Ref` / `GetAtt` of resources → the concrete value to use instead of a placeholder.
    resources: BTreeMap<String, String>,
}

impl<'t> Cfn<'t> {
    /// `template` evaluated with `given` parameter values (the defaults for the others);
    /// `label` names the parameter set in panics.
    pub fn new(template: &'t Value, label: &str, given: &BTreeMap<&str, &str>) -> Self {
        let declared = template["Parameters"].as_object().expect("Parameters");
        for key in given.keys() {
            assert!(declared.contains_key(*key), "{label}: no parameter {key}");
        }
        let params = declared
            .iter()
            .map(|(name, decl)| {
                let raw = match given.get(name.as_str()) {
                    Some(v) => (*v).to_owned(),
                    None => scalar_text(
                        decl.get("Default")
                            .unwrap_or_else(|| panic!("{label}: parameter {name} has no default")),
                    ),
                };
                let kind = decl["Type"].as_str().unwrap_or("String");
                let value = if kind == "CommaDelimitedList" || kind.starts_with("List<") {
                    Value::from(raw.split(',').collect::<Vec<_>>())
                } else {
                    Value::from(raw)
                };
                (name.clone(), value)
            })
            .collect();
        Cfn {
            template,
            params,
            resources: BTreeMap::new(),
        }
    }

    /// `reference` (`Logical` for a `Ref`, `Logical.Attribute` for a `GetAtt`) evaluates to `value`.
    pub fn with_resource(mut self, reference: &str, value: &str) -> Self {
        self.resources
            .insert(reference.to_owned(), value.to_owned());
        self
    }

    /// Evaluates every intrinsic in `v`; `None` is `AWS::NoValue`.
    pub fn eval(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|i| self.eval(i)).collect(),
            )),
            Value::Object(map) => match intrinsic(map) {
                Some((name, arg)) => self.intrinsic(name, arg),
                None => Some(Value::Object(
                    map.iter()
                        .filter_map(|(k, v)| self.eval(v).map(|v| (k.clone(), v)))
                        .collect(),
                )),
            },
            other => Some(other.clone()),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Option<Value> {
        let list = |v: &Value| -> Vec<Value> {
            match self.eval(v) {
                Some(Value::Array(items)) => items,
                other => panic!("{name}: expected a list, got {other:?}"),
            }
        };
        let text = |v: &Value| -> String {
            match self.eval(v) {
                Some(Value::String(s)) => s,
                other => panic!("{name}: expected a string, got {other:?}"),
            }
        };
        match name {
            "Ref" => self.reference(arg.as_str().expect("Ref takes a name")),
            "Fn::GetAtt" => Some(Value::from(self.get_att(arg))),
            "Fn::Sub" => Some(Value::from(self.sub(arg))),
            "Fn::Join" => {
                let args = arg.as_array().expect("Fn::Join args");
                let parts: Vec<String> = list(&args[1]).iter().map(scalar_text).collect();
                Some(Value::from(
                    parts.join(args[0].as_str().expect("delimiter")),
                ))
            }
            "Fn::Split" => {
                let args = arg.as_array().expect("Fn::Split args");
                let delimiter = args[0].as_str().expect("delimiter");
                Some(Value::from(
                    text(&args[1]).split(delimiter).collect::<Vec<_>>(),
                ))
            }
            "Fn::Select" => {
                let args = arg.as_array().expect("Fn::Select args");
                let index: usize = scalar_text(&args[0]).parse().expect("index");
                Some(list(&args[1])[index].clone())
            }
            "Fn::If" => {
                let args = arg.as_array().expect("Fn::If args");
                let branch = if self.condition(args[0].as_str().expect("condition name")) {
                    &args[1]
                } else {
                    &args[2]
                };
                self.eval(branch)
            }
            other => {
                panic!("intrinsic {other} is not understood by this test; teach Cfn::intrinsic")
            }
        }
    }

    fn reference(&self, name: &str) -> Option<Value> {
        let pseudo = match name {
            "AWS::NoValue" => return None,
            "AWS::Partition" => "aws",
            "AWS::Region" => REGION,
            "AWS::AccountId" => ACCOUNT,
            "AWS::StackName" => STACK,
            "AWS::URLSuffix" => "amazonaws.com",
            _ => "",
        };
        if !pseudo.is_empty() {
            return Some(Value::from(pseudo));
        }
        if let Some(value) = self.params.get(name) {
            return Some(value.clone());
        }
        assert!(
            self.template["Resources"].get(name).is_some(),
            "Ref to unknown name {name}"
        );
        Some(Value::from(
            self.resources
                .get(name)
                .cloned()
                .unwrap_or_else(|| format!("{{Ref {name}}}")),
        ))
    }

    fn get_att(&self, arg: &Value) -> String {
        let joined = match arg {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().map(scalar_text).collect::<Vec<_>>().join("."),
            other => panic!("Fn::GetAtt: {other}"),
        };
        assert!(
            self.template["Resources"]
                .get(joined.split('.').next().unwrap_or_default())
                .is_some(),
            "GetAtt of unknown resource {joined}"
        );
        self.resources
            .get(&joined)
            .cloned()
            .unwrap_or_else(|| format!("{{GetAtt {joined}}}"))
    }

    /// `Fn::Sub` in both forms; `${!x}` is the literal `${x}`.
    fn sub(&self, arg: &Value) -> String {
        let (pattern, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(args) => (
                args[0].as_str().expect("Fn::Sub string"),
                args[1].as_object().expect("Fn::Sub variables").clone(),
            ),
            other => panic!("Fn::Sub: {other}"),
        };
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("unclosed ${") + start;
            let name = &rest[start + 2..end];
            match name.strip_prefix('!') {
                Some(literal) => out.push_str(&format!("${{{literal}}}")),
                None => out.push_str(&self.sub_variable(name, &vars)),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn sub_variable(&self, name: &str, vars: &Map<String, Value>) -> String {
        let value = match vars.get(name) {
            Some(v) => self.eval(v),
            None if name.contains('.') => Some(Value::from(self.get_att(&Value::from(name)))),
            None => self.reference(name),
        };
        match value {
            Some(Value::String(s)) => s,
            other => panic!("Fn::Sub ${{{name}}} is not a string: {other:?}"),
        }
    }

    /// The template condition `name`, evaluated.
    pub fn condition(&self, name: &str) -> bool {
        let body = &self.template["Conditions"][name];
        assert!(!body.is_null(), "unknown condition {name}");
        self.truth(body)
    }

    fn truth(&self, v: &Value) -> bool {
        let map = v.as_object().expect("a condition is a mapping");
        let (name, arg) = map.iter().next().expect("a condition function");
        let args = || arg.as_array().expect("condition arguments");
        match name.as_str() {
            "Condition" => self.condition(arg.as_str().expect("condition name")),
            "Fn::Equals" => self.eval(&args()[0]) == self.eval(&args()[1]),
            "Fn::Not" => !self.truth(&args()[0]),
            "Fn::And" => args().iter().all(|a| self.truth(a)),
            "Fn::Or" => args().iter().any(|a| self.truth(a)),
            other => panic!("condition function {other} is not understood by this test"),
        }
    }

    /// The evaluated inline policy statements of the role `function` runs as (its SAM function's
    /// `Role: Fn::GetAtt [<role>, Arn]`), in template order.
    pub fn role_statements(&self, function: &str) -> Vec<Value> {
        let role_id = role_of(self.template, function);
        let role = self
            .eval(&self.template["Resources"][&role_id])
            .expect("role resource");
        assert_eq!(role["Type"], "AWS::IAM::Role", "{function} role {role_id}");
        role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// The logical id of the IAM role the SAM function `function` (its `CodeUri` folder name) runs as.
pub fn role_of(template: &Value, function: &str) -> String {
    let resources = template["Resources"].as_object().expect("Resources");
    let (logical, f) = resources
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::Serverless::Function" && function_name(r) == function)
        .unwrap_or_else(|| panic!("no function {function} in the template"));
    f["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{logical}: Role must be Fn::GetAtt [<role>, Arn]"))
        .to_owned()
}

/// `aurora-replicas` for a function whose `CodeUri` is `functions/aurora-replicas`.
pub fn function_name(resource: &Value) -> String {
    let code_uri = resource["Properties"]["CodeUri"]
        .as_str()
        .expect("CodeUri is a path");
    code_uri
        .strip_prefix("functions/")
        .unwrap_or_else(|| panic!("CodeUri {code_uri} is not under functions/"))
        .to_owned()
}

/// `{"Ref": ..}` or `{"Fn::...": ..}`: an intrinsic, as its name and argument.
pub fn intrinsic(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    match map.iter().next() {
        Some((k, v)) if map.len() == 1 && (k == "Ref" || k.starts_with("Fn::")) => {
            Some((k.as_str(), v))
        }
        _ => None,
    }
}

/// A scalar as text (numbers and booleans written out); panics on anything else.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other}"),
    }
}

/// A string or a list of strings, as IAM writes `Action`, `Resource` and condition values.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    }
}
