//! The SAM template's IAM policies, pinned: each function may call exactly what it uses, deletes and
//! modifications reach only what offpeak created, and production is only ever cloned. A broadened
//! policy fails here (and `broadened_policies_are_caught` proves the rules notice).
//!
//! `template.yaml` is written in long-form intrinsics (`Ref:`, `Fn::Sub:`), so it parses as plain
//! YAML. The intrinsics are then evaluated for concrete parameter values ([`Cfn`]), so every rule
//! reads real ARNs and conditions, as IAM will. Each rule runs for three parameter sets: the
//! defaults, every optional feature switched on, and the leanest deployment.
//!
//! Also pinned here, because a deploy depends on them: how the functions are built and scheduled,
//! the schedule layer they read, the sample events, `events/env.json`, that the template's defaults
//! name the targets of the shipped `infra/schedules.yaml`, that the list parameters refuse IAM
//! wildcards, and that every function's alarms can fire at any tick rate the template allows.
//!
//! The intrinsics evaluator ([`Cfn`]) lives in `offpeak_tests::iam::cfn`, shared with the IAM
//! conformance test (`tests/tests/platform/iam_conformance.rs`), which judges the requests the
//! functions really send against these policies, conditions included.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::notify::{Invite, Notification, Severity, Token};
use offpeak_tests::iam::cfn::{
    ACCOUNT, Cfn, REGION, function_name, read_yaml, scalar_text, strings, template, workspace_file,
};
use offpeak_tests::iam::policy::glob;
use serde_json::{Value, json};

const FUNCTIONS: [&str; 3] = ["aurora-replicas", "eks-nodegroups", "masked-refresh"];

// ------------------------------------------------------------------------------------------------
// Expected permissions: the single list to update when a function starts calling something new.
// ------------------------------------------------------------------------------------------------

/// Allowed actions of `function` for a deployment shaped like `scenario`.
fn expected_actions(function: &str, s: &Scenario) -> BTreeSet<String> {
    let mut actions: Vec<&str> = vec![
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "sns:Publish",
    ];
    if s.topic_encrypted() {
        actions.extend(["kms:GenerateDataKey", "kms:Decrypt"]);
    }
    match function {
        "aurora-replicas" => {
            actions.extend([
                "rds:DescribeDBClusters",
                "rds:DescribeDBInstances",
                "rds:CreateDBInstance",
                "rds:AddTagsToResource",
                "rds:DeleteDBInstance",
            ]);
            if s.is_set("RdsMonitoringRoleArn") {
                actions.push("iam:PassRole");
            }
        }
        "eks-nodegroups" => {
            actions.extend([
                "eks:ListNodegroups",
                "eks:DescribeNodegroup",
                "eks:UpdateNodegroupConfig",
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:CreateOrUpdateTags",
                "autoscaling:DeleteTags",
            ]);
            if s.is_set("SelfManagedAsgNames") {
                actions.push("autoscaling:UpdateAutoScalingGroup");
            }
        }
        "masked-refresh" => {
            actions.extend([
                "rds:DescribeDBClusters",
                "rds:DescribeDBInstances",
                "rds:RestoreDBClusterToPointInTime",
                "rds:CreateDBInstance",
                "rds:AddTagsToResource",
                "rds:ModifyDBCluster",
                "rds:ModifyDBInstance",
                "rds:DeleteDBCluster",
                "rds:DeleteDBInstance",
                "rds:CreateDBClusterSnapshot",
                "secretsmanager:GetSecretValue",
                "ec2:DescribeSecurityGroups",
            ]);
            if s.is_set("SourceKmsKeyArn") {
                actions.extend(["kms:CreateGrant", "kms:DescribeKey"]);
            }
        }
        other => panic!("unknown function {other}"),
    }
    actions.into_iter().map(str::to_owned).collect()
}

/// AWS managed policies a function's role may carry.
fn expected_managed_policies(function: &str) -> Vec<String> {
    match function {
        "masked-refresh" => {
            vec!["arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole".to_owned()]
        }
        _ => Vec::new(),
    }
}

/// Read-only actions AWS grants only on `Resource: "*"` (no resource-level permissions:
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html>,
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html>).
const STAR_ONLY_ACTIONS: [&str; 2] = [
    "autoscaling:DescribeAutoScalingGroups",
    "ec2:DescribeSecurityGroups",
];

/// RDS actions that create, change or delete something.
const RDS_WRITES: [&str; 8] = [
    "rds:CreateDBInstance",
    "rds:CreateDBClusterSnapshot",
    "rds:RestoreDBClusterToPointInTime",
    "rds:AddTagsToResource",
    "rds:ModifyDBCluster",
    "rds:ModifyDBInstance",
    "rds:DeleteDBCluster",
    "rds:DeleteDBInstance",
];

/// Actions that write tags, and the tag keys each may write.
const TAG_WRITES: [(&str, &[&str]); 3] = [
    ("rds:AddTagsToResource", &["offpeak:*"]),
    (
        "autoscaling:CreateOrUpdateTags",
        &["offpeak:*", "k8s.io/cluster-autoscaler/*"],
    ),
    (
        "autoscaling:DeleteTags",
        &["offpeak:*", "k8s.io/cluster-autoscaler/*"],
    ),
];

const OWNER_TAG: &str = "offpeak:managed-by";
const FUNCTION_TAG: &str = "offpeak:function";

// ------------------------------------------------------------------------------------------------
// Parameter sets
// ------------------------------------------------------------------------------------------------

struct Scenario {
    name: &'static str,
    params: BTreeMap<&'static str, &'static str>,
}

impl Scenario {
    /// Values for the parameters without a default, which every deployment must give.
    fn base(name: &'static str) -> Self {
        let params = BTreeMap::from([
            ("VpcId", "vpc-0123456789abcdef0"),
            ("MaskedRefreshSubnetIds", "subnet-0aaa1111,subnet-0bbb2222"),
            ("MaskedRefreshSecurityGroupId", "sg-0fff5555eeee6666a"),
        ]);
        Scenario { name, params }
    }

    fn with(mut self, key: &'static str, value: &'static str) -> Self {
        self.params.insert(key, value);
        self
    }

