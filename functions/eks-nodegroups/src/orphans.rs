//! Targets offpeak registered that this tick's schedule did not yield (pure planning).
//!
//! offpeak [enrolls](offpeak_shared::state::registry) a target in its registry before it first
//! changes it. A registered target the schedule no longer names — removed from
//! `infra/schedules.yaml` while asleep — would otherwise stay asleep forever. Each tick finds
//! them ([`leftovers`]) and plans them here:
//!
//! - **Removed from the schedule** (an *orphan*): desired `awake`, whatever its last state. If
//!   offpeak holds a pre-sleep state for it (saved, or recovered from its marker: see
//!   [`crate::recover`]) it is woken exactly as a scheduled wake would, and once the restore is
//!   verified it is released from the registry and its state item deleted. Holding nothing, it is
//!   released at once. Skip tags and busy groups are respected as for any target.
//! - **Still covered by a `nodegroups: ["*"]` entry but not listed** this tick: never woken (the
//!   listing may have failed, or be late). Released, keeping its state item, only when AWS says
//!   the node group no longer exists.
//! - **Gone from AWS**: released with a note.
//! - **AccessDenied** (the stack's IAM parameters no longer cover it): kept, flagged, and a person
//!   is notified at once with what to do; unreadable for another reason: kept, and tried again.
//!
//! Assumption: a registered id is a managed node group when its state item recorded so, or when
//! it has the form `<cluster>/<nodegroup>` and its item predates that record.

use std::collections::{BTreeSet, HashMap};

use offpeak_shared::config::Schedule;
use offpeak_shared::state::Record;
use offpeak_shared::state::registry::Registry;

use crate::model::Instants;
use crate::observe::{Live, Observed, View};
use crate::plan::{self, Step, TargetPlan};
use crate::record::{Concern, Stored, TargetDoc};
use crate::recover::{self, Unrestorable};
use crate::targets::{self, Unit};

/// The registered ids that `observed` (the schedule's targets this tick) does not hold.
pub fn leftover_ids<'r>(registry: &'r Registry, observed: &[Observed<'_>]) -> Vec<&'r str> {
    let scheduled: BTreeSet<&str> = observed.iter().map(|o| o.unit.id.as_str()).collect();
    registry.orphans(&scheduled)
}

/// Those ids as units: covered by a `["*"]` entry, or orphans (whose resource their state item,
/// in `records`, may have recorded).
pub fn leftovers<'s>(
    schedule: &'s Schedule,
    ids: &[&str],
    records: &HashMap<String, Record>,
) -> Vec<Unit<'s>> {
    ids.iter()
        .map(|id| {
            targets::resolve(schedule, id).unwrap_or_else(|| {
                let recorded = records.get(*id).and_then(|r| r.decode::<TargetDoc>().ok());
                targets::orphan(id, recorded.and_then(|d| d.resource).as_ref())
            })
        })
        .collect()
}

/// Plans one leftover target.
pub fn plan_leftover(observed: &Observed<'_>, stored: Stored, now: Instants) -> TargetPlan {
    let mut notes = Vec::new();
    let steps = if observed.unit.is_orphan() {
        orphan_steps(observed, &stored, now, &mut notes)
    } else {
        unlisted_steps(&observed.view, &mut notes)
    };
    TargetPlan::new(observed, stored, steps, notes, now.at)
}

/// A node group of a `["*"]` cluster that the cluster's listing did not show.
fn unlisted_steps(view: &View, notes: &mut Vec<String>) -> Vec<Step> {
    match view {
        View::Missing { what } => {
            notes.push(format!(
                "{what}: released from offpeak's registry (its state item is kept)"
            ));
            vec![Step::Release {
                forget_state: false,
            }]
        }
        View::Present(_) | View::Unreadable(_) | View::Denied(_) => {
            notes.push(
                "registered, but not among its cluster's node groups listed this tick; left as is, the next tick looks again"
                    .into(),
            );
            Vec::new()
        }
    }
}

fn orphan_steps(
    observed: &Observed<'_>,
    stored: &Stored,
    now: Instants,
    notes: &mut Vec<String>,
) -> Vec<Step> {
    let attention = stored.doc.attention.as_ref();
    let concern = match &observed.view {
        View::Missing { what } => {
            notes.push(format!(
                "removed from the schedule, and {what}: released from offpeak's registry"
            ));
            return vec![Step::Release { forget_state: true }];
        }
        View::Unreadable(error) => {
            notes.push(format!(
                "removed from the schedule; not observed: {error}; the next tick tries again to put it back"
            ));
            attention.map(|a| a.concern)
        }
        View::Denied(error) => {
            notes.push(denied_note(stored, error));
            Some(Concern::Denied)
        }
        View::Present(live) => match put_back(observed, stored, live, now, notes) {
            Ok(steps) => return steps,
            Err(concern) => concern,
        },
    };
    plan::attention_step(attention, concern, now.clock)
        .into_iter()
        .collect()
}

/// The steps that put a live orphan back and release it; `Err` with what remains when they can't.
fn put_back(
    observed: &Observed<'_>,
    stored: &Stored,
    live: &Live,
    now: Instants,
    notes: &mut Vec<String>,
) -> Result<Vec<Step>, Option<Concern>> {
    if !plan::may_act(live, notes) {
        return Err(stored.doc.attention.as_ref().map(|a| a.concern));
    }
    let release = Step::Release { forget_state: true };
    let baseline = recover::baseline(&stored.doc, live, &observed.unit.cluster, now.clock);
    let saved = match baseline.restorable(notes) {
        Ok(saved) => saved,
        Err(Unrestorable::Lost) => return Err(Some(Concern::LostState)),
        Err(Unrestorable::Unknown) => {
            notes.push(
                "removed from the schedule; offpeak holds nothing to put back: released from offpeak's registry"
                    .into(),
            );
            return Ok(vec![release]);
        }
    };
    notes.push(format!(
        "removed from the schedule while offpeak had it asleep: woken to {}, then released from offpeak's registry",
        saved.scaling
    ));
    let mut steps = plan::restore_steps(&saved, live, notes);
    steps.push(release);
    Ok(steps)
}

fn denied_note(stored: &Stored, error: &str) -> String {
    let sizes = stored.doc.saved.as_ref().map_or_else(
        || "the sizes its offpeak:asleep tag names".to_owned(),
        |s| {
            format!(
                "min={} max={} desired={}",
                s.scaling.min, s.scaling.max, s.scaling.desired
            )
        },
    );
    format!(
        "removed from the schedule, but offpeak's role may no longer touch it ({error}), so offpeak can't put it back. \
         Either set {sizes} on it yourself, delete the offpeak:asleep tag of its auto scaling group, and remove it from the `targets` of state item offpeak/registry/eks-nodegroups; \
         or add it back to infra/schedules.yaml (and the stack's parameters, `offpeak deploy-params`), deploy, let a tick wake it, then remove it again"
    )
}
