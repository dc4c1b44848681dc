//! PostgreSQL for tests: the server named by `OFFPEAK_TEST_PG_URL`, or a throwaway one.
//!
//! Guarantees:
//! - [`pg_database`] returns a fresh, empty database (see [`crate::database`]).
//! - The throwaway server ([`throwaway_pg`]) is started at most once per test process, in its own
//!   temp dir, listening only on 127.0.0.1 with trust auth, durability off (the data is disposable),
//!   and stopped when the process exits (see [`crate::throwaway`]).
//! - PostgreSQL refuses to run as root, so under root the server runs as the `postgres` OS user.
//!   The harness switches user itself (`Command::uid`) rather than through `runuser`: the kernel
//!   clears the parent-death signal on a credential change, and `runuser` would also stand between
//!   the harness and the server as an extra process. `pg_ctl` is not used for the same reason: it
//!   detaches the server from its parent.
//!
//! Failure behaviour: no server panics with everything that was tried: the variable, the binaries
//! searched for and the server log. Nothing is ever skipped.

use std::ffi::CString;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::database::{DbServer, Engine, TestDb, from_env_origin};
use crate::process::{find_program, run_to_completion};
use crate::throwaway::{self, ServerSpec, Throwaway};

/// A server URL whose user may `CREATE DATABASE`, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const PG_URL_VAR: &str = "OFFPEAK_TEST_PG_URL";

/// A fresh, empty database on [`pg_server`].
pub async fn pg_database() -> TestDb {
    pg_server().database().await
}

/// The server named by `OFFPEAK_TEST_PG_URL`, else [`throwaway_pg`].
pub fn pg_server() -> &'static DbServer {
    static FROM_ENV: OnceLock<Option<DbServer>> = OnceLock::new();
    let from_env = FROM_ENV.get_or_init(|| {
        let url = std::env::var(PG_URL_VAR).ok().filter(|u| !u.is_empty())?;
        Some(DbServer::new(
            Engine::Postgres,
            url,
            from_env_origin(PG_URL_VAR),
        ))
    });
    from_env.as_ref().unwrap_or_else(|| throwaway_pg())
}

/// This process's own PostgreSQL server, started on first use whatever the environment says.
///
/// # Panics
/// When no server can be started; every later call panics with the same message.
pub fn throwaway_pg() -> &'static DbServer {
    static SERVER: OnceLock<Result<DbServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!(
            "could not start a throwaway PostgreSQL server for tests: {why}\n\
             hint: pg_database() uses the server named by {PG_URL_VAR} instead when it is set"
        ),
    }
}

/// A second server of this process's own, only for standing in for the masked refresh's clone
/// (`masked_refresh_support::clone_server`): a refresh treats its whole server as its own
/// (drops databases, disables logins), so it never shares one with other tests.
///
/// # Panics
/// When no server can be started; every later call panics with the same message.
pub fn throwaway_pg_for_clones() -> &'static DbServer {
    static SERVER: OnceLock<Result<DbServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("could not start a PostgreSQL server for clones: {why}"),
    }
}

/// The OS user a server must run as: `None` to stay as we are, `Some((uid, gid))` when we are root.
type RunAs = Option<(u32, u32)>;

/// A server certificate and its private key, PEM.
#[derive(Clone, Copy, Debug)]
pub struct ServerTls<'a> {
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

/// A new throwaway PostgreSQL server of its own that accepts TLS with `tls` (and, like every
/// throwaway server, trust auth on 127.0.0.1), stopped when the process exits.
///
/// # Panics
/// When the server can't be started.
pub fn throwaway_pg_with_tls(tls: ServerTls<'_>) -> DbServer {
    start_with(Some(tls)).unwrap_or_else(|why| panic!("could not start a TLS PostgreSQL: {why}"))
}

fn start() -> Result<DbServer, String> {
    start_with(None)
}

fn start_with(tls: Option<ServerTls<'_>>) -> Result<DbServer, String> {
    let (initdb, postgres) = binaries()?;
    let run_as = run_as()?;
    let dir = throwaway::new_dir("pg")?;
    start_in(&dir, &initdb, &postgres, run_as, tls).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })
}

