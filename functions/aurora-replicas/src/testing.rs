//! Helpers shared by the unit tests.

use std::path::Path;

use chrono::{DateTime, Utc};
use offpeak_shared::config::{Schedule, parse_str};

use crate::observe::{ClusterView, Member};
use crate::ownership::{self, MANAGED_BY_KEY, TARGET_KEY};
use crate::rds::{Instance, InstanceSettings, Tag};
use offpeak_shared::rds::Health;

/// A schedule from YAML text; panics with every error when it does not validate.
pub fn schedule(yaml: &str) -> Schedule {
    parse_str(yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// An instant from RFC 3339 text.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

/// Cluster `prod` (AZs `a`, `b`, `c`) with one member per row:
/// `(id, az, status, is_writer, made_by_offpeak)`. Every instance is `db.r6g.xlarge` with the
/// parameter group `<id>-params`.
pub fn view(rows: &[(&str, &str, &str, bool, bool)]) -> ClusterView {
    let members = rows
        .iter()
        .map(|&(id, az, status, is_writer, ours)| {
            let tags = if ours {
                vec![
                    Tag::new(MANAGED_BY_KEY, "offpeak"),
                    Tag::new(TARGET_KEY, "prod"),
                ]
            } else {
                vec![]
            };
            let instance = Instance {
                id: id.into(),
                cluster_id: Some("prod".into()),
                class: "db.r6g.xlarge".into(),
                engine: "aurora-postgresql".into(),
                status: status.into(),
                availability_zone: Some(az.into()),
                promotion_tier: Some(1),
                tags,
                settings: InstanceSettings {
                    parameter_group: Some(format!("{id}-params")),
                    ..InstanceSettings::default()
                },
                ..Instance::default()
            };
            Member {
                is_writer,
                owner: ownership::owner(&instance, "prod"),
                health: Health::of(status),
                instance,
            }
        })
        .collect();
    ClusterView {
        id: "prod".into(),
        status: "available".into(),
        engine: "aurora-postgresql".into(),
        availability_zones: vec!["a".into(), "b".into(), "c".into()],
        tags: vec![],
        members,
    }
}
