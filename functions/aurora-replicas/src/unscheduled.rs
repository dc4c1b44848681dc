//! Clusters offpeak changed and the schedule no longer names: which they are, what putting them
//! back means, and when they are back. Pure.
//!
//! offpeak keeps a registry ([`offpeak_shared::state::registry`]) of the clusters it has changed
//! and not yet put back. A registered cluster that `infra/schedules.yaml` no longer names wants
//! **no** offpeak replica, so that removing a target never orphans the replicas offpeak made.
//!
//! Guarantees (each has a test below):
//! - Only offpeak's replicas are removed, by the same rules as ever ([`crate::ownership`]: tags
//!   **and** name): never a person's reader, never Application Auto Scaling's, and **never the
//!   current writer**, even when a failover promoted one of offpeak's replicas — it is kept, a
//!   person is told, and it goes once a failover back makes it a reader.
//! - Nothing is removed while the cluster is not `available`, nor an instance whose state does not
//!   allow it (see `offpeak_shared::rds::status`); a later tick does it.
//! - A cluster is **at its baseline** when none of offpeak's replicas is left that is not already
//!   being deleted; only then is it released from the registry. A cluster RDS no longer knows is
//!   at its baseline (there is nothing left to remove) and is released with a note.
//! - RDS cluster ids are case-insensitive: a cluster registered as `Prod` is still scheduled when
//!   the schedule names `prod`, so the two spellings never fight over one cluster.

use std::collections::BTreeSet;

use offpeak_shared::state::registry::Registry;

use crate::action::{Action, RemovalReason};
use crate::desired::Desired;
use crate::memory::{Mode, Reason};
use crate::observe::{ClusterView, Member};
use crate::plan::{Census, TargetPlan, offpeak, removal};
use offpeak_shared::rds::Health;
use offpeak_shared::rds::status::AVAILABLE as CLUSTER_AVAILABLE;

