//! Whole-flow tests against the in-memory fakes, where RDS takes time (unlike moto): clones and
//! instances are `creating`, renames `renaming`, deletes `deleting` until the fake settles.

use crate::Action;
use crate::memory::{Failure, Phase};
use crate::names::{ROLE_KEY, RUN_KEY};
use crate::rds::Tag;
use crate::security_groups::Inbound;
use crate::security_groups::fake::{from_group, tcp};
use crate::testing::{
    DEV_PASSWORD, FUNCTION_SG, Harness, QUARANTINE_SG, add_cluster, managed, utc,
};
use offpeak_shared::report::Report;
use offpeak_shared::state::StateStore;

/// `HH:MM` on the 27th, UTC.
fn at(hm: &str) -> String {
    format!("2026-11-27T{hm}:00Z")
}

fn minutes(n: i64) -> String {
    (utc("2026-11-27T03:00:00Z") + chrono::Duration::minutes(n)).to_rfc3339()
}

/// Ticks every 5 minutes from minute `from`, settling RDS between ticks, until the run is terminal.
async fn until_terminal(h: &Harness, from: i64) -> i64 {
    let mut m = from;
    for _ in 0..40 {
        h.tick(&minutes(m)).await;
        if h.phase().await.is_some_and(Phase::is_terminal) {
            return m;
        }
        h.rds.settle();
        m += 5;
    }
    panic!("no end: {:?}", h.run().await)
}

#[tokio::test]
async fn a_run_waits_for_rds_at_every_step_and_ends_with_dev_replaced() {
    // GIVEN RDS that takes a tick for every change, and masking that needs two invocations
    let h = Harness::new(0);
    // WHEN the window opens
    let first = h.tick(&at("03:00")).await;
    // THEN the first tick starts the run and restores the clone, then waits for it
    let lines: Vec<String> = first.plan.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains("clone prod as dev-offpeak-20261127"),
        "{lines:?}"
    );
    assert!(
        first
            .notes
            .iter()
            .any(|n| n.message.contains("is creating")),
        "{:?}",
        first.notes
    );
    assert_eq!(h.phase().await, Some(Phase::Clone));

    // WHEN ticks keep coming
    let end = until_terminal(&h, 5).await;

    // THEN the run took many ticks, dev is the clone with the dev group and the dev password
    assert!(end >= 25, "{end}");
    assert_eq!(h.phase().await, Some(Phase::Done));
    h.rds.settle();
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), Some("20261127"));
    assert_eq!(dev.tag(ROLE_KEY), Some("dev"));
    assert_eq!(dev.security_groups, ["sg-dev"]);
    assert_eq!(h.rds.password("dev").as_deref(), Some(DEV_PASSWORD));
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "prod-1"]);
    assert_eq!(
        h.rds
            .instance("dev-1")
            .unwrap()
            .tags
            .iter()
            .find(|t| t.key == RUN_KEY)
            .map(|t| t.value.as_str()),
        Some("20261127")
    );
    let run = h.run().await.unwrap();
    assert_eq!(run.masking.invocations, 2);
    assert_eq!(h.titles(), ["masked refresh done"]);
}

#[tokio::test]
async fn the_clone_password_is_replaced_before_its_instance_exists() {
    let h = Harness::new(0);
    h.tick(&at("03:00")).await;
    h.rds.settle();
    h.rds.take_calls();
    // WHEN the clone is available
    h.tick(&at("03:05")).await;
    // THEN its password changed from production's, and only then was the instance created
    let calls: Vec<String> = h
        .rds
        .take_calls()
        .into_iter()
        .filter(|c| !c.starts_with("Describe"))
        .collect();
    let modify = calls
        .iter()
        .position(|c| c == "ModifyDBCluster dev-offpeak-20261127")
        .expect("password call");
    let create = calls
        .iter()
        .position(|c| c == "CreateDBInstance dev-offpeak-20261127-1")
        .expect("create");
    assert!(modify < create, "{calls:?}");
    let password = h.rds.password("dev-offpeak-20261127").unwrap();
    assert_ne!(password, "production");
    assert_eq!(password.len(), 32);
}

#[tokio::test]
async fn a_dev_cluster_not_handed_over_is_never_touched() {
    // GIVEN a dev cluster made by hand (no offpeak tag)
    let h = Harness::new(0);
    add_cluster(&h.rds, "dev2", "dev2-1", &["sg-dev"], &[]);
    let mut h = h;
    h.cfg.target_cluster = "dev2".into();
    // WHEN the window opens
    let report = h.tick(&at("03:00")).await;
    // THEN no run starts, nothing is created, a person is told which ids lack the tag
    assert!(report.applied.is_empty(), "{report:?}");
    let calls = h.rds.take_calls();
    assert!(calls.iter().all(|c| c.starts_with("Describe")), "{calls:?}");
    assert_eq!(h.titles(), ["masked refresh did not start"]);
    // AND the next tick of the same window does not retry (or notify) again
    h.tick(&at("03:05")).await;
    assert!(h.rds.take_calls().is_empty());
    assert!(h.titles().is_empty());
}

/// The tick's run was refused by its preflight: nothing applied, RDS only described, the run
/// recorded `failed` with kind `preflight`; its failure.
async fn refused_by_preflight(h: &Harness, report: &Report<Action>) -> Failure {
    assert!(report.applied.is_empty(), "{report:?}");
    let calls = h.rds.take_calls();
    assert!(calls.iter().all(|c| c.starts_with("Describe")), "{calls:?}");
    let run = h.run().await.unwrap();
    let failure = run.failure.unwrap();
    assert_eq!(
        (run.phase, failure.kind.as_str()),
        (Phase::Failed, "preflight")
    );
    failure
}

