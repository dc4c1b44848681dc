//! Manual overrides of the refresh: "skip the refresh until then" and "refresh now, finished by
//! then" — and `clear`, which ends either early.
//!
//! An override arrives in the invocation event (`{"override": {"target": "dev-aurora", "state":
//! "skip", "until": "..."}}`, recorded as the first steps of that tick's plan) or from
//! `offpeak override` ([`record`], which writes it, notifies and returns). It lives in the
//! refresh's own state document (`masked-refresh/<dev cluster>`) under `"override"`:
//!
//! ```json
//! {"override": {"state": "refresh", "until": "2026-11-27T17:00:00Z", "set_at": "2026-11-27T14:00:00Z", "run": "20261127t1400"}}
//! ```
//!
//! (`run` is written once a `refresh` override has started its run.) While it holds, it replaces
//! the window in deciding whether a run may start ([`crate::desired`]):
//! - `skip`: no run starts before `until`. A run already in progress is never abandoned: it goes
//!   on to its end (done, or cleaned up / rolled back) by its own deadline.
//! - `refresh`: one run may start now, outside the window too, and must finish by `until` (its
//!   deadline). It starts as soon as no other run is in progress; once it has started, no second
//!   one starts under the same override, whatever its outcome.
//!
//! Guarantees:
//! - **Refused, nothing written** (bad input, [`TickError::is_bad_input`]): a target that is not
//!   the refresh's dev cluster, a state that is not `skip`, `refresh` or `clear`, a `skip` or
//!   `refresh` without an end, an end not after the clock, or more than `MAX_OVERRIDE_DAYS` (31)
//!   after it. Every check uses the clock's value, never an event's `at`.
//! - **Every override is told twice**: when it starts, and when it ends — cleared, replaced by
//!   another, or expired (the first tick whose clock is at or past `until` drops it and then
//!   follows the schedule). A notice goes out only after the write that made the change
//!   succeeded, so a lost race tells nothing twice.
//! - **No lost update**: every write is conditional on the version read; a racing writer makes
//!   [`record`] read again (at most [`WRITE_ATTEMPTS`] times).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use offpeak_shared::config::MaskedRefresh;
use offpeak_shared::error_chain::chain;
use offpeak_shared::event::check_override_end;
use offpeak_shared::notify::Notifier;
use offpeak_shared::state::{PutOutcome, StateStore};
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::error::TickError;
use crate::memory::Memory;
use crate::notices;
use crate::tick::state_key;

/// Conditional-write attempts before a contended override gives up.
pub const WRITE_ATTEMPTS: usize = 3;

/// What an override holds the refresh to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// No run starts before the end.
    Skip,
    /// One run may start now, outside the window, and must finish by the end.
    Refresh,
}

impl Hold {
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::Skip => "skip",
            Hold::Refresh => "refresh",
        }
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An override as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOverride {
    pub state: Hold,
    pub until: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
    /// `refresh`: the run it started, once it has (one run per override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl HeldOverride {
    /// True strictly before `until`, judged by the clock.
    pub fn is_active(&self, clock: DateTime<Utc>) -> bool {
        clock < self.until
    }
}

/// A checked request: hold the refresh so, or clear its override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Hold(HeldOverride),
    Clear,
}

/// Why an override ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Its `until` passed.
    Expired,
    /// `clear`.
    Cleared,
    /// Another override took its place.
    Replaced,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Expired => "expired",
            Ending::Cleared => "cleared",
            Ending::Replaced => "replaced",
        }
    }
}

/// One change to the stored override, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Started(HeldOverride),
    Ended(HeldOverride, Ending),
}

impl Change {
    /// The change as a plan step.
    pub fn action(&self, target: &str) -> Action {
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        match self {
            Change::Started(held) => Action::HoldOverride {
                target: target.to_owned(),
                state: held.state,
                until: text(held.until),
            },
            Change::Ended(held, why) => Action::EndOverride {
                target: target.to_owned(),
                state: held.state,
                why: *why,
            },
        }
    }

    /// The change as the notification that tells it.
    pub fn notice(&self, target: &str) -> offpeak_shared::notify::Notification {
        match self {
            Change::Started(held) => notices::override_started(target, held),
            Change::Ended(held, why) => notices::override_ended(target, held, *why),
        }
    }
}

/// Checks an override of `target` with the clock at `clock`; `until` is ignored for `clear`.
pub fn request(
    cfg: Option<&MaskedRefresh>,
    target: &str,
    state: offpeak_shared::event::OverrideState,
    until: Option<DateTime<Utc>>,
    clock: DateTime<Utc>,
) -> Result<Request, TickError> {
    use offpeak_shared::event::OverrideState as S;
    check_target(cfg, target)?;
    let hold = match state {
        S::Skip => Hold::Skip,
        S::Refresh => Hold::Refresh,
        S::Clear => return Ok(Request::Clear),
        S::Awake | S::Asleep | S::Replicas(_) => {
            return Err(TickError::OverrideState {
                target: target.to_owned(),
                state: state.to_string(),
            });
        }
    };
    let until = until.ok_or_else(|| TickError::OverrideWithoutEnd {
        target: target.to_owned(),
        state: hold,
    })?;
    check_override_end(target, until, clock)?;
    Ok(Request::Hold(HeldOverride {
        state: hold,
        until,
        set_at: clock,
        run: None,
    }))
}

