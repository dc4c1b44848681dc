//! One tick for every Aurora target: read state → observe → desired → plan → claim → apply →
//! notify.
//!
//! Guarantees:
//! - **AWS calls per tick**: one `BatchGetItem` (per 100 clusters), one `DescribeDBClusters` and
//!   one `DescribeDBInstances` (each per 100 results), whatever the number of clusters. A cluster
//!   whose plan is empty and whose memory is unchanged costs nothing more: no write of any kind.
//! - **At-least-once delivery is harmless.** Before it changes a cluster, a tick writes that
//!   cluster's memory with a conditional put on the version it read: the *claim*. Of two ticks
//!   that read the same version (a duplicated delivery, a retry racing the original), exactly one
//!   claims and acts; the other notes that it stood aside. Should a claim be lost anyway (the
//!   process dies between claim and apply), the memory says "not converged" and the next tick
//!   finishes the job; deterministic replica names stop a late duplicate from adding replicas.
//! - **Dry-run** reads (state and RDS) and plans, and makes no write call of any kind: no RDS
//!   change, no state write, no notification. Without a state table it plans as if offpeak
//!   remembered nothing, and says so in the report.
//! - **One cluster's failure never stops another's**: actions fail individually (see
//!   [`crate::apply`]), and a cluster whose claim fails is skipped with a failure recorded.
//!
//! Failure behaviour: if the state cannot be read or the clusters cannot be described, nothing is
//! planned, a failure notification is published (real runs) and the tick returns the error, so
//! the invocation fails and EventBridge Scheduler's retries and the Lambda error alarm see it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::notify::{Notification, Notifier};
use offpeak_shared::report::{Failed, Report};
use offpeak_shared::state::{PutOutcome, Record, StateStore};

use crate::action::Action;
use crate::apply::{Outcome, apply};
use crate::desired::{Desired, desired};
use crate::error::chain;
use crate::memory::{DRIFT_TICKS, Memory};
use crate::observe::{Observed, observe};
use crate::plan::{TargetPlan, plan};
use crate::rds::Rds;
use crate::{FUNCTION, TickError, notices};

/// What a tick runs against: AWS behind narrow seams, and the schedule.
pub struct Deps<'a, R, S> {
    pub rds: &'a R,
    /// The state store; `None` is allowed only in dry-run.
    pub store: Option<&'a S>,
    pub notifier: &'a Notifier,
    pub schedule: &'a Schedule,
}

