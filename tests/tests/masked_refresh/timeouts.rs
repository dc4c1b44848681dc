//! The refresh against a clone server that does not cooperate: a lock another session holds, a
//! masking statement that hangs, an endpoint that never answers. (An instance that never appears
//! after the swap: `faults::an_instance_that_never_appears_after_the_swap_is_rolled_back_by_its_bound`.)
//!
//! Each ends in bounded time: no tick waits longer than its masking allowance (or the connect
//! timeout), the run is retried by later ticks and, if the clone's server never comes round,
//! failed at the run's deadline with the clone deleted; dev serves a verified copy throughout
//! (the new one, or the one it had), people are told, and the next night's run starts.

use offpeak_tests::masked_refresh_support;

use std::time::{Duration, Instant};

use masked_refresh_support::*;
use offpeak_masked_refresh::memory::Phase;
use offpeak_masked_refresh::names::RUN_KEY;
use offpeak_tests::Engine;
use sqlx::{Connection, Executor};

/// Each invocation's masking allowance (`OFFPEAK_MASK_SECONDS`) in these worlds.
const ALLOWANCE: Duration = Duration::from_secs(3);
/// What a tick may take beyond the time it waited on the clone's server: moto's calls and a
/// loaded CI machine.
const SLACK: Duration = Duration::from_secs(8);
/// The next night's window opens this many minutes after this night's.
const NEXT_NIGHT: i64 = 24 * 60;

async fn world(setup: Setup) -> World {
    let mut world = World::start(setup).await;
    world.settings.mask_time = Some(ALLOWANCE);
    world
}

/// One tick at `minute` of the window, which must end within `wait + SLACK`; the run is then
/// still going, before the swap, and the tick says the next one retries.
async fn stalled_tick(world: &World, minute: i64, wait: Duration) -> Phase {
    let started = Instant::now();
    // A tick that waits unbounded fails here rather than hanging the test.
    let report = tokio::time::timeout(wait + SLACK, world.tick(minutes(minute)))
        .await
        .unwrap_or_else(|_| {
            panic!("minute {minute}: the tick still waits after {wait:?} + {SLACK:?}")
        });
    let took = started.elapsed();
    assert!(took < wait + SLACK, "minute {minute}: took {took:?}");
    let phase = world.phase().await.expect("a run");
    assert!(
        phase.is_pre_swap(),
        "minute {minute}: {phase:?} {:?}",
        world.run().await.and_then(|r| r.failure)
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("the next tick retries")),
        "minute {minute}: {:?}",
        report.notes
    );
    phase
}

