//! [`MemoryStateStore`]: an in-memory state store with the DynamoDB store's contract.
//!
//! For whole-flow unit tests of the functions. The same conditions as the DynamoDB expressions are
//! evaluated under one lock, so racing calls behave as they do against the table. It never fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    ClaimOutcome, ClaimWrite, DeleteOutcome, Lease, PutOutcome, Record, StateError, StateStore,
};

#[derive(Debug, Clone, Default)]
struct Slot {
    doc: Option<(u64, serde_json::Value)>,
    lease: Option<Lease>,
}

/// An in-memory state store. Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStateStore {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // Every mutation below is a single assignment, so a poisoned map is still consistent.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn record(target: &str, slot: &Slot) -> Option<Record> {
    let (version, doc) = slot.doc.clone()?;
    Some(Record {
        target: target.to_owned(),
        version,
        doc,
        lease: slot.lease.clone(),
    })
}

impl StateStore for MemoryStateStore {
    async fn get_many<T: AsRef<str> + Sync>(
        &self,
        targets: &[T],
    ) -> Result<HashMap<String, Record>, StateError> {
        let slots = self.lock();
        let found = targets
            .iter()
            .filter_map(|t| {
                slots
                    .get(t.as_ref())
                    .and_then(|slot| record(t.as_ref(), slot))
            })
            .map(|r| (r.target.clone(), r))
            .collect();
        Ok(found)
    }

    async fn put(
        &self,
        target: &str,
        doc: &serde_json::Value,
        expected_version: Option<u64>,
    ) -> Result<PutOutcome, StateError> {
        let mut slots = self.lock();
        let slot = slots.entry(target.to_owned()).or_default();
        let current = slot.doc.as_ref().map(|(v, _)| *v);
        if current != expected_version {
            return Ok(PutOutcome::Conflict);
        }
        let version = expected_version.map_or(1, |v| v + 1);
        slot.doc = Some((version, doc.clone()));
        Ok(PutOutcome::Written { version })
    }

    async fn delete(
        &self,
        target: &str,
        expected_version: u64,
    ) -> Result<DeleteOutcome, StateError> {
        let mut slots = self.lock();
        let Some(slot) = slots.get(target) else {
            return Ok(DeleteOutcome::Deleted);
        };
        if slot.doc.as_ref().map(|(v, _)| *v) != Some(expected_version) {
            return Ok(DeleteOutcome::Conflict);
        }
        slots.remove(target);
        Ok(DeleteOutcome::Deleted)
    }

    async fn claim_write(&self, claim: &ClaimWrite<'_>) -> Result<ClaimOutcome, StateError> {
        let (target, holder, expected_version, doc, now, ttl) = claim.parts();
        let mut slots = self.lock();
        let slot = slots.entry(target.to_owned()).or_default();
        if slot.doc.as_ref().map(|(v, _)| *v) != expected_version {
            return Ok(ClaimOutcome::Moved);
        }
        if slot
            .lease
            .as_ref()
            .is_some_and(|l| l.is_active(now) && l.holder != holder)
        {
            return Ok(ClaimOutcome::Leased);
        }
        // A lease that would end at `now` is none: a settle leaves the target free.
        slot.lease = (ttl > chrono::Duration::zero()).then(|| Lease {
            holder: holder.to_owned(),
            until: now + ttl,
        });
        let Some(doc) = doc else {
            return Ok(ClaimOutcome::Claimed {
                version: expected_version,
            });
        };
        let version = expected_version.map_or(1, |v| v + 1);
        slot.doc = Some((version, doc.clone()));
        Ok(ClaimOutcome::Claimed {
            version: Some(version),
        })
    }

    async fn release_lease(&self, target: &str, holder: &str) -> Result<bool, StateError> {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(target) else {
            return Ok(false);
        };
        if slot.lease.as_ref().is_none_or(|l| l.holder != holder) {
            return Ok(false);
        }
        slot.lease = None;
        Ok(true)
    }

