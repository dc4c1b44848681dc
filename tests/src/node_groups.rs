//! EKS clusters, managed node groups and Auto Scaling groups, seeded in moto the way AWS would
//! have them, for every test, bench and demo of the EKS function.
//!
//! moto creates a managed node group's Auto Scaling group but not the tags EKS puts on it
//! (`eks:cluster-name`, `eks:nodegroup-name` and the cluster autoscaler's discovery tags, all
//! propagated at launch); [`NodeGroups::nodegroup`] adds them, so the function sees what it would
//! see in an account.
//!
//! Failure behaviour: every call panics with the resource it was creating or reading: a world
//! that could not be built must not let a test pass.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::Tag;
use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};

/// `(min, max, desired)` of a node group or an Auto Scaling group.
pub type Size = (i32, i32, i32);

/// The launch configuration every seeded Auto Scaling group launches from.
pub const LAUNCH_CONFIG: &str = "offpeak-test-nodes";

/// The cluster autoscaler's discovery tag, on every group it may scale.
pub const AUTOSCALER_ENABLED: &str = "k8s.io/cluster-autoscaler/enabled";

/// The cluster autoscaler's per-cluster discovery tag key.
pub fn autoscaler_owned(cluster: &str) -> String {
    format!("k8s.io/cluster-autoscaler/{cluster}")
}

/// Seeding and reading clients on one moto server (not the function's own clients).
#[derive(Debug, Clone)]
pub struct NodeGroups {
    pub eks: aws_sdk_eks::Client,
    pub asg: aws_sdk_autoscaling::Client,
}

impl NodeGroups {
    /// Clients on `sdk`, and the [`LAUNCH_CONFIG`] the groups need.
    pub async fn new(sdk: &SdkConfig) -> NodeGroups {
        let world = NodeGroups {
            eks: aws_sdk_eks::Client::new(sdk),
            asg: aws_sdk_autoscaling::Client::new(sdk),
        };
        world
            .asg
            .create_launch_configuration()
            .launch_configuration_name(LAUNCH_CONFIG)
            .image_id("ami-0abcdef1234567890")
            .instance_type("t3.medium")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create launch configuration {LAUNCH_CONFIG}: {e:?}"));
        world
    }

    /// An EKS cluster.
    pub async fn cluster(&self, name: &str) {
        self.eks
            .create_cluster()
            .name(name)
            .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
            .resources_vpc_config(
                VpcConfigRequest::builder()
                    .subnet_ids("subnet-0aaa")
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create eks cluster {name}: {e:?}"));
    }

    /// A managed node group of `size` and its Auto Scaling group with the tags EKS puts there;
    /// returns the Auto Scaling group's name.
    pub async fn nodegroup(&self, cluster: &str, name: &str, size: Size) -> String {
        let created = self
            .eks
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .node_role("arn:aws:iam::123456789012:role/eks-node")
            .subnets("subnet-0aaa")
            .scaling_config(scaling(size))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create node group {cluster}/{name}: {e:?}"));
        let asg = created
            .nodegroup()
            .and_then(|n| n.resources())
            .and_then(|r| r.auto_scaling_groups().first())
            .and_then(|g| g.name())
            .unwrap_or_else(|| panic!("moto names no auto scaling group for {cluster}/{name}"))
            .to_owned();
        let owned = autoscaler_owned(cluster);
        let tags = [
            (AUTOSCALER_ENABLED, "true", true),
            (owned.as_str(), "owned", true),
            ("eks:cluster-name", cluster, true),
            ("eks:nodegroup-name", name, true),
        ];
        self.auto_scaling_group(&asg, size, &tags).await;
        asg
    }

    /// An Auto Scaling group of `size` with `tags` as `(key, value, propagate at launch)`.
    pub async fn auto_scaling_group(&self, name: &str, size: Size, tags: &[(&str, &str, bool)]) {
        let (min, max, desired) = size;
        let tags = tags
            .iter()
            .map(|(key, value, propagate)| {
                Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(*key)
                    .value(*value)
                    .propagate_at_launch(*propagate)
                    .build()
            })
            .collect();
        self.asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name(LAUNCH_CONFIG)
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .availability_zones("ap-northeast-1a")
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create auto scaling group {name}: {e:?}"));
    }

    /// The node group's scaling configuration as EKS reports it.
    pub async fn nodegroup_size(&self, cluster: &str, name: &str) -> Size {
        let described = self
            .eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe node group {cluster}/{name}: {e:?}"));
        let c = described
            .nodegroup()
            .and_then(|n| n.scaling_config())
            .unwrap_or_else(|| panic!("node group {cluster}/{name} has no scaling config"));
        (
            c.min_size().unwrap_or_default(),
            c.max_size().unwrap_or_default(),
            c.desired_size().unwrap_or_default(),
        )
    }

    /// The Auto Scaling group's size.
    pub async fn group_size(&self, name: &str) -> Size {
        let described = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe auto scaling group {name}: {e:?}"));
        let g = described
            .auto_scaling_groups()
            .first()
            .unwrap_or_else(|| panic!("no auto scaling group {name}"));
        (
            g.min_size().unwrap_or_default(),
            g.max_size().unwrap_or_default(),
            g.desired_capacity().unwrap_or_default(),
        )
    }

    /// A person changes the node group's size in the console.
    pub async fn resize_nodegroup(&self, cluster: &str, name: &str, size: Size) {
        self.eks
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .scaling_config(scaling(size))
            .send()
            .await
            .unwrap_or_else(|e| panic!("resize node group {cluster}/{name}: {e:?}"));
    }
}

fn scaling((min, max, desired): Size) -> NodegroupScalingConfig {
    NodegroupScalingConfig::builder()
        .min_size(min)
        .max_size(max)
        .desired_size(desired)
        .build()
}
