//! The DynamoDB state store against a real moto server.
//!
//! Each contract scenario runs against both [`DynamoStateStore`] (on moto) and [`MemoryStateStore`],
//! so the in-memory fake the functions' unit tests use is held to the table's behaviour.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::types::{BillingMode, KeyType, TableStatus};
use chrono::{DateTime, Duration, TimeZone, Utc};
use offpeak_shared::state::{
    ClaimOutcome, ClaimWrite, DeleteOutcome, DynamoStateStore, MemoryStateStore, PutOutcome,
    Record, StateStore,
};
use offpeak_tests::moto::Moto;
use serde_json::json;

const TABLE: &str = "offpeak-state";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap()
}

/// A moto server with the state table created (kept alive by the returned `Moto`).
async fn dynamo_store() -> (Moto, DynamoStateStore) {
    let moto = Moto::start().await;
    let store = DynamoStateStore::from_sdk_config(&moto.sdk_config().await, TABLE);
    assert!(store.create_table_if_missing().await.unwrap());
    (moto, store)
}

/// Runs the contract scenario `$scenario` against DynamoDB (on moto), then against the in-memory
/// store, which must behave the same.
macro_rules! on_both_stores {
    ($scenario:ident) => {{
        let (_moto, store) = dynamo_store().await;
        $scenario(&store).await;
        $scenario(&MemoryStateStore::new()).await;
    }};
}

/// `target`'s record, which must exist.
async fn stored<S: StateStore>(store: &S, target: &str) -> Record {
    let mut records = store.get_many(&[target]).await.unwrap();
    records.remove(target).expect("the target has a record")
}

/// Who holds `record`'s lease, and until when.
fn lease(record: &Record) -> Option<(&str, DateTime<Utc>)> {
    record.lease.as_ref().map(|l| (l.holder.as_str(), l.until))
}

#[tokio::test]
async fn table_creation_is_idempotent_and_on_demand() {
    // GIVEN a moto server without the state table
    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    let store = DynamoStateStore::from_sdk_config(&sdk, TABLE);

    // WHEN the table is created twice
    let first = store.create_table_if_missing().await.unwrap();
    let second = store.create_table_if_missing().await.unwrap();

    // THEN only the first call created it, and it is an ACTIVE on-demand table keyed by `target`
    assert!(first);
    assert!(!second);
    let described = aws_sdk_dynamodb::Client::new(&sdk)
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    assert_eq!(table.table_status(), Some(&TableStatus::Active));
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    assert_eq!(keys, [("target", KeyType::Hash)]);
}

async fn put_if_absent<S: StateStore>(store: &S) {
    // GIVEN a target with no record
    let first = json!({"desired": "asleep"});

    // WHEN two writers both try to create it
    let created = store.put("dev-eks/app", &first, None).await.unwrap();
    let second = store
        .put("dev-eks/app", &json!({"desired": "awake"}), None)
        .await
        .unwrap();

    // THEN the first creates version 1, the second is a Conflict and changes nothing
    assert_eq!(created, PutOutcome::Written { version: 1 });
    assert_eq!(second, PutOutcome::Conflict);
    let records = store.get_many(&["dev-eks/app"]).await.unwrap();
    assert_eq!(records["dev-eks/app"].version, 1);
    assert_eq!(records["dev-eks/app"].doc, first);
}

#[tokio::test]
async fn put_if_absent_creates_once() {
    on_both_stores!(put_if_absent);
}

async fn version_conflict<S: StateStore>(store: &S) {
    // GIVEN a record at version 2
    store
        .put("prod-aurora", &json!({"replicas": 0}), None)
        .await
        .unwrap();
    let second = store
        .put("prod-aurora", &json!({"replicas": 2}), Some(1))
        .await
        .unwrap();
    assert_eq!(second, PutOutcome::Written { version: 2 });

    // WHEN a writer that read version 1 writes, and a writer expects a record that does not exist
    let stale = store
        .put("prod-aurora", &json!({"replicas": 1}), Some(1))
        .await
        .unwrap();
    let phantom = store
        .put("nothing-here", &json!({}), Some(1))
        .await
        .unwrap();

    // THEN both are Conflicts; the stored document is version 2's and no record was created
    assert_eq!(stale, PutOutcome::Conflict);
    assert_eq!(phantom, PutOutcome::Conflict);
    let records = store
        .get_many(&["prod-aurora", "nothing-here"])
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records["prod-aurora"].version, 2);
    assert_eq!(records["prod-aurora"].doc, json!({"replicas": 2}));
}

