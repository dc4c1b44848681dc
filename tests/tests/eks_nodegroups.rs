//! eks-nodegroups end to end against a real moto server: EKS managed node groups, self-managed
//! Auto Scaling groups, the DynamoDB state table, through the function's real SDK adapters.
//!
//! moto does not tag a managed node group's Auto Scaling group as EKS does (design.md, "known
//! gaps"); `offpeak_tests::node_groups` adds EKS's tags and the cluster autoscaler's. Every AWS
//! request the function sends passes through `offpeak_tests::wire`, so tests can assert which
//! calls mutated anything, retries included.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use offpeak_eks_nodegroups::{
    Action, Overridden, SdkAutoScaling, SdkEks, Services, Step, TickError, run, tick,
};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config::{Schedule, parse_str};
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::lambda::Ctx;
use offpeak_shared::notify::{Notifier, SentNotifications};
use offpeak_shared::report::Report;
use offpeak_shared::state::{DynamoStateStore, StateStore};
use offpeak_tests::moto::Moto;
use offpeak_tests::node_groups::{AUTOSCALER_ENABLED, NodeGroups, Size};
use offpeak_tests::wire::{Call, Wire, is_read};
use serde_json::{Value, json};

const TABLE: &str = "offpeak-state";
const CLUSTER: &str = "dev-eks";
const PER_CLUSTER: &str = "k8s.io/cluster-autoscaler/dev-eks";

const SCHEDULE: &str = r#"
timezone: Asia/Tokyo
eks_nodegroups:
  - cluster: dev-eks
    nodegroups: [app, batch]
    sleep:
      - from: fri 22:00
        to: mon 07:30
"#;

/// Friday 2026-11-27 22:00 JST.
fn friday_night() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap()
}

/// Saturday 2026-11-28 10:00 JST.
fn saturday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap()
}

/// Monday 2026-11-30 07:30 JST.
fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).unwrap()
}

/// A moto server with the state table, the `dev-eks` cluster and a launch configuration.
struct Env {
    _moto: Moto,
    /// The function's SDK configuration: every request it sends passes through `wire`.
    sdk: aws_config::SdkConfig,
    /// The test's own clients (setting up, looking, acting as a person), not on the wire.
    world: NodeGroups,
    fn_eks: SdkEks,
    fn_asg: SdkAutoScaling,
    store: DynamoStateStore,
    wire: Wire,
    notifier: Notifier,
    sent: SentNotifications,
}

