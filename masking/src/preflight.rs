//! Preflight: everything that could make a masking statement fail, or do something other than
//! mask, is read from the catalog and evaluated against the masked values of every row before
//! the first change. A run then either is refused up front (`MaskError::Refused`, exit 2 from
//! `offpeak mask`, every finding naming the table and the constraint, rule or policy, nothing
//! changed) or has nothing left that the server would reject midway.
//!
//! What is checked, for every table the run masks (tables a previous run finished are skipped):
//! - **Values** ([`values`]): each CHECK constraint of the relations the statements write that
//!   reads a masked column (or was never validated: an UPDATE checks it on every row it
//!   writes), each CHECK of the domains a masked column's type is built on, length limits
//!   (`varchar(n)`, `char(n)`, also through a domain) where the strategy's output length is not
//!   known in advance, and NOT NULL where a strategy could produce NULL. All are evaluated in
//!   one read-only scan per relation (each leaf partition of a partitioned table, which may
//!   carry CHECKs of its own), over **every row**, with the masked expressions the run will
//!   use. PostgreSQL and MySQL/MariaDB alike. A scan the server itself cannot evaluate (e.g. a
//!   constraint's cast failing on a masked value) refuses the table with the SQLSTATE: the
//!   masking statement would fail the same way.
//! - **Objects** ([`objects`], PostgreSQL): an enabled `ON UPDATE` rule on the table (the
//!   masking UPDATE would be rewritten into what the rule says), row-level security that
//!   applies to the running role (its policies would hide rows from the UPDATE or reject
//!   masked rows), and enabled event triggers (they run on every `ALTER TABLE` the run issues
//!   and may fail it).
//!
//! Handled elsewhere, also before any change: unique indexes, foreign keys (a referenced or
//! `ON UPDATE CASCADE` key column cannot be masked), NOT NULL under `null`, static output
//! lengths, inheritance and MySQL triggers (`classify`); user triggers of every written
//! relation, disabled while masking and restored to their exact mode (`apply`); statistics
//! the run must remove and tables it must rewrite (`apply::preflight`).
//!
//! Failure behaviour: reads only; a lost connection surfaces as [`DbError`]. Messages name
//! tables, columns and constraints, and count rows; they never quote a value.

mod objects;
mod values;

use super::bookkeeping;
use super::catalog::TableId;
use super::classify::{PlannedAction, TablePlan};
use super::conn::Db;
use super::dialect::Dialect;
use super::scrub::DbError;

/// A table (or `TableId::default()` for the database as a whole) and why the run is refused.
pub type Refusal = (TableId, String);

/// Every reason, found without changing anything, that masking `plans` would fail midway.
pub async fn refusals(db: &mut Db, plans: &[TablePlan]) -> Result<Vec<Refusal>, DbError> {
    let mut out = Vec::new();
    let started = bookkeeping::exists(db).await?;
    let mut changes = false;
    for plan in plans {
        changes |= !matches!(plan.action, PlannedAction::Keep);
        let PlannedAction::Mask(masked) = &plan.action else {
            continue;
        };
        if started && finished(db, plan).await? {
            continue;
        }
        if db.dialect == Dialect::Postgres {
            out.extend(objects::of_table(db, plan).await?);
        }
        out.extend(values::violations(db, plan, masked).await?);
    }
    if changes && db.dialect == Dialect::Postgres {
        out.extend(objects::event_triggers(db).await?);
    }
    Ok(out)
}

/// A previous run finished masking `plan`'s table: its values are masked already.
async fn finished(db: &mut Db, plan: &TablePlan) -> Result<bool, DbError> {
    Ok(bookkeeping::read(db, &plan.display)
        .await?
        .is_some_and(|p| p.done))
}
