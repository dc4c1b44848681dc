//! masked-refresh end to end: the real SDK adapters, DynamoDB state store and SNS against a
//! private moto server, and a real PostgreSQL server of the test process's own standing in for
//! the clone's server (`OFFPEAK_CLONE_DATABASE_URL`: moto's endpoints are not databases).
//!
//! After every tick, [`World::assert_nothing_unmasked_reachable`] checks the invariant: no
//! cluster reachable from development (dev name or dev security group) holds unverified data,
//! and a promoted clone's server holds no database but the covered one.

use offpeak_tests::masked_refresh_support;

use masked_refresh_support::*;
use offpeak_masked_refresh::Engine;
use offpeak_masked_refresh::engine::{Masking, MaskingError};
use offpeak_masked_refresh::memory::Phase;
use offpeak_masked_refresh::names::{MASKING_KEY, PHASE_KEY, ROLE_KEY, RUN_KEY};
use offpeak_masked_refresh::settings::CloneParameterGroups;
use offpeak_masking::{KeyError, MaskingKey};
use offpeak_tests::moto::Moto;
use offpeak_tests::wire::{Call, tally};

#[tokio::test]
async fn a_full_run_makes_dev_a_masked_copy_over_successive_ticks() {
    // GIVEN production, a dev cluster handed to offpeak, a database full of personal data, and
    // masking in chunks of 100 rows, at most 2 chunks per invocation
    let setup = Setup::chunked(Some(2));
    let world = World::start(setup).await;
    assert!(
        !world.survivors().await.is_empty(),
        "the stand-in starts with personal data"
    );

    // WHEN the window opens and the tick runs every 5 minutes until the run is over
    let finished = world.tick_until_terminal(0).await;

    // THEN the run is done within the window, over several ticks: masking resumed each time
    let run = world.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done, "{run:?}");
    assert!((10..180).contains(&finished), "finished at +{finished} min");
    assert!(run.masking.invocations >= 3, "{:?}", run.masking);
    assert_eq!(
        (
            run.masking.tables,
            run.masking.tables_masked,
            run.masking.tables_truncated
        ),
        (4, 2, 1)
    );
    // ... the dev name now points at the masked clone, in the dev security group
    let dev = world.cluster(DEV).await.expect("a dev cluster");
    assert_eq!(tag(&dev, RUN_KEY).as_deref(), Some(RUN));
    assert_eq!(tag(&dev, MASKING_KEY).as_deref(), Some("verified"));
    assert_eq!(tag(&dev, ROLE_KEY).as_deref(), Some("dev"));
    assert_eq!(tag(&dev, PHASE_KEY).as_deref(), Some("done"));
    assert_eq!(security_groups(&dev), [DEV_SG]);
    // ... the old dev cluster and its instance are gone (keep_previous: 0); the instance name stays
    assert_eq!(world.cluster_ids().await, [DEV, SOURCE]);
    assert_eq!(world.instance_ids().await, [DEV_INSTANCE, "prod-aurora-1"]);
    // ... nothing personal survives in the database, and the masking bookkeeping is gone
    assert!(
        world.survivors().await.is_empty(),
        "{:?}",
        world.survivors().await
    );
    assert!(
        world
            .pool()
            .everything()
            .await
            .iter()
            .all(|l| !l.contains("offpeak_masking"))
    );
    // ... and a success notification was published
    let subjects = world.subjects().await;
    assert!(
        subjects.iter().any(|s| s.contains("masked refresh done")),
        "{subjects:?}"
    );
    assert!(
        !subjects.iter().any(|s| s.contains("failed")),
        "{subjects:?}"
    );

    // AND on the wire: a copy-on-write clone into quarantine, production's password replaced by a
    // generated one before any instance existed, and the dev password set at the swap
    let calls = world.wire.calls();
    let restore = calls
        .iter()
        .find(|c| c.operation == "RestoreDBClusterToPointInTime")
        .unwrap();
    assert_eq!(restore.params["RestoreType"], "copy-on-write");
    assert_eq!(restore.params["UseLatestRestorableTime"], "true");
    assert_eq!(restore.params["SourceDBClusterIdentifier"], SOURCE);
    assert_eq!(
        restore.params["VpcSecurityGroupIds.VpcSecurityGroupId.1"],
        world.quarantine
    );
    let position = |op: &str, pred: &dyn Fn(&Call) -> bool| {
        calls
            .iter()
            .position(|c| c.operation == op && pred(c))
            .unwrap_or_else(|| panic!("no {op}"))
    };
    let secure = position("ModifyDBCluster", &|c| {
        c.params.get("DBClusterIdentifier").map(String::as_str) == Some(CLONE)
            && c.params.contains_key("MasterUserPassword")
            && !c.params.contains_key("NewDBClusterIdentifier")
    });
    let create = position("CreateDBInstance", &|_| true);
    assert!(
        secure < create,
        "the password is replaced before the instance exists"
    );
    let generated = &calls[secure].params["MasterUserPassword"];
    assert!(generated.len() == 32 && generated != PROD_PASSWORD && generated != DEV_PASSWORD);
    let promote = position("ModifyDBCluster", &|c| {
        c.params.get("NewDBClusterIdentifier").map(String::as_str) == Some(DEV)
    });
    assert_eq!(calls[promote].params["MasterUserPassword"], DEV_PASSWORD);
    assert_eq!(
        calls[promote].params["VpcSecurityGroupIds.VpcSecurityGroupId.1"],
        DEV_SG
    );
    // ... and production was never the subject of any change
    for c in calls.iter().filter(|c| c.mutating() && c.service == "rds") {
        assert!(
            c.params.get("DBClusterIdentifier").map(String::as_str) != Some(SOURCE),
            "{c:?}"
        );
        assert!(
            !c.params
                .get("ResourceName")
                .is_some_and(|r| r.ends_with(&format!(":cluster:{SOURCE}"))),
            "{c:?}"
        );
    }

    // WHEN the tick runs again later the same day, inside and after the window
    world.wire.take();
    for at in [finished + 5, finished + 60, 200] {
        let report = world.tick(minutes(at)).await;
        assert!(report.plan.is_empty(), "{report:?}");
    }
    // THEN nothing happens: one state read per tick and no other call
    let calls = world.wire.take();
    assert_eq!(
        tally(&calls).into_iter().collect::<Vec<_>>(),
        [("dynamodb:BatchGetItem".to_owned(), 3)]
    );
}

