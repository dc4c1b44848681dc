//! offpeak-masking, the masking engine: mask a PostgreSQL or MySQL/MariaDB database in place by
//! rules, then prove it.
//!
//! Used by the masked refresh (`functions/masked-refresh`, on the quarantined clone), by
//! `offpeak mask`, and by `offpeak validate`, which checks the rules file the schedule names
//! ([`rules::load`]). The engine is given what it needs as data — a URL and, for a verified TLS
//! connection, the trusted roots as PEM ([`Endpoint`]); the key ([`MaskingKey`]) — and reads
//! no environment variable and calls no AWS API. Its tests against real servers live in
//! `tests/tests/masking/`, its benches in `tests/benches/` (they need the test harness,
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
//!   shapes, a keyed-digest sample of originals that must not reappear (not in the rows, the
//!   statistics, or materialized views), statistics left from before masking, rewrites of the
//!   tables whose files could hold originals, foreign keys and indexes.
//! - **No personal value leaves the database** through offpeak: queries return names and counts,
//!   database errors are scrubbed to codes ([`DbError`]), and key material never travels in a
//!   statement or bind parameter the server may log (PostgreSQL: `COPY` data; MySQL/MariaDB:
//!   one-time padded with a pad the server draws and never logs; see `key_transport`).
//!
//! # The promise: what a run that completes and passes verification means
//!
//! (`offpeak mask` exits 0.) An original is a value of a masked column as it was before the run,
//! or anything from a row of a truncated table; "the database" is the one masked, as its own
//! sessions and its files see it. An original whose text is empty or only `*` is no personal
//! value and is not counted (`redact` rightly leaves it as it is).
//!
//! - **Rows.** No masked column holds a sampled original; every masked value has its strategy's
//!   shape; truncated tables are empty.
//! - **Statistics** (PostgreSQL). No statistics row computed from originals is left: column
//!   statistics of the table and of its partitions and inheritance children, the inherited ones
//!   of every table above it, those of its expression indexes, and its extended statistics
//!   (expressions included). `ANALYZE` recomputes what it can; what it would leave — an emptied
//!   table's, a parent's whose tree is empty, a column's whose statistics target is 0 — is
//!   removed as a table's owner can, without superuser (`ALTER COLUMN ... TYPE` to the same type),
//!   and a run the server would refuse that is refused before any change. MariaDB: persistent
//!   statistics (`mysql.column_stats`, histograms included) of changed tables are recomputed.
//! - **Materialized views** (PostgreSQL) are refreshed after the views they read and analysed;
//!   none may hold, in rows or statistics, a sampled original of a masked column it reads.
//! - **Files** (PostgreSQL). No file of a masked table (heap, TOAST, indexes) holds an old row
//!   version of a masked row, and no file of any table holds a dropped column's value, **even
//!   while another session holds a snapshot**: such tables are rewritten copying only live rows
//!   (not by `VACUUM FULL`, which copies what an open snapshot may still see), and each rewrite
//!   is recorded, so the gate knows. With no other snapshot open in the database and the run's
//!   role owning it, no file of the database holds an original, the statistics catalog included
//!   (it is rewritten too). MariaDB: every table updated in place and every kept InnoDB table
//!   is rebuilt (an instant `DROP COLUMN` leaves values in rows, and the catalog does not say
//!   where), so no `.ibd` file holds a dropped column's value or an old row version.
//!
//! - **JSON documents** (`strategy: json`): every scalar at any depth, in a document of any
//!   shape, is either reached by a listed path (wildcards over arrays and keys) and given that
//!   path's strategy, or given the column's required `others` rule; object keys are hashed
//!   unless `keys: keep`. Nothing in a document passes unclassified.
//! - **Default-deny.** What can hold data and is not classified refuses the run before any
//!   change (exit 2, naming it): an unlisted table, column, schema, partition or inheritance
//!   child; a kept table's new column (kept tables list their columns); foreign tables, large
//!   objects, MariaDB system-versioned tables; a MySQL login that cannot see triggers.
//! - **Nothing half-done.** Everything that could fail a table midway is read first (CHECK
//!   constraints and domain checks evaluated against the masked values over every row, lengths,
//!   NOT NULL, ON UPDATE rules, row security, event triggers, cascading keys, inheritance): the
//!   run refuses up front or completes. Triggers of every relation a statement writes are off
//!   while it runs and come back in their exact mode; kept values come back byte for byte (no
//!   swap while the database stores OIDs).
//! - **Logs.** No key material travels in a form the server may log (statement or parameter
//!   logging, pgaudit): see `key_transport`.
//!
//! Not yet covered (exit 0 does not speak for these): the statistics catalog's own dead rows
//! while another session holds a snapshot (nothing a non-superuser can do removes them), and
//! WAL, backups and snapshots of the server; MariaDB undo logs and binary logs (the session's binary
//! logging is off), `mysql.column_stats` pages, MySQL 8 histograms of kept tables;
//! partition-key statistics of a truncated partitioned table (refused, not cleared); tables
//! whose row security is forced (refused); materialized views reading a masked column only
//! through a whole-row reference or through a parent table; JSON statistics beyond the column's
//! own (inherited, expression); a CHECK on a scalar inside a JSON document walked by a routine
//! (preflight reads such documents as they are: a walk keeps their shape).
//!
//! Failure behaviour: every error names the table (and column) involved, never a value; work
//! committed before a failure is valid progress for the next run.

