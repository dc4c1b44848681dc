//! Plan (pure): from what was observed, what is stored and the [`crate::desired`] state, the
//! steps that converge a target.
//!
//! **Transition gating.** offpeak acts when the desired state (the schedule's at `at`, unless an
//! override holds at the clock) differs from the state it last converged the target to (stored
//! as `desired`): a window opened or closed, an override started or ended, or the target is new.
//! Between transitions it leaves the target alone, so a person who scales a node group up on
//! Saturday keeps it; that is reported as drift. `enforce: true` converges every tick instead.
//!
//! **Sleep** = save `{min, max, desired}` and the cluster-autoscaler discovery tags (only if
//! nothing is saved yet), put the `offpeak:asleep` marker mirroring them on the group's Auto
//! Scaling group and remove the discovery tags, set `min = desired = 0` keeping `max`, record
//! `asleep`. **Wake** = restore exactly the saved size and tags, then verify and clear the saved
//! state (recording `awake` in the same write). Each step is planned only if it changes something,
//! so a converged target has an empty plan and a duplicated tick makes no write.
//!
//! **Lost state.** What is saved comes from [`recover::baseline`]: with the state item gone, a
//! marked group's pre-sleep state is read back from its marker, so zeros are never saved as a
//! pre-sleep size and a wake never restores zeros. A marked group whose marker can't be read is
//! neither slept nor woken: it is flagged and a person is notified at once with what to set.
//!
//! Targets that are missing, unreadable, denied (`AccessDenied`), busy (`UPDATING`) or tagged
//! `offpeak:skip-until` get no scaling steps, only notes (and, for missing and denied ones, a
//! one-time notification). Targets the schedule no longer names are planned by [`crate::orphans`].

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use offpeak_shared::event::{Override, OverrideState};
use serde::Serialize;

use crate::desired;
use crate::guard;
use crate::marker;
use crate::model::{self, AsgTag, Instants, Resource, Scaling, SleepState};
use crate::observe::{Live, Observed, View};
use crate::record::{Attention, Concern, HeldOverride, Saved, Stored, TargetDoc};
use crate::recover::{self, Baseline, Unrestorable};
use crate::skip::{SKIP_KEY, Skip};

/// How long actual ≠ desired must last before it is notified as drift (three default ticks).
pub const DRIFT_GRACE: Duration = Duration::minutes(15);

/// One step for one target: what the plan prints, serialises and applies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Action {
    /// The target id (`dev-eks/app`, `dev-legacy`).
    pub target: String,
    pub resource: Resource,
    #[serde(flatten)]
    pub step: Step,
}

/// What one action does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Store a person's override (from the invocation event).
    RecordOverride {
        state: SleepState,
        until: DateTime<Utc>,
    },
    /// Remove an override that has ended (its `until` passed, or `clear`), and announce it: the
    /// schedule applies again.
    EndOverride {
        state: SleepState,
        until: DateTime<Utc>,
        cleared: bool,
    },
    /// Store the pre-sleep size and discovery tags (conditional: only if none are saved).
    SaveScaling {
        scaling: Scaling,
        asg: Option<String>,
        autoscaler_tags: Vec<AsgTag>,
        at: DateTime<Utc>,
    },
    /// Put (or bring up to date) the `offpeak:asleep` marker, then remove the cluster-autoscaler
    /// discovery tags (`tags`, possibly none).
    ParkAutoscalerTags {
        asg: String,
        tags: Vec<AsgTag>,
        marker: AsgTag,
    },
    /// `min = desired = 0`, `max` kept.
    ScaleToZero { from: Scaling },
    /// Back to exactly the saved size.
    RestoreScaling { from: Scaling, to: Scaling },
    /// Put the saved discovery tags back exactly and remove the marker.
    RestoreAutoscalerTags { asg: String, tags: Vec<AsgTag> },
    /// Re-read the target; if it matches what was saved, clear the saved state and record `awake`.
    VerifyRestore(Expected),
    /// Record the state the target was converged to.
    CommitDesired { state: SleepState },
    /// Remember a problem; `report`: notify it now.
    Flag {
        concern: Concern,
        since: DateTime<Utc>,
        report: bool,
    },
    /// The problem is over.
    Unflag { concern: Concern },
    /// The target left the schedule and is back at its baseline: remove it from offpeak's
    /// registry and, with `forget_state`, delete its state item.
    Release { forget_state: bool },
}

