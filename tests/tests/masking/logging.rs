//! "Key material never travels in a form the server may log": with every statement and its bind
//! parameters logged, a full mask + verify leaves no trace of the salt, of anything derived from
//! it (the HMAC key blocks, the verification key) or of an original value in the server's log.
//!
//! Each engine runs on this test process's own throwaway server (never a shared one, whose
//! settings are not ours to change), with logging forced on after the schema is loaded:
//! PostgreSQL `log_statement = all`, `log_min_duration_statement = 0` and full parameter values;
//! MariaDB the general log, which records every statement with its values substituted.

use offpeak_tests::masking_support;
use offpeak_tests::server_log::{self, ServerLog};

use masking_support::{MARKERS, Pool, SALT, key, mask_all, rules, rules_text};
use offpeak_masking::{self as masking, Db};
use offpeak_tests::{Engine, TestDb, throwaway_mariadb, throwaway_pg};

/// What of the key and of the originals the log holds, by name.
fn leaks(log: &[u8]) -> Vec<String> {
    let mut needles = server_log::key_forms(SALT, &key());
    needles.extend(server_log::literal_needles("original", MARKERS));
    server_log::found(log, &needles)
}

async fn mask_and_verify(db: &TestDb) {
    let rules = rules(&rules_text(100, 1_000_000));
    mask_all(&db.url, &rules).await;
    let mut session = Db::connect(&db.url).await.unwrap();
    let verification = masking::verify(&mut session, &rules, &key())
        .await
        .expect("verification runs");
    session.close().await;
    assert!(verification.passed, "{verification:?}");
}

async fn no_key_material_in_the_log(engine: Engine) {
    // GIVEN the realistic schema on a throwaway server, loaded before logging is on
    let db = match engine {
        Engine::Postgres => throwaway_pg().database().await,
        Engine::MariaDb => throwaway_mariadb().database().await,
    };
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(200).await;
    // AND every statement with its parameters logged from now on
    let log = ServerLog::everything(engine, &db.url).await;

    // WHEN the database is masked and verified
    mask_and_verify(&db).await;
    // (a statement after the run, so the log is known to be live and flushed up to here)
    pool.exec("SELECT 'offpeak-logging-probe'").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // THEN the log recorded the run, parameters included ...
    let written = log.written();
    let text = String::from_utf8_lossy(&written);
    assert!(
        text.contains("offpeak-logging-probe") && text.contains("offpeak_masking"),
        "the server log did not record the run ({} bytes in {})",
        written.len(),
        log.path
    );
    // ... bind parameters included (else the check below would prove nothing)
    assert!(
        log.shows_parameters(&text),
        "the {engine:?} log shows no bind parameters"
    );
    // ... and none of the key material nor any original
    let found = leaks(&written);
    if !found.is_empty() {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("offpeak_ipad") || l.contains("mask_ipad"))
            .take(4)
            .collect();
        panic!(
            "the {engine:?} server log holds {found:?}; e.g.\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn postgres_log_holds_no_key_material() {
    no_key_material_in_the_log(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_general_log_holds_no_key_material() {
    no_key_material_in_the_log(Engine::MariaDb).await;
}
