//! One cluster's turn in a real tick: claim it (or settle it), apply its plan, send what is due,
//! and — for a cluster the schedule no longer names — release it once it is back at its baseline.
//!
//! Guarantees:
//! - **Claimed before changed, in one write.** Before it changes a cluster in AWS, a tick claims
//!   it with the shared protocol ([`offpeak_shared::state::claim_with()`]): one conditional write
//!   (one `UpdateItem`) that takes the cluster's lease for [`LEASE_TTL`] and writes the cluster's
//!   memory as its next version, only if no other tick's lease is active and the state is still at
//!   the version the tick planned from. The lease keeps two live ticks apart; the version catches
//!   a tick that planned from stale state (a duplicated delivery, a retry racing the original, a
//!   replay with `at`, an override stored meanwhile). Of two ticks that read the same version,
//!   exactly one acts; the other notes that it stood aside. The lease is taken and judged by the
//!   clock, never by the event's `at`, so a replay cannot take over a live tick's cluster; the
//!   expired lease of a tick that died can be taken over only by a tick that planned from the
//!   current version.
//! - **A change to memory alone is settled, not claimed.** A cluster whose plan has no action but
//!   whose memory changes (replicas became ready, the cluster converged, a notice marked sent, an
//!   override recorded or ended) is written with [`offpeak_shared::state::settle()`]: the same
//!   one conditional write on the same two conditions, taking no lease, so there is nothing to
//!   give back. A settle that loses stands aside exactly as a claim that loses.
//! - **Leases are given back at the end of the tick**, all of them together
//!   ([`offpeak_shared::state::release_all()`]: one `TransactWriteItems` per 100 clusters,
//!   falling back to one `UpdateItem` each when it does not go through), so a tick that comes
//!   right after — an override followed by `offpeak run`, a retried delivery — is not kept away
//!   by a finished one. Until then a cluster this tick changed stays leased: a concurrent tick
//!   stands aside from it a little longer. A tick that dies keeps others away from what it
//!   claimed until [`LEASE_TTL`] (4 minutes, longer than the function's 120 s timeout) has passed.
//! - **A steady cluster is not claimed.** A cluster whose plan is empty and whose memory is
//!   unchanged takes no lease and writes nothing.
//! - **The clock dates what happens.** Memory's `since` and `acted_at` are the clock's value
//!   ([`When::clock`]); the event's `at` ([`When::schedule`]) only decides what the schedule says,
//!   and until when ("replicas requested ... until").
//! - **A failed state write changes nothing**: the cluster's actions are recorded as failed and a
//!   person is told (when there was something to do).
//! - **Overrides are part of the claim.** An override recorded or ended by this tick is written
//!   with the claim (or the settle), and announced only once that write is won; a tick that stood
//!   aside records nothing and says so.
//! - **Released only at its baseline.** An unscheduled cluster's state item is deleted (on the
//!   version this tick read or wrote; that frees the lease with it) and only then is the cluster
//!   released from the registry, so a tick that raced it leaves it registered for the next tick
//!   to look at again.

use chrono::{DateTime, Duration, Utc};
use offpeak_shared::notify::{Notification, Notifier};
use offpeak_shared::report::{Failed, Report};
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{
    self, Claim, Claimed, DeleteOutcome, Holder, PutOutcome, Record, Settled, StateError,
    StateStore, StoodAside,
};

use crate::action::Action;
use crate::apply::{Outcome, apply};
use crate::desired::Desired;
use crate::error::chain;
use crate::memory::{DRIFT_TICKS, Due, Memory};
use crate::observe::Observed;
use crate::overrides::{Hold, Request};
use crate::plan::{TargetPlan, plan};
use crate::rds::Rds;
use crate::tick::Deps;
use crate::{FUNCTION, TickError, notices, unscheduled};

/// A tick's first write to a cluster's state: `next` as `holder`, at `clock`; `lease`: whether
/// the tick will change the cluster in AWS (and so must hold its lease while it does).
struct FirstWrite<'a> {
    holder: &'a Holder,
    next: &'a Memory,
    clock: DateTime<Utc>,
    lease: bool,
}

/// The two instants of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// The instant the schedule is read at: the event's `at`, else the clock.
    pub schedule: DateTime<Utc>,
    /// The clock's value: what happens is dated by it.
    pub clock: DateTime<Utc>,
}

/// How long a cluster's lease lasts: longer than the function's 120 s timeout, so a live tick
/// never loses it, and shorter than the default 5-minute tick, so neither a tick that died nor
/// one that died keeps others away no longer than the next scheduled tick.
pub const LEASE_TTL: Duration = Duration::minutes(4);

