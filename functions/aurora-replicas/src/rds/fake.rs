//! [`FakeRds`]: an in-memory RDS with the [`Rds`] contract, for whole-flow unit tests.
//!
//! It behaves like RDS where the reconciler depends on it: identifiers are unique ("already
//! exists"), deleting a missing instance is "not found", new instances start `creating` and
//! deleted ones linger as `deleting` until [`FakeRds::settle`], nothing is created in a cluster
//! that is not `available`, and busy or deleting instances refuse deletion with
//! `InvalidDBInstanceState`. Deleting a cluster's writer panics: no test may ever get there.
//! Faults can be injected per operation and cluster, and every call is recorded.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{Cluster, ClusterMember, Instance, InstanceSettings, Rds, RdsError, ReplicaSpec, Tag};
use crate::status::Health;

pub const ENGINE: &str = "aurora-postgresql";
pub const WRITER_CLASS: &str = "db.r6g.xlarge";
pub const AZS: [&str; 3] = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"];

#[derive(Debug, Default)]
struct Inner {
    clusters: BTreeMap<String, (String, Vec<Tag>)>,
    instances: BTreeMap<String, Instance>,
    writers: BTreeMap<String, String>,
    calls: Vec<&'static str>,
    /// (operation, cluster, AWS error code)
    faults: Vec<(&'static str, String, String)>,
}

/// An in-memory RDS. All methods take `&self`.
#[derive(Debug, Default)]
pub struct FakeRds {
    inner: Mutex<Inner>,
}

impl FakeRds {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An available cluster with three AZs and a `team` tag.
    pub fn add_cluster(&self, id: &str) {
        let tags = vec![Tag::new("team", "payments")];
        self.lock()
            .clusters
            .insert(id.to_owned(), ("available".to_owned(), tags));
    }

    /// An available instance in the cluster's first AZ; the first writer added is the writer.
    pub fn add_instance(&self, cluster: &str, id: &str, writer: bool) {
        let instance = Instance {
            id: id.to_owned(),
            cluster_id: Some(cluster.to_owned()),
            class: WRITER_CLASS.to_owned(),
            engine: ENGINE.to_owned(),
            status: "available".to_owned(),
            availability_zone: Some(AZS[0].to_owned()),
            promotion_tier: Some(1),
            tags: vec![],
            settings: InstanceSettings {
                parameter_group: Some(format!("{cluster}-params")),
                ..InstanceSettings::default()
            },
        };
        let mut inner = self.lock();
        inner.instances.insert(id.to_owned(), instance);
        if writer {
            inner.writers.insert(cluster.to_owned(), id.to_owned());
        }
    }

    pub fn set_status(&self, instance: &str, status: &str) {
        self.lock()
            .instances
            .get_mut(instance)
            .expect("known instance")
            .status = status.to_owned();
    }

    pub fn set_cluster_status(&self, cluster: &str, status: &str) {
        self.lock()
            .clusters
            .get_mut(cluster)
            .expect("known cluster")
            .0 = status.to_owned();
    }

    /// Makes `instance` the writer of its cluster.
    pub fn failover(&self, cluster: &str, instance: &str) {
        self.lock()
            .writers
            .insert(cluster.to_owned(), instance.to_owned());
    }

    /// Makes `operation` (`CreateDBInstance`, `DeleteDBInstance`) fail with `code` for `cluster`.
    pub fn fail(&self, operation: &'static str, cluster_or_instance: &str, code: &str) {
        self.lock()
            .faults
            .push((operation, cluster_or_instance.to_owned(), code.to_owned()));
    }

