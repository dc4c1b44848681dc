//! A table's signature: everything about it a swap must leave as it was, as sorted text items.
//!
//! Read by name (never by OID, which a swap changes): columns in order (name, type and typmod,
//! collation, not-null, default, identity, generated, storage, compression, statistics target,
//! options, comment), the table (owner, kind, persistence, access method, tablespace, options,
//! replica identity, row security flags, comment, row type), its ACL (explicit or default),
//! constraints (definition, validated and deferral flags, index), indexes (definition and flags),
//! triggers (definition, enabled state, comment), foreign keys from other tables, sequences owned
//! by its columns (name, owner, ACL, options, position), policies, rules, extended statistics,
//! publications and security labels.
//!
//! Items carry definitions (schema text), never row values.

use crate::conn::{Db, Param};
use crate::scrub::DbError;

/// Items joined by `chr(31)`; the first field names the kind, the second the object.
pub type Signature = Vec<String>;

pub async fn read(db: &mut Db, sql_name: &str, during: &str) -> Result<Signature, DbError> {
    let rows = db
        .rows(
            during,
            SIGNATURE_SQL,
            &[Param::Text(Some(sql_name.to_owned()))],
        )
        .await?;
    Ok(rows.into_iter().filter_map(|r| r[0].clone()).collect())
}

