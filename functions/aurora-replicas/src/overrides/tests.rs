use chrono::Duration;
use offpeak_shared::state::MemoryStateStore;
use serde_json::json;

use super::*;
use crate::rds::fake::FakeRds;
use crate::testing::{schedule, utc, view};

const YAML: &str = r#"
timezone: UTC
aurora_replicas:
  - cluster: prod
    windows:
      - { days: daily, start: "10:00", end: "20:00", replicas: 2 }
  - cluster: Shop
    windows:
      - { days: daily, start: "10:00", end: "20:00", replicas: 1 }
"#;

/// The clock in these tests.
const CLOCK: &str = "2026-11-27T12:00:00Z";

fn clock() -> DateTime<Utc> {
    utc(CLOCK)
}

fn hours(h: i64) -> DateTime<Utc> {
    clock() + Duration::hours(h)
}

/// An override event's `override`, parsed the way a Lambda payload is.
fn event(target: &str, state: &str, end: serde_json::Value) -> Override {
    let mut o = json!({"target": target, "state": state});
    if let serde_json::Value::Object(extra) = end {
        o.as_object_mut().unwrap().extend(extra);
    }
    InvocationEvent::from_value(json!({ "override": o }))
        .unwrap()
        .override_
        .unwrap()
}

fn until(t: DateTime<Utc>) -> serde_json::Value {
    json!({"until": t.to_rfc3339()})
}

fn held(n: u32, until: DateTime<Utc>) -> HeldOverride {
    HeldOverride {
        state: OverrideState::Replicas(n),
        until,
        set_at: clock(),
        cleared: false,
    }
}

#[test]
fn a_good_override_is_a_hold_on_the_clusters_own_spelling() {
    let s = schedule(YAML);
    let request = check(&s, &event("shop", "replicas:0", until(hours(3))), clock()).unwrap();
    assert_eq!(
        request,
        Request::Hold {
            cluster: "Shop".into(),
            held: held(0, hours(3)),
        }
    );
    // `for` counts from the clock.
    let request = check(
        &s,
        &event("prod", "replicas:3", json!({"for": "90m"})),
        clock(),
    )
    .unwrap();
    let Request::Hold { held, .. } = request else {
        panic!("{request:?}")
    };
    assert_eq!(held.until, clock() + Duration::minutes(90));
    // `clear` needs no end.
    let request = check(&s, &event("prod", "clear", json!(null)), clock()).unwrap();
    assert_eq!(
        request,
        Request::Clear {
            cluster: "prod".into()
        }
    );
}

#[test]
fn bad_overrides_are_refused_as_bad_input_with_what_to_do() {
    let s = schedule(YAML);
    let cases = [
        (
            event("ghost", "replicas:1", until(hours(1))),
            "aurora targets are: prod, Shop",
        ),
        (
            event("prod", "replicas:1", until(clock())),
            "is not after now (2026-11-27T12:00:00Z)",
        ),
        (
            event("prod", "replicas:1", until(hours(-1))),
            "not after now",
        ),
        (
            event("prod", "replicas:1", until(clock() + Duration::days(32))),
            "more than 31 days ahead",
        ),
        (
            event("prod", "replicas:16", until(hours(1))),
            "Aurora allows 15 readers per cluster",
        ),
    ];
    for (o, needle) in cases {
        let err = check(&s, &o, clock()).unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        assert_eq!(err.kind(), "InvalidOverride", "{err}");
        assert!(
            crate::chain(&err).contains(needle),
            "{}",
            crate::chain(&err)
        );
    }
    let ok = event("prod", "replicas:15", until(clock() + Duration::days(31)));
    assert!(check(&s, &ok, clock()).is_ok());
}

#[test]
fn a_state_for_another_functions_targets_is_refused() {
    let s = schedule(YAML);
    for state in ["awake", "asleep", "skip", "refresh"] {
        let err = check(&s, &event("prod", state, until(hours(1))), clock()).unwrap_err();
        assert!(err.is_bad_input(), "{state}: {err}");
        assert!(
            crate::chain(&err).contains("aurora-replicas takes replicas:N or clear"),
            "{state}: {}",
            crate::chain(&err)
        );
    }
}

#[test]
fn aurora_allows_n_beside_the_readers_offpeak_did_not_create() {
    // GIVEN a writer, a person's reader, Auto Scaling's reader and two of offpeak's replicas
    let mut rows = vec![
        ("prod-writer", "a", "available", true, false),
        ("prod-reader", "b", "available", false, false),
        ("application-autoscaling-1", "c", "available", false, false),
        ("prod-offpeak-1", "a", "available", false, true),
        ("prod-offpeak-2", "b", "available", false, true),
    ];
    let hold = |n| Request::Hold {
        cluster: "prod".into(),
        held: held(n, hours(1)),
    };

    // THEN 13 fit (15 readers, 2 of them not offpeak's: offpeak's own are replaced, not added)
    assert!(fits(&hold(13), Some(&view(&rows))).is_ok());
    let err = fits(&hold(14), Some(&view(&rows))).unwrap_err();
    assert!(err.is_bad_input());
    assert!(
        err.to_string()
            .contains("2 of its readers are not offpeak's, so at most 13"),
        "{err}"
    );

    // AND a person's reader more lowers the cap; zero always fits
    rows.push(("prod-reporting", "c", "available", false, false));
    assert!(fits(&hold(13), Some(&view(&rows))).is_err());
    assert!(fits(&hold(0), Some(&view(&rows))).is_ok());

    // AND a cluster RDS does not know is refused; clear needs no cluster
    let err = fits(&hold(1), None).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let clear = Request::Clear {
        cluster: "prod".into(),
    };
    assert!(fits(&clear, None).is_ok());
}

