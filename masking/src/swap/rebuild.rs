//! Step 3 of a swap: in one transaction, put the filled copy in the table's place with every
//! object the table had, and prove it by comparing signatures.
//!
//! Order: read the signature and the definitions; check row counts; detach what would block or
//! follow the drop (serial sequences' ownership, foreign keys from other tables); drop the table
//! `RESTRICT`; move and rename the copy; then rebuild identity sequences (options, position,
//! name), primary key / unique / exclusion constraints, indexes, outbound foreign keys, triggers
//! (and their enabled state), comments, owner, ACL, options, replica identity, row security,
//! `CLUSTER ON`, statistics targets, serial sequences' ownership and inbound foreign keys — all
//! from the definitions PostgreSQL prints (`pg_get_indexdef`, `pg_get_constraintdef`,
//! `pg_get_triggerdef`), replayed verbatim once the copy has the table's name.

use super::Copy;
use super::signature;
use crate::apply::Work;
use crate::bookkeeping;
use crate::conn::{Db, Param, Rows};
use crate::dialect::Dialect;
use crate::scrub::DbError;

/// Swaps the copy in: `None` when committed, else why it was rolled back (names only).
pub async fn swap(db: &mut Db, work: &Work<'_>, copy: &Copy) -> Result<Option<String>, DbError> {
    let during = format!("swapping the masked copy of {} in", work.plan.display);
    db.execute(&during, "BEGIN", &[]).await?;
    let result = swap_in_transaction(db, work, copy, &during).await;
    let end = match &result {
        Ok(None) => "COMMIT",
        _ => "ROLLBACK",
    };
    match db.execute(&during, end, &[]).await {
        Ok(_) => result,
        Err(e) => result.and(Err(e)),
    }
}

async fn swap_in_transaction(
    db: &mut Db,
    work: &Work<'_>,
    copy: &Copy,
    during: &str,
) -> Result<Option<String>, DbError> {
    let table = work.sql_name.as_str();
    let before = signature::read(db, table, during).await?;
    let definitions = Definitions::read(db, table, during).await?;
    // The rows each range's INSERT wrote, recorded with it, against the table's rows now.
    let copied = db
        .count(
            during,
            "SELECT COALESCE(sum(rows), 0)::text FROM offpeak_masking.swap_range WHERE table_name = $1",
            &[Param::Text(Some(work.plan.display.clone()))],
        )
        .await?;
    let rows = format!("SELECT count(*)::text FROM {table}");
    if db.count(during, &rows, &[]).await? != copied {
        return Ok(Some(
            "the copy's row count differs from the table's".to_owned(),
        ));
    }
    // Index builds sort in memory rather than on disk where the server allows less.
    db.execute(
        during,
        "SELECT set_config('maintenance_work_mem', '256MB', true) \
         WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 256 * 1024 * 1024",
        &[],
    )
    .await?;
    let identity = identity_states(db, &definitions.identity, during).await?;
    for sql in definitions.detach() {
        db.execute(during, &sql, &[]).await?;
    }
    for sql in move_copy(work, copy) {
        db.execute(during, &sql, &[]).await?;
    }
    for sql in reattach_identity(db, table, &identity, during).await? {
        db.execute(during, &sql, &[]).await?;
    }
    for sql in definitions.rebuild(table) {
        db.execute(during, &sql, &[]).await?;
    }
    let after = signature::read(db, table, during).await?;
    let differences = signature::differences(&before, &after);
    if !differences.is_empty() {
        return Ok(Some(format!(
            "the swapped table would differ: {}",
            differences.join(", ")
        )));
    }
    let name = Param::Text(Some(work.plan.display.clone()));
    let (sql, params) = bookkeeping::advance(Dialect::Postgres, &work.plan.display, None, true);
    db.execute(during, &sql, &params).await?;
    for sql in [
        "DELETE FROM offpeak_masking.swap_range WHERE table_name = $1",
        "DELETE FROM offpeak_masking.swap WHERE table_name = $1",
    ] {
        db.execute(during, sql, std::slice::from_ref(&name)).await?;
    }
    Ok(None)
}