/// The items in `before` or `after` but not both, as `kind name` (no definitions: a default or
/// a CHECK could quote a literal).
pub fn differences(before: &Signature, after: &Signature) -> Vec<String> {
    let label = |item: &String| {
        let mut fields = item.split('\u{1f}');
        let kind = fields.next().unwrap_or_default();
        let name = fields.next().unwrap_or_default();
        format!("{kind} {name}")
    };
    let mut out: Vec<String> = before
        .iter()
        .filter(|i| !after.contains(i))
        .chain(after.iter().filter(|i| !before.contains(i)))
        .map(label)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `$1`: the table. `pg_attver=` attribute options are left out: some server builds stamp every
/// new column with one, which no DDL sets.
const SIGNATURE_SQL: &str = "
WITH t AS (SELECT c.*, c.oid AS toid FROM pg_class c WHERE c.oid = $1::regclass),
owned AS (
  SELECT d.objid AS seq, d.deptype, d.refobjsubid FROM pg_depend d, t
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
    AND d.refobjid = t.toid AND d.deptype IN ('a', 'i')
    AND d.objid IN (SELECT oid FROM pg_class WHERE relkind = 'S'))
SELECT item FROM (
SELECT concat_ws(chr(31), 'table', t.relname, pg_get_userbyid(t.relowner), t.relkind, t.relpersistence,
    (SELECT amname FROM pg_am WHERE oid = t.relam), t.reltablespace,
    array_to_string(ARRAY(SELECT o FROM unnest(t.reloptions) o ORDER BY o), ','),
    t.relreplident, t.relrowsecurity, t.relforcerowsecurity, t.relispartition, t.reloftype,
    format_type(t.reltype, NULL), obj_description(t.toid, 'pg_class'),
    (SELECT count(*) FROM pg_inherits WHERE inhrelid = t.toid OR inhparent = t.toid)) AS item FROM t
UNION ALL
SELECT concat_ws(chr(31), 'acl', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
    pg_get_userbyid(a.grantor), a.privilege_type, a.is_grantable)
FROM t, aclexplode(COALESCE(t.relacl, acldefault('r', t.relowner))) a
UNION ALL
SELECT concat_ws(chr(31), 'column', a.attname,
    row_number() OVER (ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),
    (SELECT nspname || '.' || collname FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
     WHERE co.oid = a.attcollation),
    a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attstorage,
    a.attcompression, COALESCE(a.attstattarget::int, -1), a.attislocal, a.attinhcount, a.attndims,
    array_to_string(ARRAY(SELECT o FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\\_attver=%' ORDER BY o), ','),
    array_to_string(a.attfdwoptions, ','), a.attacl::text, col_description(t.toid, a.attnum))
FROM t JOIN pg_attribute a ON a.attrelid = t.toid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT concat_ws(chr(31), 'constraint', con.conname, con.contype, pg_get_constraintdef(con.oid),
    con.convalidated, con.condeferrable, con.condeferred, con.conislocal, con.connoinherit,
    CASE WHEN con.conindid <> 0 THEN con.conindid::regclass::text END,
    obj_description(con.oid, 'pg_constraint'))
FROM pg_constraint con, t WHERE con.conrelid = t.toid
UNION ALL
SELECT concat_ws(chr(31), 'index', ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique,
    i.indisprimary, i.indisexclusion, i.indimmediate, i.indisclustered, i.indisvalid, i.indisready,
    i.indislive, i.indisreplident, ic.reltablespace, pg_get_userbyid(ic.relowner),
    array_to_string(ic.reloptions, ','), obj_description(ic.oid, 'pg_class'))
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid, t WHERE i.indrelid = t.toid
UNION ALL
SELECT concat_ws(chr(31), 'trigger', tg.tgname, pg_get_triggerdef(tg.oid), tg.tgenabled,
    obj_description(tg.oid, 'pg_trigger'))
FROM pg_trigger tg, t WHERE tg.tgrelid = t.toid AND NOT tg.tgisinternal
UNION ALL
SELECT concat_ws(chr(31), 'inbound foreign key', con.conrelid::regclass::text || '.' || con.conname,
    pg_get_constraintdef(con.oid), con.convalidated, con.condeferrable, con.condeferred,
    con.conindid::regclass::text, obj_description(con.oid, 'pg_constraint'))
FROM pg_constraint con, t
WHERE con.confrelid = t.toid AND con.conrelid <> t.toid AND con.contype = 'f'
UNION ALL
SELECT concat_ws(chr(31), 'sequence', s.oid::regclass::text, o.deptype,
    (SELECT attname FROM pg_attribute WHERE attrelid = t.toid AND attnum = o.refobjsubid),
    pg_get_userbyid(s.relowner), s.relacl::text, format_type(q.seqtypid, NULL), q.seqstart,
    q.seqincrement, q.seqmax, q.seqmin, q.seqcache, q.seqcycle, pg_sequence_last_value(s.oid),
    obj_description(s.oid, 'pg_class'))
FROM owned o JOIN pg_class s ON s.oid = o.seq JOIN pg_sequence q ON q.seqrelid = s.oid, t
UNION ALL
SELECT concat_ws(chr(31), 'policy', p.polname, p.polcmd, p.polpermissive, p.polroles::text,
    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
FROM pg_policy p, t WHERE p.polrelid = t.toid
UNION ALL
SELECT concat_ws(chr(31), 'rule', r.rulename, pg_get_ruledef(r.oid))
FROM pg_rewrite r, t WHERE r.ev_class = t.toid
UNION ALL
SELECT concat_ws(chr(31), 'statistics', s.stxname, pg_get_statisticsobjdef(s.oid))
FROM pg_statistic_ext s, t WHERE s.stxrelid = t.toid
UNION ALL
SELECT concat_ws(chr(31), 'publication', p.pubname)
FROM pg_publication_tables p JOIN pg_namespace n ON n.nspname = p.schemaname, t
WHERE n.oid = t.relnamespace AND p.tablename = t.relname
UNION ALL
SELECT concat_ws(chr(31), 'security label', l.provider, l.objsubid, l.label)
FROM pg_seclabel l, t WHERE l.objoid = t.toid AND l.classoid = 'pg_class'::regclass
) s ORDER BY item COLLATE \"C\"
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_objects_not_definitions() {
        let before = vec![
            "column\u{1f}email\u{1f}2\u{1f}text".to_owned(),
            "constraint\u{1f}age_check\u{1f}c\u{1f}CHECK ((age > 17))".to_owned(),
        ];
        let after = vec![
            "column\u{1f}email\u{1f}2\u{1f}text".to_owned(),
            "constraint\u{1f}age_check\u{1f}c\u{1f}CHECK ((age > 18))".to_owned(),
        ];
        assert_eq!(differences(&before, &after), ["constraint age_check"]);
        assert!(differences(&before, &before).is_empty());
    }
}
