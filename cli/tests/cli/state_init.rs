//! `offpeak state init` against a real moto server: creates the table once, then is a no-op.

use std::process::{Command, Output};

use offpeak_tests::Moto;

fn offpeak(moto: &Moto, args: &[&str], table: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offpeak"));
    cmd.args(args)
        .envs(moto.env())
        .env_remove("OFFPEAK_STATE_TABLE");
    if let Some(table) = table {
        cmd.env("OFFPEAK_STATE_TABLE", table);
    }
    cmd.output().expect("the offpeak binary runs")
}

#[tokio::test]
async fn state_init_creates_the_table_once() {
    // GIVEN a fresh moto with no tables
    let moto = Moto::start().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);

    // WHEN state init runs twice
    let first = offpeak(&moto, &["state", "init"], Some("offpeak-state"));
    let second = offpeak(&moto, &["state", "init"], Some("offpeak-state"));

    // THEN the first creates the table, the second finds it, and the table is keyed by target
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "state table offpeak-state: created"
    );
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "state table offpeak-state: already exists"
    );
    let table = dynamo
        .describe_table()
        .table_name("offpeak-state")
        .send()
        .await
        .unwrap();
    let key = &table.table().unwrap().key_schema()[0];
    assert_eq!(key.attribute_name(), "target");
}

#[tokio::test]
async fn state_init_without_a_table_name_is_bad_input() {
    let moto = Moto::start().await;
    let out = offpeak(&moto, &["state", "init"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OFFPEAK_STATE_TABLE"));
}
