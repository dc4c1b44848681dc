//! Desired: the desired state of the refresh at one tick — may a run start, which one, and by
//! when must it finish? Pure: from the schedule's window (its occurrences: [`crate::window`]),
//! the state document (the latest run and a person's override) and the two instants.
//!
//! Precedence, with no run in progress (a run in progress always goes on to its end, whatever
//! this says: it is never abandoned):
//! 1. an override that holds at the clock's value decides alone — `skip`: no run; `refresh`: one
//!    run, id `YYYYMMDDtHHMM` (the local start), deadline the override's end, unless it started
//!    one already;
//! 2. otherwise the window at `at`: closed → no run; open → the occurrence's run (id its local
//!    opening date, deadline its close), unless a run already belongs to this occurrence — it
//!    has the occurrence's id (or a retry's, below), or it started while the occurrence was open
//!    (a `refresh` run counts as that night's run).
//!
//! Retry within the window: when the occurrence's latest attempt failed, a new attempt starts
//! in the same occurrence if all of these hold, else the occurrence is over:
//! - it failed **before the swap** and its clone was deleted (development never changed): a run
//!   that failed during or after the swap was rolled back or handed to a person, and a second
//!   swap the same night is not worth the risk;
//! - its failure kind is `aws` (a throttled or refused call, an instance that could not be
//!   created, a clone that went `failed`: capacity and RDS hiccups pass) or `deadline` (a phase
//!   that ran out of time; listed for completeness: today every phase before the swap is due at
//!   the window's close, which leaves no time). Not `preflight`, `ownership`, `masking` (rules
//!   or schema errors) nor `verification` (the gate found an original): those fail again the same
//!   way, and only a person can fix them;
//! - at least [`RETRY_MIN_LEFT`] (2 h) of the occurrence is left at `at`: about what a clone,
//!   masking, verification and the swap of a mid-size cluster take; a shorter retry would mostly
//!   be cut off by the close and only copy production once more;
//! - fewer than [`MAX_ATTEMPTS`] (2) attempts belong to the occurrence.
//!
//! Attempt `n` > 1 is named `<occurrence id>r<n>` (`20261127r2`), so its clone, instance and
//! aside names ([`crate::names`]) never meet an earlier attempt's (one still deleting) and sort
//! after it. A `refresh` override's run is not retried: the person who asked is told, and may
//! ask again.
//!
//! The window is read at `at` (a replayed instant moves the schedule), the override at the clock
//! (a replay can neither lift nor stretch it).

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use offpeak_shared::calendar::local;
use offpeak_shared::config::MaskedRefresh;

use crate::memory::{Memory, Phase, Run};
use crate::overrides::Hold;
use crate::plan::FailKind;
use crate::window::{self, Occasion};

/// The least time left in the occurrence for a failed attempt to be retried.
pub const RETRY_MIN_LEFT: TimeDelta = TimeDelta::hours(2);
/// Attempts per window occurrence, the first included.
pub const MAX_ATTEMPTS: u32 = 2;

/// What this tick wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    /// A run may start.
    Start(Slot),
    /// No run may start.
    Idle(Idle),
}

/// The run that may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The run id (clone names derive from it).
    pub run: String,
    /// Phases before the swap completes must finish by then.
    pub deadline: DateTime<Utc>,
    /// What allowed it.
    pub by: By,
}

/// What allowed a run to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The refresh window is open.
    Window,
    /// The window is open and its occurrence's previous attempt failed in a way a new one may fix.
    Retry,
    /// A `refresh` override.
    Refresh,
}

/// Why no run may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idle {
    /// The window is closed and no `refresh` override holds.
    Closed,
    /// This window occurrence's run already happened.
    Ran { run: String, phase: Phase },
    /// A `skip` override holds.
    Skipped { until: DateTime<Utc> },
    /// The `refresh` override holding started its run already.
    Refreshed { run: String, until: DateTime<Utc> },
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        match self {
            Idle::Closed => f.write_str("the refresh window is closed: nothing to do"),
            Idle::Ran { run, phase } => write!(
                f,
                "run {run} already finished ({phase}): nothing to do until the next window"
            ),
            Idle::Skipped { until } => write!(
                f,
                "skip override until {}: no run starts before then",
                text(until)
            ),
            Idle::Refreshed { run, until } => write!(
                f,
                "run {run} was the refresh override's run: no other starts before it ends at {}",
                text(until)
            ),
        }
    }
}

