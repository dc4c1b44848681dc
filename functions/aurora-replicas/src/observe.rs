//! Observe: what the target clusters look like right now, in two RDS calls per tick.
//!
//! Guarantees:
//! - However many clusters the schedule names, a tick makes **one** `DescribeDBClusters` (filtered
//!   by every target cluster id) and **one** `DescribeDBInstances` (filtered by the clusters that
//!   exist), plus one more page of either per 100 results. Tags come back in both responses.
//! - Each instance is reduced to a [`Member`]: its role (from the cluster's `DBClusterMembers`,
//!   the authority on who is the writer), who made it ([`Owner`]) and what its status allows
//!   ([`Health`]).
//!
//! Failure behaviour: a failed describe fails the whole observation (nothing can be planned safely
//! from half a picture); the caller reports it and the next tick observes again. A cluster the
//! schedule names but RDS does not know is simply absent from [`Observed`].

use std::collections::{BTreeSet, HashMap};

use crate::TickError;
use crate::ownership::{self, Owner};
use crate::rds::{Cluster, Instance, Rds, Tag};
use offpeak_shared::rds::Health;

/// Every target cluster that exists, by lowercase id.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    clusters: HashMap<String, ClusterView>,
}

/// One cluster and its instances.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub availability_zones: Vec<String>,
    pub tags: Vec<Tag>,
    /// Every instance of the cluster, in identifier order.
    pub members: Vec<Member>,
}

/// One instance of a cluster, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub instance: Instance,
    pub is_writer: bool,
    pub owner: Owner,
    pub health: Health,
}

impl Member {
    /// offpeak's replica number, when offpeak made this instance.
    pub fn offpeak_index(&self) -> Option<u32> {
        match self.owner {
            Owner::Offpeak { index } => Some(index),
            Owner::AutoScaling | Owner::Other => None,
        }
    }
}

impl Observed {
    /// The cluster `id` (any case), if it exists.
    pub fn cluster(&self, id: &str) -> Option<&ClusterView> {
        self.clusters.get(&id.to_ascii_lowercase())
    }

    /// Builds the observation from the two describes' results.
    pub fn from_parts(clusters: Vec<Cluster>, instances: Vec<Instance>) -> Self {
        let mut by_cluster: HashMap<String, Vec<Instance>> = HashMap::new();
        for i in instances {
            if let Some(c) = i.cluster_id.clone() {
                by_cluster.entry(c).or_default().push(i);
            }
        }
        let clusters = clusters
            .into_iter()
            .map(|c| {
                let instances = by_cluster.remove(&c.id).unwrap_or_default();
                (c.id.clone(), ClusterView::new(c, instances))
            })
            .collect();
        Self { clusters }
    }
}

impl ClusterView {
    fn new(cluster: Cluster, mut instances: Vec<Instance>) -> Self {
        let writers: BTreeSet<&str> = cluster
            .members
            .iter()
            .filter(|m| m.is_writer)
            .map(|m| m.instance_id.as_str())
            .collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        let members = instances
            .into_iter()
            .map(|instance| Member {
                is_writer: writers.contains(instance.id.as_str()),
                owner: ownership::owner(&instance, &cluster.id),
                health: Health::of(&instance.status),
                instance,
            })
            .collect();
        Self {
            id: cluster.id,
            status: cluster.status,
            engine: cluster.engine,
            availability_zones: cluster.availability_zones,
            tags: cluster.tags,
            members,
        }
    }

    /// The current writer, if the cluster has one.
    pub fn writer(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.is_writer)
    }
}

/// Describes the `cluster_ids` and their instances: one call of each kind (per 100 results).
pub async fn observe<R: Rds>(rds: &R, cluster_ids: &[String]) -> Result<Observed, TickError> {
    if cluster_ids.is_empty() {
        return Ok(Observed::default());
    }
    let clusters =
        rds.describe_clusters(cluster_ids)
            .await
            .map_err(|source| TickError::DescribeClusters {
                count: cluster_ids.len(),
                source,
            })?;
    if clusters.is_empty() {
        return Ok(Observed::default());
    }
    let found: Vec<String> = clusters.iter().map(|c| c.id.clone()).collect();
    let instances =
        rds.describe_instances(&found)
            .await
            .map_err(|source| TickError::DescribeInstances {
                count: found.len(),
                source,
            })?;
    Ok(Observed::from_parts(clusters, instances))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::fake::FakeRds;

    #[tokio::test]
    async fn one_describe_of_each_kind_for_many_clusters() {
        let rds = FakeRds::new();
        let ids: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        for id in &ids {
            rds.add_cluster(id);
            rds.add_instance(id, &format!("{id}-writer"), true);
            rds.add_instance(id, &format!("{id}-reader"), false);
        }
        let observed = observe(&rds, &ids).await.unwrap();
        assert_eq!(
            rds.calls(),
            ["DescribeDBClusters", "DescribeDBInstances"],
            "one call of each kind, whatever the cluster count"
        );
        let c7 = observed.cluster("C7").unwrap();
        assert_eq!(c7.members.len(), 2);
        assert_eq!(c7.writer().unwrap().instance.id, "c7-writer");
    }

    #[tokio::test]
    async fn missing_clusters_are_absent_and_skip_the_instance_describe() {
        let rds = FakeRds::new();
        let observed = observe(&rds, &["ghost".to_owned()]).await.unwrap();
        assert!(observed.cluster("ghost").is_none());
        assert_eq!(rds.calls(), ["DescribeDBClusters"]);
    }

    #[tokio::test]
    async fn a_failed_describe_fails_the_observation() {
        let rds = FakeRds::new();
        rds.add_cluster("prod");
        rds.fail_describes("Throttling");
        let err = observe(&rds, &["prod".to_owned()]).await.unwrap_err();
        assert!(
            matches!(err, TickError::DescribeClusters { count: 1, .. }),
            "{err}"
        );
    }
}