/// Checks the override in an invocation event, with the clock at `clock`.
pub fn from_event(
    cfg: Option<&MaskedRefresh>,
    o: &offpeak_shared::event::Override,
    clock: DateTime<Utc>,
) -> Result<Request, TickError> {
    request(cfg, &o.target, o.state, o.end(clock), clock)
}

fn check_target(cfg: Option<&MaskedRefresh>, target: &str) -> Result<(), TickError> {
    match cfg {
        Some(c) if c.target_cluster.eq_ignore_ascii_case(target) => Ok(()),
        Some(c) => Err(TickError::UnknownOverrideTarget {
            target: target.to_owned(),
            known: c.target_cluster.clone(),
        }),
        None => Err(TickError::UnknownOverrideTarget {
            target: target.to_owned(),
            known: "none (the schedule has no masked_refresh section)".to_owned(),
        }),
    }
}

/// Brings the stored override up to date at `clock`: drops one that has ended, then applies
/// `request`. Returns what changed, in order (nothing: nothing to write).
pub fn settle(memory: &mut Memory, request: Option<&Request>, clock: DateTime<Utc>) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(ended) = memory.override_.take_if(|o| !o.is_active(clock)) {
        changes.push(Change::Ended(ended, Ending::Expired));
    }
    match request {
        None => {}
        Some(Request::Clear) => {
            if let Some(old) = memory.override_.take() {
                changes.push(Change::Ended(old, Ending::Cleared));
            }
        }
        Some(Request::Hold(held)) => {
            if let Some(old) = memory.override_.replace(held.clone()) {
                changes.push(Change::Ended(old, Ending::Replaced));
            }
            changes.push(Change::Started(held.clone()));
        }
    }
    changes
}

/// What [`record`] did, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub target: String,
    /// The override in force now (`None` after `clear`).
    pub holds: Option<HeldOverride>,
    pub changes: Vec<Change>,
    /// Notifications that could not be published (the override is recorded all the same).
    pub unsent: Vec<String>,
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let target = &self.target;
        match (&self.holds, self.changes.as_slice()) {
            (Some(h), _) if h.state == Hold::Skip => write!(
                f,
                "{target}: skip until {}: no refresh run starts before then (a run in progress finishes)",
                text(h.until)
            )?,
            (Some(h), _) => write!(
                f,
                "{target}: refresh until {}: the next tick starts a run, which must finish by then",
                text(h.until)
            )?,
            (None, []) => write!(f, "{target}: no override to clear; the schedule rules")?,
            (None, _) => write!(
                f,
                "{target}: override cleared; the schedule applies from the next tick"
            )?,
        }
        for problem in &self.unsent {
            write!(f, "\nnotification not sent: {problem}")?;
        }
        Ok(())
    }
}

/// `offpeak override`: checks `state` for `target` with the clock at `clock`, stores it in the
/// refresh's state document (retrying a lost race), then notifies each change. Nothing is
/// written when the request is refused, or when it changes nothing (`clear` with no override).
pub async fn record<S: StateStore>(
    store: &S,
    notifier: &Notifier,
    cfg: Option<&MaskedRefresh>,
    target: &str,
    state: offpeak_shared::event::OverrideState,
    until: Option<DateTime<Utc>>,
    clock: DateTime<Utc>,
) -> Result<Recorded, TickError> {
    let request = request(cfg, target, state, until, clock)?;
    let target = cfg.map_or(target, |c| c.target_cluster.as_str()).to_owned();
    let (holds, changes) = write(store, &target, &request, clock).await?;
    let mut unsent = Vec::new();
    for change in &changes {
        if let Err(err) = notifier.notify(&change.notice(&target)).await {
            unsent.push(chain(&err));
        }
    }
    Ok(Recorded {
        target,
        holds,
        changes,
        unsent,
    })
}

async fn write<S: StateStore>(
    store: &S,
    target: &str,
    request: &Request,
    clock: DateTime<Utc>,
) -> Result<(Option<HeldOverride>, Vec<Change>), TickError> {
    let key = state_key(&target.to_ascii_lowercase());
    for _ in 0..WRITE_ATTEMPTS {
        let (mut memory, version) = read(store, &key, target).await?;
        let changes = settle(&mut memory, Some(request), clock);
        if changes.is_empty() {
            return Ok((memory.override_, changes));
        }
        let doc = serde_json::to_value(&memory).expect("the state document serialises to JSON");
        match store.put(&key, &doc, version).await {
            Ok(PutOutcome::Written { .. }) => return Ok((memory.override_, changes)),
            Ok(PutOutcome::Conflict) => continue,
            Err(source) => {
                return Err(TickError::WriteState {
                    target: target.to_owned(),
                    source,
                });
            }
        }
    }
    Err(TickError::Conflict {
        target: target.to_owned(),
    })
}

async fn read<S: StateStore>(
    store: &S,
    key: &str,
    target: &str,
) -> Result<(Memory, Option<u64>), TickError> {
    let failed = |source| TickError::ReadState {
        target: target.to_owned(),
        source,
    };
    let records = store.get_many(&[key]).await.map_err(failed)?;
    match records.get(key) {
        None => Ok((Memory::default(), None)),
        Some(record) => Ok((record.decode().map_err(failed)?, Some(record.version))),
    }
}

#[cfg(test)]
#[path = "overrides_tests.rs"]
mod tests;