#[tokio::test]
async fn keep_previous_keeps_the_newest_and_deletes_older_ones() {
    // GIVEN keep_previous: 1, and three nightly runs
    let h = Harness::new(1);
    for day in ["27", "28", "29"] {
        *h.masking.masked.lock().unwrap() = 0;
        let mut m = 0;
        loop {
            h.tick(&format!("2026-11-{day}T03:{m:02}:00Z")).await;
            h.rds.settle();
            if h.phase().await.is_some_and(Phase::is_terminal)
                && h.run().await.unwrap().id.ends_with(day)
            {
                break;
            }
            m += 1;
            assert!(m < 59, "run of the {day}th did not finish");
        }
        assert_eq!(h.phase().await, Some(Phase::Done));
    }
    // THEN only the previous dev cluster put aside by the last run is kept
    assert_eq!(
        h.rds.cluster_ids(),
        ["dev", "dev-offpeak-prev-20261129", "prod"]
    );
    assert_eq!(
        h.run().await.unwrap().retired,
        ["dev-offpeak-prev-20261128"]
    );
    let kept = h.rds.cluster("dev-offpeak-prev-20261129").unwrap();
    assert_eq!(
        kept.tag(RUN_KEY),
        Some("20261128"),
        "it is the clone promoted on the 28th"
    );
}

/// Ticks from minute 0, settling RDS until the swap begins, until the dev cluster is put aside
/// and its rename is still in progress (the dev name free).
async fn until_mid_swap(h: &Harness) {
    let mut m = 0;
    while h.phase().await != Some(Phase::Swap)
        || h.rds.cluster("dev-offpeak-prev-20261127").is_none()
    {
        h.tick(&minutes(m)).await;
        if h.phase().await != Some(Phase::Swap) {
            h.rds.settle();
        }
        m += 5;
        assert!(m < 170, "{:?}", h.run().await);
    }
}

#[tokio::test]
async fn a_window_closing_during_the_swap_rolls_it_back() {
    // GIVEN a run that reached the swap, whose rename of the dev cluster is still in progress
    let h = Harness::new(0);
    until_mid_swap(&h).await;
    assert!(
        h.rds.cluster("dev").is_none(),
        "the dev name is free mid-swap"
    );
    // WHEN the next tick comes after the window closed
    h.rds.settle();
    until_terminal(&h, 180).await;
    // THEN the swap was rolled back and the clone deleted: dev is the original cluster again
    let run = h.run().await.unwrap();
    assert_eq!(run.phase, Phase::Failed);
    assert_eq!(run.failure.as_ref().unwrap().kind, "deadline");
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "prod-1"]);
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), None);
    assert_eq!(dev.tag(ROLE_KEY), Some("dev"));
    assert_eq!(
        h.rds.password("dev").as_deref(),
        Some("production"),
        "the original dev password is untouched"
    );
    let titles = h.titles();
    assert!(
        titles.contains(&"masked refresh failed") && titles.contains(&"failed refresh cleaned up"),
        "{titles:?}"
    );
}

#[tokio::test]
async fn a_tick_stands_aside_while_another_holds_the_lease() {
    // GIVEN another invocation holds the lease
    let h = Harness::new(0);
    let taken = h
        .store
        .try_lease(
            "masked-refresh/dev",
            "other",
            utc(&at("03:00")),
            chrono::TimeDelta::minutes(16),
        )
        .await;
    assert!(taken.unwrap());
    // WHEN a tick runs inside the window
    let report = h.tick(&at("03:01")).await;
    // THEN it makes no RDS call and records nothing
    assert!(report.plan.is_empty(), "{report:?}");
    assert!(h.rds.take_calls().is_empty());
    assert_eq!(h.run().await, None);
    // AND once the lease expired, a tick starts the run
    h.tick(&at("03:17")).await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
}

#[tokio::test]
async fn a_replayed_instant_cannot_take_a_lease_a_live_invocation_holds() {
    // GIVEN a live invocation took the lease at 03:00 (clock)
    let h = Harness::new(0);
    let live = h
        .store
        .try_lease(
            "masked-refresh/dev",
            "live",
            utc(&at("03:00")),
            chrono::TimeDelta::minutes(16),
        )
        .await;
    assert!(live.unwrap());
    // WHEN a real invocation at clock 03:01 replays an instant after the lease's end
    let report = h
        .tick_replayed(&at("03:01"), Some(&at("04:00")), false)
        .await;
    // THEN it stands aside: the lease is judged by the clock, not by `at`
    assert!(report.plan.is_empty(), "{report:?}");
    assert!(h.rds.take_calls().is_empty());
    assert_eq!(h.run().await, None);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("stood aside")),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn dry_run_reports_the_next_step_and_writes_nothing() {
    let h = Harness::new(0);
    h.tick(&at("03:00")).await;
    h.rds.settle();
    h.rds.take_calls();
    let report = h.tick_event(&at("03:05"), true).await;
    let lines: Vec<String> = report.plan.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["replace the master password of dev-offpeak-20261127 (generated, not shown)"]
    );
    assert!(report.applied.is_empty());
    assert!(h.rds.take_calls().iter().all(|c| c.starts_with("Describe")));
    assert_eq!(h.phase().await, Some(Phase::Clone), "no state written");
}

#[tokio::test]
async fn a_busy_source_delays_the_start_without_using_up_the_window() {
    let h = Harness::new(0);
    h.rds.set_cluster_status("prod", "modifying");
    let report = h.tick(&at("03:00")).await;
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("source cluster prod is modifying")),
        "{report:?}"
    );
    assert_eq!(h.run().await, None);
    h.rds.settle();
    h.tick(&at("03:05")).await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
}

#[tokio::test]
async fn a_previous_cluster_with_deletion_protection_is_unprotected_then_deleted() {
    // GIVEN the dev cluster has deletion protection on
    let h = Harness::new(0);
    h.rds
        .update_cluster("dev", |c| c.deletion_protection = true);
    // WHEN a run completes
    until_terminal(&h, 0).await;
    // THEN the previous cluster was unprotected and deleted
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(
        h.run().await.unwrap().retired,
        ["dev-offpeak-prev-20261127"]
    );
    // AND dev keeps deletion protection: the promoted cluster has it on
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), Some("20261127"));
    assert!(dev.deletion_protection, "{dev:?}");
    let notices = h.sent.take();
    let done = notices.iter().find(|n| n.title == "masked refresh done");
    assert!(
        done.unwrap().email_text().contains("deletion_protection"),
        "{notices:?}"
    );

    // WHEN the next night's run replaces that protected dev cluster
    *h.masking.masked.lock().unwrap() = 0;
    let mut m = 0;
    while h.run().await.unwrap().id != "20261128" || !h.phase().await.unwrap().is_terminal() {
        h.tick(&format!("2026-11-28T03:{m:02}:00Z")).await;
        h.rds.settle();
        m += 1;
        assert!(m < 59, "{:?}", h.run().await);
    }
    // THEN it is unprotected and deleted too, and the new dev is protected in its turn
    assert_eq!(h.phase().await, Some(Phase::Done));
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), Some("20261128"));
    assert!(dev.deletion_protection);
}

