//! `make demo`: a week of offpeak in fast-forward, with no AWS account.
//!
//! Seeds a production Aurora cluster and a development EKS cluster (two node groups and their Auto
//! Scaling groups) in a moto server, and, for the masked refresh, production and development
//! Aurora clusters in a second moto server with a local PostgreSQL database standing in for the
//! clone (the world of the masked refresh's end-to-end tests,
//! `offpeak_tests::masked_refresh_support`, reused as is). Then it replays Monday
//! 2026-11-30 00:00 JST to Monday 2026-12-07 09:00 JST through the three functions' real tick code
//! (`infra/demo/schedules.yaml`), printing each applied action and each notification that would
//! have been sent, and a summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use offpeak_eks_nodegroups::Step;
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config::parse_str;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::lambda::Ctx;
use offpeak_shared::notify::{Notifier, SentNotifications};
use offpeak_shared::state::DynamoStateStore;
use offpeak_tests::aurora;
use offpeak_tests::masked_refresh_support::{Setup, World};
use offpeak_tests::moto::Moto;
use offpeak_tests::node_groups::NodeGroups;

const TABLE: &str = "offpeak-state";
const SCHEDULE: &str = include_str!("../../../infra/demo/schedules.yaml");
const PROD: &str = "prod-aurora";
const EKS: &str = "dev-eks";
/// Users in the stand-in production database (and twice as many orders).
const USERS: u32 = 500;

fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap()
}

/// `Mon 18:15 JST` (Asia/Tokyo has no daylight saving time).
fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&jst()).format("%a %H:%M JST").to_string()
}

/// Every 15 minutes, as EventBridge Scheduler would invoke the functions.
fn ticks(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut at = from;
    while at <= to {
        out.push(at);
        at += Duration::minutes(15);
    }
    out
}

struct Timeline {
    out: File,
    notifications: usize,
    failures: usize,
}

impl Timeline {
    fn line(&mut self, at: DateTime<Utc>, function: &str, text: &str) {
        // Clears the progress bar before the line; the bar is redrawn after the tick.
        eprint!("\r\x1b[K");
        self.print(&format!("{}  {function:<16} {text}", local(at)));
    }

    fn print(&mut self, text: &str) {
        writeln!(self.out, "{text}").expect("stdout");
    }

    fn notifications(&mut self, at: DateTime<Utc>, sent: &SentNotifications) {
        for n in sent.take() {
            self.notifications += 1;
            self.line(at, "  notify", &n.subject());
        }
    }
}

/// The timeline's own handle on stdout; the process's stdout then goes to `/dev/null`, which
/// silences the CloudWatch EMF records the functions print (one per tick, as in Lambda).
fn timeline_stdout() -> File {
    // SAFETY: plain descriptor calls on fds this process owns; nothing has been written to
    // stdout yet, so no buffered output is lost, and the duplicated fd is owned by the File only.
    unsafe {
        let fd = libc::dup(1);
        assert!(fd >= 0, "dup(stdout) failed");
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        assert!(null >= 0, "open(/dev/null) failed");
        libc::dup2(null, 1);
        libc::close(null);
        File::from_raw_fd(fd)
    }
}

fn progress(done: usize, total: usize, at: DateTime<Utc>) {
    const WIDTH: usize = 28;
    let filled = done * WIDTH / total.max(1);
    // The replay ends on the next Monday morning, shown as the last of the seven days.
    let day = ((at - start()).num_hours() / 24 + 1).min(7);
    eprint!(
        "\r[{}{}] day {day}/7  {}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        local(at)
    );
    let _ = std::io::stderr().flush();
}

