//! The PostgreSQL `swap` method against a real server: the masked copy replaces the table with
//! every object it had, masks exactly as the in-place rewrite does, resumes without copying a
//! range twice, and steps aside (for the rewrite) whenever it cannot reproduce the table.

use offpeak_tests::masking_support;

use std::process::Command;

use masking_support::{Pool, key, rules};
use offpeak_masking::{self as masking, Budget, Db, Endpoint, MaskReport, Rules};
use offpeak_tests::{Engine, TestDb, pg_database};

const CUSTOMERS: u32 = 3000;

/// The role the table is granted to (roles are per server: created once, never dropped).
const READER: &str = "offpeak_swap_reader";

fn rules_with(extra: &str) -> Rules {
    rules(&format!(
        "{extra}
tables:
  regions: {{ keep: [id, name] }}
  customers:
    keep: [id, seq_no, region_id, status, updated_at]
    mask:
      email: email
      full_name: name
      phone: phone
  orders:
    keep: [id, customer_id]
    mask:
      note: null
  audit: {{ keep: [id, customer_id, seen] }}
"
    ))
}

fn schema() -> Vec<String> {
    vec![
        format!(
            "DO $$ BEGIN CREATE ROLE {READER}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
        "CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL)".into(),
        "INSERT INTO regions SELECT g, 'region ' || g FROM generate_series(1, 5) g".into(),
        "CREATE TABLE customers (
            id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 1) PRIMARY KEY,
            seq_no serial,
            email text NOT NULL,
            full_name text,
            phone text,
            region_id int REFERENCES regions (id),
            status text NOT NULL DEFAULT 'active' CONSTRAINT customers_status_check CHECK (status IN ('active', 'closed')),
            updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
         ) WITH (fillfactor = 80)"
            .into(),
        "CREATE UNIQUE INDEX customers_email_key ON customers (email)".into(),
        "CREATE INDEX customers_active_name ON customers (lower(full_name)) WHERE status = 'active'"
            .into(),
        "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id), note text)"
            .into(),
        "CREATE TABLE audit (id bigserial PRIMARY KEY, customer_id bigint, seen text)".into(),
        "CREATE FUNCTION audit_customer() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN INSERT INTO audit (customer_id, seen) VALUES (NEW.id, NEW.email); RETURN NEW; END $$"
            .into(),
        "CREATE TRIGGER customers_audit AFTER UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION audit_customer()"
            .into(),
        format!("GRANT SELECT ON customers TO {READER}"),
        format!("GRANT INSERT ON customers TO {READER} WITH GRANT OPTION"),
        "COMMENT ON TABLE customers IS 'people who buy'".into(),
        "COMMENT ON COLUMN customers.email IS 'where receipts go'".into(),
        "COMMENT ON INDEX customers_email_key IS 'one account per address'".into(),
        format!(
            "INSERT INTO customers (email, full_name, phone, region_id, status) \
             SELECT 'buyer' || g || '@shop.example', 'Zoë Buyer ' || g, \
                    CASE WHEN g % 4 = 0 THEN NULL ELSE '+81-90-' || g END, 1 + g % 5, \
                    CASE WHEN g % 7 = 0 THEN 'closed' ELSE 'active' END \
             FROM generate_series(1, {CUSTOMERS}) g"
        ),
        "INSERT INTO orders (customer_id, note) SELECT 100 + (g % 3000), 'leave with ' || g \
         FROM generate_series(1, 6000) g"
            .into(),
        "ANALYZE".into(),
    ]
}

async fn fresh(db: &TestDb) -> Pool {
    let pool = Pool::connect(db, Engine::Postgres).await;
    for sql in schema() {
        pool.exec(&sql).await;
    }
    pool
}

async fn mask(url: &str, rules: &Rules, budget: Budget) -> MaskReport {
    let mut db = Db::connect(url).await.expect("connect");
    let report = masking::mask_parallel(&mut db, Some(Endpoint::new(url)), rules, &key(), budget)
        .await
        .expect("masking runs");
    db.close().await;
    report
}

fn method(report: &MaskReport, table: &str) -> String {
    let t = report
        .tables
        .iter()
        .find(|t| t.table == table)
        .expect("table reported");
    t.method.clone().unwrap_or_default()
}

