//! [`HookedStore`]: a [`MemoryStateStore`] whose writes a test can intercept.
//!
//! For unit tests that need the world to interfere with a write: another writer that wins the race
//! first, a write that fails or loses, a count of the writes that landed. Every call yields to the
//! runtime first, so concurrent ticks interleave as they would against DynamoDB. A claim that
//! carries a document is a write like any other; reads, deletes, leases and claims without a
//! document are the inner store's, unchanged. Releases are the inner store's too, unless the
//! store was made to fail them ([`HookedStore::failing_releases`]); releases are counted, one
//! by one ([`HookedStore::releases`]) and together ([`HookedStore::releases_together`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{
    ClaimOutcome, ClaimWrite, DeleteOutcome, MemoryStateStore, PutOutcome, Record, StateError,
    StateStore,
};

/// What happens to one write, as the hook decides from its target.
#[derive(Debug)]
pub enum OnWrite {
    /// The write reaches the inner store.
    Proceed,
    /// Another writer puts this document first (at the version the caller expects); then the
    /// caller's write reaches the inner store, and loses.
    RacedBy(serde_json::Value),
    /// The write never reaches the store; the caller gets this answer (a claim's `Written` is
    /// claimed at that version, its `Conflict` a moved version).
    Answer(Result<PutOutcome, StateError>),
}

type Hook = Box<dyn Fn(&str) -> OnWrite + Send + Sync>;

/// An in-memory store whose writes first go through a hook.
pub struct HookedStore {
    pub inner: MemoryStateStore,
    /// Writes that reached the inner store (the caller's own, not a racing writer's).
    puts: AtomicUsize,
    hook: Hook,
    releases_fail: bool,
    /// Calls to `release_lease` and to `release_leases`, whatever their outcome.
    alone: AtomicUsize,
    together: AtomicUsize,
}

impl HookedStore {
    /// A store on an empty [`MemoryStateStore`] whose writes go through `hook`.
    pub fn new(hook: impl Fn(&str) -> OnWrite + Send + Sync + 'static) -> Self {
        Self {
            inner: MemoryStateStore::new(),
            puts: AtomicUsize::new(0),
            hook: Box::new(hook),
            releases_fail: false,
            alone: AtomicUsize::new(0),
            together: AtomicUsize::new(0),
        }
    }

    /// This store, failing every lease release (a [`StateError::Contended`] naming the target)
    /// and releasing nothing: a lease then stays until it expires.
    pub fn failing_releases(self) -> Self {
        Self {
            releases_fail: true,
            ..self
        }
    }

    /// The writes so far that reached the inner store.
    pub fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }

    /// The calls so far that released one lease.
    pub fn releases(&self) -> usize {
        self.alone.load(Ordering::SeqCst)
    }

    /// The calls so far that released several leases together.
    pub fn releases_together(&self) -> usize {
        self.together.load(Ordering::SeqCst)
    }
}

impl Default for HookedStore {
    /// Every write proceeds.
    fn default() -> Self {
        Self::new(|_| OnWrite::Proceed)
    }
}

impl StateStore for HookedStore {
    async fn get_many<T: AsRef<str> + Sync>(
        &self,
        targets: &[T],
    ) -> Result<HashMap<String, Record>, StateError> {
        tokio::task::yield_now().await;
        self.inner.get_many(targets).await
    }

    async fn put(
        &self,
        target: &str,
        doc: &serde_json::Value,
        expected_version: Option<u64>,
    ) -> Result<PutOutcome, StateError> {
        tokio::task::yield_now().await;
        match (self.hook)(target) {
            OnWrite::Answer(answer) => return answer,
            OnWrite::RacedBy(other) => {
                self.inner.put(target, &other, expected_version).await?;
            }
            OnWrite::Proceed => {}
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(target, doc, expected_version).await
    }

    async fn delete(
        &self,
        target: &str,
        expected_version: u64,
    ) -> Result<DeleteOutcome, StateError> {
        self.inner.delete(target, expected_version).await
    }

    async fn claim_write(&self, claim: &ClaimWrite<'_>) -> Result<ClaimOutcome, StateError> {
        let (target, doc) = (claim.target, claim.doc);
        tokio::task::yield_now().await;
        if doc.is_some() {
            match (self.hook)(target) {
                OnWrite::Answer(answer) => {
                    return answer.map(|put| match put {
                        PutOutcome::Written { version } => ClaimOutcome::Claimed {
                            version: Some(version),
                        },
                        PutOutcome::Conflict => ClaimOutcome::Moved,
                    });
                }
                OnWrite::RacedBy(other) => {
                    self.inner
                        .put(target, &other, claim.expected_version)
                        .await?;
                }
                OnWrite::Proceed => {}
            }
            self.puts.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.claim_write(claim).await
    }

    async fn release_lease(&self, target: &str, holder: &str) -> Result<bool, StateError> {
        self.alone.fetch_add(1, Ordering::SeqCst);
        if self.releases_fail {
            return Err(StateError::Contended {
                target: target.to_owned(),
                attempts: 1,
            });
        }
        self.inner.release_lease(target, holder).await
    }

    async fn release_leases(&self, leases: &[(&str, &str)]) -> Result<bool, StateError> {
        tokio::task::yield_now().await;
        self.together.fetch_add(1, Ordering::SeqCst);
        if let (true, Some((target, _))) = (self.releases_fail, leases.first()) {
            return Err(StateError::Contended {
                target: (*target).to_owned(),
                attempts: 1,
            });
        }
        self.inner.release_leases(leases).await
    }
}
