//! Property: `next_change` agrees with `state_at`.
//!
//! For any instant `t` and any target, with `n = next_change(t)`: the state at `n` differs from the
//! state at `t`, and the state is the same at every minute-aligned instant in `(t, n)` (every
//! boundary in the schedule is minute-aligned, so a minute scan cannot miss a change). Targets
//! come from [`crate::mixed_schedule`].

use chrono::{DateTime, TimeDelta, Utc};
use offpeak_shared::calendar::{self, Target};
use proptest::prelude::*;

use crate::mixed_schedule::schedule;

/// Instants from 2026 through 2027, on whole seconds.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    (start..start + 2 * 365 * 86_400).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

/// Checks one target from `t`; scans at most `scan` of the interval minute by minute.
fn check(target: &Target<'_>, t: DateTime<Utc>, scan: TimeDelta) -> Result<(), TestCaseError> {
    let now = target.state_at(t);
    let Some(next) = target.next_change(t) else {
        return Err(TestCaseError::fail(format!(
            "{}: no change found after {t}",
            target.id
        )));
    };
    prop_assert!(
        next > t,
        "{}: next_change {next} is not after {t}",
        target.id
    );
    prop_assert_ne!(
        target.state_at(next),
        now,
        "{}: state at next_change {} equals state at {}",
        target.id,
        next,
        t
    );
    prop_assert_eq!(
        target.state_at(next - TimeDelta::seconds(1)),
        now,
        "{}: changed before {}",
        target.id,
        next
    );
    let mut m = DateTime::from_timestamp((t.timestamp() / 60 + 1) * 60, 0).unwrap();
    while m < next && m < t + scan {
        prop_assert_eq!(
            target.state_at(m),
            now,
            "{}: state changed at {} before next_change {}",
            target.id,
            m,
            next
        );
        m += TimeDelta::minutes(1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn next_change_is_the_first_change(t in instant()) {
        let schedule = schedule();
        for target in calendar::targets(&schedule) {
            check(&target, t, TimeDelta::days(2))?;
        }
    }
}

/// The same property pinned on DST transition days, where it is easiest to get wrong.
#[test]
fn next_change_on_transition_days() {
    let schedule = schedule();
    let days = [
        "2026-03-08",
        "2026-03-29",
        "2026-04-05",
        "2026-10-04",
        "2026-10-25",
        "2026-11-01",
    ];
    for day in days {
        let midnight = DateTime::parse_from_rfc3339(&format!("{day}T00:00:00Z"))
            .unwrap()
            .with_timezone(&Utc);
        for hour in (0..48).step_by(1) {
            let t = midnight + TimeDelta::minutes(30 * hour) - TimeDelta::hours(12);
            for target in calendar::targets(&schedule) {
                check(&target, t, TimeDelta::hours(30)).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
