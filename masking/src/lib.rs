//! offpeak-masking, the masking engine: mask a PostgreSQL or MySQL/MariaDB database in place by
//! rules, then prove it.
//!
//! Used by the masked refresh (`functions/masked-refresh`, on the quarantined clone), by
//! `offpeak mask`, and by `offpeak validate`, which checks the rules file the schedule names
//! ([`rules::load`]). The engine is given what it needs as data — a URL and, for a verified TLS
//! connection, the trusted roots as PEM ([`Endpoint`]); the key ([`MaskingKey`]) — and reads
//! no environment variable and calls no AWS API. Its tests against real servers live in
//! `tests/tests/masking_*.rs`, its benches in `tests/benches/` (they need the test harness,
//! which depends on this crate).
//!
//! Guarantees:
//! - **Default-deny, checked first.** The rules ([`rules`]) are compared with the live catalog
//!   before anything changes; any unclassified table or column, any name the database lacks,
//!   any strategy that does not fit its column, or any masking that could break a unique index
//!   or a foreign key refuses the run ([`MaskError::Refused`], every finding listed) with the
//!   database untouched.
//! - **The database does the work.** Strategies are SQL evaluated by the server, covering all of
//!   a table's masked columns at once: on PostgreSQL, where the table is small enough, a masked
//!   copy filled in parallel and swapped in (`swap`, when every object of the table can be
//!   rebuilt exactly) or a single-statement table rewrite; else primary-key chunks. Pseudonyms
//!   are HMAC-SHA256 with a secret salt: deterministic, so equal values mask equally across
//!   tables and joins survive.
//! - **Resumable.** Progress is committed with each chunk (or, for a swap, each copied block
//!   range) in the database itself; a run cut short ([`Budget`]) resumes where it stopped and
//!   never masks a row, or copies a range, twice.
//! - **Nothing half-done.** A swap replaces its table in one transaction that commits only if the
//!   table's signature (columns, constraints, indexes, triggers, foreign keys both ways, owner,
//!   grants, comments, options, sequences) is what it was; otherwise it rolls back, leaving the
//!   table as it was, and the table is rewritten in place instead. The swap's copy only ever
//!   holds masked values, and the replaced table's files are unlinked when it commits.
//! - **Verified.** [`mask`] ends with the verification gate ([`verify`] runs it alone): rows,
//!   shapes, a keyed-digest sample of originals that must not reappear (also not in `pg_stats`),
//!   foreign keys and indexes.
//! - **No personal value leaves the database** through offpeak: queries return names and counts,
//!   database errors are scrubbed to codes ([`DbError`]), and key material travels only as bind
//!   parameters.
//!
//! Failure behaviour: every error names the table (and column) involved, never a value; work
//! committed before a failure is valid progress for the next run.

mod apply;
mod bookkeeping;
mod catalog;
mod classify;
mod conn;
mod dialect;
mod expr;
mod key;
mod report;
pub mod rules;
mod scrub;
mod swap;
mod verify;

use std::time::Instant;

pub use apply::Budget;
pub use catalog::Catalog;
pub use classify::{Finding, TablePlan};
pub use conn::{Db, Endpoint, Param, Rows};
pub use dialect::Dialect;
pub use key::{KeyError, MaskingKey, SALT_ENV};
pub use report::{Check, MaskReport, TableReport, Verification};
pub use rules::{Rules, RulesError};
pub use scrub::DbError;

use classify::PlannedAction;

/// Why masking or verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The rules and the live schema disagree; nothing was changed.
    #[error("the masking rules and the database disagree; nothing was changed:\n{}", render(.0))]
    Refused(Vec<Finding>),
    /// A table was started under other rules.
    #[error(
        "table {table} was started by a run with different masking rules; finish it with those rules, \
         or restore the database and drop the offpeak_masking bookkeeping to start over"
    )]
    RulesChanged { table: String },
    #[error(transparent)]
    Database(#[from] DbError),
}

impl MaskError {
    /// Bad input (exit 2): nothing was changed because of what the user supplied.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, MaskError::Refused(_) | MaskError::RulesChanged { .. })
    }
}

