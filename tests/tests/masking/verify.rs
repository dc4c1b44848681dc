//! The verification gate on its own (`offpeak mask --verify-only`): it passes on a masked
//! database and fails, naming the check, when an original comes back or was never masked.

use offpeak_tests::masking_support;

use masking_support::{Pool, key, mask_all, rules, rules_text};
use offpeak_masking::{self as masking, Db, Verification};
use offpeak_tests::{Engine, TestDb, mariadb_database, pg_database};

async fn verify(url: &str) -> Verification {
    let mut db = Db::connect(url).await.unwrap();
    let v = masking::verify(&mut db, &rules(&rules_text(100, 1_000_000)), &key())
        .await
        .expect("verification runs");
    db.close().await;
    v
}

fn failed(v: &Verification) -> Vec<(String, String)> {
    v.failures()
        .map(|c| (c.check.to_owned(), c.subject.clone()))
        .collect()
}

async fn verification_catches_originals(db: TestDb, engine: Engine) {
    // GIVEN an unmasked database
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(300).await;

    // WHEN it is verified, THEN it fails: nothing was masked
    let before = verify(&db.url).await;
    assert!(!before.passed);
    assert_eq!(
        failed(&before),
        vec![("progress".to_owned(), "database".to_owned())]
    );

    // GIVEN it is then masked, WHEN verified again, THEN it passes
    mask_all(&db.url, &rules(&rules_text(100, 1_000_000))).await;
    let after = verify(&db.url).await;
    assert!(after.passed, "{:?}", failed(&after));
    assert!(
        after
            .checks
            .iter()
            .any(|c| c.check == "sample" && c.subject == "users.profile.contact.email")
    );

    // GIVEN an original e-mail and a plain phone number come back
    pool.exec("UPDATE users SET email = 'User.000002@Mail.Example.com' WHERE id = 2")
        .await;
    pool.exec("UPDATE users SET phone = '12345' WHERE id = 3")
        .await;

    // WHEN verified, THEN the sample and pattern checks name exactly those columns
    let tampered = verify(&db.url).await;
    let mut failures = failed(&tampered);
    failures.sort();
    let mut expected = vec![
        ("pattern".to_owned(), "users.email".to_owned()),
        ("pattern".to_owned(), "users.phone".to_owned()),
        ("sample".to_owned(), "users.email".to_owned()),
    ];
    if pool.is_pg() {
        // The PostgreSQL schema's audit trigger copied the updated rows into the truncated table.
        expected.insert(2, ("rows".to_owned(), "audit_log".to_owned()));
    }
    assert_eq!(failures, expected);
    let details: Vec<&str> = tampered.checks.iter().map(|c| c.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .all(|d| !d.contains("Example") && !d.contains("12345")),
        "{details:?}"
    );
}

