//! aurora-replicas end to end: the real SDK adapter, the DynamoDB state store and SNS, all against
//! a private moto server per test.
//!
//! Every AWS request of a tick passes through [`Wire`] (`offpeak_tests::wire`), an HTTP client
//! wrapped around the SDK's own: it counts requests by operation (so "zero mutating calls" and
//! "calls per tick" are measured on the wire, retries included) and answers chosen operations for a chosen cluster with a real AWS
//! error document (`Throttling`, `InvalidDBInstanceState`, `AccessDenied`) *without* forwarding
//! them, so an injected fault has no side effect in moto. The SDK parses those answers exactly as
//! it parses AWS's, retries included.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aws_sdk_rds::types::{DbCluster, DbInstance};
use chrono::{DateTime, Utc};
use offpeak_aurora_replicas::{Action, Rds, SdkRds, apply::apply, tick};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config::{Schedule, parse_str};
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::lambda::Ctx;
use offpeak_shared::report::Report;
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{DynamoStateStore, StateStore};
use offpeak_tests::Inbox;
use offpeak_tests::aurora::{self, ENGINE, PARAMETER_GROUP};
use offpeak_tests::moto::Moto;
use offpeak_tests::wire::{Call, Wire, tally};

const TABLE: &str = "offpeak-state";
const REPLICA_CLASS: &str = "db.r7g.large";
/// 08:45 UTC: the daily 09:00 window opens in `lead_time` (15 minutes), so replicas are requested.
const PEAK: &str = "2026-11-27T08:45:00Z";
/// 18:00 UTC: the window has closed.
const OFF_PEAK: &str = "2026-11-27T18:00:00Z";
/// `BatchGetItem`s of a tick that only reads: the pause gate's (`offpeak_shared::pause`) and the
/// tick's own (every cluster's memory and the registry, in one call).
const STATE_READS: usize = 2;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn minutes_after(at: &str, minutes: i64) -> DateTime<Utc> {
    utc(at) + chrono::Duration::minutes(minutes)
}

fn mutating(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| c.mutating()).collect()
}

// ---------------------------------------------------------------------------------------------
// The world: clusters in moto, the state table, a topic with a queue subscribed.

struct World {
    /// Kept alive for the test's duration (dropping it stops the server).
    _moto: Moto,
    /// Plain clients for setting up and checking (not counted).
    rds: aws_sdk_rds::Client,
    inbox: Inbox,
    wire: Wire,
    ctx: Ctx,
}

