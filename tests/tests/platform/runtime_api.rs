//! Each function binary serves invocations through the Lambda Runtime API, as `sam local invoke`
//! (and Lambda itself) would run it, without Docker.
//!
//! The harness's Runtime API server on loopback ([`RuntimeApi`]) hands out the sample events from
//! `events/`; the real binary runs as a child process with Lambda's environment, the variables of
//! `events/env.json` and a private moto server's endpoint; the test checks the JSON responses and
//! what changed in moto.
//!
//! The binaries are the workspace's debug builds: the test runs `cargo build` for them first (a
//! no-op when they are fresh), so it never tests a stale binary. A debug build uses more memory
//! than the release build Lambda runs, so "fits its `MemorySize`" is checked conservatively.
//! `OFFPEAK_BOOTSTRAP_DIR` (and `OFFPEAK_BOOTSTRAP_RUNNER`) run the bootstraps `sam build` made
//! instead, see [`function_command`]; docs/deploy.md shows the command.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use offpeak_shared::state::{DynamoStateStore, StateStore};
use offpeak_tests::Moto;
use offpeak_tests::aurora;
use offpeak_tests::node_groups::{AUTOSCALER_ENABLED, NodeGroups};
use offpeak_tests::process::{kill_and_reap, log_tail, spawn_guarded};
use offpeak_tests::runtime_api::{Outcome, RuntimeApi};
use serde_json::{Value, json};

/// How long one invocation may take before the test gives up (cold start included).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends one event and returns the function's answer; a missing answer or a failed cold start
/// panics with the function's output.
async fn invoke(api: &mut RuntimeApi, payload: &str, function: &FunctionProcess) -> Outcome {
    let answer = api
        .invoke(payload, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|| panic!("no answer in {INVOKE_TIMEOUT:?}; {}", function.log()));
    if let Outcome::InitError { body } = &answer.outcome {
        panic!("cold start failed: {body}; {}", function.log());
    }
    answer.outcome
}

// ------------------------------------------------------------------------------------------------
// The function process
// ------------------------------------------------------------------------------------------------

/// A function binary running against a [`RuntimeApi`], killed on drop.
struct FunctionProcess {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _layer: tempfile::TempDir,
}

/// What the stack's schedule layer puts in `/opt`: a copy of `infra/`, in a temporary directory.
fn schedule_layer() -> tempfile::TempDir {
    let layer = tempfile::tempdir().expect("layer dir");
    for name in ["schedules.yaml", "masking.yaml"] {
        std::fs::copy(
            workspace_root().join("infra").join(name),
            layer.path().join(name),
        )
        .expect("copy infra/ into the layer");
    }
    layer
}

impl FunctionProcess {
    /// Starts `bin` the way Lambda does, with the shipped schedule layer.
    fn start(bin: &str, api: &RuntimeApi, moto: &Moto) -> FunctionProcess {
        Self::start_with_layer(bin, api, moto, schedule_layer())
    }

