//! `offpeak mask scaffold`: a complete, reviewed-by-the-engine starting rules file for a
//! database, from its catalog and a bounded sample of its values.
//!
//! Guarantees:
//! - **Complete.** Every table of the engine's catalog ([`Catalog::read`], the one `mask`
//!   compares the rules with) is listed with every one of its columns, so the file is
//!   default-deny from the start: a column added later is unclassified and stops the refresh.
//! - **Accepted by the engine.** The rules are parsed back with [`rules::parse_str`] and checked
//!   against the catalog with the engine's own classifier (`classify`), the check `offpeak mask`
//!   runs before changing anything. A strategy it refuses is replaced by the next that fits,
//!   down to truncating the table (and, transitively, the tables referencing it); a file the
//!   engine does not accept is never returned ([`ScaffoldError::Inconsistent`]). The checks that
//!   need a trial write (`mask`'s preflight: statistics a table's owner cannot clear because a
//!   view or policy uses the column) are not run: they are `offpeak mask`'s to report.
//! - **Personal-looking columns are masked, everything else kept.** A column counts as personal
//!   by its name (`names`) or by its sampled values (`sample`: e-mail addresses, phone numbers,
//!   IP addresses, and JSON documents, arrays and text holding any of them or keys named for
//!   them); each masked column carries comments saying why and why this strategy (`choose`).
//! - **Writes nothing.** The session is made read-only (PostgreSQL
//!   `default_transaction_read_only`, MySQL `SET SESSION TRANSACTION READ ONLY`) before anything
//!   is read, and only `SELECT`s follow: the catalog, the server's databases and logins
//!   ([`cluster::read`]), and per table one bounded sample.
//! - **Prints no sampled value.** Values are judged by the server and only counts come back
//!   (see `sample`); the file holds names, counts and the engine's own messages.
//!
//! Failure behaviour: a scrubbed [`DbError`] naming what was being read, or a table or column
//! whose name the rules file cannot express (a schema name with a dot in it, a blank name).

mod choose;
mod names;
mod render;
mod sample;

use crate::catalog::{Catalog, TableId};
use crate::classify;
use crate::cluster;
use crate::conn::Db;
use crate::dialect::Dialect;
use crate::rules;
use crate::scrub::DbError;

pub use sample::{SAMPLE_CHARS, SAMPLE_ROWS};

use choose::TableChoice;
use render::{Entry, Header, Rendered};

/// A scaffolded rules file.
#[derive(Clone, Debug)]
pub struct Scaffold {
    /// The rules file, comments included.
    pub text: String,
    pub tables: usize,
    pub masked_columns: usize,
    pub truncated_tables: usize,
}

/// Why no rules file could be made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The database URL is malformed or names an unsupported scheme.
    #[error("cannot use the database URL: {}", .0.kind)]
    BadUrl(DbError),
    #[error(transparent)]
    Database(#[from] DbError),
    /// A table or column the rules file cannot name.
    #[error("{0}")]
    Unnameable(String),
    /// The engine refused what the scaffold chose, and nothing else was left to try.
    #[error("the scaffolded rules do not pass the engine's own check (an offpeak bug): {0}")]
    Inconsistent(String),
}

impl ScaffoldError {
    /// Bad input (exit 2): the URL cannot be used at all.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ScaffoldError::BadUrl(_))
    }
}

/// Connects to `url` (the URL's own TLS settings, as `offpeak mask`), scaffolds, disconnects.
pub async fn scaffold_url(url: &str) -> Result<Scaffold, ScaffoldError> {
    let mut db = Db::connect(url).await.map_err(|e| match bad_url(&e) {
        true => ScaffoldError::BadUrl(e),
        false => ScaffoldError::Database(e),
    })?;
    let result = scaffold(&mut db).await;
    db.close().await;
    result
}

/// Connection failures that are the URL's fault, not the server's (see `conn`, `scrub`).
fn bad_url(e: &DbError) -> bool {
    e.code.is_none()
        && (e.kind == "invalid database URL or options"
            || e.kind.starts_with("unsupported URL scheme"))
}

