//! The `offpeak:asleep` marker (pure): the tag offpeak puts on the Auto Scaling group of every
//! group it puts to sleep, mirroring the pre-sleep state where a person — and offpeak, should the
//! state table lose it — can read it back.
//!
//! ```text
//! since 2026-11-27T13:00:00Z; restores min=1 max=3 desired=2; cluster-autoscaler tags parked: enabled=true+ dev-eks=owned+
//! ```
//!
//! Each parked tag is written as the part of its key after `k8s.io/cluster-autoscaler/`, `=`, its
//! value, and `+` when it propagates at launch.
//!
//! Guarantees:
//! - [`encode`] always fits an Auto Scaling group tag value (256 characters): tags that would not
//!   fit, or whose values hold characters the format can't carry, are left to the state table
//!   (`parked: see the offpeak state table`) — the sizes are always there.
//! - [`parse`] gives back exactly what [`encode`] wrote, and reads the sizes (and the instant) of
//!   the older marker format and of a marker a person wrote as just `restores min=.. max=..
//!   desired=..`. A value without a well-formed `restores` part — or with sizes AWS would refuse
//!   (`min <= desired <= max`) — is `None`: offpeak never guesses sizes.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::guard::{self, MIRROR_KEY};
use crate::model::{AsgTag, Scaling};

/// The longest value an Auto Scaling group tag may have.
pub const VALUE_MAX: usize = 256;
/// The prefix every cluster-autoscaler discovery key shares.
const DISCOVERY_PREFIX: &str = "k8s.io/cluster-autoscaler/";
const SINCE: &str = "since ";
const RESTORES: &str = "restores ";
const PARKED: &str = "cluster-autoscaler tags parked: ";
const NONE: &str = "none";
const ELSEWHERE: &str = "see the offpeak state table";

/// What a marker mirrors of the pre-sleep state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirrored {
    pub scaling: Scaling,
    /// When the group was put to sleep, if the marker says.
    pub since: Option<DateTime<Utc>>,
    /// The parked discovery tags, exactly; `None` when the marker does not carry them.
    pub tags: Option<Vec<AsgTag>>,
}

/// The marker tag for a group asleep since `since`, to be restored to `scaling` and `tags`.
pub fn encode(scaling: Scaling, since: DateTime<Utc>, tags: &[AsgTag]) -> AsgTag {
    let since = since.to_rfc3339_opts(SecondsFormat::Secs, true);
    let head = format!(
        "{SINCE}{since}; {RESTORES}min={} max={} desired={}; {PARKED}",
        scaling.min, scaling.max, scaling.desired
    );
    let parked = encode_tags(tags)
        .filter(|t| head.len() + t.len() <= VALUE_MAX)
        .unwrap_or_else(|| ELSEWHERE.to_owned());
    AsgTag::new(MIRROR_KEY, head + &parked, false)
}

fn encode_tags(tags: &[AsgTag]) -> Option<String> {
    if tags.is_empty() {
        return Some(NONE.to_owned());
    }
    let mut parts = Vec::with_capacity(tags.len());
    for tag in tags {
        let suffix = tag.key.strip_prefix(DISCOVERY_PREFIX)?;
        if !carriable(suffix) || !carriable(&tag.value) {
            return None;
        }
        let plus = if tag.propagate_at_launch { "+" } else { "" };
        parts.push(format!("{suffix}={}{plus}", tag.value));
    }
    Some(parts.join(" "))
}

/// Characters a parked key suffix or value may hold so that [`parse`] reads it back exactly.
fn carriable(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

/// Reads a marker value back; `None` when it does not say which sizes to restore.
pub fn parse(value: &str) -> Option<Mirrored> {
    let mut scaling = None;
    let (mut since, mut tags) = (None, None);
    for part in value.split(';').map(str::trim) {
        if let Some(rest) = part.strip_prefix(RESTORES) {
            scaling = Some(parse_scaling(rest)?);
        } else if let Some(rest) = part.strip_prefix(SINCE) {
            since = DateTime::parse_from_rfc3339(rest.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc));
        } else if let Some(rest) = part.strip_prefix(PARKED) {
            tags = parse_tags(rest.trim());
        }
    }
    Some(Mirrored {
        scaling: scaling?,
        since,
        tags,
    })
}

