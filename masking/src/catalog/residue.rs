//! PostgreSQL: where a table's original values can outlive its rows, read from the catalog.
//!
//! - **Statistics.** `ANALYZE` replaces a column's statistics only when it samples rows and the
//!   column's statistics target is not 0. So the statistics of an emptied (truncated) table, the
//!   inherited statistics of a parent whose whole tree is empty, and those of a masked column
//!   (or of an expression index or extended statistics object over it) that `ANALYZE` skips,
//!   keep values computed from originals. [`stale_statistics`] finds them; [`clearings`] says how
//!   a table's owner removes them without superuser: `ALTER TABLE ... ALTER COLUMN ... TYPE` to
//!   the column's own type deletes the column's statistics and rebuilds the indexes and
//!   statistics objects over it (no table rewrite), issued on the table where the column is not
//!   inherited (it recurses to the children).
//! - **Dropped columns and old row versions.** A dropped column's values, and the row versions
//!   an `UPDATE` replaced (with their TOAST chunks), stay in the files until the table is
//!   rewritten. `VACUUM FULL` is not enough: it copies every row version another session's
//!   snapshot may still see. [`needing_rewrite`] lists the tables to rewrite, [`rewrite_roots`]
//!   where to issue the rewrite (`ALTER TABLE` on a partition is refused).
//! - **Materialized views** hold what their query returned when last refreshed:
//!   [`materialized_views`] gives their dependencies, for refreshing in order and for checking
//!   them against the originals of the columns they read.
//!
//! Everything here reads names and counts, never values.

use std::collections::BTreeMap;

use super::TableId;
use crate::conn::{Db, Param};
use crate::dialect::Dialect;
use crate::scrub::DbError;

const DURING: &str = "reading where original values could remain";

/// A table the run changes: masks (`masked` columns) or empties (`emptied`).
#[derive(Clone, Debug)]
pub struct Seed {
    pub id: TableId,
    pub masked: Vec<String>,
    pub emptied: bool,
}

/// A relation of an inheritance tree (inheritance or partitioning) that holds a changed table,
/// with what its statistics depend on.
#[derive(Clone, Debug, PartialEq)]
pub struct Scoped {
    /// `schema.name`, quoted where needed (`format('%I.%I')`).
    pub name: String,
    /// It has no rows of its own (or will have none once the run has emptied its tables).
    pub own_empty: bool,
    /// Neither it nor any relation below it has rows.
    pub tree_empty: bool,
    /// It is a changed table or under one: its own rows were masked or removed. (Elsewhere in
    /// the tree, a table's own statistics describe rows the rules keep.)
    pub under_changed: bool,
    /// It is a changed table, under one or above one: its inherited statistics cover rows that
    /// were masked or removed.
    pub over_changed: bool,
    /// Columns masked in a changed table it descends from, is, or is an ancestor of.
    pub masked: Vec<String>,
    /// `ANALYZE` refreshes it after the run: a table (not a partition, which its partitioned
    /// parent's `ANALYZE` covers). Every table of the tree: removing a parent's statistics
    /// removes its children's too.
    pub analyze: bool,
}

/// The relations of every inheritance tree holding one of `seeds`.
pub async fn scope(db: &mut Db, seeds: &[Seed]) -> Result<Vec<Scoped>, DbError> {
    if seeds.is_empty() {
        return Ok(Vec::new());
    }
    let d = Dialect::Postgres;
    let names: Vec<String> = seeds
        .iter()
        .map(|s| d.table(&s.id.schema, &s.id.name))
        .collect();
    let rows = db
        .rows(
            DURING,
            TREES_SQL,
            &[Param::Text(Some(names.join("\u{1f}")))],
        )
        .await?;
    let mut relations: BTreeMap<String, Tree> = BTreeMap::new();
    for r in &rows {
        let seeds_of = |i: usize| -> Vec<usize> {
            super::split_list(r[i].as_ref())
                .iter()
                .filter_map(|s| s.parse::<usize>().ok())
                .map(|o| o - 1)
                .collect()
        };
        relations.entry(text(r, 0)).or_insert(Tree {
            kind: text(r, 1),
            partition: text(r, 2) == "true",
            parents: super::split_list(r[3].as_ref()),
            below: seeds_of(4),
            above: seeds_of(5),
        });
    }
    let mut own_empty = BTreeMap::new();
    for (name, t) in &relations {
        let empty = match t.kind.as_str() {
            "p" => true,
            "r" if t.below.iter().any(|&s| seeds[s].emptied) => true,
            "r" => !has_rows(db, name).await?,
            // Foreign tables and anything else: never read, never counted as empty.
            _ => false,
        };
        own_empty.insert(name.clone(), empty);
    }
    Ok(relations
        .iter()
        .map(|(name, t)| {
            let mut masked: Vec<String> = t
                .below
                .iter()
                .chain(&t.above)
                .flat_map(|&s| seeds[s].masked.iter().cloned())
                .collect();
            masked.sort();
            masked.dedup();
            Scoped {
                name: name.clone(),
                own_empty: own_empty[name],
                tree_empty: tree_empty(name, &relations, &own_empty),
                under_changed: !t.below.is_empty(),
                over_changed: !(t.below.is_empty() && t.above.is_empty()),
                masked,
                analyze: !t.partition && matches!(t.kind.as_str(), "r" | "p"),
            }
        })
        .collect())
}