#[tokio::test]
async fn stale_version_is_a_conflict_value() {
    on_both_stores!(version_conflict);
}

async fn concurrent_writers<S: StateStore + Clone + 'static>(store: S) {
    // GIVEN a record at version 1 and eight ticks that all read it
    store
        .put("dev-eks/batch", &json!({"writer": -1}), None)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();

    // WHEN all eight update it at once
    for writer in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let outcome = store
                .put("dev-eks/batch", &json!({"writer": writer}), Some(1))
                .await
                .unwrap();
            (writer, outcome)
        });
    }
    let outcomes = tasks.join_all().await;

    // THEN exactly one wins with version 2, and the stored document is the winner's
    let winners: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| *o == PutOutcome::Written { version: 2 })
        .collect();
    let conflicts = outcomes
        .iter()
        .filter(|(_, o)| *o == PutOutcome::Conflict)
        .count();
    assert_eq!((winners.len(), conflicts), (1, 7), "{outcomes:?}");
    let records = store.get_many(&["dev-eks/batch"]).await.unwrap();
    assert_eq!(
        records["dev-eks/batch"].doc,
        json!({"writer": winners[0].0})
    );
    assert_eq!(records["dev-eks/batch"].version, 2);
}

async fn concurrent_creators<S: StateStore + Clone + 'static>(store: S) {
    // GIVEN no record, WHEN eight ticks create it at once
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .put("new-target", &json!({"writer": writer}), None)
                .await
                .unwrap()
        });
    }
    let outcomes = tasks.join_all().await;

    // THEN exactly one creates it
    let created = outcomes
        .iter()
        .filter(|o| **o == PutOutcome::Written { version: 1 })
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
}

#[tokio::test]
async fn concurrent_puts_have_exactly_one_winner() {
    let (_moto, store) = dynamo_store().await;
    concurrent_writers(store.clone()).await;
    concurrent_creators(store).await;
    concurrent_writers(MemoryStateStore::new()).await;
    concurrent_creators(MemoryStateStore::new()).await;
}

/// Records the number of keys of every BatchGetItem call a client makes.
#[derive(Debug, Clone, Default)]
struct BatchGetCalls(Arc<Mutex<Vec<usize>>>);

impl Intercept for BatchGetCalls {
    fn name(&self) -> &'static str {
        "BatchGetCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<BatchGetItemInput>() {
            let keys = input
                .request_items()
                .map_or(0, |r| r.values().map(|k| k.keys().len()).sum());
            self.0.lock().unwrap().push(keys);
        }
        Ok(())
    }
}

#[tokio::test]
async fn get_many_reads_150_keys_in_two_batch_calls() {
    // GIVEN 150 stored targets and a client that records its BatchGetItem calls
    let (moto, store) = dynamo_store().await;
    let targets: Vec<String> = (0..150).map(|i| format!("target-{i:03}")).collect();
    for (i, target) in targets.iter().enumerate() {
        store.put(target, &json!({"i": i}), None).await.unwrap();
    }
    let calls = BatchGetCalls::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config().await)
        .interceptor(calls.clone())
        .build();
    let reader = DynamoStateStore::new(aws_sdk_dynamodb::Client::from_conf(config), TABLE);

    // WHEN a tick asks for all of them, plus 10 absent targets and a duplicate
    let mut wanted = targets.clone();
    wanted.extend((0..10).map(|i| format!("absent-{i}")));
    wanted.push(targets[0].clone());
    let records = reader.get_many(&wanted).await.unwrap();

    // THEN every stored record comes back, in two BatchGetItem calls of at most 100 keys
    assert_eq!(records.len(), 150);
    for (i, target) in targets.iter().enumerate() {
        assert_eq!(records[target].doc, json!({"i": i}), "{target}");
        assert_eq!(records[target].version, 1);
    }
    assert_eq!(*calls.0.lock().unwrap(), [100, 60]);
}