/// The desired state with `memory` as read (no run in progress is assumed to be checked by the
/// caller), the window read at `at` and the override at `clock`.
pub fn desired(
    cfg: &MaskedRefresh,
    memory: &Memory,
    at: DateTime<Utc>,
    clock: DateTime<Utc>,
) -> Desired {
    match memory.override_.as_ref().filter(|o| o.is_active(clock)) {
        Some(o) => match (o.state, &o.run) {
            (Hold::Skip, _) => Desired::Idle(Idle::Skipped { until: o.until }),
            (Hold::Refresh, Some(run)) => Desired::Idle(Idle::Refreshed {
                run: run.clone(),
                until: o.until,
            }),
            (Hold::Refresh, None) => Desired::Start(Slot {
                run: refresh_run_id(cfg, at),
                deadline: o.until,
                by: By::Refresh,
            }),
        },
        None => scheduled(cfg, memory.run.as_ref(), at),
    }
}

fn scheduled(cfg: &MaskedRefresh, last: Option<&Run>, at: DateTime<Utc>) -> Desired {
    let Some(occ) = window::open_at(cfg, at) else {
        return Desired::Idle(Idle::Closed);
    };
    match last.filter(|r| belongs(r, &occ)) {
        Some(r) => match retry(r, &occ, at) {
            Some(attempt) => Desired::Start(Slot {
                run: attempt_id(&occ.run, attempt),
                deadline: occ.closes,
                by: By::Retry,
            }),
            None => Desired::Idle(Idle::Ran {
                run: r.id.clone(),
                phase: r.phase,
            }),
        },
        None => Desired::Start(Slot {
            run: occ.run,
            deadline: occ.closes,
            by: By::Window,
        }),
    }
}

/// The attempt number that may follow `run`, a run of `occ`, at `at` (module doc).
fn retry(run: &Run, occ: &Occasion, at: DateTime<Utc>) -> Option<u32> {
    let attempt = attempt_of(&run.id, &occ.run)?;
    // Warnings on a failed run: its cleanup ran out of time and left something to a person.
    let cleaned = run.phase == Phase::Failed && run.warnings.is_empty();
    let failure = run.failure.as_ref().filter(|_| cleaned)?;
    let retryable = [FailKind::Aws, FailKind::Deadline]
        .iter()
        .any(|k| k.as_str() == failure.kind);
    let fits = occ.closes - at >= RETRY_MIN_LEFT;
    (failure.phase.is_pre_swap() && retryable && fits && attempt < MAX_ATTEMPTS)
        .then_some(attempt + 1)
}

/// Attempt `n` of the occurrence `occurrence`: its id, then `<id>r<n>`.
fn attempt_id(occurrence: &str, n: u32) -> String {
    match n {
        0 | 1 => occurrence.to_owned(),
        n => format!("{occurrence}r{n}"),
    }
}

/// Which attempt of `occurrence` run `id` is; `None` for a run the occurrence's schedule did not
/// start (a `refresh` override's).
fn attempt_of(id: &str, occurrence: &str) -> Option<u32> {
    match id.strip_prefix(occurrence)? {
        "" => Some(1),
        rest => rest.strip_prefix('r')?.parse().ok().filter(|n| *n > 1),
    }
}

/// `run` is this occurrence's: it has its id, or it started while the occurrence was open.
fn belongs(run: &Run, occ: &Occasion) -> bool {
    run.id == occ.run || (occ.opens <= run.started_at && run.started_at < occ.closes)
}

