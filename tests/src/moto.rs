//! A private moto server per test.
//!
//! Guarantees:
//! - [`Moto::start`] returns only once a real `moto_server` child answers HTTP on its own loopback
//!   port, so state never leaks between tests. It is moto's own server run by
//!   `tools/moto_serial_server.py`, which handles one request at a time: DynamoDB makes each
//!   conditional write atomic and moto's threaded server does not (the script cites the guide). Dropping the [`Moto`] kills it; if the test process
//!   dies instead, the kernel kills it (see [`crate::process`]).
//! - Clients built from [`Moto::sdk_config`] ignore the host's AWS environment and profile files, so
//!   a test can never reach a real AWS account by accident.
//!
//! Failure behaviour: a missing `moto_server` or one that does not answer within 30 s panics with the
//! fix (`make venv`) or the server's log tail. Nothing is ever skipped.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{free_port, kill_and_reap, log_tail, spawn_guarded};

/// The region every test client and subprocess uses.
pub const REGION: &str = "ap-northeast-1";
/// Static credentials moto accepts; they are not secrets.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A fresh port is tried this many times: the only expected early exit is losing a port race.
const START_ATTEMPTS: usize = 3;

/// A running `moto_server`, private to one test.
pub struct Moto {
    child: Child,
    endpoint: String,
    // Holds the server log; removed after the child is killed (field order = drop order).
    _dir: TempDir,
}

impl Moto {
    /// Starts a moto server on a free loopback port and waits until it answers HTTP.
    ///
    /// # Panics
    /// When `moto_server` is missing (run `make venv`) or never answers.
    pub async fn start() -> Moto {
        let program = launcher();
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match try_start(&program).await {
                Ok(moto) => return moto,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "moto_server ({}) did not start:\n{}",
            program.display(),
            failures.join("\n---\n")
        );
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration pointing at this server: region `ap-northeast-1`, static test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        let credentials = aws_sdk_rds::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "offpeak-tests",
        );
        aws_config::defaults(BehaviorVersion::latest())
            // The host's AWS_* variables and profiles must not redirect a test to real AWS.
            .empty_test_environment()
            .region(Region::new(REGION))
            .credentials_provider(credentials)
            .endpoint_url(&self.endpoint)
            // The SDKs come without a default HTTP client (the functions bring their own, on
            // ring); the harness's is the same builder on aws-lc, like its recording wrappers.
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                    .build_https(),
            )
            .load()
            .await
    }

    /// Environment for running an offpeak binary as a subprocess against this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            // Without this an SDK that falls through to IMDS waits on timeouts first.
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// The workspace venv's Python and the serializing launcher; panics with the fix when missing.
fn launcher() -> Launcher {
    let venv = crate::venv();
    let python = venv.join("bin/python");
    let script = crate::workspace_root().join("tools/moto_serial_server.py");
    assert!(
        venv.join("bin/moto_server").is_file(),
        "moto is not installed in {}: run `make venv` in the workspace root",
        venv.display()
    );
    Launcher { python, script }
}

/// How a moto server is started: `PYTHON SCRIPT -H 127.0.0.1 -p PORT`.
struct Launcher {
    python: PathBuf,
    script: PathBuf,
}

impl Launcher {
    fn display(&self) -> String {
        format!("{} {}", self.python.display(), self.script.display())
    }
}

/// One start attempt; on failure the child is gone and the error carries its log tail.
async fn try_start(program: &Launcher) -> Result<Moto, String> {
    let dir = crate::scratch::scratch_dir("moto").map_err(|e| format!("create a temp dir: {e}"))?;
    let log = dir.path().join("moto.log");
    let port = free_port();
    let mut command = Command::new(&program.python);
    command.arg(&program.script);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let mut child =
        spawn_guarded(command, &log, libc::SIGKILL).map_err(|e| format!("spawn: {e}"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    match wait_for_http(&mut child, port).await {
        Ok(()) => Ok(Moto {
            child,
            endpoint,
            _dir: dir,
        }),
        Err(why) => {
            kill_and_reap(&mut child);
            Err(format!(
                "{endpoint}: {why}; log tail:\n{}",
                log_tail(&log, 4096)
            ))
        }
    }
}

/// Waits until the port answers with any HTTP status line, or the child exits, or time runs out.
async fn wait_for_http(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited before answering ({status})"));
        }
        if answers_http(port).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no HTTP answer after {READY_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn answers_http(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut head = [0u8; 8];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.starts_with(b"HTTP/1."))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(true))
    )
}
