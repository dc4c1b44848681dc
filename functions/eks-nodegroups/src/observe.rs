//! Observe: what every target looks like in AWS right now, reduced to [`View`].
//!
//! Guarantees: read-only (list and describe calls only); one target's failure never stops the
//! others. A node group, cluster or Auto Scaling group that does not exist is [`View::Missing`];
//! a call AWS refuses offpeak's role (`AccessDenied`) is [`View::Denied`] — no retry fixes it; any
//! other failure to read it is [`View::Unreadable`] with the error chain. The Auto Scaling
//! groups of every target are described together, in as few calls as the API allows. EKS has no
//! batch describe, so node groups are listed and described [`CONCURRENCY`] at a time; the result
//! is in schedule order whatever order the answers arrive in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use offpeak_shared::config::Schedule;

use crate::CONCURRENCY;
use crate::aws::{AsgView, AutoScaling, Eks, NodegroupView};
use crate::error::{TickError, chain};
use crate::model::{Resource, Scaling};
use crate::skip::{SKIP_KEY, Skip, skip_at};
use crate::targets::{self, Entry, Unit};

/// Node group states in which EKS accepts a scaling update.
const ACTIONABLE_NODEGROUP_STATUSES: [&str; 2] = ["ACTIVE", "DEGRADED"];

/// One target and what AWS says about it.
#[derive(Clone, Debug)]
pub struct Observed<'s> {
    pub unit: Unit<'s>,
    pub view: View,
}

/// A target's state in AWS.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    Present(Live),
    /// The resource named in the schedule does not exist (`what` says which).
    Missing {
        what: String,
    },
    /// Reading it failed; the error chain.
    Unreadable(String),
    /// AWS refuses offpeak's role to read it (`AccessDenied`); the error chain.
    Denied(String),
}

impl View {
    /// What a failed read says about the target.
    fn failed(err: &TickError) -> View {
        if err.is_access_denied() {
            View::Denied(chain(err))
        } else {
            View::Unreadable(chain(err))
        }
    }
}

/// A target that exists.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub scaling: Scaling,
    /// Why AWS would refuse a change now (`node group status UPDATING`), if it would.
    pub busy: Option<String>,
    pub skip: Skip,
    /// The Auto Scaling group the cluster-autoscaler guard works on: the node group's own group
    /// (named by EKS), or the self-managed group itself.
    pub asg_name: Option<String>,
    /// That group as described; `None` when it does not exist.
    pub asg: Option<AsgView>,
}

/// Observes every EKS target of the schedule; `clock` reads the `offpeak:skip-until` tags.
pub async fn observe<'s, E: Eks, A: AutoScaling>(
    eks: &E,
    autoscaling: &A,
    schedule: &'s Schedule,
    clock: DateTime<Utc>,
) -> Vec<Observed<'s>> {
    // Futures are built up front (not by a closure inside the stream) so the tick's future stays
    // `Send` for any lifetime, which the compiler can't prove through stream closures.
    let lists: Vec<_> = targets::entries(schedule)
        .into_iter()
        .map(|entry| expand(eks, entry))
        .collect();
    let lists: Vec<Vec<Expanded<'s>>> = stream::iter(lists).buffered(CONCURRENCY).collect().await;
    let mut expanded: Vec<Expanded<'s>> = lists.into_iter().flatten().collect();
    dedupe(&mut expanded);
    observe_expanded(eks, autoscaling, expanded, clock).await
}

/// Observes units known by id (targets offpeak registered that the schedule did not yield).
pub async fn observe_units<'s, E: Eks, A: AutoScaling>(
    eks: &E,
    autoscaling: &A,
    units: Vec<Unit<'s>>,
    clock: DateTime<Utc>,
) -> Vec<Observed<'s>> {
    let expanded = units.into_iter().map(Expanded::Unit).collect();
    observe_expanded(eks, autoscaling, expanded, clock).await
}

async fn observe_expanded<'s, E: Eks, A: AutoScaling>(
    eks: &E,
    autoscaling: &A,
    expanded: Vec<Expanded<'s>>,
    clock: DateTime<Utc>,
) -> Vec<Observed<'s>> {
    let looks: Vec<_> = expanded.into_iter().map(|e| look(eks, e)).collect();
    let partial: Vec<Partial<'s>> = stream::iter(looks).buffered(CONCURRENCY).collect().await;
    let groups = describe_groups(autoscaling, &partial).await;
    partial
        .into_iter()
        .map(|p| finish(p, &groups, clock))
        .collect()
}