/// Drops the table, then moves the copy into its schema under its name.
fn move_copy(work: &Work<'_>, copy: &Copy) -> Vec<String> {
    let d = Dialect::Postgres;
    let id = &work.plan.table.id;
    vec![
        format!("DROP TABLE {} RESTRICT", work.sql_name),
        format!(
            "ALTER TABLE {} SET SCHEMA {}",
            copy.sql_name(),
            d.ident(&id.schema)
        ),
        format!(
            "ALTER TABLE {}.{} RENAME TO {}",
            d.ident(&id.schema),
            d.ident(&copy.name),
            d.ident(&id.name)
        ),
    ]
}

/// An identity column's sequence as the table had it.
struct Identity {
    column: String,
    /// Quoted, schema-qualified.
    sequence: String,
    /// Unquoted name alone.
    sequence_name: String,
    options: String,
}

/// ... and where it stood.
struct IdentityState {
    identity: Identity,
    last_value: String,
    is_called: String,
}

async fn identity_states(
    db: &mut Db,
    identity: &[Identity],
    during: &str,
) -> Result<Vec<IdentityState>, DbError> {
    let mut out = Vec::new();
    for i in identity {
        let sql = format!(
            "SELECT last_value::text, is_called::text FROM {}",
            i.sequence
        );
        let rows = db.rows(during, &sql, &[]).await?;
        let field = |k: usize| rows.first().and_then(|r| r[k].clone()).unwrap_or_default();
        out.push(IdentityState {
            identity: Identity {
                column: i.column.clone(),
                sequence: i.sequence.clone(),
                sequence_name: i.sequence_name.clone(),
                options: i.options.clone(),
            },
            last_value: field(0),
            is_called: field(1),
        });
    }
    Ok(out)
}

/// The copy's identity sequences (created by `LIKE`) take the table's old ones' options,
/// position and names (the old ones went with the dropped table).
async fn reattach_identity(
    db: &mut Db,
    table: &str,
    states: &[IdentityState],
    during: &str,
) -> Result<Vec<String>, DbError> {
    let d = Dialect::Postgres;
    let mut out = Vec::new();
    for s in states {
        let new = db
            .value(
                during,
                "SELECT pg_get_serial_sequence($1, $2)",
                &[
                    Param::Text(Some(table.to_owned())),
                    Param::Text(Some(s.identity.column.clone())),
                ],
            )
            .await?
            .ok_or_else(|| DbError::other(during, "an identity column lost its sequence"))?;
        let last: i64 = s.last_value.parse().unwrap_or(1);
        out.push(format!("ALTER SEQUENCE {new} {}", s.identity.options));
        out.push(format!(
            "SELECT setval({}, {last}, {})",
            d.literal(&new),
            s.is_called == "true"
        ));
        out.push(format!(
            "ALTER SEQUENCE {new} RENAME TO {}",
            d.ident(&s.identity.sequence_name)
        ));
    }
    Ok(out)
}

/// Everything about the table the copy does not get from `LIKE`, as SQL to replay.
#[derive(Default)]
struct Definitions {
    /// `ALTER TABLE other ...`: name of the referencing table, constraint, definition, comment.
    inbound: Vec<(String, String, String, Option<String>)>,
    /// Serial sequences owned by a column: (sequence, column).
    serial: Vec<(String, String)>,
    identity: Vec<Identity>,
    /// Statements for the table itself, in order, written against its (final) name.
    statements: Vec<String>,
}

