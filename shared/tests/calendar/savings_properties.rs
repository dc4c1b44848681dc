//! Property: [`Target::weighted_time`] is the exact integral of the state.
//!
//! Every boundary in [`crate::mixed_schedule`] is minute-aligned, so over a minute-aligned
//! interval the integral equals the sum of the state's weight at each minute × 60 s: a scan that
//! samples, and so can't share the integrator's reliance on the list of candidate instants (the
//! schedule has a fold-straddling window and a gap-swallowed opening); instants cover 2026–2027,
//! DST days included.
//! Also: the integral is additive over adjacent intervals, so weekly totals add up to a
//! fortnight's.

use chrono::{DateTime, TimeDelta, Utc};
use offpeak_shared::calendar::{self, Target};
use proptest::prelude::*;

use crate::mixed_schedule::schedule;

/// `∫ weight` over `[lo, lo + minutes)` by sampling each minute.
fn scanned(target: &Target<'_>, lo: DateTime<Utc>, minutes: i64) -> TimeDelta {
    (0..minutes)
        .map(|m| {
            let w = target.state_at(lo + TimeDelta::minutes(m)).weight();
            TimeDelta::minutes(1) * w as i32
        })
        .sum()
}

fn minute(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s * 60, 0).unwrap()
}

/// Minute-aligned instants from 2026 through 2027.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .timestamp()
        / 60;
    (start..start + 2 * 365 * 1440).prop_map(minute)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_integral_equals_a_minute_scan(lo in instant(), minutes in 0i64..3 * 1440) {
        let schedule = schedule();
        for target in calendar::targets(&schedule) {
            let hi = lo + TimeDelta::minutes(minutes);
            prop_assert_eq!(
                target.weighted_time(lo, hi),
                scanned(&target, lo, minutes),
                "{} over [{}, {})", target.id, lo, hi
            );
        }
    }

    #[test]
    fn the_integral_is_additive(lo in instant(), a in 0i64..20_000, b in 0i64..20_000) {
        let schedule = schedule();
        let (mid, hi) = (lo + TimeDelta::minutes(a), lo + TimeDelta::minutes(a + b));
        for target in calendar::targets(&schedule) {
            prop_assert_eq!(
                target.weighted_time(lo, hi),
                target.weighted_time(lo, mid) + target.weighted_time(mid, hi),
                "{}", target.id
            );
        }
    }
}

/// The scan pinned on every DST transition day of the schedule's zones, where it is easiest to
/// get wrong.
#[test]
fn the_integral_equals_a_minute_scan_on_transition_days() {
    let schedule = schedule();
    let days = [
        "2026-03-08", // New York springs forward
        "2026-03-29", // London springs forward
        "2026-04-05", // Sydney falls back
        "2026-10-04", // Sydney springs forward
        "2026-10-25", // London falls back
        "2026-11-01", // New York falls back
    ];
    for day in days {
        let lo = DateTime::parse_from_rfc3339(&format!("{day}T00:00:00Z"))
            .unwrap()
            .with_timezone(&Utc)
            - TimeDelta::hours(14);
        for target in calendar::targets(&schedule) {
            let minutes = 40 * 60;
            assert_eq!(
                target.weighted_time(lo, lo + TimeDelta::minutes(minutes)),
                scanned(&target, lo, minutes),
                "{} on {day}",
                target.id
            );
        }
    }
}
