//! What the benchmarks put into moto: Aurora clusters with their writers, EKS clusters with
//! managed node groups and (standing in for EKS, which moto does not emulate here) their Auto
//! Scaling groups, self-managed Auto Scaling groups, and the state table.
//!
//! Seeding 500 targets is a thousand requests, so they go [`SEED_CONCURRENCY`] at a time.

use std::future::Future;

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::Tag;
use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use offpeak_shared::state::DynamoStateStore;
use tokio::task::JoinSet;

/// The state table name `events/env.json` gives every function.
pub const STATE_TABLE: &str = "offpeak-state";
const ENGINE: &str = "aurora-postgresql";
const WRITER_CLASS: &str = "db.r7g.large";
const LAUNCH_CONFIG: &str = "offpeak-bench-nodes";
/// Requests in flight while seeding.
const SEED_CONCURRENCY: usize = 8;

/// `(min, max, desired)` of every node group and Auto Scaling group the benchmarks create.
pub const SIZE: (i32, i32, i32) = (1, 4, 2);

/// SDK clients for setting up (their requests are not counted).
#[derive(Clone)]
pub struct World {
    pub rds: aws_sdk_rds::Client,
    pub eks: aws_sdk_eks::Client,
    pub asg: aws_sdk_autoscaling::Client,
}

impl World {
    /// Clients on `sdk`, the state table, and the launch configuration Auto Scaling groups use.
    pub async fn new(sdk: &SdkConfig) -> World {
        DynamoStateStore::from_sdk_config(sdk, STATE_TABLE)
            .create_table_if_missing()
            .await
            .expect("create the state table");
        let world = World {
            rds: aws_sdk_rds::Client::new(sdk),
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
            .expect("create the launch configuration");
        world
    }

    /// Aurora clusters, each with its writer `<cluster>-writer`.
    pub async fn aurora_clusters(&self, clusters: &[String]) {
        let world = self.clone();
        bounded(clusters, move |cluster| {
            let world = world.clone();
            async move { world.aurora_cluster(&cluster).await }
        })
        .await;
    }

    async fn aurora_cluster(&self, cluster: &str) {
        self.rds
            .create_db_cluster()
            .db_cluster_identifier(cluster)
            .engine(ENGINE)
            .master_username("offpeak")
            .master_user_password("not-a-secret-1")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create cluster {cluster}: {e:?}"));
        self.rds
            .create_db_instance()
            .db_instance_identifier(format!("{cluster}-writer"))
            .db_cluster_identifier(cluster)
            .engine(ENGINE)
            .db_instance_class(WRITER_CLASS)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create the writer of {cluster}: {e:?}"));
    }

    /// An EKS cluster with `nodegroups`, each with its Auto Scaling group.
    pub async fn eks_cluster(&self, cluster: &str, nodegroups: &[String]) {
        self.eks
            .create_cluster()
            .name(cluster)
            .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
            .resources_vpc_config(
                VpcConfigRequest::builder()
                    .subnet_ids("subnet-0aaa")
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create eks cluster {cluster}: {e:?}"));
        let world = self.clone();
        let cluster = cluster.to_owned();
        bounded(nodegroups, move |nodegroup| {
            let (world, cluster) = (world.clone(), cluster.clone());
            async move { world.nodegroup(&cluster, &nodegroup).await }
        })
        .await;
    }

    /// A managed node group and the Auto Scaling group EKS names for it, with EKS's tags.
    async fn nodegroup(&self, cluster: &str, name: &str) {
        let (min, max, desired) = SIZE;
        let scaling = NodegroupScalingConfig::builder()
            .min_size(min)
            .max_size(max)
            .desired_size(desired)
            .build();
        let created = self
            .eks
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .node_role("arn:aws:iam::123456789012:role/eks-node")
            .subnets("subnet-0aaa")
            .scaling_config(scaling)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create node group {cluster}/{name}: {e:?}"));
        let asg = created
            .nodegroup()
            .and_then(|n| n.resources())
            .and_then(|r| r.auto_scaling_groups().first())
            .and_then(|g| g.name())
            .expect("moto names the node group's auto scaling group")
            .to_owned();
        let per_cluster = format!("k8s.io/cluster-autoscaler/{cluster}");
        let tags = [
            ("k8s.io/cluster-autoscaler/enabled", "true"),
            (per_cluster.as_str(), "owned"),
            ("eks:cluster-name", cluster),
            ("eks:nodegroup-name", name),
        ];
        self.auto_scaling_group(&asg, &tags).await;
    }

    /// An Auto Scaling group of [`SIZE`] with `tags`.
    pub async fn auto_scaling_group(&self, name: &str, tags: &[(&str, &str)]) {
        let (min, max, desired) = SIZE;
        let tags = tags
            .iter()
            .map(|(key, value)| {
                Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(*key)
                    .value(*value)
                    .propagate_at_launch(true)
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
}

/// Runs `make(item)` for every item, at most [`SEED_CONCURRENCY`] at a time.
async fn bounded<F, Fut>(items: &[String], make: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut running = JoinSet::new();
    for item in items {
        if running.len() >= SEED_CONCURRENCY
            && let Some(done) = running.join_next().await
        {
            done.expect("seeding task");
        }
        running.spawn(make(item.clone()));
    }
    while let Some(done) = running.join_next().await {
        done.expect("seeding task");
    }
}

/// `prefix-000`, `prefix-001`, … (`count` names).
pub fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:03}")).collect()
}