    /// The parameter's value in this scenario, the template default otherwise.
    fn value(&self, key: &str) -> String {
        match self.params.get(key) {
            Some(v) => (*v).to_owned(),
            None => template()["Parameters"][key]["Default"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn is_set(&self, key: &str) -> bool {
        !self.value(key).is_empty()
    }

    fn topic_encrypted(&self) -> bool {
        !self.is_set("ExistingTopicArn") || self.is_set("ExistingTopicKmsKeyArn")
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::base("defaults"),
        Scenario::base("every option")
            .with("NotificationEmail", "ops@example.com")
            .with(
                "ExistingTopicArn",
                "arn:aws:sns:ap-northeast-1:123456789012:ops-alerts",
            )
            .with(
                "ExistingTopicKmsKeyArn",
                "arn:aws:kms:ap-northeast-1:123456789012:key/0a1b2c3d-0000-4000-8000-0123456789ab",
            )
            .with(
                "SourceKmsKeyArn",
                "arn:aws:kms:ap-northeast-1:123456789012:key/9f8e7d6c-0000-4000-8000-0123456789ab",
            )
            .with(
                "RdsMonitoringRoleArn",
                "arn:aws:iam::123456789012:role/rds-monitoring-role",
            )
            .with("RulesCheckSecretId", "offpeak/prod-catalog-check")
            .with("CloneParameterGroupFamily", "aurora-postgresql16"),
        Scenario::base("leanest")
            .with(
                "ExistingTopicArn",
                "arn:aws:sns:ap-northeast-1:123456789012:ops-alerts",
            )
            .with("SelfManagedAsgNames", ""),
    ]
}

// ------------------------------------------------------------------------------------------------
// The policies as IAM will see them
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Statement {
    sid: String,
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Value,
    raw_keys: Vec<String>,
}

impl Statement {
    /// Values of `Condition[operator][key]`.
    fn condition_values(&self, operator: &str, key: &str) -> Vec<String> {
        strings(&self.condition[operator][key])
    }

    fn requires(&self, key: &str, value: &str) -> bool {
        self.condition_values("StringEquals", key) == [value]
    }

    fn has(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }
}

struct Role {
    statements: Vec<Statement>,
    managed: Vec<String>,
}

impl Role {
    fn allowed(&self) -> impl Iterator<Item = &Statement> {
        self.statements.iter().filter(|s| s.allow)
    }

    fn allowed_actions(&self) -> BTreeSet<String> {
        self.allowed().flat_map(|s| s.actions.clone()).collect()
    }
}

/// Everything the rules look at, for one scenario.
struct Model<'s> {
    scenario: &'s Scenario,
    /// Function name (`aurora-replicas`, ...) → its role.
    roles: BTreeMap<String, Role>,
    /// Functions that carry their own policies (SAM `Policies:`) instead of a role from the IAM section.
    sam_policies: Vec<String>,
}

impl<'s> Model<'s> {
    fn build(template: &Value, scenario: &'s Scenario) -> Self {
        let cfn = Cfn::new(template, scenario.name, &scenario.params);
        let resources = template["Resources"].as_object().expect("Resources");
        let mut roles = BTreeMap::new();
        let mut sam_policies = Vec::new();
        for (logical, resource) in resources {
            if resource["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            let function = function_name(resource);
            if resource["Properties"].get("Policies").is_some() {
                sam_policies.push(function.clone());
            }
            let role_ref = &resource["Properties"]["Role"]["Fn::GetAtt"];
            let role_id = role_ref[0]
                .as_str()
                .unwrap_or_else(|| panic!("{logical}: Role must be Fn::GetAtt [<role>, Arn]"));
            let role = cfn.eval(&resources[role_id]).expect("role resource");
            assert_eq!(role["Type"], "AWS::IAM::Role", "{logical} role {role_id}");
            roles.insert(function, parse_role(&role["Properties"]));
        }
        Model {
            scenario,
            roles,
            sam_policies,
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}")
    }

    fn production_cluster(&self) -> String {
        self.arn(
            "rds",
            &format!("cluster:{}", self.scenario.value("ProductionClusterId")),
        )
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.scenario
            .value(key)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn parse_role(properties: &Value) -> Role {
    let mut statements = Vec::new();
    for policy in properties["Policies"].as_array().into_iter().flatten() {
        for s in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("Statement list")
        {
            statements.push(Statement {
                sid: s["Sid"].as_str().unwrap_or("(no Sid)").to_owned(),
                allow: match s["Effect"].as_str() {
                    Some("Allow") => true,
                    Some("Deny") => false,
                    other => panic!("Effect {other:?}"),
                },
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
                condition: s["Condition"].clone(),
                raw_keys: s.as_object().expect("statement").keys().cloned().collect(),
            });
        }
    }
    Role {
        statements,
        managed: strings(&properties["ManagedPolicyArns"]),
    }
}

/// `db`, `cluster`, `pg`, ... of an RDS ARN, and the name (pattern) after it.
fn rds_resource(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(7, ':');
    let service = parts.nth(2)?;
    let kind = parts.nth(2)?;
    let name = parts.next()?;
    (service == "rds").then_some((kind, name))
}

// ------------------------------------------------------------------------------------------------
// The rules. Each returns what it found wrong; the tests below assert none.
// ------------------------------------------------------------------------------------------------

type Rule = fn(&Model) -> Vec<String>;

fn rules() -> [(&'static str, Rule); 9] {
    [
        ("roles", roles_are_in_the_iam_section),
        ("action sets", action_sets_are_exact),
        ("wildcards", no_wildcard_actions_or_resources),
        ("region", wildcard_arns_are_pinned_to_the_region),
        ("ownership", rds_writes_reach_only_offpeak_resources),
        ("production", production_is_only_cloned),
        ("dev only", eks_writes_reach_only_dev_clusters),
        ("tag keys", tag_writes_carry_only_offpeak_keys),
        ("targets", reads_and_publishes_reach_only_offpeak_resources),
    ]
}

fn roles_are_in_the_iam_section(m: &Model) -> Vec<String> {
    let mut found: Vec<String> = m
        .sam_policies
        .iter()
        .map(|f| format!("{f}: SAM `Policies:` on the function; permissions belong in its role"))
        .collect();
    let names: BTreeSet<&str> = m.roles.keys().map(String::as_str).collect();
    if names != BTreeSet::from(FUNCTIONS) {
        found.push(format!(
            "functions with roles: {names:?}, expected {FUNCTIONS:?}"
        ));
    }
    for (function, role) in &m.roles {
        if role.managed != expected_managed_policies(function) {
            found.push(format!("{function}: managed policies {:?}", role.managed));
        }
        for s in &role.statements {
            for key in &s.raw_keys {
                if !["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()) {
                    found.push(format!("{function} {}: `{key}` is not allowed here", s.sid));
                }
            }
        }
    }
    found
}

fn action_sets_are_exact(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    for (function, role) in &m.roles {
        let actual = role.allowed_actions();
        let expected = expected_actions(function, m.scenario);
        for extra in actual.difference(&expected) {
            found.push(format!("{function}: {extra} is allowed but not expected"));
        }
        for missing in expected.difference(&actual) {
            found.push(format!("{function}: {missing} is expected but not allowed"));
        }
    }
    found
}

fn no_wildcard_actions_or_resources(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    for (function, role) in &m.roles {
        for s in role.allowed() {
            for a in s
                .actions
                .iter()
                .filter(|a| a.contains('*') || a.contains('?'))
            {
                found.push(format!("{function} {}: wildcard action {a}", s.sid));
            }
            let star_only = s
                .actions
                .iter()
                .all(|a| STAR_ONLY_ACTIONS.contains(&a.as_str()));
            if s.resources.iter().any(|r| r == "*") && !star_only {
                found.push(format!(
                    "{function} {}: Resource \"*\" for {:?}",
                    s.sid, s.actions
                ));
            }
            if s.resources.is_empty() {
                found.push(format!("{function} {}: no Resource", s.sid));
            }
        }
    }
    found
}

/// `arn:*:svc:*:*:...` is how the template spells ARNs built from list parameters; the statement
/// must pin the region so the wildcard does not reach other regions.
fn wildcard_arns_are_pinned_to_the_region(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    for (function, role) in &m.roles {
        for s in role.allowed() {
            let wildcard = s.resources.iter().any(|r| r.starts_with("arn:*:"));
            if wildcard && !s.requires("aws:RequestedRegion", REGION) {
                found.push(format!(
                    "{function} {}: arn:*: without aws:RequestedRegion",
                    s.sid
                ));
            }
        }
    }
    found
}

/// RDS creates, changes and deletes reach only resources offpeak created: named as offpeak names
/// them (the name, before any wildcard, contains "offpeak") or carrying the offpeak owner tag.
/// Creates must also tag the new resource as offpeak's. Parameter, option and subnet groups may be
/// referenced by a create, never changed.
fn rds_writes_reach_only_offpeak_resources(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    let replica_clusters: Vec<String> = m
        .list("ReplicaClusterIds")
        .iter()
        .map(|c| format!("arn:*:rds:*:*:cluster:{c}"))
        .collect();
    let production = m.production_cluster();
    for (function, role) in &m.roles {
        for s in role.allowed() {
            let writes: Vec<&str> = s
                .actions
                .iter()
                .map(String::as_str)
                .filter(|a| RDS_WRITES.contains(a))
                .collect();
            let creates = writes.iter().all(|a| {
                matches!(
                    *a,
                    "rds:CreateDBInstance" | "rds:RestoreDBClusterToPointInTime"
                )
            });
            let tagged_at_creation = s.requires(&format!("aws:RequestTag/{OWNER_TAG}"), "offpeak");
            if creates && !writes.is_empty() && !tagged_at_creation {
                found.push(format!(
                    "{function} {}: creates without tagging as offpeak's",
                    s.sid
                ));
            }
            for action in &writes {
                for r in &s.resources {
                    let Some((kind, name)) = rds_resource(r) else {
                        found.push(format!("{function} {}: {action} on non-RDS {r}", s.sid));
                        continue;
                    };
                    let offpeak_named = name
                        .split(['*', '?'])
                        .next()
                        .unwrap_or_default()
                        .contains("offpeak");
                    let owner_tag = match kind {
                        "db" => s.requires(&format!("rds:db-tag/{OWNER_TAG}"), "offpeak"),
                        "cluster" => s.requires(&format!("rds:cluster-tag/{OWNER_TAG}"), "offpeak"),
                        _ => false,
                    };
                    let referenced_group =
                        matches!(kind, "pg" | "og" | "subgrp" | "cluster-pg") && creates;
                    // A replica is created *in* a configured cluster; a clone is restored *from* production.
                    let parent = kind == "cluster"
                        && ((*action == "rds:CreateDBInstance"
                            && function == "aurora-replicas"
                            && replica_clusters.contains(r))
                            || (*action == "rds:RestoreDBClusterToPointInTime"
                                && *r == production));
                    if !(offpeak_named || owner_tag || referenced_group || parent) {
                        found.push(format!(
                            "{function} {}: {action} reaches {r}, which offpeak did not create",
                            s.sid
                        ));
                    }
                }
            }
        }
    }
    // aurora-replicas deletes its replicas also after their cluster left ReplicaClusterIds, so its
    // deletes are bounded by the name and by *both* tags: the owner and the function.
    if let Some(role) = m.roles.get("aurora-replicas") {
        for s in role.allowed().filter(|s| s.has("rds:DeleteDBInstance")) {
            let tagged = s.requires(&format!("rds:db-tag/{OWNER_TAG}"), "offpeak")
                && s.requires(&format!("rds:db-tag/{FUNCTION_TAG}"), "aurora-replicas");
            let named = s.resources.iter().all(|r| r.ends_with("-offpeak-*"));
            if !(tagged && named) {
                found.push(format!("aurora-replicas {}: deletes need the owner and function tags and the <cluster>-offpeak-<n> name", s.sid));
            }
        }
    }
    found
}

/// Only masked-refresh names production, only as the source of a point-in-time restore; an
/// explicit Deny covers every write its tag-scoped statements could otherwise reach.
fn production_is_only_cloned(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    let production = m.production_cluster();
    let clone_prefix = m.arn(
        "rds",
        &format!("cluster:{}*", m.scenario.value("CloneIdPrefix")),
    );
    if glob(&clone_prefix, &production) {
        found.push(format!(
            "CloneIdPrefix pattern {clone_prefix} matches production {production}"
        ));
    }
    for (function, role) in &m.roles {
        let restores = role
            .allowed()
            .filter(|s| s.has("rds:RestoreDBClusterToPointInTime"));
        for s in restores {
            if function != "masked-refresh" {
                found.push(format!(
                    "{function} {}: only masked-refresh may clone",
                    s.sid
                ));
            }
            if s.actions != ["rds:RestoreDBClusterToPointInTime"] {
                found.push(format!(
                    "{function} {}: the restore statement grants more: {:?}",
                    s.sid, s.actions
                ));
            }
            let clusters: BTreeSet<&str> = s
                .resources
                .iter()
                .filter(|r| rds_resource(r).is_some_and(|(kind, _)| kind == "cluster"))
                .map(String::as_str)
                .collect();
            if clusters != BTreeSet::from([production.as_str(), clone_prefix.as_str()]) {
                found.push(format!("{function} {}: restore clusters {clusters:?}, expected production (source) and the clone prefix (target)", s.sid));
            }
        }
    }
    let Some(role) = m.roles.get("masked-refresh") else {
        found.push("no masked-refresh role".to_owned());
        return found;
    };
    if !role
        .allowed()
        .any(|s| s.has("rds:RestoreDBClusterToPointInTime"))
    {
        found.push("masked-refresh may not clone production at all".to_owned());
    }
    let denied: BTreeSet<&str> = role
        .statements
        .iter()
        .filter(|s| !s.allow && s.resources == [production.clone()])
        .flat_map(|s| s.actions.iter().map(String::as_str))
        .collect();
    for s in role
        .allowed()
        .filter(|s| s.resources.iter().any(|r| glob(r, &production)))
    {
        for a in &s.actions {
            // Read-only: RDS describes, the restore that reads production, and the read-only
            // describes of other services that only `Resource: "*"` can grant (they name no RDS
            // resource type, so they never act on the cluster).
            let read = a.starts_with("rds:Describe")
                || a == "rds:RestoreDBClusterToPointInTime"
                || STAR_ONLY_ACTIONS.contains(&a.as_str());
            let instance_only =
                matches!(a.as_str(), "rds:ModifyDBInstance" | "rds:DeleteDBInstance");
            if !(read || instance_only || denied.contains(a.as_str())) {
                found.push(format!(
                    "masked-refresh {}: {a} reaches production {production} and is not denied",
                    s.sid
                ));
            }
        }
    }
    found
}

/// Node groups and Auto Scaling groups change only in the dev clusters named by parameters.
fn eks_writes_reach_only_dev_clusters(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    let dev = m.list("EksClusterNames");
    let nodegroups: Vec<String> = dev
        .iter()
        .map(|c| format!("arn:*:eks:*:*:nodegroup/{c}/*/*"))
        .collect();
    let clusters: Vec<String> = dev
        .iter()
        .map(|c| format!("arn:*:eks:*:*:cluster/{c}"))
        .collect();
    let named_asgs: Vec<String> = m
        .list("SelfManagedAsgNames")
        .iter()
        .map(|n| format!("arn:*:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/{n}"))
        .collect();
    for (function, role) in &m.roles {
        for s in role.allowed() {
            for a in &s.actions {
                let allowed: &[String] = match a.as_str() {
                    "eks:ListNodegroups" => &clusters,
                    "eks:DescribeNodegroup" | "eks:UpdateNodegroupConfig" => &nodegroups,
                    "autoscaling:UpdateAutoScalingGroup" => &named_asgs,
                    "autoscaling:CreateOrUpdateTags" | "autoscaling:DeleteTags" => {
                        let by_cluster_tag = s
                            .condition_values("StringEquals", "aws:ResourceTag/eks:cluster-name")
                            == dev;
                        if by_cluster_tag {
                            continue;
                        }
                        &named_asgs
                    }
                    _ => continue,
                };
                if s.resources.iter().any(|r| !allowed.contains(r)) {
                    found.push(format!(
                        "{function} {}: {a} on {:?}, outside the dev clusters {dev:?}",
                        s.sid, s.resources
                    ));
                }
            }
        }
    }
    found
}

/// Tag writes carry only offpeak's keys (and the cluster autoscaler's), except RDS's tag-on-create
/// authorization of a new resource: a replica is created with its cluster's own tags.
fn tag_writes_carry_only_offpeak_keys(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    for (function, role) in &m.roles {
        for s in role.allowed() {
            for (action, keys) in TAG_WRITES {
                if !s.has(action) || tags_only_at_creation(s) || tags_copied_to_final_snapshots(s) {
                    continue;
                }
                let limit = s.condition_values("ForAllValues:StringLike", "aws:TagKeys");
                if limit.is_empty() || limit.iter().any(|k| !keys.contains(&k.as_str())) {
                    found.push(format!(
                        "{function} {}: {action} may write tag keys {limit:?}, allowed {keys:?}",
                        s.sid
                    ));
                }
            }
        }
    }
    found
}

/// An `rds:AddTagsToResource` statement for RDS's tag-on-create check: nothing else, the request
/// must tag the resource as offpeak's, and it reaches only offpeak-named instances or clusters.
fn tags_only_at_creation(s: &Statement) -> bool {
    let only_tagging = s.actions == ["rds:AddTagsToResource"];
    let requested = s.requires(&format!("aws:RequestTag/{OWNER_TAG}"), "offpeak");
    let named = s.resources.iter().all(|r| {
        rds_resource(r).is_some_and(|(kind, name)| {
            matches!(kind, "db" | "cluster")
                && name
                    .split(['*', '?'])
                    .next()
                    .unwrap_or_default()
                    .contains("offpeak")
        })
    });
    only_tagging && requested && named
}

/// An `rds:AddTagsToResource` statement for the tags RDS copies from a cluster onto the final
/// snapshot offpeak asks for when deleting it: nothing else, and only cluster snapshots named as
/// offpeak names them. The keys are the cluster's (a person's), so they cannot be limited; the
/// snapshot is offpeak's own, made in the same call.
fn tags_copied_to_final_snapshots(s: &Statement) -> bool {
    let only_tagging = s.actions == ["rds:AddTagsToResource"];
    let named = s.resources.iter().all(|r| {
        rds_resource(r).is_some_and(|(kind, name)| {
            kind == "cluster-snapshot"
                && name
                    .split(['*', '?'])
                    .next()
                    .unwrap_or_default()
                    .contains("offpeak")
        })
    });
    only_tagging && named && !s.resources.is_empty()
}

/// State, notifications, secrets, logs and KMS: only offpeak's own resources and the named secrets.
fn reads_and_publishes_reach_only_offpeak_resources(m: &Model) -> Vec<String> {
    let mut found = Vec::new();
    let topic = match m.scenario.value("ExistingTopicArn") {
        t if t.is_empty() => "{Ref NotificationTopic}".to_owned(),
        t => t,
    };
    let topic_key = if m.scenario.is_set("ExistingTopicArn") {
        m.scenario.value("ExistingTopicKmsKeyArn")
    } else {
        "{GetAtt OffpeakKey.Arn}".to_owned()
    };
    let secret = |key: &str| {
        m.arn(
            "secretsmanager",
            &format!("secret:{}-??????", m.scenario.value(key)),
        )
    };
    let mut secrets = vec![secret("DevPasswordSecretId"), secret("MaskingSaltSecretId")];
    if m.scenario.is_set("RulesCheckSecretId") {
        secrets.push(secret("RulesCheckSecretId"));
    }
    for (function, role) in &m.roles {
        let log_group = format!("{{GetAtt {}LogGroup.Arn}}", pascal(function));
        for s in role.allowed() {
            for a in &s.actions {
                let expected: Vec<String> = match a.as_str() {
                    a if a.starts_with("dynamodb:") => vec!["{GetAtt StateTable.Arn}".to_owned()],
                    "sns:Publish" => vec![topic.clone()],
                    "kms:GenerateDataKey" | "kms:Decrypt" => vec![topic_key.clone()],
                    "kms:CreateGrant" | "kms:DescribeKey" => {
                        vec![m.scenario.value("SourceKmsKeyArn")]
                    }
                    "secretsmanager:GetSecretValue" => secrets.clone(),
                    a if a.starts_with("logs:") => vec![log_group.clone()],
                    "iam:PassRole" => vec![m.scenario.value("RdsMonitoringRoleArn")],
                    _ => continue,
                };
                if s.resources != expected {
                    found.push(format!(
                        "{function} {}: {a} on {:?}, expected {expected:?}",
                        s.sid, s.resources
                    ));
                }
            }
            let via = s.condition_values("StringEquals", "kms:ViaService");
            if s.actions.iter().any(|a| a.starts_with("kms:")) && via.len() != 1 {
                found.push(format!(
                    "{function} {}: KMS use without a single kms:ViaService",
                    s.sid
                ));
            }
        }
    }
    found
}

/// `aurora-replicas` → `AuroraReplicas` (the template's logical-id stem).
fn pascal(function: &str) -> String {
    function
        .split('-')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn assert_rule(name: &str, rule: Rule) {
    let mut report = Vec::new();
    for scenario in scenarios() {
        let model = Model::build(template(), &scenario);
        report.extend(
            rule(&model)
                .into_iter()
                .map(|v| format!("[{}] {v}", scenario.name)),
        );
    }
    assert!(
        report.is_empty(),
        "IAM rule \"{name}\" broken:\n{}",
        report.join("\n")
    );
}

#[test]
fn every_function_runs_as_its_own_role_from_the_iam_section() {
    assert_rule("roles", roles_are_in_the_iam_section);
}

#[test]
fn each_function_may_call_exactly_the_actions_it_uses() {
    assert_rule("action sets", action_sets_are_exact);
}

#[test]
fn no_wildcard_actions_and_resource_star_only_for_describes_without_resource_permissions() {
    assert_rule("wildcards", no_wildcard_actions_or_resources);
}

#[test]
fn wildcard_partition_arns_are_pinned_to_the_stack_region() {
    assert_rule("region", wildcard_arns_are_pinned_to_the_region);
}

#[test]
fn rds_deletes_and_modifications_reach_only_what_offpeak_created() {
    assert_rule("ownership", rds_writes_reach_only_offpeak_resources);
}

#[test]
fn production_is_only_ever_cloned() {
    assert_rule("production", production_is_only_cloned);
}

#[test]
fn node_groups_and_auto_scaling_groups_change_only_in_dev_clusters() {
    assert_rule("dev only", eks_writes_reach_only_dev_clusters);
}

#[test]
fn tag_writes_carry_only_offpeak_and_cluster_autoscaler_keys() {
    assert_rule("tag keys", tag_writes_carry_only_offpeak_keys);
}

#[test]
fn state_notifications_secrets_and_logs_are_offpeaks_own() {
    assert_rule("targets", reads_and_publishes_reach_only_offpeak_resources);
}

/// A way to broaden the template, the rule that must notice it, and the edit itself.
type Broadening = (&'static str, &'static str, fn(&mut Value));

/// The rules above would notice each of these broadenings.
#[test]
fn broadened_policies_are_caught() {
    let cases: [Broadening; 12] = [
        ("rds:* on aurora-replicas", "wildcards", |t| {
            statement(t, "AuroraReplicasRole", "ObserveClusters")["Action"] = json!("rds:*");
        }),
        ("delete without the owner tag", "ownership", |t| {
            let s = statement(t, "AuroraReplicasRole", "RemoveAndRetagOwnReplicas");
            s.as_object_mut().unwrap().remove("Condition");
        }),
        ("delete another function's replicas", "ownership", |t| {
            let s = statement(t, "AuroraReplicasRole", "RemoveAndRetagOwnReplicas");
            s["Condition"]["StringEquals"]
                .as_object_mut()
                .unwrap()
                .remove("rds:db-tag/offpeak:function");
        }),
        ("tag on create without the owner tag", "tag keys", |t| {
            let s = statement(t, "AuroraReplicasRole", "TagReplicasAtCreation");
            s["Condition"]["StringEquals"]
                .as_object_mut()
                .unwrap()
                .remove("aws:RequestTag/offpeak:managed-by");
        }),
        ("tag on create reaching any instance", "tag keys", |t| {
            statement(t, "AuroraReplicasRole", "TagReplicasAtCreation")["Resource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*"});
        }),
        ("copy tags onto any snapshot", "tag keys", |t| {
            statement(t, "MaskedRefreshRole", "CopyTagsToFinalSnapshots")["Resource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:cluster-snapshot:*"});
        }),
        ("snapshot any cluster", "ownership", |t| {
            let s = statement(t, "MaskedRefreshRole", "FinalSnapshotOfHandedOverClusters");
            s.as_object_mut().unwrap().remove("Condition");
        }),
        ("retag with any key", "tag keys", |t| {
            let s = statement(t, "AuroraReplicasRole", "RemoveAndRetagOwnReplicas");
            s["Condition"]
                .as_object_mut()
                .unwrap()
                .remove("ForAllValues:StringLike");
        }),
        ("delete every instance", "ownership", |t| {
            statement(t, "MaskedRefreshRole", "ManageClones")["Resource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*"});
        }),
        ("modify production", "production", |t| {
            let s = statement(t, "MaskedRefreshRole", "NeverWriteProduction");
            s["Action"] = json!([
                "rds:AddTagsToResource",
                "rds:CreateDBInstance",
                "rds:DeleteDBCluster"
            ]);
        }),
        ("restore from any cluster", "production", |t| {
            statement(t, "MaskedRefreshRole", "CloneProduction")["Resource"][0] = json!({"Fn::Sub": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:cluster:*"});
        }),
        ("scale any node group", "dev only", |t| {
            statement(t, "EksNodegroupsRole", "ScaleDevNodegroups")["Resource"] = json!("*");
        }),
    ];
    let scenario = Scenario::base("defaults");
    let intact = Model::build(template(), &scenario);
    for (name, rule, mutate) in cases {
        let (_, check) = rules()
            .into_iter()
            .find(|(r, _)| *r == rule)
            .expect("rule name");
        assert!(
            check(&intact).is_empty(),
            "rule {rule} fails on the template itself"
        );
        let mut broadened = template().clone();
        mutate(&mut broadened);
        let model = Model::build(&broadened, &scenario);
        assert!(!check(&model).is_empty(), "rule {rule} missed: {name}");
    }
}

/// The statement `sid` of `role`'s (first) inline policy.
fn statement<'t>(template: &'t mut Value, role: &str, sid: &str) -> &'t mut Value {
    template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .expect("statements")
        .iter_mut()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("{role} has no statement {sid}"))
}

// ------------------------------------------------------------------------------------------------
// Build, schedule, events and defaults
// ------------------------------------------------------------------------------------------------

fn functions(t: &Value) -> Vec<(&String, &Value)> {
    t["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect()
}

#[test]
fn functions_are_built_and_scheduled_as_deployed() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["Handler"], "bootstrap");
    let found = functions(t);
    assert_eq!(found.len(), FUNCTIONS.len());
    for (logical, f) in found {
        let p = &f["Properties"];
        assert_eq!(
            f["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{logical}"
        );
        assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON", "{logical}");
        assert_eq!(p["ReservedConcurrentExecutions"], 1, "{logical}");
        assert!(
            p.get("Runtime").is_none() && p.get("Architectures").is_none(),
            "{logical}: set in Globals"
        );
        let bin = function_name(f);
        let manifest = workspace_file(&format!("functions/{bin}/Cargo.toml"));
        let manifest = std::fs::read_to_string(&manifest).expect("function manifest");
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{logical}: bin target {bin}"
        );

        let events = p["Events"].as_object().expect("Events");
        let expected = match logical.as_str() {
            "MaskedRefreshFunction" => BTreeSet::from(["RulesCheck", "Tick"]),
            _ => BTreeSet::from(["Tick"]),
        };
        assert_eq!(
            events.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            expected,
            "{logical}: its schedules"
        );
        let tick = &events["Tick"];
        assert_eq!(tick["Type"], "ScheduleV2", "{logical}");
        let s = &tick["Properties"];
        assert_eq!(
            s["ScheduleExpression"],
            json!({"Ref": "TickRate"}),
            "{logical}"
        );
        assert_eq!(
            s["ScheduleExpressionTimezone"],
            json!({"Ref": "ScheduleTimezone"}),
            "{logical}"
        );
        assert_eq!(s["OmitName"], true, "{logical}");
        assert!(
            s["RetryPolicy"]["MaximumRetryAttempts"].is_number(),
            "{logical}"
        );
        assert_eq!(
            s["DeadLetterConfig"]["Arn"],
            json!({"Fn::GetAtt": ["TickDeadLetterQueue", "Arn"]}),
            "{logical}"
        );
    }
    assert_eq!(t["Parameters"]["TickRate"]["Default"], "rate(5 minutes)");
}

/// The daily rules check: its own schedule hours before the window, derived parameters, the
/// check event as input, disabled until a production login is named, dead letters kept.
#[test]
fn the_rules_check_is_scheduled_daily_and_only_with_a_login() {
    let t = template();
    let f = &t["Resources"]["MaskedRefreshFunction"]["Properties"];
    let s = &f["Events"]["RulesCheck"]["Properties"];
    assert_eq!(f["Events"]["RulesCheck"]["Type"], "ScheduleV2");
    assert_eq!(
        s["ScheduleExpression"],
        json!({"Ref": "RulesCheckSchedule"})
    );
    assert_eq!(
        s["ScheduleExpressionTimezone"],
        json!({"Ref": "RulesCheckTimezone"})
    );
    assert_eq!(
        s["State"],
        json!({"Fn::If": ["HasRulesCheck", {"Ref": "ScheduleState"}, "DISABLED"]})
    );
    let input = InvocationEvent::from_json_str(s["Input"].as_str().expect("Input")).unwrap();
    assert_eq!(input.check, Some(offpeak_shared::event::Check::Rules));
    assert!(!input.dry_run);
    assert_eq!(
        s["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["TickDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        f["Environment"]["Variables"]["OFFPEAK_RULES_CHECK_SECRET"],
        json!({"Ref": "RulesCheckSecretId"})
    );
    // The shipped window opens at 03:00 Asia/Tokyo: the check runs at 21:00 the evening before.
    assert_eq!(
        t["Parameters"]["RulesCheckSchedule"]["Default"],
        "cron(0 21 * * ? *)"
    );
    assert_eq!(
        t["Parameters"]["RulesCheckTimezone"]["Default"],
        "Asia/Tokyo"
    );
    assert_eq!(t["Parameters"]["RulesCheckSecretId"]["Default"], "");
}

/// The stack's parameter groups for the clone and the variables naming them to the function,
/// evaluated for `family` (`CloneParameterGroupFamily`).
fn clone_parameter_groups(family: &'static str) -> (bool, Option<Value>, Option<Value>, Value) {
    let scenario = Scenario::base(family).with("CloneParameterGroupFamily", family);
    let cfn = Cfn::new(template(), scenario.name, &scenario.params);
    let t = template();
    let made = cfn.condition("HasCloneParameterGroups");
    let group = |logical: &str| {
        let resource = &t["Resources"][logical];
        assert_eq!(
            resource["Condition"], "HasCloneParameterGroups",
            "{logical}"
        );
        made.then(|| {
            let properties = cfn.eval(&resource["Properties"]).expect("properties");
            assert_eq!(properties["Family"], family, "{logical}");
            properties["Parameters"].clone()
        })
    };
    let variables = cfn
        .eval(&t["Resources"]["MaskedRefreshFunction"]["Properties"]["Environment"]["Variables"])
        .expect("variables");
    (
        made,
        group("CloneClusterParameterGroup"),
        group("CloneInstanceParameterGroup"),
        variables,
    )
}

#[test]
fn with_a_family_set_the_clone_runs_with_logging_off_at_both_levels() {
    let t = template();
    assert_eq!(
        t["Resources"]["CloneClusterParameterGroup"]["Type"],
        "AWS::RDS::DBClusterParameterGroup"
    );
    assert_eq!(
        t["Resources"]["CloneInstanceParameterGroup"]["Type"],
        "AWS::RDS::DBParameterGroup"
    );
    // Aurora PostgreSQL: statements, their parameters, the statement behind an error and the
    // error's DETAIL never logged, at the cluster and the instance level alike
    let postgres = json!({
        "log_statement": "none",
        "log_min_duration_statement": "-1",
        "log_min_error_statement": "panic",
        "log_min_messages": "panic",
        "log_error_verbosity": "terse",
        "log_parameter_max_length": "0",
        "log_parameter_max_length_on_error": "0",
    });
    for family in ["aurora-postgresql16", "aurora-postgresql13"] {
        let (made, cluster, instance, vars) = clone_parameter_groups(family);
        assert!(made, "{family}");
        assert_eq!(cluster, Some(postgres.clone()), "{family}");
        assert_eq!(instance, Some(postgres.clone()), "{family}");
        assert_eq!(
            vars["OFFPEAK_CLONE_CLUSTER_PARAMETER_GROUP"],
            "{Ref CloneClusterParameterGroup}"
        );
        assert_eq!(
            vars["OFFPEAK_CLONE_INSTANCE_PARAMETER_GROUP"],
            "{Ref CloneInstanceParameterGroup}"
        );
    }
    // Aurora MySQL: Advanced Auditing (cluster level), the general and slow query logs (instance
    // level)
    let (made, cluster, instance, _) = clone_parameter_groups("aurora-mysql8.0");
    assert!(made);
    assert_eq!(cluster, Some(json!({"server_audit_logging": "0"})));
    assert_eq!(
        instance,
        Some(json!({"general_log": "0", "slow_query_log": "0"}))
    );
    // Empty (the default): no groups, and the function is told none ("": production's group)
    assert_eq!(t["Parameters"]["CloneParameterGroupFamily"]["Default"], "");
    let (made, cluster, instance, vars) = clone_parameter_groups("");
    assert!(!made);
    assert_eq!((cluster, instance), (None, None));
    assert_eq!(vars["OFFPEAK_CLONE_CLUSTER_PARAMETER_GROUP"], "");
    assert_eq!(vars["OFFPEAK_CLONE_INSTANCE_PARAMETER_GROUP"], "");
}

#[test]
fn the_clone_family_accepts_aurora_families_whose_parameters_the_groups_set() {
    let decl = &template()["Parameters"]["CloneParameterGroupFamily"];
    assert!(decl["ConstraintDescription"].is_string());
    let re = regex::Regex::new(decl["AllowedPattern"].as_str().expect("AllowedPattern")).unwrap();
    for good in [
        "",
        "aurora-postgresql13",
        "aurora-postgresql16",
        "aurora-postgresql17",
        "aurora-mysql5.7",
        "aurora-mysql8.0",
    ] {
        assert!(re.is_match(good), "refuses {good:?}");
    }
    // log_parameter_max_length is PostgreSQL 13's: an older family would fail the stack.
    for bad in [
        "aurora-postgresql12",
        "aurora-postgresql11",
        "postgres16",
        "mysql8.0",
        "aurora-postgresql16,aurora-mysql8.0",
        "aurora-postgresql16 ",
        "aurora",
    ] {
        assert!(!re.is_match(bad), "accepts {bad:?}");
    }
}

#[test]
fn sample_events_are_valid_invocation_events() {
    let dir = workspace_file("events");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "env.json" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("event");
        InvocationEvent::from_json_str(&text).unwrap_or_else(|e| panic!("events/{name}: {e}"));
        seen.insert(name);
    }
    for function in FUNCTIONS {
        assert!(
            seen.iter().any(|n| n.starts_with(function)),
            "no sample event for {function} in events/ ({seen:?})"
        );
    }
}

#[test]
fn env_json_sets_only_variables_the_template_declares() {
    let t = template();
    let env: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_file("events/env.json")).expect("events/env.json"),
    )
    .expect("events/env.json is JSON");
    let globals: BTreeSet<&String> = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .map(|v| v.keys().collect())
        .unwrap_or_default();
    let declared = |logical: Option<&str>| -> BTreeSet<&String> {
        let mut vars = globals.clone();
        let own = logical.map(|l| &t["Resources"][l]["Properties"]["Environment"]["Variables"]);
        if let Some(Value::Object(own)) = own {
            vars.extend(own.keys());
        }
        vars
    };
    for (scope, vars) in env.as_object().expect("env.json is a mapping") {
        let logical = (scope != "Parameters").then_some(scope.as_str());
        if let Some(l) = logical {
            assert_eq!(
                t["Resources"][l]["Type"], "AWS::Serverless::Function",
                "env.json scope {l}"
            );
        }
        let allowed = declared(logical);
        for var in vars.as_object().expect("variables").keys() {
            assert!(
                allowed.contains(var),
                "env.json {scope}: {var} is not declared in template.yaml, so sam local ignores it"
            );
        }
    }
}

