//! Manual overrides: "keep `dev-eks/app` awake (or asleep) until then", and `clear`.
//!
//! An override arrives in the invocation event (`{"override": {...}}`, recorded as the first step
//! of that tick's plan) or from `offpeak override` ([`record()`], which writes it and returns). It is
//! stored in the target's document; while it holds, it replaces the schedule's desired state, and
//! because offpeak acts on changes of the desired state, both its start and its end are
//! transitions: the target converges to the override, then back to the schedule.
//!
//! `clear` ends a target's override now. In an event, that tick removes it and already follows
//! the schedule; from `offpeak override <target> clear`, its end is set to the clock and the next
//! tick does the same. Either way, the tick that removes an ended override (cleared, or past its
//! `until`) announces it ("override ended"). Clearing a target with no override changes nothing
//! and says so.
//!
//! Refused (bad input, nothing written): a target the schedule does not cover, an end that is
//! not after the clock, or an end more than `MAX_OVERRIDE_DAYS` (31) after it (a forgotten override
//! should not silently disable a schedule; lasting changes belong in `infra/schedules.yaml`).
//! `now` here is always the clock's value, never an event's `at`: a replayed instant can't
//! stretch the cap. Whether a stored override still holds is judged by the clock too.

use chrono::{DateTime, Utc};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::{
    EventError, InvocationEvent, Override, OverrideState, check_override_end,
};
use offpeak_shared::state::StateStore;

use crate::error::TickError;
use crate::model::SleepState;
use crate::record::{self, HeldOverride, Stored};
use crate::targets::{self, Unit};

/// Conditional-write attempts before a contended override gives up.
const WRITE_ATTEMPTS: usize = 3;

/// The unit `target` names, if the override is acceptable with the clock at `now`.
pub fn check<'s>(
    schedule: &'s Schedule,
    target: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Unit<'s>, TickError> {
    let unit = resolve(schedule, target)?;
    check_override_end(target, until, now)?;
    Ok(unit)
}

/// Checks an override as it comes in an event or from `offpeak override`, with the clock at
/// `now`: a state this function holds, a target of the schedule, and (but for `clear`) an
/// acceptable end. The unit it names.
pub fn check_event<'s>(
    schedule: &'s Schedule,
    o: &Override,
    now: DateTime<Utc>,
) -> Result<Unit<'s>, TickError> {
    let event = InvocationEvent {
        override_: Some(o.clone()),
        ..InvocationEvent::default()
    };
    event.ensure_override_fits(crate::FUNCTION)?;
    if o.state == OverrideState::Clear {
        return resolve(schedule, &o.target);
    }
    let until = o
        .end(now)
        .ok_or(EventError::OverrideEnd { state: o.state })?;
    check(schedule, &o.target, until, now)
}

fn resolve<'s>(schedule: &'s Schedule, target: &str) -> Result<Unit<'s>, TickError> {
    targets::resolve(schedule, target).ok_or_else(|| TickError::UnknownOverrideTarget {
        target: target.to_owned(),
        known: targets::known_ids(schedule).join(", "),
    })
}

/// What `offpeak override` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overridden {
    /// The override is stored; the next tick converges the target to it.
    Held(HeldOverride),
    /// The override (as it was) now ends at the clock; the next tick applies the schedule and
    /// announces the end.
    Cleared(HeldOverride),
    /// `clear` of a target that holds no override: nothing was written.
    NothingToClear,
}

/// Checks and stores an override (for `clear`: ends the stored one at `now`), retrying if a tick
/// writes the same document meanwhile. The next tick converges the target.
pub async fn record<S: StateStore>(
    store: &S,
    schedule: &Schedule,
    o: &Override,
    now: DateTime<Utc>,
) -> Result<Overridden, TickError> {
    let unit = check_event(schedule, o, now)?;
    let target = unit.id.as_str();
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let mut stored = record::read(store, target).await?;
        let Some(outcome) = edit(&mut stored, o, now) else {
            return Ok(Overridden::NothingToClear);
        };
        match record::write(store, target, &mut stored).await {
            Ok(()) => return Ok(outcome),
            Err(err @ TickError::StateConflict { .. }) => last = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last.expect("at least one attempt was made"))
}

