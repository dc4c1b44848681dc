//! AWS calls per tick and tick wall time against moto, for 1, 50 and 500 targets.
//!
//! Each function's library `tick` runs in this process with the SDK's HTTP client wrapped by a
//! counting [`Wire`] (`offpeak_tests::wire`), so every request (pagination and retries included) is counted by
//! `service:Operation`. A scenario is a cycle of ticks through the schedule's transitions and the
//! steady ticks between them, repeated [`CYCLES`] times on later days (or weeks) against the same
//! moto; wall times are the median per phase, calls are those of the first cycle (a later cycle
//! that differs is reported).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config::parse_str;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::lambda::Ctx;
use offpeak_shared::report::Report;
use offpeak_tests::Moto;
use offpeak_tests::wire::{Tally, Wire, tally};

use crate::world::{STATE_TABLE, World, names};

/// Target counts measured.
pub const SIZES: [usize; 3] = [1, 50, 500];
/// Cycles per scenario; wall times are the median over them.
const CYCLES: usize = 3;
/// EKS node groups per cluster (EKS allows 30 managed node groups per cluster by default).
const NODEGROUPS_PER_CLUSTER: usize = 10;

/// One tick of a cycle: its label and its instant in the first cycle.
struct Phase {
    label: &'static str,
    at: DateTime<Utc>,
}

/// What one phase cost over all cycles.
pub struct Measured {
    pub label: &'static str,
    pub calls: Tally,
    /// Totals of later cycles that differ from the first's.
    pub other_totals: Vec<usize>,
    pub wall: Vec<Duration>,
    pub planned: usize,
    pub failed: usize,
}

/// One function at one size.
pub struct Scenario {
    pub function: &'static str,
    pub targets: usize,
    /// How the targets are laid out, for the table.
    pub shape: String,
    pub seed_time: Duration,
    pub phases: Vec<Measured>,
}

/// Runs every scenario: Aurora, then EKS, each at every size in [`SIZES`].
pub async fn run() -> Vec<Scenario> {
    let mut out = Vec::new();
    for targets in SIZES {
        eprintln!("bench: ticks of aurora-replicas, {targets} cluster(s)");
        out.push(aurora(targets).await);
    }
    for targets in SIZES {
        eprintln!("bench: ticks of eks-nodegroups, {targets} node group(s)");
        out.push(eks(targets).await);
    }
    out
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a valid instant")
        .with_timezone(&Utc)
}

/// `clusters` Aurora clusters wanting one replica each 09:00–18:00 UTC daily, 15 minutes' lead.
async fn aurora(clusters: usize) -> Scenario {
    let ids = names("bench-aurora", clusters);
    let mut yaml = String::from("timezone: UTC\naurora_replicas:\n");
    for id in &ids {
        yaml.push_str(&format!(
            "  - cluster: {id}\n    lead_time: 15m\n    windows:\n      \
             - {{ days: daily, start: \"09:00\", end: \"18:00\", replicas: 1 }}\n"
        ));
    }
    let phases = [
        ("window opens in 15 min: create", "2026-11-27T08:45:00Z"),
        ("next tick: replicas ready", "2026-11-27T08:50:00Z"),
        ("steady, in window", "2026-11-27T08:55:00Z"),
        ("window closed: delete", "2026-11-27T18:00:00Z"),
        ("next tick: converged", "2026-11-27T18:05:00Z"),
        ("steady, off-peak", "2026-11-27T18:10:00Z"),
    ];
    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    let seeding = Instant::now();
    World::new(&sdk).await.aurora_clusters(&ids).await;
    let seed_time = seeding.elapsed();
    let shape = format!("{clusters} cluster(s), a writer each, 1 replica in the window");
    let phases = cycles(&moto, &yaml, &phases, TimeDelta::days(1), aurora_tick).await;
    Scenario {
        function: "aurora-replicas",
        targets: clusters,
        shape,
        seed_time,
        phases,
    }
}

/// `nodegroups` node groups, [`NODEGROUPS_PER_CLUSTER`] per cluster, asleep Friday 22:00 to
/// Monday 07:30 Tokyo time.
async fn eks(nodegroups: usize) -> Scenario {
    let clusters = names("bench-eks", nodegroups.div_ceil(NODEGROUPS_PER_CLUSTER));
    let all = names("ng", nodegroups);
    let layout: Vec<(String, Vec<String>)> = clusters
        .into_iter()
        .zip(all.chunks(NODEGROUPS_PER_CLUSTER))
        .map(|(c, groups)| (c, groups.to_vec()))
        .collect();
    let mut yaml = String::from("timezone: Asia/Tokyo\neks_nodegroups:\n");
    for (cluster, groups) in &layout {
        yaml.push_str(&format!(
            "  - cluster: {cluster}\n    nodegroups: [{}]\n    sleep:\n      \
             - {{ from: \"fri 22:00\", to: \"mon 07:30\" }}\n",
            groups.join(", ")
        ));
    }
    let phases = [
        ("Fri 22:00 JST: sleep", "2026-11-27T13:00:00Z"),
        ("steady, asleep", "2026-11-27T13:05:00Z"),
        ("Mon 07:30 JST: wake, restore", "2026-11-29T22:30:00Z"),
        ("steady, awake", "2026-11-29T22:35:00Z"),
    ];
    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    let seeding = Instant::now();
    let world = World::new(&sdk).await;
    for (cluster, groups) in &layout {
        world.eks_cluster(cluster, groups).await;
    }
    let seed_time = seeding.elapsed();
    let shape = format!(
        "{nodegroups} node group(s) in {} cluster(s), each with its Auto Scaling group",
        layout.len()
    );
    let phases = cycles(&moto, &yaml, &phases, TimeDelta::weeks(1), eks_tick).await;
    Scenario {
        function: "eks-nodegroups",
        targets: nodegroups,
        shape,
        seed_time,
        phases,
    }
}