/// A schedule wanting `replicas` replicas of each cluster 09:00–18:00 UTC daily, 15 minutes' lead.
fn schedule(clusters: &[String], replicas: u8) -> Schedule {
    let mut yaml = String::from("timezone: UTC\naurora_replicas:\n");
    for c in clusters {
        yaml.push_str(&format!(
            "  - cluster: {c}\n    instance_class: {REPLICA_CLASS}\n    lead_time: 15m\n    windows:\n      - {{ days: daily, start: \"09:00\", end: \"18:00\", replicas: {replicas} }}\n"
        ));
    }
    parse_str(&yaml, Path::new("aurora-test.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

impl World {
    /// GIVEN clusters, each with a writer (AZ a) and a human-made reader (AZ b), and a schedule
    /// wanting `replicas` offpeak replicas of each.
    async fn new(clusters: &[String], replicas: u8) -> World {
        let moto = Moto::start().await;
        let sdk = moto.sdk_config().await;
        let rds = aws_sdk_rds::Client::new(&sdk);
        for c in clusters {
            aurora::production(&rds, c, &[("team", "payments")], &["writer", "reader"]).await;
        }
        assert!(
            DynamoStateStore::from_sdk_config(&sdk, TABLE)
                .create_table_if_missing()
                .await
                .unwrap()
        );
        let inbox = Inbox::subscribe(&sdk).await;
        let wire = Wire::default();
        let aws = AwsCtx::from_sdk_config(wire.wrap(&sdk))
            .with_state_table(TABLE)
            .with_topic(&inbox.topic_arn);
        let ctx = Ctx {
            aws,
            schedule: Arc::new(schedule(clusters, replicas)),
        };
        World {
            _moto: moto,
            rds,
            inbox,
            wire,
            ctx,
        }
    }

    async fn tick_at(&self, at: DateTime<Utc>) -> Report<Action> {
        tick(&self.ctx, &InvocationEvent::default(), at)
            .await
            .unwrap()
    }

    async fn tick(&self, at: &str) -> Report<Action> {
        self.tick_at(utc(at)).await
    }

    async fn instances(&self, cluster: &str) -> Vec<DbInstance> {
        aurora::instances(&self.rds, Some(cluster)).await
    }

    async fn ids(&self, cluster: &str) -> Vec<String> {
        aurora::instance_ids(&self.rds, Some(cluster)).await
    }

    /// `report` deleted prod-aurora's two offpeak replicas, and only those: the writer and the
    /// reader a person made are still there.
    async fn assert_replicas_deleted(&self, report: &Report<Action>) {
        assert_eq!(
            lines(&report.applied),
            [
                "delete prod-aurora-offpeak-2 (available, surplus)",
                "delete prod-aurora-offpeak-1 (available, surplus)",
            ]
        );
        assert_eq!(
            self.ids("prod-aurora").await,
            ["prod-aurora-reader", "prod-aurora-writer"]
        );
    }

    async fn offpeak_ids(&self, cluster: &str) -> Vec<String> {
        let mut ids = self.ids(cluster).await;
        ids.retain(|id| id.contains("-offpeak-"));
        ids
    }

    async fn cluster(&self, id: &str) -> DbCluster {
        self.rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .unwrap()
            .db_clusters()[0]
            .clone()
    }

    async fn writer(&self, id: &str) -> String {
        let cluster = self.cluster(id).await;
        let writer = cluster
            .db_cluster_members()
            .iter()
            .find(|m| m.is_cluster_writer() == Some(true))
            .expect("a writer");
        writer.db_instance_identifier().unwrap().to_owned()
    }

    /// Every notification subject that reached the queue so far.
    async fn subjects(&self) -> Vec<String> {
        self.inbox.subjects().await
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}

fn lines(actions: &[Action]) -> Vec<String> {
    actions.iter().map(ToString::to_string).collect()
}

fn tag<'a>(i: &'a DbInstance, key: &str) -> Option<&'a str> {
    i.tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn peak_tick_adds_exactly_n_replicas_and_leaves_writer_and_human_reader_alone() {
    // GIVEN prod-aurora with a writer and a human-made reader, and a schedule wanting 2 replicas
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    let before: Vec<DbInstance> = w.instances("prod-aurora").await;

    // WHEN the tick 15 minutes before the window runs
    let report = w.tick(PEAK).await;

    // THEN exactly two offpeak replicas exist, like a careful human would have made them
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        w.offpeak_ids("prod-aurora").await,
        ["prod-aurora-offpeak-1", "prod-aurora-offpeak-2"]
    );
    for i in w.instances("prod-aurora").await {
        let id = i.db_instance_identifier().unwrap();
        if !id.contains("-offpeak-") {
            continue;
        }
        assert_eq!(i.db_instance_class(), Some(REPLICA_CLASS), "{id}");
        assert_eq!(i.promotion_tier(), Some(15), "{id}");
        assert_eq!(i.engine(), Some(ENGINE), "{id}");
        assert_eq!(
            i.db_parameter_groups()[0].db_parameter_group_name(),
            Some(PARAMETER_GROUP),
            "{id}"
        );
        assert_eq!(tag(&i, "offpeak:managed-by"), Some("offpeak"), "{id}");
        assert_eq!(tag(&i, "offpeak:target"), Some("prod-aurora"), "{id}");
        assert_eq!(
            tag(&i, "team"),
            Some("payments"),
            "{id}: cluster tags carried over"
        );
    }
    let azs: Vec<String> = w.instances("prod-aurora").await[..2]
        .iter()
        .map(|i| i.availability_zone().unwrap().to_owned())
        .collect();
    assert_eq!(
        azs,
        ["ap-northeast-1c", "ap-northeast-1a"],
        "spread over the cluster's AZs"
    );

    // AND the writer and the human reader are exactly as they were (moto recomputes the
    // latest restorable time on every describe, so that one field is left out)
    let after = w.instances("prod-aurora").await;
    for original in &before {
        let mut now = after
            .iter()
            .find(|i| i.db_instance_identifier() == original.db_instance_identifier())
            .unwrap()
            .clone();
        now.latest_restorable_time = original.latest_restorable_time;
        assert_eq!(&now, original);
    }
    assert_eq!(w.writer("prod-aurora").await, "prod-aurora-writer");

    // AND the same tick delivered again changes nothing
    w.wire.take();
    let again = w.tick(PEAK).await;
    assert!(again.plan.is_empty(), "{again:?}");
    assert_eq!(w.offpeak_ids("prod-aurora").await.len(), 2);
    let rds_writes: Vec<_> = w
        .wire
        .take()
        .into_iter()
        .filter(|c| c.service == "rds" && c.mutating())
        .collect();
    assert!(rds_writes.is_empty(), "{rds_writes:?}");

    // AND people heard about it: requested, then ready for peak (moto replicas are available at once)
    let subjects = w.subjects().await;
    assert_eq!(
        subjects,
        [
            "offpeak ACTION: replicas requested - prod-aurora (aurora-replicas)",
            "offpeak INFO: ready for peak - prod-aurora (aurora-replicas)",
        ]
    );
}

#[tokio::test]
async fn two_concurrent_ticks_still_add_exactly_n_replicas() {
    // GIVEN three clusters wanting 2 replicas each
    let clusters = names("prod", 3);
    let w = World::new(&clusters, 2).await;

    // WHEN the same tick is delivered twice at the same moment
    let (a, b) = tokio::join!(w.tick(PEAK), w.tick(PEAK));

    // THEN every cluster has exactly two offpeak replicas, each created by one tick only
    for c in &clusters {
        assert_eq!(
            w.offpeak_ids(c).await,
            [format!("{c}-offpeak-1"), format!("{c}-offpeak-2")]
        );
    }
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    let creates = w
        .wire
        .take()
        .into_iter()
        .filter(|c| c.operation == "CreateDBInstance")
        .count();
    assert_eq!(creates, 6, "no duplicate CreateDBInstance reached RDS");
    assert_eq!(a.applied.len() + b.applied.len(), 6);
}

#[tokio::test]
async fn off_peak_tick_deletes_offpeak_replicas_and_nothing_else() {
    // GIVEN a cluster at peak with its two offpeak replicas
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    w.tick(PEAK).await;
    w.subjects().await;

    // WHEN the window has closed
    let report = w.tick(OFF_PEAK).await;

    // THEN the offpeak replicas are gone and nothing else was deleted
    w.assert_replicas_deleted(&report).await;
    let deletes: Vec<String> = w
        .wire
        .take()
        .into_iter()
        .filter(|c| c.operation == "DeleteDBInstance")
        .map(|c| c.params["DBInstanceIdentifier"].clone())
        .collect();
    assert_eq!(deletes, ["prod-aurora-offpeak-2", "prod-aurora-offpeak-1"]);
    assert_eq!(
        w.subjects().await,
        ["offpeak ACTION: replicas removed - prod-aurora (aurora-replicas)"]
    );
}

#[tokio::test]
async fn after_a_failover_to_an_offpeak_replica_the_off_peak_tick_keeps_the_writer() {
    // GIVEN peak replicas, and a failover that made prod-aurora-offpeak-1 the writer
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    w.tick(PEAK).await;
    w.rds
        .failover_db_cluster()
        .db_cluster_identifier("prod-aurora")
        .target_db_instance_identifier("prod-aurora-offpeak-1")
        .send()
        .await
        .unwrap();
    assert_eq!(w.writer("prod-aurora").await, "prod-aurora-offpeak-1");
    w.subjects().await;

    // WHEN the window closes
    let report = w.tick(OFF_PEAK).await;

    // THEN the writer stays, the other offpeak replica goes, and the cluster is healthy
    assert_eq!(
        lines(&report.applied),
        ["delete prod-aurora-offpeak-2 (available, surplus)"]
    );
    assert_eq!(
        w.ids("prod-aurora").await,
        [
            "prod-aurora-offpeak-1",
            "prod-aurora-reader",
            "prod-aurora-writer"
        ]
    );
    assert_eq!(w.writer("prod-aurora").await, "prod-aurora-offpeak-1");
    assert_eq!(w.cluster("prod-aurora").await.status(), Some("available"));
    let subjects = w.subjects().await;
    assert!(
        subjects.contains(
            &"offpeak DRIFT: replica kept: it is the writer - prod-aurora (aurora-replicas)"
                .to_owned()
        ),
        "{subjects:?}"
    );

    // AND later ticks keep it quietly, until a failover back lets offpeak remove it
    let later = w.tick_at(minutes_after(OFF_PEAK, 5)).await;
    assert!(later.plan.is_empty(), "{later:?}");
    w.rds
        .failover_db_cluster()
        .db_cluster_identifier("prod-aurora")
        .target_db_instance_identifier("prod-aurora-writer")
        .send()
        .await
        .unwrap();
    let back = w.tick_at(minutes_after(OFF_PEAK, 10)).await;
    assert_eq!(
        lines(&back.applied),
        ["delete prod-aurora-offpeak-1 (available, surplus)"]
    );
    assert_eq!(
        w.ids("prod-aurora").await,
        ["prod-aurora-reader", "prod-aurora-writer"]
    );
}

#[tokio::test]
async fn dry_run_makes_zero_mutating_calls_and_prints_the_plan() {
    // GIVEN a cluster wanting 2 replicas
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    w.wire.take();

    // WHEN a dry-run tick runs at peak
    let event =
        InvocationEvent::from_json_str(r#"{"dry_run": true, "at": "2026-11-27T08:45:00Z"}"#)
            .unwrap();
    let report = tick(&w.ctx, &event, utc("2030-01-01T00:00:00Z"))
        .await
        .unwrap();

    // THEN it printed the plan and nothing on the wire changed anything
    let plan = lines(&report.plan);
    for line in &plan {
        println!("{line}");
    }
    assert_eq!(
        plan,
        [
            "create prod-aurora-offpeak-1 (db.r7g.large, ap-northeast-1c, tier 15)",
            "create prod-aurora-offpeak-2 (db.r7g.large, ap-northeast-1a, tier 15)",
        ]
    );
    assert!(report.dry_run && report.applied.is_empty());
    let calls = w.wire.take();
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));
    assert_eq!(
        tally(&calls),
        BTreeMap::from([
            ("dynamodb:BatchGetItem".to_owned(), STATE_READS),
            ("rds:DescribeDBClusters".to_owned(), 1),
            ("rds:DescribeDBInstances".to_owned(), 1),
        ])
    );
    assert!(w.offpeak_ids("prod-aurora").await.is_empty());
    assert!(w.subjects().await.is_empty());
}

#[tokio::test]
async fn faults_on_one_cluster_do_not_stop_the_others_and_it_converges_next_tick() {
    // GIVEN four clusters; creates on three of them fail, each with a different AWS error
    let clusters = vec![
        "alpha".to_owned(),
        "bravo".to_owned(),
        "charlie".to_owned(),
        "delta".to_owned(),
    ];
    let w = World::new(&clusters, 2).await;
    w.wire
        .fail_cluster("CreateDBInstance", "alpha", "Throttling");
    w.wire
        .fail_cluster("CreateDBInstance", "bravo", "InvalidDBInstanceState");
    w.wire
        .fail_cluster("CreateDBInstance", "charlie", "AccessDenied");

    // WHEN the peak tick runs
    let report = w.tick(PEAK).await;

    // THEN the healthy cluster converged, each faulty one failed with its own code
    assert_eq!(w.offpeak_ids("delta").await.len(), 2);
    for (cluster, code) in [
        ("alpha", "Throttling"),
        ("bravo", "InvalidDBInstanceState"),
        ("charlie", "AccessDenied"),
    ] {
        assert!(w.offpeak_ids(cluster).await.is_empty(), "{cluster}");
        let failed: Vec<&str> = report
            .failed
            .iter()
            .filter(|f| f.action.cluster() == cluster)
            .map(|f| f.error.as_str())
            .collect();
        assert_eq!(failed.len(), 2, "{cluster}: {failed:?}");
        assert!(failed.iter().all(|e| e.contains(code)), "{failed:?}");
    }
    let throttled = w
        .wire
        .take()
        .iter()
        .filter(|c| c.operation == "CreateDBInstance" && c.touches("alpha"))
        .count();
    assert_eq!(
        throttled, 6,
        "the SDK retried each throttled create 3 times"
    );

    // AND a failure notification per failed cluster reached the subscribed queue
    let subjects = w.subjects().await;
    for cluster in ["alpha", "bravo", "charlie"] {
        let failure =
            format!("offpeak FAILURE: replica change failed - {cluster} (aurora-replicas)");
        assert!(subjects.contains(&failure), "{subjects:?}");
    }

    // AND once AWS recovers, the next tick converges the failed clusters
    w.wire.heal();
    let next = w.tick_at(minutes_after(PEAK, 5)).await;
    assert!(next.failed.is_empty(), "{next:?}");
    for c in &clusters {
        assert_eq!(w.offpeak_ids(c).await.len(), 2, "{c}");
    }
}

#[tokio::test]
async fn delete_faults_on_one_cluster_do_not_stop_the_others() {
    // GIVEN two clusters at peak, and deletes on one of them refused as InvalidDBInstanceState
    let clusters = vec!["alpha".to_owned(), "bravo".to_owned()];
    let w = World::new(&clusters, 1).await;
    w.tick(PEAK).await;
    w.wire
        .fail_cluster("DeleteDBInstance", "alpha", "InvalidDBInstanceState");
    w.subjects().await;

    // WHEN the window closes
    let report = w.tick(OFF_PEAK).await;

    // THEN bravo's replica is gone, alpha's failed and is retried successfully next tick
    assert_eq!(
        lines(&report.applied),
        ["delete bravo-offpeak-1 (available, surplus)"]
    );
    assert_eq!(report.failed.len(), 1);
    assert_eq!(w.offpeak_ids("alpha").await, ["alpha-offpeak-1"]);
    let subjects = w.subjects().await;
    assert!(
        subjects.contains(
            &"offpeak FAILURE: replica change failed - alpha (aurora-replicas)".to_owned()
        ),
        "{subjects:?}"
    );
    w.wire.heal();
    w.tick_at(minutes_after(OFF_PEAK, 5)).await;
    assert!(w.offpeak_ids("alpha").await.is_empty());
}

#[tokio::test]
async fn the_sdk_adapter_reports_duplicates_and_missing_instances_as_success_codes() {
    // GIVEN the plan for one replica, taken from a dry-run
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 1).await;
    let event = InvocationEvent::from_json_str(r#"{"dry_run": true}"#).unwrap();
    let plan = tick(&w.ctx, &event, utc(PEAK)).await.unwrap().plan;
    let Action::Create(spec) = &plan[0] else {
        panic!("{plan:?}")
    };
    let rds = SdkRds::new(w.rds.clone());

    // WHEN it is created twice and a missing instance is deleted
    rds.create_instance(spec).await.unwrap();
    let duplicate = rds.create_instance(spec).await.unwrap_err();
    let missing = rds
        .delete_instance("prod-aurora-offpeak-9")
        .await
        .unwrap_err();

    // THEN RDS's codes reach the predicates the reconciler treats as success
    assert!(duplicate.already_exists(), "{duplicate:?}");
    assert!(missing.not_found(), "{missing:?}");
    let again = apply(&rds, &plan).await;
    assert_eq!(
        again.applied, plan,
        "a duplicated create is applied, not failed"
    );
    assert_eq!(
        w.offpeak_ids("prod-aurora").await,
        ["prod-aurora-offpeak-1"]
    );
}

#[tokio::test]
async fn a_cluster_removed_from_the_schedule_loses_its_replicas_and_is_released() {
    // GIVEN alpha and bravo at peak with two offpeak replicas each, tagged so that the role may
    // delete them without naming their cluster
    let clusters = vec!["alpha".to_owned(), "bravo".to_owned()];
    let mut w = World::new(&clusters, 2).await;
    w.tick(PEAK).await;
    w.tick_at(minutes_after(PEAK, 1)).await;
    for i in w.instances("alpha").await {
        if i.db_instance_identifier().unwrap().contains("-offpeak-") {
            assert_eq!(tag(&i, "offpeak:managed-by"), Some("offpeak"));
            assert_eq!(tag(&i, "offpeak:function"), Some("aurora-replicas"));
        }
    }
    w.subjects().await;

    // WHEN alpha is removed from the schedule and the next tick runs, still inside the window
    w.ctx.schedule = Arc::new(schedule(&clusters[1..], 2));
    w.wire.take();
    let report = w.tick_at(minutes_after(PEAK, 5)).await;

    // THEN alpha's offpeak replicas are deleted, found by the tick's one describe of each kind
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        lines(&report.applied),
        [
            "delete alpha-offpeak-2 (available, no longer scheduled)",
            "delete alpha-offpeak-1 (available, no longer scheduled)",
        ]
    );
    let rds_calls: BTreeMap<String, usize> = tally(&w.wire.take())
        .into_iter()
        .filter(|(op, _)| op.starts_with("rds:"))
        .collect();
    assert_eq!(
        rds_calls,
        BTreeMap::from([
            ("rds:DeleteDBInstance".to_owned(), 2),
            ("rds:DescribeDBClusters".to_owned(), 1),
            ("rds:DescribeDBInstances".to_owned(), 1),
        ])
    );
    assert_eq!(w.ids("alpha").await, ["alpha-reader", "alpha-writer"]);

    // AND alpha is released from the registry and its state item is gone
    let store = w.ctx.aws.state().expect("a state table");
    let key = registry::key("aurora-replicas");
    let records = store
        .get_many(&[key.as_str(), "alpha", "bravo"])
        .await
        .unwrap();
    let registered = Registry::from_records(&records, "aurora-replicas").unwrap();
    assert_eq!(
        registered.targets.iter().collect::<Vec<_>>(),
        ["bravo"],
        "{registered:?}"
    );
    assert!(!records.contains_key("alpha"));
    assert!(records.contains_key("bravo"));

    // AND bravo is unchanged, and people heard about alpha
    assert_eq!(
        w.offpeak_ids("bravo").await,
        ["bravo-offpeak-1", "bravo-offpeak-2"]
    );
    assert_eq!(
        w.subjects().await,
        ["offpeak ACTION: replicas removed - alpha (aurora-replicas)"]
    );
}