#[tokio::test]
async fn postgres_verification_catches_originals() {
    verification_catches_originals(pg_database().await, Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_verification_catches_originals() {
    verification_catches_originals(mariadb_database().await, Engine::MariaDb).await;
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    // GIVEN a masked database
    let db = pg_database().await;
    let pool = Pool::connect(&db, Engine::Postgres).await;
    pool.create_schema(100).await;
    mask_all(&db.url, &rules(&rules_text(100, 1_000_000))).await;
    let masked = pool.kept().await;
    let emails = pool.texts("SELECT email FROM users ORDER BY id").await;

    // WHEN masking runs again (a duplicated tick)
    let again = mask_all(&db.url, &rules(&rules_text(100, 1_000_000))).await;

    // THEN every table was already done, nothing was masked twice, and it still verifies
    assert!(
        again
            .tables
            .iter()
            .filter(|t| t.action != "keep")
            .all(|t| t.already_done),
        "{:?}",
        again.tables
    );
    assert_eq!(
        pool.texts("SELECT email FROM users ORDER BY id").await,
        emails
    );
    assert_eq!(pool.kept().await, masked);
    assert!(again.verification.unwrap().passed);
}

#[tokio::test]
async fn a_strategy_without_a_shape_is_checked_value_by_value() {
    // GIVEN names masked by a raw SQL expression, whose output has no shape to check
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    pool.create_schema(200).await;
    let text = rules_text(100, 1_000_000).replace(
        "full_name: name",
        "full_name: { strategy: sql, sql: \"UPPER({column})\" }",
    );
    let mut conn = Db::connect(&db.url).await.unwrap();
    let report = masking::mask(&mut conn, &rules(&text), &key(), masking::Budget::default())
        .await
        .unwrap();
    assert!(report.verification.unwrap().passed);

    // WHEN one original name comes back
    pool.exec("UPDATE users SET full_name = 'Zoë Ñúñez-王 000007' WHERE id = 8")
        .await;

    // THEN the sample check, digesting every value, finds it
    let v = masking::verify(&mut conn, &rules(&text), &key())
        .await
        .unwrap();
    conn.close().await;
    assert_eq!(
        failed(&v),
        vec![("sample".to_owned(), "users.full_name".to_owned())]
    );
}

/// The `pattern` check of `users.<column>` in `v`: how many values it counted as misshapen.
fn misfits(v: &Verification, column: &str) -> String {
    let subject = format!("users.{column}");
    v.checks
        .iter()
        .find(|c| c.check == "pattern" && c.subject == subject)
        .map(|c| c.detail.clone())
        .unwrap_or_else(|| panic!("no pattern check of {subject}"))
}

#[tokio::test]
async fn a_value_off_the_masked_shape_by_one_character_fails_the_pattern_check() {
    // GIVEN a masked PostgreSQL database
    let db = pg_database().await;
    let pool = Pool::connect(&db, Engine::Postgres).await;
    pool.create_schema(100).await;
    mask_all(&db.url, &rules(&rules_text(100, 1_000_000))).await;

    // WHEN values are changed to miss the shape in one place each: case, a character outside
    // the class (ASCII or multi-byte, same length), the separator, a dot, a prefix (rows whose
    // value is not NULL in the test schema)
    let near_misses = [
        ("email", 11, "'A' || substr(email, 2)"),
        ("email", 12, "left(email, 64) || '@Example.invalid'"),
        ("email", 13, "left(email, 63) || 'g@example.invalid'"),
        ("email", 14, "left(email, 63) || 'é@example.invalid'"),
        ("email", 16, "left(email, 63) || ' @example.invalid'"),
        ("email", 17, "left(email, 64) || '@example_invalid'"),
        ("full_name", 11, "'person ' || substr(full_name, 8)"),
        ("full_name", 12, "'Person a' || substr(full_name, 9)"),
        ("full_name", 13, "'Person  ' || substr(full_name, 10)"),
        ("phone", 11, "'+998 ' || substr(phone, 6)"),
        ("phone", 12, "'+999-' || substr(phone, 6)"),
        ("phone", 13, "left(phone, 13) || 'x'"),
        ("phone", 14, "'+999 ' || substr(phone, 6, 8) || '٣'"),
    ];
    for (column, id, value) in near_misses {
        pool.exec(&format!(
            "UPDATE users SET {column} = {value} WHERE id = {id} AND {column} IS NOT NULL"
        ))
        .await;
    }
    pool.exec(
        "UPDATE users SET profile = jsonb_set(profile, '{contact,email}', \
         to_jsonb(upper(profile #>> '{contact,email}'))) WHERE id = 20",
    )
    .await;
    let v = verify(&db.url).await;

    // THEN each column's pattern check counts exactly the values changed in it
    assert_eq!(
        misfits(&v, "email"),
        "6 values do not have the masked shape"
    );
    assert_eq!(
        misfits(&v, "full_name"),
        "3 values do not have the masked shape"
    );
    assert_eq!(
        misfits(&v, "phone"),
        "4 values do not have the masked shape"
    );
    assert_eq!(
        misfits(&v, "profile.contact.email"),
        "1 values do not have the masked shape"
    );
}
