//! The invocation event and the clock edge.
//!
//! Every offpeak function is invoked with the same small JSON object: EventBridge Scheduler's
//! `Input`, a `sam local invoke -e` file, or what `offpeak run` builds from its flags:
//!
//! ```json
//! { "dry_run": false, "at": "2026-11-27T18:30:00+09:00" }
//! ```
//!
//! Both fields are optional. Every function also accepts a manual override of one of its targets:
//! `{"override": {"target": "dev-eks/app", "state": "awake", "until": "2026-11-28T18:00:00+09:00"}}`.
//! The state says which function it is for: `awake` | `asleep` (eks-nodegroups), `replicas:N`
//! (aurora-replicas: exactly N offpeak replicas), `skip` | `refresh` (masked-refresh), `clear` (any:
//! end the target's override now). The end is `until` (RFC 3339) or `for` (`"90m"`, `"2h"`, `"1d"`,
//! counted from the clock when the function reads the event: what a chat button sends); `clear`
//! takes neither.
//!
//! Guarantees:
//! - Bad input is rejected, never guessed at: unknown fields, a timestamp without a UTC offset, an
//!   unknown override state, an empty override target, an override with both or neither of `until`
//!   and `for`, and an override a function does not hold ([`InvocationEvent::ensure_override_fits`])
//!   are all an [`EventError`] that names the problem. A `null` or empty payload is the default event (a plain scheduled tick).
//! - **`at` moves the schedule, never the clock.** In a dry-run it replays a moment. In a real run
//!   it only changes the instant the *schedule* is evaluated at ([`InvocationEvent::instant`]):
//!   leases (taking, renewing, expiry), override validity (after the clock, at most 31 days
//!   ahead of it) and pauses are always judged by the clock's value, which every function gets
//!   separately. So a replayed instant can neither take over a target a live tick holds, nor
//!   stretch an override's cap, nor lift a pause.
//! - [`InvocationEvent::instant`] never reads the clock: the caller passes the clock's value in.
//!   [`system_now`] is the one place in offpeak that reads the real clock, and only the edges (the
//!   Lambda handler and the CLI) call it.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The JSON shape, shown in every parse error so the fix is obvious.
const EXPECTED_SHAPE: &str = r#"{"dry_run": bool, "at": RFC3339, "check": "rules", "override": {"target": str, "state": "awake"|"asleep"|"replicas:N"|"skip"|"refresh"|"clear", "until": RFC3339 | "for": "90m"|"2h"|"1d"}}, every field optional except inside "override""#;

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
    #[error("invalid invocation event: function {function} has no target to override")]
    OverrideNotSupported { function: &'static str },
    /// An override state meant for another function's targets.
    #[error(
        "invalid invocation event: override state \"{state}\" is for {owner}, not {function}; {function} takes {takes}"
    )]
    OverrideForAnotherFunction {
        function: &'static str,
        state: OverrideState,
        owner: &'static str,
        takes: &'static str,
    },
    /// A check sent to a function that does not run it.
    #[error("invalid invocation event: check \"rules\" is run by {owner}, not {function}")]
    CheckForAnotherFunction {
        function: &'static str,
        owner: &'static str,
    },
    /// The override's end is missing, or given twice.
    #[error(
        "invalid invocation event: override \"{state}\" needs exactly one of \"until\" (RFC 3339) and \"for\" (e.g. \"2h\")"
    )]
    OverrideEnd { state: OverrideState },
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
    /// A manual override of one target's state.
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    /// Run a check instead of a tick: `"rules"` (masked-refresh only) compares the masking rules
    /// with production's catalog and notifies about anything unclassified; it changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
}

/// A check an invocation may ask for instead of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// masked-refresh: the masking rules against production's catalog (no row read).
    Rules,
}

impl Check {
    /// The function that runs this check.
    pub fn function(self) -> &'static str {
        match self {
            Check::Rules => REFRESH.0,
        }
    }
}

/// A human's "hold this target so until then" (or "end my override now": [`OverrideState::Clear`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Target id, as in `offpeak desired` output: `<cluster>/<nodegroup>`, an ASG name, an Aurora
    /// cluster id, or a masked refresh's dev cluster id.
    pub target: String,
    /// The state to hold.
    pub state: OverrideState,
    /// The override ends at this instant; the schedule applies again from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<FixedOffset>>,
    /// The override lasts this long from the clock's value when the function reads the event.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<HoldFor>,
}

