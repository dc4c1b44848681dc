//! Whole-flow tests of a tick on in-memory fakes: AWS, state store and notifier.

use chrono::Duration;
use offpeak_shared::event::{Override, OverrideState};
use offpeak_shared::notify::{Notifier, SentNotifications, Severity};
use offpeak_shared::state::{HookedStore, MemoryStateStore};

use super::*;
use crate::aws::fake::{FakeAutoScaling, FakeEks};
use crate::guard::MIRROR_KEY;
use crate::model::{AsgTag, SleepState};
use crate::plan::Step;
use crate::testing::{self, friday_night, monday_morning, s, saturday};

const YAML: &str = r#"
  - cluster: dev-eks
    nodegroups: [app, batch]
    autoscaling_groups: [dev-legacy]
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

const ENFORCED: &str = r#"
  - cluster: dev-eks
    nodegroups: [app, batch]
    autoscaling_groups: [dev-legacy]
    enforce: true
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

fn asg_tags(cluster_key_value: &str) -> Vec<AsgTag> {
    vec![
        AsgTag::new("eks:nodegroup-name", "app", false),
        AsgTag::new("k8s.io/cluster-autoscaler/dev-eks", cluster_key_value, true),
        AsgTag::new("k8s.io/cluster-autoscaler/enabled", "true", true),
    ]
}

struct World {
    eks: FakeEks,
    asg: FakeAutoScaling,
    state: MemoryStateStore,
    notifier: Notifier,
    sent: SentNotifications,
}

impl World {
    fn new() -> Self {
        let eks = FakeEks::default()
            .nodegroup("dev-eks", "app", s(1, 3, 2), "eks-app")
            .nodegroup("dev-eks", "batch", s(0, 5, 1), "eks-batch");
        let asg = FakeAutoScaling::default()
            .group("eks-app", s(1, 3, 2), asg_tags("owned"))
            .group("eks-batch", s(0, 5, 1), asg_tags("owned"))
            .group("dev-legacy", s(2, 4, 2), asg_tags("legacy"));
        Self::with(eks, asg)
    }

    fn with(eks: FakeEks, asg: FakeAutoScaling) -> Self {
        let (notifier, sent) = Notifier::in_memory();
        Self {
            eks,
            asg,
            state: MemoryStateStore::new(),
            notifier,
            sent,
        }
    }

    /// Runs a tick of `yaml` on these fakes, with `state` as its state store.
    async fn run_on<S: StateStore>(
        &self,
        state: &S,
        yaml: &str,
        event: &InvocationEvent,
        now: DateTime<Utc>,
    ) -> Result<Report<Action>, TickError> {
        let svc = Services {
            eks: &self.eks,
            autoscaling: &self.asg,
            state,
            notifier: &self.notifier,
        };
        run(&svc, &testing::schedule(yaml), event, now).await
    }

    async fn tick(&self, yaml: &str, event: InvocationEvent, now: DateTime<Utc>) -> Report<Action> {
        self.run_on(&self.state, yaml, &event, now).await.unwrap()
    }

    async fn at(&self, now: DateTime<Utc>) -> Report<Action> {
        self.tick(YAML, InvocationEvent::default(), now).await
    }

    async fn doc(&self, target: &str) -> Stored {
        record::read(&self.state, target).await.unwrap()
    }

    fn writes(&self) -> Vec<String> {
        self.eks
            .calls()
            .into_iter()
            .chain(self.asg.calls())
            .filter(|c| !c.starts_with("Describe") && !c.starts_with("List"))
            .collect()
    }

    fn titles(&self) -> Vec<(Severity, String, &'static str)> {
        self.sent.take_titles()
    }
}

