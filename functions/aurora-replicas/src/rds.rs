//! The RDS boundary: the four calls this function may make, and the plain values they return.
//!
//! [`Rds`] mirrors the function's IAM policy exactly — `rds:DescribeDBClusters`,
//! `rds:DescribeDBInstances`, `rds:CreateDBInstance` (with `rds:AddTagsToResource`, because the
//! replica is tagged at creation) and `rds:DeleteDBInstance` — so nothing above this module can
//! reach any other part of AWS. [`SdkRds`] is the real adapter; tests use an in-memory fake with
//! the same contract.
//!
//! The vocabulary (clusters, instances, tags, [`RdsError`] and its success predicates) and the
//! SDK adapter are `offpeak_shared::rds`, shared with masked-refresh; this module holds only what
//! is this function's own: the capability and the shape of the reader it creates. Every
//! implementation keeps the guarantees stated there: every page described, tags included,
//! identifiers lowercase, failures carrying the AWS error code.

mod sdk;

#[cfg(test)]
pub mod fake;

use std::future::Future;

use serde::Serialize;

pub use offpeak_shared::rds::{
    Cluster, ClusterMember, Instance, InstanceSettings, PerformanceInsights, RdsError, SdkRds, Tag,
};

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

impl ReplicaSpec {
    /// The reader as the shared vocabulary describes a requested instance.
    pub fn requested(&self) -> Instance {
        Instance {
            availability_zone: self.availability_zone.clone(),
            promotion_tier: Some(self.promotion_tier),
            settings: self.settings.clone(),
            ..Instance::requested(
                &self.cluster,
                &self.instance,
                &self.class,
                &self.engine,
                &self.tags,
            )
        }
    }
}
