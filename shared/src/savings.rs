//! Hours saved: what the schedule has offpeak do, in hours, per target.
//!
//! One figure per target, seen two ways:
//!
//! - [`totals`]: over a run of local days (the week `offpeak timeline` draws), the exact
//!   integral of the target's desired state ([`Target::weighted_time`]): **replica-hours** at
//!   peak (Aurora: replicas wanted × hours), **hours asleep** (EKS), **hours the refresh window is
//!   open** (masked refresh). Pure; real elapsed hours, so a 23- or 25-hour day counts as such.
//! - [`gauges`]: on every scheduled tick, per target, the same weight at the tick's instant as
//!   a CloudWatch EMF metric (namespace `offpeak`, dimensions `[Function, Target]`):
//!
//!   | function | metric | value |
//!   |---|---|---|
//!   | `aurora-replicas` | `ScheduledReplicas` | replicas the schedule wants now |
//!   | `eks-nodegroups` | `ScheduledAsleep` | 1 while the schedule wants the target asleep, else 0 |
//!   | `masked-refresh` | `RefreshWindowOpen` | 1 while the refresh window is open, else 0 |
//!
//!   The stack's dashboard (template.yaml, `HoursSavedDashboard`) turns them into the weekly
//!   figure: the **Average** over a 7-day period × 168 h. With ticks every Δ, a 7-day period
//!   holds `168 h / Δ` samples, so that product is `Δ × Σ samples`: the integral [`totals`]
//!   computes, exactly, whenever every change of state falls on the tick grid (the shipped
//!   schedule changes state only on quarter hours, so `rate(5 minutes)` is exact whatever
//!   second the ticks land on), and within one tick interval per change otherwise.
//!
//! Why a gauge averaged rather than "hours since the last tick" summed: a function doesn't know
//! its tick rate (`TickRate` may be a `cron(...)`), and at-least-once delivery means a tick may
//! be duplicated or missed. A lost or extra sample moves an average by 1/2016 of a week at 5-minute
//! ticks; it would move a sum by a whole tick's hours.
//!
//! Only ticks that sample the schedule emit ([`emit`]): a real run (not dry-run) at the clock
//! (no `at` replay) carrying no override — what EventBridge Scheduler sends a live stack. A
//! dry-run stack saves nothing, and a replayed instant is not a sample of now. The figures are
//! the schedule's: pauses, overrides and manual changes are not subtracted (the EKS function's
//! `InstanceHoursSaved` measures what a sleep actually avoided).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::calendar::{self, Kind, Target};
use crate::config::Schedule;
use crate::event::InvocationEvent;
use crate::metrics::{Emf, Unit};

/// The dimension naming the target (`prod-aurora`, `dev-eks/app`, `dev-aurora`).
pub const TARGET_DIMENSION: &str = "Target";

/// One target's total over a run of days.
#[derive(Clone, Debug, PartialEq)]
pub struct Total {
    pub kind: Kind,
    pub target: String,
    /// Replica-time, time asleep or time open, to the nanosecond.
    pub weighted: TimeDelta,
}

impl Total {
    /// The total in hours (replica-hours for Aurora).
    pub fn hours(&self) -> f64 {
        self.weighted.num_milliseconds() as f64 / 3_600_000.0
    }
}

/// Every target's total over `days` local days from `first`, midnight to midnight in `zone`
/// (the zone the timeline is drawn in; targets in other zones are measured over the same
/// instants), in schedule order.
pub fn totals(targets: &[Target<'_>], zone: Tz, first: NaiveDate, days: u16) -> Vec<Total> {
    let (lo, hi) = span(zone, first, days);
    targets
        .iter()
        .map(|t| Total {
            kind: t.kind,
            target: t.id.clone(),
            weighted: t.weighted_time(lo, hi),
        })
        .collect()
}

/// `[start of first, start of first + days)` as instants: a day starts at its first instant
/// (after the gap, if a DST change skips midnight; the first pass, if one repeats it).
pub fn span(zone: Tz, first: NaiveDate, days: u16) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |date: NaiveDate| {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        calendar::instants_at(zone, midnight)
            .first()
            .copied()
            // Unreachable: every gap in the tz database is shorter than the two days the search spans.
            .unwrap_or_else(|| midnight.and_utc())
    };
    (
        start(first),
        start(first + TimeDelta::days(i64::from(days))),
    )
}

