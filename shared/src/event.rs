//! The invocation event and the clock edge.
//!
//! Every offpeak function is invoked with the same small JSON object: EventBridge Scheduler's
//! `Input`, a `sam local invoke -e` file, or what `offpeak run` builds from its flags:
//!
//! ```json
//! { "dry_run": false, "at": "2026-11-27T18:30:00+09:00" }
//! ```
//!
//! Both fields are optional. The EKS function also accepts a manual override:
//! `{"override": {"target": "dev-eks/app", "state": "awake", "until": "2026-11-28T18:00:00+09:00"}}`.
//!
//! Guarantees:
//! - Bad input is rejected, never guessed at: unknown fields, a timestamp without a UTC offset, an
//!   unknown override state or an empty override target are all a [`EventError`] that names the
//!   problem. A `null` or empty payload is the default event (a plain scheduled tick).
//! - **`at` moves the schedule, never the clock.** In a dry-run it replays a moment. In a real run
//!   it only changes the instant the *schedule* is evaluated at ([`InvocationEvent::instant`]):
//!   leases (taking, renewing, expiry), override validity (after the clock, at most 31 days
//!   ahead of it) and pauses are always judged by the clock's value, which every function gets
//!   separately. So a replayed instant can neither take over a target a live tick holds, nor
//!   stretch an override's cap, nor lift a pause.
//! - [`InvocationEvent::instant`] never reads the clock: the caller passes the clock's value in.
//!   [`system_now`] is the one place in offpeak that reads the real clock, and only the edges (the
//!   Lambda handler and the CLI) call it.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

/// The JSON shape, shown in every parse error so the fix is obvious.
const EXPECTED_SHAPE: &str = r#"{"dry_run": bool, "at": RFC3339, "override": {"target": str, "state": "awake"|"asleep", "until": RFC3339}}, every field optional except inside "override""#;

/// Why an invocation event was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload is not the documented JSON shape.
    #[error("invalid invocation event: {source}; expected {EXPECTED_SHAPE}")]
    Parse {
        #[source]
        source: serde_json::Error,
    },
    /// The override names no target.
    #[error(
        "invalid invocation event: override.target is empty; expected a target id such as \"dev-eks/app\""
    )]
    EmptyOverrideTarget,
    /// An override was sent to a function that has nothing to override.
    #[error(
        "invalid invocation event: function {function} does not accept \"override\" (only eks-nodegroups does)"
    )]
    OverrideNotSupported { function: &'static str },
}

/// One invocation of an offpeak function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationEvent {
    /// Print the plan and stop: observe, but change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Replaces the clock for this invocation (replay a moment). Must carry a UTC offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<FixedOffset>>,
    /// A manual override of one EKS target's state (eks-nodegroups only).
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
}

/// A human's "keep this target awake (or asleep) until then".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Target id, as in `offpeak desired` output: `<cluster>/<nodegroup>` or an ASG name.
    pub target: String,
    /// The state to hold.
    pub state: OverrideState,
    /// The override ends at this instant; the schedule applies again from then on.
    pub until: DateTime<FixedOffset>,
}

/// The state an override holds a target in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverrideState {
    Awake,
    Asleep,
}

impl InvocationEvent {
    /// Parses a Lambda payload. `null` (no payload) is the default event.
    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        if value.is_null() {
            return Ok(Self::default());
        }
        let event: Self =
            serde_json::from_value(value).map_err(|source| EventError::Parse { source })?;
        event.validated()
    }

    /// Parses a JSON document (an events/*.json file, a CLI argument). Blank input is the default event.
    pub fn from_json_str(text: &str) -> Result<Self, EventError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let event: Self =
            serde_json::from_str(text).map_err(|source| EventError::Parse { source })?;
        event.validated()
    }

    /// The instant the schedule is evaluated at: `at` when given, else the clock value passed in.
    /// Leases, override caps and pauses use the clock value itself, never this.
    pub fn instant(&self, clock_now: DateTime<Utc>) -> DateTime<Utc> {
        self.at.map_or(clock_now, |at| at.with_timezone(&Utc))
    }

    /// Refuses an override for functions that have nothing to override.
    pub fn ensure_no_override(&self, function: &'static str) -> Result<(), EventError> {
        match self.override_ {
            Some(_) => Err(EventError::OverrideNotSupported { function }),
            None => Ok(()),
        }
    }

    fn validated(self) -> Result<Self, EventError> {
        match &self.override_ {
            Some(o) if o.target.trim().is_empty() => Err(EventError::EmptyOverrideTarget),
            _ => Ok(self),
        }
    }
}

impl Override {
    /// The override's end as a UTC instant.
    pub fn until_utc(&self) -> DateTime<Utc> {
        self.until.with_timezone(&Utc)
    }

    /// True while the override holds: `now` is strictly before `until`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.until_utc()
    }
}

