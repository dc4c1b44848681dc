//! An identity policy evaluator: does this policy allow `action` on `resource` with this request
//! context? Small on purpose; it implements what offpeak's roles use and refuses the rest.
//!
//! Semantics, from the IAM User Guide:
//! - Evaluation: an explicit `Deny` that applies wins; otherwise an applicable `Allow` allows;
//!   otherwise the request is implicitly denied.
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>
//! - `Action` / `NotAction` match case-insensitively with `*` and `?` wildcards;
//!   `Resource` / `NotResource` and the `Arn*` operators compare the first five colon-separated
//!   ARN segments one by one (a wildcard never spans a `:` there) and the rest as one, with `*`
//!   and `?`. <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>
//! - Conditions: every operator of a statement, every key of an operator must hold (AND); the
//!   values listed for one key are alternatives (OR). A key missing from the request context makes
//!   a condition false, except for the negated operators (`StringNotEquals`, `StringNotLike`,
//!   `ArnNotEquals`, `ArnNotLike`, ...), which are then true, `...IfExists`, which is then true, and
//!   `Null`, which tests exactly that.
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! - Set operators on multivalued keys (`aws:TagKeys`): `ForAllValues:` holds when every value in
//!   the request matches (so it holds when the key is missing or empty); `ForAnyValue:` needs at
//!   least one value that matches (so it fails when the key is missing or empty).
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>
//! - Condition key names are case-insensitive; values compare case-sensitively unless the
//!   operator says `IgnoreCase`.
//!
//! Refused (an error, never a guess): unknown operators or qualifiers, policy variables
//! (`${aws:username}`), `Principal` / `NotPrincipal` (identity policies have none).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::cfn::strings;

/// The request context: condition key (lower case) → its values. A single-valued key has one.
pub type Context = BTreeMap<String, Vec<String>>;

