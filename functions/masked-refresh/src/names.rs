//! How the refresh names and tags what it creates, and what it may touch.
//!
//! Names are deterministic per run (the local date its window opened, `YYYYMMDD`), so a
//! duplicated or resumed tick addresses the same resources and a repeated create fails with
//! "already exists" instead of making a second clone:
//!
//! | resource | identifier |
//! |---|---|
//! | the clone | `<target>-offpeak-<run>` |
//! | its instance | `<target>-offpeak-<run>-1` |
//! | the copy of the verified clone (promoted to dev) | `<target>-offpeak-<run>-copy` |
//! | its instance | `<target>-offpeak-<run>-copy-1` |
//! | the previous dev cluster, renamed aside | `<target>-offpeak-prev-<run>` |
//! | its instances | `<target>-offpeak-prev-<run>-<n>` |
//! | the final snapshot of a handed-over dev cluster, taken when it is deleted | `<target>-offpeak-prev-<run>-final` |
//!
//! All of them start with `<target>-offpeak-`, the `CloneIdPrefix` the IAM policy scopes
//! creates, renames, deletes and final snapshots to.
//!
//! Made by offpeak or handed over: a cluster offpeak made (a clone, its copy, later dev and then
//! previous) carries the `offpeak:run` tag of the run that made it from its creation on; a dev
//! cluster a person handed over carries only the two hand-over tags, and being put aside adds no
//! `offpeak:run` ([`aside_tags`]). Only a handed-over cluster holds data offpeak did not make, so
//! only it gets a final snapshot when it is deleted ([`final_snapshot`]); a cluster offpeak made
//! is a masked copy re-made every night and is deleted without one.
//!
//! Ownership (never delete or rename what offpeak did not create or put aside):
//! - the clone (and its copy) is ours when it carries `offpeak:managed-by=offpeak` **and** this
//!   run's `offpeak:run` tag;
//! - the current dev cluster may be renamed aside only when it and every instance in it carry
//!   `offpeak:managed-by=offpeak` (offpeak promoted it, or a person handed it over by tagging it);
//! - a previous dev cluster may be deleted only when it carries `offpeak:managed-by=offpeak`,
//!   `offpeak:role=previous` and this target's `offpeak:target` tag, and its name is an aside name;
//! - the source (production) cluster is never passed to any call but the restore's
//!   `SourceDBClusterIdentifier` ([`is_production`] is checked before every change).

use crate::FUNCTION;
use crate::rds::{Tag, tag};

pub const MANAGED_BY_KEY: &str = "offpeak:managed-by";
pub const MANAGED_BY_VALUE: &str = "offpeak";
/// The schedule target (the dev cluster's id) a resource belongs to.
pub const TARGET_KEY: &str = "offpeak:target";
pub const FUNCTION_KEY: &str = "offpeak:function";
/// The run (`YYYYMMDD`) that created the clone, or that put a dev cluster aside.
pub const RUN_KEY: &str = "offpeak:run";
/// `clone` (quarantined), `copy` (the verified clone's copy, quarantined until promoted), `dev`
/// (promoted) or `previous` (put aside).
pub const ROLE_KEY: &str = "offpeak:role";
/// The run's phase, mirrored from the state store for people reading the console.
pub const PHASE_KEY: &str = "offpeak:phase";
/// `pending` until verification passed inside the clone, then `verified`.
pub const MASKING_KEY: &str = "offpeak:masking";
pub const SOURCE_KEY: &str = "offpeak:source";
/// The run (`YYYYMMDD`) that put a dev cluster aside: the newest are kept (`keep_previous`).
pub const REPLACED_BY_KEY: &str = "offpeak:replaced-by-run";
/// The identifier a renamed-aside resource had, for rollback by hand.
pub const ORIGINAL_NAME_KEY: &str = "offpeak:original-name";

pub const ROLE_CLONE: &str = "clone";
pub const ROLE_COPY: &str = "copy";
pub const ROLE_DEV: &str = "dev";
pub const ROLE_PREVIOUS: &str = "previous";
pub const MASKING_PENDING: &str = "pending";
pub const MASKING_VERIFIED: &str = "verified";

/// RDS cluster and instance identifiers are at most 63 characters.
pub const MAX_IDENTIFIER: usize = 63;

/// The identifiers of one run of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names<'a> {
    pub target: &'a str,
    pub run: &'a str,
}

impl Names<'_> {
    pub fn prefix(&self) -> String {
        prefix(self.target)
    }

    pub fn clone_cluster(&self) -> String {
        format!("{}-offpeak-{}", self.target, self.run)
    }

    pub fn clone_instance(&self) -> String {
        format!("{}-1", self.clone_cluster())
    }

    /// The copy of the verified clone: the cluster that becomes dev.
    pub fn copy_cluster(&self) -> String {
        format!("{}-copy", self.clone_cluster())
    }

    pub fn copy_instance(&self) -> String {
        format!("{}-1", self.copy_cluster())
    }

    pub fn aside_cluster(&self) -> String {
        format!("{}-offpeak-prev-{}", self.target, self.run)
    }

    pub fn aside_instance(&self, n: usize) -> String {
        format!("{}-{n}", self.aside_cluster())
    }

    /// The longest identifier this run may need (with up to 99 instances aside) fits RDS's limit.
    pub fn fit(&self) -> bool {
        self.aside_instance(99).len() <= MAX_IDENTIFIER
            && self.copy_instance().len() <= MAX_IDENTIFIER
    }

    /// The longest target id whose names fit for this run's id.
    pub fn max_target(&self) -> usize {
        let rest = self.aside_instance(99).len() - self.target.len();
        MAX_IDENTIFIER.saturating_sub(rest)
    }
}

