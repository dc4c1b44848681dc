//! masked-refresh overrides end to end: `skip`, `refresh` and `clear`, set through
//! `set_override` (what `offpeak override` calls) or an invocation event, against the real SDK
//! adapters, DynamoDB state store and SNS on a private moto server, with a real PostgreSQL server
//! standing in for the clone's. After every tick the world's invariant is checked (nothing
//! unverified is reachable from development), as in `masked_refresh.rs`.

use offpeak_tests::masked_refresh_support;

use chrono::{DateTime, Utc};
use masked_refresh_support::*;
use offpeak_masked_refresh::memory::Phase;
use offpeak_masked_refresh::names::{MASKING_KEY, RUN_KEY};
use offpeak_masked_refresh::set_override;
use offpeak_shared::event::{InvocationEvent, Override, OverrideState};
use offpeak_shared::state::StateStore;
use serde_json::json;

/// The refresh's state document as stored, `null` when there is none.
async fn doc(world: &World) -> serde_json::Value {
    let key = format!("masked-refresh/{DEV}");
    let records = world.store.get_many(&[key.as_str()]).await.unwrap();
    records
        .get(&key)
        .map_or(serde_json::Value::Null, |r| r.doc.clone())
}

fn count(subjects: &[String], title: &str) -> usize {
    subjects.iter().filter(|s| s.contains(title)).count()
}

#[tokio::test]
async fn skip_keeps_tonights_refresh_from_starting_until_it_ends() {
    // GIVEN the evening before tonight's 03:00-06:00 window
    let world = World::start(Setup::default()).await;
    let evening = utc("2026-11-26T20:00:00Z");
    // WHEN `offpeak override dev-aurora skip --until <tomorrow noon>` is set
    let noon = utc("2026-11-27T12:00:00Z");
    let set = set_override(&world.ctx(), DEV, OverrideState::Skip, Some(noon), evening)
        .await
        .unwrap();
    assert!(
        set.to_string()
            .starts_with("dev-aurora: skip until 2026-11-27T12:00:00Z"),
        "{set}"
    );
    // THEN it is stored in the shape `offpeak status` reads, and a notification says skipped
    assert_eq!(
        doc(&world).await["override"],
        json!({"state": "skip", "until": "2026-11-27T12:00:00Z", "set_at": "2026-11-26T20:00:00Z"})
    );
    assert_eq!(count(&world.subjects().await, "masked refresh skipped"), 1);
    // WHEN ticks come all through the window
    world.wire.take();
    for m in [0, 5, 60, 175] {
        let report = world.tick(minutes(m)).await;
        assert!(report.plan.is_empty(), "{report:?}");
    }
    // THEN no run started, dev is unchanged and still the original data, and nothing but the
    // state reads went out
    assert_eq!(world.run().await, None);
    world.assert_dev_untouched().await;
    assert!(!world.survivors().await.is_empty());
    assert!(
        world.wire.take().iter().all(|c| !c.mutating()),
        "a tick under skip changed something"
    );
    // WHEN the first tick after its end comes
    let report = world.tick(noon).await;
    // THEN the override is dropped and its end told
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(doc(&world).await.get("override"), None);
    assert_eq!(count(&world.subjects().await, "refresh override ended"), 1);
    // AND the next window runs: dev becomes the masked copy
    world.tick_until_terminal(24 * 60).await;
    let run = world.run().await.unwrap();
    assert_eq!((run.id.as_str(), run.phase), ("20261128", Phase::Done));
    let dev = world.cluster(DEV).await.unwrap();
    assert_eq!(tag(&dev, RUN_KEY).as_deref(), Some("20261128"));
    assert!(world.survivors().await.is_empty());
}

