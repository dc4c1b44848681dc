//! Database errors with the values taken out.
//!
//! A server's error text can quote data: a duplicate-key message repeats the key, a cast error
//! repeats the text it could not cast. [`DbError`] therefore keeps only what cannot hold
//! personal data: what offpeak was doing (which names a table or column), the SQLSTATE, the
//! server's error number, and the constraint's name. The original message is dropped at the
//! boundary, so no later `Display`, log line or report can leak it.

use std::fmt;

/// SQLSTATE of a statement cancelled by `statement_timeout` (PostgreSQL `query_canceled`).
const PG_QUERY_CANCELED: &str = "57014";
/// SQLSTATE of a lock not granted within `lock_timeout` (`lock_not_available`).
const PG_LOCK_NOT_AVAILABLE: &str = "55P03";
/// MariaDB `ER_STATEMENT_TIMEOUT`: `max_statement_time` reached.
const MARIADB_STATEMENT_TIMEOUT: u16 = 1969;
/// `ER_LOCK_WAIT_TIMEOUT`: `innodb_lock_wait_timeout` / `lock_wait_timeout` reached.
const MYSQL_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// MySQL `ER_QUERY_TIMEOUT`: `max_execution_time` reached.
const MYSQL_QUERY_TIMEOUT: u16 = 3024;
const TIME_UP: &str = "the invocation's time is up: statement not sent";
const NO_ANSWER: &str = "the server did not answer within";

/// A scrubbed database failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// What was being done, e.g. "masking table users" (names only, never values).
    pub during: String,
    /// SQLSTATE (PostgreSQL, MySQL) when the server sent one.
    pub code: Option<String>,
    /// MySQL/MariaDB error number.
    pub number: Option<u16>,
    /// Constraint involved, when the server names one.
    pub constraint: Option<String>,
    /// For failures that are not server errors: a fixed description of their kind.
    pub kind: String,
}

impl DbError {
    /// Keeps the safe parts of `err`; `during` names the operation.
    pub fn scrub(err: sqlx::Error, during: impl Into<String>) -> DbError {
        let mut out = DbError {
            during: during.into(),
            code: None,
            number: None,
            constraint: None,
            kind: kind(&err),
        };
        if let sqlx::Error::Database(db) = &err {
            out.code = db.code().map(|c| c.into_owned());
            out.constraint = db.constraint().map(str::to_owned);
            out.number = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|e| e.number());
        }
        out
    }

    /// The session's deadline passed before a statement could be sent (see [`crate::limits`]).
    pub fn time_up(during: impl Into<String>) -> DbError {
        DbError::other(during, TIME_UP)
    }

    /// The server did not answer the connection within [`crate::limits::CONNECT_TIMEOUT`].
    pub fn no_answer(during: impl Into<String>) -> DbError {
        let within = crate::limits::CONNECT_TIMEOUT.as_secs();
        DbError::other(during, format!("{NO_ANSWER} {within} s"))
    }

    /// The failure is time running out, not the data or the rules: a statement cancelled by
    /// its timeout, a lock not granted in time, the deadline reached, a silent server. Trying
    /// again later can succeed.
    pub fn is_timeout(&self) -> bool {
        let by_code = matches!(
            self.code.as_deref(),
            Some(PG_QUERY_CANCELED | PG_LOCK_NOT_AVAILABLE)
        );
        let by_number = matches!(
            self.number,
            Some(MARIADB_STATEMENT_TIMEOUT | MYSQL_LOCK_WAIT_TIMEOUT | MYSQL_QUERY_TIMEOUT)
        );
        by_code || by_number || self.kind == TIME_UP || self.kind.starts_with(NO_ANSWER)
    }

    /// A failure that did not come from the driver (e.g. a check offpeak made itself).
    pub fn other(during: impl Into<String>, kind: impl Into<String>) -> DbError {
        DbError {
            during: during.into(),
            code: None,
            number: None,
            constraint: None,
            kind: kind.into(),
        }
    }
}

/// A description of the error's kind that never includes server text or values.
fn kind(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => "unique violation".into(),
            sqlx::error::ErrorKind::ForeignKeyViolation => "foreign key violation".into(),
            sqlx::error::ErrorKind::NotNullViolation => "not-null violation".into(),
            sqlx::error::ErrorKind::CheckViolation => "check violation".into(),
            _ => "server error".into(),
        },
        // I/O and TLS errors describe the connection, not the data.
        sqlx::Error::Io(e) => match certificate_refused(e) {
            Some(why) => format!("tls error: {why}"),
            None => format!("i/o error ({})", e.kind()),
        },
        sqlx::Error::Tls(e) => format!("tls error: {e}"),
        sqlx::Error::PoolTimedOut => "connection timed out".into(),
        // Configuration errors can quote the URL, password included.
        sqlx::Error::Configuration(_) => "invalid database URL or options".into(),
        sqlx::Error::Protocol(_) => "protocol error".into(),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode error".into(),
        _ => "driver error".into(),
    }
}

/// A TLS handshake that failed on the server's certificate (rustls reports it as invalid data):
/// its reason names the certificate problem, never connection data.
fn certificate_refused(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?.to_string();
    inner
        .starts_with("invalid peer certificate")
        .then_some(inner)
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database {} while {}", self.kind, self.during)?;
        if let Some(code) = &self.code {
            write!(f, " (SQLSTATE {code}")?;
            if let Some(n) = self.number {
                write!(f, ", error {n}")?;
            }
            f.write_str(")")?;
        }
        if let Some(c) = &self.constraint {
            write!(f, " on constraint {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_operation_and_codes_only() {
        let e = DbError {
            during: "masking table users".into(),
            code: Some("23505".into()),
            number: Some(1062),
            constraint: Some("users_email_key".into()),
            kind: "unique violation".into(),
        };
        assert_eq!(
            e.to_string(),
            "database unique violation while masking table users (SQLSTATE 23505, error 1062) on constraint users_email_key"
        );
    }

    #[test]
    fn timeouts_are_told_from_other_failures() {
        let server = |code: Option<&str>, number: Option<u16>| DbError {
            code: code.map(str::to_owned),
            number,
            ..DbError::other("masking table users", "server error")
        };
        for timeout in [
            server(Some("57014"), None),
            server(Some("55P03"), None),
            server(Some("70100"), Some(1969)),
            server(Some("HY000"), Some(1205)),
            server(Some("HY000"), Some(3024)),
            DbError::time_up("masking table users"),
            DbError::no_answer("connecting"),
        ] {
            assert!(timeout.is_timeout(), "{timeout}");
        }
        for other in [
            server(Some("23505"), Some(1062)),
            server(Some("40P01"), None),
            DbError::other("connecting", "i/o error (connection refused)"),
        ] {
            assert!(!other.is_timeout(), "{other}");
        }
        assert_eq!(
            DbError::no_answer("connecting").kind,
            "the server did not answer within 10 s"
        );
    }

    #[test]
    fn configuration_errors_do_not_repeat_the_url() {
        let err = sqlx::Error::Configuration("postgres://u:hunter2@h/db is bad".into());
        let e = DbError::scrub(err, "connecting");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
