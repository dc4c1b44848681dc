//! What moto lacks, supplied at the trait boundary (design.md, "known gaps").
//!
//! In AWS a cluster's instances follow it when it is renamed. moto keeps each instance's
//! `DBClusterIdentifier` as it was at creation, so after a rename its `db-cluster-id` filter and
//! `DBClusterMembers` point at whichever cluster now holds the *old* name. [`MotoRds`] wraps the
//! real adapter ([`SdkRds`], so every call still goes over the wire to moto) and corrects the
//! instance-to-cluster relation the way AWS reports it: it remembers, at each cluster rename,
//! which instances moved, and rewrites describes accordingly.
//!
//! In AWS, "when you delete a DB cluster, all automated backups for that DB cluster are deleted
//! and can't be recovered" unless `DeleteAutomatedBackups` is false
//! (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html). moto
//! takes an automated cluster snapshot (`rds:<cluster>-<time>`) when a cluster is created and
//! keeps it after the cluster is deleted, whatever the request said. Given a control client
//! ([`MotoRds::with_backups`], not on the wire the test records), the wrapper deletes a deleted
//! cluster's automated snapshots, as AWS does for the `DeleteAutomatedBackups=true` the adapter
//! sends (the tests check that parameter on the recorded request). Nothing else is changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use offpeak_masked_refresh::SdkRds;
use offpeak_masked_refresh::rds::{
    CloneSpec, Cluster, ClusterChange, ClusterMember, Instance, InstanceSpec, Rds, RdsError, Tag,
};

#[derive(Debug, Default)]
struct Moves {
    /// instance id -> (the cluster id moto keeps for it, the cluster it belongs to in AWS terms)
    moved: BTreeMap<String, (String, String)>,
    /// instance id -> the cluster id moto reports for it (last seen)
    raw: BTreeMap<String, String>,
    /// cluster id -> the names it had before (moto files a snapshot under the name of the day)
    former: BTreeMap<String, Vec<String>>,
}

pub struct MotoRds {
    inner: SdkRds,
    moves: Mutex<Moves>,
    /// Off the recorded wire: removes what AWS removes with a deleted cluster.
    backups: Option<aws_sdk_rds::Client>,
}

impl MotoRds {
    pub fn new(inner: SdkRds) -> Self {
        Self {
            inner,
            moves: Mutex::new(Moves::default()),
            backups: None,
        }
    }

    /// Deletes a deleted cluster's automated snapshots through `control`, as AWS does.
    pub fn with_backups(self, control: aws_sdk_rds::Client) -> Self {
        Self {
            backups: Some(control),
            ..self
        }
    }

    async fn delete_automated_backups(&self, cluster_id: &str) {
        let Some(control) = &self.backups else { return };
        let mut names = vec![cluster_id.to_owned()];
        names.extend(
            self.moves
                .lock()
                .unwrap()
                .former
                .remove(cluster_id)
                .unwrap_or_default(),
        );
        let automated = control
            .describe_db_cluster_snapshots()
            .snapshot_type("automated")
            .send()
            .await
            .expect("describe the automated cluster snapshots");
        let theirs = automated.db_cluster_snapshots().iter().filter(|s| {
            s.db_cluster_identifier()
                .is_some_and(|c| names.iter().any(|n| n == c))
        });
        for s in theirs {
            let id = s.db_cluster_snapshot_identifier().unwrap_or_default();
            control
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .expect("delete an automated snapshot of a deleted cluster");
        }
    }

    fn correct(&self, raw: Vec<Instance>, wanted: &[String]) -> Vec<Instance> {
        let mut moves = self.moves.lock().unwrap();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for mut i in raw {
            if !seen.insert(i.id.clone()) {
                continue;
            }
            if let Some(c) = &i.cluster_id {
                moves.raw.insert(i.id.clone(), c.clone());
            }
            if let Some((_, actual)) = moves.moved.get(&i.id) {
                i.cluster_id = Some(actual.clone());
            }
            if i.cluster_id.as_ref().is_some_and(|c| wanted.contains(c)) {
                out.push(i);
            }
        }
        out
    }
}

impl Rds for MotoRds {
    async fn describe_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        let mut clusters = self.inner.describe_clusters().await?;
        let ids: Vec<String> = clusters.iter().map(|c| c.id.clone()).collect();
        let writers: BTreeMap<String, bool> = clusters
            .iter()
            .flat_map(|c| {
                c.members
                    .iter()
                    .map(|m| (m.instance_id.clone(), m.is_writer))
            })
            .collect();
        let instances = self.describe_instances(&ids).await?;
        for c in &mut clusters {
            let mine: Vec<&Instance> = instances
                .iter()
                .filter(|i| i.cluster_id.as_deref() == Some(&c.id))
                .collect();
            c.members = mine
                .iter()
                .map(|i| ClusterMember {
                    instance_id: i.id.clone(),
                    is_writer: writers.get(&i.id).copied().unwrap_or(mine.len() == 1),
                })
                .collect();
        }
        Ok(clusters)
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        let mut ask: BTreeSet<String> = cluster_ids.iter().cloned().collect();
        ask.extend(
            self.moves
                .lock()
                .unwrap()
                .moved
                .values()
                .map(|(raw, _)| raw.clone()),
        );
        let ask: Vec<String> = ask.into_iter().collect();
        let raw = self.inner.describe_instances(&ask).await?;
        Ok(self.correct(raw, cluster_ids))
    }

    async fn restore_clone(&self, spec: &CloneSpec) -> Result<(), RdsError> {
        self.inner.restore_clone(spec).await
    }

    async fn modify_cluster(&self, change: &ClusterChange) -> Result<(), RdsError> {
        let Some(new_id) = &change.new_id else {
            return self.inner.modify_cluster(change).await;
        };
        let members = self
            .describe_instances(std::slice::from_ref(&change.cluster))
            .await?;
        self.inner.modify_cluster(change).await?;
        let mut moves = self.moves.lock().unwrap();
        let mut former = moves.former.remove(&change.cluster).unwrap_or_default();
        former.push(change.cluster.clone());
        moves.former.insert(new_id.clone(), former);
        for i in members {
            let raw = moves
                .raw
                .get(&i.id)
                .cloned()
                .unwrap_or_else(|| change.cluster.clone());
            moves.moved.insert(i.id, (raw, new_id.clone()));
        }
        Ok(())
    }

    async fn create_instance(&self, spec: &InstanceSpec) -> Result<(), RdsError> {
        self.inner.create_instance(spec).await
    }

    async fn rename_instance(&self, instance_id: &str, new_id: &str) -> Result<(), RdsError> {
        self.inner.rename_instance(instance_id, new_id).await?;
        let mut moves = self.moves.lock().unwrap();
        if let Some(m) = moves.moved.remove(instance_id) {
            moves.moved.insert(new_id.to_owned(), m);
        }
        if let Some(r) = moves.raw.remove(instance_id) {
            moves.raw.insert(new_id.to_owned(), r);
        }
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        self.inner.delete_instance(instance_id).await
    }

    async fn delete_cluster(
        &self,
        cluster_id: &str,
        final_snapshot: Option<&str>,
    ) -> Result<(), RdsError> {
        self.inner
            .delete_cluster(cluster_id, final_snapshot)
            .await?;
        self.delete_automated_backups(cluster_id).await;
        Ok(())
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<(), RdsError> {
        self.inner.add_tags(arn, tags).await
    }
}
