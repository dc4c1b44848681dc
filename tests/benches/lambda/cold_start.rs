//! Cold start, peak memory and package size of each function's release binary, side by side
//! with the Python/boto3 baseline (`bench/python/handler.py` under `awslambdaric`).
//!
//! Both run as Lambda runs them: a fresh process per cold start, Lambda's environment variables,
//! the [`RuntimeApi`] on loopback, the same moto server holding the shipped schedule's targets,
//! the same dry-run event (reads only, so every run sees the same world). Per run:
//! - **cold start**: spawn → the server has read the first invocation's response;
//! - **warm invocation**: a second event queued → its response read;
//! - **peak RSS**: `ru_maxrss` of the process, from `wait4` after it is killed;
//!
//! the runs of the two runtimes alternate (and which goes first alternates), so load from other
//! processes on the machine falls on both. Before the timed runs, one untimed run per subject
//! goes through a counting proxy ([`Census`]): it warms the page cache and counts the AWS
//! requests of one invocation, so the table shows both sides made the same calls.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use offpeak_tests::Moto;
use offpeak_tests::process::{log_tail, spawn_guarded};
use offpeak_tests::runtime_api::{Answer, Outcome, RuntimeApi};

use crate::census::Census;
use crate::world::{STATE_TABLE, World};
use offpeak_tests::bench_report::profile_dir;
use offpeak_tests::wire::Tally;

/// How long one invocation (cold start included) may take.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A function and the equivalent Python handler.
pub struct Function {
    pub name: &'static str,
    python_handler: &'static str,
    /// The event both runtimes get: a dry run (only reads) at an instant where there is work.
    event: &'static str,
}

pub const FUNCTIONS: [Function; 3] = [
    Function {
        name: "aurora-replicas",
        python_handler: "handler.aurora_replicas",
        // events/aurora-replicas-dry-run-peak.json: Friday 18:30 JST, the evening peak.
        event: r#"{"dry_run": true, "at": "2026-11-27T18:30:00+09:00"}"#,
    },
    Function {
        name: "eks-nodegroups",
        python_handler: "handler.eks_nodegroups",
        // Friday 22:30 JST: dev-eks goes to sleep.
        event: r#"{"dry_run": true, "at": "2026-11-27T22:30:00+09:00"}"#,
    },
    Function {
        name: "masked-refresh",
        python_handler: "handler.masked_refresh",
        // Saturday 03:00 JST: the refresh window opens.
        event: r#"{"dry_run": true, "at": "2026-11-28T03:00:00+09:00"}"#,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Rust,
    Python,
}

impl Runtime {
    pub fn label(self) -> &'static str {
        match self {
            Runtime::Rust => "Rust (provided.al2023)",
            Runtime::Python => "Python 3 + boto3 (awslambdaric)",
        }
    }
}

/// One cold start.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Spawn → first `GET /invocation/next` (Lambda's `Init Duration`).
    pub init: Duration,
    /// Spawn → first response read.
    pub cold: Duration,
    pub warm: Duration,
    pub peak_rss_kib: u64,
    /// Anonymous (heap, stacks) part of the resident set after both invocations; the rest is
    /// mapped files (the executable, shared libraries).
    pub anon_kib: u64,
}

/// One function on one runtime.
pub struct Subject {
    pub function: &'static str,
    pub runtime: Runtime,
    pub samples: Vec<Sample>,
    /// AWS requests of one (cold) invocation, counted on the wire.
    pub requests: Tally,
    pub package: Option<Package>,
    /// Why it was not (fully) measured.
    pub problem: Option<String>,
}

/// The deployment package: what is zipped and the zip's size.
pub struct Package {
    /// The file in the zip.
    pub contents: &'static str,
    pub unzipped_bytes: u64,
    pub zipped_bytes: u64,
    /// What the runtime adds that the zip leaves out (Python: boto3), and its size.
    pub provided: Option<(&'static str, u64)>,
}

/// How a subject's process is started.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

/// Measures every function on both runtimes, `runs` cold starts each.
pub async fn run(runs: usize, scratch: &Path) -> Vec<Subject> {
    let root = offpeak_tests::workspace_root();
    let python = python(&root);
    let moto = Moto::start().await;
    seed_shipped_schedule(&moto).await;
    let mut subjects = Vec::new();
    let mut launches = Vec::new();
    for function in &FUNCTIONS {
        for runtime in [Runtime::Rust, Runtime::Python] {
            let (launch, package) = match runtime {
                Runtime::Rust => rust_launch(function, scratch, &python),
                Runtime::Python => python_launch(function, &root, scratch, &python),
            };
            let (package, problem) = match package {
                Ok(package) => (Some(package), None),
                Err(why) => (None, Some(why)),
            };
            let mut subject = Subject {
                function: function.name,
                runtime,
                samples: Vec::new(),
                requests: Tally::new(),
                package,
                problem,
            };
            if subject.problem.is_none() {
                eprintln!("bench: first run of {} on {:?}", function.name, runtime);
                census(&mut subject, &launch, function, &moto, scratch).await;
            }
            subjects.push(subject);
            launches.push(launch);
        }
    }
    for round in 0..runs {
        for (pair, function) in FUNCTIONS.iter().enumerate() {
            // Alternate which runtime goes first, so neither always follows the other.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let i = pair * 2 + side;
                let subject = &mut subjects[i];
                if subject.problem.is_some() {
                    continue;
                }
                let log = scratch.join(format!("{}-{:?}.log", subject.function, subject.runtime));
                let endpoint = moto.endpoint();
                let run = sample(
                    &launches[i],
                    function.name,
                    function.event,
                    endpoint,
                    &log,
                    None,
                );
                match run.await {
                    Ok((sample, _)) => subject.samples.push(sample),
                    Err(why) => subject.problem = Some(why),
                }
            }
        }
        eprintln!("bench: cold-start round {}/{runs} done", round + 1);
    }
    subjects
}

