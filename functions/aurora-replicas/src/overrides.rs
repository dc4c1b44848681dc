//! Manual overrides: "hold exactly N offpeak replicas on this cluster until then", and `clear`.
//!
//! An override arrives in the invocation event (`{"override": {"target": "prod-aurora", "state":
//! "replicas:3", "until": "..."}}`, recorded by that tick) or from `offpeak override`
//! ([`record()`], which stores it and returns; the next tick applies it). It lives in the
//! cluster's state document next to offpeak's memory of it (see [`crate::memory`]):
//!
//! ```json
//! {"desired": 1, "since": "...", "converged": true, "drift_ticks": 0,
//!  "override": {"state": "replicas:1", "until": "2026-11-27T20:00:00Z", "set_at": "2026-11-27T17:00:00Z"}}
//! ```
//!
//! Guarantees:
//! - **While it holds, the count is exactly N** offpeak replicas (N may be 0), whatever the
//!   schedule says, across window boundaries: the planner converges to N on every tick (as with
//!   `enforce: true`), so a person's change inside the override is put back. Only offpeak's own
//!   replicas are ever created or removed ([`crate::ownership`]); never the writer.
//! - **Its start and its end are transitions.** The tick that records it converges to N at once;
//!   the first tick at or after `until` (judged by the clock) converges to the schedule again,
//!   sends "override ended" and drops it from the document. `clear` ends it now: the event's tick
//!   applies the schedule at once; `offpeak override <cluster> clear` sets its end to the clock,
//!   and the next tick does the rest (notification included). Clearing a cluster that holds no
//!   override changes nothing and says so.
//! - **Refused as bad input, nothing written or changed**: a cluster the schedule does not name
//!   (the known ones are listed), a state that is not `replicas:N` or `clear`, an end not after
//!   the clock or more than `MAX_OVERRIDE_DAYS` (31) after it (judged by the clock, never by the
//!   event's `at`), and an N beyond what Aurora allows: [`MAX_READERS`] readers per cluster,
//!   minus the readers offpeak did not create (people's, Application Auto Scaling's). That last
//!   check needs the cluster: one that RDS does not know is refused too.
//! - A stored override names its state as written (`replicas:N`), so `offpeak status` lists it like
//!   any other function's.

use chrono::{DateTime, Utc};
use offpeak_shared::config::Schedule;
use offpeak_shared::event::{
    EventError, InvocationEvent, Override, OverrideState, check_override_end,
};
use offpeak_shared::state::{PutOutcome, StateStore};
use serde::{Deserialize, Serialize};

use crate::memory::Memory;
use crate::observe::{ClusterView, observe};
use crate::plan::MAX_READERS;
use crate::rds::Rds;
use crate::{FUNCTION, TickError};

/// Conditional-write attempts of `offpeak override` before a contended document gives up.
const WRITE_ATTEMPTS: usize = 3;

/// An override as stored in the cluster's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOverride {
    /// Always `replicas:N` when offpeak wrote it.
    pub state: OverrideState,
    /// It holds strictly before this instant (the clock's).
    pub until: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
    /// Ended early by `clear` (then `until` is when).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleared: bool,
}

impl HeldOverride {
    /// The count it holds; `None` for a state that is not `replicas:N` (never held).
    pub fn replicas(&self) -> Option<u8> {
        match self.state {
            OverrideState::Replicas(n) => u8::try_from(n).ok(),
            OverrideState::Awake
            | OverrideState::Asleep
            | OverrideState::Skip
            | OverrideState::Refresh
            | OverrideState::Clear => None,
        }
    }

    /// The count it holds at the clock's `now`, if it still holds.
    pub fn holds(&self, now: DateTime<Utc>) -> Option<u8> {
        self.replicas().filter(|_| now < self.until)
    }
}

/// A checked override for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Hold `held` on `cluster` (the id as the schedule spells it).
    Hold { cluster: String, held: HeldOverride },
    /// End `cluster`'s override now.
    Clear { cluster: String },
}

