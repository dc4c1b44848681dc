//! The only code that changes the database: record, truncate, mask, then tidy up.
//!
//! Order per run: (0) [`preflight`]: every statement step 4 will need that the server would
//! refuse is found before any change; (1) for every table to change, in one transaction each,
//! count its rows, capture its original-value sample and record its progress row; (2)
//! truncate; (3) mask each table by the method recorded for it; (4) once every table is done,
//! [`finalize`]: rewrite the tables whose files could still hold originals (updated in place:
//! old row versions; any table with a dropped column), remove statistics `ANALYZE` would leave
//! from before, refresh statistics and materialized views — so no original value lingers on
//! disk, in the statistics or in a view.
//!
//! Methods: `swap` (PostgreSQL, where a `rewrite` would do and the table is eligible: a masked
//! copy filled by block ranges on several sessions at once, each range committed with its
//! progress, then swapped in — indexes, constraints, foreign keys both ways, triggers, grants,
//! comments, options and sequences rebuilt — in one transaction that commits only if the table's
//! signature is unchanged; see `swap`), `rewrite` (PostgreSQL `ALTER TABLE ... ALTER COLUMN ...
//! TYPE ... USING`, one pass that writes a fresh table and rebuilds its indexes: no dead tuples,
//! all or nothing), `chunked` (UPDATE by primary-key range, each chunk committed together with
//! its progress, so an interrupted run resumes at the next chunk and never masks a row twice),
//! and `single` (one UPDATE in one transaction, for tables without a usable key). PostgreSQL
//! user triggers of every relation an UPDATE or TRUNCATE writes (the table and, if partitioned,
//! its partitions) are disabled inside its transaction and put back in their exact mode
//! (origin, always, replica) before it commits; a swap's copy has no trigger until its data is
//! in (then each is rebuilt in its mode), and `ALTER TABLE` fires none. An inheritance parent's
//! statements name it `ONLY`: each child is masked (or truncated) by its own rule.
//!
//! Failure behaviour: a failed statement rolls its transaction back and surfaces as a scrubbed
//! `DbError`; everything committed before it stays valid progress. A swap whose final
//! transaction fails on the server or would change the table's signature is rolled back (the
//! table untouched, still unmasked), its copy dropped, and the table masked in the same run by
//! the method it would have had without the swap (recorded, so later runs use it too).

use std::time::Instant;

use sha2::{Digest, Sha256};

use super::bookkeeping::{self, Progress, placeholder};
use super::catalog::residue::{self, Scoped, Seed, Stale};
use super::catalog::{ColumnKind, TableId, Trigger};
use super::classify::{MaskedColumn, PlannedAction, TablePlan};
use super::conn::{Db, Param};
use super::dialect::Dialect;
use super::expr;
use super::json;
use super::report::TableReport;
use super::rules::Rules;
use super::scrub::DbError;
use super::swap::{self, Outcome, Sessions};

/// When a run must stop and leave the rest to the next one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    /// Stop before starting a chunk after this instant (e.g. the Lambda deadline minus a margin).
    pub deadline: Option<Instant>,
    /// Stop after this many chunks (tests, and operators who want small steps).
    pub max_chunks: Option<u64>,
}

impl Budget {
    pub(crate) fn exhausted(&self, chunks: u64) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.max_chunks.is_some_and(|m| chunks >= m)
    }
}

/// Everything needed to mask one table, derived from its plan.
pub struct Work<'p> {
    pub plan: &'p TablePlan,
    pub sql_name: String,
    /// What statements reading or updating the table's rows name: `ONLY` it when it has
    /// inheritance children, whose rows their own rules mask (see [`rows_of`]).
    pub rows: String,
    pub masked: &'p [MaskedColumn],
    /// `column = expression` pairs (quoted column, SQL expression).
    pub assignments: Vec<(String, String)>,
    pub fingerprint: String,
}