#[test]
fn an_override_holds_strictly_before_its_end() {
    let o = held(1, hours(2));
    assert_eq!(o.holds(hours(1)), Some(1));
    assert_eq!(o.holds(hours(2)), None);
    let hold = Hold::at(Some(&o), None, hours(1));
    assert_eq!(hold.active, Some((1, hours(2))));
    assert_eq!(hold.stored, Some(o.clone()));
    assert_eq!((hold.recorded, hold.ended), (None, None));

    // WHEN its end has passed THEN it ends (announced) and is not kept
    let hold = Hold::at(Some(&o), None, hours(2));
    assert_eq!(hold.active, None);
    assert_eq!(hold.stored, None);
    assert_eq!(hold.ended, Some(o));
}

#[test]
fn an_event_records_replaces_and_clears() {
    let old = held(3, hours(2));
    let new = held(0, hours(5));
    let request = Request::Hold {
        cluster: "prod".into(),
        held: new.clone(),
    };

    // An event's override is recorded, replacing one that holds without "ending" it
    let hold = Hold::at(Some(&old), Some(&request), hours(1));
    assert_eq!(hold.active, Some((0, hours(5))));
    assert_eq!(hold.recorded, Some(new.clone()));
    assert_eq!(hold.ended, None);

    // ... but one that had already ended is announced as ended
    let hold = Hold::at(Some(&old), Some(&request), hours(3));
    assert_eq!(hold.ended, Some(old.clone()));

    // `clear` ends the one that holds, now
    let clear = Request::Clear {
        cluster: "prod".into(),
    };
    let hold = Hold::at(Some(&old), Some(&clear), hours(1));
    let ended = hold.ended.unwrap();
    assert_eq!((ended.until, ended.cleared), (hours(1), true));
    assert_eq!((hold.active, hold.stored), (None, None));

    // ... and says so when there is none
    let hold = Hold::at(None, Some(&clear), hours(1));
    assert_eq!(hold.ended, None);
    assert!(hold.notes[0].contains("no override holds this cluster"));
}

#[tokio::test]
async fn offpeak_override_stores_next_to_the_memory_and_clear_ends_it_at_the_clock() {
    // GIVEN a cluster with a writer and a person's reader, no memory yet
    let s = schedule(YAML);
    let rds = FakeRds::new();
    rds.add_cluster("prod");
    rds.add_instance("prod", "prod-writer", true);
    rds.add_instance("prod", "prod-reader", false);
    let store = MemoryStateStore::new();

    // WHEN `clear` runs first THEN nothing is written
    let o = event("prod", "clear", json!(null));
    let outcome = record(&rds, &store, &s, &o, clock()).await.unwrap();
    assert_eq!(outcome, Overridden::NothingToClear);
    assert!(store.get_many(&["prod"]).await.unwrap().is_empty());

    // WHEN replicas:3 is set
    let o = event("prod", "replicas:3", until(hours(4)));
    let outcome = record(&rds, &store, &s, &o, clock()).await.unwrap();

    // THEN it is stored as written, with memory that wants 3 from now
    assert_eq!(outcome, Overridden::Held(held(3, hours(4))));
    let doc = store.get_many(&["prod"]).await.unwrap()["prod"].doc.clone();
    assert_eq!(
        doc["override"],
        json!({"state": "replicas:3", "until": "2026-11-27T16:00:00Z", "set_at": CLOCK})
    );
    assert_eq!(
        (doc["desired"].clone(), doc["converged"].clone()),
        (json!(3), json!(false))
    );

    // WHEN it is cleared an hour later
    let o = event("prod", "clear", json!(null));
    let outcome = record(&rds, &store, &s, &o, hours(1)).await.unwrap();

    // THEN it ends at that clock, marked cleared, for the next tick to act on and announce
    assert_eq!(outcome, Overridden::Cleared(held(3, hours(4))));
    let memory: Memory = store.get_many(&["prod"]).await.unwrap()["prod"]
        .decode()
        .unwrap();
    let ended = memory.override_.unwrap();
    assert_eq!((ended.until, ended.cleared), (hours(1), true));
    assert_eq!(
        record(&rds, &store, &s, &o, hours(2)).await.unwrap(),
        Overridden::NothingToClear
    );
}

#[tokio::test]
async fn offpeak_override_refuses_what_aurora_would_not_allow_before_any_write() {
    // GIVEN a cluster with 14 readers offpeak did not create, and one RDS does not know
    let s = schedule(YAML);
    let rds = FakeRds::new();
    rds.add_cluster("prod");
    rds.add_instance("prod", "prod-writer", true);
    for i in 1..=14 {
        rds.add_instance("prod", &format!("prod-reader-{i}"), false);
    }
    let store = MemoryStateStore::new();

    // WHEN 2 replicas are asked of the first, 1 of the second
    let two = event("prod", "replicas:2", until(hours(1)));
    let err = record(&rds, &store, &s, &two, clock()).await.unwrap_err();
    let missing = event("shop", "replicas:1", until(hours(1)));
    let gone = record(&rds, &store, &s, &missing, clock())
        .await
        .unwrap_err();

    // THEN both are bad input and nothing is written
    assert!(err.is_bad_input() && gone.is_bad_input(), "{err} / {gone}");
    assert!(err.to_string().contains("so at most 1"), "{err}");
    assert!(gone.to_string().contains("Shop"), "{gone}");
    assert!(store.get_many(&["prod", "Shop"]).await.unwrap().is_empty());
    let one = event("prod", "replicas:1", until(hours(1)));
    assert!(record(&rds, &store, &s, &one, clock()).await.is_ok());
}
