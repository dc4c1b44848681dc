//! Progress and the original-value sample, kept in the masked database itself.
//!
//! Guarantees:
//! - Progress lives next to the data it describes, so a run cut short (a Lambda's 15 minutes)
//!   resumes exactly where it stopped: each chunk's UPDATE and the move of its table's
//!   high-water mark commit in one transaction, so a row is masked exactly once.
//! - Each table's row is created once, with its row count and a fingerprint of its masking SQL,
//!   before any of its rows change; a later run with different rules for a table already started
//!   is refused instead of masking masked data with other rules.
//! - The sample holds keyed digests of original values (never the values), taken before masking.
//!
//! - A PostgreSQL `swap` records its copy (`offpeak_masking.swap`) when it creates it, and each
//!   block range it copied (`offpeak_masking.swap_range`) in the transaction that copies it.
//! - A PostgreSQL table rewritten so that no old row version or dropped column's value is left
//!   in its files is recorded with the file it now lives in (`offpeak_masking.rewritten`), in the
//!   transaction that rewrites it: a later run skips it, and the verification gate can tell.
//!
//! Tables: PostgreSQL `offpeak_masking.progress` / `offpeak_masking.sample` (and the swap's two,
//! whose copies also live in `offpeak_masking`); MySQL
//! `offpeak_masking_progress` / `offpeak_masking_sample` in the masked database. Both are outside
//! coverage and are kept after a run so a repeat run is a no-op and `--verify-only` can check the
//! sample; [`forget`] drops them.

use super::conn::{Db, Param};
use super::dialect::Dialect;
use super::scrub::DbError;

/// Rows captured per sampled column (or JSON path).
pub const SAMPLE_ROWS: u32 = 1000;

/// One table's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub fingerprint: String,
    pub method: String,
    pub rows_before: i64,
    /// Highest primary key masked so far (chunked method).
    pub last_key: Option<String>,
    pub done: bool,
}

pub fn progress_table(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "offpeak_masking.progress",
        Dialect::MySql => "offpeak_masking_progress",
    }
}

pub fn sample_table(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "offpeak_masking.sample",
        Dialect::MySql => "offpeak_masking_sample",
    }
}

/// Creates the bookkeeping tables if missing.
pub async fn ensure(db: &mut Db) -> Result<(), DbError> {
    let during = "creating the masking bookkeeping tables";
    let statements: &[&str] = match db.dialect {
        Dialect::Postgres => &[
            "CREATE SCHEMA IF NOT EXISTS offpeak_masking",
            "CREATE TABLE IF NOT EXISTS offpeak_masking.progress (table_name text PRIMARY KEY, \
             fingerprint text NOT NULL, method text NOT NULL, rows_before bigint NOT NULL, \
             last_key text, done boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now())",
            "CREATE TABLE IF NOT EXISTS offpeak_masking.sample (table_name text NOT NULL, \
             column_name text NOT NULL, digest bytea NOT NULL, conforms boolean NOT NULL, \
             PRIMARY KEY (table_name, column_name, digest))",
            "CREATE TABLE IF NOT EXISTS offpeak_masking.swap (table_name text PRIMARY KEY, \
             tmp_name text NOT NULL, filenode text NOT NULL, blocks bigint NOT NULL, step bigint NOT NULL)",
            "CREATE TABLE IF NOT EXISTS offpeak_masking.swap_range (table_name text NOT NULL, \
             first_block bigint NOT NULL, rows bigint NOT NULL, PRIMARY KEY (table_name, first_block))",
            "CREATE TABLE IF NOT EXISTS offpeak_masking.rewritten (relation text PRIMARY KEY, \
             filenode oid NOT NULL)",
        ],
        Dialect::MySql => &[
            "CREATE TABLE IF NOT EXISTS offpeak_masking_progress (table_name VARCHAR(300) PRIMARY KEY, \
             fingerprint VARCHAR(64) NOT NULL, method VARCHAR(16) NOT NULL, rows_before BIGINT NOT NULL, \
             last_key VARCHAR(1000), done BOOLEAN NOT NULL DEFAULT FALSE, \
             updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB",
            "CREATE TABLE IF NOT EXISTS offpeak_masking_sample (table_name VARCHAR(255) NOT NULL, \
             column_name VARCHAR(255) NOT NULL, digest VARBINARY(32) NOT NULL, conforms BOOLEAN NOT NULL, \
             PRIMARY KEY (table_name, column_name, digest)) ENGINE=InnoDB",
        ],
    };
    for sql in statements {
        db.execute(during, sql, &[]).await?;
    }
    Ok(())
}

