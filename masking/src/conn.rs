//! One dedicated connection to the database being masked, for either engine.
//!
//! Guarantees:
//! - A single session does all the work, so its settings hold throughout: UTC time zone, ISO
//!   dates, row-level security off (PostgreSQL: a policy makes a statement fail rather than
//!   silently skip rows), strict SQL mode and `NO_BACKSLASH_ESCAPES` (MySQL), and the key blocks
//!   as session state, loaded so that no statement or bind parameter the server may log holds
//!   them (see [`crate::key_transport`]).
//! - TLS: [`Db::connect_verified`] always checks the server's certificate and host name against
//!   the given authorities (the masked refresh's connection to the clone). [`Db::connect`] honours
//!   the URL's own settings (`sslmode=verify-full&sslrootcert=...` for PostgreSQL,
//!   `ssl-mode=VERIFY_IDENTITY&ssl-ca=...` for MySQL); when the URL says nothing and the host is
//!   not loopback, TLS is required.
//! - Time: opening a session gives up after [`limits::CONNECT_TIMEOUT`]; once [`Db::bound_by`]
//!   set a deadline, every statement runs bounded by the time left and none is sent after it,
//!   and a session abandoned by a killed invocation is closed by the server (see [`limits`]).
//! - Every failure is a scrubbed [`DbError`]: no server message, no value, no URL.

use std::str::FromStr;
use std::time::Instant;

use sqlx::mysql::{MySqlConnectOptions, MySqlRow, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgRow, PgSslMode};
use sqlx::{Connection, MySqlConnection, PgConnection, Row};

use super::dialect::{Dialect, PG_IPAD, PG_IPAD_FN, PG_OPAD, PG_OPAD_FN};
use super::key::MaskingKey;
use super::key_transport;
use super::limits::{self, Flavour};
use super::scrub::DbError;

/// A bind parameter.
#[derive(Clone, Debug)]
pub enum Param {
    Text(Option<String>),
    Int(i64),
    Bytes(Vec<u8>),
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Rows read back as text (every query selects text columns).
pub type Rows = Vec<Vec<Option<String>>>;

enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
}

/// Where to open more sessions to the database being masked, with the same TLS rules as the
/// first: `roots` set means [`Db::connect_verified`], else [`Db::connect`].
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    pub url: &'a str,
    pub roots: Option<&'a [u8]>,
}

impl<'a> Endpoint<'a> {
    /// A URL whose own parameters decide TLS.
    pub fn new(url: &'a str) -> Self {
        Self { url, roots: None }
    }

    pub async fn connect(&self) -> Result<Db, DbError> {
        Db::open(self.url, self.roots).await
    }
}

impl std::fmt::Debug for Endpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Endpoint(<redacted>)")
    }
}

/// The session offpeak masks and verifies through.
pub struct Db {
    conn: Conn,
    pub dialect: Dialect,
    /// MariaDB rather than MySQL (only meaningful for [`Dialect::MySql`]).
    pub mariadb: bool,
    /// The deadline every statement is bounded by, and the server flavour it is set for.
    bounds: Option<(Instant, Flavour)>,
}