/// The defaults let `sam deploy --guided` accept the shipped schedule as it is.
#[test]
fn template_defaults_name_the_targets_of_the_shipped_schedule() {
    let schedule = read_yaml("infra/schedules.yaml");
    let param = |key: &str| -> Vec<String> {
        scalar_text(&template()["Parameters"][key]["Default"])
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let field = |list: &str, key: &str| -> Vec<String> {
        schedule[list]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|target| strings(&target[key]))
            .collect()
    };
    assert_eq!(
        param("ReplicaClusterIds"),
        field("aurora_replicas", "cluster")
    );
    assert_eq!(param("EksClusterNames"), field("eks_nodegroups", "cluster"));
    assert_eq!(
        param("SelfManagedAsgNames"),
        field("eks_nodegroups", "autoscaling_groups")
    );
    let refresh = &schedule["masked_refresh"];
    assert_eq!(
        param("ProductionClusterId"),
        strings(&refresh["source_cluster"])
    );
    assert_eq!(
        param("DevPasswordSecretId"),
        strings(&refresh["dev_password_secret"])
    );
    let rules = format!("infra/{}", scalar_text(&refresh["rules"]));
    assert_eq!(
        param("MaskingSaltSecretId"),
        strings(&read_yaml(&rules)["salt_secret"])
    );
}