// ---------------------------------------------------------------------------------------------
// Overrides: exactly N offpeak replicas until a time, whatever the schedule says.

/// An invocation event carrying an override of `target`.
fn override_event(target: &str, state: &str, until: Option<&str>) -> InvocationEvent {
    let mut o = serde_json::json!({"target": target, "state": state});
    if let Some(until) = until {
        o["until"] = serde_json::json!(until);
    }
    InvocationEvent::from_value(serde_json::json!({ "override": o })).unwrap()
}

impl World {
    /// A real tick with `event`, at clock value `clock`.
    async fn send(&self, event: &InvocationEvent, clock: &str) -> Report<Action> {
        tick(&self.ctx, event, utc(clock)).await.unwrap()
    }

    /// The cluster's state document as stored in DynamoDB.
    async fn doc(&self, cluster: &str) -> serde_json::Value {
        let store = self.ctx.aws.state().expect("a state table");
        let records = store.get_many(&[cluster]).await.unwrap();
        records[cluster].doc.clone()
    }
}

#[tokio::test]
async fn an_override_holds_n_replicas_across_the_window_boundary_and_ends_on_time() {
    // GIVEN prod-aurora at peak with the schedule's 2 replicas (window 09:00-18:00 UTC)
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    w.tick(PEAK).await;
    w.subjects().await;

    // WHEN, an hour before the window ends, replicas:1 is set until an hour after it
    let until = "2026-11-27T19:00:00Z";
    let report = w
        .send(
            &override_event("prod-aurora", "replicas:1", Some(until)),
            "2026-11-27T17:00:00Z",
        )
        .await;

    // THEN prod-aurora holds 1 at once, the override is stored, and its start is announced
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        w.offpeak_ids("prod-aurora").await,
        ["prod-aurora-offpeak-1"]
    );
    assert_eq!(
        w.doc("prod-aurora").await["override"],
        serde_json::json!({"state": "replicas:1", "until": until, "set_at": "2026-11-27T17:00:00Z"})
    );
    assert_eq!(
        w.subjects().await,
        [
            "offpeak ACTION: override started - prod-aurora (aurora-replicas)",
            "offpeak ACTION: replicas removed - prod-aurora (aurora-replicas)",
        ]
    );

    // WHEN the ticks after the window boundary run, before the override's end
    for clock in ["2026-11-27T18:00:00Z", "2026-11-27T18:55:00Z"] {
        let report = w.tick(clock).await;
        assert!(report.plan.is_empty(), "{clock}: {report:?}");
    }

    // THEN it still holds 1 (the schedule says 0)
    assert_eq!(
        w.offpeak_ids("prod-aurora").await,
        ["prod-aurora-offpeak-1"]
    );

    // WHEN the first tick at its end runs
    let report = w.tick(until).await;

    // THEN the schedule applies again (0), the end is announced, and the override is gone
    assert_eq!(
        lines(&report.applied),
        ["delete prod-aurora-offpeak-1 (available, surplus)"]
    );
    assert!(w.offpeak_ids("prod-aurora").await.is_empty());
    assert_eq!(
        w.ids("prod-aurora").await,
        ["prod-aurora-reader", "prod-aurora-writer"]
    );
    let subjects = w.subjects().await;
    assert_eq!(
        subjects[subjects.len() - 2..],
        [
            "offpeak INFO: override ended - prod-aurora (aurora-replicas)",
            "offpeak ACTION: replicas removed - prod-aurora (aurora-replicas)",
        ],
        "{subjects:?}"
    );
    assert!(w.doc("prod-aurora").await.get("override").is_none());
}

