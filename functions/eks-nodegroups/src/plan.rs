//! Plan (pure): from what was observed, what is stored and `now`, the steps that converge a target.
//!
//! **Transition gating.** The desired state is the schedule's at `now`, unless an override holds.
//! offpeak acts when that differs from the state it last converged the target to (stored as
//! `desired`): a window opened or closed, an override started or ended, or the target is new.
//! Between transitions it leaves the target alone, so a person who scales a node group up on
//! Saturday keeps it; that is reported as drift. `enforce: true` converges every tick instead.
//!
//! **Sleep** = save `{min, max, desired}` and the cluster-autoscaler discovery tags (only if
//! nothing is saved yet), remove those tags, set `min = desired = 0` keeping `max`, record
//! `asleep`. **Wake** = restore exactly the saved size and tags, then verify and clear the saved
//! state (recording `awake` in the same write). Each step is planned only if it changes something,
//! so a converged target has an empty plan and a duplicated tick makes no write.
//!
//! Targets that are missing, unreadable, busy (`UPDATING`) or tagged `offpeak:skip-until` get no
//! scaling steps, only notes (and, for missing ones, a one-time notification).

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use offpeak_shared::event::Override;
use serde::Serialize;

use crate::guard;
use crate::model::{self, AsgTag, Resource, Scaling, SleepState};
use crate::observe::{Live, Observed, View};
use crate::record::{Attention, Concern, HeldOverride, Stored, TargetDoc};
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
    /// Store the pre-sleep size and discovery tags (conditional: only if none are saved).
    SaveScaling {
        scaling: Scaling,
        asg: Option<String>,
        autoscaler_tags: Vec<AsgTag>,
        at: DateTime<Utc>,
    },
    /// Remove the cluster-autoscaler discovery tags and put the `offpeak:asleep` marker.
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
            Step::SaveScaling { .. } => "save_scaling",
            Step::ParkAutoscalerTags { .. } => "park_autoscaler_tags",
            Step::ScaleToZero { .. } => "scale_to_zero",
            Step::RestoreScaling { .. } => "restore_scaling",
            Step::RestoreAutoscalerTags { .. } => "restore_autoscaler_tags",
            Step::VerifyRestore(_) => "verify_restore",
            Step::CommitDesired { .. } => "commit_desired",
            Step::Flag { .. } => "flag",
            Step::Unflag { .. } => "unflag",
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
            Step::ParkAutoscalerTags { asg, tags, .. } => write!(
                f,
                "remove cluster-autoscaler discovery tags {} from auto scaling group {asg}",
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
}

/// Plans one observed target. `event_override` is the invocation's override if it names this
/// target: it is recorded first and the rest of the plan already follows it.
pub fn plan_target(
    observed: &Observed<'_>,
    stored: Stored,
    event_override: Option<&Override>,
    now: DateTime<Utc>,
) -> TargetPlan {
    let mut steps = Vec::new();
    let mut doc = stored.doc.clone();
    if let Some(o) = event_override {
        let held = HeldOverride {
            state: o.state.into(),
            until: o.until_utc(),
            set_at: now,
        };
        steps.push(Step::RecordOverride {
            state: held.state,
            until: held.until,
        });
        doc.override_ = Some(held);
    }
    let scheduled = observed.unit.scheduled(now);
    let desired = doc.active_override(now).map_or(scheduled, |o| o.state);
    let mut notes = Vec::new();
    let concern = match &observed.view {
        View::Missing { what } => {
            notes.push(format!("{what}; the other targets are unaffected"));
            Some(Concern::Missing)
        }
        View::Unreadable(error) => {
            notes.push(format!("not observed: {error}; the next tick tries again"));
            doc.attention.as_ref().map(|a| a.concern)
        }
        View::Present(live) => {
            let ctx = Ctx {
                doc: &doc,
                desired,
                enforce: observed.unit.enforce(),
                cluster: observed.unit.cluster,
                now,
            };
            plan_live(&ctx, live, &mut steps, &mut notes)
        }
    };
    steps.extend(attention_step(doc.attention.as_ref(), concern, now));
    TargetPlan {
        target: observed.unit.id.clone(),
        resource: observed.unit.resource.clone(),
        actions: steps
            .into_iter()
            .map(|step| Action {
                target: observed.unit.id.clone(),
                resource: observed.unit.resource.clone(),
                step,
            })
            .collect(),
        stored,
        notes,
        next_change: observed.unit.calendar.next_change(now),
    }
}

