//! Manual overrides: "keep `dev-eks/app` awake (or asleep) until then".
//!
//! An override arrives in the invocation event (`{"override": {...}}`, recorded as the first step
//! of that tick's plan) or from `offpeak override` ([`record()`], which writes it and returns). It is
//! stored in the target's document; while it holds, it replaces the schedule's desired state, and
//! because offpeak acts on changes of the desired state, both its start and its end are
//! transitions: the target converges to the override, then back to the schedule.
//!
//! Refused (bad input, nothing written): a target the schedule does not cover, an end that is
//! not after the clock, or an end more than [`MAX_OVERRIDE_DAYS`] after it (a forgotten override
//! should not silently disable a schedule; lasting changes belong in `infra/schedules.yaml`).
//! `now` here is always the clock's value, never an event's `at`: a replayed instant can't
//! stretch the cap. Whether a stored override still holds is judged by the clock too.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use offpeak_shared::config::Schedule;
use offpeak_shared::state::StateStore;

use crate::error::TickError;
use crate::model::SleepState;
use crate::record::{self, HeldOverride, Stored};
use crate::targets::{self, Unit};

/// The longest an override may last.
pub const MAX_OVERRIDE_DAYS: i64 = 31;
/// Conditional-write attempts before a contended override gives up.
const WRITE_ATTEMPTS: usize = 3;

/// The unit `target` names, if the override is acceptable with the clock at `now`.
pub fn check<'s>(
    schedule: &'s Schedule,
    target: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Unit<'s>, TickError> {
    let unit =
        targets::resolve(schedule, target).ok_or_else(|| TickError::UnknownOverrideTarget {
            target: target.to_owned(),
            known: targets::known_ids(schedule).join(", "),
        })?;
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    if until <= now {
        return Err(TickError::OverrideEnded {
            target: target.to_owned(),
            until: text(until),
            now: text(now),
        });
    }
    if until - now > Duration::days(MAX_OVERRIDE_DAYS) {
        return Err(TickError::OverrideTooLong {
            target: target.to_owned(),
            until: text(until),
            max_days: MAX_OVERRIDE_DAYS,
        });
    }
    Ok(unit)
}

/// Checks and stores an override, retrying if a tick writes the same document meanwhile. The
/// next tick converges the target to it.
pub async fn record<S: StateStore>(
    store: &S,
    schedule: &Schedule,
    target: &str,
    state: SleepState,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<HeldOverride, TickError> {
    check(schedule, target, until, now)?;
    let held = HeldOverride {
        state,
        until,
        set_at: now,
    };
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let records = store
            .get_many(&[target])
            .await
            .map_err(|source| TickError::ReadState { count: 1, source })?;
        let mut stored =
            Stored::from_record(records.get(target)).map_err(|source| TickError::DecodeState {
                target: target.to_owned(),
                source,
            })?;
        stored.doc.override_ = Some(held.clone());
        match record::write(store, target, &mut stored, now).await {
            Ok(()) => return Ok(held),
            Err(err @ TickError::StateConflict { .. }) => last = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last.expect("at least one attempt was made"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use offpeak_shared::config;
    use offpeak_shared::state::MemoryStateStore;
    use std::path::Path;

    const YAML: &str = r#"
timezone: Asia/Tokyo
eks_nodegroups:
  - cluster: dev-eks
    nodegroups: [app]
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn an_override_is_stored_next_to_the_rest_of_the_document() {
        let schedule = config::parse_str(YAML, Path::new("t.yaml")).unwrap();
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
        let held = record(
            &store,
            &schedule,
            "dev-eks/app",
            SleepState::Awake,
            until,
            now(),
        )
        .await
        .unwrap();
        assert_eq!(held.until, until);
        let doc = &store.get_many(&["dev-eks/app"]).await.unwrap()["dev-eks/app"];
        let stored = Stored::from_record(Some(doc)).unwrap();
        assert_eq!(stored.doc.desired, Some(SleepState::Asleep));
        assert_eq!(stored.doc.override_, Some(held));
    }

    #[test]
    fn bad_overrides_are_refused_with_what_to_do() {
        let schedule = config::parse_str(YAML, Path::new("t.yaml")).unwrap();
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