/// The state an override holds a target in. Written `awake`, `asleep`, `replicas:N`, `skip`,
/// `refresh` or `clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OverrideState {
    /// EKS: keep the node group (or ASG) at its awake size.
    Awake,
    /// EKS: keep it scaled to zero.
    Asleep,
    /// Aurora: hold exactly this many offpeak replicas (0 allowed).
    Replicas(u32),
    /// Masked refresh: no run starts before the end.
    Skip,
    /// Masked refresh: a run may start now, outside the window, and must finish by the end.
    Refresh,
    /// Any target: the override ends now; the schedule applies on the next tick.
    Clear,
}

/// The function whose targets each state applies to, and what it takes, for error messages.
const EKS: (&str, &str) = ("eks-nodegroups", "awake, asleep or clear");
const AURORA: (&str, &str) = ("aurora-replicas", "replicas:N or clear");
const REFRESH: (&str, &str) = ("masked-refresh", "skip, refresh or clear");

impl OverrideState {
    /// The function that holds targets in this state; `None` for `clear`, which every function takes.
    pub fn function(self) -> Option<&'static str> {
        match self {
            Self::Awake | Self::Asleep => Some(EKS.0),
            Self::Replicas(_) => Some(AURORA.0),
            Self::Skip | Self::Refresh => Some(REFRESH.0),
            Self::Clear => None,
        }
    }
}

impl std::fmt::Display for OverrideState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Awake => f.write_str("awake"),
            Self::Asleep => f.write_str("asleep"),
            Self::Replicas(n) => write!(f, "replicas:{n}"),
            Self::Skip => f.write_str("skip"),
            Self::Refresh => f.write_str("refresh"),
            Self::Clear => f.write_str("clear"),
        }
    }
}

impl std::str::FromStr for OverrideState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let state = match text {
            "awake" => Self::Awake,
            "asleep" => Self::Asleep,
            "skip" => Self::Skip,
            "refresh" => Self::Refresh,
            "clear" => Self::Clear,
            _ => match text.strip_prefix("replicas:").map(str::parse) {
                Some(Ok(n)) => Self::Replicas(n),
                _ => {
                    return Err(format!(
                        "unknown override state \"{text}\": expected awake, asleep, replicas:N (N a whole number), skip, refresh or clear"
                    ));
                }
            },
        };
        Ok(state)
    }
}

impl TryFrom<String> for OverrideState {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<OverrideState> for String {
    fn from(state: OverrideState) -> Self {
        state.to_string()
    }
}

/// How long an override lasts when given as a duration: `"90m"`, `"2h"`, `"1d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HoldFor {
    minutes: u32,
}

impl HoldFor {
    /// The duration.
    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.minutes))
    }
}

impl TryFrom<String> for HoldFor {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid override duration \"{text}\": expected a whole number and m, h or d, e.g. \"90m\", \"2h\", \"1d\""
            )
        };
        let split = text.len().checked_sub(1).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let count: u32 = number.parse().map_err(|_| bad())?;
        let per = match unit {
            "m" => 1,
            "h" => 60,
            "d" => 24 * 60,
            _ => return Err(bad()),
        };
        match count.checked_mul(per) {
            Some(minutes) if minutes > 0 => Ok(Self { minutes }),
            _ => Err(bad()),
        }
    }
}

impl From<HoldFor> for String {
    fn from(hold: HoldFor) -> Self {
        format!("{}m", hold.minutes)
    }
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

    /// Refuses a check `function` does not run.
    pub fn ensure_check_fits(&self, function: &'static str) -> Result<(), EventError> {
        match self.check.map(Check::function) {
            Some(owner) if owner != function => {
                Err(EventError::CheckForAnotherFunction { function, owner })
            }
            _ => Ok(()),
        }
    }

    /// Refuses an override for functions that have nothing to override.
    pub fn ensure_no_override(&self, function: &'static str) -> Result<(), EventError> {
        match self.override_ {
            Some(_) => Err(EventError::OverrideNotSupported { function }),
            None => Ok(()),
        }
    }

    /// Refuses an override whose state is meant for another function's targets.
    pub fn ensure_override_fits(&self, function: &'static str) -> Result<(), EventError> {
        let Some(o) = &self.override_ else {
            return Ok(());
        };
        match o.state.function() {
            Some(owner) if owner != function => Err(EventError::OverrideForAnotherFunction {
                function,
                state: o.state,
                owner,
                takes: takes(function),
            }),
            _ => Ok(()),
        }
    }

    /// The event's override, checked: one whose state `function` holds
    /// ([`InvocationEvent::ensure_override_fits`]), then whatever `check` (the function's own
    /// rules) makes of it. `None` when the event carries no override.
    pub fn checked_override<T, E: From<EventError>>(
        &self,
        function: &'static str,
        check: impl FnOnce(&Override) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        self.ensure_override_fits(function)?;
        self.override_.as_ref().map(check).transpose()
    }

