//! The notifications a refresh sends. Pure: built from the run's record.
//!
//! | when | severity | title |
//! |---|---|---|
//! | the run finished: dev is the masked copy (naming the final snapshot of a handed-over dev cluster it deleted) | action | masked refresh done |
//! | a run failed (AWS, masking, verification, deadline; after the swap: promoted cluster not available in time) | failure | masked refresh failed |
//! | the failed run's clone is gone (and a swap rolled back) | action | failed refresh cleaned up |
//! | a cleanup or rollback step keeps failing, or the rollback overran `rollback_by` (once per run) | failure | refresh cleanup failing |
//! | cleanup did not finish by `cleanup_by`: the run ends, leftovers named | failure | failed refresh left for a person |
//! | a run could not start (preflight) | failure | masked refresh did not start |
//! | a `skip` override starts | info | masked refresh skipped |
//! | a `refresh` override starts | info | masked refresh requested |
//! | an override ends (expired, cleared, replaced) | info | refresh override ended |
//!
//! Only ids, phases, codes, counts, instants and durations appear.

use chrono::{DateTime, Utc};
use offpeak_shared::notify::{Fact, Notification, Severity, Token};

use crate::FUNCTION;
use crate::error::Recorded;
use crate::memory::{Phase, Run};
use crate::overrides::{Ending, HeldOverride, Hold};

fn token(id: &str) -> Token {
    Token::new(id).unwrap_or_else(|_| Token::new("invalid-id").expect("a valid literal token"))
}

fn base(severity: Severity, target: &str, run: &Run, title: &'static str) -> Notification {
    Notification::new(severity, FUNCTION, token(target), title)
        .fact("run", token(&run.id))
        .fact("source", token(&run.source))
        .fact("clone", token(&run.clone))
}

/// The dev cluster is now the masked, verified copy.
pub fn done(target: &str, run: &Run, at: DateTime<Utc>) -> Notification {
    let m = &run.masking;
    let mut n = base(Severity::Action, target, run, "masked refresh done")
        .line("The development cluster is now a masked, verified copy of production; its endpoint is unchanged.")
        .fact("duration", at - run.started_at)
        .fact("tables", m.tables)
        .fact("tables_masked", m.tables_masked)
        .fact("tables_truncated", m.tables_truncated)
        .fact("rows", m.rows)
        .fact("chunks", i64::try_from(m.chunks).unwrap_or(i64::MAX))
        .fact("masking_invocations", m.invocations)
        .fact("checks_passed", m.checks)
        .fact("previous_deleted", run.retired.len())
        .resource(token(target))
        .invite(offpeak_shared::notify::Invite::skip_next_daily_window(run.deadline));
    if let Some(c) = &run.cluster {
        let dropped = match c.dropped.is_empty() {
            true => "none".to_owned(),
            false => c.dropped.join(","),
        };
        n = n
            .fact("databases_dropped", token(&dropped))
            .fact("logins_disabled", c.logins_disabled)
            .fact("logins_rekeyed", c.logins_rekeyed);
    }
    if let Some(previous) = run.swap.as_ref().and_then(|s| s.previous.as_ref()) {
        n = n.fact("previous", token(&previous.cluster));
    }
    if !run.final_snapshots.is_empty() {
        n = n
            .fact("final_snapshots", token(&run.final_snapshots.join(",")))
            .line("The previous development cluster was handed over to offpeak, not made by it: RDS took the final cluster snapshot named in final_snapshots before deleting it. offpeak never deletes that snapshot; delete it in the RDS console once nobody needs it.");
        for s in &run.final_snapshots {
            n = n.resource(token(s));
        }
    }
    if run.swap.as_ref().is_some_and(|s| s.deletion_protection) {
        n = n.fact("deletion_protection", true);
    }
    if !run.warnings.is_empty() {
        n = n
            .fact("warnings", run.warnings.len())
            .line("A previous development cluster could not be deleted; the next run tries again.");
    }
    n
}

/// A run failed; what happens next depends on how far it got.
pub fn failed(target: &str, run: &Run) -> Notification {
    let mut n = base(Severity::Failure, target, run, "masked refresh failed");
    if let Some(f) = &run.failure {
        n = n
            .fact("phase", token(f.phase.as_str()))
            .fact("kind", token(&f.kind))
            .fact("error", Fact::error(&Recorded(f.error.clone())));
    }
    let promoted = run
        .failure
        .as_ref()
        .is_some_and(|f| f.phase == Phase::Promote);
    n = match (run.phase, promoted) {
        (Phase::Rollback, true) => n.line("The promoted cluster did not become available in time: offpeak is restoring the previous development cluster (a verified copy), then deleting the new one."),
        (Phase::Rollback, false) => n.line("The swap had begun: offpeak is restoring the previous development cluster, then deleting the clone."),
        (Phase::Failed, true) => {
            return n
                .line("The promoted cluster holds the development name (a masked, verified copy) but it or its instance did not become available in time, and no previous development cluster is left to go back to. offpeak stops here.")
                .resource(token(target))
                .next_step("Look at the development cluster and its instance in the RDS console (reboot, or add an instance); the next window runs as usual.");
        }
        _ => n.line("The clone is being deleted. The development database was not touched."),
    };
    n.next_step("Read the error above; the next window runs again.")
}

