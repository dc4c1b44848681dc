//! PostgreSQL objects that change what a masking statement does, or make it fail, whatever the
//! values: `ON UPDATE` rules, row-level security that applies to the running role, and event
//! triggers. Each is refused by name (see the parent module).

use super::Refusal;
use crate::catalog::TableId;
use crate::classify::TablePlan;
use crate::conn::{Db, Param};
use crate::dialect::Dialect;
use crate::scrub::DbError;

/// Enabled `ON UPDATE` rules on the table and its partitions: relation (quoted), rule name.
const RULES_SQL: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), r.rulename::text \
     FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE r.ev_type = '2' AND r.ev_enabled <> 'D' AND r.rulename <> '_RETURN' \
       AND r.ev_class IN (SELECT relid FROM pg_partition_tree($1::regclass) \
                          UNION SELECT $1::regclass) \
     ORDER BY 1, 2";

/// One row when row-level security applies to the running role on the table: whether it is
/// forced (it then applies to the owner too). Superusers and `BYPASSRLS` roles are exempt, and
/// so is the owner (a member of the owning role) unless it is forced.
const ROW_SECURITY_SQL: &str = "SELECT c.relforcerowsecurity::text FROM pg_class c \
     WHERE c.oid = $1::regclass AND c.relrowsecurity \
       AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE')) \
       AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolbypassrls))";

const EVENT_TRIGGERS_SQL: &str =
    "SELECT evtname::text FROM pg_event_trigger WHERE evtenabled <> 'D' ORDER BY 1";

/// Rules and row-level security of a table to mask.
pub async fn of_table(db: &mut Db, plan: &TablePlan) -> Result<Vec<Refusal>, DbError> {
    let during = format!("reading the rules and policies of {}", plan.display);
    let name = Dialect::Postgres.table(&plan.table.id.schema, &plan.table.id.name);
    let p = [Param::Text(Some(name))];
    let mut out: Vec<Refusal> = db
        .rows(&during, RULES_SQL, &p)
        .await?
        .into_iter()
        .map(|r| {
            let (relation, rule) = (field(&r, 0), field(&r, 1));
            let message = format!(
                "rule `{rule}` on `{relation}` rewrites the UPDATE statements that mask `{}` (they would do \
                 what the rule says instead, or as well): drop it in the clone first (DROP RULE {rule} ON {relation})",
                plan.display
            );
            (plan.table.id.clone(), message)
        })
        .collect();
    if let Some(r) = db.rows(&during, ROW_SECURITY_SQL, &p).await?.first() {
        let forced = match field(r, 0).as_str() {
            "true" => " (forced, so even for its owner)",
            _ => "",
        };
        let message = format!(
            "row-level security applies to this role on `{}`{forced}: its policies would hide rows from \
             masking, which would stay unmasked, or reject masked rows midway; run as the table's owner or a \
             role with BYPASSRLS, or ALTER TABLE ... NO FORCE ROW LEVEL SECURITY in the clone first",
            plan.display
        );
        out.push((plan.table.id.clone(), message));
    }
    Ok(out)
}

/// Enabled event triggers: they run on every `ALTER TABLE` the run issues (disabling triggers,
/// rewriting tables, removing statistics) and may fail it partway.
pub async fn event_triggers(db: &mut Db) -> Result<Vec<Refusal>, DbError> {
    let during = "reading the event triggers";
    Ok(db
        .rows(during, EVENT_TRIGGERS_SQL, &[])
        .await?
        .into_iter()
        .map(|r| {
            let message = format!(
                "event trigger `{}` is enabled: it runs on the ALTER TABLE statements masking issues and could \
                 fail them partway; disable it in the clone first (ALTER EVENT TRIGGER {} DISABLE)",
                field(&r, 0),
                Dialect::Postgres.ident(&field(&r, 0))
            );
            (TableId::default(), message)
        })
        .collect())
}

fn field(r: &[Option<String>], i: usize) -> String {
    r[i].clone().unwrap_or_default()
}