/// What a tick that held a cluster did to it.
pub struct Turn {
    /// The cluster's state version after this tick's writes.
    pub version: Option<u64>,
    pub applied: Vec<Action>,
    /// The claim this turn took (a settled cluster has none): given back at the tick's end.
    pub claim: Option<Claim>,
}

/// One cluster's plan, with what it was planned from.
pub struct Cluster<'d, 's> {
    /// What the schedule wants; `None` for a registered cluster it no longer names.
    desired: Option<&'d Desired<'s>>,
    prev: Option<Memory>,
    version: Option<u64>,
    /// What this tick does about the cluster's override.
    hold: Hold,
    pub plan: TargetPlan,
}

impl<'d, 's> Cluster<'d, 's> {
    /// A cluster the schedule names; `request` is the event's override, if it names this
    /// cluster, and `clock` the clock's value (overrides hold by it).
    pub fn scheduled(
        desired: &'d Desired<'s>,
        record: Option<&Record>,
        observed: &Observed,
        request: Option<&Request>,
        clock: DateTime<Utc>,
        report: &mut Report<Action>,
    ) -> Self {
        let prev = remembered(desired.cluster(), record, report);
        let stored = prev.as_ref().and_then(|m| m.override_.as_ref());
        let hold = Hold::at(stored, request, clock);
        let view = observed.cluster(desired.cluster());
        let mut plan = plan(desired, hold.active, prev.as_ref(), view);
        plan.notes.extend(hold.notes.iter().cloned());
        Self {
            desired: Some(desired),
            prev,
            version: record.map(|r| r.version),
            hold,
            plan,
        }
    }

    /// A registered cluster the schedule no longer names.
    pub fn unscheduled(
        id: &str,
        record: Option<&Record>,
        observed: &Observed,
        report: &mut Report<Action>,
    ) -> Self {
        // No override holds a cluster the schedule no longer names: its document goes with it.
        Self {
            desired: None,
            prev: remembered(id, record, report),
            version: record.map(|r| r.version),
            hold: Hold::default(),
            plan: unscheduled::plan(id, observed.cluster(id)),
        }
    }

    pub fn id(&self) -> &str {
        &self.plan.cluster
    }

    /// The state version this tick read.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Whether the cluster must be enrolled before this tick acts on it: it is not registered and
    /// offpeak changes it now or has replicas in it (made before the registry existed).
    pub fn needs_enrolment(&self, registered: &Registry) -> bool {
        let ours = self.plan.census.owned > 0 || !self.plan.actions.is_empty();
        ours && !registered.contains(self.id())
    }

