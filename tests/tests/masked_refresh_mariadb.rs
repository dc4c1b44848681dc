//! masked-refresh end to end on an Aurora MySQL source, with real MariaDB standing in for the
//! clone's database: a full run, and a masking failure that leaves development untouched.

mod masked_refresh_support;
#[path = "masking_support/mod.rs"]
mod masking_support;

use masked_refresh_support::*;
use offpeak_masked_refresh::memory::Phase;
use offpeak_masked_refresh::names::{MASKING_KEY, RUN_KEY};
use offpeak_tests::{Engine, mariadb_database};

fn mariadb(max_chunks: Option<u64>) -> Setup {
    Setup {
        engine: Engine::MariaDb,
        users: 300,
        chunks: (100, 1),
        max_chunks,
        ..Setup::default()
    }
}

#[tokio::test]
async fn a_full_run_on_mariadb_makes_dev_a_masked_copy() {
    // GIVEN an aurora-mysql production and dev, and MariaDB full of personal data
    let world = World::new(mariadb(Some(2)), mariadb_database().await).await;
    assert!(!world.survivors().await.is_empty());
    // WHEN ticks run from the window's opening until the run is over
    let finished = world.tick_until_terminal(0).await;
    // THEN dev is the masked, verified clone, reached over several ticks, and people were told
    let run = world.run().await.unwrap();
    assert_eq!(run.phase, Phase::Done, "{run:?}");
    assert!(
        finished >= 10,
        "masking resumed over several ticks: +{finished} min"
    );
    let dev = world.cluster(DEV).await.unwrap();
    let tag = |k: &str| {
        dev.tag_list()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    assert_eq!(tag(RUN_KEY).as_deref(), Some(RUN));
    assert_eq!(tag(MASKING_KEY).as_deref(), Some("verified"));
    assert_eq!(world.cluster_ids().await, [DEV, SOURCE]);
    assert!(
        world.survivors().await.is_empty(),
        "{:?}",
        world.survivors().await
    );
    assert!(
        world
            .subjects()
            .await
            .iter()
            .any(|s| s.contains("masked refresh done"))
    );
}

#[tokio::test]
async fn a_masking_error_on_mariadb_deletes_the_clone() {
    // GIVEN a table the rules do not know
    let world = World::new(mariadb(None), mariadb_database().await).await;
    world
        .pool()
        .exec("CREATE TABLE newsletter (id INT PRIMARY KEY, email VARCHAR(200))")
        .await;
    // WHEN the run reaches masking
    world.tick_until_terminal(0).await;
    // THEN it failed there, the clone is gone and dev is untouched
    world
        .assert_failed_and_cleaned(Phase::Mask, "masking")
        .await;
    world.assert_dev_untouched().await;
}
