//! Smoke tests of the harness itself: each server the other integration tests rely on really works.

use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use aws_sdk_rds::types::Tag;
use offpeak_tests::masking_support::Pool;
use offpeak_tests::{Engine, Moto, TestDb};
use sqlx::PgPool;

/// moto accepts any well-formed ARN and subnet id; nothing here exists in IAM or EC2.
const EKS_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/offpeak-test-eks";
const NODE_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/offpeak-test-nodes";
const SUBNETS: [&str; 2] = ["subnet-0aaa1111", "subnet-0bbb2222"];

#[tokio::test]
async fn moto_serves_an_aurora_postgresql_cluster_with_a_writer() {
    // GIVEN a private moto server and an RDS client pointed at it
    let moto = Moto::start().await;
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);

    // WHEN an Aurora PostgreSQL cluster and its writer instance are created
    rds.create_db_cluster()
        .db_cluster_identifier("prod-aurora")
        .engine("aurora-postgresql")
        .master_username("offpeak")
        .master_user_password("not-a-secret-1")
        .tags(tag("offpeak:managed-by", "offpeak"))
        .send()
        .await
        .expect("create the cluster");
    rds.create_db_instance()
        .db_instance_identifier("prod-aurora-writer")
        .db_cluster_identifier("prod-aurora")
        .engine("aurora-postgresql")
        .db_instance_class("db.r7g.large")
        .send()
        .await
        .expect("create the writer");

    // THEN describing them returns what was created, tags included
    let clusters = rds
        .describe_db_clusters()
        .db_cluster_identifier("prod-aurora")
        .send()
        .await
        .expect("describe the cluster");
    let cluster = &clusters.db_clusters()[0];
    assert_eq!(cluster.db_cluster_identifier(), Some("prod-aurora"));
    assert_eq!(cluster.engine(), Some("aurora-postgresql"));
    assert_eq!(
        tag_value(cluster.tag_list(), "offpeak:managed-by"),
        Some("offpeak")
    );
    let members = cluster.db_cluster_members();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(
        members[0].db_instance_identifier(),
        Some("prod-aurora-writer")
    );
    assert_eq!(members[0].is_cluster_writer(), Some(true));

    let instances = rds
        .describe_db_instances()
        .db_instance_identifier("prod-aurora-writer")
        .send()
        .await
        .expect("describe the writer");
    let writer = &instances.db_instances()[0];
    assert_eq!(writer.db_cluster_identifier(), Some("prod-aurora"));
    assert_eq!(writer.engine(), Some("aurora-postgresql"));
    assert_eq!(writer.db_instance_class(), Some("db.r7g.large"));
}

#[tokio::test]
async fn moto_serves_an_eks_managed_node_group_with_its_scaling() {
    // GIVEN a private moto server, an EKS client and a cluster
    let moto = Moto::start().await;
    let eks = aws_sdk_eks::Client::new(&moto.sdk_config().await);
    let vpc = SUBNETS
        .iter()
        .fold(VpcConfigRequest::builder(), |b, s| b.subnet_ids(*s))
        .build();
    eks.create_cluster()
        .name("dev-eks")
        .role_arn(EKS_ROLE_ARN)
        .resources_vpc_config(vpc)
        .send()
        .await
        .expect("create the cluster");

    // WHEN a managed node group with a scaling config is created
    let scaling = NodegroupScalingConfig::builder()
        .min_size(1)
        .max_size(5)
        .desired_size(3)
        .build();
    eks.create_nodegroup()
        .cluster_name("dev-eks")
        .nodegroup_name("app")
        .node_role(NODE_ROLE_ARN)
        .set_subnets(Some(SUBNETS.map(String::from).to_vec()))
        .scaling_config(scaling)
        .tags("offpeak:managed-by", "offpeak")
        .send()
        .await
        .expect("create the node group");

    // THEN describing it returns that scaling config
    let described = eks
        .describe_nodegroup()
        .cluster_name("dev-eks")
        .nodegroup_name("app")
        .send()
        .await
        .expect("describe the node group");
    let nodegroup = described.nodegroup().expect("a node group");
    assert_eq!(nodegroup.cluster_name(), Some("dev-eks"));
    let scaling = nodegroup.scaling_config().expect("a scaling config");
    assert_eq!(
        (
            scaling.min_size(),
            scaling.max_size(),
            scaling.desired_size()
        ),
        (Some(1), Some(5), Some(3))
    );
    let tags = nodegroup.tags().expect("tags");
    assert_eq!(
        tags.get("offpeak:managed-by").map(String::as_str),
        Some("offpeak")
    );
}