    /// Starts `bin` the way Lambda does: Lambda's variables, the function's declared variables as
    /// `events/env.json` sets them, moto's endpoint and test credentials, and `OFFPEAK_CONFIG`
    /// pointing into `layer` as the stack points it at `/opt/schedules.yaml`.
    fn start_with_layer(
        bin: &str,
        api: &RuntimeApi,
        moto: &Moto,
        layer: tempfile::TempDir,
    ) -> FunctionProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join(format!("{bin}.log"));
        let config = layer.path().join("schedules.yaml").display().to_string();
        let mut command = function_command(bin);
        command.env_clear().envs(moto.env()).envs(env_json()).envs([
            ("OFFPEAK_CONFIG", config),
            ("AWS_LAMBDA_RUNTIME_API", api.address().to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", format!("offpeak-{bin}")),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                memory_size(bin).to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/offpeak-{bin}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/27/[$LATEST]test".to_owned(),
            ),
            // What provided.al2023 sets: no zoneinfo on the image, so the zones must be built in.
            ("TZ", ":UTC".to_owned()),
        ]);
        let child = spawn_guarded(command, &log, libc::SIGKILL).expect("start the function");
        FunctionProcess {
            child,
            log,
            _dir: dir,
            _layer: layer,
        }
    }

    /// Waits up to `timeout` for the process to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for the function") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process's output so far, for failure messages.
    fn log(&self) -> String {
        format!("function output:\n{}", log_tail(&self.log, 8192))
    }

    /// Every stdout/stderr line, each of which must be a JSON object (LoggingConfig LogFormat JSON).
    fn json_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).expect("function log");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| panic!("log line is not a JSON object: {l}"))
            })
            .collect()
    }

    /// The process's peak memory so far is below the function's `MemorySize` in template.yaml.
    fn assert_fits_memory(&self, bin: &str) {
        let (peak, limit) = (self.peak_rss_mib(), memory_size(bin));
        eprintln!("{bin}: peak RSS {peak} MiB, MemorySize {limit} MiB");
        assert!(
            peak < limit,
            "{bin}: peak RSS {peak} MiB exceeds MemorySize {limit} MiB"
        );
    }

    /// Peak resident memory in MiB (`VmHWM`).
    fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status of the function");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM");
        kib / 1024
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// The command that runs `bin`: by default the workspace's debug build ([`function_binary`]).
/// With `OFFPEAK_BOOTSTRAP_DIR` set (e.g. `.aws-sam/build` after `sam build`) it is the
/// `bootstrap` SAM built for the function instead, run through `OFFPEAK_BOOTSTRAP_RUNNER` (a
/// program and its arguments) when that is set too, e.g.
/// `qemu-aarch64-static -L /usr/aarch64-linux-gnu` for the arm64 build on an x86_64 machine: the
/// same checks then hold for the artefacts `sam deploy` uploads.
fn function_command(bin: &str) -> Command {
    let Some(dir) = std::env::var_os("OFFPEAK_BOOTSTRAP_DIR") else {
        return Command::new(function_binary(bin));
    };
    let bootstrap = Path::new(&dir).join(logical_id(bin)).join("bootstrap");
    assert!(
        bootstrap.is_file(),
        "{} does not exist",
        bootstrap.display()
    );
    let runner = std::env::var("OFFPEAK_BOOTSTRAP_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(bootstrap);
            command
        }
        None => Command::new(bootstrap),
    }
}

/// `target/<profile>/<bin>` next to this test's own executable, built first so it is current.
///
/// `--workspace --bins --tests` resolves features exactly as `cargo test --workspace` does, so
/// under `make test` this only links the binaries; a narrower build (`-p <function>`) would
/// compile the whole AWS SDK stack a second time with other features.
fn function_binary(bin: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--workspace", "--bins", "--tests"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build --workspace --bins --tests failed"
        );
    });
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join(bin);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The workspace this test was built from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workspace_json(relative: &str) -> Value {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The variables `sam local invoke --env-vars events/env.json` gives every function.
fn env_json() -> Vec<(String, String)> {
    workspace_json("events/env.json")["Parameters"]
        .as_object()
        .expect("env.json Parameters")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
        .collect()
}

fn event(name: &str) -> String {
    workspace_json(&format!("events/{name}")).to_string()
}

/// The template's function whose code is `functions/<bin>`: its logical id and its resource.
fn function_resource(bin: &str) -> (String, Value) {
    let path = workspace_root().join("template.yaml");
    let template: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("template.yaml"))
            .expect("parse");
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .find(|(_, r)| r["Properties"]["CodeUri"] == format!("functions/{bin}"))
        .map(|(id, r)| (id.clone(), r.clone()))
        .unwrap_or_else(|| panic!("no function with CodeUri functions/{bin}"))
}

fn logical_id(bin: &str) -> String {
    function_resource(bin).0
}

/// `MemorySize` of the function in template.yaml.
fn memory_size(bin: &str) -> u64 {
    function_resource(bin).1["Properties"]["MemorySize"]
        .as_u64()
        .unwrap_or_else(|| panic!("no MemorySize for {bin}"))
}