/// The untimed first run, through the counting proxy.
async fn census(subject: &mut Subject, launch: &Launch, f: &Function, moto: &Moto, scratch: &Path) {
    let upstream = moto.endpoint().trim_start_matches("http://").to_owned();
    let census = Census::start(upstream).await;
    let log = scratch.join(format!("{}-{:?}-census.log", f.name, subject.runtime));
    match sample(
        launch,
        f.name,
        f.event,
        census.endpoint(),
        &log,
        Some(&census),
    )
    .await
    {
        Ok((_, requests)) => subject.requests = requests,
        Err(why) => subject.problem = Some(why),
    }
}

/// One cold start and one warm invocation; with a census, also the first invocation's requests.
async fn sample(
    launch: &Launch,
    function: &str,
    event: &str,
    endpoint: &str,
    log: &Path,
    census: Option<&Census>,
) -> Result<(Sample, Tally), String> {
    let mut api = RuntimeApi::start().await;
    api.enqueue(event);
    let command = launch.command(api.address(), endpoint);
    let started = Instant::now();
    let mut child = spawn_guarded(command, log, libc::SIGKILL)
        .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?;
    let invocations = async {
        let first = answer(&mut api, &mut child, function).await?;
        let init = api.first_poll().ok_or("answered without polling")? - started;
        let requests = census.map(Census::take).unwrap_or_default();
        let sent = Instant::now();
        api.enqueue(event);
        let second = answer(&mut api, &mut child, function).await?;
        let times = (init, first.received - started, second.received - sent);
        Ok::<_, String>((times, requests))
    }
    .await;
    let anon_kib = rss_anon_kib(child.id());
    let peak_rss_kib = kill_and_measure(&mut child);
    let ((init, cold, warm), requests) =
        invocations.map_err(|why| format!("{why}; output:\n{}", log_tail(log, 1500)))?;
    let sample = Sample {
        init,
        cold,
        warm,
        peak_rss_kib,
        anon_kib,
    };
    Ok((sample, requests))
}

/// The next answer, which must be a report of `function`; an error if the process exits first.
async fn answer(api: &mut RuntimeApi, child: &mut Child, function: &str) -> Result<Answer, String> {
    let answer = tokio::select! {
        answer = api.next_answer(INVOKE_TIMEOUT) => {
            answer.ok_or_else(|| format!("no answer within {INVOKE_TIMEOUT:?}"))?
        }
        status = exited(child) => return Err(format!("exited before answering ({status})")),
    };
    match &answer.outcome {
        Outcome::Response { body, .. } if body["function"] == function => Ok(answer),
        other => Err(format!("unexpected answer: {other:?}")),
    }
}

async fn exited(child: &mut Child) -> ExitStatus {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `RssAnon` of a running process, in KiB (0 when unreadable).
fn rss_anon_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("RssAnon:"))?;
            line.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Kills the process and returns its peak resident set in KiB (0 if it had already exited).
fn kill_and_measure(child: &mut Child) -> u64 {
    let _ = child.kill();
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let mut status = 0;
    // SAFETY: `rusage` is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; `pid` is our own unreaped child, so nothing else can
    // reuse it before this call reaps it (std's `Child` is never waited on afterwards).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped == pid {
        u64::try_from(usage.ru_maxrss).unwrap_or(0)
    } else {
        0
    }
}

impl Launch {
    /// Lambda's environment for the function, pointed at `runtime_api` and `endpoint`.
    fn command(&self, runtime_api: &str, endpoint: &str) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api);
        command
    }
}

