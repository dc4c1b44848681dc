//! What the benchmarks put into moto: Aurora clusters with their writers, EKS clusters with
//! managed node groups and their Auto Scaling groups tagged as EKS tags them
//! (`offpeak_tests::node_groups`), self-managed Auto Scaling groups, and the state table.
//!
//! Seeding 500 targets is a thousand requests, so they go [`SEED_CONCURRENCY`] at a time.

use std::future::Future;

use aws_config::SdkConfig;
use offpeak_shared::state::DynamoStateStore;
use offpeak_tests::aurora;
use offpeak_tests::node_groups::{NodeGroups, Size};
use tokio::task::JoinSet;

/// The state table name `events/env.json` gives every function.
pub const STATE_TABLE: &str = "offpeak-state";
/// Requests in flight while seeding.
const SEED_CONCURRENCY: usize = 8;

/// `(min, max, desired)` of every node group and Auto Scaling group the benchmarks create.
pub const SIZE: Size = (1, 4, 2);

/// SDK clients for setting up (their requests are not counted).
#[derive(Clone)]
pub struct World {
    pub rds: aws_sdk_rds::Client,
    pub node_groups: NodeGroups,
}

impl World {
    /// Clients on `sdk`, the state table, and the launch configuration Auto Scaling groups use.
    pub async fn new(sdk: &SdkConfig) -> World {
        DynamoStateStore::from_sdk_config(sdk, STATE_TABLE)
            .create_table_if_missing()
            .await
            .expect("create the state table");
        World {
            rds: aws_sdk_rds::Client::new(sdk),
            node_groups: NodeGroups::new(sdk).await,
        }
    }

    /// Aurora clusters, each with its writer `<cluster>-writer`.
    pub async fn aurora_clusters(&self, clusters: &[String]) {
        let world = self.clone();
        bounded(clusters, move |cluster| {
            let world = world.clone();
            async move { world.aurora_cluster(&cluster).await }
        })
        .await;
    }

    async fn aurora_cluster(&self, cluster: &str) {
        aurora::production(&self.rds, cluster, &[], &["writer"]).await;
    }

    /// An EKS cluster with `nodegroups` of [`SIZE`], each with its Auto Scaling group.
    pub async fn eks_cluster(&self, cluster: &str, nodegroups: &[String]) {
        self.node_groups.cluster(cluster).await;
        let (node_groups, cluster) = (self.node_groups.clone(), cluster.to_owned());
        bounded(nodegroups, move |nodegroup| {
            let (node_groups, cluster) = (node_groups.clone(), cluster.clone());
            async move {
                node_groups.nodegroup(&cluster, &nodegroup, SIZE).await;
            }
        })
        .await;
    }

    /// A self-managed Auto Scaling group of [`SIZE`] with `tags` (propagated at launch).
    pub async fn auto_scaling_group(&self, name: &str, tags: &[(&str, &str)]) {
        let tags: Vec<_> = tags.iter().map(|&(k, v)| (k, v, true)).collect();
        self.node_groups.auto_scaling_group(name, SIZE, &tags).await;
    }
}

/// Runs `make(item)` for every item, at most [`SEED_CONCURRENCY`] at a time.
async fn bounded<F, Fut>(items: &[String], make: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut running = JoinSet::new();
    for item in items {
        if running.len() >= SEED_CONCURRENCY
            && let Some(done) = running.join_next().await
        {
            done.expect("seeding task");
        }
        running.spawn(make(item.clone()));
    }
    while let Some(done) = running.join_next().await {
        done.expect("seeding task");
    }
}

/// `prefix-000`, `prefix-001`, … (`count` names).
pub fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:03}")).collect()
}
