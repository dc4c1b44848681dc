//! Overrides against the in-memory fakes: each promise of [`super`] attacked through whole ticks.

use chrono::{DateTime, Utc};
use offpeak_shared::event::OverrideState as S;
use offpeak_shared::state::StateStore;
use serde_json::json;

use super::*;
use crate::memory::Phase;
use crate::names::RUN_KEY;
use crate::testing::{Harness, utc};
use crate::tick::LEASE_TTL;

/// Ticks every 5 minutes from `from`, settling RDS between ticks, until the run is terminal.
async fn until_terminal(h: &Harness, from: &str) -> DateTime<Utc> {
    let mut t = utc(from);
    for _ in 0..40 {
        h.tick(&t.to_rfc3339()).await;
        if h.phase().await.is_some_and(Phase::is_terminal) {
            return t;
        }
        h.rds.settle();
        t += chrono::Duration::minutes(5);
    }
    panic!("no end: {:?}", h.run().await)
}

/// `offpeak override <target> <state> [--until]` against the harness's store and notifier.
async fn cli(
    h: &Harness,
    target: &str,
    state: S,
    until: Option<DateTime<Utc>>,
    clock: DateTime<Utc>,
) -> Result<Recorded, TickError> {
    record(
        &h.store,
        &h.notifier,
        Some(&h.cfg),
        target,
        state,
        until,
        clock,
    )
    .await
}

fn mutating(calls: Vec<String>) -> Vec<String> {
    calls
        .into_iter()
        .filter(|c| !c.starts_with("Describe"))
        .collect()
}

#[tokio::test]
async fn skip_keeps_the_window_from_starting_a_run_until_it_ends() {
    // GIVEN the evening before tonight's 03:00-06:00 window
    let h = Harness::new(0);
    // WHEN skip until tomorrow noon is set
    let report = h
        .tick_override(
            "2026-11-26T20:00:00Z",
            "dev",
            S::Skip,
            Some("2026-11-27T12:00:00Z"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        report
            .applied
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["hold dev at skip until 2026-11-27T12:00:00Z (override)"]
    );
    assert_eq!(h.titles(), ["masked refresh skipped"]);
    // THEN ticks all through the window start no run and make no RDS call
    for t in ["03:00", "03:05", "04:30", "05:55"] {
        let report = h.tick(&format!("2026-11-27T{t}:00Z")).await;
        assert!(report.plan.is_empty(), "{report:?}");
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.message.contains("skip override")),
            "{report:?}"
        );
    }
    assert_eq!(h.run().await, None);
    assert!(h.rds.take_calls().is_empty());
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    // WHEN the first tick after its end comes
    let report = h.tick("2026-11-27T12:00:00Z").await;
    // THEN it drops the override and says so, once
    assert_eq!(
        report
            .applied
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["end the skip override of dev (expired)"]
    );
    assert_eq!(h.held().await, None);
    assert_eq!(h.titles(), ["refresh override ended"]);
    h.tick("2026-11-27T12:05:00Z").await;
    assert!(h.titles().is_empty());
    // AND the next window runs as scheduled
    h.tick("2026-11-28T03:00:00Z").await;
    assert_eq!(h.run().await.unwrap().id, "20261128");
}

#[tokio::test]
async fn skip_never_abandons_a_run_in_progress() {
    // GIVEN tonight's run has started
    let h = Harness::new(0);
    h.tick("2026-11-27T03:00:00Z").await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
    // WHEN skip is set mid-run
    h.tick_override(
        "2026-11-27T03:02:00Z",
        "dev",
        S::Skip,
        Some("2026-11-28T12:00:00Z"),
        false,
    )
    .await
    .unwrap();
    // THEN the run goes on to its end: dev is the masked copy
    h.rds.settle();
    until_terminal(&h, "2026-11-27T03:05:00Z").await;
    assert_eq!(h.phase().await, Some(Phase::Done));
    h.rds.settle();
    assert_eq!(h.rds.cluster("dev").unwrap().tag(RUN_KEY), Some("20261127"));
    // AND the next night's window starts nothing while the skip holds
    let report = h.tick("2026-11-28T03:00:00Z").await;
    assert!(report.plan.is_empty(), "{report:?}");
    assert_eq!(h.run().await.unwrap().id, "20261127");
}

