//! The run's state document: what the state store holds for target `masked-refresh/<target>`.
//!
//! ```json
//! {"run": {"id": "20261127", "phase": "mask", "clone": "dev-aurora-offpeak-20261127", ...}}
//! ```
//!
//! Only the latest run is kept: once it is terminal (`done` or `failed`) a later tick in the same
//! window occurrence sees it and does nothing — unless it failed in a way a second attempt may
//! fix and enough of the occurrence is left ([`crate::desired`]); a tick in the next occurrence
//! starts a new one.
//! A person's override, while one is set, sits next to it under `"override"` ([`crate::overrides`]).
//! The document holds ids, phases, counts and instants — never a password (the clone's is derived
//! from `nonce`, see [`crate::secret`]) and never a value from the database.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::overrides::HeldOverride;

/// How long the promoted cluster and its instance get to become available after the swap, when
/// that ends later than the run's deadline: a fresh Aurora instance takes minutes to come up
/// after a rename, an hour is ample, and past it waiting longer only keeps development down.
pub const PROMOTE_BUDGET: TimeDelta = TimeDelta::minutes(60);
/// How long `cleanup` may go on before what is left is handed to a person and the run ends: a
/// delete that has not gone through in an hour waits on something only a person can fix, and a
/// run that never ends would block every later night.
pub const CLEANUP_BUDGET: TimeDelta = TimeDelta::minutes(60);
/// How long `rollback` may go on before a person is told it overran. It is not given up: until
/// it finishes, development's name may be on no cluster or on the unverified one, and only the
/// rollback puts the previous cluster back; so it keeps trying, and the run stays open.
pub const ROLLBACK_BUDGET: TimeDelta = TimeDelta::minutes(60);

/// The document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
    /// A person's `skip` or `refresh`, until it ends.
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<HeldOverride>,
}

/// One refresh run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The local date the window occurrence opened on, `YYYYMMDD`; for a run a `refresh`
    /// override started, the local date and time it started, `YYYYMMDDtHHMM`.
    pub id: String,
    pub phase: Phase,
    pub started_at: DateTime<Utc>,
    /// The window occurrence's close (or a `refresh` override's end): phases before the swap
    /// completes must finish by then.
    pub deadline: DateTime<Utc>,
    pub source: String,
    pub clone: String,
    pub instance: String,
    /// Random, per run: with the masking key it derives the clone's password.
    pub nonce: String,
    /// When the verified clone was sealed (masking bookkeeping dropped): the copy that becomes
    /// dev is made only once the clone's latest restorable time is past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_at: Option<DateTime<Utc>>,
    /// The swap as decided when it began; rollback undoes exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapPlan>,
    /// Set when the swap completed ([`Run::promote_deadline`]): `promote` and `retire` must be
    /// over by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_by: Option<DateTime<Utc>>,
    /// Set when `cleanup` began ([`CLEANUP_BUDGET`] later): what is left by then is a person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_by: Option<DateTime<Utc>>,
    /// Set when `rollback` began ([`ROLLBACK_BUDGET`] later): past it a person is told, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_by: Option<DateTime<Utc>>,
    /// Why the run failed, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What containing the clone's server did, once it is done (masking starts after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStats>,
    #[serde(default)]
    pub masking: MaskingStats,
    /// Previous dev clusters deleted by this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<String>,
    /// The final snapshots RDS took of the handed-over dev clusters this run deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub final_snapshots: Vec<String>,
    /// Problems that did not fail the run (a previous cluster that could not be deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether a failure notification about a stuck cleanup or rollback went out already.
    #[serde(default)]
    pub stuck_notified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Run {
    /// Run `id`, begun at `started_at` in its first phase with nothing done yet: it clones
    /// `source` as `clone` with the writer `instance`, and must swap by `deadline`.
    pub fn begin(
        id: String,
        started_at: DateTime<Utc>,
        deadline: DateTime<Utc>,
        source: String,
        clone: String,
        instance: String,
        nonce: String,
    ) -> Run {
        Run {
            id,
            phase: Phase::Clone,
            started_at,
            deadline,
            source,
            clone,
            instance,
            nonce,
            sealed_at: None,
            swap: None,
            promote_by: None,
            cleanup_by: None,
            rollback_by: None,
            failure: None,
            cluster: None,
            masking: MaskingStats::default(),
            retired: Vec::new(),
            final_snapshots: Vec::new(),
            warnings: Vec::new(),
            stuck_notified: false,
            finished_at: None,
        }
    }

    /// Moves to `phase` at `at`, recording the bound a phase starting its own clock needs
    /// (`promote_by`, `cleanup_by`, `rollback_by`, kept if already set) or when a terminal one finished.
    pub fn enter(&mut self, phase: Phase, at: DateTime<Utc>) {
        self.phase = phase;
        match phase {
            Phase::Promote if self.promote_by.is_none() => {
                self.promote_by = Some(self.promote_deadline(at));
            }
            Phase::Cleanup if self.cleanup_by.is_none() => {
                self.cleanup_by = Some(at + CLEANUP_BUDGET);
            }
            Phase::Rollback if self.rollback_by.is_none() => {
                self.rollback_by = Some(at + ROLLBACK_BUDGET);
            }
            p if p.is_terminal() => self.finished_at = Some(at),
            _ => {}
        }
    }

    /// When the phases after the swap must be over, for a swap completed at `swapped`: the
    /// run's deadline, or [`PROMOTE_BUDGET`] after the swap when that is later.
    pub fn promote_deadline(&self, swapped: DateTime<Utc>) -> DateTime<Utc> {
        self.deadline.max(swapped + PROMOTE_BUDGET)
    }

    /// The rollback is past [`Run::rollback_by`] at `now` and nobody was told yet.
    pub fn rollback_overran(&self, now: DateTime<Utc>) -> bool {
        self.phase == Phase::Rollback
            && !self.stuck_notified
            && self.rollback_by.is_some_and(|by| now >= by)
    }

    /// The instant the current phase must be over by; `None` for `rollback` (never given up:
    /// that could leave dev without its name; a step that fails, or the whole past
    /// [`Run::rollback_by`], is told to a person) and terminal phases.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        match self.phase {
            p if p.has_deadline() => Some(self.deadline),
            // A document written before `promote_by` existed: the budget from the deadline.
            Phase::Promote | Phase::Retire => Some(
                self.promote_by
                    .unwrap_or_else(|| self.promote_deadline(self.deadline)),
            ),
            Phase::Cleanup => self.cleanup_by,
            _ => None,
        }
    }
}

