//! The typed schedule: what `infra/schedules.yaml` means once it has been validated.
//!
//! Every value here is already checked: zones are real IANA zones, times are on the clock,
//! replica counts are within Aurora's limits, day-sets name only known calendars. Code that holds
//! a [`Schedule`] never has to handle a malformed one.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{NaiveDate, TimeDelta, Weekday};
use chrono_tz::Tz;

/// The whole schedule file.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Default zone of every target.
    pub timezone: Tz,
    pub aurora_replicas: Vec<AuroraTarget>,
    pub eks_nodegroups: Vec<EksTarget>,
    pub masked_refresh: Option<MaskedRefresh>,
}

/// Peak read replicas for one Aurora cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct AuroraTarget {
    /// `DBClusterIdentifier`.
    pub cluster: String,
    /// Replica class; `None` means the writer's class.
    pub instance_class: Option<String>,
    /// Replicas are requested this long before a window opens.
    pub lead_time: TimeDelta,
    pub windows: Vec<ReplicaWindow>,
    pub timezone: Tz,
    pub enforce: bool,
}

/// A window during which offpeak keeps `replicas` extra readers.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaWindow {
    pub window: Window,
    /// 1..=15.
    pub replicas: u8,
}

/// Development node groups (and self-managed ASGs) put to sleep inside any `sleep` window.
#[derive(Clone, Debug, PartialEq)]
pub struct EksTarget {
    pub cluster: String,
    pub nodegroups: NodeGroups,
    pub autoscaling_groups: Vec<String>,
    pub sleep: Vec<Window>,
    pub timezone: Tz,
    pub enforce: bool,
}

/// Which managed node groups of a cluster a target covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeGroups {
    /// `["*"]`: every managed node group the cluster has at tick time.
    All,
    Named(Vec<String>),
}

/// The nightly masked copy of production into development.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskedRefresh {
    pub source_cluster: String,
    pub target_cluster: String,
    /// Masking rules, resolved relative to the schedule file.
    pub rules: PathBuf,
    pub window: Window,
    pub instance_class: Option<String>,
    pub quarantine_security_groups: Vec<String>,
    pub dev_security_groups: Vec<String>,
    pub dev_password_secret: String,
    pub keep_previous: u32,
    pub timezone: Tz,
    pub enforce: bool,
}

/// A local time of day in whole minutes, `0..=1440`; 1440 is `24:00` and only valid as an end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minute(pub u16);

impl Minute {
    pub const MIDNIGHT: Minute = Minute(0);
    pub const END_OF_DAY: Minute = Minute(1440);

    pub fn hour(self) -> u32 {
        u32::from(self.0 / 60)
    }

    pub fn minute(self) -> u32 {
        u32::from(self.0 % 60)
    }
}

impl std::fmt::Display for Minute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

/// A recurring window, in the target's local wall-clock time.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub span: Span,
    /// Occurrences that open on one of these local dates are skipped.
    pub except: DaySet,
}

/// The two window forms of the schedule file.
#[derive(Clone, Debug, PartialEq)]
pub enum Span {
    /// Opens at `start` on each day of `days`; closes at `end` that day, or the next day when
    /// `end <= start`.
    Daily {
        days: DaySet,
        start: Minute,
        end: Minute,
    },
    /// Opens at `from`; closes at the next `to` after it (up to a week later).
    Weekly {
        from: (Weekday, Minute),
        to: (Weekday, Minute),
    },
}

/// A set of local dates: weekdays plus explicit dates taken from named calendars.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaySet {
    /// Bit `n` set = weekday `n` (Monday = 0) is in the set.
    pub weekdays: u8,
    pub dates: BTreeSet<NaiveDate>,
}

impl DaySet {
    pub fn is_empty(&self) -> bool {
        self.weekdays == 0 && self.dates.is_empty()
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        use chrono::Datelike;
        let bit = 1u8 << date.weekday().num_days_from_monday();
        self.weekdays & bit != 0 || self.dates.contains(&date)
    }

    pub fn add_weekday(&mut self, day: Weekday) {
        self.weekdays |= 1 << day.num_days_from_monday();
    }
}
