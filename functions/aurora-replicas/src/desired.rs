//! Desired: how many offpeak replicas each cluster should have at an instant. Pure.
//!
//! The number comes from the calendar engine (design.md's exact time semantics, `lead_time`
//! included: the largest `replicas` of the windows open at `t` or at `t + lead_time`, else 0), so
//! replicas are requested `lead_time` before a window opens and are available when it does.

use chrono::{DateTime, Utc};
use offpeak_shared::calendar::{self, Kind};
use offpeak_shared::config::{AuroraTarget, Schedule};

/// One cluster's desired replica count at an instant.
#[derive(Debug, Clone)]
pub struct Desired<'s> {
    pub target: &'s AuroraTarget,
    pub replicas: u8,
    /// The calendar view of the target, for "until when" in notifications.
    pub calendar: calendar::Target<'s>,
}

impl Desired<'_> {
    /// The cluster id as configured.
    pub fn cluster(&self) -> &str {
        &self.target.cluster
    }

    /// When the desired count next changes (within the calendar's search horizon).
    pub fn next_change(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.calendar.next_change(at)
    }
}

/// The desired replica count of every Aurora target at `at`, in schedule order.
pub fn desired(schedule: &Schedule, at: DateTime<Utc>) -> Vec<Desired<'_>> {
    let calendars = calendar::targets(schedule)
        .into_iter()
        .filter(|t| t.kind == Kind::AuroraReplicas);
    schedule
        .aurora_replicas
        .iter()
        .zip(calendars)
        .map(|(target, calendar)| {
            debug_assert_eq!(target.cluster, calendar.id);
            // An Aurora target always answers; were it to not, none is the safe count.
            let replicas = calendar.replicas_at(at).unwrap_or(0);
            Desired {
                target,
                replicas,
                calendar,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{schedule, utc};

    const YAML: &str = r#"
timezone: Asia/Tokyo
aurora_replicas:
  - cluster: prod
    lead_time: 15m
    windows:
      - { days: mon-fri, start: "18:30", end: "23:30", replicas: 2 }
  - cluster: other
    timezone: UTC
    windows:
      - { days: daily, start: "00:00", end: "01:00", replicas: 1 }
"#;

    #[test]
    fn replicas_are_wanted_lead_time_before_the_window_and_not_after_it() {
        let schedule = schedule(YAML);
        // Friday 2026-11-27, Tokyo = UTC+9: the window is 09:30..14:30 UTC.
        let cases = [
            (utc("2026-11-27T09:14:59Z"), 0),
            (utc("2026-11-27T09:15:00Z"), 2),
            (utc("2026-11-27T14:29:59Z"), 2),
            (utc("2026-11-27T14:30:00Z"), 0),
            (utc("2026-11-28T09:30:00Z"), 0),
        ];
        for (at, want) in cases {
            let d = desired(&schedule, at);
            assert_eq!(d[0].cluster(), "prod");
            assert_eq!(d[0].replicas, want, "{at}");
        }
    }

    #[test]
    fn every_target_in_schedule_order_with_its_own_zone() {
        let schedule = schedule(YAML);
        let d = desired(&schedule, utc("2026-11-27T00:30:00Z"));
        let got: Vec<(&str, u8)> = d.iter().map(|d| (d.cluster(), d.replicas)).collect();
        assert_eq!(got, [("prod", 0), ("other", 1)]);
        assert_eq!(
            d[1].next_change(utc("2026-11-27T00:30:00Z")),
            Some(utc("2026-11-27T01:00:00Z"))
        );
    }

    #[test]
    fn weekends_holidays_nights_and_a_dst_gap() {
        let schedule = schedule(
            r#"
timezone: America/New_York
calendars:
  holidays: [2026-12-25]
aurora_replicas:
  - cluster: prod
    windows:
      - { days: mon-fri, except: [holidays], start: "09:00", end: "17:00", replicas: 2 }
      - { days: daily, start: "02:30", end: "04:00", replicas: 1 }
"#,
        );
        // (case, instant, replicas); New York is UTC-5 in December.
        let cases = [
            ("a friday", "2026-12-04T15:00:00Z", 2),
            ("a saturday", "2026-12-05T15:00:00Z", 0),
            ("christmas, a friday", "2026-12-25T15:00:00Z", 0),
            ("a night", "2026-12-08T08:00:00Z", 1),
            // 2027-03-14 02:00 EST jumps to 03:00 EDT: the 02:30 window opens at 03:00 EDT.
            ("before the gap", "2027-03-14T06:59:59Z", 0),
            ("after the gap", "2027-03-14T07:00:00Z", 1),
            ("its close", "2027-03-14T08:00:00Z", 0),
        ];
        for (case, at, want) in cases {
            assert_eq!(desired(&schedule, utc(at))[0].replicas, want, "{case}");
        }
    }
}
