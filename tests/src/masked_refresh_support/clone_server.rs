//! The server standing in for the clone: a throwaway PostgreSQL or MariaDB of this test process
//! kept for clones alone ([`crate::throwaway_pg_for_clones`]), never a shared one, and never the
//! throwaway server other tests of the process use.
//!
//! A masked refresh treats the clone's whole server as its own: it refuses to run while the server
//! holds a database its rules do not name, drops the databases they list, and disables every
//! login but the few they keep. None of that may reach the servers `OFFPEAK_TEST_PG_URL` /
//! `OFFPEAK_TEST_MYSQL_URL` name, where other sessions keep their databases and roles. So a clone
//! server is always such a server of the test process, lent to one test at a time
//! ([`take`] waits its turn), and reset when lent: nothing but the system databases and accounts
//! (and, on PostgreSQL, the `postgres` database every cluster has).
//!
//! PostgreSQL: the throwaway server trusts every connection; a clone server asks every role but
//! `postgres` for its password (SCRAM), so a test can try a login with a password and see it fail.

use std::sync::OnceLock;

use crate::{DbServer, Engine, TestDb, throwaway_mariadb_for_clones, throwaway_pg_for_clones};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, Row};
use tokio::sync::{Mutex, MutexGuard};

/// The clone's server, lent to the holder until dropped.
pub struct CloneServer {
    /// The database the rules cover (the one `OFFPEAK_CLONE_DATABASE_URL` names).
    pub db: TestDb,
    pub engine: Engine,
    /// The server's superuser URL (PostgreSQL: `.../postgres`; MariaDB: no database).
    pub admin_url: String,
    /// Held for as long as the server is lent; released after `db` is dropped.
    _turn: MutexGuard<'static, ()>,
}

static PG_TURN: Mutex<()> = Mutex::const_new(());
static MARIADB_TURN: Mutex<()> = Mutex::const_new(());

/// Waits for this process's throwaway server of `engine`, resets it, and creates the covered
/// database on it.
pub async fn take(engine: Engine) -> CloneServer {
    let (turn, server) = match engine {
        Engine::Postgres => (PG_TURN.lock().await, throwaway_pg_for_clones()),
        Engine::MariaDb => (MARIADB_TURN.lock().await, throwaway_mariadb_for_clones()),
    };
    match engine {
        Engine::Postgres => reset_pg(server).await,
        Engine::MariaDb => reset_mariadb(server).await,
    }
    CloneServer {
        db: server.database().await,
        engine,
        admin_url: server.url().to_owned(),
        _turn: turn,
    }
}

impl CloneServer {
    /// The covered database's URL for `user` with `password` (instead of the superuser).
    pub fn url_as(&self, user: &str, password: &str) -> String {
        with_login(&self.db.url, user, password)
    }

    /// Whether `user` can open a session to the covered database with `password`.
    pub async fn can_log_in(&self, user: &str, password: &str) -> bool {
        let url = self.url_as(user, password);
        match self.engine {
            Engine::Postgres => match PgConnection::connect(&url).await {
                Ok(c) => c.close().await.is_ok(),
                Err(_) => false,
            },
            Engine::MariaDb => match MySqlConnection::connect(&url).await {
                Ok(c) => c.close().await.is_ok(),
                Err(_) => false,
            },
        }
    }

    /// Runs `sql` as the superuser on the covered database.
    pub async fn exec(&self, sql: &str) {
        exec(self.engine, &self.db.url, sql).await;
    }

    /// Runs `sql` as the superuser on database `name` of the server (created by the test).
    /// GIVEN the server also holds database (MySQL: schema) `analytics`, with personal data in it.
    pub async fn with_analytics(&self) {
        self.exec("CREATE DATABASE analytics").await;
        let email = match self.engine {
            Engine::Postgres => "text",
            Engine::MariaDb => "VARCHAR(200)",
        };
        let visitors = [
            format!("CREATE TABLE visitors (id INT PRIMARY KEY, email {email} NOT NULL)"),
            "INSERT INTO visitors VALUES (1, 'Visitor.000001@Mail.Example.com')".to_owned(),
        ];
        for sql in &visitors {
            self.exec_in("analytics", sql).await;
        }
    }

    pub async fn exec_in(&self, name: &str, sql: &str) {
        let url = with_database(&self.db.url, name);
        exec(self.engine, &url, sql).await;
    }

    /// The databases (PostgreSQL) / schemas (MySQL) on the server, system ones left out.
    pub async fn databases(&self) -> Vec<String> {
        let sql = match self.engine {
            Engine::Postgres => {
                "SELECT datname::text FROM pg_database \
                 WHERE datname NOT IN ('template0', 'template1') ORDER BY 1"
            }
            Engine::MariaDb => {
                "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME \
                 NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1"
            }
        };
        texts(self.engine, &self.db.url, sql).await
    }

    /// Whether login `user` is enabled: PostgreSQL `rolcanlogin`, MySQL not `ACCOUNT LOCK`ed.
    pub async fn login_enabled(&self, user: &str) -> bool {
        let sql = match self.engine {
            Engine::Postgres => format!(
                "SELECT rolcanlogin::text FROM pg_roles WHERE rolname = '{}'",
                user.replace('\'', "''")
            ),
            Engine::MariaDb => format!(
                "SELECT CAST(COALESCE(JSON_VALUE(Priv, '$.account_locked'), 'false') AS CHAR) \
                 FROM mysql.global_priv WHERE User = '{}'",
                user.replace('\'', "''")
            ),
        };
        let rows = texts(self.engine, &self.db.url, &sql).await;
        match self.engine {
            Engine::Postgres => rows.iter().any(|v| v == "true"),
            Engine::MariaDb => !rows.is_empty() && rows.iter().all(|v| v == "false" || v == "0"),
        }
    }
}