#[tokio::test]
async fn replicas_0_inside_a_peak_window_removes_them_and_clear_restores_the_schedule_next_tick() {
    // GIVEN prod-aurora at peak with its 2 replicas
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    w.tick(PEAK).await;
    w.subjects().await;

    // WHEN replicas:0 is set inside the window, until its end
    let report = w
        .send(
            &override_event("prod-aurora", "replicas:0", Some("2026-11-27T18:00:00Z")),
            "2026-11-27T10:00:00Z",
        )
        .await;

    // THEN both offpeak replicas go, and nothing else
    w.assert_replicas_deleted(&report).await;
    assert_eq!(
        w.subjects().await,
        [
            "offpeak ACTION: override started - prod-aurora (aurora-replicas)",
            "offpeak ACTION: replicas removed - prod-aurora (aurora-replicas)",
        ]
    );
    assert!(w.tick("2026-11-27T10:05:00Z").await.plan.is_empty());

    // WHEN `offpeak override prod-aurora clear` runs (it only writes the state table)
    let clear = override_event("prod-aurora", "clear", None);
    let cleared = offpeak_aurora_replicas::set_override(
        &w.ctx,
        clear.override_.as_ref().unwrap(),
        utc("2026-11-27T10:10:00Z"),
    )
    .await
    .unwrap();
    assert!(
        matches!(cleared, offpeak_aurora_replicas::Overridden::Cleared(_)),
        "{cleared:?}"
    );
    assert!(w.offpeak_ids("prod-aurora").await.is_empty());

    // THEN the next tick restores the schedule's 2, and announces the end
    let report = w.tick("2026-11-27T10:15:00Z").await;
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(
        w.offpeak_ids("prod-aurora").await,
        ["prod-aurora-offpeak-1", "prod-aurora-offpeak-2"]
    );
    assert_eq!(
        w.subjects().await,
        [
            "offpeak INFO: override ended - prod-aurora (aurora-replicas)",
            "offpeak ACTION: replicas requested - prod-aurora (aurora-replicas)",
        ]
    );
}