/// Scaffolds the rules for the database `db` is connected to. Leaves the session read-only.
pub async fn scaffold(db: &mut Db) -> Result<Scaffold, ScaffoldError> {
    read_only(db).await?;
    let mut catalog = Catalog::read(db).await?;
    // What no rule can mask is no fault of the rules written here: it is said in the file, and
    // `offpeak mask` refuses to run until it is dealt with.
    let unmaskable = std::mem::take(&mut catalog.unmaskable);
    let survey = cluster::read(db).await;
    let mut tables = Vec::with_capacity(catalog.tables.len());
    for table in &catalog.tables {
        let name = rules_name(&catalog, &table.id)?;
        if let Some(c) = table.columns.iter().find(|c| c.name.trim().is_empty()) {
            return Err(ScaffoldError::Unnameable(format!(
                "table {name} has a column whose name is blank ({} characters), which a rules file cannot name",
                c.name.chars().count()
            )));
        }
        let sample = sample::sample(db, table).await?;
        tables.push(choose::table(&catalog, table, name, &sample, db.dialect));
    }
    let database = match &survey {
        Ok(s) => s.covered.clone(),
        Err(_) => catalog.default_schema.clone(),
    };
    let mut caveats = Vec::new();
    if db.dialect == Dialect::MySql && !sees_triggers(db).await? {
        caveats.extend(TRIGGERS_HIDDEN.iter().map(|l| (*l).to_owned()));
    }
    caveats.extend(unmaskable.iter().filter(|u| !u.what.starts_with("the triggers of")).map(|u| {
        format!(
            "CAUTION: {} cannot be masked, and `offpeak mask` refuses to run until it is dealt with: {}",
            u.what, u.why
        )
    }));
    let header = Header {
        dialect: db.dialect,
        mariadb: db.mariadb,
        database: &database,
        server: survey.as_ref().map_err(ToString::to_string),
        caveats,
    };
    let rendered = settle(&catalog, &header, &mut tables)?;
    let truncated = tables.iter().filter(|t| t.truncate.is_some()).count();
    let masked = tables
        .iter()
        .filter(|t| t.truncate.is_none())
        .map(|t| t.columns.iter().filter(|c| c.choice().is_some()).count())
        .sum();
    Ok(Scaffold {
        text: rendered.text,
        tables: tables.len(),
        masked_columns: masked,
        truncated_tables: truncated,
    })
}

/// Every later statement of the session runs in a read-only transaction.
async fn read_only(db: &mut Db) -> Result<(), DbError> {
    let sql = match db.dialect {
        Dialect::Postgres => "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        Dialect::MySql => "SET SESSION TRANSACTION READ ONLY",
    };
    db.execute("making the session read-only", sql, &[]).await?;
    Ok(())
}

const TRIGGERS_HIDDEN: &[&str] = &[
    "CAUTION: this login lacks the TRIGGER privilege, and MySQL/MariaDB show triggers only to logins",
    "that have it. A table with triggers cannot be masked (only truncated); where one is classified",
    "with masked columns here, `offpeak mask` refuses and names it. Scaffold as the clone's master",
    "user to see them.",
];

/// MySQL: whether this login may see the database's triggers (`information_schema.TRIGGERS`
/// lists them only to holders of the TRIGGER privilege, global or on the database).
async fn sees_triggers(db: &mut Db) -> Result<bool, DbError> {
    let sql = "SELECT CAST((SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES \
                            WHERE PRIVILEGE_TYPE = 'TRIGGER') \
                         + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES \
                            WHERE PRIVILEGE_TYPE = 'TRIGGER' AND DATABASE() LIKE TABLE_SCHEMA) AS CHAR)";
    Ok(db
        .count("reading this login's privileges", sql, &[])
        .await?
        > 0)
}

/// How the rules file names a table: bare in the default schema, else `schema.table` (also
/// for a table whose own name has a dot, which the rules split at the first dot).
fn rules_name(catalog: &Catalog, id: &TableId) -> Result<String, ScaffoldError> {
    if id.schema.contains('.') || id.name.trim().is_empty() {
        return Err(ScaffoldError::Unnameable(format!(
            "table {}: a rules file cannot name a table whose schema name has a dot or whose name is blank",
            render::shown(&format!("{}.{}", id.schema, id.name))
        )));
    }
    Ok(
        match id.schema == catalog.default_schema && !id.name.contains('.') {
            true => id.name.clone(),
            false => format!("{}.{}", id.schema, id.name),
        },
    )
}

/// Rounds of "render, let the engine judge, take the next option where it refuses" at most.
const MAX_ROUNDS: usize = 64;