impl Db {
    /// Connects by URL scheme (`postgres://`/`postgresql://` or `mysql://`/`mariadb://`), with
    /// the URL's own TLS settings (TLS required for a non-loopback host that names none).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        Self::open(url, None).await
    }

    /// Connects over TLS, checking the server's certificate chain against `roots` (PEM) and its
    /// name against the URL's host, whatever the URL says: PostgreSQL `verify-full`, MySQL
    /// `VERIFY_IDENTITY`. A server that offers no TLS or an unexpected certificate is refused.
    pub async fn connect_verified(url: &str, roots: &[u8]) -> Result<Db, DbError> {
        Self::open(url, Some(roots)).await
    }

    async fn open(url: &str, roots: Option<&[u8]>) -> Result<Db, DbError> {
        let during = "connecting to the database";
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts =
                PgConnectOptions::from_str(url).map_err(|e| DbError::scrub(e, during))?;
            if let Some(roots) = roots {
                opts = opts
                    .ssl_mode(PgSslMode::VerifyFull)
                    .ssl_root_cert_from_pem(roots.to_vec());
            } else if !has_param(url, "sslmode") && !is_loopback(opts.get_host()) {
                opts = opts.ssl_mode(PgSslMode::Require);
            }
            let conn = within_connect_timeout(PgConnection::connect_with(&opts), during).await?;
            return Ok(Db {
                conn: Conn::Pg(conn),
                dialect: Dialect::Postgres,
                mariadb: false,
                bounds: None,
            });
        }
        let url = url.replacen("mariadb://", "mysql://", 1);
        if !url.starts_with("mysql://") {
            return Err(DbError::other(
                during,
                "unsupported URL scheme (use postgres:// or mysql://)",
            ));
        }
        let mut opts =
            MySqlConnectOptions::from_str(&url).map_err(|e| DbError::scrub(e, during))?;
        if let Some(roots) = roots {
            opts = opts
                .ssl_mode(MySqlSslMode::VerifyIdentity)
                .ssl_ca_from_pem(roots.to_vec());
        } else if !has_param(&url, "ssl-mode") && !is_loopback(opts.get_host()) {
            opts = opts.ssl_mode(MySqlSslMode::Required);
        }
        let conn = within_connect_timeout(MySqlConnection::connect_with(&opts), during).await?;
        let mut db = Db {
            conn: Conn::My(conn),
            dialect: Dialect::MySql,
            mariadb: false,
            bounds: None,
        };
        let version = db
            .value("reading the server version", "SELECT VERSION()", &[])
            .await?;
        db.mariadb = version.unwrap_or_default().contains("MariaDB");
        Ok(db)
    }

    /// Session settings and key material; see the module guarantees.
    pub async fn prepare_session(&mut self, key: &MaskingKey) -> Result<(), DbError> {
        let during = "preparing the session";
        match self.dialect {
            Dialect::Postgres => {
                for sql in [
                    "SET TIME ZONE 'UTC'",
                    "SET DateStyle = 'ISO, YMD'",
                    "SET row_security = off",
                    "SET statement_timeout = 0",
                    "SET client_min_messages = warning",
                    // The catalog queries' row estimates are far above JIT's cost thresholds, so
                    // each one would be compiled with inlining and optimisation: the swap's
                    // eligibility query took 4.7 s with JIT and under 0.2 s without (PostgreSQL
                    // 15, 2 cores). Masking statements work range by range and gain nothing.
                    "SET jit = off",
                ] {
                    self.execute(during, sql, &[]).await?;
                }
                key_transport::load_postgres(self, key).await?;
                for (function, setting) in [(PG_IPAD_FN, PG_IPAD), (PG_OPAD_FN, PG_OPAD)] {
                    let create = format!(
                        "CREATE OR REPLACE FUNCTION {function} RETURNS bytea LANGUAGE sql IMMUTABLE \
                         AS $$ SELECT decode(current_setting('{setting}'), 'hex') $$"
                    );
                    self.execute(during, &create, &[]).await?;
                }
            }
            Dialect::MySql => {
                self.execute(during, "SET time_zone = '+00:00'", &[])
                    .await?;
                let mode = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION'";
                self.execute(during, mode, &[]).await?;
                key_transport::load_mysql(self, key).await?;
            }
        }
        Ok(())
    }

    /// Makes every later transaction of this session read-only, so the server itself refuses
    /// any write it is sent (the daily rules check on production). PostgreSQL:
    /// `default_transaction_read_only`; MySQL/MariaDB: `SET SESSION TRANSACTION READ ONLY`,
    /// which also covers autocommitted statements.
    pub async fn read_only(&mut self) -> Result<(), DbError> {
        let sql = match self.dialect {
            Dialect::Postgres => "SET default_transaction_read_only = on",
            Dialect::MySql => "SET SESSION TRANSACTION READ ONLY",
        };
        self.execute("making the session read-only", sql, &[])
            .await
            .map(|_| ())
    }

    /// MySQL: keeps this session's changes out of the binary log, whose row images would
    /// otherwise carry the original values. Fails when binary logging is on and cannot be
    /// turned off for the session.
    pub async fn binlog_off(&mut self) -> Result<(), DbError> {
        if self.dialect != Dialect::MySql {
            return Ok(());
        }
        let during = "turning the binary log off for the session";
        if self
            .execute(during, "SET SESSION sql_log_bin = 0", &[])
            .await
            .is_ok()
        {
            return Ok(());
        }
        let on = self
            .value(during, "SELECT CAST(@@log_bin AS CHAR)", &[])
            .await?;
        match on.as_deref() {
            Some("0") | Some("OFF") => Ok(()),
            _ => Err(DbError::other(
                during,
                "binary logging is on and this user may not turn it off",
            )),
        }
    }

    /// Bounds every later statement of this session by `deadline` (see [`limits`]); `None`
    /// lifts the bound.
    pub async fn bound_by(&mut self, deadline: Option<Instant>) -> Result<(), DbError> {
        let Some(deadline) = deadline else {
            self.bounds = None;
            return Ok(());
        };
        let version = match self.dialect {
            Dialect::Postgres => {
                self.value("reading the server version", "SHOW server_version_num", &[])
                    .await?
            }
            Dialect::MySql => None,
        };
        let version = version.and_then(|v| v.parse().ok()).unwrap_or(0);
        self.bounds = Some((deadline, Flavour::of(self.dialect, self.mariadb, version)));
        Ok(())
    }

    /// Renews the session's time bounds before a statement; refuses it after the deadline.
    async fn renew_bounds(&mut self, during: &str) -> Result<(), DbError> {
        let Some((deadline, flavour)) = self.bounds else {
            return Ok(());
        };
        let Some(sql) = limits::session_bounds(flavour, deadline, Instant::now()) else {
            return Err(DbError::time_up(during));
        };
        let scrub = |e| DbError::scrub(e, during);
        match &mut self.conn {
            Conn::Pg(c) => sqlx::Executor::execute(&mut *c, sql.as_str())
                .await
                .map(drop),
            Conn::My(c) => sqlx::Executor::execute(&mut *c, sql.as_str())
                .await
                .map(drop),
        }
        .map_err(scrub)
    }

    /// Takes the run lock so two runs never mask the same database at once.
    pub async fn lock(&mut self) -> Result<(), DbError> {
        let during = "taking the masking lock";
        let sql = match self.dialect {
            Dialect::Postgres => "SELECT pg_try_advisory_lock(hashtext('offpeak_masking'))::text",
            Dialect::MySql => {
                "SELECT CAST(GET_LOCK(CONCAT('offpeak_masking_', DATABASE()), 0) AS CHAR)"
            }
        };
        match self.value(during, sql, &[]).await?.as_deref() {
            Some("true") | Some("1") => Ok(()),
            _ => Err(DbError::other(during, "another masking run holds the lock")),
        }
    }

    /// Runs a statement; returns the number of rows it affected.
    ///
    /// Boxed as `Send` here, where the connection's lifetime is concrete: callers' futures then
    /// stay `Send` (a Lambda handler or `tokio::spawn` needs that), which sqlx's higher-ranked
    /// executor bounds would otherwise keep the compiler from proving.
    pub fn execute<'a>(
        &'a mut self,
        during: &'a str,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, Result<u64, DbError>> {
        Box::pin(async move {
            if !ends_transaction(sql) {
                self.renew_bounds(during).await?;
            }
            let scrub = |e| DbError::scrub(e, during);
            let result = match &mut self.conn {
                Conn::Pg(c) if params.is_empty() => sqlx::Executor::execute(&mut *c, sql)
                    .await
                    .map(|r| r.rows_affected()),
                Conn::My(c) if params.is_empty() => sqlx::Executor::execute(&mut *c, sql)
                    .await
                    .map(|r| r.rows_affected()),
                Conn::Pg(c) => with_params(sql, params)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected()),
                Conn::My(c) => with_params(sql, params)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected()),
            };
            result.map_err(scrub)
        })
    }

    /// PostgreSQL: runs `COPY ... FROM STDIN` (`sql`) with `data` as its input; returns the
    /// number of rows copied. The data travels in the copy protocol, which no server log records.
    pub async fn copy_in(&mut self, during: &str, sql: &str, data: &[u8]) -> Result<u64, DbError> {
        if self.dialect != Dialect::Postgres {
            return Err(DbError::other(during, "COPY FROM STDIN is PostgreSQL only"));
        }
        self.renew_bounds(during).await?;
        let Conn::Pg(c) = &mut self.conn else {
            return Err(DbError::other(during, "COPY FROM STDIN is PostgreSQL only"));
        };
        let scrub = |e| DbError::scrub(e, during);
        let mut copy = c.copy_in_raw(sql).await.map_err(scrub)?;
        if let Err(e) = copy.send(data).await {
            let _ = copy.abort("offpeak: sending the copy data failed").await;
            return Err(scrub(e));
        }
        copy.finish().await.map_err(scrub)
    }

    /// Runs a query whose columns are all text (or NULL).
    pub fn rows<'a>(
        &'a mut self,
        during: &'a str,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, Result<Rows, DbError>> {
        Box::pin(async move {
            self.renew_bounds(during).await?;
            let scrub = |e| DbError::scrub(e, during);
            match &mut self.conn {
                Conn::Pg(c) => {
                    let rows = with_params(sql, params)
                        .fetch_all(&mut *c)
                        .await
                        .map_err(scrub)?;
                    rows.iter()
                        .map(pg_texts)
                        .collect::<Result<_, _>>()
                        .map_err(scrub)
                }
                Conn::My(c) => {
                    let rows = with_params(sql, params)
                        .fetch_all(&mut *c)
                        .await
                        .map_err(scrub)?;
                    Ok(rows.iter().map(my_texts).collect())
                }
            }
        })
    }

    /// The first column of the first row, if any.
    pub async fn value(
        &mut self,
        during: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<String>, DbError> {
        let rows = self.rows(during, sql, params).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten())
    }

    /// A count read back as a number.
    pub async fn count(
        &mut self,
        during: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<i64, DbError> {
        let text = self.value(during, sql, params).await?;
        Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
    }

    /// Runs `statements` in one transaction; rolls back on the first failure.
    pub async fn transaction(
        &mut self,
        during: &str,
        statements: &[(String, Vec<Param>)],
    ) -> Result<Vec<u64>, DbError> {
        let begin = match self.dialect {
            Dialect::Postgres => "BEGIN",
            Dialect::MySql => "START TRANSACTION",
        };
        self.execute(during, begin, &[]).await?;
        let mut affected = Vec::with_capacity(statements.len());
        for (sql, params) in statements {
            match self.execute(during, sql, params).await {
                Ok(n) => affected.push(n),
                Err(e) => {
                    let _ = self.execute(during, "ROLLBACK", &[]).await;
                    return Err(e);
                }
            }
        }
        self.execute(during, "COMMIT", &[]).await?;
        Ok(affected)
    }

    /// Closes the session (releasing its locks).
    pub async fn close(self) {
        let _ = match self.conn {
            Conn::Pg(c) => c.close().await,
            Conn::My(c) => c.close().await,
        };
    }
}