/// Drops everything a previous holder left: databases, roles / accounts. Panics on failure (a
/// server that cannot be reset would make the next test's findings meaningless).
async fn reset_pg(server: &DbServer) {
    static HBA: OnceLock<()> = OnceLock::new();
    // Connected to template1: `postgres` itself may have been dropped by a refresh.
    let url = with_database(server.url(), "template1");
    let mut c = PgConnection::connect(&url)
        .await
        .expect("connect to the clone server");
    let leftovers = pg_texts(
        &mut c,
        "SELECT quote_ident(datname) FROM pg_database \
         WHERE datname NOT IN ('template0', 'template1', 'postgres')",
    )
    .await;
    for name in leftovers {
        run_pg(&mut c, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    }
    let has_postgres = pg_texts(
        &mut c,
        "SELECT datname::text FROM pg_database WHERE datname = 'postgres'",
    )
    .await;
    if has_postgres.is_empty() {
        run_pg(&mut c, "CREATE DATABASE postgres").await;
    }
    let roles = pg_texts(
        &mut c,
        "SELECT quote_ident(rolname) FROM pg_roles WHERE rolname <> 'postgres' AND rolname !~ '^pg_'",
    )
    .await;
    for role in roles {
        run_pg(&mut c, &format!("DROP ROLE {role}")).await;
    }
    if HBA.get().is_none() {
        require_passwords(&mut c).await;
        let _ = HBA.set(());
    }
    let _ = c.close().await;
}

/// Every role but the superuser must give its password (the throwaway server trusts everyone).
async fn require_passwords(c: &mut PgConnection) {
    let file = pg_texts(c, "SELECT setting FROM pg_settings WHERE name = 'hba_file'").await;
    let lines = [
        "local all all trust",
        "host all postgres 127.0.0.1/32 trust",
        "host all postgres ::1/128 trust",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ];
    let values: Vec<String> = lines.iter().map(|l| format!("('{l}')")).collect();
    let copy = format!(
        "COPY (SELECT line FROM (VALUES {}) v(line)) TO '{}'",
        values.join(", "),
        file[0]
    );
    run_pg(c, &copy).await;
    run_pg(c, "SELECT pg_reload_conf()").await;
    // The postmaster reloads asynchronously: wait until a wrong password is refused.
    run_pg(c, "CREATE ROLE offpeak_probe LOGIN PASSWORD 'right'").await;
    let port = c
        .fetch_one("SELECT current_setting('port')")
        .await
        .expect("read the port")
        .get::<String, _>(0);
    let probe = format!("postgres://offpeak_probe:wrong@127.0.0.1:{port}/template1");
    let mut refused = false;
    for _ in 0..100 {
        if PgConnection::connect(&probe).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    run_pg(c, "DROP ROLE offpeak_probe").await;
    assert!(refused, "the clone server still trusts every login");
}

async fn reset_mariadb(server: &DbServer) {
    let mut c = MySqlConnection::connect(server.url())
        .await
        .expect("connect to the clone server");
    let schemas = my_texts(
        &mut c,
        "SELECT CAST(CONCAT('`', REPLACE(SCHEMA_NAME, '`', '``'), '`') AS CHAR) \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME \
         NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')",
    )
    .await;
    for name in schemas {
        run_my(&mut c, &format!("DROP DATABASE {name}")).await;
    }
    let accounts = my_texts(
        &mut c,
        "SELECT CAST(CONCAT(QUOTE(User), '@', QUOTE(Host)) AS CHAR) FROM mysql.user \
         WHERE User NOT IN ('root', 'mariadb.sys', 'mysql', 'PUBLIC', '')",
    )
    .await;
    for account in accounts {
        run_my(&mut c, &format!("DROP USER {account}")).await;
    }
    let _ = c.close().await;
}

async fn exec(engine: Engine, url: &str, sql: &str) {
    match engine {
        Engine::Postgres => {
            let mut c = PgConnection::connect(url).await.expect("connect");
            run_pg(&mut c, sql).await;
            let _ = c.close().await;
        }
        Engine::MariaDb => {
            let mut c = MySqlConnection::connect(url).await.expect("connect");
            run_my(&mut c, sql).await;
            let _ = c.close().await;
        }
    }
}

async fn texts(engine: Engine, url: &str, sql: &str) -> Vec<String> {
    match engine {
        Engine::Postgres => {
            let mut c = PgConnection::connect(url).await.expect("connect");
            let out = pg_texts(&mut c, sql).await;
            let _ = c.close().await;
            out
        }
        Engine::MariaDb => {
            let mut c = MySqlConnection::connect(url).await.expect("connect");
            let out = my_texts(&mut c, sql).await;
            let _ = c.close().await;
            out
        }
    }
}

async fn run_pg(c: &mut PgConnection, sql: &str) {
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn run_my(c: &mut MySqlConnection, sql: &str) {
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn pg_texts(c: &mut PgConnection, sql: &str) -> Vec<String> {
    let rows = c
        .fetch_all(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

async fn my_texts(c: &mut MySqlConnection, sql: &str) -> Vec<String> {
    let rows = c
        .fetch_all(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

/// `url` with its user and password replaced.
pub fn with_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// `url` with its database replaced (no query string in the harness's URLs).
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    format!("{scheme}://{host}/{database}")
}
