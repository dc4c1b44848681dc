//! Schedulable targets and their desired state at an instant.
//!
//! A [`Target`] is one thing a function acts on: an Aurora cluster, a node group, a self-managed
//! ASG, the masked-refresh job. Its [`State`] at an instant follows design.md's time semantics
//! exactly: a window contains `t` when `t`'s local wall-clock time in the target's zone lies in
//! `[open, close)` of one of its occurrences.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::occurrence;
use super::zone;
use crate::config::{NodeGroups, ReplicaWindow, Schedule, Window};

/// What kind of target this is; the names are the ones `desired --json` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    AuroraReplicas,
    EksNodegroup,
    EksAsg,
    MaskedRefresh,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AuroraReplicas => "aurora-replicas",
            Kind::EksNodegroup => "eks-nodegroup",
            Kind::EksAsg => "eks-asg",
            Kind::MaskedRefresh => "masked-refresh",
        }
    }
}

/// Desired state of one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Extra read replicas offpeak should keep (0 outside every window).
    Replicas(u8),
    Awake,
    Asleep,
    WindowOpen,
    WindowClosed,
}

impl State {
    /// Whether the target is doing its off-peak thing (replicas up, asleep, refresh window open).
    pub fn is_active(self) -> bool {
        match self {
            State::Replicas(n) => n > 0,
            State::Asleep | State::WindowOpen => true,
            State::Awake | State::WindowClosed => false,
        }
    }
}

/// The windows that drive a target.
#[derive(Clone, Copy, Debug)]
pub enum Rule<'s> {
    Replicas {
        windows: &'s [ReplicaWindow],
        lead: TimeDelta,
    },
    Sleep(&'s [Window]),
    Refresh(&'s Window),
}

/// One schedulable unit of a [`Schedule`].
#[derive(Clone, Debug)]
pub struct Target<'s> {
    pub kind: Kind,
    /// `<cluster>`, `<cluster>/<nodegroup>`, `<asg>` or the refresh's target cluster.
    pub id: String,
    pub zone: Tz,
    pub enforce: bool,
    pub rule: Rule<'s>,
}

/// Every target of a schedule, in file order. `nodegroups: ["*"]` yields one `<cluster>/*` target.
pub fn targets(schedule: &Schedule) -> Vec<Target<'_>> {
    let mut out = Vec::new();
    for a in &schedule.aurora_replicas {
        let rule = Rule::Replicas {
            windows: &a.windows,
            lead: a.lead_time,
        };
        out.push(Target {
            kind: Kind::AuroraReplicas,
            id: a.cluster.clone(),
            zone: a.timezone,
            enforce: a.enforce,
            rule,
        });
    }
    for e in &schedule.eks_nodegroups {
        let sleep = |kind, id| Target {
            kind,
            id,
            zone: e.timezone,
            enforce: e.enforce,
            rule: Rule::Sleep(&e.sleep),
        };
        let groups: Vec<&str> = match &e.nodegroups {
            NodeGroups::All => vec!["*"],
            NodeGroups::Named(names) => names.iter().map(String::as_str).collect(),
        };
        out.extend(
            groups
                .into_iter()
                .map(|g| sleep(Kind::EksNodegroup, format!("{}/{g}", e.cluster))),
        );
        out.extend(
            e.autoscaling_groups
                .iter()
                .map(|asg| sleep(Kind::EksAsg, asg.clone())),
        );
    }
    if let Some(r) = &schedule.masked_refresh {
        let rule = Rule::Refresh(&r.window);
        out.push(Target {
            kind: Kind::MaskedRefresh,
            id: r.target_cluster.clone(),
            zone: r.timezone,
            enforce: r.enforce,
            rule,
        });
    }
    out
}

impl Target<'_> {
    /// Desired state at instant `t`.
    pub fn state_at(&self, t: DateTime<Utc>) -> State {
        match self.rule {
            Rule::Replicas { windows, lead } => {
                let (now, ahead) = (zone::local(self.zone, t), zone::local(self.zone, t + lead));
                let open = |w: &&ReplicaWindow| {
                    occurrence::contains(&w.window, now) || occurrence::contains(&w.window, ahead)
                };
                State::Replicas(
                    windows
                        .iter()
                        .filter(open)
                        .map(|w| w.replicas)
                        .max()
                        .unwrap_or(0),
                )
            }
            Rule::Sleep(windows) => {
                let wall = zone::local(self.zone, t);
                if windows.iter().any(|w| occurrence::contains(w, wall)) {
                    State::Asleep
                } else {
                    State::Awake
                }
            }
            Rule::Refresh(window) => {
                if occurrence::contains(window, zone::local(self.zone, t)) {
                    State::WindowOpen
                } else {
                    State::WindowClosed
                }
            }
        }
    }

    /// The windows behind this target, whatever its kind.
    pub fn windows(&self) -> Vec<&Window> {
        match self.rule {
            Rule::Replicas { windows, .. } => windows.iter().map(|w| &w.window).collect(),
            Rule::Sleep(windows) => windows.iter().collect(),
            Rule::Refresh(window) => vec![window],
        }
    }

    /// How far ahead of `t` the state looks (Aurora's `lead_time`; zero otherwise).
    pub fn lead(&self) -> TimeDelta {
        match self.rule {
            Rule::Replicas { lead, .. } => lead,
            _ => TimeDelta::zero(),
        }
    }
}
