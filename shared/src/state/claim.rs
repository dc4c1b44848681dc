//! Claiming a target: how a tick makes sure it alone changes a target, and changes it from the
//! state it planned from. Every function claims its targets this way ([`claim`]).
//!
//! A claim is one conditional write: the lease and the version checked together
//! ([`StateStore::claim_write`], one `UpdateItem`). It succeeds only if both hold:
//! - **The lease keeps two live ticks apart.** The write takes the target's lease at the clock's
//!   `now` (never an event's `at`, so a replayed instant cannot make a live tick's lease look
//!   expired) for a `ttl` the function chooses: longer than its timeout, so a live tick never
//!   loses it, and no longer than that, so a tick that died blocks its target for as few ticks as
//!   possible. While one tick holds it, every other tick stands aside.
//! - **The version catches a tick that planned from stale state.** The same write is conditional
//!   on the target's version still being the one the tick planned from; if it moved (a tick that
//!   finished meanwhile, or a writer that takes no lease, such as `offpeak override`), nothing is
//!   written and the tick stands aside. Its later writes under the claim are conditional on the
//!   claim's version ([`Claim::version`]), and a write that still loses ends the claim the same
//!   way ([`Claim::stand_aside`]).
//! - **The first write can ride along** ([`claim_with`]): a tick whose first change is its
//!   state document writes it in the claim itself, as the next version.
//!
//! So the expired lease of a dead tick can be taken over, but only by a tick that planned from
//! the current version: it acts on what the dead tick left behind, never on a plan made before
//! it. A claim that fails takes nothing: it leaves neither a lease nor a write behind.
//!
//! **Settling: a change to the state document alone** ([`settle`]). A tick whose only change to
//! a target is its state document (a transition remembered, a notice marked sent, no AWS call)
//! has nothing to hold a lease over: it settles the target instead, in the same one conditional
//! write as a claim, with a lease that ends at `now` — which is no lease. It writes the document
//! as the next version only if the version is still the one planned from and no other holder's
//! lease is active, exactly the claim's conditions, and it leaves no lease behind (a stored one,
//! expired or the settling holder's own, is removed), so nothing is released afterwards. A settle that loses stands aside
//! exactly as a claim that loses ([`Settled::StoodAside`]), having written nothing. So a settle
//! never slips in under a live tick's lease, and a live tick's later writes, conditional on its
//! claim's version, still catch one that landed before its claim.
//!
//! Guarantees:
//! - **Standing aside is a value** ([`Claimed::StoodAside`]), not an error, and its `Display` is
//!   the note a report carries. When the version moved and another holder's lease is active
//!   too, the reason given is the moved version.
//! - **One holder id per invocation** ([`Holder`]): unique across concurrent invocations (even in
//!   one process), and read from no clock.
//! - **Released at the end** ([`Claim::release`]). A failed release is an [`Unreleased`] to note,
//!   never a failure of the tick: the lease expires by itself. A release that finds the lease no
//!   longer this holder's (it expired and another tick took it, or the target's item was deleted,
//!   which frees its lease) is `Ok(false)` and changes nothing.
//! - **Released together** ([`release_all`]): the claims a tick holds at its end are given back
//!   in one all-or-nothing write per [`MAX_RELEASES_PER_WRITE`] of them
//!   ([`StateStore::release_leases`], one `TransactWriteItems`), each on the condition a single
//!   release has. When that write is cancelled (one lease was taken over or freed with its item,
//!   a concurrent write to one of the targets), nothing was released by it; when it fails, it
//!   may or may not have gone through. Either way each claim of the batch is then released on
//!   its own, so each gets its own outcome (`Ok(false)` for a lease already given back). A
//!   single claim is released on its own at once.
//!
//! Failure behaviour: a failed claim or settle is the store's [`StateError`]; a claim may or may
//! not have taken the lease (an answer lost on the way back), which then expires by itself; a
//! settle may or may not have written its document, and the next tick reads which.

use std::fmt;
use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{ClaimOutcome, ClaimWrite, MAX_RELEASES_PER_WRITE, StateError, StateStore};
use crate::error_chain::chain;

/// Who holds a lease: one id per invocation of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(String);