#[tokio::test]
async fn get_many_of_nothing_makes_no_call() {
    // GIVEN a client that records its BatchGetItem calls
    let moto = Moto::start().await;
    let calls = BatchGetCalls::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config().await)
        .interceptor(calls.clone())
        .build();
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::from_conf(config), TABLE);

    // WHEN no target is asked for
    let records: HashMap<_, _> = store.get_many::<&str>(&[]).await.unwrap();

    // THEN nothing is read (not even from a table that does not exist)
    assert!(records.is_empty());
    assert!(calls.0.lock().unwrap().is_empty());
}

async fn leases<S: StateStore>(store: &S) {
    let ttl = Duration::minutes(5);
    // GIVEN a target with a record at version 1
    store
        .put("masked-refresh/dev-aurora", &json!({"run": 1}), None)
        .await
        .unwrap();

    // WHEN tick A takes the lease and tick B contends while it holds
    let a_takes = store
        .try_lease("masked-refresh/dev-aurora", "tick-a", t0(), ttl)
        .await
        .unwrap();
    let b_early = store
        .try_lease(
            "masked-refresh/dev-aurora",
            "tick-b",
            t0() + Duration::minutes(4),
            ttl,
        )
        .await
        .unwrap();
    // THEN A holds it and B is refused; the record's version and document are untouched
    assert!(a_takes);
    assert!(!b_early);
    let record = &store
        .get_many(&["masked-refresh/dev-aurora"])
        .await
        .unwrap()["masked-refresh/dev-aurora"];
    assert_eq!((record.version, &record.doc), (1, &json!({"run": 1})));
    let lease = record.lease.clone().unwrap();
    assert_eq!((lease.holder.as_str(), lease.until), ("tick-a", t0() + ttl));

    // WHEN A renews, B tries just before and then at the renewed expiry
    assert!(
        store
            .try_lease(
                "masked-refresh/dev-aurora",
                "tick-a",
                t0() + Duration::minutes(4),
                ttl
            )
            .await
            .unwrap()
    );
    let renewed_until = t0() + Duration::minutes(9);
    let b_before = store
        .try_lease(
            "masked-refresh/dev-aurora",
            "tick-b",
            renewed_until - Duration::seconds(1),
            ttl,
        )
        .await
        .unwrap();
    let b_at_expiry = store
        .try_lease("masked-refresh/dev-aurora", "tick-b", renewed_until, ttl)
        .await
        .unwrap();
    // THEN B gets it only once A's lease has expired
    assert!(!b_before);
    assert!(b_at_expiry);

    // WHEN A (no longer the holder) and then B release, and A takes it again
    let a_release = store
        .release_lease("masked-refresh/dev-aurora", "tick-a")
        .await
        .unwrap();
    let b_release = store
        .release_lease("masked-refresh/dev-aurora", "tick-b")
        .await
        .unwrap();
    let a_again = store
        .try_lease(
            "masked-refresh/dev-aurora",
            "tick-a",
            renewed_until + Duration::seconds(1),
            ttl,
        )
        .await
        .unwrap();
    // THEN only the holder's release counts, and a released lease is free at once
    assert!(!a_release);
    assert!(b_release);
    assert!(a_again);

    // AND a conditional update keeps the lease
    let updated = store
        .put("masked-refresh/dev-aurora", &json!({"run": 2}), Some(1))
        .await
        .unwrap();
    assert_eq!(updated, PutOutcome::Written { version: 2 });
    let record = &store
        .get_many(&["masked-refresh/dev-aurora"])
        .await
        .unwrap()["masked-refresh/dev-aurora"];
    assert_eq!(
        record.lease.as_ref().map(|l| l.holder.as_str()),
        Some("tick-a")
    );
}