#[tokio::test]
async fn refresh_starts_a_run_in_the_afternoon_that_finishes_by_its_end() {
    // GIVEN an afternoon, long after the window closed
    let world = World::start(Setup::default()).await;
    let afternoon = minutes(11 * 60);
    // WHEN an event carries `refresh` until +3 h
    let event = InvocationEvent {
        override_: Some(Override {
            target: DEV.into(),
            state: OverrideState::Refresh,
            until: Some((afternoon + chrono::Duration::hours(3)).fixed_offset()),
            for_: None,
        }),
        ..InvocationEvent::default()
    };
    let report = world.try_tick_event(afternoon, &event).await.unwrap();
    // THEN the same tick records it and starts a run due by the override's end
    let lines: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
    assert!(
        lines[1].starts_with("start run 20261127t1400 of dev-aurora")
            && lines[1].ends_with("must finish by 2026-11-27T17:00:00+00:00)"),
        "{lines:?}"
    );
    // WHEN ticks keep coming every 5 minutes
    let finished = world.tick_until_terminal(11 * 60 + 5).await;
    // THEN the run completes before the end: dev is the masked, verified copy
    assert!(finished < 14 * 60, "finished at +{finished} min");
    let run = world.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done, "{run:?}");
    let dev = world.cluster(DEV).await.unwrap();
    assert_eq!(tag(&dev, RUN_KEY).as_deref(), Some("20261127t1400"));
    assert_eq!(tag(&dev, MASKING_KEY).as_deref(), Some("verified"));
    assert!(world.survivors().await.is_empty());
    assert_eq!(world.cluster_ids().await, [DEV, SOURCE]);
    // ... with a notification when the override started and one when the run was done
    let subjects = world.subjects().await;
    assert_eq!(
        count(&subjects, "masked refresh requested"),
        1,
        "{subjects:?}"
    );
    assert_eq!(count(&subjects, "masked refresh done"), 1, "{subjects:?}");
    // AND no second run starts while it holds
    world.wire.take();
    let report = world.tick(minutes(finished + 30)).await;
    assert!(report.plan.is_empty(), "{report:?}");
    assert!(world.wire.take().iter().all(|c| !c.mutating()));
    // AND its end is told when it passes
    world.tick(minutes(14 * 60)).await;
    assert_eq!(count(&world.subjects().await, "refresh override ended"), 1);
}

#[tokio::test]
async fn clear_ends_a_skip_and_the_next_tick_in_the_window_starts_the_run() {
    // GIVEN a skip until the day after, and tonight's window open without a run
    let world = World::start(Setup::default()).await;
    let ctx = world.ctx();
    let until = Some(utc("2026-11-28T12:00:00Z"));
    set_override(&ctx, DEV, OverrideState::Skip, until, minutes(-60))
        .await
        .unwrap();
    world.tick(minutes(0)).await;
    assert_eq!(world.run().await, None);
    // WHEN it is cleared
    let cleared = set_override(&ctx, DEV, OverrideState::Clear, None, minutes(3))
        .await
        .unwrap();
    assert!(
        cleared.to_string().contains("override cleared"),
        "{cleared}"
    );
    assert_eq!(doc(&world).await.get("override"), None);
    // THEN the next tick starts tonight's run, which completes as scheduled
    world.tick(minutes(5)).await;
    assert_eq!(world.run().await.unwrap().id, RUN);
    world.tick_until_terminal(10).await;
    assert_eq!(world.phase().await, Some(Phase::Done));
    let subjects = world.subjects().await;
    for title in [
        "masked refresh skipped",
        "refresh override ended",
        "masked refresh done",
    ] {
        assert_eq!(count(&subjects, title), 1, "{title}: {subjects:?}");
    }
}

#[tokio::test]
async fn bad_overrides_are_refused_and_nothing_is_written() {
    let world = World::start(Setup::default()).await;
    let ctx = world.ctx();
    let now = minutes(11 * 60);
    let later = |h: i64| Some(now + chrono::Duration::hours(h));
    let cases: [(&str, OverrideState, Option<DateTime<Utc>>, &str); 5] = [
        (
            SOURCE,
            OverrideState::Skip,
            later(2),
            "is not the masked refresh's dev cluster",
        ),
        (DEV, OverrideState::Refresh, later(-1), "not after now"),
        (
            DEV,
            OverrideState::Skip,
            later(31 * 24 + 1),
            "more than 31 days",
        ),
        (
            DEV,
            OverrideState::Awake,
            later(2),
            "takes skip, refresh or clear",
        ),
        (DEV, OverrideState::Skip, None, "needs an end"),
    ];
    world.wire.take();
    for (target, state, until, needle) in cases {
        let err = set_override(&ctx, target, state, until, now)
            .await
            .unwrap_err();
        assert!(err.is_bad_input(), "{target} {state}: {err}");
        assert!(err.to_string().contains(needle), "{target} {state}: {err}");
    }
    // ... and `awake` in an event, too
    let event = InvocationEvent {
        override_: Some(Override {
            target: DEV.into(),
            state: OverrideState::Awake,
            until: later(2).map(|t| t.fixed_offset()),
            for_: None,
        }),
        ..InvocationEvent::default()
    };
    let err = world.try_tick_event(now, &event).await.unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    // THEN nothing was written, changed or told
    assert_eq!(doc(&world).await, serde_json::Value::Null);
    assert!(world.wire.take().iter().all(|c| !c.mutating()));
    assert!(world.subjects().await.is_empty());
    world.assert_dev_untouched().await;
}
