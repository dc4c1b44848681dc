//! The schedule's EKS entries as the units offpeak acts on (pure).
//!
//! A unit is one managed node group (`<cluster>/<nodegroup>`) or one self-managed Auto Scaling
//! group (`<asg name>`), with the calendar target that says when it sleeps. `nodegroups: ["*"]` is
//! kept as [`Entry::AllNodegroups`] until a tick lists the cluster's node groups: the set is
//! whatever the cluster has at tick time. A target the schedule no longer names but offpeak still
//! has changed is an [`orphan`]: a unit with no calendar, which [`crate::desired`] wants awake.

use chrono::{DateTime, Utc};
use offpeak_shared::calendar::{self, Kind, Rule};
use offpeak_shared::config::{EksTarget, NodeGroups, Schedule};

use crate::model::Resource;

/// One schedulable unit.
#[derive(Clone, Debug)]
pub struct Unit<'s> {
    /// `<cluster>/<nodegroup>` or the Auto Scaling group's name: the state-store key.
    pub id: String,
    pub resource: Resource,
    /// The EKS cluster the unit belongs to (names the cluster-autoscaler tag); empty for an
    /// orphaned Auto Scaling group, whose cluster the schedule no longer says.
    pub cluster: String,
    /// When it sleeps (read by [`crate::desired`]); `None` for an [`orphan`].
    pub calendar: Option<calendar::Target<'s>>,
}

impl Unit<'_> {
    /// `enforce: true`: converge every tick, overriding people's changes inside a window.
    pub fn enforce(&self) -> bool {
        self.calendar.as_ref().is_some_and(|c| c.enforce)
    }

    /// When the schedule next changes the unit's state after `at`.
    pub fn next_change(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.calendar.as_ref().and_then(|c| c.next_change(at))
    }

    /// True for a unit the schedule no longer names.
    pub fn is_orphan(&self) -> bool {
        self.calendar.is_none()
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
        cluster: entry.cluster.clone(),
        calendar: Some(sleep_target(entry, Kind::EksNodegroup, id.clone())),
        id,
    }
}

fn autoscaling_group<'s>(entry: &'s EksTarget, name: &str) -> Unit<'s> {
    Unit {
        id: name.to_owned(),
        resource: Resource::AutoScalingGroup {
            name: name.to_owned(),
        },
        cluster: entry.cluster.clone(),
        calendar: Some(sleep_target(entry, Kind::EksAsg, name.to_owned())),
    }
}

/// The unit for a target id offpeak registered and the schedule no longer names. Its resource is
/// the one its state document recorded; failing that (a document from before offpeak recorded it,
/// or none), `<cluster>/<nodegroup>` is a node group (EKS names contain no `/`) and anything else
/// an Auto Scaling group.
pub fn orphan(id: &str, recorded: Option<&Resource>) -> Unit<'static> {
    let resource = recorded
        .cloned()
        .unwrap_or_else(|| match id.split_once('/') {
            Some((cluster, nodegroup)) if !nodegroup.contains('/') => Resource::Nodegroup {
                cluster: cluster.to_owned(),
                nodegroup: nodegroup.to_owned(),
            },
            _ => Resource::AutoScalingGroup {
                name: id.to_owned(),
            },
        });
    let cluster = match &resource {
        Resource::Nodegroup { cluster, .. } => cluster.clone(),
        Resource::AutoScalingGroup { .. } => String::new(),
    };
    Unit {
        id: id.to_owned(),
        resource,
        cluster,
        calendar: None,
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
    use crate::testing::{self, friday_night};

    const YAML: &str = r#"
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
        testing::schedule(YAML)
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
    fn an_orphan_has_no_calendar_and_keeps_its_recorded_resource() {
        let friday_night = friday_night();
        let ng = orphan("old-eks/app", None);
        assert!(ng.is_orphan() && !ng.enforce());
        assert_eq!(ng.next_change(friday_night), None);
        assert_eq!(ng.cluster, "old-eks");
        assert_eq!(
            orphan("legacy-asg", None).resource,
            Resource::AutoScalingGroup {
                name: "legacy-asg".into()
            }
        );
        let recorded = Resource::AutoScalingGroup {
            name: "team/legacy".into(),
        };
        assert_eq!(orphan("team/legacy", Some(&recorded)).resource, recorded);
    }
}
