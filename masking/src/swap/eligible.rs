//! Which tables the swap may copy: those whose every object it rebuilds exactly.
//!
//! A table is eligible when it is an ordinary, logged, heap table in the default tablespace,
//! neither partitioned, a partition, inherited, inheriting nor typed; has no generated column,
//! no column privilege, no policy, rule, extended statistics object or security label; is in no
//! publication; has only valid indexes; has no constraint trigger; and nothing depends on it
//! (or on its row type) but its own indexes, constraints, defaults, triggers, owned sequences and
//! TOAST table, and plain foreign keys from ordinary tables. The server must be PostgreSQL 14+
//! (TID range scans) and run no event trigger (it could act on the copy's DDL).
//!
//! Object identifiers: the swap gives the table, its row type, indexes and sequences new OIDs,
//! so a stored `regclass` (or any OID-alias type, `oid`, `oidvector`, or a domain, array or
//! composite over one) that named them would afterwards name nothing, or something else. Which
//! stored identifier refers to what cannot be known from the catalog, so while any column of any
//! table or materialized view of the database has such a type, no table is swapped: each is
//! rewritten in place (`ALTER TABLE ... TYPE ... USING`, or UPDATE), which keeps every OID, and
//! kept values come back byte for byte. The cost is the swap's speed, only in such databases.
//!
//! Deliberately neither reproduced by the swap nor ruled out here: per-column options
//! (`ALTER COLUMN ... SET (n_distinct = ...)`). The signature sees them, so such a table's swap
//! is rolled back and the table rewritten in place instead — correct, at the cost of the wasted
//! copy; it also keeps the rollback path exercised by the tests (`masking_swap`).

use crate::conn::{Db, Param};
use crate::scrub::DbError;

/// Every reason the table named `sql_name` (quoted, schema-qualified) cannot be swapped; empty
/// when it can. Reasons name object kinds and names, never values.
pub async fn ineligible(db: &mut Db, sql_name: &str) -> Result<Vec<String>, DbError> {
    let during = format!("checking whether {sql_name} can be masked by a swap");
    let version = db
        .count(&during, "SELECT current_setting('server_version_num')", &[])
        .await?;
    if version < 140_000 {
        return Ok(vec!["the server is older than PostgreSQL 14".to_owned()]);
    }
    let rows = db
        .rows(
            &during,
            REASONS_SQL,
            &[Param::Text(Some(sql_name.to_owned()))],
        )
        .await?;
    Ok(rows.into_iter().filter_map(|r| r[0].clone()).collect())
}

/// `$1`: the table. One row per reason.
const REASONS_SQL: &str = "
WITH RECURSIVE t AS (SELECT c.*, c.oid AS toid FROM pg_class c WHERE c.oid = $1::regclass),
oid_types(typ) AS (
  SELECT oid FROM pg_type WHERE typnamespace = 'pg_catalog'::regnamespace AND typname IN ('oid',
    'regclass', 'regtype', 'regproc', 'regprocedure', 'regoper', 'regoperator', 'regconfig',
    'regdictionary', 'regnamespace', 'regrole', 'regcollation', 'oidvector')
  UNION
  SELECT ty.oid FROM pg_type ty, oid_types o
  WHERE ty.typbasetype = o.typ OR ty.typelem = o.typ
     OR (ty.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_attribute a
         WHERE a.attrelid = ty.typrelid AND a.atttypid = o.typ AND NOT a.attisdropped))),
oid_columns AS (
  SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname)
         || ' (' || format_type(a.atttypid, a.atttypmod) || ')' AS what
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
    AND a.atttypid IN (SELECT typ FROM oid_types)
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'offpeak_masking')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'),
own_constraints AS (SELECT con.oid FROM pg_constraint con, t WHERE con.conrelid = t.toid),
inbound AS (
  SELECT con.oid FROM pg_constraint con JOIN pg_class r ON r.oid = con.conrelid, t
  WHERE con.confrelid = t.toid AND con.conrelid <> t.toid AND con.contype = 'f'
    AND con.conparentid = 0 AND r.relkind = 'r' AND NOT r.relispartition),
dependents AS (
  SELECT d.* FROM pg_depend d, t
  WHERE (d.refclassid = 'pg_class'::regclass AND d.refobjid = t.toid)
     OR (d.refclassid = 'pg_type'::regclass
         AND d.refobjid IN (t.reltype, (SELECT typarray FROM pg_type WHERE oid = t.reltype))))