/// The failed run left nothing behind.
pub fn cleaned_up(target: &str, run: &Run) -> Notification {
    let rolled_back = run.swap.is_some();
    let mut n = base(Severity::Action, target, run, "failed refresh cleaned up")
        .fact("rolled_back", rolled_back)
        .line("The clone was deleted. Development is the same cluster as before the run.")
        .invite(offpeak_shared::notify::Invite::skip_next_daily_window(
            run.deadline,
        ));
    if let Some(f) = &run.failure {
        n = n
            .fact("phase", token(f.phase.as_str()))
            .fact("kind", token(&f.kind));
    }
    n
}

/// Cleanup did not finish in time: the run ends, leaving `left` (ids) to a person.
pub fn left_over(target: &str, run: &Run, left: &[String]) -> Notification {
    let mut n = base(Severity::Failure, target, run, "failed refresh left for a person")
        .fact("left", left.len())
        .line("Cleaning up the failed run did not finish in time. Development is the same cluster as before the run; what is left of the run stays quarantined and tagged with it, for a person to delete.");
    for id in left {
        n = n.resource(token(id));
    }
    n.next_step(
        "Delete the resources named here in the RDS console; the next window runs as usual.",
    )
}

/// A cleanup or rollback step failed, or the rollback overran its bound; offpeak keeps retrying
/// every tick.
pub fn stuck(target: &str, run: &Run, err: &(dyn std::error::Error + 'static)) -> Notification {
    base(Severity::Failure, target, run, "refresh cleanup failing")
        .fact("phase", token(run.phase.as_str()))
        .fact("error", Fact::error(err))
        .line("offpeak retries every tick. Until it succeeds, check the clusters named in this message.")
        .next_step("Check the function's IAM policy and the clusters' states in the RDS console.")
}

/// The run of this window could not start.
pub fn refused(target: &str, run: &Run) -> Notification {
    let mut n = base(
        Severity::Failure,
        target,
        run,
        "masked refresh did not start",
    )
    .line("Nothing was created and the development database was not touched.");
    if let Some(f) = &run.failure {
        n = n.fact("error", Fact::error(&Recorded(f.error.clone())));
    }
    n.next_step("Fix the problem above; the next window tries again.")
}

fn override_base(target: &str, held: &HeldOverride, title: &'static str) -> Notification {
    Notification::new(Severity::Info, FUNCTION, token(target), title)
        .fact("override", token(held.state.as_str()))
        .fact("until", held.until)
        .fact("set_at", held.set_at)
}

/// A person's override starts: no run before its end (`skip`), or one now (`refresh`).
pub fn override_started(target: &str, held: &HeldOverride) -> Notification {
    match held.state {
        Hold::Skip => override_base(target, held, "masked refresh skipped")
            .line("No refresh run starts before the override ends; a run already in progress finishes.")
            .next_step("To refresh as scheduled again sooner: offpeak override <dev cluster> clear."),
        Hold::Refresh => override_base(target, held, "masked refresh requested")
            .line("A refresh run starts on the next tick, outside the window if need be, and must finish by the override's end."),
    }
}

/// A person's override is over: the schedule decides again from the next tick.
pub fn override_ended(target: &str, held: &HeldOverride, why: Ending) -> Notification {
    let mut n = override_base(target, held, "refresh override ended")
        .fact("ended", token(why.as_str()))
        .line("The refresh window decides again from the next tick; a run in progress goes on to its end.");
    if let Some(run) = &held.run {
        n = n.fact("run", token(run));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_in;

    #[test]
    fn done_carries_duration_and_counts() {
        let mut run = run_in(Phase::Done);
        run.masking.tables = 3;
        run.masking.rows = 42;
        let at = run.started_at + chrono::Duration::minutes(90);
        let n = done("dev-aurora", &run, at);
        assert_eq!(n.title, "masked refresh done");
        let fact = |k: &str| {
            n.facts
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.render())
        };
        assert_eq!(fact("duration").as_deref(), Some("5400s"));
        assert_eq!(fact("tables").as_deref(), Some("3"));
        assert_eq!(fact("rows").as_deref(), Some("42"));
    }
}
