//! Whole-flow tests of a tick: the fake RDS, the in-memory state store and notifier.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::notify::{Notifier, SentNotifications, Severity};
use offpeak_shared::report::Report;
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{HookedStore, OnWrite, StateError, StateStore};

use crate::action::Action;
use crate::cluster::LEASE_TTL;
use crate::memory::Memory;
use crate::rds::fake::{AZS, FakeRds};
use crate::testing::{schedule, utc};
use crate::{Deps, FUNCTION, TickError, run};

const YAML: &str = r#"
timezone: Asia/Tokyo
aurora_replicas:
  - cluster: prod
    instance_class: db.r7g.large
    lead_time: 15m
    windows:
      - { days: mon-fri, start: "18:30", end: "23:30", replicas: 2 }
  - cluster: prod-us
    timezone: Asia/Tokyo
    lead_time: 15m
    enforce: true
    windows:
      - { days: mon-fri, start: "18:30", end: "23:30", replicas: 1 }
"#;

/// Friday 2026-11-27 18:15 JST: 15 minutes before the window, i.e. when replicas are requested.
const PEAK: &str = "2026-11-27T09:15:00Z";
/// The same evening, 23:30 JST: the window has closed.
const OFF_PEAK: &str = "2026-11-27T14:30:00Z";

fn minutes_after(at: &str, minutes: i64) -> DateTime<Utc> {
    utc(at) + chrono::Duration::minutes(minutes)
}

/// A state store that yields before every call (so concurrent ticks interleave), counts writes,
/// and refuses every write of the registry while `refuse` holds.
fn store(refuse: Arc<AtomicBool>) -> HookedStore {
    HookedStore::new(move |target| {
        if target == registry::key(FUNCTION) && refuse.load(Ordering::SeqCst) {
            return OnWrite::Answer(Err(StateError::Contended {
                target: target.to_owned(),
                attempts: registry::ATTEMPTS,
            }));
        }
        OnWrite::Proceed
    })
}

/// One world: two clusters (writer + a human reader each), state, notifications.
struct World {
    rds: FakeRds,
    store: HookedStore,
    /// While set, every write of the registry fails.
    refuse_registry: Arc<AtomicBool>,
    notifier: Notifier,
    sent: SentNotifications,
    schedule: Schedule,
}

impl World {
    fn new() -> Self {
        let rds = FakeRds::new();
        for c in ["prod", "prod-us"] {
            rds.add_cluster(c);
            rds.add_instance(c, &format!("{c}-writer"), true);
            rds.add_instance(c, &format!("{c}-reader"), false);
        }
        let (notifier, sent) = Notifier::in_memory();
        let refuse_registry = Arc::new(AtomicBool::new(false));
        Self {
            rds,
            store: store(Arc::clone(&refuse_registry)),
            refuse_registry,
            notifier,
            sent,
            schedule: schedule(YAML),
        }
    }

