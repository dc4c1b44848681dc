//! What IAM checks for one recorded request: the (action, resource, request context) triples AWS
//! authorizes, including the implicit ones AWS documents. Each rule cites its page.
//!
//! Encoded rules:
//! - **Every resource a request names is authorized separately** against the action, and all must
//!   be allowed (the resource types of each action are listed in the Service Authorization
//!   Reference: <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html>,
//!   `.../list_amazonelasticcontainerserviceforkubernetes.html`, `.../list_amazonec2autoscaling.html`,
//!   `.../list_amazondynamodb.html`, `.../list_amazonsns.html`, `.../list_awssecretsmanager.html`).
//!   - `rds:CreateDBInstance`: the new instance (`db`, required), its cluster (`cluster`, with the
//!     cluster's tags as `rds:cluster-tag/*`) and the parameter, option and subnet groups it names
//!     (`pg`, `og`, `subgrp`).
//!   - `rds:RestoreDBClusterToPointInTime`: the new cluster and the source cluster (`cluster`,
//!     the source with its tags), and the cluster parameter, option and subnet groups it names.
//!   - `rds:DeleteDBCluster`: the cluster, and the final snapshot when one is asked for. RDS
//!     takes that snapshot on the caller's authority, so a final snapshot also needs
//!     `rds:CreateDBClusterSnapshot` on the cluster (with its tags) and on the new snapshot, and,
//!     as RDS copies the cluster's tags onto it (`CopyTagsToSnapshot`), `rds:AddTagsToResource`
//!     on the snapshot with those tags as `aws:RequestTag/*` and `aws:TagKeys` (modelled whenever
//!     the cluster has tags: the recorded request does not say whether it copies them).
//!   - `rds:ModifyDBClusterParameterGroup`, `rds:ResetDBClusterParameterGroup`,
//!     `rds:DeleteDBClusterParameterGroup`: the group (`cluster-pg`, required); the same for DB
//!     parameter groups (`pg`).
//!   - `rds:Modify*`, `rds:Delete*`, `rds:AddTagsToResource`: the named resource with its tags
//!     (`rds:db-tag/*` for instances, `rds:cluster-tag/*` for clusters, and `aws:ResourceTag/*`).
//!     A rename (`NewDB...Identifier`) is authorized on the resource being renamed only.
//!   - `rds:Describe*` without an identifier: every resource of the type, written `db:*` /
//!     `cluster:*` (a policy must allow them all).
//! - **Tags on create** (RDS): "If tags are specified in the create action, RDS performs
//!   additional authorization on the `rds:AddTagsToResource` action" — on the new resource, with
//!   the request's tags as `aws:RequestTag/*` and `aws:TagKeys`, and no resource tags (it has
//!   none yet).
//!   <https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html>
//! - **Passing a role**: a `MonitoringRoleArn` on `CreateDBInstance` is `iam:PassRole` on that role
//!   with `iam:PassedToService = monitoring.rds.amazonaws.com`.
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html>
//! - **Request context**: `aws:RequestedRegion` is the signing region of every request;
//!   `aws:RequestTag/*` and `aws:TagKeys` are the tags a tagging or create request carries
//!   (`aws:TagKeys` also names the keys an untag request removes); `aws:ResourceTag/*` (and the
//!   service's own `rds:<type>-tag/*`, `autoscaling:ResourceTag/*`) are the resource's tags.
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>,
//!   <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.SpecifyingCustomTags.html>,
//!   <https://docs.aws.amazon.com/autoscaling/ec2/userguide/control-access-using-iam.html>
//! - Auto Scaling `Describe*` actions support no resource-level permissions: `Resource: "*"`.
//! - DynamoDB `TransactWriteItems` is authorized action by action, as the operation each stands
//!   for (`Update` → `dynamodb:UpdateItem`, `ConditionCheck` → `dynamodb:ConditionCheckItem`, ...)
//!   on its table.
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>
//! - `ec2:DescribeSecurityGroups` supports no resource-level permissions either: `Resource: "*"`
//!   (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html>).
//!
//! Not modelled: condition keys offpeak's roles do not use (`rds:DatabaseClass`, ...), KMS calls
//! AWS services make on the caller's behalf, and Lambda's own log delivery. An operation without
//! a rule here is an error, never a silent pass.

