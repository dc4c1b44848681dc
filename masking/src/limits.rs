//! How long one session of the masking engine may wait, derived from the invocation's deadline.
//!
//! A masked refresh runs inside a Lambda invocation that is killed at its timeout. Whatever the
//! database does, offpeak must get control back before then, and a session it can no longer
//! use must not keep holding the masking lock. So, while a deadline is set (see
//! [`crate::Db::bound_by`]), every statement is sent with these session settings renewed from
//! the time left:
//!
//! | setting | PostgreSQL | MariaDB | MySQL |
//! |---|---|---|---|
//! | a statement runs at most until the deadline | `statement_timeout` | `max_statement_time` | `max_execution_time` (SELECT only) |
//! | a lock is waited for at most [`LOCK_WAIT_MAX`] (or until the deadline) | `lock_timeout` | `lock_wait_timeout`, `innodb_lock_wait_timeout` | the same |
//! | an abandoned session is closed by the server after the deadline plus [`IDLE_GRACE`], releasing its locks | `idle_session_timeout` (14+), `idle_in_transaction_session_timeout` | `wait_timeout` | `wait_timeout` |
//!
//! A statement asked for after the deadline is not sent at all. Opening a session gives up
//! after [`CONNECT_TIMEOUT`] (a silent endpoint would otherwise hold the invocation until it
//! is killed). Without a deadline (`offpeak mask` run by a person) only the connect timeout
//! applies.

use std::time::{Duration, Instant};

use crate::dialect::Dialect;

/// The longest a session waits for the server to answer the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one statement waits for a lock another session holds.
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(60);
/// How long after the deadline the server closes a session nobody uses any more.
pub const IDLE_GRACE: Duration = Duration::from_secs(60);

/// The server flavour, as far as the settings differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// PostgreSQL, with `idle_session_timeout` (14 and later) or without.
    Postgres {
        idle_session_timeout: bool,
    },
    MariaDb,
    MySql,
}

impl Flavour {
    pub fn of(dialect: Dialect, mariadb: bool, pg_version_num: u32) -> Self {
        match (dialect, mariadb) {
            (Dialect::Postgres, _) => Flavour::Postgres {
                idle_session_timeout: pg_version_num >= 140_000,
            },
            (Dialect::MySql, true) => Flavour::MariaDb,
            (Dialect::MySql, false) => Flavour::MySql,
        }
    }
}

/// The SQL that bounds the session's next statement, or `None` once the deadline has passed.
/// PostgreSQL's is several statements in one simple query; MySQL's one `SET` of several variables.
pub fn session_bounds(flavour: Flavour, deadline: Instant, now: Instant) -> Option<String> {
    let left = deadline
        .checked_duration_since(now)
        .filter(|d| !d.is_zero())?;
    let statement_ms = left.as_millis().max(1);
    let lock = left.min(LOCK_WAIT_MAX);
    let idle = left + IDLE_GRACE;
    let sql = match flavour {
        Flavour::Postgres {
            idle_session_timeout,
        } => {
            let mut sql = format!(
                "SET statement_timeout = {statement_ms}; SET lock_timeout = {}; \
                 SET idle_in_transaction_session_timeout = {}",
                lock.as_millis().max(1),
                idle.as_millis()
            );
            if idle_session_timeout {
                sql += &format!("; SET idle_session_timeout = {}", idle.as_millis());
            }
            sql
        }
        Flavour::MariaDb | Flavour::MySql => {
            let statement = match flavour {
                Flavour::MariaDb => {
                    format!("max_statement_time = {:.3}", left.as_secs_f64().max(0.001))
                }
                _ => format!("max_execution_time = {statement_ms}"),
            };
            let lock_s = lock.as_secs().max(1);
            format!(
                "SET SESSION {statement}, SESSION lock_wait_timeout = {lock_s}, \
                 SESSION innodb_lock_wait_timeout = {lock_s}, SESSION wait_timeout = {}",
                idle.as_secs().max(1)
            )
        }
    };
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(deadline_in: Duration) -> (Instant, Instant) {
        let now = Instant::now();
        (now + deadline_in, now)
    }

    #[test]
    fn the_statement_may_run_until_the_deadline_and_wait_for_a_lock_at_most_a_minute() {
        let (deadline, now) = at(Duration::from_secs(300));
        let pg = Flavour::Postgres {
            idle_session_timeout: true,
        };
        assert_eq!(
            session_bounds(pg, deadline, now).unwrap(),
            "SET statement_timeout = 300000; SET lock_timeout = 60000; \
             SET idle_in_transaction_session_timeout = 360000; SET idle_session_timeout = 360000"
        );
        assert_eq!(
            session_bounds(Flavour::MariaDb, deadline, now).unwrap(),
            "SET SESSION max_statement_time = 300.000, SESSION lock_wait_timeout = 60, \
             SESSION innodb_lock_wait_timeout = 60, SESSION wait_timeout = 360"
        );
        assert!(
            session_bounds(Flavour::MySql, deadline, now)
                .unwrap()
                .starts_with("SET SESSION max_execution_time = 300000, ")
        );
    }

    #[test]
    fn near_the_deadline_the_lock_wait_shrinks_with_it() {
        let (deadline, now) = at(Duration::from_millis(2500));
        let pg = Flavour::Postgres {
            idle_session_timeout: false,
        };
        let sql = session_bounds(pg, deadline, now).unwrap();
        assert!(sql.contains("statement_timeout = 2500;"), "{sql}");
        assert!(sql.contains("lock_timeout = 2500;"), "{sql}");
        assert!(!sql.contains("idle_session_timeout"), "{sql}");
        let my = session_bounds(Flavour::MariaDb, deadline, now).unwrap();
        assert!(my.contains("max_statement_time = 2.500,"), "{my}");
        assert!(my.contains("lock_wait_timeout = 2,"), "{my}");
    }

    #[test]
    fn nothing_is_sent_once_the_deadline_has_passed() {
        let now = Instant::now();
        for flavour in [
            Flavour::MariaDb,
            Flavour::MySql,
            Flavour::Postgres {
                idle_session_timeout: true,
            },
        ] {
            assert_eq!(session_bounds(flavour, now, now), None);
            assert_eq!(
                session_bounds(flavour, now, now + Duration::from_secs(1)),
                None
            );
        }
    }

    #[test]
    fn the_flavour_follows_the_server() {
        assert_eq!(
            Flavour::of(Dialect::Postgres, false, 150_019),
            Flavour::Postgres {
                idle_session_timeout: true
            }
        );
        assert_eq!(
            Flavour::of(Dialect::Postgres, false, 130_020),
            Flavour::Postgres {
                idle_session_timeout: false
            }
        );
        assert_eq!(Flavour::of(Dialect::MySql, true, 0), Flavour::MariaDb);
        assert_eq!(Flavour::of(Dialect::MySql, false, 0), Flavour::MySql);
    }
}