// ------------------------------------------------------------------------------------------------
// Parameters, alarms and the schedule layer
// ------------------------------------------------------------------------------------------------

/// The list parameters that become IAM resource ARNs refuse wildcards. CloudFormation applies a
/// CommaDelimitedList's AllowedPattern to each element (Java regex; these patterns mean the same
/// in Rust's `regex`), and an empty value is the one element `""`.
#[test]
fn list_parameters_refuse_wildcards_and_accept_real_names() {
    let cases: [(&str, &[&str], bool); 3] = [
        (
            "ReplicaClusterIds",
            &["prod-aurora", "prod-aurora-us", "Orders2", "a"],
            false,
        ),
        (
            "EksClusterNames",
            &["dev-eks", "sandbox_eks", "2024-dev", "Dev-EKS"],
            false,
        ),
        (
            "SelfManagedAsgNames",
            &["dev-legacy", "eks-app-20261127", "legacy workers", "a.b/c"],
            true,
        ),
    ];
    let t = template();
    for (param, real, empty_ok) in cases {
        let decl = &t["Parameters"][param];
        assert_eq!(decl["Type"], "CommaDelimitedList", "{param}");
        assert!(decl["ConstraintDescription"].is_string(), "{param}");
        let pattern = decl["AllowedPattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{param} has no AllowedPattern"));
        let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{param}: {e}"));
        // CloudFormation: the whole list is accepted only if every element matches.
        let accepts = |value: &str| value.split(',').all(|item| re.is_match(item));
        for bad in ["*", "prod*", "a?b", "?", "dev-eks,*", "arn:aws:rds:*"] {
            assert!(!accepts(bad), "{param} accepts {bad:?}");
        }
        for good in real {
            assert!(accepts(good), "{param} refuses {good:?}");
        }
        assert!(
            accepts(&scalar_text(&decl["Default"])),
            "{param}: the default"
        );
        assert_eq!(accepts(""), empty_ok, "{param}: empty");
    }
}