/// The schema as `pg_dump` prints it (offpeak's bookkeeping left out): every object, owner,
/// grant and comment, written by a tool that knows nothing of offpeak. One line per entry, less
/// the random `\restrict` key of recent pg_dump releases.
fn schema_dump(url: &str) -> Vec<String> {
    let out = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--exclude-schema=offpeak_masking",
            "--dbname",
            url,
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(str::to_owned)
        .collect()
}

/// Equal dumps, or the lines only one of them has.
fn assert_same_schema(after: &[String], before: &[String]) {
    let only_after: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    let only_before: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    assert!(
        only_after.is_empty() && only_before.is_empty(),
        "schema changed: now {only_after:?}, was {only_before:?}"
    );
    assert_eq!(after, before);
}

async fn masked_checksum(pool: &Pool) -> Vec<Option<String>> {
    let sql = "SELECT md5(string_agg(concat_ws('|', id, email, full_name, phone), ',' ORDER BY id)), \
               (SELECT md5(string_agg(concat_ws('|', id, note), ',' ORDER BY id)) FROM orders) FROM customers";
    pool.texts(sql).await.remove(0)
}

async fn kept_checksum(pool: &Pool) -> Vec<Option<String>> {
    let sql = "SELECT md5(string_agg(concat_ws('|', id, seq_no, region_id, status, updated_at), ',' ORDER BY id)), \
               (SELECT md5(string_agg(concat_ws('|', id, customer_id), ',' ORDER BY id)) FROM orders) FROM customers";
    pool.texts(sql).await.remove(0)
}

async fn originals_left(pool: &Pool) -> i64 {
    pool.count(
        "SELECT (SELECT count(*) FROM customers WHERE email LIKE '%@shop.example' \
                 OR full_name LIKE 'Zoë%' OR phone LIKE '+81%') + \
                (SELECT count(*) FROM orders WHERE note IS NOT NULL) + \
                (SELECT count(*) FROM pg_stats WHERE tablename = 'customers' \
                 AND most_common_vals::text || COALESCE(histogram_bounds::text, '') LIKE '%shop.example%')",
    )
    .await
}

async fn leftovers(pool: &Pool) -> i64 {
    pool.count(
        "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'offpeak_masking' AND tablename ~ '^swap_[0-9a-f]{24}$') \
              + (SELECT count(*) FROM offpeak_masking.swap) + (SELECT count(*) FROM offpeak_masking.swap_range)",
    )
    .await
}

#[tokio::test]
async fn a_swap_rebuilds_every_object_and_masks_like_the_rewrite() {
    // GIVEN two identical databases with a table that has an identity column, a serial column,
    // defaults, a CHECK, unique and partial expression indexes, foreign keys both ways, a
    // trigger, grants, comments and a fillfactor
    let (a, b) = (pg_database().await, pg_database().await);
    let (swapped, rewritten) = (fresh(&a).await, fresh(&b).await);
    let schema_before = schema_dump(&a.url);
    let kept_before = kept_checksum(&swapped).await;

    // WHEN one is masked by the swap (on 4 sessions) and the other by the in-place rewrite
    let report = mask(&a.url, &rules_with(""), Budget::default()).await;
    let reference = mask(&b.url, &rules_with("swap_workers: 0"), Budget::default()).await;

    // THEN each used its method and passed the verification gate
    assert_eq!(method(&report, "customers"), "swap");
    assert_eq!(method(&report, "orders"), "swap");
    assert_eq!(method(&reference, "customers"), "rewrite");
    assert!(report.verification.expect("verified").passed);
    assert!(reference.verification.expect("verified").passed);
    // AND the schema is exactly as it was, down to grants and comments
    assert_same_schema(&schema_dump(&a.url), &schema_before);
    // AND the masked data is the rewrite's, the kept data untouched, no original left
    assert_eq!(
        masked_checksum(&swapped).await,
        masked_checksum(&rewritten).await
    );
    assert_eq!(kept_checksum(&swapped).await, kept_before);
    assert_eq!(originals_left(&swapped).await, 0);
    assert_eq!(leftovers(&swapped).await, 0);
    // AND the trigger did not fire, foreign keys hold and sequences continue where they were
    assert_eq!(swapped.count("SELECT count(*) FROM audit").await, 0);
    assert_eq!(
        swapped
            .count("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated")
            .await,
        0
    );
    swapped
        .exec("ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey")
        .await;
    let next = "INSERT INTO customers (email, status) VALUES ('new@example.invalid', 'active') \
                RETURNING id::text, seq_no::text";
    let row = swapped.texts(next).await.remove(0);
    assert_eq!(
        row,
        [
            Some((100 + CUSTOMERS).to_string()),
            Some((CUSTOMERS + 1).to_string())
        ]
    );
    assert_eq!(
        swapped.count("SELECT nextval('orders_id_seq')").await,
        6001,
        "the orders' serial continues too"
    );
    swapped
        .exec("UPDATE customers SET status = 'closed' WHERE email = 'new@example.invalid'")
        .await;
    assert_eq!(
        swapped.count("SELECT count(*) FROM audit").await,
        1,
        "the trigger is back"
    );
}