/// The document with `o` applied, and what that amounts to; `None` when there is nothing to
/// clear. `o` has passed [`check_event`].
fn edit(stored: &mut Stored, o: &Override, now: DateTime<Utc>) -> Option<Overridden> {
    let (Some(state), Some(until)) = (SleepState::held_by(o.state), o.end(now)) else {
        let held = stored.doc.override_.as_mut().filter(|h| h.is_active(now))?;
        let before = held.clone();
        held.until = now;
        held.cleared = true;
        return Some(Overridden::Cleared(before));
    };
    let held = HeldOverride {
        state,
        until,
        set_at: now,
        cleared: false,
    };
    stored.doc.override_ = Some(held.clone());
    Some(Overridden::Held(held))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, DEV_APP, saturday as now};
    use chrono::Duration;
    use offpeak_shared::state::MemoryStateStore;

    /// An override as an event (or `offpeak override`) gives it.
    fn event(target: &str, state: &str, until: Option<DateTime<Utc>>) -> Override {
        let mut o = serde_json::json!({"target": target, "state": state});
        if let Some(until) = until {
            o["until"] = serde_json::json!(until.to_rfc3339());
        }
        InvocationEvent::from_value(serde_json::json!({ "override": o }))
            .unwrap()
            .override_
            .unwrap()
    }

    #[tokio::test]
    async fn an_override_is_stored_next_to_the_rest_of_the_document() {
        let schedule = testing::schedule(DEV_APP);
        let store = MemoryStateStore::new();
        store
            .put(
                "dev-eks/app",
                &serde_json::json!({"desired": "asleep"}),
                None,
            )
            .await
            .unwrap();
        let until = now() + Duration::hours(8);
        let o = event("dev-eks/app", "awake", Some(until));
        let Overridden::Held(held) = record(&store, &schedule, &o, now()).await.unwrap() else {
            panic!("not held")
        };
        assert_eq!(held.until, until);
        let doc = &store.get_many(&["dev-eks/app"]).await.unwrap()["dev-eks/app"];
        let stored = Stored::from_record(Some(doc)).unwrap();
        assert_eq!(stored.doc.desired, Some(SleepState::Asleep));
        assert_eq!(stored.doc.override_, Some(held));
    }

    #[tokio::test]
    async fn clear_ends_the_override_at_the_clock_and_is_a_no_op_without_one() {
        // GIVEN a target without an override
        let schedule = testing::schedule(DEV_APP);
        let store = MemoryStateStore::new();
        let clear = event("dev-eks/app", "clear", None);

        // WHEN it is cleared THEN nothing is written
        let outcome = record(&store, &schedule, &clear, now()).await.unwrap();
        assert_eq!(outcome, Overridden::NothingToClear);
        assert!(store.get_many(&["dev-eks/app"]).await.unwrap().is_empty());

        // GIVEN an override until 8 hours from now
        let set = event("dev-eks/app", "asleep", Some(now() + Duration::hours(8)));
        record(&store, &schedule, &set, now()).await.unwrap();

        // WHEN it is cleared an hour later
        let later = now() + Duration::hours(1);
        let outcome = record(&store, &schedule, &clear, later).await.unwrap();

        // THEN it ends then (kept, for the next tick to remove and announce)
        let Overridden::Cleared(before) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(before.until, now() + Duration::hours(8));
        let doc = &store.get_many(&["dev-eks/app"]).await.unwrap()["dev-eks/app"];
        let held = Stored::from_record(Some(doc))
            .unwrap()
            .doc
            .override_
            .unwrap();
        assert_eq!((held.until, held.cleared), (later, true));
        assert_eq!(
            record(&store, &schedule, &clear, later).await.unwrap(),
            Overridden::NothingToClear
        );
    }

    #[test]
    fn an_event_override_must_fit_this_function_and_name_a_target() {
        let schedule = testing::schedule(DEV_APP);
        let later = Some(now() + Duration::hours(1));
        let cases = [
            (
                event("dev-eks/app", "replicas:2", later),
                "eks-nodegroups takes awake, asleep or clear",
            ),
            (event("dev-eks/ghost", "clear", None), "eks targets are"),
        ];
        for (o, needle) in cases {
            let err = check_event(&schedule, &o, now()).unwrap_err();
            assert!(err.is_bad_input(), "{err}");
            let text = crate::error::chain(&err);
            assert!(text.contains(needle), "{text}");
        }
        assert!(check_event(&schedule, &event("dev-eks/app", "clear", None), now()).is_ok());
    }

    #[test]
    fn bad_overrides_are_refused_with_what_to_do() {
        let schedule = testing::schedule(DEV_APP);
        let cases = [
            (
                "dev-eks/ghost",
                Duration::hours(1),
                "eks targets are: dev-eks/app",
            ),
            ("dev-eks/app", Duration::zero(), "not after now"),
            ("dev-eks/app", Duration::days(32), "more than 31 days ahead"),
        ];
        for (target, ahead, needle) in cases {
            let err = check(&schedule, target, now() + ahead, now()).unwrap_err();
            assert!(err.is_bad_input());
            assert!(err.to_string().contains(needle), "{err}");
        }
        assert!(check(&schedule, "dev-eks/app", now() + Duration::days(31), now()).is_ok());
    }
}