/// An alarm of the template, evaluated for the default parameters.
fn alarms() -> Vec<Value> {
    let scenario = Scenario::base("defaults");
    let cfn = Cfn::new(template(), scenario.name, &scenario.params);
    template()["Resources"]
        .as_object()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter_map(|r| cfn.eval(&r["Properties"]))
        .collect()
}

fn number(v: &Value) -> u64 {
    scalar_text(v).parse().expect("a whole number")
}

/// Every function has an errors alarm, a failed-actions alarm and a drift alarm, all to the topic,
/// and each can fire at the slowest tick rate the template allows (rate(1 hour)).
#[test]
fn every_function_has_errors_failed_actions_and_drift_alarms_that_fire_at_hourly_ticks() {
    const SLOWEST_TICK: u64 = 3600;
    let alarms = alarms();
    for function in FUNCTIONS {
        let logical = format!("{{Ref {}Function}}", pascal(function));
        let find = |namespace: &str, metric: &str, dimension: (&str, &str)| -> &Value {
            alarms
                .iter()
                .find(|a| {
                    a["Namespace"] == namespace
                        && a["MetricName"] == metric
                        && a["Dimensions"] == json!([{"Name": dimension.0, "Value": dimension.1}])
                })
                .unwrap_or_else(|| panic!("{function}: no {namespace} {metric} alarm"))
        };
        let errors = find("AWS/Lambda", "Errors", ("FunctionName", &logical));
        let failed = find("offpeak", "ActionsFailed", ("Function", function));
        let drift = find("offpeak", "Drift", ("Function", function));
        for (what, a) in [
            ("errors", errors),
            ("failed actions", failed),
            ("drift", drift),
        ] {
            assert_eq!(
                a["AlarmActions"],
                json!(["{Ref NotificationTopic}"]),
                "{function} {what}"
            );
            let missing = a["TreatMissingData"].as_str().unwrap_or("missing");
            assert_ne!(
                missing, "breaching",
                "{function} {what}: no tick is no alarm"
            );
        }
        // Any failed action is seen: Sum over the period above zero.
        assert_eq!(failed["Statistic"], "Sum", "{function}");
        let fires_on_one = (failed["ComparisonOperator"] == "GreaterThanThreshold"
            && number(&failed["Threshold"]) == 0)
            || (failed["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
                && number(&failed["Threshold"]) == 1);
        assert!(
            fires_on_one,
            "{function}: one failed action must fire: {failed}"
        );
        // Drift: every period holds a tick even at hourly ticks, and the datapoints the alarm
        // needs fit in its evaluation range at that rate.
        let period = number(&drift["Period"]);
        let evaluated = number(&drift["EvaluationPeriods"]);
        let needed = drift.get("DatapointsToAlarm").map_or(evaluated, number);
        assert!(period >= SLOWEST_TICK, "{function} drift: period {period}s");
        assert!(
            needed <= evaluated && needed <= period * evaluated / SLOWEST_TICK,
            "{function} drift: {needed} of {evaluated} x {period}s never fires at hourly ticks"
        );
    }
}

/// The schedule and the masking rules ship as a layer that `sam build` packages as it is, and
/// every function reads the schedule from it.
#[test]
fn the_schedule_ships_as_a_layer_every_function_reads() {
    let t = template();
    let layer = &t["Resources"]["ScheduleLayer"];
    assert_eq!(layer["Type"], "AWS::Serverless::LayerVersion");
    assert_eq!(layer["Properties"]["ContentUri"], "infra/");
    assert!(
        layer["Metadata"]["BuildMethod"].is_null(),
        "no BuildMethod: sam build must not build (or change) the schedule"
    );
    assert_eq!(
        layer["Properties"]["CompatibleArchitectures"],
        t["Globals"]["Function"]["Architectures"]
    );
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Layers"], json!([{"Ref": "ScheduleLayer"}]));
    let config = &globals["Environment"]["Variables"]["OFFPEAK_CONFIG"];
    assert_eq!(config, "/opt/schedules.yaml");
    for (logical, f) in functions(t) {
        let p = &f["Properties"];
        assert!(p.get("Layers").is_none(), "{logical}: set in Globals");
        let own = &p["Environment"]["Variables"]["OFFPEAK_CONFIG"];
        assert!(own.is_null(), "{logical}: OFFPEAK_CONFIG set in Globals");
    }
    // What lands in /opt: the schedule, and the rules it names (relative to it).
    let schedule = read_yaml("infra/schedules.yaml");
    let rules = scalar_text(&schedule["masked_refresh"]["rules"]);
    assert!(
        workspace_file(&format!("infra/{rules}")).is_file(),
        "infra/{rules}"
    );
}

// ------------------------------------------------------------------------------------------------
// Chat buttons (ChatbotActions): each AWS Chatbot custom action matches one kind of invite, and
// what it runs, with the notice's variables put in, is the notice's own override event sent to
// the function that holds that state. The channel's policy may invoke those functions only.
// ------------------------------------------------------------------------------------------------

/// The stack with chat buttons on, every function's `Ref` and `Arn` resolved to its deployed name.
fn chat_stack(params: &BTreeMap<&str, &str>) -> (Cfn<'static>, BTreeMap<String, String>) {
    let t = template();
    let mut cfn = Cfn::new(t, "chat buttons", params);
    let plain = Cfn::new(t, "chat buttons", params);
    let mut deployed = BTreeMap::new();
    for (logical, f) in functions(t) {
        let name = scalar_text(&plain.eval(&f["Properties"]["FunctionName"]).unwrap());
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        cfn = cfn
            .with_resource(logical, &name)
            .with_resource(&format!("{logical}.Arn"), &arn);
        deployed.insert(name, function_name(f));
    }
    (cfn, deployed)
}

fn chat_buttons_on() -> Scenario {
    Scenario::base("chat buttons").with("ChatbotActions", "enabled")
}

/// The custom actions, evaluated: (logical id, the one attachment, the command text).
fn custom_actions(cfn: &Cfn) -> Vec<(String, Value, String)> {
    let resources = template()["Resources"].as_object().expect("Resources");
    let mut actions = Vec::new();
    for (logical, r) in resources {
        if r["Type"] != "AWS::Chatbot::CustomAction" {
            continue;
        }
        assert_eq!(r["Condition"], "ChatbotActionsEnabled", "{logical}");
        let p = cfn.eval(&r["Properties"]).expect("properties");
        let attachments = p["Attachments"].as_array().expect("Attachments");
        assert_eq!(attachments.len(), 1, "{logical}: one button per action");
        let command = scalar_text(&p["Definition"]["CommandText"]);
        actions.push((logical.clone(), attachments[0].clone(), command));
    }
    actions
}

/// `$.a.b.c` read from `doc`: a string, or `None` where the path leads nowhere.
fn json_path<'d>(doc: &'d Value, path: &str) -> Option<&'d str> {
    let rest = path
        .strip_prefix("$.")
        .unwrap_or_else(|| panic!("{path}: not $."));
    rest.split('.')
        .try_fold(doc, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// The attachment's variables as extracted from `doc`, if its criteria show the button there.
fn button_variables(attachment: &Value, doc: &Value) -> Option<BTreeMap<String, String>> {
    let vars: BTreeMap<String, String> = attachment["Variables"]
        .as_object()
        .expect("Variables")
        .iter()
        .filter_map(|(name, path)| {
            json_path(doc, path.as_str().expect("a JSONPath")).map(|v| (name.clone(), v.to_owned()))
        })
        .collect();
    let criteria = attachment["Criteria"].as_array().expect("Criteria");
    let shown = criteria.iter().all(|c| {
        let value = vars.get(c["VariableName"].as_str().expect("VariableName"));
        match c["Operator"].as_str() {
            Some("EQUALS") => value.map(String::as_str) == c["Value"].as_str(),
            Some("HAS_VALUE") => value.is_some_and(|v| !v.is_empty()),
            other => panic!("operator {other:?}"),
        }
    });
    shown.then_some(vars)
}

/// `command` with every `$name` replaced by its value, longest names first.
fn substitute(command: &str, vars: &BTreeMap<String, String>) -> String {
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = command.to_owned();
    for name in names {
        out = out.replace(&format!("${name}"), &vars[name]);
    }
    out
}

/// `lambda invoke --opt value ...` as its options.
fn lambda_invoke_options(command: &str) -> BTreeMap<String, String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["lambda", "invoke"], "{command}");
    assert_eq!(words.len() % 2, 0, "{command}: an option without a value");
    words[2..]
        .chunks(2)
        .map(|pair| {
            let option = pair[0]
                .strip_prefix("--")
                .unwrap_or_else(|| panic!("{command}"));
            (option.to_owned(), pair[1].to_owned())
        })
        .collect()
}

