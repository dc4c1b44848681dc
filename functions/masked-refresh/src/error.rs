//! Errors: [`TickError`] (the tick could not run at all) and [`StepError`] (one step of a run
//! failed; the run records it and fails, cleans up or retries).
//!
//! Messages name operations, ids, AWS error codes and masking check names — never a value from
//! the database, never a password or URL.

use offpeak_shared::error_kind::ErrorKind;
use offpeak_shared::event::{EventError, OverrideEndError};
use offpeak_shared::state::StateError;

use crate::engine::MaskingError;
use crate::overrides::Hold;
use crate::rds::RdsError;
use crate::secrets::SecretError;
use crate::settings::SettingsError;

/// Why a tick (or recording an override) failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("invalid invocation event for masked-refresh")]
    Event(#[from] EventError),
    #[error("invalid masked-refresh settings")]
    Settings(#[from] SettingsError),
    #[error(
        "no state table configured: masked-refresh keeps each run's phase there \
         (set OFFPEAK_STATE_TABLE; locally run `offpeak state init`)"
    )]
    StateNotConfigured,
    #[error("read the refresh state of {target} failed")]
    ReadState {
        target: String,
        #[source]
        source: StateError,
    },
    #[error(
        "save the refresh state of {target} failed; the next tick resumes from the last saved phase"
    )]
    WriteState {
        target: String,
        #[source]
        source: StateError,
    },
    #[error(
        "another invocation changed the refresh state of {target} since this tick read it; this tick stopped"
    )]
    Conflict { target: String },
    #[error("take the refresh lease on {target} failed")]
    Lease {
        target: String,
        #[source]
        source: StateError,
    },
    #[error("describe the clusters of refresh {target} failed")]
    Observe {
        target: String,
        #[source]
        source: RdsError,
    },
    #[error(
        "override target {target} is not the masked refresh's dev cluster; its target is: {known}"
    )]
    UnknownOverrideTarget { target: String, known: String },
    #[error("masked-refresh cannot hold {target} {state}: it takes skip, refresh or clear")]
    OverrideState { target: String, state: String },
    #[error("override {state} of {target} needs an end (--until)")]
    OverrideWithoutEnd { target: String, state: Hold },
    #[error(transparent)]
    OverrideEnd(#[from] OverrideEndError),
    #[error(
        "the rules check has no production login: set {} (the stack's RulesCheckSecretId) or, locally, {}",
        crate::settings::RULES_CHECK_SECRET_ENV,
        crate::settings::SOURCE_DATABASE_URL_ENV
    )]
    RulesCheckNoSource,
    #[error("the rules check's production login secret {secret_id} is unusable: {why}")]
    RulesCheckSecretShape {
        secret_id: String,
        why: &'static str,
    },
    #[error("the rules check could not read production's catalog")]
    RulesCheckRead(#[source] CheckSourceError),
    #[error("the rules check could not publish its notification")]
    RulesCheckNotify(#[source] offpeak_shared::notify::NotifyError),
}

/// What kept the rules check from production's catalog.
#[derive(Debug, thiserror::Error)]
pub enum CheckSourceError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Database(#[from] offpeak_masking::DbError),
}

impl TickError {
    /// The invocation or the configuration was wrong (exit code 2 locally).
    pub fn is_bad_input(&self) -> bool {
        self.kind().is_bad_input()
    }

    /// A stable name for alarms and logs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TickError::Event(_) => ErrorKind::InvalidEvent,
            TickError::Settings(_) => ErrorKind::InvalidSettings,
            TickError::StateNotConfigured
            | TickError::ReadState { .. }
            | TickError::Lease { .. } => ErrorKind::StateUnavailable,
            TickError::WriteState { .. } | TickError::Conflict { .. } => {
                ErrorKind::StateWriteFailed
            }
            TickError::Observe { .. } => ErrorKind::ObserveFailed,
            TickError::UnknownOverrideTarget { .. }
            | TickError::OverrideState { .. }
            | TickError::OverrideWithoutEnd { .. }
            | TickError::OverrideEnd(_) => ErrorKind::InvalidOverride,
            TickError::RulesCheckNoSource | TickError::RulesCheckSecretShape { .. } => {
                ErrorKind::InvalidSettings
            }
            TickError::RulesCheckRead(_) => ErrorKind::ObserveFailed,
            TickError::RulesCheckNotify(_) => ErrorKind::ActionFailed,
        }
    }
}

