//! [`FakeRds`]: an in-memory RDS for whole-flow unit tests of both RDS functions.
//!
//! Unlike moto it takes time: new instances are `creating` and deleted ones linger as `deleting`
//! until [`FakeRds::settle`]. It behaves like RDS where a reconciler depends on it: identifiers
//! are unique ("already exists"), missing ones are "not found", nothing is created in a cluster
//! that is not `available`, the first instance of a cluster is its writer, and an instance that
//! is busy or already deleting refuses deletion with `InvalidDBInstanceState`. Faults can be
//! injected per operation and identifier, and every call is recorded.
//!
//! The calls both functions make are methods here; a function whose role allows more (the masked
//! refresh's restores, renames and cluster deletes) implements those on [`World`] through
//! [`FakeRds::call`], which records the call and applies the faults like every other.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::status::{AVAILABLE, DELETING, Health};
use super::{Cluster, ClusterMember, Instance, InstanceSettings, RdsError, Tag};

pub const ENGINE: &str = "aurora-postgresql";
pub const WRITER_CLASS: &str = "db.r6g.xlarge";
pub const AZS: [&str; 3] = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"];
/// The master password every cluster added with [`FakeRds::add_cluster`] starts with.
pub const INITIAL_PASSWORD: &str = "production";

/// The subject of a call that names no resource (the describes).
const ANY: &str = "*";

/// What the fake RDS holds. Members are kept on each cluster, as `DBClusterMembers` lists them.
#[derive(Debug, Default)]
pub struct World {
    pub clusters: BTreeMap<String, Cluster>,
    pub instances: BTreeMap<String, Instance>,
    /// The last master password set per cluster (to check it changed; never printed).
    pub passwords: BTreeMap<String, String>,
    /// Manual cluster snapshots (a final snapshot taken by a delete): snapshot id -> cluster id.
    pub cluster_snapshots: BTreeMap<String, String>,
    /// (operation, first subject)
    calls: Vec<(&'static str, String)>,
    /// (operation, subject or `*`, AWS error code)
    faults: Vec<(&'static str, String, String)>,
}

/// An in-memory RDS. All methods take `&self`.
#[derive(Debug, Default)]
pub struct FakeRds {
    world: Mutex<World>,
}

/// The ARN RDS gives a `kind` (`cluster`, `db`) named `id`.
pub fn arn(kind: &str, id: &str) -> String {
    format!("arn:aws:rds:ap-northeast-1:123456789012:{kind}:{id}")
}

/// The error RDS answers with `code` about `id`.
pub fn err(code: &str, id: &str) -> RdsError {
    RdsError::new(code, format!("{code} for {id}"))
}

impl FakeRds {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `operation` on `subjects` (the first names the call in [`FakeRds::take_calls`]);
    /// the fault injected for it, if any, else the world to act on.
    pub fn call(
        &self,
        operation: &'static str,
        subjects: &[&str],
    ) -> Result<MutexGuard<'_, World>, RdsError> {
        let mut world = self.lock();
        let first = subjects.first().copied().unwrap_or(ANY);
        world.calls.push((operation, first.to_owned()));
        let fault = world.faults.iter().find(|(op, who, _)| {
            *op == operation && (who == ANY || subjects.contains(&who.as_str()))
        });
        match fault.map(|(_, _, code)| code.clone()) {
            Some(code) => Err(err(&code, first)),
            None => Ok(world),
        }
    }

    /// Changes cluster `id` as `change` says (a test's setup).
    pub fn update_cluster(&self, id: &str, change: impl FnOnce(&mut Cluster)) {
        change(self.lock().clusters.get_mut(id).expect("known cluster"));
    }

    /// Changes instance `id` as `change` says (a test's setup).
    pub fn update_instance(&self, id: &str, change: impl FnOnce(&mut Instance)) {
        change(self.lock().instances.get_mut(id).expect("known instance"));
    }
}

/// Setting the world up.
impl FakeRds {
    /// An available cluster with three AZs, a `team` tag, its own security group `sg-<id>` and
    /// no instances.
    pub fn add_cluster(&self, id: &str) {
        let cluster = Cluster {
            id: id.to_owned(),
            arn: arn("cluster", id),
            status: AVAILABLE.to_owned(),
            engine: ENGINE.to_owned(),
            availability_zones: AZS.iter().map(|s| (*s).to_owned()).collect(),
            endpoint: Some(endpoint(id)),
            port: Some(5432),
            master_username: Some("admin".to_owned()),
            database_name: Some("app".to_owned()),
            subnet_group: Some("private".to_owned()),
            parameter_group: Some(format!("{id}-cluster-params")),
            security_groups: vec![format!("sg-{id}")],
            tags: vec![Tag::new("team", "payments")],
            ..Cluster::default()
        };
        let mut world = self.lock();
        world.clusters.insert(id.to_owned(), cluster);
        world
            .passwords
            .insert(id.to_owned(), INITIAL_PASSWORD.to_owned());
    }