    fn validated(self) -> Result<Self, EventError> {
        let Some(o) = &self.override_ else {
            return Ok(self);
        };
        if o.target.trim().is_empty() {
            return Err(EventError::EmptyOverrideTarget);
        }
        let ends = usize::from(o.until.is_some()) + usize::from(o.for_.is_some());
        match (o.state, ends) {
            (OverrideState::Clear, _) | (_, 1) => Ok(self),
            (state, _) => Err(EventError::OverrideEnd { state }),
        }
    }
}

/// What `function` takes, for error messages.
fn takes(function: &str) -> &'static str {
    [EKS, AURORA, REFRESH]
        .into_iter()
        .find(|(name, _)| *name == function)
        .map_or("no override", |(_, takes)| takes)
}

impl Override {
    /// The override's end as a UTC instant: `until`, or `for` counted from the clock's value
    /// `clock_now`. `None` for `clear`, which holds nothing.
    pub fn end(&self, clock_now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (self.state, self.until, self.for_) {
            (OverrideState::Clear, _, _) => None,
            (_, Some(until), _) => Some(until.with_timezone(&Utc)),
            (_, None, Some(hold)) => Some(clock_now + hold.duration()),
            (_, None, None) => None,
        }
    }
}

/// The longest an override may hold, counted from the clock: a forgotten override must not
/// silently replace the schedule for good.
pub const MAX_OVERRIDE_DAYS: i64 = 31;

/// An override end every function refuses (bad input: exit code 2 locally).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideEndError {
    #[error("override of {target} ends at {until}, which is not after now ({now})")]
    Ended {
        target: String,
        until: String,
        now: String,
    },
    #[error(
        "override of {target} ends at {until}, more than {max_days} days ahead; change infra/schedules.yaml for lasting changes"
    )]
    TooLong {
        target: String,
        until: String,
        max_days: i64,
    },
}

