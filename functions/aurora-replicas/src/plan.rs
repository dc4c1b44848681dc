//! Plan: from desired count, memory and observation to a list of actions for one cluster. Pure.
//!
//! Guarantees (each has a test below):
//! - **Only offpeak's replicas are ever deleted** (see [`crate::ownership`]), and **never the
//!   current writer**: if a failover promoted an offpeak replica, it is kept and another offpeak
//!   replica is removed in its place when there is one; the plan reports it as `kept_writer` so a
//!   person is told.
//! - Nothing is planned for a cluster that is not `available`, and an instance is deleted only in
//!   a state where `DeleteDBInstance` is allowed and nothing is in flight (see [`Health`]); the
//!   rest waits for a later tick.
//! - New replicas copy engine, parameter group, monitoring and Performance Insights from the
//!   writer, take their class from the config or else the writer, are spread across the
//!   cluster's AZs, get promotion tier 15 (never preferred for failover) and offpeak's tags, and
//!   have deterministic names (see [`crate::placement`]).
//! - Aurora's limit of 15 readers counts every existing reader — human-made, Auto Scaling's,
//!   offpeak's, even ones being deleted — and is never exceeded; the plan notes the shortfall.
//! - An offpeak replica in a terminal failure state is deleted and a healthy one is created in
//!   the same plan, under a new name.
//! - Inside a window, a cluster changed by hand after it converged is left alone unless the
//!   target sets `enforce: true` (see [`crate::memory::gate`]).
//! - While an override holds ([`crate::overrides`]), the count is the override's, whatever the
//!   schedule says, and is re-applied every tick.

use chrono::{DateTime, Utc};

use crate::action::{Action, Removal, RemovalReason};
use crate::desired::Desired;
use crate::memory::{Finding, Memory, Mode, gate};
use crate::observe::{ClusterView, Member};
use crate::ownership::{self, MAX_IDENTIFIER};
use crate::placement::{self, Spot};
use crate::rds::{Instance, ReplicaSpec};
use offpeak_shared::rds::Health;
use offpeak_shared::rds::status::AVAILABLE as CLUSTER_AVAILABLE;

/// Promotion tier of every offpeak replica: the last to be chosen for failover.
pub const PROMOTION_TIER: i32 = 15;
/// Aurora's limit on readers per cluster.
pub const MAX_READERS: usize = 15;

/// The plan for one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    /// The cluster id as configured.
    pub cluster: String,
    pub desired: u8,
    pub mode: Mode,
    pub census: Census,
    pub actions: Vec<Action>,
    /// Why something is not (yet) done, for the report.
    pub notes: Vec<String>,
    /// An offpeak replica that had to go but is the writer, so it stays.
    pub kept_writer: Option<String>,
    /// The cluster's status; `None` when RDS does not know the cluster.
    pub cluster_status: Option<String>,
    /// When the override that sets `desired` ends; `None` when the schedule sets it.
    pub held_until: Option<DateTime<Utc>>,
}

/// offpeak's replicas of a cluster, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    /// RDS knows the cluster.
    pub exists: bool,
    /// offpeak replicas serving or on their way (not deleting, not broken; a writer always counts).
    pub present: usize,
    /// Of those, the ones `available`.
    pub available: usize,
    /// offpeak replicas in any state but `deleting` (broken, busy and a promoted writer too): what
    /// offpeak still has to put back before the cluster is at its baseline.
    pub owned: usize,
}

impl Census {
    pub(crate) fn of(view: &ClusterView) -> Self {
        let present: Vec<&Member> = offpeak(view).filter(|m| counts(m)).collect();
        Self {
            exists: true,
            owned: offpeak(view)
                .filter(|m| m.health != Health::Deleting)
                .count(),
            present: present.len(),
            available: present
                .iter()
                .filter(|m| m.health == Health::Available)
                .count(),
        }
    }
}

/// The cluster as the planner sees it.
enum Situation<'v> {
    Missing,
    Busy(&'v str),
    Available(&'v ClusterView),
}

fn situation(cluster: Option<&ClusterView>) -> Situation<'_> {
    match cluster {
        None => Situation::Missing,
        Some(v) if v.status == CLUSTER_AVAILABLE => Situation::Available(v),
        Some(v) => Situation::Busy(&v.status),
    }
}

/// The members offpeak made (see [`crate::ownership`]): the only ones it may ever delete.
pub(crate) fn offpeak(view: &ClusterView) -> impl Iterator<Item = &Member> {
    view.members.iter().filter(|m| m.offpeak_index().is_some())
}

/// Whether an offpeak member counts towards the desired number.
fn counts(m: &Member) -> bool {
    m.is_writer || matches!(m.health, Health::Available | Health::Busy)
}