impl<'p> Work<'p> {
    pub fn new(d: Dialect, plan: &'p TablePlan, masked: &'p [MaskedColumn]) -> Work<'p> {
        let assignments: Vec<(String, String)> = masked
            .iter()
            .map(|m| {
                (
                    d.ident(&m.column.name),
                    expr::masked(d, &m.column, &m.strategy),
                )
            })
            .collect();
        let mut hasher = Sha256::new();
        for (c, e) in &assignments {
            hasher.update(c.as_bytes());
            hasher.update([0]);
            hasher.update(e.as_bytes());
            hasher.update([0]);
        }
        Work {
            plan,
            sql_name: d.table(&plan.table.id.schema, &plan.table.id.name),
            rows: rows_of(d, plan),
            masked,
            assignments,
            fingerprint: hex::encode(hasher.finalize()),
        }
    }

    pub(crate) fn during(&self) -> String {
        format!("masking table {}", self.plan.display)
    }

    /// A single-column primary key that masking leaves alone and the dialect can range over.
    fn chunk_key(&self, d: Dialect) -> Option<(String, String)> {
        let [pk] = self.plan.table.primary_key.as_slice() else {
            return None;
        };
        if self.masked.iter().any(|m| &m.column.name == pk) {
            return None;
        }
        let column = self.plan.table.column(pk)?;
        let cast = match (d, column.kind) {
            (Dialect::Postgres, _) => format!("CAST({{}} AS {})", column.sql_type),
            (Dialect::MySql, ColumnKind::Integer) => "CAST({} AS SIGNED)".to_owned(),
            (Dialect::MySql, ColumnKind::UnsignedInteger) => "CAST({} AS UNSIGNED)".to_owned(),
            (Dialect::MySql, ColumnKind::Text) => "{}".to_owned(),
            _ => return None,
        };
        Some((d.ident(pk), cast))
    }

    /// The method when the swap is not used (or was rolled back). Never `rewrite` for an
    /// inheritance parent: `ALTER TABLE ... TYPE` would rewrite its children's rows by its
    /// rule, and with `ONLY` the server refuses it for an inherited column (SQLSTATE 42P16).
    fn method(&self, d: Dialect, rows: i64, rules: &Rules) -> &'static str {
        let blocked = !self.plan.table.children.is_empty()
            || self
                .masked
                .iter()
                .any(|m| self.plan.table.rewrite_blockers.contains(&m.column.name));
        let small = u64::try_from(rows).unwrap_or(u64::MAX) <= rules.rewrite_max_rows;
        if d == Dialect::Postgres && !blocked && small {
            "rewrite"
        } else if self.chunk_key(d).is_some() {
            "chunked"
        } else {
            "single"
        }
    }
}

/// Step 1 for one table: its progress, created (with row count and sample) on first sight.
pub async fn record(
    db: &mut Db,
    plan: &TablePlan,
    work: Option<&Work<'_>>,
    rules: &Rules,
) -> Result<(Progress, bool), DbError> {
    if let Some(p) = bookkeeping::read(db, &plan.display).await? {
        return Ok((p, true));
    }
    let d = db.dialect;
    // Counted with an inheritance parent's children, as verification counts it; sampled from
    // its own rows, the ones its statements mask.
    let sql_name = d.table(&plan.table.id.schema, &plan.table.id.name);
    let own_rows = rows_of(d, plan);
    let during = format!("recording table {} before masking", plan.display);
    let rows = db
        .count(
            &during,
            &format!("SELECT {} FROM {sql_name}", d.as_text("COUNT(*)")),
            &[],
        )
        .await?;
    let method = match work {
        Some(w) => choose(db, w, rows, rules).await?,
        None => "truncate",
    };
    let progress = Progress {
        fingerprint: work.map_or_else(|| "truncate".to_owned(), |w| w.fingerprint.clone()),
        method: method.to_owned(),
        rows_before: rows,
        last_key: None,
        done: false,
    };
    let mut statements = Vec::new();
    for m in work.map_or(&[][..], |w| w.masked) {
        for spec in expr::checks(d, &m.column, &m.strategy)
            .into_iter()
            .filter(|s| s.sampled)
        {
            let conforms = spec.conforms.as_deref();
            statements.push(bookkeeping::capture(
                d,
                &plan.display,
                &spec.label,
                &spec.value,
                conforms,
                &own_rows,
            ));
        }
        statements.extend(json::capture(d, plan, m));
    }
    statements.push(bookkeeping::start(d, &plan.display, &progress));
    db.transaction(&during, &statements).await?;
    Ok((progress, false))
}

