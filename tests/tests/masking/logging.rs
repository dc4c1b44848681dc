//! "Key material never travels in a form the server may log": with every statement and its bind
//! parameters logged, a full mask + verify leaves no trace of the salt, of anything derived from
//! it (the HMAC key blocks, the verification key) or of an original value in the server's log.
//!
//! Each engine runs on this test process's own throwaway server (never a shared one, whose
//! settings are not ours to change), with logging forced on after the schema is loaded:
//! PostgreSQL `log_statement = all`, `log_min_duration_statement = 0` and full parameter values;
//! MariaDB the general log, which records every statement with its values substituted.

use offpeak_tests::masking_support;

use masking_support::{MARKERS, Pool, SALT, key, mask_all, rules, rules_text};
use offpeak_masking::{self as masking, Db};
use offpeak_tests::{Engine, TestDb, throwaway_mariadb, throwaway_pg};

/// Every form of the key material a log line could carry: raw bytes, hex (either case, which
/// also covers bytea's `\x...` escape) and base64, of the salt and of each derived key.
fn key_forms() -> Vec<(String, Vec<u8>)> {
    let key = key();
    let mut forms = Vec::new();
    for (name, bytes) in [
        ("salt", SALT),
        ("ipad", key.ipad()),
        ("opad", key.opad()),
        ("verify key", key.verify_key()),
    ] {
        // A 16-byte window is enough to prove a leak and catches a block split across lines.
        let window = &bytes[..16];
        let hex = hex::encode(window);
        forms.push((format!("{name} raw"), window.to_vec()));
        forms.push((format!("{name} hex"), hex.clone().into_bytes()));
        forms.push((format!("{name} HEX"), hex.to_uppercase().into_bytes()));
        let b64 = base64(bytes);
        forms.push((format!("{name} base64"), b64.as_bytes()[..20].to_vec()));
    }
    forms
}

/// What of the key and of the originals the log holds, by name.
fn leaks(log: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = key_forms()
        .into_iter()
        .filter(|(_, needle)| contains(log, needle))
        .map(|(name, _)| name)
        .collect();
    found.extend(
        MARKERS
            .iter()
            .filter(|m| contains(log, m.as_bytes()))
            .map(|m| format!("original {m:?}")),
    );
    found
}

/// Standard base64 with padding (the form `encode(..., 'base64')` and `TO_BASE64` produce).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The log written from `from` on (the bytes before it predate logging being on).
fn log_since(path: &str, from: usize) -> Vec<u8> {
    let all = std::fs::read(path).unwrap_or_else(|e| panic!("read server log {path}: {e}"));
    all.get(from..).unwrap_or_default().to_vec()
}

fn log_len(path: &str) -> usize {
    std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0)
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

/// Turns full statement and parameter logging on for the whole throwaway PostgreSQL server and
/// returns its log file (the server's stderr, beside its data directory).
async fn pg_logging_on(pool: &Pool) -> String {
    for sql in [
        "ALTER SYSTEM SET log_statement = 'all'",
        "ALTER SYSTEM SET log_min_duration_statement = 0",
        "ALTER SYSTEM SET log_parameter_max_length = -1",
        "ALTER SYSTEM SET log_parameter_max_length_on_error = -1",
        "SELECT pg_reload_conf()",
    ] {
        pool.exec(sql).await;
    }
    // The reload is asynchronous: wait until a new session sees it.
    for _ in 0..100 {
        let shown = pool.texts("SHOW log_min_duration_statement").await;
        if shown[0][0].as_deref() == Some("0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let data = pool.texts("SHOW data_directory").await[0][0]
        .clone()
        .unwrap();
    let dir = std::path::Path::new(&data).parent().unwrap();
    dir.join("postgres.log").display().to_string()
}

/// Turns the general log on for the whole throwaway MariaDB server, to a file in its data
/// directory, and returns that file.
async fn mariadb_logging_on(pool: &Pool) -> String {
    let data = pool.texts("SELECT @@datadir").await[0][0].clone().unwrap();
    let path = std::path::Path::new(&data).join("offpeak-general.log");
    let path = path.display().to_string();
    for sql in [
        format!("SET GLOBAL general_log_file = '{path}'"),
        "SET GLOBAL log_output = 'FILE'".to_owned(),
        "SET GLOBAL general_log = ON".to_owned(),
    ] {
        pool.exec(&sql).await;
    }
    path
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
    let log = match engine {
        Engine::Postgres => pg_logging_on(&pool).await,
        Engine::MariaDb => mariadb_logging_on(&pool).await,
    };
    let from = log_len(&log);

    // WHEN the database is masked and verified
    mask_and_verify(&db).await;
    // (a statement after the run, so the log is known to be live and flushed up to here)
    pool.exec("SELECT 'offpeak-logging-probe'").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // THEN the log recorded the run, parameters included ...
    let written = log_since(&log, from);
    let text = String::from_utf8_lossy(&written);
    assert!(
        text.contains("offpeak-logging-probe") && text.contains("offpeak_masking"),
        "the server log did not record the run ({} bytes in {log})",
        written.len()
    );
    // ... bind parameters included (else the check below would prove nothing)
    let parameters_logged = match engine {
        Engine::Postgres => text.contains("DETAIL:  parameters: $1 = "),
        Engine::MariaDb => text.contains("Execute\t"),
    };
    assert!(
        parameters_logged,
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
