//! The small scalar languages of the schedule file: `HH:MM`, weekdays, `fri 22:00`, durations
//! like `15m` or `1h30m`, and ISO dates. Each parser returns a message fit for a
//! `PATH:LINE:COL: message` line on failure.

use chrono::{NaiveDate, TimeDelta, Weekday};

use super::model::Minute;

/// Whether `24:00` is accepted (ends only).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// `HH:MM` on a 24-hour clock; `24:00` only as an end.
pub fn minute(text: &str, edge: Edge) -> Result<Minute, String> {
    let bad = || format!("bad time `{text}`: expected HH:MM from 00:00 to 23:59");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits =
        |s: &str, n: usize| s.len() <= n && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h, 2) || m.len() != 2 || !digits(m, 2) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if edge == Edge::End => Ok(Minute::END_OF_DAY),
        (24, 0) => Err(format!(
            "bad time `{text}`: 24:00 is only allowed as an end"
        )),
        (0..=23, 0..=59) => Ok(Minute(h * 60 + m)),
        _ => Err(bad()),
    }
}

/// `mon`..`sun` (or the full English name), any case.
pub fn weekday(text: &str) -> Result<Weekday, String> {
    let lower = text.to_ascii_lowercase();
    let day = match lower.as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => {
            return Err(format!(
                "bad weekday `{text}`: expected mon, tue, wed, thu, fri, sat or sun"
            ));
        }
    };
    Ok(day)
}

/// `"<weekday> HH:MM"`, as in a weekly span's `from` and `to`.
pub fn weekday_time(text: &str) -> Result<(Weekday, Minute), String> {
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(day), Some(time), None) => Ok((weekday(day)?, minute(time, Edge::Start)?)),
        _ => Err(format!(
            "bad weekly time `{text}`: expected \"<weekday> HH:MM\", e.g. \"fri 22:00\""
        )),
    }
}

/// A duration such as `0`, `90s`, `15m`, `1h30m`. At most 24 hours.
pub fn duration(text: &str) -> Result<TimeDelta, String> {
    let bad = || format!("malformed duration `{text}`: expected e.g. 0, 90s, 15m or 1h30m");
    if text == "0" {
        return Ok(TimeDelta::zero());
    }
    let mut total = 0i64;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit = match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| v.checked_add(total))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(bad());
    }
    if total > 24 * 3600 {
        return Err(format!("duration `{text}` is longer than 24h"));
    }
    Ok(TimeDelta::seconds(total))
}

/// An ISO local date, `YYYY-MM-DD`.
pub fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| format!("malformed date `{text}`: expected YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes() {
        assert_eq!(minute("18:30", Edge::Start), Ok(Minute(18 * 60 + 30)));
        assert_eq!(minute("0:05", Edge::Start), Ok(Minute(5)));
        assert_eq!(minute("24:00", Edge::End), Ok(Minute::END_OF_DAY));
        for bad in [
            "25:00", "24:00", "12:60", "1230", "12:3", "ab:cd", "-1:00", "12:30:00", "",
        ] {
            assert!(minute(bad, Edge::Start).is_err(), "{bad}");
        }
        assert!(minute("24:01", Edge::End).is_err());
    }

    #[test]
    fn weekdays_and_weekly_times() {
        assert_eq!(weekday("Fri"), Ok(Weekday::Fri));
        assert_eq!(weekday("sunday"), Ok(Weekday::Sun));
        assert!(weekday("fry").is_err());
        assert_eq!(weekday_time("mon 07:30"), Ok((Weekday::Mon, Minute(450))));
        assert!(weekday_time("mon").is_err());
        assert!(weekday_time("mon 07:30 x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("0"), Ok(TimeDelta::zero()));
        assert_eq!(duration("15m"), Ok(TimeDelta::minutes(15)));
        assert_eq!(duration("1h30m"), Ok(TimeDelta::minutes(90)));
        assert_eq!(duration("90s"), Ok(TimeDelta::seconds(90)));
        for bad in ["", "15", "15x", "m", "1h30", "25h", "-5m"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            date("2026-12-31"),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-1-1",
            "31/12/2026",
            "tomorrow",
        ] {
            assert!(date(bad).is_err(), "{bad}");
        }
    }
}
