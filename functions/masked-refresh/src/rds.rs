//! The RDS boundary of the masked refresh: the calls its IAM policy allows, and plain values.
//!
//! [`Rds`] mirrors the `MaskedRefreshRole` policy in `template.yaml`: `rds:DescribeDBClusters`,
//! `rds:DescribeDBInstances`, `rds:RestoreDBClusterToPointInTime`, `rds:CreateDBInstance`,
//! `rds:ModifyDBCluster`, `rds:ModifyDBInstance`, `rds:DeleteDBInstance`, `rds:DeleteDBCluster`
//! and `rds:AddTagsToResource` (also authorised for the tags sent with a restore or a create).
//! Nothing above this module can reach any other part of RDS. [`SdkRds`] is the real adapter;
//! unit tests use an in-memory fake with the same contract.
//!
//! Guarantees of every implementation:
//! - Describes return every page, tags included; identifiers come back lowercase.
//! - Every change is applied immediately (`ApplyImmediately`), never in a maintenance window:
//!   a refresh that waited for one would miss its own window.
//! - A master password travels only inside [`ClusterChange`] as a [`Password`], which never
//!   prints; it is never part of an error.
//! - Failures are an [`RdsError`] carrying the AWS error code after the SDK's own retries.

mod sdk;

#[cfg(test)]
pub mod fake;

use std::future::Future;

use serde::Serialize;

pub use sdk::SdkRds;

use crate::secret::Password;

/// The RDS calls of the masked-refresh IAM policy.
pub trait Rds: Send + Sync {
    /// `DescribeDBClusters`, every cluster of the account and region (callers pick by name).
    fn describe_clusters(&self) -> impl Future<Output = Result<Vec<Cluster>, RdsError>> + Send;

    /// `DescribeDBInstances` filtered by `db-cluster-id`: every instance of those clusters.
    fn describe_instances(
        &self,
        cluster_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Instance>, RdsError>> + Send;

    /// `RestoreDBClusterToPointInTime`: an Aurora fast clone (copy-on-write) of the source at its
    /// latest restorable time, tagged at creation.
    fn restore_clone(&self, spec: &CloneSpec) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `ModifyDBCluster` with `ApplyImmediately`.
    fn modify_cluster(
        &self,
        change: &ClusterChange,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `CreateDBInstance` of the clone's writer, tagged at creation, never publicly accessible.
    fn create_instance(
        &self,
        spec: &InstanceSpec,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `ModifyDBInstance` with `NewDBInstanceIdentifier` and `ApplyImmediately`.
    fn rename_instance(
        &self,
        instance_id: &str,
        new_id: &str,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `DeleteDBInstance`.
    fn delete_instance(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `DeleteDBCluster` without a final snapshot (a development copy is re-made every night).
    fn delete_cluster(&self, cluster_id: &str)
    -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `AddTagsToResource` (overwrites the values of keys already present).
    fn add_tags(
        &self,
        arn: &str,
        tags: &[Tag],
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

/// The value of tag `key` in `tags`.
pub fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// What the refresh needs to know about an Aurora cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cluster {
    pub id: String,
    pub arn: String,
    /// `available`, `creating`, `modifying`, `renaming`, `deleting`, ...
    pub status: String,
    pub engine: String,
    /// Writer endpoint (DNS name).
    pub endpoint: Option<String>,
    pub port: Option<i32>,
    pub master_username: Option<String>,
    pub database_name: Option<String>,
    pub subnet_group: Option<String>,
    pub parameter_group: Option<String>,
    pub security_groups: Vec<String>,
    pub deletion_protection: bool,
    pub members: Vec<Member>,
    pub tags: Vec<Tag>,
}

impl Cluster {
    pub fn tag(&self, key: &str) -> Option<&str> {
        tag(&self.tags, key)
    }

    /// The writer's instance id, if the cluster has one.
    pub fn writer(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.is_writer)
            .map(|m| m.instance_id.as_str())
    }
}

/// One instance's role in its cluster, as `DBClusterMembers` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub instance_id: String,
    pub is_writer: bool,
}

/// What the refresh needs to know about a DB instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Instance {
    pub id: String,
    pub arn: String,
    pub cluster_id: Option<String>,
    /// `available`, `creating`, `renaming`, `deleting`, `failed`, ...
    pub status: String,
    pub class: String,
    pub tags: Vec<Tag>,
}

impl Instance {
    pub fn tag(&self, key: &str) -> Option<&str> {
        tag(&self.tags, key)
    }
}

/// Everything `RestoreDBClusterToPointInTime` is called with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloneSpec {
    pub source: String,
    pub clone: String,
    /// `VpcSecurityGroupIds`: the quarantine groups.
    pub security_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<String>,
    pub tags: Vec<Tag>,
}

/// Everything `CreateDBInstance` is called with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSpec {
    pub cluster: String,
    pub instance: String,
    pub class: String,
    pub engine: String,
    pub tags: Vec<Tag>,
}

/// One `ModifyDBCluster` call; `None` fields are left as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterChange {
    pub cluster: String,
    pub new_id: Option<String>,
    pub security_groups: Option<Vec<String>>,
    pub master_password: Option<Password>,
    pub deletion_protection: Option<bool>,
}

/// AWS error codes the refresh reads.
mod codes {
    pub const CLUSTER_EXISTS: &str = "DBClusterAlreadyExistsFault";
    pub const INSTANCE_EXISTS: &str = "DBInstanceAlreadyExists";
    pub const CLUSTER_NOT_FOUND: &str = "DBClusterNotFoundFault";
    pub const INSTANCE_NOT_FOUND: &str = "DBInstanceNotFound";
    /// Worth another try on a later tick: throttling, transport, a resource busy for a moment.
    pub const TRANSIENT: [&str; 10] = [
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Timeout",
        "DispatchFailure",
        "ResponseError",
        "InvalidDBClusterStateFault",
        "InvalidDBClusterState",
        "InvalidDBInstanceState",
        "InternalFailure",
    ];
}

/// An RDS call failed (after the SDK's retries). Carries the AWS error code, never data.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RdsError {
    /// The AWS error code, or the SDK's error kind for transport and client-side failures.
    pub code: String,
    pub message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RdsError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: None,
        }
    }

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

    /// A create or restore found the identifier taken: a duplicated step already made it.
    pub fn already_exists(&self) -> bool {
        self.code == codes::CLUSTER_EXISTS || self.code == codes::INSTANCE_EXISTS
    }

    /// A delete found nothing to delete: it is already gone.
    pub fn not_found(&self) -> bool {
        self.code == codes::CLUSTER_NOT_FOUND || self.code == codes::INSTANCE_NOT_FOUND
    }

    /// Worth retrying on a later tick rather than failing the run.
    pub fn is_transient(&self) -> bool {
        codes::TRANSIENT.contains(&self.code.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_match_only_their_codes() {
        assert!(RdsError::new("DBClusterAlreadyExistsFault", "x").already_exists());
        assert!(RdsError::new("DBInstanceAlreadyExists", "x").already_exists());
        assert!(RdsError::new("DBClusterNotFoundFault", "x").not_found());
        assert!(RdsError::new("DBInstanceNotFound", "x").not_found());
        assert!(RdsError::new("Throttling", "x").is_transient());
        for code in [
            "AccessDenied",
            "InvalidParameterValue",
            "StorageQuotaExceeded",
        ] {
            let err = RdsError::new(code, "x");
            assert!(
                !err.already_exists() && !err.not_found() && !err.is_transient(),
                "{code}"
            );
        }
    }
}
