//! Which refresh window occurrence a tick belongs to: part of the desired stage
//! ([`crate::desired`]).
//!
//! A run is identified by the local date its window occurrence *opens* on (`YYYYMMDD` in the
//! target's zone), so every tick inside one occurrence — including those past midnight of a
//! window like `22:00`→`02:00` — belongs to the same run (a second attempt after a failure is
//! `<id>r2`, see [`crate::desired`]). The occurrence's close is the run's deadline: a run not
//! swapped by then is aborted. Wall-clock times follow the calendar's semantics (a window opening inside a DST gap
//! opens at the first instant after it; a close inside a fold is the first pass).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use offpeak_shared::calendar::{Occurrence, instants_at, local, opening_on};
use offpeak_shared::config::MaskedRefresh;

/// Days looked back for an occurrence still open: a weekly span lasts under a week.
const LOOKBACK_DAYS: i64 = 7;

/// One occurrence of the refresh window, as instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occasion {
    /// The local opening date as `YYYYMMDD`: the run id.
    pub run: String,
    pub date: NaiveDate,
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
}

/// The occurrence of the refresh window open at `at`, if any.
pub fn open_at(cfg: &MaskedRefresh, at: DateTime<Utc>) -> Option<Occasion> {
    let wall = local(cfg.timezone, at);
    (0..=LOOKBACK_DAYS)
        .filter_map(|back| wall.date().checked_sub_signed(TimeDelta::days(back)))
        .filter_map(|date| opening_on(&cfg.window, date).map(|occ| (date, occ)))
        .find(|(_, occ)| occ.contains(wall))
        .and_then(|(date, occ)| occasion(cfg, date, &occ))
}

fn occasion(cfg: &MaskedRefresh, date: NaiveDate, occ: &Occurrence) -> Option<Occasion> {
    let opens = *instants_at(cfg.timezone, occ.open).first()?;
    let closes = *instants_at(cfg.timezone, occ.close).first()?;
    Some(Occasion {
        run: date.format("%Y%m%d").to_string(),
        date,
        opens,
        closes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{config, utc};

    #[test]
    fn ticks_inside_one_occurrence_share_its_run_and_deadline() {
        // GIVEN a 22:00 -> 02:00 window in Tokyo (UTC+9)
        let cfg = config("22:00", "02:00", "Asia/Tokyo");
        // WHEN ticks land before and after local midnight
        let before = open_at(&cfg, utc("2026-11-27T13:05:00Z")).unwrap();
        let after = open_at(&cfg, utc("2026-11-27T16:30:00Z")).unwrap();
        // THEN both belong to the run of the 27th, which must finish by 02:00 local on the 28th
        assert_eq!(before, after);
        assert_eq!(before.run, "20261127");
        assert_eq!(before.closes, utc("2026-11-27T17:00:00Z"));
        assert_eq!(before.opens, utc("2026-11-27T13:00:00Z"));
    }

    #[test]
    fn outside_the_window_there_is_no_run() {
        let cfg = config("03:00", "06:00", "UTC");
        assert!(open_at(&cfg, utc("2026-11-27T02:59:59Z")).is_none());
        assert!(
            open_at(&cfg, utc("2026-11-27T06:00:00Z")).is_none(),
            "the close is exclusive"
        );
        assert_eq!(
            open_at(&cfg, utc("2026-11-27T03:00:00Z")).unwrap().run,
            "20261127"
        );
    }

    #[test]
    fn a_window_opening_in_a_dst_gap_opens_after_it() {
        // GIVEN 02:30-04:00 in New York on the spring-forward day (02:00 -> 03:00)
        let cfg = config("02:30", "04:00", "America/New_York");
        // WHEN a tick lands just after the gap
        let occ = open_at(&cfg, utc("2026-03-08T07:00:00Z")).unwrap();
        // THEN the run is that day's and it opened at 03:00 EDT (07:00Z)
        assert_eq!(occ.run, "20260308");
        assert_eq!(occ.opens, utc("2026-03-08T07:00:00Z"));
        assert_eq!(occ.closes, utc("2026-03-08T08:00:00Z"));
    }
}
