//! The RDS boundary both RDS functions stand on: one vocabulary, one SDK adapter, one fake.
//!
//! aurora-replicas and masked-refresh each keep their own narrow trait, the calls their IAM role
//! allows, and implement it on [`SdkRds`] (and, in unit tests, on [`fake::FakeRds`]). What the
//! two have in common lives here once:
//! - [`view`]: plain values for clusters, members, instances and tags, as a tick needs them.
//! - [`status`]: one status vocabulary: which `DBInstanceStatus` / cluster `Status` values mean
//!   serving, in flight, broken for good, or going away.
//! - [`RdsError`]: the AWS error code of a failed call, with the predicates a reconciler reads:
//!   "already exists" and "not found" (success, "state, not trigger") and "transient".
//! - [`SdkRds`]: describes with every page, tag conversion, and error classification.
//!
//! Guarantees of every implementation:
//! - Describes return every page (`MaxRecords` is 100 on AWS), tags included, so a tick never
//!   needs `ListTagsForResource`; identifiers come back lowercase, as RDS stores them.
//! - Failures come back after the SDK's own retries as an [`RdsError`] carrying the AWS error
//!   code, or the SDK's error kind for transport failures. An error never carries a parameter's
//!   value (a master password travels only in a request, never in an error).

mod error;
#[cfg(any(test, feature = "rds-fake"))]
pub mod fake;
mod sdk;
pub mod status;
pub mod view;

pub use error::RdsError;
pub use sdk::{SdkRds, done, sdk_tags};
pub use status::Health;
pub use view::{Cluster, ClusterMember, Instance, InstanceSettings, PerformanceInsights, Tag, tag};
