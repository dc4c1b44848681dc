//! The state document offpeak keeps for each target: one item of the state table, keyed by the
//! target id (`dev-eks/app`, `dev-legacy`).
//!
//! ```json
//! {"desired": "asleep",
//!  "saved": {"scaling": {"min": 1, "max": 3, "desired": 2}, "asg": "eks-app-1234",
//!            "autoscaler_tags": [{"key": "k8s.io/cluster-autoscaler/enabled", "value": "true", "propagate_at_launch": true}],
//!            "at": "2026-11-27T13:00:00Z"},
//!  "override": {"state": "awake", "until": "2026-11-28T09:00:00Z", "set_at": "2026-11-28T01:00:00Z"},
//!  "attention": {"concern": "drift", "since": "2026-11-28T01:10:00Z", "reported": false},
//!  "resource": {"kind": "nodegroup", "cluster": "dev-eks", "nodegroup": "app"}}
//! ```
//!
//! Guarantees:
//! - Every write is conditional on the version that was read ([`write()`]): a concurrent writer makes
//!   it a [`TickError::StateConflict`], never a lost update. So `saved` is written once per sleep and
//!   never overwritten while asleep: a tick writes it only when the document it read had none.
//! - Unknown fields are ignored when reading (a newer offpeak may add some). An override that has
//!   ended (its `until` passed, or `clear` set it to the clock) stays in the document until a
//!   tick's `end_override` step removes it and announces its end: no other write drops it, so no
//!   end goes unannounced.
//! - A document is deleted only conditionally on the version read ([`delete()`]), once the target
//!   has left the schedule and is back at its baseline.

use chrono::{DateTime, Utc};
use offpeak_shared::state::{DeleteOutcome, PutOutcome, Record, StateError, StateStore};
use serde::{Deserialize, Serialize};

use crate::error::TickError;
use crate::model::{AsgTag, Resource, Scaling, SleepState};

/// What offpeak remembers about one target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetDoc {
    /// The state offpeak last converged the target to (the schedule's, or an override's). A tick
    /// acts when this differs from what is desired now: that is a transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<SleepState>,
    /// What was there before offpeak put the target to sleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<Saved>,
    /// A person's "keep it awake (or asleep) until then".
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<HeldOverride>,
    /// A problem already seen (and maybe notified), so it is notified once, not every tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<Attention>,
    /// The resource the target stands for, so it can still be found and put back once the
    /// schedule no longer names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
}

/// The pre-sleep state, restored exactly on wake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub scaling: Scaling,
    /// The Auto Scaling group whose cluster-autoscaler discovery tags were removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asg: Option<String>,
    /// Those tags, exactly as they were.
    #[serde(default)]
    pub autoscaler_tags: Vec<AsgTag>,
    /// When the target was put to sleep.
    pub at: DateTime<Utc>,
}

/// An override as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOverride {
    pub state: SleepState,
    pub until: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
    /// Ended early by `clear` (then `until` is when).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleared: bool,
}

impl HeldOverride {
    /// True strictly before `until`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

/// A problem with a target that a person should hear about once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attention {
    pub concern: Concern,
    pub since: DateTime<Utc>,
    pub reported: bool,
}

/// The kinds of problem tracked in [`Attention`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concern {
    /// Actual ≠ desired and offpeak is not converging (a person's change inside a window).
    Drift,
    /// The node group, cluster or Auto Scaling group named in the schedule does not exist.
    Missing,
    /// offpeak put it to sleep, its saved state is gone, and its marker can't be read: only a
    /// person can say which sizes to wake it to.
    LostState,
    /// AWS refuses offpeak's role access to it (`AccessDenied`).
    Denied,
}

impl Concern {
    /// True when the target is not as it should be and stays so until someone acts: counted as
    /// drifting (the `Drift` metric and its alarm). A missing resource is not: there is nothing
    /// to be wrong.
    pub fn is_drift(self) -> bool {
        match self {
            Concern::Drift | Concern::LostState | Concern::Denied => true,
            Concern::Missing => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Concern::Drift => "drift",
            Concern::Missing => "missing",
            Concern::LostState => "lost_state",
            Concern::Denied => "denied",
        }
    }
}

impl TargetDoc {
    /// The override in force at `now`, if any.
    pub fn active_override(&self, now: DateTime<Utc>) -> Option<&HeldOverride> {
        self.override_.as_ref().filter(|o| o.is_active(now))
    }
}

/// A target's document and the version it was read at (`None`: no document yet).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    pub doc: TargetDoc,
    pub version: Option<u64>,
}

