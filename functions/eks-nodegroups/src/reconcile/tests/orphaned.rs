//! Whole-flow tests of the registry: enrolment before change, and targets that left the schedule.

use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{HookedStore, OnWrite, PutOutcome};

use super::*;
use crate::testing::DEV_APP;

const WILDCARD: &str = r#"
  - cluster: dev-eks
    nodegroups: ["*"]
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

/// `old-eks`'s `web` node group, on the same weekend schedule as `DEV_APP`.
const OLD_WEB: &str = r#"
  - cluster: old-eks
    nodegroups: [web]
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

impl World {
    async fn registered(&self) -> Vec<String> {
        let records = self
            .state
            .get_many(&[registry::key(FUNCTION)])
            .await
            .unwrap();
        let registry = Registry::from_records(&records, FUNCTION).unwrap();
        registry.targets.into_iter().collect()
    }
}

#[tokio::test]
async fn a_removed_self_managed_group_is_woken_exactly_and_released() {
    // GIVEN app, batch and the self-managed dev-legacy put to sleep (and so registered)
    let world = World::new();
    world.at(friday_night()).await;
    assert_eq!(
        world.registered().await,
        ["dev-eks/app", "dev-eks/batch", "dev-legacy"]
    );
    world.sent.take();

    // WHEN batch and dev-legacy leave the schedule and a Saturday tick runs
    let report = world
        .tick(DEV_APP, InvocationEvent::default(), saturday())
        .await;

    // THEN both are back at exactly their sizes and tags, released, their state deleted
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 1));
    assert_eq!(world.asg.scaling("dev-legacy"), s(2, 4, 2));
    assert_eq!(world.asg.tags("dev-legacy"), asg_tags("legacy"));
    assert_eq!(world.registered().await, ["dev-eks/app"]);
    assert_eq!(world.doc("dev-legacy").await, Stored::default());
    assert_eq!(
        world.eks.scaling("dev-eks", "app"),
        s(0, 3, 0),
        "still scheduled"
    );
    let titles = world.titles();
    assert!(
        titles.contains(&(
            Severity::Action,
            "dev-legacy".into(),
            "auto scaling group awake"
        )),
        "{titles:?}"
    );

    // AND the next tick has nothing to do
    let writes = world.writes().len();
    let later = world
        .tick(
            DEV_APP,
            InvocationEvent::default(),
            saturday() + Duration::minutes(5),
        )
        .await;
    assert!(later.plan.is_empty(), "{:?}", later.plan);
    assert_eq!(world.writes().len(), writes);
}

#[tokio::test]
async fn a_removed_target_offpeak_holds_nothing_for_is_released_without_a_change() {
    // GIVEN batch slept and woke again: registered, awake, nothing saved
    let world = World::new();
    world.at(friday_night()).await;
    world.at(monday_morning()).await;
    let writes = world.writes().len();

    // WHEN it leaves the schedule
    let report = world
        .tick(
            DEV_APP,
            InvocationEvent::default(),
            monday_morning() + Duration::hours(1),
        )
        .await;

    // THEN it is released and forgotten, and nothing in AWS is touched
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(world.registered().await, ["dev-eks/app"]);
    assert_eq!(world.writes().len(), writes);
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 1));
}

#[tokio::test]
async fn a_wildcard_node_group_is_never_woken_for_a_failed_listing_and_released_once_gone() {
    // GIVEN every node group of dev-eks asleep through a ["*"] entry
    let world = World::new();
    world
        .tick(WILDCARD, InvocationEvent::default(), friday_night())
        .await;
    assert_eq!(world.registered().await, ["dev-eks/app", "dev-eks/batch"]);

    // WHEN the cluster can't be listed (or described) for a tick
    world
        .eks
        .refuse("dev-eks", "ThrottlingException: rate exceeded");
    let report = world
        .tick(WILDCARD, InvocationEvent::default(), saturday())
        .await;

    // THEN nothing is woken nor released
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
    assert_eq!(world.eks.scaling("dev-eks", "batch"), s(0, 5, 0));
    assert_eq!(world.registered().await, ["dev-eks/app", "dev-eks/batch"]);

    // WHEN the cluster answers again but batch was deleted meanwhile
    let world = World {
        eks: FakeEks::default().nodegroup("dev-eks", "app", s(0, 3, 0), "eks-app"),
        ..world
    };
    let report = world
        .tick(
            WILDCARD,
            InvocationEvent::default(),
            saturday() + Duration::minutes(5),
        )
        .await;

    // THEN batch is released with a note (its state item kept), and app stays asleep
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.target == "dev-eks/batch" && n.message.contains("released")),
        "{:?}",
        report.notes
    );
    assert_eq!(world.registered().await, ["dev-eks/app"]);
    assert!(world.doc("dev-eks/batch").await.doc.saved.is_some());
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(0, 3, 0));
}

