//! The PostgreSQL catalog, read from `pg_catalog` (version-neutral from PostgreSQL 11 on).

use std::collections::BTreeMap;

use super::{
    Catalog, Column, ColumnKind, ForeignKey, Table, TableId, Trigger, UniqueIndex, Unmaskable,
    split_list,
};
use crate::conn::Db;
use crate::scrub::DbError;

const DURING: &str = "reading the PostgreSQL catalog";

/// Schemas never masked: the system's and offpeak's own bookkeeping.
pub(super) const USER_RELATIONS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'offpeak_masking') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

const FOREIGN_TABLE: &str = "its rows live on another server, which a development copy would \
     go on reaching with production's credentials: drop the foreign table (and its server and \
     user mapping) from the source, or move the data into an ordinary table the rules classify";
const LARGE_OBJECTS: &str = "large objects (lo_import, lo_from_bytea) have no table or column \
     a rule could name, so offpeak cannot tell what they hold: unlink them (lo_unlink) in the \
     source or store their data in a column the rules classify";

pub async fn read(db: &mut Db) -> Result<Catalog, DbError> {
    let relations = db.rows(DURING, &relations_sql(), &[]).await?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut materialized_views = Vec::new();
    for r in &relations {
        let id = TableId {
            schema: text(r, 1),
            name: text(r, 2),
        };
        if text(r, 3) == "m" {
            materialized_views.push(id);
        } else {
            tables.insert(
                text(r, 0),
                Table {
                    id,
                    transactional: true,
                    partitioned: text(r, 3) == "p",
                    ..Table::default()
                },
            );
        }
    }
    for r in db.rows(DURING, &columns_sql(), &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            t.columns.push(column(&r));
        }
    }
    for r in db.rows(DURING, &indexes_sql(), &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            add_index(t, &r);
        }
    }
    for r in db.rows(DURING, &triggers_sql(), &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            t.triggers.push(text(&r, 1));
        }
    }
    for r in db.rows(DURING, WRITE_TRIGGERS_SQL, &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            t.write_triggers.push(Trigger {
                relation: text(&r, 1),
                name: text(&r, 2),
                mode: text(&r, 3),
            });
        }
    }
    for r in db.rows(DURING, &blockers_sql(), &[]).await? {
        if let Some(t) = tables.get_mut(&text(&r, 0)) {
            t.rewrite_blockers.push(text(&r, 1));
        }
    }
    let ids: BTreeMap<String, TableId> = tables
        .iter()
        .map(|(oid, t)| (oid.clone(), t.id.clone()))
        .collect();
    for r in db.rows(DURING, CHILDREN_SQL, &[]).await? {
        if let (Some(child), Some(parent)) = (ids.get(&text(&r, 1)), tables.get_mut(&text(&r, 0))) {
            parent.children.push(child.clone());
        }
    }
    let fks = db.rows(DURING, FOREIGN_KEYS_SQL, &[]).await?;
    let foreign_keys = fks.iter().filter_map(|r| foreign_key(r, &ids)).collect();
    Ok(Catalog {
        default_schema: "public".to_owned(),
        tables: tables.into_values().collect(),
        foreign_keys,
        materialized_views,
        unmaskable: unmaskable(db).await?,
    })
}

/// Foreign tables and large objects (see the catalog's module docs).
async fn unmaskable(db: &mut Db) -> Result<Vec<Unmaskable>, DbError> {
    let foreign = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'f' AND {USER_RELATIONS} ORDER BY 1"
    );
    let mut found: Vec<Unmaskable> = db
        .rows(DURING, &foreign, &[])
        .await?
        .iter()
        .map(|r| Unmaskable {
            what: format!("foreign table `{}`", text(r, 0)),
            why: FOREIGN_TABLE,
        })
        .collect();
    let objects = db
        .count(
            DURING,
            "SELECT count(*)::text FROM pg_largeobject_metadata",
            &[],
        )
        .await?;
    if objects > 0 {
        found.push(Unmaskable {
            what: format!("{objects} large object(s)"),
            why: LARGE_OBJECTS,
        });
    }
    Ok(found)
}

fn text(row: &[Option<String>], i: usize) -> String {
    row[i].clone().unwrap_or_default()
}

fn relations_sql() -> String {
    format!(
        "SELECT c.oid::text, n.nspname::text, c.relname::text, c.relkind::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND {USER_RELATIONS} \
         ORDER BY c.oid"
    )
}

fn columns_sql() -> String {
    format!(
        "SELECT c.oid::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                (WITH RECURSIVE b(typ, typtype, typbasetype, typname) AS ( \
                   SELECT t.oid, t.typtype, t.typbasetype, t.typname \
                   UNION ALL SELECT bt.oid, bt.typtype, bt.typbasetype, bt.typname \
                   FROM b JOIN pg_type bt ON bt.oid = b.typbasetype WHERE b.typtype = 'd') \
                 SELECT typname::text FROM b WHERE typtype <> 'd'), (NOT a.attnotnull)::text, \
                (a.attgenerated <> '')::text, \
                CASE WHEN a.atttypmod > 4 AND COALESCE(bt.typname, t.typname) IN ('varchar', 'bpchar') \
                     THEN (a.atttypmod - 4)::text END, \
                CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 \
                     THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) \
                           FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace \
                           WHERE co.oid = a.attcollation) END \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND {USER_RELATIONS} \
         ORDER BY c.oid, a.attnum"
    )
}

fn column(r: &[Option<String>]) -> Column {
    Column {
        name: text(r, 1),
        sql_type: text(r, 2),
        kind: kind(&text(r, 3)),
        nullable: text(r, 4) == "true",
        generated: text(r, 5) == "true",
        max_chars: r[6].as_deref().and_then(|s| s.parse().ok()),
        collation: r[7].clone(),
    }
}

