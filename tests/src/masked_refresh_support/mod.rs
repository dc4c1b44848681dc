//! The world a masked-refresh test runs in: a private moto server (RDS, Secrets Manager,
//! DynamoDB, SNS → SQS) holding a production and a dev Aurora cluster, a real database standing
//! in for the clone (`OFFPEAK_CLONE_DATABASE_URL`) on a server of its own ([`clone_server`]: the
//! refresh checks and changes the clone's whole server), the function's and the quarantine
//! security groups in moto's EC2 ([`ec2`]), and the function wired through [`Wire`].

pub mod clone_server;
pub mod ec2;
pub mod moto_rds;
pub mod sabotage;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::aurora;
use crate::moto::Moto;
use crate::{Engine as DbEngine, TestDb};
use aws_config::SdkConfig;
use aws_sdk_rds::types::{DbCluster, Tag};
use chrono::{DateTime, Utc};
use offpeak_masked_refresh::memory::{Memory, Phase, Run};
use offpeak_masked_refresh::names::{MASKING_KEY, MASKING_VERIFIED, RUN_KEY};
use offpeak_masked_refresh::secret::DatabaseUrl;
use offpeak_masked_refresh::{
    Action, Deps, Engine, SdkRds, SdkSecrets, SdkSecurityGroups, Settings, TickError, run,
};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config::{MaskedRefresh, Schedule, parse_str};
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::lambda::Ctx;
use offpeak_shared::notify::Notifier;
use offpeak_shared::report::Report;
use offpeak_shared::state::{DynamoStateStore, StateStore};

use crate::masking_support::{Pool, rules_text};
use crate::wire::Wire;
use clone_server::CloneServer;
use ec2::MotoEc2;
use moto_rds::MotoRds;
use sabotage::Sabotage;

pub const TABLE: &str = "offpeak-state";
pub const SOURCE: &str = "prod-aurora";
pub const DEV: &str = "dev-aurora";
pub const DEV_INSTANCE: &str = "dev-aurora-1";
pub const RUN: &str = "20261127";
pub const CLONE: &str = "dev-aurora-offpeak-20261127";
pub const CLONE_INSTANCE: &str = "dev-aurora-offpeak-20261127-1";
/// The copy of the verified clone that becomes dev, and its instance.
pub const COPY: &str = "dev-aurora-offpeak-20261127-copy";
pub const COPY_INSTANCE: &str = "dev-aurora-offpeak-20261127-copy-1";
pub const ASIDE: &str = "dev-aurora-offpeak-prev-20261127";
/// The names of the quarantine group and the function's own group in moto's EC2 (moto picks
/// their ids: [`World::quarantine`], [`World::function_sg`]).
pub const QUARANTINE_NAME: &str = "offpeak-quarantine";
pub const FUNCTION_SG_NAME: &str = "offpeak-masked-refresh";
/// The port the quarantine group admits the function on.
pub const DB_PORT: u16 = 5432;
pub const DEV_SG: &str = "sg-0dev";
pub const SECRET: &str = "offpeak/dev-aurora-master";
pub const DEV_PASSWORD: &str = "dev-master-password-1";
pub const PROD_PASSWORD: &str = "production-password-1";
pub const SALT: &str = "refresh-test-salt-0123456789";
/// The window opens at 03:00 UTC and closes at 06:00 UTC.
pub const OPENS: &str = "2026-11-27T03:00:00Z";

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn minutes(n: i64) -> DateTime<Utc> {
    utc(OPENS) + chrono::Duration::minutes(n)
}

/// How the world is set up.
pub struct Setup {
    pub engine: DbEngine,
    pub keep_previous: u32,
    pub users: u32,
    /// `(chunk_rows, rewrite_max_rows)` of the rules.
    pub chunks: (u64, u64),
    pub max_chunks: Option<u64>,
    /// Databases (schemas) the rules drop from the clone, besides PostgreSQL's `postgres`, which
    /// every clone server holds and the world's rules always drop.
    pub drop_databases: Vec<&'static str>,
    /// Logins the rules keep (`logins: {keep: [...]}`).
    pub keep_logins: Vec<&'static str>,
    /// A change a test makes to the rules text (the identity unless set).
    pub edit_rules: fn(String) -> String,
}