/// Accepts `until` as the end of an override of `target` when it lies after the clock's value
/// `clock` and at most [`MAX_OVERRIDE_DAYS`] after it. Judged by the clock, never by the event's
/// `at`, so a replayed instant cannot stretch the cap.
pub fn check_override_end(
    target: &str,
    until: DateTime<Utc>,
    clock: DateTime<Utc>,
) -> Result<(), OverrideEndError> {
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    if until <= clock {
        return Err(OverrideEndError::Ended {
            target: target.to_owned(),
            until: text(until),
            now: text(clock),
        });
    }
    if until - clock > Duration::days(MAX_OVERRIDE_DAYS) {
        return Err(OverrideEndError::TooLong {
            target: target.to_owned(),
            until: text(until),
            max_days: MAX_OVERRIDE_DAYS,
        });
    }
    Ok(())
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
    fn an_override_ends_after_the_clock_and_at_most_31_days_later() {
        let clock = utc(2026, 11, 27, 9, 0);
        assert_eq!(
            check_override_end("t", clock + Duration::minutes(1), clock),
            Ok(())
        );
        let cap = clock + Duration::days(MAX_OVERRIDE_DAYS);
        assert_eq!(check_override_end("t", cap, clock), Ok(()));
        let ended = check_override_end("t", clock, clock).unwrap_err();
        assert_eq!(
            ended.to_string(),
            "override of t ends at 2026-11-27T09:00:00Z, which is not after now (2026-11-27T09:00:00Z)"
        );
        let too_long = check_override_end("t", cap + Duration::seconds(1), clock).unwrap_err();
        assert!(
            too_long.to_string().contains("more than 31 days ahead"),
            "{too_long}"
        );
    }

    #[test]
    fn the_rules_check_is_masked_refresh_s_alone() {
        let event = InvocationEvent::from_value(json!({"check": "rules"})).unwrap();
        assert_eq!(event.check, Some(Check::Rules));
        assert!(event.ensure_check_fits("masked-refresh").is_ok());
        let err = event.ensure_check_fits("eks-nodegroups").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid invocation event: check \"rules\" is run by masked-refresh, not eks-nodegroups"
        );
        assert!(InvocationEvent::from_value(json!({"check": "everything"})).is_err());
        assert!(
            InvocationEvent::default()
                .ensure_check_fits("aurora-replicas")
                .is_ok()
        );
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
                json!({"override": {"target": "dev-eks/app", "until": "2026-11-28T18:00:00Z"}}),
                "missing field `state`",
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
        assert_eq!(o.end(utc(2030, 1, 1, 0, 0)), Some(utc(2026, 11, 28, 9, 0)));
    }

    #[test]
    fn every_override_state_reads_and_writes_as_documented() {
        let cases = [
            ("awake", OverrideState::Awake, Some("eks-nodegroups")),
            ("asleep", OverrideState::Asleep, Some("eks-nodegroups")),
            (
                "replicas:0",
                OverrideState::Replicas(0),
                Some("aurora-replicas"),
            ),
            (
                "replicas:3",
                OverrideState::Replicas(3),
                Some("aurora-replicas"),
            ),
            ("skip", OverrideState::Skip, Some("masked-refresh")),
            ("refresh", OverrideState::Refresh, Some("masked-refresh")),
            ("clear", OverrideState::Clear, None),
        ];
        for (text, state, function) in cases {
            assert_eq!(text.parse::<OverrideState>(), Ok(state), "{text}");
            assert_eq!(state.to_string(), text);
            assert_eq!(state.function(), function, "{text}");
        }
        for bad in [
            "replicas:",
            "replicas:-1",
            "replicas:two",
            "Awake",
            "replicas: 2",
            "",
        ] {
            let err = bad.parse::<OverrideState>().unwrap_err();
            assert!(
                err.contains("expected awake, asleep, replicas:N"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn for_counts_from_the_clock_not_from_at() {
        let event = InvocationEvent::from_value(json!({
            "at": "2020-01-01T00:00:00Z",
            "override": {"target": "dev-eks/app", "state": "awake", "for": "2h"}
        }))
        .unwrap();
        let o = event.override_.as_ref().unwrap();
        assert_eq!(
            o.end(utc(2026, 11, 28, 9, 0)),
            Some(utc(2026, 11, 28, 11, 0))
        );
        for (text, minutes) in [("90m", 90), ("2h", 120), ("1d", 1440)] {
            let hold = HoldFor::try_from(text.to_owned()).unwrap();
            assert_eq!(
                hold.duration(),
                chrono::Duration::minutes(minutes),
                "{text}"
            );
        }
        for bad in ["", "h", "0h", "2", "2w", "-1h", "1.5h", "99999999d"] {
            assert!(HoldFor::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_override_needs_exactly_one_end_except_clear() {
        let until = "2026-11-28T18:00:00Z";
        let refused = [
            json!({"target": "a/b", "state": "awake"}),
            json!({"target": "a/b", "state": "awake", "until": until, "for": "2h"}),
        ];
        for o in refused {
            let err = InvocationEvent::from_value(json!({"override": o})).unwrap_err();
            assert!(matches!(err, EventError::OverrideEnd { .. }), "{o}: {err}");
            assert!(err.to_string().contains("exactly one of"), "{err}");
        }
        let clear =
            InvocationEvent::from_value(json!({"override": {"target": "a/b", "state": "clear"}}))
                .unwrap();
        assert_eq!(clear.override_.unwrap().end(utc(2026, 1, 1, 0, 0)), None);
    }

    #[test]
    fn an_override_is_refused_by_a_function_whose_targets_it_does_not_fit() {
        let event = |state: &str| {
            InvocationEvent::from_value(json!({
                "override": {"target": "t", "state": state, "for": "1h"}
            }))
            .unwrap()
        };
        let err = event("awake")
            .ensure_override_fits("aurora-replicas")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"awake\" is for eks-nodegroups, not aurora-replicas; aurora-replicas takes replicas:N or clear"),
            "{err}"
        );
        assert!(
            event("replicas:2")
                .ensure_override_fits("masked-refresh")
                .is_err()
        );
        assert!(
            event("skip")
                .ensure_override_fits("eks-nodegroups")
                .is_err()
        );
        for (state, function) in [
            ("awake", "eks-nodegroups"),
            ("replicas:2", "aurora-replicas"),
            ("refresh", "masked-refresh"),
            ("clear", "masked-refresh"),
            ("clear", "aurora-replicas"),
        ] {
            assert!(
                event(state).ensure_override_fits(function).is_ok(),
                "{state}"
            );
        }
        assert!(
            InvocationEvent::default()
                .ensure_override_fits("aurora-replicas")
                .is_ok()
        );
    }

    #[test]
    fn override_errors() {
        let unknown_state =
            json!({"override": {"target": "a/b", "state": "off", "until": "2026-11-28T18:00:00Z"}});
        let message = InvocationEvent::from_value(unknown_state)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("unknown override state \"off\""),
            "{message}"
        );

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
            message.contains("aurora-replicas has no target to override"),
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
