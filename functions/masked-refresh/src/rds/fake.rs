//! [`Rds`] on the shared in-memory fake, for whole-flow unit tests.
//!
//! The describes, the instance create and the instance delete keep the shared fake's contract
//! (`offpeak_shared::rds::fake`). The calls only this function makes are implemented here, with
//! the same care: a restored clone is `creating`, inherits the source's master password and
//! reports a latest restorable time past any instant a test uses, and has the cluster parameter
//! group the restore named;
//! renamed clusters and instances are `renaming`, and a deleted cluster `deleting`, until the fake
//! settles; instances follow a renamed cluster; a cluster with instances or deletion protection
//! refuses deletion; a final snapshot is kept under its id, and a delete asking for an id
//! already taken is refused (`DBClusterSnapshotAlreadyExistsFault`) and deletes nothing.

pub use offpeak_shared::rds::fake::FakeRds;
use offpeak_shared::rds::fake::{World, arn, err};

use super::{CloneSpec, Cluster, ClusterChange, Instance, InstanceSpec, Rds, RdsError, Tag};

impl Rds for FakeRds {
    async fn describe_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        self.describe_all_clusters()
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        FakeRds::describe_instances(self, cluster_ids)
    }

    async fn restore_clone(&self, spec: &CloneSpec) -> Result<(), RdsError> {
        let mut world = self.call("RestoreDBClusterToPointInTime", &[&spec.clone])?;
        if world.clusters.contains_key(&spec.clone) {
            return Err(err("DBClusterAlreadyExistsFault", &spec.clone));
        }
        let Some(source) = world.clusters.get(&spec.source).cloned() else {
            return Err(err("DBClusterNotFoundFault", &spec.source));
        };
        let clone = Cluster {
            id: spec.clone.clone(),
            arn: arn("cluster", &spec.clone),
            status: "creating".to_owned(),
            endpoint: Some(format!(
                "{}.cluster-x.ap-northeast-1.rds.amazonaws.com",
                spec.clone
            )),
            security_groups: spec.security_groups.clone(),
            // None named: RDS uses the engine's default group, which the fake leaves unnamed.
            parameter_group: spec.parameter_group.clone(),
            deletion_protection: false,
            members: Vec::new(),
            tags: spec.tags.clone(),
            // The fake's backups keep up with every write: a later clone sees all of them.
            latest_restorable_time: Some(chrono::DateTime::<chrono::Utc>::MAX_UTC),
            ..source
        };
        world.clusters.insert(spec.clone.clone(), clone);
        let inherited = world.passwords.get(&spec.source).cloned();
        world
            .passwords
            .insert(spec.clone.clone(), inherited.unwrap_or_default());
        Ok(())
    }

    async fn modify_cluster(&self, change: &ClusterChange) -> Result<(), RdsError> {
        let subject = change.new_id.as_deref().unwrap_or(&change.cluster);
        let mut world = self.call("ModifyDBCluster", &[subject])?;
        if change
            .new_id
            .as_ref()
            .is_some_and(|n| world.clusters.contains_key(n))
        {
            return Err(err("DBClusterAlreadyExistsFault", subject));
        }
        let Some(mut cluster) = world.clusters.remove(&change.cluster) else {
            return Err(err("DBClusterNotFoundFault", &change.cluster));
        };
        let mut password = world.passwords.remove(&change.cluster).unwrap_or_default();
        if let Some(groups) = &change.security_groups {
            cluster.security_groups = groups.clone();
        }
        if let Some(p) = &change.master_password {
            password = p.expose().to_owned();
        }
        if let Some(dp) = change.deletion_protection {
            cluster.deletion_protection = dp;
        }
        if let Some(new_id) = &change.new_id {
            rename_cluster(&mut world, &mut cluster, new_id);
        }
        world.passwords.insert(cluster.id.clone(), password);
        world.clusters.insert(cluster.id.clone(), cluster);
        Ok(())
    }

    async fn create_instance(&self, spec: &InstanceSpec) -> Result<(), RdsError> {
        self.create_db_instance(spec.requested())
    }

    async fn rename_instance(&self, instance_id: &str, new_id: &str) -> Result<(), RdsError> {
        let mut world = self.call("ModifyDBInstance", &[new_id])?;
        if world.instances.contains_key(new_id) {
            return Err(err("DBInstanceAlreadyExists", new_id));
        }
        let Some(mut instance) = world.instances.remove(instance_id) else {
            return Err(err("DBInstanceNotFound", instance_id));
        };
        instance.id = new_id.to_owned();
        instance.arn = arn("db", new_id);
        instance.status = "renaming".to_owned();
        world.instances.insert(new_id.to_owned(), instance);
        rename_members(&mut world, instance_id, new_id);
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        FakeRds::delete_instance(self, instance_id)
    }

    async fn delete_cluster(
        &self,
        cluster_id: &str,
        final_snapshot: Option<&str>,
    ) -> Result<(), RdsError> {
        let mut world = self.call("DeleteDBCluster", &[cluster_id])?;
        if let Some(s) = final_snapshot
            && world.cluster_snapshots.contains_key(s)
        {
            return Err(err("DBClusterSnapshotAlreadyExistsFault", s));
        }
        let live_members = world
            .instances
            .values()
            .any(|i| i.cluster_id.as_deref() == Some(cluster_id));
        let Some(c) = world.clusters.get_mut(cluster_id) else {
            return Err(err("DBClusterNotFoundFault", cluster_id));
        };
        if c.deletion_protection {
            return Err(err("InvalidParameterCombination", cluster_id));
        }
        if live_members {
            return Err(err("InvalidDBClusterStateFault", cluster_id));
        }
        c.status = "deleting".to_owned();
        if let Some(s) = final_snapshot {
            world
                .cluster_snapshots
                .insert(s.to_owned(), cluster_id.to_owned());
        }
        Ok(())
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<(), RdsError> {
        let id = arn.rsplit(':').next().unwrap_or_default().to_owned();
        let mut world = self.call("AddTagsToResource", &[&id])?;
        let World {
            clusters,
            instances,
            ..
        } = &mut *world;
        let target = match (
            clusters.values_mut().find(|c| c.arn == arn),
            instances.values_mut().find(|i| i.arn == arn),
        ) {
            (Some(c), _) => &mut c.tags,
            (None, Some(i)) => &mut i.tags,
            (None, None) => return Err(err("DBClusterNotFoundFault", &id)),
        };
        for t in tags {
            target.retain(|old| old.key != t.key);
            target.push(t.clone());
        }
        Ok(())
    }
}

/// `cluster` becomes `new_id` (`renaming`), and its instances follow it.
fn rename_cluster(world: &mut World, cluster: &mut Cluster, new_id: &str) {
    let old = std::mem::replace(&mut cluster.id, new_id.to_owned());
    cluster.arn = arn("cluster", new_id);
    cluster.status = "renaming".to_owned();
    for i in world.instances.values_mut() {
        if i.cluster_id.as_deref() == Some(old.as_str()) {
            i.cluster_id = Some(new_id.to_owned());
        }
    }
}

fn rename_members(world: &mut World, from: &str, to: &str) {
    for c in world.clusters.values_mut() {
        for m in &mut c.members {
            if m.instance_id == from {
                m.instance_id = to.to_owned();
            }
        }
    }
}
