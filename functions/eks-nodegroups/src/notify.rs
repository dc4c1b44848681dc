//! Notifications (built purely from what apply did, then sent): one per sleep, per verified wake,
//! per failed action, per override started and per override ended, and one per problem (drift after
//! [`crate::plan::DRIFT_GRACE`]; at once a missing resource, a lost pre-sleep state and a target
//! offpeak's role may not touch — each telling a person what to do), never one per tick.
//!
//! A notification that can't be published becomes a note in the report: notifying must never fail
//! or undo a tick (the notifier has already logged it).

use chrono::{DateTime, Utc};
use offpeak_shared::notify::{Fact, Notification, Notifier, Severity, Token};

use crate::FUNCTION;
use crate::apply::{Outcome, TargetOutcome};
use crate::error::chain;
use crate::model::{Resource, Scaling, SleepState};
use crate::plan::{Action, Step};
use crate::record::Concern;

/// What sending the tick's notifications left to do.
#[derive(Debug, Default)]
pub struct Unsent {
    /// A note per notification that failed to publish: `(target, error)`.
    pub notes: Vec<(String, String)>,
    /// Targets whose problem notice (recorded as told by their `Flag` step) failed to publish:
    /// their flag must be un-told so a later tick sends it again.
    pub untold: Vec<String>,
}

/// Sends every notification of the tick.
pub async fn send(
    notifier: &Notifier,
    outcomes: &[TargetOutcome<'_>],
    now: DateTime<Utc>,
) -> Unsent {
    let mut unsent = Unsent::default();
    for outcome in outcomes {
        for (action, n) in notifications_with_actions(outcome, now) {
            if let Err(e) = notifier.notify(&n).await {
                let target = outcome.plan.target.clone();
                unsent.notes.push((target.clone(), chain(&e)));
                if matches!(action.step, Step::Flag { report: true, .. }) {
                    unsent.untold.push(target);
                }
            }
        }
    }
    unsent
}

/// The notifications one target's outcome calls for, in the order things happened.
pub fn notifications(outcome: &TargetOutcome<'_>, now: DateTime<Utc>) -> Vec<Notification> {
    notifications_with_actions(outcome, now)
        .into_iter()
        .map(|(_, n)| n)
        .collect()
}

/// [`notifications`], each with the action it reports.
fn notifications_with_actions<'p>(
    outcome: &TargetOutcome<'p>,
    now: DateTime<Utc>,
) -> Vec<(&'p Action, Notification)> {
    outcome
        .results
        .iter()
        .filter_map(|(action, result)| {
            let n = match result {
                Outcome::Applied => applied(outcome, action, now),
                Outcome::Failed(err) => Some(failed(outcome, action, err)),
                Outcome::Deferred(_) => None,
            };
            n.map(|n| (*action, n))
        })
        .collect()
}

fn applied(
    outcome: &TargetOutcome<'_>,
    action: &Action,
    now: DateTime<Utc>,
) -> Option<Notification> {
    match &action.step {
        Step::RecordOverride { state, until } => {
            Some(override_started(&action.target, *state, *until))
        }
        Step::EndOverride {
            state,
            until,
            cleared,
        } => Some(override_ended(&action.target, *state, *until, *cleared)),
        Step::ScaleToZero { from } => Some(asleep(outcome, action, *from)),
        Step::VerifyRestore(expected) => Some(awake(outcome, action, expected.scaling, now)),
        Step::Flag { concern: Concern::Drift, report: true, since } => Some(
            base(Severity::Drift, action, "differs from its schedule")
                .line("Its size differs from what its schedule wants and offpeak is leaving it: the change was made outside offpeak, and the target does not set enforce: true.")
                .fact("since", *since)
                .next_step("If the change was a mistake, scale it back, or set enforce: true on the target in infra/schedules.yaml."),
        ),
        Step::Flag { concern: Concern::Missing, report: true, .. } => Some(
            base(Severity::Failure, action, "not found")
                .line("The schedule names a resource that does not exist (deleted since the schedule was written?). Other targets are unaffected.")
                .next_step("Remove it from infra/schedules.yaml, or recreate it."),
        ),
        Step::Flag { concern: Concern::LostState, report: true, .. } => Some(lost(outcome, action)),
        Step::Flag { concern: Concern::Denied, report: true, .. } => Some(denied(outcome, action)),
        _ => None,
    }
}

