//! The constraints masked values must satisfy, evaluated over every row before any change: one
//! read-only scan per written relation, projecting the table's row as the masking statement
//! would write it (masked expressions in place of masked columns) and counting, per constraint,
//! the rows that would break it (see the parent module for which constraints count).

use super::Refusal;
use crate::apply::rows_of;
use crate::catalog::ColumnKind;
use crate::classify::{MaskedColumn, TablePlan, mentions};
use crate::conn::{Db, Param};
use crate::dialect::Dialect;
use crate::expr;
use crate::rules::Strategy;
use crate::scrub::DbError;

/// One constraint, as SQL over the masked row `m`.
#[derive(Clone, Debug)]
struct Check {
    /// What it is, for messages (names only).
    label: String,
    /// True for a row the masking statement would reject.
    violated: String,
}

/// A relation holding rows the statements write: what to read it as, and its name.
struct Relation {
    /// `FROM` target (`ONLY` an inheritance parent).
    from: String,
    /// Quoted, schema-qualified.
    name: String,
}

/// Every constraint of `plan`'s table the masked values would break, with the rows breaking it.
pub async fn violations(
    db: &mut Db,
    plan: &TablePlan,
    masked: &[MaskedColumn],
) -> Result<Vec<Refusal>, DbError> {
    let columns = column_checks(db, plan, masked).await?;
    let mut out = Vec::new();
    for relation in relations(db, plan).await? {
        let mut checks = table_checks(db, plan, &relation, masked).await?;
        checks.extend(columns.iter().cloned());
        if checks.is_empty() {
            continue;
        }
        let message = scan(db, plan, masked, &relation, &checks).await?;
        out.extend(message.into_iter().map(|m| (plan.table.id.clone(), m)));
    }
    Ok(out)
}

/// PostgreSQL: each leaf partition of a partitioned table, else the table (`ONLY`, if it has
/// inheritance children). MySQL: the table.
async fn relations(db: &mut Db, plan: &TablePlan) -> Result<Vec<Relation>, DbError> {
    let d = db.dialect;
    let name = d.table(&plan.table.id.schema, &plan.table.id.name);
    if d == Dialect::MySql || !plan.table.partitioned {
        return Ok(vec![Relation {
            from: rows_of(d, plan),
            name,
        }]);
    }
    let during = format!("listing the partitions of {}", plan.display);
    let sql = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
               FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE t.isleaf AND c.relkind = 'r' ORDER BY 1";
    let rows = db.rows(&during, sql, &[Param::Text(Some(name))]).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r[0].clone())
        .map(|n| Relation {
            from: n.clone(),
            name: n,
        })
        .collect())
}

/// PostgreSQL CHECK constraints of a relation: name, expression, never validated, columns.
const PG_TABLE_CHECKS_SQL: &str = "SELECT con.conname::text, pg_get_expr(con.conbin, con.conrelid), \
       (NOT con.convalidated)::text, \
       array_to_string(ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = con.conrelid \
           AND a.attnum = ANY (con.conkey)), chr(31)) \
     FROM pg_constraint con WHERE con.conrelid = $1::regclass AND con.contype = 'c' ORDER BY 1";

/// MariaDB/MySQL CHECK constraints of a table (column-level ones are named after the column).
const MY_TABLE_CHECKS_SQL: &str = "SELECT CONSTRAINT_NAME, CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS \
     WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY 1";

/// The relation's CHECK constraints that read a masked column or were never validated.
async fn table_checks(
    db: &mut Db,
    plan: &TablePlan,
    relation: &Relation,
    masked: &[MaskedColumn],
) -> Result<Vec<Check>, DbError> {
    let during = format!("reading the CHECK constraints of {}", relation.name);
    let reads_masked = |cols: &[String]| {
        masked
            .iter()
            .any(|m| cols.iter().any(|c| c == &m.column.name))
    };
    let mut out = Vec::new();
    let rows = match db.dialect {
        Dialect::Postgres => {
            let p = [Param::Text(Some(relation.name.clone()))];
            db.rows(&during, PG_TABLE_CHECKS_SQL, &p).await?
        }
        Dialect::MySql => {
            let p = [Param::Text(Some(plan.table.id.name.clone()))];
            db.rows(&during, MY_TABLE_CHECKS_SQL, &p).await?
        }
    };
    for r in rows {
        let (name, clause) = (field(&r, 0), field(&r, 1));
        let relevant = match db.dialect {
            Dialect::Postgres => {
                field(&r, 2) == "true" || reads_masked(&crate::catalog::split_list(r[3].as_ref()))
            }
            Dialect::MySql => masked.iter().any(|m| mentions(&clause, &m.column.name)),
        };
        if relevant {
            out.push(Check {
                label: format!("CHECK constraint `{name}` of `{}`", relation.name),
                violated: format!("({clause}) IS FALSE"),
            });
        }
    }
    Ok(out)
}

