//! One status vocabulary for RDS: what a `DBInstanceStatus` (or a cluster's `Status`) allows
//! offpeak to do.
//!
//! offpeak acts on a cluster or instance only while it is `available`, and deletes an instance
//! only in a state where `DeleteDBInstance` is accepted and nothing is in flight. A status is
//! [`Health::Broken`] only when the AWS RDS documentation ("DB instance status",
//! <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Status.html>) says
//! waiting will not bring it back; any status this module does not know counts as
//! [`Health::Busy`]: wait and look again next tick, never guess.

/// The status of a cluster or instance that serves and accepts changes.
pub const AVAILABLE: &str = "available";
/// The status of a cluster or instance on its way out; its identifier stays taken until it is gone.
pub const DELETING: &str = "deleting";

/// Statuses RDS does not leave by itself: each needs a person (or a delete) to end it. Each
/// entry, as the AWS RDS documentation describes it:
const BROKEN: [&str; 10] = [
    // RDS cannot recover the instance; a point-in-time restore is the way back.
    "failed",
    // The KMS key can't be accessed or recovered.
    "inaccessible-encryption-credentials",
    // The KMS key can't be accessed; only a restart after re-enabling the key recovers it.
    "inaccessible-encryption-credentials-recoverable",
    // The VPC is in a state that prevents RDS from completing a recovery action.
    "incompatible-network",
    // An option group change could not be applied and was rolled back.
    "incompatible-option-group",
    // The parameter group is incompatible with the instance: it cannot start.
    "incompatible-parameters",
    // A point-in-time restore could not be done.
    "incompatible-restore",
    // No capacity for this class in this AZ: RDS says to delete it and create it again later.
    "insufficient-capacity",
    // A restore from a snapshot or to a point in time ended in an error.
    "restore-error",
    // The storage allocation is exhausted: writes fail until a person adds storage.
    "storage-full",
];

/// A status, reduced to what a planner needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// `available`: serving, and may be changed or deleted.
    Available,
    /// Being created, modified, renamed, rebooted, upgraded, ... or unknown: it will settle; leave
    /// it alone for now.
    Busy,
    /// A status from which waiting does not recover (`failed`, `incompatible-*`, ...): it will
    /// never serve, and deleting it is allowed.
    Broken,
    /// `deleting`: already on its way out.
    Deleting,
}

impl Health {
    /// Classifies a `DBInstanceStatus` or a cluster's `Status`.
    pub fn of(status: &str) -> Health {
        match status {
            AVAILABLE => Health::Available,
            DELETING => Health::Deleting,
            s if BROKEN.contains(&s) => Health::Broken,
            _ => Health::Busy,
        }
    }

    /// `DeleteDBInstance` is accepted and nothing else is in flight on the instance.
    pub fn deletable(self) -> bool {
        match self {
            Health::Available | Health::Broken => true,
            Health::Busy | Health::Deleting => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_conservatively() {
        let cases = [
            ("available", Health::Available, true),
            ("deleting", Health::Deleting, false),
            ("creating", Health::Busy, false),
            ("modifying", Health::Busy, false),
            ("renaming", Health::Busy, false),
            ("rebooting", Health::Busy, false),
            ("failing-over", Health::Busy, false),
            ("configuring-enhanced-monitoring", Health::Busy, false),
            ("some-future-status", Health::Busy, false),
            ("", Health::Busy, false),
        ];
        for (status, health, deletable) in cases {
            assert_eq!(Health::of(status), health, "{status}");
            assert_eq!(Health::of(status).deletable(), deletable, "{status}");
        }
    }

    #[test]
    fn every_documented_terminal_status_is_broken_and_deletable() {
        for status in BROKEN {
            assert_eq!(Health::of(status), Health::Broken, "{status}");
            assert!(Health::of(status).deletable(), "{status}");
        }
        assert_eq!(
            Health::of("Failed"),
            Health::Busy,
            "RDS statuses are lowercase"
        );
    }
}