async fn lease_without_record<S: StateStore>(store: &S) {
    // GIVEN a lease on a target that has no document
    assert!(
        store
            .try_lease("dev-eks/app", "tick-a", t0(), Duration::minutes(5))
            .await
            .unwrap()
    );

    // WHEN the tick reads state and then writes the first document
    let before = store.get_many(&["dev-eks/app"]).await.unwrap();
    let created = store
        .put("dev-eks/app", &json!({"desired": "awake"}), None)
        .await
        .unwrap();

    // THEN the lease alone is no record, and the first write still creates version 1
    assert!(before.is_empty());
    assert_eq!(created, PutOutcome::Written { version: 1 });
    // AND releasing a lease nobody took on an unknown target creates nothing
    assert!(!store.release_lease("unknown", "tick-a").await.unwrap());
    assert!(store.get_many(&["unknown"]).await.unwrap().is_empty());
}

#[tokio::test]
async fn leases_are_acquired_contended_and_expire() {
    let (_moto, store) = dynamo_store().await;
    leases(&store).await;
    lease_without_record(&store).await;
    let memory = MemoryStateStore::new();
    leases(&memory).await;
    lease_without_record(&memory).await;
}

/// One claim, its fields in the order the store's contract lists them.
fn request<'a>(
    target: &'a str,
    holder: &'a str,
    expected_version: Option<u64>,
    doc: Option<&'a serde_json::Value>,
    now: DateTime<Utc>,
    ttl: Duration,
) -> ClaimWrite<'a> {
    ClaimWrite {
        target,
        holder,
        expected_version,
        doc,
        now,
        ttl,
    }
}

async fn claim_writes<S: StateStore>(store: &S) {
    const T: &str = "prod-aurora";
    let ttl = Duration::minutes(4);
    let at = |m: i64| t0() + Duration::minutes(m);

    // WHEN tick A claims a target with no document, expecting none, and writes its first one
    let doc = json!({"replicas": 2});
    let created = store
        .claim_write(&request(T, "tick-a", None, Some(&doc), at(0), ttl))
        .await
        .unwrap();
    // THEN one write took the lease and created version 1
    assert_eq!(created, ClaimOutcome::Claimed { version: Some(1) });
    let got = stored(store, T).await;
    assert_eq!((got.version, &got.doc), (1, &doc));
    assert_eq!(lease(&got), Some(("tick-a", at(0) + ttl)));

    // WHEN tick B claims it while A's lease is active, at the current version and at a stale one
    let other = json!({"replicas": 9});
    let leased = store
        .claim_write(&request(T, "tick-b", Some(1), Some(&other), at(3), ttl))
        .await
        .unwrap();
    let stale_and_leased = store
        .claim_write(&request(T, "tick-b", None, Some(&other), at(3), ttl))
        .await
        .unwrap();
    // THEN it is told which, and nothing changed
    assert_eq!(leased, ClaimOutcome::Leased);
    assert_eq!(stale_and_leased, ClaimOutcome::Moved);
    let got = stored(store, T).await;
    assert_eq!((got.version, &got.doc), (1, &doc));
    assert_eq!(got.lease.unwrap().holder, "tick-a");

    // WHEN A claims again (renewal) with no document, then B once A's lease has expired
    let renewed = store
        .claim_write(&request(T, "tick-a", Some(1), None, at(1), ttl))
        .await
        .unwrap();
    let early = store
        .claim_write(&request(
            T,
            "tick-b",
            Some(1),
            None,
            at(5) - Duration::seconds(1),
            ttl,
        ))
        .await
        .unwrap();
    let expired = store
        .claim_write(&request(T, "tick-b", Some(1), None, at(5), ttl))
        .await
        .unwrap();
    // THEN a claim without a document keeps the version and only moves the lease
    assert_eq!(renewed, ClaimOutcome::Claimed { version: Some(1) });
    assert_eq!(early, ClaimOutcome::Leased);
    assert_eq!(expired, ClaimOutcome::Claimed { version: Some(1) });
    let got = stored(store, T).await;
    assert_eq!((got.version, &got.doc), (1, &doc));
    assert_eq!(lease(&got), Some(("tick-b", at(5) + ttl)));

    // WHEN a writer that takes no lease moves the version, and B (the holder) claims at the old one
    store.put(T, &other, Some(1)).await.unwrap();
    let moved = store
        .claim_write(&request(T, "tick-b", Some(1), Some(&doc), at(6), ttl))
        .await
        .unwrap();
    // THEN the version moved, even for the lease's holder
    assert_eq!(moved, ClaimOutcome::Moved);
    assert_eq!(stored(store, T).await.doc, other);

    // AND a claim expecting a document on a target that has none is a moved version, creating
    // nothing
    let absent = store
        .claim_write(&request("absent", "tick-a", Some(3), None, at(0), ttl))
        .await
        .unwrap();
    assert_eq!(absent, ClaimOutcome::Moved);
    assert!(store.get_many(&["absent"]).await.unwrap().is_empty());
}