use std::collections::BTreeMap;

use super::cfn::ACCOUNT;
use super::policy::{Context, Request};
use super::recorder::{Call, Resource};

/// One authorization IAM performs for a recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub request: Request,
    /// The request and which of its authorizations this is, for messages.
    pub because: String,
}

/// Every authorization `call` needs, or why it cannot be modelled.
pub fn checks(call: &Call) -> Result<Vec<Check>, String> {
    let mut b = Builder {
        call,
        out: Vec::new(),
    };
    match call.service.as_str() {
        "rds" => b.rds()?,
        "autoscaling" => b.autoscaling()?,
        "eks" => b.eks()?,
        "dynamodb" => b.dynamodb()?,
        "sns" => b.sns()?,
        "secretsmanager" => b.secrets()?,
        "ec2" => b.ec2()?,
        _ => return Err(b.unmodelled()),
    }
    Ok(b.out)
}

/// `(key, value)` tags.
type Tags = Vec<(String, String)>;

struct Builder<'c> {
    call: &'c Call,
    out: Vec<Check>,
}

impl Builder<'_> {
    fn unmodelled(&self) -> String {
        format!(
            "{}:{} has no authorization rule; teach tests/src/iam/authz.rs",
            self.call.service, self.call.operation
        )
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.call.params.get(key).map(String::as_str)
    }

    fn required(&self, key: &str) -> Result<&str, String> {
        self.param(key)
            .ok_or_else(|| format!("{} without {key}", self.call.operation))
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{ACCOUNT}:{resource}",
            self.call.region
        )
    }

    /// The base context of every authorization of this request.
    fn context(&self) -> Context {
        Context::from([(
            "aws:requestedregion".to_owned(),
            vec![self.call.region.clone()],
        )])
    }

    fn push(&mut self, action: &str, resource: String, context: Context, why: &str) {
        let because = match why {
            "" => self.call.operation.clone(),
            why => format!("{} ({why})", self.call.operation),
        };
        self.out.push(Check {
            request: Request {
                action: action.to_owned(),
                resource,
                context,
            },
            because,
        });
    }

    /// `action` on an existing resource (looked up under `fact`), or on `fallback` when it does
    /// not exist; its tags under each of `tag_prefixes` and `aws:ResourceTag/`.
    fn on_existing(
        &mut self,
        action: &str,
        fact: &str,
        fallback: String,
        tag_prefixes: &[&str],
        extra: &Context,
        why: &str,
    ) {
        let found: Option<Resource> = self.call.fact(fact).cloned();
        let mut context = self.context();
        context.extend(extra.clone());
        let arn = match found {
            Some(r) => {
                for prefix in tag_prefixes.iter().chain(&["aws:ResourceTag/"]) {
                    add_tags(&mut context, prefix, &r.tags);
                }
                r.arn
            }
            None => fallback,
        };
        self.push(action, arn, context, why);
    }

    /// [`Self::on_existing`] for an existing RDS cluster: its tags as `rds:cluster-tag/*` too.
    fn on_cluster(&mut self, action: &str, cluster: &str, extra: &Context, why: &str) {
        self.on_rds(action, "cluster", cluster, extra, why);
    }

    /// [`Self::on_existing`] for RDS resource `kind:id` (`db`, `cluster`, ...): its tags as
    /// `rds:<kind>-tag/*` too.
    fn on_rds(&mut self, action: &str, kind: &str, id: &str, extra: &Context, why: &str) {
        let fallback = self.arn("rds", &format!("{kind}:{id}"));
        let prefix = format!("rds:{kind}-tag/");
        self.on_existing(
            action,
            &format!("{kind}:{id}"),
            fallback,
            &[&prefix],
            extra,
            why,
        );
    }

    // --------------------------------------------------------------------------------------------
    // RDS

    fn rds(&mut self) -> Result<(), String> {
        let op = self.call.operation.clone();
        let action = format!("rds:{op}");
        let tags = self.indexed_tags("Tags");
        let requested = request_context(&tags);
        match op.as_str() {
            "DescribeDBClusters" => self.rds_named(&action, "cluster", "DBClusterIdentifier"),
            "DescribeDBInstances" => self.rds_named(&action, "db", "DBInstanceIdentifier"),
            "CreateDBInstance" => {
                let id = self.required("DBInstanceIdentifier")?.to_owned();
                let mut context = self.context();
                context.extend(requested.clone());
                self.push(
                    &action,
                    self.arn("rds", &format!("db:{id}")),
                    context,
                    "new instance",
                );
                if let Some(cluster) = self.param("DBClusterIdentifier").map(str::to_owned) {
                    self.on_cluster(&action, &cluster, &requested, "its cluster");
                }
                self.rds_groups(
                    &action,
                    &requested,
                    &[
                        ("DBParameterGroupName", "pg"),
                        ("OptionGroupName", "og"),
                        ("DBSubnetGroupName", "subgrp"),
                    ],
                );
                self.tags_on_create("db", &id, &tags);
                if let Some(role) = self.param("MonitoringRoleArn").map(str::to_owned) {
                    let mut context = self.context();
                    context.insert(
                        "iam:passedtoservice".into(),
                        vec!["monitoring.rds.amazonaws.com".into()],
                    );
                    self.push("iam:PassRole", role, context, "monitoring role");
                }
            }
            "RestoreDBClusterToPointInTime" => {
                let id = self.required("DBClusterIdentifier")?.to_owned();
                let source = self.required("SourceDBClusterIdentifier")?.to_owned();
                let mut context = self.context();
                context.extend(requested.clone());
                let new = self.arn("rds", &format!("cluster:{id}"));
                self.push(&action, new, context, "new cluster");
                self.on_cluster(&action, &source, &requested, "source cluster");
                self.rds_groups(
                    &action,
                    &requested,
                    &[
                        ("DBClusterParameterGroupName", "cluster-pg"),
                        ("OptionGroupName", "og"),
                        ("DBSubnetGroupName", "subgrp"),
                    ],
                );
                self.tags_on_create("cluster", &id, &tags);
            }
            "ModifyDBCluster" | "DeleteDBCluster" => {
                self.rds_existing(&action, "cluster", "DBClusterIdentifier", &Context::new())?;
                if op == "ModifyDBCluster" {
                    self.rds_groups(
                        &action,
                        &Context::new(),
                        &[("DBClusterParameterGroupName", "cluster-pg")],
                    );
                }
                if let Some(snapshot) = self.param("FinalDBSnapshotIdentifier") {
                    let arn = self.arn("rds", &format!("cluster-snapshot:{snapshot}"));
                    self.push(&action, arn.clone(), self.context(), "final snapshot");
                    if op == "DeleteDBCluster" {
                        let cluster = self.required("DBClusterIdentifier")?.to_owned();
                        self.final_cluster_snapshot(&cluster, arn);
                    }
                }
            }
            "ModifyDBInstance" | "DeleteDBInstance" => {
                self.rds_existing(&action, "db", "DBInstanceIdentifier", &Context::new())?;
                if op == "ModifyDBInstance" {
                    self.rds_groups(
                        &action,
                        &Context::new(),
                        &[
                            ("DBParameterGroupName", "pg"),
                            ("OptionGroupName", "og"),
                            ("DBSubnetGroupName", "subgrp"),
                        ],
                    );
                }
                if let Some(snapshot) = self.param("FinalDBSnapshotIdentifier") {
                    let arn = self.arn("rds", &format!("snapshot:{snapshot}"));
                    self.push(&action, arn, self.context(), "final snapshot");
                }
            }
            "ModifyDBClusterParameterGroup"
            | "ResetDBClusterParameterGroup"
            | "DeleteDBClusterParameterGroup" => {
                let param = "DBClusterParameterGroupName";
                self.rds_existing(&action, "cluster-pg", param, &Context::new())?;
            }
            "ModifyDBParameterGroup" | "ResetDBParameterGroup" | "DeleteDBParameterGroup" => {
                self.rds_existing(&action, "pg", "DBParameterGroupName", &Context::new())?;
            }
            "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource" => {
                let arn = self.required("ResourceName")?.to_owned();
                let extra = if op == "RemoveTagsFromResource" {
                    keys_context(&self.indexed_values("TagKeys"))
                } else {
                    requested
                };
                let prefix = rds_tag_prefix(&arn);
                self.on_existing(
                    &action,
                    &format!("arn:{arn}"),
                    arn.clone(),
                    &[&prefix],
                    &extra,
                    "",
                );
            }
            _ => return Err(self.unmodelled()),
        }
        Ok(())
    }

    /// A describe: the named resource, or every resource of the type.
    fn rds_named(&mut self, action: &str, kind: &str, param: &str) {
        match self.param(param).map(str::to_owned) {
            Some(id) => self.on_rds(action, kind, &id, &Context::new(), ""),
            None => {
                let all = self.arn("rds", &format!("{kind}:*"));
                self.push(action, all, self.context(), "every resource");
            }
        }
    }

    fn rds_existing(
        &mut self,
        action: &str,
        kind: &str,
        param: &str,
        extra: &Context,
    ) -> Result<(), String> {
        let id = self.required(param)?.to_owned();
        self.on_rds(action, kind, &id, extra, "");
        Ok(())
    }

    /// The groups a request names, each authorized as its own resource (no tags looked up: the
    /// roles' statements do not condition on group tags).
    fn rds_groups(&mut self, action: &str, extra: &Context, groups: &[(&str, &str)]) {
        for (param, kind) in groups {
            if let Some(name) = self.param(param).map(str::to_owned) {
                let mut context = self.context();
                context.extend(extra.clone());
                let arn = self.arn("rds", &format!("{kind}:{name}"));
                self.push(action, arn, context, &format!("{kind} {name}"));
            }
        }
    }

    /// The final snapshot `arn` of `cluster`, which RDS takes for a `DeleteDBCluster`: created
    /// from the cluster, and tagged with the cluster's tags.
    fn final_cluster_snapshot(&mut self, cluster: &str, arn: String) {
        let create = "rds:CreateDBClusterSnapshot";
        self.on_cluster(create, cluster, &Context::new(), "final snapshot's cluster");
        self.push(create, arn.clone(), self.context(), "final snapshot");
        let copied: Tags = self
            .call
            .fact(&format!("cluster:{cluster}"))
            .map(|r| r.tags.clone())
            .unwrap_or_default();
        if !copied.is_empty() {
            let mut context = self.context();
            context.extend(request_context(&copied));
            let why = "cluster tags copied to the final snapshot";
            self.push("rds:AddTagsToResource", arn, context, why);
        }
    }

    /// RDS's extra `rds:AddTagsToResource` authorization of a create request that carries tags.
    fn tags_on_create(&mut self, kind: &str, id: &str, tags: &Tags) {
        if tags.is_empty() {
            return;
        }
        let mut context = self.context();
        context.extend(request_context(tags));
        let arn = self.arn("rds", &format!("{kind}:{id}"));
        self.push("rds:AddTagsToResource", arn, context, "tags on create");
    }

    // --------------------------------------------------------------------------------------------
    // Auto Scaling

    fn autoscaling(&mut self) -> Result<(), String> {
        let op = self.call.operation.clone();
        let action = format!("autoscaling:{op}");
        match op.as_str() {
            "DescribeAutoScalingGroups" | "DescribeTags" => {
                self.push(&action, "*".into(), self.context(), "");
            }
            "UpdateAutoScalingGroup" => {
                let name = self.required("AutoScalingGroupName")?.to_owned();
                self.on_group(&action, &name, &Context::new());
            }
            "CreateOrUpdateTags" | "DeleteTags" => {
                let tags = self.indexed("Tags");
                let mut by_group: BTreeMap<String, Tags> = BTreeMap::new();
                for t in &tags {
                    let group = t.get("ResourceId").cloned().unwrap_or_default();
                    let key = t.get("Key").cloned().unwrap_or_default();
                    let value = t.get("Value").cloned().unwrap_or_default();
                    by_group.entry(group).or_default().push((key, value));
                }
                for (group, tags) in by_group {
                    let extra = if op == "DeleteTags" {
                        keys_context(&tags.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())
                    } else {
                        request_context(&tags)
                    };
                    self.on_group(&action, &group, &extra);
                }
            }
            _ => return Err(self.unmodelled()),
        }
        Ok(())
    }

    fn on_group(&mut self, action: &str, name: &str, extra: &Context) {
        let fallback = self.arn(
            "autoscaling",
            &format!(
                "autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/{name}"
            ),
        );
        let prefixes = ["autoscaling:ResourceTag/"];
        self.on_existing(
            action,
            &format!("asg:{name}"),
            fallback,
            &prefixes,
            extra,
            "",
        );
    }

    // --------------------------------------------------------------------------------------------
    // EKS, DynamoDB, SNS, Secrets Manager

    fn eks(&mut self) -> Result<(), String> {
        let op = self.call.operation.clone();
        let action = format!("eks:{op}");
        let path = self.call.path.clone();
        let cluster = path.get(1).cloned().unwrap_or_default();
        match op.as_str() {
            "DescribeCluster" | "ListNodegroups" => {
                let fallback = self.arn("eks", &format!("cluster/{cluster}"));
                let fact = format!("eks-cluster:{cluster}");
                self.on_existing(&action, &fact, fallback, &[], &Context::new(), "");
            }
            "DescribeNodegroup" | "UpdateNodegroupConfig" => {
                let nodegroup = path.get(3).cloned().unwrap_or_default();
                // A node group's ARN ends with an id EKS assigns; one that does not exist gets a
                // placeholder id (IAM still authorizes the request before EKS says "not found").
                let fallback = self.arn("eks", &format!("nodegroup/{cluster}/{nodegroup}/unknown"));
                let fact = format!("nodegroup:{cluster}/{nodegroup}");
                self.on_existing(&action, &fact, fallback, &[], &Context::new(), "");
            }
            _ => return Err(self.unmodelled()),
        }
        Ok(())
    }

    fn dynamodb(&mut self) -> Result<(), String> {
        if self.call.operation == "TransactWriteItems" {
            return self.dynamodb_transaction();
        }
        let action = format!("dynamodb:{}", self.call.operation);
        let json = &self.call.json;
        let tables: Vec<String> = match json["TableName"].as_str() {
            Some(t) => vec![t.to_owned()],
            None => json["RequestItems"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        };
        if tables.is_empty() {
            return Err(format!("{action} names no table"));
        }
        for table in tables {
            let arn = self.arn("dynamodb", &format!("table/{table}"));
            self.push(&action, arn, self.context(), "");
        }
        Ok(())
    }

    /// `TransactWriteItems` has no action of its own: each of its actions is authorized as the
    /// operation it stands for, on its table.
    fn dynamodb_transaction(&mut self) -> Result<(), String> {
        let items = self.call.json["TransactItems"]
            .as_array()
            .ok_or("TransactWriteItems without TransactItems")?;
        for item in items {
            let (kind, body) = item
                .as_object()
                .and_then(|o| o.iter().next())
                .ok_or("TransactWriteItems with an empty action")?;
            let action = match kind.as_str() {
                "Put" => "dynamodb:PutItem",
                "Update" => "dynamodb:UpdateItem",
                "Delete" => "dynamodb:DeleteItem",
                "ConditionCheck" => "dynamodb:ConditionCheckItem",
                other => return Err(format!("TransactWriteItems action {other} is not modelled")),
            };
            let table = body["TableName"]
                .as_str()
                .ok_or_else(|| format!("TransactWriteItems {kind} names no table"))?;
            let arn = self.arn("dynamodb", &format!("table/{table}"));
            self.push(action, arn, self.context(), "");
        }
        Ok(())
    }

    fn sns(&mut self) -> Result<(), String> {
        match self.call.operation.as_str() {
            "Publish" => {
                let topic = self
                    .param("TopicArn")
                    .or(self.param("TargetArn"))
                    .ok_or("Publish without a topic")?
                    .to_owned();
                self.push("sns:Publish", topic, self.context(), "");
                Ok(())
            }
            _ => Err(self.unmodelled()),
        }
    }

    fn ec2(&mut self) -> Result<(), String> {
        match self.call.operation.as_str() {
            "DescribeSecurityGroups" => {
                self.push("ec2:DescribeSecurityGroups", "*".into(), self.context(), "");
                Ok(())
            }
            _ => Err(self.unmodelled()),
        }
    }

    fn secrets(&mut self) -> Result<(), String> {
        match self.call.operation.as_str() {
            "GetSecretValue" | "DescribeSecret" => {
                let action = format!("secretsmanager:{}", self.call.operation);
                let id = self.call.json["SecretId"]
                    .as_str()
                    .ok_or("a secret request without SecretId")?
                    .to_owned();
                let fallback = if id.starts_with("arn:") {
                    id.clone()
                } else {
                    self.arn("secretsmanager", &format!("secret:{id}"))
                };
                let fact = format!("secret:{id}");
                self.on_existing(&action, &fact, fallback, &[], &Context::new(), "");
                Ok(())
            }
            _ => Err(self.unmodelled()),
        }
    }

    // --------------------------------------------------------------------------------------------
    // Query-protocol lists: `Tags.Tag.1.Key`, `Tags.member.1.Key`, `TagKeys.member.1`.

    /// The members of list `name`: index → field → value (`""` for a list of scalars).
    fn indexed(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let mut members: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in &self.call.params {
            let parts: Vec<&str> = key.split('.').collect();
            let (index, field) = match parts.as_slice() {
                [n, _, i, field] if *n == name => (i, *field),
                [n, _, i] if *n == name => (i, ""),
                _ => continue,
            };
            if let Ok(i) = index.parse() {
                members
                    .entry(i)
                    .or_default()
                    .insert(field.to_owned(), value.clone());
            }
        }
        members.into_values().collect()
    }

    fn indexed_tags(&self, name: &str) -> Tags {
        self.indexed(name)
            .into_iter()
            .filter_map(|m| {
                Some((
                    m.get("Key")?.clone(),
                    m.get("Value").cloned().unwrap_or_default(),
                ))
            })
            .collect()
    }

    fn indexed_values(&self, name: &str) -> Vec<String> {
        self.indexed(name)
            .into_iter()
            .filter_map(|m| m.get("").cloned())
            .collect()
    }
}

/// `aws:RequestTag/<key>` for each tag and `aws:TagKeys` (empty when there are no tags).
fn request_context(tags: &Tags) -> Context {
    let mut context = Context::new();
    add_tags(&mut context, "aws:RequestTag/", tags);
    if !tags.is_empty() {
        context.insert(
            "aws:tagkeys".into(),
            tags.iter().map(|(k, _)| k.clone()).collect(),
        );
    }
    context
}

fn keys_context(keys: &[String]) -> Context {
    Context::from([("aws:tagkeys".to_owned(), keys.to_vec())])
}

fn add_tags(context: &mut Context, prefix: &str, tags: &[(String, String)]) {
    for (k, v) in tags {
        context.insert(format!("{prefix}{k}").to_ascii_lowercase(), vec![v.clone()]);
    }
}

/// `rds:db-tag/` for an instance ARN, `rds:cluster-tag/` for a cluster, ...
fn rds_tag_prefix(arn: &str) -> String {
    let kind = arn.split(':').nth(5).unwrap_or_default();
    format!("rds:{kind}-tag/")
}