impl Request {
    /// The cluster id as the schedule spells it (the state key).
    pub fn cluster(&self) -> &str {
        match self {
            Request::Hold { cluster, .. } | Request::Clear { cluster } => cluster,
        }
    }
}

/// Checks everything about `o` that needs no AWS call, with the clock at `clock`.
pub fn check(
    schedule: &Schedule,
    o: &Override,
    clock: DateTime<Utc>,
) -> Result<Request, TickError> {
    let event = InvocationEvent {
        override_: Some(o.clone()),
        ..InvocationEvent::default()
    };
    event.ensure_override_fits(FUNCTION)?;
    let cluster = resolve(schedule, &o.target)?;
    let n = match o.state {
        OverrideState::Replicas(n) => n,
        // `ensure_override_fits` let through only `replicas:N` and `clear`.
        OverrideState::Clear
        | OverrideState::Awake
        | OverrideState::Asleep
        | OverrideState::Skip
        | OverrideState::Refresh => return Ok(Request::Clear { cluster }),
    };
    let until = o
        .end(clock)
        .ok_or(EventError::OverrideEnd { state: o.state })?;
    check_override_end(&cluster, until, clock)?;
    if n as usize > MAX_READERS {
        return Err(TickError::TooManyReplicas {
            cluster,
            requested: n,
            allowed: MAX_READERS,
            others: 0,
        });
    }
    let held = HeldOverride {
        state: o.state,
        until,
        set_at: clock,
        cleared: false,
    };
    Ok(Request::Hold { cluster, held })
}

/// The schedule's spelling of cluster `target` (RDS ids are case-insensitive).
fn resolve(schedule: &Schedule, target: &str) -> Result<String, TickError> {
    let known: Vec<&str> = schedule
        .aurora_replicas
        .iter()
        .map(|t| t.cluster.as_str())
        .collect();
    known
        .iter()
        .find(|c| c.eq_ignore_ascii_case(target))
        .map(|c| (*c).to_owned())
        .ok_or_else(|| TickError::UnknownOverrideTarget {
            target: target.to_owned(),
            known: if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
        })
}

/// Checks a request against the cluster as observed: it exists, and Aurora's reader limit leaves
/// room for N offpeak replicas beside the readers offpeak did not create.
pub fn fits(request: &Request, view: Option<&ClusterView>) -> Result<(), TickError> {
    let Request::Hold { cluster, held } = request else {
        return Ok(());
    };
    let Some(view) = view else {
        return Err(TickError::OverrideClusterMissing {
            cluster: cluster.clone(),
        });
    };
    let others = view
        .members
        .iter()
        .filter(|m| !m.is_writer && m.offpeak_index().is_none())
        .count();
    let allowed = MAX_READERS.saturating_sub(others);
    match held.replicas() {
        Some(n) if usize::from(n) <= allowed => Ok(()),
        _ => Err(TickError::TooManyReplicas {
            cluster: cluster.clone(),
            requested: held.replicas().map_or(u32::MAX, u32::from),
            allowed,
            others,
        }),
    }
}

/// What a tick does about one cluster's override. Pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hold {
    /// The override the document keeps after this tick.
    pub stored: Option<HeldOverride>,
    /// The count it holds now and until when.
    pub active: Option<(u8, DateTime<Utc>)>,
    /// Recorded by this tick (from the event): announced as started.
    pub recorded: Option<HeldOverride>,
    /// Ended by this tick (expired, or cleared): announced as ended.
    pub ended: Option<HeldOverride>,
    /// The event asked for something about this cluster's override.
    pub from_event: bool,
    /// What the report should say about it.
    pub notes: Vec<String>,
}

