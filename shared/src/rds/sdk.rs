//! [`SdkRds`]: the RDS calls both RDS functions make, on the AWS SDK for Rust, and the pieces
//! each function's own calls are built from ([`sdk_tags`], [`done`], `RdsError::from`).
//!
//! Every call goes through the SDK's standard retry policy (throttling and transient errors are
//! retried with backoff, bounded by the SDK's retry quota) before an [`RdsError`] comes back.
//! Describes follow `Marker` pages. A function implements its own narrow trait on this type, so
//! the calls it can reach are the calls its IAM policy allows.

use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder;
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};

use super::{
    Cluster, ClusterMember, Instance, InstanceSettings, PerformanceInsights, RdsError, Tag,
};

/// Every item of every page of a describe `request`: `Ok(Vec<item>)` or the SDK's error.
macro_rules! every_page {
    ($request:expr) => {
        $request.into_paginator().items().send().try_collect().await
    };
}

/// The `Filters` name both describes use.
const CLUSTER_FILTER: &str = "db-cluster-id";
/// Cluster ids per filter: a conservative bound (RDS pages results by 100), so more than 100
/// clusters make one describe per 100 of them rather than risk an oversized filter.
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

    /// The SDK client, for the calls only one function makes.
    pub fn client(&self) -> &aws_sdk_rds::Client {
        &self.client
    }

    /// `DescribeDBClusters` filtered by `db-cluster-id`; clusters that do not exist are absent.
    pub async fn describe_clusters_by_id(
        &self,
        cluster_ids: &[String],
    ) -> Result<Vec<Cluster>, RdsError> {
        let mut out = Vec::new();
        for filter in by_cluster(cluster_ids) {
            let all: Vec<DbCluster> =
                every_page!(self.client.describe_db_clusters().filters(filter))?;
            out.extend(all.iter().map(cluster));
        }
        Ok(out)
    }

    /// `DescribeDBClusters`: every cluster of the account and region.
    pub async fn describe_all_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        let all: Vec<DbCluster> = every_page!(self.client.describe_db_clusters())?;
        Ok(all.iter().map(cluster).collect())
    }

    /// `DescribeDBInstances` filtered by `db-cluster-id`: every instance of those clusters.
    pub async fn describe_instances(
        &self,
        cluster_ids: &[String],
    ) -> Result<Vec<Instance>, RdsError> {
        let mut out = Vec::new();
        for filter in by_cluster(cluster_ids) {
            let all: Vec<DbInstance> =
                every_page!(self.client.describe_db_instances().filters(filter))?;
            out.extend(all.iter().map(instance));
        }
        Ok(out)
    }

    /// `CreateDBInstance` of the instance `requested` describes ([`Instance::requested`]) into
    /// its Aurora cluster, tagged at creation: the request both functions start from and add
    /// their own settings to before sending it.
    pub fn create_instance_request(&self, requested: &Instance) -> CreateDBInstanceFluentBuilder {
        self.client
            .create_db_instance()
            .set_db_cluster_identifier(requested.cluster_id.clone())
            .db_instance_identifier(&requested.id)
            .db_instance_class(&requested.class)
            .engine(&requested.engine)
            .set_tags(Some(sdk_tags(&requested.tags)))
    }

    /// `DeleteDBInstance` (Aurora instances have no final snapshot of their own).
    pub async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        let result = self
            .client
            .delete_db_instance()
            .db_instance_identifier(instance_id)
            .send()
            .await;
        done(result)
    }
}

/// One `db-cluster-id` filter per [`FILTER_VALUES_MAX`] ids.
fn by_cluster(cluster_ids: &[String]) -> impl Iterator<Item = Filter> + '_ {
    cluster_ids.chunks(FILTER_VALUES_MAX).map(|ids| {
        Filter::builder()
            .name(CLUSTER_FILTER)
            .set_values(Some(ids.to_vec()))
            .build()
    })
}

/// The outcome of a call whose output a reconciler does not read: success, or its [`RdsError`].
/// Takes the awaited result, not the call: wrapping the SDK's (large) futures in one more
/// future would deepen every tick's stack.
pub fn done<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<(), RdsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    result.map(|_| ()).map_err(RdsError::from)
}

/// Keeps the AWS error code; transport failures get the SDK's error kind as their code. The
/// message is AWS's, which names resources and parameters, never a parameter's value.
impl<E, R> From<SdkError<E, R>> for RdsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        let code = match &err {
            SdkError::ServiceError(_) => err.code().unwrap_or("Unknown"),
            SdkError::TimeoutError(_) => "Timeout",
            SdkError::DispatchFailure(_) => "DispatchFailure",
            SdkError::ResponseError(_) => "ResponseError",
            _ => "ConstructionFailure",
        }
        .to_owned();
        let message = err
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
        RdsError::with_source(code, message, err)
    }
}

/// offpeak's tags as the SDK's.
pub fn sdk_tags(tags: &[Tag]) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|t| {
            aws_sdk_rds::types::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
        })
        .collect()
}

fn tags(list: &[aws_sdk_rds::types::Tag]) -> Vec<Tag> {
    list.iter()
        .filter_map(|t| Some(Tag::new(t.key()?, t.value().unwrap_or_default())))
        .collect()
}

fn lower(s: Option<&str>) -> String {
    s.unwrap_or_default().to_ascii_lowercase()
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn cluster(c: &DbCluster) -> Cluster {
    Cluster {
        id: lower(c.db_cluster_identifier()),
        arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
        status: c.status().unwrap_or_default().to_owned(),
        engine: c.engine().unwrap_or_default().to_owned(),
        availability_zones: c.availability_zones().to_vec(),
        endpoint: owned(c.endpoint()),
        port: c.port(),
        master_username: owned(c.master_username()),
        database_name: owned(c.database_name()),
        subnet_group: owned(c.db_subnet_group()),
        parameter_group: owned(c.db_cluster_parameter_group()),
        security_groups: c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| owned(g.vpc_security_group_id()))
            .collect(),
        deletion_protection: c.deletion_protection().unwrap_or(false),
        members: c
            .db_cluster_members()
            .iter()
            .map(|m| ClusterMember {
                instance_id: lower(m.db_instance_identifier()),
                is_writer: m.is_cluster_writer().unwrap_or(false),
            })
            .collect(),
        tags: tags(c.tag_list()),
        latest_restorable_time: c
            .latest_restorable_time()
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
    }
}

fn instance(i: &DbInstance) -> Instance {
    Instance {
        id: lower(i.db_instance_identifier()),
        arn: i.db_instance_arn().unwrap_or_default().to_owned(),
        cluster_id: i.db_cluster_identifier().map(str::to_ascii_lowercase),
        class: i.db_instance_class().unwrap_or_default().to_owned(),
        engine: i.engine().unwrap_or_default().to_owned(),
        status: i.db_instance_status().unwrap_or_default().to_owned(),
        availability_zone: owned(i.availability_zone()),
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
                kms_key_id: owned(i.performance_insights_kms_key_id()),
                retention_days: i.performance_insights_retention_period(),
            });
    let monitoring_interval = i.monitoring_interval().filter(|n| *n > 0);
    InstanceSettings {
        parameter_group: i
            .db_parameter_groups()
            .first()
            .and_then(|g| owned(g.db_parameter_group_name())),
        monitoring_interval,
        monitoring_role_arn: monitoring_interval.and(owned(i.monitoring_role_arn())),
        performance_insights,
        auto_minor_version_upgrade: i.auto_minor_version_upgrade(),
        publicly_accessible: i.publicly_accessible(),
        ca_certificate: owned(i.ca_certificate_identifier()),
    }
}