#[tokio::test]
async fn a_handed_over_dev_cluster_gets_a_final_snapshot_and_a_masked_copy_does_not() {
    // GIVEN the dev cluster a person handed over (tagged, not made by offpeak)
    let h = Harness::new(0);
    // WHEN the first night's run replaces it
    until_terminal(&h, 0).await;
    h.rds.settle();
    // THEN it was deleted after RDS took a final snapshot named after it (and so after the run
    // that put it aside), and the done notice names the snapshot
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    let first = [(
        "dev-offpeak-prev-20261127-final".to_owned(),
        "dev-offpeak-prev-20261127".to_owned(),
    )];
    assert_eq!(h.rds.cluster_snapshots(), first);
    let run = h.run().await.unwrap();
    assert_eq!(run.final_snapshots, ["dev-offpeak-prev-20261127-final"]);
    let notices = h.sent.take();
    let done = notices
        .iter()
        .find(|n| n.title == "masked refresh done")
        .expect("a done notice");
    assert!(
        done.email_text()
            .contains("dev-offpeak-prev-20261127-final"),
        "{}",
        done.email_text()
    );

    // WHEN the next night's run replaces the cluster offpeak promoted (a masked copy)
    *h.masking.masked.lock().unwrap() = 0;
    let mut m = 0;
    while h.run().await.unwrap().id != "20261128" || !h.phase().await.unwrap().is_terminal() {
        h.tick(&format!("2026-11-28T03:{m:02}:00Z")).await;
        h.rds.settle();
        m += 1;
        assert!(m < 59, "{:?}", h.run().await);
    }
    // THEN it is deleted without a snapshot: the only one is still the handed-over cluster's
    assert_eq!(h.phase().await, Some(Phase::Done));
    assert_eq!(
        h.run().await.unwrap().retired,
        ["dev-offpeak-prev-20261128"]
    );
    assert!(h.run().await.unwrap().final_snapshots.is_empty());
    assert_eq!(h.rds.cluster_snapshots(), first);
    let notices = h.sent.take();
    assert!(
        notices
            .iter()
            .all(|n| !n.email_text().contains("final_snapshots")),
        "{notices:?}"
    );
}

#[tokio::test]
async fn a_retried_final_snapshot_delete_asks_for_the_same_snapshot() {
    // GIVEN the handed-over dev cluster is kept aside on the first night (keep_previous: 1)
    let h = Harness::new(1);
    until_terminal(&h, 0).await;
    h.rds.settle();
    assert!(h.rds.cluster("dev-offpeak-prev-20261127").is_some(), "kept");
    // WHEN the next night's run cannot delete it (refused), and the night after's can
    // (keep_previous: 1 keeps only the newest previous cluster)
    for day in ["28", "29"] {
        match day {
            "28" => h.rds.fail(
                "DeleteDBCluster",
                "dev-offpeak-prev-20261127",
                "AccessDenied",
            ),
            _ => h.rds.clear_faults(),
        }
        *h.masking.masked.lock().unwrap() = 0;
        let mut m = 0;
        while !h.run().await.unwrap().id.ends_with(day) || !h.phase().await.unwrap().is_terminal() {
            h.tick(&format!("2026-11-{day}T03:{m:02}:00Z")).await;
            h.rds.settle();
            m += 1;
            assert!(m < 59, "{:?}", h.run().await);
        }
        assert_eq!(h.phase().await, Some(Phase::Done));
    }
    let run = h.run().await.unwrap();
    assert_eq!(
        run.retired,
        ["dev-offpeak-prev-20261128", "dev-offpeak-prev-20261127"]
    );
    assert_eq!(run.final_snapshots, ["dev-offpeak-prev-20261127-final"]);
    // THEN exactly one snapshot of it exists, under the name derived from it
    assert_eq!(
        h.rds.cluster_snapshots(),
        [(
            "dev-offpeak-prev-20261127-final".to_owned(),
            "dev-offpeak-prev-20261127".to_owned()
        )]
    );
    assert!(h.rds.cluster("dev-offpeak-prev-20261127").is_none());
}

/// The texts of every notification sent so far.
fn rendered(h: &Harness) -> Vec<String> {
    h.sent.take().iter().map(|n| n.email_text()).collect()
}