/// `COMMIT` and `ROLLBACK` are always sent, deadline or not: ending a transaction is quick, and
/// in an aborted PostgreSQL transaction the bounds' `SET` would itself be refused.
fn ends_transaction(sql: &str) -> bool {
    let word = sql.split_whitespace().next().unwrap_or("");
    word.eq_ignore_ascii_case("COMMIT") || word.eq_ignore_ascii_case("ROLLBACK")
}

/// Opens a connection, giving up after [`limits::CONNECT_TIMEOUT`].
async fn within_connect_timeout<C>(
    connect: impl std::future::Future<Output = Result<C, sqlx::Error>>,
    during: &str,
) -> Result<C, DbError> {
    match tokio::time::timeout(limits::CONNECT_TIMEOUT, connect).await {
        Ok(result) => result.map_err(|e| DbError::scrub(e, during)),
        Err(_) => Err(DbError::no_answer(during)),
    }
}

/// `sql` with `params` bound in order, on either engine.
fn with_params<'q, DB: sqlx::Database>(
    sql: &'q str,
    params: &[Param],
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::query(sql);
    for p in params {
        q = match p.clone() {
            Param::Text(t) => q.bind(t),
            Param::Int(i) => q.bind(i),
            Param::Bytes(b) => q.bind(b),
        };
    }
    q
}

