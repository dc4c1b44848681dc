//! [`FakeRds`]: an in-memory RDS with the [`Rds`] contract, for whole-flow unit tests.
//!
//! It behaves like RDS where the refresh depends on it, and unlike moto it takes time: restored
//! clusters and new instances are `creating`, renamed ones `renaming`, deleted ones `deleting`,
//! until [`FakeRds::settle`]. Identifiers are unique ("already exists"), missing ones are "not
//! found", instances follow a renamed cluster, a cluster with instances or deletion protection
//! refuses deletion, and nothing is created in a cluster that is not `available`. Faults can be
//! injected per operation and identifier; every call is recorded.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{
    CloneSpec, Cluster, ClusterChange, Instance, InstanceSpec, Member, Rds, RdsError, Tag,
};

#[derive(Debug, Default)]
struct Inner {
    clusters: BTreeMap<String, Cluster>,
    instances: BTreeMap<String, Instance>,
    /// The last master password set per cluster (to check it changed, never printed).
    passwords: BTreeMap<String, String>,
    calls: Vec<String>,
    /// (operation, identifier, AWS error code)
    faults: Vec<(&'static str, String, &'static str)>,
}

/// An in-memory RDS.
#[derive(Debug, Default)]
pub struct FakeRds {
    inner: Mutex<Inner>,
}

fn arn(kind: &str, id: &str) -> String {
    format!("arn:aws:rds:ap-northeast-1:123456789012:{kind}:{id}")
}

fn err(code: &str, id: &str) -> RdsError {
    RdsError::new(code, format!("{code} for {id}"))
}

impl FakeRds {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An available cluster with one available writer instance.
    pub fn add_cluster(&self, id: &str, instance: &str, groups: &[&str], tags: &[Tag]) {
        let mut inner = self.lock();
        let cluster = Cluster {
            id: id.to_owned(),
            arn: arn("cluster", id),
            status: "available".to_owned(),
            engine: "aurora-postgresql".to_owned(),
            endpoint: Some(format!("{id}.cluster-x.ap-northeast-1.rds.amazonaws.com")),
            port: Some(5432),
            master_username: Some("admin".to_owned()),
            database_name: Some("app".to_owned()),
            subnet_group: Some("private".to_owned()),
            parameter_group: Some("prod-params".to_owned()),
            security_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            deletion_protection: false,
            members: Vec::new(),
            tags: tags.to_vec(),
        };
        inner.clusters.insert(id.to_owned(), cluster);
        inner
            .passwords
            .insert(id.to_owned(), "production".to_owned());
        drop(inner);
        self.add_instance(id, instance, tags);
    }

    /// An available instance in `cluster` (its writer when it is the first).
    pub fn add_instance(&self, cluster: &str, id: &str, tags: &[Tag]) {
        let mut inner = self.lock();
        let instance = Instance {
            id: id.to_owned(),
            arn: arn("db", id),
            cluster_id: Some(cluster.to_owned()),
            status: "available".to_owned(),
            class: "db.r6g.xlarge".to_owned(),
            tags: tags.to_vec(),
        };
        inner.instances.insert(id.to_owned(), instance);
        let c = inner.clusters.get_mut(cluster).expect("the cluster exists");
        let writer = c.members.is_empty();
        c.members.push(Member {
            instance_id: id.to_owned(),
            is_writer: writer,
        });
    }

    /// Every pending status reaches its end: `available`, or gone.
    pub fn settle(&self) {
        let mut inner = self.lock();
        inner.instances.retain(|_, i| i.status != "deleting");
        inner.clusters.retain(|_, c| c.status != "deleting");
        for i in inner.instances.values_mut() {
            i.status = "available".to_owned();
        }
        for c in inner.clusters.values_mut() {
            c.status = "available".to_owned();
        }
        let live: Vec<String> = inner.instances.keys().cloned().collect();
        for c in inner.clusters.values_mut() {
            c.members.retain(|m| live.contains(&m.instance_id));
        }
    }

    pub fn fail(&self, operation: &'static str, id: &str, code: &'static str) {
        self.lock().faults.push((operation, id.to_owned(), code));
    }

    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    pub fn cluster(&self, id: &str) -> Option<Cluster> {
        self.lock().clusters.get(id).cloned()
    }

    pub fn cluster_ids(&self) -> Vec<String> {
        self.lock().clusters.keys().cloned().collect()
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.lock().instances.keys().cloned().collect()
    }

    pub fn instance(&self, id: &str) -> Option<Instance> {
        self.lock().instances.get(id).cloned()
    }

    pub fn password(&self, cluster: &str) -> Option<String> {
        self.lock().passwords.get(cluster).cloned()
    }

    pub fn set_cluster_status(&self, id: &str, status: &str) {
        self.lock().clusters.get_mut(id).expect("cluster").status = status.to_owned();
    }

    pub fn set_deletion_protection(&self, id: &str) {
        self.lock()
            .clusters
            .get_mut(id)
            .expect("cluster")
            .deletion_protection = true;
    }

    /// Removes and returns the calls so far (`Operation id`).
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().calls)
    }

    /// Records the call; the injected fault for it, if any.
    fn call(&self, operation: &'static str, id: &str) -> Result<MutexGuard<'_, Inner>, RdsError> {
        let mut inner = self.lock();
        inner.calls.push(format!("{operation} {id}"));
        let fault = inner
            .faults
            .iter()
            .find(|(op, fid, _)| *op == operation && fid == id)
            .map(|f| f.2);
        match fault {
            Some(code) => Err(err(code, id)),
            None => Ok(inner),
        }
    }
}

