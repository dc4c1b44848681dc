//! The masking engine's promise, attacked the way the world would: statistics that outlive
//! their rows, dropped columns, old row versions kept alive by another session's snapshot, and
//! values a mask rightly leaves alone. Against real PostgreSQL 15 and MariaDB 10.11.
//!
//! Every case masks and verifies with the engine, then looks from outside it: a full dump by the
//! server's own dump tool (materialized views' rows included), every statistics row read as a
//! superuser (`pg_statistic`, extended statistics; MariaDB `mysql.column_stats`) and, where the
//! class is physical, the bytes of the relation's pages and files. It also checks that kept data
//! did not change. Refusals check that nothing changed at all.
//!
//! Original personal values carry the marker `ORIGQ`, which no masked value can contain (masked
//! values are lowercase hex, `Person ` and uppercase hex digits, `+999 ` and digits, or stars).
//!
//! PostgreSQL cases run as a role that owns the database but is no superuser, as the RDS master
//! user is. Physical cases run on this process's own server (they checkpoint it) while another
//! session holds a `REPEATABLE READ` snapshot on the same database.

use offpeak_tests::masking_support;

use masking_support::evidence::{self, lines_with};
use masking_support::{Pool, key, rules};
use offpeak_masking::{self as masking, Budget, Db, MaskError, MaskReport, Verification};
use offpeak_tests::{DbServer, Engine, TestDb, mariadb_database, pg_server, throwaway_pg};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const MARK: &str = "ORIGQ";

/// The owner of each PostgreSQL test database: no superuser (roles are per server: created
/// once, never dropped).
const OWNER: &str = "offpeak_adversarial_owner";

/// A PostgreSQL test database owned by [`OWNER`].
struct Owned {
    db: TestDb,
    /// Connects as the owner: the engine runs through it.
    url: String,
    owner: Pool,
    /// A superuser session on the same database, for looking (`pg_statistic`, pages).
    admin: Pool,
}

async fn owned(server: &DbServer) -> Owned {
    let db = server.database().await;
    let admin = Pool::connect(&db, Engine::Postgres).await;
    admin
        .exec(&format!(
            "DO $$ BEGIN CREATE ROLE {OWNER} LOGIN NOSUPERUSER; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ))
        .await;
    admin
        .exec(&format!("ALTER DATABASE \"{}\" OWNER TO {OWNER}", db.name))
        .await;
    let url = with_user(&db.url, OWNER);
    let owner = Pool::Pg(PgPool::connect(&url).await.expect("connect as the owner"));
    Owned {
        db,
        url,
        owner,
        admin,
    }
}

/// `url` with its user (and password) replaced by `user`: the test servers trust local users.
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
    format!("{scheme}://{user}@{rest}")
}

impl Owned {
    async fn create(&self, statements: &[&str]) {
        for sql in statements {
            self.owner.exec(sql).await;
        }
    }

    /// Every place the promise covers that holds a marker: the dump (and materialized views'
    /// rows) and every statistics row.
    async fn leaks(&self) -> Vec<String> {
        let mut out: Vec<String> =
            lines_with(&evidence::pg_dump(&self.db, &self.admin).await, &[MARK])
                .into_iter()
                .map(|l| format!("dump: {l}"))
                .collect();
        out.extend(
            lines_with(&evidence::pg_statistics(&self.admin).await, &[MARK])
                .into_iter()
                .map(|l| format!("statistics: {l}")),
        );
        out
    }

    /// Everything, for "nothing changed": the dump and every statistics row.
    async fn snapshot(&self) -> (Vec<String>, String) {
        let dump = evidence::pg_dump(&self.db, &self.admin).await;
        let dump = dump
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .map(str::to_owned)
            .collect();
        (dump, evidence::pg_statistics(&self.admin).await)
    }

    async fn checksum(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.owner.texts(sql).await
    }
}

async fn mask(url: &str, rules_yaml: &str) -> Result<MaskReport, MaskError> {
    let mut db = Db::connect(url).await.expect("connect");
    let result = masking::mask(&mut db, &rules(rules_yaml), &key(), Budget::default()).await;
    db.close().await;
    result
}

async fn verify(url: &str, rules_yaml: &str) -> Verification {
    let mut db = Db::connect(url).await.expect("connect");
    let v = masking::verify(&mut db, &rules(rules_yaml), &key())
        .await
        .expect("verification runs");
    db.close().await;
    v
}

fn failures(v: &Verification) -> Vec<String> {
    v.failures()
        .map(|c| format!("{} {}: {}", c.check, c.subject, c.detail))
        .collect()
}

/// Masks and verifies (the run's own gate and `--verify-only`): both must pass.
async fn mask_and_verify(url: &str, rules_yaml: &str) -> MaskReport {
    let report = mask(url, rules_yaml).await.expect("masking runs");
    let gate = report.verification.clone().expect("the run completed");
    assert!(gate.passed, "gate failed: {:?}", failures(&gate));
    let again = verify(url, rules_yaml).await;
    assert!(again.passed, "--verify-only failed: {:?}", failures(&again));
    report
}

async fn refused(url: &str, rules_yaml: &str) -> Vec<String> {
    match mask(url, rules_yaml).await {
        Err(MaskError::Refused(findings)) => findings.iter().map(ToString::to_string).collect(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A session on `url` holding a `REPEATABLE READ` snapshot (and no lock on any user table) until
/// it is released: what a developer's open transaction or a running `pg_dump` does.
struct Snapshot(PgConnection);

impl Snapshot {
    async fn hold(url: &str) -> Snapshot {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await
            .expect("begin");
        conn.execute("SELECT count(*) FROM pg_class")
            .await
            .expect("take the snapshot");
        Snapshot(conn)
    }

    async fn release(mut self) {
        self.0.execute("COMMIT").await.expect("commit");
        let _ = self.0.close().await;
    }
}

/// Incompressible-enough text of about `words` * 16 bytes, every word marked: stored out of line
/// (with `STORAGE EXTERNAL`, uncompressed) so TOAST chunks carry the marker in clear.
fn toasted(words: u32, tag: &str) -> String {
    format!(
        "(SELECT string_agg('{MARK}-{tag}-' || g || '-' || i, ' ') FROM generate_series(1, {words}) i)"
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Statistics that keep originals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_truncated_table_keeps_no_statistics() {
    // GIVEN a table to truncate whose column, expression-index and extended statistics were
    // computed from its rows (ANALYZE of an empty table leaves them as they are)
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE, plan text NOT NULL)",
        "INSERT INTO accounts SELECT g, 'ORIGQ.acc' || g || '@corp.test', \
         CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END FROM generate_series(1, 300) g",
        "CREATE TABLE login_events (id bigint PRIMARY KEY, email text NOT NULL, device text)",
        "CREATE INDEX login_events_email_lower ON login_events (lower(email))",
        "CREATE STATISTICS login_events_mcv (mcv) ON email, device FROM login_events",
        "INSERT INTO login_events SELECT g, 'ORIGQ.user' || (g % 20) || '@corp.test', \
         'ORIGQ-device-' || (g % 5) FROM generate_series(1, 2000) g",
        "ANALYZE accounts",
        "ANALYZE login_events",
    ])
    .await;
    assert!(evidence::pg_statistics_rows(&o.admin, &["login_events"]).await > 0);
    let kept = "SELECT id::text, plan FROM accounts ORDER BY id";
    let kept_before = o.checksum(kept).await;
    let rules_yaml = "tables:
  accounts:
    keep: [id, plan]
    mask: { email: email }
  login_events: truncate
";

    // WHEN it is masked (by the owner, who is no superuser) and verified
    mask_and_verify(&o.url, rules_yaml).await;

    // THEN no statistics row of the truncated table, its indexes or its statistics objects is
    // left, nothing anywhere holds an original, and kept data is as it was
    assert_eq!(
        evidence::pg_statistics_rows(&o.admin, &["login_events"]).await,
        0
    );
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
}

#[tokio::test]
async fn inheritance_parents_keep_no_statistics_of_masked_or_truncated_children() {
    // GIVEN a kept parent with rows of its own, a masked child and a truncated child, and a
    // second, empty parent whose only child is truncated; every table analysed, so the parents
    // hold inherited statistics computed from the children's originals
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE contacts (id int PRIMARY KEY, email text NOT NULL, kind text NOT NULL)",
        "CREATE TABLE customers (PRIMARY KEY (id)) INHERITS (contacts)",
        "CREATE TABLE prospects (PRIMARY KEY (id)) INHERITS (contacts)",
        "INSERT INTO contacts SELECT g, 'desk' || g || '@office.test', 'office' FROM generate_series(1, 20) g",
        "INSERT INTO customers SELECT 100 + g, 'ORIGQ.cust' || (g % 25) || '@corp.test', 'customer' \
         FROM generate_series(1, 500) g",
        "INSERT INTO prospects SELECT 1000 + g, 'ORIGQ.lead' || (g % 25) || '@corp.test', 'prospect' \
         FROM generate_series(1, 500) g",
        "CREATE TABLE archive (id int, email text)",
        "CREATE TABLE archive_2023 () INHERITS (archive)",
        "INSERT INTO archive_2023 SELECT g, 'ORIGQ.old' || (g % 10) || '@corp.test' FROM generate_series(1, 300) g",
        "ANALYZE contacts",
        "ANALYZE customers",
        "ANALYZE prospects",
        "ANALYZE archive",
        "ANALYZE archive_2023",
    ])
    .await;
    let inherited =
        "SELECT count(*) FROM pg_stats WHERE tablename IN ('contacts', 'archive') AND inherited";
    assert_eq!(o.admin.count(inherited).await, 5);
    let kept = "SELECT id::text, email, kind FROM ONLY contacts UNION ALL \
                SELECT id::text, '', kind FROM customers ORDER BY 1";
    let kept_before = o.checksum(kept).await;
    let rules_yaml = "tables:
  contacts: { keep: [id, email, kind] }
  customers:
    keep: [id, kind]
    mask: { email: email }
  prospects: truncate
  archive: { keep: [id, email] }
  archive_2023: truncate
";

    // WHEN it is masked and verified
    mask_and_verify(&o.url, rules_yaml).await;

    // THEN the parent's inherited statistics were recomputed from masked rows, the empty
    // parent's are gone, nothing holds an original, and kept data is as it was
    assert_eq!(
        o.admin
            .count("SELECT count(*) FROM pg_stats WHERE tablename = 'archive' AND inherited")
            .await,
        0
    );
    assert_eq!(
        o.admin
            .count("SELECT count(*) FROM pg_stats WHERE tablename = 'contacts' AND inherited")
            .await,
        3
    );
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
}

const MEMBERS: &[&str] = &[
    "CREATE TABLE members (id int PRIMARY KEY, email text NOT NULL, city text NOT NULL)",
    "INSERT INTO members SELECT g, 'ORIGQ.m' || (g % 40) || '@corp.test', \
     CASE WHEN g % 2 = 0 THEN 'Osaka' ELSE 'Kobe' END FROM generate_series(1, 600) g",
    "CREATE MATERIALIZED VIEW member_emails AS SELECT email, city FROM members",
    "CREATE VIEW member_locals AS SELECT split_part(email, '@', 1) AS local, city FROM members",
    "CREATE MATERIALIZED VIEW local_counts AS SELECT local, count(*) AS n FROM member_locals GROUP BY local",
    "CREATE MATERIALIZED VIEW city_counts AS SELECT city, count(*) AS n FROM members GROUP BY city",
    "CREATE MATERIALIZED VIEW frequent_locals AS SELECT local FROM local_counts WHERE n > 10",
    "ANALYZE members",
    "ANALYZE member_emails",
    "ANALYZE local_counts",
    "ANALYZE city_counts",
    "ANALYZE frequent_locals",
];

const MEMBERS_RULES: &str = "tables:
  members:
    keep: [id, city]
    mask: { email: email }
";

#[tokio::test]
async fn materialized_views_over_masked_data_are_refreshed_and_analysed() {
    // GIVEN materialized views over a masked column (directly, through a view, and through
    // another materialized view), analysed while they held originals, and one over kept data
    let o = owned(pg_server()).await;
    o.create(MEMBERS).await;
    let kept = "SELECT city, n::text FROM city_counts ORDER BY city";
    let kept_before = o.checksum(kept).await;

    // WHEN the database is masked and verified
    mask_and_verify(&o.url, MEMBERS_RULES).await;

    // THEN neither their rows nor their statistics hold an original, and the view over kept
    // data holds what it held
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
    assert_eq!(
        o.admin
            .count(
                "SELECT count(*) FROM pg_stats WHERE tablename IN ('member_emails', 'local_counts')"
            )
            .await,
        4,
        "the views' statistics were recomputed, not just dropped"
    );
}

#[tokio::test]
async fn verification_finds_an_original_a_materialized_view_holds() {
    // GIVEN a masked database, then a materialized view over the masked column that also holds
    // an original (as a view never refreshed since masking would)
    let o = owned(pg_server()).await;
    o.create(MEMBERS).await;
    mask_and_verify(&o.url, MEMBERS_RULES).await;
    o.owner
        .exec(
            "CREATE MATERIALIZED VIEW stale_copy AS SELECT email FROM members \
             UNION ALL SELECT 'ORIGQ.m7@corp.test'",
        )
        .await;
    o.owner.exec("ANALYZE stale_copy").await;

    // WHEN it is verified
    let v = verify(&o.url, MEMBERS_RULES).await;

    // THEN verification fails, naming the view, and its report holds no value
    assert!(!v.passed);
    let failed = failures(&v);
    assert!(
        !failed.is_empty() && failed.iter().all(|f| f.contains("stale_copy")),
        "{failed:?}"
    );
    assert!(failed.iter().all(|f| !f.contains(MARK)), "{failed:?}");
}

#[tokio::test]
async fn extended_and_expression_statistics_of_masked_columns_are_rebuilt() {
    // GIVEN masked columns in an extended statistics object, an expression statistics object
    // and an expression index, analysed, then given statistics target 0 so that ANALYZE skips
    // them (and cannot rebuild what they are part of); masked in place, chunk by chunk
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE patients (id int PRIMARY KEY, email text NOT NULL, diagnosis text NOT NULL, ward text NOT NULL)",
        "INSERT INTO patients SELECT g, 'ORIGQ.p' || (g % 30) || '@corp.test', 'ORIGQ-diag-' || (g % 12), \
         'ward-' || (g % 4) FROM generate_series(1, 900) g",
        "CREATE INDEX patients_email_lower ON patients (lower(email))",
        "CREATE STATISTICS patients_mcv (mcv) ON email, ward FROM patients",
        "CREATE STATISTICS patients_diagnosis ON (lower(diagnosis)) FROM patients",
        "ANALYZE patients",
        "ALTER TABLE patients ALTER COLUMN email SET STATISTICS 0",
        "ALTER INDEX patients_email_lower ALTER COLUMN 1 SET STATISTICS 0",
        "ALTER STATISTICS patients_diagnosis SET STATISTICS 0",
    ])
    .await;
    assert!(!lines_with(&evidence::pg_statistics(&o.admin).await, &[MARK]).is_empty());
    let kept = "SELECT id::text, ward FROM patients ORDER BY id";
    let kept_before = o.checksum(kept).await;
    let rules_yaml = "rewrite_max_rows: 1