impl Definitions {
    async fn read(db: &mut Db, table: &str, during: &str) -> Result<Definitions, DbError> {
        let p = [Param::Text(Some(table.to_owned()))];
        let d = Dialect::Postgres;
        let mut out = Definitions::default();
        let constraints = db.rows(during, CONSTRAINTS_SQL, &p).await?;
        let indexes = db.rows(during, INDEXES_SQL, &p).await?;
        let triggers = db.rows(during, TRIGGERS_SQL, &p).await?;
        let table_rows = db.rows(during, TABLE_SQL, &p).await?;
        let acl = db.rows(during, ACL_SQL, &p).await?;
        let columns = db.rows(during, STATISTICS_SQL, &p).await?;
        let sequences = db.rows(during, SEQUENCES_SQL, &p).await?;
        let inbound = db.rows(during, INBOUND_SQL, &p).await?;
        let s = &mut out.statements;
        // Unique and exclusion constraints first: outbound foreign keys may refer to them.
        for r in constraints.iter().filter(|r| f(r, 2) != "f") {
            s.push(add_constraint(d, table, r));
        }
        for r in &indexes {
            s.push(f(r, 1));
        }
        for r in constraints.iter().filter(|r| f(r, 2) == "f") {
            s.push(add_constraint(d, table, r));
        }
        for r in constraints.iter().filter(|r| r[3].is_some()) {
            let comment = comment_literal(d, &r[3]);
            s.push(format!(
                "COMMENT ON CONSTRAINT {} ON {table} IS {comment}",
                d.ident(&f(r, 0))
            ));
        }
        out.statements
            .extend(index_extras(d, table, &all_indexes(&indexes, &constraints)));
        out.statements
            .extend(trigger_statements(d, table, &triggers));
        if let Some(r) = table_rows.first() {
            out.statements.extend(table_statements(d, table, r, &acl));
        }
        for r in &columns {
            out.statements.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {} SET STATISTICS {}",
                d.ident(&f(r, 0)),
                f(r, 1)
            ));
        }
        for r in &sequences {
            match f(r, 1).as_str() {
                "a" => out.serial.push((f(r, 0), f(r, 2))),
                _ => out.identity.push(Identity {
                    sequence: f(r, 0),
                    column: f(r, 2),
                    sequence_name: f(r, 3),
                    options: f(r, 4),
                }),
            }
        }
        out.inbound = inbound
            .iter()
            .map(|r| (f(r, 0), f(r, 1), f(r, 2), r[3].clone()))
            .collect();
        Ok(out)
    }

    /// Before the drop: what would block it (inbound foreign keys) or go with it (serial
    /// sequences owned by its columns).
    fn detach(&self) -> Vec<String> {
        let d = Dialect::Postgres;
        let mut out: Vec<String> = self
            .serial
            .iter()
            .map(|(seq, _)| format!("ALTER SEQUENCE {seq} OWNED BY NONE"))
            .collect();
        out.extend(self.inbound.iter().map(|(other, name, _, _)| {
            format!("ALTER TABLE {other} DROP CONSTRAINT {}", d.ident(name))
        }));
        out
    }

    /// After the copy took the table's name: everything else, inbound foreign keys last.
    fn rebuild(&self, table: &str) -> Vec<String> {
        let d = Dialect::Postgres;
        let mut out = self.statements.clone();
        out.extend(
            self.serial.iter().map(|(seq, col)| {
                format!("ALTER SEQUENCE {seq} OWNED BY {table}.{}", d.ident(col))
            }),
        );
        for (other, name, def, comment) in &self.inbound {
            out.push(format!(
                "ALTER TABLE {other} ADD CONSTRAINT {} {def}",
                d.ident(name)
            ));
            if comment.is_some() {
                out.push(format!(
                    "COMMENT ON CONSTRAINT {} ON {other} IS {}",
                    d.ident(name),
                    comment_literal(d, comment)
                ));
            }
        }
        out
    }
}

fn f(r: &[Option<String>], i: usize) -> String {
    r[i].clone().unwrap_or_default()
}

fn comment_literal(d: Dialect, c: &Option<String>) -> String {
    c.as_deref()
        .map_or_else(|| "NULL".to_owned(), |c| d.literal(c))
}

