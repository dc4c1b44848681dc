//! One tick, start to end: observe → read state → plan → (dry-run: stop) → apply → notify →
//! metrics. [`run`] takes its AWS clients, state store and notifier as parameters, so the whole
//! flow runs the same against the SDK, moto, or in-memory fakes.

use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::report::{Failed, Report};
use offpeak_shared::state::{Record, StateStore};

use crate::apply::{self, Outcome, Services, TargetOutcome};
use crate::aws::{AutoScaling, Eks};
use crate::error::{TickError, chain};
use crate::observe::{self, Observed, View};
use crate::overrides;
use crate::plan::{self, Action, TargetPlan};
use crate::record::Stored;
use crate::{CONCURRENCY, FUNCTION, metrics, notify};

/// Runs one tick at `now` (the event's `at`, else the clock, already resolved by the caller).
///
/// Errors only when the tick as a whole can't proceed: the override in the event is refused, or
/// the state store can't be read (offpeak never acts without knowing what it saved). Everything
/// else — a missing node group, a failed call — is in the report and the notifications.
pub async fn run<E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    schedule: &Schedule,
    event: &InvocationEvent,
    now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let mut report = Report::new(FUNCTION, now, event.dry_run);
    let event_override = event.override_.as_ref();
    let override_unit = event_override
        .map(|o| overrides::check(schedule, &o.target, o.until_utc(), now))
        .transpose()?;
    let mut observed = observe::observe(svc.eks, svc.autoscaling, schedule, now).await;
    if let Some(unit) = override_unit.filter(|u| observed.iter().all(|o| o.unit.id != u.id)) {
        // A `["*"]` cluster's node group that does not exist (yet): record the override anyway.
        let what = format!("{} is not among the node groups observed", unit.id);
        observed.push(Observed {
            unit,
            view: View::Unreadable(what),
        });
    }
    let plans = plan_all(svc.state, &observed, event, now, &mut report).await?;
    report.drifting = metrics::drifting(&plans);
    report.plan = plans
        .iter()
        .flat_map(|p| p.actions.iter().cloned())
        .collect();
    if event.dry_run {
        return Ok(report);
    }
    let holder = lease_holder();
    // Targets are independent (each under its own lease): applied CONCURRENCY at a time, so a
    // 500-node-group Monday morning fits the function's timeout.
    // (Futures built up front: see observe.rs on closures inside streams.)
    let mut applies = Vec::new();
    for plan in plans.iter().filter(|p| !p.actions.is_empty()) {
        applies.push(apply::apply_target(svc, plan, &holder, now));
    }
    let outcomes: Vec<_> = stream::iter(applies).buffered(CONCURRENCY).collect().await;
    record_outcomes(&outcomes, &mut report);
    for (target, message) in notify::send(svc.notifier, &outcomes, now).await {
        report.note(target, message);
    }
    metrics::emit(&observed, &plans, &outcomes, now);
    Ok(report)
}

/// Reads every target's document in one batch and plans each target.
async fn plan_all<S: StateStore>(
    state: &S,
    observed: &[Observed<'_>],
    event: &InvocationEvent,
    now: DateTime<Utc>,
    report: &mut Report<Action>,
) -> Result<Vec<TargetPlan>, TickError> {
    let ids: Vec<&str> = observed.iter().map(|o| o.unit.id.as_str()).collect();
    let records = state
        .get_many(&ids)
        .await
        .map_err(|source| TickError::ReadState {
            count: ids.len(),
            source,
        })?;
    let mut plans = Vec::with_capacity(observed.len());
    for o in observed {
        let Some(stored) = decode(&o.unit.id, records.get(&o.unit.id), report) else {
            continue;
        };
        let event_override = event.override_.as_ref().filter(|e| e.target == o.unit.id);
        let plan = plan::plan_target(o, stored, event_override, now);
        for note in &plan.notes {
            report.note(&plan.target, note);
        }
        plans.push(plan);
    }
    Ok(plans)
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

/// A lease holder id unique to this invocation. Concurrent Lambda sandboxes may share a process
/// id, so it is randomised (std's per-process random hash keys; no clock read).
fn lease_holder() -> String {
    let n = RandomState::new().hash_one(std::process::id());
    format!("{FUNCTION}/{n:016x}")
}

#[cfg(test)]
mod tests;