/// The method for a table to mask: `swap` where a `rewrite` would do and the table is eligible,
/// else what [`Work::method`] says.
async fn choose(
    db: &mut Db,
    work: &Work<'_>,
    rows: i64,
    rules: &Rules,
) -> Result<&'static str, DbError> {
    let method = work.method(db.dialect, rows, rules);
    if method != "rewrite" || rules.swap_workers == 0 {
        return Ok(method);
    }
    let reasons = swap::ineligible(db, &work.sql_name).await?;
    if reasons.is_empty() {
        return Ok("swap");
    }
    tracing::info!(
        table = %work.plan.display,
        reasons = %reasons.join("; "),
        "table not eligible for the swap method; rewriting it in place"
    );
    Ok(method)
}

/// What statements reading, updating or truncating `plan`'s rows name: PostgreSQL `ONLY` the
/// table when it has inheritance children (each child has its own rule; without `ONLY` the
/// parent's would reach the children's rows). Partitions are covered by their table.
pub fn rows_of(d: Dialect, plan: &TablePlan) -> String {
    let name = d.table(&plan.table.id.schema, &plan.table.id.name);
    match plan.table.children.is_empty() {
        true => name,
        false => format!("ONLY {name}"),
    }
}

/// Step 2: empties the tables to truncate that are not done yet. PostgreSQL: with the user
/// triggers of every relation truncated off (ON TRUNCATE triggers), as [`with_triggers_off`].
pub async fn truncate(db: &mut Db, plans: &[&TablePlan]) -> Result<(), DbError> {
    if plans.is_empty() {
        return Ok(());
    }
    let d = db.dialect;
    let names: Vec<String> = plans
        .iter()
        .map(|p| d.table(&p.table.id.schema, &p.table.id.name))
        .collect();
    let during = "truncating tables";
    match d {
        Dialect::Postgres => {
            let targets: Vec<String> = plans.iter().map(|p| rows_of(d, p)).collect();
            let mut body = vec![(format!("TRUNCATE {}", targets.join(", ")), Vec::new())];
            body.extend(
                plans
                    .iter()
                    .map(|p| bookkeeping::advance(d, &p.display, None, true)),
            );
            let triggers: Vec<Trigger> = plans
                .iter()
                .flat_map(|p| p.table.write_triggers.iter().cloned())
                .collect();
            db.transaction(during, &triggers_off(d, &triggers, body))
                .await?;
        }
        Dialect::MySql => {
            // TRUNCATE commits implicitly and refuses referenced tables under FK checks; it is
            // idempotent, so marking progress afterwards is safe.
            db.execute(during, "SET FOREIGN_KEY_CHECKS = 0", &[])
                .await?;
            for name in &names {
                db.execute(during, &format!("TRUNCATE TABLE {name}"), &[])
                    .await?;
            }
            db.execute(during, "SET FOREIGN_KEY_CHECKS = 1", &[])
                .await?;
            for p in plans {
                let (sql, params) = bookkeeping::advance(d, &p.display, None, true);
                db.execute(during, &sql, &params).await?;
            }
        }
    }
    Ok(())
}

/// What step 3 did for one table.
#[derive(Debug)]
pub struct Masked {
    /// Chunks (or swap ranges) committed.
    pub chunks: u64,
    pub done: bool,
    /// The method that masked it (a rolled-back swap names its fallback).
    pub method: String,
}

/// Step 3 for one table.
pub async fn mask(
    db: &mut Db,
    work: &Work<'_>,
    progress: &Progress,
    rules: &Rules,
    run: Run<'_>,
) -> Result<Masked, DbError> {
    if progress.method != "swap" {
        let (chunks, done) =
            mask_in_place(db, work, progress, rules, run.budget, run.chunks_so_far).await?;
        return Ok(Masked {
            chunks,
            done,
            method: progress.method.clone(),
        });
    }
    let fallback = work.method(db.dialect, progress.rows_before, rules);
    let outcome = swap::mask(
        db,
        work,
        run.sessions,
        run.budget,
        run.chunks_so_far,
        fallback,
    )
    .await?;
    let (ranges, why) = match outcome {
        Outcome::Stopped { ranges } => {
            return Ok(Masked {
                chunks: ranges,
                done: false,
                method: "swap".into(),
            });
        }
        Outcome::Swapped { ranges } => {
            return Ok(Masked {
                chunks: ranges,
                done: true,
                method: "swap".into(),
            });
        }
        Outcome::Abandoned { ranges, why } => (ranges, why),
    };
    tracing::warn!(table = %work.plan.display, why = %why, fallback, "swap rolled back; masking the table by its fallback method");
    let rest = Progress {
        method: fallback.to_owned(),
        last_key: None,
        done: false,
        ..progress.clone()
    };
    let (chunks, done) = mask_in_place(
        db,
        work,
        &rest,
        rules,
        run.budget,
        run.chunks_so_far + ranges,
    )
    .await?;
    Ok(Masked {
        chunks: chunks + ranges,
        done,
        method: fallback.to_owned(),
    })
}

