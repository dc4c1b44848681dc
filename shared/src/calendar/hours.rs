//! How long a target does its off-peak thing over an interval, exactly.
//!
//! The desired state is piecewise constant: it can only change at the instants
//! [`Target::candidates`] lists (window edges in local time, both passes of a fold, the end of a
//! gap, zone offset changes, each also shifted back by `lead_time`). So the integral over
//! `[lo, hi)` is a finite sum over those pieces: no sampling, exact to the nanosecond, and in real
//! elapsed time, so a night containing a DST change counts its 11 or 13 hours.

use chrono::{DateTime, TimeDelta, Utc};

use super::target::{State, Target};

impl State {
    /// What one hour in this state counts for: replicas wanted (Aurora), 1 asleep or while the
    /// refresh window is open, 0 otherwise.
    pub fn weight(self) -> u32 {
        match self {
            State::Replicas(n) => u32::from(n),
            State::Asleep | State::WindowOpen => 1,
            State::Awake | State::WindowClosed => 0,
        }
    }
}

impl Target<'_> {
    /// `∫ weight(state_at(t)) dt` over `[lo, hi)`: replica-time for Aurora, time asleep for EKS,
    /// time the refresh window is open. Zero when `hi <= lo`.
    pub fn weighted_time(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> TimeDelta {
        if hi <= lo {
            return TimeDelta::zero();
        }
        let mut starts = vec![lo];
        starts.extend(self.candidates(lo, hi).into_iter().filter(|c| *c < hi));
        let ends = starts.iter().skip(1).copied().chain([hi]);
        starts
            .iter()
            .zip(ends)
            .map(|(start, end)| (end - *start) * self.state_at(*start).weight() as i32)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::calendar::targets;
    use crate::config::{self, Schedule};

    fn schedule(yaml: &str) -> Schedule {
        config::parse_str(yaml, Path::new("hours.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hours(yaml: &str, lo: &str, hi: &str) -> f64 {
        let s = schedule(yaml);
        let t = &targets(&s)[0];
        t.weighted_time(utc(lo), utc(hi)).num_seconds() as f64 / 3600.0
    }

    const LONDON_NIGHTS: &str = "timezone: Europe/London\neks_nodegroups:\n  - cluster: c\n    nodegroups: [ng]\n    sleep:\n      - { days: daily, start: \"20:00\", end: \"08:00\" }\n";

    #[test]
    fn a_night_across_a_dst_change_counts_its_real_hours() {
        // (case, from, to, hours asleep)
        let cases = [
            (
                "an ordinary night",
                "2026-10-20T12:00:00+01:00",
                "2026-10-21T12:00:00+01:00",
                12.0,
            ),
            // 02:00 BST becomes 01:00 GMT inside the night: 20:00 BST → 08:00 GMT is 13 h.
            (
                "fall back",
                "2026-10-24T12:00:00+01:00",
                "2026-10-25T12:00:00+00:00",
                13.0,
            ),
            // 01:00 GMT becomes 02:00 BST: 20:00 GMT → 08:00 BST is 11 h.
            (
                "spring forward",
                "2027-03-27T12:00:00+00:00",
                "2027-03-28T12:00:00+01:00",
                11.0,
            ),
            (
                "a partial night",
                "2026-10-20T22:30:00+01:00",
                "2026-10-21T01:15:00+01:00",
                2.75,
            ),
            (
                "an empty interval",
                "2026-10-20T22:30:00+01:00",
                "2026-10-20T22:30:00+01:00",
                0.0,
            ),
            (
                "a reversed interval",
                "2026-10-21T01:00:00+01:00",
                "2026-10-20T22:00:00+01:00",
                0.0,
            ),
        ];
        for (case, lo, hi, want) in cases {
            assert_eq!(hours(LONDON_NIGHTS, lo, hi), want, "{case}");
        }
    }

    #[test]
    fn replicas_weigh_by_count_and_lead_time_starts_them_early() {
        // 2 replicas 18:30-23:30 and 1 replica 23:00-02:00, 15 minutes ahead: 2 from 18:15 to
        // 23:30 (5.25 h), then 1 to 02:00 (2.5 h).
        let yaml = "timezone: Asia/Tokyo\naurora_replicas:\n  - cluster: c\n    lead_time: 15m\n    windows:\n      - { days: fri, start: \"18:30\", end: \"23:30\", replicas: 2 }\n      - { days: fri, start: \"23:00\", end: \"02:00\", replicas: 1 }\n";
        let h = hours(
            yaml,
            "2026-11-27T00:00:00+09:00",
            "2026-11-28T12:00:00+09:00",
        );
        assert_eq!(h, 5.25 * 2.0 + 2.5);
    }

    #[test]
    fn both_passes_of_a_fold_count() {
        // New York falls back 02:00 EDT → 01:00 EST on 2026-11-01: 01:00-01:30 happens twice.
        let yaml = "timezone: America/New_York\nmasked_refresh:\n  source_cluster: p\n  target_cluster: d\n  rules: m.yaml\n  dev_password_secret: s\n  window: { days: daily, start: \"01:00\", end: \"01:30\" }\n";
        let h = hours(
            yaml,
            "2026-11-01T00:00:00-04:00",
            "2026-11-01T12:00:00-05:00",
        );
        assert_eq!(h, 1.0);
    }

    #[test]
    fn sub_second_bounds_are_kept() {
        let s = schedule(LONDON_NIGHTS);
        let t = &targets(&s)[0];
        let lo = utc("2026-10-20T21:00:00.250+01:00");
        let hi = utc("2026-10-20T21:00:01+01:00");
        assert_eq!(t.weighted_time(lo, hi), TimeDelta::milliseconds(750));
    }
}
