//! masked-refresh end to end on an Aurora MySQL source, with real MariaDB standing in for the
//! clone's server: a full run, a masking failure that leaves development untouched, a schema the
//! rules do not name (refused) or drop (gone), and production accounts locked.

use offpeak_tests::masked_refresh_support;

use masked_refresh_support::*;
use offpeak_masked_refresh::memory::Phase;
use offpeak_masked_refresh::names::{MASKING_KEY, RUN_KEY};
use offpeak_tests::Engine;

fn mariadb(max_chunks: Option<u64>) -> Setup {
    Setup {
        engine: Engine::MariaDb,
        ..Setup::chunked(max_chunks)
    }
}

#[tokio::test]
async fn a_full_run_on_mariadb_makes_dev_a_masked_copy() {
    // GIVEN an aurora-mysql production and dev, and MariaDB full of personal data
    let world = World::start(mariadb(Some(2))).await;
    assert!(!world.survivors().await.is_empty());
    // WHEN ticks run from the window's opening until the run is over
    let finished = world.tick_until_terminal(0).await;
    // THEN dev is the masked, verified clone, reached over several ticks, and people were told
    let run = world.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done, "{run:?}");
    assert!(
        finished >= 10,
        "masking resumed over several ticks: +{finished} min"
    );
    let dev = world.cluster(DEV).await.unwrap();
    assert_eq!(tag(&dev, RUN_KEY).as_deref(), Some(RUN));
    assert_eq!(tag(&dev, MASKING_KEY).as_deref(), Some("verified"));
    assert_eq!(world.cluster_ids().await, [DEV, SOURCE]);
    world.assert_done().await;
}

#[tokio::test]
async fn a_masking_error_on_mariadb_deletes_the_clone() {
    // GIVEN a table the rules do not know
    let world = World::start(mariadb(None)).await;
    world
        .pool()
        .exec("CREATE TABLE newsletter (id INT PRIMARY KEY, email VARCHAR(200))")
        .await;
    // WHEN the run reaches masking
    world.tick_until_terminal(0).await;
    // THEN it failed there, the clone is gone and dev is untouched
    world
        .assert_failed_and_cleaned(Phase::Mask, "masking")
        .await;
}

#[tokio::test]
async fn a_schema_the_rules_do_not_name_refuses_the_run_on_mariadb() {
    // GIVEN a production account, and schema `analytics` (personal data) on the clone's server,
    // which the rules neither cover nor drop
    let world = World::start(mariadb(None)).await;
    world.server.with_analytics().await;
    world
        .server
        .exec("CREATE USER 'prod_app'@'%' IDENTIFIED BY 'prod-app-password'")
        .await;
    // WHEN ticks run until the run is over
    world.tick_until_terminal(0).await;
    // THEN it was refused at masking, naming the schema; dev untouched; nothing changed
    world
        .assert_failed_and_cleaned(Phase::Mask, "masking")
        .await;
    let error = world.failure().await;
    assert!(error.contains("`analytics`"), "{error}");
    let messages = world.messages("masked refresh failed").await;
    assert!(
        messages.iter().any(|m| m.contains("analytics")),
        "{messages:?}"
    );
    let mut expected = vec!["analytics", world.db().name.as_str()];
    expected.sort();
    assert_eq!(world.server.databases().await, expected);
    assert!(world.server.login_enabled("prod_app").await);
    assert!(!world.survivors().await.is_empty());
}

#[tokio::test]
async fn a_schema_the_rules_drop_is_gone_and_production_accounts_are_locked_on_mariadb() {
    // GIVEN `analytics` listed under databases.drop, a production account and a kept one
    let setup = Setup {
        drop_databases: vec!["analytics"],
        keep_logins: vec!["app_ro"],
        ..mariadb(None)
    };
    let world = World::start(setup).await;
    world.server.with_analytics().await;
    let covered = world.db().name.clone();
    for sql in [
        "CREATE USER 'prod_app'@'%' IDENTIFIED BY 'prod-app-password'".to_owned(),
        "CREATE USER 'app_ro'@'%' IDENTIFIED BY 'app-ro-password'".to_owned(),
        format!("GRANT SELECT ON `{covered}`.* TO 'prod_app'@'%', 'app_ro'@'%'"),
    ] {
        world.server.exec(&sql).await;
    }
    let s = &world.server;
    assert!(s.can_log_in("prod_app", "prod-app-password").await);
    assert!(s.can_log_in("app_ro", "app-ro-password").await);
    assert!(!s.can_log_in("app_ro", "wrong").await);

    // WHEN a refresh completes
    world.tick_until_terminal(0).await;
    let run = world.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done, "{run:?}");

    // THEN only the covered schema is left
    assert_eq!(s.databases().await, [covered.as_str()]);
    // ... the production account is locked and its password does not open it
    assert!(!s.login_enabled("prod_app").await);
    assert!(!s.can_log_in("prod_app", "prod-app-password").await);
    // ... the kept account is open, but not with its production password
    assert!(s.login_enabled("app_ro").await);
    assert!(!s.can_log_in("app_ro", "app-ro-password").await);
}