#[tokio::test]
async fn a_dev_password_secret_that_cannot_be_used_stops_the_run_before_any_change() {
    for (secret, why) in [
        (
            Ok(r#"{"username": "admin", "pasword": "leaked-value-1"}"#.to_owned()),
            "no \"password\"",
        ),
        (Ok(String::new()), "empty"),
        (
            Err("ResourceNotFoundException".to_owned()),
            "ResourceNotFoundException",
        ),
        (Err("AccessDeniedException".to_owned()), "AccessDenied"),
    ] {
        // GIVEN the dev password secret is malformed, empty, missing or not readable
        let h = Harness::new(0);
        *h.secrets.dev.lock().unwrap() = secret;
        // WHEN the window opens
        let report = h.tick(&at("03:00")).await;
        // THEN no run started: nothing was created or renamed, dev is untouched
        let failure = refused_by_preflight(&h, &report).await;
        assert!(
            failure.error.contains("offpeak/dev-master"),
            "{}",
            failure.error
        );
        assert!(failure.error.contains(why), "{}", failure.error);
        // ... and a person is told which secret, never its value
        let texts = rendered(&h);
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(
            texts[0].contains("masked refresh did not start"),
            "{}",
            texts[0]
        );
        assert!(texts[0].contains("offpeak/dev-master"), "{}", texts[0]);
        assert!(!texts[0].contains("leaked-value-1"), "{}", texts[0]);
        assert!(!texts[0].contains(DEV_PASSWORD), "{}", texts[0]);
        assert_eq!(h.rds.cluster("dev").unwrap().tag(RUN_KEY), None);
    }
}

#[tokio::test]
async fn a_throttled_secret_read_delays_the_start_without_using_up_the_window() {
    // GIVEN reading the dev password secret is throttled at the window's opening
    let h = Harness::new(0);
    *h.secrets.dev.lock().unwrap() = Err("ThrottlingException".to_owned());
    // THEN the start waits for the tick where it reads
    waits_then_starts(&h, || {
        *h.secrets.dev.lock().unwrap() = Ok(DEV_PASSWORD.to_owned())
    })
    .await;
}

/// A transient failure at the window's opening: no run is recorded and nobody is told; once
/// `clear` has ended it, the next tick starts the run.
async fn waits_then_starts(h: &Harness, clear: impl FnOnce()) {
    h.tick(&at("03:00")).await;
    assert_eq!(h.run().await, None);
    assert!(h.titles().is_empty());
    clear();
    h.tick(&at("03:05")).await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
}

#[tokio::test]
async fn a_quarantine_group_admitting_more_than_the_function_stops_the_run_before_any_change() {
    let cidr = |ipv4: &str| Inbound {
        ipv4: vec![ipv4.to_owned()],
        ..tcp()
    };
    for (extra, why) in [
        (
            cidr("0.0.0.0/0"),
            "quarantine security group sg-quarantine admits 0.0.0.0/0 (tcp 5432)",
        ),
        (
            from_group("sg-office"),
            "quarantine security group sg-quarantine admits security group sg-office",
        ),
        (
            Inbound {
                ipv6: vec!["2001:db8::/32".to_owned()],
                ..tcp()
            },
            "quarantine security group sg-quarantine admits 2001:db8::/32",
        ),
        (
            Inbound {
                prefix_lists: vec!["pl-0vpn".to_owned()],
                ..tcp()
            },
            "quarantine security group sg-quarantine admits prefix list pl-0vpn",
        ),
        (
            from_group(QUARANTINE_SG),
            "sg-quarantine admits its own members",
        ),
    ] {
        // GIVEN the schedule's quarantine group admits the function and something else
        let h = Harness::new(0);
        h.security_groups
            .admitting(QUARANTINE_SG, vec![from_group(FUNCTION_SG), extra]);
        // WHEN the window opens
        let report = h.tick(&at("03:00")).await;
        // THEN no run started: nothing was created or renamed, dev is untouched
        let failure = refused_by_preflight(&h, &report).await;
        assert!(failure.error.contains(why), "{}", failure.error);
        // ... and a person is told which group admits what
        let texts = rendered(&h);
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(
            texts[0].contains("masked refresh did not start") && texts[0].contains(why),
            "{}",
            texts[0]
        );
        assert_eq!(h.rds.cluster("dev").unwrap().tag(RUN_KEY), None);
    }
}

#[tokio::test]
async fn a_quarantine_group_admitting_only_the_function_lets_the_run_start() {
    // GIVEN the quarantine group admits only the function's group (two rules, two ports)
    let h = Harness::new(0);
    let other_port = Inbound {
        from_port: Some(3306),
        to_port: Some(3306),
        ..from_group(FUNCTION_SG)
    };
    h.security_groups
        .admitting(QUARANTINE_SG, vec![from_group(FUNCTION_SG), other_port]);
    // WHEN the window opens, THEN the run starts after reading exactly the quarantine groups
    h.tick(&at("03:00")).await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
    assert_eq!(
        *h.security_groups.calls.lock().unwrap(),
        [vec![QUARANTINE_SG.to_owned()]]
    );
}

#[tokio::test]
async fn quarantine_groups_that_cannot_be_checked_refuse_the_run_or_wait() {
    // GIVEN the function's own groups are not configured (and this is no local run)
    let mut h = Harness::new(0);
    h.settings.function_security_groups.clear();
    h.tick(&at("03:00")).await;
    let failure = h.run().await.unwrap().failure.unwrap();
    assert_eq!(failure.kind.as_str(), "preflight");
    assert!(
        failure.error.contains("OFFPEAK_FUNCTION_SECURITY_GROUPS"),
        "{}",
        failure.error
    );
    assert!(h.security_groups.calls.lock().unwrap().is_empty());

    // GIVEN the quarantine group does not exist, or EC2 denies the call
    for code in ["InvalidGroup.NotFound", "UnauthorizedOperation"] {
        let h = Harness::new(0);
        if code == "InvalidGroup.NotFound" {
            h.security_groups.groups.lock().unwrap().clear();
        } else {
            *h.security_groups.error.lock().unwrap() = Some(code.to_owned());
        }
        h.tick(&at("03:00")).await;
        let failure = h.run().await.unwrap().failure.unwrap();
        assert_eq!(failure.kind.as_str(), "preflight");
        assert!(failure.error.contains(code), "{}", failure.error);
        assert!(failure.error.contains(QUARANTINE_SG), "{}", failure.error);
    }

    // GIVEN EC2 throttles at the window's opening: the run waits for the next tick
    let h = Harness::new(0);
    *h.security_groups.error.lock().unwrap() = Some("RequestLimitExceeded".to_owned());
    waits_then_starts(&h, || *h.security_groups.error.lock().unwrap() = None).await;
}

#[tokio::test]
async fn a_local_run_without_the_functions_groups_skips_the_quarantine_check() {
    // GIVEN a local run masking OFFPEAK_CLONE_DATABASE_URL, with no function groups configured
    let mut h = Harness::new(0);
    h.settings.function_security_groups.clear();
    h.settings.clone_database_url = Some(crate::secret::DatabaseUrl::new(
        "postgres://u:pw@127.0.0.1/db",
    ));
    h.security_groups
        .admitting(QUARANTINE_SG, vec![from_group("sg-anyone")]);
    // WHEN the window opens, THEN the run starts without EC2 being asked, and the report says so
    let report = h.tick(&at("03:00")).await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
    assert!(h.security_groups.calls.lock().unwrap().is_empty());
    let notes = serde_json::to_string(&report).unwrap();
    assert!(
        notes.contains("the quarantine groups are not checked"),
        "{notes}"
    );
}

#[tokio::test]
async fn a_rollback_that_overruns_its_bound_is_told_to_a_person_once_and_goes_on() {
    // GIVEN a run rolled back mid-swap at the window's close (as above), while a cluster that
    // is not offpeak's took the free dev name, so the previous one cannot get it back
    let h = Harness::new(0);
    until_mid_swap(&h).await;
    h.rds.settle();
    h.rds.add_cluster("dev");
    h.tick(&minutes(180)).await;
    let run = h.run().await.unwrap();
    assert_eq!(run.phase, Phase::Rollback);
    assert_eq!(run.rollback_by, Some(utc(&minutes(240))));
    h.titles();
    // WHEN ticks keep coming within the bound: nobody is told more
    for m in (185..240).step_by(5) {
        let report = h.tick(&minutes(m)).await;
        assert_eq!(report.drifting, ["dev"]);
    }
    assert_eq!(h.titles(), Vec::<&str>::new());
    // THEN the first tick past it tells a person, once, and the run stays in rollback
    for m in [240, 245, 250] {
        h.tick(&minutes(m)).await;
    }
    assert_eq!(h.titles(), ["refresh cleanup failing"]);
    assert_eq!(h.phase().await, Some(Phase::Rollback));
    // AND once a person removes that cluster, the rollback completes: dev is the original
    // cluster again
    crate::rds::Rds::delete_cluster(&h.rds, "dev", None)
        .await
        .unwrap();
    h.rds.settle();
    until_terminal(&h, 255).await;
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.cluster("dev").unwrap().tag(RUN_KEY), None);
}

