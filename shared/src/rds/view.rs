//! What a tick knows about RDS: plain values reduced from `DescribeDBClusters` and
//! `DescribeDBInstances`, with no SDK types in them.
//!
//! Each view is the union of what the two RDS functions read; a function ignores the fields it
//! does not need. Identifiers are lowercase; a value RDS did not report is `None` or empty.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The value of tag `key` in `tags`.
pub fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// An Aurora cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cluster {
    pub id: String,
    pub arn: String,
    /// `available`, `creating`, `failing-over`, `modifying`, `renaming`, `stopped`, ... (see
    /// [`crate::rds::status`]).
    pub status: String,
    pub engine: String,
    /// The AZs the cluster's instances may live in, in the order RDS lists them.
    pub availability_zones: Vec<String>,
    /// Writer endpoint (DNS name).
    pub endpoint: Option<String>,
    pub port: Option<i32>,
    pub master_username: Option<String>,
    pub database_name: Option<String>,
    pub subnet_group: Option<String>,
    pub parameter_group: Option<String>,
    pub security_groups: Vec<String>,
    pub deletion_protection: bool,
    pub members: Vec<ClusterMember>,
    pub tags: Vec<Tag>,
    /// `LatestRestorableTime`: the latest instant a point-in-time restore (or a copy-on-write
    /// clone at the latest restorable time) of this cluster reflects.
    pub latest_restorable_time: Option<DateTime<Utc>>,
}

impl Cluster {
    /// The value of tag `key`, if the cluster carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        tag(&self.tags, key)
    }

    /// The writer's instance id, if the cluster has one.
    pub fn writer(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.is_writer)
            .map(|m| m.instance_id.as_str())
    }
}

/// One instance's role in its cluster, as `DBClusterMembers` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMember {
    pub instance_id: String,
    pub is_writer: bool,
}

/// A DB instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Instance {
    pub id: String,
    pub arn: String,
    pub cluster_id: Option<String>,
    pub class: String,
    pub engine: String,
    /// `DBInstanceStatus`: `available`, `creating`, `deleting`, `failed`, ... (see
    /// [`crate::rds::status`]).
    pub status: String,
    pub availability_zone: Option<String>,
    pub promotion_tier: Option<i32>,
    pub tags: Vec<Tag>,
    /// Settings a new instance copies from this one when it is the template.
    pub settings: InstanceSettings,
}

impl Instance {
    /// Instance `id` of `cluster` as a `CreateDBInstance` with these values asks for it; what RDS
    /// fills in (ARN, status, AZ, settings) is empty.
    pub fn requested(cluster: &str, id: &str, class: &str, engine: &str, tags: &[Tag]) -> Self {
        Self {
            id: id.to_owned(),
            cluster_id: Some(cluster.to_owned()),
            class: class.to_owned(),
            engine: engine.to_owned(),
            tags: tags.to_vec(),
            ..Self::default()
        }
    }

    /// The value of tag `key`, if the instance carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        tag(&self.tags, key)
    }
}

/// Instance-level settings a careful human copies from the writer when adding a reader, so the new
/// reader behaves and is observed like the rest of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceSettings {
    /// The DB (instance) parameter group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<String>,
    /// Enhanced Monitoring interval in seconds (0 = off) and its role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring_interval: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_insights: Option<PerformanceInsights>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_minor_version_upgrade: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicly_accessible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

/// Performance Insights, when the template has it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PerformanceInsights {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i32>,
}
