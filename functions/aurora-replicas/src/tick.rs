//! One tick for every Aurora target: read state → observe → desired → plan → enroll → claim →
//! apply → notify, then put back the clusters the schedule no longer names.
//!
//! Guarantees:
//! - **AWS calls per tick**: one `BatchGetItem` (per 100 keys: every scheduled cluster's memory
//!   and offpeak's registry), one `DescribeDBClusters` and one `DescribeDBInstances` (each per 100
//!   results) covering scheduled and unscheduled clusters alike, whatever their number. A tick
//!   that puts unscheduled clusters back reads their memory with one more `BatchGetItem`. A
//!   cluster whose plan is empty and whose memory is unchanged costs nothing more: no write of
//!   any kind. A cluster whose memory alone changes costs one `UpdateItem`: its settle. A
//!   cluster the tick changes in AWS costs its claim besides its RDS calls: one `UpdateItem` that
//!   takes its lease and writes its memory together; the leases are given back at the end of the
//!   tick in one `TransactWriteItems` per 100 clusters (one `UpdateItem` when a single cluster
//!   was claimed) ([`crate::cluster`]).
//! - **Nothing changed goes unregistered.** Before the first change to a cluster (or on finding
//!   offpeak's replicas in one it does not know, made before the registry existed), the tick
//!   enrolls it in the registry, one write for all of them; if that write fails, none of those
//!   clusters is changed and each planned action is a notified failure.
//! - **Removing a target orphans nothing.** A registered cluster the schedule no longer names
//!   wants no offpeak replica ([`crate::unscheduled`]); once it is back at its baseline it is
//!   released and its memory deleted ([`crate::cluster`]).
//! - **At-least-once delivery is harmless.** Each cluster is claimed before it is changed (see
//!   [`crate::cluster`]); should a claim be lost anyway (the process dies between claim and
//!   apply), the memory says "not converged" and the first tick after its lease expired
//!   ([`crate::cluster::LEASE_TTL`]) finishes the job; deterministic replica names stop a late
//!   duplicate from adding replicas.
//! - **`at` moves only the schedule.** The event's `at` is the instant the schedule is read at
//!   (and the report's `at`); every timestamp written or sent is the clock's, and overrides are
//!   checked and held by the clock ([`crate::overrides`]).
//! - **A refused override changes nothing.** The event's override is checked before any call
//!   (target, state, end) and against the observed cluster (Aurora's reader limit) before any
//!   plan: refused, the invocation fails as bad input and no cluster is touched.
//! - **Dry-run** reads (state and RDS) and plans, and makes no write call of any kind: no RDS
//!   change, no state or registry write, no notification. Without a state table it plans as if
//!   offpeak remembered nothing, and says so in the report.
//! - **One cluster's failure never stops another's**: actions fail individually (see
//!   [`crate::apply`]), and a cluster whose claim fails is skipped with a failure recorded.
//!
//! Failure behaviour: if the state (registry included) cannot be read or the clusters cannot be
//! described, nothing is planned, a failure notification is published (real runs) and the tick
//! returns the error, so the invocation fails and EventBridge Scheduler's retries and the Lambda
//! error alarm see it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::notify::Notifier;
use offpeak_shared::report::Report;
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{self, Claim, Holder, Record, StateStore};

use crate::action::Action;
use crate::cluster::{Cluster, When, send};
use crate::desired::{Desired, desired};
use crate::observe::{Observed, observe};
use crate::overrides::{self, Request};
use crate::rds::Rds;
use crate::unscheduled::{at_baseline, orphans};
use crate::{FUNCTION, TickError, notices};

/// What a tick runs against: AWS behind narrow seams, and the schedule.
pub struct Deps<'a, R, S> {
    pub rds: &'a R,
    /// The state store; `None` is allowed only in dry-run.
    pub store: Option<&'a S>,
    pub notifier: &'a Notifier,
    pub schedule: &'a Schedule,
}