/// Where a run is. The order of the happy path is the order of the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Restore the fast clone into quarantine; wait until it is available.
    Clone,
    /// Replace the inherited master password (before any instance exists).
    Secure,
    /// Create the clone's instance; wait until it and the cluster are available.
    Instance,
    /// Contain the clone's whole server (once), then mask inside the clone, across as many
    /// ticks as it takes.
    Mask,
    /// The verification gate.
    Verify,
    /// Mark the clone verified and drop the masking bookkeeping from it.
    Seal,
    /// Clone the sealed clone (copy-on-write, latest restorable time) into quarantine, give the
    /// copy its instance, then delete the intermediate clone with its automated backups: the
    /// copy's restorable history starts after masking.
    Copy,
    /// Put the dev cluster aside and promote the copy under the dev name.
    Swap,
    /// Wait until the promoted cluster and its instance are available, by `promote_by`.
    Promote,
    /// Delete previous dev clusters beyond `keep_previous`, by `promote_by`.
    Retire,
    Done,
    /// A failure before the swap (or an abort), or after a rollback: delete the clone and its
    /// copy; dev is untouched. By `cleanup_by`; what is left then is handed to a person.
    Cleanup,
    /// A failure during the swap, or a promoted cluster not available by `promote_by` while
    /// the previous one is still aside: restore the previous dev cluster, then clean up.
    Rollback,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Clone => "clone",
            Phase::Secure => "secure",
            Phase::Instance => "instance",
            Phase::Mask => "mask",
            Phase::Verify => "verify",
            Phase::Seal => "seal",
            Phase::Copy => "copy",
            Phase::Swap => "swap",
            Phase::Promote => "promote",
            Phase::Retire => "retire",
            Phase::Done => "done",
            Phase::Cleanup => "cleanup",
            Phase::Rollback => "rollback",
            Phase::Failed => "failed",
        }
    }

    /// Nothing more happens in this run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Done | Phase::Failed)
    }

    /// The run failed or is undoing itself: development was not refreshed by this run.
    pub fn is_failure(self) -> bool {
        matches!(self, Phase::Cleanup | Phase::Rollback | Phase::Failed)
    }

    /// Before the swap began: a failure here deletes the clone (and its copy) and leaves dev
    /// untouched.
    pub fn is_pre_swap(self) -> bool {
        matches!(
            self,
            Phase::Clone
                | Phase::Secure
                | Phase::Instance
                | Phase::Mask
                | Phase::Verify
                | Phase::Seal
                | Phase::Copy
        )
    }

    /// Bound by the run's deadline (the window's close): every phase until the promoted cluster
    /// holds the dev name. `promote` and `retire` are bound by `promote_by` ([`Run::due`]).
    pub fn has_deadline(self) -> bool {
        self.is_pre_swap() || self == Phase::Swap
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The swap, decided once from what was observed when it began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapPlan {
    /// The dev cluster being replaced, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Aside>,
    /// The name the clone's instance takes (the previous writer's, so its endpoint stays).
    pub instance: String,
    /// The dev cluster being replaced had deletion protection on: the promoted one gets it too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deletion_protection: bool,
}

/// A dev cluster and its instances, renamed aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aside {
    pub cluster: String,
    /// `(dev name, aside name)` per instance.
    pub instances: Vec<(String, String)>,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The phase that failed.
    pub phase: Phase,
    /// `aws`, `masking`, `verification`, `deadline`, `preflight`, `state`.
    pub kind: String,
    /// The error chain: ids, codes and counts only.
    pub error: String,
    pub at: DateTime<Utc>,
}

