//! The PostgreSQL `swap` method: copy the table masked, in parallel, then swap the copy in.
//!
//! Why: `ALTER TABLE ... USING` and `UPDATE` run in one backend, while PostgreSQL can split the
//! work of a copy. A copy is one `INSERT ... SELECT` per block range of the source (TID range
//! scans, PostgreSQL 14+), run on several sessions at once.
//!
//! Steps:
//! 1. **Start.** `CREATE TABLE offpeak_masking.swap_<hash> (LIKE <table> INCLUDING DEFAULTS,
//!    CONSTRAINTS, IDENTITY, STORAGE, COMMENTS, COMPRESSION, STATISTICS)`, without indexes, and
//!    its record in `offpeak_masking.swap` (source file node, block count, range size) commit
//!    together, so a later run finds the copy. The copy lives in offpeak's own schema, outside
//!    coverage; `forget` drops it with the bookkeeping.
//! 2. **Fill.** Each block range is one statement in one transaction: its `INSERT INTO copy
//!    SELECT kept columns, masked expressions FROM table WHERE ctid in range` and its row (with
//!    the rows copied) in `offpeak_masking.swap_range` commit together (asynchronously: a crash
//!    loses both or neither), so an interrupted run resumes with the ranges left; the range
//!    row's primary key refuses a second copy of a range, even from a session of a killed run
//!    still finishing its statement. Ranges are spread over up to `swap_workers` sessions (extra
//!    sessions need the database URL, see [`Sessions`]); each range counts as a chunk of the
//!    [`Budget`](super::Budget). If the source's file changed since the start (a `VACUUM FULL`
//!    moves rows to other block numbers), the copy is emptied and filled again.
//! 3. **Swap**, in one transaction ([`rebuild`]): the table's **signature** (columns, constraints,
//!    indexes, triggers, inbound foreign keys, owned sequences and their state, owner, ACL,
//!    comments, reloptions, replica identity, row security, policies) is read; the rows the
//!    ranges recorded must add up to the table's row count; the table is dropped `RESTRICT`
//!    (after detaching inbound foreign keys and serial sequences), the copy moved and renamed
//!    into its place, and every object rebuilt from the definitions read before. The signature
//!    is read again: any difference rolls the whole transaction back.
//!
//! Guarantees: the source table is never written (only dropped by the committed swap); triggers cannot fire on the copy (it has none
//! until the swap, and the swap inserts nothing); unmasked columns are copied datum for datum;
//! the dropped table's files are unlinked at commit, so no `VACUUM FULL` is needed (statistics
//! are refreshed by `ANALYZE` afterwards); the key blocks are read from session settings once per
//! statement (an InitPlan, never a plan constant, so `auto_explain` cannot print them).
//!
//! Eligibility ([`ineligible`]) is checked from the catalog when the method is chosen, and is
//! conservative: anything the swap would not reproduce exactly makes the table use the other
//! methods. Failure behaviour: a failed range rolls back alone and the error surfaces (the next
//! run resumes); a signature difference, a row-count difference or a server error during the swap
//! rolls the swap back (the table stays as it was, unmasked), drops the copy and records the
//! fallback method, which masks the table in the same run ([`Outcome::Abandoned`]).

mod eligible;
mod fill;
mod rebuild;
mod signature;

use sha2::{Digest, Sha256};

use super::bookkeeping;
use super::conn::{Db, Endpoint, Param};
use super::key::MaskingKey;
use super::scrub::DbError;
use super::{Budget, apply::Work};

pub use eligible::ineligible;

/// Where a swap fill gets its sessions.
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    /// The database, to open sessions beside the main one; `None`: fill on the main session.
    pub endpoint: Option<Endpoint<'a>>,
    pub key: &'a MaskingKey,
    /// Sessions at most (`swap_workers` of the rules).
    pub workers: u64,
    /// Every session's statements end by then ([`crate::Db::bound_by`]).
    pub deadline: Option<std::time::Instant>,
}

/// How a swap ended in this run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The budget ran out during the fill; `ranges` were copied in this run.
    Stopped { ranges: u64 },
    /// The masked copy replaced the table.
    Swapped { ranges: u64 },
    /// The swap was rolled back and the copy dropped; the table must be masked by the fallback.
    Abandoned { ranges: u64, why: String },
}

/// The copy a swap fills, as recorded in `offpeak_masking.swap`.
#[derive(Clone, Debug)]
pub(crate) struct Copy {
    /// Unquoted name in the `offpeak_masking` schema.
    pub name: String,
    pub blocks: i64,
    pub step: i64,
}

impl Copy {
    pub fn sql_name(&self) -> String {
        format!("offpeak_masking.{}", quote(&self.name))
    }
}

/// Masks `work`'s table by the swap method, within `budget`.
pub async fn mask(
    db: &mut Db,
    work: &Work<'_>,
    sessions: Sessions<'_>,
    budget: &Budget,
    chunks_so_far: u64,
    fallback: &str,
) -> Result<Outcome, DbError> {
    let copy = start(db, work, sessions.workers).await?;
    let (ranges, complete) = fill::fill(db, work, &copy, sessions, budget, chunks_so_far).await?;
    if !complete {
        return Ok(Outcome::Stopped { ranges });
    }
    let why = match rebuild::swap(db, work, &copy).await {
        Ok(None) => return Ok(Outcome::Swapped { ranges }),
        Ok(Some(difference)) => difference,
        // A server error (a definition that does not replay, an object created meanwhile)
        // rolled the swap back; a lost connection is left to the next run.
        Err(e) if e.code.is_some() => e.to_string(),
        Err(e) => return Err(e),
    };
    abandon(db, work, &copy, fallback).await?;
    Ok(Outcome::Abandoned { ranges, why })
}

