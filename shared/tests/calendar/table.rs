//! Table-driven tests of the calendar engine's time semantics (design.md, "Time semantics").
//!
//! Each case: a zone, one window, an instant (UTC), and the state expected there. Instants sit
//! just before, on and just after each boundary, including DST gaps and folds.

use std::path::Path;

use chrono::{DateTime, Utc};
use offpeak_shared::calendar::{self, State};
use offpeak_shared::config::{self, Schedule};

const HOLIDAYS: &str = "calendars:\n  holidays: [2026-12-31, 2027-01-01]\n";

fn schedule(yaml: &str) -> Schedule {
    config::parse_str(yaml, Path::new("case.yaml")).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"))
}

/// One EKS target asleep during `window` (YAML flow mapping) in `zone`.
fn sleep(zone: &str, window: &str) -> Schedule {
    schedule(&format!(
        "timezone: {zone}\n{HOLIDAYS}eks_nodegroups:\n  - cluster: c\n    nodegroups: [ng]\n    sleep:\n      - {window}\n"
    ))
}

/// One Aurora target with `lead` and `windows` (YAML flow mappings) in `zone`.
fn replicas(zone: &str, lead: &str, windows: &[&str]) -> Schedule {
    let windows: String = windows.iter().map(|w| format!("      - {w}\n")).collect();
    schedule(&format!(
        "timezone: {zone}\n{HOLIDAYS}aurora_replicas:\n  - cluster: c\n    lead_time: {lead}\n    windows:\n{windows}"
    ))
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn state(s: &Schedule, at: &str) -> State {
    let rows = calendar::desired(s, utc(at));
    assert_eq!(rows.len(), 1, "one target per case");
    rows[0].1
}

/// (case name, instant, expected asleep?)
fn check_sleep(s: &Schedule, cases: &[(&str, &str, bool)]) {
    for (name, at, asleep) in cases {
        let want = if *asleep { State::Asleep } else { State::Awake };
        assert_eq!(state(s, at), want, "{name} at {at}");
    }
}

fn check_replicas(s: &Schedule, cases: &[(&str, &str, u8)]) {
    for (name, at, n) in cases {
        assert_eq!(state(s, at), State::Replicas(*n), "{name} at {at}");
    }
}

#[test]
fn crossing_midnight() {
    // Friday 2026-11-27 23:00 JST → Saturday 02:00 JST.
    let s = sleep(
        "Asia/Tokyo",
        r#"{ days: fri, start: "23:00", end: "02:00" }"#,
    );
    check_sleep(
        &s,
        &[
            ("friday before", "2026-11-27T22:59:59+09:00", false),
            ("opens friday", "2026-11-27T23:00:00+09:00", true),
            (
                "after midnight, opened the day before",
                "2026-11-28T01:59:59+09:00",
                true,
            ),
            ("closes saturday", "2026-11-28T02:00:00+09:00", false),
            (
                "saturday night is not friday",
                "2026-11-28T23:30:00+09:00",
                false,
            ),
            ("thursday night", "2026-11-26T23:30:00+09:00", false),
        ],
    );
}

#[test]
fn weekend_span() {
    let s = sleep("Asia/Tokyo", r#"{ from: "fri 22:00", to: "mon 07:30" }"#);
    check_sleep(
        &s,
        &[
            ("friday evening", "2026-11-27T21:59:59+09:00", false),
            ("opens friday 22:00", "2026-11-27T22:00:00+09:00", true),
            ("saturday noon", "2026-11-28T12:00:00+09:00", true),
            ("sunday midnight", "2026-11-29T23:59:59+09:00", true),
            ("monday just before", "2026-11-30T07:29:59+09:00", true),
            ("monday 07:30", "2026-11-30T07:30:00+09:00", false),
            ("wednesday", "2026-12-02T12:00:00+09:00", false),
        ],
    );
}

#[test]
fn weekly_span_within_one_weekday_wraps_a_week() {
    // mon 10:00 → mon 09:00 is six days and 23 hours.
    let s = sleep("Asia/Tokyo", r#"{ from: "mon 10:00", to: "mon 09:00" }"#);
    check_sleep(
        &s,
        &[
            (
                "monday 09:30 is the gap",
                "2026-11-30T09:30:00+09:00",
                false,
            ),
            ("monday 10:00 opens", "2026-11-30T10:00:00+09:00", true),
            ("next monday 08:59", "2026-12-07T08:59:00+09:00", true),
        ],
    );
}

#[test]
fn except_removes_days_by_opening_date() {
    // 2026-12-31 is a Thursday and a holiday; the window that opens on it is dropped, including
    // its after-midnight part on Friday 2027-01-01.
    let s = sleep(
        "Asia/Tokyo",
        r#"{ days: mon-fri, except: [holidays], start: "22:00", end: "06:00" }"#,
    );
    check_sleep(
        &s,
        &[
            ("wednesday night opens", "2026-12-30T23:00:00+09:00", true),
            (
                "its tail on the holiday morning still counts",
                "2026-12-31T05:59:00+09:00",
                true,
            ),
            (
                "holiday night is skipped",
                "2026-12-31T23:00:00+09:00",
                false,
            ),
            (
                "tail of the skipped night",
                "2027-01-01T03:00:00+09:00",
                false,
            ),
            (
                "second holiday (friday) skipped too",
                "2027-01-01T23:00:00+09:00",
                false,
            ),
            (
                "saturday is not in mon-fri",
                "2027-01-02T23:00:00+09:00",
                false,
            ),
            ("monday after", "2027-01-04T22:00:00+09:00", true),
        ],
    );
}

#[test]
fn holidays_all_day_with_24_00_end() {
    let s = sleep(
        "Asia/Tokyo",
        r#"{ days: [holidays], start: "00:00", end: "24:00" }"#,
    );
    check_sleep(
        &s,
        &[
            ("day before the holiday", "2026-12-30T23:59:59+09:00", false),
            ("holiday midnight", "2026-12-31T00:00:00+09:00", true),
            (
                "second holiday, last second",
                "2027-01-01T23:59:59+09:00",
                true,
            ),
            (
                "24:00 is the next day's 00:00, exclusive",
                "2027-01-02T00:00:00+09:00",
                false,
            ),
        ],
    );
}

#[test]
fn end_24_00_on_a_weekday() {
    let s = sleep(
        "Europe/London",
        r#"{ days: sat, start: "10:00", end: "24:00" }"#,
    );
    check_sleep(
        &s,
        &[
            ("saturday 23:59:59", "2026-11-28T23:59:59Z", true),
            ("sunday 00:00", "2026-11-29T00:00:00Z", false),
        ],
    );
}

#[test]
fn lead_time_requests_replicas_early_but_does_not_extend_the_end() {
    let s = replicas(
        "Asia/Tokyo",
        "15m",
        &[r#"{ days: mon-fri, start: "18:30", end: "23:30", replicas: 2 }"#],
    );
    check_replicas(
        &s,
        &[
            ("before the lead", "2026-11-27T18:14:59+09:00", 0),
            ("lead starts", "2026-11-27T18:15:00+09:00", 2),
            ("window open", "2026-11-27T20:00:00+09:00", 2),
            ("last second", "2026-11-27T23:29:59+09:00", 2),
            ("closed at end", "2026-11-27T23:30:00+09:00", 0),
            ("saturday", "2026-11-28T18:20:00+09:00", 0),
        ],
    );
}

#[test]
fn largest_replicas_of_overlapping_windows() {
    let s = replicas(
        "Asia/Tokyo",
        "0",
        &[
            r#"{ days: daily, start: "10:00", end: "22:00", replicas: 1 }"#,
            r#"{ days: fri, start: "18:00", end: "20:00", replicas: 3 }"#,
        ],
    );
    check_replicas(
        &s,
        &[
            ("one window", "2026-11-27T12:00:00+09:00", 1),
            ("both open: the larger", "2026-11-27T19:00:00+09:00", 3),
            ("back to one", "2026-11-27T20:00:00+09:00", 1),
            ("none", "2026-11-27T22:00:00+09:00", 0),
        ],
    );
}

#[test]
fn lead_time_across_a_window_change_takes_the_larger() {
    // At 17:50 with 15m lead: t is in the 1-replica window, t+lead in the 3-replica window.
    let s = replicas(
        "Asia/Tokyo",
        "15m",
        &[
            r#"{ days: daily, start: "10:00", end: "18:00", replicas: 1 }"#,
            r#"{ days: daily, start: "18:00", end: "20:00", replicas: 3 }"#,
        ],
    );
    check_replicas(
        &s,
        &[
            ("only first", "2026-11-27T17:44:59+09:00", 1),
            ("lead reaches the second", "2026-11-27T17:45:00+09:00", 3),
        ],
    );
}

#[test]
fn new_york_spring_forward() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z; 02:00..03:00 local never happens.
    let opens_in_gap = sleep(
        "America/New_York",
        r#"{ days: sun, start: "02:30", end: "04:00" }"#,
    );
    check_sleep(
        &opens_in_gap,
        &[
            ("01:59:59 EST", "2026-03-08T06:59:59Z", false),
            (
                "first instant after the gap opens it",
                "2026-03-08T07:00:00Z",
                true,
            ),
            ("03:59:59 EDT", "2026-03-08T07:59:59Z", true),
            ("04:00 EDT closes", "2026-03-08T08:00:00Z", false),
        ],
    );
    let closes_in_gap = sleep(
        "America/New_York",
        r#"{ days: sun, start: "01:00", end: "02:30" }"#,
    );
    check_sleep(
        &closes_in_gap,
        &[
            ("01:00 EST", "2026-03-08T06:00:00Z", true),
            ("01:59:59 EST", "2026-03-08T06:59:59Z", true),
            ("03:00 EDT is past 02:30", "2026-03-08T07:00:00Z", false),
        ],
    );
    let swallowed = sleep(
        "America/New_York",
        r#"{ days: sun, start: "02:00", end: "03:00" }"#,
    );
    check_sleep(
        &swallowed,
        &[
            (
                "a window wholly inside the gap never opens",
                "2026-03-08T06:59:59Z",
                false,
            ),
            ("nor after", "2026-03-08T07:00:00Z", false),
            ("the next sunday it does", "2026-03-15T06:30:00Z", true),
        ],
    );
}

#[test]
fn new_york_fall_back_counts_both_passes() {
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:00..02:00 local happens twice.
    let s = sleep(
        "America/New_York",
        r#"{ days: sun, start: "01:00", end: "01:30" }"#,
    );
    check_sleep(
        &s,
        &[
            ("00:59:59 EDT", "2026-11-01T04:59:59Z", false),
            ("01:00 EDT, first pass", "2026-11-01T05:00:00Z", true),
            ("01:30 EDT closes", "2026-11-01T05:30:00Z", false),
            ("01:59:59 EDT", "2026-11-01T05:59:59Z", false),
            (
                "01:00 EST, second pass opens again",
                "2026-11-01T06:00:00Z",
                true,
            ),
            ("01:29:59 EST", "2026-11-01T06:29:59Z", true),
            ("01:30 EST closes", "2026-11-01T06:30:00Z", false),
        ],
    );
    let weekend = sleep(
        "America/New_York",
        r#"{ from: "fri 22:00", to: "mon 07:30" }"#,
    );
    check_sleep(
        &weekend,
        &[
            ("friday 22:00 EDT", "2026-10-31T02:00:00Z", true),
            (
                "monday 07:29 EST: the span is wall-clock, the extra hour does not shift it",
                "2026-11-02T12:29:00Z",
                true,
            ),
            ("monday 07:30 EST", "2026-11-02T12:30:00Z", false),
        ],
    );
}

#[test]
fn europe_london_summer_and_winter() {
    // BST starts 2026-03-29 at 01:00Z (01:00 GMT → 02:00 BST).
    let s = sleep(
        "Europe/London",
        r#"{ days: daily, start: "20:00", end: "08:00" }"#,
    );
    check_sleep(
        &s,
        &[
            ("winter 07:59 GMT", "2026-01-10T07:59:00Z", true),
            ("winter 08:00 GMT", "2026-01-10T08:00:00Z", false),
            (
                "spring-forward morning 07:59 BST",
                "2026-03-29T06:59:00Z",
                true,
            ),
            (
                "spring-forward morning 08:00 BST",
                "2026-03-29T07:00:00Z",
                false,
            ),
            ("summer 20:00 BST", "2026-07-01T19:00:00Z", true),
            ("summer 19:59 BST", "2026-07-01T18:59:00Z", false),
        ],
    );
}

#[test]
fn australia_sydney_southern_hemisphere() {
    // DST ends 2026-04-05 03:00 AEDT → 02:00 AEST (16:00Z); starts 2026-10-04 02:00 AEST → 03:00 AEDT (16:00Z).
    let s = sleep(
        "Australia/Sydney",
        r#"{ days: daily, start: "02:00", end: "02:30" }"#,
    );
    check_sleep(
        &s,
        &[
            (
                "april fold, first pass 02:00 AEDT",
                "2026-04-04T15:00:00Z",
                true,
            ),
            (
                "first pass 02:30 AEDT closes",
                "2026-04-04T15:30:00Z",
                false,
            ),
            (
                "second pass 02:00 AEST opens again",
                "2026-04-04T16:00:00Z",
                true,
            ),
            (
                "second pass 02:30 AEST closes",
                "2026-04-04T16:30:00Z",
                false,
            ),
            (
                "october gap swallows 02:00-02:30",
                "2026-10-03T16:00:00Z",
                false,
            ),
            ("summer 02:15 AEDT", "2026-12-01T15:15:00Z", true),
            ("winter 02:15 AEST", "2026-07-01T16:15:00Z", true),
        ],
    );
}

#[test]
fn asia_tokyo_has_no_dst() {
    let s = replicas(
        "Asia/Tokyo",
        "0",
        &[r#"{ days: [sat, sun, holidays], start: "10:00", end: "22:00", replicas: 1 }"#],
    );
    check_replicas(
        &s,
        &[
            ("saturday 10:00 JST = 01:00Z", "2026-11-28T01:00:00Z", 1),
            ("saturday 09:59:59 JST", "2026-11-28T00:59:59Z", 0),
            ("holiday thursday", "2026-12-31T05:00:00Z", 1),
            ("ordinary thursday", "2026-12-24T05:00:00Z", 0),
            ("summer is the same offset", "2026-07-04T12:59:59Z", 1),
        ],
    );
}

#[test]
fn per_target_timezone_overrides_the_default() {
    let s = schedule(
        "timezone: Asia/Tokyo\naurora_replicas:\n  - cluster: us\n    timezone: America/New_York\n    windows:\n      - { days: daily, start: \"08:00\", end: \"09:00\", replicas: 1 }\n",
    );
    assert_eq!(
        state(&s, "2026-11-27T13:30:00Z"),
        State::Replicas(1),
        "08:30 EST"
    );
    assert_eq!(
        state(&s, "2026-11-27T08:30:00+09:00"),
        State::Replicas(0),
        "08:30 JST is not 08:30 in New York"
    );
}

#[test]
fn wrapping_day_range() {
    let s = sleep(
        "Asia/Tokyo",
        r#"{ days: fri-mon, start: "12:00", end: "13:00" }"#,
    );
    check_sleep(
        &s,
        &[
            ("friday", "2026-11-27T12:30:00+09:00", true),
            ("sunday", "2026-11-29T12:30:00+09:00", true),
            ("monday", "2026-11-30T12:30:00+09:00", true),
            ("tuesday", "2026-12-01T12:30:00+09:00", false),
            ("thursday", "2026-12-03T12:30:00+09:00", false),
        ],
    );
}

#[test]
fn next_change_finds_the_next_boundary() {
    let s = sleep(
        "America/New_York",
        r#"{ days: sun, start: "02:30", end: "04:00" }"#,
    );
    let target = &calendar::targets(&s)[0];
    assert_eq!(
        target.next_change(utc("2026-03-07T12:00:00Z")),
        Some(utc("2026-03-08T07:00:00Z")),
        "gap: first instant after it"
    );
    assert_eq!(
        target.next_change(utc("2026-03-08T07:00:00Z")),
        Some(utc("2026-03-08T08:00:00Z"))
    );
    let fold = sleep(
        "America/New_York",
        r#"{ days: sun, start: "01:00", end: "01:30" }"#,
    );
    let target = &calendar::targets(&fold)[0];
    assert_eq!(
        target.next_change(utc("2026-11-01T05:30:00Z")),
        Some(utc("2026-11-01T06:00:00Z")),
        "reopens at the fold"
    );
    let lead = replicas(
        "Asia/Tokyo",
        "15m",
        &[r#"{ days: mon-fri, start: "18:30", end: "23:30", replicas: 2 }"#],
    );
    let target = &calendar::targets(&lead)[0];
    assert_eq!(
        target.next_change(utc("2026-11-27T12:00:00+09:00")),
        Some(utc("2026-11-27T18:15:00+09:00"))
    );
    assert_eq!(
        target.next_change(utc("2026-11-27T18:15:00+09:00")),
        Some(utc("2026-11-27T23:30:00+09:00"))
    );
    assert_eq!(
        target.next_change(utc("2026-11-27T23:30:00+09:00")),
        Some(utc("2026-11-30T18:15:00+09:00")),
        "skips the weekend"
    );
}

#[test]
fn next_change_is_none_when_nothing_ever_changes() {
    let s = sleep(
        "Asia/Tokyo",
        r#"{ days: daily, start: "00:00", end: "24:00" }"#,
    );
    let target = &calendar::targets(&s)[0];
    assert_eq!(target.state_at(utc("2026-11-27T00:00:00Z")), State::Asleep);
    assert_eq!(target.next_change(utc("2026-11-27T00:00:00Z")), None);
}
