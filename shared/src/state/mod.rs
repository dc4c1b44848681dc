//! The state store: what offpeak remembers between ticks, one item per target.
//!
//! The table (`OFFPEAK_STATE_TABLE`, partition key `target`, a string) holds one item per target
//! id (`prod-aurora`, `dev-eks/app`, `masked-refresh/dev-aurora`, ...):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `target` | S | the target id (partition key) |
//! | `version` | N | starts at 1, +1 on every write: optimistic concurrency |
//! | `doc` | S | a JSON document owned by the function (last desired state, pre-sleep scaling, override, refresh runs) |
//! | `lease_holder`, `lease_until` | S, N (ms since epoch) | a per-target lease, independent of `version` |
//!
//! Guarantees:
//! - **No lost updates.** [`StateStore::put`] is conditional: with `expected_version: None` it
//!   creates the document only if the target has none; with `Some(v)` it writes only if the stored
//!   version is still `v`. Losing that race is the value [`PutOutcome::Conflict`], not an error:
//!   the caller re-reads and decides again. This is how pre-sleep scaling is "written once, never
//!   overwritten while asleep": a tick saves it only when the document it read holds none, and a
//!   racing tick that saved first makes the write a `Conflict`.
//! - **One read per tick.** [`StateStore::get_many`] reads every target a tick needs with one
//!   `BatchGetItem` per 100 keys (consistent reads), retrying only the keys DynamoDB returns as
//!   unprocessed.
//! - **Leases** ([`StateStore::try_lease`]) are granted when free, expired (`until <= now`) or
//!   already held by the same holder (renewal). Time is always passed in; the store never reads
//!   the clock. A lease on a target with no document leaves an item without `version`, which
//!   reads as "no record".
//! - Deleting an absent target is success (state, not trigger); deleting a target also frees its
//!   lease.
//! - **One claim protocol.** Every function claims a target before changing it with [`claim()`]:
//!   one conditional write ([`StateStore::claim_write`]) takes the lease and checks the version
//!   together, so two live ticks are kept apart and a tick that planned from stale state stands
//!   aside (see the `claim` module). A change to a target's document alone is *settled*
//!   ([`settle()`]): the same write with a lease that ends at once, so it takes none.
//! - **Leases given back together.** [`StateStore::release_leases`] gives back up to
//!   [`MAX_RELEASES_PER_WRITE`] leases in one all-or-nothing write (`TransactWriteItems`);
//!   [`release_all()`] falls back to one release per lease when that write does not go through.
//!
//! Failure behaviour: every AWS failure is a [`StateError`] naming the operation, the table and the
//! target, with the SDK error kept as its source. Nothing is retried here beyond the SDK's own
//! retries and the unprocessed-keys loop of `get_many`.
//!
//! [`DynamoStateStore`] is the real store; [`MemoryStateStore`] is an in-memory fake with the same
//! contract, for whole-flow unit tests, and [`HookedStore`] one whose writes a test can intercept.

mod claim;
mod dynamo;
mod hooked;
mod item;
mod memory;
pub mod registry;

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

pub use claim::{
    Aside, Claim, Claimed, Holder, Settled, StoodAside, Unreleased, claim, claim_with, release_all,
    settle,
};
pub use dynamo::DynamoStateStore;
pub use hooked::{HookedStore, OnWrite};
pub use memory::MemoryStateStore;

/// What is stored for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub target: String,
    /// Pass this as `expected_version` to update or delete the record.
    pub version: u64,
    /// The function's JSON document.
    pub doc: serde_json::Value,
    /// The lease on the target, if one was ever taken and not released (it may have expired).
    pub lease: Option<Lease>,
}

/// A per-target lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

impl Lease {
    /// True while the lease holds at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written; the record now has this version.
    Written { version: u64 },
    /// Someone else wrote first (or the record was absent/present against expectations).
    Conflict,
}

