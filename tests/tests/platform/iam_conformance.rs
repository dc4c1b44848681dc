//! IAM conformance: each function's real code runs against moto through a recording HTTP client,
//! and every request it sent is judged against the role `template.yaml` gives that function,
//! conditions included (see `offpeak_tests::iam` for the evaluator and the AWS rules it encodes).
//! moto enforces no IAM, so this is where "AWS would refuse it" becomes a failing test.
//!
//! Scenarios (GIVEN a world in moto, WHEN the function ticks, THEN every authorization of every
//! request is allowed):
//! - aurora-replicas adds and removes replicas of a production cluster that carries its own tags
//!   (the function copies them onto each replica, so the create carries them too);
//! - eks-nodegroups puts managed node groups and a self-managed Auto Scaling group to sleep and
//!   wakes them;
//! - masked-refresh runs a whole refresh (clone, secure, instance, mask, verify, promote, clean up)
//!   against moto and a real PostgreSQL standing in for the clone, the clone with the stack's
//!   parameter groups (logging off) and the copy with production's.
//!
//! And the attackers: requests each role must refuse (production, other functions' resources,
//! other clusters, other regions, foreign tag keys, changing any parameter group or switching a
//! clone's), the old tag-on-create statement that refused tagged clusters' replicas, and cleanup
//! of a replica whose cluster left the schedule.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, TimeZone, Utc};
use offpeak_masked_refresh::memory::{Memory, Phase};
use offpeak_masked_refresh::secret::{DatabaseUrl, Password};
use offpeak_masked_refresh::settings::CloneParameterGroups;
use offpeak_masked_refresh::{Deps, Engine, SdkRds, SdkSecrets, SdkSecurityGroups, Settings};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config::parse_str;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::lambda::Ctx;
use offpeak_shared::notify::Notifier;
use offpeak_shared::state::{DynamoStateStore, StateStore};
use offpeak_tests::aurora::{self, rds_tags};
use offpeak_tests::iam::{self, Call, Recorder, Resource, RolePolicy, STATE_TABLE};
use offpeak_tests::masked_refresh_support::ec2::MotoEc2;
use offpeak_tests::masked_refresh_support::{clone_server, moto_rds};
use offpeak_tests::masking_support::{Pool, rules_text};
use offpeak_tests::node_groups::{AUTOSCALER_ENABLED, NodeGroups};
use offpeak_tests::{Inbox, Moto};
use serde_json::{Value, json};

use moto_rds::MotoRds;

/// Topic ARN the synthetic cases deploy with (the scenarios use their inbox's).
const TOPIC: &str = "arn:aws:sns:ap-northeast-1:123456789012:offpeak-notifications";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// `function`'s role in the template as deployed, notifying `topic`.
fn role(template: &Value, function: &str, topic: &str) -> RolePolicy {
    RolePolicy::of(&iam::deployed(template, topic), function)
}

/// Asserts `role` allows every authorization `calls` needed, printing each denial.
fn assert_conforms(role: &RolePolicy, calls: &[Call]) {
    let checks: usize = calls
        .iter()
        .filter_map(|c| iam::checks(c).ok())
        .map(|c| c.len())
        .sum();
    let mut ops: BTreeMap<String, usize> = BTreeMap::new();
    for c in calls {
        *ops.entry(format!("{}:{}", c.service, c.operation))
            .or_default() += 1;
    }
    println!(
        "{}: {} requests, {checks} authorizations: {ops:?}",
        role.function,
        calls.len()
    );
    let violations = role.violations(calls);
    assert!(
        violations.is_empty(),
        "{}'s role refuses {} of its {checks} authorizations:\n{}",
        role.function,
        violations.len(),
        violations.join("\n")
    );
}

/// The recorded requests of `operation`.
fn of<'c>(calls: &'c [Call], operation: &str) -> Vec<&'c Call> {
    calls.iter().filter(|c| c.operation == operation).collect()
}

/// A moto server with the state table and an inbox for notifications.
struct Base {
    /// Kept alive for the test's duration (dropping it stops the server).
    moto: Moto,
    sdk: SdkConfig,
    inbox: Inbox,
    recorder: Recorder,
}

impl Base {
    async fn start() -> Base {
        let moto = Moto::start().await;
        let sdk = moto.sdk_config().await;
        assert!(
            DynamoStateStore::from_sdk_config(&sdk, STATE_TABLE)
                .create_table_if_missing()
                .await
                .unwrap()
        );
        let inbox = Inbox::subscribe(&sdk).await;
        Base {
            moto,
            sdk,
            inbox,
            recorder: Recorder::default(),
        }
    }