/// The allowance and sessions of the run, for [`mask`].
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub budget: &'a Budget,
    pub chunks_so_far: u64,
    pub sessions: Sessions<'a>,
}

async fn mask_in_place(
    db: &mut Db,
    work: &Work<'_>,
    progress: &Progress,
    rules: &Rules,
    budget: &Budget,
    chunks_so_far: u64,
) -> Result<(u64, bool), DbError> {
    match progress.method.as_str() {
        "rewrite" => rewrite(db, work).await.map(|()| (0, true)),
        "chunked" => chunked(db, work, progress, rules, budget, chunks_so_far).await,
        _ => single(db, work).await.map(|()| (1, true)),
    }
}

async fn rewrite(db: &mut Db, work: &Work<'_>) -> Result<(), DbError> {
    let alters: Vec<String> = work
        .masked
        .iter()
        .zip(&work.assignments)
        .map(|(m, (col, e))| {
            let collate = m
                .column
                .collation
                .as_ref()
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            format!(
                "ALTER COLUMN {col} TYPE {}{collate} USING {e}",
                m.column.sql_type
            )
        })
        .collect();
    let alter = format!("ALTER TABLE {} {}", work.sql_name, alters.join(", "));
    // The rewrite copied only live rows, with dropped columns as NULL: recorded as such.
    let statements = vec![
        (db.dialect.fold_keys(&alter), Vec::new()),
        bookkeeping::rewritten(&work.sql_name),
        bookkeeping::advance(db.dialect, &work.plan.display, None, true),
    ];
    db.transaction(&work.during(), &statements)
        .await
        .map(|_| ())
}

async fn single(db: &mut Db, work: &Work<'_>) -> Result<(), DbError> {
    let update = (update_sql(work, ""), Vec::new());
    let done = bookkeeping::advance(db.dialect, &work.plan.display, None, true);
    let statements = with_triggers_off(db.dialect, work, vec![update, done]);
    db.transaction(&work.during(), &statements)
        .await
        .map(|_| ())
}

async fn chunked(
    db: &mut Db,
    work: &Work<'_>,
    progress: &Progress,
    rules: &Rules,
    budget: &Budget,
    chunks_so_far: u64,
) -> Result<(u64, bool), DbError> {
    let d = db.dialect;
    let (key, cast) = work.chunk_key(d).expect("chunked method needs a chunk key");
    let bound = |n: usize| cast.replace("{}", &placeholder(d, n));
    let mut last = progress.last_key.clone();
    let mut chunks = 0;
    loop {
        if budget.exhausted(chunks_so_far + chunks) {
            return Ok((chunks, false));
        }
        let after = last
            .as_ref()
            .map(|_| format!("WHERE {key} > {}", bound(1)))
            .unwrap_or_default();
        let next_sql = format!(
            "SELECT {} FROM (SELECT {key} AS k FROM {} {after} ORDER BY {key} LIMIT {}) s",
            d.as_text("MAX(k)"),
            work.rows,
            rules.chunk_rows
        );
        let lower: Vec<Param> = last.iter().map(|k| Param::Text(Some(k.clone()))).collect();
        let next = db.value(&work.during(), &next_sql, &lower).await?;
        let Some(next) = next else {
            let (sql, params) = bookkeeping::advance(d, &work.plan.display, last.as_deref(), true);
            db.execute(&work.during(), &sql, &params).await?;
            return Ok((chunks, true));
        };
        let range = match &last {
            Some(_) => format!("WHERE {key} > {} AND {key} <= {}", bound(1), bound(2)),
            None => format!("WHERE {key} <= {}", bound(1)),
        };
        let mut params = lower;
        params.push(Param::Text(Some(next.clone())));
        let update = (update_sql(work, &range), params);
        let advance = bookkeeping::advance(d, &work.plan.display, Some(&next), false);
        db.transaction(
            &work.during(),
            &with_triggers_off(d, work, vec![update, advance]),
        )
        .await?;
        last = Some(next);
        chunks += 1;
    }
}