struct Tree {
    kind: String,
    partition: bool,
    parents: Vec<String>,
    /// Seeds (by index) it descends from or is.
    below: Vec<usize>,
    /// Seeds it is an ancestor of or is.
    above: Vec<usize>,
}

fn tree_empty(
    name: &str,
    relations: &BTreeMap<String, Tree>,
    own_empty: &BTreeMap<String, bool>,
) -> bool {
    own_empty[name]
        && relations
            .iter()
            .filter(|(_, t)| t.parents.iter().any(|p| p == name))
            .all(|(child, _)| tree_empty(child, relations, own_empty))
}

async fn has_rows(db: &mut Db, name: &str) -> Result<bool, DbError> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM ONLY {name})::text");
    Ok(db.value(DURING, &sql, &[]).await?.as_deref() == Some("true"))
}

fn text(row: &[Option<String>], i: usize) -> String {
    row[i].clone().unwrap_or_default()
}

/// `$1`: the seeds, quoted names joined by `chr(31)`. One row per relation of every tree that
/// holds a seed (a relation under two roots comes twice): name, kind, partition, parents, and the
/// 1-based seeds it descends from (or is) and is an ancestor of (or is).
const TREES_SQL: &str = "
WITH RECURSIVE seeds(seed, ord) AS (
  SELECT x::regclass::oid, o FROM unnest(string_to_array($1, chr(31))) WITH ORDINALITY u(x, o)),
up(ord, rel) AS (
  SELECT ord, seed FROM seeds
  UNION SELECT u.ord, i.inhparent FROM up u JOIN pg_inherits i ON i.inhrelid = u.rel),
down(ord, rel) AS (
  SELECT ord, seed FROM seeds
  UNION SELECT d.ord, i.inhrelid FROM down d JOIN pg_inherits i ON i.inhparent = d.rel),
roots AS (SELECT DISTINCT rel FROM up u WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = u.rel)),
tree(rel) AS (
  SELECT rel FROM roots
  UNION SELECT i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.rel)
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relispartition::text,
       array_to_string(ARRAY(SELECT format('%I.%I', pn.nspname, p.relname) FROM pg_inherits i
           JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
           WHERE i.inhrelid = c.oid ORDER BY 1), chr(31)),
       array_to_string(ARRAY(SELECT DISTINCT ord::text FROM down WHERE down.rel = c.oid), chr(31)),
       array_to_string(ARRAY(SELECT DISTINCT ord::text FROM up WHERE up.rel = c.oid), chr(31))
FROM (SELECT DISTINCT rel FROM tree) t JOIN pg_class c ON c.oid = t.rel
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1";

/// A statistic computed from values the run removes or masks that `ANALYZE` will not replace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stale {
    /// The relation holding the column (`format('%I.%I')`).
    pub relation: String,
    pub column: String,
    /// `column`, `index <name>` or `statistics <name>`: where the statistic is kept.
    pub kept_in: String,
}