#[tokio::test]
async fn tables_with_dependents_are_not_swapped_and_still_masked() {
    // GIVEN a view on customers and a function taking an orders row
    let db = pg_database().await;
    let pool = fresh(&db).await;
    pool.exec("CREATE VIEW customer_regions AS SELECT id, region_id FROM customers")
        .await;
    pool.exec(
        "CREATE FUNCTION order_label(o orders) RETURNS text LANGUAGE sql AS 'SELECT o.id::text'",
    )
    .await;

    // WHEN the database is masked
    let report = mask(&db.url, &rules_with(""), Budget::default()).await;

    // THEN neither table was swapped, both are masked, and the view and function still work
    assert_eq!(method(&report, "customers"), "rewrite");
    assert_eq!(method(&report, "orders"), "rewrite");
    assert!(report.verification.expect("verified").passed);
    assert_eq!(originals_left(&pool).await, 0);
    assert_eq!(
        pool.count("SELECT count(*) FROM customer_regions").await,
        i64::from(CUSTOMERS)
    );
    assert_eq!(
        pool.count("SELECT count(*) FROM orders o WHERE order_label(o) = o.id::text")
            .await,
        6000
    );
}

#[tokio::test]
async fn an_interrupted_fill_resumes_without_copying_a_range_twice() {
    // GIVEN two identical databases, one masked by a swap in one go
    let (a, b) = (pg_database().await, pg_database().await);
    let (whole, parts) = (fresh(&a).await, fresh(&b).await);
    let schema_before = schema_dump(&b.url);
    mask(&a.url, &rules_with(""), Budget::default()).await;

    // WHEN the other is masked in runs of three ranges each
    let budget = Budget {
        max_chunks: Some(3),
        deadline: None,
    };
    let mut runs = 0;
    let report = loop {
        runs += 1;
        let report = mask(&b.url, &rules_with(""), budget).await;
        if report.complete {
            break report;
        }
        // THEN after each run, the copy holds exactly the rows of the ranges recorded as copied
        assert_eq!(
            copied_rows(&parts).await,
            expected_rows(&parts).await,
            "run {runs}"
        );
        assert!(runs < 60, "runs make progress");
    };

    // THEN it took several runs, and the result is the uninterrupted one
    assert!(runs >= 4, "{runs} runs");
    assert_eq!(method(&report, "customers"), "swap");
    assert!(report.verification.expect("verified").passed);
    assert_eq!(masked_checksum(&parts).await, masked_checksum(&whole).await);
    assert_eq!(kept_checksum(&parts).await, kept_checksum(&whole).await);
    assert_same_schema(&schema_dump(&b.url), &schema_before);
}

/// Rows in the copy being filled (0 when none is).
async fn copied_rows(pool: &Pool) -> i64 {
    let copies = pool
        .texts("SELECT 'offpeak_masking.' || quote_ident(tmp_name) FROM offpeak_masking.swap")
        .await;
    let mut n = 0;
    for c in copies {
        n += pool
            .count(&format!("SELECT count(*) FROM {}", c[0].clone().unwrap()))
            .await;
    }
    n
}

