//! The `offpeak:skip-until=<RFC3339>` tag (pure): a person tells offpeak, from the console, to leave
//! a node group (or self-managed Auto Scaling group) alone until then.
//!
//! While the tag holds, offpeak plans nothing for the target and does not record a desired state,
//! so when it ends the next schedule transition applies as usual. A value that is not an RFC 3339
//! instant with an offset is reported and treated as "skip": the person meant to keep offpeak
//! away, and guessing could put their group to sleep.

use chrono::{DateTime, Utc};

/// The tag key.
pub const SKIP_KEY: &str = "offpeak:skip-until";

/// What the tag says at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// No tag, or it has ended.
    No,
    /// Leave the target alone until then.
    Until(DateTime<Utc>),
    /// The tag is there but unreadable; its value is kept for the report.
    Unreadable(String),
}

/// Reads the tag value (if any) at `now`.
pub fn skip_at(value: Option<&str>, now: DateTime<Utc>) -> Skip {
    let Some(value) = value else {
        return Skip::No;
    };
    match DateTime::parse_from_rfc3339(value.trim()) {
        Ok(until) if now < until => Skip::Until(until.with_timezone(&Utc)),
        Ok(_) => Skip::No,
        Err(_) => Skip::Unreadable(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_tag_holds_strictly_before_its_instant() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        assert_eq!(skip_at(None, now), Skip::No);
        assert_eq!(
            skip_at(Some("2026-11-28T18:00:00+09:00"), now),
            Skip::Until(Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap())
        );
        assert_eq!(skip_at(Some("2026-11-28T12:00:00+09:00"), now), Skip::No);
        assert_eq!(skip_at(Some("2026-11-28T03:00:00Z"), now), Skip::No);
    }

    #[test]
    fn an_unreadable_value_skips() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        for bad in ["tomorrow", "2026-11-28", "2026-11-28T18:00:00"] {
            assert_eq!(
                skip_at(Some(bad), now),
                Skip::Unreadable(bad.into()),
                "{bad}"
            );
        }
    }
}