/// A person's override of `target` was recorded (by an event's tick, or by `offpeak override`).
pub fn override_started(target: &str, state: SleepState, until: DateTime<Utc>) -> Notification {
    Notification::new(
        Severity::Action,
        FUNCTION,
        token(target),
        "override started",
    )
    .line("A person's override holds this target; the schedule applies again when it ends.")
    .fact("state", token(state.as_str()))
    .fact("until", until)
    .next_step("offpeak override <target> clear ends it early; offpeak status lists it.")
}

/// `target`'s override ended (its `until` passed, or it was cleared) and was removed.
pub fn override_ended(
    target: &str,
    state: SleepState,
    until: DateTime<Utc>,
    cleared: bool,
) -> Notification {
    let why = if cleared {
        "A person cleared the override early; the schedule applies again from this tick."
    } else {
        "The override reached its end; the schedule applies again from this tick."
    };
    Notification::new(Severity::Info, FUNCTION, token(target), "override ended")
        .line(why)
        .fact("state", token(state.as_str()))
        .fact("until", until)
        .fact("cleared", cleared)
}

/// offpeak put it to sleep, lost its saved sizes and can't read its marker.
fn lost(outcome: &TargetOutcome<'_>, action: &Action) -> Notification {
    let mut n = base(Severity::Failure, action, "pre-sleep size lost")
        .line("offpeak put this group to sleep, but its saved sizes are gone from the state table and its offpeak:asleep tag does not say them.")
        .line("offpeak keeps it as it is and keeps the tag: waking it now would leave it at zero.");
    if let Some(seen) = &outcome.plan.seen {
        n = n
            .fact("min", seen.scaling.min)
            .fact("max", seen.scaling.max)
            .fact("desired", seen.scaling.desired);
        if let Some(asg) = &seen.asg {
            n = n.fact("auto_scaling_group", token(asg));
        }
    }
    n.fact("tag", token(crate::guard::MIRROR_KEY))
        .next_step("Write the sizes it should wake to into its offpeak:asleep tag as: restores min=<min> max=<max> desired=<desired> (max as shown above unless it should change). The next tick restores exactly those.")
        .next_step("Or set min, max and desired on it yourself and delete the offpeak:asleep tag: offpeak then takes it as awake.")
}

/// AWS refuses offpeak's role access to the target.
fn denied(outcome: &TargetOutcome<'_>, action: &Action) -> Notification {
    let n = base(Severity::Failure, action, "access denied")
        .line("AWS refuses offpeak's role access to this target (AccessDenied), so offpeak can neither see nor change it.");
    if !outcome.plan.orphan {
        return n.next_step(COVER_IT);
    }
    let mut n = n.line("It was removed from infra/schedules.yaml while offpeak had changed it, and the stack's IAM parameters no longer cover it: offpeak can't put it back.");
    if let Some(saved) = &outcome.plan.stored.doc.saved {
        n = n
            .fact("saved_min", saved.scaling.min)
            .fact("saved_max", saved.scaling.max)
            .fact("saved_desired", saved.scaling.desired);
    }
    n.next_step(ORPHAN_BY_HAND).next_step(ORPHAN_BACK)
}

fn asleep(outcome: &TargetOutcome<'_>, action: &Action, from: Scaling) -> Notification {
    let saved = saved_scaling(outcome).unwrap_or(from);
    let mut n = base(Severity::Action, action, asleep_title(&action.resource))
        .line("min and desired set to 0, max kept; the scaling before sleep is saved in the offpeak state table.")
        .fact("saved_min", saved.min)
        .fact("saved_max", saved.max)
        .fact("saved_desired", saved.desired);
    if outcome.applied(|s| matches!(s, Step::ParkAutoscalerTags { .. })) {
        n = n.line("Its cluster-autoscaler discovery tags are removed until wake, so pending pods can't scale it back up.");
    }
    if let Some(next) = outcome.plan.next_change {
        n = n.fact("schedule_changes_at", next);
    }
    n.next_step(
        "To wake it early, set an override: offpeak override, or an \"override\" invocation event.",
    )
    .invite(offpeak_shared::notify::Invite::KeepAwake)
}