fn update_sql(work: &Work<'_>, filter: &str) -> String {
    let sets: Vec<String> = work
        .assignments
        .iter()
        .map(|(c, e)| format!("{c} = {e}"))
        .collect();
    format!("UPDATE {} SET {} {filter}", work.rows, sets.join(", "))
}

/// PostgreSQL: user triggers (audit copies, `updated_at` stamps) must not see or copy the
/// original values, nor rewrite kept ones: every one on a relation the statements write (the
/// table and its partitions, [`Table::write_triggers`](crate::catalog::Table)) is disabled and
/// restored inside the same transaction, in its own mode (see [`triggers_off`]).
fn with_triggers_off(
    d: Dialect,
    work: &Work<'_>,
    body: Vec<(String, Vec<Param>)>,
) -> Vec<(String, Vec<Param>)> {
    triggers_off(d, &work.plan.table.write_triggers, body)
}

/// `body` between statements disabling `triggers` and statements restoring each to its mode:
/// `ENABLE TRIGGER` alone would turn an `ALWAYS` or `REPLICA` trigger into an ordinary one.
/// `ONLY`: a trigger a partitioned table passes to its partitions is listed (and restored)
/// once per partition, each clone in its own mode. A no-op on MySQL.
fn triggers_off(
    d: Dialect,
    triggers: &[Trigger],
    body: Vec<(String, Vec<Param>)>,
) -> Vec<(String, Vec<Param>)> {
    if d != Dialect::Postgres || triggers.is_empty() {
        return body;
    }
    let alter = |t: &Trigger, verb: &str| {
        let sql = format!(
            "ALTER TABLE ONLY {} {verb} TRIGGER {}",
            t.relation,
            d.ident(&t.name)
        );
        (sql, Vec::new())
    };
    let mut out: Vec<(String, Vec<Param>)> = triggers.iter().map(|t| alter(t, "DISABLE")).collect();
    out.extend(body);
    out.extend(triggers.iter().map(|t| alter(t, restore_verb(&t.mode))));
    out
}

/// The `ALTER TABLE` verb that puts a trigger back in mode `tgenabled`.
fn restore_verb(mode: &str) -> &'static str {
    match mode {
        "A" => "ENABLE ALWAYS",
        "R" => "ENABLE REPLICA",
        "D" => "DISABLE",
        _ => "ENABLE",
    }
}

/// Step 4: leave no original outside the masked rows, then refresh statistics and materialized
/// views. PostgreSQL: [`rewrite_files`] for every table updated in place or holding a dropped
/// column's values, [`clear_statistics`] that `ANALYZE` would not replace, `ANALYZE` of every
/// table of the inheritance trees holding a changed table, then each materialized view
/// refreshed (after those it reads) and analysed, and the statistics catalog rewritten where
/// the role may. MySQL: see [`finalize_mysql`].
pub async fn finalize(
    db: &mut Db,
    plans: &[TablePlan],
    methods: &[(String, String)],
) -> Result<(), DbError> {
    if db.dialect == Dialect::MySql {
        return finalize_mysql(db, plans, methods).await;
    }
    let (in_place, emptied) = changed_ids(plans, methods);
    let pending: Vec<String> = residue::needing_rewrite(db, &in_place, &emptied, true)
        .await?
        .into_iter()
        .filter(|n| !n.done)
        .map(|n| n.name)
        .collect();
    for root in residue::rewrite_roots(db, &pending).await? {
        rewrite_files(db, &root).await?;
    }
    let scope = residue::scope(db, &seeds(plans)).await?;
    clear_statistics(db, &scope).await?;
    let analyze: Vec<&str> = scope
        .iter()
        .filter(|s| s.analyze)
        .map(|s| s.name.as_str())
        .collect();
    if !analyze.is_empty() {
        let sql = format!("ANALYZE {}", analyze.join(", "));
        db.execute("refreshing statistics", &sql, &[]).await?;
    }
    for view in residue::materialized_views(db).await? {
        let during = format!("refreshing materialized view {}", view.name);
        for sql in [
            format!("REFRESH MATERIALIZED VIEW {}", view.name),
            format!("ANALYZE {}", view.name),
        ] {
            db.execute(&during, &sql, &[]).await?;
        }
    }
    // The statistics replaced above are dead rows of `pg_statistic` (and its TOAST table) until
    // it is rewritten. Its owner is the bootstrap superuser, but a database's owner may vacuum
    // it; anyone else gets a warning and nothing happens. While another session's snapshot can
    // still see those rows, they are copied like any other (see the crate's promise).
    // Best effort: the promise does not rest on it, so a refusal only warns.
    let vacuum = "VACUUM (FULL) pg_catalog.pg_statistic, pg_catalog.pg_statistic_ext_data";
    match db
        .execute("rewriting the statistics catalog", vacuum, &[])
        .await
    {
        Err(e) if e.code.is_some() => {
            tracing::warn!(error = %e, "the statistics catalog was not rewritten")
        }
        other => {
            other?;
        }
    }
    Ok(())
}