    /// Adds the plan's actions and notes to the report, and logs it.
    pub fn report_plan(&self, report: &mut Report<Action>) {
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

    /// Claims the cluster for `holder` (settles it, when only its memory changes), applies its
    /// plan and sends what is due; `None` when it stood aside.
    pub async fn execute<R: Rds, S: StateStore>(
        &self,
        deps: &Deps<'_, R, S>,
        store: &S,
        holder: &Holder,
        when: When,
        report: &mut Report<Action>,
    ) -> Option<Turn> {
        let finding = self.plan.finding();
        let (mut next, due) =
            Memory::next(self.prev.as_ref(), self.plan.desired, when.clock, &finding);
        next.override_.clone_from(&self.hold.stored);
        let changed = finding.acts || self.prev.as_ref() != Some(&next);
        if next.drift_ticks >= DRIFT_TICKS {
            report.drifting.push(self.id().to_owned());
        }
        let written = match changed {
            false => Some((self.version, None)),
            true => {
                let first = FirstWrite {
                    holder,
                    next: &next,
                    clock: when.clock,
                    lease: finding.acts,
                };
                self.write_first(deps, store, first, report).await
            }
        };
        let Some((mut version, claim)) = written else {
            if self.hold.from_event {
                report.note(
                    self.id(),
                    "the event's override was not applied (this tick stood aside); send it again",
                );
            }
            return None;
        };
        let outcome = apply(deps.rds, &self.plan.actions).await;
        let mut due_notices = self.override_notices();
        due_notices.extend(self.notices(&due, &outcome, when.schedule));
        if let Some(notice) = self.first_failure(&outcome, &mut next) {
            due_notices.push((notice, Marked::Failure));
            version = self.resave(store, &next, version, report).await;
        }
        let applied = outcome.applied.clone();
        record(outcome, report);
        let mut unsent = false;
        for (n, marked) in &due_notices {
            if !send(deps.notifier, n, report).await {
                // Recorded as told only once it was: the next tick finds it due again.
                unsent |= marked.unmark(&mut next);
            }
        }
        if unsent {
            version = self.resave(store, &next, version, report).await;
        }
        Some(Turn {
            version,
            applied,
            claim,
        })
    }

    /// The failure notice, when an action failed and none was sent for this transition yet
    /// (marked sent in `next`).
    fn first_failure(&self, outcome: &Outcome, next: &mut Memory) -> Option<Notification> {
        let (_, first) = outcome.failed.first()?;
        if next.notified.failure {
            return None;
        }
        next.notified.failure = true;
        let failed: Vec<&Action> = outcome.failed.iter().map(|(a, _)| a).collect();
        Some(notices::failed(&self.plan, &failed, first))
    }

    /// Writes `next` after the claim; the version to write against next.
    async fn resave<S: StateStore>(
        &self,
        store: &S,
        next: &Memory,
        version: Option<u64>,
        report: &mut Report<Action>,
    ) -> Option<u64> {
        match self.save(store, next, version).await {
            Ok(PutOutcome::Written { version }) => Some(version),
            Ok(PutOutcome::Conflict) => version,
            Err(err) => {
                report.note(self.id(), chain(&err));
                version
            }
        }
    }

    /// Writes `first.next`, the tick's first change to the cluster: with the cluster's lease
    /// when the tick will change it in AWS ([`state::claim_with()`]), else without one
    /// ([`state::settle()`]), at the clock's `first.clock`. The version to write against next,
    /// and the claim to give back, when the tick won.
    async fn write_first<R: Rds, S: StateStore>(
        &self,
        deps: &Deps<'_, R, S>,
        store: &S,
        first: FirstWrite<'_>,
        report: &mut Report<Action>,
    ) -> Option<(Option<u64>, Option<Claim>)> {
        let doc = serde_json::to_value(first.next).expect("memory serialises to JSON");
        let (id, version, holder, clock) = (self.id(), self.version, first.holder, first.clock);
        let won = match first.lease {
            true => state::claim_with(store, holder, id, version, Some(&doc), clock, LEASE_TTL)
                .await
                .map(|claimed| match claimed {
                    Claimed::Held(claim) => Ok((claim.version(), Some(claim))),
                    Claimed::StoodAside(aside) => Err(aside),
                }),
            false => state::settle(store, holder, id, version, &doc, clock)
                .await
                .map(|settled| match settled {
                    Settled::Written { version } => Ok((Some(version), None)),
                    Settled::StoodAside(aside) => Err(aside),
                }),
        };
        match won {
            Ok(Ok(held)) => Some(held),
            Ok(Err(aside)) => self.lost(deps, Ok(aside), report).await,
            Err(source) => self.lost(deps, Err(source), report).await,
        }
    }

    /// A claim or settle this tick did not win: another tick stood in the way (a note) or the
    /// store failed (the cluster is refused). Nothing is applied either way.
    async fn lost<R: Rds, S: StateStore, T>(
        &self,
        deps: &Deps<'_, R, S>,
        why: Result<StoodAside, StateError>,
        report: &mut Report<Action>,
    ) -> Option<T> {
        match why {
            Ok(aside) => report.note(self.id(), aside.to_string()),
            Err(source) => {
                let err = TickError::Claim {
                    cluster: self.id().to_owned(),
                    source,
                };
                self.refused(deps, &err, report).await;
            }
        }
        None
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

    /// A state write this cluster's change depends on failed (its claim, its enrolment): nothing
    /// is applied (an unrecorded change could repeat or be orphaned), and a person hears about it
    /// if there was something to do.
    pub async fn refused<R: Rds, S: StateStore>(
        &self,
        deps: &Deps<'_, R, S>,
        err: &TickError,
        report: &mut Report<Action>,
    ) {
        let error = chain(err);
        if self.plan.actions.is_empty() {
            report.note(self.id(), error);
            return;
        }
        let actions: Vec<&Action> = self.plan.actions.iter().collect();
        let notice = notices::failed(&self.plan, &actions, err);
        report
            .failed
            .extend(self.plan.actions.iter().map(|action| Failed {
                action: action.clone(),
                error: error.clone(),
            }));
        send(deps.notifier, &notice, report).await;
    }

    /// Forgets an unscheduled cluster that is back at its baseline: deletes its state item (at
    /// `version`), then releases it from the registry. A failure is noted; the next tick retries.
    /// True when its state item is gone (and with it any lease on the cluster).
    pub async fn release<S: StateStore>(
        &self,
        store: &S,
        version: Option<u64>,
        report: &mut Report<Action>,
    ) -> bool {
        let forgotten = match version {
            None => Ok(DeleteOutcome::Deleted),
            Some(v) => store.delete(self.id(), v).await,
        };
        let released = match forgotten {
            Ok(DeleteOutcome::Deleted) => registry::release(store, FUNCTION, self.id()).await,
            Ok(DeleteOutcome::Conflict) => {
                report.note(
                    self.id(),
                    "another tick changed this cluster's state since it was read: it stays registered until a later tick finds it back at its baseline",
                );
                return false;
            }
            Err(source) => {
                let err = TickError::Release {
                    cluster: self.id().to_owned(),
                    source,
                };
                report.note(self.id(), chain(&err));
                return false;
            }
        };
        let note = match released {
            Ok(()) => "no longer scheduled and back at its baseline: released, offpeak no longer tracks it".to_owned(),
            Err(source) => chain(&TickError::Release {
                cluster: self.id().to_owned(),
                source,
            }),
        };
        report.note(self.id(), note);
        true
    }

    /// "override started" for one this tick recorded, "override ended" for one it ended.
    fn override_notices(&self) -> Vec<(Notification, Marked)> {
        let started = self
            .hold
            .recorded
            .iter()
            .map(|held| notices::override_started(self.id(), held));
        let scheduled = self.desired.map_or(0, |d| d.replicas);
        let ended = self
            .hold
            .ended
            .iter()
            .map(|held| notices::override_ended(self.id(), held, scheduled));
        started.chain(ended).map(|n| (n, Marked::Nothing)).collect()
    }

    fn notices(
        &self,
        due: &Due,
        outcome: &Outcome,
        at: DateTime<Utc>,
    ) -> Vec<(Notification, Marked)> {
        let of_kind = |create: bool| -> Vec<&Action> {
            let kind = |a: &&Action| matches!(a, Action::Create(_)) == create;
            outcome.applied.iter().filter(kind).collect()
        };
        let (created, deleted) = (of_kind(true), of_kind(false));
        let mut out = Vec::new();
        if !created.is_empty() {
            let until = self
                .plan
                .held_until
                .or_else(|| self.desired.and_then(|d| d.next_change(at)));
            out.push((
                notices::requested(&self.plan, &created, until),
                Marked::Nothing,
            ));
        }
        if !deleted.is_empty() {
            out.push((notices::removed(&self.plan, &deleted), Marked::Nothing));
        }
        if let Some(writer) = &due.kept_writer {
            out.push((notices::kept_writer(&self.plan, writer), Marked::KeptWriter));
        }
        if due.ready {
            out.push((notices::ready(&self.plan), Marked::Ready));
        }
        if due.drift {
            out.push((notices::drift(&self.plan), Marked::Drift));
        }
        out
    }
}

/// Which "already told" flag of the memory a notice set, so a notice that failed to publish
/// can be unmarked and sent again by the next tick (action notices mark nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marked {
    Nothing,
    Ready,
    Drift,
    Failure,
    KeptWriter,
}

impl Marked {
    /// Clears the flag in `next`; true when there was one to clear.
    fn unmark(self, next: &mut Memory) -> bool {
        let n = &mut next.notified;
        match self {
            Marked::Nothing => return false,
            Marked::Ready => n.ready = false,
            Marked::Drift => n.drift = false,
            Marked::Failure => n.failure = false,
            Marked::KeptWriter => {
                n.kept_writer = None;
                n.drift = false;
            }
        }
        true
    }
}

/// The cluster's memory, when its record decodes; a note otherwise.
fn remembered(id: &str, record: Option<&Record>, report: &mut Report<Action>) -> Option<Memory> {
    record.and_then(|r| match r.decode::<Memory>() {
        Ok(memory) => Some(memory),
        Err(err) => {
            // Treating the cluster as a fresh transition converges it to the schedule: safe.
            report.note(id, format!("{}; treated as a new transition", chain(&err)));
            None
        }
    })
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
pub async fn send(notifier: &Notifier, n: &Notification, report: &mut Report<Action>) -> bool {
    match notifier.notify(n).await {
        Ok(_) => true,
        Err(err) => {
            report.note(n.target.as_str(), chain(&err));
            false
        }
    }
}
