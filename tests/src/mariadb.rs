//! MariaDB/MySQL for tests: the server named by `OFFPEAK_TEST_MYSQL_URL`, or a throwaway MariaDB.
//!
//! Guarantees:
//! - [`mariadb_database`] returns a fresh, empty database (see [`crate::database`]).
//! - The throwaway server ([`throwaway_mariadb`]) is started at most once per test process, in its
//!   own temp dir, listening only on 127.0.0.1, `root` without a password, durability off (the data
//!   is disposable), and stopped when the process exits (see [`crate::throwaway`]). It needs
//!   MariaDB's `mariadb-install-db`; MySQL servers are supported through the variable only.
//!
//! Failure behaviour: no server panics with everything that was tried: the variable, the binaries
//! searched for and the server log. Nothing is ever skipped.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::database::{DbServer, Engine, TestDb, from_env_origin};
use crate::process::{find_program, run_to_completion};
use crate::throwaway::{self, ServerSpec, Throwaway};

/// A server URL whose user may `CREATE DATABASE`, e.g. `mysql://root@127.0.0.1:3306`.
pub const MYSQL_URL_VAR: &str = "OFFPEAK_TEST_MYSQL_URL";

/// Server options for both bootstrap and serving. Small redo log and buffer pool keep each
/// throwaway data dir near 30 MB instead of 120 MB; durability is off because the data is disposable.
const SERVER_OPTIONS: &[&str] = &[
    "--innodb-log-file-size=8M",
    "--innodb-buffer-pool-size=64M",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--skip-name-resolve",
];

/// A fresh, empty database on [`mariadb_server`].
pub async fn mariadb_database() -> TestDb {
    mariadb_server().database().await
}

/// The server named by `OFFPEAK_TEST_MYSQL_URL`, else [`throwaway_mariadb`].
pub fn mariadb_server() -> &'static DbServer {
    static FROM_ENV: OnceLock<Option<DbServer>> = OnceLock::new();
    let from_env = FROM_ENV.get_or_init(|| {
        let url = std::env::var(MYSQL_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())?;
        Some(DbServer::new(
            Engine::MariaDb,
            url,
            from_env_origin(MYSQL_URL_VAR),
        ))
    });
    from_env.as_ref().unwrap_or_else(|| throwaway_mariadb())
}

/// This process's own MariaDB server, started on first use whatever the environment says.
///
/// # Panics
/// When no server can be started; every later call panics with the same message.
pub fn throwaway_mariadb() -> &'static DbServer {
    static SERVER: OnceLock<Result<DbServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!(
            "could not start a throwaway MariaDB server for tests: {why}\n\
             hint: mariadb_database() uses the server named by {MYSQL_URL_VAR} instead when it is set"
        ),
    }
}

/// A second server of this process's own, only for standing in for the masked refresh's clone
/// (see [`crate::throwaway_pg_for_clones`]).
///
/// # Panics
/// When no server can be started; every later call panics with the same message.
pub fn throwaway_mariadb_for_clones() -> &'static DbServer {
    static SERVER: OnceLock<Result<DbServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("could not start a MariaDB server for clones: {why}"),
    }
}

fn start() -> Result<DbServer, String> {
    let install_db = find_program("mariadb-install-db", &sbin_dirs())?;
    let server = find_program("mariadbd", &sbin_dirs())?;
    let dir = throwaway::new_dir("mariadb")?;
    start_in(&dir, &install_db, &server).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })
}

fn start_in(dir: &Path, install_db: &Path, server: &Path) -> Result<DbServer, String> {
    let data = dir.join("data");
    let log = dir.join("mariadb.log");
    // Its own temporary directory: servers bootstrapping side by side (test binaries run
    // concurrently) must not share /tmp, where one was seen to fail on another's temporary
    // table file ("Could not remove temporary table", then "Unknown table 'mysql.tmp_user_sys'").
    std::fs::create_dir_all(dir.join("tmp")).map_err(|e| format!("create tmpdir: {e}"))?;
    run_to_completion(install_db_command(install_db, dir, &data), &log)?;
    let (child, port) = throwaway::start_on_free_port(&ServerSpec {
        name: "mariadbd",
        log: &log,
        command: &|port| server_command(server, dir, &data, port),
        ready: &sends_greeting,
        // Nothing outlives a killed mariadbd but its data dir, which the harness removes.
        stop_signal: libc::SIGKILL,
    })?;
    throwaway::register(Throwaway {
        child,
        stop_signal: libc::SIGKILL,
        dir: dir.to_owned(),
    });
    Ok(DbServer::new(
        Engine::MariaDb,
        format!("mysql://root@127.0.0.1:{port}"),
        format!("throwaway server in {}", dir.display()),
    ))
}

/// Server binaries live in sbin, which a non-login environment may leave off PATH.
fn sbin_dirs() -> Vec<PathBuf> {
    [
        "/usr/sbin",
        "/usr/local/sbin",
        "/usr/bin",
        "/usr/local/mysql/bin",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

fn install_db_command(install_db: &Path, dir: &Path, data: &Path) -> Command {
    let mut command = Command::new(install_db);
    // --no-defaults must come first: the machine's my.cnf points at the machine's own server.
    command
        .arg("--no-defaults")
        .arg(datadir(data))
        .arg(tmpdir(dir));
    command.args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
    command.args(SERVER_OPTIONS).args(user_option());
    command
}

fn server_command(server: &Path, dir: &Path, data: &Path, port: u16) -> Command {
    let mut command = Command::new(server);
    command
        .arg("--no-defaults")
        .arg(datadir(data))
        .arg(tmpdir(dir));
    command
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--port={port}"))
        .args(["--bind-address=127.0.0.1", "--skip-log-bin"])
        .args(["--max-connections=500"]);
    command.args(SERVER_OPTIONS).args(user_option());
    command
}

fn tmpdir(dir: &Path) -> String {
    format!("--tmpdir={}", dir.join("tmp").display())
}

fn datadir(data: &Path) -> String {
    format!("--datadir={}", data.display())
}

/// mariadbd refuses to start as root unless told to; the data dir is ours, so let it.
fn user_option() -> Option<&'static str> {
    // SAFETY: geteuid cannot fail and has no preconditions.
    (unsafe { libc::geteuid() } == 0).then_some("--user=root")
}

/// The server is ready when it sends its handshake: packet header (4 bytes), then protocol 10.
/// MariaDB opens its port only after storage engines are up, but an error packet (0xff) can still
/// come first while it is starting or refusing; only a handshake counts.
fn sends_greeting(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let probe = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head)?;
        Ok(head[4] == 10)
    };
    probe().unwrap_or(false)
}
