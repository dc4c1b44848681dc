//! `offpeak timeline --state`: how many instances each EKS target runs when awake, from the state
//! table, so hours asleep become instance-hours avoided.
//!
//! The eks-nodegroups function saves a target's pre-sleep `{min, max, desired}` when it puts the
//! target to sleep and clears it once the target is verifiably restored. So a size is known only
//! while offpeak holds the target asleep; otherwise (never slept, awake now, an unreadable
//! document) the size is [`Size::Unknown`] and the timeline says so, never guesses. A
//! `<cluster>/*` target counts the node groups the function has enrolled for that cluster (its
//! registry): their saved sizes added up, known only when every one of them is.
//!
//! At most two `BatchGetItem` reads (the targets and the registry, then the enrolled node groups
//! of `*` clusters); nothing is written. No table (`OFFPEAK_STATE_TABLE` unset) is bad input.

use std::collections::{BTreeSet, HashMap};

use offpeak_eks_nodegroups::FUNCTION;
use offpeak_eks_nodegroups::record::Stored;
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::calendar::{Kind, Target};
use offpeak_shared::error_chain::chain;
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{Record, StateStore};

use crate::failure::Failure;

/// An EKS target's size when awake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The saved desired count (summed over a `*` cluster's node groups).
    Nodes(i64),
    Unknown,
}

/// Size per EKS target id.
pub type Sizes = HashMap<String, Size>;

/// Reads the sizes of every EKS target in `targets` from the state table.
pub async fn read(targets: &[Target<'_>]) -> Result<Sizes, Failure> {
    let aws = AwsCtx::load().await;
    let store = crate::pause_cmd::state(&aws)?;
    let eks = eks_ids(targets);
    let mut keys: Vec<String> = eks.iter().map(|t| (*t).to_owned()).collect();
    keys.push(registry::key(FUNCTION));
    let runtime = |e: offpeak_shared::state::StateError| Failure::Runtime(chain(&e));
    let mut records = store.get_many(&keys).await.map_err(runtime)?;
    let enrolled = Registry::from_records(&records, FUNCTION).map_err(runtime)?;
    let members: Vec<String> = eks
        .iter()
        .filter_map(|t| wildcard_cluster(t))
        .flat_map(|c| members(&enrolled, c))
        .collect();
    if !members.is_empty() {
        records.extend(store.get_many(&members).await.map_err(runtime)?);
    }
    Ok(sizes(&eks, &records, &enrolled))
}

/// The ids of the EKS targets (node groups and Auto Scaling groups).
fn eks_ids<'t>(targets: &'t [Target<'_>]) -> Vec<&'t str> {
    targets
        .iter()
        .filter(|t| matches!(t.kind, Kind::EksNodegroup | Kind::EksAsg))
        .map(|t| t.id.as_str())
        .collect()
}

/// `dev-eks` for `dev-eks/*`.
fn wildcard_cluster(target: &str) -> Option<&str> {
    target.strip_suffix("/*")
}

/// The node groups of `cluster` the function has enrolled.
fn members(enrolled: &Registry, cluster: &str) -> BTreeSet<String> {
    let prefix = format!("{cluster}/");
    enrolled
        .targets
        .iter()
        .filter(|t| t.starts_with(&prefix) && wildcard_cluster(t).is_none())
        .cloned()
        .collect()
}

/// The saved desired count in a target's document, if it has one.
fn saved(record: Option<&Record>) -> Option<i64> {
    let stored = Stored::from_record(Some(record?)).ok()?;
    stored.doc.saved.map(|s| i64::from(s.scaling.desired))
}

/// Each target's size from the records read (pure).
fn sizes(eks: &[&str], records: &HashMap<String, Record>, enrolled: &Registry) -> Sizes {
    let size = |target: &str| match wildcard_cluster(target) {
        None => saved(records.get(target)).map_or(Size::Unknown, Size::Nodes),
        Some(cluster) => {
            let groups = members(enrolled, cluster);
            let known: Option<Vec<i64>> = groups.iter().map(|g| saved(records.get(g))).collect();
            match known {
                Some(n) if !n.is_empty() => Size::Nodes(n.iter().sum()),
                _ => Size::Unknown,
            }
        }
    };
    eks.iter().map(|t| ((*t).to_owned(), size(t))).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(target: &str, doc: serde_json::Value) -> (String, Record) {
        let r = Record {
            target: target.to_owned(),
            version: 1,
            doc,
            lease: None,
        };
        (target.to_owned(), r)
    }

    fn asleep(desired: i32) -> serde_json::Value {
        json!({"desired": "asleep", "saved": {"scaling": {"min": 1, "max": 5, "desired": desired}, "at": "2026-11-27T13:00:00Z"}})
    }

    #[test]
    fn a_size_is_known_only_where_the_store_saved_one() {
        let records: HashMap<String, Record> = [
            record("dev-eks/app", asleep(3)),
            record("dev-eks/batch", json!({"desired": "awake"})),
            record("dev-legacy", json!({"saved": "not a saved state"})),
            record("sandbox-eks/web", asleep(2)),
            record("sandbox-eks/api", asleep(1)),
            record("half-eks/web", asleep(2)),
            record("half-eks/api", json!({"desired": "awake"})),
        ]
        .into_iter()
        .collect();
        let enrolled = Registry {
            targets: [
                "dev-eks/app",
                "sandbox-eks/web",
                "sandbox-eks/api",
                "half-eks/web",
                "half-eks/api",
            ]
            .map(String::from)
            .into(),
        };
        let eks = [
            "dev-eks/app",
            "dev-eks/batch",
            "dev-legacy",
            "never-slept",
            "sandbox-eks/*",
            "half-eks/*",
            "empty-eks/*",
        ];
        let got = sizes(&eks, &records, &enrolled);
        let want: Sizes = [
            ("dev-eks/app", Size::Nodes(3)),
            // awake: restored and cleared
            ("dev-eks/batch", Size::Unknown),
            // a document this offpeak can't read is not a size
            ("dev-legacy", Size::Unknown),
            ("never-slept", Size::Unknown),
            ("sandbox-eks/*", Size::Nodes(3)),
            // one node group's size unknown: the sum would understate
            ("half-eks/*", Size::Unknown),
            ("empty-eks/*", Size::Unknown),
        ]
        .into_iter()
        .map(|(t, s)| (t.to_owned(), s))
        .collect();
        assert_eq!(got, want);
    }
}