/// The column the PostgreSQL rewrite adds and drops again (see [`rewrite_files`]).
const REWRITE_COLUMN: &str = "offpeak_masking_rewrite";

/// PostgreSQL: writes `root` (and every table under it) into new files holding only the rows
/// every snapshot taken from now on sees, and no dropped column's value; the old files are
/// unlinked when it commits. Recorded in the same transaction.
///
/// Why this statement: `VACUUM FULL` and `CLUSTER` copy every row version another session's
/// snapshot could still see (an open transaction anywhere in the database keeps the originals
/// an `UPDATE` replaced), and `SET ACCESS METHOD` to the same method is no rewrite on current
/// servers. `ALTER TABLE` rewrites (`ADD COLUMN` with a volatile default is one) copy only the
/// live rows, datum by datum, with dropped columns as NULL, and rebuild TOAST and indexes; unlike
/// `ALTER COLUMN ... TYPE` no view, policy or rule blocks it. The added column is dropped at once
/// (a dropped column of NULLs is all that remains of it).
async fn rewrite_files(db: &mut Db, root: &str) -> Result<(), DbError> {
    let during = format!("rewriting {root} so that its files hold only masked rows");
    let statements = vec![
        (
            format!(
                "ALTER TABLE {root} ADD COLUMN {REWRITE_COLUMN} integer \
                 DEFAULT (CASE WHEN random() < 0 THEN 1 END)"
            ),
            Vec::new(),
        ),
        (
            format!("ALTER TABLE {root} DROP COLUMN {REWRITE_COLUMN}"),
            Vec::new(),
        ),
        bookkeeping::rewritten(root),
    ];
    db.transaction(&during, &statements).await.map(|_| ())
}

/// PostgreSQL: removes the statistics of `scope` that `ANALYZE` would leave holding values from
/// before the run (see `catalog::residue`). [`preflight`] has checked that the server accepts
/// each statement.
async fn clear_statistics(db: &mut Db, scope: &[Scoped]) -> Result<(), DbError> {
    let stale = residue::stale_statistics(db, scope).await?;
    let clearings = residue::clearings(db, &stale).await?;
    if clearings.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = scope.iter().map(|s| s.name.clone()).collect();
    let targets = residue::statistics_targets(db, &names).await?;
    for clearing in &clearings {
        let during = format!(
            "removing statistics from before masking of {} ({})",
            clearing.root,
            clearing.columns.join(", ")
        );
        db.execute(&during, &clearing.sql, &[]).await?;
    }
    for sql in &targets {
        db.execute("setting statistics targets again", sql, &[])
            .await?;
    }
    Ok(())
}

