//! Step 2 of a swap: copy the source into the copy, masked, one block range per transaction,
//! on up to `workers` sessions at once.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use super::{Copy, Sessions};
use crate::Budget;
use crate::apply::Work;
use crate::conn::{Db, Endpoint, Param};
use crate::dialect::{PG_IPAD, PG_OPAD};
use crate::scrub::DbError;

/// One block range: `[first, end)`, `end` `None` for the last (open-ended, in case the table
/// grew since the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    first: i64,
    end: Option<i64>,
}

/// What every session needs to copy a range.
struct Job {
    table: String,
    during: String,
    insert: String,
}

/// The ranges left, shared by the sessions, and how many this run has started.
struct Queue {
    ranges: VecDeque<Range>,
    started: u64,
    failed: bool,
}

/// Copies every range not yet copied. Returns the ranges copied now and whether none is left.
pub async fn fill(
    db: &mut Db,
    work: &Work<'_>,
    copy: &Copy,
    sessions: Sessions<'_>,
    budget: &Budget,
    chunks_so_far: u64,
) -> Result<(u64, bool), DbError> {
    let done = copied(db, work).await?;
    let pending: VecDeque<Range> = ranges(copy)
        .into_iter()
        .filter(|r| !done.contains(&r.first))
        .collect();
    let total = pending.len();
    let job = Arc::new(Job {
        table: work.plan.display.clone(),
        during: work.during(),
        insert: insert_sql(work, copy),
    });
    let queue = Arc::new(Mutex::new(Queue {
        ranges: pending,
        started: 0,
        failed: false,
    }));
    let claim = Claim {
        queue: queue.clone(),
        budget: *budget,
        chunks_so_far,
    };
    let workers = usize::try_from(sessions.workers).unwrap_or(1).min(total);
    match sessions.endpoint {
        Some(endpoint) if workers > 1 => {
            parallel(endpoint, sessions, workers, &job, &claim).await?
        }
        _ => copy_ranges(db, &job, &claim).await?,
    };
    let q = queue.lock().unwrap_or_else(|p| p.into_inner());
    Ok((q.started, q.ranges.is_empty()))
}

#[derive(Clone)]
struct Claim {
    queue: Arc<Mutex<Queue>>,
    budget: Budget,
    chunks_so_far: u64,
}

impl Claim {
    /// The next range to copy, unless the budget is spent or a session failed.
    fn next(&self) -> Option<Range> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.failed || self.budget.exhausted(self.chunks_so_far + q.started) {
            return None;
        }
        let range = q.ranges.pop_front()?;
        q.started += 1;
        Some(range)
    }

    /// A failed range goes back (it rolled back) and the other sessions stop claiming.
    fn failed(&self, range: Range) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.failed = true;
        q.started -= 1;
        q.ranges.push_front(range);
    }
}

/// Opens `workers` sessions (each prepared with the key, one after the other), copies on all of
/// them until the queue is empty, and returns the first failure.
async fn parallel(
    endpoint: Endpoint<'_>,
    sessions: Sessions<'_>,
    workers: usize,
    job: &Arc<Job>,
    claim: &Claim,
) -> Result<(), DbError> {
    let mut dbs = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut db = endpoint.connect().await?;
        db.prepare_session(sessions.key).await?;
        db.bound_by(sessions.deadline).await?;
        dbs.push(db);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for mut db in dbs {
        let (job, claim) = (job.clone(), claim.clone());
        tasks.spawn(async move {
            let result = copy_ranges(&mut db, &job, &claim).await;
            db.close().await;
            result
        });
    }
    let mut first = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let result = joined
            .unwrap_or_else(|_| Err(DbError::other(&job.during, "a copying session panicked")));
        if first.is_ok() {
            first = result;
        }
    }
    first
}