impl Holder {
    /// A new id for one invocation of `function`: `<function>/<16 hex digits>`.
    ///
    /// Concurrent Lambda sandboxes may share a process id, and a test runs several ticks in one
    /// process, so the digits are random: std's `RandomState` seeds its keys from the operating
    /// system once per thread and makes every new state differ from the previous one. No clock
    /// is read.
    pub fn new(function: &str) -> Self {
        let n = RandomState::new().hash_one(function);
        Self(format!("{function}/{n:016x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of [`claim`].
#[derive(Debug)]
pub enum Claimed {
    /// This tick holds the target: it may change it, writing against the claim's version.
    Held(Claim),
    /// Another tick has the target, or has changed it since this tick read it.
    StoodAside(StoodAside),
}

/// Why a tick stood aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aside {
    /// Another invocation holds the target's lease.
    Leased,
    /// The target's state is no longer at the version this tick planned from.
    Moved,
}

/// A tick that stood aside from a target, and whether it gave back the lease it had taken.
#[derive(Debug)]
pub struct StoodAside {
    pub because: Aside,
    /// The lease this tick had taken could not be released (it expires by itself).
    pub unreleased: Option<Unreleased>,
}

impl fmt::Display for StoodAside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.because {
            Aside::Leased => "another invocation holds this target's lease: this tick stood aside",
            Aside::Moved => {
                "its state changed since this tick read it (a concurrent tick or an override): \
                 this tick stood aside; the next tick plans again"
            }
        })?;
        match &self.unreleased {
            Some(err) => write!(f, "; {}", chain(err)),
            None => Ok(()),
        }
    }
}

/// A lease that could not be given back: harmless beyond a delay, since it expires by itself.
#[derive(Debug, thiserror::Error)]
#[error(
    "the lease on target {target} was not released; it expires by itself at {}",
    .until.to_rfc3339_opts(SecondsFormat::Secs, true)
)]
pub struct Unreleased {
    pub target: String,
    pub until: DateTime<Utc>,
    #[source]
    pub source: StateError,
}

/// A target this tick holds: its lease, and the version its state is at.
#[derive(Debug)]
#[must_use = "a claim holds a lease until it is released"]
pub struct Claim {
    target: String,
    holder: String,
    version: Option<u64>,
    until: DateTime<Utc>,
}

impl Claim {
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The version the target's state is at once claimed (`None`: no document yet), the
    /// document written with the claim included: the `expected_version` of the holder's next
    /// write.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// When the lease expires if it is not released.
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }

    /// Gives the lease back. `Ok(false)`: it was no longer this holder's (expired and taken over,
    /// or freed with the target's item); nothing changed.
    pub async fn release<S: StateStore>(self, store: &S) -> Result<bool, Unreleased> {
        store
            .release_lease(&self.target, &self.holder)
            .await
            .map_err(|source| Unreleased {
                target: self.target,
                until: self.until,
                source,
            })
    }

    /// Ends a claim whose versioned write lost (a writer that takes no lease got there first):
    /// the lease is given back, and the tick stood aside.
    pub async fn stand_aside<S: StateStore>(self, store: &S) -> StoodAside {
        StoodAside {
            because: Aside::Moved,
            unreleased: self.release(store).await.err(),
        }
    }
}