/// Before any change: what would make a masking statement fail or misbehave (constraints,
/// domains, lengths over every row's masked values; rules, row security, event triggers: see
/// `crate::preflight`), then, PostgreSQL, every statement [`finalize`] will need to remove
/// statistics that hold originals, tried in a transaction rolled back. Returns, per table
/// refused, the table and why (names, counts and SQLSTATEs only).
pub async fn preflight(
    db: &mut Db,
    plans: &[TablePlan],
) -> Result<Vec<(TableId, String)>, DbError> {
    // What follows reads the tables too, and fails on some of what this refuses (e.g. row
    // security): those refusals come alone.
    let mut refused = crate::preflight::refusals(db, plans).await?;
    if db.dialect != Dialect::Postgres || !refused.is_empty() {
        return Ok(refused);
    }
    refused.extend(rewrites_refused(db, plans).await?);
    let scope = residue::scope(db, &seeds(plans)).await?;
    let stale = residue::stale_statistics(db, &scope).await?;
    for clearing in residue::clearings(db, &stale).await? {
        let Some(code) = dry_run(db, &clearing.sql).await? else {
            continue;
        };
        let mut blocked = Vec::new();
        for column in &clearing.columns {
            let alone = residue::clearings(
                db,
                &[Stale {
                    relation: clearing.root.clone(),
                    column: column.clone(),
                    kept_in: String::new(),
                }],
            )
            .await?;
            if let Some(c) = alone.first()
                && dry_run(db, &c.sql).await?.is_some()
            {
                blocked.push(column.clone());
            }
        }
        let columns = match blocked.is_empty() {
            true => clearing.columns.join(", "),
            false => blocked.join(", "),
        };
        refused.push((
            clearing.root_id.clone(),
            format!(
                "statistics of `{}` (columns {columns}) hold values from rows this run removes or masks, \
                 and the only way a table's owner can remove them, ALTER TABLE ... ALTER COLUMN ... TYPE \
                 to the same type, is refused by the server (SQLSTATE {code}); typical causes: a view, rule, \
                 policy, trigger condition or generated column uses the column, or it is part of a \
                 partition key. Drop those objects in the clone first, or keep the table",
                clearing.root
            ),
        ));
    }
    Ok(refused)
}

/// The rewrites [`finalize`] may need that the server would refuse. Every masked table counts
/// as updated in place: which method masks it is decided later.
async fn rewrites_refused(
    db: &mut Db,
    plans: &[TablePlan],
) -> Result<Vec<(TableId, String)>, DbError> {
    let all_masked: Vec<(String, String)> = plans
        .iter()
        .filter(|p| matches!(p.action, PlannedAction::Mask(_)))
        .map(|p| (p.display.clone(), "single".to_owned()))
        .collect();
    let (in_place, emptied) = changed_ids(plans, &all_masked);
    let recorded = bookkeeping::records_rewrites(db).await?;
    let pending: Vec<String> = residue::needing_rewrite(db, &in_place, &emptied, recorded)
        .await?
        .into_iter()
        .filter(|n| !n.done)
        .map(|n| n.name)
        .collect();
    let roots = residue::rewrite_roots(db, &pending).await?;
    Ok(residue::rewrite_refusals(db, &roots)
        .await?
        .into_iter()
        .map(|(table, reason)| {
            let message = format!(
                "`{}` must be rewritten so that its files keep no original value (old row versions \
                 of masked rows, or values of dropped columns), and the server would refuse: {reason}",
                table.name
            );
            (table, message)
        })
        .collect())
}

/// Runs `sql` in a transaction rolled back: the SQLSTATE when the server refuses it.
async fn dry_run(db: &mut Db, sql: &str) -> Result<Option<String>, DbError> {
    let during = "checking that statistics from before masking can be removed";
    db.execute(during, "BEGIN", &[]).await?;
    let result = db.execute(during, sql, &[]).await;
    db.execute(during, "ROLLBACK", &[]).await?;
    match result {
        Ok(_) => Ok(None),
        // Time running out (a lock, the deadline) is not the server refusing the statement.
        Err(e) if e.is_timeout() => Err(e),
        Err(e) => match e.code {
            Some(code) => Ok(Some(code)),
            None => Err(e),
        },
    }
}

/// Every table the run changes, as `catalog::residue` takes them.
pub fn seeds(plans: &[TablePlan]) -> Vec<Seed> {
    plans
        .iter()
        .filter_map(|p| {
            let (masked, emptied) = match &p.action {
                PlannedAction::Keep => return None,
                PlannedAction::Truncate => (Vec::new(), true),
                PlannedAction::Mask(cols) => {
                    (cols.iter().map(|m| m.column.name.clone()).collect(), false)
                }
            };
            Some(Seed {
                id: p.table.id.clone(),
                masked,
                emptied,
            })
        })
        .collect()
}

