//! In-memory fakes of [`Eks`] and [`AutoScaling`] for whole-flow unit tests: same contract as the
//! SDK adapters, plus a log of every call and injectable failures. Every call yields to the
//! scheduler first, as a network call would, so concurrent ticks really interleave.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use super::{AsgView, AutoScaling, Eks, NodegroupView};
use crate::error::TickError;
use crate::model::{AsgTag, Scaling};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct EksState {
    groups: BTreeMap<(String, String), NodegroupView>,
    calls: Vec<String>,
    failing: BTreeSet<String>,
    /// Clusters every call on which fails with this AWS error text.
    refusing: BTreeMap<String, String>,
}

/// A fake EKS: clusters exist when they hold a node group.
#[derive(Default)]
pub struct FakeEks(Mutex<EksState>);

impl FakeEks {
    /// Adds an `ACTIVE` node group backed by the Auto Scaling group `asg`.
    pub fn nodegroup(self, cluster: &str, name: &str, scaling: Scaling, asg: &str) -> Self {
        let view = NodegroupView {
            scaling,
            status: "ACTIVE".into(),
            tags: BTreeMap::new(),
            autoscaling_groups: vec![asg.to_owned()],
        };
        lock(&self.0)
            .groups
            .insert((cluster.into(), name.into()), view);
        self
    }

    pub fn scaling(&self, cluster: &str, name: &str) -> Scaling {
        lock(&self.0).groups[&(cluster.into(), name.into())].scaling
    }

    /// A person changes the node group in the console.
    pub fn set_scaling(&self, cluster: &str, name: &str, scaling: Scaling) {
        let mut state = lock(&self.0);
        state
            .groups
            .get_mut(&(cluster.into(), name.into()))
            .unwrap()
            .scaling = scaling;
    }

    pub fn set_tag(&self, cluster: &str, name: &str, key: &str, value: &str) {
        let mut state = lock(&self.0);
        let group = state
            .groups
            .get_mut(&(cluster.into(), name.into()))
            .unwrap();
        group.tags.insert(key.into(), value.into());
    }

    pub fn set_status(&self, cluster: &str, name: &str, status: &str) {
        let mut state = lock(&self.0);
        state
            .groups
            .get_mut(&(cluster.into(), name.into()))
            .unwrap()
            .status = status.into();
    }

    pub fn delete(&self, cluster: &str, name: &str) {
        lock(&self.0).groups.remove(&(cluster.into(), name.into()));
    }

    /// Every `UpdateNodegroupConfig` on `name` fails from now on.
    pub fn fail_updates(&self, name: &str) {
        lock(&self.0).failing.insert(name.into());
    }

    /// `UpdateNodegroupConfig` on `name` works again.
    pub fn recover_updates(&self, name: &str) {
        lock(&self.0).failing.remove(name);
    }

    /// Every call on `cluster` fails from now on with `error` (`AccessDeniedException: ...`).
    pub fn refuse(&self, cluster: &str, error: &str) {
        lock(&self.0).refusing.insert(cluster.into(), error.into());
    }

    /// Operation names called so far.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.0).calls.clone()
    }
}

impl EksState {
    fn refusal(&self, cluster: &str) -> Option<crate::error::BoxError> {
        self.refusing.get(cluster).map(|e| e.clone().into())
    }
}

