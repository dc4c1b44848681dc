//! `offpeak timeline --state` against a real moto server: hours asleep × the node group sizes the
//! eks-nodegroups function saved in the state table, "size unknown" where it saved none, and no
//! AWS call at all without `--state`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use offpeak_shared::state::{DynamoStateStore, PutOutcome, StateStore};
use offpeak_tests::Moto;
use serde_json::{Value, json};

const TABLE: &str = "offpeak-state";

fn shipped_schedule() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/schedules.yaml")
}

fn timeline(extra: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offpeak"))
        .args(["timeline", "--from", "2026-11-30", "--config"])
        .arg(shipped_schedule())
        .args(extra)
        .env_remove("OFFPEAK_STATE_TABLE")
        .envs(env.iter().cloned())
        .output()
        .expect("the offpeak binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A document as eks-nodegroups writes it for a group it put to sleep at `desired` nodes.
fn asleep(desired: i32) -> Value {
    json!({
        "desired": "asleep",
        "saved": {"scaling": {"min": 1, "max": 6, "desired": desired}, "at": "2026-11-27T13:00:00Z"},
        "resource": {"kind": "nodegroup", "cluster": "dev-eks", "nodegroup": "app"}
    })
}

async fn seed(store: &DynamoStateStore, target: &str, doc: Value) {
    let written = store.put(target, &doc, None).await.expect("seed the state");
    assert!(matches!(written, PutOutcome::Written { .. }), "{target}");
}

#[tokio::test]
async fn state_turns_hours_asleep_into_instance_hours_where_a_size_was_saved() {
    // GIVEN the state table as eks-nodegroups leaves it on a Saturday: dev-eks/app asleep (saved
    // at 2 nodes), dev-eks/batch awake (held awake, nothing saved), dev-legacy never seen, and
    // sandbox-eks's two enrolled node groups asleep at 1 and 3 nodes
    let moto = Moto::start().await;
    let store = DynamoStateStore::from_sdk_config(&moto.sdk_config().await, TABLE.to_owned());
    store.create_table_if_missing().await.expect("state table");
    seed(&store, "dev-eks/app", asleep(2)).await;
    seed(&store, "dev-eks/batch", json!({"desired": "awake"})).await;
    seed(&store, "sandbox-eks/web", asleep(1)).await;
    seed(&store, "sandbox-eks/api", asleep(3)).await;
    let enrolled = [
        "dev-eks/app",
        "dev-eks/batch",
        "sandbox-eks/api",
        "sandbox-eks/web",
    ];
    seed(
        &store,
        "offpeak/registry/eks-nodegroups",
        json!({ "targets": enrolled }),
    )
    .await;
    let mut env = moto.env();
    env.push(("OFFPEAK_STATE_TABLE".into(), TABLE.into()));

    // WHEN the timeline of the week of 2026-11-30 is asked for with --state
    let out = timeline(&["--state"], &env);

    // THEN the EKS totals carry instance-hours where a size is saved and say "size unknown"
    // elsewhere; the others are as without --state
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let totals: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("weekly totals"))
        .collect();
    assert_eq!(
        totals,
        [
            "weekly totals, Mon 2026-11-30 to Sun 2026-12-06",
            "  replicas prod-aurora        79.5 replica-hours at peak",
            "  replicas prod-aurora-us    150.0 replica-hours at peak",
            "  asleep   dev-eks/app        95.5 h asleep (≈ 191.0 instance-hours at 2 nodes)",
            "  asleep   dev-eks/batch      95.5 h asleep (size unknown)",
            "  asleep   dev-legacy         95.5 h asleep (size unknown)",
            "  asleep   sandbox-eks/*      84.0 h asleep (≈ 336.0 instance-hours at 4 nodes)",
            "  refresh  dev-aurora         21.0 h refresh window open",
            "size unknown: the state table keeps a node group's size only while offpeak holds it asleep",
        ],
        "{stdout}"
    );
}

#[test]
fn without_state_the_timeline_makes_no_aws_call_and_with_it_needs_a_table() {
    // An endpoint nothing listens on: any AWS call would fail the command.
    let dead = [(
        "AWS_ENDPOINT_URL".to_owned(),
        "http://127.0.0.1:9".to_owned(),
    )];
    let offline = timeline(&[], &dead);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline.stderr));
    assert!(text(&offline.stdout).contains("  asleep   dev-eks/app        95.5 h asleep\n"));

    // --state without OFFPEAK_STATE_TABLE is bad input, before any call
    let no_table = timeline(&["--state"], &dead);
    assert_eq!(no_table.status.code(), Some(2), "{no_table:?}");
    assert!(text(&no_table.stderr).contains("OFFPEAK_STATE_TABLE"));
}
