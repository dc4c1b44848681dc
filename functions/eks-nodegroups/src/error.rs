//! [`TickError`]: everything that can go wrong in this crate, one variant per failed operation.
//!
//! Messages are lowercase, name the ids involved and never carry values from a workload (offpeak
//! only ever handles ids, sizes and tag keys here). The AWS cause is kept as the `source`, so
//! [`chain`] can render `operation: cause: root cause` for reports and notifications.

use offpeak_shared::error_kind::ErrorKind;
use offpeak_shared::event::{EventError, OverrideEndError};
use offpeak_shared::state::StateError;

use crate::model::Scaling;
pub use offpeak_shared::error_chain::chain;

/// The cause of an AWS call's failure (an SDK error, or a fake's error in tests).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a tick, one of its actions, or an override failed.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("invalid invocation event for eks-nodegroups")]
    Event(#[from] EventError),
    #[error("list node groups of eks cluster {cluster} failed")]
    ListNodegroups {
        cluster: String,
        #[source]
        source: BoxError,
    },
    #[error("describe node group {nodegroup} of eks cluster {cluster} failed")]
    DescribeNodegroup {
        cluster: String,
        nodegroup: String,
        #[source]
        source: BoxError,
    },
    #[error(
        "node group {nodegroup} of eks cluster {cluster} has no complete scaling config (min, max, desired)"
    )]
    IncompleteScaling { cluster: String, nodegroup: String },
    #[error(
        "update scaling of node group {nodegroup} of eks cluster {cluster} to {scaling} failed"
    )]
    UpdateNodegroupConfig {
        cluster: String,
        nodegroup: String,
        scaling: Scaling,
        #[source]
        source: BoxError,
    },
    #[error("describe auto scaling groups {names} failed")]
    DescribeAutoScalingGroups {
        names: String,
        #[source]
        source: BoxError,
    },
    #[error("auto scaling group {name} has no complete size (min, max, desired)")]
    IncompleteSize { name: String },
    #[error("update auto scaling group {name} to {scaling} failed")]
    UpdateAutoScalingGroup {
        name: String,
        scaling: Scaling,
        #[source]
        source: BoxError,
    },
    #[error("tag auto scaling group {name} with {keys} failed")]
    CreateOrUpdateTags {
        name: String,
        keys: String,
        #[source]
        source: BoxError,
    },
    #[error("remove tags {keys} from auto scaling group {name} failed")]
    DeleteTags {
        name: String,
        keys: String,
        #[source]
        source: BoxError,
    },
    #[error("{resource} no longer exists")]
    Gone { resource: String },
    #[error("eks-nodegroups needs the state store (it never acts without its saved state)")]
    NoStateStore {
        #[source]
        source: StateError,
    },
    #[error("read the state of {count} target(s) failed")]
    ReadState {
        count: usize,
        #[source]
        source: StateError,
    },
    #[error("state of target {target} is unreadable; fix or delete its item in the state table")]
    DecodeState {
        target: String,
        #[source]
        source: StateError,
    },
    #[error("write the state of target {target} failed")]
    WriteState {
        target: String,
        #[source]
        source: StateError,
    },
    #[error("claim target {target} (take its lease at the version planned from) failed")]
    Claim {
        target: String,
        #[source]
        source: StateError,
    },
    #[error(
        "state of target {target} changed while this tick worked on it (a concurrent tick); the next tick plans again"
    )]
    StateConflict { target: String },
    #[error(
        "target {target} already has saved pre-sleep scaling; offpeak never overwrites it while asleep"
    )]
    SavedExists { target: String },
    #[error(
        "refusing to remove the cluster-autoscaler tags of {target}: no pre-sleep state is saved to restore them from"
    )]
    NothingSaved { target: String },
    #[error(
        "register {targets} in offpeak's registry failed; nothing was changed, the next tick tries again"
    )]
    Enroll {
        targets: String,
        /// Shared: one failed registry write refuses every target it was to register.
        #[source]
        source: std::sync::Arc<StateError>,
    },
    #[error("release target {target} from offpeak's registry failed; the next tick tries again")]
    Release {
        target: String,
        #[source]
        source: StateError,
    },
    #[error("delete the state of target {target} failed; the next tick tries again")]
    DeleteState {
        target: String,
        #[source]
        source: StateError,
    },
    #[error("override target {target} is not in the schedule; eks targets are: {known}")]
    UnknownOverrideTarget { target: String, known: String },
    #[error(transparent)]
    OverrideEnd(#[from] OverrideEndError),
}

