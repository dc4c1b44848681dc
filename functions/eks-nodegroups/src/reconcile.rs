//! One tick, start to end: observe → read state → plan → (dry-run: stop) → enroll → apply →
//! notify → metrics. [`run`] takes its AWS clients, state store and notifier as parameters, so
//! the whole flow runs the same against the SDK, moto, or in-memory fakes.
//!
//! Guarantees:
//! - **`at` moves only the schedule.** The event's `at` is where the schedule is evaluated;
//!   leases, override validity, skip tags, drift timing and every timestamp use the clock
//!   ([`Instants`]), so a replay can't steal a live tick's lease or stretch an override's cap.
//! - **Enrolled before changed.** Every target whose plan changes it (or which holds a saved
//!   state) is in offpeak's registry before apply touches it — one registry write per tick at
//!   most; if that write fails, those targets are not changed and the failure is reported.
//! - **Nothing is orphaned.** Registered targets the schedule no longer yields are observed and
//!   planned by [`crate::orphans`]: put back, then released.
//! - The state store is read once for the schedule's targets and the registry; only a tick with
//!   leftover registered targets reads again, for theirs. AWS is observed before the state it is
//!   planned against — except leftovers, whose state item says which resource to observe; their
//!   apply claims it at the version planned from ([`crate::apply`]), so a stale read can't act.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::report::{Failed, Report};
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{self, Claim, Holder, Record, StateError, StateStore};

use crate::apply::{self, Outcome, Services, TargetOutcome};
use crate::aws::{AutoScaling, Eks};
use crate::error::{TickError, chain};
use crate::model::Instants;
use crate::observe::{self, Observed, View};
use crate::plan::{self, Action, TargetPlan};
use crate::record::{self, Stored};
use crate::targets::Unit;
use crate::{CONCURRENCY, FUNCTION, metrics, notify, orphans, overrides};

/// Runs one tick at the clock's `clock`; the schedule is evaluated at the event's `at`, if any.
///
/// Errors only when the tick as a whole can't proceed: the override in the event is refused, or
/// the state store can't be read (offpeak never acts without knowing what it saved). Everything
/// else — a missing node group, a failed call — is in the report and the notifications.
pub async fn run<E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    schedule: &Schedule,
    event: &InvocationEvent,
    clock: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let now = Instants::new(event, clock);
    let mut report = Report::new(FUNCTION, now.at, event.dry_run);
    let override_unit =
        event.checked_override(FUNCTION, |o| overrides::check_event(schedule, o, now.clock))?;
    let mut observed = observe::observe(svc.eks, svc.autoscaling, schedule, now.clock).await;
    with_override_target(&mut observed, override_unit);
    let (registry, mut plans) = plan_all(svc.state, &observed, event, now, &mut report).await?;
    let (left, left_plans) =
        plan_leftovers(svc, schedule, &registry, &observed, now, &mut report).await?;
    observed.extend(left);
    plans.extend(left_plans);
    summarise(&plans, &mut report);
    if event.dry_run {
        return Ok(report);
    }
    let outcomes = apply_all(svc, &plans, &registry, now.clock).await;
    record_outcomes(&outcomes, &mut report);
    let unsent = notify::send(svc.notifier, &outcomes, now.clock).await;
    for (target, message) in unsent.notes {
        report.note(target, message);
    }
    for target in &unsent.untold {
        if let Err(err) = record::untell(svc.state, target).await {
            report.note(target, chain(&err));
        }
    }
    metrics::emit(&observed, &plans, &outcomes, now.clock);
    Ok(report)
}

/// The plans' notes, actions and drifting targets, in the report.
fn summarise(plans: &[TargetPlan], report: &mut Report<Action>) {
    for plan in plans {
        for note in &plan.notes {
            report.note(&plan.target, note);
        }
    }
    report.drifting = metrics::drifting(plans);
    report.plan = plans
        .iter()
        .flat_map(|p| p.actions.iter().cloned())
        .collect();
}

/// A `["*"]` cluster's node group that was not observed (it may not exist yet) still gets the
/// event's override recorded.
fn with_override_target<'s>(observed: &mut Vec<Observed<'s>>, unit: Option<Unit<'s>>) {
    if let Some(unit) = unit.filter(|u| observed.iter().all(|o| o.unit.id != u.id)) {
        let what = format!("{} is not among the node groups observed", unit.id);
        observed.push(Observed {
            unit,
            view: View::Unreadable(what),
        });
    }
}