    /// An available, untagged instance of `cluster` in its first AZ, with the parameter group
    /// `<cluster>-params`; `writer` makes it the cluster's writer.
    pub fn add_instance(&self, cluster: &str, id: &str, writer: bool) {
        let instance = Instance {
            id: id.to_owned(),
            arn: arn("db", id),
            cluster_id: Some(cluster.to_owned()),
            class: WRITER_CLASS.to_owned(),
            engine: ENGINE.to_owned(),
            status: AVAILABLE.to_owned(),
            availability_zone: Some(AZS[0].to_owned()),
            promotion_tier: Some(1),
            tags: vec![],
            settings: InstanceSettings {
                parameter_group: Some(format!("{cluster}-params")),
                ..InstanceSettings::default()
            },
        };
        self.lock().insert(instance, writer);
    }

    pub fn set_status(&self, instance: &str, status: &str) {
        self.update_instance(instance, |i| i.status = status.to_owned());
    }

    pub fn set_cluster_status(&self, cluster: &str, status: &str) {
        self.update_cluster(cluster, |c| c.status = status.to_owned());
    }

    /// Makes `instance` the writer of `cluster`.
    pub fn failover(&self, cluster: &str, instance: &str) {
        self.update_cluster(cluster, |c| {
            for m in &mut c.members {
                m.is_writer = m.instance_id == instance;
            }
        });
    }

    /// Makes `operation` fail with `code` when it names `subject` (a cluster or an instance id,
    /// or `*` for every call of that operation).
    pub fn fail(&self, operation: &'static str, subject: &str, code: &str) {
        let fault = (operation, subject.to_owned(), code.to_owned());
        self.lock().faults.push(fault);
    }

    /// Makes both describes fail with `code`.
    pub fn fail_describes(&self, code: &str) {
        self.fail("DescribeDBClusters", ANY, code);
        self.fail("DescribeDBInstances", ANY, code);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Finishes every transition: what is `deleting` vanishes, and every status that is neither
    /// broken nor `available` (`creating`, `modifying`, `renaming`, ...) becomes `available`.
    pub fn settle(&self) {
        let mut world = self.lock();
        world.instances.retain(|_, i| i.status != DELETING);
        world.clusters.retain(|_, c| c.status != DELETING);
        let World {
            clusters,
            instances,
            ..
        } = &mut *world;
        for i in instances.values_mut() {
            settle_status(&mut i.status);
        }
        for c in clusters.values_mut() {
            settle_status(&mut c.status);
            c.members.retain(|m| instances.contains_key(&m.instance_id));
        }
    }
}

fn settle_status(status: &mut String) {
    if Health::of(status) == Health::Busy {
        *status = AVAILABLE.to_owned();
    }
}

fn endpoint(cluster: &str) -> String {
    format!("{cluster}.cluster-x.ap-northeast-1.rds.amazonaws.com")
}

/// Reading what happened.
impl FakeRds {
    /// Every call so far, by AWS operation name.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.iter().map(|(op, _)| *op).collect()
    }

    /// The calls so far that would change AWS.
    pub fn mutating_calls(&self) -> Vec<&'static str> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("Describe"))
            .collect()
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// Removes and returns the calls so far, as `Operation subject`.
    pub fn take_calls(&self) -> Vec<String> {
        let calls = std::mem::take(&mut self.lock().calls);
        calls
            .into_iter()
            .map(|(op, who)| format!("{op} {who}"))
            .collect()
    }

