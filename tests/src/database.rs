//! Fresh, empty databases on a shared server, one per test.
//!
//! Guarantees:
//! - [`DbServer::database`] creates a database whose name is unique across processes and runs
//!   (process id + per-process counter + milliseconds), so tests never see each other's tables.
//! - Dropping the [`TestDb`] drops the database (best effort, bounded to a few seconds), so a shared
//!   server such as the machine's own PostgreSQL does not fill up over many runs.
//!
//! Failure behaviour: a server that refuses the admin connection or the `CREATE DATABASE` panics,
//! naming where the server came from (an environment variable or a throwaway server) and the error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, MySqlConnection, PgConnection};

/// How long dropping a [`TestDb`] may block the test thread before it gives up.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which SQL dialect and client a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    /// MariaDB, or MySQL: the harness uses only syntax both accept.
    MariaDb,
}

/// A database server that tests may create databases on.
#[derive(Debug)]
pub struct DbServer {
    engine: Engine,
    url: String,
    origin: String,
}

/// One test's private database. `url` connects to it with full rights.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub name: String,
    engine: Engine,
    admin_url: String,
}

impl DbServer {
    /// `url` must name a user that may `CREATE DATABASE`; `origin` says where it came from, for
    /// failure messages ("OFFPEAK_TEST_PG_URL", "throwaway server in /tmp/...").
    pub fn new(engine: Engine, url: String, origin: String) -> DbServer {
        DbServer {
            engine,
            url,
            origin,
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The server-level (admin) URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates a fresh, empty, uniquely named database.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses to create the database.
    pub async fn database(&self) -> TestDb {
        let name = unique_name();
        let sql = self.engine.create_sql(&name);
        if let Err(e) = self.engine.execute(&self.url, &sql).await {
            panic!(
                "cannot create test database {name} on {:?} server {} ({}): {e}",
                self.engine, self.url, self.origin
            );
        }
        TestDb {
            url: with_database(&self.url, &name),
            name,
            engine: self.engine,
            admin_url: self.url.clone(),
        }
    }
}

impl TestDb {
    pub fn engine(&self) -> Engine {
        self.engine
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (engine, admin_url) = (self.engine, self.admin_url.clone());
        let sql = engine.drop_sql(&self.name);
        // Drop cannot await and may run inside the test's runtime, which must not be blocked on
        // from within; a separate thread with its own small runtime sidesteps both.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            // The timer must be created inside the runtime, hence the async block.
            runtime
                .block_on(async {
                    tokio::time::timeout(DROP_TIMEOUT, engine.execute(&admin_url, &sql)).await
                })
                .ok()
        });
        // Best effort: a database left behind costs disk, not correctness.
        let _ = dropper.join();
    }
}

impl Engine {
    fn create_sql(self, name: &str) -> String {
        match self {
            Engine::Postgres => format!("CREATE DATABASE \"{name}\""),
            // utf8mb4 whatever the server's default: a throwaway server started without a
            // config file defaults to latin1, where the tests' non-ASCII names do not fit.
            Engine::MariaDb => {
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            }
        }
    }

    fn drop_sql(self, name: &str) -> String {
        match self {
            // FORCE ends connections a test's pool may still hold (PostgreSQL 13+).
            Engine::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            Engine::MariaDb => format!("DROP DATABASE IF EXISTS `{name}`"),
        }
    }

    /// Runs one statement on a fresh connection; no pool is kept because each test has its own
    /// runtime and pooled connections must not outlive the runtime that opened them.
    async fn execute(self, url: &str, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Engine::Postgres => {
                let mut conn = PgConnection::connect(url).await?;
                conn.execute(sql).await?;
                conn.close().await
            }
            Engine::MariaDb => {
                let mut conn = MySqlConnection::connect(url).await?;
                conn.execute(sql).await?;
                conn.close().await
            }
        }
    }
}

/// How a server taken from an environment variable describes itself in failure messages.
pub(crate) fn from_env_origin(var: &str) -> String {
    format!("from {var}; unset it to use a throwaway server instead")
}

/// `offpeak_t<pid>_<counter>_<unix millis>`: lowercase, no quoting needed, under 64 characters
/// (the limit on both engines).
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("offpeak_t{}_{n}_{millis}", std::process::id())
}

/// Replaces (or adds) the database path of a server URL, keeping any query string.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| i + authority);
    let mut url = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_an_existing_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h:1/t1?sslmode=disable"
        );
    }

    #[test]
    fn database_url_adds_a_path_when_there_is_none() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "t1"),
            "mysql://root@127.0.0.1:3306/t1"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/", "t1"),
            "mysql://root@127.0.0.1:3306/t1"
        );
    }

    #[test]
    fn unique_names_differ_and_fit_both_engines() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