impl TickError {
    /// True for errors in what a person asked for (exit code 2), not in AWS or the state store.
    pub fn is_bad_input(&self) -> bool {
        self.kind().is_bad_input()
    }

    /// True when AWS refused the call for lack of permission (`AccessDenied*`): offpeak's role
    /// may not touch the resource, which no retry fixes — a person must act.
    pub fn is_access_denied(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(err) = cause {
            if denied(err) {
                return true;
            }
            cause = err.source();
        }
        false
    }

    /// A stable name for the Lambda `errorType` (alarms and runbooks match it, never a Rust
    /// type name).
    pub fn kind(&self) -> ErrorKind {
        use TickError::*;
        match self {
            ListNodegroups { .. }
            | DescribeNodegroup { .. }
            | DescribeAutoScalingGroups { .. }
            | IncompleteScaling { .. }
            | IncompleteSize { .. }
            | Gone { .. } => ErrorKind::ObserveFailed,
            UpdateNodegroupConfig { .. }
            | UpdateAutoScalingGroup { .. }
            | CreateOrUpdateTags { .. }
            | DeleteTags { .. } => ErrorKind::ActionFailed,
            NoStateStore { .. } | ReadState { .. } | DecodeState { .. } | Claim { .. } => {
                ErrorKind::StateUnavailable
            }
            WriteState { .. }
            | StateConflict { .. }
            | SavedExists { .. }
            | NothingSaved { .. }
            | Enroll { .. }
            | Release { .. }
            | DeleteState { .. } => ErrorKind::StateWriteFailed,
            Event(_) | UnknownOverrideTarget { .. } | OverrideEnd(_) => ErrorKind::InvalidOverride,
        }
    }
}

/// AWS's access-denied codes: `AccessDeniedException` (EKS, JSON protocols), `AccessDenied`
/// (Auto Scaling, query protocol). The in-memory fakes' errors are text starting with the code.
fn denied(err: &(dyn std::error::Error + 'static)) -> bool {
    use aws_sdk_eks::error::ProvideErrorMetadata;
    let code = if let Some(e) = err.downcast_ref::<aws_sdk_eks::Error>() {
        e.code().map(str::to_owned)
    } else if let Some(e) = err.downcast_ref::<aws_sdk_autoscaling::Error>() {
        e.code().map(str::to_owned)
    } else {
        Some(err.to_string())
    };
    code.is_some_and(|c| c.starts_with("AccessDenied"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_the_operation_then_the_cause() {
        let err = TickError::UpdateNodegroupConfig {
            cluster: "dev-eks".into(),
            nodegroup: "app".into(),
            scaling: Scaling {
                min: 0,
                max: 3,
                desired: 0,
            },
            source: "ResourceInUseException: update in progress".into(),
        };
        assert_eq!(
            chain(&err),
            "update scaling of node group app of eks cluster dev-eks to min 0 / max 3 / desired 0 failed: \
             ResourceInUseException: update in progress"
        );
    }

    #[test]
    fn access_denied_is_recognised_in_the_cause() {
        let denied = TickError::DescribeNodegroup {
            cluster: "old-eks".into(),
            nodegroup: "app".into(),
            source: "AccessDeniedException: not authorized".into(),
        };
        assert!(denied.is_access_denied());
        let throttled = TickError::DescribeNodegroup {
            cluster: "old-eks".into(),
            nodegroup: "app".into(),
            source: "ThrottlingException: rate exceeded".into(),
        };
        assert!(!throttled.is_access_denied());
        use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsError;
        let meta = aws_sdk_autoscaling::error::ErrorMetadata::builder()
            .code("AccessDenied")
            .build();
        let sdk = aws_sdk_autoscaling::Error::from(DescribeAutoScalingGroupsError::generic(meta));
        let from_sdk = TickError::DescribeAutoScalingGroups {
            names: "legacy".into(),
            source: Box::new(sdk),
        };
        assert!(from_sdk.is_access_denied());
    }

    #[test]
    fn only_override_mistakes_are_bad_input() {
        let bad = TickError::UnknownOverrideTarget {
            target: "x".into(),
            known: "dev-eks/app".into(),
        };
        assert!(bad.is_bad_input());
        let wrong_state = TickError::Event(offpeak_shared::event::EventError::OverrideEnd {
            state: offpeak_shared::event::OverrideState::Awake,
        });
        assert!(wrong_state.is_bad_input());
        assert!(!TickError::StateConflict { target: "x".into() }.is_bad_input());
    }
}
