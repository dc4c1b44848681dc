//! What an RDS status string allows offpeak to do.
//!
//! offpeak acts on a cluster only while it is `available` (not while it is failing over,
//! modifying, upgrading, stopped, ...), and deletes an instance only in a state where
//! `DeleteDBInstance` is accepted and nothing is in flight. Any status this module does not know
//! counts as [`Health::Busy`]: wait and look again next tick, never guess.

/// The one cluster status offpeak acts in.
pub const CLUSTER_AVAILABLE: &str = "available";

/// An instance's status, reduced to what the planner needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// `available`: serving, and may be deleted.
    Available,
    /// Being created, modified, rebooted, upgraded, ...: it will settle; leave it alone for now.
    Busy,
    /// A terminal failure (`failed`, `incompatible-*`, `inaccessible-encryption-credentials`,
    /// ...): it will never serve reads, and deleting it is allowed.
    Broken,
    /// `deleting`: already on its way out; its identifier stays taken until it is gone.
    Deleting,
}

const BROKEN: &[&str] = &[
    "failed",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "insufficient-capacity",
    "restore-error",
    "storage-full",
];

impl Health {
    /// Classifies a `DBInstanceStatus`.
    pub fn of(status: &str) -> Health {
        match status {
            "available" => Health::Available,
            "deleting" => Health::Deleting,
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
            ("rebooting", Health::Busy, false),
            ("configuring-enhanced-monitoring", Health::Busy, false),
            ("some-future-status", Health::Busy, false),
            ("failed", Health::Broken, true),
            ("incompatible-parameters", Health::Broken, true),
        ];
        for (status, health, deletable) in cases {
            assert_eq!(Health::of(status), health, "{status}");
            assert_eq!(Health::of(status).deletable(), deletable, "{status}");
        }
    }
}