/// The function that acts on targets of `kind` (its Lambda's and the CLI's name).
pub fn function_of(kind: Kind) -> &'static str {
    match kind {
        Kind::AuroraReplicas => "aurora-replicas",
        Kind::EksNodegroup | Kind::EksAsg => "eks-nodegroups",
        Kind::MaskedRefresh => "masked-refresh",
    }
}

/// The gauge a target of `kind` reports.
pub fn metric_name(kind: Kind) -> &'static str {
    match kind {
        Kind::AuroraReplicas => "ScheduledReplicas",
        Kind::EksNodegroup | Kind::EksAsg => "ScheduledAsleep",
        Kind::MaskedRefresh => "RefreshWindowOpen",
    }
}

/// One EMF record per target of `function`: the schedule's weight at `at` (see the module docs).
pub fn gauges(function: &str, schedule: &Schedule, at: DateTime<Utc>) -> Vec<Emf> {
    calendar::targets(schedule)
        .into_iter()
        .filter(|t| function_of(t.kind) == function)
        .map(|t| {
            Emf::new(function)
                .dimension(TARGET_DIMENSION, &t.id)
                .without_function_rollup()
                .metric(
                    metric_name(t.kind),
                    f64::from(t.state_at(at).weight()),
                    Unit::Count,
                )
        })
        .collect()
}

/// Whether `event` is a tick that samples the schedule now: a real run at the clock, no override.
pub fn samples_the_schedule(event: &InvocationEvent) -> bool {
    !event.dry_run && event.at.is_none() && event.override_.is_none()
}

