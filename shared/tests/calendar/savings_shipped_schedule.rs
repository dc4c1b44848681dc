//! Hours saved for the shipped schedule (`infra/schedules.yaml`), counted by hand from the YAML.
//!
//! Each week is Monday 00:00 to Monday 00:00 in Asia/Tokyo (the schedule's zone, the one
//! `offpeak timeline` draws in); targets in other zones are measured over the same instants.
//! Then the same weeks are sampled the way a live stack samples them — every 5 minutes, at an
//! arbitrary second — and the dashboard's formula (Average × 168 h) must give the same figures.
//!
//! Reading the shipped schedule (all in Tokyo unless said):
//! - prod-aurora, lead 15m: 2 replicas Mon–Fri 18:30–23:30 except jp-holidays → 18:15–23:30 =
//!   5.25 h × 2 = 10.5 a day; 1 replica Sat/Sun/jp-holidays 10:00–22:00 → 09:45–22:00 = 12.25 h;
//!   1 replica Fri 23:00–02:00 → from 22:45, under the 2 until 23:30, so 1 from 23:30 to Sat 02:00
//!   = 2.5 h (0.5 on Friday, 2 on Saturday).
//! - prod-aurora-us, America/New_York, no lead: 3 replicas weekdays 08:00–18:00 = 30 replica-hours
//!   a day. A Tokyo week is Sun 10:00/11:00 → Sun 10:00/11:00 in New York, so it always holds
//!   Mon–Fri whole: 150 a week. New York's DST changes happen at 02:00 on a Sunday, outside these
//!   windows, so they never change this figure (the week of 2026-10-26 shows it).
//! - dev-eks/app, dev-eks/batch, dev-legacy: asleep Fri 22:00 → Mon 07:30, all day on jp-holidays,
//!   and Mon–Thu nights 22:00–07:30 (9.5 h) except nights opening on freeze-days (2026-12-24).
//! - sandbox-eks/*, Europe/London: asleep daily 20:00–08:00, 12 h a night, 13 h across the
//!   autumn change (2026-10-25), 11 h across the spring one (2027-03-28). Tokyo midnight is
//!   15:00 (GMT) or 16:00 (BST) in London, so a Tokyo week holds the nights opening Sun..Sat.
//! - dev-aurora (masked refresh): 03:00–06:00 daily = 3 h × 7 = 21.

use std::path::Path;

use chrono::{NaiveDate, TimeDelta};
use offpeak_shared::calendar::{self, Kind};
use offpeak_shared::config::{self, Schedule};
use offpeak_shared::savings::{self, Total};

fn shipped() -> Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/schedules.yaml");
    config::load(&path).expect("the shipped schedule loads")
}

/// The targets, in schedule order, that every row below lists hours for.
const TARGETS: [&str; 7] = [
    "prod-aurora",
    "prod-aurora-us",
    "dev-eks/app",
    "dev-eks/batch",
    "dev-legacy",
    "sandbox-eks/*",
    "dev-aurora",
];

/// (week starting Monday, why it is here, hours per target in [`TARGETS`] order)
fn weeks() -> Vec<(&'static str, &'static str, [f64; 7])> {
    // An ordinary week.
    // prod-aurora: Mon–Thu 4 × 10.5 = 42; Fri 10.5 + 0.5 = 11; Sat 2 + 12.25 = 14.25;
    //   Sun 12.25 → 79.5.
    // EKS (Tokyo): Mon 00:00–07:30 (the weekend span) 7.5; nights opening Mon–Thu 4 × 9.5 = 38;
    //   Fri 22:00 → week's end: 2 + 24 + 24 = 50 → 95.5 (awake: 14.5 h × 5 days = 72.5 = 168 − 95.5).
    // sandbox (London, GMT all week): 7 × 12 = 84.
    let ordinary = [79.5, 150.0, 95.5, 95.5, 95.5, 84.0, 21.0];
    vec![
        ("2026-11-30", "an ordinary week", ordinary),
        // London falls back Sun 2026-10-25 01:00 UTC (10:00 in Tokyo, inside this Tokyo week).
        // sandbox: nights opening Sun 18..Fri 23 are 12 h; Sat 24 20:00 BST → Sun 08:00 GMT is
        // 13 h → 6 × 12 + 13 = 85. Everything else as an ordinary week.
        (
            "2026-10-19",
            "London's autumn DST change",
            [79.5, 150.0, 95.5, 95.5, 95.5, 85.0, 21.0],
        ),
        // New York falls back Sun 2026-11-01 02:00 EDT: the week ends at Sun 10:00 EST instead
        // of 11:00 EDT, outside every window. Nothing changes.
        ("2026-10-26", "New York's autumn DST change", ordinary),
        // London springs forward Sun 2027-03-28 01:00 UTC: Sat 27 20:00 GMT → Sun 08:00 BST is
        // 11 h → 6 × 12 + 11 = 83.
        (
            "2027-03-22",
            "London's spring DST change",
            [79.5, 150.0, 95.5, 95.5, 95.5, 83.0, 21.0],
        ),
        // Thu 2026-12-24 is a freeze day: the Mon–Thu night opening that day is dropped,
        // 95.5 − 9.5 = 86 for EKS. The replicas don't use freeze-days: 79.5 (Fri 25 is no
        // holiday).
        (
            "2026-12-21",
            "a freeze day (except:)",
            [79.5, 150.0, 86.0, 86.0, 86.0, 84.0, 21.0],
        ),
        // Year end: Mon 28 a working day; Tue 29, Wed 30, Thu 31 and Fri 2027-01-01 are
        // jp-holidays; Sat 2, Sun 3.
        // prod-aurora: Mon 10.5 (the only working-day peak); the weekend/holiday window on Tue,
        //   Wed, Thu, Fri, Sat, Sun 6 × 12.25 = 73.5; the Friday late window Fri 01-01 22:45 →
        //   Sat 02:00, 3.25 h at 1 (the holiday window closed at 22:00) → 87.25.
        // prod-aurora-us: its own calendar has no holidays, Mon 28..Fri 01-01 → 150.
        // EKS: Mon 00:00–07:30 7.5; then asleep without a break from Mon 22:00 (the Mon night,
        //   then the holidays, then the weekend span) to the week's end: 2 + 6 × 24 = 146 → 153.5
        //   (awake only Mon 07:30–22:00, 14.5 h).
        (
            "2026-12-28",
            "the year-end holidays",
            [87.25, 150.0, 153.5, 153.5, 153.5, 84.0, 21.0],
        ),
    ]
}