impl Env {
    async fn start() -> Env {
        let moto = Moto::start().await;
        let plain = moto.sdk_config().await;
        let wire = Wire::default();
        let sdk = wire.wrap(&plain);
        let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE);
        store.create_table_if_missing().await.unwrap();
        let world = NodeGroups::new(&plain).await;
        world.cluster(CLUSTER).await;
        wire.take();
        let (notifier, sent) = Notifier::in_memory();
        Env {
            _moto: moto,
            fn_eks: SdkEks::new(aws_sdk_eks::Client::new(&sdk)),
            fn_asg: SdkAutoScaling::new(aws_sdk_autoscaling::Client::new(&sdk)),
            sdk,
            world,
            store,
            wire,
            notifier,
            sent,
        }
    }

    /// A managed node group with the Auto Scaling group EKS would make; returns the group's name.
    async fn nodegroup(&self, name: &str, size: Size) -> String {
        self.world.nodegroup(CLUSTER, name, size).await
    }

    async fn auto_scaling_group(&self, name: &str, size: Size, tags: &[(&str, &str, bool)]) {
        self.world.auto_scaling_group(name, size, tags).await;
    }

    async fn scaling(&self, nodegroup: &str) -> Size {
        self.world.nodegroup_size(CLUSTER, nodegroup).await
    }

    /// A person changes the node group's size in the console.
    async fn scale_by_hand(&self, nodegroup: &str, size: Size) {
        self.world.resize_nodegroup(CLUSTER, nodegroup, size).await;
    }

    /// The group's size and its tags as `(key, value, propagate)`, sorted by key.
    async fn group(&self, name: &str) -> (Size, Vec<(String, String, bool)>) {
        let described = self
            .world
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap();
        let g = &described.auto_scaling_groups()[0];
        let mut tags: Vec<_> = g
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                    t.propagate_at_launch().unwrap_or(false),
                )
            })
            .collect();
        tags.sort();
        let size = (
            g.min_size().unwrap(),
            g.max_size().unwrap(),
            g.desired_capacity().unwrap(),
        );
        (size, tags)
    }

    /// The target's state document (`null` when it has none).
    async fn doc(&self, target: &str) -> Value {
        let records = self.store.get_many(&[target]).await.unwrap();
        records.get(target).map_or(Value::Null, |r| r.doc.clone())
    }

    async fn run(&self, yaml: &str, event: InvocationEvent, now: DateTime<Utc>) -> Report<Action> {
        self.real_run(yaml, event, now).await.unwrap()
    }

    /// A real invocation with the clock at `clock` (the event may carry `at`).
    async fn real_run(
        &self,
        yaml: &str,
        event: InvocationEvent,
        clock: DateTime<Utc>,
    ) -> Result<Report<Action>, TickError> {
        let schedule = schedule(yaml);
        let svc = Services {
            eks: &self.fn_eks,
            autoscaling: &self.fn_asg,
            state: &self.store,
            notifier: &self.notifier,
        };
        run(&svc, &schedule, &event, clock).await
    }

    async fn tick_at(&self, now: DateTime<Utc>) -> Report<Action> {
        self.run(SCHEDULE, InvocationEvent::default(), now).await
    }

    /// The function's public entry point, with a context built the way the Lambda builds it.
    fn ctx(&self, yaml: &str) -> Ctx {
        Ctx {
            aws: AwsCtx::from_sdk_config(self.sdk.clone())
                .with_state_table(TABLE)
                .with_notifier(self.notifier.clone()),
            schedule: Arc::new(schedule(yaml)),
        }
    }

    fn mutating_calls(&self) -> Vec<String> {
        self.wire
            .take()
            .into_iter()
            .filter(Call::mutating)
            .map(|c| c.key())
            .collect()
    }
}

fn schedule(yaml: &str) -> Schedule {
    parse_str(yaml, Path::new("schedules.yaml")).unwrap()
}

fn at(now: DateTime<Utc>) -> InvocationEvent {
    InvocationEvent {
        at: Some(now.fixed_offset()),
        ..InvocationEvent::default()
    }
}

fn assert_clean(report: &Report<Action>) {
    assert!(report.failed.is_empty(), "failed: {:#?}", report.failed);
}

