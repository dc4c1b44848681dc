//! The dev cluster a person handed over, end to end against moto: it gets a final snapshot
//! before offpeak deletes it, dev keeps its deletion protection, and a dev password secret that
//! cannot be used stops the run before development is renamed.

use offpeak_tests::masked_refresh_support;

use masked_refresh_support::*;
use offpeak_masked_refresh::memory::Phase;
use offpeak_masked_refresh::names::RUN_KEY;
use offpeak_tests::wire::{Effect, Fault};

/// The final snapshot of the handed-over dev cluster, named after its aside name.
fn final_snapshot() -> String {
    format!("{ASIDE}-final")
}

#[tokio::test]
async fn a_handed_over_dev_cluster_is_snapshotted_before_deletion_and_dev_stays_protected() {
    // GIVEN a dev cluster handed to offpeak by tag, with deletion protection on
    let world = World::start(Setup::default()).await;
    world
        .rds
        .modify_db_cluster()
        .db_cluster_identifier(DEV)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();

    // WHEN a refresh completes (keep_previous: 0)
    world.tick_until_terminal(0).await;
    world.assert_done().await;

    // THEN the old dev cluster is gone, and RDS holds its final snapshot under the derived name
    assert_eq!(world.cluster_ids().await, [DEV, SOURCE]);
    let snapshots = world
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(final_snapshot())
        .send()
        .await
        .expect("the final snapshot exists");
    let snapshot = &snapshots.db_cluster_snapshots()[0];
    assert_eq!(snapshot.db_cluster_identifier(), Some(ASIDE));
    assert_eq!(snapshot.snapshot_type(), Some("manual"));
    // ... asked for on the wire, after deletion protection was turned off
    let calls = world.wire.calls();
    let position = |op: &str, pred: &dyn Fn(&offpeak_tests::wire::Call) -> bool| {
        calls
            .iter()
            .position(|c| c.operation == op && pred(c))
            .unwrap_or_else(|| panic!("no {op}"))
    };
    let names = |c: &offpeak_tests::wire::Call, k: &str, v: &str| {
        c.params.get(k).map(String::as_str) == Some(v)
    };
    let unprotect = position("ModifyDBCluster", &|c| {
        names(c, "DBClusterIdentifier", ASIDE) && names(c, "DeletionProtection", "false")
    });
    let delete = position("DeleteDBCluster", &|c| {
        names(c, "DBClusterIdentifier", ASIDE)
    });
    assert!(unprotect < delete);
    assert_eq!(calls[delete].params["SkipFinalSnapshot"], "false");
    assert_eq!(
        calls[delete].params["FinalDBSnapshotIdentifier"],
        final_snapshot()
    );
    // ... the clone, which offpeak made, went without one
    let clone_delete = position("DeleteDBCluster", &|c| {
        names(c, "DBClusterIdentifier", CLONE)
    });
    assert_eq!(calls[clone_delete].params["SkipFinalSnapshot"], "true");
    // ... the promoted dev cluster has deletion protection, as the one it replaced had
    let dev = world.cluster(DEV).await.unwrap();
    assert_eq!(tag(&dev, RUN_KEY).as_deref(), Some(RUN));
    assert_eq!(dev.deletion_protection(), Some(true));
    position("ModifyDBCluster", &|c| {
        names(c, "DBClusterIdentifier", DEV) && names(c, "DeletionProtection", "true")
    });
    // ... and the done notice names the snapshot
    let done = world.messages("masked refresh done").await;
    assert!(
        done.iter().any(|m| m.contains(&final_snapshot())),
        "{done:?}"
    );
}

#[tokio::test]
async fn a_malformed_dev_password_secret_stops_the_run_before_anything_is_created() {
    // GIVEN the dev password secret holds JSON without a "password"
    let world = World::start(Setup::default()).await;
    world
        .set_dev_secret(r#"{"username": "admin", "pasword": "leaked-value-1"}"#)
        .await;
    // WHEN the window opens
    world.tick(minutes(0)).await;
    // THEN the run did not start: no change at all, dev untouched
    world.assert_refused_before_any_change().await;
    // ... and a person is told which secret, never what it holds
    let told = world.messages("masked refresh did not start").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains(SECRET), "{}", told[0]);
    assert!(!told[0].contains("leaked-value-1"), "{}", told[0]);
}

#[tokio::test]
async fn a_dev_password_secret_broken_during_the_run_fails_it_before_dev_is_renamed() {
    // GIVEN a run started at 04:30 (no second attempt fits) whose intermediate clone's delete is
    // throttled, so the tick stops in the copy phase
    let world = World::start(Setup::default()).await;
    world.wire.add(Fault {
        subject: Some(CLONE.to_owned()),
        ..Fault::new("DeleteDBCluster", Effect::Error("Throttling"))
    });
    let mut at = 90;
    while world.phase().await != Some(Phase::Copy) {
        world.tick(minutes(at)).await;
        at += 5;
        assert!(at < 150, "{:?}", world.run().await);
    }
    // WHEN the secret stops holding a password before the swap
    world.wire.heal();
    world.set_dev_secret(r#"{"username": "admin"}"#).await;
    world.wire.take();
    world.tick_until_terminal(at).await;
    // THEN the run failed in the copy phase, the clone and its copy are gone, dev untouched:
    // never tagged aside nor renamed
    world.assert_failed_and_cleaned(Phase::Copy, "aws").await;
    assert!(world.failure().await.contains(SECRET));
    let dev_arn = format!(":cluster:{DEV}");
    let calls = world.wire.calls();
    assert!(
        !calls.iter().any(|c| c.service == "rds"
            && c.mutating()
            && (c.names(DEV) || c.params.values().any(|v| v.ends_with(&dev_arn)))),
        "{calls:?}"
    );
}
