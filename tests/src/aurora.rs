//! Aurora in moto as offpeak meets it: a production cluster with its owners' tags, its writer and
//! readers on a parameter group, and reading clusters and instances back, sorted by identifier.
//!
//! Failure behaviour: every call panics naming what it was creating or reading.

use aws_sdk_rds::Client;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter, Tag};

use crate::moto::REGION;

/// The engine of every seeded cluster.
pub const ENGINE: &str = "aurora-postgresql";
/// The parameter group production's instances use (and offpeak's replicas inherit).
pub const PARAMETER_GROUP: &str = "prod-pg";
/// The class of production's instances.
pub const PRODUCTION_CLASS: &str = "db.r6g.xlarge";

/// A production cluster `id` tagged with `tags`, and one instance per entry of `members`
/// (`<id>-<member>`, the first the writer), each in its own availability zone, on
/// [`PARAMETER_GROUP`], with the cluster's tags.
pub async fn production(rds: &Client, id: &str, tags: &[(&str, &str)], members: &[&str]) {
    parameter_group(rds).await;
    rds.create_db_cluster()
        .db_cluster_identifier(id)
        .engine(ENGINE)
        .master_username("postgres")
        .master_user_password("not-a-real-password")
        .set_tags(Some(rds_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create cluster {id}: {e:?}"));
    for (member, az) in members.iter().zip('a'..) {
        rds.create_db_instance()
            .db_cluster_identifier(id)
            .db_instance_identifier(format!("{id}-{member}"))
            .engine(ENGINE)
            .db_instance_class(PRODUCTION_CLASS)
            .db_parameter_group_name(PARAMETER_GROUP)
            .availability_zone(format!("{REGION}{az}"))
            .promotion_tier(1)
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create instance {id}-{member}: {e:?}"));
    }
}

/// [`PARAMETER_GROUP`], unless this moto server has it already.
async fn parameter_group(rds: &Client) {
    let created = rds
        .create_db_parameter_group()
        .db_parameter_group_name(PARAMETER_GROUP)
        .db_parameter_group_family("aurora-postgresql15")
        .description("production instances")
        .send()
        .await;
    if let Err(e) = created
        && e.code() != Some("DBParameterGroupAlreadyExists")
    {
        panic!("create parameter group {PARAMETER_GROUP}: {e:?}");
    }
}

pub fn rds_tags(tags: &[(&str, &str)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

/// Every cluster, sorted by identifier.
pub async fn clusters(rds: &Client) -> Vec<DbCluster> {
    let mut all: Vec<DbCluster> = rds
        .describe_db_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("describe clusters: {e:?}"));
    all.sort_by(|a, b| a.db_cluster_identifier().cmp(&b.db_cluster_identifier()));
    all
}

/// Every instance (of `cluster` only, when given), sorted by identifier.
pub async fn instances(rds: &Client, cluster: Option<&str>) -> Vec<DbInstance> {
    let filters = cluster.map(|c| vec![Filter::builder().name("db-cluster-id").values(c).build()]);
    let mut all: Vec<DbInstance> = rds
        .describe_db_instances()
        .set_filters(filters)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("describe instances: {e:?}"));
    all.sort_by(|a, b| a.db_instance_identifier().cmp(&b.db_instance_identifier()));
    all
}

/// The identifiers of [`clusters`].
pub async fn cluster_ids(rds: &Client) -> Vec<String> {
    clusters(rds)
        .await
        .iter()
        .filter_map(|c| c.db_cluster_identifier().map(str::to_owned))
        .collect()
}

/// The identifiers of [`instances`].
pub async fn instance_ids(rds: &Client, cluster: Option<&str>) -> Vec<String> {
    instances(rds, cluster)
        .await
        .iter()
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .collect()
}
