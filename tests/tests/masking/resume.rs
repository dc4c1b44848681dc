//! Chunked masking interrupted and resumed gives exactly the result of an uninterrupted run:
//! each chunk commits with its progress, so no row is masked twice or skipped.

use offpeak_tests::masking_support;

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

// ---- Time: every wait is bounded by the deadline, and what times out does not block the next run.

/// The slack allowed past a deadline: one round trip to cancel, and a loaded CI machine.
const SLACK: Duration = Duration::from_secs(4);

fn budget_of(seconds: u64) -> Budget {
    Budget {
        deadline: Some(std::time::Instant::now() + Duration::from_secs(seconds)),
        max_chunks: None,
    }
}

/// The realistic rules, with every order note computed by a statement that sleeps 30 s a row.
fn hanging(engine: Engine) -> String {
    let sleep = match engine {
        Engine::Postgres => "CASE WHEN pg_sleep(30) IS NULL THEN 'x' ELSE 'x' END",
        Engine::MariaDb => "IF(SLEEP(30) = 0, 'x', 'x')",
    };
    chunked().replace(
        "note: null",
        &format!("note: {{ strategy: sql, sql: \"{sleep}\" }}"),
    )
}

async fn timed_mask(
    url: &str,
    rules_text: &str,
    budget: Budget,
) -> (Duration, Result<masking::MaskReport, masking::MaskError>) {
    let started = std::time::Instant::now();
    let mut db = Db::connect(url).await.unwrap();
    let result = masking::mask(&mut db, &rules(rules_text), &key(), budget).await;
    db.close().await;
    (started.elapsed(), result)
}

async fn a_statement_that_hangs_is_cancelled_by_the_deadline(db: TestDb, engine: Engine) {
    // GIVEN a table whose masking statement would run for hours
    fresh(&db, engine).await;

    // WHEN a run with 3 s left starts
    let (took, result) = timed_mask(&db.url, &hanging(engine), budget_of(3)).await;

    // THEN the server cancels the statement at the deadline and the run fails, in bounded time
    let err = result.expect_err("a hanging statement cannot succeed");
    assert!(
        took < Duration::from_secs(3) + SLACK,
        "took {took:?}: {err}"
    );
    assert!(matches!(err, masking::MaskError::Database(_)), "{err}");

    // AND the next run is not blocked by a lock left behind: it too ends by its own deadline,
    // cancelled the same way rather than refused for a lock
    let (took, again) = timed_mask(&db.url, &hanging(engine), budget_of(2)).await;
    let again = again.expect_err("still hanging");
    assert!(
        took < Duration::from_secs(2) + SLACK,
        "took {took:?}: {again}"
    );
    assert!(!again.to_string().contains("holds the lock"), "{again}");
}

#[tokio::test]
async fn postgres_a_statement_that_hangs_is_cancelled_by_the_deadline() {
    a_statement_that_hangs_is_cancelled_by_the_deadline(pg_database().await, Engine::Postgres)
        .await;
}

#[tokio::test]
async fn mariadb_a_statement_that_hangs_is_cancelled_by_the_deadline() {
    a_statement_that_hangs_is_cancelled_by_the_deadline(mariadb_database().await, Engine::MariaDb)
        .await;
}

async fn a_lock_held_by_another_session_is_waited_for_only_until_the_deadline(
    db: TestDb,
    engine: Engine,
) {
    // GIVEN another session holding an exclusive lock on a table the rules mask
    fresh(&db, engine).await;
    let held = Holder::lock_orders(&db, engine).await;

    // WHEN a run with 3 s left starts
    let (took, result) = timed_mask(&db.url, &chunked(), budget_of(3)).await;

    // THEN it gives up waiting by the deadline
    let err = result.expect_err("the table stays locked");
    assert!(
        took < Duration::from_secs(3) + SLACK,
        "took {took:?}: {err}"
    );

    // AND once the other session lets go, the next run completes and verifies
    held.close().await;
    let report = resume(&db.url).await;
    assert!(report.complete);
    assert!(report.verification.expect("verified").passed);
}

#[tokio::test]
async fn postgres_a_lock_held_by_another_session_is_waited_for_only_until_the_deadline() {
    a_lock_held_by_another_session_is_waited_for_only_until_the_deadline(
        pg_database().await,
        Engine::Postgres,
    )
    .await;
}

#[tokio::test]
async fn mariadb_a_lock_held_by_another_session_is_waited_for_only_until_the_deadline() {
    a_lock_held_by_another_session_is_waited_for_only_until_the_deadline(
        mariadb_database().await,
        Engine::MariaDb,
    )
    .await;
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_given_up_on() {
    // GIVEN an endpoint that accepts connections and then says nothing
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });

    // WHEN either engine connects to it
    let (pg_url, my_url) = (
        format!("postgres://offpeak@127.0.0.1:{port}/app"),
        format!("mysql://offpeak@127.0.0.1:{port}/app"),
    );
    let started = std::time::Instant::now();
    let (pg, my) = tokio::join!(Db::connect(&pg_url), Db::connect(&my_url));
    let took = started.elapsed();
    accepted.abort();

    // THEN both give up after the connect timeout, saying so
    let limit = masking::limits::CONNECT_TIMEOUT;
    for err in [
        pg.err().expect("no postgres answer"),
        my.err().expect("no mysql answer"),
    ] {
        assert!(err.kind.contains("did not answer within 10 s"), "{err}");
    }
    assert!(took >= limit && took < limit + SLACK, "took {took:?}");
}

/// One session of its own (not a pool's), holding a lock on `orders` until closed.
enum Holder {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl Holder {
    async fn lock_orders(db: &TestDb, engine: Engine) -> Holder {
        use sqlx::{Connection, Executor};
        match engine {
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                c.execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
                    .await
                    .unwrap();
                Holder::Pg(c)
            }
            Engine::MariaDb => {
                let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
                c.execute("LOCK TABLES orders WRITE").await.unwrap();
                Holder::My(c)
            }
        }
    }

    async fn close(self) {
        use sqlx::Connection;
        match self {
            Holder::Pg(c) => c.close().await.unwrap(),
            Holder::My(c) => c.close().await.unwrap(),
        }
    }
}
