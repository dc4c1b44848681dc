//! Desired (pure): the state one target should be in at a tick — asleep or awake — and what
//! decided it. The only module that reads the schedule's answer for a target.
//!
//! Guarantees:
//! - **An override decides alone while it holds.** A person's override that holds at the clock
//!   ([`TargetDoc::active_override`]) wins over the schedule. It is judged by the clock, never by
//!   the event's `at`, so a replayed instant can neither lift nor stretch it.
//! - **Otherwise the schedule at `at`**: asleep exactly while one of the target's sleep windows is
//!   open at `at`, with the calendar's time semantics (`offpeak_shared::calendar`: a window
//!   opening inside a DST gap opens at the first instant after it, both passes of a fold count,
//!   `except` days are skipped by the local date a window opens on).
//! - **A target the schedule no longer names is desired awake** (it has no calendar).
//!
//! [`crate::plan`] acts when this differs from the state the target was last converged to.

use chrono::{DateTime, Utc};

use crate::model::{Instants, SleepState};
use crate::record::TargetDoc;
use crate::targets::Unit;

/// What one target should be at a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desired {
    pub state: SleepState,
    pub by: By,
}

/// What decided a [`Desired`] state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// The schedule's sleep windows at `at` (or, for a target it no longer names, its absence).
    Schedule,
    /// A person's override, holding until `until`.
    Override { until: DateTime<Utc> },
}

/// The desired state of `unit` with `doc` as the plan will write it (an override that ended
/// already removed, the event's already recorded): its override at `now.clock`, else its
/// schedule at `now.at`.
pub fn desired(unit: &Unit<'_>, doc: &TargetDoc, now: Instants) -> Desired {
    match doc.active_override(now.clock) {
        Some(held) => Desired {
            state: held.state,
            by: By::Override { until: held.until },
        },
        None => Desired {
            state: scheduled(unit, now.at),
            by: By::Schedule,
        },
    }
}