#[tokio::test]
async fn moto_env_names_the_server_for_subprocesses() {
    // GIVEN a private moto server
    let moto = Moto::start().await;

    // WHEN its subprocess environment is read
    let env = moto.env();

    // THEN it points the SDK at the server, in the test region, with test credentials
    let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(moto.endpoint()));
    assert_eq!(get("AWS_REGION"), Some("ap-northeast-1"));
    assert_eq!(get("AWS_DEFAULT_REGION"), Some("ap-northeast-1"));
    assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("testing"));
    assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some("testing"));
}

#[tokio::test]
async fn two_moto_servers_do_not_share_state() {
    // GIVEN two servers, with a cluster created on the first
    let (first, second) = (Moto::start().await, Moto::start().await);
    assert_ne!(first.endpoint(), second.endpoint());
    let first_rds = aws_sdk_rds::Client::new(&first.sdk_config().await);
    first_rds
        .create_db_cluster()
        .db_cluster_identifier("only-on-first")
        .engine("aurora-postgresql")
        .master_username("offpeak")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .expect("create the cluster");

    // WHEN the second server is asked for its clusters
    let second_rds = aws_sdk_rds::Client::new(&second.sdk_config().await);
    let clusters = second_rds
        .describe_db_clusters()
        .send()
        .await
        .expect("describe clusters");

    // THEN it has none
    assert!(clusters.db_clusters().is_empty(), "{clusters:?}");
}

#[tokio::test]
async fn pg_databases_round_trip_rows_on_the_configured_and_the_own_server() {
    // GIVEN a fresh database on the configured (or throwaway) PostgreSQL server, and one on this
    // process's own server, whatever the environment says
    let own = offpeak_tests::throwaway_pg();
    assert_eq!(own.engine(), Engine::Postgres);
    for db in [offpeak_tests::pg_database().await, own.database().await] {
        // WHEN / THEN a row written there reads back
        round_trip(&db).await;
    }
}

#[tokio::test]
async fn mariadb_databases_round_trip_rows_on_the_configured_and_the_own_server() {
    // GIVEN the same for MariaDB
    let own = offpeak_tests::throwaway_mariadb();
    assert_eq!(own.engine(), Engine::MariaDb);
    for db in [
        offpeak_tests::mariadb_database().await,
        own.database().await,
    ] {
        // WHEN / THEN a row written there reads back
        round_trip(&db).await;
    }
}

#[tokio::test]
async fn test_databases_are_fresh_and_dropped_afterwards() {
    // GIVEN two test databases on the same server, with a table in the first
    let server = offpeak_tests::throwaway_pg();
    let admin = PgPool::connect(server.url())
        .await
        .expect("connect as admin");
    let first = server.database().await;
    let second = server.database().await;
    let pool = PgPool::connect(&first.url).await.expect("connect");
    sqlx::query("CREATE TABLE leftover (id int)")
        .execute(&pool)
        .await
        .expect("create a table");

    // WHEN the second is inspected and the first dropped
    let second_pool = PgPool::connect(&second.url).await.expect("connect");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&second_pool)
    .await
    .expect("count tables");
    let first_name = first.name.clone();
    drop(first);

    // THEN the second started empty and the first no longer exists
    assert_eq!(tables, 0);
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&first_name)
            .fetch_one(&admin)
            .await
            .expect("look the database up");
    assert!(!exists, "{first_name} should have been dropped");
}

/// A table created, a row written and read back, in `db` and nowhere else.
async fn round_trip(db: &TestDb) {
    let pool = Pool::connect(db, db.engine()).await;
    pool.exec("CREATE TABLE replicas (cluster VARCHAR(64) PRIMARY KEY, wanted INT NOT NULL)")
        .await;
    pool.exec("INSERT INTO replicas VALUES ('prod-aurora', 2)")
        .await;
    let here = if pool.is_pg() {
        "current_database()"
    } else {
        "DATABASE()"
    };
    let rows = pool
        .texts(&format!(
            "SELECT cluster, CONCAT(wanted, ''), {here} FROM replicas"
        ))
        .await;
    let row = |v: &str| Some(v.to_owned());
    assert_eq!(rows, [[row("prod-aurora"), row("2"), row(&db.name)]]);
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}
