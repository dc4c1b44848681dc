//! Fixtures shared by this crate's tests: the instants around the weekend window most test
//! schedules use, and schedules read from their entries.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use offpeak_shared::config::{self, Schedule};

use crate::model::Scaling;

/// `dev-eks`'s `app` node group, asleep from Friday 22:00 to Monday 07:30 (an entry for
/// [`schedule`]).
pub const DEV_APP: &str = r#"
  - cluster: dev-eks
    nodegroups: [app]
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

/// The schedule, in Asia/Tokyo, of these `eks_nodegroups` entries (YAML list items; panics if
/// they are not valid).
pub fn schedule(entries: &str) -> Schedule {
    let yaml = format!("timezone: Asia/Tokyo\neks_nodegroups:{entries}");
    config::parse_str(&yaml, Path::new("t.yaml")).unwrap()
}

/// Friday 2026-11-27 22:00 JST.
pub fn friday_night() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap()
}

/// Saturday 2026-11-28 10:00 JST.
pub fn saturday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap()
}

/// Monday 2026-11-30 07:30 JST.
pub fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).unwrap()
}

/// A min / max / desired triple.
pub fn s(min: i32, max: i32, desired: i32) -> Scaling {
    Scaling { min, max, desired }
}