/// An RDS timestamp on chrono's clock.
fn instant(t: &aws_sdk_rds::primitives::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap()
}

#[tokio::test]
async fn no_restorable_point_snapshot_or_backup_of_dev_predates_masking() {
    // GIVEN production, a dev cluster handed to offpeak, and a database with personal data
    let world = World::start(Setup::default()).await;

    // WHEN a refresh completes
    world.tick_until_terminal(0).await;
    assert_eq!(world.phase().await, Some(Phase::Done));
    let sealed = world.masking.sealed_at().expect("the clone was sealed");

    // THEN dev is a copy-on-write copy of the verified clone, made into quarantine after it was
    // sealed, and promoted in its place
    let calls = world.wire.calls();
    let find = |op: &str, key: &str, id: &str| {
        calls
            .iter()
            .position(|c| c.operation == op && c.params.get(key).map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no {op} with {key}={id}"))
    };
    let copy = &calls[find("RestoreDBClusterToPointInTime", "DBClusterIdentifier", COPY)];
    assert_eq!(copy.params["SourceDBClusterIdentifier"], CLONE);
    assert_eq!(copy.params["RestoreType"], "copy-on-write");
    assert_eq!(copy.params["UseLatestRestorableTime"], "true");
    assert_eq!(
        copy.params["VpcSecurityGroupIds.VpcSecurityGroupId.1"],
        world.quarantine
    );
    let promote = find("ModifyDBCluster", "NewDBClusterIdentifier", DEV);
    assert_eq!(calls[promote].params["DBClusterIdentifier"], COPY);
    // ... so dev's point-in-time restore window opens after the clone was sealed
    let dev = world.cluster(DEV).await.expect("a dev cluster");
    let earliest = dev
        .earliest_restorable_time()
        .map(instant)
        .expect("dev reports its earliest restorable time");
    assert!(
        earliest > sealed,
        "{earliest} is not after sealing at {sealed}"
    );
    assert!(instant(dev.cluster_create_time().unwrap()) > sealed);

    // ... the intermediate clone is gone: deleted before the swap, with its automated backups and
    // without a final snapshot
    assert!(world.cluster(CLONE).await.is_none());
    let delete = find("DeleteDBCluster", "DBClusterIdentifier", CLONE);
    assert!(
        delete < promote,
        "the clone is deleted before dev takes the copy"
    );
    assert_eq!(calls[delete].params["DeleteAutomatedBackups"], "true");
    assert_eq!(calls[delete].params["SkipFinalSnapshot"], "true");
    assert!(
        !calls[delete]
            .params
            .contains_key("FinalDBSnapshotIdentifier")
    );
    for c in calls.iter().filter(|c| c.operation == "DeleteDBCluster") {
        assert_eq!(c.params["DeleteAutomatedBackups"], "true", "{c:?}");
    }

    // ... and no cluster snapshot, automated or manual, predates masking but production's own
    let snapshots = world
        .rds
        .describe_db_cluster_snapshots()
        .send()
        .await
        .unwrap();
    let snapshots = snapshots.db_cluster_snapshots();
    assert!(
        snapshots
            .iter()
            .any(|s| s.db_cluster_identifier() == Some(COPY)),
        "moto keeps an automated snapshot of the copy: {snapshots:?}"
    );
    for s in snapshots {
        let of = s.db_cluster_identifier().unwrap_or_default();
        if of == SOURCE {
            continue;
        }
        // The final snapshot of the dev cluster a person handed over: its own data, kept on
        // purpose when it is deleted (handover.rs), never a restorable point of the promoted dev.
        if of == ASIDE {
            let id = s.db_cluster_snapshot_identifier().unwrap_or_default();
            assert_eq!(id, format!("{ASIDE}-final"));
            assert_eq!(s.snapshot_type(), Some("manual"));
            continue;
        }
        let taken = instant(s.snapshot_create_time().unwrap());
        assert!(
            taken > sealed,
            "snapshot of {of} taken at {taken}, before sealing at {sealed}"
        );
    }
}

/// Production's own cluster parameter group (the team's logging), and the two the stack makes
/// for the clone when `CloneParameterGroupFamily` is set (logging off).
const PRODUCTION_GROUP: &str = "prod-aurora-logging";
const CLONE_CLUSTER_GROUP: &str = "offpeak-clonecluster-1a2b";
const CLONE_INSTANCE_GROUP: &str = "offpeak-cloneinstance-3c4d";

/// GIVEN production on a cluster parameter group of its own and the stack's two groups for the
/// clone in moto (off the wire; moto refuses an instance naming a DB parameter group it does
/// not have), and the function told their names.
async fn with_clone_parameter_groups(world: &mut World) {
    for group in [PRODUCTION_GROUP, CLONE_CLUSTER_GROUP] {
        world
            .rds
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .db_parameter_group_family("aurora-postgresql16")
            .description(group)
            .send()
            .await
            .unwrap();
    }
    world
        .rds
        .create_db_parameter_group()
        .db_parameter_group_name(CLONE_INSTANCE_GROUP)
        .db_parameter_group_family("aurora-postgresql16")
        .description(CLONE_INSTANCE_GROUP)
        .send()
        .await
        .unwrap();
    world
        .rds
        .modify_db_cluster()
        .db_cluster_identifier(SOURCE)
        .db_cluster_parameter_group_name(PRODUCTION_GROUP)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    world.settings.clone_parameter_groups = CloneParameterGroups {
        cluster: Some(CLONE_CLUSTER_GROUP.into()),
        instance: Some(CLONE_INSTANCE_GROUP.into()),
    };
}

/// The DB parameter group moto reports for `instance`.
async fn instance_group(world: &World, instance: &str) -> Option<String> {
    let out = world
        .rds
        .describe_db_instances()
        .db_instance_identifier(instance)
        .send()
        .await
        .unwrap();
    out.db_instances()[0]
        .db_parameter_groups()
        .first()
        .and_then(|g| g.db_parameter_group_name())
        .map(str::to_owned)
}

#[tokio::test]
async fn until_verified_the_clone_runs_with_the_stacks_parameter_groups_and_dev_with_productions() {
    // (masking one chunk per invocation, so a tick ends with the clone unmasked)
    let mut world = World::start(Setup::chunked(Some(1))).await;
    with_clone_parameter_groups(&mut world).await;

    // WHEN the refresh runs until it is masking
    let mut at = 0;
    while world.phase().await != Some(Phase::Mask) {
        assert!(
            at < 60,
            "no masking by +{at} min: {:?}",
            world.phase().await
        );
        world.tick(minutes(at)).await;
        at += 5;
    }
    // THEN the unmasked clone runs with the stack's cluster group and its instance with the
    // stack's DB parameter group: production's logging does not apply to it
    let clone = world.cluster(CLONE).await.expect("the clone");
    assert_eq!(
        clone.db_cluster_parameter_group(),
        Some(CLONE_CLUSTER_GROUP)
    );
    assert_eq!(
        instance_group(&world, CLONE_INSTANCE).await.as_deref(),
        Some(CLONE_INSTANCE_GROUP)
    );

    // WHEN the run completes
    world.tick_until_terminal(at).await;
    world.assert_done().await;
    // THEN dev, the verified copy, carries production's cluster group again, and its instance
    // the engine's default, never the stack's
    let dev = world.cluster(DEV).await.expect("a dev cluster");
    assert_eq!(tag(&dev, RUN_KEY).as_deref(), Some(RUN));
    assert_eq!(dev.db_cluster_parameter_group(), Some(PRODUCTION_GROUP));
    let dev_group = instance_group(&world, DEV_INSTANCE).await;
    assert_ne!(dev_group.as_deref(), Some(CLONE_INSTANCE_GROUP));
    // ... as the requests said: the restore from production and the clone's instance named the
    // stack's groups; the copy's restore production's group, its instance none
    let calls = world.wire.calls();
    let param = |op: &str, key: &str, id: &str, group: &str| {
        calls
            .iter()
            .find(|c| c.operation == op && c.params.get(key).map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no {op} with {key}={id}"))
            .params
            .get(group)
            .cloned()
    };
    let (restore, create) = ("RestoreDBClusterToPointInTime", "CreateDBInstance");
    let (cluster_pg, pg) = ("DBClusterParameterGroupName", "DBParameterGroupName");
    assert_eq!(
        param(restore, "DBClusterIdentifier", CLONE, cluster_pg).as_deref(),
        Some(CLONE_CLUSTER_GROUP)
    );
    assert_eq!(
        param(create, "DBInstanceIdentifier", CLONE_INSTANCE, pg).as_deref(),
        Some(CLONE_INSTANCE_GROUP)
    );
    assert_eq!(
        param(restore, "DBClusterIdentifier", COPY, cluster_pg).as_deref(),
        Some(PRODUCTION_GROUP)
    );
    assert_eq!(
        param(create, "DBInstanceIdentifier", COPY_INSTANCE, pg),
        None
    );
}

#[tokio::test]
async fn without_the_stacks_groups_the_clone_runs_with_productions_cluster_group() {
    // GIVEN production on a group of its own, and no groups of the stack's
    let mut world = World::start(Setup::default()).await;
    with_clone_parameter_groups(&mut world).await;
    world.settings.clone_parameter_groups = CloneParameterGroups::default();
    // WHEN a refresh completes
    world.tick_until_terminal(0).await;
    world.assert_done().await;
    // THEN the clone was restored with production's group, its instance named none (as ever)
    let calls = world.wire.calls();
    let restore = calls
        .iter()
        .find(|c| {
            c.operation == "RestoreDBClusterToPointInTime"
                && c.params.get("DBClusterIdentifier").map(String::as_str) == Some(CLONE)
        })
        .expect("the restore from production");
    assert_eq!(
        restore.params["DBClusterParameterGroupName"],
        PRODUCTION_GROUP
    );
    for c in calls.iter().filter(|c| c.operation == "CreateDBInstance") {
        assert!(!c.params.contains_key("DBParameterGroupName"), "{c:?}");
    }
    let dev = world.cluster(DEV).await.expect("a dev cluster");
    assert_eq!(dev.db_cluster_parameter_group(), Some(PRODUCTION_GROUP));
}

#[tokio::test]
async fn keep_previous_keeps_the_old_dev_cluster_aside_for_rollback() {
    // GIVEN keep_previous: 1
    let setup = Setup {
        keep_previous: 1,
        ..Setup::default()
    };
    let world = World::start(setup).await;
    // WHEN a run completes
    world.tick_until_terminal(0).await;
    // THEN the old dev cluster is kept under its aside name with its instance, tagged as previous
    assert_eq!(world.phase().await, Some(Phase::Done));
    assert_eq!(world.cluster_ids().await, [DEV, ASIDE, SOURCE]);
    let aside = world.cluster(ASIDE).await.unwrap();
    assert_eq!(tag(&aside, ROLE_KEY).as_deref(), Some("previous"));
    assert_eq!(tag(&aside, "offpeak:original-name").as_deref(), Some(DEV));
    let instances = world.instance_ids().await;
    assert!(instances.contains(&format!("{ASIDE}-1")), "{instances:?}");
    assert!(
        instances.contains(&DEV_INSTANCE.to_owned()),
        "{instances:?}"
    );
}

#[tokio::test]
async fn dry_run_shows_the_next_phase_and_changes_nothing() {
    // GIVEN the window has just opened
    let world = World::start(Setup::default()).await;
    // WHEN a dry-run tick runs
    let report = world.try_tick(minutes(0), true).await.unwrap();
    // THEN it plans the start and the restore, and made no mutating call
    let lines: Vec<String> = report.plan.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("start run 20261127 of dev-aurora"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("clone prod-aurora as dev-aurora-offpeak-20261127 (copy-on-write"),
        "{lines:?}"
    );
    assert!(report.applied.is_empty());
    let calls = world.wire.take();
    assert!(calls.iter().all(|c| !c.mutating()), "{:?}", tally(&calls));
    assert_eq!(world.phase().await, None);
}

#[tokio::test]
async fn without_a_salt_setting_the_key_comes_from_the_secret_the_rules_name() {
    // GIVEN the salt in Secrets Manager, as text and as binary, and rules naming each (or a
    // secret that does not exist)
    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let create = client.create_secret().name("offpeak/salt-text");
    create.secret_string(SALT).send().await.unwrap();
    let create = client.create_secret().name("offpeak/salt-binary");
    let blob = aws_sdk_secretsmanager::primitives::Blob::new(SALT.as_bytes());
    create.secret_binary(blob).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = |secret: &str| {
        let rules = dir
            .path()
            .join(format!("{}.yaml", secret.replace('/', "-")));
        std::fs::write(
            &rules,
            format!("salt_secret: {secret}\ntables:\n  t: {{ keep: [id] }}\n"),
        )
        .unwrap();
        Engine::new(&rules, None, sdk.clone())
    };
    let expected = MaskingKey::from_salt(SALT.as_bytes(), "test").unwrap();

    // WHEN the engine loads its key with no salt in its settings
    // THEN it is the key of the secret's value, whichever form the secret holds it in
    for secret in ["offpeak/salt-text", "offpeak/salt-binary"] {
        let key = engine(secret).key().await.unwrap();
        assert_eq!(key.ipad(), expected.ipad(), "{secret}");
        assert_eq!(key.verify_key(), expected.verify_key(), "{secret}");
    }
    // ... and a secret that cannot be read is a runtime failure naming it, with no value
    let err = engine("offpeak/absent").key().await.unwrap_err();
    assert!(!err.is_bad_input(), "{err:?}");
    let MaskingError::Key(KeyError::Secret { secret_id, reason }) = &err else {
        panic!("expected a secret error, got {err:?}")
    };
    assert_eq!(secret_id, "offpeak/absent");
    assert!(reason.contains("ResourceNotFoundException"), "{reason}");
    assert!(!reason.contains(SALT), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// The whole clone server is the unit, and production logins never reach dev.

#[tokio::test]
async fn a_database_the_rules_do_not_name_refuses_the_run_before_any_change() {
    // GIVEN a production login, and `analytics` (personal data) on the clone's server, which the
    // rules neither cover nor drop
    let world = World::start(Setup::default()).await;
    world.server.with_analytics().await;
    world
        .server
        .exec("CREATE ROLE prod_app LOGIN PASSWORD 'prod-app-password'")
        .await;

    // WHEN the window opens and ticks run until the run is over
    world.tick_until_terminal(0).await;

    // THEN the run was refused at masking: the clone is gone, dev untouched
    world
        .assert_failed_and_cleaned(Phase::Mask, "masking")
        .await;
    let error = world.failure().await;
    assert!(error.contains("`analytics`"), "names the database: {error}");
    assert!(!error.contains("Visitor"), "never a value: {error}");
    // ... the failure notification names it too
    let messages = world.messages("masked refresh failed").await;
    assert!(
        messages.iter().any(|m| m.contains("analytics")),
        "{messages:?}"
    );
    // ... and nothing on the clone's server changed: no database dropped, no login disabled,
    // no row masked
    let mut expected = vec!["analytics", world.db().name.as_str(), "postgres"];
    expected.sort();
    assert_eq!(world.server.databases().await, expected);
    assert!(
        world
            .server
            .can_log_in("prod_app", "prod-app-password")
            .await
    );
    assert!(!world.survivors().await.is_empty());
}

#[tokio::test]
async fn a_database_the_rules_drop_is_gone_before_the_clone_is_promoted() {
    // GIVEN `analytics` (personal data) on the clone's server, listed under databases.drop
    let setup = Setup {
        drop_databases: vec!["analytics"],
        ..Setup::default()
    };
    let world = World::start(setup).await;
    world.server.with_analytics().await;

    // WHEN ticks run until the run is over (after every tick the world checks that a promoted
    // clone's server holds nothing but the covered database)
    world.tick_until_terminal(0).await;

    // THEN the run completed, and only the covered database is left on the server
    let run = world.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done, "{run:?}");
    assert_eq!(world.server.databases().await, [world.db().name.as_str()]);
    let cluster = run.cluster.expect("the run recorded its containment");
    assert_eq!(cluster.dropped, ["analytics", "postgres"]);
    assert!(world.survivors().await.is_empty());
    let messages = world.messages("masked refresh done").await;
    assert!(
        messages.iter().any(|m| m.contains("analytics")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn no_production_login_can_log_in_to_dev_with_its_production_password() {
    // GIVEN production logins on the clone: an application login, a login the rules keep, and
    // a group role that carries a password (it logs in the day someone gives it LOGIN)
    let setup = Setup {
        keep_logins: vec!["app_ro"],
        ..Setup::default()
    };
    let world = World::start(setup).await;
    for sql in [
        "CREATE ROLE prod_app LOGIN PASSWORD 'prod-app-password'",
        "CREATE ROLE app_ro LOGIN PASSWORD 'app-ro-password'",
        "CREATE ROLE reporting NOLOGIN PASSWORD 'reporting-password'",
    ] {
        world.server.exec(sql).await;
    }
    let s = &world.server;
    assert!(s.can_log_in("prod_app", "prod-app-password").await);
    assert!(s.can_log_in("app_ro", "app-ro-password").await);
    assert!(
        !s.can_log_in("app_ro", "wrong").await,
        "the server checks passwords"
    );

    // WHEN a refresh completes
    world.tick_until_terminal(0).await;
    assert_eq!(world.phase().await, Some(Phase::Done));

    // THEN the production login is disabled and its password does not open it
    assert!(!s.can_log_in("prod_app", "prod-app-password").await);
    assert!(!s.login_enabled("prod_app").await);
    // ... the kept login is still a login, but its production password no longer opens it
    assert!(s.login_enabled("app_ro").await);
    assert!(!s.can_log_in("app_ro", "app-ro-password").await);
    // ... and the group role carries no production verifier: given LOGIN in dev, its production
    // password still does not open it
    s.exec("ALTER ROLE reporting LOGIN").await;
    assert!(!s.can_log_in("reporting", "reporting-password").await);
    let cluster = world.run().await.unwrap().cluster.unwrap();
    assert_eq!((cluster.logins_disabled, cluster.logins_rekeyed), (2, 1));
}

#[tokio::test]
async fn dry_run_says_which_databases_would_be_dropped_and_which_logins_kept() {
    // GIVEN rules that drop `analytics` and keep `app_ro`
    let setup = Setup {
        drop_databases: vec!["analytics"],
        keep_logins: vec!["app_ro"],
        ..Setup::default()
    };
    let world = World::start(setup).await;
    world.server.with_analytics().await;
    // WHEN a dry-run tick runs as the window opens
    let report = world.try_tick(minutes(0), true).await.unwrap();
    // THEN it reports what masking will drop and keep, and changed nothing
    let notes: Vec<&str> = report.notes.iter().map(|n| n.message.as_str()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("drop databases analytics, postgres")
                && n.contains("every login but app_ro (re-keyed)")),
        "{notes:?}"
    );
    assert!(
        world
            .server
            .databases()
            .await
            .contains(&"analytics".to_owned())
    );
    assert_eq!(world.phase().await, None);
}

/// With every statement and its parameters logged on the clone's server (as production's
/// parameter groups may have it, and the clone inherits them), a whole refresh leaves no form of
/// the key, no original value and no password in the server's log.
async fn the_clone_server_log_holds_no_key_original_or_password(engine: offpeak_tests::Engine) {
    use offpeak_tests::masking_support::MARKERS;
    use offpeak_tests::server_log::{self, ServerLog};

    // GIVEN production logins with their passwords on the clone, one of them kept
    let setup = Setup {
        engine,
        keep_logins: vec!["app_ro"],
        ..Setup::default()
    };
    let world = World::start(setup).await;
    let logins = match engine {
        offpeak_tests::Engine::Postgres => [
            "CREATE ROLE prod_app LOGIN PASSWORD 'prod-app-password'",
            "CREATE ROLE app_ro LOGIN PASSWORD 'app-ro-password'",
        ],
        offpeak_tests::Engine::MariaDb => [
            "CREATE USER 'prod_app'@'%' IDENTIFIED BY 'prod-app-password'",
            "CREATE USER 'app_ro'@'%' IDENTIFIED BY 'app-ro-password'",
        ],
    };
    for sql in logins {
        world.server.exec(sql).await;
    }
    // AND the server logs every statement with its parameters from now on
    let log = ServerLog::everything(engine, &world.db().url).await;

    // WHEN a refresh completes
    world.tick_until_terminal(0).await;
    assert_eq!(world.phase().await, Some(Phase::Done));
    // (a statement after the run, so the log is known to be live and flushed up to here)
    world.server.exec("SELECT 'offpeak-logging-probe'").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // THEN the log recorded the run, with bind parameters ...
    let written = log.written();
    let text = String::from_utf8_lossy(&written);
    assert!(
        text.contains("offpeak-logging-probe") && text.contains("offpeak_masking"),
        "the server log did not record the refresh ({} bytes in {})",
        written.len(),
        log.path
    );
    assert!(log.shows_parameters(&text), "no bind parameters logged");
    // ... and none of the key material, an original or a password
    let key = MaskingKey::from_salt(SALT.as_bytes(), "test").unwrap();
    let mut needles = server_log::key_forms(SALT.as_bytes(), &key);
    needles.extend(server_log::literal_needles("original", MARKERS));
    needles.extend(server_log::literal_needles(
        "password",
        &[
            "prod-app-password",
            "app-ro-password",
            DEV_PASSWORD,
            PROD_PASSWORD,
        ],
    ));
    let found = server_log::found(&written, &needles);
    assert!(found.is_empty(), "the server log holds {found:?}");
    log.off().await;
}

#[tokio::test]
async fn postgres_with_every_statement_logged_a_refresh_leaves_no_key_original_or_password_in_the_log()
 {
    the_clone_server_log_holds_no_key_original_or_password(offpeak_tests::Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_with_the_general_log_on_a_refresh_leaves_no_key_original_or_password_in_it() {
    the_clone_server_log_holds_no_key_original_or_password(offpeak_tests::Engine::MariaDb).await;
}
