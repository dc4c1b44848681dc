//! Default-deny against real databases: rules that disagree with the live schema stop the run
//! before anything changes, listing every disagreement.

use offpeak_tests::masking_support;

use masking_support::{Pool, key, rules, rules_text};
use offpeak_masking::{self as masking, Budget, Db, MaskError};
use offpeak_tests::{Engine, TestDb, mariadb_database, pg_database};

async fn refused(url: &str, rules_yaml: &str) -> Vec<String> {
    let mut db = Db::connect(url).await.expect("connect");
    let result = masking::mask(&mut db, &rules(rules_yaml), &key(), Budget::default()).await;
    db.close().await;
    match result {
        Err(MaskError::Refused(findings)) => findings.iter().map(ToString::to_string).collect(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn an_unclassified_column_is_refused_and_nothing_changes(db: TestDb, engine: Engine) {
    // GIVEN the realistic schema, and a column added since the rules were written
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(200).await;
    pool.exec("ALTER TABLE users ADD COLUMN passport_no VARCHAR(20)")
        .await;
    pool.exec("UPDATE users SET passport_no = CONCAT('TR', id)")
        .await;
    let before = pool.everything().await;

    // WHEN masking runs with the old rules
    let findings = refused(&db.url, &rules_text(100, 1_000_000)).await;

    // THEN it is refused, naming the column, and the database is exactly as it was
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].starts_with("masking.yaml:4:3: `users.passport_no` is not classified"),
        "{findings:?}"
    );
    assert_eq!(
        pool.everything().await,
        before,
        "no row changed and no bookkeeping was created"
    );
}

#[tokio::test]
async fn postgres_unclassified_column_is_refused() {
    an_unclassified_column_is_refused_and_nothing_changes(pg_database().await, Engine::Postgres)
        .await;
}

#[tokio::test]
async fn mariadb_unclassified_column_is_refused() {
    an_unclassified_column_is_refused_and_nothing_changes(
        mariadb_database().await,
        Engine::MariaDb,
    )
    .await;
}

async fn a_typo_and_an_unknown_table_are_refused(db: TestDb, engine: Engine) {
    // GIVEN the realistic schema, and rules with a misspelt column and a table that does not exist
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(50).await;
    let before = pool.everything().await;
    let typo = rules_text(100, 1_000_000).replace("full_name: name", "ful_name: name")
        + "  invoices: { keep: [id] }\n";

    // WHEN masking runs
    let findings = refused(&db.url, &typo).await;

    // THEN every disagreement is listed with its position, and nothing changed
    assert!(
        findings
            .iter()
            .any(|f| f.contains("`users.ful_name`: no such column")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.contains("`users.full_name` is not classified")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.contains("table `invoices`: no such table")),
        "{findings:?}"
    );
    assert_eq!(pool.everything().await, before);
}

#[tokio::test]
async fn postgres_typo_in_rules_is_refused() {
    a_typo_and_an_unknown_table_are_refused(pg_database().await, Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_typo_in_rules_is_refused() {
    a_typo_and_an_unknown_table_are_refused(mariadb_database().await, Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_unique_index_rules_out_colliding_strategies() {
    // GIVEN users.email is unique (also under lower())
    let db = pg_database().await;
    let pool = Pool::connect(&db, Engine::Postgres).await;
    pool.create_schema(20).await;

    // WHEN e-mail is to be masked with a strategy that can collide
    let findings = refused(
        &db.url,
        &rules_text(100, 1_000_000).replace(
            "email: email\n      full_name",
            "email: phone\n      full_name",
        ),
    )
    .await;

    // THEN both unique indexes are named
    assert!(
        findings
            .iter()
            .any(|f| f.contains("unique index `users_email_key`")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.contains("unique index `users_email_lower`")),
        "{findings:?}"
    );
}

async fn database_errors_never_carry_values(db: TestDb, engine: Engine) {
    // GIVEN a raw SQL strategy that claims uniqueness but maps every e-mail to the same value
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(20).await;
    let constant = "email: { strategy: sql, sql: \"'dup@example.invalid'\", unique: true }";
    let text = rules_text(100, 1_000_000).replace(
        "email: email\n      full_name",
        &format!("{constant}\n      full_name"),
    );

    // WHEN masking runs into the duplicate-key error
    let mut conn = Db::connect(&db.url).await.unwrap();
    let err = masking::mask(&mut conn, &rules(&text), &key(), Budget::default())
        .await
        .unwrap_err();

    // THEN the error names the table and the code, never the duplicated value or an original
    let message = err.to_string();
    assert!(message.contains("masking table users"), "{message}");
    assert!(
        message.contains("23000") || message.contains("23505"),
        "{message}"
    );
    assert!(
        !message.contains("dup@") && !message.contains("Example"),
        "{message}"
    );
}

#[tokio::test]
async fn postgres_database_errors_never_carry_values() {
    database_errors_never_carry_values(pg_database().await, Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_database_errors_never_carry_values() {
    database_errors_never_carry_values(mariadb_database().await, Engine::MariaDb).await;
}