/// Runs one tick. `clock` is the real clock's value; the event's `at`, when set, replaces it as the
/// instant the schedule is evaluated at.
pub async fn run<R: Rds, S: StateStore>(
    deps: &Deps<'_, R, S>,
    event: &InvocationEvent,
    clock: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    event.ensure_no_override(FUNCTION)?;
    let at = event.instant(clock);
    let mut report = Report::new(FUNCTION, at, event.dry_run);
    let wanted = desired(deps.schedule, at);
    if wanted.is_empty() {
        return Ok(report);
    }
    let store = store_for(deps.store, event.dry_run, &mut report)?;
    let (records, observed) = match read(deps.rds, store, &wanted).await {
        Ok(found) => found,
        Err(err) => {
            if !event.dry_run {
                send(deps.notifier, &notices::tick_failed(&err, at), &mut report).await;
            }
            return Err(err);
        }
    };
    for d in &wanted {
        let cluster = Cluster::new(d, records.get(d.cluster()), &observed, &mut report);
        cluster.report_plan(&mut report);
        if let (false, Some(store)) = (event.dry_run, store) {
            cluster.execute(deps, store, at, &mut report).await;
        }
    }
    Ok(report)
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

/// The one state read and the two describes.
async fn read<R: Rds, S: StateStore>(
    rds: &R,
    store: Option<&S>,
    wanted: &[Desired<'_>],
) -> Result<(HashMap<String, Record>, Observed), TickError> {
    let ids: Vec<String> = wanted.iter().map(|d| d.cluster().to_owned()).collect();
    let records = match store {
        Some(store) => store
            .get_many(&ids)
            .await
            .map_err(|source| TickError::ReadState {
                count: ids.len(),
                source,
            })?,
        None => HashMap::new(),
    };
    let observed = observe(rds, &ids).await?;
    Ok((records, observed))
}

/// Whether this tick may act on a cluster.
enum Claim {
    /// It may; `version` is the state version to write against next.
    Held { version: Option<u64> },
    /// Another tick got there first, or the state could not be written.
    StoodAside,
}

/// One cluster's plan, with what it was planned from.
struct Cluster<'d, 's> {
    desired: &'d Desired<'s>,
    prev: Option<Memory>,
    version: Option<u64>,
    plan: TargetPlan,
}

impl<'d, 's> Cluster<'d, 's> {
    fn new(
        desired: &'d Desired<'s>,
        record: Option<&Record>,
        observed: &Observed,
        report: &mut Report<Action>,
    ) -> Self {
        let prev = record.and_then(|r| match r.decode::<Memory>() {
            Ok(memory) => Some(memory),
            Err(err) => {
                // Treating the cluster as a fresh transition converges it to the schedule: safe.
                report.note(
                    desired.cluster(),
                    format!("{}; treated as a new transition", chain(&err)),
                );
                None
            }
        });
        let plan = plan(desired, prev.as_ref(), observed.cluster(desired.cluster()));
        Self {
            desired,
            prev,
            version: record.map(|r| r.version),
            plan,
        }
    }

    fn id(&self) -> &str {
        self.desired.cluster()
    }

    /// Adds the plan's actions and notes to the report, and logs it.
    fn report_plan(&self, report: &mut Report<Action>) {
        let plan = &self.plan;
        report.plan.extend(plan.actions.iter().cloned());
        for note in &plan.notes {
            report.note(self.id(), note.clone());
        }
        tracing::info!(
            cluster = self.id(),
            desired = plan.desired,
            present = plan.census.present,
            mode = ?plan.mode,
            actions = plan.actions.len(),
            "planned"
        );
    }

    /// Claims the cluster, applies its plan and sends what is due.
    async fn execute<R: Rds, S: StateStore>(
        self,
        deps: &Deps<'_, R, S>,
        store: &S,
        at: DateTime<Utc>,
        report: &mut Report<Action>,
    ) {
        let finding = self.plan.finding();
        let (mut next, due) = Memory::next(self.prev.as_ref(), self.desired.replicas, at, &finding);
        let changed = finding.acts || self.prev.as_ref() != Some(&next);
        if next.drift_ticks >= DRIFT_TICKS {
            report.drifting.push(self.id().to_owned());
        }
        let version = match self.claim(deps, store, &next, changed, report).await {
            Claim::Held { version } => version,
            Claim::StoodAside => return,
        };
        let outcome = apply(deps.rds, &self.plan.actions).await;
        let mut due_notices = self.notices(&due, &outcome, at);
        let first_failure = outcome.failed.first().map(|(_, err)| err);
        if let (Some(first), false) = (first_failure, next.notified.failure) {
            let failed: Vec<&Action> = outcome.failed.iter().map(|(a, _)| a).collect();
            due_notices.push(notices::failed(&self.plan, &failed, first));
            next.notified.failure = true;
            if let Err(err) = self.save(store, &next, version).await {
                report.note(self.id(), chain(&err));
            }
        }
        record(outcome, report);
        for n in &due_notices {
            send(deps.notifier, n, report).await;
        }
    }

    /// Writes `next` (when `changed`) conditionally on the version this tick read. Winning that
    /// write is what entitles a tick to act on the cluster.
    async fn claim<R: Rds, S: StateStore>(
        &self,
        deps: &Deps<'_, R, S>,
        store: &S,
        next: &Memory,
        changed: bool,
        report: &mut Report<Action>,
    ) -> Claim {
        if !changed {
            return Claim::Held {
                version: self.version,
            };
        }
        match self.save(store, next, self.version).await {
            Ok(PutOutcome::Written { version }) => Claim::Held {
                version: Some(version),
            },
            Ok(PutOutcome::Conflict) => {
                report.note(
                    self.id(),
                    "another tick changed this cluster's state since it was read: it acts, this one stood aside",
                );
                Claim::StoodAside
            }
            Err(err) => {
                self.claim_failed(deps, err, report).await;
                Claim::StoodAside
            }
        }
    }

    async fn save<S: StateStore>(
        &self,
        store: &S,
        memory: &Memory,
        version: Option<u64>,
    ) -> Result<PutOutcome, TickError> {
        let doc = serde_json::to_value(memory).expect("memory serialises to JSON");
        store
            .put(self.id(), &doc, version)
            .await
            .map_err(|source| TickError::WriteState {
                cluster: self.id().to_owned(),
                source,
            })
    }

    /// The state write failed: nothing is applied (an unrecorded change could repeat), and a
    /// person hears about it if there was something to do.
    async fn claim_failed<R: Rds, S: StateStore>(
        &self,
        deps: &Deps<'_, R, S>,
        err: TickError,
        report: &mut Report<Action>,
    ) {
        let error = chain(&err);
        if self.plan.actions.is_empty() {
            report.note(self.id(), error);
            return;
        }
        let actions: Vec<&Action> = self.plan.actions.iter().collect();
        let notice = notices::failed(&self.plan, &actions, &err);
        report
            .failed
            .extend(self.plan.actions.iter().map(|action| Failed {
                action: action.clone(),
                error: error.clone(),
            }));
        send(deps.notifier, &notice, report).await;
    }

    fn notices(
        &self,
        due: &crate::memory::Due,
        outcome: &Outcome,
        at: DateTime<Utc>,
    ) -> Vec<Notification> {
        let created: Vec<&Action> = outcome
            .applied
            .iter()
            .filter(|a| matches!(a, Action::Create(_)))
            .collect();
        let deleted: Vec<&Action> = outcome
            .applied
            .iter()
            .filter(|a| matches!(a, Action::Delete(_)))
            .collect();
        let mut out = Vec::new();
        if !created.is_empty() {
            let until = self.desired.next_change(at);
            out.push(notices::requested(&self.plan, &created, until));
        }
        if !deleted.is_empty() {
            out.push(notices::removed(&self.plan, &deleted));
        }
        if let Some(writer) = &due.kept_writer {
            out.push(notices::kept_writer(&self.plan, writer));
        }
        if due.ready {
            out.push(notices::ready(&self.plan));
        }
        if due.drift {
            out.push(notices::drift(&self.plan));
        }
        out
    }
}

fn record(outcome: Outcome, report: &mut Report<Action>) {
    report.applied.extend(outcome.applied);
    report
        .failed
        .extend(outcome.failed.into_iter().map(|(action, err)| Failed {
            action,
            error: chain(&err),
        }));
}

/// Publishes `n`; a failed publish is noted, never fatal (the notifier has logged it already).
async fn send(notifier: &Notifier, n: &Notification, report: &mut Report<Action>) {
    if let Err(err) = notifier.notify(n).await {
        report.note(n.target.as_str(), chain(&err));
    }
}