/// Why one step of a run failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{action} failed")]
    Rds {
        /// The action, as printed (`rename cluster a -> b`).
        action: String,
        #[source]
        source: RdsError,
    },
    #[error("{action} failed")]
    Secret {
        action: String,
        #[source]
        source: SecretError,
    },
    #[error("{action} failed")]
    Masking {
        action: String,
        #[source]
        source: Box<MaskingError>,
    },
    #[error("verification of {cluster} failed: {} check(s) did not pass: {}", .failed.len(), .failed.join(", "))]
    Verification {
        cluster: String,
        /// `check subject` per failed check (names only).
        failed: Vec<String>,
    },
    #[error(
        "clone {cluster} has no database name to connect to (set DatabaseName on the source cluster)"
    )]
    NoDatabase { cluster: String },
    #[error("refused to {action}: {why}")]
    Refused { action: String, why: &'static str },
}

impl StepError {
    /// Worth retrying on the next tick instead of failing the run: a transient AWS error, or
    /// the clone's server running out of time (a statement that hangs, a lock another session
    /// holds, a silent endpoint). Either way the run's deadline still bounds the retries.
    pub fn is_transient(&self) -> bool {
        match self {
            StepError::Rds { source, .. } => source.is_transient(),
            StepError::Masking { source, .. } => source.is_timeout(),
            _ => false,
        }
    }

    /// `aws`, `masking` or `verification`: what the run's failure record says.
    pub fn kind(&self) -> crate::plan::FailKind {
        use crate::plan::FailKind;
        match self {
            StepError::Rds { .. } | StepError::Secret { .. } => FailKind::Aws,
            StepError::Masking { .. } | StepError::NoDatabase { .. } => FailKind::Masking,
            StepError::Verification { .. } => FailKind::Verification,
            StepError::Refused { .. } => FailKind::Ownership,
        }
    }
}

/// A failure recorded in the state document, as an error again (for notifications).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Recorded(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use offpeak_shared::error_chain::chain;

    #[test]
    fn step_errors_name_the_action_and_keep_the_code() {
        let err = StepError::Rds {
            action: "rename cluster dev -> dev-offpeak-prev-20261127".into(),
            source: RdsError::new("AccessDenied", "not authorized"),
        };
        assert_eq!(
            chain(&err),
            "rename cluster dev -> dev-offpeak-prev-20261127 failed: AccessDenied: not authorized"
        );
        assert!(!err.is_transient());
        let throttled = StepError::Rds {
            action: "x".into(),
            source: RdsError::new("Throttling", "slow down"),
        };
        assert!(throttled.is_transient());
    }

    #[test]
    fn a_clone_server_out_of_time_is_transient_a_refusal_is_not() {
        let masking = |source: crate::engine::MaskingError| StepError::Masking {
            action: "mask dev-aurora-offpeak-20261127".into(),
            source: Box::new(source),
        };
        let timed_out = offpeak_masking::DbError::time_up("masking table users");
        let silent = offpeak_masking::DbError::no_answer("connecting to the clone");
        let refused = offpeak_masking::DbError::other("connecting", "i/o error (refused)");
        use crate::engine::MaskingError::{Connect, Mask};
        assert!(masking(Mask(offpeak_masking::MaskError::Database(timed_out))).is_transient());
        assert!(masking(Connect(silent)).is_transient());
        assert!(!masking(Connect(refused)).is_transient());
        let rules_changed = offpeak_masking::MaskError::RulesChanged {
            table: "users".into(),
        };
        assert!(!masking(Mask(rules_changed)).is_transient());
    }
}
