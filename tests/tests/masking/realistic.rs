//! The masking engine on a realistic schema, against real PostgreSQL and MariaDB: nothing
//! personal survives anywhere, and everything else (kept columns, NULLs, uniqueness, foreign
//! keys, joins on masked values) does.

use offpeak_tests::masking_support;

use masking_support::{Pool, mask_all, rules, rules_text, survivors};
use offpeak_tests::{Engine, TestDb, mariadb_database, pg_database};

const USERS: u32 = 3000;

/// Facts that masking must not change.
#[derive(Debug, PartialEq)]
struct Shape {
    users: i64,
    orders: i64,
    null_names: i64,
    null_phones: i64,
    json_null_phones: i64,
    missing_phones: i64,
    join_on_name: i64,
}

async fn shape(pool: &Pool) -> Shape {
    let json_phone = |what: &str| format!("SELECT COUNT(*) FROM users WHERE {what}");
    let (null_json, missing) = if pool.is_pg() {
        (
            "jsonb_typeof(profile #> '{contact,phone}') = 'null'",
            "profile IS NOT NULL AND profile #> '{contact,phone}' IS NULL",
        )
    } else {
        (
            "JSON_TYPE(JSON_EXTRACT(profile, '$.contact.phone')) = 'NULL'",
            "profile IS NOT NULL AND JSON_EXTRACT(profile, '$.contact.phone') IS NULL",
        )
    };
    Shape {
        users: pool.count("SELECT COUNT(*) FROM users").await,
        orders: pool.count("SELECT COUNT(*) FROM orders").await,
        null_names: pool.count("SELECT COUNT(*) FROM users WHERE full_name IS NULL").await,
        null_phones: pool.count("SELECT COUNT(*) FROM users WHERE phone IS NULL").await,
        json_null_phones: pool.count(&json_phone(null_json)).await,
        missing_phones: pool.count(&json_phone(missing)).await,
        join_on_name: pool
            .count("SELECT COUNT(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE o.shipping_name = u.full_name")
            .await,
    }
}

async fn realistic_schema_is_masked_completely(db: TestDb, engine: Engine) {
    // GIVEN the realistic schema, full of personal data
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(USERS).await;
    let before = shape(&pool).await;
    let kept_before = pool.kept().await;
    assert!(
        survivors(&pool.everything().await).len() > 5_000,
        "the markers are there to be found"
    );

    // WHEN it is masked by the rules (table rewrite on PostgreSQL, chunks on MariaDB)
    let report = mask_all(&db.url, &rules(&rules_text(700, 1_000_000))).await;

    // THEN the verification gate passed and no original value survives anywhere
    let verification = report
        .verification
        .as_ref()
        .expect("a complete run verifies");
    assert!(
        verification.passed,
        "{:#?}",
        verification.failures().collect::<Vec<_>>()
    );
    assert!(report.complete);
    let left = survivors(&pool.everything().await)
        .into_iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>();
    assert!(left.is_empty(), "original values survived: {left:?}");
    if pool.is_pg() {
        for table in ["users", "orders"] {
            assert_eq!(
                pool.pages_with_markers(table).await,
                0,
                "no page of {table} holds an original"
            );
        }
    }
    // AND kept columns and kept JSON keys are byte-identical, NULLs and row counts unchanged
    assert_eq!(pool.kept().await, kept_before);
    assert_eq!(
        shape(&pool).await,
        before,
        "NULLs, JSON nulls, missing keys and the join on the masked name"
    );
    // AND uniqueness and the foreign key hold
    let distinct = pool.count("SELECT COUNT(DISTINCT email) FROM users").await;
    assert_eq!(distinct, i64::from(USERS));
    let orphans = pool
        .count("SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)")
        .await;
    assert_eq!(orphans, 0);
    // AND the masked values have their documented shapes
    let born = if pool.is_pg() {
        "birth_date::text"
    } else {
        "CAST(birth_date AS CHAR)"
    };
    let sample = pool
        .texts(&format!(
            "SELECT email, full_name, phone, {born} FROM users WHERE id = 1"
        ))
        .await;
    let [email, name, phone, born] = &sample[0][..] else {
        panic!("one row of four")
    };
    assert!(
        email.as_deref().unwrap().ends_with("@example.invalid"),
        "{email:?}"
    );
    assert!(name.as_deref().unwrap().starts_with("Person "), "{name:?}");
    assert!(phone.as_deref().unwrap().starts_with("+999 "), "{phone:?}");
    assert!(born.as_deref().unwrap().ends_with("-01"), "{born:?}");
}

#[tokio::test]
async fn postgres_realistic_schema_is_masked_completely() {
    realistic_schema_is_masked_completely(pg_database().await, Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_realistic_schema_is_masked_completely() {
    realistic_schema_is_masked_completely(mariadb_database().await, Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_chunked_masking_disables_triggers_and_leaves_no_old_row_versions() {
    // GIVEN the realistic schema, whose users trigger copies old e-mails into audit_log
    let db = pg_database().await;
    let pool = Pool::connect(&db, Engine::Postgres).await;
    pool.create_schema(1200).await;
    assert!(
        pool.pages_with_markers("users").await > 0,
        "the page check sees originals"
    );

    // WHEN it is masked in chunks (no table is small enough to be rewritten)
    let report = mask_all(&db.url, &rules(&rules_text(250, 1))).await;

    // THEN the chunks ran, the trigger did not copy originals, and no page holds an old row version
    let users = report.tables.iter().find(|t| t.table == "users").unwrap();
    assert_eq!(users.method.as_deref(), Some("chunked"));
    assert_eq!(users.chunks, 5, "1200 rows in chunks of 250");
    assert!(report.verification.unwrap().passed);
    assert_eq!(pool.count("SELECT COUNT(*) FROM audit_log").await, 0);
    assert!(survivors(&pool.everything().await).is_empty());
    for table in ["users", "orders"] {
        assert_eq!(
            pool.pages_with_markers(table).await,
            0,
            "old row versions of {table} are gone from disk"
        );
    }
    let enabled = pool
        .count("SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'users_audit' AND tgenabled = 'O'")
        .await;
    assert_eq!(enabled, 1, "the trigger is enabled again");
}