impl Stored {
    /// Decodes a record read from the state store (`None`: the target has no document yet).
    pub fn from_record(record: Option<&Record>) -> Result<Self, StateError> {
        match record {
            None => Ok(Self::default()),
            Some(r) => Ok(Self {
                doc: r.decode()?,
                version: Some(r.version),
            }),
        }
    }
}

/// Reads and decodes the target's document (no document yet: the default, with no version).
pub async fn read<S: StateStore>(store: &S, target: &str) -> Result<Stored, TickError> {
    let records = store
        .get_many(&[target])
        .await
        .map_err(|source| TickError::ReadState { count: 1, source })?;
    Stored::from_record(records.get(target)).map_err(|source| TickError::DecodeState {
        target: target.to_owned(),
        source,
    })
}

/// Writes `stored.doc` if the stored version is still `stored.version`, then advances the version.
pub async fn write<S: StateStore>(
    store: &S,
    target: &str,
    stored: &mut Stored,
) -> Result<(), TickError> {
    let doc = serde_json::to_value(&stored.doc).expect("a target document always serialises");
    let outcome = store
        .put(target, &doc, stored.version)
        .await
        .map_err(|source| TickError::WriteState {
            target: target.to_owned(),
            source,
        })?;
    match outcome {
        PutOutcome::Written { version } => {
            stored.version = Some(version);
            Ok(())
        }
        PutOutcome::Conflict => Err(TickError::StateConflict {
            target: target.to_owned(),
        }),
    }
}

/// Marks the target's problem as not yet told (its notice failed to publish), so the next tick
/// sends it again. A target whose document changed meanwhile is left as it is: that tick decides.
pub async fn untell<S: StateStore>(store: &S, target: &str) -> Result<(), TickError> {
    let mut stored = read(store, target).await?;
    match stored.doc.attention.as_mut() {
        Some(a) if a.reported => a.reported = false,
        _ => return Ok(()),
    }
    match write(store, target, &mut stored).await {
        Err(TickError::StateConflict { .. }) => Ok(()),
        other => other,
    }
}

/// Deletes the target's document if it is still at `stored.version` (no document: nothing to do).
pub async fn delete<S: StateStore>(
    store: &S,
    target: &str,
    stored: &Stored,
) -> Result<(), TickError> {
    let Some(version) = stored.version else {
        return Ok(());
    };
    let outcome = store
        .delete(target, version)
        .await
        .map_err(|source| TickError::DeleteState {
            target: target.to_owned(),
            source,
        })?;
    match outcome {
        DeleteOutcome::Deleted => Ok(()),
        DeleteOutcome::Conflict => Err(TickError::StateConflict {
            target: target.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use offpeak_shared::state::MemoryStateStore;
    use serde_json::json;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, 0, 0).unwrap()
    }

    fn awake_from_1_until_9() -> HeldOverride {
        HeldOverride {
            state: SleepState::Awake,
            until: t(9),
            set_at: t(1),
            cleared: false,
        }
    }

    #[test]
    fn an_empty_document_reads_as_default_and_unknown_fields_are_ignored() {
        let record = Record {
            target: "dev-eks/app".into(),
            version: 4,
            doc: json!({"desired": "asleep", "from_the_future": 1}),
            lease: None,
        };
        let stored = Stored::from_record(Some(&record)).unwrap();
        assert_eq!(stored.version, Some(4));
        assert_eq!(stored.doc.desired, Some(SleepState::Asleep));
        assert_eq!(Stored::from_record(None).unwrap(), Stored::default());
    }

    #[test]
    fn the_override_is_active_strictly_before_until() {
        let doc = TargetDoc {
            override_: Some(awake_from_1_until_9()),
            ..TargetDoc::default()
        };
        assert!(doc.active_override(t(8)).is_some());
        assert!(doc.active_override(t(9)).is_none());
    }

    #[tokio::test]
    async fn writes_are_conditional_and_keep_ended_overrides_for_the_tick_that_announces_them() {
        let store = MemoryStateStore::new();
        let mut stored = Stored {
            doc: TargetDoc {
                desired: Some(SleepState::Awake),
                override_: Some(awake_from_1_until_9()),
                ..TargetDoc::default()
            },
            version: None,
        };
        write(&store, "dev-eks/app", &mut stored).await.unwrap();
        assert_eq!(stored.version, Some(1));
        let read = store.get_many(&["dev-eks/app"]).await.unwrap();
        let doc = Stored::from_record(read.get("dev-eks/app")).unwrap().doc;
        assert_eq!(
            doc.override_, stored.doc.override_,
            "not dropped by a write"
        );

        let mut stale = Stored {
            version: None,
            ..stored.clone()
        };
        let err = write(&store, "dev-eks/app", &mut stale).await.unwrap_err();
        assert!(matches!(err, TickError::StateConflict { .. }), "{err}");
    }
}