/// Every statistic of `scope` that holds values from before the run and that `ANALYZE` will not
/// recompute (see the module docs). Read through `pg_stats` and `pg_stats_ext`, which show a
/// table's owner its own statistics.
pub async fn stale_statistics(db: &mut Db, scope: &[Scoped]) -> Result<Vec<Stale>, DbError> {
    if scope.is_empty() {
        return Ok(Vec::new());
    }
    let d = Dialect::Postgres;
    let values: Vec<String> = scope
        .iter()
        .map(|s| {
            let masked: Vec<String> = s.masked.iter().map(|m| d.literal(m)).collect();
            // Own statistics matter where the table's own rows changed, inherited ones where
            // any row of its tree did.
            format!(
                "({}::regclass, {}, {}, ARRAY[{}]::text[])",
                d.literal(&s.name),
                s.own_empty && s.under_changed,
                s.tree_empty && s.over_changed,
                masked.join(", ")
            )
        })
        .collect();
    let sql = STALE_SQL.replace("{scope}", &values.join(", "));
    let rows = db.rows(DURING, &sql, &[]).await?;
    let mut out: Vec<Stale> = rows
        .iter()
        .map(|r| Stale {
            relation: text(r, 0),
            column: text(r, 1),
            kept_in: text(r, 2),
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// `{scope}`: `(relation, own statistics stale if any, inherited ones stale if any, masked
/// columns)` rows. Column statistics, then
/// expression-index statistics, then extended statistics (by the columns they are built on).
/// `attstattarget` / `stxstattarget` are 0 where `ANALYZE` skips them; `pg_stats_ext.inherited`
/// and `stxstattarget` are read through `to_jsonb` so that older servers, which lack them, work.
const STALE_SQL: &str = "
WITH scope(rel, own_stale, tree_stale, masked) AS (VALUES {scope})
SELECT format('%I.%I', n.nspname, c.relname), a.attname::text, 'column'
FROM scope s JOIN pg_class c ON c.oid = s.rel JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_stats st ON st.schemaname = n.nspname AND st.tablename = c.relname
JOIN pg_attribute a ON a.attrelid = s.rel AND a.attname = st.attname AND a.attnum > 0
WHERE (NOT st.inherited AND s.own_stale) OR (st.inherited AND s.tree_stale)
   OR (a.attname::text = ANY (s.masked) AND a.attstattarget = 0)
UNION
SELECT format('%I.%I', n.nspname, c.relname), ta.attname::text, 'index ' || ic.relname
FROM scope s JOIN pg_class c ON c.oid = s.rel JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indrelid = s.rel JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace inn ON inn.oid = ic.relnamespace
JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = i.indexrelid
     AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid = s.rel AND dep.refobjsubid > 0
JOIN pg_attribute ta ON ta.attrelid = s.rel AND ta.attnum = dep.refobjsubid
WHERE EXISTS (
  SELECT 1 FROM pg_stats st JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attname = st.attname
  WHERE st.schemaname = inn.nspname AND st.tablename = ic.relname
    AND (s.own_stale OR (ia.attstattarget = 0 AND EXISTS (
      SELECT 1 FROM pg_depend d2 JOIN pg_attribute a2 ON a2.attrelid = s.rel AND a2.attnum = d2.refobjsubid
      WHERE d2.classid = 'pg_class'::regclass AND d2.objid = i.indexrelid AND d2.refobjid = s.rel
        AND a2.attname::text = ANY (s.masked)))))
UNION
SELECT format('%I.%I', n.nspname, c.relname), ta.attname::text, 'statistics ' || x.stxname
FROM scope s JOIN pg_class c ON c.oid = s.rel JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_statistic_ext x ON x.stxrelid = s.rel JOIN pg_namespace xn ON xn.oid = x.stxnamespace
JOIN pg_depend dep ON dep.classid = 'pg_statistic_ext'::regclass AND dep.objid = x.oid
     AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid = s.rel AND dep.refobjsubid > 0
JOIN pg_attribute ta ON ta.attrelid = s.rel AND ta.attnum = dep.refobjsubid
WHERE EXISTS (
  SELECT 1 FROM pg_stats_ext e
  WHERE e.statistics_schemaname = xn.nspname AND e.statistics_name = x.stxname
    AND ((NOT COALESCE((to_jsonb(e) ->> 'inherited')::boolean, false) AND s.own_stale)
      OR (COALESCE((to_jsonb(e) ->> 'inherited')::boolean, false) AND s.tree_stale)
      OR (EXISTS (
            SELECT 1 FROM pg_depend d2 JOIN pg_attribute a2 ON a2.attrelid = s.rel AND a2.attnum = d2.refobjsubid
            WHERE d2.classid = 'pg_statistic_ext'::regclass AND d2.objid = x.oid AND d2.refobjid = s.rel
              AND a2.attname::text = ANY (s.masked))
          AND (COALESCE((to_jsonb(x) ->> 'stxstattarget')::int, -1) = 0 OR EXISTS (
            SELECT 1 FROM pg_depend d3 JOIN pg_attribute a3 ON a3.attrelid = s.rel AND a3.attnum = d3.refobjsubid
            WHERE d3.classid = 'pg_statistic_ext'::regclass AND d3.objid = x.oid AND d3.refobjid = s.rel
              AND a3.attstattarget = 0)))))
ORDER BY 1, 2, 3";

/// One statement removing stale statistics: the columns of `root` to "alter" to their own type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clearing {
    /// The table where the columns are not inherited (`format('%I.%I')`).
    pub root: String,
    pub root_id: TableId,
    pub columns: Vec<String>,
    pub sql: String,
}

/// The statements that remove `stale`, one per root table (see the module docs).
pub async fn clearings(db: &mut Db, stale: &[Stale]) -> Result<Vec<Clearing>, DbError> {
    if stale.is_empty() {
        return Ok(Vec::new());
    }
    let d = Dialect::Postgres;
    let values: Vec<String> = stale
        .iter()
        .map(|s| {
            format!(
                "({}::regclass, {}::name)",
                d.literal(&s.relation),
                d.literal(&s.column)
            )
        })
        .collect();
    let sql = ROOTS_SQL.replace("{stale}", &values.join(", "));
    let rows = db.rows(DURING, &sql, &[]).await?;
    let mut out: Vec<Clearing> = Vec::new();
    for r in &rows {
        let (root, column) = (text(r, 0), text(r, 1));
        let collate = r[3]
            .as_ref()
            .map(|c| format!(" COLLATE {c}"))
            .unwrap_or_default();
        let alter = format!(
            "ALTER COLUMN {} TYPE {}{collate}",
            d.ident(&column),
            text(r, 2)
        );
        match out.last_mut() {
            Some(c) if c.root == root => {
                c.columns.push(column);
                c.sql.push_str(&format!(", {alter}"));
            }
            _ => out.push(Clearing {
                sql: format!("ALTER TABLE {root} {alter}"),
                root_id: TableId {
                    schema: text(r, 4),
                    name: text(r, 5),
                },
                root,
                columns: vec![column],
            }),
        }
    }
    Ok(out)
}

/// `{stale}`: `(relation, column)` rows. For each, the table up its inheritance chain where the
/// column is local: name, column, type, collation (quoted, when the type has one), schema and
/// name unquoted.
const ROOTS_SQL: &str = "
WITH RECURSIVE stale(rel, col) AS (VALUES {stale}),
up(at, col) AS (
  SELECT rel, col FROM stale
  UNION SELECT i.inhparent, u.col FROM up u
  JOIN pg_attribute a ON a.attrelid = u.at AND a.attname = u.col AND a.attinhcount > 0
  JOIN pg_inherits i ON i.inhrelid = u.at
  JOIN pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = u.col AND NOT pa.attisdropped)
SELECT DISTINCT format('%I.%I', n.nspname, c.relname), a.attname::text, format_type(a.atttypid, a.atttypmod),
       (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co
        JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation),
       n.nspname::text, c.relname::text
FROM up u JOIN pg_attribute a ON a.attrelid = u.at AND a.attname = u.col
JOIN pg_class c ON c.oid = u.at JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attinhcount = 0
ORDER BY 1, 2";

/// A table whose files may hold values no query returns, and whether offpeak has rewritten it
/// since it last could have gained such values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeedsRewrite {
    pub name: String,
    /// Why: `updated in place` or `dropped columns`.
    pub why: &'static str,
    pub done: bool,
}

/// The tables to rewrite: every table under (or being) one of `in_place` (masked by `UPDATE`),
/// and every user table with a dropped column, except those under (or being) one of `emptied`
/// (truncated: fresh files). `done` when `offpeak_masking.rewritten` records the table's current
/// file (`recorded`: that table exists).
pub async fn needing_rewrite(
    db: &mut Db,
    in_place: &[TableId],
    emptied: &[TableId],
    recorded: bool,
) -> Result<Vec<NeedsRewrite>, DbError> {
    let d = Dialect::Postgres;
    let list = |ids: &[TableId]| {
        let names: Vec<String> = ids.iter().map(|t| d.table(&t.schema, &t.name)).collect();
        Param::Text(Some(names.join("\u{1f}")))
    };
    let records = match recorded {
        true => "offpeak_masking.rewritten",
        false => "(SELECT NULL::text AS relation, NULL::oid AS filenode WHERE false)",
    };
    let sql = NEEDS_REWRITE_SQL
        .replace("{records}", records)
        .replace("{user_relations}", super::postgres::USER_RELATIONS);
    let rows = db
        .rows(DURING, &sql, &[list(in_place), list(emptied)])
        .await?;
    Ok(rows
        .iter()
        .map(|r| NeedsRewrite {
            name: text(r, 0),
            done: text(r, 1) == "true",
            why: match text(r, 2).as_str() {
                "in_place" => "updated in place",
                _ => "dropped columns",
            },
        })
        .collect())
}

/// `$1`, `$2`: the tables masked in place and the truncated ones, quoted names joined by
/// `chr(31)`; `{records}`: the rewrites recorded. Name, done, why.
const NEEDS_REWRITE_SQL: &str = "
WITH RECURSIVE in_place(oid) AS (
  SELECT x::regclass::oid FROM unnest(string_to_array($1, chr(31))) x WHERE x <> ''
  UNION SELECT i.inhrelid FROM in_place t JOIN pg_inherits i ON i.inhparent = t.oid),
emptied(oid) AS (
  SELECT x::regclass::oid FROM unnest(string_to_array($2, chr(31))) x WHERE x <> ''
  UNION SELECT i.inhrelid FROM emptied t JOIN pg_inherits i ON i.inhparent = t.oid),
dropped AS (
  SELECT DISTINCT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attisdropped
  WHERE c.relkind = 'r' AND {user_relations}),
need AS (
  SELECT oid, 'in_place' AS why FROM in_place WHERE (SELECT relkind FROM pg_class WHERE oid = in_place.oid) = 'r'
  UNION ALL
  SELECT oid, 'dropped' FROM dropped WHERE oid NOT IN (SELECT oid FROM emptied) AND oid NOT IN (SELECT oid FROM in_place))
SELECT format('%I.%I', n.nspname, c.relname),
       EXISTS (SELECT 1 FROM {records} r WHERE r.relation = format('%I.%I', n.nspname, c.relname)
               AND r.filenode = pg_relation_filenode(w.oid))::text,
       w.why
FROM need w JOIN pg_class c ON c.oid = w.oid JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1";

/// Where to issue the rewrite of `tables` (names as [`needing_rewrite`] gives them): a
/// partition's topmost partitioned ancestor, else the table itself; a table under another
/// chosen one is left to it (`ALTER TABLE` recurses).
pub async fn rewrite_roots(db: &mut Db, tables: &[String]) -> Result<Vec<String>, DbError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            DURING,
            REWRITE_ROOTS_SQL,
            &[Param::Text(Some(tables.join("\u{1f}")))],
        )
        .await?;
    Ok(rows.iter().map(|r| text(r, 0)).collect())
}