fn render(findings: &[Finding]) -> String {
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Compares the rules with the live catalog; changes nothing.
pub async fn check(db: &mut Db, rules: &Rules) -> Result<(Catalog, Vec<TablePlan>), MaskError> {
    let catalog = Catalog::read(db).await?;
    let plans = classify::classify(rules, &catalog, db.dialect).map_err(MaskError::Refused)?;
    Ok((catalog, plans))
}

/// Masks the database by `rules`, within `budget`, then verifies it once every table is done.
///
/// Everything runs on `db`; [`mask_parallel`] may also open sessions of its own.
pub async fn mask(
    db: &mut Db,
    rules: &Rules,
    key: &MaskingKey,
    budget: Budget,
) -> Result<MaskReport, MaskError> {
    mask_parallel(db, None, rules, key, budget).await
}

/// [`mask`], with `endpoint` (the database `db` is connected to) to open up to `swap_workers`
/// more sessions that fill PostgreSQL `swap` copies in parallel; `None` fills on `db` alone.
pub async fn mask_parallel(
    db: &mut Db,
    endpoint: Option<Endpoint<'_>>,
    rules: &Rules,
    key: &MaskingKey,
    budget: Budget,
) -> Result<MaskReport, MaskError> {
    let sessions = swap::Sessions {
        endpoint,
        key,
        workers: rules.swap_workers,
    };
    db.prepare_session(key).await?;
    let (catalog, plans) = check(db, rules).await?;
    db.binlog_off().await?;
    db.lock().await?;
    bookkeeping::ensure(db).await?;
    let mut reports: Vec<TableReport> = plans.iter().map(apply::table_report).collect();
    let mut methods = Vec::new();
    let mut pending_truncate = Vec::new();
    let mut pending_mask = Vec::new();
    for (plan, report) in plans.iter().zip(reports.iter_mut()) {
        let work = match &plan.action {
            PlannedAction::Keep => continue,
            PlannedAction::Truncate => None,
            PlannedAction::Mask(cols) => Some(apply::Work::new(db.dialect, plan, cols)),
        };
        let (progress, seen) = apply::record(db, plan, work.as_ref(), rules).await?;
        if let Some(w) = &work
            && progress.fingerprint != w.fingerprint
        {
            return Err(MaskError::RulesChanged {
                table: plan.display.clone(),
            });
        }
        report.method = Some(progress.method.clone());
        report.rows = Some(progress.rows_before);
        report.already_done = seen && progress.done;
        report.done = progress.done;
        methods.push((plan.display.clone(), progress.method.clone()));
        match (progress.done, work) {
            (true, _) => {}
            (false, None) => pending_truncate.push(plan),
            (false, Some(w)) => pending_mask.push((w, progress)),
        }
    }
    apply::truncate(db, &pending_truncate).await?;
    mark_done(
        &mut reports,
        pending_truncate.iter().map(|p| p.display.as_str()),
    );
    let run = apply::Run {
        budget: &budget,
        chunks_so_far: 0,
        sessions,
    };
    let complete = mask_tables(db, rules, run, &pending_mask, &mut reports).await?;
    // A swap that fell back changed its table's method (and so what `finalize` must do).
    for (table, method) in methods.iter_mut() {
        if let Some(m) = reports
            .iter()
            .find(|r| &r.table == table)
            .and_then(|r| r.method.clone())
        {
            *method = m;
        }
    }
    let verification = match complete {
        true => {
            apply::finalize(db, &plans, &methods, &catalog).await?;
            Some(verify::verify(db, &plans, &catalog).await?)
        }
        false => None,
    };
    Ok(MaskReport {
        complete,
        tables: reports,
        verification,
    })
}

fn mark_done<'a>(reports: &mut [TableReport], tables: impl Iterator<Item = &'a str>) {
    for t in tables {
        if let Some(r) = reports.iter_mut().find(|r| r.table == t) {
            r.done = true;
        }
    }
}

/// Masks each pending table in turn; false when the budget ran out first.
async fn mask_tables(
    db: &mut Db,
    rules: &Rules,
    mut run: apply::Run<'_>,
    pending: &[(apply::Work<'_>, bookkeeping::Progress)],
    reports: &mut [TableReport],
) -> Result<bool, MaskError> {
    for (work, progress) in pending {
        let started = Instant::now();
        let masked = apply::mask(db, work, progress, rules, run).await?;
        run.chunks_so_far += masked.chunks;
        if let Some(r) = reports.iter_mut().find(|r| r.table == work.plan.display) {
            r.chunks = masked.chunks;
            r.done = masked.done;
            r.method = Some(masked.method);
            r.seconds = started.elapsed().as_secs_f64();
        }
        if !masked.done {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs the verification gate alone (coverage first: a disagreement is [`MaskError::Refused`]).
pub async fn verify(
    db: &mut Db,
    rules: &Rules,
    key: &MaskingKey,
) -> Result<Verification, MaskError> {
    db.prepare_session(key).await?;
    let (catalog, plans) = check(db, rules).await?;
    Ok(verify::verify(db, &plans, &catalog).await?)
}

/// Drops offpeak's bookkeeping (progress and sample) from a masked database, e.g. before
/// handing it over. A later `mask` would then mask again.
pub async fn forget(db: &mut Db) -> Result<(), MaskError> {
    Ok(bookkeeping::forget(db).await?)
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The Lambda handler and `tokio::spawn` need `Send` futures.
    #[allow(dead_code)]
    async fn futures_are_send(db: &mut Db, rules: &Rules, key: &MaskingKey) {
        let f = mask(db, rules, key, Budget::default());
        assert_send(&f);
    }
}
