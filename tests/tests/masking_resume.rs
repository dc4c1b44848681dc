//! Chunked masking interrupted and resumed gives exactly the result of an uninterrupted run:
//! each chunk commits with its progress, so no row is masked twice or skipped.

mod masking_support;

use std::time::Duration;

use masking_support::{Pool, key, mask_all, rules, rules_text};
use offpeak_masking::{self as masking, Budget, Db};
use offpeak_tests::{Engine, TestDb, mariadb_database, pg_database};

const USERS: u32 = 1500;

/// Chunks of 200 rows, and no table small enough to be rewritten in one pass.
fn chunked() -> String {
    rules_text(200, 1)
}

async fn fresh(db: &TestDb, engine: Engine) -> Pool {
    let pool = Pool::connect(db, engine).await;
    pool.create_schema(USERS).await;
    pool
}

/// Every row of the user tables (not the bookkeeping, whose timestamps differ, nor the
/// planner's statistics, which ANALYZE samples at random).
async fn data(pool: &Pool) -> Vec<String> {
    let all = pool.everything().await;
    all.into_iter()
        .filter(|l| !l.contains("offpeak_masking") && !l.starts_with("pg_stats"))
        .collect()
}

/// Equal, or the first difference (the dumps are too long to print whole).
fn assert_same(left: &[String], right: &[String]) {
    let first = left.iter().zip(right).find(|(l, r)| l != r);
    assert!(first.is_none(), "first difference: {first:?}");
    assert_eq!(left.len(), right.len());
}

async fn interrupted_runs_resume_to_the_same_result(a: TestDb, b: TestDb, engine: Engine) {
    // GIVEN two identical databases
    let (left, right) = (fresh(&a, engine).await, fresh(&b, engine).await);
    assert_same(&data(&left).await, &data(&right).await);

    // WHEN one is masked in one go and the other in runs of three chunks each
    let whole = mask_all(&a.url, &rules(&chunked())).await;
    assert!(whole.verification.expect("verified").passed);
    let mut runs = 0;
    loop {
        runs += 1;
        let mut db = Db::connect(&b.url).await.unwrap();
        let budget = Budget {
            max_chunks: Some(3),
            deadline: None,
        };
        let report = masking::mask(&mut db, &rules(&chunked()), &key(), budget)
            .await
            .expect("a run");
        db.close().await;
        if report.complete {
            assert!(report.verification.expect("verified").passed);
            break;
        }
        assert!(
            report.verification.is_none(),
            "an incomplete run is not verified"
        );
        assert!(runs < 50, "runs make progress");
    }

    // THEN it took several runs, and both databases hold exactly the same data
    assert!(
        runs >= 5,
        "1500 users and 3000 orders in chunks of 200, three per run: {runs} runs"
    );
    assert_same(&data(&left).await, &data(&right).await);
}

#[tokio::test]
async fn postgres_interrupted_runs_resume_to_the_same_result() {
    interrupted_runs_resume_to_the_same_result(
        pg_database().await,
        pg_database().await,
        Engine::Postgres,
    )
    .await;
}

#[tokio::test]
async fn mariadb_interrupted_runs_resume_to_the_same_result() {
    interrupted_runs_resume_to_the_same_result(
        mariadb_database().await,
        mariadb_database().await,
        Engine::MariaDb,
    )
    .await;
}

async fn a_run_killed_mid_flight_resumes_to_the_same_result(a: TestDb, b: TestDb, engine: Engine) {
    // GIVEN two identical databases, one masked in one go
    let (left, right) = (fresh(&a, engine).await, fresh(&b, engine).await);
    mask_all(&a.url, &rules(&chunked())).await;

    // WHEN a run on the other is killed (its connection dropped) once some chunks are committed
    let url = b.url.clone();
    let run = tokio::spawn(async move {
        let mut db = Db::connect(&url).await.unwrap();
        masking::mask(&mut db, &rules(&chunked()), &key(), Budget::default()).await
    });
    let mut waited = 0;
    while !run.is_finished() && !right.chunk_committed().await && waited < 5000 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        waited += 1;
    }
    run.abort();
    let killed_early = run.await.is_err();
    // AND a new run picks up what is left, once the server has noticed the dead session and
    // released its lock (it finishes the statement in flight first)
    let report = resume(&b.url).await;

    // THEN the result is the same as the uninterrupted one
    assert!(report.verification.expect("verified").passed);
    assert!(
        killed_early,
        "the first run was interrupted before it finished"
    );
    assert_same(&data(&left).await, &data(&right).await);
}

async fn resume(url: &str) -> masking::MaskReport {
    for _ in 0..100 {
        let mut db = Db::connect(url).await.unwrap();
        let result = masking::mask(&mut db, &rules(&chunked()), &key(), Budget::default()).await;
        db.close().await;
        match result {
            Err(masking::MaskError::Database(e)) if e.kind.contains("holds the lock") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other.expect("the resumed run"),
        }
    }
    panic!("the killed run's lock was never released");
}

#[tokio::test]
async fn postgres_a_killed_run_resumes_to_the_same_result() {
    a_run_killed_mid_flight_resumes_to_the_same_result(
        pg_database().await,
        pg_database().await,
        Engine::Postgres,
    )
    .await;
}

#[tokio::test]
async fn mariadb_a_killed_run_resumes_to_the_same_result() {
    a_run_killed_mid_flight_resumes_to_the_same_result(
        mariadb_database().await,
        mariadb_database().await,
        Engine::MariaDb,
    )
    .await;
}
