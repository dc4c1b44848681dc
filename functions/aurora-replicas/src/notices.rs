//! The notifications this function sends, built from a plan and what applying it did. Pure.
//!
//! | when | severity | title |
//! |---|---|---|
//! | replicas were created | action | replicas requested |
//! | every wanted replica is `available` (once per transition) | info | ready for peak |
//! | replicas were deleted (a window closed, or the cluster left the schedule) | action | replicas removed |
//! | an action failed (first time per transition, until it converges) | failure | replica change failed |
//! | the tick could not observe or read its state | failure | tick failed |
//! | an offpeak replica had to go but is the writer (once per replica and transition) | drift | replica kept: it is the writer |
//! | desired ≠ actual for `DRIFT_TICKS` ticks (once, re-armed when they match) | drift | replicas drifted |
//! | an override was recorded (by the event's tick, or by `offpeak override`) | action | override started |
//! | an override ended (its `until` passed, or `clear`) and the schedule applies again | info | override ended |
//!
//! Only ids, codes, counts and instants appear, as the shared notifier requires.

use chrono::{DateTime, Utc};
use offpeak_shared::notify::{Fact, Notification, Severity, Token};

use crate::FUNCTION;
use crate::TickError;
use crate::action::Action;
use crate::memory::{DRIFT_TICKS, Mode, Reason};
use crate::overrides::HeldOverride;
use crate::plan::TargetPlan;

/// A notification token for an id; ids RDS accepts are always valid tokens.
fn token(id: &str) -> Token {
    Token::new(id).unwrap_or_else(|_| Token::new("invalid-id").expect("a valid literal token"))
}

fn base(severity: Severity, plan: &TargetPlan, title: &'static str) -> Notification {
    Notification::new(severity, FUNCTION, token(&plan.cluster), title)
        .fact("cluster", token(&plan.cluster))
        .fact("desired", u32::from(plan.desired))
}

fn with_instances<'a>(
    mut n: Notification,
    actions: impl Iterator<Item = &'a Action>,
) -> Notification {
    for a in actions {
        n = n.resource(token(a.instance()));
    }
    n
}

/// Replicas were created (`until`: when the desired count next changes).
pub fn requested(
    plan: &TargetPlan,
    created: &[&Action],
    until: Option<DateTime<Utc>>,
) -> Notification {
    let why = match plan.held_until {
        Some(_) => "offpeak asked RDS for read replicas: an override holds this many.",
        None => "offpeak asked RDS for read replicas ahead of the peak window.",
    };
    let mut n = base(Severity::Action, plan, "replicas requested")
        .line(why)
        .fact("created", created.len());
    if let Some(Action::Create(spec)) = created.first() {
        n = n.fact("class", token(&spec.class));
    }
    if let Some(until) = until {
        n = n.fact("until", until);
    }
    with_instances(n, created.iter().copied())
        .next_step("Wait for the 'ready for peak' notification; replicas take several minutes to become available.")
}

/// Every wanted replica is available.
pub fn ready(plan: &TargetPlan) -> Notification {
    let what = match plan.held_until {
        Some(_) => {
            "Every read replica the override wants is available and serving through the reader endpoint."
        }
        None => {
            "Every read replica the schedule wants is available and serving through the reader endpoint."
        }
    };
    base(Severity::Info, plan, "ready for peak")
        .line(what)
        .fact("available", plan.census.available)
        .invite(offpeak_shared::notify::Invite::HoldReplicas {
            replicas: u32::from(plan.desired),
        })
}

/// Replicas were deleted.
pub fn removed(plan: &TargetPlan, deleted: &[&Action]) -> Notification {
    let why = match plan.mode {
        Mode::Converge(Reason::Unscheduled) => {
            "offpeak deleted read replicas it had added: the cluster is no longer in the schedule."
        }
        _ if plan.held_until.is_some() => {
            "offpeak deleted read replicas it had added, as an override says."
        }
        Mode::Converge(
            Reason::Transition | Reason::Unfinished | Reason::Enforce | Reason::Override,
        )
        | Mode::Respect => "offpeak deleted read replicas it had added, as the schedule says.",
    };
    let n = base(Severity::Action, plan, "replicas removed")
        .line(why)
        .fact("removed", deleted.len())
        .fact(
            "remaining",
            plan.census.present.saturating_sub(deleted.len()),
        );
    with_instances(n, deleted.iter().copied())
}

/// An override of `cluster` was recorded: from the next tick (or this one, for an event) the
/// cluster holds exactly its count until its end.
pub fn override_started(cluster: &str, held: &HeldOverride) -> Notification {
    let n = Notification::new(Severity::Action, FUNCTION, token(cluster), "override started")
        .line("A person's override holds this cluster at exactly this many offpeak read replicas, whatever the schedule says, until it ends.")
        .fact("cluster", token(cluster))
        .fact("state", token(&held.state.to_string()))
        .fact("until", held.until);
    match held.replicas() {
        Some(n_replicas) => n.fact("replicas", u32::from(n_replicas)),
        None => n,
    }
    .next_step("offpeak override <cluster> clear ends it early; offpeak status lists it.")
}

