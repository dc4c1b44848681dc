//! `offpeak plan|run|override` end to end: the binary against a real moto server.

use std::path::PathBuf;
use std::process::{Command, Output};

use offpeak_tests::Moto;
use offpeak_tests::aurora;
use serde_json::Value;

const TABLE: &str = "offpeak-state";
const PEAK: &str = "2026-11-27T19:00:00+09:00";

/// One Aurora cluster wanting 2 replicas 18:30-23:30 JST, and one EKS node group.
const SCHEDULE: &str = r#"timezone: Asia/Tokyo
aurora_replicas:
  - cluster: shop
    windows:
      - { days: daily, start: "18:30", end: "23:30", replicas: 2 }
eks_nodegroups:
  - cluster: dev-eks
    nodegroups: [app]
    sleep:
      - { from: "fri 22:00", to: "mon 07:30" }
"#;

struct World {
    moto: Moto,
    rds: aws_sdk_rds::Client,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl World {
    /// GIVEN moto with the state table and a cluster `shop` whose only instance is its writer.
    async fn new() -> World {
        let moto = Moto::start().await;
        let sdk = moto.sdk_config().await;
        let rds = aws_sdk_rds::Client::new(&sdk);
        aurora::production(&rds, "shop", &[], &["writer"]).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("schedules.yaml");
        std::fs::write(&config, SCHEDULE).unwrap();
        let world = World {
            moto,
            rds,
            _dir: dir,
            config,
        };
        assert_eq!(world.offpeak(&["state", "init"]).status.code(), Some(0));
        world
    }

    /// Runs `offpeak` against moto.
    fn offpeak(&self, args: &[&str]) -> Output {
        self.command(args, false)
    }

    /// Runs `offpeak ... --config <the test schedule>` against moto.
    fn offpeak_with_config(&self, args: &[&str]) -> Output {
        self.command(args, true)
    }

    fn command(&self, args: &[&str], with_config: bool) -> Output {
        let config = self.config.to_string_lossy().into_owned();
        let extra: &[&str] = if with_config {
            &["--config", &config]
        } else {
            &[]
        };
        Command::new(env!("CARGO_BIN_EXE_offpeak"))
            .args(args)
            .args(extra)
            .envs(self.moto.env())
            .env("OFFPEAK_STATE_TABLE", TABLE)
            .env_remove("OFFPEAK_TOPIC_ARN")
            .env_remove("OFFPEAK_CONFIG")
            .output()
            .unwrap()
    }

    async fn instances(&self) -> Vec<String> {
        aurora::instance_ids(&self.rds, None).await
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command printed `needle` on stdout.
fn assert_prints(out: &Output, needle: &str) {
    assert!(stdout(out).contains(needle), "{}", stdout(out));
}

/// The command did not print `needle` on stdout.
fn assert_omits(out: &Output, needle: &str) {
    assert!(!stdout(out).contains(needle), "{}", stdout(out));
}

#[tokio::test]
async fn plan_prints_the_plan_and_changes_nothing_then_run_applies_it() {
    let world = World::new().await;

    // WHEN planning at peak
    let plan = world.offpeak_with_config(&["plan", "aurora-replicas", "--at", PEAK]);

    // THEN the two creates are shown and nothing exists yet
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let text = stdout(&plan);
    assert!(text.contains("(dry run: nothing changed)"), "{text}");
    assert!(
        text.contains("create shop-offpeak-1") && text.contains("create shop-offpeak-2"),
        "{text}"
    );
    assert_eq!(world.instances().await, ["shop-writer"]);

    // WHEN running the same tick with --json
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK, "--json"]);

    // THEN the report is the Lambda's JSON response and both replicas exist
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_slice(&run.stdout).expect("--json prints one JSON document");
    assert_eq!(report["function"], "aurora-replicas");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["at"], "2026-11-27T10:00:00Z");
    assert_eq!(report["applied"].as_array().unwrap().len(), 2);
    assert_eq!(
        world.instances().await,
        ["shop-offpeak-1", "shop-offpeak-2", "shop-writer"]
    );

    // WHEN running it again (a duplicated tick)
    let again = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK]);
    assert_eq!(again.status.code(), Some(0));
    assert_prints(&again, "plan: nothing to do");
    assert_eq!(world.instances().await.len(), 3);
}