/// The result of a conditional delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The record is gone (or was already absent).
    Deleted,
    /// The record exists with another version.
    Conflict,
}

/// One [`StateStore::claim_write`]: `holder` claims `target` at the clock's `now` for `ttl`,
/// against the version it planned from, writing `doc` as the next version when given.
///
/// A `ttl` of zero (or less) asks for a lease that ends at `now`, which is no lease: the write
/// then takes none, and removes the one stored (it can only be expired, or `holder`'s own).
#[derive(Debug, Clone, Copy)]
pub struct ClaimWrite<'a> {
    pub target: &'a str,
    pub holder: &'a str,
    /// The version the claim was planned from (`None`: no document).
    pub expected_version: Option<u64>,
    pub doc: Option<&'a serde_json::Value>,
    pub now: DateTime<Utc>,
    pub ttl: chrono::Duration,
}

/// TransactWriteItems takes at most this many actions (the AWS API reference).
pub const MAX_RELEASES_PER_WRITE: usize = 100;

/// [`ClaimWrite`]'s fields, in order: what a store's implementation reads.
type ClaimParts<'a> = (
    &'a str,
    &'a str,
    Option<u64>,
    Option<&'a serde_json::Value>,
    DateTime<Utc>,
    chrono::Duration,
);

impl<'a> ClaimWrite<'a> {
    fn parts(&self) -> ClaimParts<'a> {
        let c = *self;
        (c.target, c.holder, c.expected_version, c.doc, c.now, c.ttl)
    }
}

/// The result of [`StateStore::claim_write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The holder has the lease, and the target's state is at `version` (`None`: no document):
    /// the expected version, or the one the write carried with it created.
    Claimed { version: Option<u64> },
    /// Another holder's lease is still active.
    Leased,
    /// The stored version is not the expected one.
    Moved,
}

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "no state table configured: set OFFPEAK_STATE_TABLE (the stack sets it; locally run `offpeak state init`)"
    )]
    NotConfigured,
    #[error("describe state table {table} failed")]
    DescribeTable {
        table: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("create state table {table} failed")]
    CreateTable {
        table: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error(
        "state table {table} is still {status} after {waited_secs}s; check it in the DynamoDB console"
    )]
    TableNotActive {
        table: String,
        status: String,
        waited_secs: u64,
    },
    #[error("read the state of {count} target(s) from table {table} failed")]
    GetMany {
        table: String,
        count: usize,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error(
        "read state from table {table}: {remaining} key(s) still unprocessed after {attempts} attempts (throttled); the next tick retries"
    )]
    Unprocessed {
        table: String,
        remaining: usize,
        attempts: u32,
    },
    #[error("write state of target {target} to table {table} failed")]
    Put {
        table: String,
        target: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("delete state of target {target} from table {table} failed")]
    Delete {
        table: String,
        target: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("claim target {target} in table {table} failed")]
    Claim {
        table: String,
        target: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("release lease on target {target} in table {table} failed")]
    ReleaseLease {
        table: String,
        target: String,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("release {count} lease(s) together in table {table} failed")]
    ReleaseLeases {
        table: String,
        count: usize,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("state of target {target} in table {table} is malformed: {problem}")]
    Malformed {
        table: String,
        target: String,
        problem: &'static str,
    },
    #[error("state document of target {target} in table {table} is not valid JSON")]
    DocNotJson {
        table: String,
        target: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("state document of target {target} does not have the expected shape")]
    DocShape {
        target: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "state of target {target} kept changing under {attempts} attempts to update it; the next tick retries"
    )]
    Contended { target: String, attempts: u32 },
    #[error("build a dynamodb request for table {table} failed")]
    BuildRequest {
        table: String,
        #[source]
        source: aws_sdk_dynamodb::error::BuildError,
    },
}

impl Record {
    /// Deserialises the document into the function's own type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, StateError> {
        serde_json::from_value(self.doc.clone()).map_err(|source| StateError::DocShape {
            target: self.target.clone(),
            source,
        })
    }
}