/// `<target>-offpeak-`: every identifier the refresh creates starts with it.
pub fn prefix(target: &str) -> String {
    format!("{target}-offpeak-")
}

/// `<target>-offpeak-prev-`: dev clusters put aside.
pub fn aside_prefix(target: &str) -> String {
    format!("{target}-offpeak-prev-")
}

/// The tags the clone and its instance are created with.
pub fn clone_tags(target: &str, source: &str, run: &str) -> Vec<Tag> {
    vec![
        Tag::new(MANAGED_BY_KEY, MANAGED_BY_VALUE),
        Tag::new(TARGET_KEY, target),
        Tag::new(FUNCTION_KEY, FUNCTION),
        Tag::new(RUN_KEY, run),
        Tag::new(SOURCE_KEY, source),
        Tag::new(ROLE_KEY, ROLE_CLONE),
        Tag::new(MASKING_KEY, MASKING_PENDING),
        Tag::new(PHASE_KEY, "clone"),
    ]
}

/// The tags the copy of the verified clone and its instance are created with: this run's, with
/// role `copy`, and verified (it is made only from the clone this run tagged verified).
pub fn copy_tags(target: &str, source: &str, run: &str) -> Vec<Tag> {
    let mut tags = clone_tags(target, source, run);
    for t in &mut tags {
        t.value = match t.key.as_str() {
            ROLE_KEY => ROLE_COPY.to_owned(),
            MASKING_KEY => MASKING_VERIFIED.to_owned(),
            PHASE_KEY => "copy".to_owned(),
            _ => continue,
        };
    }
    tags
}

/// Tags marking a dev cluster (or one of its instances) as put aside by `run`.
pub fn aside_tags(target: &str, run: &str, original: &str) -> Vec<Tag> {
    vec![
        Tag::new(MANAGED_BY_KEY, MANAGED_BY_VALUE),
        Tag::new(FUNCTION_KEY, FUNCTION),
        Tag::new(TARGET_KEY, target),
        Tag::new(ROLE_KEY, ROLE_PREVIOUS),
        Tag::new(REPLACED_BY_KEY, run),
        Tag::new(ORIGINAL_NAME_KEY, original),
    ]
}

/// Handed to this function: carries `offpeak:managed-by=offpeak` and
/// `offpeak:function=masked-refresh`, the two tags its IAM policy requires before it may modify
/// or delete a cluster or instance (template.yaml, `ManageOwnedClusters`). aurora-replicas' replicas
/// carry `offpeak:function=aurora-replicas`, so neither function can touch the other's resources.
pub fn managed(tags: &[Tag]) -> bool {
    tag(tags, MANAGED_BY_KEY) == Some(MANAGED_BY_VALUE) && tag(tags, FUNCTION_KEY) == Some(FUNCTION)
}

/// Created by run `run` of `target` (the clone and its instance, wherever they are in a swap).
pub fn of_run(tags: &[Tag], target: &str, run: &str) -> bool {
    managed(tags)
        && tag(tags, TARGET_KEY) == Some(target)
        && tag(tags, RUN_KEY) == Some(run)
        && tag(tags, ROLE_KEY) != Some(ROLE_PREVIOUS)
}

/// A previous dev cluster of `target` that offpeak put aside, deletable when surplus.
pub fn previous(id: &str, tags: &[Tag], target: &str) -> bool {
    managed(tags)
        && tag(tags, TARGET_KEY) == Some(target)
        && tag(tags, ROLE_KEY) == Some(ROLE_PREVIOUS)
        && id.starts_with(&aside_prefix(target))
}

/// Made by offpeak (by some run of this function): carries `offpeak:run`. A handed-over dev
/// cluster, put aside or not, does not (see the module docs).
pub fn made_by_offpeak(tags: &[Tag]) -> bool {
    managed(tags) && tag(tags, RUN_KEY).is_some()
}

/// The final snapshot taken when deleting `cluster`, a cluster offpeak did not make, or `None`
/// for one it made (a masked copy, deleted without a snapshot). Derived from the cluster's id
/// alone — for a previous dev cluster `<target>-offpeak-prev-<run>-final`, `<run>` the occurrence
/// that put it aside — so a retried or resumed delete asks for the same snapshot.
pub fn final_snapshot(cluster: &str, tags: &[Tag]) -> Option<String> {
    (!made_by_offpeak(tags)).then(|| format!("{cluster}-final"))
}