/// The table's copy: found when a run started it, else created (empty) and recorded.
async fn start(db: &mut Db, work: &Work<'_>, workers: u64) -> Result<Copy, DbError> {
    let during = work.during();
    let table = Param::Text(Some(work.plan.display.clone()));
    let source = Param::Text(Some(work.sql_name.clone()));
    let node = db
        .value(
            &during,
            "SELECT pg_relation_filenode($1::regclass)::text",
            std::slice::from_ref(&source),
        )
        .await?
        .unwrap_or_default();
    let sql = "SELECT tmp_name, filenode, blocks::text, step::text, \
               (to_regclass('offpeak_masking.' || quote_ident(tmp_name)) IS NOT NULL)::text \
               FROM offpeak_masking.swap WHERE table_name = $1";
    if let Some(r) = db
        .rows(&during, sql, std::slice::from_ref(&table))
        .await?
        .into_iter()
        .next()
    {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        if text(1) == node && text(4) == "true" {
            return Ok(Copy {
                name: text(0),
                blocks: text(2).parse().unwrap_or(0),
                step: text(3).parse().unwrap_or(1),
            });
        }
        // The source was rewritten since the copy started: its block ranges mean other rows now.
        discard(db, work, &text(0), None).await?;
    }
    let blocks = db
        .count(
            &during,
            "SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::bigint)::text",
            std::slice::from_ref(&source),
        )
        .await?;
    let copy = Copy {
        name: copy_name(&work.plan.display),
        blocks,
        step: step(blocks, workers),
    };
    let create = format!(
        "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY \
         INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION INCLUDING STATISTICS)",
        copy.sql_name(),
        work.sql_name
    );
    let record = (
        "INSERT INTO offpeak_masking.swap (table_name, tmp_name, filenode, blocks, step) \
         VALUES ($1, $2, $3, $4, $5)"
            .to_owned(),
        vec![
            table,
            Param::Text(Some(copy.name.clone())),
            Param::Text(Some(node)),
            Param::Int(copy.blocks),
            Param::Int(copy.step),
        ],
    );
    db.transaction(&during, &[(create, Vec::new()), record])
        .await?;
    Ok(copy)
}

/// Drops a copy and its records, and (`then`) switches the table to another method, in one
/// transaction.
async fn discard(
    db: &mut Db,
    work: &Work<'_>,
    name: &str,
    then: Option<&str>,
) -> Result<(), DbError> {
    let table = || vec![Param::Text(Some(work.plan.display.clone()))];
    let mut statements = vec![
        (
            format!("DROP TABLE IF EXISTS offpeak_masking.{}", quote(name)),
            Vec::new(),
        ),
        (
            "DELETE FROM offpeak_masking.swap_range WHERE table_name = $1".to_owned(),
            table(),
        ),
        (
            "DELETE FROM offpeak_masking.swap WHERE table_name = $1".to_owned(),
            table(),
        ),
    ];
    if let Some(method) = then {
        statements.push(bookkeeping::set_method(
            db.dialect,
            &work.plan.display,
            method,
        ));
    }
    db.transaction(&work.during(), &statements)
        .await
        .map(|_| ())
}

/// After a rolled-back swap: the copy goes, and the table's progress names the fallback method.
async fn abandon(db: &mut Db, work: &Work<'_>, copy: &Copy, fallback: &str) -> Result<(), DbError> {
    discard(db, work, &copy.name, Some(fallback)).await
}

/// Blocks per range: at least 8 ranges per session (so sessions finish together), at most
/// 64 MiB per range (so a run stops soon after its deadline).
fn step(blocks: i64, workers: u64) -> i64 {
    const MAX_RANGE_BLOCKS: i64 = 8192;
    let sessions = i64::try_from(workers.max(1)).unwrap_or(1);
    let ranges = (sessions * 8).max(ceil_div(blocks, MAX_RANGE_BLOCKS));
    ceil_div(blocks, ranges).max(1)
}

/// `a / b` rounded up, for `a >= 0` and `b > 0` (`i64::div_ceil` is not stable yet).
pub(crate) fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

/// A stable name per table (the display name may be long or hold any character).
fn copy_name(display: &str) -> String {
    let digest = hex::encode(Sha256::digest(display.as_bytes()));
    format!("swap_{}", &digest[..24])
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_small_enough_to_share_and_to_stop_between() {
        assert_eq!(step(0, 4), 1);
        assert_eq!(step(10, 4), 1);
        assert_eq!(step(40_000, 4), 1250);
        assert_eq!(step(1_000_000, 4), 8131);
        assert_eq!(step(100, 0), 13);
    }

    #[test]
    fn copies_are_named_by_a_digest_of_the_table() {
        let name = copy_name("billing.\"odd\" name");
        assert_eq!(name.len(), 29);
        assert_eq!(name, copy_name("billing.\"odd\" name"));
        assert_ne!(name, copy_name("users"));
    }
}