#[tokio::test]
async fn friday_night_sleeps_monday_morning_restores_the_saved_triple() {
    // GIVEN two awake node groups behind Auto Scaling groups the cluster autoscaler discovers
    let env = Env::start().await;
    let app_asg = env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    let (_, app_tags_before) = env.group(&app_asg).await;
    let ctx = env.ctx(SCHEDULE);

    // WHEN the Friday 22:00 JST tick runs (through the Lambda's entry point)
    let report = tick(&ctx, &at(friday_night()), Utc::now()).await.unwrap();

    // THEN both are at min 0 / desired 0 with max unchanged, and the saved triple is stored
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert_eq!(env.scaling("batch").await, (0, 5, 0));
    let doc = env.doc("dev-eks/app").await;
    assert_eq!(doc["desired"], "asleep");
    assert_eq!(
        doc["saved"]["scaling"],
        json!({"min": 1, "max": 3, "desired": 2})
    );
    assert_eq!(
        env.doc("dev-eks/batch").await["saved"]["scaling"],
        json!({"min": 0, "max": 5, "desired": 1})
    );
    // ...and the cluster autoscaler can no longer discover the group
    let (_, parked) = env.group(&app_asg).await;
    let keys: Vec<&str> = parked.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["eks:cluster-name", "eks:nodegroup-name", "offpeak:asleep"]
    );
    assert!(
        parked[2].1.contains("restores min=1 max=3 desired=2"),
        "{}",
        parked[2].1
    );

    // WHEN the same tick is delivered again, and two more arrive at once
    env.wire.take();
    let again = tick(&ctx, &at(friday_night()), Utc::now()).await.unwrap();
    let later = friday_night() + Duration::minutes(5);
    let (a, b) = tokio::join!(env.tick_at(later), env.tick_at(later));

    // THEN nothing more changes: empty plans, no mutating call, the saved triple untouched
    for r in [&again, &a, &b] {
        assert_clean(r);
        assert!(r.plan.is_empty(), "{:#?}", r.plan);
    }
    assert_eq!(env.mutating_calls(), Vec::<String>::new());
    assert_eq!(env.doc("dev-eks/app").await, doc);

    // WHEN the Monday 07:30 JST tick runs
    let report = tick(&ctx, &at(monday_morning()), Utc::now()).await.unwrap();

    // THEN exactly the saved triple is back, the guard is undone, and the saved state is cleared
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    assert_eq!(env.scaling("batch").await, (0, 5, 1));
    assert_eq!(env.group(&app_asg).await.1, app_tags_before);
    let doc = env.doc("dev-eks/app").await;
    assert_eq!(doc["desired"], "awake");
    assert!(doc.get("saved").is_none(), "{doc}");
    let titles: Vec<_> = env
        .sent
        .take()
        .into_iter()
        .map(|n| (n.title, n.target.to_string()))
        .collect();
    assert_eq!(
        titles,
        [
            ("node group asleep", "dev-eks/app".to_owned()),
            ("node group asleep", "dev-eks/batch".to_owned()),
            ("node group awake", "dev-eks/app".to_owned()),
            ("node group awake", "dev-eks/batch".to_owned()),
        ]
    );
}

#[tokio::test]
async fn concurrent_first_ticks_converge_to_one_sleep() {
    // GIVEN awake node groups
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (2, 4, 2)).await;

    // WHEN two invocations of the Friday tick run concurrently
    let (a, b) = tokio::join!(env.tick_at(friday_night()), env.tick_at(friday_night()));

    // THEN neither fails, both groups sleep, and the saved triples are the originals.
    // (That exactly one of them resizes is shown by the unit test on the in-memory store: moto's
    // DynamoDB does not serialise concurrent conditional writes the way DynamoDB does, so here
    // the loser may get as far as a conflicting write, which is reported as deferred.)
    assert_clean(&a);
    assert_clean(&b);
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert_eq!(env.scaling("batch").await, (0, 4, 0));
    assert_eq!(
        env.doc("dev-eks/app").await["saved"]["scaling"],
        json!({"min": 1, "max": 3, "desired": 2})
    );
    assert_eq!(
        env.doc("dev-eks/batch").await["saved"]["scaling"],
        json!({"min": 2, "max": 4, "desired": 2})
    );
    let asleep = env
        .sent
        .take()
        .into_iter()
        .filter(|n| n.title == "node group asleep")
        .count();
    assert!(asleep >= 2, "each sleep is notified");

    // AND a later tick finds nothing left to do
    env.wire.take();
    let later = env.tick_at(friday_night() + Duration::minutes(5)).await;
    assert!(later.plan.is_empty(), "{:#?}", later.plan);
    assert_eq!(env.mutating_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_manual_scale_up_on_saturday_stays_up_unless_enforced() {
    // GIVEN a node group put to sleep on Friday night
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    assert_clean(&env.tick_at(friday_night()).await);

    // WHEN a developer scales it up by hand on Saturday and the next ticks run
    env.scale_by_hand("app", (1, 3, 1)).await;
    let report = env.tick_at(saturday()).await;
    env.tick_at(saturday() + Duration::minutes(5)).await;

    // THEN it stays up (enforce is false), and the report says why
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (1, 3, 1));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/app" && n.message.contains("left as is")),
        "{:#?}",
        report.notes
    );

    // WHEN the target sets enforce: true
    let enforced = SCHEDULE.replace("    sleep:", "    enforce: true\n    sleep:");
    let report = env
        .run(
            &enforced,
            InvocationEvent::default(),
            saturday() + Duration::minutes(10),
        )
        .await;

    // THEN it goes back to sleep, and Friday's saved triple is still the one to restore
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert_eq!(
        env.doc("dev-eks/app").await["saved"]["scaling"],
        json!({"min": 1, "max": 3, "desired": 2})
    );
    env.run(&enforced, InvocationEvent::default(), monday_morning())
        .await;
    assert_eq!(env.scaling("app").await, (1, 3, 2));
}