/// Rows of the source tables in the block ranges recorded as copied.
async fn expected_rows(pool: &Pool) -> i64 {
    pool.count(
        "SELECT COALESCE(sum((SELECT count(*) FROM customers c WHERE s.table_name = 'customers' \
             AND c.ctid >= format('(%s,0)', r.first_block)::tid \
             AND (r.first_block + s.step >= s.blocks OR c.ctid < format('(%s,0)', r.first_block + s.step)::tid)) \
           + (SELECT count(*) FROM orders o WHERE s.table_name = 'orders' \
             AND o.ctid >= format('(%s,0)', r.first_block)::tid \
             AND (r.first_block + s.step >= s.blocks OR o.ctid < format('(%s,0)', r.first_block + s.step)::tid))), 0)::bigint \
         FROM offpeak_masking.swap s JOIN offpeak_masking.swap_range r USING (table_name)",
    )
    .await
}

#[tokio::test]
async fn a_killed_run_resumes_to_the_same_result() {
    // GIVEN two identical databases, one masked in one go
    let (a, b) = (pg_database().await, pg_database().await);
    let (whole, parts) = (fresh(&a).await, fresh(&b).await);
    mask(&a.url, &rules_with(""), Budget::default()).await;

    // WHEN a run on the other is killed (its sessions dropped) once a range is committed
    let url = b.url.clone();
    let run = tokio::spawn(async move {
        let mut db = Db::connect(&url).await.unwrap();
        masking::mask_parallel(
            &mut db,
            Some(Endpoint::new(&url)),
            &rules_with(""),
            &key(),
            Budget::default(),
        )
        .await
    });
    let started = "SELECT count(*) FROM pg_tables WHERE schemaname = 'offpeak_masking' AND tablename = 'swap_range'";
    let mut waited = 0;
    while !run.is_finished() && waited < 20_000 {
        if parts.count(started).await > 0
            && parts
                .count("SELECT count(*) FROM offpeak_masking.swap_range")
                .await
                > 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        waited += 1;
    }
    run.abort();
    let killed_early = run.await.is_err();
    let copied_before_resume = parts
        .count("SELECT count(*) FROM offpeak_masking.swap_range")
        .await;
    // AND runs resume once the server has noticed the dead sessions and released their lock
    let mut report = None;
    for _ in 0..100 {
        let mut db = Db::connect(&b.url).await.unwrap();
        let r = masking::mask_parallel(
            &mut db,
            Some(Endpoint::new(&b.url)),
            &rules_with(""),
            &key(),
            Budget::default(),
        )
        .await;
        db.close().await;
        match r {
            Ok(r) => {
                report = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }

    // THEN the first run was cut short mid-fill, and the result is the uninterrupted one
    assert!(
        killed_early,
        "the first run was interrupted before it finished"
    );
    assert!(
        copied_before_resume > 0,
        "some ranges were copied before the kill"
    );
    let report = report.expect("a resumed run");
    assert_eq!(method(&report, "customers"), "swap");
    assert!(report.verification.expect("verified").passed);
    assert_eq!(masked_checksum(&parts).await, masked_checksum(&whole).await);
    assert_eq!(kept_checksum(&parts).await, kept_checksum(&whole).await);
}

#[tokio::test]
async fn a_signature_difference_rolls_the_swap_back_and_falls_back() {
    // GIVEN a column option the swap does not reproduce (and eligibility does not rule out)
    let db = pg_database().await;
    let pool = fresh(&db).await;
    pool.exec("ALTER TABLE customers ALTER COLUMN full_name SET (n_distinct = 100)")
        .await;
    let schema_before = schema_dump(&db.url);
    let kept_before = kept_checksum(&pool).await;

    // WHEN the database is masked
    let report = mask(&db.url, &rules_with(""), Budget::default()).await;

    // THEN the swap of customers was rolled back and the rewrite masked it instead
    assert_eq!(method(&report, "customers"), "rewrite");
    assert_eq!(method(&report, "orders"), "swap");
    assert!(report.verification.expect("verified").passed);
    assert_same_schema(&schema_dump(&db.url), &schema_before);
    assert_eq!(kept_checksum(&pool).await, kept_before);
    assert_eq!(originals_left(&pool).await, 0);
    assert_eq!(leftovers(&pool).await, 0);
    let progress = pool
        .texts("SELECT method FROM offpeak_masking.progress WHERE table_name = 'customers'")
        .await;
    assert_eq!(progress, [[Some("rewrite".to_owned())]]);
}
