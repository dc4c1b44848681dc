//! Table-like tests of the pure planner: one observed target, one stored document, one instant.

use std::sync::LazyLock;

use offpeak_shared::config::Schedule;
use offpeak_shared::event::{Override, OverrideState};
use serde_json::json;

use super::*;
use crate::aws::AsgView;
use crate::record::{Attention, Saved};
use crate::targets;
use crate::testing::{self, DEV_APP, friday_night, monday_morning, s, saturday};

/// `DEV_APP`, and the same node group of a cluster whose schedule is enforced.
static SCHEDULE: LazyLock<Schedule> = LazyLock::new(|| {
    testing::schedule(&format!(
        "{DEV_APP}  - cluster: strict-eks
    nodegroups: [app]
    enforce: true
    sleep: [{{from: fri 22:00, to: mon 07:30}}]
"
    ))
});

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

fn observed(id: &str, view: View) -> Observed<'static> {
    Observed {
        unit: targets::resolve(&SCHEDULE, id).unwrap(),
        view,
    }
}

/// `dev-eks/app`, present as `live` shows it.
fn dev_app(live: Live) -> Observed<'static> {
    observed("dev-eks/app", View::Present(live))
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

/// Saving what [`saved`] holds.
fn save_saved() -> Step {
    let Saved {
        scaling,
        asg,
        autoscaler_tags,
        at,
    } = saved();
    Step::SaveScaling {
        scaling,
        asg,
        autoscaler_tags,
        at,
    }
}

/// Putting back what [`saved`] holds on a group at `from`, then checking it.
fn restore_saved(from: Scaling) -> [Step; 3] {
    let Saved {
        scaling,
        asg,
        autoscaler_tags,
        ..
    } = saved();
    [
        Step::RestoreScaling { from, to: scaling },
        Step::RestoreAutoscalerTags {
            asg: "eks-app".into(),
            tags: autoscaler_tags.clone(),
        },
        Step::VerifyRestore(Expected {
            scaling,
            asg,
            autoscaler_tags,
        }),
    ]
}

/// `stored`, held awake by an override set at `set_at` until `until`.
fn held_awake(mut stored: Stored, set_at: DateTime<Utc>, until: DateTime<Utc>) -> Stored {
    stored.doc.override_ = Some(HeldOverride {
        state: SleepState::Awake,
        until,
        set_at,
        cleared: false,
    });
    stored
}

/// An override of `dev-eks/app` as an invocation event gives it.
fn event(state: OverrideState, until: Option<DateTime<Utc>>) -> Override {
    Override {
        target: "dev-eks/app".into(),
        state,
        until: until.map(|u| u.fixed_offset()),
        for_: None,
    }
}

/// Plans at `now`, with no replay (`at` = the clock).
fn plan_at(
    observed: &Observed<'_>,
    stored: Stored,
    event_override: Option<&Override>,
    now: DateTime<Utc>,
) -> TargetPlan {
    plan_target(observed, stored, event_override, Instants::same(now))
}

fn steps(plan: &TargetPlan) -> Vec<Step> {
    plan.actions.iter().map(|a| a.step.clone()).collect()
}

