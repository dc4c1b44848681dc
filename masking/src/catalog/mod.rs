//! What the live database holds: tables, columns and the constraints masking must respect.
//!
//! The catalog is read once per run, before anything changes, and is the ground truth the rules
//! are compared with (default-deny: every column of every table must be classified). offpeak's
//! own bookkeeping tables and system schemas are not part of it; partitions are covered by their
//! parent. Tables an extension owns are tables like any other: the rules classify them too.
//!
//! What can hold data but no rule can mask is listed as [`Unmaskable`], and every run is refused
//! while one exists: PostgreSQL foreign tables (their rows live on another server, which a dev
//! copy would go on reaching with production's credentials) and large objects, MariaDB
//! system-versioned tables (their history keeps every earlier version of every row), and on
//! MySQL/MariaDB a login without the TRIGGER privilege (the server hides triggers from it).

#[cfg(test)]
pub(crate) mod fixtures;
mod mysql;
mod postgres;
pub mod residue;

use super::conn::Db;
use super::dialect::Dialect;
use super::scrub::DbError;

/// A table's identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    pub schema: String,
    pub name: String,
}

/// The database's tables and the relations between them.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Schema a bare table name in the rules refers to (`public`, or the MySQL database).
    pub default_schema: String,
    pub tables: Vec<Table>,
    pub foreign_keys: Vec<ForeignKey>,
    /// PostgreSQL materialized views: refreshed after masking so they hold masked data.
    pub materialized_views: Vec<TableId>,
    /// What holds data that no rule can mask: each refuses the run.
    pub unmaskable: Vec<Unmaskable>,
}

/// Something in the database that can hold personal data and that offpeak cannot mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmaskable {
    /// What it is and its name, e.g. "foreign table `public.crm_contacts`".
    pub what: String,
    /// Why it cannot be masked, and what to do.
    pub why: &'static str,
}

/// A user trigger and the mode it must be left in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trigger {
    /// The relation it is defined on, quoted and schema-qualified.
    pub relation: String,
    pub name: String,
    /// `pg_trigger.tgenabled`: `O` (origin), `A` (always), `R` (replica).
    pub mode: String,
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub id: TableId,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub unique_indexes: Vec<UniqueIndex>,
    /// Names of the table's own enabled user triggers (MySQL cannot disable them: a masked
    /// table with one is refused).
    pub triggers: Vec<String>,
    /// PostgreSQL: every enabled user trigger on a relation masking writes when it writes this
    /// table: the table itself and, for a partitioned table, every partition at every level
    /// (an inheritance child is written by its own plan, never through its parent). Masking
    /// disables them and restores each one's mode.
    pub write_triggers: Vec<Trigger>,
    /// PostgreSQL: a partitioned table (its statements cover its partitions).
    pub partitioned: bool,
    /// PostgreSQL: the tables inheriting from this one directly (not partitions): statements
    /// masking or truncating this table name it `ONLY`, so each child is left to its own rule.
    pub children: Vec<TableId>,
    /// Columns other objects depend on in a way that forbids rewriting them in place
    /// (PostgreSQL views, policies, trigger conditions, generated columns).
    pub rewrite_blockers: Vec<String>,
    /// False for storage engines without transactions (MyISAM): resumable chunks need them.
    pub transactional: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Column {
    pub name: String,
    /// The type as the database spells it, e.g. `character varying(255)`, `varchar(255)`.
    pub sql_type: String,
    pub kind: ColumnKind,
    pub max_chars: Option<usize>,
    pub nullable: bool,
    pub generated: bool,
    /// PostgreSQL: `COLLATE ...` when not the type's default (kept through a rewrite).
    pub collation: Option<String>,
}

/// The families of types strategies are defined for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Integer,
    /// MySQL `UNSIGNED` integers.
    UnsignedInteger,
    Numeric,
    Date,
    Timestamp,
    /// PostgreSQL `json` / MySQL `JSON`.
    Json,
    /// PostgreSQL `jsonb`.
    Jsonb,
    Binary,
    Boolean,
    #[default]
    Other,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UniqueIndex {
    pub name: String,
    /// Every column the index key, its expressions or its predicate mention.
    pub columns: Vec<String>,
    /// Key definitions as text: a column name, or an expression such as `lower(email)`.
    pub key_defs: Vec<String>,
    /// The partial-index predicate, if any.
    pub predicate: Option<String>,
    /// Characters of a column the index covers (MySQL prefix indexes), by column.
    pub prefix_chars: Vec<(String, usize)>,
    /// PostgreSQL 15 `NULLS NOT DISTINCT`: NULLs collide.
    pub nulls_not_distinct: bool,
    /// The index uses expressions whose columns the catalog cannot name (MySQL functional keys).
    pub opaque_expression: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKey {
    pub name: String,
    pub child: TableId,
    pub child_columns: Vec<String>,
    pub parent: TableId,
    pub parent_columns: Vec<String>,
    /// MATCH FULL: a partly NULL key is a violation.
    pub match_full: bool,
}

/// An unmaskable entry about the reading login's privileges, not about the database: a MySQL
/// login without TRIGGER is shown no triggers.
pub fn login_blind(u: &Unmaskable) -> bool {
    u.why == mysql::TRIGGERS_HIDDEN
}

impl Catalog {
    /// Reads the catalog through `db`.
    pub async fn read(db: &mut Db) -> Result<Catalog, DbError> {
        match db.dialect {
            Dialect::Postgres => postgres::read(db).await,
            Dialect::MySql => mysql::read(db).await,
        }
    }

    pub fn table(&self, id: &TableId) -> Option<&Table> {
        self.tables.iter().find(|t| &t.id == id)
    }

    /// How a table is named in rules and messages: bare in the default schema.
    pub fn display(&self, id: &TableId) -> String {
        if id.schema == self.default_schema {
            id.name.clone()
        } else {
            format!("{}.{}", id.schema, id.name)
        }
    }

    /// Resolves a rules table name (`t` or `schema.t`).
    pub fn resolve(&self, name: &str) -> TableId {
        match name.split_once('.') {
            Some((schema, table)) => TableId {
                schema: schema.to_owned(),
                name: table.to_owned(),
            },
            None => TableId {
                schema: self.default_schema.clone(),
                name: name.to_owned(),
            },
        }
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Splits a `chr(31)`-joined list read back from the catalog.
pub(crate) fn split_list(text: Option<&String>) -> Vec<String> {
    match text {
        Some(t) if !t.is_empty() => t.split('\u{1f}').map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}