/// `(title, target)` of the notifications sent since the last call.
fn told(sent: &SentNotifications) -> Vec<(&'static str, String)> {
    sent.take()
        .into_iter()
        .map(|n| (n.title, n.target.to_string()))
        .collect()
}

#[tokio::test]
async fn an_override_wakes_a_node_group_until_it_expires() {
    // GIVEN sleeping node groups
    let env = Env::start().await;
    let app_asg = env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    env.tick_at(friday_night()).await;
    env.sent.take();

    // WHEN someone overrides app to awake until Saturday 18:00 JST
    let event: InvocationEvent = serde_json::from_value(json!({
        "override": {"target": "dev-eks/app", "state": "awake", "until": "2026-11-28T18:00:00+09:00"}
    }))
    .unwrap();
    let report = env.run(SCHEDULE, event, saturday()).await;

    // THEN the override is stored and app is back at its saved triple, with its autoscaler tags
    assert_clean(&report);
    assert!(matches!(
        report.applied[0].step,
        Step::RecordOverride { .. }
    ));
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    assert_eq!(env.scaling("batch").await, (0, 5, 0));
    assert_eq!(env.doc("dev-eks/app").await["override"]["state"], "awake");
    let keys: Vec<String> = env
        .group(&app_asg)
        .await
        .1
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert!(keys.contains(&AUTOSCALER_ENABLED.to_owned()), "{keys:?}");
    // AND its start was announced
    assert_eq!(
        told(&env.sent),
        [
            ("override started", "dev-eks/app".to_owned()),
            ("node group awake", "dev-eks/app".to_owned()),
        ]
    );

    // WHEN ticks run before and after the override ends
    let expiry = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
    let before = env.tick_at(expiry - Duration::minutes(5)).await;
    let after = env.tick_at(expiry + Duration::minutes(5)).await;

    // THEN it holds until then, and the next tick ends it, announces that, and puts app back to
    // sleep
    assert!(before.plan.is_empty(), "{:#?}", before.plan);
    assert!(matches!(
        after.applied[0].step,
        Step::EndOverride { cleared: false, .. }
    ));
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    let doc = env.doc("dev-eks/app").await;
    assert_eq!(
        doc["saved"]["scaling"],
        json!({"min": 1, "max": 3, "desired": 2})
    );
    assert!(doc.get("override").is_none(), "{doc}");
    assert_eq!(
        told(&env.sent),
        [
            ("override ended", "dev-eks/app".to_owned()),
            ("node group asleep", "dev-eks/app".to_owned()),
        ]
    );
}