const REWRITE_ROOTS_SQL: &str = "
WITH RECURSIVE todo AS (SELECT x::regclass::oid AS oid FROM unnest(string_to_array($1, chr(31))) x),
up(oid, at) AS (
  SELECT oid, oid FROM todo
  UNION SELECT u.oid, i.inhparent FROM up u JOIN pg_class c ON c.oid = u.at AND c.relispartition
  JOIN pg_inherits i ON i.inhrelid = u.at),
roots AS (SELECT DISTINCT u.at AS oid FROM up u JOIN pg_class c ON c.oid = u.at WHERE NOT c.relispartition),
anc(oid, a) AS (
  SELECT oid, oid FROM roots
  UNION SELECT anc.oid, i.inhparent FROM anc JOIN pg_inherits i ON i.inhrelid = anc.a)
SELECT format('%I.%I', n.nspname, c.relname) FROM roots r JOIN pg_class c ON c.oid = r.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM anc WHERE anc.oid = r.oid AND anc.a <> r.oid AND anc.a IN (SELECT oid FROM roots))
ORDER BY 1";

/// The statements that set again the statistics targets of the indexes and extended statistics
/// objects on `relations` (names as [`scope`] gives them) that have one: a rebuild by
/// `ALTER COLUMN ... TYPE` recreates them with the default.
pub async fn statistics_targets(db: &mut Db, relations: &[String]) -> Result<Vec<String>, DbError> {
    if relations.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            DURING,
            TARGETS_SQL,
            &[Param::Text(Some(relations.join("\u{1f}")))],
        )
        .await?;
    Ok(rows.iter().map(|r| text(r, 0)).collect())
}

