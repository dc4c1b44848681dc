//! The daily rules check against a real production stand-in (PostgreSQL and MariaDB), as a login
//! that holds no privilege to read any table's rows: a column added in production produces one
//! notification naming it; all classified produces none.

use offpeak_masked_refresh::secret::DatabaseUrl;
use offpeak_masked_refresh::{Settings, tick_with};
use offpeak_shared::event::{Check, InvocationEvent};
use offpeak_tests::Engine;
use offpeak_tests::masked_refresh_support::{DEV, Setup, World, minutes};

const PASSWORD: &str = "check-login-pw-1";

/// `url` with its user replaced by `user:PASSWORD`.
fn as_login(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{PASSWORD}@{host}")
}

/// GIVEN a catalog-only login as docs/rules-check.md sets it up: PostgreSQL needs no grant;
/// MariaDB gets REFERENCES on the database (which reads nothing). The clone server the world
/// lends is this process's own and is reset when lent again, logins included.
async fn catalog_only_login(world: &World, engine: Engine) -> String {
    let user = format!("chk_{}", world.db().name)
        .chars()
        .take(32)
        .collect::<String>();
    let pool = world.pool();
    match engine {
        Engine::Postgres => {
            pool.exec(&format!("CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}'"))
                .await;
        }
        Engine::MariaDb => {
            pool.exec(&format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'"
            ))
            .await;
            pool.exec(&format!(
                "GRANT REFERENCES ON `{}`.* TO '{user}'@'%'",
                world.db().name
            ))
            .await;
        }
    }
    as_login(&world.db().url, &user)
}

/// THEN the login can read no row: the server refuses it (so a check that read rows would fail).
async fn assert_reads_no_rows(url: &str, engine: Engine) {
    let denied = match engine {
        Engine::Postgres => {
            let mut c: sqlx::PgConnection = sqlx::Connection::connect(url).await.unwrap();
            sqlx::query("SELECT email FROM users LIMIT 1")
                .fetch_all(&mut c)
                .await
                .is_err()
        }
        Engine::MariaDb => {
            let mut c: sqlx::MySqlConnection = sqlx::Connection::connect(url).await.unwrap();
            sqlx::query("SELECT email FROM users LIMIT 1")
                .fetch_all(&mut c)
                .await
                .is_err()
        }
    };
    assert!(denied, "the check's login must not be able to read rows");
}

async fn added_column_is_named_once(engine: Engine) {
    // GIVEN production whose every column the rules classify, and the check's login
    let world = World::start(Setup {
        engine,
        ..Setup::default()
    })
    .await;
    let url = catalog_only_login(&world, engine).await;
    assert_reads_no_rows(&url, engine).await;
    let settings = Settings {
        source_database_url: Some(DatabaseUrl::new(url)),
        ..world.settings.clone()
    };
    let event = InvocationEvent {
        check: Some(Check::Rules),
        ..InvocationEvent::default()
    };
    let ctx = world.ctx();

    // WHEN the daily check runs
    let quiet = tick_with(&ctx, &settings, &event, minutes(-360))
        .await
        .unwrap();

    // THEN nothing is reported as unclassified and nobody is notified
    assert!(quiet.drifting.is_empty(), "{quiet:?}");
    assert!(world.notifications().await.is_empty());

    // WHEN a migration adds a column in production, and the check runs again
    world
        .pool()
        .exec("ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")
        .await;
    let report = tick_with(&ctx, &settings, &event, minutes(-360))
        .await
        .unwrap();

    // THEN exactly one notification names it, with no value
    let all = world.notifications().await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let schema = match engine {
        Engine::Postgres => "public".to_owned(),
        Engine::MariaDb => world.db().name.clone(),
    };
    let name = format!("{schema}.users.nickname");
    let message = all[0]["Message"].as_str().unwrap();
    assert!(message.contains(&format!("column: `{name}`")), "{message}");
    assert!(
        all[0]["Subject"]
            .as_str()
            .unwrap()
            .contains("masking rules miss production columns")
    );
    assert!(
        !message.contains('@'),
        "no e-mail address, no value: {message}"
    );
    assert_eq!(report.drifting, [format!("{DEV}/rules")]);
    assert!(report.plan.is_empty() && report.applied.is_empty());

    // AND a dry-run reports it but notifies nobody
    let dry = InvocationEvent {
        dry_run: true,
        ..event.clone()
    };
    let dry_report = tick_with(&ctx, &settings, &dry, minutes(-360))
        .await
        .unwrap();
    assert_eq!(dry_report.drifting, [format!("{DEV}/rules")]);
    assert_eq!(world.notifications().await.len(), 1);
}

