//! The bounded sample: what the values of a table's text-like columns look like, judged by the
//! database itself.
//!
//! Guarantees:
//! - **Bounded.** At most [`SAMPLE_ROWS`] rows of a table are read (`LIMIT`), and of each value
//!   at most its first [`SAMPLE_CHARS`] characters are looked at.
//! - **Counts only.** Every pattern is matched by the server and only counts come back (how many
//!   sampled values are e-mail addresses, hold a phone number, are JSON documents with
//!   personal-looking keys, ...): no sampled value ever reaches offpeak, so none can be printed.
//! - **Reads only.** Plain `SELECT`s.
//!
//! The patterns use only what PostgreSQL's regular expressions, MariaDB's PCRE and MySQL's ICU
//! agree on (bracket expressions, `{m,n}`, anchors; no backslash, so no session mode matters).

use crate::catalog::{Column, ColumnKind, Table};
use crate::conn::Db;
use crate::dialect::Dialect;
use crate::scrub::DbError;

/// Most rows of a table the sample reads.
pub const SAMPLE_ROWS: u64 = 200;
/// Most characters of a value the patterns look at.
pub const SAMPLE_CHARS: u64 = 65_536;
/// Columns judged per query (ten counts each, well under either engine's select-list limit).
const COLUMNS_PER_QUERY: usize = 60;

/// The whole value is an e-mail address.
const EMAIL: &str = "^[^@ ]+@[^@ ]+[.][A-Za-z]{2,}$";
/// An e-mail address somewhere in the value.
const EMAIL_IN: &str = "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+([.][A-Za-z0-9-]+)*[.][A-Za-z]{2,}";
/// The whole value is a phone number: digits and separators (with [`DIGITS7`], [`PHONE_SEP`],
/// and not [`DATE`]).
const PHONE: &str = "^[+]?[(]?[0-9][0-9 ().-]{5,22}[0-9]$";
const DIGITS7: &str = "([0-9][^0-9]*){7}";
const PHONE_SEP: &str = "[+ ()-]";
const DATE: &str = "^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}";
/// A phone number somewhere in the value: international (`+44 7700 900123`) or grouped
/// (`090-1234-5678`, standing alone: not the digit-only groups of a UUID).
const PHONE_IN: &str = "[+][0-9][0-9 ().-]{6,20}[0-9]\
|(^|[^0-9A-Za-z-])[0-9]{2,4}[ -][0-9]{3,4}[ -][0-9]{3,4}([^0-9A-Za-z-]|$)";
const IPV4: &str = "^[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}(/[0-9]{1,2})?$";
const IPV6: &str = "^[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7}(/[0-9]{1,3})?$";
/// `12:30` and `12:30:00` are times, not IPv6 addresses.
const TIME: &str = "^[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$";
/// An IPv4 address somewhere in the value.
const IP_IN: &str = "(^|[^0-9.])[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}([^0-9.]|$)";
/// A JSON key naming personal data (matched case-insensitively).
const KEYS: &str = "\"(e[_-]?mail|e[_-]?mail[_-]?address|mail|phone|phone[_-]?number|tel|telephone|mobile|fax\
|first[_-]?name|last[_-]?name|full[_-]?name|given[_-]?name|family[_-]?name|middle[_-]?name|surname|name\
|user[_-]?name|address|address[_-]?line[0-9]?|street|city|zip|zip[_-]?code|post[_-]?code|postal[_-]?code\
|ip|ip[_-]?address|birth[_-]?date|birthday|dob|date[_-]?of[_-]?birth|ssn|iban|passport)\" *:";

/// What the sampled values of one column look like: counts of non-NULL values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub values: u64,
    /// Whole value an e-mail address.
    pub email: u64,
    /// An e-mail address somewhere in it.
    pub email_in: u64,
    pub phone: u64,
    pub phone_in: u64,
    pub ip: u64,
    pub ip_in: u64,
    /// JSON objects or arrays (by their first character).
    pub documents: u64,
    /// Of which arrays.
    pub arrays: u64,
    /// With a personal-looking key (`"email":`, `"street":`, ...).
    pub keys: u64,
}

impl Shape {
    /// At least half of the values (and at least one) are so.
    pub fn mostly(&self, n: u64) -> bool {
        n > 0 && 2 * n >= self.values
    }

    /// Mostly JSON documents.
    pub fn documents(&self) -> bool {
        self.mostly(self.documents)
    }
}

/// One table's sample.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSample {
    /// Rows read (at most [`SAMPLE_ROWS`]).
    pub rows: u64,
    /// By column position; `None` for columns not sampled (numbers, dates, booleans, binary).
    pub shapes: Vec<Option<Shape>>,
}

/// Whether values of `column` are looked at: text, JSON, and (PostgreSQL) other types with a
/// text form that could hold personal data (arrays, `inet`, `hstore`, ...).
pub fn sampled(d: Dialect, column: &Column) -> bool {
    match column.kind {
        ColumnKind::Text | ColumnKind::Json | ColumnKind::Jsonb => true,
        ColumnKind::Other => d == Dialect::Postgres,
        _ => false,
    }
}

