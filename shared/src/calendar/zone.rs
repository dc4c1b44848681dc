//! Wall-clock arithmetic in one IANA zone: instant → local time, local time → instants (gaps and
//! folds included), and the instants where the zone's UTC offset changes.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The local wall-clock date-time of an instant. Always defined.
pub fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// Every instant whose local time first reaches `wall`: one instant normally, both passes in a
/// fold, and the first instant after the gap when `wall` is skipped by a spring-forward change.
pub fn instants_at(tz: Tz, wall: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => gap_end(tz, wall).into_iter().collect(),
    }
}

/// The first instant after the gap that swallows `wall`: the earliest instant of the first
/// minute past `wall` that exists. Gaps are whole minutes in every zone in use today.
fn gap_end(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut probe = wall;
    for _ in 0..(2 * 24 * 60) {
        probe += TimeDelta::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

fn offset_seconds(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Instants in `(from, to]` at which the zone's UTC offset changes, to the second.
pub fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut found = Vec::new();
    let mut lo = from;
    while lo < to {
        let hi = (lo + TimeDelta::hours(12)).min(to);
        if offset_seconds(tz, lo) != offset_seconds(tz, hi) {
            found.push(first_change(tz, lo, hi));
        }
        lo = hi;
    }
    found
}

/// Binary search for the first whole second in `(lo, hi]` whose offset differs from `lo`'s.
fn first_change(tz: Tz, lo: DateTime<Utc>, hi: DateTime<Utc>) -> DateTime<Utc> {
    let before = offset_seconds(tz, lo);
    let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or(hi);
    let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_seconds(tz, at(mid)) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    at(hi)
}
