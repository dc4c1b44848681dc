//! The clone's whole server, against real PostgreSQL and MariaDB (`offpeak_masking::cluster`):
//! every database checked against the rules before anything changes, the listed ones dropped,
//! production logins disabled, kept ones re-keyed, and the gate that proves it.
//!
//! Each test has the throwaway server of this process to itself ([`clone_server`]): the engine
//! changes the server as a whole, which must never happen on a shared one.

use offpeak_tests::masked_refresh_support::clone_server;

use clone_server::CloneServer;
use offpeak_masking::cluster::{self, Containment};
use offpeak_masking::{Check, Db, MaskError, Rules};
use offpeak_tests::Engine;

const SEED: [u8; 32] = [42; 32];

fn rules(extra: &str) -> Rules {
    let text = format!("tables:\n  t: {{ keep: [id] }}\n{extra}");
    offpeak_masking::rules::parse_str(&text, "masking.yaml").expect("test rules parse")
}

/// GIVEN the clone's server: the covered database with table `t`, and `analytics` beside it
/// holding personal data.
async fn server(engine: Engine) -> CloneServer {
    let s = clone_server::take(engine).await;
    s.exec("CREATE TABLE t (id INT PRIMARY KEY)").await;
    s.exec("CREATE DATABASE analytics").await;
    let visitors = [
        "CREATE TABLE visitors (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL)",
        "INSERT INTO visitors VALUES (1, 'Visitor.000001@Mail.Example.com')",
    ];
    for sql in visitors {
        s.exec_in("analytics", sql).await;
    }
    s
}

async fn connect(s: &CloneServer) -> Db {
    Db::connect(&s.db.url).await.expect("connect to the clone")
}

/// The production logins of each test: an application login, a kept one, and (PostgreSQL) a
/// group role with a password, a login whose name needs quoting and a role RDS would own
/// (MariaDB: the kept user on a second host).
async fn production_logins(s: &CloneServer) {
    let covered = &s.db.name;
    let statements: Vec<String> = match s.engine {
        Engine::Postgres => vec![
            "CREATE ROLE prod_app LOGIN PASSWORD 'prod-app-password'".into(),
            "CREATE ROLE app_ro LOGIN PASSWORD 'app-ro-password'".into(),
            "CREATE ROLE reporting NOLOGIN PASSWORD 'reporting-password'".into(),
            "CREATE ROLE \"we\"\"ird\" LOGIN PASSWORD 'weird-password'".into(),
            "CREATE ROLE rds_reader LOGIN PASSWORD 'rds-reader-password'".into(),
        ],
        Engine::MariaDb => vec![
            "CREATE USER 'prod_app'@'%' IDENTIFIED BY 'prod-app-password'".into(),
            "CREATE USER 'app_ro'@'%' IDENTIFIED BY 'app-ro-password'".into(),
            "CREATE USER 'app_ro'@'10.0.0.%' IDENTIFIED BY 'app-ro-password'".into(),
            format!("GRANT SELECT ON `{covered}`.* TO 'prod_app'@'%', 'app_ro'@'%'"),
        ],
    };
    for sql in statements {
        s.exec(&sql).await;
    }
    assert!(s.can_log_in("prod_app", "prod-app-password").await);
    assert!(s.can_log_in("app_ro", "app-ro-password").await);
    assert!(
        !s.can_log_in("app_ro", "wrong").await,
        "the server checks passwords"
    );
}

fn failed(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{} {}: {}", c.check, c.subject, c.detail))
        .collect()
}

async fn refuses_a_database_the_rules_do_not_name(engine: Engine) {
    let s = server(engine).await;
    production_logins(&s).await;
    let drop_postgres = match engine {
        Engine::Postgres => "databases:\n  drop: [postgres]\n",
        Engine::MariaDb => "",
    };
    let rules = rules(drop_postgres);
    let before = s.databases().await;

    // WHEN the server is contained under rules that do not name `analytics`
    let mut db = connect(&s).await;
    let result = cluster::contain(&mut db, &rules, &SEED).await;
    db.close().await;

    // THEN it is refused, naming `analytics` and only it, never a value ...
    let Err(MaskError::Refused(findings)) = result else {
        panic!("expected a refusal, got {result:?}")
    };
    assert_eq!(findings.len(), 1, "{findings:?}");
    let text = findings[0].to_string();
    assert!(text.contains("`analytics`"), "{text}");
    assert!(!text.contains("postgres`"), "{text}");
    assert!(!text.contains("Visitor"), "{text}");
    // ... and nothing changed: every database still there, every login still opens
    assert_eq!(s.databases().await, before);
    assert!(s.can_log_in("prod_app", "prod-app-password").await);
    assert!(s.can_log_in("app_ro", "app-ro-password").await);
}