#[tokio::test]
async fn a_secret_broken_during_the_run_fails_it_before_dev_is_renamed() {
    // GIVEN a run that started at 04:30 (no second attempt fits) with a readable secret
    let h = Harness::new(0);
    let mut m = 90;
    while h.phase().await != Some(Phase::Copy) {
        h.tick(&minutes(m)).await;
        h.rds.settle();
        m += 5;
        assert!(m < 180, "{:?}", h.run().await);
    }
    // WHEN the secret becomes unreadable before the swap
    *h.secrets.dev.lock().unwrap() = Err("AccessDeniedException".to_owned());
    h.rds.take_calls();
    until_terminal(&h, m).await;
    // THEN the run failed in the copy phase, before the swap, and was cleaned up
    let run = h.run().await.unwrap();
    let failure = run.failure.unwrap();
    assert_eq!((run.phase, failure.phase), (Phase::Failed, Phase::Copy));
    assert!(
        failure.error.contains("offpeak/dev-master"),
        "{}",
        failure.error
    );
    // ... dev was never tagged aside or renamed: the same cluster, its writer under its name
    let calls = h.rds.take_calls();
    assert!(
        !calls.iter().any(|c| c.contains("-offpeak-prev-")),
        "{calls:?}"
    );
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "prod-1"]);
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), None);
    assert_eq!(dev.tag(ROLE_KEY), None);
    let texts = rendered(&h);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("masked refresh failed") && t.contains("offpeak/dev-master")),
        "{texts:?}"
    );
    assert!(texts.iter().all(|t| !t.contains(DEV_PASSWORD)));
}

#[tokio::test]
async fn a_failed_retirement_is_a_warning_not_a_failure() {
    // GIVEN deleting the previous dev cluster is refused
    let h = Harness::new(0);
    h.rds.fail(
        "DeleteDBCluster",
        "dev-offpeak-prev-20261127",
        "AccessDenied",
    );
    // WHEN a run completes
    until_terminal(&h, 0).await;
    // THEN the run is done, with a warning, and the previous cluster is still there
    let run = h.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done);
    assert_eq!(run.warnings.len(), 1, "{run:?}");
    assert!(h.rds.cluster("dev-offpeak-prev-20261127").is_some());
    assert_eq!(h.titles(), ["masked refresh done"]);
}

#[tokio::test]
async fn a_stuck_cleanup_is_notified_once_and_retried() {
    // GIVEN masking fails, and deleting the clone is refused for a while
    let mut h = Harness::new(0);
    h.masking.fail_mask = true;
    h.rds
        .fail("DeleteDBCluster", "dev-offpeak-20261127", "AccessDenied");
    for m in [0, 5, 10, 15, 20] {
        h.tick(&minutes(m)).await;
        h.rds.settle();
    }
    assert_eq!(h.phase().await, Some(Phase::Cleanup));
    assert_eq!(
        h.titles(),
        ["masked refresh failed", "refresh cleanup failing"]
    );
    // WHEN the refusal ends
    h.rds.clear_faults();
    until_terminal(&h, 25).await;
    // THEN the clone is gone and the run failed cleanly
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.titles(), ["failed refresh cleaned up"]);
}

#[tokio::test]
async fn a_stuck_notice_that_failed_to_publish_is_not_recorded_as_sent() {
    // GIVEN masking fails, deleting the clone is refused, and SNS is unreachable
    let mut h = Harness::new(0);
    h.masking.fail_mask = true;
    h.rds
        .fail("DeleteDBCluster", "dev-offpeak-20261127", "AccessDenied");
    let (working, sent) = (h.notifier.clone(), h.sent.clone());
    h.notifier = offpeak_shared::notify::Notifier::unreachable();
    for m in [0, 5, 10, 15, 20] {
        h.tick(&minutes(m)).await;
        h.rds.settle();
    }
    assert_eq!(h.phase().await, Some(Phase::Cleanup));
    // THEN the run does not count the stuck notice as sent
    assert!(!h.run().await.unwrap().stuck_notified);
    // WHEN SNS is back
    h.notifier = working;
    h.tick(&minutes(25)).await;
    // THEN the stuck notice goes out, once
    let titles: Vec<_> = sent.take().into_iter().map(|n| n.title).collect();
    assert_eq!(titles, ["refresh cleanup failing"]);
    h.tick(&minutes(30)).await;
    assert!(sent.take().is_empty());
}

#[tokio::test]
async fn tags_on_instances_made_by_hand_block_the_swap() {
    // GIVEN the dev cluster is offpeak's but a person added an untagged reader after the run began
    let h = Harness::new(0);
    let mut m = 0;
    while h.phase().await != Some(Phase::Mask) {
        h.tick(&minutes(m)).await;
        h.rds.settle();
        m += 5;
    }
    h.rds.add_instance("dev", "dev-reader", false);
    h.rds
        .update_instance("dev-reader", |i| i.tags = vec![Tag::new("team", "x")]);
    // WHEN the run reaches the swap
    until_terminal(&h, m).await;
    // THEN it refuses to put dev aside, deletes the clone, and dev keeps both instances
    let run = h.run().await.unwrap();
    assert_eq!(
        (run.phase, run.failure.unwrap().kind.as_str()),
        (Phase::Failed, "ownership")
    );
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "dev-reader", "prod-1"]);
    let _ = managed();
}