impl Eks for FakeEks {
    async fn list_nodegroups(&self, cluster: &str) -> Result<Option<Vec<String>>, TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("ListNodegroups".into());
        if let Some(source) = state.refusal(cluster) {
            return Err(TickError::ListNodegroups {
                cluster: cluster.into(),
                source,
            });
        }
        let names: Vec<String> = state
            .groups
            .keys()
            .filter(|(c, _)| c == cluster)
            .map(|(_, n)| n.clone())
            .collect();
        Ok((!names.is_empty()).then_some(names))
    }

    async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Option<NodegroupView>, TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("DescribeNodegroup".into());
        if let Some(source) = state.refusal(cluster) {
            return Err(TickError::DescribeNodegroup {
                cluster: cluster.into(),
                nodegroup: nodegroup.into(),
                source,
            });
        }
        Ok(state
            .groups
            .get(&(cluster.into(), nodegroup.into()))
            .cloned())
    }

    async fn update_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> Result<(), TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("UpdateNodegroupConfig".into());
        let error = |source: &str| TickError::UpdateNodegroupConfig {
            cluster: cluster.into(),
            nodegroup: nodegroup.into(),
            scaling,
            source: source.to_owned().into(),
        };
        if state.failing.contains(nodegroup) {
            return Err(error("ThrottlingException: rate exceeded"));
        }
        match state.groups.get_mut(&(cluster.into(), nodegroup.into())) {
            Some(group) => {
                group.scaling = scaling;
                Ok(())
            }
            None => Err(error("ResourceNotFoundException: no node group")),
        }
    }
}

#[derive(Default)]
struct AsgState {
    groups: BTreeMap<String, AsgView>,
    calls: Vec<String>,
    /// Groups every change to which fails with this AWS error text.
    refusing: BTreeMap<String, String>,
}

/// A fake Auto Scaling service.
#[derive(Default)]
pub struct FakeAutoScaling(Mutex<AsgState>);

impl FakeAutoScaling {
    pub fn group(self, name: &str, scaling: Scaling, tags: Vec<AsgTag>) -> Self {
        let view = AsgView {
            name: name.into(),
            scaling,
            status: None,
            tags,
        };
        lock(&self.0).groups.insert(name.into(), view);
        self
    }

    pub fn scaling(&self, name: &str) -> Scaling {
        lock(&self.0).groups[name].scaling
    }

    /// Tags sorted by key.
    pub fn tags(&self, name: &str) -> Vec<AsgTag> {
        let mut tags = lock(&self.0).groups[name].tags.clone();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        tags
    }

    pub fn calls(&self) -> Vec<String> {
        lock(&self.0).calls.clone()
    }

    /// Every `UpdateAutoScalingGroup` on `name` fails from now on with `error`.
    pub fn refuse_updates(&self, name: &str, error: &str) {
        lock(&self.0).refusing.insert(name.into(), error.into());
    }
}

impl AutoScaling for FakeAutoScaling {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<AsgView>, TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("DescribeAutoScalingGroups".into());
        Ok(names
            .iter()
            .filter_map(|n| state.groups.get(n).cloned())
            .collect())
    }

    async fn update_size(&self, name: &str, scaling: Scaling) -> Result<(), TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("UpdateAutoScalingGroup".into());
        if let Some(error) = state.refusing.get(name) {
            return Err(TickError::UpdateAutoScalingGroup {
                name: name.into(),
                scaling,
                source: error.clone().into(),
            });
        }
        match state.groups.get_mut(name) {
            Some(group) => {
                group.scaling = scaling;
                Ok(())
            }
            None => Err(TickError::UpdateAutoScalingGroup {
                name: name.into(),
                scaling,
                source: "ValidationError: AutoScalingGroup name not found".into(),
            }),
        }
    }

    async fn put_tags(&self, name: &str, tags: &[AsgTag]) -> Result<(), TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("CreateOrUpdateTags".into());
        let group = state.groups.get_mut(name).unwrap();
        for tag in tags {
            group.tags.retain(|t| t.key != tag.key);
            group.tags.push(tag.clone());
        }
        Ok(())
    }

    async fn delete_tags(&self, name: &str, keys: &[String]) -> Result<(), TickError> {
        tokio::task::yield_now().await;
        let mut state = lock(&self.0);
        state.calls.push("DeleteTags".into());
        let group = state.groups.get_mut(name).unwrap();
        group.tags.retain(|t| !keys.contains(&t.key));
        Ok(())
    }
}
