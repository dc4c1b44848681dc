//! The RDS boundary: the four calls this function may make, and the plain values they return.
//!
//! [`Rds`] mirrors the function's IAM policy exactly — `rds:DescribeDBClusters`,
//! `rds:DescribeDBInstances`, `rds:CreateDBInstance` (with `rds:AddTagsToResource`, because the
//! replica is tagged at creation) and `rds:DeleteDBInstance` — so nothing above this module can
//! reach any other part of AWS. [`SdkRds`] is the real adapter; tests use an in-memory fake with
//! the same contract.
//!
//! Guarantees of every implementation:
//! - Describes return every page (`MaxRecords` is 100 on AWS), tags included, so a tick needs one
//!   describe of each kind per 100 clusters / instances and never a `ListTagsForResource`.
//! - Identifiers come back lowercase, as RDS stores them.
//! - Failures are an [`RdsError`] carrying the AWS error code (`Throttling`, `AccessDenied`,
//!   `InvalidDBInstanceState`, ...) after the SDK's own retries. The predicates
//!   [`RdsError::already_exists`] and [`RdsError::not_found`] name the two codes a reconciler
//!   treats as success ("state, not trigger").

mod sdk;

#[cfg(test)]
pub mod fake;

use std::future::Future;

use serde::Serialize;

pub use sdk::SdkRds;

/// The AWS error code of `CreateDBInstance` when the identifier is taken.
const ALREADY_EXISTS: &str = "DBInstanceAlreadyExists";
/// The AWS error code of `DeleteDBInstance` when the instance is gone.
const NOT_FOUND: &str = "DBInstanceNotFound";

/// The RDS calls of the aurora-replicas IAM policy.
pub trait Rds: Send + Sync {
    /// `DescribeDBClusters` filtered by `db-cluster-id`; clusters that do not exist are absent.
    fn describe_clusters(
        &self,
        cluster_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Cluster>, RdsError>> + Send;

    /// `DescribeDBInstances` filtered by `db-cluster-id`: every instance of those clusters.
    fn describe_instances(
        &self,
        cluster_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, RdsError>> + Send;

    /// `CreateDBInstance` of an Aurora reader as `spec` describes, tagged at creation.
    fn create_instance(
        &self,
        spec: &ReplicaSpec,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `DeleteDBInstance` (Aurora instances have no final snapshot of their own).
    fn delete_instance(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// What a tick needs to know about an Aurora cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub id: String,
    /// `available`, `failing-over`, `modifying`, `stopped`, ...
    pub status: String,
    pub engine: String,
    /// The AZs the cluster's instances may live in, in the order RDS lists them.
    pub availability_zones: Vec<String>,
    pub members: Vec<ClusterMember>,
    pub tags: Vec<Tag>,
}

/// One instance's role in its cluster, as `DBClusterMembers` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMember {
    pub instance_id: String,
    pub is_writer: bool,
}

/// What a tick needs to know about a DB instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub cluster_id: Option<String>,
    pub class: String,
    pub engine: String,
    /// `DBInstanceStatus`: `available`, `creating`, `deleting`, `failed`, ...
    pub status: String,
    pub availability_zone: Option<String>,
    pub promotion_tier: Option<i32>,
    pub tags: Vec<Tag>,
    /// Settings a new reader copies from this instance when it is the template.
    pub settings: InstanceSettings,
}

impl Instance {
    /// The value of tag `key`, if the instance carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// Instance-level settings a careful human copies from the writer when adding a reader, so the new
/// reader behaves and is observed like the rest of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceSettings {
    /// The DB (instance) parameter group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<String>,
    /// Enhanced Monitoring interval in seconds (0 = off) and its role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring_interval: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_insights: Option<PerformanceInsights>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_minor_version_upgrade: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicly_accessible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

/// Performance Insights, when the template has it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PerformanceInsights {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i32>,
}

/// Everything `CreateDBInstance` is called with: the plan shows exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaSpec {
    pub cluster: String,
    pub instance: String,
    pub class: String,
    pub engine: String,
    /// `None` lets RDS choose (the cluster listed no AZs).
    pub availability_zone: Option<String>,
    pub promotion_tier: i32,
    #[serde(flatten)]
    pub settings: InstanceSettings,
    pub tags: Vec<Tag>,
}

/// An RDS call failed (after the SDK's retries). Carries the AWS error code, never row data.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RdsError {
    /// The AWS error code, or `Unhandled` for transport and client-side failures.
    pub code: String,
    pub message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RdsError {
    /// An error with `code` and `message` and no underlying cause (fakes, tests).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: None,
        }
    }

    /// An error with its underlying cause kept for `{:?}` and error chains.
    pub fn with_source(
        code: impl Into<String>,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// `CreateDBInstance` found the identifier taken: a duplicated tick already created it.
    pub fn already_exists(&self) -> bool {
        self.code == ALREADY_EXISTS
    }

    /// `DeleteDBInstance` found no such instance: it is already gone.
    pub fn not_found(&self) -> bool {
        self.code == NOT_FOUND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_predicates_match_only_their_codes() {
        assert!(RdsError::new("DBInstanceAlreadyExists", "x").already_exists());
        assert!(RdsError::new("DBInstanceNotFound", "x").not_found());
        for code in ["Throttling", "InvalidDBInstanceState", "AccessDenied"] {
            let err = RdsError::new(code, "x");
            assert!(!err.already_exists() && !err.not_found(), "{code}");
        }
    }

    #[test]
    fn display_is_code_then_message() {
        let err = RdsError::new("Throttling", "Rate exceeded");
        assert_eq!(err.to_string(), "Throttling: Rate exceeded");
    }
}
