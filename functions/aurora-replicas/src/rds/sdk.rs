//! [`SdkRds`]: the [`Rds`] boundary on the AWS SDK for Rust.
//!
//! Every call goes through the SDK's standard retry policy (throttling and transient errors are
//! retried with backoff, bounded by the SDK's retry quota, before an [`RdsError`] comes back).
//! Describes follow `Marker` pages.

use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};

use super::{
    Cluster, ClusterMember, Instance, InstanceSettings, PerformanceInsights, Rds, RdsError,
    ReplicaSpec, Tag,
};

/// The `Filters` name both describes use.
const CLUSTER_FILTER: &str = "db-cluster-id";
/// Cluster ids per filter: a conservative bound (RDS pages results by 100), so a schedule with
/// more than 100 clusters makes one describe per 100 of them rather than risk an oversized filter.
const FILTER_VALUES_MAX: usize = 100;

/// The real RDS adapter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SdkRds {
    client: aws_sdk_rds::Client,
}

impl SdkRds {
    pub fn new(client: aws_sdk_rds::Client) -> Self {
        Self { client }
    }

    /// An adapter whose client is built from `sdk` (endpoint, region, credentials, HTTP client).
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_rds::Client::new(sdk))
    }
}

fn by_cluster(cluster_ids: &[String]) -> Filter {
    Filter::builder()
        .name(CLUSTER_FILTER)
        .set_values(Some(cluster_ids.to_vec()))
        .build()
}

impl Rds for SdkRds {
    async fn describe_clusters(&self, cluster_ids: &[String]) -> Result<Vec<Cluster>, RdsError> {
        let mut out = Vec::new();
        for ids in cluster_ids.chunks(FILTER_VALUES_MAX) {
            let page: Vec<DbCluster> = self
                .client
                .describe_db_clusters()
                .filters(by_cluster(ids))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(rds_error)?;
            out.extend(page.iter().map(cluster));
        }
        Ok(out)
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        let mut out = Vec::new();
        for ids in cluster_ids.chunks(FILTER_VALUES_MAX) {
            let page: Vec<DbInstance> = self
                .client
                .describe_db_instances()
                .filters(by_cluster(ids))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(rds_error)?;
            out.extend(page.iter().map(instance));
        }
        Ok(out)
    }

    async fn create_instance(&self, spec: &ReplicaSpec) -> Result<(), RdsError> {
        let s = &spec.settings;
        let pi = s.performance_insights.as_ref();
        let tags = spec.tags.iter().map(|t| {
            aws_sdk_rds::types::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
        });
        self.client
            .create_db_instance()
            .db_cluster_identifier(&spec.cluster)
            .db_instance_identifier(&spec.instance)
            .db_instance_class(&spec.class)
            .engine(&spec.engine)
            .promotion_tier(spec.promotion_tier)
            .set_availability_zone(spec.availability_zone.clone())
            .set_db_parameter_group_name(s.parameter_group.clone())
            .set_monitoring_interval(s.monitoring_interval.filter(|i| *i > 0))
            .set_monitoring_role_arn(s.monitoring_role_arn.clone())
            .set_enable_performance_insights(pi.map(|_| true))
            .set_performance_insights_kms_key_id(pi.and_then(|p| p.kms_key_id.clone()))
            .set_performance_insights_retention_period(pi.and_then(|p| p.retention_days))
            .set_auto_minor_version_upgrade(s.auto_minor_version_upgrade)
            .set_publicly_accessible(s.publicly_accessible)
            .set_ca_certificate_identifier(s.ca_certificate.clone())
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        self.client
            .delete_db_instance()
            .db_instance_identifier(instance_id)
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }
}

/// Keeps the AWS error code; transport failures get the SDK's error kind as their code.
fn rds_error<E, R>(err: SdkError<E, R>) -> RdsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = match &err {
        SdkError::ServiceError(_) => err.code().unwrap_or("Unknown").to_owned(),
        SdkError::TimeoutError(_) => "Timeout".to_owned(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_owned(),
        SdkError::ResponseError(_) => "ResponseError".to_owned(),
        _ => "ConstructionFailure".to_owned(),
    };
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    RdsError::with_source(code, message, err)
}

fn lower(s: Option<&str>) -> String {
    s.unwrap_or_default().to_ascii_lowercase()
}

fn tags(list: &[aws_sdk_rds::types::Tag]) -> Vec<Tag> {
    list.iter()
        .filter_map(|t| Some(Tag::new(t.key()?, t.value().unwrap_or_default())))
        .collect()
}

fn cluster(c: &DbCluster) -> Cluster {
    Cluster {
        id: lower(c.db_cluster_identifier()),
        status: c.status().unwrap_or_default().to_owned(),
        engine: c.engine().unwrap_or_default().to_owned(),
        availability_zones: c.availability_zones().to_vec(),
        members: c
            .db_cluster_members()
            .iter()
            .map(|m| ClusterMember {
                instance_id: lower(m.db_instance_identifier()),
                is_writer: m.is_cluster_writer().unwrap_or(false),
            })
            .collect(),
        tags: tags(c.tag_list()),
    }
}

fn instance(i: &DbInstance) -> Instance {
    Instance {
        id: lower(i.db_instance_identifier()),
        cluster_id: i.db_cluster_identifier().map(str::to_ascii_lowercase),
        class: i.db_instance_class().unwrap_or_default().to_owned(),
        engine: i.engine().unwrap_or_default().to_owned(),
        status: i.db_instance_status().unwrap_or_default().to_owned(),
        availability_zone: i.availability_zone().map(str::to_owned),
        promotion_tier: i.promotion_tier(),
        tags: tags(i.tag_list()),
        settings: settings(i),
    }
}

fn settings(i: &DbInstance) -> InstanceSettings {
    let performance_insights =
        i.performance_insights_enabled()
            .unwrap_or(false)
            .then(|| PerformanceInsights {
                kms_key_id: i.performance_insights_kms_key_id().map(str::to_owned),
                retention_days: i.performance_insights_retention_period(),
            });
    let monitoring_interval = i.monitoring_interval().filter(|n| *n > 0);
    InstanceSettings {
        parameter_group: i
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .map(str::to_owned),
        monitoring_interval,
        monitoring_role_arn: monitoring_interval
            .and(i.monitoring_role_arn())
            .map(str::to_owned),
        performance_insights,
        auto_minor_version_upgrade: i.auto_minor_version_upgrade(),
        publicly_accessible: i.publicly_accessible(),
        ca_certificate: i.ca_certificate_identifier().map(str::to_owned),
    }
}
