//! Who made an instance, and how offpeak names and tags the replicas it makes.
//!
//! An instance is offpeak's — and so the only kind offpeak may ever delete — when **all** of these
//! hold: it carries `offpeak:managed-by = offpeak`, its `offpeak:target` tag names this cluster,
//! and its identifier is `<cluster>-offpeak-<n>`. Anything else is left alone: human-made readers,
//! Application Auto Scaling's `application-autoscaling-*` readers, and an instance that merely
//! looks like ours (right name, no tags; or our tags, a foreign name).
//!
//! Names are deterministic so that two ticks that saw the same cluster plan the same identifiers,
//! and the slower `CreateDBInstance` fails with "already exists" instead of adding a replica.

use crate::FUNCTION;
use crate::rds::{Instance, Tag};

/// Tag naming the tool that created a resource (design.md).
pub const MANAGED_BY_KEY: &str = "offpeak:managed-by";
pub const MANAGED_BY_VALUE: &str = "offpeak";
/// Tag naming the schedule target the resource belongs to.
pub const TARGET_KEY: &str = "offpeak:target";
/// Tag naming the offpeak function that manages the resource.
pub const FUNCTION_KEY: &str = "offpeak:function";
/// Tag a person reads in the console to know what the instance is for.
pub const PURPOSE_KEY: &str = "offpeak:purpose";
const PURPOSE: &str = "peak read replica - offpeak removes it when the peak window closes";

/// Application Auto Scaling names the readers it adds with this prefix.
pub const AUTOSCALING_PREFIX: &str = "application-autoscaling-";

/// RDS allows 50 tags per resource.
const MAX_TAGS: usize = 50;
/// RDS instance identifiers are at most 63 characters.
pub const MAX_IDENTIFIER: usize = 63;

/// Who made an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// offpeak, as replica number `index` of its cluster.
    Offpeak { index: u32 },
    /// Application Auto Scaling (Aurora Auto Scaling).
    AutoScaling,
    /// A person or another tool.
    Other,
}

/// `<cluster>-offpeak-<index>`.
pub fn replica_name(cluster_id: &str, index: u32) -> String {
    format!("{cluster_id}-offpeak-{index}")
}

/// Who made `instance`, a member of `cluster_id`.
pub fn owner(instance: &Instance, cluster_id: &str) -> Owner {
    if instance.id.starts_with(AUTOSCALING_PREFIX) {
        return Owner::AutoScaling;
    }
    let tagged = instance.tag(MANAGED_BY_KEY) == Some(MANAGED_BY_VALUE)
        && instance.tag(TARGET_KEY) == Some(cluster_id);
    match index_in_name(&instance.id, cluster_id) {
        Some(index) if tagged => Owner::Offpeak { index },
        _ => Owner::Other,
    }
}

/// `n` when `id` is exactly `<cluster>-offpeak-<n>` with `n >= 1` in canonical decimal.
fn index_in_name(id: &str, cluster_id: &str) -> Option<u32> {
    let digits = id.strip_prefix(cluster_id)?.strip_prefix("-offpeak-")?;
    let canonical = !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The tags of a new replica: the cluster's own tags (cost allocation, ownership), then offpeak's.
/// `aws:` tags are reserved and earlier `offpeak:` tags are replaced.
pub fn replica_tags(cluster_id: &str, cluster_tags: &[Tag]) -> Vec<Tag> {
    let ours = [
        Tag::new(MANAGED_BY_KEY, MANAGED_BY_VALUE),
        Tag::new(TARGET_KEY, cluster_id),
        Tag::new(FUNCTION_KEY, FUNCTION),
        Tag::new(PURPOSE_KEY, PURPOSE),
    ];
    let inherited = cluster_tags
        .iter()
        .filter(|t| !t.key.starts_with("aws:") && !t.key.starts_with("offpeak:"))
        .take(MAX_TAGS - ours.len())
        .cloned();
    inherited.chain(ours).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::InstanceSettings;

    fn instance(id: &str, tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            cluster_id: Some("prod".into()),
            class: "db.r7g.large".into(),
            engine: "aurora-postgresql".into(),
            status: "available".into(),
            availability_zone: None,
            promotion_tier: None,
            tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
            settings: InstanceSettings::default(),
            ..Instance::default()
        }
    }

    const OURS: &[(&str, &str)] = &[(MANAGED_BY_KEY, "offpeak"), (TARGET_KEY, "prod")];

    #[test]
    fn ours_needs_the_name_and_both_tags() {
        let cases = [
            ("prod-offpeak-3", OURS, Owner::Offpeak { index: 3 }),
            ("prod-offpeak-3", &[][..], Owner::Other),
            ("prod-offpeak-3", &OURS[..1], Owner::Other),
            (
                "prod-offpeak-3",
                &[(MANAGED_BY_KEY, "offpeak"), (TARGET_KEY, "other")][..],
                Owner::Other,
            ),
            ("prod-reader-1", OURS, Owner::Other),
            ("prod-offpeak-03", OURS, Owner::Other),
            ("prod-offpeak-0", OURS, Owner::Other),
            ("prod-offpeak-", OURS, Owner::Other),
            ("prod-offpeak-1x", OURS, Owner::Other),
            ("prod-2-offpeak-1", OURS, Owner::Other),
            ("application-autoscaling-abc", OURS, Owner::AutoScaling),
            ("application-autoscaling-abc", &[][..], Owner::AutoScaling),
        ];
        for (id, tags, want) in cases {
            assert_eq!(owner(&instance(id, tags), "prod"), want, "{id} {tags:?}");
        }
    }

    #[test]
    fn names_round_trip_through_ownership() {
        let name = replica_name("prod", 12);
        assert_eq!(name, "prod-offpeak-12");
        assert_eq!(
            owner(&instance(&name, OURS), "prod"),
            Owner::Offpeak { index: 12 }
        );
    }

    #[test]
    fn replica_tags_inherit_cluster_tags_but_not_reserved_ones() {
        let cluster_tags = [
            Tag::new("cost-center", "42"),
            Tag::new("aws:cloudformation:stack-name", "x"),
            Tag::new(MANAGED_BY_KEY, "someone-else"),
        ];
        let tags = replica_tags("prod", &cluster_tags);
        let keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cost-center",
                MANAGED_BY_KEY,
                TARGET_KEY,
                FUNCTION_KEY,
                PURPOSE_KEY
            ]
        );
        assert!(tags.contains(&Tag::new(MANAGED_BY_KEY, "offpeak")));
    }

    #[test]
    fn replica_tags_stay_within_the_rds_limit() {
        let many: Vec<Tag> = (0..80).map(|i| Tag::new(format!("k{i}"), "v")).collect();
        let tags = replica_tags("prod", &many);
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(tags.last().unwrap().key, PURPOSE_KEY);
    }
}
