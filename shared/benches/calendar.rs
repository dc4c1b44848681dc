//! Calendar engine benchmarks: the desired state of 10,000 targets at one instant, and walking a
//! whole year of `next_change` for the shipped schedule's targets.
//!
//! Run with `cargo bench -p offpeak-shared --bench calendar` (or `make bench`).

use std::hint::black_box;
use std::path::Path;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use offpeak_shared::calendar;
use offpeak_shared::config::{self, Schedule};

const ZONES: [&str; 4] = [
    "Asia/Tokyo",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
];

/// `n` Aurora targets over four zones, each with a weekday peak (except holidays), a weekend
/// window and a lead time, so every lookup does real work. Built from one parsed target per zone.
fn many_targets(n: usize) -> Schedule {
    let mut yaml = String::from(
        "timezone: Asia/Tokyo\ncalendars:\n  hol: [2026-12-31, 2027-01-01, 2027-01-11]\naurora_replicas:\n",
    );
    for zone in ZONES {
        yaml += &format!(
            "  - cluster: {zone}\n    timezone: {zone}\n    lead_time: 15m\n    windows:\n      - {{ days: mon-fri, except: [hol], start: \"18:30\", end: \"23:30\", replicas: 2 }}\n      - {{ days: [sat, sun, hol], start: \"10:00\", end: \"22:00\", replicas: 1 }}\n"
        );
    }
    let mut schedule =
        config::parse_str(&yaml, Path::new("bench.yaml")).expect("generated schedule is valid");
    let templates = std::mem::take(&mut schedule.aurora_replicas);
    schedule.aurora_replicas = (0..n)
        .map(|i| {
            let mut target = templates[i % templates.len()].clone();
            target.cluster = format!("c{i}");
            target
        })
        .collect();
    schedule
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn desired_10k(c: &mut Criterion) {
    let schedule = many_targets(10_000);
    let at = instant("2026-11-27T09:20:00Z");
    c.bench_function("desired: 10k targets at one instant", |b| {
        b.iter(|| calendar::desired(black_box(&schedule), black_box(at)))
    });
}

/// Every change of every target of the shipped schedule over one year.
fn year_of_next_change(c: &mut Criterion) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/schedules.yaml");
    let schedule = config::load(&shipped).unwrap();
    let targets = calendar::targets(&schedule);
    let (start, end) = (
        instant("2026-01-01T00:00:00Z"),
        instant("2027-01-01T00:00:00Z"),
    );
    c.bench_function("next_change: one year, every shipped target", |b| {
        b.iter(|| {
            let mut changes = 0usize;
            for target in &targets {
                let mut t = start;
                while let Some(next) = target.next_change(t).filter(|n| *n < end) {
                    changes += 1;
                    t = next;
                }
            }
            black_box(changes)
        })
    });
}

criterion_group!(benches, desired_10k, year_of_next_change);
criterion_main!(benches);
