//! The schedule's EKS entries as the units offpeak acts on (pure).
//!
//! A unit is one managed node group (`<cluster>/<nodegroup>`) or one self-managed Auto Scaling
//! group (`<asg name>`), with the calendar target that says when it sleeps. `nodegroups: ["*"]` is
//! kept as [`Entry::AllNodegroups`] until a tick lists the cluster's node groups: the set is
//! whatever the cluster has at tick time.

use chrono::{DateTime, Utc};
use offpeak_shared::calendar::{self, Kind, Rule};
use offpeak_shared::config::{EksTarget, NodeGroups, Schedule};

use crate::model::{Resource, SleepState};

/// One schedulable unit.
#[derive(Clone, Debug)]
pub struct Unit<'s> {
    /// `<cluster>/<nodegroup>` or the Auto Scaling group's name: the state-store key.
    pub id: String,
    pub resource: Resource,
    /// The EKS cluster the unit belongs to (names the cluster-autoscaler tag).
    pub cluster: &'s str,
    pub calendar: calendar::Target<'s>,
}

impl Unit<'_> {
    /// What the schedule wants at `now` (overrides aside).
    pub fn scheduled(&self, now: DateTime<Utc>) -> SleepState {
        match self.calendar.state_at(now) {
            calendar::State::Asleep => SleepState::Asleep,
            _ => SleepState::Awake,
        }
    }

    /// `enforce: true`: converge every tick, overriding people's changes inside a window.
    pub fn enforce(&self) -> bool {
        self.calendar.enforce
    }
}

/// One entry of the schedule's `eks_nodegroups`, before `["*"]` is expanded.
#[derive(Clone, Debug)]
pub enum Entry<'s> {
    Unit(Unit<'s>),
    /// Every managed node group of `cluster`, found by listing it.
    AllNodegroups {
        cluster: &'s str,
        entry: &'s EksTarget,
    },
}

/// Every EKS entry of the schedule, in file order: named node groups, then the entry's ASGs.
pub fn entries(schedule: &Schedule) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for entry in &schedule.eks_nodegroups {
        match &entry.nodegroups {
            NodeGroups::All => out.push(Entry::AllNodegroups {
                cluster: &entry.cluster,
                entry,
            }),
            NodeGroups::Named(names) => {
                out.extend(names.iter().map(|n| Entry::Unit(nodegroup(entry, n))));
            }
        }
        out.extend(
            entry
                .autoscaling_groups
                .iter()
                .map(|name| Entry::Unit(autoscaling_group(entry, name))),
        );
    }
    out
}

/// The unit for node group `name` of `entry`'s cluster.
pub fn nodegroup<'s>(entry: &'s EksTarget, name: &str) -> Unit<'s> {
    let id = format!("{}/{name}", entry.cluster);
    Unit {
        resource: Resource::Nodegroup {
            cluster: entry.cluster.clone(),
            nodegroup: name.to_owned(),
        },
        cluster: &entry.cluster,
        calendar: sleep_target(entry, Kind::EksNodegroup, id.clone()),
        id,
    }
}

fn autoscaling_group<'s>(entry: &'s EksTarget, name: &str) -> Unit<'s> {
    Unit {
        id: name.to_owned(),
        resource: Resource::AutoScalingGroup {
            name: name.to_owned(),
        },
        cluster: &entry.cluster,
        calendar: sleep_target(entry, Kind::EksAsg, name.to_owned()),
    }
}

fn sleep_target(entry: &EksTarget, kind: Kind, id: String) -> calendar::Target<'_> {
    calendar::Target {
        kind,
        id,
        zone: entry.timezone,
        enforce: entry.enforce,
        rule: Rule::Sleep(&entry.sleep),
    }
}

/// The unit a target id names: a configured node group or ASG, or any `<cluster>/<name>` of a
/// cluster configured with `nodegroups: ["*"]` (its node groups are only known at tick time).
pub fn resolve<'s>(schedule: &'s Schedule, id: &str) -> Option<Unit<'s>> {
    entries(schedule).into_iter().find_map(|e| match e {
        Entry::Unit(unit) => (unit.id == id).then_some(unit),
        Entry::AllNodegroups { cluster, entry } => id
            .strip_prefix(cluster)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| !name.is_empty() && !name.contains('/') && *name != "*")
            .map(|name| nodegroup(entry, name)),
    })
}

/// Every target id of the schedule, `<cluster>/*` for wildcard entries (for error messages).
pub fn known_ids(schedule: &Schedule) -> Vec<String> {
    entries(schedule)
        .into_iter()
        .map(|e| match e {
            Entry::Unit(unit) => unit.id,
            Entry::AllNodegroups { cluster, .. } => format!("{cluster}/*"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use offpeak_shared::config;
    use std::path::Path;

    const YAML: &str = r#"
timezone: Asia/Tokyo
eks_nodegroups:
  - cluster: dev-eks
    nodegroups: [app, batch]
    autoscaling_groups: [dev-legacy]
    sleep:
      - from: fri 22:00
        to: mon 07:30
  - cluster: sandbox-eks
    nodegroups: ["*"]
    enforce: true
    sleep:
      - days: daily
        start: "20:00"
        end: "08:00"
"#;

    fn schedule() -> Schedule {
        config::parse_str(YAML, Path::new("test.yaml")).unwrap()
    }

    #[test]
    fn entries_follow_the_file_and_keep_the_wildcard() {
        let schedule = schedule();
        assert_eq!(
            known_ids(&schedule),
            [
                "dev-eks/app",
                "dev-eks/batch",
                "dev-legacy",
                "sandbox-eks/*"
            ]
        );
    }

    #[test]
    fn resolve_finds_named_units_and_any_node_group_of_a_wildcard_cluster() {
        let schedule = schedule();
        let asg = resolve(&schedule, "dev-legacy").unwrap();
        assert_eq!(
            asg.resource,
            Resource::AutoScalingGroup {
                name: "dev-legacy".into()
            }
        );
        assert_eq!(asg.cluster, "dev-eks");
        let wild = resolve(&schedule, "sandbox-eks/gpu").unwrap();
        assert!(wild.enforce());
        assert_eq!(wild.id, "sandbox-eks/gpu");
        for unknown in [
            "dev-eks/ghost",
            "sandbox-eks/*",
            "sandbox-eks/",
            "other/app",
            "sandbox-eks/a/b",
        ] {
            assert!(resolve(&schedule, unknown).is_none(), "{unknown}");
        }
    }

    #[test]
    fn scheduled_state_follows_the_sleep_windows() {
        let schedule = schedule();
        let app = resolve(&schedule, "dev-eks/app").unwrap();
        // Friday 2026-11-27 22:00 JST = 13:00 UTC.
        let friday_night = Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap();
        assert_eq!(app.scheduled(friday_night), SleepState::Asleep);
        assert_eq!(
            app.scheduled(friday_night - chrono::Duration::minutes(1)),
            SleepState::Awake
        );
    }
}
