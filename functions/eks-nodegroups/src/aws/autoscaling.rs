//! [`SdkAutoScaling`]: the [`AutoScaling`] trait on the AWS SDK.

use aws_sdk_autoscaling::types::{AutoScalingGroup, Tag};

use super::{AsgView, AutoScaling};
use crate::error::TickError;
use crate::model::{self, AsgTag, Scaling};

/// `DescribeAutoScalingGroups` accepts at most this many names per request.
const NAMES_PER_DESCRIBE: usize = 50;
/// The `ResourceType` of every Auto Scaling group tag.
const RESOURCE_TYPE: &str = "auto-scaling-group";

/// The Auto Scaling client offpeak uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SdkAutoScaling {
    client: aws_sdk_autoscaling::Client,
}

impl SdkAutoScaling {
    pub fn new(client: aws_sdk_autoscaling::Client) -> Self {
        Self { client }
    }

    async fn describe_chunk(&self, names: &[String]) -> Result<Vec<AsgView>, TickError> {
        let groups = self
            .client
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(names.to_vec()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<AutoScalingGroup>, _>>()
            .await
            .map_err(|e| TickError::DescribeAutoScalingGroups {
                names: names.join(", "),
                source: Box::new(aws_sdk_autoscaling::Error::from(e)),
            })?;
        groups.iter().map(view).collect()
    }
}

impl AutoScaling for SdkAutoScaling {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<AsgView>, TickError> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(NAMES_PER_DESCRIBE) {
            out.extend(self.describe_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn update_size(&self, name: &str, scaling: Scaling) -> Result<(), TickError> {
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(scaling.min)
            .max_size(scaling.max)
            .desired_capacity(scaling.desired)
            .send()
            .await
            .map(drop)
            .map_err(|e| TickError::UpdateAutoScalingGroup {
                name: name.to_owned(),
                scaling,
                source: Box::new(aws_sdk_autoscaling::Error::from(e)),
            })
    }

    async fn put_tags(&self, name: &str, tags: &[AsgTag]) -> Result<(), TickError> {
        let keys = model::keys(tags);
        let tags = tags
            .iter()
            .map(|t| {
                Tag::builder()
                    .resource_id(name)
                    .resource_type(RESOURCE_TYPE)
                    .key(&t.key)
                    .value(&t.value)
                    .propagate_at_launch(t.propagate_at_launch)
                    .build()
            })
            .collect();
        self.client
            .create_or_update_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map(drop)
            .map_err(|e| TickError::CreateOrUpdateTags {
                name: name.to_owned(),
                keys,
                source: Box::new(aws_sdk_autoscaling::Error::from(e)),
            })
    }

    async fn delete_tags(&self, name: &str, keys: &[String]) -> Result<(), TickError> {
        let tags = keys
            .iter()
            .map(|key| {
                Tag::builder()
                    .resource_id(name)
                    .resource_type(RESOURCE_TYPE)
                    .key(key)
                    .build()
            })
            .collect();
        self.client
            .delete_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map(drop)
            .map_err(|e| TickError::DeleteTags {
                name: name.to_owned(),
                keys: keys.join(", "),
                source: Box::new(aws_sdk_autoscaling::Error::from(e)),
            })
    }
}

fn view(group: &AutoScalingGroup) -> Result<AsgView, TickError> {
    let name = group
        .auto_scaling_group_name()
        .unwrap_or_default()
        .to_owned();
    let incomplete = || TickError::IncompleteSize { name: name.clone() };
    let scaling = Scaling {
        min: group.min_size().ok_or_else(incomplete)?,
        max: group.max_size().ok_or_else(incomplete)?,
        desired: group.desired_capacity().ok_or_else(incomplete)?,
    };
    let tags = group
        .tags()
        .iter()
        .filter_map(|t| {
            let key = t.key()?;
            Some(AsgTag::new(
                key,
                t.value().unwrap_or_default(),
                t.propagate_at_launch().unwrap_or(false),
            ))
        })
        .collect();
    Ok(AsgView {
        status: group.status().map(str::to_owned),
        scaling,
        tags,
        name,
    })
}
