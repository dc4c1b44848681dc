//! Apply: the only code that changes anything, in AWS or in the state store.
//!
//! Guarantees, per target:
//! - **A change to offpeak's document alone is settled.** A plan whose every step only edits
//!   the target's state document (an override recorded or ended, a state committed, a problem
//!   flagged or over) is one write: the edited document settled with the shared protocol
//!   ([`offpeak_shared::state::settle()`]), on the claim's two conditions (the version planned
//!   from, no other invocation's lease active) and taking no lease. A settle that loses stands
//!   aside as a claim would, and none of the steps is applied.
//! - **One tick at a time.** Apply first claims the target with the shared protocol
//!   ([`offpeak_shared::state::claim()`]): one conditional write takes the target's lease at
//!   the clock for [`LEASE_TTL`] only if the target's version is still the one planned from. If
//!   another invocation holds the
//!   lease, or the document changed since the plan was made (a concurrent tick finished first,
//!   an override was stored), the tick stands aside and nothing is done. The lease keeps two live
//!   ticks apart; the version catches a tick that planned from stale state, so the expired lease
//!   of a tick that died is taken over only by a tick that planned from the current version. Duplicated
//!   and concurrent ticks therefore converge to one set of changes.
//! - **In order, stop at the first failure.** Steps run in plan order, and a step that fails (or
//!   is deferred) stops the target's remaining steps; the pre-sleep scaling is saved before the
//!   group is touched, so a failure can never lose it. The next tick plans again from what it
//!   then observes. Because a tick observes AWS *before* reading the state store and saves
//!   *before* resizing, a tick that sees a group already at zero also sees the saved scaling:
//!   no interleaving of ticks can save zeros as the pre-sleep size.
//! - A write that loses the race to a concurrent tick (a version conflict) is deferred, not
//!   failed: that tick's result stands.
//! - Every state write is conditional on the version read ([`crate::record::write`]).
//! - A restore that AWS does not show yet is *deferred* too (a note): the saved state is kept and
//!   the next tick verifies again.
//! - A target is released from offpeak's registry (and its state item deleted) only by a
//!   [`Step::Release`], which a plan puts after a verified restore, never before.
//! - Every state write records the resource the target stands for, so it can be found and put
//!   back once the schedule no longer names it.
//! - `now` is the clock (never the event's `at`): leases are taken and expire by it.
//!
//! Failure behaviour: a failed step is returned with its error. The claim is handed back with
//! the outcome and its lease released at the end of the tick, with every other target's
//! ([`crate::reconcile`]); a release failure is a note: the lease expires by itself after
//! [`LEASE_TTL`]. A target whose state item a `Release` step deleted has no lease left to give
//! back.

use chrono::{DateTime, Duration, Utc};
use offpeak_shared::notify::Notifier;
use offpeak_shared::state::{self, Claim, Claimed, Holder, Settled, StateStore, registry};

use crate::FUNCTION;
use crate::aws::{AutoScaling, Eks};
use crate::error::{TickError, chain};
use crate::guard;
use crate::model::{AsgTag, Resource, Scaling, SleepState};
use crate::plan::{Action, Expected, Step, TargetPlan};
use crate::record::{self, Attention, HeldOverride, Saved, Stored, TargetDoc};

/// How long a target's lease lasts: longer than one target's apply, shorter than the default
/// 5-minute tick, so a crashed invocation blocks at most one tick.
pub const LEASE_TTL: Duration = Duration::minutes(4);

/// The AWS clients, state store and notifier a tick works with.
pub struct Services<'a, E, A, S> {
    pub eks: &'a E,
    pub autoscaling: &'a A,
    pub state: &'a S,
    pub notifier: &'a Notifier,
}

/// What became of one action.
#[derive(Debug)]
pub enum Outcome {
    Applied,
    /// Not done yet, for a reason that is not a failure (the next tick tries again).
    Deferred(String),
    Failed(TickError),
}

/// What apply did for one target.
#[derive(Debug)]
pub struct TargetOutcome<'p> {
    pub plan: &'p TargetPlan,
    /// The actions attempted, in order, with what became of each.
    pub results: Vec<(&'p Action, Outcome)>,
    /// Why nothing (or not everything) was attempted.
    pub notes: Vec<String>,
}