    /// The function's context: every client's requests pass through the recorder.
    fn ctx(&self, schedule_yaml: &str) -> Ctx {
        let schedule = parse_str(schedule_yaml, Path::new("conformance.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        Ctx {
            aws: AwsCtx::from_sdk_config(self.recorder.wrap(&self.sdk))
                .with_state_table(STATE_TABLE)
                .with_topic(&self.inbox.topic_arn),
            schedule: Arc::new(schedule),
        }
    }

    fn role(&self, function: &str) -> RolePolicy {
        role(
            offpeak_tests::iam::cfn::template(),
            function,
            &self.inbox.topic_arn,
        )
    }
}

// -------------------------------------------------------------------------------------------------
// aurora-replicas

const AURORA_ENGINE: &str = "aurora-postgresql";
/// In the template's default ReplicaClusterIds.
const PRODUCTION: &str = "prod-aurora";
/// What a production cluster carries in any real account: cost allocation and ownership tags.
const PRODUCTION_TAGS: [(&str, &str); 3] = [
    ("cost-center", "cc-4711"),
    ("env", "production"),
    ("team", "payments"),
];

async fn production_cluster(rds: &aws_sdk_rds::Client) {
    aurora::production(rds, PRODUCTION, &PRODUCTION_TAGS, &["writer"]).await;
}

#[tokio::test]
async fn aurora_replicas_role_allows_replicas_of_a_tagged_production_cluster() {
    // GIVEN a production cluster with its own tags, and a schedule wanting 2 replicas 09:00-18:00
    let base = Base::start().await;
    production_cluster(&aws_sdk_rds::Client::new(&base.sdk)).await;
    let ctx = base.ctx(&format!(
        "timezone: UTC\naurora_replicas:\n  - cluster: {PRODUCTION}\n    instance_class: db.r7g.large\n    lead_time: 15m\n    windows:\n      - {{ days: daily, start: \"09:00\", end: \"18:00\", replicas: 2 }}\n"
    ));

    // WHEN the window opens, ticks on, and closes
    let event = InvocationEvent::default();
    for (at, want) in [
        ("2026-11-27T08:45:00Z", 2),
        ("2026-11-27T08:50:00Z", 0),
        ("2026-11-27T18:00:00Z", 2),
    ] {
        let report = offpeak_aurora_replicas::tick(&ctx, &event, utc(at))
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{at}: {report:?}");
        assert_eq!(report.applied.len(), want, "{at}: {report:?}");
    }

    // THEN the replicas were created carrying the cluster's own tags (the case under test) ...
    let calls = base.recorder.take();
    let creates = of(&calls, "CreateDBInstance");
    assert_eq!(creates.len(), 2);
    for c in &creates {
        let tags: Vec<&String> = c.params.values().collect();
        for (k, v) in PRODUCTION_TAGS {
            assert!(
                tags.contains(&&k.to_owned()) && tags.contains(&&v.to_owned()),
                "{k}={v} not on the create: {:?}",
                c.params
            );
        }
    }
    assert_eq!(of(&calls, "DeleteDBInstance").len(), 2);
    // ... and the role allows every request of the three ticks
    assert_conforms(&base.role("aurora-replicas"), &calls);
}

// -------------------------------------------------------------------------------------------------
// eks-nodegroups

const EKS_CLUSTER: &str = "dev-eks";
/// In the template's default SelfManagedAsgNames.
const SELF_MANAGED: &str = "dev-legacy";
async fn eks_world(sdk: &SdkConfig) {
    let world = NodeGroups::new(sdk).await;
    world.cluster(EKS_CLUSTER).await;
    for name in ["app", "batch"] {
        world.nodegroup(EKS_CLUSTER, name, (1, 4, 2)).await;
    }
    let tags = [
        (AUTOSCALER_ENABLED, "true", true),
        ("team", "platform", true),
    ];
    world
        .auto_scaling_group(SELF_MANAGED, (1, 4, 2), &tags)
        .await;
}

#[tokio::test]
async fn eks_nodegroups_role_allows_sleeping_and_waking_node_groups_and_an_asg() {
    // GIVEN dev-eks with two managed node groups and a self-managed Auto Scaling group, asleep
    // over the weekend
    let base = Base::start().await;
    eks_world(&base.sdk).await;
    let ctx = base.ctx(&format!(
        "timezone: Asia/Tokyo\neks_nodegroups:\n  - cluster: {EKS_CLUSTER}\n    nodegroups: [app, batch]\n    autoscaling_groups: [{SELF_MANAGED}]\n    sleep:\n      - from: fri 22:00\n        to: mon 07:30\n"
    ));

    // WHEN it ticks through Friday night, Saturday and Monday morning (JST)
    let event = InvocationEvent::default();
    for at in [
        Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 27, 13, 5, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 29, 22, 35, 0).unwrap(),
    ] {
        let report = offpeak_eks_nodegroups::tick(&ctx, &event, at)
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{at}: {report:?}");
    }