/// Another session on the clone's server, holding an exclusive lock on `users` until closed.
enum Holder {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

async fn lock_users(world: &World) -> Holder {
    let url = &world.db().url;
    if url.starts_with("mysql:") {
        let mut holder = sqlx::MySqlConnection::connect(url).await.unwrap();
        holder.execute("LOCK TABLES users WRITE").await.unwrap();
        return Holder::My(holder);
    }
    let mut holder = sqlx::PgConnection::connect(url).await.unwrap();
    holder
        .execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    Holder::Pg(holder)
}

impl Holder {
    async fn close(self) {
        match self {
            Holder::Pg(c) => c.close().await.unwrap(),
            Holder::My(c) => c.close().await.unwrap(),
        }
    }
}

/// Dev is still the cluster it was before the run (no run tag, not put aside).
async fn assert_dev_is_the_one_it_had(world: &World) {
    let dev = world.cluster(DEV).await.expect("dev keeps its name");
    assert_eq!(tag(&dev, RUN_KEY), None);
    assert_ne!(tag(&dev, "offpeak:role").as_deref(), Some("previous"));
}

/// THEN at the window's close the run fails by its deadline: clone deleted, dev untouched
/// (still the verified copy it had), "masked refresh failed", `Drift`; AND the next night's
/// run starts: the phase its first tick leaves it in.
async fn fails_at_the_close_and_the_next_night_starts(world: &World, stuck: Phase) -> Phase {
    let report = world.tick(minutes(180)).await;
    world.assert_failed_and_cleaned(stuck, "deadline").await;
    assert_eq!(report.drifting, [DEV]);
    world.tick(minutes(NEXT_NIGHT)).await;
    let next = world.run().await.expect("the next night's run");
    assert_eq!(next.id, "20261128");
    next.phase
}

/// GIVEN another session on the clone's server holding an exclusive lock on `users`
async fn a_lock_is_waited_for_per_tick_and_the_run_resumes_once_it_goes(engine: Engine) {
    let world = world(Setup {
        engine,
        ..Setup::default()
    })
    .await;
    let holder = lock_users(&world).await;

    // WHEN ticks come while it holds it: each gives up within its allowance, the run waits
    let stuck = stalled_tick(&world, 0, ALLOWANCE).await;
    assert_eq!(stalled_tick(&world, 5, ALLOWANCE).await, stuck);
    assert_dev_is_the_one_it_had(&world).await;

    // AND the other session lets go
    holder.close().await;

    // THEN a later tick resumes the same run to the end: dev serves the new verified copy
    world.tick_until_terminal(10).await;
    world.assert_done().await;
    assert_eq!(world.run().await.unwrap().id, RUN);
}

#[tokio::test]
async fn postgres_a_lock_another_session_holds_is_waited_for_per_tick_and_the_run_resumes_once_it_goes()
 {
    a_lock_is_waited_for_per_tick_and_the_run_resumes_once_it_goes(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_a_lock_another_session_holds_is_waited_for_per_tick_and_the_run_resumes_once_it_goes()
 {
    a_lock_is_waited_for_per_tick_and_the_run_resumes_once_it_goes(Engine::MariaDb).await;
}

#[tokio::test]
async fn a_lock_held_all_night_fails_the_run_at_the_close_and_the_next_night_runs() {
    // GIVEN a lock on `users` held until the window closes
    let world = world(Setup::default()).await;
    let holder = lock_users(&world).await;
    let stuck = stalled_tick(&world, 0, ALLOWANCE).await;
    stalled_tick(&world, 90, ALLOWANCE).await;

    // WHEN the window closes, and the lock is gone by the next night
    holder.close().await;
    let next = fails_at_the_close_and_the_next_night_starts(&world, stuck).await;

    // THEN the next night's run completes
    if !next.is_terminal() {
        world.tick_until_terminal(NEXT_NIGHT + 5).await;
    }
    world.assert_done().await;
}

#[tokio::test]
async fn a_masking_statement_that_hangs_is_cancelled_each_tick_and_fails_the_run_at_the_close() {
    // GIVEN rules whose statement for orders' notes sleeps 30 s a row
    let hang = |text: String| {
        text.replace(
            "note: null",
            "note: { strategy: sql, sql: \"CASE WHEN pg_sleep(30) IS NULL THEN 'x' ELSE 'x' END\" }",
        )
    };
    let world = world(Setup {
        edit_rules: hang,
        ..Setup::default()
    })
    .await;

    // WHEN ticks come: the server cancels the statement at each invocation's allowance
    let stuck = stalled_tick(&world, 0, ALLOWANCE).await;
    assert_eq!(stuck, Phase::Mask);
    assert_eq!(stalled_tick(&world, 60, ALLOWANCE).await, Phase::Mask);
    assert_dev_is_the_one_it_had(&world).await;

    // THEN the run fails at the close, cleaned up, and the next night's run starts (and is
    // not refused for a masking lock the cancelled sessions left: it reaches masking again)
    let next = fails_at_the_close_and_the_next_night_starts(&world, stuck).await;
    assert_eq!(next, Phase::Mask);
}

#[tokio::test]
async fn a_clone_endpoint_that_never_answers_is_given_up_on_each_tick_and_fails_the_run_at_the_close()
 {
    // GIVEN the clone's endpoint accepts connections and then says nothing
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let _accepting = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mut world = world(Setup::default()).await;
    let url = format!("postgres://offpeak@127.0.0.1:{port}/app");
    world.settings.clone_database_url = Some(offpeak_masked_refresh::secret::DatabaseUrl::new(url));

    // WHEN ticks come: each gives up after the connect timeout
    let connect = offpeak_masking::limits::CONNECT_TIMEOUT;
    let stuck = stalled_tick(&world, 0, connect).await;
    assert_eq!(stalled_tick(&world, 5, connect).await, stuck);

    // THEN the run fails at the close, dev untouched, and the next night's run starts (and
    // waits on the same silent endpoint)
    let next = fails_at_the_close_and_the_next_night_starts(&world, stuck).await;
    assert_eq!(next, stuck);
}