/// Reads every target's document and the registry in one batch and plans each target.
async fn plan_all<S: StateStore>(
    state: &S,
    observed: &[Observed<'_>],
    event: &InvocationEvent,
    now: Instants,
    report: &mut Report<Action>,
) -> Result<(Registry, Vec<TargetPlan>), TickError> {
    let mut keys: Vec<&str> = observed.iter().map(|o| o.unit.id.as_str()).collect();
    let registry_key = registry::key(FUNCTION);
    keys.push(&registry_key);
    let records = read(state, &keys).await?;
    let registry = read_registry(&records, report);
    let mut plans = Vec::with_capacity(observed.len());
    for o in observed {
        let Some(stored) = decode(&o.unit.id, records.get(&o.unit.id), report) else {
            continue;
        };
        let event_override = event.override_.as_ref().filter(|e| e.target == o.unit.id);
        plans.push(plan::plan_target(o, stored, event_override, now));
    }
    Ok((registry, plans))
}

/// Observes and plans the registered targets the schedule did not yield (usually none: then
/// nothing is read or called).
async fn plan_leftovers<'s, E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    schedule: &'s Schedule,
    registry: &Registry,
    observed: &[Observed<'s>],
    now: Instants,
    report: &mut Report<Action>,
) -> Result<(Vec<Observed<'s>>, Vec<TargetPlan>), TickError> {
    let ids = orphans::leftover_ids(registry, observed);
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let records = read(svc.state, &ids).await?;
    let units = orphans::leftovers(schedule, &ids, &records);
    let seen = observe::observe_units(svc.eks, svc.autoscaling, units, now.clock).await;
    let plans = seen
        .iter()
        .filter_map(|o| {
            let stored = decode(&o.unit.id, records.get(&o.unit.id), report)?;
            Some(orphans::plan_leftover(o, stored, now))
        })
        .collect();
    Ok((seen, plans))
}

async fn read<S: StateStore>(
    state: &S,
    keys: &[&str],
) -> Result<HashMap<String, Record>, TickError> {
    state
        .get_many(keys)
        .await
        .map_err(|source| TickError::ReadState {
            count: keys.len(),
            source,
        })
}

/// The registry as read; an unreadable one is reported and read as empty, so no orphan is acted
/// on and every enrolment fails (the registry is re-read and decoded to write it): nothing is
/// changed that the registry would not know about.
fn read_registry(records: &HashMap<String, Record>, report: &mut Report<Action>) -> Registry {
    Registry::from_records(records, FUNCTION).unwrap_or_else(|source| {
        let err = TickError::DecodeState {
            target: registry::key(FUNCTION),
            source,
        };
        tracing::error!(error = %chain(&err), "registry unreadable");
        report.note(registry::key(FUNCTION), chain(&err));
        Registry::default()
    })
}

/// Enrolls what must be registered, then applies every non-empty plan under its lease, and gives
/// the leases back together once every target is done.
async fn apply_all<'p, E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    plans: &'p [TargetPlan],
    registry: &Registry,
    clock: DateTime<Utc>,
) -> Vec<TargetOutcome<'p>> {
    let needed: Vec<&str> = plans
        .iter()
        .filter(|p| needs_enrolment(p, registry))
        .map(|p| p.target.as_str())
        .collect();
    let enrolled = match needed.is_empty() {
        true => Ok(()),
        false => registry::enroll(svc.state, FUNCTION, &needed)
            .await
            .map_err(Arc::new),
    };
    let holder = Holder::new(FUNCTION);
    // Targets are independent (each under its own lease): applied CONCURRENCY at a time, so a
    // 500-node-group Monday morning fits the function's timeout.
    // (Futures built up front: see observe.rs on closures inside streams.)
    let mut refused = Vec::new();
    let mut applies = Vec::new();
    for plan in plans.iter().filter(|p| !p.actions.is_empty()) {
        match &enrolled {
            Err(source) if needed.contains(&plan.target.as_str()) => {
                refused.push(not_enrolled(plan, source));
            }
            _ => applies.push(apply::apply_target(svc, plan, &holder, clock)),
        }
    }
    let applied: Vec<_> = stream::iter(applies).buffered(CONCURRENCY).collect().await;
    let (mut outcomes, claims): (Vec<_>, Vec<_>) = applied.into_iter().unzip();
    give_back(
        svc.state,
        claims.into_iter().flatten().collect(),
        &mut outcomes,
    )
    .await;
    outcomes.extend(refused);
    outcomes
}

/// Gives back every lease the tick took, together; one that could not be is a note on its
/// target's outcome (it expires by itself).
async fn give_back<S: StateStore>(store: &S, held: Vec<Claim>, outcomes: &mut [TargetOutcome<'_>]) {
    for unreleased in state::release_all(store, held).await {
        let outcome = outcomes
            .iter_mut()
            .find(|o| o.plan.target == unreleased.target);
        if let Some(outcome) = outcome {
            outcome.notes.push(chain(&unreleased));
        }
    }
}

/// Whether `plan`'s target must be registered before it is applied: it is not yet, and its plan
/// changes it or offpeak holds a saved state for it (a sleep from before the registry existed).
fn needs_enrolment(plan: &TargetPlan, registry: &Registry) -> bool {
    !registry.contains(&plan.target)
        && (plan.stored.doc.saved.is_some() || plan.actions.iter().any(|a| a.step.changes_target()))
}

/// The outcome of a plan whose target could not be registered: its first action failed.
fn not_enrolled<'p>(plan: &'p TargetPlan, source: &Arc<StateError>) -> TargetOutcome<'p> {
    let err = TickError::Enroll {
        targets: plan.target.clone(),
        source: Arc::clone(source),
    };
    TargetOutcome {
        plan,
        results: vec![(&plan.actions[0], Outcome::Failed(err))],
        notes: vec!["not applied: it could not be registered first".into()],
    }
}

/// A target whose document is unreadable is left alone (its saved state may be in there).
fn decode(target: &str, record: Option<&Record>, report: &mut Report<Action>) -> Option<Stored> {
    match Stored::from_record(record) {
        Ok(stored) => Some(stored),
        Err(source) => {
            let err = TickError::DecodeState {
                target: target.to_owned(),
                source,
            };
            tracing::error!(target, error = %chain(&err), "state document unreadable");
            report.note(target, format!("left alone: {}", chain(&err)));
            None
        }
    }
}

fn record_outcomes(outcomes: &[TargetOutcome<'_>], report: &mut Report<Action>) {
    for outcome in outcomes {
        let target = outcome.plan.target.as_str();
        for (action, result) in &outcome.results {
            match result {
                Outcome::Applied => report.applied.push((*action).clone()),
                Outcome::Deferred(reason) => report.note(target, reason.clone()),
                Outcome::Failed(err) => report.failed.push(Failed {
                    action: (*action).clone(),
                    error: chain(err),
                }),
            }
        }
        for note in &outcome.notes {
            report.note(target, note.clone());
        }
    }
}

#[cfg(test)]
mod tests;