const TARGETS_SQL: &str = "
WITH rels AS (SELECT x::regclass::oid AS oid FROM unnest(string_to_array($1, chr(31))) x)
SELECT format('ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s', n.nspname, ic.relname, a.attnum, a.attstattarget)
FROM pg_index i JOIN rels r ON r.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_attribute a ON a.attrelid = i.indexrelid AND a.attnum > 0
WHERE a.attstattarget >= 0
UNION ALL
SELECT format('ALTER STATISTICS %I.%I SET STATISTICS %s', n.nspname, x.stxname, (to_jsonb(x) ->> 'stxstattarget'))
FROM pg_statistic_ext x JOIN rels r ON r.oid = x.stxrelid JOIN pg_namespace n ON n.oid = x.stxnamespace
WHERE COALESCE((to_jsonb(x) ->> 'stxstattarget')::int, -1) >= 0";

/// Why the server would refuse to rewrite each of `roots` (as [`rewrite_roots`] gives them):
/// the root as a table id, and the reason (names only). `ALTER TABLE` recurses, so every table
/// under a root counts: owned by another role, a typed table, or a row type stored elsewhere.
pub async fn rewrite_refusals(
    db: &mut Db,
    roots: &[String],
) -> Result<Vec<(TableId, String)>, DbError> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            DURING,
            REWRITE_REFUSALS_SQL,
            &[Param::Text(Some(roots.join("\u{1f}")))],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let id = TableId {
                schema: text(r, 0),
                name: text(r, 1),
            };
            (id, text(r, 2))
        })
        .collect())
}

