//! The tick's CloudWatch metrics (Embedded Metric Format, namespace `offpeak`, dimension
//! `Function=eks-nodegroups`):
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `NodeGroupsAsleep` | Count | node groups and self-managed ASGs at `min = desired = 0` after the tick |
//! | `InstanceHoursSaved` | None | instance-hours not run by the targets woken this tick (saved desired × hours asleep) |
//! | `ActionsApplied` / `ActionsFailed` | Count | this tick's actions |
//! | `Drift` | Count | targets whose actual state differs from the desired one and are left as is — a person's change, a lost pre-sleep state, a target offpeak's role may not touch (the template's drift alarm watches it) |
//!
//! Built purely from the tick's observations and outcomes; only [`emit`] prints.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use offpeak_shared::metrics::{Emf, Unit};

use crate::FUNCTION;
use crate::apply::{Outcome, TargetOutcome};
use crate::notify::instance_hours;
use crate::observe::{Observed, View};
use crate::plan::{Step, TargetPlan};

/// The tick's metrics.
pub fn tick_metrics(
    observed: &[Observed<'_>],
    plans: &[TargetPlan],
    outcomes: &[TargetOutcome<'_>],
    now: DateTime<Utc>,
) -> Emf {
    let by_target: HashMap<&str, &TargetOutcome<'_>> = outcomes
        .iter()
        .map(|o| (o.plan.target.as_str(), o))
        .collect();
    let asleep = observed
        .iter()
        .filter(|o| asleep_after(o, by_target.get(o.unit.id.as_str()).copied()))
        .count();
    // Folded from +0.0: an empty float sum is -0.0, which would print as `-0.0`.
    let hours = outcomes
        .iter()
        .map(|o| hours_saved(o, now))
        .fold(0.0, |a, b| a + b);
    let count = |pred: fn(&Outcome) -> bool| {
        outcomes
            .iter()
            .flat_map(|o| &o.results)
            .filter(|(_, r)| pred(r))
            .count() as f64
    };
    Emf::new(FUNCTION)
        .metric("NodeGroupsAsleep", asleep as f64, Unit::Count)
        .metric("InstanceHoursSaved", hours, Unit::None)
        .metric(
            "ActionsApplied",
            count(|r| matches!(r, Outcome::Applied)),
            Unit::Count,
        )
        .metric(
            "ActionsFailed",
            count(|r| matches!(r, Outcome::Failed(_))),
            Unit::Count,
        )
        .metric("Drift", drifting(plans).len() as f64, Unit::Count)
}

/// Prints the tick's metrics as one EMF line.
pub fn emit(
    observed: &[Observed<'_>],
    plans: &[TargetPlan],
    outcomes: &[TargetOutcome<'_>],
    now: DateTime<Utc>,
) {
    tick_metrics(observed, plans, outcomes, now).emit(now.timestamp_millis());
}

fn asleep_after(observed: &Observed<'_>, outcome: Option<&TargetOutcome<'_>>) -> bool {
    let View::Present(live) = &observed.view else {
        return false;
    };
    let Some(outcome) = outcome else {
        return live.scaling.is_asleep();
    };
    if outcome.applied(|s| matches!(s, Step::ScaleToZero { .. })) {
        return true;
    }
    outcome
        .results
        .iter()
        .filter(|(_, r)| matches!(r, Outcome::Applied))
        .find_map(|(a, _)| match &a.step {
            Step::RestoreScaling { to, .. } => Some(to.is_asleep()),
            _ => None,
        })
        .unwrap_or(live.scaling.is_asleep())
}

fn hours_saved(outcome: &TargetOutcome<'_>, now: DateTime<Utc>) -> f64 {
    match &outcome.plan.stored.doc.saved {
        Some(saved) if outcome.applied(|s| matches!(s, Step::VerifyRestore(_))) => {
            instance_hours(saved.scaling, saved.at, now)
        }
        _ => 0.0,
    }
}

/// Targets flagged (or being flagged) for a concern that leaves them off their desired state.
pub fn drifting(plans: &[TargetPlan]) -> Vec<String> {
    plans
        .iter()
        .filter(|p| {
            let flagging = p.actions.iter().find_map(|a| match &a.step {
                Step::Flag { concern, .. } => Some(concern.is_drift()),
                Step::Unflag { .. } => Some(false),
                _ => None,
            });
            flagging.unwrap_or_else(|| {
                p.stored
                    .doc
                    .attention
                    .as_ref()
                    .is_some_and(|a| a.concern.is_drift())
            })
        })
        .map(|p| p.target.clone())
        .collect()
}
