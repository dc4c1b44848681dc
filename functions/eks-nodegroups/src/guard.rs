//! The cluster-autoscaler guard (pure): which Auto Scaling group tags keep the Kubernetes cluster
//! autoscaler from scaling a sleeping group back up, and how offpeak marks a group it parked.
//!
//! The cluster autoscaler's AWS auto-discovery (`--node-group-auto-discovery=asg:tag=<key>,...`)
//! manages every Auto Scaling group on which all the listed tag *keys exist* (values are ignored),
//! re-lists them every minute and drops groups that no longer match. EKS puts
//! `k8s.io/cluster-autoscaler/enabled` and `k8s.io/cluster-autoscaler/<cluster>` on the group of
//! every managed node group; self-managed groups carry them when set up for the autoscaler. While a
//! group sleeps, offpeak removes both keys (saving them exactly, value and `PropagateAtLaunch`, in
//! the state store and mirrored in the [`MIRROR_KEY`] marker) and puts them back on wake.
//! docs/decisions.md says why this mechanism.

use crate::aws::AsgView;
use crate::model::AsgTag;

/// The discovery key every auto-discovery setup in the cluster-autoscaler docs uses.
pub const ENABLED_KEY: &str = "k8s.io/cluster-autoscaler/enabled";
/// Set on a group while offpeak keeps it asleep, so a person looking at the group sees why, and
/// what will be restored ([`crate::marker`]).
pub const MIRROR_KEY: &str = "offpeak:asleep";

/// `k8s.io/cluster-autoscaler/<cluster>`, the per-cluster discovery key.
pub fn cluster_key(cluster: &str) -> String {
    format!("k8s.io/cluster-autoscaler/{cluster}")
}

/// The discovery tags the group carries now, exactly as they are.
pub fn discovery_tags(group: &AsgView, cluster: &str) -> Vec<AsgTag> {
    let per_cluster = cluster_key(cluster);
    group
        .tags
        .iter()
        .filter(|t| t.key == ENABLED_KEY || t.key == per_cluster)
        .cloned()
        .collect()
}

/// Saved tags the group does not carry exactly (missing, or with another value or propagation).
pub fn to_restore(group: &AsgView, saved: &[AsgTag]) -> Vec<AsgTag> {
    saved
        .iter()
        .filter(|s| !group.tags.contains(s))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scaling;

    fn group(tags: Vec<AsgTag>) -> AsgView {
        AsgView {
            name: "eks-app".into(),
            scaling: Scaling {
                min: 1,
                max: 3,
                desired: 2,
            },
            status: None,
            tags,
        }
    }

    #[test]
    fn both_discovery_keys_are_found_whatever_their_value() {
        let g = group(vec![
            AsgTag::new("k8s.io/cluster-autoscaler/enabled", "false", true),
            AsgTag::new("k8s.io/cluster-autoscaler/dev-eks", "owned", true),
            AsgTag::new("k8s.io/cluster-autoscaler/other-eks", "owned", true),
            AsgTag::new("eks:nodegroup-name", "app", false),
        ]);
        let keys: Vec<_> = discovery_tags(&g, "dev-eks")
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(
            keys,
            [
                "k8s.io/cluster-autoscaler/enabled",
                "k8s.io/cluster-autoscaler/dev-eks"
            ]
        );
    }

    #[test]
    fn restore_puts_back_only_what_differs() {
        let saved = vec![
            AsgTag::new(ENABLED_KEY, "true", true),
            AsgTag::new("k8s.io/cluster-autoscaler/dev-eks", "owned", true),
        ];
        let g = group(vec![
            AsgTag::new(ENABLED_KEY, "true", false),
            AsgTag::new("k8s.io/cluster-autoscaler/dev-eks", "owned", true),
        ]);
        assert_eq!(to_restore(&g, &saved), [saved[0].clone()]);
        assert!(to_restore(&group(saved.clone()), &saved).is_empty());
    }
}