/// The state store contract, implemented by [`DynamoStateStore`] and [`MemoryStateStore`].
pub trait StateStore: Send + Sync {
    /// Reads the records of `targets` (duplicates allowed); absent targets are absent from the map.
    fn get_many<T: AsRef<str> + Sync>(
        &self,
        targets: &[T],
    ) -> impl Future<Output = Result<HashMap<String, Record>, StateError>> + Send;

    /// Creates (`expected_version: None`) or updates (`Some(current)`) the document of `target`.
    fn put(
        &self,
        target: &str,
        doc: &serde_json::Value,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<PutOutcome, StateError>> + Send;

    /// Deletes the record of `target` if its version is still `expected_version`.
    fn delete(
        &self,
        target: &str,
        expected_version: u64,
    ) -> impl Future<Output = Result<DeleteOutcome, StateError>> + Send;

    /// Takes (or renews) the lease on `target` for `holder` until `now + ttl`, whatever its
    /// version; false if another holder's lease is still active at `now`. A [`claim_write`]
    /// without a document against the version just read; read again once if the version moved
    /// in between, and false if it moved again.
    ///
    /// [`claim_write`]: StateStore::claim_write
    fn try_lease(
        &self,
        target: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> impl Future<Output = Result<bool, StateError>> + Send {
        async move {
            for _ in 0..2 {
                let stored = self.get_many(&[target]).await?;
                let claim = ClaimWrite {
                    target,
                    holder,
                    expected_version: stored.get(target).map(|r| r.version),
                    doc: None,
                    now,
                    ttl,
                };
                match self.claim_write(&claim).await? {
                    ClaimOutcome::Claimed { .. } => return Ok(true),
                    ClaimOutcome::Leased => return Ok(false),
                    ClaimOutcome::Moved => {}
                }
            }
            Ok(false)
        }
    }

    /// Claims `target` for `holder` in one conditional write: takes (or renews) its lease until
    /// `now + ttl` and, when `doc` is given, writes it as the next version — only if the stored
    /// version is still `expected_version` (`None`: no document) and no other holder's lease is
    /// active at `now`. Nothing is written otherwise; a moved version is reported before a held
    /// lease when both hold. With a `ttl` of zero the write takes no lease and leaves none.
    fn claim_write(
        &self,
        claim: &ClaimWrite<'_>,
    ) -> impl Future<Output = Result<ClaimOutcome, StateError>> + Send;

    /// Releases `holder`'s lease on `target`; false if `holder` did not hold it.
    fn release_lease(
        &self,
        target: &str,
        holder: &str,
    ) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// Releases the leases `(target, holder)` (distinct targets, at most
    /// [`MAX_RELEASES_PER_WRITE`]) in one all-or-nothing write: true when every one was its
    /// holder's and all are released; false when the write was refused as a whole (a lease no
    /// longer its holder's, a concurrent write to one of the targets), and then none is.
    fn release_leases(
        &self,
        leases: &[(&str, &str)],
    ) -> impl Future<Output = Result<bool, StateError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lease_is_active_strictly_before_until() {
        let until = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let lease = Lease {
            holder: "h".into(),
            until,
        };
        assert!(lease.is_active(until - chrono::Duration::milliseconds(1)));
        assert!(!lease.is_active(until));
    }

    #[test]
    fn decode_reports_the_target_on_shape_errors() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            replicas: u32,
        }
        let record = Record {
            target: "prod-aurora".into(),
            version: 1,
            doc: serde_json::json!({"replicas": "two"}),
            lease: None,
        };
        let err = record.decode::<Doc>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "state document of target prod-aurora does not have the expected shape"
        );
        let ok = Record {
            doc: serde_json::json!({"replicas": 2}),
            ..record
        };
        assert_eq!(ok.decode::<Doc>().unwrap().replicas, 2);
    }
}