#[tokio::test]
async fn a_weekend_sleeps_and_wakes_to_exactly_what_was_there() {
    let world = World::new();

    // GIVEN awake groups WHEN Friday 22:00 JST ticks
    let report = world.at(friday_night()).await;

    // THEN every target is at min 0 / desired 0 with max kept, and the pre-sleep state is saved
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 0));
    assert_eq!(world.asg.scaling("dev-legacy"), s(0, 4, 0));
    let saved = world.doc("dev-eks/app").await.doc.saved.unwrap();
    assert_eq!(saved.scaling, s(1, 3, 2));
    assert_eq!(saved.asg.as_deref(), Some("eks-app"));
    let keys: Vec<_> = world
        .asg
        .tags("eks-app")
        .into_iter()
        .map(|t| t.key)
        .collect();
    assert_eq!(
        keys,
        ["eks:nodegroup-name", MIRROR_KEY],
        "discovery tags parked"
    );
    assert_eq!(
        world.titles(),
        [
            (Severity::Action, "dev-eks/app".into(), "node group asleep"),
            (
                Severity::Action,
                "dev-eks/batch".into(),
                "node group asleep"
            ),
            (
                Severity::Action,
                "dev-legacy".into(),
                "auto scaling group asleep"
            ),
        ]
    );

    // WHEN the tick is delivered again
    let writes_before = world.writes().len();
    let version = world.doc("dev-eks/app").await.version;
    let again = world.at(friday_night() + Duration::minutes(1)).await;

    // THEN the plan is empty and nothing is written anywhere
    assert!(again.plan.is_empty(), "{:?}", again.plan);
    assert_eq!(world.writes().len(), writes_before);
    assert_eq!(world.doc("dev-eks/app").await.version, version);
    assert!(world.sent.is_empty());

    // WHEN Monday 07:30 JST ticks
    let report = world.at(monday_morning()).await;

    // THEN exactly the saved sizes and tags are back and the saved state is cleared
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 1));
    assert_eq!(world.asg.scaling("dev-legacy"), s(2, 4, 2));
    assert_eq!(world.asg.tags("eks-app"), asg_tags("owned"));
    assert_eq!(world.asg.tags("dev-legacy"), asg_tags("legacy"));
    let doc = world.doc("dev-eks/app").await.doc;
    assert_eq!((doc.saved, doc.desired), (None, Some(SleepState::Awake)));
    let sent = world.sent.take();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].title, "node group awake");
    let hours = sent[0]
        .facts
        .iter()
        .find(|(k, _)| *k == "instance_hours_saved")
        .unwrap();
    assert_eq!(hours.1.render(), "115", "2 nodes x 57.5 hours");
}

#[tokio::test]
async fn a_manual_scale_up_on_saturday_is_respected_unless_enforced() {
    let world = World::new();
    world.at(friday_night()).await;
    world.sent.take();

    // GIVEN a developer scales app up on Saturday
    world.eks.set_scaling("dev-eks", "app", s(1, 3, 1));

    // WHEN ticks follow without enforce
    let first = world.at(saturday()).await;
    let later = world.at(saturday() + Duration::minutes(20)).await;
    world.at(saturday() + Duration::minutes(25)).await;

    // THEN it stays up, and the drift is notified once, after the grace period
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 1));
    assert!(noted(&first, "left as is"), "{:?}", first.notes);
    assert!(
        later
            .applied
            .iter()
            .any(|a| matches!(a.step, Step::Flag { report: true, .. }))
    );
    assert_eq!(
        world.titles(),
        [(
            Severity::Drift,
            "dev-eks/app".into(),
            "differs from its schedule"
        )]
    );

    // WHEN the target sets enforce: true
    world
        .tick(
            ENFORCED,
            InvocationEvent::default(),
            saturday() + Duration::minutes(30),
        )
        .await;

    // THEN it goes back to sleep and the saved scaling is still Friday's
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    let doc = world.doc("dev-eks/app").await.doc;
    assert_eq!(doc.saved.unwrap().scaling, s(1, 3, 2));
    assert_eq!(doc.attention, None);
}

