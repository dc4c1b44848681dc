//! The MySQL/MariaDB catalog of the connection's database, read from `information_schema`.

use std::collections::BTreeMap;

use super::{Catalog, Column, ColumnKind, ForeignKey, Table, TableId, UniqueIndex, Unmaskable};
use crate::conn::Db;
use crate::scrub::DbError;

const DURING: &str = "reading the MySQL catalog";

const TABLES_SQL: &str = "SELECT TABLE_NAME, COALESCE(ENGINE, ''), DATABASE() FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' \
       AND LEFT(TABLE_NAME, 16) <> 'offpeak_masking_' ORDER BY TABLE_NAME";

const COLUMNS_SQL: &str = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, \
        CAST(CHARACTER_MAXIMUM_LENGTH AS CHAR), EXTRA \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
     ORDER BY TABLE_NAME, ORDINAL_POSITION";

const INDEXES_SQL: &str = "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, CAST(SUB_PART AS CHAR) \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 \
     ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

const TRIGGERS_SQL: &str = "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS \
     WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1, 2";

const FOREIGN_KEYS_SQL: &str = "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, \
        REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA = DATABASE() \
       AND REFERENCED_TABLE_NAME IS NOT NULL \
     ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";

pub async fn read(db: &mut Db) -> Result<Catalog, DbError> {
    let mut schema = String::new();
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for r in db.rows(DURING, TABLES_SQL, &[]).await? {
        schema = text(&r, 2);
        let id = TableId {
            schema: schema.clone(),
            name: text(&r, 0),
        };
        let transactional = text(&r, 1).eq_ignore_ascii_case("InnoDB");
        tables.insert(
            text(&r, 0),
            Table {
                id,
                transactional,
                ..Table::default()
            },
        );
    }
    for r in db.rows(DURING, COLUMNS_SQL, &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            t.columns.push(column(&r));
        }
    }
    read_indexes(db, &mut tables).await?;
    for r in db.rows(DURING, TRIGGERS_SQL, &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            t.triggers.push(text(&r, 1));
        }
    }
    let foreign_keys = foreign_keys(db.rows(DURING, FOREIGN_KEYS_SQL, &[]).await?, &schema);
    let mut unmaskable: Vec<Unmaskable> = db
        .rows(DURING, VERSIONED_SQL, &[])
        .await?
        .iter()
        .map(|r| Unmaskable {
            what: format!("system-versioned table `{}`", text(r, 0)),
            why: VERSIONED,
        })
        .collect();
    if db.count(DURING, TRIGGER_PRIVILEGE_SQL, &[]).await? == 0 {
        unmaskable.push(Unmaskable {
            what: format!("the triggers of database `{schema}`"),
            why: TRIGGERS_HIDDEN,
        });
    }
    Ok(Catalog {
        default_schema: schema,
        tables: tables.into_values().collect(),
        foreign_keys,
        materialized_views: Vec::new(),
        unmaskable,
    })
}

/// Whether this login holds TRIGGER on the database (globally or on the schema): without it,
/// `information_schema.TRIGGERS` silently leaves out the tables' triggers.
const TRIGGER_PRIVILEGE_SQL: &str = "SELECT CAST(COUNT(*) AS CHAR) FROM ( \
       SELECT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'TRIGGER' \
       UNION ALL SELECT GRANTEE FROM information_schema.SCHEMA_PRIVILEGES \
         WHERE PRIVILEGE_TYPE = 'TRIGGER' AND TABLE_SCHEMA = DATABASE()) g \
     WHERE g.GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
                              SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

pub(super) const TRIGGERS_HIDDEN: &str = "this login lacks the TRIGGER privilege, so the server hides the \
     tables' triggers from it, and a trigger offpeak cannot see could copy original values \
     elsewhere while masking updates the rows: grant TRIGGER on the database to this login";

/// MariaDB tables `WITH SYSTEM VERSIONING` (MySQL has none: the query finds nothing there).
const VERSIONED_SQL: &str = "SELECT TABLE_NAME FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'SYSTEM VERSIONED' ORDER BY TABLE_NAME";

const VERSIONED: &str = "its history keeps every earlier version of every row, which no \
     statement can rewrite: remove the versioning in the source (ALTER TABLE ... DROP SYSTEM \
     VERSIONING, which deletes the history) or leave the table out of the database the rules cover";

fn text(row: &[Option<String>], i: usize) -> String {
    row[i].clone().unwrap_or_default()
}

fn column(r: &[Option<String>]) -> Column {
    let column_type = text(r, 2);
    let extra = text(r, 6).to_ascii_uppercase();
    Column {
        name: text(r, 1),
        kind: kind(&text(r, 3).to_ascii_lowercase(), &column_type),
        sql_type: column_type,
        nullable: text(r, 4) == "YES",
        generated: extra.contains("GENERATED")
            || extra.contains("VIRTUAL")
            || extra.contains("PERSISTENT"),
        max_chars: r[5].as_deref().and_then(|s| s.parse().ok()),
        collation: None,
    }
}

fn kind(data_type: &str, column_type: &str) -> ColumnKind {
    match data_type {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            ColumnKind::Text
        }
        "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
            if column_type.contains("unsigned") =>
        {
            ColumnKind::UnsignedInteger
        }
        "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => ColumnKind::Integer,
        "decimal" | "float" | "double" => ColumnKind::Numeric,
        "date" => ColumnKind::Date,
        "datetime" | "timestamp" => ColumnKind::Timestamp,
        "json" => ColumnKind::Json,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            ColumnKind::Binary
        }
        _ => ColumnKind::Other,
    }
}

async fn read_indexes(db: &mut Db, tables: &mut BTreeMap<String, Table>) -> Result<(), DbError> {
    for r in db.rows(DURING, INDEXES_SQL, &[]).await? {
        let Some(t) = tables.get_mut(&text(&r, 0)) else {
            continue;
        };
        let name = text(&r, 1);
        if t.unique_indexes.last().is_none_or(|i| i.name != name) {
            t.unique_indexes.push(UniqueIndex {
                name: name.clone(),
                ..UniqueIndex::default()
            });
        }
        let index = t.unique_indexes.last_mut().expect("pushed above");
        match r[2].clone() {
            Some(col) => {
                if let Some(n) = r[3].as_deref().and_then(|s| s.parse().ok()) {
                    index.prefix_chars.push((col.clone(), n));
                }
                index.key_defs.push(col.clone());
                index.columns.push(col.clone());
                if name == "PRIMARY" {
                    t.primary_key.push(col);
                }
            }
            None => index.opaque_expression = true,
        }
    }
    Ok(())
}

fn foreign_keys(rows: Vec<Vec<Option<String>>>, schema: &str) -> Vec<ForeignKey> {
    let mut out: Vec<ForeignKey> = Vec::new();
    for r in rows {
        let (name, child) = (text(&r, 0), text(&r, 1));
        let same = out
            .last()
            .is_some_and(|fk| fk.name == name && fk.child.name == child);
        if !same {
            out.push(ForeignKey {
                name,
                child: TableId {
                    schema: schema.to_owned(),
                    name: child,
                },
                child_columns: Vec::new(),
                parent: TableId {
                    schema: schema.to_owned(),
                    name: text(&r, 3),
                },
                parent_columns: Vec::new(),
                match_full: false,
            });
        }
        let fk = out.last_mut().expect("pushed above");
        fk.child_columns.push(text(&r, 2));
        fk.parent_columns.push(text(&r, 4));
    }
    out
}