#[tokio::test]
async fn override_of_an_unknown_target_is_bad_input() {
    let world = World::new().await;
    let out = world.offpeak_with_config(&[
        "override",
        "dev-eks/nope",
        "awake",
        "--until",
        &in_an_hour(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stdout(&out).is_empty());
    assert!(
        stderr.contains("the schedule's targets are: shop, dev-eks/app"),
        "{stderr}"
    );
}

#[test]
fn run_with_a_broken_schedule_exits_2_before_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "timezone: Nowhere/Land\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_offpeak"))
        .args(["run", "aurora-replicas", "--config"])
        .arg(&config)
        // An endpoint nothing listens on: reaching AWS would fail with exit 1, not 2.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:1:11: unknown timezone"),
        "{stderr}"
    );
}

/// `until` an hour from the real clock: pauses and overrides are judged by the clock, never by
/// `--at`.
fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_paused_function_plans_and_changes_nothing_until_resumed() {
    let world = World::new().await;
    let before = world.instances().await;

    // GIVEN aurora-replicas is paused for an hour
    let paused = world.offpeak(&["pause", "aurora-replicas", "--until", &in_an_hour()]);
    assert_eq!(paused.status.code(), Some(0), "{paused:?}");
    assert!(stdout(&paused).contains("aurora-replicas: paused until"));

    // WHEN a real tick runs at peak
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK, "--json"]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();

    // THEN it planned the two replicas, applied nothing, and says until when it is paused
    assert_eq!(
        report["plan"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );
    assert_eq!(report["applied"], serde_json::json!([]));
    assert!(report["paused_until"].is_string(), "{report:#}");
    assert_eq!(world.instances().await, before, "a paused tick changed RDS");

    // AND status shows the pause
    let status = world.offpeak_with_config(&["status"]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    assert_prints(&status, "paused    aurora-replicas");

    // WHEN it is resumed, the next tick acts
    let resumed = world.offpeak(&["resume", "aurora-replicas"]);
    assert_eq!(resumed.status.code(), Some(0), "{resumed:?}");
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK, "--json"]);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        report["applied"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );
    assert!(report.get("paused_until").is_none());
    let status = world.offpeak_with_config(&["status"]);
    assert_omits(&status, "paused ");
}

#[tokio::test]
async fn a_pause_of_everything_holds_every_function_and_bad_ends_are_refused() {
    let world = World::new().await;
    let before = world.instances().await;
    // GIVEN a pause of all functions
    let paused = world.offpeak(&["pause", "--until", &in_an_hour()]);
    assert_eq!(paused.status.code(), Some(0), "{paused:?}");
    // THEN aurora-replicas changes nothing
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK, "--json"]);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(report["paused_until"].is_string(), "{report:#}");
    assert_eq!(world.instances().await, before);
    // AND an end in the past or beyond 31 days is bad input
    let past = world.offpeak(&["pause", "--until", "2020-01-01T00:00:00Z"]);
    assert_eq!(past.status.code(), Some(2), "{past:?}");
    let far = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let too_long = world.offpeak(&["pause", "eks-nodegroups", "--until", &far]);
    assert_eq!(too_long.status.code(), Some(2), "{too_long:?}");
}

#[tokio::test]
async fn status_lists_a_removed_target_until_its_function_has_put_it_back() {
    // GIVEN replicas offpeak added at peak
    let world = World::new().await;
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK, "--json"]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    // WHEN the cluster leaves the schedule
    let without_shop = SCHEDULE.replace(
        "aurora_replicas:\n  - cluster: shop\n    windows:\n      - { days: daily, start: \"18:30\", end: \"23:30\", replicas: 2 }\n",
        "",
    );
    assert_ne!(without_shop, SCHEDULE);
    std::fs::write(&world.config, without_shop).unwrap();
    // THEN status says aurora-replicas still has to put it back
    let status = world.offpeak_with_config(&["status"]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    assert_prints(&status, "removing  shop");
    // AND after the next tick removed the replicas, it is no longer listed
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK, "--json"]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(world.instances().await, ["shop-writer"]);
    let status = world.offpeak_with_config(&["status"]);
    assert_omits(&status, "removing");
}