#[tokio::test]
async fn postgres_a_database_the_rules_do_not_name_refuses_before_any_change() {
    refuses_a_database_the_rules_do_not_name(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_a_schema_the_rules_do_not_name_refuses_before_any_change() {
    refuses_a_database_the_rules_do_not_name(Engine::MariaDb).await;
}

#[tokio::test]
async fn a_table_the_rules_do_not_know_refuses_too_with_nothing_dropped() {
    // GIVEN every database accounted for, but a table in the covered one the rules do not know
    let s = server(Engine::Postgres).await;
    s.exec("CREATE TABLE newsletter (id INT PRIMARY KEY, email TEXT)")
        .await;
    let rules = rules("databases:\n  drop: [analytics, postgres]\n");
    // WHEN the server is contained
    let mut db = connect(&s).await;
    let result = cluster::contain(&mut db, &rules, &SEED).await;
    db.close().await;
    // THEN the table finding refuses it before any database is dropped
    let Err(MaskError::Refused(findings)) = result else {
        panic!("expected a refusal, got {result:?}")
    };
    assert!(
        findings.iter().any(|f| f.message.contains("newsletter")),
        "{findings:?}"
    );
    assert_eq!(s.databases().await.len(), 3, "nothing was dropped");
}

async fn contains_the_server(engine: Engine, keep: &str) -> (CloneServer, Rules, Containment) {
    let s = server(engine).await;
    production_logins(&s).await;
    let drop = match engine {
        Engine::Postgres => "[analytics, postgres]",
        Engine::MariaDb => "[analytics]",
    };
    let rules = rules(&format!(
        "databases:\n  drop: {drop}\nlogins:\n  keep: [{keep}]\n"
    ));
    let mut db = connect(&s).await;
    let contained = cluster::contain(&mut db, &rules, &SEED)
        .await
        .expect("the server is contained");
    let gate = cluster::verify(&mut db, &rules)
        .await
        .expect("the gate runs");
    db.close().await;
    assert!(failed(&gate).is_empty(), "{:?}", failed(&gate));
    (s, rules, contained)
}

#[tokio::test]
async fn postgres_listed_databases_go_production_logins_are_disabled_kept_ones_rekeyed() {
    // GIVEN analytics and postgres listed under drop, app_ro kept
    // WHEN the server is contained (and the gate passes: checked in the helper)
    let (s, _, contained) = contains_the_server(Engine::Postgres, "app_ro").await;
    // THEN only the covered database is left
    assert_eq!(contained.dropped, ["analytics", "postgres"]);
    assert_eq!(s.databases().await, [s.db.name.as_str()]);
    // ... the production login is disabled: its password opens nothing
    assert!(!s.login_enabled("prod_app").await);
    assert!(!s.can_log_in("prod_app", "prod-app-password").await);
    // ... the kept login still logs in, but not with production's password
    assert!(s.login_enabled("app_ro").await);
    assert!(!s.can_log_in("app_ro", "app-ro-password").await);
    // ... the group role lost its verifier: given LOGIN in dev, its password opens nothing
    s.exec("ALTER ROLE reporting LOGIN").await;
    assert!(!s.can_log_in("reporting", "reporting-password").await);
    // ... a name that needs quoting is disabled like any other
    assert!(!s.login_enabled("we\"ird").await);
    // ... RDS's own roles are not offpeak's: left as they were
    assert!(s.can_log_in("rds_reader", "rds-reader-password").await);
    // ... and the kept login's new verifier is one offpeak never wrote as a password
    let verifier = s_texts(
        &s,
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'app_ro'",
    )
    .await;
    assert!(
        verifier[0].starts_with("SCRAM-SHA-256$4096:"),
        "{verifier:?}"
    );
    assert_eq!(
        (contained.logins_disabled, contained.logins_rekeyed),
        (3, 1)
    );
}

#[tokio::test]
async fn mariadb_listed_schemas_go_production_accounts_are_locked_kept_ones_rekeyed() {
    // GIVEN analytics listed under drop; app_ro kept on one host only
    let (s, _, contained) = contains_the_server(Engine::MariaDb, "'app_ro@%'").await;
    // THEN only the covered schema is left
    assert_eq!(contained.dropped, ["analytics"]);
    assert_eq!(s.databases().await, [s.db.name.as_str()]);
    // ... the production account is locked and its password opens nothing
    assert!(!s.can_log_in("prod_app", "prod-app-password").await);
    // ... app_ro@% is open but not with production's password; app_ro@10.0.0.% was not kept
    assert!(!s.can_log_in("app_ro", "app-ro-password").await);
    let locked = s_texts(
        &s,
        "SELECT CONCAT(Host, CASE WHEN JSON_VALUE(Priv, '$.account_locked') IN ('1', 'true') \
         THEN ' locked' ELSE ' open' END) FROM mysql.global_priv WHERE User = 'app_ro' ORDER BY Host",
    )
    .await;
    assert_eq!(locked, ["% open", "10.0.0.% locked"]);
    assert!(
        contained.logins_rekeyed == 1 && contained.logins_disabled >= 2,
        "{contained:?}"
    );
    // ... and the account the engine connected as still works
    assert!(s.can_log_in("root", "").await);
}

async fn converges_after_an_interruption(engine: Engine) {
    // GIVEN a first containment cut short: one listed database already dropped, one login
    // already disabled (the rest not)
    let s = server(engine).await;
    production_logins(&s).await;
    let (drop, first) = match engine {
        Engine::Postgres => (
            "[analytics, postgres]",
            "ALTER ROLE prod_app NOLOGIN PASSWORD NULL",
        ),
        Engine::MariaDb => ("[analytics]", "ALTER USER 'prod_app'@'%' ACCOUNT LOCK"),
    };
    s.exec("DROP DATABASE analytics").await;
    s.exec(first).await;
    let rules = rules(&format!("databases:\n  drop: {drop}\n"));
    // WHEN containment runs again, twice
    let mut db = connect(&s).await;
    let again = cluster::contain(&mut db, &rules, &SEED).await.unwrap();
    let third = cluster::contain(&mut db, &rules, &SEED).await.unwrap();
    let gate = cluster::verify(&mut db, &rules).await.unwrap();
    db.close().await;
    // THEN it finished the rest, the repeat found nothing more to drop, and the gate passes
    let expected: Vec<&str> = match engine {
        Engine::Postgres => vec!["postgres"],
        Engine::MariaDb => vec![],
    };
    assert_eq!(again.dropped, expected);
    assert!(third.dropped.is_empty());
    assert_eq!(again.logins_disabled, third.logins_disabled);
    assert!(failed(&gate).is_empty(), "{:?}", failed(&gate));
    assert_eq!(s.databases().await, [s.db.name.as_str()]);
    assert!(!s.can_log_in("app_ro", "app-ro-password").await);
}

#[tokio::test]
async fn postgres_containment_converges_after_an_interruption() {
    converges_after_an_interruption(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_containment_converges_after_an_interruption() {
    converges_after_an_interruption(Engine::MariaDb).await;
}

async fn the_gate_fails_while_a_database_or_a_login_remains(engine: Engine) {
    // GIVEN a contained server
    let (s, rules, _) = contains_the_server(engine, "app_ro").await;
    // WHEN a database appears and a production login is enabled again
    s.exec("CREATE DATABASE late").await;
    let reopen = match engine {
        Engine::Postgres => "ALTER ROLE prod_app LOGIN",
        Engine::MariaDb => "ALTER USER 'prod_app'@'%' ACCOUNT UNLOCK",
    };
    s.exec(reopen).await;
    let mut db = connect(&s).await;
    let gate = cluster::verify(&mut db, &rules).await.unwrap();
    db.close().await;
    // THEN the gate fails on both, by name
    let failures = failed(&gate);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].starts_with("database late:"), "{failures:?}");
    assert!(failures[1].starts_with("login prod_app"), "{failures:?}");
}

#[tokio::test]
async fn postgres_the_gate_fails_while_a_database_or_a_login_remains() {
    the_gate_fails_while_a_database_or_a_login_remains(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_the_gate_fails_while_a_schema_or_an_account_remains() {
    the_gate_fails_while_a_database_or_a_login_remains(Engine::MariaDb).await;
}

/// The first column of `sql`'s rows, as text, run on the covered database.
async fn s_texts(s: &CloneServer, sql: &str) -> Vec<String> {
    let mut db = connect(s).await;
    let rows = db.rows("reading", sql, &[]).await.expect(sql);
    db.close().await;
    rows.into_iter()
        .map(|r| r.into_iter().next().flatten().unwrap_or_default())
        .collect()
}
