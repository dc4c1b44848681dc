//! Observe: what a tick sees, the clusters and instances a refresh of one target can involve.
//!
//! One `DescribeDBClusters` (every page) and one `DescribeDBInstances` filtered by the clusters
//! kept: the source, the dev cluster, and every cluster named with the target's offpeak prefix
//! (this run's clone and its copy, previous dev clusters put aside, a clone a lost state
//! document forgot).

use crate::names::{self, of_run};
use crate::rds::{Cluster, Instance, Rds, RdsError};

/// The clusters and instances relevant to one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub clusters: Vec<Cluster>,
    pub instances: Vec<Instance>,
}

impl Observed {
    pub fn cluster(&self, id: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.id == id)
    }

    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The instances of cluster `id`, writer first, then by name.
    pub fn instances_of(&self, id: &str) -> Vec<&Instance> {
        let writer = self.cluster(id).and_then(Cluster::writer);
        let mut out: Vec<&Instance> = self
            .instances
            .iter()
            .filter(|i| i.cluster_id.as_deref() == Some(id))
            .collect();
        out.sort_by_key(|i| (Some(i.id.as_str()) != writer, i.id.clone()));
        out
    }

    /// The clusters run `run` of `target` created, wherever a swap has put them.
    pub fn run_clusters(&self, target: &str, run: &str) -> Vec<&Cluster> {
        self.clusters
            .iter()
            .filter(|c| of_run(&c.tags, target, run))
            .collect()
    }

    /// The instances run `run` of `target` created.
    pub fn run_instances(&self, target: &str, run: &str) -> Vec<&Instance> {
        self.instances
            .iter()
            .filter(|i| of_run(&i.tags, target, run))
            .collect()
    }
}

/// Describes the clusters and instances relevant to `target` (cloned from `source`).
pub async fn observe<R: Rds>(rds: &R, source: &str, target: &str) -> Result<Observed, RdsError> {
    let prefix = names::prefix(target);
    let clusters: Vec<Cluster> = rds
        .describe_clusters()
        .await?
        .into_iter()
        .filter(|c| c.id == source || c.id == target || c.id.starts_with(&prefix))
        .collect();
    let ids: Vec<String> = clusters.iter().map(|c| c.id.clone()).collect();
    let instances = match ids.is_empty() {
        true => Vec::new(),
        false => rds.describe_instances(&ids).await?,
    };
    Ok(Observed {
        clusters,
        instances,
    })
}
