//! The small value types every stage shares: the tick's two instants, a group's scaling, sleep
//! states, the resource behind a target, and Auto Scaling group tags. Pure data, no I/O.

use std::fmt;

use chrono::{DateTime, Utc};
use offpeak_shared::event::{InvocationEvent, OverrideState};
use serde::{Deserialize, Serialize};

/// The two instants a tick reasons with. The event's `at` moves only where the *schedule* is
/// read; everything that asks "is it still valid?" — leases, an override's validity and whether
/// one holds, the `offpeak:skip-until` tag, the drift grace — and every timestamp offpeak writes
/// use the clock. So replaying a far-off moment with `at` can neither steal a live tick's lease nor
/// stretch an override past its cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instants {
    /// Where the schedule is evaluated: the event's `at`, else the clock.
    pub at: DateTime<Utc>,
    /// The clock's value, as read at the edge (the Lambda handler, the CLI).
    pub clock: DateTime<Utc>,
}

impl Instants {
    pub fn new(event: &InvocationEvent, clock: DateTime<Utc>) -> Self {
        Self {
            at: event.instant(clock),
            clock,
        }
    }

    /// No replay: both instants are `now` (tests, and ticks without `at`).
    pub fn same(now: DateTime<Utc>) -> Self {
        Self {
            at: now,
            clock: now,
        }
    }
}

/// The `{min, max, desired}` size of a managed node group or an Auto Scaling group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scaling {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

impl Scaling {
    /// Asleep means nothing can run: `min = desired = 0`. `max` says nothing about it (EKS requires
    /// `max >= 1`, so offpeak keeps it).
    pub fn is_asleep(&self) -> bool {
        self.min == 0 && self.desired == 0
    }

    /// The same group put to sleep: `min = desired = 0`, `max` kept.
    pub fn asleep(self) -> Scaling {
        Scaling {
            min: 0,
            desired: 0,
            max: self.max,
        }
    }
}

impl fmt::Display for Scaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min {} / max {} / desired {}",
            self.min, self.max, self.desired
        )
    }
}

/// What a target should be (or, in the state store, what offpeak last converged it to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SleepState {
    Awake,
    Asleep,
}

impl SleepState {
    pub fn as_str(self) -> &'static str {
        match self {
            SleepState::Awake => "awake",
            SleepState::Asleep => "asleep",
        }
    }
}

impl fmt::Display for SleepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SleepState {
    /// The state an override holds a node group in; `None` for states of other functions' targets
    /// and for `clear`.
    pub fn held_by(state: OverrideState) -> Option<Self> {
        match state {
            OverrideState::Awake => Some(SleepState::Awake),
            OverrideState::Asleep => Some(SleepState::Asleep),
            OverrideState::Replicas(_)
            | OverrideState::Skip
            | OverrideState::Refresh
            | OverrideState::Clear => None,
        }
    }
}

/// The AWS resource a target stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// An EKS managed node group, sized through the EKS API.
    Nodegroup { cluster: String, nodegroup: String },
    /// A self-managed Auto Scaling group, sized through the Auto Scaling API.
    AutoScalingGroup { name: String },
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Nodegroup { cluster, nodegroup } => {
                write!(f, "node group {nodegroup} of cluster {cluster}")
            }
            Resource::AutoScalingGroup { name } => write!(f, "auto scaling group {name}"),
        }
    }
}

/// One tag of an Auto Scaling group, exactly as AWS holds it (so it can be put back exactly).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AsgTag {
    pub key: String,
    pub value: String,
    pub propagate_at_launch: bool,
}

impl AsgTag {
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        propagate_at_launch: bool,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            propagate_at_launch,
        }
    }
}

/// Comma-separated tag keys, for one-line messages.
pub fn keys(tags: &[AsgTag]) -> String {
    tags.iter()
        .map(|t| t.key.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asleep_keeps_max_and_zeroes_the_rest() {
        let s = Scaling {
            min: 1,
            max: 3,
            desired: 2,
        };
        assert!(!s.is_asleep());
        let z = s.asleep();
        assert_eq!(
            z,
            Scaling {
                min: 0,
                max: 3,
                desired: 0
            }
        );
        assert!(z.is_asleep());
        assert_eq!(s.to_string(), "min 1 / max 3 / desired 2");
    }

    #[test]
    fn a_group_at_min_zero_with_nodes_is_awake() {
        let s = Scaling {
            min: 0,
            max: 3,
            desired: 1,
        };
        assert!(!s.is_asleep());
    }

    #[test]
    fn resources_serialise_with_their_kind() {
        let ng = Resource::Nodegroup {
            cluster: "dev-eks".into(),
            nodegroup: "app".into(),
        };
        assert_eq!(
            serde_json::to_value(&ng).unwrap(),
            serde_json::json!({"kind": "nodegroup", "cluster": "dev-eks", "nodegroup": "app"})
        );
        assert_eq!(ng.to_string(), "node group app of cluster dev-eks");
    }
}