/// Reads the bounded sample of `table`.
pub async fn sample(db: &mut Db, table: &Table) -> Result<TableSample, DbError> {
    let d = db.dialect;
    let during = format!("sampling table {}.{}", table.id.schema, table.id.name);
    let name = d.table(&table.id.schema, &table.id.name);
    let wanted: Vec<usize> = (0..table.columns.len())
        .filter(|&i| sampled(d, &table.columns[i]))
        .collect();
    let mut out = TableSample {
        rows: 0,
        shapes: vec![None; table.columns.len()],
    };
    let batches: Vec<&[usize]> = match wanted.is_empty() {
        true => vec![&[]],
        false => wanted.chunks(COLUMNS_PER_QUERY).collect(),
    };
    for batch in batches {
        let columns: Vec<&Column> = batch.iter().map(|&i| &table.columns[i]).collect();
        let sql = sample_sql(d, &name, &columns);
        let rows = db.rows(&during, &sql, &[]).await?;
        let row = rows.into_iter().next().unwrap_or_default();
        let n = |i: usize| -> u64 {
            row.get(i)
                .and_then(|v| v.as_deref())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        out.rows = out.rows.max(n(0));
        for (k, &i) in batch.iter().enumerate() {
            let at = 1 + k * COUNTS;
            out.shapes[i] = Some(Shape {
                values: n(at),
                email: n(at + 1),
                email_in: n(at + 2),
                phone: n(at + 3),
                phone_in: n(at + 4),
                ip: n(at + 5),
                ip_in: n(at + 6),
                documents: n(at + 7),
                arrays: n(at + 8),
                keys: n(at + 9),
            });
        }
    }
    Ok(out)
}

/// Counts per column in [`sample_sql`], in [`Shape`] field order.
const COUNTS: usize = 10;

/// `SELECT <row count>, <COUNTS counts per column> FROM (<at most SAMPLE_ROWS rows>) sample`.
pub fn sample_sql(d: Dialect, table: &str, columns: &[&Column]) -> String {
    let inner: Vec<String> = match columns.is_empty() {
        true => vec!["1 AS s".to_owned()],
        false => columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS s{i}", as_text(d, &d.ident(&c.name))))
            .collect(),
    };
    let mut counts = vec![d.as_text("COUNT(*)")];
    for i in 0..columns.len() {
        let s = format!("s{i}");
        let re = |pattern: &str| matches(d, &s, pattern, false);
        let first = |chars: &str| format!("LEFT(TRIM({s}), 1) IN ({chars})");
        let predicates = [
            None,
            Some(re(EMAIL)),
            Some(re(EMAIL_IN)),
            Some(format!(
                "{} AND {} AND {} AND NOT {}",
                re(PHONE),
                re(DIGITS7),
                re(PHONE_SEP),
                re(DATE)
            )),
            Some(re(PHONE_IN)),
            Some(format!(
                "({} OR ({} AND NOT {}))",
                re(IPV4),
                re(IPV6),
                re(TIME)
            )),
            Some(re(IP_IN)),
            Some(first("'{', '['")),
            Some(first("'['")),
            Some(matches(d, &s, KEYS, true)),
        ];
        for p in predicates {
            let count = match p {
                None => format!("COUNT({s})"),
                Some(p) => format!("COALESCE({}, 0)", d.count_if(&p)),
            };
            counts.push(d.as_text(&count));
        }
    }
    format!(
        "SELECT {} FROM (SELECT {} FROM {table} LIMIT {SAMPLE_ROWS}) AS sample",
        counts.join(", "),
        inner.join(", ")
    )
}

/// The first [`SAMPLE_CHARS`] characters of a value as text.
fn as_text(d: Dialect, x: &str) -> String {
    match d {
        Dialect::Postgres => format!("LEFT(CAST({x} AS text), {SAMPLE_CHARS})"),
        Dialect::MySql => format!("LEFT(CONVERT({x} USING utf8mb4), {SAMPLE_CHARS})"),
    }
}

/// `x` matches `pattern` (MySQL: under the connection's case-insensitive default collation).
fn matches(d: Dialect, x: &str, pattern: &str, ignore_case: bool) -> String {
    match (d, ignore_case) {
        (Dialect::Postgres, false) => format!("({x} ~ {})", d.literal(pattern)),
        (Dialect::Postgres, true) => format!("({x} ~* {})", d.literal(pattern)),
        (Dialect::MySql, false) => format!("({x} REGEXP {})", d.literal(pattern)),
        (Dialect::MySql, true) => format!("({x} REGEXP {})", d.literal(&format!("(?i){pattern}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_bounded_and_returns_counts_only() {
        let c = Column {
            name: "e\"mail".into(),
            kind: ColumnKind::Text,
            ..Column::default()
        };
        for d in [Dialect::Postgres, Dialect::MySql] {
            let sql = sample_sql(d, "t", &[&c]);
            assert!(sql.contains(&format!("LIMIT {SAMPLE_ROWS})")), "{sql}");
            assert!(sql.contains(&format!("{SAMPLE_CHARS})")), "{sql}");
            // One row count, then ten counts per column: every output is an aggregate.
            let outer = sql.split(" FROM (SELECT ").next().unwrap();
            assert_eq!(
                outer.matches("COUNT(").count() + outer.matches("SUM(").count(),
                11
            );
            assert!(!sql.contains('\\'), "no backslash: {sql}");
        }
        assert!(sample_sql(Dialect::Postgres, "t", &[&c]).contains("\"e\"\"mail\""));
    }

    #[test]
    fn only_text_like_columns_are_sampled() {
        let of = |kind| Column {
            kind,
            ..Column::default()
        };
        assert!(sampled(Dialect::MySql, &of(ColumnKind::Text)));
        assert!(sampled(Dialect::MySql, &of(ColumnKind::Json)));
        assert!(!sampled(Dialect::MySql, &of(ColumnKind::Other)));
        assert!(sampled(Dialect::Postgres, &of(ColumnKind::Other)));
        assert!(!sampled(Dialect::Postgres, &of(ColumnKind::Integer)));
        assert!(!sampled(Dialect::Postgres, &of(ColumnKind::Binary)));
    }
}
