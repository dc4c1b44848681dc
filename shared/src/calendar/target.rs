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
    /// Desired state at instant `t`, whatever the target's kind (for views of every target:
    /// `offpeak desired`, the timeline, hours saved). A function reads its own kind's typed
    /// answer instead: [`Target::replicas_at`], [`Target::asleep_at`], [`Target::open_at`].
    pub fn state_at(&self, t: DateTime<Utc>) -> State {
        match self.rule {
            Rule::Replicas { windows, lead } => {
                State::Replicas(replicas(windows, lead, self.zone, t))
            }
            Rule::Sleep(windows) if asleep(windows, self.zone, t) => State::Asleep,
            Rule::Sleep(_) => State::Awake,
            Rule::Refresh(window) if open(window, self.zone, t) => State::WindowOpen,
            Rule::Refresh(_) => State::WindowClosed,
        }
    }

    /// Extra read replicas wanted at `t`: the largest `replicas` of the windows open at `t` or at
    /// `t + lead_time`, else 0. `None` for a target that is not an Aurora one.
    pub fn replicas_at(&self, t: DateTime<Utc>) -> Option<u8> {
        match self.rule {
            Rule::Replicas { windows, lead } => Some(replicas(windows, lead, self.zone, t)),
            Rule::Sleep(_) | Rule::Refresh(_) => None,
        }
    }

    /// Whether a sleep window is open at `t`. `None` for a target that has no sleep windows.
    pub fn asleep_at(&self, t: DateTime<Utc>) -> Option<bool> {
        match self.rule {
            Rule::Sleep(windows) => Some(asleep(windows, self.zone, t)),
            Rule::Replicas { .. } | Rule::Refresh(_) => None,
        }
    }

    /// Whether the refresh window is open at `t`. `None` for a target that is not the refresh.
    pub fn open_at(&self, t: DateTime<Utc>) -> Option<bool> {
        match self.rule {
            Rule::Refresh(window) => Some(open(window, self.zone, t)),
            Rule::Replicas { .. } | Rule::Sleep(_) => None,
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

/// Aurora's rule: the largest `replicas` of the windows open at `t` or at `t + lead`, else 0.
fn replicas(windows: &[ReplicaWindow], lead: TimeDelta, zone: Tz, t: DateTime<Utc>) -> u8 {
    let (now, ahead) = (zone::local(zone, t), zone::local(zone, t + lead));
    let open = |w: &&ReplicaWindow| {
        occurrence::contains(&w.window, now) || occurrence::contains(&w.window, ahead)
    };
    windows
        .iter()
        .filter(open)
        .map(|w| w.replicas)
        .max()
        .unwrap_or(0)
}

/// EKS's rule: asleep while any sleep window is open at `t`.
fn asleep(windows: &[Window], zone: Tz, t: DateTime<Utc>) -> bool {
    let wall = zone::local(zone, t);
    windows.iter().any(|w| occurrence::contains(w, wall))
}

/// The refresh's rule: its window is open at `t`.
fn open(window: &Window, zone: Tz, t: DateTime<Utc>) -> bool {
    occurrence::contains(window, zone::local(zone, t))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config;

    /// One target of each kind, in Europe/London, with a holiday calendar.
    const YAML: &str = r#"
timezone: Europe/London
calendars:
  holidays: [2026-12-25]
aurora_replicas:
  - cluster: prod
    lead_time: 15m
    windows:
      - { days: mon-fri, except: [holidays], start: "09:00", end: "17:00", replicas: 2 }
eks_nodegroups:
  - cluster: dev
    nodegroups: [app]
    sleep:
      - { days: daily, start: "01:30", end: "02:30" }
      - { days: weekends, start: "08:00", end: "20:00" }
masked_refresh:
  source_cluster: p
  target_cluster: d
  rules: m.yaml
  dev_password_secret: s
  window: { days: daily, except: [holidays], start: "01:00", end: "05:00" }
"#;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_kind_answers_its_own_typed_question_and_only_that() {
        let s = config::parse_str(YAML, Path::new("t.yaml")).unwrap();
        let [aurora, eks, refresh] = &targets(&s)[..] else {
            panic!("three targets")
        };
        // (case, instant, replicas, asleep, refresh window open)
        let cases = [
            ("thursday night", "2026-12-03T23:00:00Z", 0, false, false),
            ("friday, lead time", "2026-12-04T08:45:00Z", 2, false, false),
            ("saturday (weekend)", "2026-12-05T10:00:00Z", 0, true, false),
            ("tuesday small hours", "2026-12-08T02:00:00Z", 0, true, true),
            (
                "christmas (holiday)",
                "2026-12-25T10:00:00Z",
                0,
                false,
                false,
            ),
            ("christmas night", "2026-12-25T03:00:00Z", 0, false, false),
            // 2027-03-28 01:00 GMT jumps to 02:00 BST: 01:30 never happens, so the 01:30 sleep
            // window opens at 02:00 BST (01:00Z) and closes at 02:30 BST.
            (
                "just before the gap",
                "2027-03-28T00:59:59Z",
                0,
                false,
                false,
            ),
            ("spring forward", "2027-03-28T01:00:00Z", 0, true, true),
            ("after the gap", "2027-03-28T01:30:00Z", 0, false, true),
        ];
        for (case, at, replicas, asleep, open) in cases {
            let t = utc(at);
            assert_eq!(aurora.replicas_at(t), Some(replicas), "{case}");
            assert_eq!(eks.asleep_at(t), Some(asleep), "{case}");
            assert_eq!(refresh.open_at(t), Some(open), "{case}");
            for target in [aurora, eks, refresh] {
                let typed = match target.state_at(t) {
                    State::Replicas(n) => target.replicas_at(t) == Some(n),
                    State::Asleep => target.asleep_at(t) == Some(true),
                    State::Awake => target.asleep_at(t) == Some(false),
                    State::WindowOpen => target.open_at(t) == Some(true),
                    State::WindowClosed => target.open_at(t) == Some(false),
                };
                assert!(typed, "{case}: {} agrees with state_at", target.id);
            }
            assert_eq!((aurora.asleep_at(t), aurora.open_at(t)), (None, None));
            assert_eq!((eks.replicas_at(t), eks.open_at(t)), (None, None));
            assert_eq!((refresh.replicas_at(t), refresh.asleep_at(t)), (None, None));
        }
    }
}