    fn deps(&self) -> Deps<'_, FakeRds, HookedStore> {
        Deps {
            rds: &self.rds,
            store: Some(&self.store),
            notifier: &self.notifier,
            schedule: &self.schedule,
        }
    }

    async fn tick_at(&self, at: DateTime<Utc>) -> Report<Action> {
        run(&self.deps(), &InvocationEvent::default(), at)
            .await
            .unwrap()
    }

    /// What a tick at `at` applied, one line an action.
    async fn applied_at(&self, at: DateTime<Utc>) -> Vec<String> {
        lines(&self.tick_at(at).await.applied)
    }

    async fn tick(&self, at: &str) -> Report<Action> {
        self.tick_at(utc(at)).await
    }

    async fn dry_run(&self, at: &str) -> Report<Action> {
        let event = InvocationEvent {
            dry_run: true,
            ..InvocationEvent::default()
        };
        run(&self.deps(), &event, utc(at)).await.unwrap()
    }

    fn offpeak_ids(&self, cluster: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .rds
            .live_ids(cluster)
            .into_iter()
            .filter(|id| id.contains("-offpeak-"))
            .collect();
        ids.sort();
        ids
    }

    fn titles(&self) -> Vec<(Severity, String, &'static str)> {
        self.sent.take_titles()
    }

    async fn memory(&self, cluster: &str) -> Memory {
        let records = self.store.inner.get_many(&[cluster]).await.unwrap();
        records[cluster].decode().unwrap()
    }

    async fn has_state(&self, cluster: &str) -> bool {
        let records = self.store.inner.get_many(&[cluster]).await.unwrap();
        records.contains_key(cluster)
    }

    async fn registered(&self) -> Vec<String> {
        let key = registry::key(FUNCTION);
        let records = self.store.inner.get_many(&[&key]).await.unwrap();
        let registry = Registry::from_records(&records, FUNCTION).unwrap();
        registry.targets.into_iter().collect()
    }

    /// The same world after a deploy removed `cluster` from the schedule.
    fn rescheduled_without(mut self, cluster: &str) -> Self {
        self.schedule
            .aurora_replicas
            .retain(|t| t.cluster != cluster);
        self
    }

    /// A real run whose event carries `at`, at clock value `clock`.
    async fn replay(&self, at: &str, clock: DateTime<Utc>) -> Report<Action> {
        let event = InvocationEvent::from_json_str(&format!(r#"{{"at": "{at}"}}"#)).unwrap();
        run(&self.deps(), &event, clock).await.unwrap()
    }
}

fn lines(actions: &[Action]) -> Vec<String> {
    actions.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn peak_tick_adds_exactly_the_scheduled_replicas_and_touches_nothing_else() {
    let w = World::new();
    let report = w.tick(PEAK).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        lines(&report.applied),
        [
            "create prod-offpeak-1 (db.r7g.large, ap-northeast-1c, tier 15)",
            "create prod-offpeak-2 (db.r7g.large, ap-northeast-1d, tier 15)",
            "create prod-us-offpeak-1 (db.r6g.xlarge, ap-northeast-1c, tier 15)",
        ]
    );
    let replica = w.rds.instance("prod-offpeak-1").unwrap();
    assert_eq!(replica.promotion_tier, Some(15));
    assert_eq!(
        replica.settings.parameter_group.as_deref(),
        Some("prod-params")
    );
    assert_eq!(replica.tag("offpeak:managed-by"), Some("offpeak"));
    assert_eq!(replica.tag("offpeak:target"), Some("prod"));
    assert_eq!(
        replica.tag("team"),
        Some("payments"),
        "cluster tags are inherited"
    );
    assert_eq!(w.rds.instance("prod-writer").unwrap().status, "available");
    assert_eq!(w.rds.instance("prod-reader").unwrap().status, "available");
    assert_eq!(w.rds.writer("prod").as_deref(), Some("prod-writer"));
    assert_eq!(
        w.titles(),
        [
            (Severity::Action, "prod".into(), "replicas requested"),
            (Severity::Action, "prod-us".into(), "replicas requested"),
        ]
    );
    let memory = w.memory("prod").await;
    assert_eq!((memory.desired, memory.converged), (2, false));
}

#[tokio::test]
async fn repeated_ticks_converge_and_announce_ready_once() {
    let w = World::new();
    w.tick(PEAK).await;
    w.titles();
    // The same tick delivered again while the replicas are still being created.
    let again = w.tick(PEAK).await;
    assert!(again.plan.is_empty(), "{again:?}");
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1", "prod-offpeak-2"]);
    assert!(w.titles().is_empty());
    assert!(w.memory("prod").await.converged);

    w.rds.settle();
    w.tick_at(minutes_after(PEAK, 5)).await;
    let ready = w.titles();
    assert_eq!(
        ready,
        [
            (Severity::Info, "prod".into(), "ready for peak"),
            (Severity::Info, "prod-us".into(), "ready for peak"),
        ]
    );
    w.rds.reset_calls();
    let puts = w.store.puts();
    w.tick_at(minutes_after(PEAK, 10)).await;
    assert!(w.titles().is_empty(), "ready is announced once");
    assert_eq!(w.rds.calls(), ["DescribeDBClusters", "DescribeDBInstances"]);
    assert_eq!(w.store.puts(), puts, "a steady tick writes nothing");
}

#[tokio::test]
async fn concurrent_ticks_act_once() {
    let w = World::new();
    let (a, b) = tokio::join!(w.tick(PEAK), w.tick(PEAK));
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1", "prod-offpeak-2"]);
    assert_eq!(w.offpeak_ids("prod-us"), ["prod-us-offpeak-1"]);
    assert_eq!(a.applied.len() + b.applied.len(), 3, "{a:?} {b:?}");
    let stood_aside = a
        .notes
        .iter()
        .chain(&b.notes)
        .filter(|n| n.message.contains("stood aside"));
    assert_eq!(stood_aside.count(), 2);
    assert_eq!(
        w.rds.mutating_calls().len(),
        3,
        "each replica created by one tick only"
    );
    assert_eq!(w.titles().len(), 2, "one notification per cluster");
}

#[tokio::test]
async fn off_peak_tick_removes_offpeak_replicas_only() {
    let w = World::new();
    w.rds
        .add_instance("prod", "application-autoscaling-7f", false);
    w.tick(PEAK).await;
    w.rds.settle();
    w.titles();
    let report = w.tick(OFF_PEAK).await;
    assert_eq!(
        lines(&report.applied),
        [
            "delete prod-offpeak-2 (available, surplus)",
            "delete prod-offpeak-1 (available, surplus)",
            "delete prod-us-offpeak-1 (available, surplus)",
        ]
    );
    w.rds.settle();
    assert_eq!(
        w.rds.live_ids("prod"),
        ["application-autoscaling-7f", "prod-reader", "prod-writer"]
    );
    assert_eq!(
        w.titles(),
        [
            (Severity::Action, "prod".into(), "replicas removed"),
            (Severity::Action, "prod-us".into(), "replicas removed"),
        ]
    );
}

#[tokio::test]
async fn a_promoted_offpeak_replica_is_kept_until_a_failover_back() {
    let w = World::new();
    w.tick(PEAK).await;
    w.rds.settle();
    w.rds.failover("prod", "prod-offpeak-1");
    w.titles();

    let report = w.tick(OFF_PEAK).await;
    let prod: Vec<String> = lines(&report.applied)
        .into_iter()
        .filter(|l| l.contains(" prod-offpeak"))
        .collect();
    assert_eq!(prod, ["delete prod-offpeak-2 (available, surplus)"]);
    w.rds.settle();
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1"]);
    assert_eq!(w.rds.writer("prod").as_deref(), Some("prod-offpeak-1"));
    let titles = w.titles();
    assert!(
        titles.contains(&(
            Severity::Drift,
            "prod".into(),
            "replica kept: it is the writer"
        )),
        "{titles:?}"
    );

    // Later ticks keep quiet about it, and keep the writer.
    for minute in [5, 10, 15, 20] {
        w.tick_at(minutes_after(OFF_PEAK, minute)).await;
    }
    assert!(w.titles().is_empty());
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1"]);

    // A person fails back: the replica is now a reader and goes.
    w.rds.failover("prod", "prod-writer");
    let applied = w.applied_at(minutes_after(OFF_PEAK, 25)).await;
    assert_eq!(applied, ["delete prod-offpeak-1 (available, surplus)"]);
}

#[tokio::test]
async fn dry_run_plans_and_changes_nothing() {
    let w = World::new();
    let report = w.dry_run(PEAK).await;
    assert!(report.dry_run);
    assert_eq!(report.plan.len(), 3);
    assert!(report.applied.is_empty() && report.failed.is_empty());
    assert!(w.rds.mutating_calls().is_empty());
    assert_eq!(w.store.puts(), 0);
    assert!(w.sent.is_empty());
}

#[tokio::test]
async fn dry_run_without_a_state_table_still_plans() {
    let w = World::new();
    let deps = Deps::<_, HookedStore> {
        store: None,
        ..w.deps()
    };
    let event = InvocationEvent {
        dry_run: true,
        ..InvocationEvent::default()
    };
    let report = run(&deps, &event, utc(PEAK)).await.unwrap();
    assert_eq!(report.plan.len(), 3);
    assert!(
        report.notes[0]
            .message
            .contains("no state table configured")
    );
    let err = run(&deps, &InvocationEvent::default(), utc(PEAK))
        .await
        .unwrap_err();
    assert!(matches!(err, TickError::StateNotConfigured));
}

#[tokio::test]
async fn one_clusters_faults_do_not_stop_the_other_and_it_converges_next_tick() {
    for code in ["Throttling", "InvalidDBInstanceState", "AccessDenied"] {
        let w = World::new();
        w.rds.fail("CreateDBInstance", "prod", code);
        let report = w.tick(PEAK).await;
        assert_eq!(report.failed.len(), 2, "{code}: {report:?}");
        assert!(
            report.failed[0].error.contains(code),
            "{}",
            report.failed[0].error
        );
        assert_eq!(w.offpeak_ids("prod-us"), ["prod-us-offpeak-1"], "{code}");
        assert!(w.offpeak_ids("prod").is_empty());
        let titles = w.titles();
        assert!(
            titles.contains(&(Severity::Failure, "prod".into(), "replica change failed")),
            "{code}: {titles:?}"
        );

        w.rds.clear_faults();
        let report = w.tick_at(minutes_after(PEAK, 5)).await;
        assert!(report.failed.is_empty(), "{code}: {report:?}");
        assert_eq!(
            w.offpeak_ids("prod"),
            ["prod-offpeak-1", "prod-offpeak-2"],
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_persisting_failure_is_notified_once_then_as_drift() {
    let w = World::new();
    w.rds.fail("CreateDBInstance", "prod", "AccessDenied");
    for minute in [0, 5, 10, 15, 20] {
        w.tick_at(minutes_after(PEAK, minute)).await;
    }
    assert_eq!(
        w.notices_of("prod"),
        [
            (Severity::Failure, "replica change failed"),
            (Severity::Drift, "replicas drifted"),
        ]
    );
}

#[tokio::test]
async fn a_failure_notice_that_could_not_be_published_is_sent_by_a_later_tick() {
    // GIVEN creating replicas fails, and SNS cannot be reached for the first tick
    let mut w = World::new();
    w.rds.fail("CreateDBInstance", "prod", "AccessDenied");
    let working = std::mem::replace(&mut w.notifier, Notifier::unreachable());
    let report = w.tick_at(minutes_after(PEAK, 0)).await;
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("publish to sns")),
        "{:?}",
        report.notes
    );
    // THEN the memory does not count the failure as told
    assert!(!w.memory("prod").await.notified.failure);
    // WHEN SNS is back
    w.notifier = working;
    w.tick_at(minutes_after(PEAK, 5)).await;
    // THEN the failure notice goes out once, and is remembered as sent
    let titles: Vec<_> = w
        .titles()
        .into_iter()
        .map(|(_, t, title)| (t, title))
        .collect();
    assert!(
        titles.contains(&("prod".to_owned(), "replica change failed")),
        "{titles:?}"
    );
    assert!(w.memory("prod").await.notified.failure);
    w.tick_at(minutes_after(PEAK, 10)).await;
    assert!(
        !w.titles()
            .iter()
            .any(|(_, _, title)| *title == "replica change failed"),
        "sent twice"
    );
}

#[tokio::test]
async fn observe_failures_fail_the_tick_and_are_notified() {
    let w = World::new();
    w.rds.fail_describes("Throttling");
    let err = run(&w.deps(), &InvocationEvent::default(), utc(PEAK))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "ObserveFailed");
    assert_eq!(
        w.titles(),
        [(Severity::Failure, "aurora-replicas".into(), "tick failed")]
    );
}

#[tokio::test]
async fn deletes_wait_for_busy_replicas_and_clusters() {
    let w = World::new();
    w.tick(PEAK).await;
    // Still `creating` when the window closes: RDS refuses, so offpeak waits.
    let report = w.tick(OFF_PEAK).await;
    assert!(report.plan.is_empty(), "{report:?}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message == "prod-offpeak-2 is creating: removing it once it settles")
    );
    w.rds.settle();
    w.rds.set_cluster_status("prod", "failing-over");
    let report = w.tick_at(minutes_after(OFF_PEAK, 5)).await;
    assert!(
        report.plan.iter().all(|a| a.cluster() != "prod"),
        "{report:?}"
    );
    w.rds.set_cluster_status("prod", "available");
    let report = w.tick_at(minutes_after(OFF_PEAK, 10)).await;
    assert_eq!(report.applied.len(), 2, "{report:?}");
}

#[tokio::test]
async fn manual_changes_are_respected_inside_a_window_unless_enforced() {
    let w = World::new();
    w.tick(PEAK).await;
    w.rds.settle();
    w.tick_at(minutes_after(PEAK, 5)).await;
    // A person deletes one replica of each cluster.
    w.rds.set_status("prod-offpeak-2", "deleting");
    w.rds.set_status("prod-us-offpeak-1", "deleting");
    w.rds.settle();
    let applied = w.applied_at(minutes_after(PEAK, 10)).await;
    assert_eq!(
        applied,
        ["create prod-us-offpeak-1 (db.r6g.xlarge, ap-northeast-1c, tier 15)"],
        "prod-us enforces, prod respects the person"
    );
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1"]);
}

#[tokio::test]
async fn an_override_meant_for_another_function_is_refused_before_any_call() {
    let w = World::new();
    let event = InvocationEvent::from_json_str(
        r#"{"override": {"target": "prod", "state": "awake", "until": "2026-11-28T18:00:00Z"}}"#,
    )
    .unwrap();
    let err = run(&w.deps(), &event, utc(PEAK)).await.unwrap_err();
    assert_eq!(err.kind(), "InvalidOverride");
    assert!(err.is_bad_input());
    assert!(w.rds.calls().is_empty());
}

#[tokio::test]
async fn replicas_are_spread_over_the_cluster_azs() {
    let w = World::new();
    let yaml = YAML.replace("replicas: 2", "replicas: 5");
    let w = World {
        schedule: schedule(&yaml),
        ..w
    };
    w.tick(PEAK).await;
    let azs: Vec<String> = w
        .offpeak_ids("prod")
        .iter()
        .map(|id| w.rds.instance(id).unwrap().availability_zone.unwrap())
        .collect();
    // writer and reader are in the first AZ.
    assert_eq!(azs, [AZS[1], AZS[2], AZS[1], AZS[2], AZS[0]]);
}

// ---------------------------------------------------------------------------------------------
// Clusters removed from the schedule (the registry).

/// GIVEN both clusters at peak with their replicas available and announced ready (and an Auto
/// Scaling reader on prod).
async fn at_peak() -> World {
    let w = World::new();
    w.rds
        .add_instance("prod", "application-autoscaling-7f", false);
    w.tick(PEAK).await;
    w.rds.settle();
    w.tick_at(minutes_after(PEAK, 1)).await;
    w.titles();
    w
}

#[tokio::test]
async fn every_cluster_is_enrolled_before_its_first_change() {
    // GIVEN a registry that refuses writes
    let w = World::new();
    w.refuse_registry.store(true, Ordering::SeqCst);

    // WHEN the peak tick runs
    let report = w.tick(PEAK).await;

    // THEN no cluster was changed, each planned action failed, and people heard about it
    assert!(w.rds.mutating_calls().is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 3, "{report:?}");
    assert!(report.failed[0].error.contains("registry"), "{report:?}");
    assert_eq!(
        w.titles(),
        [
            (Severity::Failure, "prod".into(), "replica change failed"),
            (Severity::Failure, "prod-us".into(), "replica change failed"),
        ]
    );

    // AND once the registry accepts writes, both are enrolled and then changed
    w.refuse_registry.store(false, Ordering::SeqCst);
    w.tick_at(minutes_after(PEAK, 5)).await;
    assert_eq!(w.registered().await, ["prod", "prod-us"]);
    assert_eq!(w.offpeak_ids("prod").len(), 2);
}

#[tokio::test]
async fn a_cluster_removed_from_the_schedule_loses_its_replicas_and_is_released() {
    // GIVEN both clusters at peak, then prod removed from the schedule
    let w = at_peak().await.rescheduled_without("prod");
    assert_eq!(w.registered().await, ["prod", "prod-us"]);
    w.rds.reset_calls();

    // WHEN the next tick runs, still inside the window
    let applied = w.applied_at(minutes_after(PEAK, 5)).await;

    // THEN prod's offpeak replicas are deleted, nothing else of prod is touched
    assert_eq!(
        applied,
        [
            "delete prod-offpeak-2 (available, no longer scheduled)",
            "delete prod-offpeak-1 (available, no longer scheduled)",
        ]
    );
    assert_eq!(
        w.rds.calls(),
        [
            "DescribeDBClusters",
            "DescribeDBInstances",
            "DeleteDBInstance",
            "DeleteDBInstance"
        ],
        "one describe of each kind covers the unscheduled cluster too"
    );
    w.rds.settle();
    assert_eq!(
        w.rds.live_ids("prod"),
        ["application-autoscaling-7f", "prod-reader", "prod-writer"]
    );
    // AND prod is released and its state cleaned; prod-us keeps its replica and its place
    assert_eq!(w.registered().await, ["prod-us"]);
    assert!(!w.has_state("prod").await);
    assert_eq!(w.offpeak_ids("prod-us"), ["prod-us-offpeak-1"]);
    assert_eq!(
        w.titles(),
        [(Severity::Action, "prod".into(), "replicas removed")]
    );

    // AND the tick after that is quiet
    let next = w.tick_at(minutes_after(PEAK, 10)).await;
    assert!(next.plan.is_empty() && next.notes.is_empty(), "{next:?}");
}

#[tokio::test]
async fn an_unscheduled_cluster_keeps_a_promoted_offpeak_writer_and_stays_registered() {
    // GIVEN prod at peak, a failover that made prod-offpeak-1 its writer, then prod unscheduled
    let w = at_peak().await.rescheduled_without("prod");
    w.rds.failover("prod", "prod-offpeak-1");

    // WHEN the next ticks run
    let applied = w.applied_at(minutes_after(PEAK, 5)).await;
    for minute in [10, 15, 20, 25] {
        w.tick_at(minutes_after(PEAK, minute)).await;
    }

    // THEN the writer stays, the other replica goes, the cluster stays registered and a person
    // is told once
    assert_eq!(
        applied,
        ["delete prod-offpeak-2 (available, no longer scheduled)"]
    );
    w.rds.settle();
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1"]);
    assert_eq!(w.rds.writer("prod").as_deref(), Some("prod-offpeak-1"));
    assert_eq!(w.registered().await, ["prod", "prod-us"]);
    assert_eq!(
        w.notices_of("prod"),
        [
            (Severity::Action, "replicas removed"),
            (Severity::Drift, "replica kept: it is the writer"),
        ]
    );

    // AND after a failover back it is removed and the cluster released
    w.rds.failover("prod", "prod-writer");
    let applied = w.applied_at(minutes_after(PEAK, 30)).await;
    assert_eq!(
        applied,
        ["delete prod-offpeak-1 (available, no longer scheduled)"]
    );
    assert_eq!(w.registered().await, ["prod-us"]);
}

#[tokio::test]
async fn a_failed_deletion_of_an_unscheduled_replica_is_a_notified_failure() {
    // GIVEN prod at peak, then unscheduled, and RDS refusing its deletions
    let w = at_peak().await.rescheduled_without("prod");
    w.rds.fail("DeleteDBInstance", "prod", "AccessDenied");

    // WHEN the next tick runs
    let report = w.tick_at(minutes_after(PEAK, 5)).await;

    // THEN both deletions are failures, a person is told, and prod stays registered
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(
        report.failed[0].error.contains("AccessDenied"),
        "{report:?}"
    );
    assert_eq!(
        w.titles(),
        [(Severity::Failure, "prod".into(), "replica change failed")]
    );
    assert_eq!(w.registered().await, ["prod", "prod-us"]);

    // AND once RDS accepts them, the next tick removes the replicas and releases prod
    w.rds.clear_faults();
    let report = w.tick_at(minutes_after(PEAK, 10)).await;
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(w.registered().await, ["prod-us"]);
}

#[tokio::test]
async fn a_registered_cluster_that_no_longer_exists_is_released_with_a_note() {
    // GIVEN a registered cluster RDS does not know (deleted by a person), with a state item
    let w = World::new();
    registry::enroll(&w.store.inner, FUNCTION, &["gone"])
        .await
        .unwrap();
    let doc = serde_json::json!({"desired": 1, "since": PEAK, "converged": true, "drift_ticks": 0});
    w.store.inner.put("gone", &doc, None).await.unwrap();

    // WHEN a tick runs
    let report = w.tick(OFF_PEAK).await;

    // THEN it is released and its state cleaned, with a note saying why
    assert!(report.failed.is_empty(), "{report:?}");
    let gone: Vec<&str> = report
        .notes
        .iter()
        .filter(|n| n.target == "gone")
        .map(|n| n.message.as_str())
        .collect();
    assert!(
        gone.iter().any(|m| m.contains("no longer exists")),
        "{gone:?}"
    );
    assert!(w.registered().await.is_empty());
    assert!(!w.has_state("gone").await);
}

#[tokio::test]
async fn a_cluster_with_offpeak_replicas_from_before_the_registry_is_enrolled() {
    // GIVEN prod's replicas made by a tick that kept no registry (an older version)
    let w = at_peak().await;
    let key = registry::key(FUNCTION);
    let version = w.store.inner.get_many(&[&key]).await.unwrap()[&key].version;
    w.store.inner.delete(&key, version).await.unwrap();

    // WHEN a steady tick runs, and later prod is removed from the schedule
    w.tick_at(minutes_after(PEAK, 5)).await;
    assert_eq!(w.registered().await, ["prod", "prod-us"]);
    let w = w.rescheduled_without("prod");
    let report = w.tick_at(minutes_after(PEAK, 10)).await;

    // THEN its replicas are still found and removed
    assert_eq!(report.applied.len(), 2, "{report:?}");
}

#[tokio::test]
async fn a_dry_run_plans_the_removal_of_an_unscheduled_cluster_and_changes_nothing() {
    // GIVEN prod at peak, then unscheduled
    let w = at_peak().await.rescheduled_without("prod");
    let puts = w.store.puts();
    w.rds.reset_calls();

    // WHEN a dry-run tick runs
    let report = w.dry_run(OFF_PEAK).await;

    // THEN the plan removes prod's replicas (and prod-us's: its window closed), and nothing changed
    assert_eq!(
        lines(&report.plan),
        [
            "delete prod-us-offpeak-1 (available, surplus)",
            "delete prod-offpeak-2 (available, no longer scheduled)",
            "delete prod-offpeak-1 (available, no longer scheduled)",
        ]
    );
    assert!(w.rds.mutating_calls().is_empty());
    assert_eq!(w.store.puts(), puts);
    assert_eq!(w.registered().await, ["prod", "prod-us"]);
}

// ---------------------------------------------------------------------------------------------
// `at` in a real invocation: it moves the instant the schedule is read at, nothing else.

/// The real clock during the replays below: days after the instant they replay.
const CLOCK: &str = "2026-12-03T01:02:03Z";

#[tokio::test]
async fn a_real_run_with_at_stamps_memory_with_the_clock() {
    // GIVEN no memory
    let w = World::new();

    // WHEN a real run replays the peak at a later clock value
    let report = w.replay(PEAK, utc(CLOCK)).await;

    // THEN the schedule was read at `at` (replicas were added) but what happened is dated by
    // the clock
    assert_eq!(report.at, utc(PEAK));
    assert_eq!(report.applied.len(), 3, "{report:?}");
    let memory = w.memory("prod").await;
    assert_eq!(memory.since, utc(CLOCK), "{memory:?}");
    assert_eq!(memory.acted_at, Some(utc(CLOCK)), "{memory:?}");
}

#[tokio::test]
async fn a_failed_real_run_with_at_dates_its_failure_notice_by_the_clock() {
    // GIVEN RDS refusing the describes
    let w = World::new();
    w.rds.fail_describes("Throttling");

    // WHEN a real run replays the peak
    let event = InvocationEvent::from_json_str(&format!(r#"{{"at": "{PEAK}"}}"#)).unwrap();
    run(&w.deps(), &event, utc(CLOCK)).await.unwrap_err();

    // THEN the notice says when the tick failed, not which instant it replayed
    let sent = w.sent.take();
    let text = sent[0].email_text();
    assert!(text.contains("2026-12-03T01:02:03"), "{text}");
    assert!(!text.contains("2026-11-27T09:15"), "{text}");
}

#[tokio::test]
async fn a_real_run_with_at_cannot_take_over_a_cluster_claimed_by_a_live_tick() {
    // GIVEN a live tick at the peak, and a replay whose `at` is a week later (same window, and
    // far past any time-based claim a live tick could hold)
    let w = World::new();
    let week_later = "2026-12-04T09:15:00Z";

    // WHEN both run at the same moment
    let (live, replay) = tokio::join!(w.tick(PEAK), w.replay(week_later, utc(PEAK)));

    // THEN each cluster is changed by one of them only: leases are judged by the clock, which
    // `at` does not move, and the version makes a tick that claims after the other wrote stand
    // aside
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1", "prod-offpeak-2"]);
    assert_eq!(w.rds.mutating_calls().len(), 3);
    assert_eq!(live.applied.len() + replay.applied.len(), 3);
    let stood_aside = live
        .notes
        .iter()
        .chain(&replay.notes)
        .filter(|n| n.message.contains("stood aside"));
    assert_eq!(stood_aside.count(), 2);
}

#[tokio::test]
async fn a_cluster_leased_by_a_live_tick_is_left_to_it_until_the_lease_expires() {
    // GIVEN another invocation holding prod's lease since the peak tick (it died before writing)
    let w = World::new();
    let leased = w
        .store
        .try_lease("prod", "aurora-replicas/dead", utc(PEAK), LEASE_TTL)
        .await
        .unwrap();
    assert!(leased);

    // WHEN a tick runs a minute later, replaying an instant a week later
    let aside = w
        .replay("2026-12-04T09:15:00Z", minutes_after(PEAK, 1))
        .await;

    // THEN prod is left to the holder (the lease is judged by the clock), prod-us gets its replica
    assert!(w.offpeak_ids("prod").is_empty());
    assert_eq!(w.offpeak_ids("prod-us"), ["prod-us-offpeak-1"]);
    let notes: Vec<&str> = aside
        .notes
        .iter()
        .filter(|n| n.target == "prod")
        .map(|n| n.message.as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("another invocation") && n.contains("stood aside")),
        "{notes:?}"
    );

    // AND once the lease has expired, the next tick, planned from the current state, acts on it
    let expired = utc(PEAK) + LEASE_TTL;
    let report = w.tick_at(expired).await;
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1", "prod-offpeak-2"]);
    assert!(report.failed.is_empty(), "{report:?}");
    // AND it gave the lease back: a tick right after is not kept away by it
    let lease = w.store.inner.get_many(&["prod"]).await.unwrap()["prod"]
        .lease
        .clone();
    assert_eq!(lease, None);
}

#[tokio::test]
async fn a_change_to_memory_alone_is_one_write_that_leaves_no_lease_and_respects_a_live_one() {
    // GIVEN both clusters got their replicas at the peak, their two leases given back in one
    // write at the end of that tick
    let w = World::new();
    w.tick(PEAK).await;
    assert_eq!((w.store.releases(), w.store.releases_together()), (0, 1));
    let store = &w.store.inner;
    let lease = |cluster: &'static str| async move {
        let records = store.get_many(&[cluster]).await.unwrap();
        records[cluster].lease.clone().map(|l| l.holder)
    };
    assert_eq!((lease("prod").await, lease("prod-us").await), (None, None));
    w.titles();
    // AND another invocation holding prod's lease
    let live = minutes_after(PEAK, 4);
    let held = w
        .store
        .try_lease("prod", "aurora-replicas/live", live, LEASE_TTL);
    assert!(held.await.unwrap());

    // WHEN the next tick finds the replicas ready: a change to the clusters' memory alone
    w.rds.settle();
    let puts = w.store.puts();
    let report = w.tick_at(minutes_after(PEAK, 5)).await;

    // THEN each cluster's memory is one write (prod's loses to the live lease); prod-us's
    // leaves no lease and nothing to give back
    assert_eq!(w.store.puts(), puts + 2);
    assert_eq!((w.store.releases(), w.store.releases_together()), (0, 1));
    assert_eq!(lease("prod-us").await, None);
    assert!(w.memory("prod-us").await.notified.ready);
    assert_eq!(
        w.titles(),
        [(Severity::Info, "prod-us".into(), "ready for peak")]
    );
    // AND prod is left to the live holder: nothing written, its lease untouched
    assert!(!w.memory("prod").await.notified.ready);
    assert_eq!(lease("prod").await.as_deref(), Some("aurora-replicas/live"));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "prod" && n.message.contains("another invocation")),
        "{report:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Overrides: exactly N offpeak replicas until a time, whatever the schedule says.

/// An override event for `target`, sent at the clock's `clock`.
fn override_event(target: &str, state: &str, until: Option<DateTime<Utc>>) -> InvocationEvent {
    let mut o = serde_json::json!({"target": target, "state": state});
    if let Some(until) = until {
        o["until"] = serde_json::json!(until.to_rfc3339());
    }
    InvocationEvent::from_value(serde_json::json!({ "override": o })).unwrap()
}

impl World {
    async fn send(&self, event: &InvocationEvent, clock: DateTime<Utc>) -> Report<Action> {
        run(&self.deps(), event, clock).await.unwrap()
    }

    /// Notification titles about `cluster`, in order.
    fn titles_of(&self, cluster: &str) -> Vec<&'static str> {
        self.notices_of(cluster)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Notifications about `cluster` (severity, title), in order.
    fn notices_of(&self, cluster: &str) -> Vec<(Severity, &'static str)> {
        self.titles()
            .into_iter()
            .filter(|(_, target, _)| target == cluster)
            .map(|(severity, _, title)| (severity, title))
            .collect()
    }
}

#[tokio::test]
async fn an_override_holds_its_count_across_the_window_boundary_and_ends_on_time() {
    // GIVEN both clusters at peak (prod: 2 replicas)
    let w = at_peak().await;

    // WHEN, inside the window (22:00 JST), replicas:1 is set on prod until 00:30 JST, an hour
    // after the window closes
    let set_at = utc("2026-11-27T13:00:00Z");
    let until = utc("2026-11-27T15:30:00Z");
    let report = w
        .send(&override_event("prod", "replicas:1", Some(until)), set_at)
        .await;

    // THEN prod goes down to 1 at once, and people hear that the override started
    assert_eq!(
        lines(&report.applied),
        ["delete prod-offpeak-2 (available, surplus)"]
    );
    assert_eq!(
        w.titles_of("prod"),
        ["override started", "replicas removed"]
    );
    let memory = w.memory("prod").await;
    assert_eq!(memory.desired, 1);
    assert_eq!(memory.override_.as_ref().unwrap().until, until);
    w.rds.settle();

    // WHEN the window closes (23:30 JST) and ticks run until just before the override's end
    for minute in [0, 5, 55] {
        let report = w.tick_at(minutes_after(OFF_PEAK, minute)).await;
        assert!(
            report.plan.iter().all(|a| a.cluster() != "prod"),
            "{report:?}"
        );
    }

    // THEN prod still holds 1 (prod-us followed its schedule), and all that was said about prod
    // is that its one replica is ready (a new count is a transition)
    assert_eq!(w.offpeak_ids("prod"), ["prod-offpeak-1"]);
    assert!(w.offpeak_ids("prod-us").is_empty());
    assert_eq!(w.titles_of("prod"), ["ready for peak"]);

    // WHEN the first tick at its end runs
    let applied = w.applied_at(until).await;

    // THEN the schedule applies again (0 outside the window), and people hear the override ended
    assert_eq!(applied, ["delete prod-offpeak-1 (available, surplus)"]);
    assert_eq!(w.titles_of("prod"), ["override ended", "replicas removed"]);
    let memory = w.memory("prod").await;
    assert_eq!((memory.desired, memory.override_), (0, None));

    // AND the tick after that is quiet
    let next = w.tick_at(minutes_after("2026-11-27T15:30:00Z", 5)).await;
    assert!(next.plan.is_empty(), "{next:?}");
    assert!(w.titles().is_empty());
}

#[tokio::test]
async fn replicas_0_inside_a_peak_window_removes_them_and_clear_restores_the_schedule() {
    // GIVEN prod at peak with its 2 replicas
    let w = at_peak().await;
    let until = minutes_after(PEAK, 120);

    // WHEN replicas:0 is set inside the window
    let report = w
        .send(
            &override_event("prod", "replicas:0", Some(until)),
            minutes_after(PEAK, 10),
        )
        .await;

    // THEN both go, and nothing else of prod
    assert_eq!(report.applied.len(), 2, "{report:?}");
    w.rds.settle();
    assert!(w.offpeak_ids("prod").is_empty());
    assert_eq!(
        w.rds.live_ids("prod").len(),
        3,
        "writer, reader, autoscaling"
    );
    assert_eq!(
        w.titles_of("prod"),
        ["override started", "replicas removed"]
    );
    assert!(
        w.tick_at(minutes_after(PEAK, 15)).await.plan.is_empty(),
        "0 held"
    );

    // WHEN it is cleared by an event
    let report = w
        .send(
            &override_event("prod", "clear", None),
            minutes_after(PEAK, 20),
        )
        .await;

    // THEN that tick follows the schedule again: 2 replicas requested, and the end announced
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(
        w.titles_of("prod"),
        ["override ended", "replicas requested"]
    );
    let memory = w.memory("prod").await;
    assert_eq!((memory.desired, memory.override_), (2, None));

    // AND clearing again changes nothing and says so
    let report = w
        .send(
            &override_event("prod", "clear", None),
            minutes_after(PEAK, 25),
        )
        .await;
    assert!(report.plan.is_empty(), "{report:?}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("no override holds this cluster")),
        "{report:?}"
    );
}

#[tokio::test]
async fn offpeak_override_is_applied_by_the_next_tick_and_its_clear_too() {
    // GIVEN prod at peak, and `offpeak override prod replicas:3` (stored, not yet applied)
    let w = at_peak().await;
    w.rds.reset_calls();
    let clock = minutes_after(PEAK, 10);
    let set = override_event("prod", "replicas:3", Some(minutes_after(PEAK, 300)));
    let stored = crate::overrides::record(
        &w.rds,
        &w.store,
        &w.schedule,
        set.override_.as_ref().unwrap(),
        clock,
    )
    .await
    .unwrap();
    assert!(matches!(stored, crate::Overridden::Held(_)), "{stored:?}");
    assert!(w.rds.mutating_calls().is_empty(), "it only describes");

    // WHEN the next tick runs THEN it holds 3
    let applied = w.applied_at(minutes_after(PEAK, 15)).await;
    assert_eq!(
        applied,
        ["create prod-offpeak-3 (db.r7g.large, ap-northeast-1c, tier 15)"]
    );
    assert_eq!(w.titles_of("prod"), ["replicas requested"]);
    w.rds.settle();

    // WHEN `offpeak override prod clear` runs, then the next tick
    let clear = override_event("prod", "clear", None);
    let cleared = crate::overrides::record(
        &w.rds,
        &w.store,
        &w.schedule,
        clear.override_.as_ref().unwrap(),
        minutes_after(PEAK, 20),
    )
    .await
    .unwrap();
    assert!(
        matches!(cleared, crate::Overridden::Cleared(_)),
        "{cleared:?}"
    );
    let applied = w.applied_at(minutes_after(PEAK, 25)).await;

    // THEN the schedule's 2 are back, and the end is announced by that tick
    assert_eq!(applied, ["delete prod-offpeak-3 (available, surplus)"]);
    assert_eq!(w.titles_of("prod"), ["override ended", "replicas removed"]);
}

#[tokio::test]
async fn while_an_override_holds_a_persons_change_is_put_back() {
    // GIVEN prod (enforce: false) held at 2 replicas past the window by an override
    let w = at_peak().await;
    let event = override_event("prod", "replicas:2", Some(minutes_after(OFF_PEAK, 60)));
    let report = w.send(&event, minutes_after(PEAK, 5)).await;
    assert!(report.plan.is_empty(), "already 2: {report:?}");
    assert_eq!(w.titles_of("prod"), ["override started"]);

    // WHEN a person deletes one of them
    w.rds.set_status("prod-offpeak-2", "deleting");
    w.rds.settle();
    let applied = w.applied_at(minutes_after(PEAK, 10)).await;

    // THEN the override's count is restored (without an override, it would be respected)
    assert_eq!(
        applied,
        ["create prod-offpeak-2 (db.r7g.large, ap-northeast-1d, tier 15)"]
    );
}

#[tokio::test]
async fn an_override_beyond_auroras_reader_limit_is_refused_and_changes_nothing() {
    // GIVEN prod with a writer, a person's reader and Auto Scaling's reader: room for 13
    let w = at_peak().await;
    let puts = w.store.puts();
    w.rds.reset_calls();

    // WHEN 14 are asked for
    let event = override_event("prod", "replicas:14", Some(minutes_after(PEAK, 60)));
    let err = run(&w.deps(), &event, minutes_after(PEAK, 5))
        .await
        .unwrap_err();

    // THEN the invocation is refused as bad input, and nothing was written or changed
    assert!(err.is_bad_input(), "{err}");
    assert_eq!(err.kind(), "InvalidOverride");
    assert!(err.to_string().contains("at most 13"), "{err}");
    assert_eq!(w.store.puts(), puts);
    assert!(w.rds.mutating_calls().is_empty());
    assert!(w.titles().is_empty());
    assert!(w.memory("prod").await.override_.is_none());
}

#[tokio::test]
async fn an_unknown_target_or_a_past_end_is_refused_before_any_call() {
    let w = World::new();
    for (event, needle) in [
        (
            override_event("ghost", "replicas:1", Some(utc(OFF_PEAK))),
            "aurora targets are: prod, prod-us",
        ),
        (
            override_event("prod", "replicas:1", Some(utc(PEAK))),
            "not after now",
        ),
    ] {
        let err = run(&w.deps(), &event, utc(PEAK)).await.unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(w.rds.calls().is_empty());
    assert_eq!(w.store.puts(), 0);
}

#[tokio::test]
async fn a_dry_run_with_an_override_plans_it_and_records_nothing() {
    let w = at_peak().await;
    let puts = w.store.puts();
    let mut event = override_event("prod", "replicas:0", Some(minutes_after(PEAK, 60)));
    event.dry_run = true;

    let report = w.send(&event, minutes_after(PEAK, 5)).await;

    assert_eq!(report.plan.len(), 2, "{report:?}");
    assert!(report.applied.is_empty());
    assert_eq!(w.store.puts(), puts);
    assert!(w.memory("prod").await.override_.is_none());
    assert!(w.titles().is_empty());
}