impl TargetOutcome<'_> {
    /// True when `step` matches an action of this target that was applied.
    pub fn applied(&self, step: impl Fn(&Step) -> bool) -> bool {
        self.results
            .iter()
            .any(|(a, o)| matches!(o, Outcome::Applied) && step(&a.step))
    }
}

/// Applies one target's plan under its claim, taken for `holder` at the clock's `now` (or
/// settles it, when the plan only edits the document); the claim, to give back at the tick's end.
pub async fn apply_target<'p, E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    plan: &'p TargetPlan,
    holder: &Holder,
    now: DateTime<Utc>,
) -> (TargetOutcome<'p>, Option<Claim>) {
    let mut outcome = TargetOutcome {
        plan,
        results: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(edited) = document_only(plan, now) {
        settle(svc.state, plan, edited, holder, now, &mut outcome).await;
        return (outcome, None);
    }
    let target = plan.target.as_str();
    let version = plan.stored.version;
    let claim = match state::claim(svc.state, holder, target, version, now, LEASE_TTL).await {
        Ok(Claimed::Held(claim)) => claim,
        Ok(Claimed::StoodAside(aside)) => {
            outcome.notes.push(aside.to_string());
            return (outcome, None);
        }
        Err(source) => {
            outcome.notes.push(unclaimed(target, source));
            return (outcome, None);
        }
    };
    // Still at the version planned from: the document is the one the plan was made from.
    let mut session = plan.stored.clone();
    run_steps(svc, plan, &mut session, now, &mut outcome).await;
    // A deleted state item took its lease with it: nothing is left to give back.
    let forgotten = outcome.applied(|s| matches!(s, Step::Release { forget_state: true }));
    (outcome, (!forgotten).then_some(claim))
}

fn unclaimed(target: &str, source: offpeak_shared::state::StateError) -> String {
    let err = TickError::Claim {
        target: target.to_owned(),
        source,
    };
    format!("not applied: {}", chain(&err))
}

/// The document `plan` leaves, when every one of its steps only edits the document.
fn document_only(plan: &TargetPlan, now: DateTime<Utc>) -> Option<Stored> {
    let mut edited = plan.stored.clone();
    edited
        .doc
        .resource
        .get_or_insert_with(|| plan.resource.clone());
    let only = plan
        .actions
        .iter()
        .all(|a| edit(&a.step, &mut edited.doc, now));
    only.then_some(edited)
}

/// Writes `edited`, the plan's whole change, in one settle: every step applied, or none (a
/// failed write fails the first step, as it would have one by one).
async fn settle<'p, S: StateStore>(
    store: &S,
    plan: &'p TargetPlan,
    edited: Stored,
    holder: &Holder,
    now: DateTime<Utc>,
    outcome: &mut TargetOutcome<'p>,
) {
    let target = plan.target.as_str();
    let doc = serde_json::to_value(&edited.doc).expect("a target document always serialises");
    match state::settle(store, holder, target, edited.version, &doc, now).await {
        Ok(Settled::Written { .. }) => outcome
            .results
            .extend(plan.actions.iter().map(|a| (a, Outcome::Applied))),
        Ok(Settled::StoodAside(aside)) => outcome.notes.push(aside.to_string()),
        Err(source) => {
            let err = TickError::WriteState {
                target: target.to_owned(),
                source,
            };
            outcome
                .results
                .push((&plan.actions[0], Outcome::Failed(err)));
            let left = plan.actions.len() - 1;
            if left > 0 {
                outcome.notes.push(format!(
                    "{left} later step(s) not attempted; the next tick plans again"
                ));
            }
        }
    }
}

/// Applies `step` to `doc` when it only edits the document; false (and `doc` unchanged) when it
/// does more.
fn edit(step: &Step, doc: &mut TargetDoc, now: DateTime<Utc>) -> bool {
    match step {
        Step::RecordOverride { state, until } => {
            doc.override_ = Some(HeldOverride {
                state: *state,
                until: *until,
                set_at: now,
                cleared: false,
            });
        }
        Step::EndOverride { .. } => doc.override_ = None,
        Step::CommitDesired { state } => doc.desired = Some(*state),
        Step::Flag {
            concern,
            since,
            report,
        } => {
            doc.attention = Some(Attention {
                concern: *concern,
                since: *since,
                reported: *report,
            });
        }
        Step::Unflag { .. } => doc.attention = None,
        Step::SaveScaling { .. }
        | Step::ParkAutoscalerTags { .. }
        | Step::ScaleToZero { .. }
        | Step::RestoreScaling { .. }
        | Step::RestoreAutoscalerTags { .. }
        | Step::VerifyRestore(_)
        | Step::Release { .. } => return false,
    }
    true
}