fn awake(
    outcome: &TargetOutcome<'_>,
    action: &Action,
    restored: Scaling,
    now: DateTime<Utc>,
) -> Notification {
    let mut n = base(Severity::Action, action, awake_title(&action.resource))
        .line("The saved scaling and cluster-autoscaler tags are back and verified; the saved state is cleared.");
    if outcome.plan.orphan {
        n = n.line("It was removed from infra/schedules.yaml: offpeak put it back and no longer manages it.");
    }
    n = n
        .fact("min", restored.min)
        .fact("max", restored.max)
        .fact("desired", restored.desired);
    if let Some(saved) = &outcome.plan.stored.doc.saved {
        let hours = instance_hours(saved.scaling, saved.at, now).round() as i64;
        n = n
            .fact("asleep_since", saved.at)
            .fact("instance_hours_saved", hours);
    }
    n
}

fn failed(
    outcome: &TargetOutcome<'_>,
    action: &Action,
    err: &crate::error::TickError,
) -> Notification {
    let n = base(Severity::Failure, action, "action failed")
        .line("An action failed; offpeak stopped this target's remaining steps and the next tick plans again from what it observes.")
        .fact("step", token(action.step.name()))
        .fact("error", Fact::error(err));
    match (err.is_access_denied(), outcome.plan.orphan) {
        (true, true) => n.next_step(ORPHAN_BY_HAND).next_step(ORPHAN_BACK),
        (true, false) => n.next_step(COVER_IT),
        (false, _) => n.next_step("If it fails again, check the function's IAM permissions and the resource in the console."),
    }
}

/// What to do when offpeak's role may not touch a scheduled target.
const COVER_IT: &str = "Make sure the stack's EksClusterNames and SelfManagedAsgNames parameters cover this target (offpeak deploy-params), then deploy.";
/// What to do when offpeak's role may not touch a target that left the schedule.
const ORPHAN_BY_HAND: &str = "Either set the saved sizes on it yourself (or those its offpeak:asleep tag names), delete that tag, and remove this target from the targets of state item offpeak/registry/eks-nodegroups.";
const ORPHAN_BACK: &str = "Or add it back to infra/schedules.yaml and the stack's parameters (offpeak deploy-params), deploy, let a tick wake it, then remove it again.";

fn base(severity: Severity, action: &Action, title: &'static str) -> Notification {
    Notification::new(severity, FUNCTION, token(&action.target), title)
}

fn asleep_title(resource: &Resource) -> &'static str {
    match resource {
        Resource::Nodegroup { .. } => "node group asleep",
        Resource::AutoScalingGroup { .. } => "auto scaling group asleep",
    }
}

fn awake_title(resource: &Resource) -> &'static str {
    match resource {
        Resource::Nodegroup { .. } => "node group awake",
        Resource::AutoScalingGroup { .. } => "auto scaling group awake",
    }
}

/// Target ids and states are ids, so they are tokens; an id AWS allows but a token does not (an
/// Auto Scaling group name with a space) is shown as a fixed placeholder rather than dropped.
fn token(value: &str) -> Token {
    Token::new(value).unwrap_or_else(|_| Token::new("unprintable-id").expect("a valid token"))
}

/// The pre-sleep scaling: saved this tick, or earlier.
fn saved_scaling(outcome: &TargetOutcome<'_>) -> Option<Scaling> {
    outcome
        .plan
        .actions
        .iter()
        .find_map(|a| match &a.step {
            Step::SaveScaling { scaling, .. } => Some(*scaling),
            _ => None,
        })
        .or_else(|| outcome.plan.stored.doc.saved.as_ref().map(|s| s.scaling))
}

/// Instance-hours not run while asleep: the saved desired count over the time asleep. An upper
/// bound: a manual scale-up during the sleep is not subtracted.
pub fn instance_hours(saved: Scaling, asleep_since: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let hours = (now - asleep_since).num_seconds().max(0) as f64 / 3600.0;
    f64::from(saved.desired.max(0)) * hours
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instance_hours_count_the_saved_desired_nodes_over_the_sleep() {
        let since = Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).unwrap();
        let saved = Scaling {
            min: 1,
            max: 3,
            desired: 2,
        };
        assert_eq!(instance_hours(saved, since, now), 2.0 * 57.5);
        assert_eq!(instance_hours(saved, now, since), 0.0);
    }

    #[test]
    fn ids_that_are_not_tokens_get_a_placeholder() {
        assert_eq!(token("dev-eks/app").as_str(), "dev-eks/app");
        assert_eq!(token("my legacy asg").as_str(), "unprintable-id");
    }
}
