//! AWS behind two narrow traits that mirror the function's IAM policy, and nothing more:
//!
//! | trait | IAM actions |
//! |---|---|
//! | [`Eks`] | `eks:ListNodegroups`, `eks:DescribeNodegroup` (scaling, status, tags, ASG name), `eks:UpdateNodegroupConfig` |
//! | [`AutoScaling`] | `autoscaling:DescribeAutoScalingGroups`, `autoscaling:UpdateAutoScalingGroup`, `autoscaling:CreateOrUpdateTags`, `autoscaling:DeleteTags` |
//!
//! [`SdkEks`] and [`SdkAutoScaling`] are the real adapters; the unit tests use in-memory fakes with
//! the same contract. "Not found" is a value (`None`, or a group absent from the answer), never an
//! error, so a deleted node group is reported, not fatal. Every other failure is a [`TickError`]
//! naming the call and the ids, with the SDK error as its source.

mod autoscaling;
mod eks;
#[cfg(test)]
pub(crate) mod fake;

use std::collections::BTreeMap;
use std::future::Future;

pub use autoscaling::SdkAutoScaling;
pub use eks::SdkEks;

use crate::error::TickError;
use crate::model::{AsgTag, Scaling};

/// What offpeak reads of a managed node group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodegroupView {
    pub scaling: Scaling,
    /// `ACTIVE`, `UPDATING`, `DEGRADED`, ...
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// The Auto Scaling groups EKS created for it (`resources.autoScalingGroups`), usually one.
    pub autoscaling_groups: Vec<String>,
}

/// What offpeak reads of an Auto Scaling group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsgView {
    pub name: String,
    pub scaling: Scaling,
    /// Set only while the group is being deleted (`Delete in progress`).
    pub status: Option<String>,
    pub tags: Vec<AsgTag>,
}

impl AsgView {
    /// The value of tag `key`, if the group has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// The EKS calls offpeak makes.
pub trait Eks: Send + Sync {
    /// Names of every managed node group of `cluster`; `None` when the cluster does not exist.
    fn list_nodegroups(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, TickError>> + Send;

    /// The node group, or `None` when it (or its cluster) does not exist.
    fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> impl Future<Output = Result<Option<NodegroupView>, TickError>> + Send;

    /// Sets the node group's `{min, max, desired}`.
    fn update_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> impl Future<Output = Result<(), TickError>> + Send;
}

/// The Auto Scaling calls offpeak makes.
pub trait AutoScaling: Send + Sync {
    /// The groups among `names` that exist; absent names are absent from the answer.
    fn describe_groups(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AsgView>, TickError>> + Send;

    /// Sets the group's `{min, max, desired}`.
    fn update_size(
        &self,
        name: &str,
        scaling: Scaling,
    ) -> impl Future<Output = Result<(), TickError>> + Send;

    /// Creates or overwrites `tags` on the group, keeping each tag's `PropagateAtLaunch`.
    fn put_tags(
        &self,
        name: &str,
        tags: &[AsgTag],
    ) -> impl Future<Output = Result<(), TickError>> + Send;

    /// Removes the tags with these keys (an absent key is not an error).
    fn delete_tags(
        &self,
        name: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<(), TickError>> + Send;
}