/// A target after the EKS calls, before its Auto Scaling group is known.
struct Partial<'s> {
    unit: Unit<'s>,
    look: Look,
}

enum Look {
    Nodegroup(NodegroupView),
    SelfManaged,
    Done(View),
}

async fn look<'s, E: Eks>(eks: &E, expanded: Expanded<'s>) -> Partial<'s> {
    match expanded {
        Expanded::Unit(unit) => first_look(eks, unit).await,
        Expanded::Known(partial) => partial,
    }
}

async fn first_look<'s, E: Eks>(eks: &E, unit: Unit<'s>) -> Partial<'s> {
    let look = match &unit.resource {
        Resource::AutoScalingGroup { .. } => Look::SelfManaged,
        Resource::Nodegroup { cluster, nodegroup } => {
            match eks.describe_nodegroup(cluster, nodegroup).await {
                Ok(Some(view)) => Look::Nodegroup(view),
                Ok(None) => Look::Done(View::Missing {
                    what: format!("node group {nodegroup} of eks cluster {cluster} does not exist"),
                }),
                Err(e) => Look::Done(View::failed(&e)),
            }
        }
    };
    Partial { unit, look }
}

/// A schedule entry resolved to targets: a unit still to describe, or an outcome already known
/// (a `["*"]` entry whose cluster is missing or unreadable).
enum Expanded<'s> {
    Unit(Unit<'s>),
    Known(Partial<'s>),
}

impl Expanded<'_> {
    fn id(&self) -> &str {
        match self {
            Expanded::Unit(unit) => &unit.id,
            Expanded::Known(p) => &p.unit.id,
        }
    }
}

/// A named target as is; a `["*"]` entry listed into one unit per node group.
async fn expand<'s, E: Eks>(eks: &E, entry: Entry<'s>) -> Vec<Expanded<'s>> {
    let (cluster, entry) = match entry {
        Entry::Unit(unit) => return vec![Expanded::Unit(unit)],
        Entry::AllNodegroups { cluster, entry } => (cluster, entry),
    };
    let wildcard = || targets::nodegroup(entry, "*");
    match eks.list_nodegroups(cluster).await {
        Ok(Some(names)) => names
            .iter()
            .map(|name| Expanded::Unit(targets::nodegroup(entry, name)))
            .collect(),
        Ok(None) => {
            let what = format!("eks cluster {cluster} does not exist");
            vec![done(wildcard(), View::Missing { what })]
        }
        Err(e) => vec![done(wildcard(), View::failed(&e))],
    }
}

fn done(unit: Unit<'_>, view: View) -> Expanded<'_> {
    Expanded::Known(Partial {
        unit,
        look: Look::Done(view),
    })
}

/// A target listed twice (a `["*"]` entry and a named one) is acted on once, as first listed.
fn dedupe(expanded: &mut Vec<Expanded<'_>>) {
    let mut seen = BTreeSet::new();
    expanded.retain(|e| seen.insert(e.id().to_owned()));
}

/// The Auto Scaling groups every target needs, by name; on failure, what every target then is.
async fn describe_groups<A: AutoScaling>(
    autoscaling: &A,
    partial: &[Partial<'_>],
) -> Result<BTreeMap<String, AsgView>, View> {
    let names: BTreeSet<String> = partial.iter().filter_map(asg_name).collect();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let names: Vec<String> = names.into_iter().collect();
    match autoscaling.describe_groups(&names).await {
        Ok(groups) => Ok(groups.into_iter().map(|g| (g.name.clone(), g)).collect()),
        Err(e) => Err(View::failed(&e)),
    }
}

fn asg_name(p: &Partial<'_>) -> Option<String> {
    match (&p.look, &p.unit.resource) {
        (Look::Nodegroup(view), _) => view.autoscaling_groups.first().cloned(),
        (Look::SelfManaged, Resource::AutoScalingGroup { name }) => Some(name.clone()),
        _ => None,
    }
}

fn finish<'s>(
    p: Partial<'s>,
    groups: &Result<BTreeMap<String, AsgView>, View>,
    now: DateTime<Utc>,
) -> Observed<'s> {
    let name = asg_name(&p);
    let view = match (p.look, groups) {
        (Look::Done(view), _) => view,
        (_, Err(failed)) => failed.clone(),
        (Look::Nodegroup(ng), Ok(groups)) => {
            let asg = name.as_ref().and_then(|n| groups.get(n)).cloned();
            View::Present(nodegroup_live(ng, name, asg, now))
        }
        (Look::SelfManaged, Ok(groups)) => {
            match name.as_ref().and_then(|n| groups.get(n)).cloned() {
                Some(asg) => View::Present(self_managed_live(asg, now)),
                None => View::Missing {
                    what: format!(
                        "auto scaling group {} does not exist",
                        name.unwrap_or_default()
                    ),
                },
            }
        }
    };
    Observed { unit: p.unit, view }
}