    // THEN both kinds of group were scaled down and back up ...
    let calls = base.recorder.take();
    assert!(of(&calls, "UpdateNodegroupConfig").len() >= 4, "{calls:?}");
    assert!(of(&calls, "UpdateAutoScalingGroup").len() >= 2, "{calls:?}");
    // ... a tick's leases went back together, in a transaction ...
    assert!(!of(&calls, "TransactWriteItems").is_empty(), "{calls:?}");
    // ... and the role allows every request
    assert_conforms(&base.role("eks-nodegroups"), &calls);
}

// -------------------------------------------------------------------------------------------------
// masked-refresh

const SOURCE: &str = "prod-aurora";
const DEV: &str = "dev-aurora";
const SECRET: &str = "offpeak/dev-aurora-master";
const SALT: &str = "conformance-salt-0123456789";
const OPENS: &str = "2026-11-27T03:00:00Z";

async fn refresh_clusters(sdk: &SdkConfig) {
    let rds = aws_sdk_rds::Client::new(sdk);
    let owned = [
        ("offpeak:managed-by", "offpeak"),
        ("offpeak:function", "masked-refresh"),
    ];
    for (cluster, instance, group, tags) in [
        (SOURCE, "prod-aurora-1", "sg-0prod", &PRODUCTION_TAGS[..]),
        (DEV, "dev-aurora-1", "sg-0dev", &owned[..]),
    ] {
        rds.create_db_cluster()
            .db_cluster_identifier(cluster)
            .engine(AURORA_ENGINE)
            .database_name("app")
            .master_username("admin")
            .master_user_password("production-password-1")
            .vpc_security_group_ids(group)
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .unwrap();
        rds.create_db_instance()
            .db_cluster_identifier(cluster)
            .db_instance_identifier(instance)
            .engine(AURORA_ENGINE)
            .db_instance_class("db.r6g.xlarge")
            .set_tags(Some(rds_tags(tags)))
            .send()
            .await
            .unwrap();
    }
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(SECRET)
        .secret_string("dev-master-password-1")
        .send()
        .await
        .unwrap();
    // Production logs with a cluster parameter group of its own; the stack made offpeak's two.
    for group in [PRODUCTION_GROUP, CLONE_CLUSTER_GROUP] {
        rds.create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .db_parameter_group_family("aurora-postgresql16")
            .description(group)
            .send()
            .await
            .unwrap();
    }
    rds.create_db_parameter_group()
        .db_parameter_group_name(CLONE_INSTANCE_GROUP)
        .db_parameter_group_family("aurora-postgresql16")
        .description(CLONE_INSTANCE_GROUP)
        .send()
        .await
        .unwrap();
    rds.modify_db_cluster()
        .db_cluster_identifier(SOURCE)
        .db_cluster_parameter_group_name(PRODUCTION_GROUP)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
}

/// Production's cluster parameter group, and the stack's two for the clone.
const PRODUCTION_GROUP: &str = "prod-aurora-logging";
const CLONE_CLUSTER_GROUP: &str = "offpeak-clonecluster-1a2b";
const CLONE_INSTANCE_GROUP: &str = "offpeak-cloneinstance-3c4d";