#[tokio::test]
async fn refresh_runs_once_outside_the_window_and_finishes_by_its_end() {
    // GIVEN an afternoon, the window long closed, and last night's run done
    let h = Harness::new(0);
    until_terminal(&h, "2026-11-27T03:00:00Z").await;
    h.titles();
    h.rds.settle();
    // WHEN refresh until +3 h is set
    let report = h
        .tick_override(
            "2026-11-27T14:00:00Z",
            "dev",
            S::Refresh,
            Some("2026-11-27T17:00:00Z"),
            false,
        )
        .await
        .unwrap();
    // THEN the same tick records it and starts a run, due by the override's end
    let lines: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines[..2],
        [
            "hold dev at refresh until 2026-11-27T17:00:00Z (override)".to_owned(),
            "start run 20261127t1400 of dev (clone dev-offpeak-20261127t1400, must finish by 2026-11-27T17:00:00+00:00)".to_owned()
        ],
        "{lines:?}"
    );
    assert_eq!(
        h.held().await.unwrap().run.as_deref(),
        Some("20261127t1400")
    );
    // WHEN ticks keep coming
    h.rds.settle();
    until_terminal(&h, "2026-11-27T14:05:00Z").await;
    // THEN dev is the copy that run made
    assert_eq!(h.phase().await, Some(Phase::Done));
    h.rds.settle();
    assert_eq!(
        h.rds.cluster("dev").unwrap().tag(RUN_KEY),
        Some("20261127t1400")
    );
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(
        h.titles(),
        ["masked refresh requested", "masked refresh done"]
    );
    // AND no second run starts while the override holds
    h.rds.take_calls();
    let report = h.tick("2026-11-27T16:00:00Z").await;
    assert!(report.plan.is_empty(), "{report:?}");
    assert!(h.rds.take_calls().is_empty());
    // AND its end is told once it passes
    h.tick("2026-11-27T17:00:00Z").await;
    assert_eq!(h.titles(), ["refresh override ended"]);
}

#[tokio::test]
async fn a_refresh_run_that_cannot_finish_by_the_end_is_cleaned_up() {
    // GIVEN a refresh until 15:00, and RDS that never finishes creating the clone
    let h = Harness::new(0);
    h.tick_override(
        "2026-11-27T14:00:00Z",
        "dev",
        S::Refresh,
        Some("2026-11-27T15:00:00Z"),
        false,
    )
    .await
    .unwrap();
    h.tick("2026-11-27T14:30:00Z").await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
    // WHEN the override's end passes
    h.tick("2026-11-27T15:00:00Z").await;
    // THEN the run failed on its deadline, and cleanup leaves dev untouched
    let run = h.run().await.unwrap();
    assert_eq!(
        run.failure.as_ref().map(|f| f.kind.as_str()),
        Some("deadline")
    );
    h.rds.settle();
    until_terminal(&h, "2026-11-27T15:05:00Z").await;
    assert_eq!(h.phase().await, Some(Phase::Failed));
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.cluster("dev").unwrap().tag(RUN_KEY), None);
}

#[tokio::test]
async fn clear_ends_a_skip_and_the_next_tick_in_the_window_starts_the_run() {
    // GIVEN an active skip, inside the window
    let h = Harness::new(0);
    h.tick_override(
        "2026-11-27T02:00:00Z",
        "dev",
        S::Skip,
        Some("2026-11-28T12:00:00Z"),
        false,
    )
    .await
    .unwrap();
    h.tick("2026-11-27T03:00:00Z").await;
    assert_eq!(h.run().await, None);
    // WHEN it is cleared
    let report = h
        .tick_override("2026-11-27T03:10:00Z", "dev", S::Clear, None, false)
        .await
        .unwrap();
    // THEN that very tick follows the schedule again: tonight's run starts
    assert_eq!(h.held().await, None);
    assert!(
        report
            .applied
            .iter()
            .any(|a| a.to_string() == "end the skip override of dev (cleared)"),
        "{report:?}"
    );
    assert_eq!(h.run().await.unwrap().id, "20261127");
    assert_eq!(
        h.titles(),
        ["masked refresh skipped", "refresh override ended"]
    );
}