/// Renders the choices and has the engine check them, replacing every strategy it refuses with
/// the column's next option (or truncating the table when none is left) until it accepts.
fn settle(
    catalog: &Catalog,
    header: &Header<'_>,
    tables: &mut [TableChoice],
) -> Result<Rendered, ScaffoldError> {
    let path = "scaffold";
    for _ in 0..MAX_ROUNDS {
        choose::cascade(catalog, tables);
        let rendered = render::render(header, tables);
        let rules = rules::parse_str(&rendered.text, path)
            .map_err(|e| ScaffoldError::Inconsistent(e.to_string()))?;
        let findings = match classify::classify(&rules, catalog, header.dialect) {
            Ok(_) => return Ok(rendered),
            Err(findings) => findings,
        };
        let mut progressed = false;
        let mut demoted: Vec<(usize, usize)> = Vec::new();
        for f in &findings {
            match rendered.entry(f.line) {
                Some(Entry::Column(t, c)) if !demoted.contains(&(t, c)) => {
                    demoted.push((t, c));
                    demote(&mut tables[t], c, &f.message);
                    progressed = true;
                }
                Some(Entry::Column(..)) => progressed = true,
                Some(Entry::Table(t)) if tables[t].truncate.is_none() => {
                    tables[t].truncate = Some(format!("truncated: {}", unprefixed(&f.message)));
                    progressed = true;
                }
                _ => {}
            }
        }
        if !progressed {
            let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
            return Err(ScaffoldError::Inconsistent(lines.join("\n")));
        }
    }
    Err(ScaffoldError::Inconsistent(
        "no agreement with the engine after many rounds".to_owned(),
    ))
}

/// The engine refused column `c`'s strategy: take its next option, or truncate the table.
fn demote(table: &mut TableChoice, c: usize, message: &str) {
    let column = &mut table.columns[c];
    let refused = column.choice().map(|ch| ch.strategy.name()).unwrap_or("?");
    column.passed_over.push(format!(
        "not `{refused}`: the engine refuses it ({})",
        unprefixed(message)
    ));
    column.at += 1;
    if column.choice().is_none() && table.truncate.is_none() {
        table.truncate = Some(format!(
            "truncated: the engine refuses every strategy that would fit `{}` ({})",
            column.name,
            unprefixed(message)
        ));
    }
}