/// `min=1 max=3 desired=2`, in that order, sizes AWS would accept.
fn parse_scaling(text: &str) -> Option<Scaling> {
    let mut words = text.split_whitespace();
    let mut next = |name: &str| -> Option<i32> {
        words
            .next()?
            .strip_prefix(name)?
            .strip_prefix('=')?
            .parse()
            .ok()
    };
    let scaling = Scaling {
        min: next("min")?,
        max: next("max")?,
        desired: next("desired")?,
    };
    let valid =
        0 <= scaling.min && scaling.min <= scaling.desired && scaling.desired <= scaling.max;
    (valid && words.next().is_none()).then_some(scaling)
}

fn parse_tags(text: &str) -> Option<Vec<AsgTag>> {
    if text == NONE {
        return Some(Vec::new());
    }
    text.split_whitespace()
        .map(|word| {
            let (suffix, value) = word.split_once('=')?;
            let (value, propagate) = match value.strip_suffix('+') {
                Some(v) => (v, true),
                None => (value, false),
            };
            (carriable(suffix) && carriable(value))
                .then(|| AsgTag::new(format!("{DISCOVERY_PREFIX}{suffix}"), value, propagate))
        })
        .collect()
}

/// The tag keys the cluster autoscaler discovers `cluster`'s groups by (for messages).
pub fn discovery_keys(cluster: &str) -> String {
    format!("{}, {}", guard::ENABLED_KEY, guard::cluster_key(cluster))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{friday_night as since, s};

    fn discovery() -> Vec<AsgTag> {
        vec![
            AsgTag::new("k8s.io/cluster-autoscaler/enabled", "true", true),
            AsgTag::new("k8s.io/cluster-autoscaler/dev-eks", "owned", false),
        ]
    }

    #[test]
    fn what_is_encoded_is_read_back_exactly() {
        let tag = encode(s(1, 3, 2), since(), &discovery());
        assert_eq!(tag.key, MIRROR_KEY);
        assert!(!tag.propagate_at_launch);
        assert_eq!(
            tag.value,
            "since 2026-11-27T13:00:00Z; restores min=1 max=3 desired=2; \
             cluster-autoscaler tags parked: enabled=true+ dev-eks=owned"
        );
        let back = parse(&tag.value).unwrap();
        assert_eq!(
            back,
            Mirrored {
                scaling: s(1, 3, 2),
                since: Some(since()),
                tags: Some(discovery()),
            }
        );
        let none = parse(&encode(s(0, 5, 1), since(), &[]).value).unwrap();
        assert_eq!(none.tags, Some(vec![]));
    }

    #[test]
    fn tags_that_do_not_fit_are_left_to_the_state_table_but_the_sizes_never_are() {
        let long_cluster = "c".repeat(100);
        let cases = [
            vec![AsgTag::new(
                format!("k8s.io/cluster-autoscaler/{long_cluster}"),
                "o".repeat(150),
                true,
            )],
            vec![AsgTag::new(
                "k8s.io/cluster-autoscaler/enabled",
                "yes please",
                true,
            )],
            vec![AsgTag::new("team", "platform", true)],
        ];
        for tags in cases {
            let tag = encode(s(10, 1000, 250), since(), &tags);
            assert!(tag.value.len() <= VALUE_MAX, "{}", tag.value.len());
            assert!(tag.value.ends_with(ELSEWHERE), "{}", tag.value);
            let back = parse(&tag.value).unwrap();
            assert_eq!((back.scaling, back.tags), (s(10, 1000, 250), None));
        }
    }

    #[test]
    fn the_older_format_and_a_hand_written_marker_give_their_sizes() {
        let older = "since 2026-11-27T13:00:00Z; restores min=1 max=3 desired=2; \
                     cluster-autoscaler discovery tags removed until then (saved in the offpeak state table)";
        let back = parse(older).unwrap();
        assert_eq!(
            (back.scaling, back.since, back.tags),
            (s(1, 3, 2), Some(since()), None)
        );
        let by_hand = parse("restores min=2 max=4 desired=3").unwrap();
        assert_eq!((by_hand.scaling, by_hand.since), (s(2, 4, 3), None));
    }

    #[test]
    fn a_marker_without_valid_sizes_is_unreadable() {
        for bad in [
            "",
            "asleep, ask Ken",
            "since 2026-11-27T13:00:00Z",
            "restores min=1 max=3",
            "restores min=1 max=3 desired=two",
            "restores max=3 min=1 desired=2",
            "restores min=3 max=3 desired=2",
            "restores min=-1 max=3 desired=0",
            "restores min=1 max=3 desired=2 maybe",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