fn scoped() -> Harness {
    let mut h = Harness::new(0);
    h.masking.scope = crate::engine::Scope {
        drop_databases: vec!["analytics".into(), "postgres".into()],
        keep_logins: vec!["app_ro".into()],
    };
    h
}

#[tokio::test]
async fn the_clone_server_is_contained_once_before_masking_and_the_done_notice_says_so() {
    // GIVEN rules that drop two databases and keep one login
    let h = scoped();
    // WHEN a run goes from start to end
    let mut applied = Vec::new();
    let mut m = 0;
    while !h.phase().await.is_some_and(Phase::is_terminal) {
        let report = h.tick(&minutes(m)).await;
        applied.extend(report.applied.iter().map(ToString::to_string));
        h.rds.settle();
        m += 5;
        assert!(m < 200, "no end: {:?}", h.run().await);
    }
    // THEN containment ran once, before the first masking call, with the rules' lists
    assert_eq!(*h.masking.contained.lock().unwrap(), 1);
    let contain = applied.iter().position(|a| a.starts_with("contain "));
    let mask = applied.iter().position(|a| a.starts_with("mask "));
    assert!(contain.is_some() && contain < mask, "{applied:?}");
    assert!(
        applied[contain.unwrap()].ends_with(
            "drop databases analytics, postgres; disable every login but app_ro (re-keyed)"
        ),
        "{applied:?}"
    );
    // ... the run records it, and the done notice says which databases went
    let run = h.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done);
    let cluster = run.cluster.unwrap();
    assert_eq!(cluster.dropped, ["analytics", "postgres"]);
    assert_eq!((cluster.logins_disabled, cluster.logins_rekeyed), (2, 1));
    let sent = h.sent.take();
    let done = sent
        .iter()
        .find(|n| n.title == "masked refresh done")
        .unwrap();
    let fact = |k: &str| {
        done.facts
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.render())
    };
    assert_eq!(
        fact("databases_dropped").as_deref(),
        Some("analytics,postgres")
    );
    assert_eq!(fact("logins_disabled").as_deref(), Some("2"));
}

#[tokio::test]
async fn a_server_the_rules_do_not_cover_fails_the_run_before_any_masking() {
    // GIVEN the clone's server holds a database the rules do not name
    let mut h = Harness::new(0);
    h.masking.refuse_server = true;
    // WHEN a run reaches masking
    until_terminal(&h, 0).await;
    // THEN it failed there without a single masking call, and the clone was cleaned up
    let run = h.run().await.unwrap();
    let failure = run.failure.unwrap();
    assert_eq!(
        (failure.phase, failure.kind.as_str()),
        (Phase::Mask, "masking")
    );
    assert!(failure.error.contains("`analytics`"), "{}", failure.error);
    assert_eq!(*h.masking.masked.lock().unwrap(), 0);
    assert_eq!(run.phase, Phase::Failed);
    let titles = h.titles();
    assert!(titles.contains(&"masked refresh failed"), "{titles:?}");
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
}

#[tokio::test]
async fn a_dry_run_shows_what_containing_the_clone_would_drop_and_keep() {
    // GIVEN a run whose clone instance has just become available (the next real tick would
    // move to the mask phase and contain the clone's server)
    let h = scoped();
    let mut m = 0;
    while h.phase().await != Some(Phase::Instance) {
        h.tick(&minutes(m)).await;
        h.rds.settle();
        m += 5;
        assert!(m < 100, "never reached instance: {:?}", h.run().await);
    }
    h.rds.settle();
    // WHEN a dry-run tick runs
    let report = h.tick_event(&minutes(m), true).await;
    // THEN its plan is the containment, with the lists as parameters, and nothing was done
    let json = serde_json::to_value(&report.plan).unwrap();
    assert_eq!(json[0]["action"], "contain", "{json}");
    assert_eq!(
        json[0]["drop_databases"],
        serde_json::json!(["analytics", "postgres"])
    );
    assert_eq!(json[0]["keep_logins"], serde_json::json!(["app_ro"]));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("every login but app_ro (re-keyed)")),
        "{:?}",
        report.notes
    );
    assert_eq!(*h.masking.contained.lock().unwrap(), 0);
    assert!(report.applied.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The copy: dev is a copy of the sealed clone, and the clone is gone before the swap.

#[tokio::test]
async fn dev_is_a_copy_of_the_sealed_clone_which_is_deleted_before_the_swap() {
    // GIVEN RDS that takes a tick for every change
    let h = Harness::new(0);
    h.rds.take_calls();
    // WHEN a run completes
    until_terminal(&h, 0).await;
    assert_eq!(h.phase().await, Some(Phase::Done));
    // THEN the copy was restored from the clone (never from production) after masking was
    // sealed, got its instance, the clone and its instance were deleted, and only then was the
    // dev name taken
    let calls = h.rds.take_calls();
    let position = |call: &str| {
        calls
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("no {call} in {calls:?}"))
    };
    let order = [
        "RestoreDBClusterToPointInTime dev-offpeak-20261127",
        "AddTagsToResource dev-offpeak-20261127",
        "RestoreDBClusterToPointInTime dev-offpeak-20261127-copy",
        "CreateDBInstance dev-offpeak-20261127-copy-1",
        "DeleteDBInstance dev-offpeak-20261127-1",
        "DeleteDBCluster dev-offpeak-20261127",
        "ModifyDBCluster dev",
    ]
    .map(position);
    assert!(order.is_sorted(), "{order:?}: {calls:?}");
    let run = h.run().await.unwrap();
    assert!(run.sealed_at.is_some(), "{run:?}");
    // ... and dev is the copy, under the dev name, with the dev writer's instance name
    h.rds.settle();
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(ROLE_KEY), Some("dev"));
    assert_eq!(dev.tag(crate::names::MASKING_KEY), Some("verified"));
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "prod-1"]);
}

