//! IAM conformance: every AWS request a function really sends is checked against the role
//! `template.yaml` gives it, conditions included. moto enforces no IAM at all, so without this the
//! suite proves nothing about what AWS would refuse.
//!
//! The pieces:
//! - [`recorder::Recorder`] wraps the SDK's HTTP client: it records each request and, before
//!   forwarding it to moto, looks up the ARN and tags of the resources it names.
//! - [`authz::checks`] turns a recorded request into the authorizations AWS performs for it —
//!   one per resource, plus the implicit ones AWS documents (RDS's tags-on-create
//!   `rds:AddTagsToResource`, `iam:PassRole`) — each with its request context
//!   (`aws:RequestedRegion`, `aws:RequestTag/*`, `aws:TagKeys`, `aws:ResourceTag/*`,
//!   `rds:db-tag/*`, `rds:cluster-tag/*`, ...). Its module doc cites the AWS page of each rule.
//! - [`policy::Policy`] decides one authorization the way IAM does: explicit deny wins, then
//!   allow, else implicit deny; wildcards; the condition operators offpeak's roles use.
//! - [`cfn::Cfn`] evaluates the template's intrinsics for concrete parameters, so the policy
//!   judged is the one CloudFormation would deploy.
//!
//! Guarantee: [`RolePolicy::violations`] is empty only when every authorization of every
//! recorded request is allowed, and every request was understood (an operation without a rule is
//! reported, never skipped). Each violation names the request, the action, the ARN and, for each
//! statement naming the action, what did not match.
//!
//! Why not an existing evaluator: none on crates.io or PyPI judges a whole identity policy with
//! conditions against a request context; the closest (`wami-condition`) evaluates a `Condition`
//! block only, needs a newer Rust than this workspace's `rust-version`, and brings an IAM
//! emulator's core along. This one stays small and refuses what it does not model.

pub mod authz;
pub mod cfn;
pub mod policy;
pub mod recorder;

use std::collections::BTreeMap;

use serde_json::Value;

pub use authz::{Check, checks};
pub use cfn::{ACCOUNT, Cfn, REGION, STACK};
pub use policy::{Decision, Policy, Request};
pub use recorder::{Call, Recorder, Resource};

/// The state table of the stack [`deployed`] evaluates: `${AWS::StackName}-state`.
pub const STATE_TABLE: &str = "offpeak-state";

/// The parameters every deployment must give (they have no default); the rest keep theirs.
pub fn required_parameters() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("VpcId", "vpc-0123456789abcdef0"),
        ("MaskedRefreshSubnetIds", "subnet-0aaa1111,subnet-0bbb2222"),
        ("MaskedRefreshSecurityGroupId", "sg-0fff5555eeee6666a"),
    ])
}

/// `template` as deployed with the default parameters into moto's account and region, its
/// notification topic being `topic_arn` (the test's inbox) and its state table [`STATE_TABLE`].
pub fn deployed<'t>(template: &'t Value, topic_arn: &str) -> Cfn<'t> {
    let table = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STATE_TABLE}");
    Cfn::new(template, "deployed", &required_parameters())
        .with_resource("NotificationTopic", topic_arn)
        .with_resource("StateTable.Arn", &table)
}

/// The policy of the role one function runs as.
#[derive(Debug, Clone)]
pub struct RolePolicy {
    pub function: String,
    pub policy: Policy,
}

impl RolePolicy {
    /// The inline policies of `function`'s role in the evaluated template. (The AWS managed
    /// policy masked-refresh also carries, AWSLambdaVPCAccessExecutionRole, grants only Lambda's
    /// network interfaces, which the function never calls itself.)
    pub fn of(cfn: &Cfn, function: &str) -> RolePolicy {
        let statements = cfn.role_statements(function);
        let policy = Policy::parse(&statements)
            .unwrap_or_else(|e| panic!("{function}: the role's policy is not understood: {e}"));
        RolePolicy {
            function: function.to_owned(),
            policy,
        }
    }

    /// One line per authorization of `calls` this role does not allow, or per request that could
    /// not be modelled. Empty when the role allows everything the calls needed.
    pub fn violations(&self, calls: &[Call]) -> Vec<String> {
        let mut out = Vec::new();
        for call in calls {
            match checks(call) {
                Err(why) => out.push(format!("NOT MODELLED {why}")),
                Ok(checks) => {
                    for check in checks {
                        let decision = self.policy.decide(&check.request);
                        if !decision.allowed() {
                            out.push(denial(&check, &decision));
                        }
                    }
                }
            }
        }
        out.dedup();
        out
    }
}

/// `DENIED <because>: <action> on <arn> — <why>`.
pub fn denial(check: &Check, decision: &Decision) -> String {
    format!(
        "DENIED {}: {} on {} — {decision}",
        check.because, check.request.action, check.request.resource
    )
}