#[tokio::test]
async fn one_claim_write_takes_the_lease_and_checks_the_version_together() {
    let (moto, store) = dynamo_store().await;
    claim_writes(&store).await;
    claim_writes(&MemoryStateStore::new()).await;

    // AND against DynamoDB, a claim that loses on an existing item makes no read to say why: the
    // failed condition returns the item as it was (ReturnValuesOnConditionCheckFailure=ALL_OLD,
    // https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html)
    let calls = BatchGetCalls::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config().await)
        .interceptor(calls.clone())
        .build();
    let counted = DynamoStateStore::new(aws_sdk_dynamodb::Client::from_conf(config), TABLE);
    let t = t0() + Duration::minutes(6);
    let ttl = Duration::minutes(4);
    assert_eq!(
        counted
            .claim_write(&request("prod-aurora", "tick-c", Some(2), None, t, ttl))
            .await
            .unwrap(),
        ClaimOutcome::Leased
    );
    assert_eq!(
        counted
            .claim_write(&request("prod-aurora", "tick-c", Some(1), None, t, ttl))
            .await
            .unwrap(),
        ClaimOutcome::Moved
    );
    assert!(calls.0.lock().unwrap().is_empty());
}

async fn settles<S: StateStore>(store: &S) {
    const T: &str = "prod-aurora";
    let (ttl, unleased) = (Duration::minutes(4), Duration::zero());
    let at = |m: i64| t0() + Duration::minutes(m);
    let lease_of = |target: &'static str| async move {
        let got = stored(store, target).await;
        (got.version, got.doc, got.lease.map(|l| l.holder))
    };
    // GIVEN tick A holding a target at version 1
    store.put(T, &json!({}), None).await.unwrap();
    let held = store
        .claim_write(&request(T, "tick-a", Some(1), None, at(0), ttl))
        .await
        .unwrap();
    assert_eq!(held, ClaimOutcome::Claimed { version: Some(1) });

    // WHEN tick B settles it (a claim whose lease ends at once) while A's lease is active, then
    // once it has expired
    let doc = json!({"replicas": 1});
    let leased = store
        .claim_write(&request(T, "tick-b", Some(1), Some(&doc), at(3), unleased))
        .await
        .unwrap();
    let untouched = lease_of(T).await;
    let settled = store
        .claim_write(&request(T, "tick-b", Some(1), Some(&doc), at(4), unleased))
        .await
        .unwrap();

    // THEN the first wrote nothing; the second wrote version 2 and left no lease at all
    assert_eq!(leased, ClaimOutcome::Leased);
    assert_eq!(untouched, (1, json!({}), Some("tick-a".to_owned())));
    assert_eq!(settled, ClaimOutcome::Claimed { version: Some(2) });
    assert_eq!(lease_of(T).await, (2, doc.clone(), None));

    // AND a settle at a stale version is a moved version, and one of a new target creates it
    let stale = store
        .claim_write(&request(T, "tick-c", Some(1), Some(&doc), at(5), unleased))
        .await
        .unwrap();
    assert_eq!(stale, ClaimOutcome::Moved);
    let created = store
        .claim_write(&request("new", "tick-c", None, Some(&doc), at(5), unleased))
        .await
        .unwrap();
    assert_eq!(created, ClaimOutcome::Claimed { version: Some(1) });
    assert_eq!(lease_of("new").await, (1, doc, None));
}