/// Runs one tick. `clock` is the real clock's value; the event's `at`, when set, replaces it only
/// as the instant the schedule is evaluated at (see [`When`]).
pub async fn run<R: Rds, S: StateStore>(
    deps: &Deps<'_, R, S>,
    event: &InvocationEvent,
    clock: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let request =
        event.checked_override(FUNCTION, |o| overrides::check(deps.schedule, o, clock))?;
    let when = When {
        schedule: event.instant(clock),
        clock,
    };
    let mut report = Report::new(FUNCTION, when.schedule, event.dry_run);
    let wanted = desired(deps.schedule, when.schedule);
    if wanted.is_empty() && deps.store.is_none() {
        // Nothing scheduled, and no registry that could name a cluster to put back.
        return Ok(report);
    }
    let store = store_for(deps.store, event.dry_run, &mut report)?;
    let seen = match read(deps.rds, store, &wanted).await {
        Ok(seen) => seen,
        Err(err) => {
            if !event.dry_run {
                let notice = notices::tick_failed(&err, clock);
                send(deps.notifier, &notice, &mut report).await;
            }
            return Err(err);
        }
    };
    if let Some(r) = &request {
        overrides::fits(r, seen.observed.cluster(r.cluster()))?;
    }
    let (scheduled, unscheduled) = seen.clusters(&wanted, request.as_ref(), clock, &mut report);
    if let (false, Some(store)) = (event.dry_run, store) {
        // One lease holder for every cluster this invocation claims.
        let holder = Holder::new(FUNCTION);
        let registered = &seen.registered;
        let mut held = act(
            deps,
            store,
            registered,
            &scheduled,
            &holder,
            when,
            &mut report,
        )
        .await;
        for c in &unscheduled {
            held.extend(put_back(c, deps, store, &holder, when, &mut report).await);
        }
        give_back(store, held, &mut report).await;
    }
    Ok(report)
}

/// Enrolls the scheduled clusters that need it, then executes each one whose enrolment holds;
/// the claims taken.
async fn act<R: Rds, S: StateStore>(
    deps: &Deps<'_, R, S>,
    store: &S,
    registered: &Registry,
    scheduled: &[Cluster<'_, '_>],
    holder: &Holder,
    when: When,
    report: &mut Report<Action>,
) -> Vec<Claim> {
    let enrolled = enroll(store, registered, scheduled).await;
    let mut held = Vec::new();
    for c in scheduled {
        match &enrolled {
            Err(err) if c.needs_enrolment(registered) => c.refused(deps, err, report).await,
            _ => {
                let turn = c.execute(deps, store, holder, when, report).await;
                held.extend(turn.and_then(|t| t.claim));
            }
        }
    }
    held
}

/// Gives back every lease the tick took, together; one that could not be is a note (it expires
/// by itself).
async fn give_back<S: StateStore>(store: &S, held: Vec<Claim>, report: &mut Report<Action>) {
    for unreleased in state::release_all(store, held).await {
        report.note(unreleased.target.clone(), unreleased.to_string());
    }
}

/// The store to use: required for real runs; a dry-run without one plans from no memory.
fn store_for<'a, S>(
    store: Option<&'a S>,
    dry_run: bool,
    report: &mut Report<Action>,
) -> Result<Option<&'a S>, TickError> {
    match (store, dry_run) {
        (Some(store), _) => Ok(Some(store)),
        (None, true) => {
            report.note(
                FUNCTION,
                "no state table configured: planned as if offpeak remembered nothing (every cluster is a transition)",
            );
            Ok(None)
        }
        (None, false) => Err(TickError::StateNotConfigured),
    }
}

/// What a tick read before planning.
struct Seen {
    /// Memory of scheduled and unscheduled clusters, and the registry, by state key.
    records: HashMap<String, Record>,
    registered: Registry,
    /// Registered clusters the schedule no longer names.
    orphans: Vec<String>,
    observed: Observed,
}

