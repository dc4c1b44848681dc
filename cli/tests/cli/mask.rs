//! `offpeak mask` end to end: the binary against real PostgreSQL and MariaDB databases, checking
//! exit codes (0 masked and verified, 2 refused with nothing changed, 1 verification failed), what
//! it prints, and what it leaves in the database.

use std::path::Path;
use std::process::{Command, Output};

use offpeak_tests::masking_support::Pool;
use offpeak_tests::{Engine, TestDb, mariadb_database, pg_database};

const SALT: &str = "cli-test-salt-0123456789abcdef";
/// Every original personal value contains this, and no masked value can.
const MARKER: &str = "Ömer";

const RULES: &str = "tables:
  customers:
    keep: [id, plan]
    mask:
      email: email
      full_name: name
";

/// A rules file that forgets `customers.full_name`.
const RULES_MISSING_COLUMN: &str = "tables:
  customers:
    keep: [id, plan]
    mask:
      email: email
";

/// GIVEN a `customers` table with three rows of personal data.
async fn seeded(db: &TestDb, engine: Engine) -> Pool {
    let pool = Pool::connect(db, engine).await;
    pool.exec(
        "CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, \
         full_name VARCHAR(200), plan VARCHAR(20) NOT NULL)",
    )
    .await;
    pool.exec(
        "INSERT INTO customers VALUES \
         (1, 'Ömer.1@mail.example.com', 'Ömer Yılmaz', 'pro'), \
         (2, 'Ömer.2@mail.example.com', NULL, 'free'), \
         (3, 'Ömer.3@mail.example.com', 'Ömer Şahin', 'pro')",
    )
    .await;
    pool
}

/// Every row as `id|email|full_name|plan`, in id order.
async fn rows(pool: &Pool) -> Vec<String> {
    let sql = "SELECT CONCAT(id, ''), email, full_name, plan FROM customers ORDER BY id";
    pool.texts(sql)
        .await
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn offpeak(args: &[&str], salt: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offpeak"));
    cmd.args(args).env_remove("OFFPEAK_MASKING_SALT");
    if let Some(salt) = salt {
        cmd.env("OFFPEAK_MASKING_SALT", salt);
    }
    cmd.output().expect("run offpeak")
}

fn mask(rules: &Path, url: &str, extra: &[&str], salt: Option<&str>) -> Output {
    let rules = rules.to_str().unwrap();
    let mut args = vec!["mask", "--rules", rules, "--database-url", url];
    args.extend(extra);
    offpeak(&args, salt)
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn rules_file(dir: &tempfile::TempDir, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// GIVEN `db` seeded with personal data, and `body` as `masking.yaml` in a fresh directory.
struct Given {
    pool: Pool,
    dir: tempfile::TempDir,
    rules: std::path::PathBuf,
}

async fn given(db: &TestDb, engine: Engine, body: &str) -> Given {
    let pool = seeded(db, engine).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(&dir, "masking.yaml", body);
    Given { pool, dir, rules }
}

async fn masks_verifies_and_exits_0(db: TestDb, engine: Engine) {
    let Given {
        pool,
        dir: _dir,
        rules,
    } = given(&db, engine, RULES).await;

    // WHEN `offpeak mask` runs with the salt in the environment
    let out = mask(&rules, &db.url, &[], Some(SALT));

    // THEN it exits 0, reports the table and a passed verification, and prints no personal value
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("customers"), "{}", text(&out));
    assert!(stdout.contains("verification passed"), "{}", text(&out));
    assert!(!text(&out).contains(MARKER), "{}", text(&out));
    assert!(!text(&out).contains(SALT), "{}", text(&out));

    // AND every personal value is masked, NULLs stay NULL, kept columns are unchanged
    let masked = rows(&pool).await;
    assert_eq!(masked.len(), 3);
    for row in &masked {
        assert!(!row.contains(MARKER), "{row}");
        let cols: Vec<&str> = row.split('|').collect();
        assert!(cols[1].ends_with("@example.invalid"), "{row}");
    }
    assert!(
        masked[0].ends_with("|pro") && masked[1].ends_with("||free"),
        "{masked:?}"
    );

    // AND `--verify-only` on the masked database passes and changes nothing
    let out = mask(&rules, &db.url, &["--verify-only", "--json"], Some(SALT));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(rows(&pool).await, masked);
}

async fn refuses_with_exit_2_and_changes_nothing(db: TestDb, engine: Engine) {
    let Given { pool, dir, rules } = given(&db, engine, RULES_MISSING_COLUMN).await;
    let before = rows(&pool).await;

    // WHEN the rules leave a column unclassified
    let out = mask(&rules, &db.url, &[], Some(SALT));

    // THEN exit 2, the finding names the column at its place in the rules file, nothing changed
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("masking.yaml:2:3: `customers.full_name` is not classified"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(MARKER), "{}", text(&out));
    assert_eq!(rows(&pool).await, before);

    // AND without a salt it is bad input too (exit 2), before touching the database
    let rules = rules_file(&dir, "complete.yaml", RULES);
    let out = mask(&rules, &db.url, &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(rows(&pool).await, before);
}

async fn verify_only_on_unmasked_data_fails_with_exit_1(db: TestDb, engine: Engine) {
    let Given {
        pool,
        dir: _dir,
        rules,
    } = given(&db, engine, RULES).await;
    let before = rows(&pool).await;

    // WHEN only the verification gate runs on data that was never masked
    let out = mask(&rules, &db.url, &["--verify-only"], Some(SALT));

    // THEN it fails (exit 1) naming checks, not values, and changes nothing
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verification FAILED"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(MARKER), "{}", text(&out));
    assert_eq!(rows(&pool).await, before);
}

#[tokio::test]
async fn mask_exits_0_when_masked_and_verified() {
    masks_verifies_and_exits_0(pg_database().await, Engine::Postgres).await;
    masks_verifies_and_exits_0(mariadb_database().await, Engine::MariaDb).await;
}

#[tokio::test]
async fn mask_refuses_with_exit_2() {
    refuses_with_exit_2_and_changes_nothing(pg_database().await, Engine::Postgres).await;
    refuses_with_exit_2_and_changes_nothing(mariadb_database().await, Engine::MariaDb).await;
}

#[tokio::test]
async fn verify_only_fails_with_exit_1_on_unmasked_data() {
    verify_only_on_unmasked_data_fails_with_exit_1(pg_database().await, Engine::Postgres).await;
    verify_only_on_unmasked_data_fails_with_exit_1(mariadb_database().await, Engine::MariaDb).await;
}
