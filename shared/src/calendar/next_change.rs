//! The next instant a target's desired state changes, for previews and notifications.
//!
//! The state is piecewise constant and can only change where the local time of `t` (or of
//! `t + lead_time`) crosses a window boundary, or where the zone's offset changes. So the search
//! collects those candidate instants a week at a time, in order, and returns the first one whose
//! state differs. Exact to the second; never reads the clock.

use chrono::{DateTime, TimeDelta, Utc};

use super::occurrence::{self, MAX_SPAN_DAYS};
use super::target::Target;
use super::zone;

/// How far ahead the search looks before concluding the state never changes.
pub const HORIZON_DAYS: i64 = 400;

impl Target<'_> {
    /// The first instant after `now` at which [`Target::state_at`] differs from its value at `now`,
    /// or `None` if it stays the same for [`HORIZON_DAYS`].
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = truncate_to_second(now);
        let current = self.state_at(now);
        let week = TimeDelta::days(7);
        (0..(HORIZON_DAYS + 6) / 7).find_map(|i| {
            let (lo, hi) = (now + week * i as i32, now + week * (i as i32 + 1));
            self.candidates(lo, hi)
                .into_iter()
                .filter(|c| *c > now)
                .find(|c| self.state_at(*c) != current)
        })
    }

    /// Sorted instants in `(lo, hi]` at which the state may change (also what
    /// [`Target::weighted_time`] integrates between).
    pub(super) fn candidates(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let lead = self.lead();
        let first = zone::local(self.zone, lo).date() - TimeDelta::days(MAX_SPAN_DAYS + 1);
        let last = zone::local(self.zone, hi + lead).date() + TimeDelta::days(1);
        let mut edges: Vec<DateTime<Utc>> = self
            .windows()
            .into_iter()
            .flat_map(|w| occurrence::occurrences(w, first, last))
            .flat_map(|o| [o.open, o.close])
            .flat_map(|wall| zone::instants_at(self.zone, wall))
            .chain(zone::transitions(self.zone, lo, hi + lead))
            .collect();
        if !lead.is_zero() {
            let shifted: Vec<_> = edges.iter().map(|e| *e - lead).collect();
            edges.extend(shifted);
        }
        edges.retain(|e| *e > lo && *e <= hi);
        edges.sort_unstable();
        edges.dedup();
        edges
    }
}

fn truncate_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}
