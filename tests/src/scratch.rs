//! Temporary directories that do not outlive their test process for long.
//!
//! Guarantees: every directory is named `<tmp>/offpeak-test-<pid>-<kind>-XXXX`. Its owner removes it
//! on a normal exit; when the owning process was killed first, the next test process that creates a
//! scratch directory removes it (a dead pid's directory can no longer be in use: its servers died
//! with it, see [`crate::process`]).
//!
//! Failure behaviour: creating a directory returns the I/O error; sweeping is best effort and silent.

use std::io;
use std::path::Path;
use std::sync::Once;

use tempfile::TempDir;

const PREFIX: &str = "offpeak-test-";

/// A new scratch directory for `kind` ("moto", "pg", ...), removed when the `TempDir` drops.
pub fn scratch_dir(kind: &str) -> io::Result<TempDir> {
    sweep_stale_dirs();
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-{kind}-", std::process::id()))
        .tempdir()
}

/// Removes scratch directories of processes that no longer exist; once per process is enough.
fn sweep_stale_dirs() {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if owner_pid(&path).is_some_and(|pid| !process_alive(pid)) {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    });
}

fn owner_pid(path: &Path) -> Option<libc::pid_t> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix(PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn process_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; it delivers nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM means it exists but belongs to someone else: alive.
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_only_harness_directories() {
        assert_eq!(
            owner_pid(Path::new("/tmp/offpeak-test-4242-pg-Ab12")),
            Some(4242)
        );
        assert_eq!(owner_pid(Path::new("/tmp/tmp.Ab12")), None);
        assert_eq!(owner_pid(Path::new("/tmp/offpeak-test-x-pg-Ab12")), None);
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id() as libc::pid_t));
    }

    #[test]
    fn scratch_dirs_carry_the_owner_pid() {
        let dir = scratch_dir("unit").unwrap();
        assert_eq!(
            owner_pid(dir.path()),
            Some(std::process::id() as libc::pid_t)
        );
    }
}