impl Setup {
    /// 300 users masked by chunked UPDATEs of 100 rows, at most `per_invocation` chunks per
    /// invocation (all of them when `None`), so masking spans several ticks.
    pub fn chunked(per_invocation: Option<u64>) -> Setup {
        Setup {
            users: 300,
            chunks: (100, 1),
            max_chunks: per_invocation,
            ..Setup::default()
        }
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            engine: DbEngine::Postgres,
            keep_previous: 0,
            users: 200,
            chunks: (50_000, 5_000_000),
            max_chunks: None,
            drop_databases: Vec::new(),
            keep_logins: Vec::new(),
            edit_rules: |text| text,
        }
    }
}

impl Setup {
    /// The world's rules file: the realistic schema's tables, then what the rules say about the
    /// rest of the clone's server.
    pub fn rules(&self) -> String {
        let mut drop: Vec<&str> = self.drop_databases.clone();
        if self.engine == DbEngine::Postgres {
            drop.insert(0, "postgres");
        }
        let mut text = rules_text(self.chunks.0, self.chunks.1);
        if !drop.is_empty() {
            text.push_str(&format!("databases:\n  drop: [{}]\n", drop.join(", ")));
        }
        if !self.keep_logins.is_empty() {
            text.push_str(&format!(
                "logins:\n  keep: [{}]\n",
                self.keep_logins.join(", ")
            ));
        }
        (self.edit_rules)(text)
    }
}

pub struct World {
    /// Kept alive for the test's duration (dropping it stops the server).
    _moto: Moto,
    _dir: tempfile::TempDir,
    /// Plain clients for setting up and checking (not on the wire).
    pub rds: aws_sdk_rds::Client,
    secrets_admin: aws_sdk_secretsmanager::Client,
    inbox: crate::Inbox,
    pub wire: Wire,
    pub store: DynamoStateStore,
    pub moto_rds: MotoRds,
    pub secrets: SdkSecrets,
    pub security_groups: SdkSecurityGroups,
    /// moto's EC2, off the wire (set-up and changes a person makes).
    pub ec2: MotoEc2,
    /// The quarantine group's id: the schedule's `quarantine_security_groups`, admitting only
    /// [`World::function_sg`] on [`DB_PORT`].
    pub quarantine: String,
    /// The function's own group's id (`OFFPEAK_FUNCTION_SECURITY_GROUPS`).
    pub function_sg: String,
    pub masking: Sabotage,
    pub notifier: Notifier,
    pub cfg: MaskedRefresh,
    pub settings: Settings,
    /// The whole schedule `cfg` is part of, and the SDK configuration the function's clients
    /// use (through the wire): what `offpeak override` builds its context from.
    schedule: Arc<Schedule>,
    sdk: SdkConfig,
    /// Every notification envelope received so far (the queue is drained as they are read).
    received: Mutex<Vec<serde_json::Value>>,
    /// The clone's server and its covered database; dropped last, after every connection to it.
    pub server: CloneServer,
}

impl World {
    /// [`World::start`] for callers that bring a database of their own (`make demo`): the clone's
    /// server must be this process's own, so `db` is dropped and the world creates its database
    /// on the clone server instead.
    pub async fn new(setup: Setup, db: TestDb) -> World {
        drop(db);
        World::start(setup).await
    }

    /// GIVEN production `prod-aurora` (writer `prod-aurora-1`), development `dev-aurora`
    /// (instance `dev-aurora-1`, handed to offpeak by tag), the dev password secret, the state
    /// table, a topic with a queue, and a database with personal data standing in for the clone,
    /// alone on its server but for PostgreSQL's `postgres` database.
    pub async fn start(setup: Setup) -> World {
        let moto = Moto::start().await;
        let sdk = moto.sdk_config().await;
        let rds = aws_sdk_rds::Client::new(&sdk);
        let engine = match setup.engine {
            DbEngine::Postgres => "aurora-postgresql",
            DbEngine::MariaDb => "aurora-mysql",
        };
        create_cluster(
            &rds,
            SOURCE,
            engine,
            "prod-aurora-1",
            "sg-0prod",
            &[("team", "payments")],
        )
        .await;
        create_cluster(
            &rds,
            DEV,
            engine,
            DEV_INSTANCE,
            DEV_SG,
            &[
                ("offpeak:managed-by", "offpeak"),
                ("offpeak:function", "masked-refresh"),
            ],
        )
        .await;
        let secrets_admin = aws_sdk_secretsmanager::Client::new(&sdk);
        secrets_admin
            .create_secret()
            .name(SECRET)
            .secret_string(DEV_PASSWORD)
            .send()
            .await
            .unwrap();
        assert!(
            DynamoStateStore::from_sdk_config(&sdk, TABLE)
                .create_table_if_missing()
                .await
                .unwrap()
        );
        let inbox = crate::Inbox::subscribe(&sdk).await;
        let topic_arn = inbox.topic_arn.clone();
        let ec2 = MotoEc2::new(moto.endpoint());
        let function_sg = ec2.create_group(FUNCTION_SG_NAME).await;
        let quarantine = ec2.create_group(QUARANTINE_NAME).await;
        ec2.allow_group(&quarantine, &function_sg, DB_PORT).await;

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("masking.yaml"), setup.rules()).unwrap();
        let schedule = dir.path().join("schedules.yaml");
        let schedule = Arc::new(schedule_config(&schedule, &quarantine, setup.keep_previous));
        let cfg = schedule
            .masked_refresh
            .clone()
            .expect("a masked_refresh section");
        let server = clone_server::take(setup.engine).await;
        let db = &server.db;
        let pool = Pool::connect(db, setup.engine).await;
        pool.create_schema(setup.users).await;