/// What Lambda sets for every runtime, plus moto's credentials, the state table and the
/// schedule (read from `infra/`, as the stack's layer puts it in `/opt`).
fn lambda_env(function: &str) -> Vec<(String, String)> {
    let memory = crate::template::property(function, "MemorySize").to_string();
    let name = format!("offpeak-{function}");
    let schedule = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/schedules.yaml")
        .display()
        .to_string();
    let mut env: Vec<(String, String)> = [
        ("AWS_ACCESS_KEY_ID", offpeak_tests::moto::ACCESS_KEY_ID),
        (
            "AWS_SECRET_ACCESS_KEY",
            offpeak_tests::moto::SECRET_ACCESS_KEY,
        ),
        ("AWS_REGION", offpeak_tests::moto::REGION),
        ("AWS_DEFAULT_REGION", offpeak_tests::moto::REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // No host profile files: Lambda has none either.
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_LAMBDA_FUNCTION_NAME", &name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]bench"),
        ("TZ", ":UTC"),
        ("OFFPEAK_STATE_TABLE", STATE_TABLE),
        ("OFFPEAK_CONFIG", &schedule),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.sort();
    env
}

/// The release binary, built for this run (a no-op when fresh), and its package.
fn rust_launch(f: &Function, scratch: &Path, python: &Path) -> (Launch, Result<Package, String>) {
    let binary = profile_dir().join(f.name);
    let launch = Launch {
        program: binary.clone(),
        args: Vec::new(),
        dir: scratch.to_owned(),
        env: lambda_env(f.name),
    };
    let package = build_release(f.name).and_then(|()| {
        let staged = scratch
            .join(format!("{}-bootstrap", f.name))
            .join("bootstrap");
        std::fs::create_dir_all(staged.parent().expect("parent")).map_err(|e| e.to_string())?;
        std::fs::copy(&binary, &staged).map_err(|e| format!("{}: {e}", binary.display()))?;
        package(python, &staged, "bootstrap", scratch)
    });
    (launch, package)
}

fn python_launch(
    f: &Function,
    root: &Path,
    scratch: &Path,
    python: &Path,
) -> (Launch, Result<Package, String>) {
    let dir = root.join("bench/python");
    let mut env = lambda_env(f.name);
    env.extend(
        [
            // Lambda's task root is read-only: the handler is compiled on every cold start.
            ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
            ("LAMBDA_TASK_ROOT", dir.display().to_string()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let launch = Launch {
        program: python.to_owned(),
        args: ["-m", "awslambdaric", f.python_handler]
            .map(str::to_owned)
            .to_vec(),
        dir: dir.clone(),
        env,
    };
    let handler = dir.join("handler.py");
    let package = package(python, &handler, "handler.py", scratch).map(|p| Package {
        provided: Some(("boto3 + botocore", sdk_size(python))),
        ..p
    });
    (launch, package)
}

/// Bytes of boto3 and botocore as installed next to `python`.
fn sdk_size(python: &Path) -> u64 {
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("<venv>/bin/python");
    let site = std::fs::read_dir(venv.join("lib"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|python_dir| python_dir.path().join("site-packages"));
    let bytes: u64 = site.map_or(0, |site| {
        ["boto3", "botocore"]
            .iter()
            .map(|package| tree_size(&site.join(package)))
            .sum()
    });
    bytes
}

fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

/// `cargo build --release -p offpeak-<function> --bin <function>`, one package at a time so a
/// function that does not build does not stop the others.
fn build_release(function: &str) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let package = format!("offpeak-{function}");
    eprintln!("bench: cargo build --release -p {package} --bin {function}");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", &package, "--bin", function])
        .current_dir(offpeak_tests::workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build --release -p {package}` failed ({status})"
        ))
    }
}

/// Zips `file` as `name`, as Lambda deployment packages are zipped (Python's `zipfile`, deflate).
fn package(
    python: &Path,
    file: &Path,
    name: &'static str,
    scratch: &Path,
) -> Result<Package, String> {
    let zip = scratch.join(format!("{name}.zip"));
    let status = Command::new(python)
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
             \x20   z.write(sys.argv[2], sys.argv[3])",
        ])
        .arg(&zip)
        .arg(file)
        .arg(name)
        .status()
        .map_err(|e| format!("zip: {e}"))?;
    if !status.success() {
        return Err(format!("zipping {} failed ({status})", file.display()));
    }
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let package = Package {
        contents: name,
        unzipped_bytes: size(file)?,
        zipped_bytes: size(&zip)?,
        provided: None,
    };
    std::fs::remove_file(&zip).map_err(|e| e.to_string())?;
    Ok(package)
}

/// `.venv-bench/bin/python`, made by `make venv-bench`.
fn python(root: &Path) -> PathBuf {
    let python = root.join(".venv-bench/bin/python");
    assert!(
        python.is_file(),
        "{} not found: run `make venv-bench` (pinned boto3 and awslambdaric)",
        python.display()
    );
    python
}

/// The targets of infra/schedules.yaml (the functions' schedule), all awake.
async fn seed_shipped_schedule(moto: &Moto) {
    let world = World::new(&moto.sdk_config().await).await;
    let aurora = ["prod-aurora", "prod-aurora-us", "dev-aurora"].map(str::to_owned);
    world.aurora_clusters(&aurora).await;
    world
        .eks_cluster("dev-eks", &["app".to_owned(), "batch".to_owned()])
        .await;
    world.eks_cluster("sandbox-eks", &["web".to_owned()]).await;
    world
        .auto_scaling_group(
            "dev-legacy",
            &[("k8s.io/cluster-autoscaler/enabled", "true")],
        )
        .await;
}