/// Whether the bookkeeping tables exist (a database never masked has none).
pub async fn exists(db: &mut Db) -> Result<bool, DbError> {
    let sql = match db.dialect {
        Dialect::Postgres => "SELECT (to_regclass('offpeak_masking.progress') IS NOT NULL)::text",
        Dialect::MySql => {
            "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.TABLES \
                           WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'offpeak_masking_progress'"
        }
    };
    let v = db.value("looking for masking progress", sql, &[]).await?;
    Ok(matches!(v.as_deref(), Some("true") | Some("1")))
}

/// The progress row of `table`, if its masking has started.
pub async fn read(db: &mut Db, table: &str) -> Result<Option<Progress>, DbError> {
    let d = db.dialect;
    let sql = format!(
        "SELECT fingerprint, method, {}, last_key, {} FROM {} WHERE table_name = {}",
        d.as_text("rows_before"),
        match d {
            Dialect::Postgres => "done::text",
            Dialect::MySql => "CAST(done AS CHAR)",
        },
        progress_table(d),
        placeholder(d, 1)
    );
    let rows = db
        .rows(
            &format!("reading masking progress of {table}"),
            &sql,
            &[text(table)],
        )
        .await?;
    Ok(rows.into_iter().next().map(|r| Progress {
        fingerprint: r[0].clone().unwrap_or_default(),
        method: r[1].clone().unwrap_or_default(),
        rows_before: r[2].as_deref().and_then(|s| s.parse().ok()).unwrap_or(-1),
        last_key: r[3].clone(),
        done: matches!(r[4].as_deref(), Some("true") | Some("1")),
    }))
}

/// The statement recording that masking of `table` starts (run inside the capture transaction).
pub fn start(d: Dialect, table: &str, p: &Progress) -> (String, Vec<Param>) {
    let sql = format!(
        "INSERT INTO {} (table_name, fingerprint, method, rows_before, last_key, done) VALUES ({}, {}, {}, {}, NULL, {})",
        progress_table(d),
        placeholder(d, 1),
        placeholder(d, 2),
        placeholder(d, 3),
        placeholder(d, 4),
        if p.done { "TRUE" } else { "FALSE" }
    );
    let params = vec![
        text(table),
        text(&p.fingerprint),
        text(&p.method),
        Param::Int(p.rows_before),
    ];
    (sql, params)
}

/// The statement moving `table`'s high-water mark (and, with `done`, finishing it).
pub fn advance(
    d: Dialect,
    table: &str,
    last_key: Option<&str>,
    done: bool,
) -> (String, Vec<Param>) {
    let now = match d {
        Dialect::Postgres => "now()",
        Dialect::MySql => "CURRENT_TIMESTAMP",
    };
    let sql = format!(
        "UPDATE {} SET last_key = {}, done = {}, updated_at = {now} WHERE table_name = {}",
        progress_table(d),
        placeholder(d, 1),
        if done { "TRUE" } else { "FALSE" },
        placeholder(d, 2)
    );
    (
        sql,
        vec![Param::Text(last_key.map(str::to_owned)), text(table)],
    )
}

