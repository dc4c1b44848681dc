//! Process-lifetime database servers in temporary directories.
//!
//! Guarantees:
//! - A registered server is stopped (its own stop signal, then `SIGKILL` after a grace period) and
//!   its directory removed when the test process exits normally, including through a failing test
//!   (libtest exits via `exit`, which runs `atexit` handlers).
//! - When the process dies without running `atexit` (abort, `SIGKILL`), the kernel delivers the
//!   server's stop signal through `PR_SET_PDEATHSIG` (see [`crate::process`]), and the next run
//!   removes the directory (see [`crate::scratch`]).
//!
//! Failure behaviour: cleanup is best effort and never panics; it runs at exit, where nobody could
//! act on an error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::process::{
    NotReady, free_port, kill_and_reap, log_tail, spawn_guarded, wait_until_ready,
};

const STOP_GRACE: Duration = Duration::from_secs(10);
/// Generous: a cold start on a loaded 2-core CI machine while tests compile beside it.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The only expected early exit is losing a port race, so a few fresh ports suffice.
const START_ATTEMPTS: usize = 3;

/// A running server owned by this process until it exits.
pub struct Throwaway {
    pub child: Child,
    /// Sent first at exit; the server's clean-shutdown signal.
    pub stop_signal: libc::c_int,
    pub dir: PathBuf,
}

static RUNNING: Mutex<Vec<Throwaway>> = Mutex::new(Vec::new());

/// Keeps `server` running until the process exits, then stops it and removes its directory.
pub fn register(server: Throwaway) {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: `stop_all` is an `extern "C" fn()` that cannot unwind: it ignores every error
        // and recovers a poisoned lock instead of panicking.
        unsafe { libc::atexit(stop_all) };
    });
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(server);
}

/// How to run one server: the command for a given port and how to tell it is ready.
pub struct ServerSpec<'a> {
    pub name: &'a str,
    pub log: &'a Path,
    pub command: &'a dyn Fn(u16) -> Command,
    pub ready: &'a dyn Fn(u16) -> bool,
    /// Sent at exit and, through `PR_SET_PDEATHSIG`, when the test process dies.
    pub stop_signal: libc::c_int,
}

/// Starts the server on a free port, retrying with a fresh port when it exits at once (the port was
/// taken between probing and binding). Returns the running child and its port.
pub fn start_on_free_port(spec: &ServerSpec) -> Result<(Child, u16), String> {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let mut child = spawn_guarded((spec.command)(port), spec.log, spec.stop_signal)
            .map_err(|e| format!("spawn {}: {e}", spec.name))?;
        match wait_until_ready(&mut child, READY_TIMEOUT, || (spec.ready)(port)) {
            Ok(()) => return Ok((child, port)),
            Err(why) => {
                kill_and_reap(&mut child);
                failures.push(format!("{} on port {port}: {why}", spec.name));
                if matches!(why, NotReady::TimedOut(_)) {
                    break;
                }
            }
        }
    }
    Err(format!(
        "{}; log tail ({}):\n{}",
        failures.join("; "),
        spec.log.display(),
        log_tail(spec.log, 4096)
    ))
}

extern "C" fn stop_all() {
    let servers = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    for server in &servers {
        // SAFETY: plain signal delivery to a child we spawned and have not reaped yet.
        unsafe { libc::kill(server.child.id() as libc::pid_t, server.stop_signal) };
    }
    for mut server in servers {
        wait_or_kill(&mut server.child);
        let _ = std::fs::remove_dir_all(&server.dir);
    }
}

fn wait_or_kill(child: &mut Child) {
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_and_reap(child);
}

/// A scratch directory that lives until the process exits (then [`register`] removes it).
pub fn new_dir(kind: &str) -> Result<PathBuf, String> {
    crate::scratch::scratch_dir(kind)
        .map(tempfile::TempDir::keep)
        .map_err(|e| format!("create a temp dir for {kind}: {e}"))
}