#[tokio::test]
async fn clear_ends_an_override_and_the_next_tick_follows_the_schedule() {
    // GIVEN app held awake over the weekend by `offpeak override`, applied by a tick
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    env.tick_at(friday_night()).await;
    let ctx = env.ctx(SCHEDULE);
    let o = |state: &str, until: Option<&str>| {
        let mut o = json!({"target": "dev-eks/app", "state": state});
        if let Some(until) = until {
            o["until"] = json!(until);
        }
        let event: InvocationEvent = serde_json::from_value(json!({ "override": o })).unwrap();
        event.override_.unwrap()
    };
    let set = o("awake", Some("2026-11-29T18:00:00+09:00"));
    let held = offpeak_eks_nodegroups::set_override(&ctx, &set, saturday())
        .await
        .unwrap();
    assert!(matches!(held, Overridden::Held(_)), "{held:?}");
    env.tick_at(saturday() + Duration::minutes(5)).await;
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    env.sent.take();

    // WHEN `offpeak override dev-eks/app clear` runs
    let clear = o("clear", None);
    let cleared =
        offpeak_eks_nodegroups::set_override(&ctx, &clear, saturday() + Duration::hours(1))
            .await
            .unwrap();

    // THEN nothing changes until the next tick, which follows the schedule and announces the end
    assert!(matches!(cleared, Overridden::Cleared(_)), "{cleared:?}");
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    let report = env
        .tick_at(saturday() + Duration::hours(1) + Duration::minutes(5))
        .await;
    assert_clean(&report);
    assert!(matches!(
        report.applied[0].step,
        Step::EndOverride { cleared: true, .. }
    ));
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert!(env.doc("dev-eks/app").await.get("override").is_none());
    assert_eq!(
        told(&env.sent),
        [
            ("override ended", "dev-eks/app".to_owned()),
            ("node group asleep", "dev-eks/app".to_owned()),
        ]
    );

    // AND clearing again writes nothing and says so
    env.wire.take();
    let again = offpeak_eks_nodegroups::set_override(&ctx, &clear, saturday() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(again, Overridden::NothingToClear);
    assert!(env.mutating_calls().is_empty());
}

#[tokio::test]
async fn a_deleted_node_group_is_reported_and_does_not_stop_the_others() {
    // GIVEN a schedule naming a node group that no longer exists
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    let yaml = SCHEDULE.replace("[app, batch]", "[app, ghost, batch]");

    // WHEN the Friday tick runs
    let report = env
        .run(&yaml, InvocationEvent::default(), friday_night())
        .await;

    // THEN the others sleep, and the missing one is reported and notified
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert_eq!(env.scaling("batch").await, (0, 5, 0));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/ghost" && n.message.contains("does not exist")),
        "{:#?}",
        report.notes
    );
    let missing: Vec<_> = env
        .sent
        .take()
        .into_iter()
        .filter(|n| n.target.as_str() == "dev-eks/ghost")
        .map(|n| n.title)
        .collect();
    assert_eq!(missing, ["not found"]);
}

#[tokio::test]
async fn a_self_managed_auto_scaling_group_sleeps_and_wakes_with_its_guard() {
    // GIVEN a self-managed Auto Scaling group the cluster autoscaler discovers
    let env = Env::start().await;
    let tags = [
        (AUTOSCALER_ENABLED, "true", false),
        (PER_CLUSTER, "owned", true),
        ("team", "platform", true),
    ];
    env.auto_scaling_group("dev-legacy", (2, 6, 3), &tags).await;
    let (_, tags_before) = env.group("dev-legacy").await;
    let yaml = r#"
timezone: Asia/Tokyo
eks_nodegroups:
  - cluster: dev-eks
    autoscaling_groups: [dev-legacy]
    sleep:
      - from: fri 22:00
        to: mon 07:30
"#;

    // WHEN Friday night ticks
    let report = env
        .run(yaml, InvocationEvent::default(), friday_night())
        .await;

    // THEN it is at min 0 / desired 0 with max kept, and the discovery tags are parked
    assert_clean(&report);
    let (size, parked) = env.group("dev-legacy").await;
    assert_eq!(size, (0, 6, 0));
    let keys: Vec<&str> = parked.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ["offpeak:asleep", "team"]);
    let saved = &env.doc("dev-legacy").await["saved"];
    assert_eq!(saved["scaling"], json!({"min": 2, "max": 6, "desired": 3}));
    assert_eq!(saved["autoscaler_tags"].as_array().unwrap().len(), 2);

    // WHEN Monday morning ticks
    let report = env
        .run(yaml, InvocationEvent::default(), monday_morning())
        .await;

    // THEN the exact size and tags (values and PropagateAtLaunch) are back
    assert_clean(&report);
    assert_eq!(env.group("dev-legacy").await, ((2, 6, 3), tags_before));
    assert!(env.doc("dev-legacy").await.get("saved").is_none());
}