fn add_constraint(d: Dialect, table: &str, r: &[Option<String>]) -> String {
    format!(
        "ALTER TABLE {table} ADD CONSTRAINT {} {}",
        d.ident(&f(r, 0)),
        f(r, 1)
    )
}

/// (index name, clustered, comment) of every index, constraint-backed or not.
fn all_indexes(indexes: &Rows, constraints: &Rows) -> Vec<(String, bool, Option<String>)> {
    indexes
        .iter()
        .map(|r| (f(r, 0), f(r, 2) == "true", r[3].clone()))
        .chain(
            constraints
                .iter()
                .filter(|r| r[4].is_some())
                .map(|r| (f(r, 4), f(r, 5) == "true", r[6].clone())),
        )
        .collect()
}

fn index_extras(
    d: Dialect,
    table: &str,
    indexes: &[(String, bool, Option<String>)],
) -> Vec<String> {
    let schema = table.split_once('.').map_or("", |(s, _)| s);
    let mut out = Vec::new();
    for (name, clustered, comment) in indexes {
        if comment.is_some() {
            out.push(format!(
                "COMMENT ON INDEX {schema}.{} IS {}",
                d.ident(name),
                comment_literal(d, comment)
            ));
        }
        if *clustered {
            out.push(format!("ALTER TABLE {table} CLUSTER ON {}", d.ident(name)));
        }
    }
    out
}

fn trigger_statements(d: Dialect, table: &str, triggers: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    for r in triggers {
        let name = d.ident(&f(r, 0));
        out.push(f(r, 1));
        let state = match f(r, 2).as_str() {
            "D" => Some("DISABLE TRIGGER"),
            "R" => Some("ENABLE REPLICA TRIGGER"),
            "A" => Some("ENABLE ALWAYS TRIGGER"),
            _ => None,
        };
        if let Some(state) = state {
            out.push(format!("ALTER TABLE {table} {state} {name}"));
        }
        if r[3].is_some() {
            out.push(format!(
                "COMMENT ON TRIGGER {name} ON {table} IS {}",
                comment_literal(d, &r[3])
            ));
        }
    }
    out
}

