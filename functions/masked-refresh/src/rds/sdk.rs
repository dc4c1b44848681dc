//! [`Rds`] on the shared SDK adapter: the describes and the instance delete are the shared calls;
//! the restore, modifications, create, cluster delete and tagging are this function's own.

use offpeak_shared::rds::{done, sdk_tags};

use super::{
    CloneSpec, Cluster, ClusterChange, Instance, InstanceSpec, Rds, RdsError, SdkRds, Tag,
};

/// Aurora fast clone: a copy-on-write clone that shares storage pages with the source.
const COPY_ON_WRITE: &str = "copy-on-write";

impl Rds for SdkRds {
    async fn describe_clusters(&self) -> Result<Vec<Cluster>, RdsError> {
        self.describe_all_clusters().await
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        SdkRds::describe_instances(self, cluster_ids).await
    }

    async fn restore_clone(&self, spec: &CloneSpec) -> Result<(), RdsError> {
        let result = self
            .client()
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
            .await;
        done(result)
    }

    async fn modify_cluster(&self, change: &ClusterChange) -> Result<(), RdsError> {
        let password = change.master_password.as_ref();
        let result = self
            .client()
            .modify_db_cluster()
            .db_cluster_identifier(&change.cluster)
            .apply_immediately(true)
            .set_new_db_cluster_identifier(change.new_id.clone())
            .set_vpc_security_group_ids(change.security_groups.clone())
            .set_master_user_password(password.map(|p| p.expose().to_owned()))
            .set_deletion_protection(change.deletion_protection)
            .send()
            .await;
        done(result)
    }

    async fn create_instance(&self, spec: &InstanceSpec) -> Result<(), RdsError> {
        let result = self
            .create_instance_request(&spec.requested())
            .set_db_parameter_group_name(spec.parameter_group.clone())
            .publicly_accessible(false)
            .send()
            .await;
        done(result)
    }

    async fn rename_instance(&self, instance_id: &str, new_id: &str) -> Result<(), RdsError> {
        let result = self
            .client()
            .modify_db_instance()
            .db_instance_identifier(instance_id)
            .new_db_instance_identifier(new_id)
            .apply_immediately(true)
            .send()
            .await;
        done(result)
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        SdkRds::delete_instance(self, instance_id).await
    }

    async fn delete_cluster(
        &self,
        cluster_id: &str,
        final_snapshot: Option<&str>,
    ) -> Result<(), RdsError> {
        let result = self
            .client()
            .delete_db_cluster()
            .db_cluster_identifier(cluster_id)
            .skip_final_snapshot(final_snapshot.is_none())
            .set_final_db_snapshot_identifier(final_snapshot.map(str::to_owned))
            .delete_automated_backups(true)
            .send()
            .await;
        done(result)
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<(), RdsError> {
        let result = self
            .client()
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await;
        done(result)
    }
}
