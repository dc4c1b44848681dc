//! Table-like tests of the pure planner: one observed target, one stored document, one instant.

use std::path::Path;

use chrono::{TimeZone, Utc};
use offpeak_shared::config::{self, Schedule};
use offpeak_shared::event::{Override, OverrideState};
use serde_json::json;

use super::*;
use crate::aws::AsgView;
use crate::record::{Attention, Saved};
use crate::targets;

const YAML: &str = r#"
timezone: Asia/Tokyo
eks_nodegroups:
  - cluster: dev-eks
    nodegroups: [app]
    sleep: [{from: fri 22:00, to: mon 07:30}]
  - cluster: strict-eks
    nodegroups: [app]
    enforce: true
    sleep: [{from: fri 22:00, to: mon 07:30}]
"#;

fn schedule() -> Schedule {
    config::parse_str(YAML, Path::new("t.yaml")).unwrap()
}

/// Friday 2026-11-27 22:00 JST.
fn friday_night() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap()
}

/// Saturday 2026-11-28 10:00 JST.
fn saturday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap()
}

/// Monday 2026-11-30 07:30 JST.
fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 22, 30, 0).unwrap()
}

fn s(min: i32, max: i32, desired: i32) -> Scaling {
    Scaling { min, max, desired }
}

fn discovery() -> Vec<AsgTag> {
    vec![
        AsgTag::new("k8s.io/cluster-autoscaler/enabled", "true", true),
        AsgTag::new("k8s.io/cluster-autoscaler/dev-eks", "owned", true),
    ]
}

fn live(scaling: Scaling, tags: Vec<AsgTag>) -> Live {
    Live {
        scaling,
        busy: None,
        skip: Skip::No,
        asg_name: Some("eks-app".into()),
        asg: Some(AsgView {
            name: "eks-app".into(),
            scaling,
            status: None,
            tags,
        }),
    }
}

fn observed<'s>(schedule: &'s Schedule, id: &str, view: View) -> Observed<'s> {
    Observed {
        unit: targets::resolve(schedule, id).unwrap(),
        view,
    }
}

fn doc(desired: Option<SleepState>, saved: Option<Saved>) -> Stored {
    Stored {
        doc: TargetDoc {
            desired,
            saved,
            ..TargetDoc::default()
        },
        version: Some(3),
    }
}

fn saved() -> Saved {
    Saved {
        scaling: s(1, 3, 2),
        asg: Some("eks-app".into()),
        autoscaler_tags: discovery(),
        at: friday_night(),
    }
}

fn steps(plan: &TargetPlan) -> Vec<Step> {
    plan.actions.iter().map(|a| a.step.clone()).collect()
}

#[test]
fn friday_night_saves_then_parks_the_guard_then_scales_to_zero() {
    let schedule = schedule();
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(1, 3, 2), discovery())),
    );
    let plan = plan_target(&o, doc(Some(SleepState::Awake), None), None, friday_night());
    assert_eq!(
        steps(&plan),
        [
            Step::SaveScaling {
                scaling: s(1, 3, 2),
                asg: Some("eks-app".into()),
                autoscaler_tags: discovery(),
                at: friday_night(),
            },
            Step::ParkAutoscalerTags {
                asg: "eks-app".into(),
                tags: discovery(),
                marker: guard::mirror(s(1, 3, 2), friday_night()),
            },
            Step::ScaleToZero { from: s(1, 3, 2) },
            Step::CommitDesired {
                state: SleepState::Asleep
            },
        ]
    );
    assert_eq!(
        plan.next_change,
        Some(monday_morning()),
        "the wake time is known for the notification"
    );
}

#[test]
fn a_converged_sleeping_target_has_an_empty_plan() {
    let schedule = schedule();
    let marker = guard::mirror(s(1, 3, 2), friday_night());
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(0, 3, 0), vec![marker])),
    );
    let plan = plan_target(
        &o,
        doc(Some(SleepState::Asleep), Some(saved())),
        None,
        saturday(),
    );
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn a_manual_scale_up_inside_the_window_is_respected_and_notified_once_after_the_grace() {
    let schedule = schedule();
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(1, 3, 1), vec![])),
    );
    let asleep = || doc(Some(SleepState::Asleep), Some(saved()));

    let first = plan_target(&o, asleep(), None, saturday());
    assert_eq!(
        steps(&first),
        [Step::Flag {
            concern: Concern::Drift,
            since: saturday(),
            report: false
        }]
    );
    assert!(
        first.notes[0].contains("awake while asleep is desired"),
        "{:?}",
        first.notes
    );

    let mut flagged = asleep();
    flagged.doc.attention = Some(Attention {
        concern: Concern::Drift,
        since: saturday(),
        reported: false,
    });
    let later = saturday() + DRIFT_GRACE;
    assert_eq!(
        steps(&plan_target(&o, flagged.clone(), None, later)),
        [Step::Flag {
            concern: Concern::Drift,
            since: saturday(),
            report: true
        }]
    );
    flagged.doc.attention.as_mut().unwrap().reported = true;
    assert!(plan_target(&o, flagged, None, later).actions.is_empty());
}