fn rename_members(inner: &mut Inner, from: &str, to: &str) {
    for c in inner.clusters.values_mut() {
        for m in &mut c.members {
            if m.instance_id == from {
                m.instance_id = to.to_owned();
            }
        }
    }
}

impl Rds for FakeRds {
    async fn describe_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        let inner = self.call("DescribeDBClusters", "*")?;
        Ok(inner.clusters.values().cloned().collect())
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        let inner = self.call("DescribeDBInstances", "*")?;
        let wanted = |i: &&Instance| {
            i.cluster_id
                .as_ref()
                .is_some_and(|c| cluster_ids.contains(c))
        };
        Ok(inner.instances.values().filter(wanted).cloned().collect())
    }

    async fn restore_clone(&self, spec: &CloneSpec) -> Result<(), RdsError> {
        let mut inner = self.call("RestoreDBClusterToPointInTime", &spec.clone)?;
        if inner.clusters.contains_key(&spec.clone) {
            return Err(err("DBClusterAlreadyExistsFault", &spec.clone));
        }
        let Some(source) = inner.clusters.get(&spec.source).cloned() else {
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
            deletion_protection: false,
            members: Vec::new(),
            tags: spec.tags.clone(),
            ..source
        };
        inner.clusters.insert(spec.clone.clone(), clone);
        let inherited = inner
            .passwords
            .get(&spec.source)
            .cloned()
            .unwrap_or_default();
        inner.passwords.insert(spec.clone.clone(), inherited);
        Ok(())
    }

    async fn modify_cluster(&self, change: &ClusterChange) -> Result<(), RdsError> {
        let subject = change.new_id.as_deref().unwrap_or(&change.cluster);
        let mut inner = self.call("ModifyDBCluster", subject)?;
        if change
            .new_id
            .as_ref()
            .is_some_and(|n| inner.clusters.contains_key(n))
        {
            return Err(err("DBClusterAlreadyExistsFault", subject));
        }
        let Some(mut cluster) = inner.clusters.remove(&change.cluster) else {
            return Err(err("DBClusterNotFoundFault", &change.cluster));
        };
        let mut password = inner.passwords.remove(&change.cluster).unwrap_or_default();
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
            cluster.id = new_id.clone();
            cluster.arn = arn("cluster", new_id);
            cluster.status = "renaming".to_owned();
            for i in inner
                .instances
                .values_mut()
                .filter(|i| i.cluster_id.as_deref() == Some(&change.cluster))
            {
                i.cluster_id = Some(new_id.clone());
            }
        }
        inner.passwords.insert(cluster.id.clone(), password);
        inner.clusters.insert(cluster.id.clone(), cluster);
        Ok(())
    }

    async fn create_instance(&self, spec: &InstanceSpec) -> Result<(), RdsError> {
        let mut inner = self.call("CreateDBInstance", &spec.instance)?;
        if inner.instances.contains_key(&spec.instance) {
            return Err(err("DBInstanceAlreadyExists", &spec.instance));
        }
        match inner.clusters.get(&spec.cluster) {
            None => return Err(err("DBClusterNotFoundFault", &spec.cluster)),
            Some(c) if c.status != "available" => {
                return Err(err("InvalidDBClusterStateFault", &spec.cluster));
            }
            Some(_) => {}
        }
        let instance = Instance {
            id: spec.instance.clone(),
            arn: arn("db", &spec.instance),
            cluster_id: Some(spec.cluster.clone()),
            status: "creating".to_owned(),
            class: spec.class.clone(),
            tags: spec.tags.clone(),
        };
        inner.instances.insert(spec.instance.clone(), instance);
        let c = inner
            .clusters
            .get_mut(&spec.cluster)
            .expect("checked above");
        let writer = c.members.is_empty();
        c.members.push(Member {
            instance_id: spec.instance.clone(),
            is_writer: writer,
        });
        Ok(())
    }

    async fn rename_instance(&self, instance_id: &str, new_id: &str) -> Result<(), RdsError> {
        let mut inner = self.call("ModifyDBInstance", new_id)?;
        if inner.instances.contains_key(new_id) {
            return Err(err("DBInstanceAlreadyExists", new_id));
        }
        let Some(mut instance) = inner.instances.remove(instance_id) else {
            return Err(err("DBInstanceNotFound", instance_id));
        };
        instance.id = new_id.to_owned();
        instance.arn = arn("db", new_id);
        instance.status = "renaming".to_owned();
        inner.instances.insert(new_id.to_owned(), instance);
        rename_members(&mut inner, instance_id, new_id);
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        let mut inner = self.call("DeleteDBInstance", instance_id)?;
        match inner.instances.get_mut(instance_id) {
            Some(i) => {
                i.status = "deleting".to_owned();
                Ok(())
            }
            None => Err(err("DBInstanceNotFound", instance_id)),
        }
    }

    async fn delete_cluster(&self, cluster_id: &str) -> Result<(), RdsError> {
        let mut inner = self.call("DeleteDBCluster", cluster_id)?;
        let live_members = inner
            .instances
            .values()
            .any(|i| i.cluster_id.as_deref() == Some(cluster_id));
        let Some(c) = inner.clusters.get_mut(cluster_id) else {
            return Err(err("DBClusterNotFoundFault", cluster_id));
        };
        if c.deletion_protection {
            return Err(err("InvalidParameterCombination", cluster_id));
        }
        if live_members {
            return Err(err("InvalidDBClusterStateFault", cluster_id));
        }
        c.status = "deleting".to_owned();
        Ok(())
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<(), RdsError> {
        let id = arn.rsplit(':').next().unwrap_or_default().to_owned();
        let mut inner = self.call("AddTagsToResource", &id)?;
        let Inner {
            clusters,
            instances,
            ..
        } = &mut *inner;
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