    async fn release_leases(&self, leases: &[(&str, &str)]) -> Result<bool, StateError> {
        let mut slots = self.lock();
        let held = |(target, holder): &(&str, &str)| {
            slots
                .get(*target)
                .and_then(|slot| slot.lease.as_ref())
                .is_some_and(|l| l.holder == *holder)
        };
        if !leases.iter().all(held) {
            return Ok(false);
        }
        for (target, _) in leases {
            if let Some(slot) = slots.get_mut(*target) {
                slot.lease = None;
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap()
    }

    #[tokio::test]
    async fn create_then_update_with_versions() {
        let store = MemoryStateStore::new();
        assert_eq!(
            store.put("a", &json!({"n": 1}), None).await.unwrap(),
            PutOutcome::Written { version: 1 }
        );
        assert_eq!(
            store.put("a", &json!({"n": 9}), None).await.unwrap(),
            PutOutcome::Conflict
        );
        assert_eq!(
            store.put("a", &json!({"n": 2}), Some(1)).await.unwrap(),
            PutOutcome::Written { version: 2 }
        );
        assert_eq!(
            store.put("a", &json!({"n": 3}), Some(1)).await.unwrap(),
            PutOutcome::Conflict
        );
        assert_eq!(
            store.put("b", &json!({}), Some(1)).await.unwrap(),
            PutOutcome::Conflict
        );
        let got = store.get_many(&["a", "b", "a"]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got["a"].version, &got["a"].doc), (2, &json!({"n": 2})));
    }

    #[tokio::test]
    async fn delete_is_conditional_and_absent_is_success() {
        let store = MemoryStateStore::new();
        store.put("a", &json!({}), None).await.unwrap();
        assert_eq!(store.delete("a", 7).await.unwrap(), DeleteOutcome::Conflict);
        assert_eq!(store.delete("a", 1).await.unwrap(), DeleteOutcome::Deleted);
        assert_eq!(store.delete("a", 1).await.unwrap(), DeleteOutcome::Deleted);
        assert!(store.get_many(&["a"]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn leases_contend_renew_expire_and_release() {
        let store = MemoryStateStore::new();
        let ttl = chrono::Duration::minutes(5);
        assert!(store.try_lease("a", "one", t0(), ttl).await.unwrap());
        assert!(
            !store
                .try_lease("a", "two", t0() + chrono::Duration::minutes(4), ttl)
                .await
                .unwrap()
        );
        assert!(
            store
                .try_lease("a", "one", t0() + chrono::Duration::minutes(4), ttl)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_lease("a", "two", t0() + chrono::Duration::minutes(8), ttl)
                .await
                .unwrap()
        );
        assert!(
            store
                .try_lease("a", "two", t0() + chrono::Duration::minutes(9), ttl)
                .await
                .unwrap()
        );
        assert!(!store.release_lease("a", "one").await.unwrap());
        assert!(store.release_lease("a", "two").await.unwrap());
        assert!(!store.release_lease("missing", "two").await.unwrap());
    }

    #[tokio::test]
    async fn a_claim_write_takes_the_lease_and_writes_only_at_the_expected_version() {
        let store = MemoryStateStore::new();
        let ttl = chrono::Duration::minutes(4);
        let at = |m: i64| t0() + chrono::Duration::minutes(m);
        let claim = |holder: &'static str, expected, doc: Option<serde_json::Value>, m| {
            let store = store.clone();
            async move {
                store
                    .claim_write(&ClaimWrite {
                        target: "a",
                        holder,
                        expected_version: expected,
                        doc: doc.as_ref(),
                        now: at(m),
                        ttl,
                    })
                    .await
                    .unwrap()
            }
        };
        // A free target with no document: claimed at "no document", a doc creates version 1.
        assert_eq!(
            claim("one", None, None, 0).await,
            ClaimOutcome::Claimed { version: None }
        );
        assert!(store.get_many(&["a"]).await.unwrap().is_empty());
        assert_eq!(
            claim("one", None, Some(json!({"n": 1})), 0).await,
            ClaimOutcome::Claimed { version: Some(1) }
        );
        let record = store.get_many(&["a"]).await.unwrap()["a"].clone();
        assert_eq!((record.version, &record.doc), (1, &json!({"n": 1})));
        let lease = record.lease.unwrap();
        assert_eq!((lease.holder.as_str(), lease.until), ("one", at(0) + ttl));
        // Another holder while the lease is active: leased, nothing written.
        assert_eq!(
            claim("two", Some(1), Some(json!({"n": 2})), 3).await,
            ClaimOutcome::Leased
        );
        // A moved version is reported even under another's lease, and by the holder itself.
        assert_eq!(claim("two", Some(7), None, 3).await, ClaimOutcome::Moved);
        assert_eq!(claim("one", None, None, 1).await, ClaimOutcome::Moved);
        let record = store.get_many(&["a"]).await.unwrap()["a"].clone();
        assert_eq!((record.version, &record.doc), (1, &json!({"n": 1})));
        assert_eq!(record.lease.unwrap().holder, "one");
        // The holder renews; once its lease has expired, another holder takes it over.
        assert_eq!(
            claim("one", Some(1), Some(json!({"n": 2})), 2).await,
            ClaimOutcome::Claimed { version: Some(2) }
        );
        assert_eq!(claim("two", Some(2), None, 5).await, ClaimOutcome::Leased);
        assert_eq!(
            claim("two", Some(2), None, 6).await,
            ClaimOutcome::Claimed { version: Some(2) }
        );
        let record = store.get_many(&["a"]).await.unwrap()["a"].clone();
        assert_eq!(record.version, 2);
        assert_eq!(record.lease.unwrap().until, at(6) + ttl);
        // A released lease is free at once.
        assert!(store.release_lease("a", "two").await.unwrap());
        assert_eq!(
            claim("three", Some(2), None, 7).await,
            ClaimOutcome::Claimed { version: Some(2) }
        );
    }

    #[tokio::test]
    async fn lease_only_target_has_no_record_but_accepts_a_first_put() {
        let store = MemoryStateStore::new();
        assert!(
            store
                .try_lease("a", "one", t0(), chrono::Duration::minutes(5))
                .await
                .unwrap()
        );
        assert!(store.get_many(&["a"]).await.unwrap().is_empty());
        assert_eq!(
            store.put("a", &json!({}), None).await.unwrap(),
            PutOutcome::Written { version: 1 }
        );
        let lease = store.get_many(&["a"]).await.unwrap()["a"]
            .lease
            .clone()
            .unwrap();
        assert_eq!(lease.holder, "one");
    }
}