/// The state table `events/env.json` names, created in moto as the stack would create it.
async fn state_table(moto: &Moto) -> DynamoStateStore {
    let table = env_json()
        .into_iter()
        .find(|(k, _)| k == "OFFPEAK_STATE_TABLE")
        .map(|(_, v)| v)
        .expect("env.json sets OFFPEAK_STATE_TABLE");
    let store = DynamoStateStore::from_sdk_config(&moto.sdk_config().await, table);
    store
        .create_table_if_missing()
        .await
        .expect("create the state table");
    store
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response { body, .. } => body,
        other => panic!("expected a response, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------------
// aurora-replicas
// ------------------------------------------------------------------------------------------------

async fn aurora_cluster(rds: &aws_sdk_rds::Client, cluster: &str) {
    aurora::production(rds, cluster, &[], &["writer"]).await;
}

#[tokio::test]
async fn aurora_replicas_answers_the_dry_run_sample_and_keeps_serving_after_a_bad_event() {
    // GIVEN the clusters the shipped schedule names, each with its writer, in moto
    let moto = Moto::start().await;
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    state_table(&moto).await;
    aurora_cluster(&rds, "prod-aurora").await;
    aurora_cluster(&rds, "prod-aurora-us").await;
    let before = aurora::instance_ids(&rds, None).await;
    let mut api = RuntimeApi::start().await;
    let function = FunctionProcess::start("aurora-replicas", &api, &moto);

    // WHEN it is sent the dry-run sample (Friday 18:30 JST, the evening peak)
    let sample = event("aurora-replicas-dry-run-peak.json");
    let report = response(invoke(&mut api, &sample, &function).await);

    // THEN the report plans prod-aurora's two peak replicas and nothing changed in RDS
    assert_eq!(report["function"], "aurora-replicas", "{report:#}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["at"], "2026-11-27T09:30:00Z");
    let planned: Vec<(&str, &str, &str)> = report["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|a| {
            let field = |k: &str| a[k].as_str().unwrap_or_default();
            (field("action"), field("cluster"), field("instance"))
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("create", "prod-aurora", "prod-aurora-offpeak-1"),
            ("create", "prod-aurora", "prod-aurora-offpeak-2"),
        ],
        "{report:#}"
    );
    assert_eq!(report["applied"], json!([]), "{report:#}");
    assert_eq!(report["failed"], json!([]), "{report:#}");
    assert_eq!(
        aurora::instance_ids(&rds, None).await,
        before,
        "a dry run changed RDS"
    );

    // WHEN a malformed event follows on the same (warm) process
    let bad = invoke(&mut api, r#"{"dry-run": true}"#, &function).await;

    // THEN it is an invocation error (what Lambda counts in Errors), and the next tick still works
    let Outcome::Error {
        body, error_type, ..
    } = bad
    else {
        panic!("a malformed event must fail the invocation, got {bad:?}");
    };
    // The runtime client marks every function error "unhandled" in the header; the error's
    // type, as Lambda reports it to callers and alarms, is the body's `errorType`.
    assert!(!error_type.is_empty(), "error type header; body {body}");
    assert_eq!(
        body["errorType"], "InvalidEvent",
        "a stable error type: {body}"
    );
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("unknown field `dry-run`"), "{body}");
    let again = response(invoke(&mut api, &sample, &function).await);
    assert_eq!(again["plan"], report["plan"]);

    // AND every output line is JSON, with one CloudWatch EMF record per tick
    let lines = function.json_lines();
    let emf = lines
        .iter()
        .filter(|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "offpeak")
        .count();
    assert_eq!(emf, 2, "{}", function.log());
    // AND each tick logged its report (plan and notes) as one structured line, as the dry-run
    // deployment in docs/deploy.md relies on
    let logged: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "tick report")
        .collect();
    assert_eq!(logged.len(), 2, "{}", function.log());
    assert_eq!(logged[0]["report"]["plan"], report["plan"]);
    assert_eq!(logged[0]["report"]["notes"], report["notes"]);
    function.assert_fits_memory("aurora-replicas");
}

#[tokio::test]
async fn an_edited_schedule_in_the_layer_is_read_at_cold_start_without_a_rebuild() {
    // GIVEN the same binary, and a layer whose schedule was edited after the build: prod-aurora's
    // weekday peak asks for 3 replicas instead of 2
    let moto = Moto::start().await;
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    state_table(&moto).await;
    aurora_cluster(&rds, "prod-aurora").await;
    aurora_cluster(&rds, "prod-aurora-us").await;
    let layer = schedule_layer();
    let path = layer.path().join("schedules.yaml");
    let shipped = std::fs::read_to_string(&path).unwrap();
    let edited = shipped.replacen("replicas: 2", "replicas: 3", 1);
    assert_ne!(
        edited, shipped,
        "the shipped schedule has a 2-replica window"
    );
    std::fs::write(&path, edited).unwrap();
    let mut api = RuntimeApi::start().await;
    let function = FunctionProcess::start_with_layer("aurora-replicas", &api, &moto, layer);

    // WHEN it is sent the dry-run sample (Friday 18:30 JST)
    let report = response(
        invoke(
            &mut api,
            &event("aurora-replicas-dry-run-peak.json"),
            &function,
        )
        .await,
    );

    // THEN it plans the edited three replicas
    let instances: Vec<&str> = report["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .filter_map(|a| a["instance"].as_str())
        .collect();
    assert_eq!(
        instances,
        [
            "prod-aurora-offpeak-1",
            "prod-aurora-offpeak-2",
            "prod-aurora-offpeak-3"
        ],
        "{report:#}"
    );
}

#[tokio::test]
async fn a_function_without_its_schedule_fails_its_cold_start_naming_the_variable() {
    // GIVEN a layer without the schedule file
    let moto = Moto::start().await;
    let layer = tempfile::tempdir().unwrap();
    let api = RuntimeApi::start().await;
    let mut function = FunctionProcess::start_with_layer("eks-nodegroups", &api, &moto, layer);
    // WHEN it starts
    let status = function.wait_exit(INVOKE_TIMEOUT);
    // THEN it exits at cold start (Lambda reports Runtime.ExitError), naming the file it needs
    assert!(
        status.is_some_and(|s| !s.success()),
        "{status:?}; {}",
        function.log()
    );
    let log = function.log();
    assert!(
        log.contains("cannot read schedule file") && log.contains("schedules.yaml"),
        "{log}"
    );
}

// ------------------------------------------------------------------------------------------------
// eks-nodegroups
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn eks_nodegroups_applies_the_override_sample_against_moto() {
    // GIVEN the clusters and groups the shipped schedule names, all awake, in moto
    let moto = Moto::start().await;
    let store = state_table(&moto).await;
    let world = NodeGroups::new(&moto.sdk_config().await).await;
    world.cluster("dev-eks").await;
    world.nodegroup("dev-eks", "app", (1, 4, 2)).await;
    world.nodegroup("dev-eks", "batch", (1, 3, 2)).await;
    world
        .auto_scaling_group(
            "dev-legacy",
            (1, 2, 1),
            &[(AUTOSCALER_ENABLED, "true", true)],
        )
        .await;
    world.cluster("sandbox-eks").await;
    world.nodegroup("sandbox-eks", "web", (1, 2, 1)).await;
    let mut api = RuntimeApi::start().await;
    let function = FunctionProcess::start("eks-nodegroups", &api, &moto);

    // WHEN it is sent the override sample as written: it replays Friday 22:30 JST, and its
    // `until` (Saturday 18:00) is in the past of the real clock
    let sample = workspace_json("events/eks-nodegroups-override.json");
    let stale = invoke(&mut api, &sample.to_string(), &function).await;

    // THEN it is refused: `at` moves the schedule, never the clock an override is judged by
    let Outcome::Error { body, .. } = stale else {
        panic!("a stale override must fail the invocation, got {stale:?}");
    };
    assert_eq!(body["errorType"], "InvalidOverride", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("which is not after now")),
        "{body}"
    );

    // WHEN the same sample holds dev-eks/app awake until a day after the real clock
    let mut fresh = sample;
    fresh["override"]["until"] =
        json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    let report = response(invoke(&mut api, &fresh.to_string(), &function).await);

    // THEN the override is recorded, dev-eks's other groups sleep, app and the sandbox stay up
    assert_eq!(report["function"], "eks-nodegroups", "{report:#}");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["at"], "2026-11-27T13:30:00Z");
    assert_eq!(report["failed"], json!([]), "{report:#}");
    let recorded = report["applied"]
        .as_array()
        .expect("applied")
        .iter()
        .any(|a| a["target"] == "dev-eks/app" && a["step"] == "record_override");
    assert!(recorded, "override not recorded: {report:#}");
    assert_eq!(world.nodegroup_size("dev-eks", "app").await, (1, 4, 2));
    assert_eq!(
        world.nodegroup_size("dev-eks", "batch").await,
        (0, 3, 0),
        "{report:#}"
    );
    assert_eq!(
        world.group_size("dev-legacy").await,
        (0, 2, 0),
        "{report:#}"
    );
    assert_eq!(world.nodegroup_size("sandbox-eks", "web").await, (1, 2, 1));
    let saved = store.get_many(&["dev-eks/app"]).await.expect("read state");
    assert!(
        saved.contains_key("dev-eks/app"),
        "no state for dev-eks/app"
    );

    // AND every output line is JSON, and the process fits its memory setting
    function.json_lines();
    function.assert_fits_memory("eks-nodegroups");
}

