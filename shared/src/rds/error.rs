//! [`RdsError`]: a failed RDS call, reduced to its AWS error code and AWS's message.
//!
//! The predicates name the codes a reconciler reads. "Already exists" on a create or restore and
//! "not found" on a delete are success: a duplicated tick already did the work ("state, not
//! trigger"). "Transient" codes are worth another try on a later tick.

/// AWS error codes the predicates read.
mod codes {
    pub const CLUSTER_EXISTS: &str = "DBClusterAlreadyExistsFault";
    pub const INSTANCE_EXISTS: &str = "DBInstanceAlreadyExists";
    pub const CLUSTER_NOT_FOUND: &str = "DBClusterNotFoundFault";
    pub const INSTANCE_NOT_FOUND: &str = "DBInstanceNotFound";
    /// Throttling, transport, a resource busy for a moment.
    pub const TRANSIENT: [&str; 10] = [
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Timeout",
        "DispatchFailure",
        "ResponseError",
        "InvalidDBClusterStateFault",
        "InvalidDBClusterState",
        "InvalidDBInstanceState",
        "InternalFailure",
    ];
}

/// An RDS call failed (after the SDK's retries). Carries the AWS error code, never row data.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RdsError {
    /// The AWS error code, or the SDK's error kind (`Timeout`, `DispatchFailure`, ...) for
    /// transport and client-side failures.
    pub code: String,
    pub message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RdsError {
    /// An error with `code` and `message` and no underlying cause (fakes, tests).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: None,
        }
    }

    /// An error with its underlying cause kept for `{:?}` and error chains.
    pub fn with_source(
        code: impl Into<String>,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A create or restore found the identifier taken: a duplicated tick already made it.
    pub fn already_exists(&self) -> bool {
        self.code == codes::CLUSTER_EXISTS || self.code == codes::INSTANCE_EXISTS
    }

    /// A delete found nothing to delete: it is already gone.
    pub fn not_found(&self) -> bool {
        self.code == codes::CLUSTER_NOT_FOUND || self.code == codes::INSTANCE_NOT_FOUND
    }

    /// Worth retrying on a later tick rather than failing the run.
    pub fn is_transient(&self) -> bool {
        codes::TRANSIENT.contains(&self.code.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_match_only_their_codes() {
        for code in ["DBClusterAlreadyExistsFault", "DBInstanceAlreadyExists"] {
            let err = RdsError::new(code, "x");
            assert!(err.already_exists() && !err.not_found(), "{code}");
        }
        for code in ["DBClusterNotFoundFault", "DBInstanceNotFound"] {
            let err = RdsError::new(code, "x");
            assert!(err.not_found() && !err.already_exists(), "{code}");
        }
        for code in ["Throttling", "InvalidDBInstanceState", "Timeout"] {
            assert!(RdsError::new(code, "x").is_transient(), "{code}");
        }
        for code in [
            "AccessDenied",
            "InvalidParameterValue",
            "StorageQuotaExceeded",
        ] {
            let err = RdsError::new(code, "x");
            let any = err.already_exists() || err.not_found() || err.is_transient();
            assert!(!any, "{code}");
        }
    }

    #[test]
    fn display_is_code_then_message() {
        let err = RdsError::new("Throttling", "Rate exceeded");
        assert_eq!(err.to_string(), "Throttling: Rate exceeded");
    }
}