#[tokio::test]
async fn a_failure_while_copying_deletes_the_clone_and_its_copy_and_leaves_dev_alone() {
    // GIVEN creating the copy's instance is refused
    let h = Harness::new(0);
    h.rds.fail(
        "CreateDBInstance",
        "dev-offpeak-20261127-copy-1",
        "AccessDenied",
    );
    // WHEN ticks run until the run is over, from 04:05: too late in the window for a second
    // attempt, so the failed run is the night's last
    until_terminal(&h, 65).await;
    // THEN the run failed in the copy phase, and neither the clone nor its copy is left
    let run = h.run().await.unwrap();
    assert_eq!(run.phase, Phase::Failed, "{run:?}");
    assert_eq!(run.failure.as_ref().map(|f| f.phase), Some(Phase::Copy));
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "prod-1"]);
    // ... dev is the one it was
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), None);
    assert_eq!(
        h.titles(),
        ["masked refresh failed", "failed refresh cleaned up"]
    );
}

// ---------------------------------------------------------------------------------------------
// Time: a promoted cluster that never comes up, and a second attempt in the same window.

/// Ticks every 5 minutes from minute 0, settling RDS between ticks, until the run waits in
/// `promote`; returns the minute of that tick.
async fn until_promote(h: &Harness) -> i64 {
    let mut m = 0;
    loop {
        h.tick(&minutes(m)).await;
        if h.phase().await == Some(Phase::Promote) {
            return m;
        }
        h.rds.settle();
        m += 5;
        assert!(m < 170, "{:?}", h.run().await);
    }
}

/// The 28th's window opens: a new run starts, nothing of the 27th's holds it back.
async fn the_next_night_starts_a_new_run(h: &Harness) {
    h.tick("2026-11-28T03:00:00Z").await;
    let run = h.run().await.unwrap();
    assert_eq!((run.id.as_str(), run.phase), ("20261128", Phase::Clone));
}

#[tokio::test]
async fn an_instance_that_never_comes_up_after_the_swap_is_rolled_back_to_the_previous_dev() {
    // GIVEN a run whose swap completed, and whose promoted instance (now dev-1) is broken
    let h = Harness::new(0);
    let swapped = until_promote(&h).await;
    let promote_by = h.run().await.unwrap().promote_by.expect("set by the swap");
    assert_eq!(
        promote_by,
        utc("2026-11-27T06:00:00Z"),
        "the window's close"
    );
    h.rds.settle();
    h.rds.set_status("dev-1", "incompatible-parameters");
    // WHEN ticks keep coming
    let end = until_terminal(&h, swapped + 5).await;
    // THEN the run ended within a few ticks of its bound, failed with kind deadline in promote
    assert!(
        utc(&minutes(end)) <= promote_by + chrono::Duration::minutes(15),
        "{end}"
    );
    let run = h.run().await.unwrap();
    let failure = run.failure.as_ref().unwrap();
    assert_eq!((run.phase, failure.phase), (Phase::Failed, Phase::Promote));
    assert_eq!(failure.kind, "deadline");
    // AND dev is the previous cluster again (a verified copy), with its writer under its name;
    // the new one and its broken instance are gone
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(h.rds.instance_ids(), ["dev-1", "prod-1"]);
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), None, "the original dev cluster");
    assert_eq!(dev.tag(ROLE_KEY), Some("dev"));
    assert_eq!(dev.security_groups, ["sg-dev"]);
    assert_eq!(h.rds.instance("dev-1").unwrap().status, "available");
    // AND a person was told, and the Drift metric says development was not refreshed
    let titles = h.titles();
    assert!(
        titles.contains(&"masked refresh failed") && titles.contains(&"failed refresh cleaned up"),
        "{titles:?}"
    );
    let report = h.tick(&minutes(end + 5)).await;
    assert_eq!(report.drifting, ["dev"]);
    the_next_night_starts_a_new_run(&h).await;
}

#[tokio::test]
async fn an_instance_that_never_appears_with_no_previous_dev_is_handed_to_a_person() {
    // GIVEN no dev cluster yet: the clone simply takes the name
    let h = Harness::new(0);
    h.rds.delete_instance("dev-1").unwrap();
    h.rds.settle();
    crate::rds::Rds::delete_cluster(&h.rds, "dev", None)
        .await
        .unwrap();
    h.rds.settle();
    let swapped = until_promote(&h).await;
    assert_eq!(h.run().await.unwrap().swap.unwrap().previous, None);
    // WHEN its instance never appears (it is lost between the swap and the promotion)
    h.rds.settle();
    h.rds.set_status("dev-1", "failed");
    h.rds.delete_instance("dev-1").unwrap();
    h.rds.settle();
    let end = until_terminal(&h, swapped + 5).await;
    // THEN the run ends at its bound: failed (deadline, promote), nothing rolled back or deleted
    assert!(utc(&minutes(end)) <= utc("2026-11-27T06:05:00Z"), "{end}");
    let run = h.run().await.unwrap();
    let failure = run.failure.as_ref().unwrap();
    assert_eq!(
        (run.phase, failure.phase, failure.kind.as_str()),
        (Phase::Failed, Phase::Promote, "deadline")
    );
    // AND dev is the promoted, verified copy, still in the dev groups
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), Some("20261127"));
    assert_eq!(dev.tag(crate::names::MASKING_KEY), Some("verified"));
    assert_eq!(dev.security_groups, ["sg-dev"]);
    // AND a person was told what to look at, once; Drift is 1
    let sent = h.sent.take();
    let failed: Vec<_> = sent
        .iter()
        .filter(|n| n.title == "masked refresh failed")
        .collect();
    assert_eq!(failed.len(), 1, "{sent:?}");
    let text = format!("{:?}", failed[0]);
    assert!(text.contains("no previous development cluster"), "{text}");
    let report = h.tick(&minutes(end + 5)).await;
    assert_eq!(report.drifting, ["dev"]);
    assert!(h.sent.take().is_empty(), "told once");
    // AND the next night's run is not blocked
    the_next_night_starts_a_new_run(&h).await;
}

