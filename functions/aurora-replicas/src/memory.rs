//! What offpeak remembers about each cluster between ticks, and the transition gate it drives.
//!
//! One JSON document per cluster in the state store (key: the cluster id):
//!
//! ```json
//! {"desired": 2, "since": "2026-11-27T09:15:00Z", "converged": true, "drift_ticks": 0,
//!  "acted_at": "2026-11-27T09:15:00Z",
//!  "notified": {"ready": true, "drift": false, "failure": false, "kept_writer": null},
//!  "override": {"state": "replicas:2", "until": "2026-11-27T20:00:00Z", "set_at": "2026-11-27T09:00:00Z"}}
//! ```
//!
//! `desired` is what the tick wanted: the schedule's count, or an override's while one holds
//! (`override`, see [`crate::overrides`]).
//!
//! **Transition gating** (design.md: act on transitions, respect a human inside a window):
//! - the desired count changed since the last tick (or nothing is remembered) → converge;
//! - the last transition has not converged yet (a create failed, the cluster was busy, a replica
//!   was still being created when it had to go) → keep converging, every tick, until it has;
//! - an override holds → converge every tick: a person asked for exactly that many;
//! - converged, and the cluster has since been changed by hand → leave it, unless the target
//!   sets `enforce: true`, which re-applies the schedule every tick.
//!
//! "Converged" means a tick *observed* exactly the desired number of offpeak replicas (replicas
//! still being created count; deleting or broken ones do not). It is never set by an action's
//! success alone, so a lost create is retried.
//!
//! Every instant in the document (`since`, `acted_at`) is the clock's value when the tick ran,
//! even when the invocation's `at` replays another moment: `at` moves only the instant the
//! schedule is read at, so a replay can neither backdate nor postdate what offpeak did.
//!
//! The `notified` flags make each notification about a transition go out once: "ready for peak",
//! drift (desired ≠ actual for [`DRIFT_TICKS`] ticks in a row after the transition tick), the
//! first failure, and a replica kept because it became the writer. A new transition resets them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::overrides::HeldOverride;

/// Consecutive ticks of desired ≠ actual (after the transition tick) that make a drift.
pub const DRIFT_TICKS: u32 = 3;

/// The state document of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// The desired replica count of the last tick.
    pub desired: u8,
    /// When the desired count last changed.
    pub since: DateTime<Utc>,
    /// A tick has observed the desired count since `since`.
    pub converged: bool,
    /// Consecutive ticks that observed desired ≠ actual.
    pub drift_ticks: u32,
    /// When offpeak last created or deleted a replica of this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notified: Notified,
    /// A person's "exactly N replicas until then" (see [`crate::overrides`]).
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<HeldOverride>,
}

/// Which notifications about the current transition went out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notified {
    pub ready: bool,
    pub drift: bool,
    pub failure: bool,
    /// The offpeak replica reported as kept because it is the writer.
    pub kept_writer: Option<String>,
}

/// What a tick does with a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Make the offpeak replica count equal the desired count.
    Converge(Reason),
    /// Converged earlier and changed by hand since: leave it (no `enforce`).
    Respect,
}

/// Why a tick converges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The desired count changed (or nothing was remembered).
    Transition,
    /// The last transition has not been observed complete yet.
    Unfinished,
    /// `enforce: true`.
    Enforce,
    /// An override holds: exactly its count, every tick.
    Override,
    /// The cluster was removed from the schedule: it wants no offpeak replica, whatever a person
    /// did (see [`crate::unscheduled`]).
    Unscheduled,
}

/// The transition gate; `held`: an override holds the count.
pub fn gate(prev: Option<&Memory>, desired: u8, enforce: bool, held: bool) -> Mode {
    match prev {
        None => Mode::Converge(Reason::Transition),
        Some(m) if m.desired != desired => Mode::Converge(Reason::Transition),
        Some(m) if !m.converged => Mode::Converge(Reason::Unfinished),
        Some(_) if held => Mode::Converge(Reason::Override),
        Some(_) if enforce => Mode::Converge(Reason::Enforce),
        Some(_) => Mode::Respect,
    }
}

/// What this tick found, as far as memory is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// Observed offpeak replicas == desired.
    pub matches: bool,
    /// Desired > 0 and that many offpeak replicas are all `available`.
    pub ready: bool,
    /// An offpeak replica that had to go but is the writer.
    pub kept_writer: Option<String>,
    /// The plan changes something.
    pub acts: bool,
}

/// The notifications a tick's finding calls for, before anything is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    pub ready: bool,
    pub drift: bool,
    pub kept_writer: Option<String>,
}

impl Memory {
    /// A new transition to `desired` at `now`, not converged yet.
    pub(crate) fn fresh(desired: u8, now: DateTime<Utc>) -> Self {
        Self {
            desired,
            since: now,
            converged: false,
            drift_ticks: 0,
            acted_at: None,
            notified: Notified::default(),
            override_: None,
        }
    }

