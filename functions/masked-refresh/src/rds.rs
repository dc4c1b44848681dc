//! The RDS boundary of the masked refresh: the calls its IAM policy allows, and plain values.
//!
//! [`Rds`] mirrors the `MaskedRefreshRole` policy in `template.yaml`: `rds:DescribeDBClusters`,
//! `rds:DescribeDBInstances`, `rds:RestoreDBClusterToPointInTime`, `rds:CreateDBInstance`,
//! `rds:ModifyDBCluster`, `rds:ModifyDBInstance`, `rds:DeleteDBInstance`, `rds:DeleteDBCluster`
//! and `rds:AddTagsToResource` (also authorised for the tags sent with a restore or a create),
//! and `rds:CreateDBClusterSnapshot` for the final snapshot a delete may ask for (only under the
//! `<target>-offpeak-` prefix).
//! Nothing above this module can reach any other part of RDS. [`SdkRds`] is the real adapter;
//! unit tests use an in-memory fake with the same contract.
//!
//! The vocabulary (clusters, instances, tags, [`RdsError`] and its predicates) and the SDK
//! adapter are `offpeak_shared::rds`, shared with aurora-replicas; this module holds what is this
//! function's own: the capability and the requests it makes. Every implementation keeps the
//! guarantees stated there (every page described, tags included, identifiers lowercase, failures
//! carrying the AWS error code), and:
//! - Every change is applied immediately (`ApplyImmediately`), never in a maintenance window:
//!   a refresh that waited for one would miss its own window.
//! - A master password travels only inside [`ClusterChange`] as a [`Password`], which never
//!   prints; it is never part of an error.

mod sdk;

#[cfg(test)]
pub mod fake;

use std::future::Future;

use serde::Serialize;

pub use offpeak_shared::rds::{Cluster, ClusterMember, Instance, RdsError, SdkRds, Tag, tag};

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

    /// `RestoreDBClusterToPointInTime`: an Aurora fast clone (copy-on-write) of `spec.source` at
    /// its latest restorable time, tagged at creation (production's clone, and the copy of the
    /// verified clone).
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

    /// `DeleteDBCluster` with `DeleteAutomatedBackups`: no restorable point of a deleted clone
    /// outlives it. With `final_snapshot`, RDS first takes a manual cluster snapshot of that name
    /// (kept until a person deletes it: a handed-over dev cluster's data); without, none
    /// (`SkipFinalSnapshot`: a masked copy is re-made every night).
    fn delete_cluster(
        &self,
        cluster_id: &str,
        final_snapshot: Option<&str>,
    ) -> impl Future<Output = Result<(), RdsError>> + Send;

    /// `AddTagsToResource` (overwrites the values of keys already present).
    fn add_tags(
        &self,
        arn: &str,
        tags: &[Tag],
    ) -> impl Future<Output = Result<(), RdsError>> + Send;
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
    /// `DBParameterGroupName`; `None`: the engine's default group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<String>,
    pub tags: Vec<Tag>,
}

impl InstanceSpec {
    /// The instance as the shared vocabulary describes a requested one.
    pub fn requested(&self) -> Instance {
        let mut instance = Instance::requested(
            &self.cluster,
            &self.instance,
            &self.class,
            &self.engine,
            &self.tags,
        );
        instance.settings.parameter_group = self.parameter_group.clone();
        instance
    }
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