fn invited_notices() -> Vec<Notification> {
    let until = Utc.with_ymd_and_hms(2026, 11, 28, 20, 0, 0).unwrap();
    [
        ("eks-nodegroups", "dev-eks/app", Invite::KeepAwake),
        (
            "aurora-replicas",
            "prod-aurora",
            Invite::HoldReplicas { replicas: 2 },
        ),
        ("masked-refresh", "dev-aurora", Invite::SkipUntil { until }),
    ]
    .into_iter()
    .map(|(function, target, invite)| {
        Notification::new(
            Severity::Action,
            function,
            Token::new(target).unwrap(),
            "sample",
        )
        .fact("replicas", 9)
        .invite(invite)
    })
    .collect()
}

#[test]
fn each_chat_button_sends_its_notices_override_to_the_function_that_holds_it() {
    let scenario = chat_buttons_on();
    let (cfn, deployed) = chat_stack(&scenario.params);
    let actions = custom_actions(&cfn);
    assert_eq!(actions.len(), 3, "one action per invite kind");
    for notice in invited_notices() {
        let invite = notice.invite.expect("invited");
        let doc = notice.chatbot_json();
        let shown: Vec<_> = actions
            .iter()
            .filter_map(|(id, a, cmd)| button_variables(a, &doc).map(|v| (id, a, cmd, v)))
            .collect();
        assert_eq!(shown.len(), 1, "{}: buttons {shown:?}", invite.kind());
        let (id, attachment, command, vars) = &shown[0];
        assert_eq!(attachment["ButtonText"], invite.button_text(), "{id}");
        let run = substitute(command, vars);
        assert!(!run.contains('$'), "{id}: unresolved variable in {run}");
        let options = lambda_invoke_options(&run);
        assert_eq!(
            options.keys().collect::<Vec<_>>(),
            ["function-name", "payload", "region"],
            "{id}"
        );
        assert_eq!(options["region"], REGION, "{id}");
        let function = &deployed[&options["function-name"]];
        assert_eq!(function, invite.function(), "{id}");
        assert_eq!(function, notice.function, "{id}");
        let event = InvocationEvent::from_json_str(&options["payload"])
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        event.ensure_override_fits(invite.function()).unwrap();
        assert_eq!(
            event,
            InvocationEvent::from_json_str(&invite.payload(&notice.target)).unwrap(),
            "{id}: the button sends the notice's own override"
        );
    }
}