#[tokio::test]
async fn a_run_failed_before_the_swap_is_retried_in_the_same_window() {
    // GIVEN the first attempt's instance cannot be created (an AWS error, not transient)
    let h = Harness::new(0);
    h.rds.fail(
        "CreateDBInstance",
        "dev-offpeak-20261127-1",
        "InstanceQuotaExceeded",
    );
    // WHEN ticks come from the window's opening
    let mut m = 0;
    while h.run().await.is_none_or(|r| r.id == "20261127") {
        h.tick(&minutes(m)).await;
        h.rds.settle();
        m += 5;
        assert!(m < 60, "{:?}", h.run().await);
    }
    // THEN the first attempt failed and was cleaned up, and a second one started in the window
    let titles = h.titles();
    assert!(
        titles.contains(&"masked refresh failed") && titles.contains(&"failed refresh cleaned up"),
        "{titles:?}"
    );
    let retry = h.run().await.unwrap();
    assert_eq!(retry.id, "20261127r2");
    assert_eq!(retry.clone, "dev-offpeak-20261127r2");
    assert_eq!(retry.deadline, utc("2026-11-27T06:00:00Z"));
    // AND it refreshes dev
    until_terminal(&h, m).await;
    assert_eq!(h.phase().await, Some(Phase::Done));
    h.rds.settle();
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
    assert_eq!(
        h.rds.cluster("dev").unwrap().tag(RUN_KEY),
        Some("20261127r2")
    );
    assert_eq!(h.titles(), ["masked refresh done"]);
}

#[tokio::test]
async fn a_failed_run_is_not_retried_when_too_little_of_the_window_is_left() {
    // GIVEN the window's first tick comes at 04:30, and the instance cannot be created
    let h = Harness::new(0);
    h.rds.fail(
        "CreateDBInstance",
        "dev-offpeak-20261127-1",
        "InstanceQuotaExceeded",
    );
    until_terminal(&h, 90).await;
    assert_eq!(h.run().await.unwrap().failure.unwrap().kind, "aws");
    // WHEN the rest of the window ticks
    for m in [100, 105, 120] {
        h.tick(&minutes(m)).await;
        h.rds.settle();
    }
    // THEN no second attempt started: less than 2 h were left
    let run = h.run().await.unwrap();
    assert_eq!((run.id.as_str(), run.phase), ("20261127", Phase::Failed));
    assert_eq!(h.rds.cluster_ids(), ["dev", "prod"]);
}

#[tokio::test]
async fn an_ownership_failure_is_not_retried() {
    // GIVEN the restore is throttled on the window's first tick, and meanwhile a person creates a
    // cluster under the clone's name
    let h = Harness::new(0);
    h.rds.fail(
        "RestoreDBClusterToPointInTime",
        "dev-offpeak-20261127",
        "Throttling",
    );
    h.tick(&minutes(0)).await;
    assert_eq!(h.phase().await, Some(Phase::Clone));
    h.rds.clear_faults();
    add_cluster(&h.rds, "dev-offpeak-20261127", "scratch-1", &["sg-x"], &[]);
    // WHEN the next tick finds it
    let end = until_terminal(&h, 5).await;
    // THEN the run fails (ownership) early in the window and leaves the cluster alone
    assert!(end < 60, "{end}");
    let run = h.run().await.unwrap();
    assert_eq!(run.failure.unwrap().kind, "ownership");
    // AND the rest of the window starts no second attempt
    for m in [end + 5, end + 10] {
        h.tick(&minutes(m)).await;
        h.rds.settle();
    }
    assert_eq!(h.run().await.unwrap().id, "20261127");
    assert!(h.rds.cluster("dev-offpeak-20261127").is_some());
    assert_eq!(h.rds.cluster_ids(), ["dev", "dev-offpeak-20261127", "prod"]);
}

#[tokio::test]
async fn the_verification_gate_runs_under_the_invocations_budget() {
    // GIVEN one invocation may mask (and verify) for 30 s
    let mut h = Harness::new(0);
    h.settings.mask_time = Some(std::time::Duration::from_secs(30));
    // WHEN a run goes through its gate
    let before = std::time::Instant::now();
    until_terminal(&h, 0).await;
    // THEN the gate's session was bound to end within those 30 s
    let verified = h.masking.verified.lock().unwrap().clone();
    assert!(!verified.is_empty());
    for budget in verified {
        let deadline = budget.deadline.expect("a bounded gate");
        assert!(
            deadline <= std::time::Instant::now() + std::time::Duration::from_secs(30)
                && deadline > before,
            "{budget:?}"
        );
    }
}

#[tokio::test]
async fn a_promoted_instance_busy_forever_ends_the_run_with_dev_restored_and_leftovers_named() {
    // GIVEN a run whose promoted instance (now dev-1) never leaves a busy status: RDS neither
    // renames nor deletes it
    let h = Harness::new(0);
    let mut m = until_promote(&h).await;
    let stuck = || h.rds.set_status("dev-1", "configuring-enhanced-monitoring");
    h.rds.settle();
    stuck();
    // WHEN ticks keep coming, for hours
    while !h.phase().await.is_some_and(Phase::is_terminal) {
        m += 5;
        assert!(m < 400, "{:?}", h.run().await);
        h.tick(&minutes(m)).await;
        h.rds.settle();
        stuck();
    }
    // THEN dev's name went back to the previous cluster at the promoted cluster's bound (06:00),
    // cleanup began in that tick, and the run ended an hour later, naming what it left
    assert_eq!(utc(&minutes(m)), utc("2026-11-27T07:00:00Z"));
    let run = h.run().await.unwrap();
    assert_eq!(run.cleanup_by, Some(utc("2026-11-27T07:00:00Z")));
    assert_eq!(run.phase, Phase::Failed);
    assert_eq!(run.failure.as_ref().unwrap().phase, Phase::Promote);
    assert_eq!(run.warnings.len(), 1, "{run:?}");
    assert!(
        run.warnings[0].contains("dev-offpeak-20261127-copy, dev-1"),
        "{run:?}"
    );
    let dev = h.rds.cluster("dev").unwrap();
    assert_eq!(dev.tag(RUN_KEY), None, "the original dev cluster");
    assert_eq!(dev.security_groups, ["sg-dev"]);
    let left = h.rds.cluster("dev-offpeak-20261127-copy").unwrap();
    assert_eq!(left.security_groups, ["sg-quarantine"]);
    let titles = h.titles();
    assert_eq!(
        titles,
        [
            "masked refresh failed",
            "refresh cleanup failing",
            "failed refresh left for a person"
        ]
    );
    // AND Drift says dev was not refreshed, and the next night's run starts
    let report = h.tick(&minutes(m + 5)).await;
    assert_eq!(report.drifting, ["dev"]);
    the_next_night_starts_a_new_run(&h).await;
}