chunk_rows: 200
tables:
  patients:
    keep: [id, ward]
    mask: { email: email, diagnosis: hash }
";

    // WHEN it is masked and verified
    let report = mask_and_verify(&o.url, rules_yaml).await;
    assert_eq!(report.tables[0].method.as_deref(), Some("chunked"));

    // THEN no statistics row holds an original, and kept data and settings are as they were
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
    let targets = "SELECT (SELECT attstattarget FROM pg_attribute WHERE attrelid = 'patients'::regclass AND attname = 'email') \
                   + (SELECT attstattarget FROM pg_attribute WHERE attrelid = 'patients_email_lower'::regclass) \
                   + (SELECT stxstattarget FROM pg_statistic_ext WHERE stxname = 'patients_diagnosis')::bigint";
    assert_eq!(o.admin.count(targets).await, 0, "statistics targets kept");
}

#[tokio::test]
async fn a_truncated_table_whose_statistics_a_view_pins_is_refused() {
    // GIVEN a table to truncate, analysed, whose column a view uses: the only way a
    // non-superuser owner can remove its statistics (ALTER COLUMN ... TYPE) is refused by the
    // server for a column a view uses
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE sessions (id int PRIMARY KEY, token text NOT NULL)",
        "INSERT INTO sessions SELECT g, 'ORIGQ-token-' || (g % 10) FROM generate_series(1, 200) g",
        "ANALYZE sessions",
        "CREATE VIEW session_tokens AS SELECT token FROM sessions",
    ])
    .await;
    let before = o.snapshot().await;

    // WHEN masking runs
    let findings = refused(&o.url, "tables:\n  sessions: truncate\n").await;

    // THEN it is refused before any change, naming the table and the column
    assert!(
        findings
            .iter()
            .any(|f| f.contains("sessions") && f.contains("token")),
        "{findings:?}"
    );
    assert!(findings.iter().all(|f| !f.contains(MARK)), "{findings:?}");
    assert_eq!(o.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn a_truncated_partitioned_table_with_partition_key_statistics_is_refused() {
    // GIVEN a partitioned table to truncate, analysed: the statistics of its partition key
    // column cannot be removed by ALTER COLUMN ... TYPE, which the server refuses on a key
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE events (id int NOT NULL, at date NOT NULL, who text) PARTITION BY RANGE (at)",
        "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        "INSERT INTO events SELECT g, date '2024-01-01' + g % 300, 'ORIGQ-who-' || (g % 9) FROM generate_series(1, 500) g",
        "ANALYZE events",
    ])
    .await;
    let before = o.snapshot().await;

    // WHEN masking runs
    let findings = refused(&o.url, "tables:\n  events: truncate\n").await;

    // THEN it is refused before any change, naming the table and the key column
    assert!(
        findings
            .iter()
            .any(|f| f.contains("events") && f.contains("at")),
        "{findings:?}"
    );
    assert_eq!(o.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn mariadb_truncated_and_masked_tables_keep_no_persistent_statistics() {
    // GIVEN engine-independent statistics (min and max are real values; so are the histograms'
    // bounds, in binary) of a table to truncate and of a masked column
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    for sql in [
        "CREATE TABLE login_events (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO login_events SELECT seq, CONCAT('ORIGQ.user', seq % 20, '@corp.test') FROM seq_1_to_500",
        "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(255) NOT NULL, plan VARCHAR(10) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO people SELECT seq, CONCAT('ORIGQ.person', seq, '@corp.test'), IF(seq % 2, 'free', 'pro') FROM seq_1_to_300",
        "ANALYZE TABLE login_events PERSISTENT FOR ALL",
        "ANALYZE TABLE people PERSISTENT FOR ALL",
    ] {
        pool.exec(sql).await;
    }
    assert!(!lines_with(&evidence::mysql_statistics(&pool).await, &[MARK]).is_empty());
    let kept = "SELECT CAST(id AS CHAR), plan FROM people ORDER BY id";
    let kept_before = pool.texts(kept).await;

    // WHEN it is masked and verified
    mask_and_verify(
        &db.url,
        "tables:\n  login_events: truncate\n  people:\n    keep: [id, plan]\n    mask: { email: email }\n",
    )
    .await;

    // THEN no statistics row, and nothing in the dump, holds an original
    assert_eq!(
        lines_with(&evidence::mysql_statistics(&pool).await, &[MARK]),
        Vec::<String>::new()
    );
    assert_eq!(
        lines_with(&evidence::mysql_dump(&db), &[MARK]),
        Vec::<String>::new()
    );
    assert_eq!(pool.texts(kept).await, kept_before);
}

// ---------------------------------------------------------------------------------------------
// 2. Dropped columns
// ---------------------------------------------------------------------------------------------

/// A masked table, so each run has something to do besides the tables under attack.
const PEOPLE: &[&str] = &[
    "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
    "INSERT INTO people SELECT g, 'ORIGQ.person' || g || '@corp.test' FROM generate_series(1, 50) g",
];

#[tokio::test]
async fn a_kept_table_leaves_no_byte_of_its_dropped_columns() {
    // GIVEN a kept table whose dropped columns held personal data, one of them stored out of
    // line in TOAST; another session holds a snapshot throughout
    let o = owned(throwaway_pg()).await;
    o.create(PEOPLE).await;
    o.create(&[
        "CREATE TABLE legacy (id int PRIMARY KEY, login text NOT NULL, ssn text, scan text)",
        "ALTER TABLE legacy ALTER COLUMN scan SET STORAGE EXTERNAL",
        &format!(
            "INSERT INTO legacy SELECT g, 'login' || g, 'ORIGQ-ssn-' || g, {} FROM generate_series(1, 100) g",
            toasted(300, "scan")
        ),
        "ALTER TABLE legacy DROP COLUMN ssn",
        "ALTER TABLE legacy DROP COLUMN scan",
    ])
    .await;
    assert!(evidence::pg_page_hits(&o.admin, "legacy", &[MARK]).await > 0);
    assert!(
        !evidence::pg_file_hits(&o.admin, "legacy", &[MARK])
            .await
            .is_empty()
    );
    let kept = "SELECT id::text, login FROM legacy ORDER BY id";
    let kept_before = o.checksum(kept).await;
    let holder = Snapshot::hold(&o.db.url).await;

    // WHEN it is masked and verified
    mask_and_verify(
        &o.url,
        "tables:\n  legacy: { keep: [id, login] }\n  people:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN no page or file of the table, its TOAST or its indexes holds a dropped value
    assert_eq!(evidence::pg_page_hits(&o.admin, "legacy", &[MARK]).await, 0);
    assert_eq!(
        evidence::pg_file_hits(&o.admin, "legacy", &[MARK]).await,
        Vec::<String>::new()
    );
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
    holder.release().await;
}

#[tokio::test]
async fn a_kept_partitioned_table_leaves_no_byte_of_its_dropped_columns() {
    // GIVEN a kept partitioned table whose partitions still hold a dropped column's values
    let o = owned(throwaway_pg()).await;
    o.create(PEOPLE).await;
    o.create(&[
        "CREATE TABLE ledger (id int NOT NULL, amount int NOT NULL, payer text) PARTITION BY RANGE (id)",
        "CREATE TABLE ledger_low PARTITION OF ledger FOR VALUES FROM (0) TO (100)",
        "CREATE TABLE ledger_high PARTITION OF ledger FOR VALUES FROM (100) TO (1000)",
        "INSERT INTO ledger SELECT g, g * 10, 'ORIGQ-payer-' || g FROM generate_series(1, 300) g",
        "ALTER TABLE ledger DROP COLUMN payer",
    ])
    .await;
    for partition in ["ledger_low", "ledger_high"] {
        assert!(evidence::pg_page_hits(&o.admin, partition, &[MARK]).await > 0);
        assert!(
            !evidence::pg_file_hits(&o.admin, partition, &[MARK])
                .await
                .is_empty()
        );
    }
    let kept = "SELECT id::text, amount::text, tableoid::regclass::text FROM ledger ORDER BY id";
    let kept_before = o.checksum(kept).await;

    // WHEN it is masked and verified
    mask_and_verify(
        &o.url,
        "tables:\n  ledger: { keep: [id, amount] }\n  people:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN no page or file of either partition holds a dropped value
    for partition in ["ledger_low", "ledger_high"] {
        assert_eq!(
            evidence::pg_page_hits(&o.admin, partition, &[MARK]).await,
            0
        );
        assert_eq!(
            evidence::pg_file_hits(&o.admin, partition, &[MARK]).await,
            Vec::<String>::new()
        );
    }
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
}

#[tokio::test]
async fn a_kept_table_with_dropped_columns_the_run_may_not_rewrite_is_refused() {
    // GIVEN a kept table with a dropped column's values, owned by another role than the one
    // masking (which therefore may not rewrite it)
    let o = owned(pg_server()).await;
    o.create(PEOPLE).await;
    for sql in [
        "CREATE TABLE audit_trail (id int PRIMARY KEY, action text NOT NULL, actor_email text)",
        "INSERT INTO audit_trail SELECT g, 'login', 'ORIGQ.actor' || g || '@corp.test' FROM generate_series(1, 40) g",
        "ALTER TABLE audit_trail DROP COLUMN actor_email",
        &format!("GRANT SELECT ON audit_trail TO {OWNER}"),
    ] {
        o.admin.exec(sql).await;
    }
    let before = o.snapshot().await;

    // WHEN masking runs
    let findings = refused(
        &o.url,
        "tables:\n  audit_trail: { keep: [id, action] }\n  people:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN it is refused before any change, naming the table and why
    assert!(
        findings
            .iter()
            .any(|f| f.contains("audit_trail") && f.contains("owned by another role")),
        "{findings:?}"
    );
    assert_eq!(o.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn mariadb_a_kept_table_leaves_no_byte_of_its_dropped_columns() {
    // GIVEN a kept InnoDB table whose column was dropped instantly (MariaDB 10.4+ leaves the
    // values in the rows until the table is rebuilt)
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    for sql in [
        "CREATE TABLE legacy (id INT PRIMARY KEY, login VARCHAR(50) NOT NULL, ssn VARCHAR(50)) ENGINE=InnoDB",
        "INSERT INTO legacy SELECT seq, CONCAT('login', seq), CONCAT('ORIGQ-ssn-', seq) FROM seq_1_to_200",
        "ALTER TABLE legacy DROP COLUMN ssn",
        "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(255) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO people SELECT seq, CONCAT('ORIGQ.person', seq, '@corp.test') FROM seq_1_to_50",
    ] {
        pool.exec(sql).await;
    }
    assert!(
        !evidence::mysql_file_hits(&db, "legacy", &[MARK])
            .await
            .is_empty()
    );
    let kept = "SELECT CAST(id AS CHAR), login FROM legacy ORDER BY id";
    let kept_before = pool.texts(kept).await;

    // WHEN it is masked and verified
    mask_and_verify(
        &db.url,
        "tables:\n  legacy: { keep: [id, login] }\n  people:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN the table's file holds no dropped value, nor the dump or the statistics any original
    assert_eq!(
        evidence::mysql_file_hits(&db, "legacy", &[MARK]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        lines_with(&evidence::mysql_dump(&db), &[MARK]),
        Vec::<String>::new()
    );
    assert_eq!(
        lines_with(&evidence::mysql_statistics(&pool).await, &[MARK]),
        Vec::<String>::new()
    );
    assert_eq!(pool.texts(kept).await, kept_before);
}

// ---------------------------------------------------------------------------------------------
// 3. Old row versions and TOAST, while another session holds a snapshot
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn masking_in_place_under_a_held_snapshot_leaves_no_old_row_version() {
    // GIVEN a table masked in place, chunk by chunk, with a column stored out of line in TOAST
    // and an index on a masked column; another session holds a snapshot taken before masking
    let o = owned(throwaway_pg()).await;
    o.create(&[
        "CREATE TABLE profiles (id int PRIMARY KEY, email text NOT NULL, bio text, status text NOT NULL)",
        "ALTER TABLE profiles ALTER COLUMN bio SET STORAGE EXTERNAL",
        &format!(
            "INSERT INTO profiles SELECT g, 'ORIGQ.pr' || g || '@corp.test', {}, \
             CASE WHEN g % 2 = 0 THEN 'active' ELSE 'closed' END FROM generate_series(1, 120) g",
            toasted(250, "bio")
        ),
        "CREATE INDEX profiles_email ON profiles (email)",
        "ANALYZE profiles",
    ])
    .await;
    assert!(
        !evidence::pg_file_hits(&o.admin, "profiles", &[MARK])
            .await
            .is_empty()
    );
    let kept = "SELECT id::text, status FROM profiles ORDER BY id";
    let kept_before = o.checksum(kept).await;
    let holder = Snapshot::hold(&o.db.url).await;

    // WHEN it is masked and verified
    let report = mask_and_verify(
        &o.url,
        "rewrite_max_rows: 1
chunk_rows: 50
tables:
  profiles:
    keep: [id, status]
    mask: { email: email, bio: hash }
",
    )
    .await;
    assert_eq!(report.tables[0].method.as_deref(), Some("chunked"));

    // THEN no page or file of the table, its TOAST or its index holds an original
    assert_eq!(
        evidence::pg_page_hits(&o.admin, "profiles", &[MARK]).await,
        0
    );
    assert_eq!(
        evidence::pg_file_hits(&o.admin, "profiles", &[MARK]).await,
        Vec::<String>::new()
    );
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
    holder.release().await;
}

#[tokio::test]
async fn a_partitioned_table_masked_in_place_under_a_held_snapshot_leaves_no_old_row_version() {
    // GIVEN a partitioned table that a view pins (so it is masked by UPDATE, not rewritten),
    // and another session holding a snapshot taken before masking
    let o = owned(throwaway_pg()).await;
    o.create(&[
        "CREATE TABLE visits (id int PRIMARY KEY, visitor text NOT NULL, page text NOT NULL) PARTITION BY RANGE (id)",
        "CREATE TABLE visits_a PARTITION OF visits FOR VALUES FROM (0) TO (500)",
        "CREATE TABLE visits_b PARTITION OF visits FOR VALUES FROM (500) TO (1000)",
        "INSERT INTO visits SELECT g, 'ORIGQ.v' || g || '@corp.test', '/page/' || (g % 7) FROM generate_series(1, 900) g",
        "CREATE VIEW visit_pages AS SELECT * FROM visits",
        "ANALYZE visits",
    ])
    .await;
    for partition in ["visits_a", "visits_b"] {
        assert!(
            !evidence::pg_file_hits(&o.admin, partition, &[MARK])
                .await
                .is_empty()
        );
    }
    let kept = "SELECT id::text, page FROM visits ORDER BY id";
    let kept_before = o.checksum(kept).await;
    let holder = Snapshot::hold(&o.db.url).await;

    // WHEN it is masked and verified
    mask_and_verify(
        &o.url,
        "tables:\n  visits:\n    keep: [id, page]\n    mask: { visitor: email }\n",
    )
    .await;

    // THEN no page or file of either partition holds an original
    for partition in ["visits_a", "visits_b"] {
        assert_eq!(
            evidence::pg_page_hits(&o.admin, partition, &[MARK]).await,
            0
        );
        assert_eq!(
            evidence::pg_file_hits(&o.admin, partition, &[MARK]).await,
            Vec::<String>::new()
        );
    }
    assert_eq!(o.leaks().await, Vec::<String>::new());
    assert_eq!(o.checksum(kept).await, kept_before);
    holder.release().await;
}

#[tokio::test]
async fn with_no_other_snapshot_no_file_of_the_database_holds_an_original() {
    // GIVEN every class at once: a table masked in place with TOAST, a truncated table with
    // statistics, a kept table with a dropped column, a materialized view, all analysed; and no
    // other session in the database (not even autovacuum: sessions in other databases do not
    // hold back what this one may remove)
    let o = owned(throwaway_pg()).await;
    o.admin.exec("ALTER SYSTEM SET autovacuum = off").await;
    o.admin.exec("SELECT pg_reload_conf()").await;
    o.create(&[
        "CREATE TABLE profiles (id int PRIMARY KEY, email text NOT NULL, bio text)",
        "ALTER TABLE profiles ALTER COLUMN bio SET STORAGE EXTERNAL",
        &format!(
            "INSERT INTO profiles SELECT g, 'ORIGQ.pr' || (g % 30) || '@corp.test', {} FROM generate_series(1, 120) g",
            toasted(250, "bio")
        ),
        "CREATE VIEW profile_emails AS SELECT * FROM profiles",
        "CREATE MATERIALIZED VIEW profile_domains AS SELECT split_part(email, '.', 2) AS who FROM profiles",
        "CREATE TABLE tokens (id int PRIMARY KEY, token text NOT NULL)",
        "INSERT INTO tokens SELECT g, 'ORIGQ-token-' || (g % 10) FROM generate_series(1, 200) g",
        "CREATE TABLE legacy (id int PRIMARY KEY, ssn text)",
        "INSERT INTO legacy SELECT g, 'ORIGQ-ssn-' || g FROM generate_series(1, 50) g",
        "ALTER TABLE legacy DROP COLUMN ssn",
        "ANALYZE",
    ])
    .await;
    assert!(
        !evidence::pg_database_file_hits(&o.admin, &[MARK])
            .await
            .is_empty()
    );

    // WHEN it is masked and verified by the database's owner, with no other session open
    mask_and_verify(
        &o.url,
        "tables:
  profiles:
    keep: [id]
    mask: { email: email, bio: { strategy: redact, keep_first: 0, keep_last: 0 } }
  tokens: truncate
  legacy: { keep: [id] }
",
    )
    .await;

    // THEN not one file of the database (tables, TOAST, indexes, catalogs, statistics) holds
    // an original
    assert_eq!(
        evidence::pg_database_file_hits(&o.admin, &[MARK]).await,
        Vec::<String>::new()
    );
    assert_eq!(o.leaks().await, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// 4. Values a mask rightly leaves as they are
// ---------------------------------------------------------------------------------------------

const NOTES_RULES: &str = "tables:
  notes:
    keep: [id, author]
    mask:
      body: { strategy: redact, keep_first: 0, keep_last: 0 }
";

async fn empty_and_starred_values_under_redact_pass_verification(
    pool: &Pool,
    url: &str,
    rules_yaml: &str,
) {
    // GIVEN empty, NULL and all-star values beside real ones, under `redact`
    let body = "CASE id % 4 WHEN 0 THEN '' WHEN 1 THEN NULL WHEN 2 THEN '***' \
                ELSE CONCAT('ORIGQ-note-', id) END";
    pool.exec(&format!("UPDATE notes SET body = {body}")).await;
    let kept = "SELECT CAST(id AS CHAR(10)), author FROM notes ORDER BY id";
    let kept_before = pool.texts(kept).await;

    // WHEN it is masked and verified
    mask_and_verify(url, rules_yaml).await;

    // THEN verification passes (an empty or all-star original is no personal value that
    // survived), those values are as they were, and every real value is starred
    let left = "SELECT COUNT(*) FROM notes WHERE (id % 4 = 0 AND body = '') \
                OR (id % 4 = 1 AND body IS NULL) OR (id % 4 = 2 AND body = '***') \
                OR (id % 4 = 3 AND body = REPEAT('*', CHAR_LENGTH(CONCAT('ORIGQ-note-', id))))";
    assert_eq!(pool.count(left).await, 60);
    assert_eq!(pool.texts(kept).await, kept_before);
}

#[tokio::test]
async fn postgres_empty_and_starred_values_under_redact_pass_verification() {
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE notes (id int PRIMARY KEY, body text, author text NOT NULL, code char(6))",
        "INSERT INTO notes SELECT g, NULL, 'staff', CASE WHEN g % 2 = 0 THEN '' ELSE 'ORIGQ' END \
         FROM generate_series(1, 60) g",
    ])
    .await;
    // A blank `char(6)` is '' as text: the same holds for it.
    let rules_yaml =
        NOTES_RULES.to_owned() + "      code: { strategy: redact, keep_first: 0, keep_last: 0 }\n";
    empty_and_starred_values_under_redact_pass_verification(&o.owner, &o.url, &rules_yaml).await;
    assert_eq!(o.leaks().await, Vec::<String>::new());
}

#[tokio::test]
async fn mariadb_empty_and_starred_values_under_redact_pass_verification() {
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    pool.exec("CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(100), author VARCHAR(20) NOT NULL) ENGINE=InnoDB")
        .await;
    pool.exec("INSERT INTO notes SELECT seq, NULL, 'staff' FROM seq_1_to_60")
        .await;
    empty_and_starred_values_under_redact_pass_verification(&pool, &db.url, NOTES_RULES).await;
    assert_eq!(
        lines_with(&evidence::mysql_dump(&db), &[MARK]),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// 5a. JSON documents without holes
// ---------------------------------------------------------------------------------------------

/// A table `docs (id, doc, note)` on either engine: `doc` a PostgreSQL `jsonb` (or `json`) or a
/// MariaDB `JSON`, `note` kept; and how to look at it from outside the engine.
enum JsonDocs {
    Pg(Owned),
    My(TestDb, Pool),
}

impl JsonDocs {
    /// The table with `rows` (`(id, document literal or NULL)`), statistics taken.
    async fn new(engine: Engine, doc_type: &str, rows: &[(u32, Option<&str>)]) -> JsonDocs {
        let docs = match engine {
            Engine::Postgres => {
                let o = owned(pg_server()).await;
                o.create(&[&format!(
                    "CREATE TABLE docs (id int PRIMARY KEY, doc {doc_type}, note text NOT NULL)"
                )])
                .await;
                JsonDocs::Pg(o)
            }
            Engine::MariaDb => {
                let db = mariadb_database().await;
                let pool = Pool::connect(&db, Engine::MariaDb).await;
                pool.exec(
                    "CREATE TABLE docs (id INT PRIMARY KEY, doc JSON, note VARCHAR(40) NOT NULL) ENGINE=InnoDB",
                )
                .await;
                JsonDocs::My(db, pool)
            }
        };
        for (id, doc) in rows {
            let doc = doc.map_or_else(|| "NULL".to_owned(), |d| format!("'{d}'"));
            docs.pool()
                .exec(&format!(
                    "INSERT INTO docs VALUES ({id}, {doc}, 'kept note {id}')"
                ))
                .await;
        }
        let analyze = match &docs {
            JsonDocs::Pg(_) => "ANALYZE docs",
            JsonDocs::My(..) => "ANALYZE TABLE docs PERSISTENT FOR ALL",
        };
        docs.pool().exec(analyze).await;
        docs
    }

    fn pool(&self) -> &Pool {
        match self {
            JsonDocs::Pg(o) => &o.owner,
            JsonDocs::My(_, pool) => pool,
        }
    }

    fn url(&self) -> &str {
        match self {
            JsonDocs::Pg(o) => &o.url,
            JsonDocs::My(db, _) => &db.url,
        }
    }

    /// Every line of the full dump and of the statistics that holds a marker.
    async fn leaks(&self) -> Vec<String> {
        match self {
            JsonDocs::Pg(o) => o.leaks().await,
            JsonDocs::My(db, pool) => {
                let mut out = lines_with(&evidence::mysql_dump(db), &[MARK]);
                out.extend(lines_with(&evidence::mysql_statistics(pool).await, &[MARK]));
                out
            }
        }
    }

    /// `(id, document)` of every row, in id order (`None`: SQL NULL).
    async fn documents(&self) -> Vec<(String, Option<serde_json::Value>)> {
        let sql = match self {
            JsonDocs::Pg(_) => "SELECT CAST(id AS text), CAST(doc AS text) FROM docs ORDER BY id",
            JsonDocs::My(..) => "SELECT CAST(id AS CHAR), CAST(doc AS CHAR) FROM docs ORDER BY id",
        };
        self.pool()
            .texts(sql)
            .await
            .into_iter()
            .map(|r| {
                let doc = r[1]
                    .as_deref()
                    .map(|t| serde_json::from_str(t).unwrap_or_else(|e| panic!("{t}: {e}")));
                (r[0].clone().unwrap_or_default(), doc)
            })
            .collect()
    }

    async fn notes(&self) -> Vec<Vec<Option<String>>> {
        self.pool().texts("SELECT note FROM docs ORDER BY id").await
    }

    /// Masks and verifies (run gate and `--verify-only`), then checks that no marker is left
    /// anywhere and the kept column did not change; returns the masked documents.
    async fn mask_clean(&self, rules_yaml: &str) -> Vec<(String, Option<serde_json::Value>)> {
        assert!(
            !self.leaks().await.is_empty(),
            "the originals are there to be found"
        );
        let notes = self.notes().await;
        mask_and_verify(self.url(), rules_yaml).await;
        assert_eq!(
            self.leaks().await,
            Vec::<String>::new(),
            "no original survives"
        );
        assert_eq!(self.notes().await, notes, "kept column unchanged");
        self.documents().await
    }
}

fn json_rules(body: &str) -> String {
    format!(
        "tables:\n  docs:\n    keep: [id, note]\n    mask:\n      doc:\n        strategy: json\n{body}"
    )
}

/// Every scalar of a document (keys left out), in document order.
fn scalars(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(scalars).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(scalars).collect(),
        other => vec![other],
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

fn is_hashed(v: &serde_json::Value) -> bool {
    v.as_str().is_some_and(is_hex64)
}

fn is_masked_email(v: &serde_json::Value) -> bool {
    v.as_str()
        .and_then(|s| s.strip_suffix("@example.invalid"))
        .is_some_and(is_hex64)
}

async fn arrays_of_any_length_under_a_wildcard_are_masked_element_by_element(engine: Engine) {
    // GIVEN e-mail arrays of 0, 1, 3 and 7 elements and contact arrays of varying length, a kept
    // team name beside them, and an unlisted `type` in each contact
    let emails = |n: u32, id: u32| {
        let list: Vec<String> = (0..n)
            .map(|k| format!("\"ORIGQ.{id}.{k}@corp.test\""))
            .collect();
        list.join(", ")
    };
    let docs: Vec<String> = [(1, 0), (2, 1), (3, 3), (4, 7)]
        .iter()
        .map(|(id, n)| {
            let contacts: Vec<String> = (0..*n)
                .map(|k| format!("{{\"phone\": \"ORIGQ+81-{id}-{k}\", \"type\": \"ORIGQ-home\"}}"))
                .collect();
            format!(
                "{{\"team\": \"team-{id}\", \"emails\": [{}], \"contacts\": [{}]}}",
                emails(*n, *id),
                contacts.join(", ")
            )
        })
        .collect();
    let rows: Vec<(u32, Option<&str>)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (i as u32 + 1, Some(d.as_str())))
        .collect();
    let t = JsonDocs::new(engine, "jsonb", &rows).await;

    // WHEN the documents are masked with wildcard paths, `others: null`, keys kept
    let masked = t
        .mask_clean(&json_rules(
            "        paths:\n          $.emails[*]: email\n          $.contacts[*].phone: phone\n          $.team: keep\n        others: null\n        keys: keep\n",
        ))
        .await;

    // THEN every element of every array is masked, the arrays keep their lengths, the listed
    // team is kept and every unlisted value is JSON null
    for ((id, doc), n) in masked.iter().zip([0usize, 1, 3, 7]) {
        let doc = doc.as_ref().expect("a document");
        assert_eq!(doc["team"], format!("team-{id}"), "{doc}");
        let emails = doc["emails"].as_array().expect("an array");
        assert_eq!(emails.len(), n, "{doc}");
        assert!(emails.iter().all(is_masked_email), "{doc}");
        let contacts = doc["contacts"].as_array().expect("an array");
        assert_eq!(contacts.len(), n, "{doc}");
        for c in contacts {
            let phone = c["phone"].as_str().expect("a phone");
            assert!(phone.starts_with("+999 ") && phone.len() == 14, "{doc}");
            assert!(c["type"].is_null(), "{doc}");
        }
    }
}

#[tokio::test]
async fn postgres_arrays_of_any_length_under_a_wildcard_are_masked_element_by_element() {
    arrays_of_any_length_under_a_wildcard_are_masked_element_by_element(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_arrays_of_any_length_under_a_wildcard_are_masked_element_by_element() {
    arrays_of_any_length_under_a_wildcard_are_masked_element_by_element(Engine::MariaDb).await;
}

async fn emails_used_as_keys_are_hashed(engine: Engine) {
    // GIVEN documents keyed by e-mail address, each holding a role the rules keep by name
    let t = JsonDocs::new(
        engine,
        "jsonb",
        &[
            (1, Some(r#"{"ORIGQ.ann@corp.test": {"role": "owner"}, "ORIGQ.bob@corp.test": {"role": "viewer"}}"#)),
            (2, Some(r#"{"ORIGQ.ann@corp.test": {"role": "editor"}}"#)),
        ],
    )
    .await;

    // WHEN the keys no path spells out are hashed and the roles kept
    let masked = t
        .mask_clean(&json_rules(
            "        paths:\n          $.*.role: keep\n        others: hash\n        keys: hash\n",
        ))
        .await;

    // THEN every e-mail key is a keyed hash (the same address, the same key in both rows), the
    // spelled-out `role` key and its values are kept
    let keys = |doc: &serde_json::Value| -> Vec<String> {
        doc.as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let one = masked[0].1.as_ref().expect("a document");
    let two = masked[1].1.as_ref().expect("a document");
    assert!(keys(one).iter().all(|k| is_hex64(k)), "{one}");
    assert_eq!(keys(one).len(), 2, "{one}");
    assert!(
        keys(one).contains(&keys(two)[0]),
        "deterministic: {one} {two}"
    );
    let roles: Vec<&str> = one
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["role"].as_str().expect("a kept role"))
        .collect();
    assert!(
        roles.contains(&"owner") && roles.contains(&"viewer"),
        "{one}"
    );
    assert_eq!(two[&keys(two)[0]]["role"], "editor", "{two}");
}

#[tokio::test]
async fn postgres_emails_used_as_keys_are_hashed() {
    emails_used_as_keys_are_hashed(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_emails_used_as_keys_are_hashed() {
    emails_used_as_keys_are_hashed(Engine::MariaDb).await;
}

async fn documents_of_another_shape_are_masked_by_others(engine: Engine) {
    // GIVEN rules written for objects, and documents that are a bare string, a number, a
    // top-level array of objects, strings and arrays, an array where an object was expected,
    // and an object where an array was expected
    let t = JsonDocs::new(
        engine,
        "jsonb",
        &[
            (1, Some(r#""ORIGQ.bare@corp.test""#)),
            (2, Some("4155550100")),
            (3, Some(r#"[{"email": "ORIGQ.top@corp.test"}, "ORIGQ-free text", ["ORIGQ-nested"]]"#)),
            (4, Some(r#"{"contact": ["ORIGQ.arr@corp.test"], "emails": {"a": "ORIGQ.obj@corp.test"}}"#)),
        ],
    )
    .await;

    // WHEN they are masked with object paths and `others: hash`
    let masked = t
        .mask_clean(&json_rules(
            "        paths:\n          $.contact.email: email\n          $.emails[*]: email\n        others: hash\n        keys: keep\n",
        ))
        .await;

    // THEN each shape is defined: every scalar is a keyed hash, arrays keep their lengths
    let doc = |i: usize| masked[i].1.clone().expect("a document");
    assert!(is_hashed(&doc(0)), "bare string: {}", doc(0));
    assert!(is_hashed(&doc(1)), "number: {}", doc(1));
    let top = doc(2);
    assert_eq!(top.as_array().map(Vec::len), Some(3), "{top}");
    assert!(scalars(&top).iter().all(|v| is_hashed(v)), "{top}");
    let odd = doc(3);
    assert!(scalars(&odd).iter().all(|v| is_hashed(v)), "{odd}");
    assert_eq!(odd["contact"].as_array().map(Vec::len), Some(1), "{odd}");
}

#[tokio::test]
async fn postgres_documents_of_another_shape_are_masked_by_others() {
    documents_of_another_shape_are_masked_by_others(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_documents_of_another_shape_are_masked_by_others() {
    documents_of_another_shape_are_masked_by_others(Engine::MariaDb).await;
}

async fn json_null_and_sql_null_stay_null(engine: Engine) {
    // GIVEN SQL NULL, a JSON null document, an object holding a JSON null, and a document with
    // an original beside them
    let t = JsonDocs::new(
        engine,
        "jsonb",
        &[
            (1, None),
            (2, Some("null")),
            (3, Some(r#"{"gone": null, "email": "ORIGQ.n@corp.test"}"#)),
        ],
    )
    .await;

    // WHEN they are masked with `others: hash`
    let masked = t
        .mask_clean(&json_rules("        others: hash\n        keys: keep\n"))
        .await;

    // THEN SQL NULL is SQL NULL, JSON null is JSON null, the null member stays null and the
    // original is hashed
    assert_eq!(masked[0].1, None);
    assert_eq!(masked[1].1, Some(serde_json::Value::Null));
    let three = masked[2].1.clone().expect("a document");
    assert!(
        three["gone"].is_null() && three.get("gone").is_some(),
        "{three}"
    );
    assert!(is_hashed(&three["email"]), "{three}");
}

#[tokio::test]
async fn postgres_json_null_and_sql_null_stay_null() {
    json_null_and_sql_null_stay_null(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_json_null_and_sql_null_stay_null() {
    json_null_and_sql_null_stay_null(Engine::MariaDb).await;
}

const NESTED: &[(u32, Option<&str>)] = &[
    (
        1,
        Some(
            r#"{"email": "ORIGQ.e1@corp.test", "profile": {"deep": {"deeper": ["ORIGQ-x1", {"k": "ORIGQ-same"}]}}, "n": 4155550101}"#,
        ),
    ),
    (
        2,
        Some(
            r#"{"email": "ORIGQ.e2@corp.test", "extra": {"ORIGQ-unknown": true, "list": [["ORIGQ-same"]]}}"#,
        ),
    ),
];

async fn nested_unknown_keys_are_hashed_under_others_hash(engine: Engine) {
    // GIVEN documents whose unlisted keys nest at any depth, one value in both rows
    let t = JsonDocs::new(engine, "jsonb", NESTED).await;

    // WHEN masked with one listed path, `others: hash` and keys following it
    let masked = t
        .mask_clean(&json_rules(
            "        paths:\n          $.email: email\n        others: hash\n",
        ))
        .await;

    // THEN the listed path has its strategy, every other value and key is a keyed hash at
    // every depth, and equal originals hash equally across rows
    let one = masked[0].1.clone().expect("a document");
    let two = masked[1].1.clone().expect("a document");
    for doc in [&one, &two] {
        assert!(is_masked_email(&doc["email"]), "{doc}");
        let others: Vec<&serde_json::Value> = scalars(doc)
            .into_iter()
            .filter(|v| !is_masked_email(v))
            .collect();
        assert!(others.iter().all(|v| is_hashed(v)), "{doc}");
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(|k| k.as_str() == "email" || is_hex64(k)),
            "{doc}"
        );
    }
    let same = |doc: &serde_json::Value| -> Vec<String> {
        scalars(doc)
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let shared: Vec<String> = same(&one)
        .into_iter()
        .filter(|v| same(&two).contains(v))
        .collect();
    assert_eq!(
        shared.len(),
        1,
        "ORIGQ-same hashes the same in both rows: {one} {two}"
    );
}

#[tokio::test]
async fn postgres_nested_unknown_keys_are_hashed_under_others_hash() {
    nested_unknown_keys_are_hashed_under_others_hash(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_nested_unknown_keys_are_hashed_under_others_hash() {
    nested_unknown_keys_are_hashed_under_others_hash(Engine::MariaDb).await;
}

async fn nested_unknown_values_are_nulled_under_others_null(engine: Engine) {
    // GIVEN documents whose unlisted keys nest at any depth (a PostgreSQL `json` column here)
    let doc_type = match engine {
        Engine::Postgres => "json",
        Engine::MariaDb => "JSON",
    };
    let t = JsonDocs::new(engine, doc_type, NESTED).await;

    // WHEN masked with one listed path and `others: null`
    let masked = t
        .mask_clean(&json_rules(
            "        paths:\n          $.email: email\n        others: null\n",
        ))
        .await;

    // THEN every unlisted value is JSON null, arrays keep their lengths, and the unlisted keys
    // are hashed (they follow `others`)
    let one = masked[0].1.clone().expect("a document");
    assert!(is_masked_email(&one["email"]), "{one}");
    let rest: Vec<&serde_json::Value> = scalars(&one)
        .into_iter()
        .filter(|v| !is_masked_email(v))
        .collect();
    assert_eq!(rest.len(), 3, "{one}");
    assert!(rest.iter().all(|v| v.is_null()), "{one}");
    let two = masked[1].1.clone().expect("a document");
    assert!(
        two.as_object()
            .unwrap()
            .keys()
            .all(|k| k == "email" || is_hex64(k)),
        "{two}"
    );
}

#[tokio::test]
async fn postgres_nested_unknown_values_are_nulled_under_others_null() {
    nested_unknown_values_are_nulled_under_others_null(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_nested_unknown_values_are_nulled_under_others_null() {
    nested_unknown_values_are_nulled_under_others_null(Engine::MariaDb).await;
}

async fn others_keep_keeps_exactly_the_unlisted_values(engine: Engine) {
    // GIVEN documents with listed personal values (one under a wildcard) and unlisted
    // preferences
    let t = JsonDocs::new(
        engine,
        "jsonb",
        &[
            (1, Some(r#"{"email": "ORIGQ.k1@corp.test", "tags": ["ORIGQ-t1", "ORIGQ-t2"], "prefs": {"theme": "dark", "lang": "de", "n": 3}}"#)),
            (2, Some(r#"{"email": "ORIGQ.k2@corp.test", "tags": [], "prefs": {"theme": "light"}, "plan": "pro"}"#)),
        ],
    )
    .await;
    let before = t.documents().await;

    // WHEN masked with `others: keep`
    let masked = t
        .mask_clean(&json_rules(
            "        paths:\n          $.email: email\n          $.tags[*]: hash\n        others: keep\n",
        ))
        .await;

    // THEN the listed values are masked and everything else is exactly as it was
    for ((_, was), (_, now)) in before.iter().zip(&masked) {
        let (mut was, mut now) = (was.clone().unwrap(), now.clone().unwrap());
        assert!(is_masked_email(&now["email"]), "{now}");
        let tags = now["tags"].as_array().unwrap();
        assert_eq!(tags.len(), was["tags"].as_array().unwrap().len(), "{now}");
        assert!(tags.iter().all(is_hashed), "{now}");
        for doc in [&mut was, &mut now] {
            let o = doc.as_object_mut().unwrap();
            o.remove("email");
            o.remove("tags");
        }
        assert_eq!(now, was, "unlisted values kept exactly");
    }
}

#[tokio::test]
async fn postgres_others_keep_keeps_exactly_the_unlisted_values() {
    others_keep_keeps_exactly_the_unlisted_values(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_others_keep_keeps_exactly_the_unlisted_values() {
    others_keep_keeps_exactly_the_unlisted_values(Engine::MariaDb).await;
}

async fn verification_fails_when_an_original_leaf_is_planted_back(engine: Engine) {
    // GIVEN a masked and verified table of documents
    let t = JsonDocs::new(engine, "jsonb", NESTED).await;
    let rules_yaml = json_rules("        paths:\n          $.email: email\n        others: hash\n");
    t.mask_clean(&rules_yaml).await;

    // WHEN an original comes back deep inside one document, where `others` masked it
    t.pool()
        .exec(r#"UPDATE docs SET doc = '{"email": null, "profile": {"deep": {"deeper": ["ORIGQ-x1"]}}}' WHERE id = 1"#)
        .await;

    // THEN verification fails, naming the column: the original is found, and it lacks the shape
    let v = verify(t.url(), &rules_yaml).await;
    assert!(!v.passed);
    let failed = failures(&v);
    assert!(
        failed.iter().any(|f| f.starts_with("sample docs.doc.*:")),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|f| f.starts_with("pattern docs.doc.*:")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn postgres_verification_fails_when_an_original_leaf_is_planted_back() {
    verification_fails_when_an_original_leaf_is_planted_back(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_verification_fails_when_an_original_leaf_is_planted_back() {
    verification_fails_when_an_original_leaf_is_planted_back(Engine::MariaDb).await;
}

async fn a_json_column_without_others_is_a_rules_error(engine: Engine) {
    // GIVEN a rules file whose JSON column lists paths but says nothing of the other values
    let t = JsonDocs::new(engine, "jsonb", NESTED).await;
    let before = t.documents().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("masking.yaml");
    std::fs::write(
        &path,
        json_rules("        paths:\n          $.email: email\n"),
    )
    .expect("write the rules");

    // WHEN the rules are loaded, as `offpeak mask` does before it connects
    let err = masking::rules::load(&path).expect_err("a rules error");

    // THEN the error points at the column's strategy, PATH:LINE:COL, and nothing changed
    let expected = format!(
        "{}:6:9: column `doc` of table `docs`: strategy `json` needs `others: null | hash | keep`",
        path.display()
    );
    assert!(err.to_string().starts_with(&expected), "{err}");
    assert_eq!(t.documents().await, before);
    assert!(!t.leaks().await.is_empty());
}

#[tokio::test]
async fn postgres_a_json_column_without_others_is_a_rules_error() {
    a_json_column_without_others_is_a_rules_error(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_a_json_column_without_others_is_a_rules_error() {
    a_json_column_without_others_is_a_rules_error(Engine::MariaDb).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Default-deny over what can hold data but no rule can mask
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_foreign_table_is_refused_before_any_change() {
    // GIVEN a database with an ordinary table the rules cover and a foreign table they cannot:
    // its rows live on another server (here the same one, through postgres_fdw)
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 50) g",
    ])
    .await;
    for sql in [
        "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
        "CREATE SERVER crm FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'postgres')",
        "CREATE FOREIGN TABLE crm_contacts (id int, email text) SERVER crm",
    ] {
        o.admin.exec(sql).await;
    }
    let before = o.snapshot().await;

    // WHEN masking runs with rules that classify every ordinary table
    let findings = refused(
        &o.url,
        "tables:\n  people:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN it is refused, naming the foreign table, and nothing changed
    assert!(
        findings
            .iter()
            .any(|f| f.contains("foreign table `public.crm_contacts` cannot be masked")),
        "{findings:?}"
    );
    assert_eq!(o.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn large_objects_are_refused_before_any_change() {
    // GIVEN a database holding a large object with personal data in it
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 50) g",
        "SELECT lo_from_bytea(0, convert_to('ORIGQ.scan@corp.test', 'UTF8'))",
    ])
    .await;
    let people = "SELECT id::text, email FROM people ORDER BY id";
    let before = o.checksum(people).await;

    // WHEN masking runs with rules that classify every table
    let findings = refused(
        &o.url,
        "tables:\n  people:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN it is refused, counting the large objects without showing them, and nothing changed
    assert!(
        findings
            .iter()
            .any(|f| f.contains("1 large object(s) cannot be masked")),
        "{findings:?}"
    );
    assert!(findings.iter().all(|f| !f.contains(MARK)), "{findings:?}");
    assert_eq!(o.checksum(people).await, before, "nothing changed");
    assert_eq!(
        o.admin
            .count("SELECT count(*) FROM pg_largeobject_metadata")
            .await,
        1
    );
}

#[tokio::test]
async fn a_table_an_extension_owns_is_classified_like_any_other() {
    // GIVEN a table with personal data that an extension owns (as an extension's own
    // configuration tables are)
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE vault (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO vault SELECT g, 'ORIGQ.v' || g || '@corp.test' FROM generate_series(1, 50) g",
    ])
    .await;
    for sql in [
        "CREATE EXTENSION IF NOT EXISTS pgcrypto",
        "ALTER EXTENSION pgcrypto ADD TABLE vault",
    ] {
        o.admin.exec(sql).await;
    }

    // WHEN rules that leave it out are used, THEN it is unclassified
    let findings = refused(&o.url, "tables: {}\n").await;
    assert!(
        findings
            .iter()
            .any(|f| f.contains("table `vault` is not classified")),
        "{findings:?}"
    );

    // AND with rules that mask it, no original remains
    mask_and_verify(
        &o.url,
        "tables:\n  vault:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;
    assert_eq!(o.leaks().await, Vec::<String>::new());
}

#[tokio::test]
async fn mariadb_a_system_versioned_table_is_refused_before_any_change() {
    // GIVEN a system-versioned table whose history holds an earlier e-mail address
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    for sql in [
        "CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL) WITH SYSTEM VERSIONING",
        "INSERT INTO accounts VALUES (1, 'ORIGQ.first@corp.test')",
        "UPDATE accounts SET email = 'ORIGQ.second@corp.test' WHERE id = 1",
    ] {
        pool.exec(sql).await;
    }
    let all = "SELECT CAST(id AS CHAR), email FROM accounts FOR SYSTEM_TIME ALL ORDER BY email";
    let before = pool.texts(all).await;
    assert_eq!(before.len(), 2, "the history holds the first address");

    // WHEN masking runs with rules that classify the table
    let findings = refused(
        &db.url,
        "tables:\n  accounts:\n    keep: [id]\n    mask: { email: email }\n",
    )
    .await;

    // THEN it is refused, naming the table, and neither rows nor history changed
    assert!(
        findings
            .iter()
            .any(|f| f.contains("system-versioned table `accounts` cannot be masked")),
        "{findings:?}"
    );
    assert_eq!(pool.texts(all).await, before, "nothing changed");
}

#[tokio::test]
async fn mariadb_a_login_that_cannot_see_triggers_is_refused_before_any_change() {
    // GIVEN a table whose trigger copies every changed e-mail elsewhere, and a login allowed to
    // change the data but not to see triggers (no TRIGGER privilege: the server hides them)
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    for sql in [
        "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE outbox (email VARCHAR(100)) ENGINE=InnoDB",
        "CREATE TRIGGER people_copy BEFORE UPDATE ON people FOR EACH ROW INSERT INTO outbox VALUES (OLD.email)",
        "INSERT INTO people SELECT seq, CONCAT('ORIGQ.p', seq, '@corp.test') FROM seq_1_to_20",
        "CREATE USER IF NOT EXISTS 'offpeak_blind'@'%'",
        "CREATE USER IF NOT EXISTS 'offpeak_blind'@'localhost'",
    ] {
        pool.exec(sql).await;
    }
    for host in ["%", "localhost"] {
        pool.exec(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, LOCK TABLES \
             ON `{}`.* TO 'offpeak_blind'@'{host}'",
            db.name
        ))
        .await;
    }
    let all = "SELECT CAST(id AS CHAR), email FROM people UNION ALL SELECT 'outbox', email FROM outbox ORDER BY 1";
    let before = pool.texts(all).await;

    // WHEN that login runs masking with rules that classify every table
    let findings = refused(
        &with_user(&db.url, "offpeak_blind"),
        "tables:\n  people:\n    keep: [id]\n    mask: { email: email }\n  outbox: truncate\n",
    )
    .await;

    // THEN it is refused, saying why, and nothing changed
    assert!(
        findings
            .iter()
            .any(|f| f.contains("lacks the TRIGGER privilege")),
        "{findings:?}"
    );
    assert_eq!(pool.texts(all).await, before, "nothing changed");
}

// ---------------------------------------------------------------------------------------------
// 6. Preflight: nothing half-done
// ---------------------------------------------------------------------------------------------

/// Every user trigger of the database and its mode (`pg_trigger.tgenabled`), as the server
/// keeps them.
const TRIGGER_MODES: &str = "SELECT tgrelid::regclass::text, tgname::text, tgenabled::text \
     FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2";

/// A trigger function stamping `updated_at` and copying the old e-mail into `outbox`: what an
/// audit or "last modified" trigger does to kept data when it fires.
const STAMP_AND_COPY: &str = "CREATE FUNCTION stamp_and_copy() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN NEW.updated_at := now(); INSERT INTO outbox VALUES (OLD.email); RETURN NEW; END $$";

fn method_of(report: &MaskReport, table: &str) -> String {
    report
        .tables
        .iter()
        .find(|t| t.table == table)
        .and_then(|t| t.method.clone())
        .unwrap_or_default()
}

/// Masks and verifies, then checks what every completing case promises: nothing anywhere holds
/// an original, kept data (`kept`, read as the owner) and every trigger's mode are as before.
async fn completes_keeping(o: &Owned, rules_yaml: &str, kept: &str) -> MaskReport {
    let kept_before = o.checksum(kept).await;
    let modes_before = o.admin.texts(TRIGGER_MODES).await;
    let report = mask_and_verify(&o.url, rules_yaml).await;
    assert_eq!(
        o.leaks().await,
        Vec::<String>::new(),
        "no original anywhere"
    );
    assert_eq!(o.checksum(kept).await, kept_before, "kept data unchanged");
    assert_eq!(
        o.admin.texts(TRIGGER_MODES).await,
        modes_before,
        "trigger modes unchanged"
    );
    report
}

/// Checks what every refusing case promises: refused before any change (the full dump and the
/// statistics as they were), with a finding naming each of `names` and quoting no original.
async fn refused_unchanged(o: &Owned, rules_yaml: &str, names: &[&str]) {
    let before = o.snapshot().await;
    let findings = refused(&o.url, rules_yaml).await;
    assert!(
        findings.iter().any(|f| names.iter().all(|n| f.contains(n))),
        "a finding names {names:?}: {findings:?}"
    );
    assert!(findings.iter().all(|f| !f.contains(MARK)), "{findings:?}");
    assert_eq!(o.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn a_trigger_on_one_partition_does_not_fire_while_masking() {
    // GIVEN a partitioned table whose one partition has its own trigger (stamping a kept
    // `updated_at` and copying the old e-mail into a kept table), next to a trigger every
    // partition inherits from the parent; masked by UPDATE
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE outbox (email text)",
        STAMP_AND_COPY,
        "CREATE TABLE events (id int NOT NULL, at date NOT NULL, email text, updated_at timestamptz NOT NULL, \
         PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
        "CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')",
        "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        "INSERT INTO events SELECT g, date '2023-06-01' + g, 'ORIGQ.e' || g || '@corp.test', \
         timestamptz '2020-01-01 00:00:00+00' + g * interval '1 day' FROM generate_series(1, 400) g",
        "CREATE TRIGGER events_2024_stamp BEFORE UPDATE ON events_2024 FOR EACH ROW EXECUTE FUNCTION stamp_and_copy()",
        "CREATE TRIGGER events_stamp BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION stamp_and_copy()",
    ])
    .await;
    let rules_yaml = "rewrite_max_rows: 1
tables:
  outbox: { keep: [email] }
  events:
    keep: [id, at, updated_at]
    mask: { email: email }
";

    // WHEN it is masked, THEN no trigger fired: `updated_at` and the kept table are as they
    // were, no original is left, and every trigger is back in its mode
    let kept = "SELECT id::text, at::text, updated_at::text FROM events \
                UNION ALL SELECT 'outbox', email, NULL FROM outbox ORDER BY 1, 2";
    let report = completes_keeping(&o, rules_yaml, kept).await;
    assert_eq!(method_of(&report, "events"), "single");
    assert_eq!(o.admin.count("SELECT count(*) FROM outbox").await, 0);
}

#[tokio::test]
async fn a_trigger_on_an_inheritance_child_does_not_fire_while_masking() {
    // GIVEN an inheritance parent and child, both masked by UPDATE, the child with a trigger
    // that stamps a kept column and copies the old e-mail into a kept table (an UPDATE of the
    // parent without ONLY would reach the child's rows and fire it)
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE outbox (email text)",
        STAMP_AND_COPY,
        "CREATE TABLE contacts (id int PRIMARY KEY, email text NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE TABLE customers (plan text NOT NULL, PRIMARY KEY (id)) INHERITS (contacts)",
        "INSERT INTO contacts SELECT g, 'ORIGQ.c' || g || '@corp.test', timestamptz '2021-01-01 00:00:00+00' + g * interval '1 hour' \
         FROM generate_series(1, 100) g",
        "INSERT INTO customers SELECT g, 'ORIGQ.k' || g || '@corp.test', timestamptz '2021-01-01 00:00:00+00' + g * interval '1 hour', \
         'pro' FROM generate_series(101, 300) g",
        "CREATE TRIGGER customers_stamp BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION stamp_and_copy()",
    ])
    .await;
    let rules_yaml = "rewrite_max_rows: 1
tables:
  outbox: { keep: [email] }
  contacts:
    keep: [id, updated_at]
    mask: { email: email }
  customers:
    keep: [id, updated_at, plan]
    mask: { email: email }
";

    // WHEN it is masked, THEN the child's trigger did not fire and nothing else changed
    let kept = "SELECT id::text, updated_at::text, tableoid::regclass::text FROM contacts \
                UNION ALL SELECT 'outbox', email, NULL FROM outbox ORDER BY 1";
    completes_keeping(&o, rules_yaml, kept).await;
    assert_eq!(o.admin.count("SELECT count(*) FROM outbox").await, 0);
}

/// A table with one trigger in each mode (origin, always, replica, disabled), none of which
/// may fire or change mode.
fn four_modes(table: &str) -> Vec<String> {
    let mut out = vec![
        format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, email text NOT NULL, updated_at timestamptz NOT NULL)"
        ),
        format!(
            "INSERT INTO {table} SELECT g, 'ORIGQ.{table}' || g || '@corp.test', \
             timestamptz '2022-02-02 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 200) g"
        ),
    ];
    for (mode, verb) in [
        ("origin", None),
        ("always", Some("ENABLE ALWAYS")),
        ("replica", Some("ENABLE REPLICA")),
        ("off", Some("DISABLE")),
    ] {
        out.push(format!(
            "CREATE TRIGGER {table}_{mode} BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION stamp_and_copy()"
        ));
        if let Some(verb) = verb {
            out.push(format!("ALTER TABLE {table} {verb} TRIGGER {table}_{mode}"));
        }
    }
    out
}

/// A database owned by [`OWNER`] holding `outbox`, [`STAMP_AND_COPY`] and a table with a
/// trigger in every mode for each of `tables`.
async fn with_four_modes(tables: &[&str]) -> Owned {
    let o = owned(pg_server()).await;
    let mut setup = vec![
        "CREATE TABLE outbox (email text)".to_owned(),
        STAMP_AND_COPY.to_owned(),
    ];
    for table in tables {
        setup.extend(four_modes(table));
    }
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    o.create(&setup).await;
    o
}

/// Every trigger's mode, in order of table and name.
async fn modes(o: &Owned) -> String {
    let rows = o.admin.texts(TRIGGER_MODES).await;
    rows.into_iter()
        .map(|r| r[2].clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn always_and_replica_triggers_keep_their_modes_under_every_method() {
    // GIVEN tables with a trigger in every mode: one with a key (masked in chunks) and one
    // without (a single UPDATE)
    let o = with_four_modes(&["chunked_people", "single_people"]).await;
    o.owner
        .exec("ALTER TABLE single_people DROP CONSTRAINT single_people_pkey")
        .await;
    let kept = "SELECT 'c', id::text, updated_at::text FROM chunked_people \
                UNION ALL SELECT 's', id::text, updated_at::text FROM single_people \
                UNION ALL SELECT 'o', email, NULL FROM outbox ORDER BY 1, 2";

    // WHEN they are masked by UPDATE
    let report = completes_keeping(
        &o,
        "rewrite_max_rows: 1
tables:
  outbox: { keep: [email] }
  chunked_people: { keep: [id, updated_at], mask: { email: email } }
  single_people: { keep: [id, updated_at], mask: { email: email } }
",
        kept,
    )
    .await;

    // THEN (checked above) no trigger fired, and each is in its mode
    assert_eq!(method_of(&report, "chunked_people"), "chunked");
    assert_eq!(method_of(&report, "single_people"), "single");
    assert_eq!(modes(&o).await, "ADORADOR");
    assert_eq!(o.admin.count("SELECT count(*) FROM outbox").await, 0);

    // WHEN a table like them is masked by the swap, which rebuilds its triggers
    let w = with_four_modes(&["swapped_people"]).await;
    let report = completes_keeping(
        &w,
        "tables:
  outbox: { keep: [email] }
  swapped_people: { keep: [id, updated_at], mask: { email: email } }
",
        "SELECT id::text, updated_at::text FROM swapped_people ORDER BY id",
    )
    .await;

    // THEN its triggers are back in their modes too
    assert_eq!(method_of(&report, "swapped_people"), "swap");
    assert_eq!(modes(&w).await, "ADOR");
}

#[tokio::test]
async fn a_kept_regclass_keeps_its_meaning_when_a_swap_could_mask_the_table() {
    // GIVEN a table the swap could mask, and a kept table storing object identifiers, one of
    // them the masked table's
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 300) g",
        "CREATE TABLE registry (name text PRIMARY KEY, rel regclass NOT NULL, raw oid NOT NULL)",
        "INSERT INTO registry VALUES ('people', 'people'::regclass, 'people'::regclass::oid), \
         ('registry', 'registry'::regclass, 'registry'::regclass::oid)",
    ])
    .await;
    let rules_yaml = "tables:
  registry: { keep: [name, rel, raw] }
  people:
    keep: [id]
    mask: { email: email }
";

    // WHEN it is masked, THEN the stored identifiers still name the same tables, byte for
    // byte (the table kept its OID: it was rewritten in place, not swapped)
    let kept = "SELECT name, rel::text, rel::oid::text, raw::text, ('people'::regclass = rel)::text \
                FROM registry ORDER BY 1";
    let report = completes_keeping(&o, rules_yaml, kept).await;
    assert_eq!(method_of(&report, "people"), "rewrite");
}

#[tokio::test]
async fn an_inheritance_parent_and_child_both_listed_are_masked_each_by_its_rule() {
    // GIVEN an inheritance parent and child, each with rows (one address in both), both
    // masking the inherited e-mail (the child also keeping a column of its own)
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE contacts (id int PRIMARY KEY, email text NOT NULL, kind text NOT NULL)",
        "CREATE TABLE customers (plan text NOT NULL, PRIMARY KEY (id)) INHERITS (contacts)",
        "INSERT INTO contacts SELECT g, 'ORIGQ.c' || g || '@corp.test', 'desk' FROM generate_series(1, 50) g",
        "INSERT INTO customers SELECT g, CASE WHEN g = 51 THEN 'ORIGQ.c1@corp.test' ELSE 'ORIGQ.k' || g || '@corp.test' END, \
         'customer', CASE WHEN g % 2 = 0 THEN 'pro' ELSE 'free' END FROM generate_series(51, 250) g",
        "ANALYZE contacts",
        "ANALYZE customers",
    ])
    .await;

    // WHEN the child keeps the e-mail its parent masks, THEN that is refused before any change:
    // reads of the parent would go on showing the child's originals
    refused_unchanged(
        &o,
        "tables:\n  contacts: { keep: [id, kind], mask: { email: email } }\n  customers: { keep: [id, kind, plan, email] }\n",
        &["contacts.email", "customers"],
    )
    .await;

    // WHEN both mask it the same way, THEN the run completes (no SQLSTATE 42P16 after the
    // parent), each table's rows masked once, by its own statements
    let kept = "SELECT id::text, kind, tableoid::regclass::text FROM contacts \
                UNION ALL SELECT id::text, plan, NULL FROM customers ORDER BY 1, 3";
    completes_keeping(
        &o,
        "tables:\n  contacts: { keep: [id, kind], mask: { email: email } }\n  customers: { keep: [id, kind, plan], mask: { email: email } }\n",
        kept,
    )
    .await;
    let wrong = "SELECT count(*) FROM contacts WHERE email !~ '^[0-9a-f]{64}@example.invalid$'";
    assert_eq!(o.owner.count(wrong).await, 0, "every address masked");
    let same = "SELECT count(DISTINCT email) FROM contacts WHERE id IN (1, 51)";
    assert_eq!(
        o.owner.count(same).await,
        1,
        "masked once each: equal stays equal"
    );
}

#[tokio::test]
async fn a_check_constraint_the_mask_violates_is_refused_before_the_first_table() {
    // GIVEN two tables to mask: the first masks fine, the second has a CHECK constraint on the
    // e-mail's domain that the masked address (`@example.invalid`) breaks
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO accounts SELECT g, 'ORIGQ.a' || g || '@corp.test' FROM generate_series(1, 100) g",
        "CREATE TABLE staff (id int PRIMARY KEY, email text NOT NULL CONSTRAINT staff_email_corp CHECK (email LIKE '%@corp.test'))",
        "INSERT INTO staff SELECT g, 'ORIGQ.s' || g || '@corp.test' FROM generate_series(1, 100) g",
        "ANALYZE",
    ])
    .await;

    // WHEN masking runs, THEN it is refused before any change, naming table and constraint
    refused_unchanged(
        &o,
        "tables:\n  accounts: { keep: [id], mask: { email: email } }\n  staff: { keep: [id], mask: { email: email } }\n",
        &["staff", "staff_email_corp", "100 row(s)"],
    )
    .await;

    // AND a CHECK the masked values satisfy is no reason to refuse
    o.owner
        .exec("ALTER TABLE staff DROP CONSTRAINT staff_email_corp, ADD CONSTRAINT staff_email_at CHECK (email LIKE '%@%')")
        .await;
    completes_keeping(
        &o,
        "tables:\n  accounts: { keep: [id], mask: { email: email } }\n  staff: { keep: [id], mask: { email: email } }\n",
        "SELECT id::text FROM staff ORDER BY id",
    )
    .await;
}

#[tokio::test]
async fn a_domain_check_the_mask_violates_is_refused_before_any_change() {
    // GIVEN a masked column whose type is a domain over a domain, the inner one with a CHECK
    // that masked addresses break
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE DOMAIN corp_email AS text CONSTRAINT corp_only CHECK (VALUE LIKE '%@corp.test')",
        "CREATE DOMAIN work_email AS corp_email NOT NULL",
        "CREATE TABLE staff (id int PRIMARY KEY, email work_email)",
        "INSERT INTO staff SELECT g, 'ORIGQ.s' || g || '@corp.test' FROM generate_series(1, 60) g",
    ])
    .await;

    // WHEN masking runs, THEN it is refused naming the domain, its constraint and the column
    refused_unchanged(
        &o,
        "tables:\n  staff: { keep: [id], mask: { email: email } }\n",
        &["staff", "corp_only", "corp_email", "email"],
    )
    .await;
}

#[tokio::test]
async fn a_length_limit_the_mask_output_exceeds_is_refused_before_any_change() {
    // GIVEN a name column limited to 12 characters through a domain over varchar(12) (the
    // `name` mask writes 17), next to a table that would mask fine
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO accounts SELECT g, 'ORIGQ.a' || g || '@corp.test' FROM generate_series(1, 50) g",
        "CREATE DOMAIN short_name AS varchar(12)",
        "CREATE TABLE badges (id int PRIMARY KEY, holder short_name)",
        "INSERT INTO badges SELECT g, 'ORIGQ' || g FROM generate_series(1, 50) g",
    ])
    .await;

    // WHEN masking runs, THEN it is refused naming the column and its limit
    refused_unchanged(
        &o,
        "tables:\n  accounts: { keep: [id], mask: { email: email } }\n  badges: { keep: [id], mask: { holder: name } }\n",
        &["badges", "holder", "12 characters"],
    )
    .await;
}

#[tokio::test]
async fn an_update_rule_on_a_masked_table_is_refused_before_any_change() {
    // GIVEN a rule that copies every updated row's old e-mail into another table
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE outbox (email text)",
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 40) g",
        "CREATE RULE people_outbox AS ON UPDATE TO people DO ALSO INSERT INTO outbox VALUES (OLD.email)",
    ])
    .await;

    // WHEN masking runs, THEN it is refused naming the rule
    refused_unchanged(
        &o,
        "tables:\n  outbox: { keep: [email] }\n  people: { keep: [id], mask: { email: email } }\n",
        &["people_outbox", "people"],
    )
    .await;
}

#[tokio::test]
async fn an_on_update_cascade_foreign_key_from_a_masked_column_is_refused_before_any_change() {
    // GIVEN a masked e-mail that another table references with ON UPDATE CASCADE
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL UNIQUE)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 40) g",
        "CREATE TABLE newsletters (id int PRIMARY KEY, email text REFERENCES people (email) ON UPDATE CASCADE)",
        "INSERT INTO newsletters SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 20) g",
    ])
    .await;

    // WHEN masking runs, THEN it is refused naming the foreign key
    refused_unchanged(
        &o,
        "tables:\n  people: { keep: [id], mask: { email: email } }\n  newsletters: { keep: [id], mask: { email: null } }\n",
        &["people.email", "newsletters_email_fkey"],
    )
    .await;
}

#[tokio::test]
async fn forced_row_level_security_is_refused_before_any_change() {
    // GIVEN a masked table whose row security is forced, so its policy hides rows from its owner
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 40) g",
        "CREATE POLICY people_even ON people USING (id % 2 = 0)",
        "ALTER TABLE people ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE people FORCE ROW LEVEL SECURITY",
    ])
    .await;

    // WHEN masking runs, THEN it is refused naming the table and why
    refused_unchanged(
        &o,
        "tables:\n  people: { keep: [id], mask: { email: email } }\n",
        &["people", "row-level security"],
    )
    .await;
}

/// A MariaDB database with `statements` run, and a pool on it.
async fn mariadb_with(statements: &[&str]) -> (TestDb, Pool) {
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    for sql in statements {
        pool.exec(sql).await;
    }
    (db, pool)
}

/// MariaDB: the full dump, without the line saying when it was taken.
fn mariadb_dump(db: &TestDb) -> Vec<String> {
    evidence::mysql_dump(db)
        .lines()
        .filter(|l| !l.starts_with("-- Dump completed"))
        .map(str::to_owned)
        .collect()
}

/// MariaDB: refused before any change (the full dump as it was), a finding naming `names`.
async fn mariadb_refused_unchanged(db: &TestDb, rules_yaml: &str, names: &[&str]) {
    let before = mariadb_dump(db);
    let findings = refused(&db.url, rules_yaml).await;
    assert!(
        findings.iter().any(|f| names.iter().all(|n| f.contains(n))),
        "a finding names {names:?}: {findings:?}"
    );
    assert!(findings.iter().all(|f| !f.contains(MARK)), "{findings:?}");
    assert_eq!(mariadb_dump(db), before, "nothing changed");
}

#[tokio::test]
async fn mariadb_a_check_constraint_the_mask_violates_is_refused_before_any_change() {
    // GIVEN two tables to mask, the second with a CHECK constraint masked addresses break
    let (db, pool) = mariadb_with(&[
        "CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO accounts SELECT seq, CONCAT('ORIGQ.a', seq, '@corp.test') FROM seq_1_to_50",
        "CREATE TABLE staff (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, \
         CONSTRAINT staff_email_corp CHECK (email LIKE '%@corp.test')) ENGINE=InnoDB",
        "INSERT INTO staff SELECT seq, CONCAT('ORIGQ.s', seq, '@corp.test') FROM seq_1_to_50",
    ])
    .await;
    let rules_yaml = "tables:\n  accounts: { keep: [id], mask: { email: email } }\n  staff: { keep: [id], mask: { email: email } }\n";

    // WHEN masking runs, THEN it is refused naming table and constraint, nothing changed
    mariadb_refused_unchanged(&db, rules_yaml, &["staff", "staff_email_corp"]).await;

    // AND with a CHECK the masked values satisfy, the run completes with no original left
    pool.exec("ALTER TABLE staff DROP CONSTRAINT staff_email_corp")
        .await;
    pool.exec("ALTER TABLE staff ADD CONSTRAINT staff_email_at CHECK (email LIKE '%@%')")
        .await;
    let kept = "SELECT CAST(id AS CHAR) FROM staff ORDER BY id";
    let kept_before = pool.texts(kept).await;
    mask_and_verify(&db.url, rules_yaml).await;
    assert_eq!(
        lines_with(&evidence::mysql_dump(&db), &[MARK]),
        Vec::<String>::new()
    );
    assert_eq!(pool.texts(kept).await, kept_before);
}

#[tokio::test]
async fn mariadb_a_length_limit_the_mask_output_exceeds_is_refused_before_any_change() {
    // GIVEN a VARCHAR(20) column masked by raw SQL whose output is longer for some rows only
    let (db, _pool) = mariadb_with(&[
        "CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO accounts SELECT seq, CONCAT('ORIGQ.a', seq, '@corp.test') FROM seq_1_to_50",
        "CREATE TABLE badges (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO badges SELECT seq, CONCAT('ORIGQ', seq) FROM seq_1_to_50",
    ])
    .await;
    let rules_yaml = "tables:
  accounts: { keep: [id], mask: { email: email } }
  badges:
    keep: [id]
    mask:
      code: { strategy: sql, sql: \"REPEAT('z', 14 + CHAR_LENGTH({column}))\" }
";

    // WHEN masking runs, THEN it is refused naming the column and its limit
    mariadb_refused_unchanged(&db, rules_yaml, &["badges", "code", "20 characters"]).await;
}

#[tokio::test]
async fn mariadb_a_trigger_on_a_masked_table_is_refused_before_any_change() {
    // GIVEN a masked table with a trigger stamping a kept column (MariaDB cannot disable one)
    let (db, _pool) = mariadb_with(&[
        "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, updated_at DATETIME NOT NULL) ENGINE=InnoDB",
        "CREATE TRIGGER people_stamp BEFORE UPDATE ON people FOR EACH ROW SET NEW.updated_at = NOW()",
        "INSERT INTO people SELECT seq, CONCAT('ORIGQ.p', seq, '@corp.test'), '2020-01-01 00:00:00' FROM seq_1_to_30",
    ])
    .await;

    // WHEN masking runs, THEN it is refused naming the trigger
    mariadb_refused_unchanged(
        &db,
        "tables:\n  people: { keep: [id, updated_at], mask: { email: email } }\n",
        &["people", "people_stamp"],
    )
    .await;
}

#[tokio::test]
async fn a_truncate_trigger_does_not_fire_and_a_parent_truncated_without_its_children_is_refused() {
    // GIVEN a table to truncate whose trigger copies its rows into a kept table when it is
    // truncated, and an inheritance parent whose child keeps rows
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE outbox (email text)",
        "CREATE TABLE sessions (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO sessions SELECT g, 'ORIGQ.s' || g || '@corp.test' FROM generate_series(1, 30) g",
        "CREATE FUNCTION copy_all() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN INSERT INTO outbox SELECT email FROM sessions; RETURN NULL; END $$",
        "CREATE TRIGGER sessions_copy BEFORE TRUNCATE ON sessions FOR EACH STATEMENT EXECUTE FUNCTION copy_all()",
        "ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_copy",
        "CREATE TABLE logs (id int, line text)",
        "CREATE TABLE logs_kept () INHERITS (logs)",
        "INSERT INTO logs_kept VALUES (1, 'kept line')",
    ])
    .await;

    // WHEN the parent is truncated while its child keeps rows, THEN that is refused before any
    // change (TRUNCATE would empty the child too; ONLY would leave its rows showing through
    // the parent)
    refused_unchanged(
        &o,
        "tables:\n  outbox: { keep: [email] }\n  sessions: truncate\n  logs: truncate\n  logs_kept: { keep: [id, line] }\n",
        &["logs", "logs_kept", "truncate"],
    )
    .await;

    // WHEN both are truncated, THEN the trigger did not fire (the kept table is as it was), it
    // is back in its mode, and no original is left
    completes_keeping(
        &o,
        "tables:\n  outbox: { keep: [email] }\n  sessions: truncate\n  logs: truncate\n  logs_kept: truncate\n",
        "SELECT email FROM outbox ORDER BY 1",
    )
    .await;
    assert_eq!(o.admin.count("SELECT count(*) FROM outbox").await, 0);
}

#[tokio::test]
async fn an_enabled_event_trigger_is_refused_before_any_change() {
    // GIVEN an event trigger (created by a superuser) that fails every table rewrite, as a
    // guard against DDL in production would
    let o = owned(pg_server()).await;
    o.create(&[
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO people SELECT g, 'ORIGQ.p' || g || '@corp.test' FROM generate_series(1, 40) g",
    ])
    .await;
    for sql in [
        "CREATE FUNCTION no_rewrites() RETURNS event_trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'table rewrites are not allowed here'; END $$",
        "CREATE EVENT TRIGGER no_rewrites ON table_rewrite EXECUTE FUNCTION no_rewrites()",
    ] {
        o.admin.exec(sql).await;
    }

    // WHEN masking runs, THEN it is refused naming the event trigger, and nothing changed
    refused_unchanged(
        &o,
        "tables:\n  people: { keep: [id], mask: { email: email } }\n",
        &["event trigger `no_rewrites`"],
    )
    .await;
}