/// The statement switching `table` to another method (a swap that fell back), before any of its
/// rows changed by the new one.
pub fn set_method(d: Dialect, table: &str, method: &str) -> (String, Vec<Param>) {
    let sql = format!(
        "UPDATE {} SET method = {}, last_key = NULL, done = FALSE WHERE table_name = {}",
        progress_table(d),
        placeholder(d, 1),
        placeholder(d, 2)
    );
    (sql, vec![text(method), text(table)])
}

/// Originals that are not sampled, by their text: empty, or only `*`. They carry no personal
/// data, and `redact` (which stars every character it hides) rightly leaves them as they are, so
/// counting them as survivors would be a false alarm.
const NO_PERSONAL_DATA: &str = "^[*]*$";

/// The statement storing up to [`SAMPLE_ROWS`] keyed digests of `value` (evaluated in `from`),
/// each with whether the original already has the masked shape (`conforms`; `None`: the strategy
/// has no shape, count every original as conforming). NULLs and originals without personal data
/// ([`NO_PERSONAL_DATA`]) are left out.
pub fn capture(
    d: Dialect,
    table: &str,
    label: &str,
    value: &str,
    conforms: Option<&str>,
    from: &str,
) -> (String, Vec<Param>) {
    let digest = d.verify_digest("v");
    let shaped = conforms.map_or_else(|| "TRUE".to_owned(), |c| format!("COALESCE({c}, FALSE)"));
    let nothing = d.matches(&d.as_text(value), NO_PERSONAL_DATA);
    let ignore = match d {
        Dialect::Postgres => ("INSERT", " ON CONFLICT DO NOTHING"),
        Dialect::MySql => ("INSERT IGNORE", ""),
    };
    let sql = format!(
        "{} INTO {} (table_name, column_name, digest, conforms) SELECT {}, {}, {digest}, c \
         FROM (SELECT {value} AS v, {shaped} AS c FROM {from} WHERE {value} IS NOT NULL AND NOT {nothing} \
         LIMIT {SAMPLE_ROWS}) s{}",
        ignore.0,
        sample_table(d),
        placeholder(d, 1),
        placeholder(d, 2),
        ignore.1
    );
    (sql, vec![text(table), text(label)])
}

/// PostgreSQL: the statement recording that `root` (quoted) and every table under it were
/// rewritten by offpeak and now live in the files they have now (see `catalog::residue`).
pub fn rewritten(root: &str) -> (String, Vec<Param>) {
    let sql = "WITH RECURSIVE tree(oid) AS (SELECT $1::regclass::oid \
               UNION SELECT i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.oid) \
               INSERT INTO offpeak_masking.rewritten (relation, filenode) \
               SELECT format('%I.%I', n.nspname, c.relname), pg_relation_filenode(c.oid) \
               FROM tree t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.relkind = 'r' \
               ON CONFLICT (relation) DO UPDATE SET filenode = EXCLUDED.filenode";
    (sql.to_owned(), vec![text(root)])
}

/// PostgreSQL: whether rewrites are recorded (bookkeeping from before they were is not).
pub async fn records_rewrites(db: &mut Db) -> Result<bool, DbError> {
    let sql = "SELECT (to_regclass('offpeak_masking.rewritten') IS NOT NULL)::text";
    let v = db.value("looking for recorded rewrites", sql, &[]).await?;
    Ok(v.as_deref() == Some("true"))
}

/// Drops the bookkeeping (progress and sample).
pub async fn forget(db: &mut Db) -> Result<(), DbError> {
    let during = "dropping the masking bookkeeping";
    match db.dialect {
        Dialect::Postgres => {
            db.execute(during, "DROP SCHEMA IF EXISTS offpeak_masking CASCADE", &[])
                .await?
        }
        Dialect::MySql => {
            db.execute(
                during,
                "DROP TABLE IF EXISTS offpeak_masking_progress, offpeak_masking_sample",
                &[],
            )
            .await?
        }
    };
    Ok(())
}

pub fn placeholder(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Postgres => format!("${n}"),
        Dialect::MySql => "?".to_owned(),
    }
}

fn text(s: &str) -> Param {
    Param::Text(Some(s.to_owned()))
}