SELECT 'it is not an ordinary table' FROM t WHERE relkind <> 'r'
UNION ALL SELECT 'it is unlogged or temporary' FROM t WHERE relpersistence <> 'p'
UNION ALL SELECT 'it is a partition, inherits or is inherited' FROM t
  WHERE relispartition OR relhassubclass
     OR EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = t.toid OR inhparent = t.toid)
UNION ALL SELECT 'it is a typed table' FROM t WHERE reloftype <> 0
UNION ALL SELECT 'it does not use the heap access method' FROM t
  WHERE relam <> (SELECT oid FROM pg_am WHERE amname = 'heap')
UNION ALL SELECT 'it has its own tablespace' FROM t WHERE reltablespace <> 0
UNION ALL SELECT 'an index has its own tablespace' FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid, t
  WHERE i.indrelid = t.toid AND ic.reltablespace <> 0
UNION ALL SELECT 'its TOAST table has options' FROM t JOIN pg_class tc ON tc.oid = t.reltoastrelid
  WHERE tc.reloptions IS NOT NULL
UNION ALL SELECT 'column ' || quote_ident(a.attname) || ' is generated' FROM pg_attribute a, t
  WHERE a.attrelid = t.toid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''
UNION ALL SELECT 'column ' || quote_ident(a.attname) || ' has column privileges' FROM pg_attribute a, t
  WHERE a.attrelid = t.toid AND a.attnum > 0 AND a.attacl IS NOT NULL
UNION ALL SELECT 'it is in publication ' || quote_ident(p.pubname) FROM pg_publication_tables p
  JOIN pg_namespace n ON n.nspname = p.schemaname, t
  WHERE n.oid = t.relnamespace AND p.tablename = t.relname
UNION ALL SELECT 'it has row-level security policy ' || quote_ident(polname) FROM pg_policy, t WHERE polrelid = t.toid
UNION ALL SELECT 'it has rule ' || quote_ident(rulename) FROM pg_rewrite, t WHERE ev_class = t.toid
UNION ALL SELECT 'it has extended statistics ' || quote_ident(stxname) FROM pg_statistic_ext, t WHERE stxrelid = t.toid
UNION ALL SELECT 'it has a security label' FROM pg_seclabel, t
  WHERE objoid = t.toid AND classoid = 'pg_class'::regclass
UNION ALL SELECT 'index ' || quote_ident(ic.relname) || ' is not valid' FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid, t
  WHERE i.indrelid = t.toid AND NOT (i.indisvalid AND i.indisready AND i.indislive)
UNION ALL SELECT 'it has constraint trigger ' || quote_ident(tgname) FROM pg_trigger, t
  WHERE tgrelid = t.toid AND NOT tgisinternal AND tgconstraint <> 0
UNION ALL SELECT 'a foreign key from a partitioned table or partition refers to it'
  FROM pg_constraint con, t
  WHERE con.confrelid = t.toid AND con.conrelid <> t.toid AND con.contype = 'f'
    AND con.oid NOT IN (SELECT oid FROM inbound)
UNION ALL SELECT 'the database stores object identifiers, which the swap would make point elsewhere \
  (the table, its row type, indexes and sequences get new ones): column ' || string_agg(what, ', ')
  FROM (SELECT what FROM oid_columns ORDER BY what LIMIT 3) o HAVING count(*) > 0
UNION ALL SELECT 'event trigger ' || quote_ident(evtname) || ' is enabled' FROM pg_event_trigger
  WHERE evtenabled <> 'D'
UNION ALL SELECT 'it has dependent ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM dependents d, t
  WHERE NOT (
       (d.classid = 'pg_type'::regclass AND d.objid IN (t.reltype, (SELECT typarray FROM pg_type WHERE oid = t.reltype)))
    OR (d.classid = 'pg_class'::regclass AND d.objid = t.reltoastrelid)
    OR (d.classid = 'pg_class'::regclass AND d.objid IN (SELECT indexrelid FROM pg_index WHERE indrelid = t.toid))
    OR (d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        AND d.objid IN (SELECT oid FROM pg_class WHERE relkind = 'S'))
    OR (d.classid = 'pg_constraint'::regclass
        AND d.objid IN (SELECT oid FROM own_constraints UNION ALL SELECT oid FROM inbound))
    OR (d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT oid FROM pg_attrdef WHERE adrelid = t.toid))
    OR (d.classid = 'pg_trigger'::regclass AND d.objid IN (
          SELECT oid FROM pg_trigger WHERE tgrelid = t.toid
          UNION ALL SELECT oid FROM pg_trigger WHERE tgconstraint IN (SELECT oid FROM inbound))))
";