    /// The memory after a tick that wants `desired` and found `finding`, with the notifications
    /// now due. `now` is the clock's value, never the event's `at`: `at` only chooses what the
    /// schedule says, while `since` and `acted_at` record when things happened. The override
    /// is carried over as it was; the caller sets what this tick keeps. Pure.
    pub fn next(
        prev: Option<&Memory>,
        desired: u8,
        now: DateTime<Utc>,
        finding: &Finding,
    ) -> (Memory, Due) {
        let transition = prev.is_none_or(|p| p.desired != desired);
        let before = match prev {
            Some(p) if !transition => p.clone(),
            _ => Memory::fresh(desired, now),
        };
        let mut next = before.clone();
        next.override_ = prev.and_then(|p| p.override_.clone());
        next.converged |= finding.matches;
        next.drift_ticks = match (transition, finding.matches) {
            (false, false) => before.drift_ticks.saturating_add(1),
            _ => 0,
        };
        if finding.matches {
            next.notified.drift = false;
            next.notified.failure = false;
        }
        if finding.acts {
            next.acted_at = Some(now);
        }
        let due = Due {
            ready: finding.ready && !before.notified.ready,
            drift: next.drift_ticks >= DRIFT_TICKS && !next.notified.drift,
            kept_writer: finding
                .kept_writer
                .clone()
                .filter(|w| before.notified.kept_writer.as_ref() != Some(w)),
        };
        next.notified.ready |= due.ready;
        if let Some(w) = &due.kept_writer {
            // The kept-writer notice already asks a person to act: no second, generic drift notice.
            next.notified.kept_writer = Some(w.clone());
            next.notified.drift = true;
        }
        next.notified.drift |= due.drift;
        (next, due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc;

    fn at(minute: u32) -> DateTime<Utc> {
        utc("2026-11-27T09:00:00Z") + chrono::Duration::minutes(minute.into())
    }

    fn finding(matches: bool) -> Finding {
        Finding {
            matches,
            ..Finding::default()
        }
    }

    #[test]
    fn gate_converges_on_transitions_and_until_done_then_respects_people() {
        let (done, _) = Memory::next(None, 2, at(0), &finding(true));
        let (pending, _) = Memory::next(None, 2, at(0), &finding(false));
        let cases = [
            (None, 2, false, false, Mode::Converge(Reason::Transition)),
            (
                Some(&done),
                0,
                false,
                false,
                Mode::Converge(Reason::Transition),
            ),
            (
                Some(&done),
                0,
                false,
                true,
                Mode::Converge(Reason::Transition),
            ),
            (
                Some(&pending),
                2,
                false,
                false,
                Mode::Converge(Reason::Unfinished),
            ),
            (Some(&done), 2, true, false, Mode::Converge(Reason::Enforce)),
            (
                Some(&done),
                2,
                false,
                true,
                Mode::Converge(Reason::Override),
            ),
            (Some(&done), 2, false, false, Mode::Respect),
        ];
        for (prev, desired, enforce, held, want) in cases {
            assert_eq!(
                gate(prev, desired, enforce, held),
                want,
                "{prev:?} {desired}"
            );
        }
    }

    #[test]
    fn a_transition_starts_fresh_memory() {
        let (old, _) = Memory::next(None, 2, at(0), &finding(true));
        let (new, due) = Memory::next(Some(&old), 0, at(300), &finding(false));
        assert_eq!(new.desired, 0);
        assert_eq!(new.since, at(300));
        assert!(!new.converged);
        assert_eq!(new.drift_ticks, 0);
        assert_eq!(due, Due::default());
    }

    #[test]
    fn drift_is_notified_once_after_three_mismatched_ticks_and_rearms_on_match() {
        let (mut m, _) = Memory::next(None, 2, at(0), &finding(true));
        let mut dues = Vec::new();
        for tick in 1..=5 {
            let (next, due) = Memory::next(Some(&m), 2, at(tick * 5), &finding(false));
            dues.push(due.drift);
            m = next;
        }
        assert_eq!(dues, [false, false, true, false, false]);
        let (m, _) = Memory::next(Some(&m), 2, at(30), &finding(true));
        assert_eq!((m.drift_ticks, m.notified.drift), (0, false));
    }

    #[test]
    fn ready_is_notified_once_per_transition() {
        let ready = Finding {
            matches: true,
            ready: true,
            ..Finding::default()
        };
        let (m, due) = Memory::next(None, 2, at(0), &ready);
        assert!(due.ready && m.notified.ready);
        let (m, due) = Memory::next(Some(&m), 2, at(5), &ready);
        assert!(!due.ready && m.notified.ready);
        let (m, _) = Memory::next(Some(&m), 0, at(10), &finding(true));
        let (_, due) = Memory::next(Some(&m), 1, at(15), &ready);
        assert!(due.ready, "a new transition re-arms it");
    }

    #[test]
    fn kept_writer_is_notified_once_and_stands_in_for_drift() {
        let kept = Finding {
            kept_writer: Some("prod-offpeak-1".into()),
            ..Finding::default()
        };
        let (mut m, due) = Memory::next(None, 0, at(0), &kept);
        assert_eq!(due.kept_writer.as_deref(), Some("prod-offpeak-1"));
        for tick in 1..=4 {
            let (next, due) = Memory::next(Some(&m), 0, at(tick * 5), &kept);
            assert_eq!(due, Due::default(), "tick {tick}");
            m = next;
        }
    }

    #[test]
    fn acting_records_when() {
        let acts = Finding {
            acts: true,
            ..Finding::default()
        };
        let (m, _) = Memory::next(None, 2, at(0), &acts);
        assert_eq!(m.acted_at, Some(at(0)));
        let (m, _) = Memory::next(Some(&m), 2, at(5), &finding(true));
        assert_eq!(m.acted_at, Some(at(0)));
    }

    #[test]
    fn documents_round_trip_and_tolerate_missing_optional_fields() {
        let (m, _) = Memory::next(None, 2, at(0), &finding(true));
        let again: Memory = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(again, m);
        let minimal: Memory = serde_json::from_str(
            r#"{"desired": 1, "since": "2026-11-27T09:00:00Z", "converged": false, "drift_ticks": 0}"#,
        )
        .unwrap();
        assert_eq!(minimal.notified, Notified::default());
    }
}
