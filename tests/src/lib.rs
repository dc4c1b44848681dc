//! Integration-test harness: real emulated AWS (moto server) and real PostgreSQL / MariaDB.
//!
//! - [`Moto`]: a private `moto_server` per test, killed on drop.
//! - [`pg_database`] / [`mariadb_database`]: a fresh, empty database per test, on the server named by
//!   `OFFPEAK_TEST_PG_URL` / `OFFPEAK_TEST_MYSQL_URL`, or else on a throwaway server started once per
//!   test process. [`throwaway_pg`] / [`throwaway_mariadb`] force the throwaway server.
//! - [`wire`]: an HTTP client below the SDK that records every request and injects AWS faults.
//! - [`node_groups`]: EKS clusters, node groups and Auto Scaling groups seeded as AWS has them.
//! - [`masking_support`]: a realistic schema to mask and readers of what is left (dump, statistics,
//!   data pages); [`masked_refresh_support`]: the masked refresh's world (moto, a clone server).
//!
//! Every piece fails loudly: a missing tool or server panics with what was tried and how to fix it.
//! Nothing is skipped, because a skipped integration test reads as a passing one. No server
//! outlives the test process, even when it crashes (see [`process`]).
//!
//! ```no_run
//! # async fn example() {
//! let moto = offpeak_tests::Moto::start().await;
//! let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
//! let db = offpeak_tests::pg_database().await;
//! let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
//! # }
//! ```

pub mod aurora;
pub mod bench_report;
pub mod database;
pub mod iam;
pub mod inbox;
pub mod mariadb;
pub mod masked_refresh_support;
pub mod masking_support;
pub mod moto;
pub mod node_groups;
pub mod postgres;
pub mod process;
pub mod runtime_api;
mod scratch;
pub mod server_log;
mod throwaway;
pub mod wire;

use std::path::PathBuf;

pub use database::{DbServer, Engine, TestDb};
pub use inbox::Inbox;
pub use mariadb::{
    mariadb_database, mariadb_server, throwaway_mariadb, throwaway_mariadb_for_clones,
};
pub use moto::Moto;
pub use postgres::{
    ServerTls, pg_database, pg_server, throwaway_pg, throwaway_pg_for_clones, throwaway_pg_with_tls,
};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The venv holding moto (`make venv`): `OFFPEAK_VENV` when set (make sets it, see
/// `OFFPEAK_VENV_DIR` in the Makefile), else the workspace's `.venv`.
pub fn venv() -> PathBuf {
    std::env::var_os("OFFPEAK_VENV")
        .filter(|v| !v.is_empty())
        .map_or_else(|| workspace_root().join(".venv"), PathBuf::from)
}