/// Prints [`gauges`] at the clock's `now`, one EMF line per target, when `event` is a scheduled
/// tick ([`samples_the_schedule`]). Called once per invocation by each function's handler.
pub fn emit(function: &str, schedule: &Schedule, event: &InvocationEvent, now: DateTime<Utc>) {
    if samples_the_schedule(event) {
        for emf in gauges(function, schedule, now) {
            emf.emit(now.timestamp_millis());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone;
    use serde_json::{Value, json};

    use super::*;
    use crate::config;

    /// One target of each kind, the EKS one in London.
    const SCHEDULE: &str = r#"timezone: Asia/Tokyo
aurora_replicas:
  - cluster: shop
    lead_time: 15m
    windows:
      - { days: daily, start: "18:30", end: "23:30", replicas: 2 }
eks_nodegroups:
  - cluster: dev
    timezone: Europe/London
    nodegroups: [app]
    autoscaling_groups: [legacy]
    sleep:
      - { days: daily, start: "20:00", end: "08:00" }
masked_refresh:
  source_cluster: shop
  target_cluster: dev-db
  rules: masking.yaml
  dev_password_secret: s
  window: { days: daily, start: "03:00", end: "06:00" }
"#;

    fn schedule() -> Schedule {
        config::parse_str(SCHEDULE, Path::new("savings.yaml")).unwrap()
    }

    fn jst(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Tz::Asia__Tokyo
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn lines(function: &str, at: DateTime<Utc>) -> Vec<Value> {
        gauges(function, &schedule(), at)
            .iter()
            .map(|e| serde_json::from_str(&e.to_line(at.timestamp_millis())).unwrap())
            .collect()
    }

    #[test]
    fn each_function_reports_its_own_targets_at_the_instant() {
        // (function, instant, [(target, metric, value)])
        let cases = [
            (
                "aurora-replicas",
                jst(27, 18, 14),
                vec![("shop", "ScheduledReplicas", 0.0)],
            ),
            (
                "aurora-replicas",
                jst(27, 18, 15),
                vec![("shop", "ScheduledReplicas", 2.0)],
            ),
            // 11:00 UTC is 11:00 in London: awake.
            (
                "eks-nodegroups",
                jst(27, 20, 0),
                vec![
                    ("dev/app", "ScheduledAsleep", 0.0),
                    ("legacy", "ScheduledAsleep", 0.0),
                ],
            ),
            // 21:00 UTC is 21:00 in London: asleep.
            (
                "eks-nodegroups",
                jst(28, 6, 0),
                vec![
                    ("dev/app", "ScheduledAsleep", 1.0),
                    ("legacy", "ScheduledAsleep", 1.0),
                ],
            ),
            (
                "masked-refresh",
                jst(28, 3, 0),
                vec![("dev-db", "RefreshWindowOpen", 1.0)],
            ),
            (
                "masked-refresh",
                jst(28, 6, 0),
                vec![("dev-db", "RefreshWindowOpen", 0.0)],
            ),
            ("no-such-function", jst(28, 6, 0), vec![]),
        ];
        for (function, at, want) in cases {
            let got: Vec<(String, String, f64)> = lines(function, at)
                .iter()
                .map(|doc| {
                    let name = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let value = doc[&name].as_f64().unwrap();
                    (doc["Target"].as_str().unwrap().to_owned(), name, value)
                })
                .collect();
            let want: Vec<(String, String, f64)> = want
                .into_iter()
                .map(|(t, m, v)| (t.to_owned(), m.to_owned(), v))
                .collect();
            assert_eq!(got, want, "{function} at {at}");
        }
    }

    #[test]
    fn a_gauge_is_one_emf_record_per_target_without_the_function_rollup() {
        let at = jst(27, 19, 0);
        let doc = &lines("aurora-replicas", at)[0];
        assert_eq!(
            doc,
            &json!({
                "_aws": {
                    "Timestamp": at.timestamp_millis(),
                    "CloudWatchMetrics": [{
                        "Namespace": "offpeak",
                        "Dimensions": [["Function", "Target"]],
                        "Metrics": [{"Name": "ScheduledReplicas", "Unit": "Count"}],
                    }],
                },
                "Function": "aurora-replicas",
                "Target": "shop",
                "ScheduledReplicas": 2.0,
            })
        );
    }

    #[test]
    fn only_a_real_tick_at_the_clock_samples_the_schedule() {
        let event = |json: &str| InvocationEvent::from_json_str(json).unwrap();
        assert!(samples_the_schedule(&event("")));
        assert!(samples_the_schedule(&event(r#"{"dry_run": false}"#)));
        assert!(!samples_the_schedule(&event(r#"{"dry_run": true}"#)));
        assert!(!samples_the_schedule(&event(
            r#"{"at": "2026-11-27T18:30:00+09:00"}"#
        )));
        assert!(!samples_the_schedule(&event(
            r#"{"override": {"target": "dev/app", "state": "awake", "until": "2026-11-28T18:00:00+09:00"}}"#
        )));
    }

    #[test]
    fn totals_run_midnight_to_midnight_in_the_zone_given() {
        let s = schedule();
        let targets = calendar::targets(&s);
        let first = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let got: Vec<(&str, f64)> = totals(&targets, s.timezone, first, 7)
            .iter()
            .map(|t| (function_of(t.kind), t.hours()))
            .collect();
        // shop: 18:15-23:30 × 2 replicas × 7 days = 73.5. dev/app, legacy: London nights of
        // 12 h; the Tokyo week is London's Sun 15:00 → Sun 15:00 (GMT, no change that week), so
        // the nights opening Sun..Sat, 7 × 12 = 84. dev-db: 3 h × 7 = 21.
        assert_eq!(
            got,
            [
                ("aurora-replicas", 73.5),
                ("eks-nodegroups", 84.0),
                ("eks-nodegroups", 84.0),
                ("masked-refresh", 21.0),
            ]
        );
        let one_day = totals(&targets, s.timezone, first, 1);
        assert_eq!(one_day[0].hours(), 10.5);
    }

    #[test]
    fn a_day_starts_at_its_first_instant() {
        // Santiago springs forward at midnight: 2026-09-06 00:00 does not exist, the day starts
        // at 01:00 -03.
        let zone: Tz = "America/Santiago".parse().unwrap();
        let (lo, hi) = span(zone, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap(), 1);
        assert_eq!(lo, Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).unwrap());
        assert_eq!(hi - lo, TimeDelta::hours(23));
    }
}