#[tokio::test]
async fn dry_run_makes_zero_mutating_calls() {
    // GIVEN awake node groups and a self-managed group at the start of the weekend
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    env.auto_scaling_group(
        "dev-legacy",
        (1, 2, 1),
        &[(AUTOSCALER_ENABLED, "true", true)],
    )
    .await;
    let yaml = SCHEDULE.replace(
        "    sleep:",
        "    autoscaling_groups: [dev-legacy]\n    sleep:",
    );
    let event = InvocationEvent {
        dry_run: true,
        ..InvocationEvent::default()
    };

    // WHEN a dry run ticks
    let report = env.run(&yaml, event, friday_night()).await;

    // THEN the plan shows the sleep, and every call made was a read
    assert!(report.dry_run);
    let scale_downs = report
        .plan
        .iter()
        .filter(|a| matches!(a.step, Step::ScaleToZero { .. }))
        .count();
    assert_eq!(scale_downs, 3, "{:#?}", report.plan);
    assert!(report.applied.is_empty());
    let calls: Vec<String> = env.wire.take().iter().map(Call::key).collect();
    assert!(!calls.is_empty());
    let writes: Vec<_> = calls.iter().filter(|c| !is_read(c)).collect();
    assert!(
        writes.is_empty(),
        "mutating calls in a dry run: {writes:?} (all: {calls:?})"
    );
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    assert_eq!(env.doc("dev-eks/app").await, Value::Null);
    assert!(env.sent.is_empty());
}

/// The state item of `target`, deleted as if the table had lost it.
async fn lose_state(env: &Env, target: &str) {
    let records = env.store.get_many(&[target]).await.unwrap();
    let version = records[target].version;
    env.store.delete(target, version).await.unwrap();
}

#[tokio::test]
async fn lost_state_is_recovered_from_the_asleep_marker() {
    // GIVEN node groups put to sleep on Friday night
    let env = Env::start().await;
    let app_asg = env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    let (_, app_tags_before) = env.group(&app_asg).await;
    assert_clean(&env.tick_at(friday_night()).await);

    // WHEN app's state item is lost and a Saturday tick runs
    lose_state(&env, "dev-eks/app").await;
    let report = env.tick_at(saturday()).await;

    // THEN the pre-sleep triple is saved again from the marker, never the zeros it is at now
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert_eq!(
        env.doc("dev-eks/app").await["saved"]["scaling"],
        json!({"min": 1, "max": 3, "desired": 2})
    );

    // WHEN it is lost again and the Monday tick runs
    lose_state(&env, "dev-eks/app").await;
    let report = env.tick_at(monday_morning()).await;

    // THEN the exact sizes and the discovery tags are back, and the marker is gone
    assert_clean(&report);
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    assert_eq!(env.scaling("batch").await, (0, 5, 1));
    assert_eq!(env.group(&app_asg).await.1, app_tags_before);
}

