//! The calendar engine: desired state of every target at an instant, and when it next changes.
//!
//! Pure functions of `(schedule, instant)`: no clock, no I/O, no panics on any valid schedule.
//! Time semantics (design.md): a window contains instant `t` when `t`'s local wall-clock
//! date-time in the target's zone lies in `[open, close)` of one of its occurrences. Hence a
//! window opening at a time skipped by spring-forward opens at the first instant after the gap,
//! and during a fold both passes of the repeated hour count. Aurora wants the largest `replicas`
//! of the windows open at `t` or at `t + lead_time`; EKS targets are asleep while any sleep
//! window is open; the masked refresh may start while its window is open.
//!
//! A function asks its own kind's typed question ([`Target::replicas_at`],
//! [`Target::asleep_at`], [`Target::open_at`]); [`State`] answers for a target of any kind, for
//! views of every target (`offpeak desired`, the timeline, hours saved).

mod hours;
mod next_change;
mod occurrence;
mod target;
mod zone;

use chrono::{DateTime, Utc};

use crate::config::Schedule;

pub use next_change::HORIZON_DAYS;
pub use occurrence::{Occurrence, contains as window_contains, opening_on};
pub use target::{Kind, Rule, State, Target, targets};
pub use zone::{instants_at, local};

/// Desired state of every target at `at`, in schedule order.
pub fn desired(schedule: &Schedule, at: DateTime<Utc>) -> Vec<(Target<'_>, State)> {
    targets(schedule)
        .into_iter()
        .map(|t| {
            let s = t.state_at(at);
            (t, s)
        })
        .collect()
}