#[test]
fn enforce_puts_it_back_to_sleep_without_touching_the_saved_scaling() {
    let schedule = schedule();
    let mut tags = discovery();
    tags[0].key = "k8s.io/cluster-autoscaler/strict-eks".into();
    let o = observed(
        &schedule,
        "strict-eks/app",
        View::Present(live(s(1, 3, 1), tags.clone())),
    );
    let mut stored = doc(Some(SleepState::Asleep), Some(saved()));
    stored.doc.attention = Some(Attention {
        concern: Concern::Drift,
        since: saturday(),
        reported: true,
    });
    let plan = plan_target(&o, stored, None, saturday());
    assert_eq!(
        steps(&plan),
        [
            Step::ParkAutoscalerTags {
                asg: "eks-app".into(),
                tags: vec![tags[0].clone()],
                marker: guard::mirror(s(1, 3, 2), friday_night()),
            },
            Step::ScaleToZero { from: s(1, 3, 1) },
            Step::Unflag {
                concern: Concern::Drift
            },
        ]
    );
}

#[test]
fn monday_restores_exactly_the_saved_size_and_tags_then_verifies() {
    let schedule = schedule();
    let marker = guard::mirror(s(1, 3, 2), friday_night());
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(0, 3, 0), vec![marker])),
    );
    let plan = plan_target(
        &o,
        doc(Some(SleepState::Asleep), Some(saved())),
        None,
        monday_morning(),
    );
    assert_eq!(
        steps(&plan),
        [
            Step::RestoreScaling {
                from: s(0, 3, 0),
                to: s(1, 3, 2)
            },
            Step::RestoreAutoscalerTags {
                asg: "eks-app".into(),
                tags: discovery()
            },
            Step::VerifyRestore(Expected {
                scaling: s(1, 3, 2),
                asg: Some("eks-app".into()),
                autoscaler_tags: discovery()
            }),
        ]
    );
}

#[test]
fn a_restore_already_in_place_is_only_verified() {
    let schedule = schedule();
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(1, 3, 2), discovery())),
    );
    let plan = plan_target(
        &o,
        doc(Some(SleepState::Asleep), Some(saved())),
        None,
        monday_morning(),
    );
    assert!(
        matches!(steps(&plan)[..], [Step::VerifyRestore(_)]),
        "{:?}",
        plan.actions
    );
}

#[test]
fn an_override_is_recorded_first_and_the_plan_already_follows_it() {
    let schedule = schedule();
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(0, 3, 0), vec![])),
    );
    let event = Override {
        target: "dev-eks/app".into(),
        state: OverrideState::Awake,
        until: (saturday() + Duration::hours(8)).fixed_offset(),
    };
    let plan = plan_target(
        &o,
        doc(Some(SleepState::Asleep), Some(saved())),
        Some(&event),
        saturday(),
    );
    let got = steps(&plan);
    assert_eq!(
        got[0],
        Step::RecordOverride {
            state: SleepState::Awake,
            until: saturday() + Duration::hours(8)
        }
    );
    assert!(matches!(got[1], Step::RestoreScaling { to, .. } if to == s(1, 3, 2)));
    assert!(matches!(got.last(), Some(Step::VerifyRestore(_))));
}

#[test]
fn when_the_override_ends_the_schedule_applies_again() {
    let schedule = schedule();
    let o = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(1, 3, 2), vec![])),
    );
    let mut stored = doc(Some(SleepState::Awake), None);
    stored.doc.override_ = Some(HeldOverride {
        state: SleepState::Awake,
        until: saturday() + Duration::hours(8),
        set_at: saturday(),
    });
    let during = plan_target(&o, stored.clone(), None, saturday() + Duration::hours(7));
    assert!(during.actions.is_empty(), "{:?}", during.actions);
    let after = plan_target(&o, stored, None, saturday() + Duration::hours(8));
    assert!(matches!(steps(&after)[0], Step::SaveScaling { scaling, .. } if scaling == s(1, 3, 2)));
    assert!(steps(&after).contains(&Step::ScaleToZero { from: s(1, 3, 2) }));
}