fn monday(date: &str) -> NaiveDate {
    let d: NaiveDate = date.parse().unwrap();
    assert_eq!(d.format("%a").to_string(), "Mon", "{date}");
    d
}

fn week(schedule: &Schedule, date: &str) -> Vec<Total> {
    let targets = calendar::targets(schedule);
    savings::totals(&targets, schedule.timezone, monday(date), 7)
}

#[test]
fn weekly_totals_equal_the_hand_count() {
    let schedule = shipped();
    for (date, why, hours) in weeks() {
        let got: Vec<(String, f64)> = week(&schedule, date)
            .iter()
            .map(|t| (t.target.clone(), t.hours()))
            .collect();
        let want: Vec<(String, f64)> = TARGETS
            .iter()
            .zip(hours)
            .map(|(t, h)| ((*t).to_owned(), h))
            .collect();
        assert_eq!(got, want, "week of {date} ({why})");
    }
}

#[test]
fn kinds_match_the_figures_the_timeline_labels() {
    let kinds: Vec<Kind> = week(&shipped(), "2026-11-30")
        .iter()
        .map(|t| t.kind)
        .collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
            AuroraReplicas,
            AuroraReplicas,
            EksNodegroup,
            EksNodegroup,
            EksAsg,
            EksNodegroup,
            MaskedRefresh
        ]
    );
}

/// What the dashboard computes from a live stack's gauges: every function ticks every 5 minutes
/// (here at 2 min 17 s past each mark, as EventBridge Scheduler's `rate()` may), each tick emits
/// [`savings::gauges`], and the widget takes the Average over the 7-day period × 168 h.
#[test]
fn the_dashboard_formula_over_5_minute_ticks_gives_the_same_weekly_figures() {
    let schedule = shipped();
    let tick = TimeDelta::minutes(5);
    for (date, why, _) in weeks() {
        let (lo, hi) = savings::span(schedule.timezone, monday(date), 7);
        let ticks: Vec<_> = (0..)
            .map(|k| lo + TimeDelta::seconds(137) + tick * k)
            .take_while(|t| *t < hi)
            .collect();
        // 7 days hold 2016 five-minute ticks, whatever the DST changes (real time).
        assert_eq!(ticks.len(), 2016, "{date}");
        let mut sums = std::collections::BTreeMap::<String, f64>::new();
        for function in ["aurora-replicas", "eks-nodegroups", "masked-refresh"] {
            for at in &ticks {
                for emf in savings::gauges(function, &schedule, *at) {
                    let doc = emf.to_json(at.timestamp_millis());
                    let metric = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                        .as_str()
                        .unwrap();
                    let target = doc["Target"].as_str().unwrap().to_owned();
                    *sums.entry(target).or_default() += doc[metric].as_f64().unwrap();
                }
            }
        }
        for total in week(&schedule, date) {
            let average = sums[&total.target] / ticks.len() as f64;
            let dashboard = average * 168.0;
            assert!(
                (dashboard - total.hours()).abs() < 1e-9,
                "week of {date} ({why}), {}: dashboard {dashboard}, timeline {}",
                total.target,
                total.hours()
            );
        }
    }
}