#[tokio::test]
async fn lost_state_and_an_unreadable_marker_keep_the_group_asleep_and_tell_a_person() {
    // GIVEN app asleep, its state item lost and its marker overwritten by hand
    let env = Env::start().await;
    let app_asg = env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    assert_clean(&env.tick_at(friday_night()).await);
    lose_state(&env, "dev-eks/app").await;
    let marker = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(&app_asg)
        .resource_type("auto-scaling-group")
        .key("offpeak:asleep")
        .value("asleep, ask Ken")
        .propagate_at_launch(false)
        .build();
    env.world
        .asg
        .create_or_update_tags()
        .tags(marker)
        .send()
        .await
        .unwrap();
    env.sent.take();

    // WHEN the Monday tick runs
    let report = env.tick_at(monday_morning()).await;

    // THEN app is not woken to zeros nor unmarked: it stays as it is, and a person is told
    assert_eq!(env.scaling("app").await, (0, 3, 0));
    assert_eq!(env.scaling("batch").await, (0, 5, 1));
    let (_, tags) = env.group(&app_asg).await;
    assert!(
        tags.iter()
            .any(|(k, v, _)| k == "offpeak:asleep" && v == "asleep, ask Ken"),
        "{tags:?}"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/app" && n.message.contains("restores min=")),
        "{:#?}",
        report.notes
    );
    let told: Vec<_> = env
        .sent
        .take()
        .into_iter()
        .filter(|n| n.target.as_str() == "dev-eks/app")
        .collect();
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(told[0].severity, offpeak_shared::notify::Severity::Failure);
    assert!(
        told[0]
            .facts
            .iter()
            .any(|(k, v)| *k == "max" && v.render() == "3"),
        "{:?}",
        told[0].facts
    );
    assert!(env.doc("dev-eks/app").await.get("saved").is_none());
}

#[tokio::test]
async fn a_target_removed_from_the_schedule_is_woken_and_released() {
    // GIVEN two node groups put to sleep on Friday night
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    let batch_asg = env.nodegroup("batch", (0, 5, 1)).await;
    let (_, batch_tags_before) = env.group(&batch_asg).await;
    assert_clean(&env.tick_at(friday_night()).await);
    env.sent.take();

    // WHEN batch is removed from the schedule and a Saturday tick runs
    let only_app = SCHEDULE.replace("[app, batch]", "[app]");
    let report = env
        .run(&only_app, InvocationEvent::default(), saturday())
        .await;

    // THEN batch is back at its exact sizes and tags, and offpeak forgets it
    assert_clean(&report);
    assert_eq!(env.scaling("batch").await, (0, 5, 1));
    assert_eq!(env.group(&batch_asg).await.1, batch_tags_before);
    assert_eq!(env.doc("dev-eks/batch").await, Value::Null);
    assert_eq!(
        env.doc("offpeak/registry/eks-nodegroups").await,
        json!({"targets": ["dev-eks/app"]})
    );
    let titles: Vec<_> = env.sent.take().into_iter().map(|n| n.title).collect();
    assert_eq!(titles, ["node group awake"]);
    // ...and app, still scheduled, stays asleep
    assert_eq!(env.scaling("app").await, (0, 3, 0));

    // AND the next tick has nothing left to do
    env.wire.take();
    let later = env
        .run(
            &only_app,
            InvocationEvent::default(),
            saturday() + Duration::minutes(5),
        )
        .await;
    assert!(later.plan.is_empty(), "{:#?}", later.plan);
    assert_eq!(env.mutating_calls(), Vec::<String>::new());
}

/// Friday 2026-11-27 20:00 JST: two hours before the weekend's sleep window opens.
fn friday_evening() -> DateTime<Utc> {
    friday_night() - Duration::hours(2)
}