#[tokio::test]
async fn a_settle_writes_on_the_claims_conditions_and_leaves_no_lease() {
    on_both_stores!(settles);
}

async fn releases_together<S: StateStore>(store: &S) {
    let ttl = Duration::minutes(4);
    let holder_of =
        |target: &'static str| async move { stored(store, target).await.lease.map(|l| l.holder) };
    // GIVEN tick A holding three targets, the third of which B took over once A's lease expired
    for target in ["a", "b", "c"] {
        store.put(target, &json!({}), None).await.unwrap();
        store
            .claim_write(&request(target, "tick-a", Some(1), None, t0(), ttl))
            .await
            .unwrap();
    }
    let taken = store
        .claim_write(&request("c", "tick-b", Some(1), None, t0() + ttl, ttl))
        .await
        .unwrap();
    assert_eq!(taken, ClaimOutcome::Claimed { version: Some(1) });

    // WHEN A releases all three in one write
    let all = [("a", "tick-a"), ("b", "tick-a"), ("c", "tick-a")];
    let refused = store.release_leases(&all).await.unwrap();

    // THEN the write is refused as a whole: A still holds a and b, B holds c
    assert!(!refused);
    assert_eq!(holder_of("a").await.as_deref(), Some("tick-a"));
    assert_eq!(holder_of("b").await.as_deref(), Some("tick-a"));
    assert_eq!(holder_of("c").await.as_deref(), Some("tick-b"));

    // WHEN A releases the two it holds in one write
    let released = store.release_leases(&all[..2]).await.unwrap();

    // THEN both are free, and B's lease is untouched
    assert!(released);
    assert_eq!((holder_of("a").await, holder_of("b").await), (None, None));
    assert_eq!(holder_of("c").await.as_deref(), Some("tick-b"));
}

#[tokio::test]
async fn leases_released_together_are_all_released_or_none() {
    on_both_stores!(releases_together);
}

async fn deletes<S: StateStore>(store: &S) {
    // GIVEN a record at version 1
    store.put("prod-aurora", &json!({}), None).await.unwrap();

    // WHEN it is deleted with a stale version, then the right one, then again
    let stale = store.delete("prod-aurora", 2).await.unwrap();
    let right = store.delete("prod-aurora", 1).await.unwrap();
    let again = store.delete("prod-aurora", 1).await.unwrap();

    // THEN the stale delete conflicts, the right one deletes, and deleting an absent record succeeds
    assert_eq!(
        (stale, right, again),
        (
            DeleteOutcome::Conflict,
            DeleteOutcome::Deleted,
            DeleteOutcome::Deleted
        )
    );
    assert!(store.get_many(&["prod-aurora"]).await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_is_conditional_and_idempotent() {
    on_both_stores!(deletes);
}

#[tokio::test]
async fn errors_name_the_operation_table_and_target() {
    // GIVEN a store whose table does not exist
    let moto = Moto::start().await;
    let store = DynamoStateStore::from_sdk_config(&moto.sdk_config().await, "no-such-table");

    // WHEN a tick writes and reads
    let put = store
        .put("prod-aurora", &json!({}), None)
        .await
        .unwrap_err();
    let get = store.get_many(&["prod-aurora"]).await.unwrap_err();

    // THEN each error says what failed where, and keeps the AWS cause
    assert_eq!(
        put.to_string(),
        "write state of target prod-aurora to table no-such-table failed"
    );
    assert_eq!(
        get.to_string(),
        "read the state of 1 target(s) from table no-such-table failed"
    );
    let cause = std::error::Error::source(&put).unwrap().to_string();
    assert!(cause.contains("ResourceNotFound"), "{cause}");
}
