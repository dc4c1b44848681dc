//! The state machine's decisions, one observation at a time.

use super::*;
use crate::memory::Phase;
use crate::names::{FUNCTION_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE, clone_tags, copy_tags};
use crate::rds::ClusterMember;
use crate::testing::{run_in, utc};

fn refresh(keep_previous: usize) -> Refresh {
    Refresh {
        source: "prod".into(),
        target: "dev".into(),
        quarantine: vec!["sg-q".into()],
        dev_groups: vec!["sg-dev".into()],
        password_secret: "offpeak/dev-master".into(),
        instance_class: None,
        keep_previous,
        database_override: false,
        scope: Default::default(),
        clone_parameter_groups: Default::default(),
    }
}

/// [`refresh`] on a stack that made offpeak's parameter groups for the clone.
fn refresh_with_groups() -> Refresh {
    Refresh {
        clone_parameter_groups: CloneParameterGroups {
            cluster: Some("offpeak-clone-cluster".into()),
            instance: Some("offpeak-clone-instance".into()),
        },
        ..refresh(0)
    }
}

/// The instance `step` creates; any other step fails the test.
fn created_instance(step: Step) -> InstanceSpec {
    match step {
        Step::Act {
            action: Action::CreateInstance(spec),
            ..
        } => spec,
        step => panic!("{step:?}"),
    }
}

fn cluster(id: &str, status: &str, tags: Vec<Tag>, members: &[(&str, bool)]) -> Cluster {
    Cluster {
        id: id.into(),
        arn: format!("arn:{id}"),
        status: status.into(),
        engine: "aurora-postgresql".into(),
        endpoint: Some(format!("{id}.cluster")),
        subnet_group: Some("private".into()),
        members: members
            .iter()
            .map(|(i, w)| ClusterMember {
                instance_id: (*i).into(),
                is_writer: *w,
            })
            .collect(),
        tags,
        ..Cluster::default()
    }
}

/// prod runs with its own cluster parameter group (the team's logging).
fn with_production_group(mut obs: Observed) -> Observed {
    obs.clusters[0].parameter_group = Some("prod-logging".into());
    obs
}

fn instance(id: &str, cluster: &str, status: &str, tags: Vec<Tag>) -> Instance {
    Instance {
        id: id.into(),
        arn: format!("arn:{id}"),
        cluster_id: Some(cluster.into()),
        status: status.into(),
        class: "db.r6g.xlarge".into(),
        tags,
        ..Instance::default()
    }
}

fn managed() -> Vec<Tag> {
    vec![
        Tag::new(MANAGED_BY_KEY, MANAGED_BY_VALUE),
        Tag::new(FUNCTION_KEY, crate::FUNCTION),
    ]
}

fn ours() -> Vec<Tag> {
    clone_tags("dev", "prod", "20261127")
}

/// prod with writer prod-1, dev with writer dev-1 and reader dev-2 (both handed over).
fn world() -> Observed {
    Observed {
        clusters: vec![
            cluster("prod", "available", vec![], &[("prod-1", true)]),
            cluster(
                "dev",
                "available",
                managed(),
                &[("dev-2", false), ("dev-1", true)],
            ),
        ],
        instances: vec![
            instance("prod-1", "prod", "available", vec![]),
            instance("dev-1", "dev", "available", managed()),
            instance("dev-2", "dev", "available", managed()),
        ],
    }
}

const NOW: &str = "2026-11-27T03:30:00Z";