/// Reads the real clock. The only call site of `Utc::now()` in offpeak: use it at the edge (the Lambda
/// handler, the CLI) and pass the value down; everything below takes `now` as a parameter.
pub fn system_now() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    #[test]
    fn empty_object_null_and_blank_are_a_plain_tick() {
        for event in [
            InvocationEvent::from_value(json!({})).unwrap(),
            InvocationEvent::from_value(serde_json::Value::Null).unwrap(),
            InvocationEvent::from_json_str("  \n").unwrap(),
        ] {
            assert_eq!(event, InvocationEvent::default());
            assert!(!event.dry_run);
        }
    }

    #[test]
    fn at_with_offset_replaces_the_clock() {
        let event = InvocationEvent::from_value(
            json!({"dry_run": true, "at": "2026-11-27T18:30:00+09:00"}),
        )
        .unwrap();
        assert!(event.dry_run);
        assert_eq!(
            event.instant(utc(2030, 1, 1, 0, 0)),
            utc(2026, 11, 27, 9, 30)
        );
    }

    #[test]
    fn without_at_the_injected_clock_value_is_used() {
        let event = InvocationEvent::from_json_str(r#"{"dry_run": false}"#).unwrap();
        assert_eq!(
            event.instant(utc(2026, 3, 1, 12, 0)),
            utc(2026, 3, 1, 12, 0)
        );
    }

    #[test]
    fn zulu_time_is_accepted() {
        let event = InvocationEvent::from_json_str(r#"{"at": "2026-11-27T09:30:00Z"}"#).unwrap();
        assert_eq!(
            event.instant(utc(2000, 1, 1, 0, 0)),
            utc(2026, 11, 27, 9, 30)
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let cases = [
            (json!({"dry-run": true}), "unknown field `dry-run`"),
            (
                json!({"at": "2026-11-27T18:30:00"}),
                "invalid invocation event",
            ),
            (json!({"at": "tomorrow"}), "invalid invocation event"),
            (json!({"dry_run": "yes"}), "invalid type"),
            (json!([1, 2]), "invalid invocation event"),
            (
                json!({"override": {"target": "dev-eks/app", "state": "awake"}}),
                "missing field `until`",
            ),
        ];
        for (input, needle) in cases {
            let message = InvocationEvent::from_value(input.clone())
                .unwrap_err()
                .to_string();
            assert!(message.contains(needle), "{input}: {message}");
            assert!(
                message.contains("expected {\"dry_run\": bool"),
                "{input}: {message}"
            );
        }
    }

    #[test]
    fn override_parses_and_expires_at_until() {
        let event = InvocationEvent::from_value(json!({
            "override": {"target": "dev-eks/app", "state": "awake", "until": "2026-11-28T18:00:00+09:00"}
        }))
        .unwrap();
        let o = event.override_.as_ref().unwrap();
        assert_eq!(
            (o.target.as_str(), o.state),
            ("dev-eks/app", OverrideState::Awake)
        );
        assert_eq!(o.until_utc(), utc(2026, 11, 28, 9, 0));
        assert!(o.is_active(utc(2026, 11, 28, 8, 59)));
        assert!(!o.is_active(utc(2026, 11, 28, 9, 0)));
    }

    #[test]
    fn override_errors() {
        let unknown_state =
            json!({"override": {"target": "a/b", "state": "off", "until": "2026-11-28T18:00:00Z"}});
        let message = InvocationEvent::from_value(unknown_state)
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown variant `off`"), "{message}");

        let extra = json!({"override": {"target": "a/b", "state": "asleep", "until": "2026-11-28T18:00:00Z", "why": "x"}});
        assert!(InvocationEvent::from_value(extra).is_err());

        let empty = json!({"override": {"target": " ", "state": "asleep", "until": "2026-11-28T18:00:00Z"}});
        let err = InvocationEvent::from_value(empty).unwrap_err();
        assert!(matches!(err, EventError::EmptyOverrideTarget));
    }

    #[test]
    fn functions_without_overrides_refuse_them() {
        let event = InvocationEvent::from_json_str(
            r#"{"override": {"target": "a/b", "state": "asleep", "until": "2026-11-28T18:00:00Z"}}"#,
        )
        .unwrap();
        let message = event
            .ensure_no_override("aurora-replicas")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("aurora-replicas does not accept \"override\""),
            "{message}"
        );
        assert!(
            InvocationEvent::default()
                .ensure_no_override("aurora-replicas")
                .is_ok()
        );
    }

    #[test]
    fn round_trips_through_json() {
        let event = InvocationEvent::from_json_str(
            r#"{"dry_run": true, "at": "2026-11-27T18:30:00+09:00"}"#,
        )
        .unwrap();
        let again = InvocationEvent::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        assert_eq!(event, again);
    }
}