const REWRITE_REFUSALS_SQL: &str = "
WITH RECURSIVE roots AS (SELECT x::regclass::oid AS oid FROM unnest(string_to_array($1, chr(31))) x),
tree(root, oid) AS (
  SELECT oid, oid FROM roots
  UNION SELECT t.root, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.oid),
refusals(root, reason) AS (
  SELECT t.root, format('%I.%I is owned by another role', n.nspname, c.relname)
  FROM tree t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE NOT pg_has_role(c.relowner, 'USAGE')
  UNION ALL
  SELECT t.root, format('%I.%I is a typed table', n.nspname, c.relname)
  FROM tree t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.reloftype <> 0
  UNION ALL
  SELECT t.root, format('column %I of %I.%I stores rows of %I.%I', a.attname, on_.nspname, o.relname,
                        n.nspname, c.relname)
  FROM tree t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.atttypid IN (c.reltype, (SELECT typarray FROM pg_type WHERE oid = c.reltype))
       AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_class o ON o.oid = a.attrelid AND o.relkind IN ('r', 'p', 'm', 'f')
  JOIN pg_namespace on_ ON on_.oid = o.relnamespace)
SELECT rn.nspname::text, r.relname::text, f.reason FROM refusals f
JOIN pg_class r ON r.oid = f.root JOIN pg_namespace rn ON rn.oid = r.relnamespace
ORDER BY 1, 2, 3";

/// A user materialized view and what it reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MaterializedView {
    pub id: TableId,
    /// `format('%I.%I')`.
    pub name: String,
    pub populated: bool,
    pub columns: Vec<String>,
    /// Materialized views it reads (directly or through views): refreshed before it.
    pub reads_views: Vec<String>,
    /// Table columns it reads (directly or through views and materialized views).
    pub reads: Vec<(TableId, String)>,
}

/// Every user materialized view, in an order where each comes after those it reads.
pub async fn materialized_views(db: &mut Db) -> Result<Vec<MaterializedView>, DbError> {
    let sql = MATVIEWS_SQL.replace("{user_relations}", super::postgres::USER_RELATIONS);
    let mut views: Vec<MaterializedView> = db
        .rows(DURING, &sql, &[])
        .await?
        .iter()
        .map(|r| MaterializedView {
            id: TableId {
                schema: text(r, 0),
                name: text(r, 1),
            },
            name: text(r, 2),
            populated: text(r, 3) == "true",
            columns: super::split_list(r[4].as_ref()),
            ..MaterializedView::default()
        })
        .collect();
    for r in db.rows(DURING, MATVIEW_READS_SQL, &[]).await? {
        let Some(v) = views.iter_mut().find(|v| v.name == text(&r, 0)) else {
            continue;
        };
        match (text(&r, 3).as_str(), r[4].clone()) {
            ("m", _) => v.reads_views.push(text(&r, 5)),
            (_, Some(column)) => v.reads.push((
                TableId {
                    schema: text(&r, 1),
                    name: text(&r, 2),
                },
                column,
            )),
            _ => {}
        }
    }
    Ok(in_dependency_order(views))
}

