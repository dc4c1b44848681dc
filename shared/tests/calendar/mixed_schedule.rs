//! The schedule the property tests draw targets from: zones with and without DST in both
//! hemispheres, weekly spans, a window across midnight, holidays and `except`, `24:00` ends, lead
//! times, overlapping sleep windows, wildcard node groups and an Auto Scaling group. Every
//! boundary is minute-aligned, so a minute-by-minute scan cannot miss a change.

use std::path::Path;

use offpeak_shared::config::{self, Schedule};

const SCHEDULE: &str = r#"
timezone: America/New_York
calendars:
  holidays: [2026-03-08, 2026-11-01, 2026-12-25, 2027-04-04]
aurora_replicas:
  - cluster: ny
    lead_time: 15m
    windows:
      - { days: mon-fri, except: [holidays], start: "01:30", end: "02:30", replicas: 2 }
      - { days: daily, start: "23:00", end: "01:45", replicas: 1 }
  - cluster: sydney
    timezone: Australia/Sydney
    lead_time: 1h30m
    windows:
      - { days: weekends, start: "02:15", end: "03:15", replicas: 3 }
eks_nodegroups:
  - cluster: london
    timezone: Europe/London
    nodegroups: [app]
    autoscaling_groups: [legacy]
    sleep:
      - { from: "fri 22:00", to: "mon 01:30" }
      - { days: [holidays], start: "00:00", end: "24:00" }
      - { days: daily, start: "00:30", end: "01:30" }
  - cluster: tokyo
    timezone: Asia/Tokyo
    nodegroups: ["*"]
    sleep:
      - { days: daily, start: "22:00", end: "07:30" }
masked_refresh:
  source_cluster: prod
  target_cluster: dev
  rules: masking.yaml
  dev_password_secret: s
  timezone: America/Sao_Paulo
  window: { days: daily, start: "03:00", end: "06:00" }
"#;

pub fn schedule() -> Schedule {
    config::parse_str(SCHEDULE, Path::new("props.yaml")).expect("the property schedule is valid")
}