impl TargetPlan {
    /// What memory needs to know about this plan.
    pub fn finding(&self) -> Finding {
        let want = usize::from(self.desired);
        let c = self.census;
        Finding {
            matches: if c.exists {
                c.present == want
            } else {
                want == 0
            },
            ready: want > 0 && c.present == want && c.available == want,
            kept_writer: self.kept_writer.clone(),
            acts: !self.actions.is_empty(),
        }
    }
}

/// Plans one cluster: `d` from the schedule, `held` the count an override holds (and until
/// when), `prev` from the state store, `cluster` from RDS.
pub fn plan(
    d: &Desired<'_>,
    held: Option<(u8, DateTime<Utc>)>,
    prev: Option<&Memory>,
    cluster: Option<&ClusterView>,
) -> TargetPlan {
    let desired = held.map_or(d.replicas, |(n, _)| n);
    let mut plan = TargetPlan {
        cluster: d.cluster().to_owned(),
        desired,
        mode: gate(prev, desired, d.target.enforce, held.is_some()),
        census: cluster.map(Census::of).unwrap_or_default(),
        actions: Vec::new(),
        notes: Vec::new(),
        kept_writer: None,
        cluster_status: cluster.map(|v| v.status.clone()),
        held_until: held.map(|(_, until)| until),
    };
    match (plan.mode, situation(cluster)) {
        (_, Situation::Missing) => plan.notes.push(format!(
            "cluster {} not found in this account and region; check the schedule's cluster id",
            plan.cluster
        )),
        (Mode::Respect, Situation::Busy(_) | Situation::Available(_)) => respect(&mut plan),
        (Mode::Converge(_), Situation::Busy(status)) => plan.notes.push(format!(
            "cluster is {status}: offpeak acts only on available clusters; retrying next tick"
        )),
        (Mode::Converge(_), Situation::Available(view)) => converge(&mut plan, d, view),
    }
    plan
}

fn respect(plan: &mut TargetPlan) {
    if !plan.finding().matches {
        plan.notes.push(format!(
            "{} offpeak replicas where the schedule wants {}: changed by hand after offpeak converged, \
             so left alone (set enforce: true to re-apply the schedule every tick)",
            plan.census.present, plan.desired
        ));
    }
}

fn converge(plan: &mut TargetPlan, d: &Desired<'_>, view: &ClusterView) {
    for broken in offpeak(view).filter(|m| !counts(m) && m.health == Health::Broken) {
        plan.actions
            .push(removal(view, broken, RemovalReason::Broken));
    }
    let want = usize::from(plan.desired);
    let have = plan.census.present;
    if have < want {
        add(plan, d, view, want - have);
    } else if have > want {
        remove(plan, view, have - want);
    }
}

pub(crate) fn removal(view: &ClusterView, m: &Member, reason: RemovalReason) -> Action {
    Action::Delete(Removal {
        cluster: view.id.clone(),
        instance: m.instance.id.clone(),
        status: m.instance.status.clone(),
        reason,
    })
}

fn add(plan: &mut TargetPlan, d: &Desired<'_>, view: &ClusterView, missing: usize) {
    let Some(writer) = view.writer() else {
        plan.notes.push(
            "cluster has no writer to copy engine and parameter group from; not adding replicas"
                .to_owned(),
        );
        return;
    };
    let readers = view.members.iter().filter(|m| !m.is_writer).count();
    let count = missing.min(MAX_READERS.saturating_sub(readers));
    if count < missing {
        plan.notes.push(format!(
            "Aurora allows {MAX_READERS} readers and the cluster has {readers}: adding {count} of the {missing} missing replicas"
        ));
    }
    let template = &writer.instance;
    let class = d.target.instance_class.as_ref().unwrap_or(&template.class);
    for spot in placement::place(view, count) {
        if spot.name.len() > MAX_IDENTIFIER {
            plan.notes.push(format!(
                "replica name {} is longer than RDS's {MAX_IDENTIFIER} characters; not adding replicas",
                spot.name
            ));
            return;
        }
        plan.actions
            .push(Action::Create(spec(view, template, class, spot)));
    }
}

/// A new reader like `template` (the writer), of `class`, at `spot`.
fn spec(view: &ClusterView, template: &Instance, class: &str, spot: Spot) -> ReplicaSpec {
    let engine = if template.engine.is_empty() {
        &view.engine
    } else {
        &template.engine
    };
    ReplicaSpec {
        cluster: view.id.clone(),
        instance: spot.name,
        class: class.to_owned(),
        engine: engine.clone(),
        availability_zone: spot.availability_zone,
        promotion_tier: PROMOTION_TIER,
        settings: template.settings.clone(),
        tags: ownership::replica_tags(&view.id, &view.tags),
    }
}