/// What a live target's plan depends on besides the target itself.
struct Ctx<'a> {
    doc: &'a TargetDoc,
    desired: SleepState,
    enforce: bool,
    cluster: &'a str,
    now: DateTime<Utc>,
}

/// Adds the steps for a target that exists; returns the concern that remains after them.
fn plan_live(
    ctx: &Ctx<'_>,
    live: &Live,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Option<Concern> {
    match &live.skip {
        Skip::Until(until) => {
            notes.push(format!(
                "left alone: tag {SKIP_KEY} holds until {}",
                rfc3339(*until)
            ));
            return ctx.doc.attention.as_ref().map(|a| a.concern);
        }
        Skip::Unreadable(value) => {
            notes.push(format!(
                "left alone: tag {SKIP_KEY} has value {value:?}, not an RFC 3339 instant; fix or remove it"
            ));
            return ctx.doc.attention.as_ref().map(|a| a.concern);
        }
        Skip::No => {}
    }
    if let Some(busy) = &live.busy {
        notes.push(format!("waiting: {busy}; the next tick tries again"));
        return ctx.doc.attention.as_ref().map(|a| a.concern);
    }
    let transition = ctx.doc.desired != Some(ctx.desired);
    let converging = (transition || ctx.enforce)
        && match ctx.desired {
            SleepState::Asleep => {
                steps.extend(sleep_steps(ctx, live, notes));
                true
            }
            SleepState::Awake => wake_steps(ctx, live, steps, notes),
        };
    let actual = if live.scaling.is_asleep() {
        SleepState::Asleep
    } else {
        SleepState::Awake
    };
    if converging || actual == ctx.desired {
        return None;
    }
    notes.push(format!(
        "{actual} while {} is desired ({}): a change made outside offpeak, left as is (enforce: false)",
        ctx.desired, live.scaling
    ));
    Some(Concern::Drift)
}

fn sleep_steps(ctx: &Ctx<'_>, live: &Live, notes: &mut Vec<String>) -> Vec<Step> {
    let mut steps = Vec::new();
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
    let (saved, since) = match &ctx.doc.saved {
        Some(saved) => (saved.scaling, saved.at),
        None => {
            steps.push(Step::SaveScaling {
                scaling: live.scaling,
                asg: live.asg_name.clone(),
                autoscaler_tags: park.clone(),
                at: ctx.now,
            });
            (live.scaling, ctx.now)
        }
    };
    if let (Some(asg), false) = (&live.asg_name, park.is_empty()) {
        steps.push(Step::ParkAutoscalerTags {
            asg: asg.clone(),
            tags: park,
            marker: guard::mirror(saved, since),
        });
    }
    if !live.scaling.is_asleep() {
        steps.push(Step::ScaleToZero { from: live.scaling });
    }
    if ctx.doc.desired != Some(SleepState::Asleep) {
        steps.push(Step::CommitDesired {
            state: SleepState::Asleep,
        });
    }
    steps
}

/// Adds the wake steps; returns whether they converge the target (false: nothing saved to restore).
fn wake_steps(ctx: &Ctx<'_>, live: &Live, steps: &mut Vec<Step>, notes: &mut Vec<String>) -> bool {
    let Some(saved) = &ctx.doc.saved else {
        if ctx.doc.desired != Some(SleepState::Awake) {
            steps.push(Step::CommitDesired {
                state: SleepState::Awake,
            });
        }
        return false;
    };
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
    true
}

fn attention_step(
    current: Option<&Attention>,
    concern: Option<Concern>,
    now: DateTime<Utc>,
) -> Option<Step> {
    let flag = |concern, since| Step::Flag {
        concern,
        since,
        // A missing resource won't fix itself: say so at once. Drift may be a brief manual test.
        report: concern == Concern::Missing || now - since >= DRIFT_GRACE,
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