#[tokio::test]
async fn an_override_wakes_a_group_until_it_ends() {
    let world = World::new();
    world.at(friday_night()).await;

    // WHEN an override keeps app awake until Saturday 18:00 JST
    let until = saturday() + Duration::hours(8);
    let event = InvocationEvent {
        override_: Some(Override {
            target: "dev-eks/app".into(),
            state: OverrideState::Awake,
            until: Some(until.fixed_offset()),
            for_: None,
        }),
        ..InvocationEvent::default()
    };
    let report = world.tick(YAML, event, saturday()).await;

    // THEN it is recorded and app is restored at once; batch stays asleep
    assert!(matches!(
        report.applied[0].step,
        Step::RecordOverride { .. }
    ));
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 0));
    assert!(world.at(until - Duration::minutes(5)).await.plan.is_empty());

    // WHEN the first tick after it ends runs
    world.at(until + Duration::minutes(2)).await;

    // THEN app sleeps again, having saved its scaling anew
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    let doc = world.doc("dev-eks/app").await.doc;
    assert_eq!(doc.saved.unwrap().at, until + Duration::minutes(2));
    assert_eq!(doc.override_, None, "the ended override is dropped");
}

/// An override event for `target`; `until` is omitted for `clear`.
fn override_event(
    target: &str,
    state: OverrideState,
    until: Option<DateTime<Utc>>,
) -> InvocationEvent {
    InvocationEvent {
        override_: Some(Override {
            target: target.into(),
            state,
            until: until.map(|u| u.fixed_offset()),
            for_: None,
        }),
        ..InvocationEvent::default()
    }
}

/// What a tick that ends app's override, and so puts it back to sleep, tells: in this order.
fn override_ended_then_asleep() -> [(&'static str, String); 2] {
    [
        ("override ended", "dev-eks/app".to_owned()),
        ("node group asleep", "dev-eks/app".to_owned()),
    ]
}

/// Whether the tick noted something containing `needle`.
fn noted(report: &Report<Action>, needle: &str) -> bool {
    report.notes.iter().any(|n| n.message.contains(needle))
}

impl World {
    /// `(title, target)` of every notification sent so far, in order.
    fn told(&self) -> Vec<(&'static str, String)> {
        self.titles()
            .into_iter()
            .map(|(_, target, title)| (title, target))
            .collect()
    }
}

#[tokio::test]
async fn an_override_is_announced_when_it_starts_and_when_it_ends() {
    // GIVEN sleeping groups, and app held awake until Saturday 18:00 JST
    let world = World::new();
    world.at(friday_night()).await;
    world.told();
    let until = saturday() + Duration::hours(8);
    let event = override_event("dev-eks/app", OverrideState::Awake, Some(until));
    world.tick(YAML, event, saturday()).await;
    let started = world.told();
    assert_eq!(
        started,
        [
            ("override started", "dev-eks/app".to_owned()),
            ("node group awake", "dev-eks/app".to_owned()),
        ]
    );

    // WHEN the first tick after its end runs
    let report = world.at(until + Duration::minutes(2)).await;

    // THEN its end is announced first, then the sleep it leads to
    assert!(matches!(
        report.applied[0].step,
        Step::EndOverride { cleared: false, .. }
    ));
    assert_eq!(world.told(), override_ended_then_asleep());
    assert_eq!(world.doc("dev-eks/app").await.doc.override_, None);
}

#[tokio::test]
async fn clear_in_an_event_restores_the_schedule_in_that_tick() {
    // GIVEN app held awake on Saturday
    let world = World::new();
    world.at(friday_night()).await;
    let event = override_event(
        "dev-eks/app",
        OverrideState::Awake,
        Some(saturday() + Duration::hours(8)),
    );
    world.tick(YAML, event, saturday()).await;
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));
    world.told();

    // WHEN an event clears it
    let clear = override_event("dev-eks/app", OverrideState::Clear, None);
    let report = world
        .tick(YAML, clear.clone(), saturday() + Duration::hours(1))
        .await;

    // THEN the override is gone and app sleeps again, as the schedule says, with both announced
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(world.doc("dev-eks/app").await.doc.override_, None);
    assert_eq!(world.told(), override_ended_then_asleep());

    // AND clearing it again is a no-op that says so
    let report = world
        .tick(YAML, clear, saturday() + Duration::hours(2))
        .await;
    assert!(report.plan.is_empty(), "{:?}", report.plan);
    assert!(
        noted(&report, "no override holds this target"),
        "{:?}",
        report.notes
    );
    assert!(world.told().is_empty());
}