fn remove(plan: &mut TargetPlan, view: &ClusterView, surplus: usize) {
    let mut candidates: Vec<&Member> = offpeak(view)
        .filter(|m| counts(m) && !m.is_writer && m.health.deletable())
        .collect();
    // Highest index first: the most recently added replica goes first.
    candidates.sort_by_key(|m| std::cmp::Reverse(m.offpeak_index()));
    let chosen = candidates.len().min(surplus);
    for m in &candidates[..chosen] {
        plan.actions.push(removal(view, m, RemovalReason::Surplus));
    }
    plan.kept_writer = offpeak(view)
        .find(|m| m.is_writer)
        .map(|m| m.instance.id.clone());
    if let Some(w) = &plan.kept_writer {
        plan.notes.push(format!(
            "{w} is the cluster's writer (a failover promoted it): kept; offpeak removes it after a failover back makes it a reader"
        ));
    }
    let waiting = offpeak(view).filter(|m| !m.is_writer && m.health == Health::Busy);
    for m in waiting.take(surplus - chosen) {
        plan.notes.push(format!(
            "{} is {}: removing it once it settles",
            m.instance.id, m.instance.status
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Reason;
    use crate::testing::{schedule, utc, view};

    const ONE_TARGET: &str = r#"
timezone: UTC
aurora_replicas:
  - cluster: prod
    instance_class: db.r7g.large
    windows:
      - { days: daily, start: "10:00", end: "20:00", replicas: 2 }
"#;

    fn plan_at(
        hour: &str,
        yaml: &str,
        prev: Option<&Memory>,
        v: Option<&ClusterView>,
    ) -> TargetPlan {
        let s = schedule(yaml);
        let d = crate::desired::desired(&s, utc(&format!("2026-11-27T{hour}:00Z")));
        plan(&d[0], None, prev, v)
    }

    fn peak(v: &ClusterView) -> TargetPlan {
        plan_at("12:00", ONE_TARGET, None, Some(v))
    }

    fn offpeak_tick(v: &ClusterView) -> TargetPlan {
        plan_at("22:00", ONE_TARGET, None, Some(v))
    }

    fn lines(p: &TargetPlan) -> Vec<String> {
        p.actions.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn peak_creates_the_missing_replicas_like_a_careful_human() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-reader", "b", "available", false, false),
        ]);
        let p = peak(&v);
        assert_eq!(p.mode, Mode::Converge(Reason::Transition));
        assert_eq!(
            lines(&p),
            [
                "create prod-offpeak-1 (db.r7g.large, c, tier 15)",
                "create prod-offpeak-2 (db.r7g.large, a, tier 15)"
            ]
        );
        let Action::Create(spec) = &p.actions[0] else {
            panic!("{p:?}")
        };
        assert_eq!(spec.engine, "aurora-postgresql");
        assert_eq!(
            spec.settings.parameter_group.as_deref(),
            Some("prod-writer-params")
        );
        assert!(
            spec.tags
                .contains(&crate::rds::Tag::new("offpeak:target", "prod"))
        );
    }

    #[test]
    fn class_defaults_to_the_writers() {
        let yaml = ONE_TARGET.replace("    instance_class: db.r7g.large\n", "");
        let v = view(&[("prod-writer", "a", "available", true, false)]);
        let p = plan_at("12:00", &yaml, None, Some(&v));
        let Action::Create(spec) = &p.actions[0] else {
            panic!("{p:?}")
        };
        assert_eq!(spec.class, "db.r6g.xlarge");
    }

    #[test]
    fn offpeak_removes_only_offpeak_replicas_and_never_the_writer() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-reader", "b", "available", false, false),
            ("application-autoscaling-1", "c", "available", false, false),
            ("prod-offpeak-1", "a", "available", false, true),
            ("prod-offpeak-2", "b", "available", false, true),
        ]);
        assert_eq!(
            lines(&offpeak_tick(&v)),
            [
                "delete prod-offpeak-2 (available, surplus)",
                "delete prod-offpeak-1 (available, surplus)"
            ]
        );
    }

    #[test]
    fn a_promoted_offpeak_writer_is_kept_and_another_replica_removed_instead() {
        let v = view(&[
            ("prod-writer", "a", "available", false, false),
            ("prod-offpeak-1", "b", "available", true, true),
            ("prod-offpeak-2", "c", "available", false, true),
        ]);
        let p = offpeak_tick(&v);
        assert_eq!(lines(&p), ["delete prod-offpeak-2 (available, surplus)"]);
        assert_eq!(p.kept_writer.as_deref(), Some("prod-offpeak-1"));
        assert!(!p.finding().matches, "keeps converging until failed back");

        // Two wanted, two present (one of them the writer): nothing to do, nobody to notify.
        let p = peak(&v);
        assert!(p.actions.is_empty() && p.kept_writer.is_none(), "{p:?}");
    }

    #[test]
    fn nothing_happens_on_a_cluster_that_is_not_available() {
        let mut v = view(&[("prod-writer", "a", "available", true, false)]);
        v.status = "failing-over".into();
        let p = peak(&v);
        assert!(p.actions.is_empty());
        assert!(p.notes[0].contains("cluster is failing-over"), "{p:?}");
    }

    #[test]
    fn busy_replicas_wait_and_deleting_ones_do_not_count() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-1", "b", "creating", false, true),
            ("prod-offpeak-2", "c", "deleting", false, true),
        ]);
        let p = offpeak_tick(&v);
        assert!(p.actions.is_empty());
        assert_eq!(
            p.notes,
            ["prod-offpeak-1 is creating: removing it once it settles"]
        );
        let p = peak(&v);
        assert_eq!(
            lines(&p),
            ["create prod-offpeak-3 (db.r7g.large, c, tier 15)"]
        );
    }

    #[test]
    fn broken_replicas_are_replaced() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            (
                "prod-offpeak-1",
                "b",
                "incompatible-parameters",
                false,
                true,
            ),
            ("prod-offpeak-2", "c", "available", false, true),
        ]);
        assert_eq!(
            lines(&peak(&v)),
            [
                "delete prod-offpeak-1 (incompatible-parameters, broken, to be replaced)",
                "create prod-offpeak-3 (db.r7g.large, a, tier 15)"
            ]
        );
    }

    #[test]
    fn the_fifteen_reader_limit_counts_every_reader() {
        let mut rows = vec![("prod-writer".to_owned(), "available", true)];
        rows.extend((1..=13).map(|i| (format!("application-autoscaling-{i}"), "available", false)));
        rows.push(("prod-human".to_owned(), "deleting", false));
        let rows: Vec<(&str, &str, &str, bool, bool)> = rows
            .iter()
            .map(|(id, st, w)| (id.as_str(), "a", *st, *w, false))
            .collect();
        let p = peak(&view(&rows));
        assert_eq!(p.actions.len(), 1, "{p:?}");
        assert!(p.notes[0].contains("adding 1 of the 2 missing"), "{p:?}");
    }

    #[test]
    fn converged_clusters_changed_by_hand_are_respected_unless_enforced() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-1", "b", "available", false, true),
        ]);
        let (done, _) = Memory::next(
            None,
            2,
            utc("2026-11-27T10:00:00Z"),
            &Finding {
                matches: true,
                ..Finding::default()
            },
        );
        let p = plan_at("12:00", ONE_TARGET, Some(&done), Some(&v));
        assert_eq!(p.mode, Mode::Respect);
        assert!(p.actions.is_empty());
        assert!(p.notes[0].contains("changed by hand"), "{p:?}");

        let enforced = ONE_TARGET.replace("    windows:", "    enforce: true\n    windows:");
        let p = plan_at("12:00", &enforced, Some(&done), Some(&v));
        assert_eq!(p.mode, Mode::Converge(Reason::Enforce));
        assert_eq!(
            lines(&p),
            ["create prod-offpeak-2 (db.r7g.large, c, tier 15)"]
        );
    }

    #[test]
    fn a_missing_cluster_is_noted_and_matches_only_when_nothing_is_wanted() {
        let p = peak_missing("12:00");
        assert!(p.notes[0].contains("cluster prod not found"));
        assert!(!p.finding().matches);
        assert!(peak_missing("22:00").finding().matches);
    }

    fn peak_missing(hour: &str) -> TargetPlan {
        plan_at(hour, ONE_TARGET, None, None)
    }

    #[test]
    fn ready_means_all_wanted_replicas_available() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-1", "b", "available", false, true),
            ("prod-offpeak-2", "c", "creating", false, true),
        ]);
        let f = peak(&v).finding();
        assert!(f.matches && !f.ready);
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-1", "b", "available", false, true),
            ("prod-offpeak-2", "c", "available", false, true),
        ]);
        let f = peak(&v).finding();
        assert!(f.matches && f.ready && !f.acts);
    }

    #[test]
    fn over_long_cluster_ids_get_no_replicas() {
        let long = "p".repeat(60);
        let yaml = ONE_TARGET.replace("cluster: prod", &format!("cluster: {long}"));
        let mut v = view(&[("prod-writer", "a", "available", true, false)]);
        v.id = long;
        let p = plan_at("12:00", &yaml, None, Some(&v));
        assert!(p.actions.is_empty());
        assert!(p.notes[0].contains("longer than RDS's 63"), "{p:?}");
    }
}
