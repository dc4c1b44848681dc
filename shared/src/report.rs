//! The report a tick returns: the Lambda response, `offpeak run --json`, and what dry-run prints.
//!
//! A report is generic over the function's own action type `A`, so each function keeps its
//! actions as a closed enum while every function answers in the same shape:
//! `{"function", "at", "dry_run", "plan", "applied", "failed", "notes", "drifting"}` (plus
//! `paused_until` while a pause holds). Errors in `failed` are
//! already free of personal data (they name operations, ids and AWS error codes only).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What one tick saw, decided and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report<A> {
    pub function: &'static str,
    /// The tick's instant (the event's `at`, else the clock), UTC.
    pub at: DateTime<Utc>,
    pub dry_run: bool,
    /// Every action the plan holds, in order. In dry-run, nothing else happens.
    pub plan: Vec<A>,
    /// Actions that succeeded.
    pub applied: Vec<A>,
    /// Actions that failed, with the reason; the next tick retries them.
    pub failed: Vec<Failed<A>>,
    /// Observations that produced no action (e.g. a cluster not `available`, a missing node group).
    pub notes: Vec<Note>,
    /// Targets that are not as the schedule wants and that this tick leaves so: replicas or node
    /// groups changed by hand for several ticks, a nightly refresh that failed. Each function
    /// publishes their number as its `Drift` metric, which the template's drift alarms watch.
    pub drifting: Vec<String>,
    /// Set while `offpeak pause` holds the function: the tick planned and changed nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
}

/// An action and why it failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failed<A> {
    pub action: A,
    pub error: String,
}

/// Something a person should know about a target that is not an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub target: String,
    pub message: String,
}

impl<A> Report<A> {
    /// An empty report for `function` at `at`.
    pub fn new(function: &'static str, at: DateTime<Utc>, dry_run: bool) -> Self {
        Report {
            function,
            at,
            dry_run,
            plan: Vec::new(),
            applied: Vec::new(),
            failed: Vec::new(),
            notes: Vec::new(),
            drifting: Vec::new(),
            paused_until: None,
        }
    }

    pub fn note(&mut self, target: impl Into<String>, message: impl Into<String>) {
        self.notes.push(Note {
            target: target.into(),
            message: message.into(),
        });
    }

    /// True when every planned action was applied (trivially true for an empty or dry-run plan).
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty()
    }
}