fn start() -> DateTime<Utc> {
    jst()
        .with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn end() -> DateTime<Utc> {
    jst()
        .with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Production Aurora: a writer and a reader, with the parameter group new replicas inherit.
async fn seed_aurora(sdk: &aws_config::SdkConfig) {
    let rds = aws_sdk_rds::Client::new(sdk);
    aurora::production(&rds, PROD, &[("team", "payments")], &["writer", "reader"]).await;
}

/// Development EKS: node groups `app` (2..6, 3 running) and `batch` (0..4, 2 running), each with
/// the Auto Scaling group EKS would have made, carrying the cluster autoscaler's discovery tags.
async fn seed_eks(sdk: &aws_config::SdkConfig) {
    let world = NodeGroups::new(sdk).await;
    world.cluster(EKS).await;
    for (name, size) in [("app", (2, 6, 3)), ("batch", (0, 4, 2))] {
        world.nodegroup(EKS, name, size).await;
    }
}

/// Empties the stand-in database and fills it with production's (unmasked) data again.
async fn reload_production(world: &World, users: u32) {
    world
        .pool()
        .exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .await;
    world.pool().create_schema(users).await;
}

#[tokio::main]
async fn main() {
    let began = Instant::now();
    let path = offpeak_tests::workspace_root().join("infra/demo/schedules.yaml");
    let schedule = parse_str(SCHEDULE, Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));

    eprintln!("offpeak demo: starting moto and PostgreSQL, seeding the world...");
    // aurora-replicas and eks-nodegroups share one account.
    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    seed_aurora(&sdk).await;
    seed_eks(&sdk).await;
    DynamoStateStore::from_sdk_config(&sdk, TABLE)
        .create_table_if_missing()
        .await
        .expect("state table");
    let (notifier, sent) = Notifier::in_memory();
    let ctx = Ctx {
        aws: AwsCtx::from_sdk_config(sdk.clone())
            .with_state_table(TABLE)
            .with_notifier(notifier),
        schedule: Arc::new(schedule.clone()),
    };

    // masked-refresh: production and development Aurora in their own moto server, and a local
    // PostgreSQL database with personal data standing in for the clone's database.
    let mut refresh = World::new(
        Setup {
            keep_previous: 1,
            users: USERS,
            ..Setup::default()
        },
        offpeak_tests::pg_database().await,
    )
    .await;
    refresh.cfg = schedule
        .masked_refresh
        .clone()
        .expect("the demo schedule has a masked refresh");
    let (refresh_notifier, refresh_sent) = Notifier::in_memory();
    refresh.notifier = refresh_notifier;
    let personal_before = refresh.survivors().await.len();

    let instants = ticks(start(), end());
    eprintln!(
        "offpeak demo: replaying {} → {} in {} ticks (schedule infra/demo/schedules.yaml)\n",
        local(start()),
        local(end()),
        instants.len()
    );
    let mut out = Timeline {
        out: timeline_stdout(),
        notifications: 0,
        failures: 0,
    };
    let (mut added, mut removed, mut refreshes) = (0, 0, 0);
    let mut asleep_since: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut sleep_hours: BTreeMap<String, f64> = BTreeMap::new();
    let event = InvocationEvent::default();
    out.print("time (local)   function         action / notification");

    for (i, &at) in instants.iter().enumerate() {
        match offpeak_aurora_replicas::tick(&ctx, &event, at).await {
            Ok(report) => {
                for a in &report.applied {
                    match a {
                        offpeak_aurora_replicas::Action::Create(_) => added += 1,
                        offpeak_aurora_replicas::Action::Delete(_) => removed += 1,
                    }
                    out.line(at, "aurora-replicas", &a.to_string());
                }
                for f in &report.failed {
                    out.failures += 1;
                    out.line(
                        at,
                        "aurora-replicas",
                        &format!("FAILED {}: {}", f.action, f.error),
                    );
                }
            }
            Err(e) => {
                out.failures += 1;
                out.line(at, "aurora-replicas", &format!("tick failed: {e}"));
            }
        }
        out.notifications(at, &sent);

        match offpeak_eks_nodegroups::tick(&ctx, &event, at).await {
            Ok(report) => {
                for a in &report.applied {
                    match &a.step {
                        Step::ScaleToZero { .. } => {
                            asleep_since.insert(a.target.clone(), at);
                        }
                        Step::RestoreScaling { .. } => {
                            if let Some(since) = asleep_since.remove(&a.target) {
                                *sleep_hours.entry(a.target.clone()).or_default() +=
                                    (at - since).num_minutes() as f64 / 60.0;
                            }
                        }
                        _ => {}
                    }
                    out.line(at, "eks-nodegroups", &a.to_string());
                }
                for f in &report.failed {
                    out.failures += 1;
                    out.line(
                        at,
                        "eks-nodegroups",
                        &format!("FAILED {}: {}", f.action, f.error),
                    );
                }
            }
            Err(e) => {
                out.failures += 1;
                out.line(at, "eks-nodegroups", &format!("tick failed: {e}"));
            }
        }
        out.notifications(at, &sent);

        if at.with_timezone(&jst()).format("%H:%M").to_string() == "03:00" {
            // Tonight's clone is a fresh copy of production: the stand-in database gets the
            // unmasked data back before the window opens.
            reload_production(&refresh, USERS).await;
            out.line(
                at,
                "  (demo)",
                "stand-in database reloaded with unmasked production data",
            );
        }
        match refresh.try_tick(at, false).await {
            Ok(report) => {
                for a in &report.applied {
                    out.line(at, "masked-refresh", &a.to_string());
                }
                for f in &report.failed {
                    out.failures += 1;
                    out.line(
                        at,
                        "masked-refresh",
                        &format!("FAILED {}: {}", f.action, f.error),
                    );
                }
            }
            Err(e) => {
                out.failures += 1;
                out.line(at, "masked-refresh", &format!("tick failed: {e}"));
            }
        }
        // The invariant the function guarantees, checked after every tick: nothing reachable
        // from development holds unverified data.
        refresh.assert_nothing_unmasked_reachable().await;
        for n in refresh_sent.take() {
            if n.subject().contains("done") {
                refreshes += 1;
            }
            out.notifications += 1;
            out.line(at, "  notify", &n.subject());
        }

        progress(i + 1, instants.len(), at);
    }
    eprint!("\r\x1b[K");

    let personal_after = refresh.survivors().await.len();
    let mut summary = vec![
        String::new(),
        format!("summary, {} → {}:", local(start()), local(end())),
        format!("  aurora-replicas  {added} replicas added, {removed} removed"),
    ];
    for (target, hours) in &sleep_hours {
        summary.push(format!("  eks-nodegroups   {target} asleep {hours:.1} h"));
    }
    for (target, since) in &asleep_since {
        summary.push(format!(
            "  eks-nodegroups   {target} still asleep since {}",
            local(*since)
        ));
    }
    summary.push(format!(
        "  masked-refresh   {refreshes} refreshes completed; personal values in the stand-in \
         database after the last run: {personal_after} (each night starts from {personal_before})"
    ));
    summary.push(format!(
        "  {} notifications, {} failures, {:.1} s",
        out.notifications,
        out.failures,
        began.elapsed().as_secs_f64()
    ));
    for line in &summary {
        out.print(line);
    }
    if out.failures > 0 {
        std::process::exit(1);
    }
}