#[test]
fn notices_without_an_invite_show_no_button() {
    let scenario = chat_buttons_on();
    let (cfn, _) = chat_stack(&scenario.params);
    for mut notice in invited_notices() {
        notice.invite = None;
        let doc = notice.chatbot_json();
        for (id, attachment, _) in custom_actions(&cfn) {
            assert!(
                button_variables(&attachment, &doc).is_none(),
                "{id} shows on {doc}"
            );
        }
    }
}

#[test]
fn chat_buttons_are_off_by_default_and_their_policy_invokes_only_offpeak() {
    let defaults = Scenario::base("defaults");
    assert!(!Cfn::new(template(), "defaults", &defaults.params).condition("ChatbotActionsEnabled"));
    let scenario = chat_buttons_on();
    let (cfn, deployed) = chat_stack(&scenario.params);
    assert!(cfn.condition("ChatbotActionsEnabled"));
    let policy = &template()["Resources"]["ChatbotInvokePolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    assert_eq!(policy["Condition"], "ChatbotActionsEnabled");
    let document = cfn.eval(&policy["Properties"]["PolicyDocument"]).unwrap();
    let statements = document["Statement"].as_array().expect("Statement");
    assert_eq!(statements.len(), 1, "{document}");
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(strings(&s["Action"]), ["lambda:InvokeFunction"]);
    assert!(s.get("NotAction").is_none() && s.get("NotResource").is_none());
    let resources: BTreeSet<String> = strings(&s["Resource"]).into_iter().collect();
    let functions: BTreeSet<String> = deployed
        .keys()
        .map(|name| format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"))
        .collect();
    assert_eq!(resources, functions);
    assert_eq!(
        deployed
            .values()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(FUNCTIONS)
    );
}

/// The hours-saved dashboard turns each function's per-target gauge (offpeak_shared::savings) into
/// the timeline's weekly figure: the Average over a 7-day period that the dashboard may not
/// override, × 168 h, over every target of that function (a SEARCH, since targets are data).
#[test]
fn the_hours_saved_dashboard_sums_the_gauge_each_function_emits_over_7_days() {
    use offpeak_shared::calendar::Kind;
    use offpeak_shared::savings::{TARGET_DIMENSION, function_of, metric_name};
    let scenario = Scenario::base("defaults");
    let cfn = Cfn::new(template(), scenario.name, &scenario.params);
    let dashboard = &template()["Resources"]["HoursSavedDashboard"];
    assert_eq!(dashboard["Type"], "AWS::CloudWatch::Dashboard");
    let properties = cfn.eval(&dashboard["Properties"]).expect("dashboard");
    let body: Value = serde_json::from_str(properties["DashboardBody"].as_str().expect("body"))
        .expect("the dashboard body is JSON");
    assert_eq!(body["periodOverride"], "inherit", "widgets keep 7 days");
    let widgets = body["widgets"].as_array().expect("widgets");
    for kind in [
        Kind::AuroraReplicas,
        Kind::EksNodegroup,
        Kind::MaskedRefresh,
    ] {
        let (function, metric) = (function_of(kind), metric_name(kind));
        let search = format!(
            "SEARCH('{{offpeak,Function,{TARGET_DIMENSION}}} Function=\"{function}\" MetricName=\"{metric}\"', 'Average', 604800)"
        );
        let widget = widgets
            .iter()
            .find(|w| w["properties"]["metrics"][0][0]["expression"] == search.as_str())
            .unwrap_or_else(|| panic!("{function}: no widget searching {search}"));
        let p = &widget["properties"];
        assert_eq!(p["region"], REGION, "{function}");
        assert_eq!(p["period"], 604800, "{function}");
        let id = p["metrics"][0][0]["id"].as_str().expect("id");
        assert_eq!(
            p["metrics"][1][0]["expression"],
            format!("{id} * 168"),
            "{function}: Average × 168 h is the week's hours"
        );
    }
    // EKS's ASGs report under the same metric as its node groups, so one widget covers both.
    assert_eq!(metric_name(Kind::EksAsg), metric_name(Kind::EksNodegroup));
}
