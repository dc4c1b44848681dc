//! [`SdkEks`]: the [`Eks`] trait on the AWS SDK.

use aws_sdk_eks::types::NodegroupScalingConfig;

use super::{Eks, NodegroupView};
use crate::error::TickError;
use crate::model::Scaling;

/// The EKS client offpeak uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SdkEks {
    client: aws_sdk_eks::Client,
}

impl SdkEks {
    pub fn new(client: aws_sdk_eks::Client) -> Self {
        Self { client }
    }
}

impl Eks for SdkEks {
    async fn list_nodegroups(&self, cluster: &str) -> Result<Option<Vec<String>>, TickError> {
        let pages = self
            .client
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<String>, _>>()
            .await;
        match pages {
            Ok(mut names) => {
                names.sort();
                Ok(Some(names))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(TickError::ListNodegroups {
                cluster: cluster.to_owned(),
                source: Box::new(aws_sdk_eks::Error::from(e)),
            }),
        }
    }

    async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Option<NodegroupView>, TickError> {
        let response = self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await;
        let described = match response {
            Ok(out) => out.nodegroup,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(TickError::DescribeNodegroup {
                    cluster: cluster.to_owned(),
                    nodegroup: nodegroup.to_owned(),
                    source: Box::new(aws_sdk_eks::Error::from(e)),
                });
            }
        };
        described.map(|ng| view(cluster, nodegroup, ng)).transpose()
    }

    async fn update_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> Result<(), TickError> {
        let config = NodegroupScalingConfig::builder()
            .min_size(scaling.min)
            .max_size(scaling.max)
            .desired_size(scaling.desired)
            .build();
        self.client
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .scaling_config(config)
            .send()
            .await
            .map(drop)
            .map_err(|e| TickError::UpdateNodegroupConfig {
                cluster: cluster.to_owned(),
                nodegroup: nodegroup.to_owned(),
                scaling,
                source: Box::new(aws_sdk_eks::Error::from(e)),
            })
    }
}

fn view(
    cluster: &str,
    nodegroup: &str,
    ng: aws_sdk_eks::types::Nodegroup,
) -> Result<NodegroupView, TickError> {
    let incomplete = || TickError::IncompleteScaling {
        cluster: cluster.to_owned(),
        nodegroup: nodegroup.to_owned(),
    };
    let config = ng.scaling_config().ok_or_else(incomplete)?;
    let scaling = Scaling {
        min: config.min_size().ok_or_else(incomplete)?,
        max: config.max_size().ok_or_else(incomplete)?,
        desired: config.desired_size().ok_or_else(incomplete)?,
    };
    let autoscaling_groups = ng
        .resources()
        .map(|r| {
            r.auto_scaling_groups()
                .iter()
                .filter_map(|g| g.name().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(NodegroupView {
        scaling,
        status: ng
            .status()
            .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
        tags: ng.tags.unwrap_or_default().into_iter().collect(),
        autoscaling_groups,
    })
}