/// Each view after the views it reads (a cycle cannot exist: a view cannot read itself).
fn in_dependency_order(mut pending: Vec<MaterializedView>) -> Vec<MaterializedView> {
    let mut out: Vec<MaterializedView> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|v| {
                v.reads_views.iter().all(|r| {
                    out.iter().any(|o| &o.name == r) || !pending.iter().any(|p| &p.name == r)
                })
            })
            .unwrap_or(0);
        out.push(pending.remove(ready));
    }
    out
}

const MATVIEWS_SQL: &str = "
SELECT n.nspname::text, c.relname::text, format('%I.%I', n.nspname, c.relname), c.relispopulated::text,
       array_to_string(ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
           AND NOT a.attisdropped ORDER BY a.attnum), chr(31))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND {user_relations}
ORDER BY c.oid";

/// What each materialized view reads, directly or through views and other materialized views
/// (so a view over a view over a masked column reads that column): view name,
/// the relation read (schema, name, kind), the column (when one), the relation's quoted name.
const MATVIEW_READS_SQL: &str = "
WITH RECURSIVE reads(mv, rel, att) AS (
  SELECT r.ev_class, d.refobjid, d.refobjsubid FROM pg_rewrite r
  JOIN pg_class m ON m.oid = r.ev_class AND m.relkind = 'm'
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
       AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
  UNION
  SELECT reads.mv, d.refobjid, d.refobjsubid FROM reads
  JOIN pg_class v ON v.oid = reads.rel AND v.relkind IN ('v', 'm')
  JOIN pg_rewrite r ON r.ev_class = v.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
       AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class)
SELECT DISTINCT format('%I.%I', mn.nspname, m.relname), tn.nspname::text, t.relname::text, t.relkind::text,
       a.attname::text, format('%I.%I', tn.nspname, t.relname)
FROM reads JOIN pg_class m ON m.oid = reads.mv JOIN pg_namespace mn ON mn.oid = m.relnamespace
JOIN pg_class t ON t.oid = reads.rel JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = reads.rel AND a.attnum = reads.att AND reads.att > 0
ORDER BY 1, 2, 3, 5";

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, reads: &[&str]) -> MaterializedView {
        MaterializedView {
            name: name.into(),
            reads_views: reads.iter().map(|r| (*r).to_owned()).collect(),
            ..MaterializedView::default()
        }
    }

    #[test]
    fn materialized_views_come_after_the_views_they_read() {
        // Catalog order (by OID) can put a view before one it reads, e.g. after a re-creation.
        let views = vec![
            view("top", &["middle", "base"]),
            view("middle", &["base"]),
            view("base", &[]),
            view("alone", &["gone"]),
        ];
        let order: Vec<String> = in_dependency_order(views)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(order, ["base", "middle", "top", "alone"]);
    }

    fn tree(parents: &[&str]) -> Tree {
        Tree {
            kind: "r".into(),
            partition: false,
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            below: Vec::new(),
            above: Vec::new(),
        }
    }

    #[test]
    fn a_tree_is_empty_only_when_every_table_under_it_is() {
        let relations: BTreeMap<String, Tree> = [
            ("parent".to_owned(), tree(&[])),
            ("child".to_owned(), tree(&["parent"])),
            ("grandchild".to_owned(), tree(&["child"])),
        ]
        .into_iter()
        .collect();
        let own = |grandchild: bool| -> BTreeMap<String, bool> {
            [
                ("parent", true),
                ("child", true),
                ("grandchild", grandchild),
            ]
            .into_iter()
            .map(|(n, e)| (n.to_owned(), e))
            .collect()
        };
        assert!(tree_empty("parent", &relations, &own(true)));
        assert!(!tree_empty("parent", &relations, &own(false)));
        assert!(!tree_empty("child", &relations, &own(false)));
        assert!(!tree_empty("grandchild", &relations, &own(false)));
    }
}