/// `YYYYMMDDtHHMM` in the target's zone: sorts with (and never equals) the nightly `YYYYMMDD`.
fn refresh_run_id(cfg: &MaskedRefresh, at: DateTime<Utc>) -> String {
    local(cfg.timezone, at).format("%Y%m%dt%H%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::HeldOverride;
    use crate::testing::{config, run_in, utc};

    fn held(state: Hold, until: &str, run: Option<&str>) -> HeldOverride {
        HeldOverride {
            state,
            until: utc(until),
            set_at: utc("2026-11-26T20:00:00Z"),
            run: run.map(str::to_owned),
        }
    }

    fn at(cfg: &MaskedRefresh, memory: &Memory, t: &str) -> Desired {
        desired(cfg, memory, utc(t), utc(t))
    }

    #[test]
    fn the_window_alone_starts_one_run_per_occurrence() {
        let cfg = config("03:00", "06:00", "UTC");
        let mut memory = Memory::default();
        assert_eq!(
            at(&cfg, &memory, "2026-11-27T02:59:00Z"),
            Desired::Idle(Idle::Closed)
        );
        let open = at(&cfg, &memory, "2026-11-27T03:00:00Z");
        assert_eq!(
            open,
            Desired::Start(Slot {
                run: "20261127".into(),
                deadline: utc("2026-11-27T06:00:00Z"),
                by: By::Window
            })
        );
        memory.run = Some(run_in(Phase::Done));
        assert!(matches!(
            at(&cfg, &memory, "2026-11-27T04:00:00Z"),
            Desired::Idle(Idle::Ran { .. })
        ));
    }

    /// The occurrence's run `id`, failed with `kind` in `phase` and cleaned up.
    fn failed(id: &str, phase: Phase, kind: FailKind) -> Memory {
        let mut run = run_in(Phase::Failed);
        run.id = id.into();
        run.failure = Some(crate::memory::Failure {
            phase,
            kind: kind.as_str().into(),
            error: "x".into(),
            at: utc("2026-11-27T03:30:00Z"),
        });
        Memory {
            run: Some(run),
            override_: None,
        }
    }

    #[test]
    fn a_run_failed_before_the_swap_is_retried_once_while_two_hours_are_left() {
        // GIVEN the 03:00-06:00 run failed at 03:30 creating its instance (an AWS error)
        let cfg = config("03:00", "06:00", "UTC");
        let memory = failed("20261127", Phase::Instance, FailKind::Aws);
        // THEN a second attempt, with its own id, may start while 2 h of the window are left
        let retry = Desired::Start(Slot {
            run: "20261127r2".into(),
            deadline: utc("2026-11-27T06:00:00Z"),
            by: By::Retry,
        });
        assert_eq!(at(&cfg, &memory, "2026-11-27T03:35:00Z"), retry);
        assert_eq!(at(&cfg, &memory, "2026-11-27T04:00:00Z"), retry);
        // AND not once less is left
        assert!(matches!(
            at(&cfg, &memory, "2026-11-27T04:00:01Z"),
            Desired::Idle(Idle::Ran { .. })
        ));
        // AND a failed second attempt is the last
        let second = failed("20261127r2", Phase::Clone, FailKind::Aws);
        assert!(matches!(
            at(&cfg, &second, "2026-11-27T03:35:00Z"),
            Desired::Idle(Idle::Ran { .. })
        ));
        // AND the next night starts afresh
        assert!(matches!(
            at(&cfg, &second, "2026-11-28T03:00:00Z"),
            Desired::Start(Slot { by: By::Window, .. })
        ));
    }

    #[test]
    fn failures_that_would_repeat_or_came_after_the_swap_are_not_retried() {
        let cfg = config("03:00", "06:00", "UTC");
        for (phase, kind) in [
            (Phase::Swap, FailKind::Ownership),
            (Phase::Clone, FailKind::Preflight),
            (Phase::Mask, FailKind::Masking),
            (Phase::Verify, FailKind::Verification),
            (Phase::Swap, FailKind::Aws),
            (Phase::Promote, FailKind::Deadline),
        ] {
            let memory = failed("20261127", phase, kind);
            assert!(
                matches!(
                    at(&cfg, &memory, "2026-11-27T03:35:00Z"),
                    Desired::Idle(Idle::Ran { .. })
                ),
                "{phase} {kind:?}"
            );
        }
        // AND a refresh override's run that failed inside the window is not the window's to retry
        let refresh = failed("20261127t0310", Phase::Instance, FailKind::Aws);
        assert!(matches!(
            at(&cfg, &refresh, "2026-11-27T03:35:00Z"),
            Desired::Idle(Idle::Ran { .. })
        ));
    }

    #[test]
    fn attempts_are_numbered_after_the_occurrence() {
        assert_eq!(attempt_of("20261127", "20261127"), Some(1));
        assert_eq!(attempt_of("20261127r2", "20261127"), Some(2));
        assert_eq!(attempt_of("20261127r1", "20261127"), None);
        assert_eq!(attempt_of("20261127t0310", "20261127"), None);
        assert_eq!(attempt_of("20261126", "20261127"), None);
        assert_eq!(attempt_id("20261127", 2), "20261127r2");
    }

    #[test]
    fn skip_holds_every_window_until_it_ends_by_the_clock() {
        // GIVEN skip until noon on the 27th
        let cfg = config("03:00", "06:00", "UTC");
        let memory = Memory {
            run: None,
            override_: Some(held(Hold::Skip, "2026-11-27T12:00:00Z", None)),
        };
        // THEN the window of the 27th starts nothing, the 28th's does
        assert_eq!(
            at(&cfg, &memory, "2026-11-27T03:00:00Z"),
            Desired::Idle(Idle::Skipped {
                until: utc("2026-11-27T12:00:00Z")
            })
        );
        assert!(matches!(
            at(&cfg, &memory, "2026-11-28T03:00:00Z"),
            Desired::Start(Slot { by: By::Window, .. })
        ));
        // AND a replayed `at` past the end does not lift it while the clock is before it
        let replay = desired(
            &cfg,
            &memory,
            utc("2026-11-28T03:00:00Z"),
            utc("2026-11-27T04:00:00Z"),
        );
        assert!(matches!(replay, Desired::Idle(Idle::Skipped { .. })));
    }

    #[test]
    fn refresh_starts_one_run_outside_the_window_bound_by_its_end() {
        // GIVEN refresh until 17:00 Tokyo, set in the afternoon
        let cfg = config("03:00", "06:00", "Asia/Tokyo");
        let mut memory = Memory {
            run: Some(run_in(Phase::Done)),
            override_: Some(held(Hold::Refresh, "2026-11-27T08:00:00Z", None)),
        };
        // THEN a run may start at once, named by its local start, due by the override's end
        assert_eq!(
            at(&cfg, &memory, "2026-11-27T05:30:00Z"),
            Desired::Start(Slot {
                run: "20261127t1430".into(),
                deadline: utc("2026-11-27T08:00:00Z"),
                by: By::Refresh
            })
        );
        // AND once it started one, no other
        memory.override_.as_mut().unwrap().run = Some("20261127t1430".into());
        assert!(matches!(
            at(&cfg, &memory, "2026-11-27T06:00:00Z"),
            Desired::Idle(Idle::Refreshed { .. })
        ));
    }

    #[test]
    fn a_refresh_run_inside_an_occurrence_is_that_nights_run() {
        // GIVEN a refresh run that started at 03:10 inside the 03:00-06:00 window, now done,
        // and its override over
        let cfg = config("03:00", "06:00", "UTC");
        let mut run = run_in(Phase::Done);
        run.id = "20261127t0310".into();
        run.started_at = utc("2026-11-27T03:10:00Z");
        let memory = Memory {
            run: Some(run),
            override_: Some(held(
                Hold::Refresh,
                "2026-11-27T04:00:00Z",
                Some("20261127t0310"),
            )),
        };
        // THEN the rest of the window starts no second run; the next night's does
        assert!(matches!(
            at(&cfg, &memory, "2026-11-27T04:30:00Z"),
            Desired::Idle(Idle::Ran { .. })
        ));
        assert!(matches!(
            at(&cfg, &memory, "2026-11-28T03:00:00Z"),
            Desired::Start(Slot { by: By::Window, .. })
        ));
    }
}