#[tokio::test]
async fn an_aurora_override_is_held_listed_by_status_and_cleared_back_to_the_schedule() {
    // GIVEN shop at peak with the schedule's 2 replicas
    let world = World::new().await;
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");

    // WHEN `offpeak override shop replicas:1 --until <in an hour>`
    let set =
        world.offpeak_with_config(&["override", "shop", "replicas:1", "--until", &in_an_hour()]);

    // THEN it is stored (not yet applied) and status lists it
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    assert_prints(&set, "shop: held replicas:1 until");
    assert_eq!(world.instances().await.len(), 3);
    let status = world.offpeak_with_config(&["status"]);
    assert!(
        stdout(&status).contains("override  shop") && stdout(&status).contains("replicas:1 until"),
        "{}",
        stdout(&status)
    );

    // WHEN the next tick runs, inside the window
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK]);

    // THEN it holds exactly 1
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_prints(&run, "delete shop-offpeak-2");
    assert_eq!(world.instances().await, ["shop-offpeak-1", "shop-writer"]);

    // WHEN it is cleared
    let clear = world.offpeak_with_config(&["override", "shop", "clear"]);

    // THEN status no longer lists it, and the next tick restores the schedule's 2
    assert_eq!(clear.status.code(), Some(0), "{}", stderr(&clear));
    assert_prints(&clear, "shop: override replicas:1");
    let status = world.offpeak_with_config(&["status"]);
    assert_omits(&status, "override ");
    let run = world.offpeak_with_config(&["run", "aurora-replicas", "--at", PEAK]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(
        world.instances().await,
        ["shop-offpeak-1", "shop-offpeak-2", "shop-writer"]
    );

    // AND clearing again is a no-op that says so
    let again = world.offpeak_with_config(&["override", "shop", "clear"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_prints(&again, "no override to clear");
}

#[tokio::test]
async fn override_ends_in_the_past_too_far_ahead_or_beyond_auroras_limit_are_refused() {
    let world = World::new().await;
    let far = (chrono::Utc::now() + chrono::Duration::days(32)).to_rfc3339();
    let cases: [(&[&str], &str); 4] = [
        (
            &["shop", "replicas:1", "--until", "2020-01-01T00:00:00Z"],
            "not after now",
        ),
        (
            &["shop", "replicas:1", "--until", &far],
            "more than 31 days ahead",
        ),
        (
            &["dev-eks/app", "awake", "--until", &far],
            "more than 31 days ahead",
        ),
        // 15 readers per cluster; shop has none of its own: 16 is one too many
        (
            &["shop", "replicas:16", "--until", &in_an_hour()],
            "Aurora allows 15 readers",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["override"];
        full.extend_from_slice(args);
        let out = world.offpeak_with_config(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    let status = world.offpeak_with_config(&["status"]);
    assert_omits(&status, "override ");
}

#[tokio::test]
async fn an_eks_override_is_listed_by_status_until_cleared() {
    let world = World::new().await;
    let set =
        world.offpeak_with_config(&["override", "dev-eks/app", "awake", "--until", &in_an_hour()]);
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    let status = world.offpeak_with_config(&["status"]);
    assert!(
        stdout(&status).contains("override  dev-eks/app")
            && stdout(&status).contains("awake until"),
        "{}",
        stdout(&status)
    );
    let clear = world.offpeak_with_config(&["override", "dev-eks/app", "clear"]);
    assert_eq!(clear.status.code(), Some(0), "{}", stderr(&clear));
    assert_prints(&clear, "dev-eks/app: override awake");
    let status = world.offpeak_with_config(&["status"]);
    assert_omits(&status, "override ");
}

#[tokio::test]
async fn a_masked_refresh_skip_is_held_listed_by_status_and_cleared() {
    // GIVEN the schedule with a masked refresh of dev-aurora
    let world = World::new().await;
    let dir = world.config.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("masking.yaml"), "tables:\n  t: { keep: [id] }\n").unwrap();
    let with_refresh = format!(
        "{SCHEDULE}masked_refresh:\n  source_cluster: shop\n  target_cluster: dev-aurora\n  \
         rules: masking.yaml\n  window: {{ days: daily, start: \"03:00\", end: \"06:00\" }}\n  \
         quarantine_security_groups: [sg-0aaa1111bbbb2222c]\n  \
         dev_password_secret: offpeak/dev-aurora-master\n"
    );
    std::fs::write(&world.config, with_refresh).unwrap();

    // WHEN tonight's refresh is skipped from the CLI
    let skip =
        world.offpeak_with_config(&["override", "dev-aurora", "skip", "--until", &in_an_hour()]);

    // THEN it is held, `offpeak status` lists it, and clear ends it
    assert_eq!(skip.status.code(), Some(0), "{}", stderr(&skip));
    assert_prints(&skip, "dev-aurora");
    let status = world.offpeak_with_config(&["status"]);
    assert!(
        stdout(&status).contains("dev-aurora") && stdout(&status).contains("skip until"),
        "{}",
        stdout(&status)
    );
    let awake =
        world.offpeak_with_config(&["override", "dev-aurora", "awake", "--until", &in_an_hour()]);
    assert_eq!(awake.status.code(), Some(2), "{}", stderr(&awake));
    let clear = world.offpeak_with_config(&["override", "dev-aurora", "clear"]);
    assert_eq!(clear.status.code(), Some(0), "{}", stderr(&clear));
    let status = world.offpeak_with_config(&["status"]);
    assert_omits(&status, "skip until");
}