fn aurora_tick(ctx: &Ctx, at: DateTime<Utc>) -> TickFuture<'_> {
    Box::pin(async move {
        let report = offpeak_aurora_replicas::tick(ctx, &InvocationEvent::default(), at)
            .await
            .unwrap_or_else(|e| panic!("aurora-replicas tick at {at}: {e}"));
        outcome(&report)
    })
}

fn eks_tick(ctx: &Ctx, at: DateTime<Utc>) -> TickFuture<'_> {
    Box::pin(async move {
        let report = offpeak_eks_nodegroups::tick(ctx, &InvocationEvent::default(), at)
            .await
            .unwrap_or_else(|e| panic!("eks-nodegroups tick at {at}: {e}"));
        outcome(&report)
    })
}

/// `(planned, failed)` of a tick.
fn outcome<A: std::fmt::Debug>(report: &Report<A>) -> (usize, usize) {
    if !report.failed.is_empty() {
        eprintln!(
            "bench: failed actions at {}: {:?}",
            report.at, report.failed
        );
    }
    (report.plan.len(), report.failed.len())
}

type TickFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = (usize, usize)> + 'a>>;

/// Runs the phases [`CYCLES`] times, `period` apart, each tick timed and its requests counted.
async fn cycles<T>(
    moto: &Moto,
    yaml: &str,
    phases: &[(&'static str, &str)],
    period: TimeDelta,
    tick: T,
) -> Vec<Measured>
where
    T: for<'a> Fn(&'a Ctx, DateTime<Utc>) -> TickFuture<'a>,
{
    let schedule = parse_str(yaml, Path::new("bench-schedule.yaml"))
        .unwrap_or_else(|e| panic!("bench schedule: {e}"));
    let wire = Wire::default();
    let ctx = Ctx {
        aws: AwsCtx::from_sdk_config(wire.wrap(&moto.sdk_config().await))
            .with_state_table(STATE_TABLE),
        schedule: Arc::new(schedule),
    };
    let phases: Vec<Phase> = phases
        .iter()
        .map(|(label, at)| Phase { label, at: utc(at) })
        .collect();
    let mut measured: Vec<Measured> = phases
        .iter()
        .map(|p| Measured {
            label: p.label,
            calls: Tally::new(),
            other_totals: Vec::new(),
            wall: Vec::new(),
            planned: 0,
            failed: 0,
        })
        .collect();
    for cycle in 0..CYCLES {
        let shift = period * i32::try_from(cycle).expect("few cycles");
        for (phase, m) in phases.iter().zip(&mut measured) {
            wire.take();
            wire.take_timings();
            let started = Instant::now();
            let (planned, failed) = tick(&ctx, phase.at + shift).await;
            m.wall.push(started.elapsed());
            let calls = tally(&wire.take());
            if cycle == 0 {
                eprintln!(
                    "bench: {}: {}",
                    phase.label,
                    by_operation(&wire.take_timings())
                );
            }
            m.failed += failed;
            if cycle == 0 {
                (m.calls, m.planned) = (calls, planned);
            } else if calls != m.calls {
                m.other_totals.push(calls.values().sum());
            }
        }
    }
    measured
}

/// Each operation's share of a tick's wall time, slowest total first: `op n×, total ms (mean)`.
fn by_operation(timings: &[(String, Duration)]) -> String {
    let mut totals: BTreeMap<&str, (u32, Duration)> = BTreeMap::new();
    for (name, took) in timings {
        let entry = totals.entry(name.as_str()).or_default();
        *entry = (entry.0 + 1, entry.1 + *took);
    }
    let mut rows: Vec<_> = totals.into_iter().collect();
    rows.sort_by_key(|(_, (_, total))| std::cmp::Reverse(*total));
    let shown: Vec<String> = rows
        .iter()
        .map(|(name, (n, total))| {
            let ms = total.as_secs_f64() * 1000.0;
            format!("{name} {n}x {ms:.0} ms ({:.1})", ms / f64::from(*n))
        })
        .collect();
    shown.join(", ")
}
