//! The kill switch: `offpeak pause [FUNCTION] --until T` stops a function (or all of them) from
//! changing anything, without a redeploy; `offpeak resume [FUNCTION]` lifts it.
//!
//! A pause is one state item, `offpeak/pause/<scope>` (`scope` = a function name or `all`), whose
//! document is a [`Pause`]. Every tick reads both items that concern it ([`Gate::check`]) before
//! it plans. While either holds at the clock's value, the tick runs as a dry-run: it observes,
//! plans and reports (`paused_until` in the report, one note), and makes no change, no state write
//! and no notification of its own.
//!
//! Guarantees:
//! - **Takes effect on the next tick**: the item is read every tick, never cached.
//! - **The clock decides, not the event.** A pause holds while the real clock is before `until`;
//!   an event's `at` (a replayed instant) can neither lift nor extend it.
//! - **Fails closed.** If the pause items cannot be read, the tick fails (and its alarm sees it)
//!   rather than acting while a person may have asked it to stop. Without a state table (local
//!   dry-runs) there is nothing to read and nothing is paused.
//! - **An ending is told once.** The first tick after a pause expires deletes its item with a
//!   versioned delete and, only when that delete was its own, notifies "pause ended"; racing ticks
//!   see a conflict and stay quiet.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::InvocationEvent;
use crate::notify::{Notification, Notifier, Severity, Token};
use crate::report::Report;
use crate::state::{DeleteOutcome, Record, StateError, StateStore};

/// The scope that pauses every function.
pub const ALL: &str = "all";

/// The state key of a pause of `scope` (a function name or [`ALL`]).
pub fn key(scope: &str) -> String {
    format!("offpeak/pause/{scope}")
}

/// What `offpeak pause` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// A function name or [`ALL`].
    pub scope: String,
    /// The pause ends at this instant.
    pub until: DateTime<Utc>,
    /// When it was set (for `offpeak status`).
    pub since: DateTime<Utc>,
}

impl Pause {
    /// True while the pause holds at the clock's value `clock`.
    pub fn holds(&self, clock: DateTime<Utc>) -> bool {
        clock < self.until
    }
}

/// The pauses that concern one function at one tick.
#[derive(Debug, Default)]
pub struct Gate {
    /// The pause in force (the later-ending one if both hold).
    active: Option<Pause>,
    /// Pauses that have ended and are still stored, with the version read.
    ended: Vec<(Pause, u64)>,
}

impl Gate {
    /// Reads the pause items of `function` (no read without a store).
    pub async fn check<S: StateStore>(
        store: Option<&S>,
        function: &str,
        clock: DateTime<Utc>,
    ) -> Result<Self, StateError> {
        let Some(store) = store else {
            return Ok(Self::default());
        };
        let keys = [key(ALL), key(function)];
        let records = store.get_many(&keys).await?;
        Self::from_records(&records, &keys, clock)
    }

    fn from_records(
        records: &HashMap<String, Record>,
        keys: &[String],
        clock: DateTime<Utc>,
    ) -> Result<Self, StateError> {
        let mut gate = Self::default();
        for record in keys.iter().filter_map(|k| records.get(k)) {
            let pause: Pause = record.decode()?;
            if !pause.holds(clock) {
                gate.ended.push((pause, record.version));
            } else if gate.active.as_ref().is_none_or(|a| a.until < pause.until) {
                gate.active = Some(pause);
            }
        }
        Ok(gate)
    }

    /// The pause in force, if any.
    pub fn active(&self) -> Option<&Pause> {
        self.active.as_ref()
    }

    /// The event the tick runs with: a dry-run while paused.
    pub fn event(&self, event: &InvocationEvent) -> InvocationEvent {
        let mut event = event.clone();
        event.dry_run |= self.active.is_some();
        event
    }

    /// Marks a paused tick's report. A dry-run the caller asked for stays a dry-run either way.
    pub fn annotate<A>(&self, report: &mut Report<A>) {
        if let Some(pause) = &self.active {
            report.paused_until = Some(pause.until);
            report.note(
                pause.scope.clone(),
                format!(
                    "paused until {} (offpeak resume to lift it): planned, nothing changed",
                    pause.until.to_rfc3339()
                ),
            );
        }
    }

    /// Deletes ended pauses and notifies each ending this tick deleted. Not in dry-runs the
    /// caller asked for (they write nothing). Failures become notes: a stale item only costs a read.
    pub async fn finish<S: StateStore, A>(
        &self,
        store: Option<&S>,
        notifier: &Notifier,
        function: &'static str,
        dry_run: bool,
        report: &mut Report<A>,
    ) {
        let Some(store) = store.filter(|_| !dry_run) else {
            return;
        };
        for (pause, version) in &self.ended {
            match store.delete(&key(&pause.scope), *version).await {
                Ok(DeleteOutcome::Deleted) => {
                    let ended = ended_notice(function, pause);
                    if let Err(err) = notifier.notify(&ended).await {
                        report.note(function, crate::error_chain::chain(&err));
                    }
                }
                Ok(DeleteOutcome::Conflict) => {}
                Err(err) => report.note(function, crate::error_chain::chain(&err)),
            }
        }
    }
}