async fn run_steps<'p, E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    plan: &'p TargetPlan,
    session: &mut Stored,
    now: DateTime<Utc>,
    outcome: &mut TargetOutcome<'p>,
) {
    session
        .doc
        .resource
        .get_or_insert_with(|| plan.resource.clone());
    for (i, action) in plan.actions.iter().enumerate() {
        let result = match run_step(svc, action, session, now).await {
            Ok(None) => Outcome::Applied,
            Ok(Some(reason)) => Outcome::Deferred(reason),
            // Another tick got there first: not a failure, and the next tick sees its result.
            Err(err @ TickError::StateConflict { .. }) => Outcome::Deferred(chain(&err)),
            Err(err) => Outcome::Failed(err),
        };
        let stop = !matches!(result, Outcome::Applied);
        outcome.results.push((action, result));
        let left = plan.actions.len() - i - 1;
        if stop {
            if left > 0 {
                outcome.notes.push(format!(
                    "{left} later step(s) not attempted; the next tick plans again"
                ));
            }
            return;
        }
    }
}

/// Runs one step. `Ok(Some(reason))`: deferred.
async fn run_step<E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    action: &Action,
    session: &mut Stored,
    now: DateTime<Utc>,
) -> Result<Option<String>, TickError> {
    let (store, target) = (svc.state, action.target.as_str());
    let done = |()| None;
    match &action.step {
        step @ (Step::RecordOverride { .. }
        | Step::EndOverride { .. }
        | Step::CommitDesired { .. }
        | Step::Flag { .. }
        | Step::Unflag { .. }) => {
            commit(store, target, session, |d| {
                edit(step, d, now);
            })
            .await
        }
        Step::SaveScaling {
            scaling,
            asg,
            autoscaler_tags,
            at,
        } => {
            let saved = Saved {
                scaling: *scaling,
                asg: asg.clone(),
                autoscaler_tags: autoscaler_tags.clone(),
                at: *at,
            };
            save(store, target, session, saved).await.map(done)
        }
        Step::ParkAutoscalerTags { asg, tags, marker } => {
            park(svc, target, session, asg, tags, marker)
                .await
                .map(done)
        }
        Step::ScaleToZero { from } => resize(svc, &action.resource, from.asleep()).await.map(done),
        Step::RestoreScaling { to, .. } => resize(svc, &action.resource, *to).await.map(done),
        Step::RestoreAutoscalerTags { asg, tags } => {
            restore_tags(svc.autoscaling, asg, tags).await.map(done)
        }
        Step::VerifyRestore(expected) => verify_and_clear(svc, action, expected, session).await,
        Step::Release { forget_state } => release(store, target, session, *forget_state)
            .await
            .map(done),
    }
}

/// Deletes the target's state item (with `forget_state`), then removes it from the registry:
/// while it is registered, a failure here is retried by the next tick.
async fn release<S: StateStore>(
    store: &S,
    target: &str,
    session: &Stored,
    forget_state: bool,
) -> Result<(), TickError> {
    if forget_state {
        record::delete(store, target, session).await?;
    }
    registry::release(store, FUNCTION, target)
        .await
        .map_err(|source| TickError::Release {
            target: target.to_owned(),
            source,
        })
}

/// Edits the document and writes it (a step that changes only offpeak's own state).
async fn commit<S: StateStore>(
    store: &S,
    target: &str,
    session: &mut Stored,
    edit: impl FnOnce(&mut TargetDoc),
) -> Result<Option<String>, TickError> {
    edit(&mut session.doc);
    record::write(store, target, session).await.map(|()| None)
}

/// Saves the pre-sleep state; refuses to replace one already saved.
async fn save<S: StateStore>(
    store: &S,
    target: &str,
    session: &mut Stored,
    saved: Saved,
) -> Result<(), TickError> {
    if session.doc.saved.is_some() {
        return Err(TickError::SavedExists {
            target: target.to_owned(),
        });
    }
    session.doc.saved = Some(saved);
    record::write(store, target, session).await
}

