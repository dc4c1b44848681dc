//! Mapping between DynamoDB items and [`Record`]s (pure).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{Lease, Record, StateError};

pub(super) const TARGET: &str = "target";
pub(super) const VERSION: &str = "version";
pub(super) const DOC: &str = "doc";
pub(super) const LEASE_HOLDER: &str = "lease_holder";
pub(super) const LEASE_UNTIL: &str = "lease_until";

pub(super) type Item = HashMap<String, AttributeValue>;

/// The primary key of `target`'s item.
pub(super) fn key(target: &str) -> Item {
    HashMap::from([(TARGET.to_owned(), AttributeValue::S(target.to_owned()))])
}

pub(super) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// Instants are stored as milliseconds since the Unix epoch, so DynamoDB can compare them.
pub(super) fn millis(t: DateTime<Utc>) -> AttributeValue {
    number(t.timestamp_millis())
}

/// Decodes an item; `Ok(None)` for an item that holds only a lease (no document yet).
pub(super) fn decode(table: &str, item: &Item) -> Result<Option<Record>, StateError> {
    let target = match item.get(TARGET) {
        Some(AttributeValue::S(t)) => t.clone(),
        _ => return Err(malformed(table, "?", "missing string attribute `target`")),
    };
    let Some(version) = item.get(VERSION) else {
        return Ok(None);
    };
    let version = parse_n::<u64>(version)
        .ok_or_else(|| malformed(table, &target, "`version` is not a whole number"))?;
    let doc = match item.get(DOC) {
        Some(AttributeValue::S(text)) => {
            serde_json::from_str(text).map_err(|source| StateError::DocNotJson {
                table: table.to_owned(),
                target: target.clone(),
                source,
            })?
        }
        _ => return Err(malformed(table, &target, "missing string attribute `doc`")),
    };
    let lease = decode_lease(table, &target, item)?;
    Ok(Some(Record {
        target,
        version,
        doc,
        lease,
    }))
}

fn decode_lease(table: &str, target: &str, item: &Item) -> Result<Option<Lease>, StateError> {
    let (Some(AttributeValue::S(holder)), Some(until)) =
        (item.get(LEASE_HOLDER), item.get(LEASE_UNTIL))
    else {
        return Ok(None);
    };
    let until = parse_n::<i64>(until)
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| {
            malformed(
                table,
                target,
                "`lease_until` is not a timestamp in milliseconds",
            )
        })?;
    Ok(Some(Lease {
        holder: holder.clone(),
        until,
    }))
}

fn parse_n<T: std::str::FromStr>(value: &AttributeValue) -> Option<T> {
    match value {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

fn malformed(table: &str, target: &str, problem: &'static str) -> StateError {
    StateError::Malformed {
        table: table.to_owned(),
        target: target.to_owned(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn full_item_decodes() {
        let until = Utc.with_ymd_and_hms(2026, 11, 27, 9, 35, 0).unwrap();
        let record = decode(
            "t",
            &item(&[
                (TARGET, s("dev-eks/app")),
                (VERSION, number(3)),
                (DOC, s(r#"{"desired":"asleep"}"#)),
                (LEASE_HOLDER, s("req-1")),
                (LEASE_UNTIL, millis(until)),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(record.target, "dev-eks/app");
        assert_eq!(record.version, 3);
        assert_eq!(record.doc, serde_json::json!({"desired": "asleep"}));
        assert_eq!(
            record.lease,
            Some(Lease {
                holder: "req-1".into(),
                until
            })
        );
    }

    #[test]
    fn lease_only_item_is_no_record() {
        let decoded = decode(
            "t",
            &item(&[
                (TARGET, s("a")),
                (LEASE_HOLDER, s("h")),
                (LEASE_UNTIL, number(1)),
            ]),
        );
        assert_eq!(decoded.unwrap(), None);
    }

    #[test]
    fn malformed_items_name_table_target_and_problem() {
        let cases = [
            (
                item(&[(TARGET, s("a")), (VERSION, s("1")), (DOC, s("{}"))]),
                "`version` is not a whole number",
            ),
            (
                item(&[(TARGET, s("a")), (VERSION, number(1))]),
                "missing string attribute `doc`",
            ),
            (
                item(&[(TARGET, s("a")), (VERSION, number(1)), (DOC, s("{"))]),
                "not valid JSON",
            ),
            (
                item(&[
                    (TARGET, s("a")),
                    (VERSION, number(1)),
                    (DOC, s("{}")),
                    (LEASE_HOLDER, s("h")),
                    (LEASE_UNTIL, s("x")),
                ]),
                "`lease_until` is not a timestamp",
            ),
        ];
        for (bad, needle) in cases {
            let message = decode("offpeak-state", &bad).unwrap_err().to_string();
            assert!(message.contains(needle), "{message}");
            assert!(
                message.contains("target a in table offpeak-state"),
                "{message}"
            );
        }
    }
}