/// PostgreSQL, per masked column: the type and the domains it is built on. Rows are either
/// `column`, name, NOT NULL anywhere, shortest length limit, base type; or `domain`, column,
/// domain, constraint name, constraint expression (over `VALUE`).
const PG_COLUMN_FACTS_SQL: &str = "WITH RECURSIVE chain(attname, typ, typmod, nn) AS ( \
       SELECT a.attname::text, a.atttypid, a.atttypmod, a.attnotnull FROM pg_attribute a \
       WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
         AND a.attname = ANY (string_to_array($2, chr(31))) \
       UNION ALL SELECT chain.attname, ty.typbasetype, ty.typtypmod, ty.typnotnull \
       FROM chain JOIN pg_type ty ON ty.oid = chain.typ WHERE ty.typtype = 'd') \
     SELECT 'column', chain.attname, bool_or(chain.nn)::text, \
            min(CASE WHEN ty.typname IN ('varchar', 'bpchar') AND ty.typnamespace = 'pg_catalog'::regnamespace \
                     AND chain.typmod > 4 THEN chain.typmod - 4 END)::text, \
            max(CASE WHEN ty.typtype <> 'd' THEN format_type(ty.oid, NULL) END) \
     FROM chain JOIN pg_type ty ON ty.oid = chain.typ GROUP BY chain.attname \
     UNION ALL SELECT 'domain', chain.attname, format_type(con.contypid, NULL), con.conname::text, \
            pg_get_expr(con.conbin, 0) \
     FROM chain JOIN pg_constraint con ON con.contypid = chain.typ AND con.contype = 'c'";

/// Length limits, NOT NULL and (PostgreSQL) domain CHECKs of the masked columns.
async fn column_checks(
    db: &mut Db,
    plan: &TablePlan,
    masked: &[MaskedColumn],
) -> Result<Vec<Check>, DbError> {
    match db.dialect {
        Dialect::MySql => Ok(masked.iter().flat_map(mysql_column_checks).collect()),
        Dialect::Postgres => pg_column_checks(db, plan, masked).await,
    }
}

fn mysql_column_checks(m: &MaskedColumn) -> Vec<Check> {
    let d = Dialect::MySql;
    let col = format!("m.{}", d.ident(&m.column.name));
    let mut out = Vec::new();
    let sized = m.column.sql_type.to_ascii_lowercase();
    let limited = sized.starts_with("varchar(") || sized.starts_with("char(");
    if let Some(n) = m.column.max_chars.filter(|_| limited) {
        out.extend(length_check(d, m, &col, n));
    }
    out.extend(not_null_check(m, &col, !m.column.nullable));
    out
}

async fn pg_column_checks(
    db: &mut Db,
    plan: &TablePlan,
    masked: &[MaskedColumn],
) -> Result<Vec<Check>, DbError> {
    let d = Dialect::Postgres;
    let during = format!("reading the column types and domains of {}", plan.display);
    let names: Vec<&str> = masked.iter().map(|m| m.column.name.as_str()).collect();
    let p = [
        Param::Text(Some(d.table(&plan.table.id.schema, &plan.table.id.name))),
        Param::Text(Some(names.join("\u{1f}"))),
    ];
    let rows = db.rows(&during, PG_COLUMN_FACTS_SQL, &p).await?;
    let base = |col: &str| {
        rows.iter()
            .find(|r| field(r, 0) == "column" && field(r, 1) == col)
            .map_or_else(|| "text".to_owned(), |r| field(r, 4))
    };
    let mut out = Vec::new();
    for r in &rows {
        let Some(m) = masked.iter().find(|m| m.column.name == field(r, 1)) else {
            continue;
        };
        let col = format!("m.{}", d.ident(&m.column.name));
        if field(r, 0) == "domain" {
            out.push(Check {
                label: format!(
                    "CHECK constraint `{}` of domain `{}` (column `{}`)",
                    field(r, 3),
                    field(r, 2),
                    m.column.name
                ),
                violated: format!(
                    "(SELECT ({}) IS FALSE FROM (SELECT CAST({col} AS {}) AS value) v)",
                    field(r, 4),
                    base(&m.column.name)
                ),
            });
            continue;
        }
        if let Some(n) = r[3].as_deref().and_then(|s| s.parse().ok()) {
            out.extend(length_check(d, m, &col, n));
        }
        out.extend(not_null_check(m, &col, field(r, 2) == "true"));
    }
    Ok(out)
}

