//! [`Rds`] on the shared in-memory fake, for whole-flow unit tests.
//!
//! The fake's contract is `offpeak_shared::rds::fake`'s. One rule is this function's own:
//! deleting a cluster's writer panics, because offpeak never deletes the current writer and no
//! test may ever get there.

pub use offpeak_shared::rds::fake::{AZS, FakeRds};

use super::{Cluster, Instance, Rds, RdsError, ReplicaSpec};

impl Rds for FakeRds {
    async fn describe_clusters(&self, cluster_ids: &[String]) -> Result<Vec<Cluster>, RdsError> {
        self.describe_clusters_by_id(cluster_ids)
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        FakeRds::describe_instances(self, cluster_ids)
    }

    async fn create_instance(&self, spec: &ReplicaSpec) -> Result<(), RdsError> {
        self.create_db_instance(spec.requested())
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        let cluster = self.cluster_of(instance_id);
        assert!(
            self.writer(&cluster).as_deref() != Some(instance_id),
            "deleted the writer {instance_id} of {cluster}"
        );
        FakeRds::delete_instance(self, instance_id)
    }
}