    pub fn cluster(&self, id: &str) -> Option<Cluster> {
        self.lock().clusters.get(id).cloned()
    }

    pub fn cluster_ids(&self) -> Vec<String> {
        self.lock().clusters.keys().cloned().collect()
    }

    pub fn instance(&self, id: &str) -> Option<Instance> {
        self.lock().instances.get(id).cloned()
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.lock().instances.keys().cloned().collect()
    }

    /// The ids of the cluster's instances that are not being deleted.
    pub fn live_ids(&self, cluster: &str) -> Vec<String> {
        self.lock()
            .instances
            .values()
            .filter(|i| i.cluster_id.as_deref() == Some(cluster) && i.status != DELETING)
            .map(|i| i.id.clone())
            .collect()
    }

    pub fn writer(&self, cluster: &str) -> Option<String> {
        let world = self.lock();
        world.clusters.get(cluster)?.writer().map(str::to_owned)
    }

    /// The master password the cluster has now.
    pub fn password(&self, cluster: &str) -> Option<String> {
        self.lock().passwords.get(cluster).cloned()
    }

    /// The manual cluster snapshots: `(snapshot id, cluster id)`, by snapshot id.
    pub fn cluster_snapshots(&self) -> Vec<(String, String)> {
        let world = self.lock();
        world
            .cluster_snapshots
            .iter()
            .map(|(s, c)| (s.clone(), c.clone()))
            .collect()
    }
}

/// The calls both RDS functions make.
impl FakeRds {
    /// `DescribeDBClusters` filtered by id: the clusters that exist, in the order asked.
    pub fn describe_clusters_by_id(
        &self,
        cluster_ids: &[String],
    ) -> Result<Vec<Cluster>, RdsError> {
        let world = self.call("DescribeDBClusters", &[])?;
        Ok(cluster_ids
            .iter()
            .filter_map(|id| world.clusters.get(&id.to_ascii_lowercase()).cloned())
            .collect())
    }

    /// `DescribeDBClusters`: every cluster.
    pub fn describe_all_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        let world = self.call("DescribeDBClusters", &[])?;
        Ok(world.clusters.values().cloned().collect())
    }

    /// `DescribeDBInstances` filtered by `db-cluster-id`.
    pub fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        let world = self.call("DescribeDBInstances", &[])?;
        let wanted = |i: &&Instance| {
            i.cluster_id
                .as_ref()
                .is_some_and(|c| cluster_ids.contains(c))
        };
        Ok(world.instances.values().filter(wanted).cloned().collect())
    }

    /// `CreateDBInstance` of `instance` into its cluster: it starts `creating`.
    pub fn create_db_instance(&self, instance: Instance) -> Result<(), RdsError> {
        let cluster = instance.cluster_id.clone().unwrap_or_default();
        let mut world = self.call("CreateDBInstance", &[&instance.id, &cluster])?;
        if world.instances.contains_key(&instance.id) {
            return Err(err("DBInstanceAlreadyExists", &instance.id));
        }
        match world.clusters.get(&cluster) {
            None => return Err(err("DBClusterNotFoundFault", &cluster)),
            Some(c) if c.status != AVAILABLE => {
                return Err(err("InvalidDBClusterStateFault", &cluster));
            }
            Some(c) => {
                let writer = c.writer().is_none();
                let instance = Instance {
                    arn: arn("db", &instance.id),
                    status: "creating".to_owned(),
                    ..instance
                };
                world.insert(instance, writer);
            }
        }
        Ok(())
    }

    /// `DeleteDBInstance`: the instance is `deleting` until [`FakeRds::settle`].
    pub fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        let cluster = self.cluster_of(instance_id);
        let mut world = self.call("DeleteDBInstance", &[instance_id, &cluster])?;
        let Some(instance) = world.instances.get_mut(instance_id) else {
            return Err(err("DBInstanceNotFound", instance_id));
        };
        if !Health::of(&instance.status).deletable() {
            return Err(err("InvalidDBInstanceState", instance_id));
        }
        instance.status = DELETING.to_owned();
        Ok(())
    }

    /// The cluster instance `id` belongs to (empty when unknown).
    pub fn cluster_of(&self, instance_id: &str) -> String {
        let world = self.lock();
        let instance = world.instances.get(instance_id);
        instance
            .and_then(|i| i.cluster_id.clone())
            .unwrap_or_default()
    }
}