/// One authorization question: may the role perform `action` on `resource` in `context`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action` vs `NotAction` (and the same for resources): a list of patterns, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Bool,
    Null,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "StringEquals" => Op::StringEquals,
            "StringNotEquals" => Op::StringNotEquals,
            "StringEqualsIgnoreCase" => Op::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Op::StringNotEqualsIgnoreCase,
            "StringLike" => Op::StringLike,
            "StringNotLike" => Op::StringNotLike,
            "ArnEquals" => Op::ArnEquals,
            "ArnNotEquals" => Op::ArnNotEquals,
            "ArnLike" => Op::ArnLike,
            "ArnNotLike" => Op::ArnNotLike,
            "Bool" => Op::Bool,
            "Null" => Op::Null,
            _ => return None,
        })
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::ArnNotEquals
                | Op::ArnNotLike
        )
    }

    /// Whether one request value matches one policy value, for the positive form of the operator.
    fn matches(self, policy: &str, request: &str) -> bool {
        match self {
            Op::StringEquals | Op::StringNotEquals => policy == request,
            Op::StringEqualsIgnoreCase | Op::StringNotEqualsIgnoreCase => {
                policy.eq_ignore_ascii_case(request)
            }
            Op::StringLike | Op::StringNotLike => glob(policy, request),
            // ArnEquals is ArnLike: both accept wildcards, per segment.
            Op::ArnEquals | Op::ArnNotEquals | Op::ArnLike | Op::ArnNotLike => {
                arn_like(policy, request)
            }
            Op::Bool => policy.eq_ignore_ascii_case(request),
            Op::Null => unreachable!("Null tests presence, not values"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    ForAllValues,
    ForAnyValue,
}

/// One `operator: {key: values}` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// As written in the policy, for messages (`ForAllValues:StringLike`).
    operator: String,
    op: Op,
    set: Option<SetOp>,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

impl Condition {
    /// Whether the condition holds in `context`.
    pub fn holds(&self, context: &Context) -> bool {
        let present = context
            .get(&self.key.to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        if self.op == Op::Null {
            let wants_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return present.is_none() == wants_absent;
        }
        let Some(request) = present else {
            return match self.set {
                Some(SetOp::ForAllValues) => true,
                Some(SetOp::ForAnyValue) => false,
                None => self.if_exists || self.op.negated(),
            };
        };
        // A request value satisfies the (possibly negated) operator.
        let one = |r: &String| {
            let any = self.values.iter().any(|p| self.op.matches(p, r));
            any != self.op.negated()
        };
        match self.set {
            Some(SetOp::ForAllValues) => request.iter().all(one),
            Some(SetOp::ForAnyValue) => request.iter().any(one),
            // A single-valued operator on a key: the negated form must hold for every value.
            None if self.op.negated() => request.iter().all(one),
            None => request.iter().any(one),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.operator, self.key, self.values)
    }
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub effect: Effect,
    actions: Patterns,
    resources: Patterns,
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// A statement as IAM reads it (intrinsics already evaluated).
    pub fn parse(v: &Value) -> Result<Statement, String> {
        let map = v.as_object().ok_or("a statement is a mapping")?;
        let sid = v["Sid"].as_str().unwrap_or("(no Sid)").to_owned();
        for key in map.keys() {
            let known = [
                "Sid",
                "Effect",
                "Action",
                "NotAction",
                "Resource",
                "NotResource",
                "Condition",
            ];
            if !known.contains(&key.as_str()) {
                return Err(format!("{sid}: `{key}` is not supported"));
            }
        }
        let effect = match v["Effect"].as_str() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => return Err(format!("{sid}: Effect {other:?}")),
        };
        Ok(Statement {
            actions: patterns(v, "Action", &sid)?,
            resources: patterns(v, "Resource", &sid)?,
            conditions: conditions(&v["Condition"], &sid)?,
            sid,
            effect,
        })
    }

    fn applies_to_action(&self, action: &str) -> bool {
        let hit = self
            .actions
            .patterns
            .iter()
            .any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        hit != self.actions.negated
    }

    fn applies_to_resource(&self, resource: &str) -> bool {
        let hit = self
            .resources
            .patterns
            .iter()
            .any(|p| p == "*" || arn_like(p, resource));
        hit != self.resources.negated
    }

    /// The first condition that does not hold, if any.
    fn failing_condition(&self, context: &Context) -> Option<&Condition> {
        self.conditions.iter().find(|c| !c.holds(context))
    }
}

fn patterns(v: &Value, element: &str, sid: &str) -> Result<Patterns, String> {
    let not = format!("Not{element}");
    match (v.get(element), v.get(&not)) {
        (Some(p), None) => Ok(Patterns {
            negated: false,
            patterns: strings(p),
        }),
        (None, Some(p)) => Ok(Patterns {
            negated: true,
            patterns: strings(p),
        }),
        _ => Err(format!("{sid}: exactly one of {element} / {not}")),
    }
}

fn conditions(block: &Value, sid: &str) -> Result<Vec<Condition>, String> {
    let Some(block) = block.as_object() else {
        return match block {
            Value::Null => Ok(Vec::new()),
            other => Err(format!("{sid}: Condition {other}")),
        };
    };
    let mut out = Vec::new();
    for (operator, keys) in block {
        let (set, rest) = match operator.split_once(':') {
            Some(("ForAllValues", rest)) => (Some(SetOp::ForAllValues), rest),
            Some(("ForAnyValue", rest)) => (Some(SetOp::ForAnyValue), rest),
            Some((other, _)) => return Err(format!("{sid}: set operator {other}")),
            None => (None, operator.as_str()),
        };
        let (name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let op = Op::parse(name).ok_or_else(|| format!("{sid}: condition operator {operator}"))?;
        let keys = keys
            .as_object()
            .ok_or_else(|| format!("{sid}: {operator} takes a mapping"))?;
        for (key, values) in keys {
            let values = strings(values);
            if values.iter().any(|v| v.contains("${")) {
                return Err(format!("{sid}: policy variables are not supported ({key})"));
            }
            out.push(Condition {
                operator: operator.clone(),
                op,
                set,
                if_exists,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// Why a request was decided as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by statement `sid`.
    Allowed { sid: String },
    /// An explicit `Deny` applies.
    Denied { sid: String },
    /// No statement allows it. `near` says, for each statement that names the action, what did
    /// not match: the resource, or the first condition that failed.
    NotAllowed { near: Vec<String> },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed { sid } => write!(f, "allowed by {sid}"),
            Decision::Denied { sid } => write!(f, "explicitly denied by {sid}"),
            Decision::NotAllowed { near } if near.is_empty() => {
                write!(f, "no statement names the action")
            }
            Decision::NotAllowed { near } => write!(f, "{}", near.join("; ")),
        }
    }
}

/// A policy document's statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    /// `statements` (a list of evaluated statement mappings).
    pub fn parse(statements: &[Value]) -> Result<Policy, String> {
        Ok(Policy {
            statements: statements
                .iter()
                .map(Statement::parse)
                .collect::<Result<_, _>>()?,
        })
    }

    /// IAM's decision for `request`: explicit deny, then allow, else implicit deny.
    pub fn decide(&self, request: &Request) -> Decision {
        let applies = |s: &&Statement| {
            s.applies_to_action(&request.action)
                && s.applies_to_resource(&request.resource)
                && s.failing_condition(&request.context).is_none()
        };
        let mut statements = self.statements.iter();
        if let Some(s) = statements
            .clone()
            .filter(|s| s.effect == Effect::Deny)
            .find(applies)
        {
            return Decision::Denied { sid: s.sid.clone() };
        }
        if let Some(s) = statements.find(|s| s.effect == Effect::Allow && applies(s)) {
            return Decision::Allowed { sid: s.sid.clone() };
        }
        Decision::NotAllowed {
            near: self.near_misses(request),
        }
    }

    fn near_misses(&self, request: &Request) -> Vec<String> {
        self.statements
            .iter()
            .filter(|s| s.effect == Effect::Allow && s.applies_to_action(&request.action))
            .map(|s| {
                if !s.applies_to_resource(&request.resource) {
                    return format!("{}: resource not matched", s.sid);
                }
                match s.failing_condition(&request.context) {
                    Some(c) => {
                        let seen = request
                            .context
                            .get(&c.key.to_ascii_lowercase())
                            .map_or_else(|| "missing".to_owned(), |v| format!("{v:?}"));
                        format!("{}: condition {c} fails (request: {seen})", s.sid)
                    }
                    None => format!("{}: applies", s.sid),
                }
            })
            .collect()
    }
}

/// IAM's wildcard match: `*` any run of characters (also none), `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// ARN match: `arn:partition:service:region:account:` segment by segment, the resource part whole.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| glob(p, a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn condition(block: Value) -> Condition {
        let mut all = conditions(&block, "t").unwrap();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn conditions_follow_awss_rules_for_missing_keys_and_sets() {
        let tags = "aws:TagKeys";
        let cases: Vec<(Value, Context, bool)> = vec![
            // Plain operators: a missing key fails, except negated ones and IfExists.
            (json!({"StringEquals": {"k": "a"}}), ctx(&[]), false),
            (
                json!({"StringEquals": {"k": "a"}}),
                ctx(&[("k", &["a"])]),
                true,
            ),
            (
                json!({"StringEquals": {"k": ["a", "b"]}}),
                ctx(&[("k", &["b"])]),
                true,
            ),
            (
                json!({"StringEquals": {"k": "a"}}),
                ctx(&[("K", &["a"])]),
                true,
            ),
            (
                json!({"StringEquals": {"k": "a"}}),
                ctx(&[("k", &["A"])]),
                false,
            ),
            (
                json!({"StringEqualsIgnoreCase": {"k": "a"}}),
                ctx(&[("k", &["A"])]),
                true,
            ),
            (json!({"StringNotEquals": {"k": "a"}}), ctx(&[]), true),
            (
                json!({"StringNotEquals": {"k": "a"}}),
                ctx(&[("k", &["a"])]),
                false,
            ),
            (
                json!({"StringNotEquals": {"k": "a"}}),
                ctx(&[("k", &["b"])]),
                true,
            ),
            (json!({"StringEqualsIfExists": {"k": "a"}}), ctx(&[]), true),
            (
                json!({"StringEqualsIfExists": {"k": "a"}}),
                ctx(&[("k", &["b"])]),
                false,
            ),
            (
                json!({"StringLike": {"k": "off*"}}),
                ctx(&[("k", &["offpeak"])]),
                true,
            ),
            (
                json!({"StringLike": {"k": "a?c"}}),
                ctx(&[("k", &["abc"])]),
                true,
            ),
            (
                json!({"StringLike": {"k": "a?c"}}),
                ctx(&[("k", &["ac"])]),
                false,
            ),
            (
                json!({"StringNotLike": {"k": "off*"}}),
                ctx(&[("k", &["on"])]),
                true,
            ),
            (json!({"StringNotLike": {"k": "off*"}}), ctx(&[]), true),
            (json!({"Bool": {"k": true}}), ctx(&[("k", &["true"])]), true),
            (
                json!({"Bool": {"k": "false"}}),
                ctx(&[("k", &["true"])]),
                false,
            ),
            (json!({"Null": {"k": "true"}}), ctx(&[]), true),
            (json!({"Null": {"k": "true"}}), ctx(&[("k", &["x"])]), false),
            (json!({"Null": {"k": "false"}}), ctx(&[("k", &["x"])]), true),
            (
                json!({"ArnLike": {"k": "arn:aws:rds:*:*:db:a-*"}}),
                ctx(&[("k", &["arn:aws:rds:r:1:db:a-1"])]),
                true,
            ),
            (
                json!({"ArnLike": {"k": "arn:aws:rds:*:db:a-*"}}),
                ctx(&[("k", &["arn:aws:rds:r:1:db:a-1"])]),
                false,
            ),
            (
                json!({"ArnNotLike": {"k": "arn:aws:rds:*:*:db:a-*"}}),
                ctx(&[("k", &["arn:aws:rds:r:1:db:b"])]),
                true,
            ),
            // ForAllValues: vacuously true over a missing or empty key; every value must match.
            (
                json!({"ForAllValues:StringLike": {tags: ["offpeak:*"]}}),
                ctx(&[]),
                true,
            ),
            (
                json!({"ForAllValues:StringLike": {tags: ["offpeak:*"]}}),
                ctx(&[(tags, &[])]),
                true,
            ),
            (
                json!({"ForAllValues:StringLike": {tags: ["offpeak:*"]}}),
                ctx(&[(tags, &["offpeak:a", "offpeak:b"])]),
                true,
            ),
            (
                json!({"ForAllValues:StringLike": {tags: ["offpeak:*"]}}),
                ctx(&[(tags, &["offpeak:a", "team"])]),
                false,
            ),
            (
                json!({"ForAllValues:StringNotLike": {tags: ["aws:*"]}}),
                ctx(&[(tags, &["team"])]),
                true,
            ),
            (
                json!({"ForAllValues:StringNotLike": {tags: ["aws:*"]}}),
                ctx(&[(tags, &["team", "aws:x"])]),
                false,
            ),
            // ForAnyValue: false over a missing or empty key; one match is enough.
            (
                json!({"ForAnyValue:StringEquals": {tags: ["team"]}}),
                ctx(&[]),
                false,
            ),
            (
                json!({"ForAnyValue:StringEquals": {tags: ["team"]}}),
                ctx(&[(tags, &[])]),
                false,
            ),
            (
                json!({"ForAnyValue:StringEquals": {tags: ["team"]}}),
                ctx(&[(tags, &["env", "team"])]),
                true,
            ),
            (
                json!({"ForAnyValue:StringEquals": {tags: ["team"]}}),
                ctx(&[(tags, &["env"])]),
                false,
            ),
        ];
        for (block, context, want) in cases {
            let c = condition(block.clone());
            assert_eq!(c.holds(&context), want, "{block} in {context:?}");
        }
    }

    fn policy(statements: Value) -> Policy {
        Policy::parse(statements.as_array().unwrap()).unwrap()
    }

    fn request(action: &str, resource: &str, context: Context) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context,
        }
    }

    #[test]
    fn explicit_deny_wins_and_nothing_is_allowed_by_default() {
        let p = policy(json!([
            {"Sid": "All", "Effect": "Allow", "Action": "rds:*", "Resource": "*"},
            {"Sid": "NotProd", "Effect": "Deny", "Action": ["rds:DeleteDBCluster"],
             "Resource": "arn:aws:rds:*:*:cluster:prod"},
            {"Sid": "Reads", "Effect": "Allow", "NotAction": "sns:*", "Resource": "arn:aws:s3:::b/*"},
        ]));
        let cases = [
            (
                "rds:DeleteDBCluster",
                "arn:aws:rds:r:1:cluster:prod",
                "explicitly denied by NotProd",
            ),
            (
                "rds:DeleteDBCluster",
                "arn:aws:rds:r:1:cluster:dev",
                "allowed by All",
            ),
            (
                "RDS:deletedbcluster",
                "arn:aws:rds:r:1:cluster:dev",
                "allowed by All",
            ),
            (
                "sns:Publish",
                "arn:aws:sns:r:1:t",
                "no statement names the action",
            ),
            ("s3:GetObject", "arn:aws:s3:::b/k", "allowed by Reads"),
            (
                "sns:Publish",
                "arn:aws:s3:::b/k",
                "no statement names the action",
            ),
        ];
        for (action, resource, want) in cases {
            let got = p.decide(&request(action, resource, Context::new()));
            assert_eq!(got.to_string(), want, "{action} {resource}");
        }
    }

    #[test]
    fn resources_match_segment_by_segment_and_not_resource_inverts() {
        let p = policy(json!([
            {"Sid": "Named", "Effect": "Allow", "Action": "rds:DeleteDBInstance",
             "Resource": "arn:*:rds:*:*:db:prod-offpeak-*"},
            {"Sid": "Others", "Effect": "Allow", "Action": "rds:ModifyDBInstance",
             "NotResource": "arn:aws:rds:*:*:db:prod-*"},
        ]));
        let cases = [
            (
                "rds:DeleteDBInstance",
                "arn:aws:rds:r:1:db:prod-offpeak-1",
                true,
            ),
            (
                "rds:DeleteDBInstance",
                "arn:aws:rds:r:1:db:prod-writer",
                false,
            ),
            // `*` in the region segment does not swallow the account segment.
            (
                "rds:DeleteDBInstance",
                "arn:aws:rds:r:db:prod-offpeak-1",
                false,
            ),
            ("rds:ModifyDBInstance", "arn:aws:rds:r:1:db:dev-1", true),
            ("rds:ModifyDBInstance", "arn:aws:rds:r:1:db:prod-1", false),
        ];
        for (action, resource, want) in cases {
            let got = p.decide(&request(action, resource, Context::new()));
            assert_eq!(got.allowed(), want, "{action} {resource}: {got}");
        }
    }

    #[test]
    fn denials_name_the_statement_and_the_condition_that_failed() {
        let p = policy(json!([
            {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "rds:AddTagsToResource",
             "Resource": "arn:aws:rds:*:*:db:*",
             "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": ["offpeak:*"]}}},
        ]));
        let context = ctx(&[("aws:TagKeys", &["team", "offpeak:managed-by"])]);
        let got = p.decide(&request(
            "rds:AddTagsToResource",
            "arn:aws:rds:r:1:db:x",
            context,
        ));
        assert_eq!(
            got.to_string(),
            "TagOnCreate: condition ForAllValues:StringLike aws:TagKeys [\"offpeak:*\"] fails \
             (request: [\"team\", \"offpeak:managed-by\"])"
        );
    }

    #[test]
    fn what_is_not_modelled_is_refused() {
        let cases = [
            json!({"Effect": "Allow", "Action": "a:b", "Resource": "*", "Principal": "*"}),
            json!({"Effect": "Allow", "Action": "a:b"}),
            json!({"Effect": "Allow", "Action": "a:b", "NotAction": "a:c", "Resource": "*"}),
            json!({"Effect": "Maybe", "Action": "a:b", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "a:b", "Resource": "*",
                   "Condition": {"NumericLessThan": {"k": "1"}}}),
            json!({"Effect": "Allow", "Action": "a:b", "Resource": "*",
                   "Condition": {"ForSomeValues:StringLike": {"k": "1"}}}),
            json!({"Effect": "Allow", "Action": "a:b", "Resource": "*",
                   "Condition": {"StringEquals": {"k": "${aws:username}"}}}),
        ];
        for s in cases {
            assert!(Statement::parse(&s).is_err(), "{s}");
        }
    }
}