/// A finding's message without its leading `` `table.column`: `` subject.
fn unprefixed(message: &str) -> &str {
    match message.strip_prefix('`').and_then(|m| m.split_once("`: ")) {
        Some((_, rest)) => rest,
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fixtures::{col, unique};
    use crate::catalog::{ColumnKind, Table, UniqueIndex};
    use crate::cluster::{Login, Survey};
    use sample::{Shape, TableSample};

    fn id(schema: &str, name: &str) -> TableId {
        TableId {
            schema: schema.into(),
            name: name.into(),
        }
    }

    fn survey() -> Survey {
        Survey {
            dialect: Dialect::Postgres,
            covered: "shop".into(),
            others: vec!["postgres".into(), "analytics".into()],
            logins: vec![Login {
                user: "app_ro".into(),
                host: None,
                enabled: true,
            }],
            sees_everything: true,
        }
    }

    /// Scaffolds a catalog with given samples, as `scaffold` does after reading.
    fn run(catalog: &Catalog, samples: &[TableSample], d: Dialect) -> (String, Vec<TableChoice>) {
        let mut tables: Vec<TableChoice> = catalog
            .tables
            .iter()
            .zip(samples)
            .map(|(t, s)| {
                let name = rules_name(catalog, &t.id).unwrap();
                choose::table(catalog, t, name, s, d)
            })
            .collect();
        let s = survey();
        let header = Header {
            dialect: d,
            mariadb: false,
            database: "shop",
            server: Ok(&s),
            caveats: Vec::new(),
        };
        let rendered = settle(catalog, &header, &mut tables).unwrap();
        (rendered.text, tables)
    }

    #[test]
    fn the_scaffold_is_complete_and_the_engine_accepts_it() {
        let users = Table {
            id: id("public", "users"),
            columns: vec![
                col("id", ColumnKind::Integer, false),
                col("email", ColumnKind::Text, false),
                col("name", ColumnKind::Text, true),
                col("notes", ColumnKind::Text, true),
                col("status", ColumnKind::Text, false),
            ],
            primary_key: vec!["id".into()],
            unique_indexes: vec![unique("users_email_key", "email")],
            transactional: true,
            ..Table::default()
        };
        let odd = Table {
            id: id("営業", "a.b"),
            columns: vec![col("null", ColumnKind::Text, true)],
            transactional: true,
            ..Table::default()
        };
        let catalog = Catalog {
            default_schema: "public".into(),
            tables: vec![users, odd],
            ..Catalog::default()
        };
        let samples = [
            TableSample {
                rows: 3,
                shapes: vec![
                    None,
                    Some(Shape {
                        values: 3,
                        email: 3,
                        email_in: 3,
                        ..Shape::default()
                    }),
                    Some(Shape {
                        values: 3,
                        ..Shape::default()
                    }),
                    Some(Shape {
                        values: 2,
                        phone_in: 1,
                        ..Shape::default()
                    }),
                    Some(Shape {
                        values: 3,
                        ..Shape::default()
                    }),
                ],
            },
            TableSample {
                rows: 0,
                shapes: vec![None],
            },
        ];
        let (text, _) = run(&catalog, &samples, Dialect::Postgres);
        let rules = rules::parse_str(&text, "s.yaml").unwrap();
        assert_eq!(rules.salt_secret.as_deref(), Some("offpeak/masking-salt"));
        assert!(classify::classify(&rules, &catalog, Dialect::Postgres).is_ok());
        assert!(text.contains("  users:\n"), "{text}");
        assert!(text.contains("    keep: [id, status]\n"), "{text}");
        assert!(text.contains("      email: email\n"), "{text}");
        assert!(text.contains("      name: name\n"), "{text}");
        assert!(text.contains("      notes: null\n"), "{text}");
        assert!(
            text.contains("3 of 3 sampled values are e-mail addresses"),
            "{text}"
        );
        assert!(
            text.contains("unique index `users_email_key` covers it"),
            "{text}"
        );
        assert!(
            text.contains("  \"営業.a.b\":\n    keep: [\"null\"]\n"),
            "{text}"
        );
        assert!(text.contains("  drop: [postgres, analytics]\n"), "{text}");
        assert!(text.contains("Logins found: `app_ro`."), "{text}");
        let names: Vec<&str> = rules
            .databases
            .drop
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(names, ["postgres", "analytics"]);
    }

    #[test]
    fn what_the_engine_refuses_is_replaced_until_it_accepts() {
        // MySQL: a unique index the catalog cannot inspect refuses masking any column of the
        // table; the scaffold's own checks do not know that, the engine's do.
        let t = Table {
            id: id("shop", "people"),
            columns: vec![
                col("id", ColumnKind::Integer, false),
                col("email", ColumnKind::Text, true),
            ],
            primary_key: vec!["id".into()],
            unique_indexes: vec![UniqueIndex {
                name: "functional".into(),
                opaque_expression: true,
                ..UniqueIndex::default()
            }],
            transactional: true,
            ..Table::default()
        };
        let catalog = Catalog {
            default_schema: "shop".into(),
            tables: vec![t],
            ..Catalog::default()
        };
        let samples = [TableSample {
            rows: 0,
            shapes: vec![None, None],
        }];
        let (text, tables) = run(&catalog, &samples, Dialect::MySql);
        assert!(text.contains("  people: truncate\n"), "{text}");
        let why = tables[0].truncate.as_deref().unwrap();
        assert!(
            why.contains("engine refuses every strategy") && why.contains("functional"),
            "{why}"
        );
    }

    #[test]
    fn only_url_mistakes_are_bad_input() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for url in [
            "http://example.com/db",
            "postgres://u@localhost:notaport/db",
        ] {
            let err = rt.block_on(scaffold_url(url)).unwrap_err();
            assert!(err.is_bad_input(), "{url}: {err}");
        }
        let refused = rt
            .block_on(scaffold_url("postgres://u@127.0.0.1:1/db"))
            .unwrap_err();
        assert!(!refused.is_bad_input(), "{refused}");
    }

    #[test]
    fn a_finding_loses_its_subject() {
        assert_eq!(
            unprefixed("`t.c`: strategy `x` is bad"),
            "strategy `x` is bad"
        );
        assert_eq!(
            unprefixed("table `t` is truncated"),
            "table `t` is truncated"
        );
    }
}