#[tokio::test]
async fn an_override_aurora_would_not_allow_is_refused_and_nothing_changes() {
    // GIVEN prod-aurora: a writer and a person's reader, so room for 14 offpeak replicas
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    w.wire.take();

    // WHEN 15 are asked for, by event and by `offpeak override`
    let event = override_event("prod-aurora", "replicas:15", Some("2026-11-27T12:00:00Z"));
    let err = tick(&w.ctx, &event, utc(PEAK)).await.unwrap_err();
    let o = event.override_.as_ref().unwrap();
    let cli = offpeak_aurora_replicas::set_override(&w.ctx, o, utc(PEAK))
        .await
        .unwrap_err();

    // THEN both are bad input naming the limit, and only reads reached AWS
    for e in [&err, &cli] {
        assert!(e.is_bad_input(), "{e}");
        assert_eq!(e.kind(), "InvalidOverride");
        assert!(e.to_string().contains("at most 14"), "{e}");
    }
    assert!(mutating(&w.wire.take()).is_empty());
    assert!(w.offpeak_ids("prod-aurora").await.is_empty());
    assert!(w.subjects().await.is_empty());
}

#[tokio::test]
async fn the_override_sample_event_plans_the_overrides_count_and_changes_nothing() {
    // GIVEN prod-aurora in its window, wanting 2 replicas
    let clusters = vec!["prod-aurora".to_owned()];
    let w = World::new(&clusters, 2).await;
    let path = offpeak_tests::workspace_root().join("events/aurora-replicas-override.json");
    let sample = InvocationEvent::from_json_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    w.wire.take();

    // WHEN the sample (a dry run of replicas:3 for 2 hours) is sent
    let report = tick(&w.ctx, &sample, utc(PEAK)).await.unwrap();

    // THEN the plan follows the override (3, not the schedule's 2), and nothing is written
    assert!(report.dry_run);
    assert_eq!(report.plan.len(), 3, "{report:?}");
    assert!(report.applied.is_empty());
    assert!(mutating(&w.wire.take()).is_empty());
    assert!(w.subjects().await.is_empty());
}