/// A text column's length limit `n`, where the strategy's output could exceed it (a known
/// output length is compared without reading rows, by `classify`; `redact` keeps the length).
fn length_check(d: Dialect, m: &MaskedColumn, col: &str, n: usize) -> Option<Check> {
    let known = match &m.strategy {
        Strategy::Redact { .. } | Strategy::Null => true,
        s => s.output_chars().is_some_and(|o| o <= n),
    };
    if known || m.column.kind != ColumnKind::Text {
        return None;
    }
    // Trailing spaces beyond the limit are cut without an error, by both servers.
    let text = match d {
        Dialect::Postgres => format!("CAST({col} AS text)"),
        Dialect::MySql => col.to_owned(),
    };
    Some(Check {
        label: format!(
            "the length limit of column `{}` ({n} characters)",
            m.column.name
        ),
        violated: format!("CHAR_LENGTH(RTRIM({text})) > {n}"),
    })
}

/// NOT NULL (of the column or a domain), where the strategy could produce NULL from a value:
/// every built-in strategy keeps NULL as NULL and only NULL (`null` on NOT NULL is refused by
/// `classify`), so only raw SQL needs rows read.
fn not_null_check(m: &MaskedColumn, col: &str, not_null: bool) -> Option<Check> {
    if !not_null || !matches!(m.strategy, Strategy::Sql { .. }) {
        return None;
    }
    Some(Check {
        label: format!("NOT NULL of column `{}`", m.column.name),
        violated: format!("{col} IS NULL"),
    })
}

/// Counts, in one read-only scan of `relation`, the rows breaking each check; a message per
/// check broken, or one for a scan the server refuses.
async fn scan(
    db: &mut Db,
    plan: &TablePlan,
    masked: &[MaskedColumn],
    relation: &Relation,
    checks: &[Check],
) -> Result<Vec<String>, DbError> {
    let d = db.dialect;
    let counts: Vec<String> = checks
        .iter()
        .map(|c| d.as_text(&d.count_if(&c.violated)))
        .collect();
    let sql = format!(
        "SELECT {} FROM ({}) m",
        counts.join(", "),
        masked_rows(d, plan, masked, &relation.from)
    );
    let during = format!(
        "checking the constraints of {} against masked values",
        relation.name
    );
    let row = match db.rows(&during, &sql, &[]).await {
        Ok(rows) => rows.into_iter().next().unwrap_or_default(),
        // Time running out (a lock another session holds, the deadline) says nothing about
        // the values: the caller's failure, not a finding.
        Err(e) if e.is_timeout() => return Err(e),
        Err(e) => {
            let Some(code) = e.code.clone() else {
                return Err(e);
            };
            let constraint = e
                .constraint
                .map(|c| format!(", constraint `{c}`"))
                .unwrap_or_default();
            return Ok(vec![format!(
                "masking `{}` would fail: evaluating its constraints over the masked values of `{}` fails \
                 (SQLSTATE {code}{constraint}), and so would the masking statement; change the strategy, or \
                 drop or relax the constraint in the clone first",
                plan.display, relation.name
            )]);
        }
    };
    Ok(checks
        .iter()
        .zip(row)
        .filter_map(|(check, n)| {
            let n: u64 = n.and_then(|n| n.parse().ok()).filter(|n| *n > 0)?;
            Some(format!(
                "masking `{}` would violate {} in {n} row(s), so the run would stop partway: change the \
                 strategy, or drop or relax the constraint in the clone first",
                plan.display, check.label
            ))
        })
        .collect())
}

/// The table's rows as masking writes them: every column, masked ones by their expression.
/// PostgreSQL: `OFFSET 0` keeps the planner from inlining the expressions into every check
/// (which would compute each keyed hash once per check instead of once per row).
///
/// A JSON column walked by a routine (`crate::json`) is read as it is: the routine is created
/// only once the run starts changing the database, which preflight must not. A walk keeps every
/// document's shape (objects, arrays, nulls), so a check on a document's structure sees what
/// the run will write; a check on a scalar inside a walked document is not evaluated here.
fn masked_rows(d: Dialect, plan: &TablePlan, masked: &[MaskedColumn], from: &str) -> String {
    let walked =
        |m: &&MaskedColumn| matches!(&m.strategy, Strategy::Json(j) if !j.fixed_paths_only());
    let columns: Vec<String> = plan
        .table
        .columns
        .iter()
        .map(|c| {
            match masked
                .iter()
                .find(|m| m.column.name == c.name)
                .filter(|m| !walked(m))
            {
                Some(m) => format!(
                    "{} AS {}",
                    expr::masked(d, &m.column, &m.strategy),
                    d.ident(&c.name)
                ),
                None => d.ident(&c.name),
            }
        })
        .collect();
    let fence = match d {
        Dialect::Postgres => " OFFSET 0",
        Dialect::MySql => "",
    };
    format!("SELECT {} FROM {from}{fence}", columns.join(", "))
}

fn field(r: &[Option<String>], i: usize) -> String {
    r[i].clone().unwrap_or_default()
}