#[test]
fn skip_tag_busy_and_unreadable_targets_get_notes_only() {
    let schedule = schedule();
    let fresh = || doc(Some(SleepState::Awake), None);
    let mut skipped = live(s(1, 3, 2), discovery());
    skipped.skip = Skip::Until(saturday());
    let mut garbled = live(s(1, 3, 2), discovery());
    garbled.skip = Skip::Unreadable("soon".into());
    let mut busy = live(s(1, 3, 2), discovery());
    busy.busy = Some("node group status is UPDATING".into());
    let cases = [
        (
            View::Present(skipped),
            "offpeak:skip-until holds until 2026-11-28T01:00:00Z",
        ),
        (View::Present(garbled), "not an RFC 3339 instant"),
        (
            View::Present(busy),
            "waiting: node group status is UPDATING",
        ),
        (
            View::Unreadable("describe failed".into()),
            "not observed: describe failed",
        ),
    ];
    for (view, needle) in cases {
        let plan = plan_target(
            &observed(&schedule, "dev-eks/app", view),
            fresh(),
            None,
            friday_night(),
        );
        assert!(plan.actions.is_empty(), "{needle}: {:?}", plan.actions);
        assert!(plan.notes[0].contains(needle), "{:?}", plan.notes);
    }
}

#[test]
fn a_missing_target_is_flagged_and_notified_once_then_cleared_when_back() {
    let schedule = schedule();
    let missing = View::Missing {
        what: "node group app of eks cluster dev-eks does not exist".into(),
    };
    let o = observed(&schedule, "dev-eks/app", missing);
    let first = plan_target(&o, Stored::default(), None, friday_night());
    assert_eq!(
        steps(&first),
        [Step::Flag {
            concern: Concern::Missing,
            since: friday_night(),
            report: true
        }]
    );
    let mut flagged = Stored::default();
    flagged.doc.attention = Some(Attention {
        concern: Concern::Missing,
        since: friday_night(),
        reported: true,
    });
    assert!(
        plan_target(&o, flagged.clone(), None, saturday())
            .actions
            .is_empty()
    );

    flagged.doc.desired = Some(SleepState::Asleep);
    let back = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(0, 3, 0), vec![])),
    );
    assert_eq!(
        steps(&plan_target(&back, flagged, None, saturday())),
        [Step::Unflag {
            concern: Concern::Missing
        }]
    );
}

#[test]
fn the_first_tick_records_the_state_and_a_group_at_zero_by_hand_is_drift() {
    let schedule = schedule();
    let up = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(1, 3, 2), vec![])),
    );
    let down = observed(
        &schedule,
        "dev-eks/app",
        View::Present(live(s(0, 3, 0), vec![])),
    );
    let commit = Step::CommitDesired {
        state: SleepState::Awake,
    };
    assert_eq!(
        steps(&plan_target(
            &up,
            Stored::default(),
            None,
            saturday() - Duration::days(2)
        )),
        std::slice::from_ref(&commit)
    );
    let plan = plan_target(
        &down,
        Stored::default(),
        None,
        saturday() - Duration::days(2),
    );
    assert_eq!(steps(&plan)[0], commit);
    assert!(matches!(
        steps(&plan)[1],
        Step::Flag {
            concern: Concern::Drift,
            report: false,
            ..
        }
    ));
}

#[test]
fn actions_print_one_line_and_serialise_flat() {
    let action = Action {
        target: "dev-eks/app".into(),
        resource: Resource::Nodegroup {
            cluster: "dev-eks".into(),
            nodegroup: "app".into(),
        },
        step: Step::ScaleToZero { from: s(1, 3, 2) },
    };
    assert_eq!(
        action.to_string(),
        "dev-eks/app: scale node group app of cluster dev-eks to zero \
         (min 1 / max 3 / desired 2 -> min 0 / max 3 / desired 0)"
    );
    assert_eq!(
        serde_json::to_value(&action).unwrap(),
        json!({
            "target": "dev-eks/app",
            "resource": {"kind": "nodegroup", "cluster": "dev-eks", "nodegroup": "app"},
            "step": "scale_to_zero",
            "from": {"min": 1, "max": 3, "desired": 2}
        })
    );
}