#[tokio::test]
async fn a_real_run_with_at_does_not_steal_a_live_ticks_lease() {
    // GIVEN awake node groups, and a live tick holding app's lease since the clock's T
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    env.nodegroup("batch", (0, 5, 1)).await;
    let leased = env
        .store
        .try_lease(
            "dev-eks/app",
            "eks-nodegroups/live",
            friday_evening(),
            Duration::minutes(4),
        )
        .await
        .unwrap();
    assert!(leased);

    // WHEN a real (not dry-run) invocation replays T + 2h, one minute after T on the clock
    let clock = friday_evening() + Duration::minutes(1);
    let report = env
        .real_run(SCHEDULE, at(friday_night()), clock)
        .await
        .unwrap();

    // THEN the schedule is evaluated at `at` (batch sleeps), but app is left to the lease holder
    assert_eq!(env.scaling("batch").await, (0, 5, 0));
    assert_eq!(env.scaling("app").await, (1, 3, 2));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/app" && n.message.contains("another invocation")),
        "{:#?}",
        report.notes
    );
}

#[tokio::test]
async fn an_override_more_than_31_days_after_the_clock_is_refused_whatever_at_says() {
    // GIVEN a node group and a clock
    let env = Env::start().await;
    env.nodegroup("app", (1, 3, 2)).await;
    let clock = saturday();

    // WHEN an invocation replays clock + 30 days with an override until clock + 40 days
    let event: InvocationEvent = serde_json::from_value(json!({
        "at": (clock + Duration::days(30)).to_rfc3339(),
        "override": {"target": "dev-eks/app", "state": "asleep",
                     "until": (clock + Duration::days(40)).to_rfc3339()}
    }))
    .unwrap();
    let refused = env.real_run(SCHEDULE, event, clock).await.unwrap_err();

    // THEN it is refused as bad input, and nothing is recorded or changed
    assert!(refused.is_bad_input(), "{refused}");
    assert!(
        refused.to_string().contains("more than 31 days"),
        "{refused}"
    );
    assert_eq!(env.doc("dev-eks/app").await, Value::Null);
    assert_eq!(env.scaling("app").await, (1, 3, 2));
}

/// The state table's write calls of each kind in one tick.
fn state_writes(calls: &[Call]) -> (usize, usize) {
    let tally = offpeak_tests::wire::tally(calls);
    let of = |op: &str| tally.get(op).copied().unwrap_or(0);
    (of("dynamodb:UpdateItem"), of("dynamodb:TransactWriteItems"))
}

#[tokio::test]
async fn state_writes_per_tick_for_1_and_50_node_groups() {
    for n in [1_usize, 50] {
        // GIVEN n awake node groups
        let env = Env::start().await;
        let names: Vec<String> = (1..=n).map(|i| format!("ng-{i}")).collect();
        for name in &names {
            env.nodegroup(name, (1, 3, 2)).await;
        }
        let yaml = SCHEDULE.replace("[app, batch]", &format!("[{}]", names.join(", ")));
        env.wire.take();

        // WHEN the weekend's sleep and Monday's wake tick
        assert_clean(
            &env.run(&yaml, InvocationEvent::default(), friday_night())
                .await,
        );
        let sleep = env.wire.take();
        assert_clean(
            &env.run(&yaml, InvocationEvent::default(), monday_morning())
                .await,
        );
        let wake = env.wire.take();
        println!(
            "{n} node group(s): sleep {:?}",
            offpeak_tests::wire::tally(&sleep)
        );
        println!(
            "{n} node group(s): wake {:?}",
            offpeak_tests::wire::tally(&wake)
        );

        // THEN per node group: its claim and the state writes its steps make (sleep: the saved
        // scaling and the committed state; wake: the verified restore), one registry write
        // enrolling them all on Friday, and the leases given back together at the end of each
        // tick (one UpdateItem for a single lease)
        let (alone, together) = match n {
            1 => (1, 0),
            n => (0, n.div_ceil(100)),
        };
        assert_eq!(state_writes(&sleep), (3 * n + 1 + alone, together), "sleep");
        assert_eq!(state_writes(&wake), (2 * n + alone, together), "wake");
        assert_eq!(env.scaling("ng-1").await, (1, 3, 2));
    }
}