#[tokio::test]
async fn bad_overrides_are_refused_and_change_nothing() {
    let h = Harness::new(0);
    let now = "2026-11-27T14:00:00Z";
    let cases = [
        (
            "prod",
            S::Skip,
            Some("2026-11-27T18:00:00Z"),
            "its target is: dev",
        ),
        (
            "dev",
            S::Skip,
            Some("2026-11-27T13:59:00Z"),
            "not after now",
        ),
        ("dev", S::Refresh, Some(now), "not after now"),
        (
            "dev",
            S::Skip,
            Some("2026-12-28T14:00:01Z"),
            "more than 31 days",
        ),
        (
            "dev",
            S::Awake,
            Some("2026-11-27T18:00:00Z"),
            "\"awake\" is for eks-nodegroups",
        ),
        (
            "dev",
            S::Replicas(2),
            Some("2026-11-27T18:00:00Z"),
            "takes skip, refresh or clear",
        ),
    ];
    for (target, state, until, needle) in cases {
        let err = h
            .tick_override(now, target, state, until, false)
            .await
            .unwrap_err();
        assert!(err.is_bad_input(), "{target} {state}: {err}");
        let text = offpeak_shared::error_chain::chain(&err);
        assert!(text.contains(needle), "{target} {state}: {text}");
        let err = cli(&h, target, state, until.map(utc), utc(now))
            .await
            .unwrap_err();
        assert!(err.is_bad_input(), "{target} {state}: {err}");
    }
    let missing = request(Some(&h.cfg), "dev", S::Skip, None, utc(now)).unwrap_err();
    assert!(missing.is_bad_input() && missing.to_string().contains("needs an end"));
    // 31 days exactly is allowed
    let edge = request(
        Some(&h.cfg),
        "dev",
        S::Skip,
        Some(utc("2026-12-28T14:00:00Z")),
        utc(now),
    );
    assert!(edge.is_ok());
    // AND nothing was written, called or told
    assert_eq!(h.doc().await, serde_json::Value::Null);
    assert!(h.rds.take_calls().is_empty());
    assert!(h.titles().is_empty());
}