/// Claims `target` for `holder` in one conditional write: takes its lease at `now` for `ttl`
/// only if its state is still at `planned`, the version the tick planned from (`None`: the target
/// had no document).
pub async fn claim<S: StateStore>(
    store: &S,
    holder: &Holder,
    target: &str,
    planned: Option<u64>,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Claimed, StateError> {
    claim_with(store, holder, target, planned, None, now, ttl).await
}

/// [`claim`], writing `doc` (when given) in the same write as the version after `planned`: the
/// claim is then held at that version.
pub async fn claim_with<S: StateStore>(
    store: &S,
    holder: &Holder,
    target: &str,
    planned: Option<u64>,
    doc: Option<&serde_json::Value>,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Claimed, StateError> {
    let request = ClaimWrite {
        target,
        holder: holder.as_str(),
        expected_version: planned,
        doc,
        now,
        ttl,
    };
    let because = match store.claim_write(&request).await? {
        ClaimOutcome::Claimed { version } => {
            return Ok(Claimed::Held(Claim {
                target: target.to_owned(),
                holder: holder.as_str().to_owned(),
                version,
                until: now + ttl,
            }));
        }
        ClaimOutcome::Leased => Aside::Leased,
        ClaimOutcome::Moved => Aside::Moved,
    };
    Ok(Claimed::StoodAside(StoodAside {
        because,
        unreleased: None,
    }))
}

/// The result of [`settle`].
#[derive(Debug)]
pub enum Settled {
    /// Written: the target's state is at `version`, and no lease is held on it.
    Written { version: u64 },
    /// Another tick has the target, or has changed it since this tick read it: nothing written.
    StoodAside(StoodAside),
}

/// Settles `target` for `holder` in one conditional write: writes `doc` as the version after
/// `planned` only if the state is still at `planned` and no other holder's lease is active at
/// the clock's `now`, and leaves no lease behind (see the module docs).
pub async fn settle<S: StateStore>(
    store: &S,
    holder: &Holder,
    target: &str,
    planned: Option<u64>,
    doc: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Settled, StateError> {
    let request = ClaimWrite {
        target,
        holder: holder.as_str(),
        expected_version: planned,
        doc: Some(doc),
        now,
        // A lease that ends at `now`: none is taken, none is left.
        ttl: Duration::zero(),
    };
    let because = match store.claim_write(&request).await? {
        ClaimOutcome::Claimed { .. } => {
            let version = planned.map_or(1, |v| v + 1);
            return Ok(Settled::Written { version });
        }
        ClaimOutcome::Leased => Aside::Leased,
        ClaimOutcome::Moved => Aside::Moved,
    };
    Ok(Settled::StoodAside(StoodAside {
        because,
        unreleased: None,
    }))
}

/// Gives back the leases of `claims` ([`MAX_RELEASES_PER_WRITE`] per write, see the module docs);
/// the ones that could not be given back, to note (they expire by themselves).
pub async fn release_all<S: StateStore>(store: &S, mut claims: Vec<Claim>) -> Vec<Unreleased> {
    let mut unreleased = Vec::new();
    while !claims.is_empty() {
        let rest = claims.split_off(claims.len().min(MAX_RELEASES_PER_WRITE));
        let batch = std::mem::replace(&mut claims, rest);
        if batch.len() > 1 && released_together(store, &batch).await {
            continue;
        }
        for claim in batch {
            if let Err(err) = claim.release(store).await {
                unreleased.push(err);
            }
        }
    }
    unreleased
}

/// Whether one write released every lease of `batch`.
async fn released_together<S: StateStore>(store: &S, batch: &[Claim]) -> bool {
    let leases: Vec<(&str, &str)> = batch
        .iter()
        .map(|c| (c.target.as_str(), c.holder.as_str()))
        .collect();
    match store.release_leases(&leases).await {
        Ok(released) => released,
        Err(err) => {
            tracing::warn!(
                leases = leases.len(),
                error = %chain(&err),
                "leases not released together; releasing them one by one"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::state::{DeleteOutcome, HookedStore, MemoryStateStore, PutOutcome};

    const TARGET: &str = "prod-aurora";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap()
    }

    fn ttl() -> Duration {
        Duration::minutes(4)
    }

    fn minutes(n: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(n)
    }

    async fn lease_holder(store: &MemoryStateStore) -> Option<String> {
        // Only a target with a document reads back, lease included (a lease alone is no record).
        let records = store.get_many(&[TARGET]).await.unwrap();
        records
            .get(TARGET)
            .and_then(|r| r.lease.as_ref().map(|l| l.holder.clone()))
    }

    fn held(claimed: Result<Claimed, StateError>) -> Claim {
        match claimed.unwrap() {
            Claimed::Held(claim) => claim,
            Claimed::StoodAside(aside) => panic!("stood aside: {aside}"),
        }
    }

    fn aside(claimed: Result<Claimed, StateError>) -> StoodAside {
        match claimed.unwrap() {
            Claimed::Held(claim) => panic!("held: {claim:?}"),
            Claimed::StoodAside(aside) => aside,
        }
    }

    #[tokio::test]
    async fn a_free_target_is_held_at_the_version_planned_from() {
        // GIVEN a target with no document, and one at version 2
        let store = MemoryStateStore::new();
        let me = Holder::new("aurora-replicas");

        // WHEN a tick that read no document claims the first
        let got = held(claim(&store, &me, TARGET, None, t0(), ttl()).await);

        // THEN it holds it, writes against "no document", and the lease is its own until t0 + ttl
        assert_eq!((got.target(), got.version()), (TARGET, None));
        assert_eq!(got.until(), t0() + ttl());
        assert_eq!(
            store.put(TARGET, &json!({}), got.version()).await.unwrap(),
            PutOutcome::Written { version: 1 }
        );
        assert_eq!(lease_holder(&store).await.as_deref(), Some(me.as_str()));
        assert!(got.release(&store).await.unwrap());
        assert_eq!(lease_holder(&store).await, None);

        // AND a tick that read version 1 holds it at version 1
        let other = Holder::new("aurora-replicas");
        let got = held(claim(&store, &other, TARGET, Some(1), minutes(1), ttl()).await);
        assert_eq!(got.version(), Some(1));
    }

    #[tokio::test]
    async fn another_holders_active_lease_makes_a_tick_stand_aside() {
        // GIVEN a tick holding the target
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({}), None).await.unwrap();
        let live = Holder::new("eks-nodegroups");
        let _live = held(claim(&store, &live, TARGET, Some(1), t0(), ttl()).await);

        // WHEN another tick, planned from the same version, claims it before the lease ends
        let late = Holder::new("eks-nodegroups");
        let stood = aside(claim(&store, &late, TARGET, Some(1), minutes(3), ttl()).await);

        // THEN it stands aside, and the live tick keeps its lease
        assert_eq!(stood.because, Aside::Leased);
        assert!(stood.unreleased.is_none());
        assert!(stood.to_string().contains("another invocation"), "{stood}");
        assert!(stood.to_string().contains("stood aside"), "{stood}");
        assert_eq!(lease_holder(&store).await.as_deref(), Some(live.as_str()));
    }

    #[tokio::test]
    async fn the_expired_lease_of_a_dead_tick_is_taken_over_at_the_same_version() {
        // GIVEN a tick that claimed the target and died without writing or releasing
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({}), None).await.unwrap();
        let dead = Holder::new("masked-refresh");
        let _dead = held(claim(&store, &dead, TARGET, Some(1), t0(), ttl()).await);

        // WHEN a tick that read the current version claims it once the lease has expired
        let next = Holder::new("masked-refresh");
        let got = held(claim(&store, &next, TARGET, Some(1), t0() + ttl(), ttl()).await);

        // THEN it holds it
        assert_eq!(got.version(), Some(1));
        assert_eq!(lease_holder(&store).await.as_deref(), Some(next.as_str()));
    }

    #[tokio::test]
    async fn a_moved_version_makes_a_tick_stand_aside_without_taking_the_lease() {
        // GIVEN two ticks that read version 1; the first claims, writes and releases
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({"n": 1}), None).await.unwrap();
        let first = Holder::new("aurora-replicas");
        let claim_1 = held(claim(&store, &first, TARGET, Some(1), t0(), ttl()).await);
        store
            .put(TARGET, &json!({"n": 2}), claim_1.version())
            .await
            .unwrap();
        assert!(claim_1.release(&store).await.unwrap());

        // WHEN the second claims it, free of any lease
        let second = Holder::new("aurora-replicas");
        let stood = aside(claim(&store, &second, TARGET, Some(1), minutes(1), ttl()).await);

        // THEN it stands aside, and takes no lease
        assert_eq!(stood.because, Aside::Moved);
        assert!(stood.unreleased.is_none());
        assert!(stood.to_string().contains("stood aside"), "{stood}");
        assert_eq!(lease_holder(&store).await, None);
        // AND a tick that read no document stands aside from one that now has one
        let third = Holder::new("aurora-replicas");
        let stood = aside(claim(&store, &third, TARGET, None, minutes(1), ttl()).await);
        assert_eq!(stood.because, Aside::Moved);
        // AND a deleted document moves the version too
        assert_eq!(
            store.delete(TARGET, 2).await.unwrap(),
            DeleteOutcome::Deleted
        );
        let fourth = Holder::new("aurora-replicas");
        let stood = aside(claim(&store, &fourth, TARGET, Some(2), minutes(1), ttl()).await);
        assert_eq!(stood.because, Aside::Moved);
    }

    #[tokio::test]
    async fn a_lost_write_under_the_claim_stands_aside_and_gives_the_lease_back() {
        // GIVEN a held target, then a writer that takes no lease (an override) writes it
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({}), None).await.unwrap();
        let me = Holder::new("aurora-replicas");
        let got = held(claim(&store, &me, TARGET, Some(1), t0(), ttl()).await);
        store
            .put(TARGET, &json!({"override": 1}), Some(1))
            .await
            .unwrap();

        // WHEN the holder's versioned write loses
        let lost = store.put(TARGET, &json!({}), got.version()).await.unwrap();
        assert_eq!(lost, PutOutcome::Conflict);
        let stood = got.stand_aside(&store).await;

        // THEN it stood aside because the version moved, and the lease is free
        assert_eq!(stood.because, Aside::Moved);
        assert_eq!(lease_holder(&store).await, None);
    }

    #[tokio::test]
    async fn a_release_by_a_holder_whose_lease_was_taken_over_is_false_and_changes_nothing() {
        // GIVEN a slow tick whose lease expired and was taken over by a tick at the same version
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({}), None).await.unwrap();
        let slow = Holder::new("eks-nodegroups");
        let slow_claim = held(claim(&store, &slow, TARGET, Some(1), t0(), ttl()).await);
        let next = Holder::new("eks-nodegroups");
        let _next = held(claim(&store, &next, TARGET, Some(1), minutes(5), ttl()).await);

        // WHEN the slow tick releases
        let released = slow_claim.release(&store).await.unwrap();

        // THEN nothing was released: the lease is still the other tick's
        assert!(!released);
        assert_eq!(lease_holder(&store).await.as_deref(), Some(next.as_str()));
    }

    #[tokio::test]
    async fn a_failed_release_is_a_note_naming_when_the_lease_expires() {
        // GIVEN a store that cannot release, and a held target whose next write lost
        let store = HookedStore::default().failing_releases();
        store.put(TARGET, &json!({}), None).await.unwrap();
        let me = Holder::new("masked-refresh");
        let got = held(claim(&store, &me, TARGET, Some(1), t0(), ttl()).await);
        store
            .put(TARGET, &json!({"override": 1}), Some(1))
            .await
            .unwrap();

        // WHEN the tick stands aside
        let stood = got.stand_aside(&store).await;

        // THEN it says its lease expires by itself (and when)
        assert_eq!(stood.because, Aside::Moved);
        let note = stood.to_string();
        assert!(
            note.contains("was not released; it expires by itself at 2026-11-27T09:34:00Z"),
            "{note}"
        );

        // AND a held claim's failed release is an error to note, naming the same
        let got = held(claim(&store, &me, TARGET, Some(2), t0(), ttl()).await);
        let err = got.release(&store).await.unwrap_err();
        assert_eq!(err.until, t0() + ttl());
        assert!(chain(&err).starts_with("the lease on target prod-aurora was not released"));
    }

    #[tokio::test]
    async fn a_claim_can_carry_the_first_write_and_a_lost_claim_writes_nothing() {
        // GIVEN a target at version 1
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({"n": 1}), None).await.unwrap();

        // WHEN a tick claims it with its next document
        let me = Holder::new("aurora-replicas");
        let doc = json!({"n": 2});
        let got = held(claim_with(&store, &me, TARGET, Some(1), Some(&doc), t0(), ttl()).await);

        // THEN it holds the target at the version it wrote, with the lease
        assert_eq!(got.version(), Some(2));
        let record = store.get_many(&[TARGET]).await.unwrap()[TARGET].clone();
        assert_eq!((record.version, &record.doc), (2, &doc));
        assert_eq!(lease_holder(&store).await.as_deref(), Some(me.as_str()));

        // AND another tick claiming with a document stands aside, writing nothing: leased at the
        // current version, moved at the old one
        let other = Holder::new("aurora-replicas");
        let theirs = json!({"n": 99});
        let stood = aside(
            claim_with(
                &store,
                &other,
                TARGET,
                Some(2),
                Some(&theirs),
                minutes(1),
                ttl(),
            )
            .await,
        );
        assert_eq!(stood.because, Aside::Leased);
        let stood = aside(
            claim_with(
                &store,
                &other,
                TARGET,
                Some(1),
                Some(&theirs),
                minutes(9),
                ttl(),
            )
            .await,
        );
        assert_eq!(stood.because, Aside::Moved);
        let record = store.get_many(&[TARGET]).await.unwrap()[TARGET].clone();
        assert_eq!((record.version, &record.doc), (2, &doc));
        assert_eq!(lease_holder(&store).await.as_deref(), Some(me.as_str()));
    }

    async fn holder_of<S: StateStore>(store: &S, target: &str) -> Option<String> {
        let records = store.get_many(&[target]).await.unwrap();
        records
            .get(target)
            .and_then(|r| r.lease.as_ref().map(|l| l.holder.clone()))
    }

    fn written(settled: Result<Settled, StateError>) -> u64 {
        match settled.unwrap() {
            Settled::Written { version } => version,
            Settled::StoodAside(aside) => panic!("stood aside: {aside}"),
        }
    }

    fn settled_aside(settled: Result<Settled, StateError>) -> StoodAside {
        match settled.unwrap() {
            Settled::Written { version } => panic!("written at {version}"),
            Settled::StoodAside(aside) => aside,
        }
    }

    #[tokio::test]
    async fn a_settle_writes_the_next_version_and_leaves_no_lease() {
        // GIVEN a target at version 1 whose last tick died holding it, and one with no document
        let store = MemoryStateStore::new();
        store.put(TARGET, &json!({"n": 1}), None).await.unwrap();
        let dead = Holder::new("aurora-replicas");
        let _dead = held(claim(&store, &dead, TARGET, Some(1), t0(), ttl()).await);

        // WHEN a tick settles each, once the dead tick's lease has expired
        let me = Holder::new("aurora-replicas");
        let doc = json!({"n": 2});
        let settled = settle(&store, &me, TARGET, Some(1), &doc, t0() + ttl()).await;
        let created = settle(&store, &me, "new", None, &doc, t0()).await;

        // THEN each document is the next version, and neither target is leased
        assert_eq!((written(settled), written(created)), (2, 1));
        let record = store.get_many(&[TARGET]).await.unwrap()[TARGET].clone();
        assert_eq!((record.version, &record.doc, record.lease), (2, &doc, None));
        assert_eq!(holder_of(&store, "new").await, None);

        // AND a tick right after claims it at once: nothing was left to release
        let next = Holder::new("aurora-replicas");
        let got = held(claim(&store, &next, TARGET, Some(2), t0() + ttl(), ttl()).await);
        assert_eq!(got.version(), Some(2));
    }

    #[tokio::test]
    async fn a_settle_stands_aside_from_a_live_lease_and_a_moved_version_writing_nothing() {
        // GIVEN a live tick holding the target at version 1
        let store = HookedStore::default();
        store.put(TARGET, &json!({"n": 1}), None).await.unwrap();
        let live = Holder::new("eks-nodegroups");
        let live_claim = held(claim(&store, &live, TARGET, Some(1), t0(), ttl()).await);

        // WHEN another tick settles it while the lease is active, at the current version and at
        // a stale one
        let other = Holder::new("eks-nodegroups");
        let theirs = json!({"n": 99});
        let leased =
            settled_aside(settle(&store, &other, TARGET, Some(1), &theirs, minutes(3)).await);
        let moved = settled_aside(settle(&store, &other, TARGET, None, &theirs, minutes(3)).await);

        // THEN it stands aside as a claim would, the document and the live lease untouched
        assert_eq!(
            (leased.because, moved.because),
            (Aside::Leased, Aside::Moved)
        );
        assert!(
            leased.to_string().contains("another invocation"),
            "{leased}"
        );
        assert!(leased.unreleased.is_none() && moved.unreleased.is_none());
        let record = store.get_many(&[TARGET]).await.unwrap()[TARGET].clone();
        assert_eq!((record.version, &record.doc), (1, &json!({"n": 1})));
        assert_eq!(
            holder_of(&store, TARGET).await.as_deref(),
            Some(live.as_str())
        );

        // AND the live tick's versioned write catches a settle that landed once its lease expired
        let late = json!({"n": 3});
        assert_eq!(
            written(settle(&store, &other, TARGET, Some(1), &late, minutes(4)).await),
            2
        );
        let lost = store.put(TARGET, &json!({}), live_claim.version()).await;
        assert_eq!(lost.unwrap(), PutOutcome::Conflict);
        assert!(!live_claim.release(&store).await.unwrap());
    }

    #[tokio::test]
    async fn claims_held_at_the_end_are_released_together_in_one_write() {
        // GIVEN a tick holding three targets, and one holding a single target
        let store = HookedStore::default();
        let me = Holder::new("aurora-replicas");
        let targets = ["a", "b", "c"];
        let mut claims = Vec::new();
        for target in targets {
            claims.push(held(claim(&store, &me, target, None, t0(), ttl()).await));
        }
        let single = Holder::new("aurora-replicas");
        let alone = held(claim(&store, &single, "d", None, t0(), ttl()).await);

        // WHEN each gives its claims back at its end
        let unreleased = release_all(&store, claims).await;
        let unreleased_alone = release_all(&store, vec![alone]).await;

        // THEN the three went back in one write, the single one on its own, and all are free
        assert!(unreleased.is_empty() && unreleased_alone.is_empty());
        assert_eq!(store.releases_together(), 1);
        let other = Holder::new("aurora-replicas");
        for target in ["a", "b", "c", "d"] {
            let _taken = held(claim(&store, &other, target, None, minutes(1), ttl()).await);
        }
    }

    #[tokio::test]
    async fn a_batch_with_a_lease_taken_over_is_released_one_by_one() {
        // GIVEN a slow tick holding two targets, one of whose leases expired and was taken over
        let store = HookedStore::default();
        for target in ["a", "b"] {
            store.put(target, &json!({}), None).await.unwrap();
        }
        let slow = Holder::new("eks-nodegroups");
        let claims = vec![
            held(claim(&store, &slow, "a", Some(1), t0(), ttl()).await),
            held(claim(&store, &slow, "b", Some(1), t0(), ttl()).await),
        ];
        let next = Holder::new("eks-nodegroups");
        let _next = held(claim(&store, &next, "b", Some(1), minutes(5), ttl()).await);

        // WHEN the slow tick gives its claims back
        let unreleased = release_all(&store, claims).await;

        // THEN the write together was refused, and one by one its own lease was released while
        // the other tick keeps the lease it took
        assert!(unreleased.is_empty());
        assert_eq!(store.releases_together(), 1);
        assert_eq!(holder_of(&store, "a").await, None);
        assert_eq!(holder_of(&store, "b").await.as_deref(), Some(next.as_str()));
    }

    #[tokio::test]
    async fn releases_go_100_to_a_write_and_failures_are_notes_naming_each_target() {
        // GIVEN a tick holding 150 targets
        let store = HookedStore::default();
        let me = Holder::new("eks-nodegroups");
        let mut claims = Vec::new();
        for n in 0..150 {
            claims.push(held(
                claim(&store, &me, &format!("t{n}"), None, t0(), ttl()).await,
            ));
        }

        // WHEN it gives them back
        assert!(release_all(&store, claims).await.is_empty());

        // THEN two writes did it
        assert_eq!(store.releases_together(), 2);
        let other = Holder::new("eks-nodegroups");
        let _taken = held(claim(&store, &other, "t149", None, minutes(1), ttl()).await);

        // AND when releases fail, together and one by one, each lease is a note of its own
        let store = HookedStore::default().failing_releases();
        let claims = vec![
            held(claim(&store, &me, "a", None, t0(), ttl()).await),
            held(claim(&store, &me, "b", None, t0(), ttl()).await),
        ];
        let unreleased = release_all(&store, claims).await;
        let targets: Vec<&str> = unreleased.iter().map(|u| u.target.as_str()).collect();
        assert_eq!(targets, ["a", "b"]);
        assert_eq!(unreleased[0].until, t0() + ttl());
    }

    #[test]
    fn every_holder_is_its_own_and_names_its_function() {
        let a = Holder::new("eks-nodegroups");
        let b = Holder::new("eks-nodegroups");
        assert_ne!(a, b);
        let from_thread = std::thread::spawn(|| Holder::new("eks-nodegroups"))
            .join()
            .unwrap();
        assert!(from_thread != a && from_thread != b);
        let digits = a.as_str().strip_prefix("eks-nodegroups/").unwrap();
        assert_eq!(digits.len(), 16);
        assert!(digits.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