/// What the schedule wants at `at`; a unit with no calendar (an orphan) is awake.
fn scheduled(unit: &Unit<'_>, at: DateTime<Utc>) -> SleepState {
    match unit.calendar.as_ref().and_then(|c| c.asleep_at(at)) {
        Some(true) => SleepState::Asleep,
        Some(false) | None => SleepState::Awake,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::Duration;
    use offpeak_shared::config::{self, Schedule};

    use super::*;
    use crate::record::HeldOverride;
    use crate::targets::{orphan, resolve};
    use crate::testing::{self, DEV_APP, friday_night, monday_morning, saturday};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn by_schedule(state: SleepState) -> Desired {
        Desired {
            state,
            by: By::Schedule,
        }
    }

    fn holding(state: SleepState, until: DateTime<Utc>) -> TargetDoc {
        TargetDoc {
            override_: Some(HeldOverride {
                state,
                until,
                set_at: until - Duration::hours(1),
                cleared: false,
            }),
            ..TargetDoc::default()
        }
    }

    /// London: weeknights but not holidays, and the whole weekend. New York: every night from
    /// 01:00 to 01:30 and from 02:30 to 04:00, across both of its DST changes.
    fn schedule() -> Schedule {
        let yaml = r#"
timezone: Europe/London
calendars:
  holidays: [2026-12-25]
eks_nodegroups:
  - cluster: london
    nodegroups: [app]
    sleep:
      - { days: mon-fri, except: [holidays], start: "01:30", end: "06:00" }
      - { from: sat 00:00, to: mon 00:00 }
  - cluster: new-york
    timezone: America/New_York
    nodegroups: [app]
    sleep:
      - { days: daily, start: "01:00", end: "01:30" }
      - { days: daily, start: "02:30", end: "04:00" }
"#;
        config::parse_str(yaml, Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn the_schedule_decides_nights_weekends_holidays_and_dst_changes() {
        let schedule = schedule();
        let doc = TargetDoc::default();
        let (awake, asleep) = (SleepState::Awake, SleepState::Asleep);
        // (case, target, instant, state); London is UTC+0 in December.
        let cases = [
            (
                "a tuesday afternoon",
                "london/app",
                "2026-12-08T14:00:00Z",
                awake,
            ),
            (
                "a tuesday night",
                "london/app",
                "2026-12-08T03:00:00Z",
                asleep,
            ),
            ("its close", "london/app", "2026-12-08T06:00:00Z", awake),
            (
                "a saturday noon",
                "london/app",
                "2026-12-05T12:00:00Z",
                asleep,
            ),
            ("late sunday", "london/app", "2026-12-06T23:59:59Z", asleep),
            (
                "monday, midnight",
                "london/app",
                "2026-12-07T00:00:00Z",
                awake,
            ),
            (
                "christmas night",
                "london/app",
                "2026-12-25T03:00:00Z",
                awake,
            ),
            (
                "boxing day (a saturday)",
                "london/app",
                "2026-12-26T03:00:00Z",
                asleep,
            ),
            // 2027-03-14: 02:00 EST jumps to 03:00 EDT; the 02:30 window opens at 03:00 EDT.
            (
                "before the gap",
                "new-york/app",
                "2027-03-14T06:59:59Z",
                awake,
            ),
            (
                "after the gap",
                "new-york/app",
                "2027-03-14T07:00:00Z",
                asleep,
            ),
            (
                "the close after it",
                "new-york/app",
                "2027-03-14T08:00:00Z",
                awake,
            ),
            // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:00-01:30 happens twice.
            (
                "first pass of the fold",
                "new-york/app",
                "2026-11-01T05:15:00Z",
                asleep,
            ),
            (
                "between the passes",
                "new-york/app",
                "2026-11-01T05:45:00Z",
                awake,
            ),
            (
                "second pass of the fold",
                "new-york/app",
                "2026-11-01T06:15:00Z",
                asleep,
            ),
        ];
        for (case, id, at, want) in cases {
            let unit = resolve(&schedule, id).unwrap();
            let got = desired(&unit, &doc, Instants::same(utc(at)));
            assert_eq!(got, by_schedule(want), "{case}");
        }
    }

    #[test]
    fn an_override_holding_at_the_clock_decides_alone() {
        let schedule = testing::schedule(DEV_APP);
        let app = resolve(&schedule, "dev-eks/app").unwrap();
        let until = saturday() + Duration::hours(8);
        let doc = holding(SleepState::Awake, until);
        let want = Desired {
            state: SleepState::Awake,
            by: By::Override { until },
        };
        assert_eq!(desired(&app, &doc, Instants::same(saturday())), want);
        // At its end the schedule (the weekend window) takes over again.
        assert_eq!(
            desired(&app, &doc, Instants::same(until)),
            by_schedule(SleepState::Asleep)
        );
        // Replaying an instant moves the schedule, not the override: judged by the clock.
        let replay_inside = Instants {
            at: monday_morning(),
            clock: saturday(),
        };
        assert_eq!(desired(&app, &doc, replay_inside), want);
        let replay_past_it = Instants {
            at: saturday(),
            clock: until,
        };
        assert_eq!(
            desired(&app, &doc, replay_past_it),
            by_schedule(SleepState::Asleep)
        );
    }

    #[test]
    fn the_weekend_window_opens_at_its_instant() {
        let schedule = testing::schedule(DEV_APP);
        let app = resolve(&schedule, "dev-eks/app").unwrap();
        let doc = TargetDoc::default();
        let at = |t| desired(&app, &doc, Instants::same(t)).state;
        assert_eq!(at(friday_night() - Duration::seconds(1)), SleepState::Awake);
        assert_eq!(at(friday_night()), SleepState::Asleep);
        assert_eq!(
            at(monday_morning() - Duration::seconds(1)),
            SleepState::Asleep
        );
        assert_eq!(at(monday_morning()), SleepState::Awake);
    }

    #[test]
    fn a_target_the_schedule_no_longer_names_is_awake() {
        let ng = orphan("old-eks/app", None);
        let doc = TargetDoc::default();
        for t in [friday_night(), saturday(), monday_morning()] {
            assert_eq!(
                desired(&ng, &doc, Instants::same(t)),
                by_schedule(SleepState::Awake)
            );
        }
    }
}