/// Copies claimed ranges on `db` until none is left to claim.
async fn copy_ranges(db: &mut Db, job: &Job, claim: &Claim) -> Result<(), DbError> {
    while let Some(range) = claim.next() {
        // An asynchronous commit loses, on a crash, whole transactions only: a range and its
        // record go together, so the next run copies it again, once. It spares each range a
        // WAL flush the fill does not need to wait for.
        let no_wait = ("SET LOCAL synchronous_commit = off".to_owned(), Vec::new());
        // One statement copies the range and records it with its row count.
        let copy = (
            format!(
                "WITH copied AS ({} RETURNING 1) INSERT INTO offpeak_masking.swap_range \
                 (table_name, first_block, rows) SELECT $1, $2, count(*) FROM copied",
                range_sql(&job.insert, range)
            ),
            vec![
                Param::Text(Some(job.table.clone())),
                Param::Int(range.first),
            ],
        );
        if let Err(e) = db.transaction(&job.during, &[no_wait, copy]).await {
            claim.failed(range);
            return Err(e);
        }
    }
    Ok(())
}

/// First blocks of the ranges already copied.
async fn copied(db: &mut Db, work: &Work<'_>) -> Result<BTreeSet<i64>, DbError> {
    let rows = db
        .rows(
            &work.during(),
            "SELECT first_block::text FROM offpeak_masking.swap_range WHERE table_name = $1",
            &[Param::Text(Some(work.plan.display.clone()))],
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r[0].as_deref().and_then(|s| s.parse().ok()))
        .collect())
}

/// Every range of the copy, in block order; the last one is open-ended.
fn ranges(copy: &Copy) -> Vec<Range> {
    let step = copy.step.max(1);
    let count = super::ceil_div(copy.blocks, step).max(1);
    (0..count)
        .map(|k| Range {
            first: k * step,
            end: (k + 1 < count).then_some((k + 1) * step),
        })
        .collect()
}

/// `INSERT INTO copy (every column) SELECT kept columns and masked expressions FROM source`,
/// without its range filter.
fn insert_sql(work: &Work<'_>, copy: &Copy) -> String {
    let d = crate::dialect::Dialect::Postgres;
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for c in &work.plan.table.columns {
        let name = d.ident(&c.name);
        let masked = work
            .masked
            .iter()
            .zip(&work.assignments)
            .find(|(m, _)| m.column.name == c.name);
        values.push(match masked {
            Some((_, (_, e))) => format!("{} AS {name}", key_once_per_statement(e)),
            None => name.clone(),
        });
        columns.push(name);
    }
    format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}",
        copy.sql_name(),
        columns.join(", "),
        values.join(", "),
        work.sql_name
    )
}

fn range_sql(insert: &str, r: Range) -> String {
    let upper = r
        .end
        .map(|e| format!(" AND ctid < '({e},0)'::tid"))
        .unwrap_or_default();
    format!("{insert} WHERE ctid >= '({},0)'::tid{upper}", r.first)
}

/// The key blocks decoded once per statement (an uncorrelated sub-select is an InitPlan) rather
/// than once per value; unlike a constant folded into the plan, an InitPlan's value never
/// appears in `EXPLAIN` output (so `auto_explain` cannot log the key).
fn key_once_per_statement(expr: &str) -> String {
    let mut out = expr.to_owned();
    for setting in [PG_IPAD, PG_OPAD] {
        let read = format!("decode(current_setting('{setting}'), 'hex')");
        out = out.replace(&read, &format!("(SELECT {read})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;

    #[test]
    fn ranges_cover_every_block_once_and_the_last_is_open() {
        let copy = |blocks, step| Copy {
            name: "swap_x".into(),
            blocks,
            step,
        };
        assert_eq!(
            ranges(&copy(0, 1)),
            [Range {
                first: 0,
                end: None
            }]
        );
        let r = ranges(&copy(10, 4));
        assert_eq!(
            r.iter().map(|r| (r.first, r.end)).collect::<Vec<_>>(),
            [(0, Some(4)), (4, Some(8)), (8, None)]
        );
        let sql = range_sql("INSERT x", r[1]);
        assert!(sql.ends_with("WHERE ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid"));
    }

    #[test]
    fn the_key_is_read_by_an_initplan_not_per_value() {
        let e = key_once_per_statement(&Dialect::Postgres.hmac_hex("\"email\""));
        assert!(e.contains("(SELECT decode(current_setting('offpeak.mask_ipad'), 'hex'))"));
        assert!(e.contains("(SELECT decode(current_setting('offpeak.mask_opad'), 'hex'))"));
    }
}