/// The clone's server, contained: databases dropped (names), logins disabled and re-keyed
/// (counts: a login's name is nobody's business in a notification).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStats {
    pub dropped: Vec<String>,
    pub logins_disabled: u32,
    pub logins_rekeyed: u32,
}

/// Counts for the report and the final notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskingStats {
    /// Invocations that masked (more than one when masking resumed).
    pub invocations: u32,
    pub tables: u32,
    pub tables_masked: u32,
    pub tables_truncated: u32,
    pub rows: i64,
    pub chunks: u64,
    pub checks: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phases_serialise_as_their_names_and_partition_the_run() {
        assert_eq!(serde_json::to_value(Phase::Mask).unwrap(), json!("mask"));
        assert!(Phase::Seal.is_pre_swap() && !Phase::Swap.is_pre_swap());
        assert!(Phase::Copy.is_pre_swap() && Phase::Copy.has_deadline());
        assert!(Phase::Swap.has_deadline() && !Phase::Promote.has_deadline());
        assert!(Phase::Done.is_terminal() && Phase::Failed.is_terminal());
        assert!(!Phase::Cleanup.is_terminal() && !Phase::Rollback.has_deadline());
    }

    #[test]
    fn the_phases_after_the_swap_are_due_an_hour_after_it_or_at_the_deadline() {
        let mut run = crate::testing::run_in(Phase::Promote);
        let late = crate::testing::utc("2026-11-27T05:30:00Z");
        run.promote_by = Some(run.promote_deadline(late));
        assert_eq!(run.due(), Some(crate::testing::utc("2026-11-27T06:30:00Z")));
        let early = crate::testing::utc("2026-11-27T03:30:00Z");
        assert_eq!(run.promote_deadline(early), run.deadline);
        run.promote_by = None;
        assert_eq!(
            run.due(),
            Some(crate::testing::utc("2026-11-27T07:00:00Z")),
            "a document from before promote_by existed"
        );
        run.phase = Phase::Rollback;
        assert_eq!(run.due(), None);
        run.enter(Phase::Cleanup, late);
        assert_eq!(run.due(), Some(crate::testing::utc("2026-11-27T06:30:00Z")));
        run.enter(Phase::Failed, late);
        assert_eq!((run.due(), run.finished_at), (None, Some(late)));
        run.phase = Phase::Mask;
        assert_eq!(run.due(), Some(run.deadline));
    }

    #[test]
    fn an_empty_document_is_no_run() {
        let memory: Memory = serde_json::from_value(json!({})).unwrap();
        assert_eq!(memory, Memory::default());
    }
}