/// What a verified wake must find on the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub scaling: Scaling,
    /// The Auto Scaling group that must carry `autoscaler_tags` again.
    pub asg: Option<String>,
    pub autoscaler_tags: Vec<AsgTag>,
}

impl Step {
    /// The step's name as serialised (`scale_to_zero`), for notifications and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Step::RecordOverride { .. } => "record_override",
            Step::EndOverride { .. } => "end_override",
            Step::SaveScaling { .. } => "save_scaling",
            Step::ParkAutoscalerTags { .. } => "park_autoscaler_tags",
            Step::ScaleToZero { .. } => "scale_to_zero",
            Step::RestoreScaling { .. } => "restore_scaling",
            Step::RestoreAutoscalerTags { .. } => "restore_autoscaler_tags",
            Step::VerifyRestore(_) => "verify_restore",
            Step::CommitDesired { .. } => "commit_desired",
            Step::Flag { .. } => "flag",
            Step::Unflag { .. } => "unflag",
            Step::Release { .. } => "release",
        }
    }

    /// True for steps that change the target in AWS, or save the state its change depends on:
    /// the target must be in offpeak's registry before any of them runs.
    pub fn changes_target(&self) -> bool {
        match self {
            Step::SaveScaling { .. }
            | Step::ParkAutoscalerTags { .. }
            | Step::ScaleToZero { .. }
            | Step::RestoreScaling { .. }
            | Step::RestoreAutoscalerTags { .. } => true,
            Step::RecordOverride { .. }
            | Step::EndOverride { .. }
            | Step::VerifyRestore(_)
            | Step::CommitDesired { .. }
            | Step::Flag { .. }
            | Step::Unflag { .. }
            | Step::Release { .. } => false,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.target)?;
        match &self.step {
            Step::RecordOverride { state, until } => {
                write!(f, "hold {state} until {} (override)", rfc3339(*until))
            }
            Step::EndOverride {
                state,
                until,
                cleared,
            } => {
                let how = if *cleared { "cleared at" } else { "ended at" };
                write!(
                    f,
                    "end the override ({state}, {how} {}); the schedule applies again",
                    rfc3339(*until)
                )
            }
            Step::SaveScaling {
                scaling,
                asg,
                autoscaler_tags,
                ..
            } => {
                write!(f, "save pre-sleep scaling {scaling}")?;
                match (asg, autoscaler_tags.is_empty()) {
                    (Some(asg), false) => write!(
                        f,
                        " and the cluster-autoscaler tags of auto scaling group {asg}"
                    ),
                    _ => Ok(()),
                }
            }
            Step::ParkAutoscalerTags { asg, tags, .. } if tags.is_empty() => write!(
                f,
                "mark auto scaling group {asg} with {} (what a wake restores)",
                guard::MIRROR_KEY
            ),
            Step::ParkAutoscalerTags { asg, tags, .. } => write!(
                f,
                "mark auto scaling group {asg} with {} and remove its cluster-autoscaler discovery tags {}",
                guard::MIRROR_KEY,
                model::keys(tags)
            ),
            Step::ScaleToZero { from } => {
                write!(
                    f,
                    "scale {} to zero ({from} -> {})",
                    self.resource,
                    from.asleep()
                )
            }
            Step::RestoreScaling { from, to } => {
                write!(f, "restore {} to {to} (now {from})", self.resource)
            }
            Step::RestoreAutoscalerTags { asg, tags } if tags.is_empty() => {
                write!(
                    f,
                    "remove the {} marker from auto scaling group {asg}",
                    guard::MIRROR_KEY
                )
            }
            Step::RestoreAutoscalerTags { asg, tags } => write!(
                f,
                "put back cluster-autoscaler discovery tags {} on auto scaling group {asg}",
                model::keys(tags)
            ),
            Step::VerifyRestore(expected) => {
                let scaling = expected.scaling;
                write!(f, "verify {scaling} is back, then clear the saved scaling")
            }
            Step::CommitDesired { state } => write!(f, "record {state} as converged"),
            Step::Flag {
                concern, report, ..
            } => {
                write!(f, "flag {}", concern.as_str())?;
                if *report {
                    f.write_str(" and notify")?;
                }
                Ok(())
            }
            Step::Unflag { concern } => write!(f, "clear the {} flag", concern.as_str()),
            Step::Release { forget_state } => {
                f.write_str("release it from offpeak's registry (it left the schedule)")?;
                if *forget_state {
                    f.write_str(" and delete its state")?;
                }
                Ok(())
            }
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Everything one target's apply needs.
#[derive(Clone, Debug)]
pub struct TargetPlan {
    pub target: String,
    pub resource: Resource,
    /// The document (and version) the plan was made from; apply writes from it.
    pub stored: Stored,
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
    /// When the schedule next changes this target's state (for notifications).
    pub next_change: Option<DateTime<Utc>>,
    /// The target left the schedule (see [`crate::orphans`]).
    pub orphan: bool,
    /// What the target looked like, when it could be seen (for notifications).
    pub seen: Option<Seen>,
}

/// A live target's size and Auto Scaling group, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub scaling: Scaling,
    pub asg: Option<String>,
}

impl TargetPlan {
    /// A plan of `steps` for `observed`, made from `stored`.
    pub fn new(
        observed: &Observed<'_>,
        stored: Stored,
        steps: Vec<Step>,
        notes: Vec<String>,
        at: DateTime<Utc>,
    ) -> Self {
        let unit = &observed.unit;
        let action = |step| Action {
            target: unit.id.clone(),
            resource: unit.resource.clone(),
            step,
        };
        let seen = match &observed.view {
            View::Present(live) => Some(Seen {
                scaling: live.scaling,
                asg: live.asg_name.clone(),
            }),
            _ => None,
        };
        TargetPlan {
            target: unit.id.clone(),
            resource: unit.resource.clone(),
            stored,
            actions: steps.into_iter().map(action).collect(),
            notes,
            next_change: unit.next_change(at),
            orphan: unit.is_orphan(),
            seen,
        }
    }
}

/// Plans one observed target. `event_override` is the invocation's override if it names this
/// target: it is recorded (or, for `clear`, the stored one ended) first, and the rest of the
/// plan already follows it. A stored override that has ended is removed first, and announced.
pub fn plan_target(
    observed: &Observed<'_>,
    stored: Stored,
    event_override: Option<&Override>,
    now: Instants,
) -> TargetPlan {
    let mut doc = stored.doc.clone();
    let mut notes = Vec::new();
    let mut steps = override_steps(&mut doc, event_override, now.clock, &mut notes);
    let desired = desired::desired(&observed.unit, &doc, now);
    let concern = match &observed.view {
        View::Missing { what } => {
            notes.push(format!("{what}; the other targets are unaffected"));
            Some(Concern::Missing)
        }
        View::Unreadable(error) => {
            notes.push(format!("not observed: {error}; the next tick tries again"));
            doc.attention.as_ref().map(|a| a.concern)
        }
        View::Denied(error) => {
            notes.push(format!(
                "offpeak's role may not read it: {error}; make sure the stack's EksClusterNames / SelfManagedAsgNames parameters cover it (`offpeak deploy-params`), then deploy"
            ));
            Some(Concern::Denied)
        }
        View::Present(live) => {
            let ctx = Ctx {
                doc: &doc,
                desired: desired.state,
                enforce: observed.unit.enforce(),
                cluster: &observed.unit.cluster,
                clock: now.clock,
            };
            plan_live(&ctx, live, &mut steps, &mut notes)
        }
    };
    steps.extend(attention_step(doc.attention.as_ref(), concern, now.clock));
    TargetPlan::new(observed, stored, steps, notes, now.at)
}

/// The override steps, applied to `doc` so the rest of the plan follows them: end the stored
/// override if it has ended, then the event's (`clear` ends the stored one now).
fn override_steps(
    doc: &mut TargetDoc,
    event_override: Option<&Override>,
    clock: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Vec<Step> {
    let mut steps: Vec<Step> = end_override(doc, clock).into_iter().collect();
    match event_override {
        Some(o) if o.state == OverrideState::Clear => match doc.override_.as_mut() {
            Some(held) => {
                held.until = clock;
                held.cleared = true;
                steps.extend(end_override(doc, clock));
            }
            None => notes.push("clear: no override holds this target; nothing changed".into()),
        },
        Some(o) => steps.extend(record_override(doc, o, clock)),
        None => {}
    }
    steps
}

/// Removes an override that no longer holds at `clock` from `doc`; the step that does it.
fn end_override(doc: &mut TargetDoc, clock: DateTime<Utc>) -> Option<Step> {
    let held = doc.override_.take_if(|o| !o.is_active(clock))?;
    Some(Step::EndOverride {
        state: held.state,
        until: held.until,
        cleared: held.cleared,
    })
}

/// Holds the event's override in `doc` (so the plan follows it); the step that stores it.
fn record_override(doc: &mut TargetDoc, o: &Override, clock: DateTime<Utc>) -> Option<Step> {
    let held = HeldOverride {
        state: SleepState::held_by(o.state)?,
        until: o.end(clock)?,
        set_at: clock,
        cleared: false,
    };
    let step = Step::RecordOverride {
        state: held.state,
        until: held.until,
    };
    doc.override_ = Some(held);
    Some(step)
}

/// What a live target's plan depends on besides the target itself.
struct Ctx<'a> {
    doc: &'a TargetDoc,
    desired: SleepState,
    enforce: bool,
    cluster: &'a str,
    clock: DateTime<Utc>,
}

/// What a target's sleep or wake steps amount to.
enum Course {
    /// They converge it.
    Converging,
    /// They don't (nothing saved to restore): what remains is the person's change, if any.
    Idle,
    /// offpeak can't tell which sizes to restore: a person must act.
    Lost,
}

/// Adds the steps for a target that exists; returns the concern that remains after them.
fn plan_live(
    ctx: &Ctx<'_>,
    live: &Live,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Option<Concern> {
    if !may_act(live, notes) {
        return ctx.doc.attention.as_ref().map(|a| a.concern);
    }
    let transition = ctx.doc.desired != Some(ctx.desired);
    let course = match (transition || ctx.enforce, ctx.desired) {
        (false, _) => Course::Idle,
        (true, SleepState::Asleep) => sleep_steps(ctx, live, steps, notes),
        (true, SleepState::Awake) => wake_steps(ctx, live, steps, notes),
    };
    let actual = if live.scaling.is_asleep() {
        SleepState::Asleep
    } else {
        SleepState::Awake
    };
    match course {
        Course::Lost => return Some(Concern::LostState),
        Course::Converging => return None,
        Course::Idle if actual == ctx.desired => return None,
        Course::Idle => {}
    }
    notes.push(format!(
        "{actual} while {} is desired ({}): a change made outside offpeak, left as is (enforce: false)",
        ctx.desired, live.scaling
    ));
    Some(Concern::Drift)
}

/// Whether offpeak may act on the target this tick; if not, a note says why: the
/// `offpeak:skip-until` tag holds (or can't be read), or AWS would refuse a change now.
pub(crate) fn may_act(live: &Live, notes: &mut Vec<String>) -> bool {
    match &live.skip {
        Skip::Until(until) => notes.push(format!(
            "left alone: tag {SKIP_KEY} holds until {}",
            rfc3339(*until)
        )),
        Skip::Unreadable(value) => notes.push(format!(
            "left alone: tag {SKIP_KEY} has value {value:?}, not an RFC 3339 instant; fix or remove it"
        )),
        Skip::No => match &live.busy {
            Some(busy) => notes.push(format!("waiting: {busy}; the next tick tries again")),
            None => return true,
        },
    }
    false
}

fn sleep_steps(
    ctx: &Ctx<'_>,
    live: &Live,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Course {
    let park = match (&live.asg_name, &live.asg) {
        (_, Some(asg)) => guard::discovery_tags(asg, ctx.cluster),
        (Some(name), None) => {
            notes.push(format!(
                "auto scaling group {name} not found: the cluster-autoscaler guard can't be set"
            ));
            Vec::new()
        }
        (None, None) => Vec::new(),
    };
    let saved = match recover::baseline(ctx.doc, live, ctx.cluster, ctx.clock) {
        Baseline::Saved(saved) => saved,
        Baseline::Recovered { saved, notes: why } => {
            notes.extend(why);
            steps.push(save_step(&saved));
            saved
        }
        Baseline::Unknown => {
            let saved = Saved {
                scaling: live.scaling,
                asg: live.asg_name.clone(),
                autoscaler_tags: park.clone(),
                at: ctx.clock,
            };
            steps.push(save_step(&saved));
            saved
        }
        Baseline::Lost { note } => {
            notes.push(note);
            return Course::Lost;
        }
    };
    steps.extend(mark_step(live, &saved, park));
    if !live.scaling.is_asleep() {
        steps.push(Step::ScaleToZero { from: live.scaling });
    }
    if ctx.doc.desired != Some(SleepState::Asleep) {
        steps.push(Step::CommitDesired {
            state: SleepState::Asleep,
        });
    }
    Course::Converging
}

fn save_step(saved: &Saved) -> Step {
    Step::SaveScaling {
        scaling: saved.scaling,
        asg: saved.asg.clone(),
        autoscaler_tags: saved.autoscaler_tags.clone(),
        at: saved.at,
    }
}

/// Marks the group with what a wake restores — the saved tags plus those about to be parked, as
/// apply will have saved them — and parks `park`; nothing if the group already shows both.
fn mark_step(live: &Live, saved: &Saved, park: Vec<AsgTag>) -> Option<Step> {
    let (Some(name), Some(group)) = (&live.asg_name, &live.asg) else {
        return None;
    };
    let mut mirrored = saved.autoscaler_tags.clone();
    mirrored.extend(
        park.iter()
            .filter(|t| !saved.autoscaler_tags.iter().any(|s| s.key == t.key))
            .cloned(),
    );
    let marker = marker::encode(saved.scaling, saved.at, &mirrored);
    let marked = group.tag(guard::MIRROR_KEY) == Some(marker.value.as_str());
    (!marked || !park.is_empty()).then(|| Step::ParkAutoscalerTags {
        asg: name.clone(),
        tags: park,
        marker,
    })
}

/// Adds the wake steps; returns whether they converge the target.
fn wake_steps(
    ctx: &Ctx<'_>,
    live: &Live,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Course {
    let baseline = recover::baseline(ctx.doc, live, ctx.cluster, ctx.clock);
    let saved = match baseline.restorable(notes) {
        Ok(saved) => saved,
        Err(Unrestorable::Lost) => return Course::Lost,
        Err(Unrestorable::Unknown) => {
            if ctx.doc.desired != Some(SleepState::Awake) {
                steps.push(Step::CommitDesired {
                    state: SleepState::Awake,
                });
            }
            return Course::Idle;
        }
    };
    steps.extend(restore_steps(&saved, live, notes));
    Course::Converging
}

/// Back to exactly `saved`: size, discovery tags (and no marker), then verify and clear.
pub(crate) fn restore_steps(saved: &Saved, live: &Live, notes: &mut Vec<String>) -> Vec<Step> {
    let mut steps = Vec::new();
    if live.scaling != saved.scaling {
        steps.push(Step::RestoreScaling {
            from: live.scaling,
            to: saved.scaling,
        });
    }
    let mut verify_tags = Vec::new();
    match (&saved.asg, &live.asg) {
        (Some(name), Some(asg)) if asg.name == *name => {
            let missing = guard::to_restore(asg, &saved.autoscaler_tags);
            if !missing.is_empty() || asg.tag(guard::MIRROR_KEY).is_some() {
                steps.push(Step::RestoreAutoscalerTags {
                    asg: name.clone(),
                    tags: missing,
                });
            }
            verify_tags.clone_from(&saved.autoscaler_tags);
        }
        (Some(name), _) if !saved.autoscaler_tags.is_empty() => notes.push(format!(
            "auto scaling group {name} not found: its cluster-autoscaler tags can't be put back"
        )),
        _ => {}
    }
    steps.push(Step::VerifyRestore(Expected {
        scaling: saved.scaling,
        asg: saved.asg.clone(),
        autoscaler_tags: verify_tags,
    }));
    steps
}

/// The step that records `concern` (or its end) against what the document holds.
pub(crate) fn attention_step(
    current: Option<&Attention>,
    concern: Option<Concern>,
    now: DateTime<Utc>,
) -> Option<Step> {
    let flag = |concern: Concern, since| Step::Flag {
        concern,
        since,
        // Drift may be a brief manual test; the others won't fix themselves: say so at once.
        report: concern != Concern::Drift || now - since >= DRIFT_GRACE,
    };
    match (current, concern) {
        (None, None) => None,
        (Some(a), None) => Some(Step::Unflag { concern: a.concern }),
        (None, Some(c)) => Some(flag(c, now)),
        (Some(a), Some(c)) if a.concern != c => Some(flag(c, now)),
        (Some(a), Some(c)) if !a.reported && now - a.since >= DRIFT_GRACE => Some(flag(c, a.since)),
        (Some(_), Some(_)) => None,
    }
}

#[cfg(test)]
mod tests;