fn pg_texts(row: &PgRow) -> Result<Vec<Option<String>>, sqlx::Error> {
    (0..row.len())
        .map(|i| row.try_get::<Option<String>, _>(i))
        .collect()
}

/// information_schema columns come back as text or as binary depending on server and version.
fn my_texts(row: &MySqlRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| match row.try_get::<Option<String>, _>(i) {
            Ok(v) => v,
            Err(_) => row
                .try_get::<Option<Vec<u8>>, _>(i)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
        })
        .collect()
}

fn has_param(url: &str, name: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some(name))
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1" || host.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_left_to_the_url_when_it_says_so() {
        assert!(has_param(
            "postgres://h/db?sslmode=verify-full&sslrootcert=/ca.pem",
            "sslmode"
        ));
        assert!(!has_param("postgres://h/db?application_name=x", "sslmode"));
        assert!(is_loopback("127.0.0.1") && !is_loopback("db.cluster-x.rds.amazonaws.com"));
    }

    #[test]
    fn ending_a_transaction_is_never_held_back() {
        for sql in ["COMMIT", " rollback", "ROLLBACK TO SAVEPOINT s"] {
            assert!(ends_transaction(sql), "{sql}");
        }
        for sql in [
            "BEGIN",
            "UPDATE t SET committed = true",
            "SELECT 'COMMIT'",
            "",
        ] {
            assert!(!ends_transaction(sql), "{sql}");
        }
    }
}