/// Owner, ACL, options, replica identity, row security and the table's comment.
fn table_statements(d: Dialect, table: &str, r: &[Option<String>], acl: &Rows) -> Vec<String> {
    let mut out = vec![format!("ALTER TABLE {table} OWNER TO {}", f(r, 0))];
    if f(r, 1) == "true" {
        // An explicit ACL: start from none, then grant exactly what the table had.
        out.push(format!("REVOKE ALL ON TABLE {table} FROM {}", f(r, 0)));
        for a in acl {
            let grant_option = if f(a, 2) == "true" {
                " WITH GRANT OPTION"
            } else {
                ""
            };
            out.push(format!(
                "GRANT {} ON TABLE {table} TO {}{grant_option}",
                f(a, 1),
                f(a, 0)
            ));
        }
    }
    if let Some(options) = &r[2] {
        out.push(format!("ALTER TABLE {table} SET ({options})"));
    }
    match (f(r, 3).as_str(), &r[4]) {
        ("f", _) => out.push(format!("ALTER TABLE {table} REPLICA IDENTITY FULL")),
        ("n", _) => out.push(format!("ALTER TABLE {table} REPLICA IDENTITY NOTHING")),
        ("i", Some(index)) => out.push(format!(
            "ALTER TABLE {table} REPLICA IDENTITY USING INDEX {}",
            d.ident(index)
        )),
        _ => {}
    }
    if f(r, 5) == "true" {
        out.push(format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"));
    }
    if f(r, 6) == "true" {
        out.push(format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"));
    }
    if r[7].is_some() {
        out.push(format!(
            "COMMENT ON TABLE {table} IS {}",
            comment_literal(d, &r[7])
        ));
    }
    out
}

/// Primary key, unique, exclusion and foreign key constraints (CHECK and NOT NULL come with
/// `LIKE`): name, definition, type, comment, and for index-backed ones the index's name,
/// clustered flag and comment.
const CONSTRAINTS_SQL: &str = "SELECT con.conname::text, pg_get_constraintdef(con.oid), con.contype::text, \
       obj_description(con.oid, 'pg_constraint'), \
       CASE WHEN con.contype IN ('p', 'u', 'x') THEN ic.relname::text END, \
       CASE WHEN con.contype IN ('p', 'u', 'x') THEN i.indisclustered::text END, \
       CASE WHEN con.contype IN ('p', 'u', 'x') THEN obj_description(ic.oid, 'pg_class') END \
     FROM pg_constraint con LEFT JOIN pg_class ic ON ic.oid = con.conindid \
     LEFT JOIN pg_index i ON i.indexrelid = con.conindid \
     WHERE con.conrelid = $1::regclass AND con.contype IN ('p', 'u', 'x', 'f') \
     ORDER BY con.contype = 'f', con.conname";

/// Indexes that back no constraint: name, definition, clustered, comment.
const INDEXES_SQL: &str = "SELECT ic.relname::text, pg_get_indexdef(i.indexrelid), i.indisclustered::text, \
       obj_description(ic.oid, 'pg_class') \
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
     WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint con \
       WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')) \
     ORDER BY ic.relname";

const TRIGGERS_SQL: &str = "SELECT tgname::text, pg_get_triggerdef(oid), tgenabled::text, \
       obj_description(oid, 'pg_trigger') \
     FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname";

/// Owner (quoted), whether the ACL is explicit, options, replica identity (and its index), row
/// security flags, comment.
const TABLE_SQL: &str = "SELECT quote_ident(pg_get_userbyid(c.relowner)), (c.relacl IS NOT NULL)::text, \
       NULLIF(array_to_string(ARRAY(SELECT quote_ident(split_part(o, '=', 1)) || ' = ' || \
           quote_literal(substr(o, strpos(o, '=') + 1)) FROM unnest(c.reloptions) o), ', '), ''), \
       c.relreplident::text, \
       (SELECT ic.relname::text FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
        WHERE i.indrelid = c.oid AND i.indisreplident), \
       c.relrowsecurity::text, c.relforcerowsecurity::text, obj_description(c.oid, 'pg_class') \
     FROM pg_class c WHERE c.oid = $1::regclass";

/// The explicit ACL: grantee (quoted, or PUBLIC), privilege, grant option.
const ACL_SQL: &str = "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
       a.privilege_type, a.is_grantable::text \
     FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::regclass \
     ORDER BY a.grantor <> c.relowner, 1, 2";

/// Columns with a statistics target (not copied by `LIKE`).
const STATISTICS_SQL: &str = "SELECT attname::text, attstattarget::text FROM pg_attribute \
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped \
       AND COALESCE(attstattarget::int, -1) >= 0 ORDER BY attnum";

/// Sequences owned by a column: name (quoted, qualified), `a` serial / `i` identity, column,
/// bare name, and the options `ALTER SEQUENCE` takes.
const SEQUENCES_SQL: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname), d.deptype::text, \
       a.attname::text, s.relname::text, \
       format('AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s', \
              format_type(q.seqtypid, NULL), q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache, \
              CASE WHEN q.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) \
     FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
     JOIN pg_namespace n ON n.oid = s.relnamespace JOIN pg_sequence q ON q.seqrelid = s.oid \
     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
       AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i') ORDER BY a.attnum";

/// Foreign keys of other tables referring to this one.
const INBOUND_SQL: &str = "SELECT con.conrelid::regclass::text, con.conname::text, \
       pg_get_constraintdef(con.oid), obj_description(con.oid, 'pg_constraint') \
     FROM pg_constraint con WHERE con.confrelid = $1::regclass AND con.conrelid <> con.confrelid \
       AND con.contype = 'f' ORDER BY 1, 2";