#[tokio::test]
async fn a_removed_target_offpeak_may_no_longer_touch_is_kept_and_a_person_told_once() {
    // GIVEN old-eks/web put to sleep
    let eks = FakeEks::default()
        .nodegroup("dev-eks", "app", s(1, 3, 2), "eks-app")
        .nodegroup("old-eks", "web", s(2, 6, 4), "eks-web");
    let asg = FakeAutoScaling::default()
        .group("eks-app", s(1, 3, 2), asg_tags("owned"))
        .group("eks-web", s(2, 6, 4), vec![]);
    let world = World::with(eks, asg);
    world
        .tick(
            &format!("{DEV_APP}{OLD_WEB}"),
            InvocationEvent::default(),
            friday_night(),
        )
        .await;
    world.sent.take();

    // WHEN old-eks leaves the schedule and the stack's role may no longer touch it
    world.eks.refuse(
        "old-eks",
        "AccessDeniedException: not authorized to perform eks:DescribeNodegroup",
    );
    let report = world.at_only_app(saturday()).await;

    // THEN web stays as it is and registered, the report says what to do, and it counts as drift
    assert_eq!(world.eks.scaling("old-eks", "web"), s(0, 6, 0));
    assert_eq!(world.registered().await, ["dev-eks/app", "old-eks/web"]);
    let note = report
        .notes
        .iter()
        .find(|n| n.target == "old-eks/web")
        .expect("a note on web");
    assert!(note.message.contains("AccessDenied"), "{}", note.message);
    assert!(
        note.message.contains("min=2 max=6 desired=4"),
        "{}",
        note.message
    );
    assert_eq!(report.drifting, ["old-eks/web"]);
    let sent = world.sent.take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].severity, sent[0].target.as_str(), sent[0].title),
        (Severity::Failure, "old-eks/web", "access denied")
    );
    assert!(
        sent[0]
            .facts
            .iter()
            .any(|(k, v)| *k == "saved_min" && v.render() == "2")
    );

    // AND later ticks do not notify it again
    world.at_only_app(saturday() + Duration::minutes(5)).await;
    assert!(world.sent.is_empty());
}

impl World {
    async fn at_only_app(&self, now: DateTime<Utc>) -> Report<Action> {
        self.tick(DEV_APP, InvocationEvent::default(), now).await
    }
}

/// A state store whose registry can't be written: every registry write loses its race.
fn stuck_registry() -> HookedStore {
    HookedStore::new(|target| match target == registry::key(FUNCTION) {
        true => OnWrite::Answer(Ok(PutOutcome::Conflict)),
        false => OnWrite::Proceed,
    })
}

#[tokio::test]
async fn a_target_that_cannot_be_registered_is_not_changed() {
    // GIVEN awake groups and a registry that can't be written
    let world = World::new();
    let store = stuck_registry();

    // WHEN Friday night ticks
    let report = world
        .run_on(&store, YAML, &InvocationEvent::default(), friday_night())
        .await
        .unwrap();

    // THEN no target is changed or saved, and each one's failure is reported and notified
    assert!(world.writes().is_empty(), "{:?}", world.writes());
    assert_eq!(world.eks.scaling("dev-eks", "app"), s(1, 3, 2));
    assert!(
        store
            .inner
            .get_many(&["dev-eks/app"])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(report.failed.len(), 3, "{:?}", report.failed);
    assert!(
        report.failed[0].error.contains("offpeak's registry"),
        "{}",
        report.failed[0].error
    );
    let failures = world
        .titles()
        .into_iter()
        .filter(|t| t.2 == "action failed")
        .count();
    assert_eq!(failures, 3);
}

#[tokio::test]
async fn a_refused_wake_of_a_removed_group_fails_visibly_with_what_to_do() {
    // GIVEN dev-legacy asleep, then removed from the schedule, and offpeak's role may no longer
    // change it (describing Auto Scaling groups stays allowed)
    let world = World::new();
    world.at(friday_night()).await;
    world.sent.take();
    world.asg.refuse_updates(
        "dev-legacy",
        "AccessDenied: not authorized to perform autoscaling:UpdateAutoScalingGroup",
    );

    // WHEN the next tick tries to put it back
    let report = world.at_only_app(saturday()).await;

    // THEN the wake fails, it stays asleep and registered, and the person is told what to do
    assert_eq!(world.asg.scaling("dev-legacy"), s(0, 4, 0));
    assert!(world.registered().await.contains(&"dev-legacy".to_owned()));
    assert!(
        report
            .failed
            .iter()
            .any(|f| f.action.target == "dev-legacy"),
        "{:?}",
        report.failed
    );
    let sent = world.sent.take();
    let failure = sent
        .iter()
        .find(|n| n.target.as_str() == "dev-legacy")
        .expect("a notification on dev-legacy");
    assert_eq!(failure.severity, Severity::Failure);
    assert!(
        failure
            .next_steps
            .iter()
            .any(|s| s.contains("offpeak/registry/eks-nodegroups")),
        "{:?}",
        failure.next_steps
    );
}