#[tokio::test]
async fn a_replayed_instant_neither_stretches_nor_lifts_an_override() {
    let h = Harness::new(0);
    let skip = |until: &str| offpeak_shared::event::Override {
        target: "dev".into(),
        state: S::Skip,
        until: Some(utc(until).fixed_offset()),
        for_: None,
    };
    // GIVEN the clock at 14:00 on the 27th, and an event replaying an instant 20 days ahead
    let (clock, ahead) = ("2026-11-27T14:00:00Z", Some("2026-12-17T14:00:00Z"));
    // WHEN it carries skip until 35 days after the clock (15 after the replayed instant)
    let err = h
        .tick_carrying(clock, ahead, skip("2027-01-01T14:00:00Z"), false)
        .await
        .unwrap_err();
    // THEN the cap is judged by the clock: refused
    assert!(err.to_string().contains("more than 31 days"), "{err}");
    // AND an end before the clock is refused though it is after a replayed instant
    let behind = Some("2026-11-01T00:00:00Z");
    let err = h
        .tick_carrying(clock, behind, skip("2026-11-20T00:00:00Z"), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not after now"), "{err}");
    assert_eq!(h.doc().await, serde_json::Value::Null);
    // AND a stored skip holds against a replay past its end while the clock is before it
    h.tick_carrying(
        "2026-11-27T02:00:00Z",
        None,
        skip("2026-11-27T12:00:00Z"),
        false,
    )
    .await
    .unwrap();
    let report = h
        .tick_replayed("2026-11-27T03:00:00Z", Some("2026-11-28T03:00:00Z"), false)
        .await;
    assert!(report.plan.is_empty(), "{report:?}");
    assert_eq!(h.run().await, None);
    assert!(h.held().await.is_some());
}

#[tokio::test]
async fn a_dry_run_override_is_planned_not_written() {
    let h = Harness::new(0);
    // WHEN a dry-run carries refresh until +3 h
    let report = h
        .tick_override(
            "2026-11-27T14:00:00Z",
            "dev",
            S::Refresh,
            Some("2026-11-27T17:00:00Z"),
            true,
        )
        .await
        .unwrap();
    // THEN the plan shows the override, then the run it would start; nothing else happened
    let lines: Vec<String> = report.plan.iter().map(ToString::to_string).collect();
    assert!(lines[0].starts_with("hold dev at refresh"), "{lines:?}");
    assert!(lines[1].starts_with("start run 20261127t1400"), "{lines:?}");
    assert!(report.applied.is_empty());
    assert_eq!(h.doc().await, serde_json::Value::Null);
    assert!(mutating(h.rds.take_calls()).is_empty());
    assert!(h.titles().is_empty());
}

#[tokio::test]
async fn the_cli_stores_the_override_in_the_documented_shape_next_to_the_run() {
    // GIVEN a document holding last night's run
    let h = Harness::new(0);
    until_terminal(&h, "2026-11-27T03:00:00Z").await;
    h.titles();
    let clock = utc("2026-11-27T14:00:00Z");
    // WHEN `offpeak override dev skip --until ...` records it
    let until = utc("2026-11-28T12:00:00Z");
    let done = cli(&h, "dev", S::Skip, Some(until), clock).await.unwrap();
    // THEN the override sits under "override" as {state, until, set_at}; the run is kept
    assert_eq!(
        h.doc().await["override"],
        json!({"state": "skip", "until": "2026-11-28T12:00:00Z", "set_at": "2026-11-27T14:00:00Z"})
    );
    assert_eq!(h.phase().await, Some(Phase::Done));
    assert!(
        done.to_string()
            .starts_with("dev: skip until 2026-11-28T12:00:00Z"),
        "{done}"
    );
    assert_eq!(h.titles(), ["masked refresh skipped"]);
    // WHEN a refresh replaces it
    let later = utc("2026-11-28T13:00:00Z");
    cli(&h, "DEV", S::Refresh, Some(later), clock)
        .await
        .unwrap();
    // THEN the skip's end and the refresh's start are both told
    assert_eq!(
        h.titles(),
        ["refresh override ended", "masked refresh requested"]
    );
    // WHEN it is cleared, then cleared again
    let cleared = cli(&h, "dev", S::Clear, None, clock).await.unwrap();
    assert!(
        cleared.to_string().contains("override cleared"),
        "{cleared}"
    );
    assert_eq!(h.doc().await.get("override"), None);
    let version =
        h.store.get_many(&["masked-refresh/dev"]).await.unwrap()["masked-refresh/dev"].version;
    let again = cli(&h, "dev", S::Clear, None, clock).await.unwrap();
    // THEN the second clear writes and tells nothing
    assert!(
        again.to_string().contains("no override to clear"),
        "{again}"
    );
    let after =
        h.store.get_many(&["masked-refresh/dev"]).await.unwrap()["masked-refresh/dev"].version;
    assert_eq!(after, version);
    assert_eq!(h.titles(), ["refresh override ended"]);
}

#[test]
fn settle_drops_an_ended_override_before_applying_a_new_one() {
    let held = |state, until: &str| HeldOverride {
        state,
        until: utc(until),
        set_at: utc("2026-11-27T00:00:00Z"),
        run: None,
    };
    let mut memory = Memory {
        run: None,
        override_: Some(held(Hold::Skip, "2026-11-27T10:00:00Z")),
    };
    let fresh = held(Hold::Refresh, "2026-11-27T18:00:00Z");
    let changes = settle(
        &mut memory,
        Some(&Request::Hold(fresh.clone())),
        utc("2026-11-27T10:00:00Z"),
    );
    assert_eq!(
        changes,
        [
            Change::Ended(held(Hold::Skip, "2026-11-27T10:00:00Z"), Ending::Expired),
            Change::Started(fresh.clone())
        ]
    );
    assert_eq!(memory.override_, Some(fresh));
    assert!(settle(&mut memory, None, utc("2026-11-27T11:00:00Z")).is_empty());
}

#[tokio::test]
async fn an_override_is_never_written_under_a_live_invocations_lease() {
    // GIVEN a skip until 03:10, and a live invocation holding the refresh since 03:05
    let h = Harness::new(0);
    h.tick_override(
        "2026-11-26T20:00:00Z",
        "dev",
        S::Skip,
        Some("2026-11-27T03:10:00Z"),
        false,
    )
    .await
    .unwrap();
    h.titles();
    let since = utc("2026-11-27T03:05:00Z");
    let live = h
        .store
        .try_lease(
            "masked-refresh/dev",
            "masked-refresh/live",
            since,
            LEASE_TTL,
        )
        .await;
    assert!(live.unwrap());
    let before = h.doc().await;

    // WHEN a tick finds the skip ended while that lease holds, and another carries a new skip
    let ended = h.tick("2026-11-27T03:10:00Z").await;
    let sent = h
        .tick_override(
            "2026-11-27T03:11:00Z",
            "dev",
            S::Skip,
            Some("2026-11-28T12:00:00Z"),
            false,
        )
        .await
        .unwrap();

    // THEN neither writes nor tells anything: both stand aside, the second asking to send again
    assert_eq!(h.doc().await, before);
    assert!(h.titles().is_empty());
    assert!(ended.applied.is_empty() && sent.applied.is_empty());
    let says = |report: &offpeak_shared::report::Report<Action>, text: &str| {
        report.notes.iter().any(|n| n.message.contains(text))
    };
    assert!(says(&ended, "another invocation"), "{ended:?}");
    assert!(says(&sent, "send it again"), "{sent:?}");

    // AND once the lease has expired, a tick drops the ended skip and tells it
    let report = h.tick("2026-11-27T03:21:00Z").await;
    let applied: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
    assert!(
        applied.contains(&"end the skip override of dev (expired)".to_owned()),
        "{applied:?}"
    );
    assert_eq!(h.titles()[0], "refresh override ended");
}