#[tokio::test]
async fn offpeak_override_clear_is_applied_and_announced_by_the_next_tick() {
    // GIVEN app held awake on Saturday by `offpeak override`, applied by a tick
    let world = World::new();
    let schedule = testing::schedule(YAML);
    world.at(friday_night()).await;
    let set = override_event(
        "dev-eks/app",
        OverrideState::Awake,
        Some(saturday() + Duration::hours(8)),
    );
    let held = overrides::record(
        &world.state,
        &schedule,
        set.override_.as_ref().unwrap(),
        saturday(),
    )
    .await
    .unwrap();
    assert!(matches!(held, overrides::Overridden::Held(_)), "{held:?}");
    world.at(saturday() + Duration::minutes(5)).await;
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));
    world.told();

    // WHEN `offpeak override dev-eks/app clear` runs, then the next tick
    let clear = override_event("dev-eks/app", OverrideState::Clear, None);
    let cleared = overrides::record(
        &world.state,
        &schedule,
        clear.override_.as_ref().unwrap(),
        saturday() + Duration::minutes(30),
    )
    .await
    .unwrap();
    assert!(
        matches!(cleared, overrides::Overridden::Cleared(_)),
        "{cleared:?}"
    );
    assert_eq!(
        world.eks.scaling("dev-eks", "app"),
        s(1, 3, 2),
        "not before a tick"
    );
    world.at(saturday() + Duration::minutes(35)).await;

    // THEN that tick follows the schedule (asleep) and announces the end
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(world.told(), override_ended_then_asleep());
    assert_eq!(world.doc("dev-eks/app").await.doc.override_, None);
}

#[tokio::test]
async fn a_deleted_node_group_is_reported_once_and_the_others_proceed() {
    let world = World::new();
    world.eks.delete("dev-eks", "batch");

    let report = world.at(friday_night()).await;

    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(world.asg.scaling("dev-legacy"), s(0, 4, 0));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/batch" && n.message.contains("does not exist")),
        "{:?}",
        report.notes
    );
    let titles = world.titles();
    assert!(titles.contains(&(Severity::Failure, "dev-eks/batch".into(), "not found")));
    world.at(friday_night() + Duration::minutes(5)).await;
    assert!(world.sent.is_empty(), "notified once, not every tick");
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let world = World::new();
    let event = InvocationEvent {
        dry_run: true,
        ..InvocationEvent::default()
    };

    let report = world.tick(YAML, event, friday_night()).await;

    assert!(report.dry_run);
    assert!(
        report
            .plan
            .iter()
            .any(|a| matches!(a.step, Step::ScaleToZero { .. }))
    );
    assert!(report.applied.is_empty());
    assert!(world.writes().is_empty(), "{:?}", world.writes());
    assert_eq!(world.doc("dev-eks/app").await, Stored::default());
    assert!(world.sent.is_empty());
}