#[test]
fn the_clone_is_restored_into_quarantine_with_the_sources_subnet_group() {
    let step = next(&refresh(0), &run_in(Phase::Clone), &world(), utc(NOW));
    let Step::Act {
        action: Action::RestoreClone(spec),
        then: None,
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!(
        (spec.source.as_str(), spec.clone.as_str()),
        ("prod", "dev-offpeak-20261127")
    );
    assert_eq!(spec.security_groups, ["sg-q"]);
    assert_eq!(spec.subnet_group.as_deref(), Some("private"));
    assert!(of_run(&spec.tags, "dev", "20261127"));
}

#[test]
fn the_clone_phase_waits_for_available_and_refuses_a_stranger() {
    let mut obs = world();
    obs.clusters
        .push(cluster("dev-offpeak-20261127", "creating", ours(), &[]));
    let step = next(&refresh(0), &run_in(Phase::Clone), &obs, utc(NOW));
    assert_eq!(
        step,
        Step::Wait("clone dev-offpeak-20261127 is creating".into())
    );
    obs.clusters[2].status = "available".into();
    assert_eq!(
        next(&refresh(0), &run_in(Phase::Clone), &obs, utc(NOW)),
        Step::Advance(Phase::Secure)
    );
    obs.clusters[2].tags = managed();
    let step = next(&refresh(0), &run_in(Phase::Clone), &obs, utc(NOW));
    assert!(
        matches!(
            step,
            Step::Fail {
                kind: FailKind::Ownership,
                ..
            }
        ),
        "{step:?}"
    );
}

#[test]
fn the_instance_copies_the_source_writers_class_unless_configured() {
    let mut obs = world();
    obs.clusters
        .push(cluster("dev-offpeak-20261127", "available", ours(), &[]));
    let step = next(&refresh(0), &run_in(Phase::Instance), &obs, utc(NOW));
    let spec = created_instance(step);
    assert_eq!(
        (spec.class.as_str(), spec.instance.as_str()),
        ("db.r6g.xlarge", "dev-offpeak-20261127-1")
    );
    let mut cfg = refresh(0);
    cfg.instance_class = Some("db.r7g.large".into());
    let spec = created_instance(next(&cfg, &run_in(Phase::Instance), &obs, utc(NOW)));
    assert_eq!(spec.class, "db.r7g.large");
}

#[test]
fn until_verified_the_clone_runs_with_offpeaks_parameter_groups_when_the_stack_has_them() {
    let obs = with_production_group(world());
    let restore = |cfg: &Refresh| match next(cfg, &run_in(Phase::Clone), &obs, utc(NOW)) {
        Step::Act {
            action: Action::RestoreClone(spec),
            ..
        } => spec.parameter_group,
        step => panic!("{step:?}"),
    };
    // GIVEN no groups of offpeak's: production's cluster group, no instance group (as ever)
    assert_eq!(restore(&refresh(0)).as_deref(), Some("prod-logging"));
    // GIVEN offpeak's groups: the restore from production names offpeak's cluster group
    assert_eq!(
        restore(&refresh_with_groups()).as_deref(),
        Some("offpeak-clone-cluster")
    );

    let mut obs = obs.clone();
    obs.clusters.push(cluster(CLONE, "available", ours(), &[]));
    let create = |cfg: &Refresh| {
        created_instance(next(cfg, &run_in(Phase::Instance), &obs, utc(NOW))).parameter_group
    };
    assert_eq!(create(&refresh(0)), None);
    assert_eq!(
        create(&refresh_with_groups()).as_deref(),
        Some("offpeak-clone-instance")
    );
}

#[test]
fn the_verified_copy_gets_productions_cluster_group_never_offpeaks() {
    // GIVEN a sealed clone restored with offpeak's cluster group
    let mut obs = with_production_group(sealed_world(Some("2026-11-27T03:21:00Z")));
    obs.clusters[2].parameter_group = Some("offpeak-clone-cluster".into());
    let copy = |obs: &Observed| match next(
        &refresh_with_groups(),
        &sealed_run(Phase::Copy),
        obs,
        utc(NOW),
    ) {
        Step::Act {
            action: Action::CopyClone(spec),
            ..
        } => spec.parameter_group,
        step => panic!("{step:?}"),
    };
    // THEN the copy, what becomes dev, is restored with production's group as observed
    assert_eq!(copy(&obs).as_deref(), Some("prod-logging"));
    // ... and only a production no longer visible leaves it the clone's
    let mut gone = obs.clone();
    gone.clusters.retain(|c| c.id != "prod");
    assert_eq!(copy(&gone).as_deref(), Some("offpeak-clone-cluster"));

    // WHEN the copy is available: its instance names no parameter group (the engine's default)
    obs.clusters.push(cluster(
        COPY,
        "available",
        copy_tags("dev", "prod", "20261127"),
        &[],
    ));
    let step = next(
        &refresh_with_groups(),
        &sealed_run(Phase::Copy),
        &obs,
        utc(NOW),
    );
    let spec = created_instance(step);
    assert_eq!(
        (spec.instance.as_str(), spec.parameter_group),
        (COPY_INSTANCE, None)
    );
}

fn is_deadline(step: &Step) -> bool {
    matches!(
        step,
        Step::Fail {
            kind: FailKind::Deadline,
            ..
        }
    )
}

#[test]
fn the_deadline_binds_every_phase_until_the_swap_is_over() {
    let late = utc("2026-11-27T06:00:00Z");
    for phase in [
        Phase::Clone,
        Phase::Mask,
        Phase::Seal,
        Phase::Copy,
        Phase::Swap,
    ] {
        let step = next(&refresh(0), &run_in(phase), &world(), late);
        assert!(is_deadline(&step), "{phase}: {step:?}");
    }
    for phase in [Phase::Cleanup, Phase::Rollback] {
        let step = next(&refresh(0), &run_in(phase), &world(), late);
        assert!(!is_deadline(&step), "{phase}: {step:?}");
    }
}

#[test]
fn the_phases_after_the_swap_are_bound_by_promote_by() {
    // GIVEN a swap that completed at 05:30: the promoted cluster is due by 06:30
    let obs = promoted(&world(), "creating");
    for phase in [Phase::Promote, Phase::Retire] {
        let mut run = run_in(phase);
        run.swap = Some(swap_plan());
        run.promote_by = Some(run.promote_deadline(utc("2026-11-27T05:30:00Z")));
        // THEN the window's close does not end it
        let step = next(&refresh(0), &run, &obs, utc("2026-11-27T06:00:00Z"));
        assert!(!is_deadline(&step), "{phase}: {step:?}");
        // AND promote_by does, naming the bound
        let step = next(&refresh(0), &run, &obs, utc("2026-11-27T06:30:00Z"));
        assert!(is_deadline(&step), "{phase}: {step:?}");
        let Step::Fail { error, .. } = step else {
            unreachable!()
        };
        assert!(error.contains("2026-11-27T06:30:00"), "{error}");
    }
}

/// The swap of run 20261127 as planned: dev (dev-1, dev-2) put aside, the clone's instance
/// taking dev-1's name.
fn swap_plan() -> SwapPlan {
    SwapPlan {
        previous: Some(Aside {
            cluster: "dev-offpeak-prev-20261127".into(),
            instances: vec![
                ("dev-1".into(), "dev-offpeak-prev-20261127-1".into()),
                ("dev-2".into(), "dev-offpeak-prev-20261127-2".into()),
            ],
        }),
        instance: "dev-1".into(),
        deletion_protection: false,
    }
}

/// `base` after the swap: dev put aside, the clone promoted as dev with its instance as dev-1
/// in `status`.
fn promoted(base: &Observed, status: &str) -> Observed {
    let aside = names::aside_tags("dev", "20261127", "dev");
    let mut obs = base.clone();
    obs.clusters.retain(|c| c.id != "dev");
    obs.instances
        .retain(|i| i.cluster_id.as_deref() != Some("dev"));
    obs.clusters.push(cluster(
        "dev-offpeak-prev-20261127",
        "available",
        aside.clone(),
        &[
            ("dev-offpeak-prev-20261127-1", true),
            ("dev-offpeak-prev-20261127-2", false),
        ],
    ));
    for n in ["1", "2"] {
        let id = format!("dev-offpeak-prev-20261127-{n}");
        obs.instances.push(instance(
            &id,
            "dev-offpeak-prev-20261127",
            "available",
            aside.clone(),
        ));
    }
    obs.clusters
        .push(cluster("dev", "available", ours(), &[("dev-1", true)]));
    obs.instances.push(instance("dev-1", "dev", status, ours()));
    obs
}

fn failed_in_promote() -> Run {
    let mut run = run_in(Phase::Rollback);
    run.swap = Some(swap_plan());
    run.failure = Some(crate::memory::Failure {
        phase: Phase::Promote,
        kind: "deadline".into(),
        error: "x".into(),
        at: utc("2026-11-27T06:00:00Z"),
    });
    run
}

#[test]
fn a_promotion_past_its_bound_rolls_back_while_the_previous_cluster_is_aside() {
    let run = failed_in_promote();
    let obs = promoted(&world(), "creating");
    assert_eq!(
        after_promote_failed(&refresh(0), &run, &obs),
        Phase::Rollback
    );
    // AND without it (deleted by a person, or there was none) the run ends there
    let mut gone = obs.clone();
    gone.clusters
        .retain(|c| c.id != "dev-offpeak-prev-20261127");
    assert_eq!(
        after_promote_failed(&refresh(0), &run, &gone),
        Phase::Failed
    );
    let mut none = run.clone();
    none.swap.as_mut().unwrap().previous = None;
    assert_eq!(
        after_promote_failed(&refresh(0), &none, &obs),
        Phase::Failed
    );
}

#[test]
fn rolling_back_a_promotion_frees_the_names_an_instance_that_never_came_up_holds() {
    let run = failed_in_promote();
    let rename_back = Step::Act {
        action: Action::RenameCluster {
            from: "dev".into(),
            to: "dev-offpeak-20261127-copy".into(),
            security_groups: Some(vec!["sg-q".into()]),
        },
        then: None,
    };
    // A busy instance can be neither renamed nor deleted: the cluster goes back first.
    let busy = promoted(&world(), "configuring-enhanced-monitoring");
    assert_eq!(next(&refresh(0), &run, &busy, utc(NOW)), rename_back);
    // A broken one is deleted, freeing dev-1 for the previous writer.
    let broken = promoted(&world(), "incompatible-parameters");
    assert_eq!(
        next(&refresh(0), &run, &broken, utc(NOW)),
        Step::Act {
            action: Action::DeleteInstance {
                instance: "dev-1".into(),
                reason: Reason::FailedRun
            },
            then: None
        }
    );
    // One that never appeared holds nothing.
    let mut absent = busy.clone();
    absent.instances.retain(|i| i.id != "dev-1");
    assert_eq!(next(&refresh(0), &run, &absent, utc(NOW)), rename_back);
}

#[test]
fn the_swap_plan_puts_every_dev_instance_aside_writer_first() {
    let mut obs = world();
    obs.clusters
        .push(cluster("dev-offpeak-20261127", "available", ours(), &[]));
    let step = next(&refresh(0), &run_in(Phase::Swap), &obs, utc(NOW));
    let Step::BeginSwap(plan) = step else {
        panic!("{step:?}")
    };
    let aside = plan.previous.unwrap();
    assert_eq!(aside.cluster, "dev-offpeak-prev-20261127");
    assert_eq!(
        aside.instances,
        [
            ("dev-1".to_owned(), "dev-offpeak-prev-20261127-1".to_owned()),
            ("dev-2".to_owned(), "dev-offpeak-prev-20261127-2".to_owned())
        ]
    );
    assert_eq!(
        plan.instance, "dev-1",
        "the clone's instance takes the writer's name"
    );
}

#[test]
fn without_a_dev_cluster_the_clone_simply_takes_the_name() {
    let mut obs = world();
    obs.clusters.retain(|c| c.id != "dev");
    obs.instances
        .retain(|i| i.cluster_id.as_deref() != Some("dev"));
    let step = next(&refresh(0), &run_in(Phase::Swap), &obs, utc(NOW));
    assert_eq!(
        step,
        Step::BeginSwap(SwapPlan {
            previous: None,
            instance: "dev-1".into(),
            deletion_protection: false,
        })
    );
}

#[test]
fn preflight_refuses_what_offpeak_may_not_touch_and_waits_for_a_busy_source() {
    let cfg = refresh(0);
    assert_eq!(preflight(&cfg, "20261127", &world()), Start::Go);
    let mut obs = world();
    obs.instances[2].tags.clear();
    let Start::Refuse(why) = preflight(&cfg, "20261127", &obs) else {
        panic!()
    };
    assert!(
        why.contains("dev-2") && why.contains("offpeak:managed-by=offpeak"),
        "{why}"
    );
    let mut obs = world();
    obs.clusters[0].status = "backing-up".into();
    assert!(matches!(
        preflight(&cfg, "20261127", &obs),
        Start::NotYet(_)
    ));
    let mut no_quarantine = refresh(0);
    no_quarantine.quarantine.clear();
    assert!(matches!(
        preflight(&no_quarantine, "20261127", &world()),
        Start::Refuse(_)
    ));
}

#[test]
fn retire_keeps_the_newest_previous_clusters_and_never_a_foreign_one() {
    let previous = |run: &str| {
        let mut tags = names::aside_tags("dev", run, "dev");
        tags.push(Tag::new(names::RUN_KEY, "older"));
        cluster(&format!("dev-offpeak-prev-{run}"), "available", tags, &[])
    };
    let mut obs = world();
    obs.clusters.extend([
        previous("20261125"),
        previous("20261127"),
        previous("20261126"),
    ]);
    obs.clusters.push(cluster(
        "dev-offpeak-prev-20261101",
        "available",
        managed(),
        &[],
    ));
    let step = next(&refresh(1), &run_in(Phase::Retire), &obs, utc(NOW));
    assert_eq!(
        step,
        Step::Act {
            action: Action::DeleteCluster {
                cluster: "dev-offpeak-prev-20261126".into(),
                reason: Reason::Retired,
                final_snapshot: None,
            },
            then: None
        }
    );
    obs.clusters
        .retain(|c| c.id != "dev-offpeak-prev-20261126" && c.id != "dev-offpeak-prev-20261125");
    assert_eq!(
        next(&refresh(1), &run_in(Phase::Retire), &obs, utc(NOW)),
        Step::Advance(Phase::Done)
    );
}

#[test]
fn cleanup_never_deletes_a_cluster_holding_the_dev_name() {
    let mut obs = world();
    obs.clusters.retain(|c| c.id != "dev");
    obs.clusters.push(cluster("dev", "available", ours(), &[]));
    let step = next(&refresh(0), &run_in(Phase::Cleanup), &obs, utc(NOW));
    assert_eq!(step, Step::Advance(Phase::Rollback));
}

// ---------------------------------------------------------------------------------------------
// The copy: dev's restorable history starts after masking.

const CLONE: &str = "dev-offpeak-20261127";
const CLONE_INSTANCE: &str = "dev-offpeak-20261127-1";
const COPY: &str = "dev-offpeak-20261127-copy";
const COPY_INSTANCE: &str = "dev-offpeak-20261127-copy-1";
const SEALED: &str = "2026-11-27T03:20:00Z";

fn verified() -> Vec<Tag> {
    let mut tags = ours();
    tags.retain(|t| t.key != MASKING_KEY);
    tags.push(Tag::new(MASKING_KEY, MASKING_VERIFIED));
    tags
}

/// The world with this run's sealed clone (and its instance), restorable up to `latest`.
fn sealed_world(latest: Option<&str>) -> Observed {
    let mut obs = world();
    let mut clone = cluster(CLONE, "available", verified(), &[(CLONE_INSTANCE, true)]);
    clone.latest_restorable_time = latest.map(utc);
    obs.clusters.push(clone);
    obs.instances
        .push(instance(CLONE_INSTANCE, CLONE, "available", ours()));
    obs
}

fn sealed_run(phase: Phase) -> Run {
    Run {
        sealed_at: Some(utc(SEALED)),
        ..run_in(phase)
    }
}

fn copy_step(obs: &Observed) -> Step {
    next(&refresh(0), &sealed_run(Phase::Copy), obs, utc(NOW))
}

#[test]
fn sealing_leads_to_the_copy_not_to_the_swap() {
    let obs = sealed_world(None);
    let step = next(&refresh(0), &run_in(Phase::Seal), &obs, utc(NOW));
    let Step::Act {
        action: Action::Forget { cluster, .. },
        then,
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!((cluster.as_str(), then), (CLONE, Some(Phase::Copy)));
}

#[test]
fn the_copy_is_made_of_the_verified_clone_once_a_restore_reflects_its_sealing() {
    // GIVEN the sealed clone, restorable to a minute past its sealing
    let step = copy_step(&sealed_world(Some("2026-11-27T03:21:00Z")));
    // THEN the copy is a copy-on-write clone of it, into quarantine, with the run's copy tags
    let Step::Act {
        action: Action::CopyClone(spec),
        then: None,
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!((spec.source.as_str(), spec.clone.as_str()), (CLONE, COPY));
    assert_eq!(spec.security_groups, ["sg-q"]);
    assert_eq!(spec.subnet_group.as_deref(), Some("private"));
    assert_eq!(spec.tags, copy_tags("dev", "prod", "20261127"));
    assert_eq!(tag(&spec.tags, ROLE_KEY), Some(names::ROLE_COPY));
    assert!(of_run(&spec.tags, "dev", "20261127"));
}

#[test]
fn no_copy_while_a_restore_of_the_clone_could_predate_its_sealing() {
    for latest in [None, Some("2026-11-27T03:19:00Z"), Some(SEALED)] {
        let step = copy_step(&sealed_world(latest));
        let Step::Wait(why) = &step else {
            panic!("{latest:?}: {step:?}")
        };
        assert!(why.contains("latest restorable time"), "{why}");
    }
}

#[test]
fn no_copy_is_made_of_a_clone_this_run_did_not_verify_and_seal() {
    // GIVEN a clone still tagged pending (verification never passed)
    let mut obs = sealed_world(Some("2026-11-27T03:21:00Z"));
    obs.clusters[2].tags = ours();
    let step = copy_step(&obs);
    assert!(
        matches!(
            &step,
            Step::Fail { kind: FailKind::Verification, error } if error.contains("not tagged offpeak:masking=verified")
        ),
        "{step:?}"
    );
    // ... a verified clone the run has no sealing of
    let obs = sealed_world(Some("2026-11-27T03:21:00Z"));
    let step = next(&refresh(0), &run_in(Phase::Copy), &obs, utc(NOW));
    assert!(
        matches!(
            step,
            Step::Fail {
                kind: FailKind::Verification,
                ..
            }
        ),
        "{step:?}"
    );
    // ... a verified clone of another run
    let mut obs = sealed_world(Some("2026-11-27T03:21:00Z"));
    obs.clusters[2].tags.retain(|t| t.key != names::RUN_KEY);
    obs.clusters[2]
        .tags
        .push(Tag::new(names::RUN_KEY, "20261126"));
    let step = copy_step(&obs);
    assert!(
        matches!(
            step,
            Step::Fail {
                kind: FailKind::Ownership,
                ..
            }
        ),
        "{step:?}"
    );
    // ... and a stranger under the copy's name is left alone
    let mut obs = sealed_world(Some("2026-11-27T03:21:00Z"));
    obs.clusters
        .push(cluster(COPY, "available", managed(), &[]));
    let step = copy_step(&obs);
    assert!(
        matches!(
            step,
            Step::Fail {
                kind: FailKind::Ownership,
                ..
            }
        ),
        "{step:?}"
    );
    assert!(matches!(
        preflight(&refresh(0), "20261127", &obs),
        Start::Refuse(_)
    ));
}

#[test]
fn the_copy_gets_its_instance_then_the_intermediate_clone_goes_before_the_swap() {
    let mut obs = sealed_world(Some("2026-11-27T03:21:00Z"));
    obs.clusters.push(cluster(
        COPY,
        "creating",
        copy_tags("dev", "prod", "20261127"),
        &[],
    ));
    assert_eq!(
        copy_step(&obs),
        Step::Wait(format!("copy {COPY} is creating"))
    );
    // WHEN the copy is available: its instance, with the copy's tags
    obs.clusters[3].status = "available".into();
    let spec = created_instance(copy_step(&obs));
    assert_eq!(
        (spec.cluster.as_str(), spec.instance.as_str()),
        (COPY, COPY_INSTANCE)
    );
    assert_eq!(spec.tags, copy_tags("dev", "prod", "20261127"));
    obs.clusters[3].members = vec![ClusterMember {
        instance_id: COPY_INSTANCE.into(),
        is_writer: true,
    }];
    obs.instances.push(instance(
        COPY_INSTANCE,
        COPY,
        "creating",
        copy_tags("dev", "prod", "20261127"),
    ));
    assert_eq!(
        copy_step(&obs),
        Step::Wait(format!("instance {COPY_INSTANCE} is creating"))
    );
    // WHEN the copy's instance is available: the intermediate clone's instance, then the clone
    obs.instances[4].status = "available".into();
    assert_eq!(
        copy_step(&obs),
        Step::Act {
            action: Action::DeleteInstance {
                instance: CLONE_INSTANCE.into(),
                reason: Reason::Superseded
            },
            then: None
        }
    );
    obs.instances.retain(|i| i.id != CLONE_INSTANCE);
    obs.clusters[2].members.clear();
    assert_eq!(
        copy_step(&obs),
        Step::Act {
            action: Action::DeleteCluster {
                cluster: CLONE.into(),
                reason: Reason::Superseded,
                final_snapshot: None,
            },
            then: None
        }
    );
    obs.clusters[2].status = "deleting".into();
    assert_eq!(copy_step(&obs), Step::Wait(format!("{CLONE} is deleting")));
    // THEN the swap starts only once the intermediate clone is gone, and the dev password
    // secret was read
    obs.clusters.retain(|c| c.id != CLONE);
    assert_eq!(
        copy_step(&obs),
        Step::Act {
            action: Action::CheckPasswordSecret {
                password_secret: "offpeak/dev-master".into()
            },
            then: Some(Phase::Swap)
        }
    );
}

#[test]
fn the_swap_promotes_the_copy_never_the_intermediate_clone() {
    // GIVEN (against the order of things) the intermediate clone and the copy, and no dev cluster
    let mut obs = sealed_world(None);
    obs.clusters.retain(|c| c.id != "dev");
    obs.instances
        .retain(|i| i.cluster_id.as_deref() != Some("dev"));
    obs.clusters.push(cluster(
        COPY,
        "available",
        copy_tags("dev", "prod", "20261127"),
        &[],
    ));
    let run = Run {
        swap: Some(SwapPlan {
            previous: None,
            instance: "dev-1".into(),
            deletion_protection: false,
        }),
        ..sealed_run(Phase::Swap)
    };
    let step = next(&refresh(0), &run, &obs, utc(NOW));
    let Step::Act {
        action: Action::Promote { from, to, .. },
        ..
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!((from.as_str(), to.as_str()), (COPY, "dev"));
}

#[test]
fn a_failure_around_the_copy_deletes_the_clone_and_the_copy() {
    // GIVEN the clone and the copy, each with its instance, and the run cleaning up
    let mut obs = sealed_world(None);
    let tags = copy_tags("dev", "prod", "20261127");
    obs.clusters.push(cluster(
        COPY,
        "available",
        tags.clone(),
        &[(COPY_INSTANCE, true)],
    ));
    obs.instances
        .push(instance(COPY_INSTANCE, COPY, "available", tags));
    let cleanup = |obs: &Observed| next(&refresh(0), &run_in(Phase::Cleanup), obs, utc(NOW));
    // THEN every instance of the run goes first, then both clusters; dev is never named
    let mut deleted = Vec::new();
    for _ in 0..6 {
        match cleanup(&obs) {
            Step::Act {
                action: Action::DeleteInstance { instance, .. },
                ..
            } => {
                obs.instances.retain(|i| i.id != instance);
                for c in &mut obs.clusters {
                    c.members.retain(|m| m.instance_id != instance);
                }
                deleted.push(instance);
            }
            Step::Act {
                action:
                    Action::DeleteCluster {
                        cluster,
                        reason,
                        final_snapshot,
                    },
                ..
            } => {
                assert_eq!(reason, Reason::FailedRun);
                assert_eq!(final_snapshot, None, "a clone or copy is a masked copy");
                obs.clusters.retain(|c| c.id != cluster);
                deleted.push(cluster);
            }
            Step::Advance(Phase::Failed) => break,
            other => panic!("{other:?}"),
        }
    }
    deleted[..2].sort();
    deleted[2..].sort();
    assert_eq!(deleted, [CLONE_INSTANCE, COPY_INSTANCE, CLONE, COPY]);
    let left: Vec<&str> = obs.clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(left, ["prod", "dev"]);
}

#[test]
fn a_handed_over_previous_cluster_is_deleted_with_a_final_snapshot_named_after_it() {
    // GIVEN the dev cluster a person handed over (no offpeak:run), put aside by run 20261126
    let mut obs = world();
    obs.clusters.push(cluster(
        "dev-offpeak-prev-20261126",
        "available",
        names::aside_tags("dev", "20261126", "dev"),
        &[],
    ));
    // WHEN the run retires it
    let step = next(&refresh(0), &run_in(Phase::Retire), &obs, utc(NOW));
    // THEN RDS is asked for a final snapshot, named from the cluster (so from the occurrence
    // that put it aside), the same on every retry
    assert_eq!(
        step,
        Step::Act {
            action: Action::DeleteCluster {
                cluster: "dev-offpeak-prev-20261126".into(),
                reason: Reason::Retired,
                final_snapshot: Some("dev-offpeak-prev-20261126-final".into()),
            },
            then: None
        }
    );
    assert_eq!(
        next(&refresh(0), &run_in(Phase::Retire), &obs, utc(NOW)),
        step
    );
    // AND deletion protection still goes first
    obs.clusters.last_mut().unwrap().deletion_protection = true;
    assert_eq!(
        next(&refresh(0), &run_in(Phase::Retire), &obs, utc(NOW)),
        Step::Act {
            action: Action::DisableDeletionProtection {
                cluster: "dev-offpeak-prev-20261126".into()
            },
            then: None
        }
    );
}

#[test]
fn a_promoted_cluster_gets_the_deletion_protection_the_dev_cluster_it_replaced_had() {
    // GIVEN a dev cluster with deletion protection: the swap plan records it
    let mut obs = world();
    obs.clusters[1].deletion_protection = true;
    obs.clusters
        .push(cluster("dev-offpeak-20261127", "available", ours(), &[]));
    let Step::BeginSwap(plan) = next(&refresh(0), &run_in(Phase::Swap), &obs, utc(NOW)) else {
        panic!()
    };
    assert!(plan.deletion_protection);
    // WHEN the promoted cluster is available, tagged as dev
    let mut obs = promoted(&world(), "available");
    let dev_tags = [vec![Tag::new(names::ROLE_KEY, names::ROLE_DEV)], ours()].concat();
    for c in obs.clusters.iter_mut().filter(|c| c.id == "dev") {
        c.tags = dev_tags.clone();
    }
    for i in obs.instances.iter_mut().filter(|i| i.id == "dev-1") {
        i.tags = dev_tags.clone();
    }
    let run = Run {
        swap: Some(plan),
        ..run_in(Phase::Promote)
    };
    // THEN deletion protection is turned on before the run moves on
    assert_eq!(
        next(&refresh(0), &run, &obs, utc(NOW)),
        Step::Act {
            action: Action::EnableDeletionProtection {
                cluster: "dev".into()
            },
            then: None
        }
    );
    for c in obs.clusters.iter_mut().filter(|c| c.id == "dev") {
        c.deletion_protection = true;
    }
    assert_eq!(
        next(&refresh(0), &run, &obs, utc(NOW)),
        Step::Advance(Phase::Retire)
    );
    // AND without it on the old dev, the new one is left as RDS made it
    let unprotected = Run {
        swap: Some(swap_plan()),
        ..run_in(Phase::Promote)
    };
    obs.clusters
        .iter_mut()
        .for_each(|c| c.deletion_protection = false);
    assert_eq!(
        next(&refresh(0), &unprotected, &obs, utc(NOW)),
        Step::Advance(Phase::Retire)
    );
}