/// Calls of each kind in one tick, printed for BENCHMARKS.md readers.
async fn calls_per_tick(clusters: usize) -> Vec<(&'static str, BTreeMap<String, usize>)> {
    let names = names("prod", clusters);
    let w = World::new(&names, 2).await;
    w.wire.take();
    let mut out = Vec::new();
    for (label, at) in [
        ("peak transition", utc(PEAK)),
        ("steady (ready announced)", minutes_after(PEAK, 5)),
        ("steady", minutes_after(PEAK, 10)),
        ("off-peak transition", utc(OFF_PEAK)),
        (
            "off-peak converged (memory updated)",
            minutes_after(OFF_PEAK, 5),
        ),
        ("off-peak steady", minutes_after(OFF_PEAK, 10)),
    ] {
        let report = w.tick_at(at).await;
        assert!(report.failed.is_empty(), "{report:?}");
        out.push((label, tally(&w.wire.take())));
    }
    out
}

#[tokio::test]
async fn aws_calls_per_tick_for_1_and_50_clusters() {
    for clusters in [1, 50] {
        let counts = calls_per_tick(clusters).await;
        println!("AWS calls per tick, {clusters} cluster(s), 2 replicas each:");
        for (label, tally) in &counts {
            let total: usize = tally.values().sum();
            println!("  {label}: {total} {tally:?}");
        }
        // Reads: the state reads and one describe of each kind, plus a page per 100 instances.
        let instance_pages = (clusters * 4).div_ceil(100);
        let steady = &counts[2].1;
        let reads = BTreeMap::from([
            ("dynamodb:BatchGetItem".to_owned(), STATE_READS),
            ("rds:DescribeDBClusters".to_owned(), 1),
            ("rds:DescribeDBInstances".to_owned(), instance_pages),
        ]);
        assert_eq!(
            steady, &reads,
            "{clusters} clusters: a steady tick only reads"
        );
        // The leases a tick took go back together at its end: one TransactWriteItems per 100
        // clusters, or one UpdateItem for a single cluster.
        let (released_alone, released_together) = match clusters {
            1 => (1, None),
            n => (0, Some(n.div_ceil(100))),
        };
        let transacts =
            |tally: &BTreeMap<String, usize>| tally.get("dynamodb:TransactWriteItems").copied();
        let peak = &counts[0].1;
        assert_eq!(peak["rds:CreateDBInstance"], 2 * clusters);
        assert_eq!(
            peak["dynamodb:UpdateItem"],
            clusters + 1 + released_alone,
            "per cluster a claim (its lease taken and its memory written in one write), and one \
             registry write enrolling them all"
        );
        assert_eq!(transacts(peak), released_together);
        assert_eq!(
            peak["dynamodb:BatchGetItem"],
            STATE_READS + 1,
            "the registry read before enrolling; a claim reads nothing"
        );
        assert_eq!(peak["rds:DescribeDBClusters"], 1);
        let off = &counts[3].1;
        assert_eq!(off["rds:DeleteDBInstance"], 2 * clusters);
        assert_eq!(off["dynamodb:UpdateItem"], clusters + released_alone);
        assert_eq!(transacts(off), released_together);
        // A tick that changes only the clusters' memory settles each: one write, no lease.
        for (label, tally) in [&counts[1], &counts[4]] {
            assert_eq!(tally["dynamodb:UpdateItem"], clusters, "{label}");
            assert_eq!(transacts(tally), None, "{label}");
        }
        for (label, tally) in [&counts[1], &counts[3], &counts[4]] {
            assert_eq!(tally["dynamodb:BatchGetItem"], STATE_READS, "{label}");
        }
        assert_eq!(
            &counts[5].1,
            &BTreeMap::from([
                ("dynamodb:BatchGetItem".to_owned(), STATE_READS),
                ("rds:DescribeDBClusters".to_owned(), 1),
                (
                    "rds:DescribeDBInstances".to_owned(),
                    (clusters * 2).div_ceil(100)
                ),
            ])
        );
    }
}
