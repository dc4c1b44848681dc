//! The quarantine groups are checked, not trusted: before the first change of a run, the
//! function reads the quarantine group's inbound rules from EC2 (a signed Query call of its own,
//! on the wire) and starts only when they admit nothing but its own security group.

use offpeak_tests::masked_refresh_support;

use masked_refresh_support::*;
use offpeak_masked_refresh::memory::Phase;

#[tokio::test]
async fn a_quarantine_group_admitting_only_the_function_lets_the_refresh_run() {
    // GIVEN the quarantine group admits only the function's own group (the world's default)
    let world = World::start(Setup::default()).await;
    // WHEN the window opens
    world.tick_until_terminal(0).await;
    // THEN the refresh ran to the end, after one signed DescribeSecurityGroups of exactly that
    // group, sent before the first change
    assert_eq!(world.phase().await, Some(Phase::Done));
    let calls = world.wire.calls();
    let describe = calls
        .iter()
        .position(|c| c.service == "ec2" && c.operation == "DescribeSecurityGroups")
        .unwrap_or_else(|| panic!("no DescribeSecurityGroups: {calls:?}"));
    let first_change = calls
        .iter()
        .position(|c| c.service == "rds" && c.mutating())
        .expect("the run changed something");
    assert!(describe < first_change, "{calls:?}");
    let call = &calls[describe];
    assert_eq!(call.params["Version"], "2016-11-15");
    assert_eq!(call.params["GroupId.1"], world.quarantine);
    assert_eq!(call.params.len(), 3, "{:?}", call.params);
}

#[tokio::test]
async fn a_quarantine_group_open_to_the_internet_stops_the_run_before_anything_is_created() {
    // GIVEN a person opened the quarantine group to 0.0.0.0/0
    let world = World::start(Setup::default()).await;
    world
        .ec2
        .allow_cidr(&world.quarantine, "0.0.0.0/0", DB_PORT)
        .await;
    // WHEN the window opens
    world.tick(minutes(0)).await;
    // THEN the run did not start: no change at all, dev untouched
    world.assert_refused_before_any_change().await;
    // ... and a person is told which group admits what
    let told = world.messages("masked refresh did not start").await;
    assert_eq!(told.len(), 1, "{told:?}");
    let what = format!(
        "quarantine security group {} admits 0.0.0.0/0 (tcp {DB_PORT})",
        world.quarantine
    );
    assert!(told[0].contains(&what), "{}", told[0]);
}

#[tokio::test]
async fn a_quarantine_group_admitting_another_group_stops_the_run() {
    // GIVEN the quarantine group also admits another security group (a bastion's)
    let world = World::start(Setup::default()).await;
    let bastion = world.ec2.create_group("bastion").await;
    world
        .ec2
        .allow_group(&world.quarantine, &bastion, DB_PORT)
        .await;
    // WHEN the window opens
    world.tick(minutes(0)).await;
    // THEN the run was refused naming the group and what it admits; nothing was created
    let failure = world.failure().await;
    assert!(
        failure.contains(&format!(
            "quarantine security group {} admits security group {bastion}",
            world.quarantine
        )),
        "{failure}"
    );
    assert!(!failure.contains(&format!("security group {}", world.function_sg)));
    assert_eq!(world.cluster_ids().await, [DEV, SOURCE]);
    world.assert_dev_untouched().await;
}