/// Registered clusters that no schedule target names (in any case), in registry order.
pub fn orphans(registered: &Registry, wanted: &[Desired<'_>]) -> Vec<String> {
    // Not `Registry::orphans`: that compares exactly, and RDS ids are case-insensitive.
    let scheduled: BTreeSet<String> = wanted
        .iter()
        .map(|d| d.cluster().to_ascii_lowercase())
        .collect();
    registered
        .targets
        .iter()
        .filter(|t| !scheduled.contains(&t.to_ascii_lowercase()))
        .cloned()
        .collect()
}

/// The plan that puts an unscheduled cluster back: none of offpeak's replicas left.
pub fn plan(cluster: &str, view: Option<&ClusterView>) -> TargetPlan {
    let mut plan = TargetPlan {
        cluster: cluster.to_owned(),
        desired: 0,
        mode: Mode::Converge(Reason::Unscheduled),
        census: view.map(Census::of).unwrap_or_default(),
        actions: Vec::new(),
        notes: Vec::new(),
        kept_writer: None,
        cluster_status: view.map(|v| v.status.clone()),
        held_until: None,
    };
    match view {
        None => plan.notes.push(format!(
            "cluster {cluster} is no longer in the schedule and no longer exists in this account \
             and region: nothing of offpeak's is left there"
        )),
        Some(v) if v.status != CLUSTER_AVAILABLE => plan.notes.push(format!(
            "cluster is no longer in the schedule but is {}: offpeak removes its replicas once it is available",
            v.status
        )),
        Some(v) => put_back(&mut plan, v),
    }
    plan
}

fn put_back(plan: &mut TargetPlan, view: &ClusterView) {
    let mut ours: Vec<&Member> = offpeak(view).collect();
    // Highest index first, as when a window closes: the most recently added replica goes first.
    ours.sort_by_key(|m| std::cmp::Reverse(m.offpeak_index()));
    for m in ours {
        match (m.is_writer, m.health) {
            (true, _) => {
                plan.notes.push(format!(
                    "{} is the cluster's writer (a failover promoted it): kept; offpeak removes it \
                     after a failover back makes it a reader",
                    m.instance.id
                ));
                plan.kept_writer = Some(m.instance.id.clone());
            }
            (false, Health::Available | Health::Broken) => {
                plan.actions
                    .push(removal(view, m, RemovalReason::Unscheduled))
            }
            (false, Health::Busy) => plan.notes.push(format!(
                "{} is {}: removing it once it settles",
                m.instance.id, m.instance.status
            )),
            (false, Health::Deleting) => {}
        }
    }
}

/// Whether the cluster is back at its baseline once `applied` (this tick's successful actions)
/// are done: every replica offpeak still owned is among them.
pub fn at_baseline(plan: &TargetPlan, applied: &[Action]) -> bool {
    let deleted = applied
        .iter()
        .filter(|a| matches!(a, Action::Delete(_)))
        .count();
    plan.census.owned == deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{schedule, utc, view};

    fn lines(p: &TargetPlan) -> Vec<String> {
        p.actions.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn orphans_are_registered_clusters_no_target_names_in_any_case() {
        // GIVEN a schedule naming `prod` and a registry holding three clusters
        let s = schedule(
            "timezone: UTC\naurora_replicas:\n  - cluster: prod\n    windows:\n      - { days: daily, start: \"10:00\", end: \"20:00\", replicas: 1 }\n",
        );
        let wanted = crate::desired::desired(&s, utc("2026-11-27T12:00:00Z"));
        let registered = Registry {
            targets: ["Prod", "gone", "old"].map(String::from).into(),
        };

        // WHEN the orphans are chosen THEN `Prod` is still scheduled (as `prod`)
        assert_eq!(orphans(&registered, &wanted), ["gone", "old"]);
    }

    #[test]
    fn only_offpeak_replicas_go_never_a_person_autoscaling_or_a_lookalike() {
        // GIVEN a cluster with every kind of instance
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-reader", "b", "available", false, false),
            ("application-autoscaling-1", "c", "available", false, false),
            ("prod-offpeak-9", "a", "available", false, false),
            ("prod-offpeak-1", "a", "available", false, true),
            (
                "prod-offpeak-2",
                "b",
                "incompatible-parameters",
                false,
                true,
            ),
        ]);

        // WHEN it is put back
        let p = plan("prod", Some(&v));

        // THEN only offpeak's replicas (tags and name) are removed, the broken one too
        assert_eq!(
            lines(&p),
            [
                "delete prod-offpeak-2 (incompatible-parameters, no longer scheduled)",
                "delete prod-offpeak-1 (available, no longer scheduled)",
            ]
        );
        assert_eq!(p.desired, 0);
        assert!(p.notes.is_empty() && p.kept_writer.is_none(), "{p:?}");
        assert!(at_baseline(&p, &p.actions));
        assert!(!at_baseline(&p, &p.actions[..1]), "one deletion failed");
    }

    #[test]
    fn a_promoted_offpeak_writer_is_never_removed() {
        // GIVEN a failover made offpeak's replica the writer
        let v = view(&[
            ("prod-writer", "a", "available", false, false),
            ("prod-offpeak-1", "b", "available", true, true),
            ("prod-offpeak-2", "c", "available", false, true),
        ]);

        // WHEN it is put back
        let p = plan("prod", Some(&v));

        // THEN the writer stays, is reported, and keeps the cluster from its baseline
        assert_eq!(
            lines(&p),
            ["delete prod-offpeak-2 (available, no longer scheduled)"]
        );
        assert_eq!(p.kept_writer.as_deref(), Some("prod-offpeak-1"));
        assert!(p.notes[0].contains("writer"), "{p:?}");
        assert!(!at_baseline(&p, &p.actions));
        assert!(!p.finding().matches, "it keeps being put back");
    }

    #[test]
    fn busy_replicas_and_clusters_wait_and_deleting_ones_are_already_gone() {
        // GIVEN a replica being created and one being deleted
        let mut v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-1", "b", "creating", false, true),
            ("prod-offpeak-2", "c", "deleting", false, true),
        ]);

        // WHEN it is put back THEN the busy one waits and keeps the cluster registered
        let p = plan("prod", Some(&v));
        assert!(p.actions.is_empty());
        assert_eq!(
            p.notes,
            ["prod-offpeak-1 is creating: removing it once it settles"]
        );
        assert!(!at_baseline(&p, &[]));

        // AND on a cluster that is not available nothing is planned
        v.status = "stopped".into();
        v.members[1].health = Health::Available;
        let p = plan("prod", Some(&v));
        assert!(p.actions.is_empty());
        assert!(p.notes[0].contains("is stopped"), "{p:?}");

        // AND a replica being deleted does not keep the cluster from its baseline
        v.members.remove(1);
        assert!(at_baseline(&plan("prod", Some(&v)), &[]));
    }

    #[test]
    fn a_cluster_rds_no_longer_knows_is_at_its_baseline() {
        let p = plan("gone", None);
        assert!(p.actions.is_empty());
        assert!(p.notes[0].contains("no longer exists"), "{p:?}");
        assert!(at_baseline(&p, &[]));
    }
}