fn start_in(
    dir: &Path,
    initdb: &Path,
    postgres: &Path,
    run_as: RunAs,
    tls: Option<ServerTls<'_>>,
) -> Result<DbServer, String> {
    if let Some((uid, gid)) = run_as {
        chown(dir, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let log = dir.join("postgres.log");
    run_to_completion(initdb_command(initdb, dir, &data, run_as), &log)?;
    let mut settings: Vec<String> = Vec::new();
    if let Some(tls) = tls {
        settings.extend(write_tls_files(dir, tls, run_as)?);
    }
    let (child, port) = throwaway::start_on_free_port(&ServerSpec {
        name: "postgres",
        log: &log,
        command: &|port| {
            let mut command = postgres_command(postgres, dir, &data, port, run_as);
            for setting in &settings {
                command.args(["-c", setting]);
            }
            command
        },
        ready: &|_| is_ready(&data),
        // Immediate shutdown: unlike SIGKILL it still releases the server's SysV memory segment.
        stop_signal: libc::SIGQUIT,
    })?;
    throwaway::register(Throwaway {
        child,
        stop_signal: libc::SIGQUIT,
        dir: dir.to_owned(),
    });
    Ok(DbServer::new(
        Engine::Postgres,
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        format!("throwaway server in {}", dir.display()),
    ))
}

/// Writes the certificate and key where the server user can read them (the key only it, as
/// PostgreSQL insists), and returns the settings that enable TLS with them.
fn write_tls_files(dir: &Path, tls: ServerTls<'_>, run_as: RunAs) -> Result<Vec<String>, String> {
    use std::os::unix::fs::PermissionsExt;
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    for (path, pem) in [(&cert, tls.cert_pem), (&key, tls.key_pem)] {
        std::fs::write(path, pem).map_err(|e| format!("write {}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        if let Some((uid, gid)) = run_as {
            chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", path.display()))?;
        }
    }
    Ok(vec![
        "ssl=on".to_owned(),
        format!("ssl_cert_file={}", cert.display()),
        format!("ssl_key_file={}", key.display()),
    ])
}

/// `initdb` and the `postgres` beside it, so both come from one installation.
fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let initdb = find_program("initdb", &debian_bin_dirs())?;
    let postgres = initdb.with_file_name("postgres");
    if postgres.is_file() {
        return Ok((initdb, postgres));
    }
    Err(format!(
        "found {} but no postgres beside it",
        initdb.display()
    ))
}

/// Debian keeps server binaries off PATH, in `/usr/lib/postgresql/<major>/bin`; newest first.
fn debian_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    dirs.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    dirs.into_iter().map(|(_, dir)| dir).collect()
}

fn run_as() -> Result<RunAs, String> {
    // SAFETY: geteuid cannot fail and has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    os_user("postgres").map(Some).ok_or_else(|| {
        "running as root, which PostgreSQL refuses, and there is no `postgres` OS user to run \
         the server as"
            .to_owned()
    })
}

fn os_user(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    // SAFETY: getpwnam reads a NUL-terminated name; the returned record is copied out at once and
    // tests resolve users from one thread at a time (inside a OnceLock initialiser).
    let entry = unsafe { libc::getpwnam(name.as_ptr()).as_ref()? };
    Some((entry.pw_uid, entry.pw_gid))
}

fn initdb_command(initdb: &Path, dir: &Path, data: &Path, run_as: RunAs) -> Command {
    let mut command = Command::new(initdb);
    command
        .arg("--pgdata")
        .arg(data)
        .args(["--auth=trust", "--username=postgres", "--encoding=UTF8"])
        .args(["--locale=C", "--no-sync"]);
    as_user(&mut command, dir, run_as);
    command
}

fn postgres_command(postgres: &Path, dir: &Path, data: &Path, port: u16, run_as: RunAs) -> Command {
    let mut command = Command::new(postgres);
    command.arg("-D").arg(data).arg("-k").arg(dir);
    command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    // Test data is disposable: skip durability, and allow many parallel tests' pools.
    for setting in [
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "max_connections=300",
    ] {
        command.args(["-c", setting]);
    }
    as_user(&mut command, dir, run_as);
    command
}

fn as_user(command: &mut Command, dir: &Path, run_as: RunAs) {
    use std::os::unix::process::CommandExt;
    // The server user may not be able to enter the caller's working directory.
    command.current_dir(dir);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
}

/// The server marks itself ready on line 8 of `postmaster.pid` (PostgreSQL 10+), only once it
/// accepts connections; an open port alone may still answer "the database system is starting up".
fn is_ready(data: &Path) -> bool {
    std::fs::read_to_string(data.join("postmaster.pid"))
        .is_ok_and(|pid_file| pid_file.lines().nth(7).map(str::trim) == Some("ready"))
}
