//! [`TickError`]: every way a tick, or one of its actions, can fail.
//!
//! Variants are named by the operation that failed and name the ids involved; the cause is kept
//! as the error's source. Messages carry ids and AWS error codes only, never data.

use offpeak_shared::error_kind::ErrorKind;
use offpeak_shared::event::{EventError, OverrideEndError};
use offpeak_shared::state::StateError;

use crate::rds::RdsError;
pub use offpeak_shared::error_chain::chain;

/// Why a tick (or one action of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("invalid invocation event for aurora-replicas")]
    Event(#[from] EventError),
    #[error(
        "override target {target} is not an Aurora cluster of the schedule; aurora targets are: {known}"
    )]
    UnknownOverrideTarget { target: String, known: String },
    #[error(transparent)]
    OverrideEnd(#[from] OverrideEndError),
    #[error(
        "override of {cluster} to {requested} offpeak replicas is refused: Aurora allows {max} readers per cluster and {others} of its readers are not offpeak's, so at most {allowed}",
        max = crate::plan::MAX_READERS
    )]
    TooManyReplicas {
        cluster: String,
        requested: u32,
        allowed: usize,
        others: usize,
    },
    #[error(
        "override of {cluster} is refused: the cluster does not exist in this account and region (check the schedule's cluster id)"
    )]
    OverrideClusterMissing { cluster: String },
    #[error(
        "override of {cluster} not stored: a tick kept changing its state meanwhile; try again"
    )]
    OverrideContended { cluster: String },
    #[error(
        "no state table configured: aurora-replicas remembers each cluster's last desired count there \
         (set OFFPEAK_STATE_TABLE; locally run `offpeak state init`)"
    )]
    StateNotConfigured,
    #[error("read the state of {count} aurora cluster(s) failed")]
    ReadState {
        count: usize,
        #[source]
        source: StateError,
    },
    #[error("describe {count} aurora cluster(s) failed")]
    DescribeClusters {
        count: usize,
        #[source]
        source: RdsError,
    },
    #[error("describe the instances of {count} aurora cluster(s) failed")]
    DescribeInstances {
        count: usize,
        #[source]
        source: RdsError,
    },
    #[error("create replica {instance} in cluster {cluster} failed{hint}", hint = hint(.source))]
    CreateInstance {
        cluster: String,
        instance: String,
        #[source]
        source: RdsError,
    },
    #[error("delete replica {instance} of cluster {cluster} failed{hint}", hint = hint(.source))]
    DeleteInstance {
        cluster: String,
        instance: String,
        #[source]
        source: RdsError,
    },
    #[error(
        "claim cluster {cluster} (take its lease and write its state) failed; its actions were not applied"
    )]
    Claim {
        cluster: String,
        #[source]
        source: StateError,
    },
    #[error("save the state of cluster {cluster} failed; its actions were not applied")]
    WriteState {
        cluster: String,
        #[source]
        source: StateError,
    },
    #[error(
        "enroll cluster(s) {clusters} in offpeak's registry failed; they were not changed (the next tick retries)"
    )]
    Enroll {
        clusters: String,
        #[source]
        source: StateError,
    },
    #[error(
        "release cluster {cluster} (no longer scheduled, back at its baseline) from offpeak's registry failed; the next tick retries"
    )]
    Release {
        cluster: String,
        #[source]
        source: StateError,
    },
}

/// A short hint for the codes a person can do something about.
fn hint(source: &RdsError) -> &'static str {
    match source.code.as_str() {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            " (check the function's IAM policy: rds:CreateDBInstance, rds:AddTagsToResource, rds:DeleteDBInstance)"
        }
        "InvalidDBInstanceState" | "InvalidDBClusterStateFault" | "InvalidDBClusterState" => {
            " (the cluster or instance is busy; the next tick retries)"
        }
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
            " (throttled after retries; the next tick retries)"
        }
        "InstanceQuotaExceeded" | "StorageQuotaExceeded" => {
            " (an account quota is reached; raise it in Service Quotas)"
        }
        _ => "",
    }
}

impl TickError {
    /// The AWS error code behind this error, when it came from RDS.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            TickError::DescribeClusters { source, .. }
            | TickError::DescribeInstances { source, .. }
            | TickError::CreateInstance { source, .. }
            | TickError::DeleteInstance { source, .. } => Some(&source.code),
            TickError::Event(_)
            | TickError::UnknownOverrideTarget { .. }
            | TickError::OverrideEnd(_)
            | TickError::TooManyReplicas { .. }
            | TickError::OverrideClusterMissing { .. }
            | TickError::OverrideContended { .. }
            | TickError::StateNotConfigured
            | TickError::ReadState { .. }
            | TickError::Claim { .. }
            | TickError::WriteState { .. }
            | TickError::Enroll { .. }
            | TickError::Release { .. } => None,
        }
    }

    /// The invocation itself was wrong (exit code 2 locally); everything else is a runtime failure.
    pub fn is_bad_input(&self) -> bool {
        self.kind().is_bad_input()
    }

    /// A stable name for alarms and logs (`ObserveFailed`, `ActionFailed`, ...).
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Parse errors never reach a tick (the Lambda edge reports them as `InvalidEvent`):
            // what is left of the event to refuse is its override, as in eks-nodegroups.
            TickError::Event(_)
            | TickError::UnknownOverrideTarget { .. }
            | TickError::OverrideEnd(_)
            | TickError::TooManyReplicas { .. }
            | TickError::OverrideClusterMissing { .. } => ErrorKind::InvalidOverride,
            TickError::StateNotConfigured
            | TickError::ReadState { .. }
            | TickError::Claim { .. } => ErrorKind::StateUnavailable,
            TickError::WriteState { .. }
            | TickError::Enroll { .. }
            | TickError::Release { .. }
            | TickError::OverrideContended { .. } => ErrorKind::StateWriteFailed,
            TickError::DescribeClusters { .. } | TickError::DescribeInstances { .. } => {
                ErrorKind::ObserveFailed
            }
            TickError::CreateInstance { .. } | TickError::DeleteInstance { .. } => {
                ErrorKind::ActionFailed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_errors_name_ids_code_and_hint() {
        let err = TickError::CreateInstance {
            cluster: "prod".into(),
            instance: "prod-offpeak-1".into(),
            source: RdsError::new("AccessDenied", "not authorized"),
        };
        assert_eq!(
            chain(&err),
            "create replica prod-offpeak-1 in cluster prod failed (check the function's IAM policy: \
             rds:CreateDBInstance, rds:AddTagsToResource, rds:DeleteDBInstance): AccessDenied: not authorized"
        );
        assert_eq!(err.aws_code(), Some("AccessDenied"));
        assert_eq!(err.kind(), "ActionFailed");
    }
}