/// Removes the discovery tags, after making sure every one of them is saved (EKS may have put a
/// tag back during the sleep: it is added to the saved set, never replacing a saved value).
async fn park<E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    target: &str,
    session: &mut Stored,
    asg: &str,
    tags: &[AsgTag],
    marker: &AsgTag,
) -> Result<(), TickError> {
    let Some(saved) = session.doc.saved.as_mut() else {
        return Err(TickError::NothingSaved {
            target: target.to_owned(),
        });
    };
    let unsaved: Vec<AsgTag> = tags
        .iter()
        .filter(|t| !saved.autoscaler_tags.iter().any(|s| s.key == t.key))
        .cloned()
        .collect();
    if !unsaved.is_empty() {
        saved.autoscaler_tags.extend(unsaved);
        saved.asg.get_or_insert_with(|| asg.to_owned());
        record::write(svc.state, target, session).await?;
    }
    svc.autoscaling
        .put_tags(asg, std::slice::from_ref(marker))
        .await?;
    let keys: Vec<String> = tags.iter().map(|t| t.key.clone()).collect();
    svc.autoscaling.delete_tags(asg, &keys).await
}

/// Puts the saved discovery tags back and removes the `offpeak:asleep` marker.
async fn restore_tags<A: AutoScaling>(
    autoscaling: &A,
    asg: &str,
    tags: &[AsgTag],
) -> Result<(), TickError> {
    if !tags.is_empty() {
        autoscaling.put_tags(asg, tags).await?;
    }
    autoscaling
        .delete_tags(asg, &[guard::MIRROR_KEY.to_owned()])
        .await
}

/// Clears the saved state and records `awake`, once AWS shows exactly what was saved.
async fn verify_and_clear<E: Eks, A: AutoScaling, S: StateStore>(
    svc: &Services<'_, E, A, S>,
    action: &Action,
    expected: &Expected,
    session: &mut Stored,
) -> Result<Option<String>, TickError> {
    if let Some(reason) = verify(svc, &action.resource, expected).await? {
        return Ok(Some(reason));
    }
    commit(svc.state, &action.target, session, |d| {
        d.saved = None;
        d.desired = Some(SleepState::Awake);
    })
    .await
}

async fn resize<E: Eks, A: AutoScaling, S>(
    svc: &Services<'_, E, A, S>,
    resource: &Resource,
    scaling: Scaling,
) -> Result<(), TickError> {
    match resource {
        Resource::Nodegroup { cluster, nodegroup } => {
            svc.eks.update_scaling(cluster, nodegroup, scaling).await
        }
        Resource::AutoScalingGroup { name } => svc.autoscaling.update_size(name, scaling).await,
    }
}

/// `Ok(None)` when the target shows `expect` and the saved tags; else why not (yet).
async fn verify<E: Eks, A: AutoScaling, S>(
    svc: &Services<'_, E, A, S>,
    resource: &Resource,
    expected: &Expected,
) -> Result<Option<String>, TickError> {
    let (expect, tags) = (expected.scaling, expected.autoscaler_tags.as_slice());
    let gone = || TickError::Gone {
        resource: resource.to_string(),
    };
    let actual = match resource {
        Resource::Nodegroup { cluster, nodegroup } => {
            svc.eks
                .describe_nodegroup(cluster, nodegroup)
                .await?
                .ok_or_else(gone)?
                .scaling
        }
        Resource::AutoScalingGroup { name } => {
            describe_one(svc.autoscaling, name)
                .await?
                .ok_or_else(gone)?
                .scaling
        }
    };
    if actual != expect {
        return Ok(Some(format!(
            "restore not visible yet ({actual}, expected {expect}); the saved scaling is kept and verified on the next tick"
        )));
    }
    let Some(asg) = expected.asg.as_deref().filter(|_| !tags.is_empty()) else {
        return Ok(None);
    };
    let group = describe_one(svc.autoscaling, asg).await?;
    let missing = group.map_or_else(|| tags.to_vec(), |g| guard::to_restore(&g, tags));
    Ok((!missing.is_empty()).then(|| {
        format!(
            "cluster-autoscaler tags {} not visible yet on auto scaling group {asg}; verified on the next tick",
            crate::model::keys(&missing)
        )
    }))
}

async fn describe_one<A: AutoScaling>(
    autoscaling: &A,
    name: &str,
) -> Result<Option<crate::aws::AsgView>, TickError> {
    let groups = autoscaling.describe_groups(&[name.to_owned()]).await?;
    Ok(groups.into_iter().find(|g| g.name == name))
}