#[test]
fn friday_night_saves_then_parks_the_guard_then_scales_to_zero() {
    let o = dev_app(live(s(1, 3, 2), discovery()));
    let plan = plan_at(&o, doc(Some(SleepState::Awake), None), None, friday_night());
    assert_eq!(
        steps(&plan),
        [
            save_saved(),
            Step::ParkAutoscalerTags {
                asg: "eks-app".into(),
                tags: discovery(),
                marker: marker::encode(s(1, 3, 2), friday_night(), &discovery()),
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
    let marker = marker::encode(s(1, 3, 2), friday_night(), &discovery());
    let o = dev_app(live(s(0, 3, 0), vec![marker]));
    let plan = plan_at(
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
    let o = dev_app(live(s(1, 3, 1), vec![]));
    let asleep = || doc(Some(SleepState::Asleep), Some(saved()));

    let first = plan_at(&o, asleep(), None, saturday());
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
        steps(&plan_at(&o, flagged.clone(), None, later)),
        [Step::Flag {
            concern: Concern::Drift,
            since: saturday(),
            report: true
        }]
    );
    flagged.doc.attention.as_mut().unwrap().reported = true;
    assert!(plan_at(&o, flagged, None, later).actions.is_empty());
}

#[test]
fn enforce_puts_it_back_to_sleep_without_touching_the_saved_scaling() {
    let mut tags = discovery();
    tags[0].key = "k8s.io/cluster-autoscaler/strict-eks".into();
    let o = observed(
        "strict-eks/app",
        View::Present(live(s(1, 3, 1), tags.clone())),
    );
    let mut stored = doc(Some(SleepState::Asleep), Some(saved()));
    stored.doc.attention = Some(Attention {
        concern: Concern::Drift,
        since: saturday(),
        reported: true,
    });
    let plan = plan_at(&o, stored, None, saturday());
    assert_eq!(
        steps(&plan),
        [
            Step::ParkAutoscalerTags {
                asg: "eks-app".into(),
                tags: vec![tags[0].clone()],
                marker: marker::encode(
                    s(1, 3, 2),
                    friday_night(),
                    &[discovery(), vec![tags[0].clone()]].concat()
                ),
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
    let marker = marker::encode(s(1, 3, 2), friday_night(), &discovery());
    let cases = [
        (
            "state kept",
            live(s(0, 3, 0), vec![marker.clone()]),
            doc(Some(SleepState::Asleep), Some(saved())),
        ),
        (
            "state lost: the marker says what to restore",
            marked(s(0, 3, 0), &marker.value),
            Stored::default(),
        ),
    ];
    for (case, group, stored) in cases {
        // GIVEN a sleeping group, with its state or only its marker
        let o = dev_app(group);

        // WHEN Monday morning plans it
        let plan = plan_at(&o, stored, None, monday_morning());

        // THEN it is restored exactly, its tags put back and the marker removed, then verified
        assert_eq!(steps(&plan), restore_saved(s(0, 3, 0)), "{case}");
    }
}

#[test]
fn a_restore_already_in_place_is_only_verified() {
    let o = dev_app(live(s(1, 3, 2), discovery()));
    let plan = plan_at(
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
    let o = dev_app(live(s(0, 3, 0), vec![]));
    let event = event(OverrideState::Awake, Some(saturday() + Duration::hours(8)));
    let plan = plan_at(
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
    let o = dev_app(live(s(1, 3, 2), vec![]));
    let stored = held_awake(
        doc(Some(SleepState::Awake), None),
        saturday(),
        saturday() + Duration::hours(8),
    );
    let during = plan_at(&o, stored.clone(), None, saturday() + Duration::hours(7));
    assert!(during.actions.is_empty(), "{:?}", during.actions);
    let after = plan_at(&o, stored, None, saturday() + Duration::hours(8));
    assert_eq!(
        steps(&after)[0],
        Step::EndOverride {
            state: SleepState::Awake,
            until: saturday() + Duration::hours(8),
            cleared: false,
        },
        "removed, and announced, first"
    );
    assert!(matches!(steps(&after)[1], Step::SaveScaling { scaling, .. } if scaling == s(1, 3, 2)));
    assert!(steps(&after).contains(&Step::ScaleToZero { from: s(1, 3, 2) }));
}

#[test]
fn an_ended_override_is_removed_even_when_the_schedule_wants_the_same() {
    // GIVEN an awake group whose "awake" override ended on Monday, when the schedule wants it awake
    let o = dev_app(live(s(1, 3, 2), vec![]));
    let stored = held_awake(
        doc(Some(SleepState::Awake), None),
        saturday(),
        monday_morning() + Duration::hours(1),
    );

    // WHEN the first tick after its end plans it
    let plan = plan_at(&o, stored, None, monday_morning() + Duration::hours(2));

    // THEN it is only removed (and announced): nothing else changes
    assert_eq!(
        steps(&plan),
        [Step::EndOverride {
            state: SleepState::Awake,
            until: monday_morning() + Duration::hours(1),
            cleared: false,
        }]
    );
    assert_eq!(
        plan.actions[0].to_string(),
        "dev-eks/app: end the override (awake, ended at 2026-11-29T23:30:00Z); the schedule applies again"
    );
}

#[test]
fn clear_in_an_event_ends_the_override_and_the_same_plan_follows_the_schedule() {
    // GIVEN a group held awake on Saturday by an override until the evening
    let o = dev_app(live(s(1, 3, 2), discovery()));
    let mut stored = held_awake(
        doc(Some(SleepState::Awake), Some(saved())),
        saturday(),
        saturday() + Duration::hours(8),
    );
    let clear = event(OverrideState::Clear, None);

    // WHEN an event clears it an hour later
    let clock = saturday() + Duration::hours(1);
    let plan = plan_at(&o, stored.clone(), Some(&clear), clock);

    // THEN it ends now, cleared, and the group goes back to sleep as the schedule says
    let got = steps(&plan);
    assert_eq!(
        got[0],
        Step::EndOverride {
            state: SleepState::Awake,
            until: clock,
            cleared: true,
        }
    );
    assert!(
        got.contains(&Step::ScaleToZero { from: s(1, 3, 2) }),
        "{got:?}"
    );

    // AND clearing a target without an override changes nothing and says so
    stored.doc.override_ = None;
    stored.doc.desired = Some(SleepState::Asleep);
    let asleep = dev_app(live(s(0, 3, 0), vec![]));
    let plan = plan_at(&asleep, stored, Some(&clear), clock);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("no override holds this target")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn skip_tag_busy_and_unreadable_targets_get_notes_only() {
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
        let plan = plan_at(
            &observed("dev-eks/app", view),
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
    let missing = View::Missing {
        what: "node group app of eks cluster dev-eks does not exist".into(),
    };
    let o = observed("dev-eks/app", missing);
    let first = plan_at(&o, Stored::default(), None, friday_night());
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
        plan_at(&o, flagged.clone(), None, saturday())
            .actions
            .is_empty()
    );

    flagged.doc.desired = Some(SleepState::Asleep);
    let back = dev_app(live(s(0, 3, 0), vec![]));
    assert_eq!(
        steps(&plan_at(&back, flagged, None, saturday())),
        [Step::Unflag {
            concern: Concern::Missing
        }]
    );
}

#[test]
fn the_first_tick_records_the_state_and_a_group_at_zero_by_hand_is_drift() {
    let up = dev_app(live(s(1, 3, 2), vec![]));
    let down = dev_app(live(s(0, 3, 0), vec![]));
    let commit = Step::CommitDesired {
        state: SleepState::Awake,
    };
    assert_eq!(
        steps(&plan_at(
            &up,
            Stored::default(),
            None,
            saturday() - Duration::days(2)
        )),
        std::slice::from_ref(&commit)
    );
    let plan = plan_at(
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

fn marked(scaling: Scaling, value: &str) -> Live {
    let mut l = live(scaling, vec![AsgTag::new(guard::MIRROR_KEY, value, false)]);
    l.asg.as_mut().unwrap().scaling = scaling;
    l
}

#[test]
fn every_sleep_marks_the_group_even_without_discovery_tags() {
    // GIVEN an awake group whose Auto Scaling group has no cluster-autoscaler tags
    let o = dev_app(live(s(1, 3, 2), vec![]));

    // WHEN Friday night is planned
    let plan = plan_at(&o, doc(Some(SleepState::Awake), None), None, friday_night());

    // THEN the marker mirroring the pre-sleep triple is put before the group is resized
    assert_eq!(
        steps(&plan)[1],
        Step::ParkAutoscalerTags {
            asg: "eks-app".into(),
            tags: vec![],
            marker: marker::encode(s(1, 3, 2), friday_night(), &[]),
        }
    );
    assert!(matches!(steps(&plan)[2], Step::ScaleToZero { .. }));
}

#[test]
fn with_its_state_lost_a_sleeping_group_saves_what_its_marker_says_never_zeros() {
    // GIVEN a group offpeak put to sleep, whose state item is gone
    let value = marker::encode(s(1, 3, 2), friday_night(), &discovery()).value;
    let o = dev_app(marked(s(0, 3, 0), &value));

    // WHEN a tick inside the sleep window plans it
    let plan = plan_at(&o, Stored::default(), None, saturday());

    // THEN the marker's triple, tags and instant are saved again, and nothing is resized
    assert_eq!(
        steps(&plan),
        [
            save_saved(),
            Step::CommitDesired {
                state: SleepState::Asleep
            },
        ]
    );
    assert!(plan.notes[0].contains("recovered"), "{:?}", plan.notes);
}

#[test]
fn an_unreadable_marker_is_neither_woken_to_zeros_nor_unmarked_and_is_reported_at_once() {
    // GIVEN a sleeping group, its state item gone and its marker overwritten by hand
    let o = dev_app(marked(s(0, 3, 0), "asleep, ask Ken"));

    for now in [saturday(), monday_morning()] {
        // WHEN a tick plans it, inside the window or after it
        let plan = plan_at(&o, Stored::default(), None, now);

        // THEN nothing is saved, resized or untagged, and the loss is flagged and notified now
        assert_eq!(
            steps(&plan),
            [Step::Flag {
                concern: Concern::LostState,
                since: now,
                report: true
            }]
        );
        assert!(
            plan.notes[0].contains("restores min=<min>"),
            "{:?}",
            plan.notes
        );
        assert_eq!(
            plan.seen.as_ref().map(|s| s.scaling),
            Some(s(0, 3, 0)),
            "the notification can name the max to keep"
        );
    }
}

#[test]
fn the_schedule_is_read_at_at_and_everything_else_at_the_clock() {
    // GIVEN an awake group held awake by an override that ends an hour after the clock
    let o = dev_app(live(s(1, 3, 2), discovery()));
    let clock = friday_night() - Duration::hours(2);
    let held = held_awake(
        doc(Some(SleepState::Awake), None),
        clock,
        clock + Duration::hours(1),
    );
    let replay = Instants {
        at: friday_night() + Duration::hours(2),
        clock,
    };

    // WHEN a replay of Friday night (after the override's end) plans it
    let plan = plan_target(&o, held.clone(), None, replay);

    // THEN the override still holds (it has not ended by the clock): nothing to do
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);

    // WHEN the same replay plans it without the override
    let plan = plan_target(&o, doc(Some(SleepState::Awake), None), None, replay);

    // THEN the schedule at `at` puts it to sleep, and the saved instant is the clock's
    assert!(
        matches!(steps(&plan)[0], Step::SaveScaling { at, .. } if at == clock),
        "{:?}",
        plan.actions
    );
    assert_eq!(plan.next_change, Some(monday_morning()));
}