#[tokio::test]
async fn masked_refresh_role_allows_a_whole_refresh() {
    // GIVEN production (with its own tags and parameter group), a dev cluster handed to offpeak,
    // the dev password secret, the stack's parameter groups for the clone, and a PostgreSQL
    // database with personal data standing in for the clone
    let base = Base::start().await;
    refresh_clusters(&base.sdk).await;
    // ... and the quarantine group, admitting only the function's own group
    let ec2 = MotoEc2::new(base.moto.endpoint());
    let function_sg = ec2.create_group("offpeak-masked-refresh").await;
    let quarantine = ec2.create_group("offpeak-quarantine").await;
    ec2.allow_group(&quarantine, &function_sg, 5432).await;
    let dir = tempfile::tempdir().unwrap();
    // A refresh treats the clone's whole server as its own: the clone is this process's private
    // server, whose `postgres` database the rules drop.
    let rules = format!(
        "{}databases:\n  drop: [postgres]\n",
        rules_text(50_000, 5_000_000)
    );
    std::fs::write(dir.path().join("masking.yaml"), rules).unwrap();
    let schedule = dir.path().join("schedules.yaml");
    let yaml = format!(
        "timezone: UTC\nmasked_refresh:\n  source_cluster: {SOURCE}\n  target_cluster: {DEV}\n  rules: masking.yaml\n  window: {{ days: daily, start: \"03:00\", end: \"06:00\" }}\n  quarantine_security_groups: [{quarantine}]\n  dev_security_groups: [sg-0dev]\n  dev_password_secret: {SECRET}\n"
    );
    std::fs::write(&schedule, &yaml).unwrap();
    let cfg = parse_str(&yaml, &schedule)
        .unwrap_or_else(|e| panic!("{e}"))
        .masked_refresh
        .unwrap();
    let server = clone_server::take(offpeak_tests::Engine::Postgres).await;
    let db = &server.db;
    Pool::connect(db, offpeak_tests::Engine::Postgres)
        .await
        .create_schema(50)
        .await;
    let wired = base.recorder.wrap(&base.sdk);
    let settings = Settings {
        clone_database_url: Some(DatabaseUrl::new(db.url.clone())),
        masking_salt: Some(Password::new(SALT)),
        function_security_groups: vec![function_sg],
        mask_time: Some(Duration::from_secs(120)),
        clone_parameter_groups: CloneParameterGroups {
            cluster: Some(CLONE_CLUSTER_GROUP.into()),
            instance: Some(CLONE_INSTANCE_GROUP.into()),
        },
        ..Settings::default()
    };
    let rds = MotoRds::new(SdkRds::from_sdk_config(&wired));
    let secrets = SdkSecrets::from_sdk_config(&wired);
    let security_groups = SdkSecurityGroups::from_sdk_config(&wired);
    let masking = Engine::new(&cfg.rules, settings.masking_salt.clone(), wired.clone());
    let store = DynamoStateStore::from_sdk_config(&wired, STATE_TABLE);
    let notifier = Notifier::sns(
        aws_sdk_sns::Client::new(&wired),
        base.inbox.topic_arn.clone(),
    );
    let deps = Deps {
        rds: &rds,
        secrets: &secrets,
        security_groups: &security_groups,
        masking: &masking,
        store: Some(&store),
        notifier: &notifier,
        cfg: &cfg,
        settings: &settings,
    };

    // WHEN the window opens and it ticks every 5 minutes until the run is over
    let key = format!("masked-refresh/{DEV}");
    let mut phase = None;
    for minute in (0..150).step_by(5) {
        let at = utc(OPENS) + chrono::Duration::minutes(minute);
        let report = Box::pin(offpeak_masked_refresh::run(
            &deps,
            &InvocationEvent::default(),
            at,
        ))
        .await
        .unwrap_or_else(|e| panic!("tick at {at}: {e:?}"));
        assert!(report.failed.is_empty(), "{at}: {report:?}");
        let records = store.get_many(&[key.as_str()]).await.unwrap();
        phase = records
            .get(&key)
            .and_then(|r| r.decode::<Memory>().unwrap().run)
            .map(|r| r.phase);
        if phase.is_some_and(|p| p.is_terminal()) {
            break;
        }
    }

    // THEN the refresh finished: cloned, secured, instance made, promoted, the old dev removed ...
    assert_eq!(phase, Some(Phase::Done));
    let calls = base.recorder.take();
    for op in [
        "RestoreDBClusterToPointInTime",
        "CreateDBInstance",
        "ModifyDBCluster",
        "ModifyDBInstance",
        "DeleteDBCluster",
        "DeleteDBInstance",
        "AddTagsToResource",
        "GetSecretValue",
        "DescribeSecurityGroups",
        "Publish",
    ] {
        assert!(!of(&calls, op).is_empty(), "no {op} in the run");
    }
    // ... the clone with the stack's parameter groups, the copy with production's ...
    let group_of = |op: &str, id_key: &str, id: &str, group_key: &str| {
        of(&calls, op)
            .into_iter()
            .find(|c| c.params.get(id_key).map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no {op} of {id}"))
            .params
            .get(group_key)
            .cloned()
    };
    let restore = "RestoreDBClusterToPointInTime";
    let cluster_group = "DBClusterParameterGroupName";
    let clone = "dev-aurora-offpeak-20261127";
    let copy = "dev-aurora-offpeak-20261127-copy";
    assert_eq!(
        group_of(restore, "DBClusterIdentifier", clone, cluster_group).as_deref(),
        Some(CLONE_CLUSTER_GROUP)
    );
    assert_eq!(
        group_of(restore, "DBClusterIdentifier", copy, cluster_group).as_deref(),
        Some(PRODUCTION_GROUP)
    );
    let create = "CreateDBInstance";
    let instance_group = "DBParameterGroupName";
    assert_eq!(
        group_of(create, "DBClusterIdentifier", clone, instance_group).as_deref(),
        Some(CLONE_INSTANCE_GROUP)
    );
    assert_eq!(
        group_of(create, "DBClusterIdentifier", copy, instance_group),
        None
    );
    // ... and the role allows every request of it
    assert_conforms(&base.role("masked-refresh"), &calls);
}

// -------------------------------------------------------------------------------------------------
// Attackers: what each role must refuse, judged without moto.

/// A request as the recorder would have seen it, in the stack's region.
fn call(service: &str, operation: &str, params: &[(&str, &str)]) -> Call {
    Call {
        service: service.into(),
        region: iam::REGION.into(),
        operation: operation.into(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([("Action".to_owned(), operation.to_owned())])
            .collect(),
        json: Value::Null,
        path: Vec::new(),
        facts: BTreeMap::new(),
    }
}

/// `call` naming a resource that exists with `tags`.
fn with(mut call: Call, key: &str, arn: &str, tags: &[(&str, &str)]) -> Call {
    let tags = tags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    call.facts.insert(
        key.to_owned(),
        Some(Resource {
            arn: arn.to_owned(),
            tags,
        }),
    );
    call
}

fn rds_arn(resource: &str) -> String {
    format!("arn:aws:rds:{}:{}:{resource}", iam::REGION, iam::ACCOUNT)
}

/// The CreateDBInstance aurora-replicas sends for a replica of the tagged production cluster.
fn tagged_replica_create(cluster: &str, region: &str) -> Call {
    let replica = format!("{cluster}-offpeak-1");
    let mut c = call(
        "rds",
        "CreateDBInstance",
        &[
            ("DBClusterIdentifier", cluster),
            ("DBInstanceIdentifier", &replica),
            ("DBParameterGroupName", "prod-pg"),
            ("Tags.Tag.1.Key", "cost-center"),
            ("Tags.Tag.1.Value", "cc-4711"),
            ("Tags.Tag.2.Key", "team"),
            ("Tags.Tag.2.Value", "payments"),
            ("Tags.Tag.3.Key", "offpeak:managed-by"),
            ("Tags.Tag.3.Value", "offpeak"),
            ("Tags.Tag.4.Key", "offpeak:target"),
            ("Tags.Tag.4.Value", cluster),
            ("Tags.Tag.5.Key", "offpeak:function"),
            ("Tags.Tag.5.Value", "aurora-replicas"),
        ],
    );
    c.region = region.to_owned();
    let arn = format!("arn:aws:rds:{region}:{}:cluster:{cluster}", iam::ACCOUNT);
    with(c, &format!("cluster:{cluster}"), &arn, &PRODUCTION_TAGS)
}

/// A DeleteDBInstance of `instance`, which carries `tags`.
fn delete_instance(instance: &str, tags: &[(&str, &str)]) -> Call {
    let c = call(
        "rds",
        "DeleteDBInstance",
        &[("DBInstanceIdentifier", instance)],
    );
    with(
        c,
        &format!("db:{instance}"),
        &rds_arn(&format!("db:{instance}")),
        tags,
    )
}

const REPLICA_TAGS: [(&str, &str); 2] = [
    ("offpeak:managed-by", "offpeak"),
    ("offpeak:function", "aurora-replicas"),
];

#[test]
fn the_old_tag_on_create_statement_refuses_a_tagged_clusters_replica() {
    // GIVEN the replica create of a cluster carrying its own tags
    let create = tagged_replica_create(PRODUCTION, iam::REGION);
    // WHEN the tag-on-create statement allows only offpeak:* keys, as it used to
    let mut old = offpeak_tests::iam::cfn::template().clone();
    let statements = old["Resources"]["AuroraReplicasRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap();
    let tag_on_create = statements
        .iter_mut()
        .find(|s| s["Sid"] == "TagReplicasAtCreation")
        .expect("TagReplicasAtCreation");
    tag_on_create["Condition"]["ForAllValues:StringLike"] = json!({"aws:TagKeys": ["offpeak:*"]});
    // THEN the evaluator refuses the implicit rds:AddTagsToResource, naming the condition
    let refused = role(&old, "aurora-replicas", TOPIC).violations(std::slice::from_ref(&create));
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].starts_with("DENIED CreateDBInstance (tags on create): rds:AddTagsToResource")
            && refused[0]
                .contains("TagReplicasAtCreation: condition ForAllValues:StringLike aws:TagKeys"),
        "{}",
        refused[0]
    );
    // AND the template as shipped allows it
    let shipped = role(
        offpeak_tests::iam::cfn::template(),
        "aurora-replicas",
        TOPIC,
    );
    assert_eq!(shipped.violations(&[create]), Vec::<String>::new());
}

#[test]
fn each_role_refuses_what_offpeak_must_never_do() {
    let template = offpeak_tests::iam::cfn::template();
    let cluster_arn = |id: &str| rds_arn(&format!("cluster:{id}"));
    let owned_prod = [("offpeak:managed-by", "offpeak")];
    let cases: Vec<(&str, &str, Call)> = vec![
        (
            "aurora-replicas",
            "delete the production writer",
            delete_instance("prod-aurora-writer", &PRODUCTION_TAGS),
        ),
        (
            "aurora-replicas",
            "delete a look-alike replica without offpeak:function",
            delete_instance("prod-aurora-offpeak-1", &REPLICA_TAGS[..1]),
        ),
        (
            "aurora-replicas",
            "delete masked-refresh's clone instance",
            delete_instance(
                "dev-aurora-offpeak-20261127-1",
                &[
                    ("offpeak:managed-by", "offpeak"),
                    ("offpeak:function", "masked-refresh"),
                ],
            ),
        ),
        (
            "aurora-replicas",
            "create a replica in a cluster not in ReplicaClusterIds",
            tagged_replica_create("other-aurora", iam::REGION),
        ),
        (
            "aurora-replicas",
            "create a replica in another region",
            tagged_replica_create(PRODUCTION, "us-east-1"),
        ),
        (
            "aurora-replicas",
            "create a replica not tagged as offpeak's",
            with(
                call(
                    "rds",
                    "CreateDBInstance",
                    &[
                        ("DBClusterIdentifier", PRODUCTION),
                        ("DBInstanceIdentifier", "prod-aurora-offpeak-1"),
                        ("Tags.Tag.1.Key", "team"),
                        ("Tags.Tag.1.Value", "payments"),
                    ],
                ),
                "cluster:prod-aurora",
                &cluster_arn(PRODUCTION),
                &PRODUCTION_TAGS,
            ),
        ),
        (
            "masked-refresh",
            "modify production, even tagged as offpeak's",
            with(
                call("rds", "ModifyDBCluster", &[("DBClusterIdentifier", SOURCE)]),
                "cluster:prod-aurora",
                &cluster_arn(SOURCE),
                &owned_prod,
            ),
        ),
        (
            "masked-refresh",
            "tag production",
            with(
                call(
                    "rds",
                    "AddTagsToResource",
                    &[
                        ("ResourceName", &cluster_arn(SOURCE)),
                        ("Tags.Tag.1.Key", "offpeak:managed-by"),
                        ("Tags.Tag.1.Value", "offpeak"),
                    ],
                ),
                &format!("arn:{}", cluster_arn(SOURCE)),
                &cluster_arn(SOURCE),
                &PRODUCTION_TAGS,
            ),
        ),
        (
            "masked-refresh",
            "delete a production instance",
            delete_instance("prod-aurora-1", &PRODUCTION_TAGS),
        ),
        (
            "masked-refresh",
            "delete aurora-replicas' peak replica",
            delete_instance("prod-aurora-offpeak-1", &REPLICA_TAGS),
        ),
        (
            "masked-refresh",
            "modify an instance tagged only offpeak:managed-by",
            with(
                call(
                    "rds",
                    "ModifyDBInstance",
                    &[("DBInstanceIdentifier", "dev-aurora-1")],
                ),
                "db:dev-aurora-1",
                &rds_arn("db:dev-aurora-1"),
                &owned_prod,
            ),
        ),
        (
            "masked-refresh",
            "delete production with a final snapshot under the clone prefix",
            final_snapshot_delete(SOURCE, "dev-aurora-offpeak-prev-x-final", &owned_prod),
        ),
        (
            "masked-refresh",
            "delete a handed-over cluster with a final snapshot outside the clone prefix",
            final_snapshot_delete(ASIDE_CLUSTER, "dev-aurora-final", &HANDED_OVER),
        ),
        (
            "masked-refresh",
            "snapshot a cluster handed to aurora-replicas, not to it",
            final_snapshot_delete(
                "dev-aurora-offpeak-prev-y",
                "dev-aurora-offpeak-prev-y-final",
                &REPLICA_TAGS,
            ),
        ),
        (
            "eks-nodegroups",
            "scale up a self-managed group not in SelfManagedAsgNames",
            with(
                call(
                    "autoscaling",
                    "UpdateAutoScalingGroup",
                    &[("AutoScalingGroupName", "prod-web")],
                ),
                "asg:prod-web",
                "arn:aws:autoscaling:ap-northeast-1:123456789012:autoScalingGroup:1f2e:autoScalingGroupName/prod-web",
                &[],
            ),
        ),
        (
            "eks-nodegroups",
            "write a foreign tag key on a dev node group's Auto Scaling group",
            with(
                call(
                    "autoscaling",
                    "CreateOrUpdateTags",
                    &[
                        ("Tags.member.1.ResourceId", "eks-app-1"),
                        ("Tags.member.1.Key", "team"),
                        ("Tags.member.1.Value", "x"),
                    ],
                ),
                "asg:eks-app-1",
                "arn:aws:autoscaling:ap-northeast-1:123456789012:autoScalingGroup:9a8b:autoScalingGroupName/eks-app-1",
                &[("eks:cluster-name", EKS_CLUSTER)],
            ),
        ),
    ];
    let mut missed = Vec::new();
    for (function, what, c) in cases {
        let refused = role(template, function, TOPIC).violations(&[c]);
        // Refused by IAM's rules, not because the request could not be modelled.
        if refused.is_empty() || refused.iter().any(|r| !r.starts_with("DENIED")) {
            missed.push(format!("{function} may {what}: {refused:?}"));
        }
    }
    assert!(missed.is_empty(), "allowed:\n{}", missed.join("\n"));
}

#[test]
fn masked_refresh_may_use_the_stacks_parameter_groups_for_the_clone_but_change_no_group() {
    let role = role(offpeak_tests::iam::cfn::template(), "masked-refresh", TOPIC);
    let clone = "dev-aurora-offpeak-20261127";
    let clone_instance = "dev-aurora-offpeak-20261127-1";
    let ours = [
        ("offpeak:managed-by", "offpeak"),
        ("offpeak:function", "masked-refresh"),
        ("offpeak:run", "20261127"),
    ];
    let tagged = |mut c: Call| {
        for (n, (k, v)) in ours.iter().enumerate() {
            let n = n + 1;
            c.params
                .insert(format!("Tags.Tag.{n}.Key"), (*k).to_owned());
            c.params
                .insert(format!("Tags.Tag.{n}.Value"), (*v).to_owned());
        }
        c
    };
    // GIVEN the restore of production's clone naming the stack's cluster parameter group, and
    // the clone's instance naming its DB parameter group
    let restore = with(
        tagged(call(
            "rds",
            "RestoreDBClusterToPointInTime",
            &[
                ("SourceDBClusterIdentifier", SOURCE),
                ("DBClusterIdentifier", clone),
                ("RestoreType", "copy-on-write"),
                ("UseLatestRestorableTime", "true"),
                ("DBClusterParameterGroupName", CLONE_CLUSTER_GROUP),
            ],
        )),
        "cluster:prod-aurora",
        &rds_arn("cluster:prod-aurora"),
        &PRODUCTION_TAGS,
    );
    let create = with(
        tagged(call(
            "rds",
            "CreateDBInstance",
            &[
                ("DBClusterIdentifier", clone),
                ("DBInstanceIdentifier", clone_instance),
                ("DBInstanceClass", "db.r6g.xlarge"),
                ("Engine", AURORA_ENGINE),
                ("DBParameterGroupName", CLONE_INSTANCE_GROUP),
            ],
        )),
        &format!("cluster:{clone}"),
        &rds_arn(&format!("cluster:{clone}")),
        &ours,
    );
    let checks: Vec<String> = [&restore, &create]
        .iter()
        .flat_map(|c| iam::checks(c).unwrap())
        .map(|c| c.request.resource)
        .collect();
    assert!(
        checks.contains(&rds_arn(&format!("cluster-pg:{CLONE_CLUSTER_GROUP}")))
            && checks.contains(&rds_arn(&format!("pg:{CLONE_INSTANCE_GROUP}"))),
        "{checks:#?}"
    );
    // THEN the role allows both
    assert_eq!(role.violations(&[restore, create]), Vec::<String>::new());

    // AND it refuses changing any parameter group (the stack's, production's, another) or
    // switching a clone's group once it exists
    let cases = [
        call(
            "rds",
            "ModifyDBClusterParameterGroup",
            &[
                ("DBClusterParameterGroupName", CLONE_CLUSTER_GROUP),
                ("Parameters.Parameter.1.ParameterName", "log_statement"),
                ("Parameters.Parameter.1.ParameterValue", "all"),
            ],
        ),
        call(
            "rds",
            "ResetDBClusterParameterGroup",
            &[
                ("DBClusterParameterGroupName", CLONE_CLUSTER_GROUP),
                ("ResetAllParameters", "true"),
            ],
        ),
        call(
            "rds",
            "DeleteDBClusterParameterGroup",
            &[("DBClusterParameterGroupName", PRODUCTION_GROUP)],
        ),
        call(
            "rds",
            "ModifyDBParameterGroup",
            &[
                ("DBParameterGroupName", CLONE_INSTANCE_GROUP),
                (
                    "Parameters.Parameter.1.ParameterName",
                    "log_min_error_statement",
                ),
                ("Parameters.Parameter.1.ParameterValue", "error"),
            ],
        ),
        call(
            "rds",
            "ResetDBParameterGroup",
            &[("DBParameterGroupName", "default.aurora-postgresql16")],
        ),
        call(
            "rds",
            "DeleteDBParameterGroup",
            &[("DBParameterGroupName", CLONE_INSTANCE_GROUP)],
        ),
        with(
            call(
                "rds",
                "ModifyDBCluster",
                &[
                    ("DBClusterIdentifier", clone),
                    ("DBClusterParameterGroupName", PRODUCTION_GROUP),
                    ("ApplyImmediately", "true"),
                ],
            ),
            &format!("cluster:{clone}"),
            &rds_arn(&format!("cluster:{clone}")),
            &ours,
        ),
        with(
            call(
                "rds",
                "ModifyDBInstance",
                &[
                    ("DBInstanceIdentifier", clone_instance),
                    ("DBParameterGroupName", "prod-aurora-instance-logging"),
                    ("ApplyImmediately", "true"),
                ],
            ),
            &format!("db:{clone_instance}"),
            &rds_arn(&format!("db:{clone_instance}")),
            &ours,
        ),
    ];
    let mut missed = Vec::new();
    for c in cases {
        let refused = role.violations(std::slice::from_ref(&c));
        if refused.is_empty() || refused.iter().any(|r| !r.starts_with("DENIED")) {
            missed.push(format!("{}: {refused:?}", c.operation));
        }
    }
    assert!(missed.is_empty(), "allowed:\n{}", missed.join("\n"));
}

/// A dev cluster a person handed over (with a tag of their own), put aside.
const ASIDE_CLUSTER: &str = "dev-aurora-offpeak-prev-20261127";
const HANDED_OVER: [(&str, &str); 3] = [
    ("offpeak:managed-by", "offpeak"),
    ("offpeak:function", "masked-refresh"),
    ("team", "payments"),
];

/// The DeleteDBCluster of `cluster` (carrying `tags`) with final snapshot `snapshot`.
fn final_snapshot_delete(cluster: &str, snapshot: &str, tags: &[(&str, &str)]) -> Call {
    let c = call(
        "rds",
        "DeleteDBCluster",
        &[
            ("DBClusterIdentifier", cluster),
            ("SkipFinalSnapshot", "false"),
            ("FinalDBSnapshotIdentifier", snapshot),
            ("DeleteAutomatedBackups", "true"),
        ],
    );
    let arn = rds_arn(&format!("cluster:{cluster}"));
    with(c, &format!("cluster:{cluster}"), &arn, tags)
}

#[test]
fn masked_refresh_may_delete_a_handed_over_cluster_with_its_final_snapshot() {
    // GIVEN the delete of a handed-over dev cluster, put aside, that carries a person's own tag
    // (RDS copies it onto the snapshot)
    let delete = final_snapshot_delete(
        ASIDE_CLUSTER,
        &format!("{ASIDE_CLUSTER}-final"),
        &HANDED_OVER,
    );
    let checks = iam::checks(&delete).unwrap();
    let actions: Vec<&str> = checks.iter().map(|c| c.request.action.as_str()).collect();
    assert!(
        actions.contains(&"rds:CreateDBClusterSnapshot")
            && actions.contains(&"rds:AddTagsToResource"),
        "{actions:?}"
    );
    // THEN the shipped role allows every authorization it needs
    let role = role(offpeak_tests::iam::cfn::template(), "masked-refresh", TOPIC);
    assert_eq!(role.violations(&[delete]), Vec::<String>::new());
}

#[test]
fn aurora_replicas_may_remove_its_replicas_of_a_cluster_that_left_the_schedule() {
    // GIVEN a replica of a cluster no longer in ReplicaClusterIds, tagged as aurora-replicas' own
    let retired = delete_instance("retired-aurora-offpeak-2", &REPLICA_TAGS);
    // THEN aurora-replicas may delete it (cleanup after a target is removed) ...
    let role = role(
        offpeak_tests::iam::cfn::template(),
        "aurora-replicas",
        TOPIC,
    );
    assert_eq!(role.violations(&[retired]), Vec::<String>::new());
    // ... but not when the instance lacks either owner tag
    for tags in [&REPLICA_TAGS[..1], &REPLICA_TAGS[1..]] {
        let c = delete_instance("retired-aurora-offpeak-2", tags);
        assert_eq!(role.violations(&[c]).len(), 1, "{tags:?}");
    }
}
