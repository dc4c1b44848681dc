//! When a window is open, in local wall-clock time.
//!
//! An occurrence is the half-open local interval `[open, close)` a window covers once. A daily
//! window has one occurrence per listed day; a weekly span one per week. `except` drops the
//! occurrences that *open* on an excepted local date.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

use crate::config::{Minute, Span, Window};

/// `[open, close)` in local wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub open: NaiveDateTime,
    pub close: NaiveDateTime,
}

impl Occurrence {
    pub fn contains(&self, wall: NaiveDateTime) -> bool {
        self.open <= wall && wall < self.close
    }
}

fn at(date: NaiveDate, minute: Minute) -> NaiveDateTime {
    date.and_time(NaiveTime::MIN) + TimeDelta::minutes(i64::from(minute.0))
}

/// The occurrence of `window` that opens on local date `date`, if any.
pub fn opening_on(window: &Window, date: NaiveDate) -> Option<Occurrence> {
    if window.except.contains(date) {
        return None;
    }
    match &window.span {
        Span::Daily { days, start, end } => {
            if !days.contains(date) {
                return None;
            }
            let close_day = if end > start { date } else { date.succ_opt()? };
            Some(Occurrence {
                open: at(date, *start),
                close: at(close_day, *end),
            })
        }
        Span::Weekly { from, to } => {
            if date.weekday() != from.0 {
                return None;
            }
            let open = at(date, from.1);
            Some(Occurrence {
                open,
                close: open + weekly_length(*from, *to),
            })
        }
    }
}

/// How long a weekly span lasts: up to the next `to` strictly after `from`.
fn weekly_length(from: (chrono::Weekday, Minute), to: (chrono::Weekday, Minute)) -> TimeDelta {
    let days = i64::from(to.0.days_since(from.0));
    let mut minutes = days * 1440 + i64::from(to.1.0) - i64::from(from.1.0);
    if minutes <= 0 {
        minutes += 7 * 1440;
    }
    TimeDelta::minutes(minutes)
}

/// The longest a window can stay open, in whole days (a weekly span is under a week).
pub const MAX_SPAN_DAYS: i64 = 7;

/// Whether local time `wall` lies inside any occurrence of `window`.
pub fn contains(window: &Window, wall: NaiveDateTime) -> bool {
    let lookback = match window.span {
        Span::Daily { .. } => 1,
        Span::Weekly { .. } => MAX_SPAN_DAYS,
    };
    let day = wall.date();
    (0..=lookback)
        .filter_map(|back| day.checked_sub_signed(TimeDelta::days(back)))
        .filter_map(|date| opening_on(window, date))
        .any(|occ| occ.contains(wall))
}

/// Every occurrence that opens on a local date in `[first, last]`.
pub fn occurrences(
    window: &Window,
    first: NaiveDate,
    last: NaiveDate,
) -> impl Iterator<Item = Occurrence> + '_ {
    first
        .iter_days()
        .take_while(move |d| *d <= last)
        .filter_map(|d| opening_on(window, d))
}