#[tokio::test]
async fn postgres_added_column_is_named_once_without_reading_rows() {
    added_column_is_named_once(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_added_column_is_named_once_without_reading_rows() {
    added_column_is_named_once(Engine::MariaDb).await;
}

/// The check's session is read-only: even as a login that may write, a write is refused after
/// the audit, and the table is as it was.
async fn the_session_refuses_writes(engine: Engine) {
    let world = World::start(Setup {
        engine,
        ..Setup::default()
    })
    .await;
    let rules = offpeak_masking::rules::load(&world.cfg.rules).unwrap();
    let before = world.pool().everything().await;
    let endpoint = offpeak_masking::Endpoint::new(&world.db().url);
    // A write that changes no row: an ordinary session of this login runs it.
    let write_sql = "UPDATE users SET status = 'x' WHERE 1 = 0";
    let mut plain = endpoint.connect().await.unwrap();
    plain.execute("writing", write_sql, &[]).await.unwrap();
    plain.close().await;
    let mut db = endpoint.connect().await.unwrap();
    let audit = offpeak_masking::audit(&mut db, &rules).await.unwrap();
    assert!(audit.findings.is_empty(), "{:?}", audit.findings);
    let write = db.execute("writing", write_sql, &[]).await;
    assert!(write.is_err(), "a write went through the check's session");
    db.close().await;
    assert_eq!(world.pool().everything().await, before);
}

#[tokio::test]
async fn postgres_session_refuses_writes() {
    the_session_refuses_writes(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_session_refuses_writes() {
    the_session_refuses_writes(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_a_migration_holding_a_lock_is_not_queued_behind_for_long() {
    // GIVEN a migration in production holding an exclusive lock on `users`
    let world = World::start(Setup::default()).await;
    let url = catalog_only_login(&world, Engine::Postgres).await;
    let settings = Settings {
        source_database_url: Some(DatabaseUrl::new(url)),
        ..world.settings.clone()
    };
    let mut migration: sqlx::PgConnection =
        sqlx::Connection::connect(&world.db().url).await.unwrap();
    sqlx::Executor::execute(
        &mut migration,
        "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
    )
    .await
    .unwrap();
    let event = InvocationEvent {
        check: Some(Check::Rules),
        ..InvocationEvent::default()
    };

    // WHEN the daily check runs
    let started = std::time::Instant::now();
    let bound = offpeak_masked_refresh::rules_check::CATALOG_TIME;
    let slack = std::time::Duration::from_secs(5);
    // A check that waits unbounded fails here rather than hanging the test.
    let result = tokio::time::timeout(
        bound + slack,
        tick_with(&world.ctx(), &settings, &event, minutes(-360)),
    )
    .await
    .expect("the check still waits on the migration's lock past its bound");
    let took = started.elapsed();

    // THEN it gives up within its bound (the invocation fails, the Errors alarm tells) and
    // notifies nobody
    let err = result.expect_err("the catalog read waits on the migration's lock");
    assert!(took < bound + slack, "took {took:?}: {err}");
    assert!(world.notifications().await.is_empty());
    sqlx::Connection::close(migration).await.unwrap();
}