mod apply;
mod bookkeeping;
mod catalog;
mod classify;
pub mod cluster;
mod conn;
mod dialect;
mod expr;
mod json;
mod key;
mod key_transport;
pub mod limits;
mod preflight;
mod report;
pub mod rules;
pub mod scaffold;
mod scrub;
mod swap;
mod verify;

use std::time::Instant;

pub use apply::Budget;
pub use catalog::{Catalog, TableId};
pub use classify::{Audit, Finding, TablePlan, Unclassified};
pub use conn::{Db, Endpoint, Param, Rows};
pub use dialect::Dialect;
pub use key::{KeyError, MaskingKey, SALT_ENV};
pub use report::{Check, MaskReport, Phase, TableReport, Verification};
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

/// The daily rules check: compares `rules` with the live catalog in a read-only session and
/// names what they leave unclassified. Reads the catalog only — no row of any table — and changes
/// nothing, so it runs as a login with no privilege on the tables' rows (see `docs/rules-check.md`).
///
/// What the checking login itself cannot see is not a finding about the database: on
/// MySQL/MariaDB a login without TRIGGER is shown no triggers, which the night's run (as the
/// clone's master user) checks instead.
pub async fn audit(db: &mut Db, rules: &Rules) -> Result<Audit, DbError> {
    db.read_only().await?;
    let mut catalog = Catalog::read(db).await?;
    catalog.unmaskable.retain(|u| !catalog::login_blind(u));
    Ok(classify::audit(rules, &catalog, db.dialect))
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
        deadline: budget.deadline,
    };
    let mut clock = report::Stopwatch::start();
    db.prepare_session(key).await?;
    db.bound_by(budget.deadline).await?;
    let (catalog, plans) = check(db, rules).await?;
    clock.lap("check");
    db.binlog_off().await?;
    db.lock().await?;
    preflight(db, rules, &catalog, &plans).await?;
    bookkeeping::ensure(db).await?;
    clock.lap("preflight");
    json::install(db, &plans).await?;
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
    clock.lap("record");
    apply::truncate(db, &pending_truncate).await?;
    mark_done(
        &mut reports,
        pending_truncate.iter().map(|p| p.display.as_str()),
    );
    clock.lap("truncate");
    let run = apply::Run {
        budget: &budget,
        chunks_so_far: 0,
        sessions,
    };
    let complete = mask_tables(db, rules, run, &pending_mask, &mut reports).await?;
    clock.lap("mask");
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
            apply::finalize(db, &plans, &methods).await?;
            clock.lap("finalize");
            let verification = verify::verify(db, &plans, &catalog).await?;
            clock.lap("verify");
            Some(verification)
        }
        false => None,
    };
    json::uninstall(db, &plans).await?;
    Ok(MaskReport {
        complete,
        tables: reports,
        verification,
        phases: clock.phases(),
    })
}

/// Refuses, before any change, a run whose clean-up the server would refuse (see
/// [`apply::preflight`]).
async fn preflight(
    db: &mut Db,
    rules: &Rules,
    catalog: &Catalog,
    plans: &[TablePlan],
) -> Result<(), MaskError> {
    let refused = apply::preflight(db, plans).await?;
    if refused.is_empty() {
        return Ok(());
    }
    let findings = refused
        .into_iter()
        .map(|(table, message)| classify::finding(rules, catalog, &table, message))
        .collect();
    Err(MaskError::Refused(findings))
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
    // The walk over JSON documents lives in the bookkeeping, which a never-masked database lacks
    // (and then fails verification before any document is looked at).
    let walks = bookkeeping::exists(db).await?;
    if walks {
        json::install(db, &plans).await?;
    }
    let verification = verify::verify(db, &plans, &catalog).await?;
    if walks {
        json::uninstall(db, &plans).await?;
    }
    Ok(verification)
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