/// The tables masked in place (by `methods`, table → method) and the tables truncated.
pub fn changed_ids(
    plans: &[TablePlan],
    methods: &[(String, String)],
) -> (Vec<TableId>, Vec<TableId>) {
    let mut in_place = Vec::new();
    let mut emptied = Vec::new();
    for plan in plans {
        let method = methods
            .iter()
            .find(|(t, _)| t == &plan.display)
            .map(|(_, m)| m.as_str());
        match plan.action {
            PlannedAction::Truncate => emptied.push(plan.table.id.clone()),
            PlannedAction::Mask(_) if updated_in_place(method) => {
                in_place.push(plan.table.id.clone())
            }
            _ => {}
        }
    }
    (in_place, emptied)
}

/// MySQL/MariaDB: rebuild (`ALTER TABLE ... FORCE`) every table updated in place (old row
/// versions keep original bytes in pages until then) and every kept InnoDB table (an instant
/// `DROP COLUMN`, MariaDB 10.4+ and MySQL 8.0.29+, leaves the column's values in the rows, and
/// MariaDB's catalog does not say which tables hold any); then refresh statistics, which keep
/// real values (min/max, histograms), of every changed table.
async fn finalize_mysql(
    db: &mut Db,
    plans: &[TablePlan],
    methods: &[(String, String)],
) -> Result<(), DbError> {
    let d = db.dialect;
    let (in_place, _) = changed_ids(plans, methods);
    for plan in plans {
        let name = d.table(&plan.table.id.schema, &plan.table.id.name);
        let during = format!("rebuilding {}", plan.display);
        let rebuild = match plan.action {
            PlannedAction::Keep => plan.table.transactional,
            PlannedAction::Truncate => false,
            PlannedAction::Mask(_) => in_place.contains(&plan.table.id),
        };
        if rebuild {
            db.execute(&during, &format!("ALTER TABLE {name} FORCE"), &[])
                .await?;
        }
        if !matches!(plan.action, PlannedAction::Keep) {
            let during = format!("refreshing statistics of {}", plan.display);
            mysql_statistics(db, plan, &name, &during).await?;
        }
    }
    Ok(())
}

/// Methods that leave original row versions in the table's files until it is rewritten.
fn updated_in_place(method: Option<&str>) -> bool {
    matches!(method, Some("chunked") | Some("single"))
}

/// `ANALYZE TABLE`, plus MariaDB persistent column statistics and MySQL histograms, which keep
/// real values (min/max, buckets) and must be recomputed from masked data.
async fn mysql_statistics(
    db: &mut Db,
    plan: &TablePlan,
    name: &str,
    during: &str,
) -> Result<u64, DbError> {
    db.execute(during, &format!("ANALYZE TABLE {name}"), &[])
        .await?;
    let table = Param::Text(Some(plan.table.id.name.clone()));
    if db.mariadb {
        let sql = "SELECT CAST(COUNT(*) AS CHAR) FROM mysql.column_stats WHERE db_name = DATABASE() AND table_name = ?";
        if db.count(during, sql, &[table]).await.unwrap_or(0) > 0 {
            db.execute(
                during,
                &format!("ANALYZE TABLE {name} PERSISTENT FOR ALL"),
                &[],
            )
            .await?;
        }
        return Ok(0);
    }
    let sql = "SELECT COLUMN_NAME FROM information_schema.COLUMN_STATISTICS WHERE SCHEMA_NAME = DATABASE() AND TABLE_NAME = ?";
    let columns: Vec<String> = db
        .rows(during, sql, &[table])
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    if !columns.is_empty() {
        let list: Vec<String> = columns.iter().map(|c| db.dialect.ident(c)).collect();
        db.execute(
            during,
            &format!(
                "ANALYZE TABLE {name} UPDATE HISTOGRAM ON {}",
                list.join(", ")
            ),
            &[],
        )
        .await?;
    }
    Ok(0)
}

/// The report line of a table before any work.
pub fn table_report(plan: &TablePlan) -> TableReport {
    let (action, columns) = match &plan.action {
        PlannedAction::Keep => ("keep", Vec::new()),
        PlannedAction::Truncate => ("truncate", Vec::new()),
        PlannedAction::Mask(cols) => (
            "mask",
            cols.iter()
                .map(|m| format!("{}: {}", m.column.name, m.strategy.name()))
                .collect(),
        ),
    };
    TableReport {
        table: plan.display.clone(),
        action,
        method: None,
        columns,
        rows: None,
        chunks: 0,
        already_done: false,
        done: action == "keep",
        seconds: 0.0,
    }
}
