//! [`ErrorKind`]: the stable types a tick's failure is reported under.
//!
//! The Lambda `errorType` of a failed invocation, the `kind` of a failure notification and the
//! CLI's exit code all come from here, so alarms and runbooks match a small, fixed vocabulary and
//! never a Rust type name. Each function maps its own error enum onto it, exhaustively.

use std::fmt;

/// The stable type of a tick's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The invocation event is not the documented shape.
    InvalidEvent,
    /// The function's own settings (environment) are wrong.
    InvalidSettings,
    /// The event's override, or `offpeak override`, asks for something the function refuses.
    InvalidOverride,
    /// The state store could not be read, or is not configured.
    StateUnavailable,
    /// A write to the state store failed or lost its race for good.
    StateWriteFailed,
    /// Reading AWS failed.
    ObserveFailed,
    /// Changing AWS failed.
    ActionFailed,
}

impl ErrorKind {
    /// The name alarms match (`InvalidOverride`, `ObserveFailed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "InvalidEvent",
            ErrorKind::InvalidSettings => "InvalidSettings",
            ErrorKind::InvalidOverride => "InvalidOverride",
            ErrorKind::StateUnavailable => "StateUnavailable",
            ErrorKind::StateWriteFailed => "StateWriteFailed",
            ErrorKind::ObserveFailed => "ObserveFailed",
            ErrorKind::ActionFailed => "ActionFailed",
        }
    }

    /// What a person asked for was wrong (exit code 2 locally), not AWS or the state store.
    pub fn is_bad_input(self) -> bool {
        match self {
            ErrorKind::InvalidEvent | ErrorKind::InvalidSettings | ErrorKind::InvalidOverride => {
                true
            }
            ErrorKind::StateUnavailable
            | ErrorKind::StateWriteFailed
            | ErrorKind::ObserveFailed
            | ErrorKind::ActionFailed => false,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with an `errorType` as it reaches a log or an alarm.
impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_person_asked_for_is_bad_input() {
        let cases = [
            (ErrorKind::InvalidEvent, true),
            (ErrorKind::InvalidSettings, true),
            (ErrorKind::InvalidOverride, true),
            (ErrorKind::StateUnavailable, false),
            (ErrorKind::StateWriteFailed, false),
            (ErrorKind::ObserveFailed, false),
            (ErrorKind::ActionFailed, false),
        ];
        for (kind, bad_input) in cases {
            assert_eq!(kind.is_bad_input(), bad_input, "{kind}");
            assert_eq!(kind, kind.as_str());
            assert_eq!(kind.to_string(), format!("{kind:?}"));
        }
    }
}