/// A valid `FinalDBSnapshotIdentifier`: 1 to 255 letters, digits or hyphens, starting with a
/// letter, no two hyphens in a row and no hyphen at the end (RDS `DeleteDBCluster`).
pub fn valid_snapshot_id(id: &str) -> bool {
    (1..=255).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-')
}

/// The production cluster (or an instance of it): never changed.
pub fn is_production(id: &str, source: &str) -> bool {
    id.eq_ignore_ascii_case(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_share_the_iam_prefix() {
        let n = Names {
            target: "dev-aurora",
            run: "20261127",
        };
        assert_eq!(n.clone_cluster(), "dev-aurora-offpeak-20261127");
        assert_eq!(n.clone_instance(), "dev-aurora-offpeak-20261127-1");
        assert_eq!(n.aside_cluster(), "dev-aurora-offpeak-prev-20261127");
        assert_eq!(n.aside_instance(2), "dev-aurora-offpeak-prev-20261127-2");
        assert_eq!(n.copy_cluster(), "dev-aurora-offpeak-20261127-copy");
        assert_eq!(n.copy_instance(), "dev-aurora-offpeak-20261127-copy-1");
        for id in [
            n.clone_cluster(),
            n.clone_instance(),
            n.copy_cluster(),
            n.copy_instance(),
            n.aside_cluster(),
        ] {
            assert!(id.starts_with(&n.prefix()), "{id}");
        }
        assert!(n.fit());
        assert_eq!(n.max_target(), 38);
        let override_run = Names {
            target: "dev-aurora",
            run: "20261127t1430",
        };
        assert_eq!(override_run.max_target(), 33);
        let long = "d".repeat(40);
        assert!(
            !Names {
                target: &long,
                run: "20261127"
            }
            .fit()
        );
    }

    #[test]
    fn ownership_needs_every_tag() {
        let clone = clone_tags("dev", "prod", "20261127");
        assert!(of_run(&clone, "dev", "20261127"));
        assert!(!of_run(&clone, "dev", "20261128"));
        assert!(
            !of_run(&clone[1..], "dev", "20261127"),
            "without managed-by"
        );
        let without_function: Vec<Tag> = clone
            .iter()
            .filter(|t| t.key != FUNCTION_KEY)
            .cloned()
            .collect();
        assert!(
            !of_run(&without_function, "dev", "20261127"),
            "without offpeak:function=masked-refresh (an aurora-replicas replica has another)"
        );
        let copy = copy_tags("dev", "prod", "20261127");
        assert!(of_run(&copy, "dev", "20261127"), "the copy is the run's");
        assert_eq!(tag(&copy, ROLE_KEY), Some(ROLE_COPY));
        assert_eq!(tag(&copy, MASKING_KEY), Some(MASKING_VERIFIED));
        assert_eq!(copy.len(), clone.len());
        let aside = aside_tags("dev", "20261127", "dev");
        assert!(previous("dev-offpeak-prev-20261127", &aside, "dev"));
        assert!(!previous("dev-2", &aside, "dev"), "not an aside name");
        assert!(!previous("dev-offpeak-prev-20261127", &aside, "other"));
        assert!(
            !previous("dev-offpeak-prev-20261127", &clone, "dev"),
            "a clone is not previous"
        );
        assert!(
            !of_run(&aside, "dev", "20261127"),
            "an aside cluster is not the clone"
        );
        assert!(is_production("Prod", "prod"));
    }

    #[test]
    fn only_a_handed_over_cluster_gets_a_final_snapshot_with_a_valid_stable_name() {
        let handed_over = [managed_pair(), aside_tags("dev", "20261127", "dev")].concat();
        let snapshot = final_snapshot("dev-offpeak-prev-20261127", &handed_over);
        assert_eq!(snapshot.as_deref(), Some("dev-offpeak-prev-20261127-final"));
        assert!(snapshot.unwrap().starts_with(&prefix("dev")), "IAM prefix");
        let ours_put_aside = [
            copy_tags("dev", "prod", "20261126"),
            aside_tags("dev", "20261127", "dev"),
        ]
        .concat();
        assert_eq!(
            final_snapshot("dev-offpeak-prev-20261127", &ours_put_aside),
            None,
            "a masked copy offpeak made is deleted without a snapshot"
        );
        assert_eq!(
            final_snapshot(
                "dev-offpeak-20261127",
                &clone_tags("dev", "prod", "20261127")
            ),
            None
        );
        let longest = Names {
            target: &"d".repeat(38),
            run: "20261127t1430",
        };
        for id in [
            "dev-offpeak-prev-20261127-final".to_owned(),
            format!("{}-final", longest.aside_cluster()),
        ] {
            assert!(valid_snapshot_id(&id), "{id}");
        }
        let long = "d".repeat(256);
        for bad in ["", "1dev", "dev--x", "dev-", "dev_x", long.as_str()] {
            assert!(!valid_snapshot_id(bad), "{bad}");
        }
    }

    fn managed_pair() -> Vec<Tag> {
        vec![
            Tag::new(MANAGED_BY_KEY, MANAGED_BY_VALUE),
            Tag::new(FUNCTION_KEY, FUNCTION),
        ]
    }
}
