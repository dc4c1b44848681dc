//! [`SdkRds`]: the [`Rds`] boundary on the AWS SDK for Rust.
//!
//! Every call goes through the SDK's standard retry policy before an [`RdsError`] comes back.
//! Describes follow `Marker` pages.

use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};

use super::{
    CloneSpec, Cluster, ClusterChange, Instance, InstanceSpec, Member, Rds, RdsError, Tag,
};

/// Cluster ids per `db-cluster-id` filter (RDS pages by 100; stay within that).
const FILTER_VALUES_MAX: usize = 100;
/// Aurora fast clone: a copy-on-write clone that shares storage pages with the source.
const COPY_ON_WRITE: &str = "copy-on-write";

/// The real RDS adapter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SdkRds {
    client: aws_sdk_rds::Client,
}

impl SdkRds {
    pub fn new(client: aws_sdk_rds::Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_rds::Client::new(sdk))
    }
}

fn sdk_tags(tags: &[Tag]) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|t| {
            aws_sdk_rds::types::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
        })
        .collect()
}

impl Rds for SdkRds {
    async fn describe_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        let all: Vec<DbCluster> = self
            .client
            .describe_db_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(rds_error)?;
        Ok(all.iter().map(cluster).collect())
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        let mut out = Vec::new();
        for ids in cluster_ids.chunks(FILTER_VALUES_MAX) {
            let filter = Filter::builder()
                .name("db-cluster-id")
                .set_values(Some(ids.to_vec()))
                .build();
            let page: Vec<DbInstance> = self
                .client
                .describe_db_instances()
                .filters(filter)
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

    async fn restore_clone(&self, spec: &CloneSpec) -> Result<(), RdsError> {
        self.client
            .restore_db_cluster_to_point_in_time()
            .source_db_cluster_identifier(&spec.source)
            .db_cluster_identifier(&spec.clone)
            .restore_type(COPY_ON_WRITE)
            .use_latest_restorable_time(true)
            .set_vpc_security_group_ids(Some(spec.security_groups.clone()))
            .set_db_subnet_group_name(spec.subnet_group.clone())
            .set_db_cluster_parameter_group_name(spec.parameter_group.clone())
            .deletion_protection(false)
            .set_tags(Some(sdk_tags(&spec.tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }

    async fn modify_cluster(&self, change: &ClusterChange) -> Result<(), RdsError> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(&change.cluster)
            .apply_immediately(true)
            .set_new_db_cluster_identifier(change.new_id.clone())
            .set_vpc_security_group_ids(change.security_groups.clone())
            .set_master_user_password(
                change
                    .master_password
                    .as_ref()
                    .map(|p| p.expose().to_owned()),
            )
            .set_deletion_protection(change.deletion_protection)
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }

    async fn create_instance(&self, spec: &InstanceSpec) -> Result<(), RdsError> {
        self.client
            .create_db_instance()
            .db_cluster_identifier(&spec.cluster)
            .db_instance_identifier(&spec.instance)
            .db_instance_class(&spec.class)
            .engine(&spec.engine)
            .publicly_accessible(false)
            .set_tags(Some(sdk_tags(&spec.tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }

    async fn rename_instance(&self, instance_id: &str, new_id: &str) -> Result<(), RdsError> {
        self.client
            .modify_db_instance()
            .db_instance_identifier(instance_id)
            .new_db_instance_identifier(new_id)
            .apply_immediately(true)
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

    async fn delete_cluster(&self, cluster_id: &str) -> Result<(), RdsError> {
        self.client
            .delete_db_cluster()
            .db_cluster_identifier(cluster_id)
            .skip_final_snapshot(true)
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<(), RdsError> {
        self.client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(rds_error)
    }
}

/// Keeps the AWS error code; transport failures get the SDK's error kind as their code. The
/// message is AWS's, which names resources and parameters, never a parameter's value.
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
        arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
        status: c.status().unwrap_or_default().to_owned(),
        engine: c.engine().unwrap_or_default().to_owned(),
        endpoint: c.endpoint().map(str::to_owned),
        port: c.port(),
        master_username: c.master_username().map(str::to_owned),
        database_name: c.database_name().map(str::to_owned),
        subnet_group: c.db_subnet_group().map(str::to_owned),
        parameter_group: c.db_cluster_parameter_group().map(str::to_owned),
        security_groups: c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect(),
        deletion_protection: c.deletion_protection().unwrap_or(false),
        members: c
            .db_cluster_members()
            .iter()
            .map(|m| Member {
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
        arn: i.db_instance_arn().unwrap_or_default().to_owned(),
        cluster_id: i.db_cluster_identifier().map(str::to_ascii_lowercase),
        status: i.db_instance_status().unwrap_or_default().to_owned(),
        class: i.db_instance_class().unwrap_or_default().to_owned(),
        tags: tags(i.tag_list()),
    }
}