// ------------------------------------------------------------------------------------------------
// masked-refresh
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn masked_refresh_answers_a_real_tick_outside_its_window_without_touching_rds() {
    // GIVEN production and development clusters in moto, and the state table
    let moto = Moto::start().await;
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    state_table(&moto).await;
    aurora_cluster(&rds, "prod-aurora").await;
    aurora_cluster(&rds, "dev-aurora").await;
    let before = aurora::instance_ids(&rds, None).await;
    let mut api = RuntimeApi::start().await;
    let function = FunctionProcess::start("masked-refresh", &api, &moto);

    // WHEN it is sent the sample real tick at noon JST (the refresh window is 03:00-06:00)
    let report = response(invoke(&mut api, &event("masked-refresh-tick.json"), &function).await);

    // THEN it answers with a report that changed nothing
    assert_eq!(report["function"], "masked-refresh", "{report:#}");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["at"], "2026-11-27T03:00:00Z");
    assert_eq!(report["applied"], json!([]), "{report:#}");
    assert_eq!(report["failed"], json!([]), "{report:#}");
    assert_eq!(
        aurora::instance_ids(&rds, None).await,
        before,
        "a tick outside the window changed RDS"
    );

    // AND every output line is JSON, and the process fits its memory setting
    function.json_lines();
    function.assert_fits_memory("masked-refresh");
}

