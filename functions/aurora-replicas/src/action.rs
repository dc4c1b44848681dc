//! The actions a plan holds: the only two changes this function ever makes.
//!
//! An [`Action`] prints as one line for people (`create prod-aurora-offpeak-1 (db.r7g.large,
//! ap-northeast-1a, tier 15)`) and serialises with every parameter the API call will get, so a
//! dry-run shows exactly what a real run would do.

use std::fmt;

use serde::Serialize;

use crate::rds::ReplicaSpec;

/// One change to one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Add a reader (`CreateDBInstance`).
    Create(ReplicaSpec),
    /// Remove a reader offpeak created (`DeleteDBInstance`).
    Delete(Removal),
}

/// A replica to delete and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    pub cluster: String,
    pub instance: String,
    /// Its status when observed.
    pub status: String,
    pub reason: RemovalReason,
}

/// Why a replica is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// More offpeak replicas than the schedule wants (a window closed or shrank).
    Surplus,
    /// In a terminal failure state; a healthy replacement is created in its place.
    Broken,
    /// Its cluster was removed from the schedule: offpeak puts the cluster back as it found it.
    Unscheduled,
}

impl Action {
    /// The cluster the action changes.
    pub fn cluster(&self) -> &str {
        match self {
            Action::Create(spec) => &spec.cluster,
            Action::Delete(removal) => &removal.cluster,
        }
    }

    /// The instance the action creates or deletes.
    pub fn instance(&self) -> &str {
        match self {
            Action::Create(spec) => &spec.instance,
            Action::Delete(removal) => &removal.instance,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Create(s) => write!(
                f,
                "create {} ({}, {}, tier {})",
                s.instance,
                s.class,
                s.availability_zone.as_deref().unwrap_or("any AZ"),
                s.promotion_tier
            ),
            Action::Delete(r) => {
                let why = match r.reason {
                    RemovalReason::Surplus => "surplus",
                    RemovalReason::Broken => "broken, to be replaced",
                    RemovalReason::Unscheduled => "no longer scheduled",
                };
                write!(f, "delete {} ({}, {why})", r.instance, r.status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::{InstanceSettings, Tag};
    use serde_json::json;

    fn create() -> Action {
        Action::Create(ReplicaSpec {
            cluster: "prod-aurora".into(),
            instance: "prod-aurora-offpeak-1".into(),
            class: "db.r7g.large".into(),
            engine: "aurora-postgresql".into(),
            availability_zone: Some("ap-northeast-1a".into()),
            promotion_tier: 15,
            settings: InstanceSettings {
                parameter_group: Some("prod-pg".into()),
                ..InstanceSettings::default()
            },
            tags: vec![Tag::new("offpeak:managed-by", "offpeak")],
        })
    }

    #[test]
    fn actions_print_as_one_line() {
        assert_eq!(
            create().to_string(),
            "create prod-aurora-offpeak-1 (db.r7g.large, ap-northeast-1a, tier 15)"
        );
        let delete = Action::Delete(Removal {
            cluster: "prod-aurora".into(),
            instance: "prod-aurora-offpeak-2".into(),
            status: "available".into(),
            reason: RemovalReason::Surplus,
        });
        assert_eq!(
            delete.to_string(),
            "delete prod-aurora-offpeak-2 (available, surplus)"
        );
    }

    #[test]
    fn actions_serialise_with_every_parameter() {
        assert_eq!(
            serde_json::to_value(create()).unwrap(),
            json!({
                "action": "create",
                "cluster": "prod-aurora",
                "instance": "prod-aurora-offpeak-1",
                "class": "db.r7g.large",
                "engine": "aurora-postgresql",
                "availability_zone": "ap-northeast-1a",
                "promotion_tier": 15,
                "parameter_group": "prod-pg",
                "tags": [{"key": "offpeak:managed-by", "value": "offpeak"}],
            })
        );
    }
}