#[tokio::test]
async fn a_failed_call_keeps_the_saved_state_and_the_next_tick_finishes_the_job() {
    let world = World::new();
    world.eks.fail_updates("app");

    let report = world.at(friday_night()).await;

    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].error.contains("ThrottlingException"),
        "{}",
        report.failed[0].error
    );
    assert_eq!(
        world.eks.scaling("dev-eks", "batch"),
        s(0, 5, 0),
        "the others proceed"
    );
    let doc = world.doc("dev-eks/app").await.doc;
    assert_eq!(doc.saved.unwrap().scaling, s(1, 3, 2));
    assert_eq!(doc.desired, None, "not recorded as converged");
    assert!(
        world
            .titles()
            .contains(&(Severity::Failure, "dev-eks/app".into(), "action failed"))
    );

    // WHEN the next tick runs (the API works again)
    world.eks.recover_updates("app");
    world.at(friday_night() + Duration::minutes(5)).await;

    // THEN it finishes the sleep without overwriting the saved scaling
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(
        world.doc("dev-eks/app").await.doc.saved.unwrap().at,
        friday_night()
    );
}

#[tokio::test]
async fn a_target_leased_by_another_invocation_is_left_to_it() {
    let world = World::new();
    world
        .state
        .try_lease(
            "dev-eks/app",
            "someone-else",
            friday_night(),
            Duration::minutes(4),
        )
        .await
        .unwrap();

    let report = world.at(friday_night()).await;

    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 0));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/app" && n.message.contains("another invocation"))
    );
}

#[tokio::test]
async fn the_skip_tag_keeps_offpeak_away_until_it_ends() {
    let world = World::new();
    world.eks.set_tag(
        "dev-eks",
        "app",
        crate::skip::SKIP_KEY,
        "2026-11-28T18:00:00+09:00",
    );

    world.at(friday_night()).await;
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));

    world.at(saturday() + Duration::hours(9)).await;
    assert_eq!(
        world.eks.scaling("dev-eks", "app"),
        s(0, 3, 0),
        "the schedule applies after it"
    );
}

#[tokio::test]
async fn an_override_that_is_bad_input_fails_the_tick_before_any_call() {
    let until = Some(saturday() + Duration::hours(1));
    let cases = [
        (
            "a state of another function",
            override_event("dev-eks/app", OverrideState::Replicas(2), until),
        ),
        (
            "an unknown target",
            override_event("dev-eks/ghost", OverrideState::Awake, until),
        ),
    ];
    for (case, event) in cases {
        // GIVEN awake groups
        let world = World::new();

        // WHEN an event brings the override
        let err = world
            .run_on(&world.state, YAML, &event, saturday())
            .await
            .unwrap_err();

        // THEN the tick fails as bad input, and AWS is not called
        assert!(err.is_bad_input(), "{case}: {err}");
        assert!(world.eks.calls().is_empty(), "{case}");
    }
}

#[tokio::test]
async fn concurrent_ticks_resize_each_group_once() {
    let world = World::new();

    let (a, b) = tokio::join!(world.at(friday_night()), world.at(friday_night()));

    assert!(
        a.failed.is_empty() && b.failed.is_empty(),
        "{:?} {:?}",
        a.failed,
        b.failed
    );
    let resizes = world
        .writes()
        .into_iter()
        .filter(|c| c == "UpdateNodegroupConfig" || c == "UpdateAutoScalingGroup")
        .count();
    assert_eq!(resizes, 3, "app, batch and dev-legacy, once each");
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(
        world.doc("dev-eks/app").await.doc.saved.unwrap().scaling,
        s(1, 3, 2)
    );
    let asleep = world
        .titles()
        .into_iter()
        .filter(|t| t.2.ends_with("asleep"))
        .count();
    assert_eq!(asleep, 3, "one notification per sleep");
    let yielded =
        a.notes.iter().chain(&b.notes).any(|n| {
            n.message.contains("another invocation") || n.message.contains("concurrent tick")
        });
    assert!(
        yielded,
        "the ticks interleaved: {:?} {:?}",
        a.notes, b.notes
    );
}

mod orphaned;