/// "offpeak is no longer paused" for `scope`.
pub fn ended_notice(function: &'static str, pause: &Pause) -> Notification {
    Notification::new(Severity::Info, function, scope_token(pause), "pause ended")
        .line("The schedule applies again from this tick on.")
        .fact("paused since", pause.since)
        .fact("until", pause.until)
}

/// "offpeak is paused" for `scope`, sent by `offpeak pause`.
pub fn started_notice(pause: &Pause) -> Notification {
    Notification::new(Severity::Action, "cli", scope_token(pause), "paused")
        .line("Ticks still observe and report, and change nothing until the pause ends.")
        .fact("until", pause.until)
        .next_step("offpeak resume lifts the pause early; offpeak status shows it.")
}

/// "offpeak resumed" for `scope`, sent by `offpeak resume`.
pub fn resumed_notice(scope: &str) -> Notification {
    let target = Token::new(scope).unwrap_or_else(|_| Token::new(ALL).expect("valid token"));
    Notification::new(Severity::Action, "cli", target, "resumed")
        .line("The pause was lifted by offpeak resume; the schedule applies from the next tick.")
}

fn scope_token(pause: &Pause) -> Token {
    Token::new(&pause.scope).unwrap_or_else(|_| Token::new(ALL).expect("valid token"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryStateStore;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).unwrap()
    }

    async fn store_with(pauses: &[(&str, u32)]) -> MemoryStateStore {
        let store = MemoryStateStore::new();
        for (scope, until) in pauses {
            let pause = Pause {
                scope: (*scope).into(),
                until: t(*until),
                since: t(0),
            };
            let doc = serde_json::to_value(pause).unwrap();
            store.put(&key(scope), &doc, None).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn a_pause_of_the_function_or_of_all_turns_the_tick_into_a_dry_run() {
        for scope in ["aurora-replicas", ALL] {
            let store = store_with(&[(scope, 10)]).await;
            let gate = Gate::check(Some(&store), "aurora-replicas", t(9))
                .await
                .unwrap();
            assert_eq!(gate.active().map(|p| p.until), Some(t(10)), "{scope}");
            assert!(gate.event(&InvocationEvent::default()).dry_run);
        }
    }

    #[tokio::test]
    async fn another_functions_pause_does_not_apply() {
        let store = store_with(&[("eks-nodegroups", 10)]).await;
        let gate = Gate::check(Some(&store), "aurora-replicas", t(9))
            .await
            .unwrap();
        assert!(gate.active().is_none());
        assert!(!gate.event(&InvocationEvent::default()).dry_run);
    }

    #[tokio::test]
    async fn the_later_ending_pause_wins() {
        let store = store_with(&[(ALL, 10), ("aurora-replicas", 12)]).await;
        let gate = Gate::check(Some(&store), "aurora-replicas", t(9))
            .await
            .unwrap();
        assert_eq!(gate.active().unwrap().until, t(12));
    }

    #[tokio::test]
    async fn an_ended_pause_is_deleted_and_notified_once() {
        let store = store_with(&[("aurora-replicas", 10)]).await;
        let (notifier, sent) = Notifier::in_memory();
        for _ in 0..2 {
            let gate = Gate::check(Some(&store), "aurora-replicas", t(10))
                .await
                .unwrap();
            assert!(gate.active().is_none(), "ends at until, exclusive");
            let mut report: Report<()> = Report::new("aurora-replicas", t(10), false);
            gate.finish(
                Some(&store),
                &notifier,
                "aurora-replicas",
                false,
                &mut report,
            )
            .await;
            assert!(report.notes.is_empty(), "{:?}", report.notes);
        }
        let sent = sent.take();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].title, "pause ended");
        assert!(
            store
                .get_many(&[key("aurora-replicas")])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_requested_dry_run_leaves_an_ended_pause_in_place() {
        let store = store_with(&[(ALL, 10)]).await;
        let (notifier, sent) = Notifier::in_memory();
        let gate = Gate::check(Some(&store), "eks-nodegroups", t(11))
            .await
            .unwrap();
        let mut report: Report<()> = Report::new("eks-nodegroups", t(11), true);
        gate.finish(Some(&store), &notifier, "eks-nodegroups", true, &mut report)
            .await;
        assert!(sent.is_empty());
        assert_eq!(store.get_many(&[key(ALL)]).await.unwrap().len(), 1);
    }

    #[test]
    fn a_paused_report_says_until_when() {
        let gate = Gate {
            active: Some(Pause {
                scope: ALL.into(),
                until: t(10),
                since: t(0),
            }),
            ended: Vec::new(),
        };
        let mut report: Report<()> = Report::new("aurora-replicas", t(9), true);
        gate.annotate(&mut report);
        assert_eq!(report.paused_until, Some(t(10)));
        assert!(
            report.notes[0]
                .message
                .starts_with("paused until 2026-12-07T10:00:00")
        );
    }

    #[tokio::test]
    async fn no_store_means_no_pause() {
        let gate = Gate::check(None::<&MemoryStateStore>, "aurora-replicas", t(9))
            .await
            .unwrap();
        assert!(gate.active().is_none());
    }
}