fn nodegroup_live(
    ng: NodegroupView,
    asg_name: Option<String>,
    asg: Option<AsgView>,
    now: DateTime<Utc>,
) -> Live {
    let busy = (!ACTIONABLE_NODEGROUP_STATUSES.contains(&ng.status.as_str()))
        .then(|| format!("node group status is {}", ng.status));
    Live {
        scaling: ng.scaling,
        busy,
        skip: skip_at(ng.tags.get(SKIP_KEY).map(String::as_str), now),
        asg_name,
        asg,
    }
}

fn self_managed_live(asg: AsgView, now: DateTime<Utc>) -> Live {
    Live {
        scaling: asg.scaling,
        busy: asg
            .status
            .as_ref()
            .map(|s| format!("auto scaling group status is {s}")),
        skip: skip_at(asg.tag(SKIP_KEY), now),
        asg_name: Some(asg.name.clone()),
        asg: Some(asg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::{FakeAutoScaling, FakeEks};
    use crate::model::AsgTag;
    use crate::testing::{self, s};
    use chrono::TimeZone;

    const YAML: &str = r#"
  - cluster: dev-eks
    nodegroups: [app, ghost]
    autoscaling_groups: [dev-legacy, gone-asg]
    sleep: [{from: fri 22:00, to: mon 07:30}]
  - cluster: sandbox-eks
    nodegroups: ["*"]
    sleep: [{days: daily, start: "20:00", end: "08:00"}]
  - cluster: missing-eks
    nodegroups: ["*"]
    sleep: [{days: daily, start: "20:00", end: "08:00"}]
"#;

    #[tokio::test]
    async fn every_target_is_observed_and_missing_ones_are_values() {
        let schedule = testing::schedule(YAML);
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap();
        let eks = FakeEks::default()
            .nodegroup("dev-eks", "app", s(1, 3, 2), "eks-app")
            .nodegroup("sandbox-eks", "gpu", s(0, 2, 1), "eks-gpu")
            .nodegroup("sandbox-eks", "cpu", s(1, 2, 1), "eks-cpu");
        eks.set_status("sandbox-eks", "cpu", "UPDATING");
        eks.set_tag("sandbox-eks", "gpu", SKIP_KEY, "2026-11-28T00:00:00Z");
        let tag = AsgTag::new("k8s.io/cluster-autoscaler/enabled", "true", true);
        let asg = FakeAutoScaling::default()
            .group("eks-app", s(1, 3, 2), vec![tag.clone()])
            .group("dev-legacy", s(2, 4, 2), vec![]);

        let observed = observe(&eks, &asg, &schedule, now).await;

        let ids: Vec<&str> = observed.iter().map(|o| o.unit.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "dev-eks/app",
                "dev-eks/ghost",
                "dev-legacy",
                "gone-asg",
                "sandbox-eks/cpu",
                "sandbox-eks/gpu",
                "missing-eks/*"
            ]
        );
        let View::Present(app) = &observed[0].view else {
            panic!("{:?}", observed[0].view)
        };
        assert_eq!(app.scaling, s(1, 3, 2));
        assert_eq!(app.asg.as_ref().unwrap().tags, [tag]);
        assert!(matches!(&observed[1].view, View::Missing { what } if what.contains("ghost")));
        assert!(matches!(&observed[3].view, View::Missing { what } if what.contains("gone-asg")));
        let View::Present(cpu) = &observed[4].view else {
            panic!()
        };
        assert_eq!(cpu.busy.as_deref(), Some("node group status is UPDATING"));
        assert!(cpu.asg.is_none(), "eks-cpu was never created");
        let View::Present(gpu) = &observed[5].view else {
            panic!()
        };
        assert!(matches!(gpu.skip, Skip::Until(_)));
        assert!(
            matches!(&observed[6].view, View::Missing { what } if what.contains("missing-eks"))
        );
        assert_eq!(asg.calls(), ["DescribeAutoScalingGroups"]);
    }
}
