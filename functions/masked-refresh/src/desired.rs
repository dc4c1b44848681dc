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
//!    has the occurrence's id, or it started while the occurrence was open (a `refresh` run
//!    counts as that night's run: at most one run starts per occurrence).
//!
//! The window is read at `at` (a replayed instant moves the schedule), the override at the clock
//! (a replay can neither lift nor stretch it).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use offpeak_shared::calendar::local;
use offpeak_shared::config::MaskedRefresh;

use crate::memory::{Memory, Phase, Run};
use crate::overrides::Hold;
use crate::window::{self, Occasion};

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
        Some(r) => Desired::Idle(Idle::Ran {
            run: r.id.clone(),
            phase: r.phase,
        }),
        None => Desired::Start(Slot {
            run: occ.run,
            deadline: occ.closes,
            by: By::Window,
        }),
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