impl World {
    /// Adds `instance` and lists it as a member of its cluster.
    fn insert(&mut self, instance: Instance, writer: bool) {
        let cluster = instance.cluster_id.clone().unwrap_or_default();
        let member = ClusterMember {
            instance_id: instance.id.clone(),
            is_writer: writer,
        };
        self.instances.insert(instance.id.clone(), instance);
        if let Some(c) = self.clusters.get_mut(&cluster) {
            c.members.push(member);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> FakeRds {
        let rds = FakeRds::new();
        rds.add_cluster("prod");
        rds.add_instance("prod", "prod-1", true);
        rds
    }

    fn reader(id: &str) -> Instance {
        Instance::requested("prod", id, WRITER_CLASS, ENGINE, &[])
    }

    #[test]
    fn creates_take_time_and_identifiers_are_unique() {
        // GIVEN a cluster with a writer
        let rds = world();
        // WHEN a reader is created twice
        rds.create_db_instance(reader("prod-2")).unwrap();
        let again = rds.create_db_instance(reader("prod-2")).unwrap_err();
        // THEN the second is "already exists", the first is creating until the fake settles
        assert!(again.already_exists(), "{again}");
        assert_eq!(rds.instance("prod-2").unwrap().status, "creating");
        rds.settle();
        assert_eq!(rds.instance("prod-2").unwrap().status, "available");
        assert_eq!(rds.writer("prod").as_deref(), Some("prod-1"));
    }

    #[test]
    fn nothing_is_created_in_a_cluster_that_is_not_available() {
        let rds = world();
        rds.set_cluster_status("prod", "failing-over");
        let e = rds.create_db_instance(reader("prod-2")).unwrap_err();
        assert_eq!(e.code, "InvalidDBClusterStateFault");
        let e = rds.create_db_instance(Instance {
            cluster_id: Some("nope".into()),
            ..reader("x")
        });
        assert!(e.unwrap_err().not_found());
    }

    #[test]
    fn busy_instances_refuse_deletion_and_missing_ones_are_not_found() {
        // GIVEN a creating reader
        let rds = world();
        rds.create_db_instance(reader("prod-2")).unwrap();
        // WHEN it and a missing instance are deleted
        let busy = rds.delete_instance("prod-2").unwrap_err();
        let gone = rds.delete_instance("prod-9").unwrap_err();
        // THEN the first is refused as busy, the second is "not found"
        assert_eq!(busy.code, "InvalidDBInstanceState");
        assert!(gone.not_found(), "{gone}");
        // AND once settled it deletes, and vanishes with its membership at the next settle
        rds.settle();
        rds.delete_instance("prod-2").unwrap();
        assert_eq!(rds.live_ids("prod"), ["prod-1"]);
        rds.settle();
        assert_eq!(rds.cluster("prod").unwrap().members.len(), 1);
    }

    #[test]
    fn broken_statuses_survive_settling() {
        let rds = world();
        rds.set_status("prod-1", "incompatible-parameters");
        rds.settle();
        assert_eq!(
            rds.instance("prod-1").unwrap().status,
            "incompatible-parameters"
        );
    }

    #[test]
    fn faults_apply_per_operation_and_subject_and_every_call_is_recorded() {
        let rds = world();
        rds.fail("DeleteDBInstance", "prod", "AccessDenied");
        rds.fail_describes("Throttling");
        assert_eq!(
            rds.delete_instance("prod-1").unwrap_err().code,
            "AccessDenied"
        );
        assert_eq!(rds.describe_all_clusters().unwrap_err().code, "Throttling");
        assert_eq!(rds.mutating_calls(), ["DeleteDBInstance"]);
        assert_eq!(
            rds.take_calls(),
            ["DeleteDBInstance prod-1", "DescribeDBClusters *"]
        );
        rds.clear_faults();
        assert_eq!(
            rds.describe_clusters_by_id(&["PROD".into()]).unwrap().len(),
            1
        );
    }
}