impl Seen {
    /// Plans every cluster, scheduled ones first, and reports the plans; `request` is the event's
    /// override, applied to the cluster it names.
    fn clusters<'d, 's>(
        &self,
        wanted: &'d [Desired<'s>],
        request: Option<&Request>,
        clock: DateTime<Utc>,
        report: &mut Report<Action>,
    ) -> (Vec<Cluster<'d, 's>>, Vec<Cluster<'d, 's>>) {
        let scheduled: Vec<Cluster> = wanted
            .iter()
            .map(|d| {
                let record = self.records.get(d.cluster());
                let request = request.filter(|r| r.cluster() == d.cluster());
                Cluster::scheduled(d, record, &self.observed, request, clock, report)
            })
            .collect();
        let unscheduled: Vec<Cluster> = self
            .orphans
            .iter()
            .map(|id| Cluster::unscheduled(id, self.records.get(id), &self.observed, report))
            .collect();
        for c in scheduled.iter().chain(&unscheduled) {
            c.report_plan(report);
        }
        (scheduled, unscheduled)
    }
}

/// The state read (one more for unscheduled clusters, only when there are any) and the two
/// describes, which cover scheduled and unscheduled clusters alike.
async fn read<R: Rds, S: StateStore>(
    rds: &R,
    store: Option<&S>,
    wanted: &[Desired<'_>],
) -> Result<Seen, TickError> {
    let mut ids: Vec<String> = wanted.iter().map(|d| d.cluster().to_owned()).collect();
    let mut keys = ids.clone();
    keys.push(registry::key(FUNCTION));
    let mut records = get(store, &keys).await?;
    let registered =
        Registry::from_records(&records, FUNCTION).map_err(|source| TickError::ReadState {
            count: keys.len(),
            source,
        })?;
    let orphans = orphans(&registered, wanted);
    if !orphans.is_empty() {
        records.extend(get(store, &orphans).await?);
        ids.extend(orphans.iter().cloned());
    }
    Ok(Seen {
        records,
        registered,
        orphans,
        observed: observe(rds, &ids).await?,
    })
}

async fn get<S: StateStore>(
    store: Option<&S>,
    keys: &[String],
) -> Result<HashMap<String, Record>, TickError> {
    let Some(store) = store else {
        return Ok(HashMap::new());
    };
    store
        .get_many(keys)
        .await
        .map_err(|source| TickError::ReadState {
            count: keys.len(),
            source,
        })
}

/// Enrolls, in one registry write, every scheduled cluster this tick is about to change (or that
/// holds offpeak's replicas) and the registry does not know yet.
async fn enroll<S: StateStore>(
    store: &S,
    registered: &Registry,
    clusters: &[Cluster<'_, '_>],
) -> Result<(), TickError> {
    let new: Vec<&str> = clusters
        .iter()
        .filter(|c| c.needs_enrolment(registered))
        .map(Cluster::id)
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    registry::enroll(store, FUNCTION, &new)
        .await
        .map_err(|source| TickError::Enroll {
            clusters: new.join(", "),
            source,
        })
}

/// Removes an unscheduled cluster's offpeak replicas, and releases it once none is left; the
/// claim taken, unless its state item went with the release (which frees its lease).
async fn put_back<R: Rds, S: StateStore>(
    c: &Cluster<'_, '_>,
    deps: &Deps<'_, R, S>,
    store: &S,
    holder: &Holder,
    when: When,
    report: &mut Report<Action>,
) -> Option<Claim> {
    if at_baseline(&c.plan, &[]) {
        c.release(store, c.version(), report).await;
        return None;
    }
    let turn = c.execute(deps, store, holder, when, report).await?;
    if at_baseline(&c.plan, &turn.applied) && c.release(store, turn.version, report).await {
        return None;
    }
    turn.claim
}
