//! [`Rds`] on the shared SDK adapter: the describes and the delete are the shared calls; the
//! reader's `CreateDBInstance` is this function's own.

use offpeak_shared::rds::done;

use super::{Cluster, Instance, Rds, RdsError, ReplicaSpec, SdkRds};

impl Rds for SdkRds {
    async fn describe_clusters(&self, cluster_ids: &[String]) -> Result<Vec<Cluster>, RdsError> {
        self.describe_clusters_by_id(cluster_ids).await
    }

    async fn describe_instances(&self, cluster_ids: &[String]) -> Result<Vec<Instance>, RdsError> {
        SdkRds::describe_instances(self, cluster_ids).await
    }

    async fn create_instance(&self, spec: &ReplicaSpec) -> Result<(), RdsError> {
        let s = &spec.settings;
        let pi = s.performance_insights.as_ref();
        let result = self
            .create_instance_request(&spec.requested())
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
            .send()
            .await;
        done(result)
    }

    async fn delete_instance(&self, instance_id: &str) -> Result<(), RdsError> {
        SdkRds::delete_instance(self, instance_id).await
    }
}
