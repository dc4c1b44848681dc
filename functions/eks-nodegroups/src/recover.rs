//! Where a target's pre-sleep state comes from (pure): the state table's `saved`, else the
//! `offpeak:asleep` marker offpeak mirrors on the group's Auto Scaling group ([`crate::marker`]).
//!
//! Guarantees:
//! - The saved state wins whenever there is one.
//! - Without it, a group that carries the marker is one offpeak put to sleep and has not woken
//!   (the marker is put before the group is resized and removed only by a wake): its pre-sleep
//!   state is read back from the marker ([`Baseline::Recovered`]) — never taken from the group as
//!   it is now, at zero — so a lost state item neither strands the group asleep nor wakes it to
//!   zeros.
//! - A marker that does not say which sizes to restore is [`Baseline::Lost`]: offpeak neither
//!   saves nor restores sizes for the group and keeps the marker; the caller tells a person what
//!   to set.
//!
//! Assumption: the marker lives on the group's Auto Scaling group; a node group whose Auto Scaling
//! group can't be found has no marker, so its saved state can only come from the state table.

use chrono::{DateTime, Utc};

use crate::guard::MIRROR_KEY;
use crate::marker;
use crate::observe::Live;
use crate::record::{Saved, TargetDoc};

/// What a target would be put back to.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    /// The state table's saved pre-sleep state.
    Saved(Saved),
    /// Read back from the marker, the state table having lost it; `notes` say so.
    Recovered { saved: Saved, notes: Vec<String> },
    /// The group carries the marker but it can't be read; `note` says what a person must do.
    Lost { note: String },
    /// Nothing saved and no marker: offpeak holds nothing for the group.
    Unknown,
}

/// Why a [`Baseline`] gives a wake nothing to restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrestorable {
    /// [`Baseline::Lost`]: the sizes must come from a person.
    Lost,
    /// [`Baseline::Unknown`]: offpeak holds nothing for the group.
    Unknown,
}

impl Baseline {
    /// What a wake restores; the baseline's notes (why it was recovered, or what a person must do
    /// when it is lost) are added to `notes`.
    pub fn restorable(self, notes: &mut Vec<String>) -> Result<Saved, Unrestorable> {
        match self {
            Baseline::Saved(saved) => Ok(saved),
            Baseline::Recovered { saved, notes: why } => {
                notes.extend(why);
                Ok(saved)
            }
            Baseline::Lost { note } => {
                notes.push(note);
                Err(Unrestorable::Lost)
            }
            Baseline::Unknown => Err(Unrestorable::Unknown),
        }
    }
}

/// The baseline of a live target with document `doc`; `clock` stands in for a marker without
/// its `since`.
pub fn baseline(doc: &TargetDoc, live: &Live, cluster: &str, clock: DateTime<Utc>) -> Baseline {
    if let Some(saved) = &doc.saved {
        return Baseline::Saved(saved.clone());
    }
    let Some(value) = live.asg.as_ref().and_then(|g| g.tag(MIRROR_KEY)) else {
        return Baseline::Unknown;
    };
    let asg = live.asg_name.clone().unwrap_or_default();
    match marker::parse(value) {
        Some(mirrored) => {
            let mut notes = vec![format!(
                "its saved state is not in the state table: recovered {} from tag {MIRROR_KEY} of auto scaling group {asg}",
                mirrored.scaling
            )];
            if mirrored.tags.is_none() {
                notes.push(format!(
                    "tag {MIRROR_KEY} does not carry the cluster-autoscaler discovery tags: once it is awake, put back {} on auto scaling group {asg} if the cluster autoscaler should manage it",
                    marker::discovery_keys(if cluster.is_empty() { "<cluster>" } else { cluster })
                ));
            }
            let saved = Saved {
                scaling: mirrored.scaling,
                asg: live.asg_name.clone(),
                autoscaler_tags: mirrored.tags.unwrap_or_default(),
                at: mirrored.since.unwrap_or(clock),
            };
            Baseline::Recovered { saved, notes }
        }
        None => Baseline::Lost {
            note: lost_note(&asg, live),
        },
    }
}

fn lost_note(asg: &str, live: &Live) -> String {
    format!(
        "offpeak put it to sleep (tag {MIRROR_KEY} on auto scaling group {asg}), but its saved sizes are gone from the state table and the tag does not say them: \
         left as it is ({}) with the tag kept, since waking it would leave it at zero. \
         Set the tag to `restores min=<min> max=<max> desired=<desired>` with the sizes it should wake to (max is {} now) and the next tick restores them; \
         or size it yourself and delete the tag",
        live.scaling, live.scaling.max
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AsgView;
    use crate::model::AsgTag;
    use crate::skip::Skip;
    use crate::testing::{friday_night as since, s, saturday as clock};

    fn asleep_with(tags: Vec<AsgTag>) -> Live {
        Live {
            scaling: s(0, 3, 0),
            busy: None,
            skip: Skip::No,
            asg_name: Some("eks-app".into()),
            asg: Some(AsgView {
                name: "eks-app".into(),
                scaling: s(0, 3, 0),
                status: None,
                tags,
            }),
        }
    }

    fn discovery() -> Vec<AsgTag> {
        vec![AsgTag::new(
            "k8s.io/cluster-autoscaler/enabled",
            "true",
            true,
        )]
    }

    #[test]
    fn the_saved_state_wins() {
        let saved = Saved {
            scaling: s(1, 3, 2),
            asg: Some("eks-app".into()),
            autoscaler_tags: discovery(),
            at: since(),
        };
        let doc = TargetDoc {
            saved: Some(saved.clone()),
            ..TargetDoc::default()
        };
        let marker = marker::encode(s(9, 9, 9), since(), &[]);
        let got = baseline(&doc, &asleep_with(vec![marker]), "dev-eks", clock());
        assert_eq!(got, Baseline::Saved(saved));
    }

    #[test]
    fn without_it_the_marker_gives_back_the_exact_pre_sleep_state() {
        let marker = marker::encode(s(1, 3, 2), since(), &discovery());
        let got = baseline(
            &TargetDoc::default(),
            &asleep_with(vec![marker]),
            "dev-eks",
            clock(),
        );
        let Baseline::Recovered { saved, notes } = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            saved,
            Saved {
                scaling: s(1, 3, 2),
                asg: Some("eks-app".into()),
                autoscaler_tags: discovery(),
                at: since(),
            }
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn a_marker_without_sizes_is_lost_and_no_marker_is_nothing_held() {
        let garbled = AsgTag::new(MIRROR_KEY, "asleep, ask Ken", false);
        let got = baseline(
            &TargetDoc::default(),
            &asleep_with(vec![garbled]),
            "dev-eks",
            clock(),
        );
        let Baseline::Lost { note } = got else {
            panic!("{got:?}")
        };
        assert!(note.contains("auto scaling group eks-app"), "{note}");
        assert!(note.contains("restores min=<min>"), "{note}");
        assert!(note.contains("max is 3 now"), "{note}");
        let unmarked = baseline(
            &TargetDoc::default(),
            &asleep_with(vec![]),
            "dev-eks",
            clock(),
        );
        assert_eq!(unmarked, Baseline::Unknown);
    }
}