// ------------------------------------------------------------------------------------------------
// hours saved (offpeak_shared::savings): the per-target gauges the dashboard sums
// ------------------------------------------------------------------------------------------------

/// The gauge lines a function printed: (target, metric, value, timestamp in ms).
fn gauges(function: &FunctionProcess) -> Vec<(String, String, f64, i64)> {
    function
        .json_lines()
        .iter()
        .filter(|l| {
            l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == json!([["Function", "Target"]])
        })
        .map(|l| {
            let name = l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .expect("metric name")
                .to_owned();
            let value = l[&name].as_f64().expect("metric value");
            let at = l["_aws"]["Timestamp"].as_i64().expect("timestamp");
            (
                l["Target"].as_str().expect("Target").to_owned(),
                name,
                value,
                at,
            )
        })
        .collect()
}

/// What the shipped schedule says each of `kinds`' targets weighs at `ms`.
fn scheduled_at(
    kinds: &[offpeak_shared::calendar::Kind],
    metric: &str,
    ms: i64,
) -> Vec<(String, String, f64, i64)> {
    let schedule = offpeak_shared::config::load(&workspace_root().join("infra/schedules.yaml"))
        .expect("the shipped schedule");
    let at = chrono::DateTime::from_timestamp_millis(ms).expect("a valid timestamp");
    offpeak_shared::calendar::targets(&schedule)
        .iter()
        .filter(|t| kinds.contains(&t.kind))
        .map(|t| {
            (
                t.id.clone(),
                metric.to_owned(),
                f64::from(t.state_at(at).weight()),
                ms,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_real_tick_reports_each_targets_scheduled_hours_and_a_replay_does_not() {
    use offpeak_shared::calendar::Kind;
    // GIVEN the Aurora clusters the shipped schedule names, and the two functions running
    let moto = Moto::start().await;
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    state_table(&moto).await;
    aurora_cluster(&rds, "prod-aurora").await;
    aurora_cluster(&rds, "prod-aurora-us").await;
    for (bin, kinds, metric) in [
        (
            "aurora-replicas",
            vec![Kind::AuroraReplicas],
            "ScheduledReplicas",
        ),
        (
            "eks-nodegroups",
            vec![Kind::EksNodegroup, Kind::EksAsg],
            "ScheduledAsleep",
        ),
    ] {
        let mut api = RuntimeApi::start().await;
        let function = FunctionProcess::start(bin, &api, &moto);

        // WHEN it gets a dry run and a replayed instant (what people send), then what EventBridge
        // Scheduler sends a live stack
        invoke(&mut api, r#"{"dry_run": true}"#, &function).await;
        invoke(
            &mut api,
            r#"{"dry_run": false, "at": "2026-11-27T18:30:00+09:00"}"#,
            &function,
        )
        .await;
        assert_eq!(
            gauges(&function),
            [],
            "{bin}: only a real tick at the clock samples the schedule"
        );
        invoke(&mut api, r#"{"dry_run": false}"#, &function).await;

        // THEN it printed one gauge per target of its own, stamped with the tick's clock and
        // equal to the schedule's weight at that instant
        let printed = gauges(&function);
        let at = printed
            .first()
            .map(|g| g.3)
            .unwrap_or_else(|| panic!("{bin}: no gauge; {}", function.log()));
        assert_eq!(printed, scheduled_at(&kinds, metric, at), "{bin}");
    }
}