    /// Makes both describes fail with `code`.
    pub fn fail_describes(&self, code: &str) {
        self.fail("DescribeDBClusters", "*", code);
        self.fail("DescribeDBInstances", "*", code);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Finishes every transition: `creating` becomes `available`, `deleting` instances vanish.
    pub fn settle(&self) {
        let mut inner = self.lock();
        inner.instances.retain(|_, i| i.status != "deleting");
        for i in inner.instances.values_mut() {
            if i.status == "creating" {
                i.status = "available".to_owned();
            }
        }
    }

    /// Every call so far, by AWS operation name.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// The calls that would change AWS.
    pub fn mutating_calls(&self) -> Vec<&'static str> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("Describe"))
            .collect()
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn instance(&self, id: &str) -> Option<Instance> {
        self.lock().instances.get(id).cloned()
    }

    /// The ids of the cluster's instances that are not being deleted.
    pub fn live_ids(&self, cluster: &str) -> Vec<String> {
        self.lock()
            .instances
            .values()
            .filter(|i| i.cluster_id.as_deref() == Some(cluster) && i.status != "deleting")
            .map(|i| i.id.clone())
            .collect()
    }

    pub fn writer(&self, cluster: &str) -> Option<String> {
        self.lock().writers.get(cluster).cloned()
    }
}

impl Inner {
    fn call(&mut self, operation: &'static str, subjects: &[&str]) -> Result<(), RdsError> {
        self.calls.push(operation);
        let fault = self.faults.iter().find(|(op, who, _)| {
            *op == operation && (who == "*" || subjects.contains(&who.as_str()))
        });
        match fault {
            Some((_, _, code)) => Err(RdsError::new(code.clone(), "injected by the test")),
            None => Ok(()),
        }
    }

    fn cluster(&self, id: &str) -> Cluster {
        let (status, tags) = &self.clusters[id];
        let writer = self.writers.get(id);
        let members = self
            .instances
            .values()
            .filter(|i| i.cluster_id.as_deref() == Some(id))
            .map(|i| ClusterMember {
                instance_id: i.id.clone(),
                is_writer: writer == Some(&i.id),
            })
            .collect();
        Cluster {
            id: id.to_owned(),
            status: status.clone(),
            engine: ENGINE.to_owned(),
            availability_zones: AZS.iter().map(|s| (*s).to_owned()).collect(),
            members,
            tags: tags.clone(),
        }
    }
}

impl Rds for FakeRds {
    async fn describe_clusters(&self, cluster_ids: &[String]) -> Result<Vec<Cluster>, RdsError> {
        let mut inner = self.lock();
        inner.call("DescribeDBClusters", &[])?;
        Ok(cluster_ids
            .iter()
            .map(|id| id.to_ascii_lowercase())
            .filter(|id| inner.clusters.contains_key(id))
            .map(|id| inner.cluster(&id))
            .collect())
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        let mut inner = self.lock();
        inner.call("DescribeDBInstances", &[])?;
        Ok(inner
            .instances
            .values()
            .filter(|i| {
                i.cluster_id
                    .as_ref()
                    .is_some_and(|c| cluster_ids.contains(c))
            })
            .cloned()
            .collect())
    }

    async fn create_instance(&self, spec: &ReplicaSpec) -> Result<(), RdsError> {
        let mut inner = self.lock();
        inner.call("CreateDBInstance", &[&spec.cluster, &spec.instance])?;
        if inner.instances.contains_key(&spec.instance) {
            return Err(RdsError::new("DBInstanceAlreadyExists", "taken"));
        }
        match inner.clusters.get(&spec.cluster) {
            Some((status, _)) if status == "available" => {}
            _ => return Err(RdsError::new("InvalidDBClusterStateFault", "not available")),
        }
        let instance = Instance {
            id: spec.instance.clone(),
            cluster_id: Some(spec.cluster.clone()),
            class: spec.class.clone(),
            engine: spec.engine.clone(),
            status: "creating".to_owned(),
            availability_zone: spec.availability_zone.clone(),
            promotion_tier: Some(spec.promotion_tier),
            tags: spec.tags.clone(),
            settings: spec.settings.clone(),
        };
        inner.instances.insert(spec.instance.clone(), instance);
        Ok(())
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        let mut inner = self.lock();
        let cluster = inner
            .instances
            .get(instance_id)
            .and_then(|i| i.cluster_id.clone())
            .unwrap_or_default();
        inner.call("DeleteDBInstance", &[&cluster, instance_id])?;
        assert!(
            inner.writers.get(&cluster).map(String::as_str) != Some(instance_id),
            "deleted the writer {instance_id} of {cluster}"
        );
        let Some(instance) = inner.instances.get_mut(instance_id) else {
            return Err(RdsError::new("DBInstanceNotFound", "gone"));
        };
        if !Health::of(&instance.status).deletable() {
            return Err(RdsError::new("InvalidDBInstanceState", "busy"));
        }
        instance.status = "deleting".to_owned();
        Ok(())
    }
}
