//! Where new replicas go: their names and their Availability Zones. Pure.
//!
//! - **Names**: the lowest indices `n >= 1` whose `<cluster>-offpeak-<n>` is not taken by any
//!   instance of the cluster (any owner, any state: a `deleting` instance keeps its identifier
//!   until it is gone). Two ticks that saw the same cluster therefore choose the same names, and
//!   a tick that saw some of a racing tick's replicas chooses the names of the rest.
//! - **Zones**: each new replica goes to the cluster AZ with the fewest instances (counting every
//!   instance that is not being deleted, and the replicas placed before it), ties going to the
//!   AZ RDS lists first. A cluster that lists no AZs leaves the choice to RDS.

use std::collections::BTreeSet;

use crate::observe::ClusterView;
use crate::ownership::replica_name;
use offpeak_shared::rds::Health;

/// A new replica's name and zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub name: String,
    pub availability_zone: Option<String>,
}

/// Names and zones for `count` new replicas of `view`.
pub fn place(view: &ClusterView, count: usize) -> Vec<Spot> {
    let names = free_names(view, count);
    let zones = spread(view, count);
    names
        .into_iter()
        .zip(zones)
        .map(|(name, availability_zone)| Spot {
            name,
            availability_zone,
        })
        .collect()
}

fn free_names(view: &ClusterView, count: usize) -> Vec<String> {
    let taken: BTreeSet<&str> = view
        .members
        .iter()
        .map(|m| m.instance.id.as_str())
        .collect();
    (1..)
        .map(|n| replica_name(&view.id, n))
        .filter(|name| !taken.contains(name.as_str()))
        .take(count)
        .collect()
}

fn spread(view: &ClusterView, count: usize) -> Vec<Option<String>> {
    if view.availability_zones.is_empty() {
        return vec![None; count];
    }
    let mut load: Vec<(usize, &str)> = view
        .availability_zones
        .iter()
        .map(|az| (0, az.as_str()))
        .collect();
    let live = view.members.iter().filter(|m| m.health != Health::Deleting);
    for az in live.filter_map(|m| m.instance.availability_zone.as_deref()) {
        if let Some(slot) = load.iter_mut().find(|(_, name)| *name == az) {
            slot.0 += 1;
        }
    }
    (0..count)
        .map(|_| {
            // `min_by_key` keeps the first of equal minima: RDS's AZ order breaks ties.
            let slot = load
                .iter_mut()
                .min_by_key(|(n, _)| *n)
                .expect("at least one AZ");
            slot.0 += 1;
            Some(slot.1.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::view;

    fn names(spots: &[Spot]) -> Vec<&str> {
        spots.iter().map(|s| s.name.as_str()).collect()
    }

    fn zones(spots: &[Spot]) -> Vec<&str> {
        spots
            .iter()
            .map(|s| s.availability_zone.as_deref().unwrap_or("-"))
            .collect()
    }

    #[test]
    fn lowest_free_indices_skip_every_taken_identifier() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-1", "b", "deleting", false, true),
            ("prod-offpeak-3", "c", "available", false, true),
        ]);
        assert_eq!(
            names(&place(&v, 3)),
            ["prod-offpeak-2", "prod-offpeak-4", "prod-offpeak-5"]
        );
    }

    #[test]
    fn zones_fill_the_emptiest_first_in_rds_order() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-reader", "b", "available", false, false),
            ("prod-old", "c", "deleting", false, false),
        ]);
        assert_eq!(zones(&place(&v, 4)), ["c", "a", "b", "c"]);
    }

    #[test]
    fn no_cluster_zones_means_rds_chooses() {
        let mut v = view(&[("prod-writer", "a", "available", true, false)]);
        v.availability_zones.clear();
        assert_eq!(zones(&place(&v, 2)), ["-", "-"]);
    }

    #[test]
    fn the_same_view_always_gives_the_same_spots() {
        let v = view(&[
            ("prod-writer", "a", "available", true, false),
            ("prod-offpeak-2", "b", "creating", false, true),
        ]);
        assert_eq!(place(&v, 2), place(&v, 2));
        assert_eq!(names(&place(&v, 2)), ["prod-offpeak-1", "prod-offpeak-3"]);
    }
}