impl Hold {
    /// What holds at the clock's `clock`, given the override `stored` in the document and the
    /// event's `request` for this cluster.
    pub fn at(
        stored: Option<&HeldOverride>,
        request: Option<&Request>,
        clock: DateTime<Utc>,
    ) -> Hold {
        let mut hold = Hold {
            from_event: request.is_some(),
            ..Hold::default()
        };
        let mut current = stored.cloned();
        match request {
            Some(Request::Hold { held, .. }) => {
                hold.ended = current.take().filter(|o| o.holds(clock).is_none());
                hold.recorded = Some(held.clone());
                current = Some(held.clone());
            }
            Some(Request::Clear { .. }) => match current.as_mut() {
                Some(o) if o.holds(clock).is_some() => {
                    o.until = clock;
                    o.cleared = true;
                }
                _ => hold
                    .notes
                    .push("clear: no override holds this cluster; nothing changed".to_owned()),
            },
            None => {}
        }
        if let Some(o) = current {
            match o.holds(clock) {
                Some(n) => {
                    hold.active = Some((n, o.until));
                    hold.stored = Some(o);
                }
                None => hold.ended = Some(o),
            }
        }
        hold
    }
}

/// What `offpeak override` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overridden {
    /// The override is stored; the next tick applies it.
    Held(HeldOverride),
    /// The override (as it was) now ends at the clock; the next tick applies the schedule.
    Cleared(HeldOverride),
    /// `clear` of a cluster that holds no override: nothing was written.
    NothingToClear,
}

/// Checks and stores `o` for the next tick (retrying if a tick writes the same document
/// meanwhile): `offpeak override`. `clock` is the clock's value.
pub async fn record<R: Rds, S: StateStore>(
    rds: &R,
    store: &S,
    schedule: &Schedule,
    o: &Override,
    clock: DateTime<Utc>,
) -> Result<Overridden, TickError> {
    let request = check(schedule, o, clock)?;
    let cluster = request.cluster().to_owned();
    if let Request::Hold { .. } = request {
        let observed = observe(rds, std::slice::from_ref(&cluster)).await?;
        fits(&request, observed.cluster(&cluster))?;
    }
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let records = store
            .get_many(&[&cluster])
            .await
            .map_err(|source| TickError::ReadState { count: 1, source })?;
        let record = records.get(&cluster);
        let memory: Option<Memory> = record
            .map(|r| r.decode())
            .transpose()
            .map_err(|source| TickError::ReadState { count: 1, source })?;
        let Some((memory, outcome)) = edit(memory, &request, clock) else {
            return Ok(Overridden::NothingToClear);
        };
        let doc = serde_json::to_value(&memory).expect("memory serialises to JSON");
        let put = store
            .put(&cluster, &doc, record.map(|r| r.version))
            .await
            .map_err(|source| TickError::WriteState {
                cluster: cluster.clone(),
                source,
            })?;
        match put {
            PutOutcome::Written { .. } => return Ok(outcome),
            PutOutcome::Conflict => {
                last = Some(TickError::OverrideContended {
                    cluster: cluster.clone(),
                })
            }
        }
    }
    Err(last.expect("at least one attempt was made"))
}

/// The document with `request` applied, and what that amounts to; `None` when there is nothing
/// to clear. A cluster offpeak has no memory of yet gets one that wants the override's count
/// from now, not yet converged: the next tick converges it.
fn edit(
    memory: Option<Memory>,
    request: &Request,
    clock: DateTime<Utc>,
) -> Option<(Memory, Overridden)> {
    match request {
        Request::Hold { held, .. } => {
            let n = held.replicas().unwrap_or(0);
            let mut memory = memory.unwrap_or_else(|| Memory::fresh(n, clock));
            memory.override_ = Some(held.clone());
            Some((memory, Overridden::Held(held.clone())))
        }
        Request::Clear { .. } => {
            let mut memory = memory?;
            let held = memory
                .override_
                .as_mut()
                .filter(|o| o.holds(clock).is_some())?;
            let before = held.clone();
            held.until = clock;
            held.cleared = true;
            Some((memory, Overridden::Cleared(before)))
        }
    }
}

#[cfg(test)]
mod tests;