#[tokio::test]
async fn a_drift_notice_that_could_not_be_published_is_sent_by_a_later_tick() {
    // GIVEN asleep groups, one scaled up by hand on Saturday, and SNS unreachable for a while
    let mut world = World::new();
    world.at(friday_night()).await;
    world.titles();
    world.eks.set_scaling("dev-eks", "app", s(1, 3, 1));
    let working = std::mem::replace(&mut world.notifier, Notifier::unreachable());
    world.at(saturday()).await;

    // WHEN the grace period ends while SNS is down
    let report = world.at(saturday() + Duration::minutes(20)).await;

    // THEN the drift is flagged but not recorded as told
    assert!(noted(&report, "publish to sns"), "{:?}", report.notes);
    let attention = world.doc("dev-eks/app").await.doc.attention.unwrap();
    assert!(!attention.reported, "{attention:?}");

    // WHEN SNS is back
    world.notifier = working;
    world.at(saturday() + Duration::minutes(25)).await;
    world.at(saturday() + Duration::minutes(30)).await;

    // THEN the drift notice goes out, once
    assert_eq!(
        world.titles(),
        [(
            Severity::Drift,
            "dev-eks/app".into(),
            "differs from its schedule"
        )]
    );
    assert!(
        world
            .doc("dev-eks/app")
            .await
            .doc
            .attention
            .unwrap()
            .reported
    );
}

#[tokio::test]
async fn a_plan_that_only_edits_the_document_is_one_write_and_leases_go_back_together() {
    // GIVEN a store that counts its writes
    let world = World::new();
    let store = HookedStore::default();
    let event = InvocationEvent::default();
    let tick = |now| world.run_on(&store, YAML, &event, now);
    let inner = &store.inner;
    let lease_of = |target: &'static str| async move {
        let records = inner.get_many(&[target]).await.unwrap();
        records[target].lease.clone().map(|l| l.holder)
    };

    // WHEN the weekend's sleep changes the three targets in AWS
    let sleep = tick(friday_night()).await.unwrap();

    // THEN their three leases went back in one write at the end of the tick
    assert!(sleep.failed.is_empty(), "{sleep:?}");
    assert_eq!((store.releases(), store.releases_together()), (0, 1));
    for target in ["dev-eks/app", "dev-eks/batch", "dev-legacy"] {
        assert_eq!(lease_of(target).await, None, "{target}");
    }

    // GIVEN a developer scales app up on Saturday, and another invocation holds app when the
    // grace period ends
    world.titles();
    world.eks.set_scaling("dev-eks", "app", s(1, 3, 1));
    tick(saturday()).await.unwrap();
    let grace_over = saturday() + Duration::minutes(20);
    let held = store.try_lease(
        "dev-eks/app",
        "someone-else",
        grace_over,
        Duration::minutes(4),
    );
    assert!(held.await.unwrap());

    // WHEN the tick that would flag the drift comes
    let aside = tick(grace_over).await.unwrap();

    // THEN it stands aside: the flag is not written, nor told
    assert!(noted(&aside, "another invocation"), "{:?}", aside.notes);
    let attention = record::read(&store, "dev-eks/app")
        .await
        .unwrap()
        .doc
        .attention;
    assert!(
        attention.as_ref().is_none_or(|a| !a.reported),
        "{attention:?}"
    );
    assert!(world.titles().is_empty());

    // WHEN the next tick comes, once that lease has expired
    let (puts, releases) = (store.puts(), store.releases());
    let flagged = tick(grace_over + Duration::minutes(5)).await.unwrap();

    // THEN one write records the flag, takes no lease and leaves nothing to give back
    assert!(
        flagged
            .applied
            .iter()
            .any(|a| matches!(a.step, Step::Flag { report: true, .. })),
        "{flagged:?}"
    );
    assert_eq!(store.puts(), puts + 1);
    assert_eq!((store.releases(), store.releases_together()), (releases, 1));
    assert_eq!(lease_of("dev-eks/app").await, None);
    assert_eq!(world.titles().len(), 1);
}
