//! The registry: every target a function has changed and not yet put back, so that a target
//! removed from the schedule is still found and returned to its baseline (replicas removed, node
//! groups woken) instead of being orphaned.
//!
//! One state item per function, `offpeak/registry/<function>`, whose document is
//! `{"targets": ["dev-eks/app", ...]}`. A function reads it with the rest of its state (one more
//! key in the tick's `BatchGetItem`), [`enroll`]s a target **before** its first change, and
//! [`release`]s it once the target is back at its baseline and no longer scheduled.
//!
//! Guarantees:
//! - **Enrolled before changed.** A caller that enrolls before it applies cannot leave a changed
//!   target unknown: if the enrolment fails, the change is not made.
//! - **No lost updates.** Both writes are versioned puts; a conflicting writer makes the call
//!   re-read and try again (at most [`ATTEMPTS`] times, then [`StateError::Contended`]).
//! - A call that would change nothing writes nothing.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{PutOutcome, Record, StateError, StateStore};

/// How often a contended registry write is re-read and retried before giving up.
pub const ATTEMPTS: u32 = 5;

/// The state key of `function`'s registry.
pub fn key(function: &str) -> String {
    format!("offpeak/registry/{function}")
}

/// The targets a function has changed and not yet put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub targets: BTreeSet<String>,
}

impl Registry {
    /// The registry in `records` (as read with [`key`] among the tick's keys); empty when absent.
    pub fn from_records(
        records: &HashMap<String, Record>,
        function: &str,
    ) -> Result<Self, StateError> {
        records
            .get(&key(function))
            .map_or(Ok(Self::default()), Record::decode)
    }

    /// Registered targets that are not `scheduled`, in order: what a tick must put back.
    pub fn orphans<'a>(&'a self, scheduled: &BTreeSet<&str>) -> Vec<&'a str> {
        self.targets
            .iter()
            .map(String::as_str)
            .filter(|t| !scheduled.contains(t))
            .collect()
    }

    pub fn contains(&self, target: &str) -> bool {
        self.targets.contains(target)
    }
}

/// Adds `targets` to `function`'s registry. Call before changing them.
pub async fn enroll<S: StateStore>(
    store: &S,
    function: &str,
    targets: &[&str],
) -> Result<(), StateError> {
    update(store, function, |registry| {
        let mut changed = false;
        for t in targets {
            changed |= registry.targets.insert((*t).to_owned());
        }
        changed
    })
    .await
}

/// Removes `target` from `function`'s registry. Call once it is back at its baseline.
pub async fn release<S: StateStore>(
    store: &S,
    function: &str,
    target: &str,
) -> Result<(), StateError> {
    update(store, function, |registry| registry.targets.remove(target)).await
}

/// Read, change, versioned write; again on conflict. `change` returns whether it changed anything.
async fn update<S: StateStore>(
    store: &S,
    function: &str,
    change: impl Fn(&mut Registry) -> bool,
) -> Result<(), StateError> {
    let key = key(function);
    for _ in 0..ATTEMPTS {
        let records = store.get_many(std::slice::from_ref(&key)).await?;
        let version = records.get(&key).map(|r| r.version);
        let mut registry = Registry::from_records(&records, function)?;
        if !change(&mut registry) {
            return Ok(());
        }
        let doc = serde_json::to_value(&registry).map_err(|source| StateError::DocShape {
            target: key.clone(),
            source,
        })?;
        if let PutOutcome::Written { .. } = store.put(&key, &doc, version).await? {
            return Ok(());
        }
    }
    Err(StateError::Contended {
        target: key,
        attempts: ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{HookedStore, MemoryStateStore, OnWrite};
    use std::sync::atomic::Ordering;

    async fn registry(store: &MemoryStateStore) -> Registry {
        let records = store.get_many(&[key("f")]).await.unwrap();
        Registry::from_records(&records, "f").unwrap()
    }

    #[tokio::test]
    async fn enroll_and_release_round_trip() {
        let store = MemoryStateStore::new();
        enroll(&store, "f", &["a", "b"]).await.unwrap();
        enroll(&store, "f", &["b", "c"]).await.unwrap();
        release(&store, "f", "a").await.unwrap();
        let got = registry(&store).await;
        assert_eq!(
            got.targets.iter().map(String::as_str).collect::<Vec<_>>(),
            ["b", "c"]
        );
        let scheduled = BTreeSet::from(["c"]);
        assert_eq!(got.orphans(&scheduled), ["b"]);
    }

    #[tokio::test]
    async fn a_call_that_changes_nothing_writes_nothing() {
        let store = MemoryStateStore::new();
        enroll(&store, "f", &["a"]).await.unwrap();
        enroll(&store, "f", &["a"]).await.unwrap();
        release(&store, "f", "zzz").await.unwrap();
        let records = store.get_many(&[key("f")]).await.unwrap();
        assert_eq!(records[&key("f")].version, 1);
    }

    #[tokio::test]
    async fn a_racing_writer_is_not_lost() {
        // GIVEN another writer that enrolls "x" between this caller's read and its write, once
        let raced = std::sync::atomic::AtomicBool::new(false);
        let store = HookedStore::new(move |_| match raced.swap(true, Ordering::SeqCst) {
            false => OnWrite::RacedBy(serde_json::json!({"targets": ["x"]})),
            true => OnWrite::Proceed,
        });
        enroll(&store, "f", &["a"]).await.unwrap();
        let got = registry(&store.inner).await;
        assert_eq!(
            got.targets.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a", "x"]
        );
    }

    #[test]
    fn absent_registry_is_empty() {
        let got = Registry::from_records(&HashMap::new(), "f").unwrap();
        assert!(got.targets.is_empty());
    }
}