fn kind(typname: &str) -> ColumnKind {
    match typname {
        "text" | "varchar" | "bpchar" | "citext" | "name" => ColumnKind::Text,
        "int2" | "int4" | "int8" => ColumnKind::Integer,
        "numeric" | "float4" | "float8" | "money" => ColumnKind::Numeric,
        "date" => ColumnKind::Date,
        "timestamp" | "timestamptz" => ColumnKind::Timestamp,
        "json" => ColumnKind::Json,
        "jsonb" => ColumnKind::Jsonb,
        "bytea" => ColumnKind::Binary,
        "bool" => ColumnKind::Boolean,
        _ => ColumnKind::Other,
    }
}

/// Unique indexes (primary keys included), each with its key columns, the columns its
/// expressions and predicate mention, and its key definitions as text. `indnullsnotdistinct`
/// exists from PostgreSQL 15 on, hence reading it through `to_jsonb`.
fn indexes_sql() -> String {
    "SELECT i.indrelid::text, ic.relname::text, i.indisprimary::text, \
            array_to_string(ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid \
                AND (a.attnum = ANY (i.indkey::int2[]) OR a.attnum IN \
                     (SELECT d.refobjsubid FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                      AND d.objid = i.indexrelid AND d.refobjid = i.indrelid AND d.refobjsubid > 0))), chr(31)), \
            array_to_string(ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) \
                FROM generate_series(1, i.indnkeyatts) k ORDER BY k), chr(31)), \
            pg_get_expr(i.indpred, i.indrelid, true), \
            COALESCE(to_jsonb(i) ->> 'indnullsnotdistinct', 'false'), \
            array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(n, o) \
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.n \
                WHERE i.indisprimary ORDER BY u.o), chr(31)) \
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indisunique \
     ORDER BY i.indrelid, ic.relname"
        .to_owned()
}

fn add_index(t: &mut Table, r: &[Option<String>]) {
    if text(r, 2) == "true" {
        t.primary_key = split_list(r[7].as_ref());
    }
    t.unique_indexes.push(UniqueIndex {
        name: text(r, 1),
        columns: split_list(r[3].as_ref()),
        key_defs: split_list(r[4].as_ref()),
        predicate: r[5].clone(),
        prefix_chars: Vec::new(),
        nulls_not_distinct: text(r, 6) == "true",
        opaque_expression: false,
    });
}

fn triggers_sql() -> String {
    "SELECT tgrelid::text, tgname::text FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' ORDER BY 1, 2".to_owned()
}

/// Every enabled user trigger on the relations an UPDATE or TRUNCATE of a table writes: the
/// table and, through partitioning only, its partitions at every level. One row per trigger:
/// the table's OID, the relation the trigger is on (quoted), its name and its mode.
const WRITE_TRIGGERS_SQL: &str = "WITH RECURSIVE tree(root, rel) AS ( \
       SELECT c.oid, c.oid FROM pg_class c WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
       UNION ALL SELECT tree.root, i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.rel \
         JOIN pg_class p ON p.oid = i.inhrelid WHERE p.relispartition) \
     SELECT tree.root::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname), tg.tgname::text, \
            tg.tgenabled::text \
     FROM tree JOIN pg_trigger tg ON tg.tgrelid = tree.rel JOIN pg_class c ON c.oid = tree.rel \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT tg.tgisinternal AND tg.tgenabled <> 'D' ORDER BY 1, 2, 3";

/// Inheritance (not partitioning): parent OID, child OID.
const CHILDREN_SQL: &str = "SELECT i.inhparent::text, i.inhrelid::text FROM pg_inherits i \
     JOIN pg_class c ON c.oid = i.inhrelid WHERE NOT c.relispartition ORDER BY 1, 2";

/// Columns that views, rules, policies, trigger conditions or generated columns depend on, and
/// columns a child table inherits: `ALTER COLUMN ... TYPE` refuses them, so such tables are
/// masked with UPDATE instead.
fn blockers_sql() -> String {
    "SELECT DISTINCT d.refobjid::text, a.attname::text FROM pg_depend d \
     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
     WHERE d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 \
       AND d.classid IN ('pg_rewrite'::regclass, 'pg_policy'::regclass, 'pg_trigger'::regclass, 'pg_attrdef'::regclass) \
     UNION SELECT a.attrelid::text, a.attname::text FROM pg_attribute a \
     WHERE a.attinhcount > 0 AND a.attnum > 0 AND NOT a.attisdropped"
        .to_owned()
}

/// Foreign keys; one declared on or referring to a partition is the partitioned table's (its
/// root's), which the rules name.
const FOREIGN_KEYS_SQL: &str = "SELECT con.conname::text, \
        COALESCE(pg_partition_root(con.conrelid), con.conrelid)::oid::text, \
        COALESCE(pg_partition_root(con.confrelid), con.confrelid)::oid::text, \
        array_to_string(ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
            JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), chr(31)), \
        array_to_string(ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) \
            JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o), chr(31)), \
        (con.confmatchtype = 'f')::text \
     FROM pg_constraint con WHERE con.contype = 'f' AND con.conparentid = 0 ORDER BY con.conname";

fn foreign_key(r: &[Option<String>], ids: &BTreeMap<String, TableId>) -> Option<ForeignKey> {
    Some(ForeignKey {
        name: text(r, 0),
        child: ids.get(&text(r, 1))?.clone(),
        parent: ids.get(&text(r, 2))?.clone(),
        child_columns: split_list(r[3].as_ref()),
        parent_columns: split_list(r[4].as_ref()),
        match_full: text(r, 5) == "true",
    })
}