/// `cluster`'s override ended (its end passed, or it was cleared): the schedule applies again.
pub fn override_ended(cluster: &str, held: &HeldOverride, scheduled: u8) -> Notification {
    let why = if held.cleared {
        "A person cleared the override early; the schedule applies again from this tick."
    } else {
        "The override reached its end; the schedule applies again from this tick."
    };
    Notification::new(Severity::Info, FUNCTION, token(cluster), "override ended")
        .line(why)
        .fact("cluster", token(cluster))
        .fact("state", token(&held.state.to_string()))
        .fact("until", held.until)
        .fact("cleared", held.cleared)
        .fact("desired", u32::from(scheduled))
}

/// Some of the cluster's actions failed; `first` is the first error.
pub fn failed(plan: &TargetPlan, actions: &[&Action], first: &TickError) -> Notification {
    let mut n = base(Severity::Failure, plan, "replica change failed")
        .line("offpeak could not apply every change to this cluster; the next tick retries.")
        .fact("failed", actions.len())
        .fact("error", Fact::error(first));
    if let Some(code) = first.aws_code() {
        n = n.fact("code", token(code));
    }
    with_instances(n, actions.iter().copied())
        .next_step("If it persists, check the function's logs and IAM policy, and the cluster's events in the RDS console.")
}

/// The tick failed before it could plan (observe or state read); `now` is the clock's value
/// (never a replayed `at`): when it failed.
pub fn tick_failed(err: &TickError, now: DateTime<Utc>) -> Notification {
    Notification::new(Severity::Failure, FUNCTION, token(FUNCTION), "tick failed")
        .line("offpeak could not read the clusters or its state, so it changed nothing; the next tick retries.")
        .fact("kind", token(err.kind().as_str()))
        .fact("error", Fact::error(err))
        .fact("at", now)
        .next_step("If it persists, check the function's logs and its IAM policy (rds:Describe*, dynamodb:BatchGetItem).")
}

/// An offpeak replica that had to go is the writer.
pub fn kept_writer(plan: &TargetPlan, writer: &str) -> Notification {
    base(Severity::Drift, plan, "replica kept: it is the writer")
        .line("A failover promoted a replica offpeak had added; offpeak never deletes the writer, so it stays.")
        .line("offpeak removed another of its replicas instead where it could.")
        .fact("writer", token(writer))
        .resource(token(writer))
        .next_step("Fail over to one of the cluster's own instances (RDS console: Actions, Failover); offpeak then removes the replica on a later tick.")
}

/// Desired and actual have disagreed for several ticks.
pub fn drift(plan: &TargetPlan) -> Notification {
    let why = match (plan.mode, plan.cluster_status.as_deref()) {
        (_, None) => "RDS does not know the cluster: check the cluster id in the schedule.",
        (Mode::Respect, Some(_)) => {
            "The cluster was changed by hand after offpeak converged; without enforce: true offpeak leaves it alone."
        }
        (Mode::Converge(_), Some(_)) => {
            "offpeak keeps trying every tick; the function's report and logs say what stands in the way."
        }
    };
    base(Severity::Drift, plan, "replicas drifted")
        .line("The cluster has not had the scheduled number of offpeak replicas for several ticks.")
        .line(why)
        .fact("actual", plan.census.present)
        .fact("ticks", DRIFT_TICKS)
        .fact(
            "cluster_status",
            token(plan.cluster_status.as_deref().unwrap_or("not-found")),
        )
        .next_step("Look at the cluster in the RDS console; set enforce: true to have offpeak re-apply the schedule every tick.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Census;
    use crate::rds::RdsError;

    fn plan() -> TargetPlan {
        TargetPlan {
            cluster: "prod-aurora".into(),
            desired: 2,
            mode: Mode::Converge(Reason::Transition),
            census: Census::default(),
            actions: vec![],
            notes: vec![],
            kept_writer: None,
            cluster_status: Some("available".into()),
            held_until: None,
        }
    }

    #[test]
    fn failure_names_the_code_and_the_instances() {
        let action = Action::Delete(crate::action::Removal {
            cluster: "prod-aurora".into(),
            instance: "prod-aurora-offpeak-1".into(),
            status: "available".into(),
            reason: crate::action::RemovalReason::Surplus,
        });
        let err = TickError::DeleteInstance {
            cluster: "prod-aurora".into(),
            instance: "prod-aurora-offpeak-1".into(),
            source: RdsError::new("InvalidDBInstanceState", "busy"),
        };
        let n = failed(&plan(), &[&action], &err);
        assert_eq!(n.severity, Severity::Failure);
        assert_eq!(n.resources, [token("prod-aurora-offpeak-1")]);
        let text = n.email_text();
        assert!(text.contains("code: InvalidDBInstanceState"), "{text}");
        assert!(text.contains("the next tick retries"), "{text}");
    }

    #[test]
    fn every_notice_fits_the_sns_subject_limit() {
        let p = plan();
        let held = HeldOverride {
            state: offpeak_shared::event::OverrideState::Replicas(15),
            until: crate::testing::utc("2026-11-27T20:00:00Z"),
            set_at: crate::testing::utc("2026-11-27T10:00:00Z"),
            cleared: true,
        };
        let long = "c".repeat(63);
        for n in [
            ready(&p),
            drift(&p),
            kept_writer(&p, "prod-aurora-offpeak-1"),
            override_started(&long, &held),
            override_ended(&long, &held, 15),
        ] {
            assert!(n.subject().len() < 100, "{}", n.subject());
        }
    }
}