        let wire = Wire::default();
        let wired = wire.wrap(&sdk);
        let settings = Settings {
            clone_database_url: Some(DatabaseUrl::new(db.url.clone())),
            masking_salt: Some(offpeak_masked_refresh::secret::Password::new(SALT)),
            quarantine_security_group: None,
            function_security_groups: vec![function_sg.clone()],
            mask_time: Some(Duration::from_secs(120)),
            mask_max_chunks: setup.max_chunks,
            ..Settings::default()
        };
        let moto_rds = MotoRds::new(SdkRds::from_sdk_config(&wired)).with_backups(rds.clone());
        World {
            _moto: moto,
            _dir: dir,
            rds,
            secrets_admin,
            inbox,
            store: DynamoStateStore::from_sdk_config(&wired, TABLE),
            moto_rds,
            secrets: SdkSecrets::from_sdk_config(&wired),
            security_groups: SdkSecurityGroups::from_sdk_config(&wired),
            ec2,
            quarantine,
            function_sg,
            masking: Sabotage::new(
                Engine::new(&cfg.rules, settings.masking_salt.clone(), wired.clone()),
                pool,
            ),
            notifier: Notifier::sns(aws_sdk_sns::Client::new(&wired), topic_arn),
            schedule,
            sdk: wired,
            wire,
            cfg,
            settings,
            received: Mutex::new(Vec::new()),
            server,
        }
    }

    /// A person puts `text` into the dev password secret (off the wire).
    pub async fn set_dev_secret(&self, text: &str) {
        self.secrets_admin
            .put_secret_value()
            .secret_id(SECRET)
            .secret_string(text)
            .send()
            .await
            .unwrap();
    }

    /// The covered database (the one `OFFPEAK_CLONE_DATABASE_URL` names).
    pub fn db(&self) -> &TestDb {
        &self.server.db
    }

    pub async fn try_tick(
        &self,
        at: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Report<Action>, TickError> {
        let event = InvocationEvent {
            dry_run,
            ..InvocationEvent::default()
        };
        self.try_tick_event(at, &event).await
    }

    /// The context `offpeak override` and `offpeak run` build: this world's schedule, state
    /// table and topic, on the wire.
    pub fn ctx(&self) -> Ctx {
        let aws = AwsCtx::from_sdk_config(self.sdk.clone())
            .with_state_table(TABLE)
            .with_notifier(self.notifier.clone());
        Ctx {
            aws,
            schedule: self.schedule.clone(),
        }
    }

    /// One tick at clock `clock` with `event` (an override, a replayed `at`, a dry-run).
    pub async fn try_tick_event(
        &self,
        clock: DateTime<Utc>,
        event: &InvocationEvent,
    ) -> Result<Report<Action>, TickError> {
        let deps = Deps {
            rds: &self.moto_rds,
            secrets: &self.secrets,
            security_groups: &self.security_groups,
            masking: &self.masking,
            store: Some(&self.store),
            notifier: &self.notifier,
            cfg: &self.cfg,
            settings: &self.settings,
        };
        let report = Box::pin(run(&deps, event, clock)).await;
        if let Ok(r) = &report {
            let text = serde_json::to_string(r).unwrap();
            for secret in [DEV_PASSWORD, SALT, &self.server.db.url] {
                assert!(
                    !text.contains(secret),
                    "a secret reached the report: {text}"
                );
            }
        }
        report
    }

    /// One tick at `at`, which must not fail as a whole; the world's invariants are checked after.
    pub async fn tick(&self, at: DateTime<Utc>) -> Report<Action> {
        let report = self
            .try_tick(at, false)
            .await
            .unwrap_or_else(|e| panic!("tick at {at} failed: {e:?}"));
        self.assert_nothing_unmasked_reachable().await;
        report
    }

    /// Ticks every 5 minutes from `from` until the run is terminal; returns the minute it got there.
    pub async fn tick_until_terminal(&self, from: i64) -> i64 {
        let mut at = from;
        for _ in 0..30 {
            self.tick(minutes(at)).await;
            if self.run().await.is_some_and(|r| r.phase.is_terminal()) {
                return at;
            }
            at += 5;
        }
        panic!("the run did not finish: {:?}", self.run().await);
    }

    pub async fn run(&self) -> Option<Run> {
        let key = format!("masked-refresh/{DEV}");
        let records = self.store.get_many(&[key.as_str()]).await.unwrap();
        records
            .get(&key)
            .map(|r| r.decode::<Memory>().unwrap())
            .and_then(|m| m.run)
    }

    pub async fn phase(&self) -> Option<Phase> {
        self.run().await.map(|r| r.phase)
    }

    pub async fn clusters(&self) -> Vec<DbCluster> {
        aurora::clusters(&self.rds).await
    }

    pub async fn cluster_ids(&self) -> Vec<String> {
        aurora::cluster_ids(&self.rds).await
    }

    pub async fn instance_ids(&self) -> Vec<String> {
        aurora::instance_ids(&self.rds, None).await
    }

    pub async fn cluster(&self, id: &str) -> Option<DbCluster> {
        self.clusters()
            .await
            .into_iter()
            .find(|c| c.db_cluster_identifier() == Some(id))
    }

    /// The invariant: no cluster reachable from development holds unverified data. The cluster
    /// named like dev is the original dev cluster or a verified clone; any clone not verified
    /// sits in the quarantine group only; a promoted clone's server holds no database but the
    /// covered one.
    pub async fn assert_nothing_unmasked_reachable(&self) {
        for c in self.clusters().await {
            let id = c.db_cluster_identifier().unwrap();
            let tag = |k: &str| {
                c.tag_list()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            let groups: Vec<&str> = c
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id())
                .collect();
            let from_production = tag(RUN_KEY).is_some();
            let verified = tag(MASKING_KEY).as_deref() == Some(MASKING_VERIFIED);
            if from_production && !verified {
                assert_eq!(
                    groups,
                    [self.quarantine.as_str()],
                    "unverified clone {id} outside quarantine"
                );
                assert_ne!(id, DEV, "unverified clone holds the dev name");
            }
            if groups.contains(&DEV_SG) || id == DEV {
                assert!(
                    !from_production || verified,
                    "{id} is reachable from dev but not verified"
                );
            }
            if id == DEV && from_production {
                // The promoted clone is the whole server: nothing but the covered database.
                assert_eq!(
                    self.server.databases().await,
                    [self.db().name.as_str()],
                    "the promoted clone's server holds a database the rules do not cover"
                );
            }
        }
    }

    /// Every notification envelope that reached the queue so far.
    pub async fn notifications(&self) -> Vec<serde_json::Value> {
        let new = self.inbox.drain().await;
        let mut received = self.received.lock().unwrap();
        received.extend(new);
        received.clone()
    }

    /// Every notification subject that reached the queue so far.
    pub async fn subjects(&self) -> Vec<String> {
        let all = self.notifications().await;
        all.iter()
            .map(|e| e["Subject"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The message (all of its renderings) of every notification whose subject contains `title`.
    pub async fn messages(&self, title: &str) -> Vec<String> {
        let all = self.notifications().await;
        all.iter()
            .filter(|e| e["Subject"].as_str().is_some_and(|s| s.contains(title)))
            .map(|e| e["Message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The stand-in database, seen from outside the engine.
    pub fn pool(&self) -> &Pool {
        &self.masking.pool
    }

    /// Lines of the stand-in database that still hold an original personal value.
    pub async fn survivors(&self) -> Vec<String> {
        let dump = self.pool().everything().await;
        crate::masking_support::survivors(&dump)
            .into_iter()
            .cloned()
            .collect()
    }
}

fn schedule_config(path: &Path, quarantine: &str, keep_previous: u32) -> Schedule {
    let yaml = format!(
        "timezone: UTC
masked_refresh:
  source_cluster: {SOURCE}
  target_cluster: {DEV}
  rules: masking.yaml
  window: {{ days: daily, start: \"03:00\", end: \"06:00\" }}
  quarantine_security_groups: [{quarantine}]
  dev_security_groups: [{DEV_SG}]
  dev_password_secret: {SECRET}
  keep_previous: {keep_previous}
"
    );
    std::fs::write(path, &yaml).unwrap();
    parse_str(&yaml, path).unwrap_or_else(|e| panic!("{e}"))
}

async fn create_cluster(
    rds: &aws_sdk_rds::Client,
    id: &str,
    engine: &str,
    instance: &str,
    group: &str,
    tags: &[(&str, &str)],
) {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect();
    rds.create_db_cluster()
        .db_cluster_identifier(id)
        .engine(engine)
        .database_name("app")
        .master_username("admin")
        .master_user_password(PROD_PASSWORD)
        .vpc_security_group_ids(group)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_cluster_identifier(id)
        .db_instance_identifier(instance)
        .engine(engine)
        .db_instance_class("db.r6g.xlarge")
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}

impl World {
    /// Development is exactly as before the run: the same cluster (no run tag, not put aside),
    /// its instance under its own name, the dev group; no clone or aside cluster left anywhere.
    pub async fn assert_dev_untouched(&self) {
        assert_eq!(self.cluster_ids().await, [DEV, SOURCE]);
        assert_eq!(self.instance_ids().await, [DEV_INSTANCE, "prod-aurora-1"]);
        let dev = self.cluster(DEV).await.unwrap();
        assert_eq!(
            tag(&dev, RUN_KEY),
            None,
            "the dev cluster is the original one"
        );
        assert_ne!(tag(&dev, "offpeak:role").as_deref(), Some("previous"));
        assert_eq!(security_groups(&dev), [DEV_SG]);
    }

    /// The run was refused by its preflight: recorded as failed with kind `preflight`, no
    /// mutating RDS call made, development untouched.
    pub async fn assert_refused_before_any_change(&self) {
        let run = self.run().await.expect("the refused run is recorded");
        let failure = run.failure.expect("a failure");
        assert_eq!(
            (run.phase, failure.kind.as_str()),
            (Phase::Failed, "preflight")
        );
        let calls = self.wire.calls();
        assert!(
            !calls.iter().any(|c| c.service == "rds" && c.mutating()),
            "{calls:?}"
        );
        self.assert_dev_untouched().await;
    }

    /// The run is done, nothing unmasked survives on the clone's server, and people were told.
    pub async fn assert_done(&self) {
        let run = self.run().await.expect("a run");
        assert_eq!(run.phase, Phase::Done, "{run:?}");
        let survivors = self.survivors().await;
        assert!(survivors.is_empty(), "{survivors:?}");
        let subjects = self.subjects().await;
        assert!(
            subjects.iter().any(|s| s.contains("masked refresh done")),
            "{subjects:?}"
        );
    }

    /// The run failed with `kind` in `phase`, its clone is gone, both notices went out, and
    /// development is untouched ([`World::assert_dev_untouched`]).
    pub async fn assert_failed_and_cleaned(&self, phase: Phase, kind: &str) {
        self.assert_failed_notified(phase, kind).await;
        self.assert_dev_untouched().await;
    }

    /// The error the failed run recorded.
    pub async fn failure(&self) -> String {
        let run = self.run().await.expect("a run");
        run.failure.expect("a failed run").error
    }

    async fn assert_failed_notified(&self, phase: Phase, kind: &str) {
        let run = self.run().await.unwrap();
        assert_eq!(run.phase, Phase::Failed, "{run:?}");
        let failure = run.failure.as_ref().unwrap();
        assert_eq!(
            (failure.phase, failure.kind.as_str()),
            (phase, kind),
            "{failure:?}"
        );
        let subjects = self.subjects().await;
        assert!(
            subjects.iter().any(|s| s.contains("masked refresh failed")),
            "{subjects:?}"
        );
        assert!(
            subjects
                .iter()
                .any(|s| s.contains("failed refresh cleaned up")),
            "{subjects:?}"
        );
        assert!(!subjects.iter().any(|s| s.contains("done")), "{subjects:?}");
    }
}

/// The value of the cluster's tag `key`.
pub fn tag(cluster: &DbCluster, key: &str) -> Option<String> {
    cluster
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_owned)
}

/// The cluster's VPC security group ids.
pub fn security_groups(cluster: &DbCluster) -> Vec<&str> {
    cluster
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect()
}
