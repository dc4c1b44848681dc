//! Child processes that cannot outlive the test process.
//!
//! Guarantees:
//! - Every server child is spawned by [`spawn_guarded`] from one dedicated thread that lives as long
//!   as the test process, with `PR_SET_PDEATHSIG` set to the caller's signal (`SIGKILL` unless the
//!   server needs a cleaner stop). The kernel sends that signal when the *thread* that forked the
//!   child exits, so spawning from a short-lived thread (a tokio blocking
//!   worker, a test thread that finished) would kill a server that is still in use; one long-lived
//!   spawner makes "the test process died" the only trigger, including `abort` and `SIGKILL`.
//! - Ports come from [`free_port`]: the kernel picks a free loopback port and this process never hands
//!   the same one out twice, so parallel tests in one binary cannot collide with each other.
//!
//! Failure behaviour: spawning errors are returned as `io::Error` naming the program; a missing
//! program is reported by [`find_program`] with every place that was searched.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A request to the spawner thread: the command and where to send the outcome.
type SpawnRequest = (Command, Sender<io::Result<Child>>);

/// Spawns `command` so that it receives `death_signal` when this test process dies, however it dies.
///
/// stdin is closed; stdout and stderr are appended to `log` (a file, never a pipe: a chatty server
/// would block once an unread pipe fills up).
pub fn spawn_guarded(
    mut command: Command,
    log: &Path,
    death_signal: libc::c_int,
) -> io::Result<Child> {
    let out = File::options().create(true).append(true).open(log)?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only calls `prctl` and `getppid`, both
    // async-signal-safe; it allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then no signal would ever come.
            if libc::getppid() != parent {
                return Err(io::Error::other("test process exited during spawn"));
            }
            Ok(())
        });
    }
    let (reply, outcome) = mpsc::channel();
    spawner()
        .send((command, reply))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    outcome
        .recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

/// The sending side of the process-lifetime spawner thread, started on first use.
fn spawner() -> &'static Sender<SpawnRequest> {
    static SPAWNER: OnceLock<Sender<SpawnRequest>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("offpeak-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the spawner thread");
        requests
    })
}

/// A loopback TCP port that was free a moment ago and that this process has not handed out before.
///
/// There is an unavoidable window between releasing the probe socket and the server binding it;
/// servers that lose that race exit at once and callers retry with a fresh port.
pub fn free_port() -> u16 {
    static ISSUED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let issued = ISSUED.get_or_init(Default::default);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("bind a probe socket on 127.0.0.1:0")
            .port();
        if issued.lock().expect("port registry poisoned").insert(port) {
            return port;
        }
    }
}

/// The first executable named `name` on `PATH`, then in `extra_dirs`.
///
/// Errors list every directory searched, so a missing tool says exactly what was tried.
pub fn find_program(name: &str, extra_dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let searched: Vec<&PathBuf> = path_dirs.iter().chain(extra_dirs).collect();
    searched
        .iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            let dirs: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
            format!("`{name}` not found in PATH or in [{}]", dirs.join(", "))
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The last `max_bytes` of a log file, for failure messages; never fails (says why instead).
pub fn log_tail(path: &Path, max_bytes: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

/// Runs a short setup command (initdb, install-db) to completion, logging into `log`.
///
/// Errors carry the exit status and the log tail.
pub fn run_to_completion(mut command: Command, log: &Path) -> Result<(), String> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("open {}: {e}", log.display()))?;
    let program = command.get_program().to_owned();
    let status = command
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .status()
        .map_err(|e| format!("run {}: {e}", display(&program)))?;
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({status}); log tail:\n{}",
        display(&program),
        log_tail(log, 4096)
    ))
}

/// Why a server never became ready.
#[derive(Debug)]
pub enum NotReady {
    /// It exited: a lost port race (worth a retry) or a real startup error (shown in its log).
    Exited(ExitStatus),
    TimedOut(Duration),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::Exited(status) => write!(f, "exited before it was ready ({status})"),
            NotReady::TimedOut(after) => write!(f, "not ready after {after:?}"),
        }
    }
}

/// Polls until `ready()` holds, the child exits, or `timeout` passes.
pub fn wait_until_ready(
    child: &mut Child,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(NotReady::Exited(status));
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(NotReady::TimedOut(timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills and reaps a child; used on drop paths, so errors are ignored (it may already be gone).
pub fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn display(program: &OsStr) -> String {
    program.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_never_repeats_within_the_process() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn find_program_names_every_searched_directory_when_missing() {
        let err = find_program("offpeak-no-such-tool", &[PathBuf::from("/nowhere/bin")])
            .expect_err("the tool does not exist");
        assert!(err.contains("offpeak-no-such-tool"), "{err}");
        assert!(err.contains("/nowhere/bin"), "{err}");
    }

    #[test]
    fn guarded_child_runs_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("echo.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo hello-from-child"]);
        let status = spawn_guarded(command, &log, libc::SIGKILL)
            .unwrap()
            .wait()
            .unwrap();
        assert!(status.success());
        assert_eq!(log_tail(&log, 1024), "hello-from-child\n");
    }
}
