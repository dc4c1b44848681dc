//! The refresh's state machine, as a pure function: given the run (from the state store) and what
//! a tick observed, the one next [`Step`].
//!
//! Every step is decided from observation, never from "what the last tick meant to do", so a
//! crashed, duplicated or late tick decides the same next step: a restore that already happened
//! is seen as the clone, a rename that already happened as the new name. The few effects RDS does
//! not show (a replaced password, masking progress) are recorded as phase changes right after
//! they succeed, and repeating them is harmless (the same derived password; masking resumes).
//!
//! Guards, checked here before any change is planned:
//! - the clone is only ever addressed when it carries this run's tags;
//! - the dev cluster is renamed aside only when it and every instance of it carry
//!   `offpeak:managed-by=offpeak`, and nothing is deleted but this run's clone or a cluster
//!   tagged `offpeak:role=previous` for this target ([`crate::names`]);
//! - production is only ever the source of the restore;
//! - nothing leaves quarantine (takes the dev name and groups) but this run's copy, only in
//!   [`Phase::Swap`], which is reached only through a passed verification ([`Phase::Verify`] →
//!   [`Phase::Seal`] → [`Phase::Copy`]);
//! - the copy is made only from this run's clone tagged `offpeak:masking=verified`, once the
//!   clone's latest restorable time is past the moment it was sealed, and the swap starts only
//!   once the intermediate clone is gone (deleted with its automated backups): dev's restorable
//!   history starts after masking, the clone's, which reaches back into production's data, does
//!   not survive it (docs/decisions.md, "No restorable point of dev predates masking");
//! - a cluster offpeak did not make (a handed-over dev cluster, put aside) is deleted only with
//!   a final snapshot, `<its id>-final` ([`names::final_snapshot`]); one it made (a masked copy)
//!   without;
//! - the swap starts only after the dev password secret was read and found to hold a password
//!   ([`Action::CheckPasswordSecret`], the last step of [`Phase::Copy`]): the swap's last call
//!   needs it, and a bad secret found then fails the run before anything is renamed;
//! - a promoted cluster replacing a dev cluster with deletion protection gets it too, before the
//!   run moves past [`Phase::Promote`];
//! - masking starts only once the clone's whole server was contained ([`Action::Contain`], the
//!   first step of [`Phase::Mask`], recorded in the run): no database the rules do not name,
//!   the ones they drop gone, production logins disabled.
//! - when the stack made offpeak's parameter groups (logging off), the clone of production is
//!   restored with offpeak's cluster group and its instance created with offpeak's instance
//!   group, so production's statement and audit logging never applies to unmasked data; the copy
//!   made after verification (what becomes dev) gets production's cluster group as observed, and
//!   its instance the engine's default, never offpeak's (docs/decisions.md, "What logging does
//!   the clone run with until it is verified?").
//!
//! Every phase that moves a run forward has a deadline ([`Run::due`]); past it the run fails with
//! kind `deadline`:
//! - phases before the swap completes are bound by the run's deadline — the window's close, or
//!   the end of the `refresh` override that started the run: the driver then cleans up, or rolls
//!   back a swap in progress;
//! - `promote` and `retire` by `promote_by`, set when the swap completed: the run's deadline, or
//!   [`crate::memory::PROMOTE_BUDGET`] after the swap when that is later. A promoted cluster or
//!   instance not available by then is rolled back to the previous dev cluster while that is still
//!   aside, or else left holding the dev name (it is a verified copy) and handed to a person
//!   ([`after_promote_failed`]); a retirement still going on is a warning. Either way the run ends,
//!   so the next night's run starts as usual;
//! - `cleanup` by `cleanup_by`, [`crate::memory::CLEANUP_BUDGET`] after it began: dev already
//!   serves the cluster it served before the run, and what is left of the run (quarantined,
//!   tagged with it) is handed to a person, so the run ends;
//! - `rollback` has none: giving it up could leave dev without its name. A step of it (or of
//!   cleanup) that fails is told to a person once and retried every tick.

use chrono::{DateTime, Utc};
use offpeak_shared::rds::Health;
use offpeak_shared::rds::status::AVAILABLE;

use crate::action::{Action, Database, Reason};
use crate::engine::Scope;
use crate::memory::{Aside, Phase, Run, SwapPlan};
use crate::names::{
    self, MASKING_KEY, MASKING_VERIFIED, Names, PHASE_KEY, REPLACED_BY_KEY, ROLE_DEV, ROLE_KEY,
    ROLE_PREVIOUS, managed, of_run,
};
use crate::observe::Observed;
use crate::rds::{CloneSpec, Cluster, Instance, InstanceSpec, Tag, tag};
use crate::settings::CloneParameterGroups;

/// The refresh's configuration, resolved for planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    pub source: String,
    pub target: String,
    /// Never empty: a clone is never made outside quarantine.
    pub quarantine: Vec<String>,
    pub dev_groups: Vec<String>,
    pub password_secret: String,
    pub instance_class: Option<String>,
    pub keep_previous: usize,
    /// `OFFPEAK_CLONE_DATABASE_URL` replaces the clone's endpoint for masking.
    pub database_override: bool,
    /// What the rules drop and keep on the clone's server (shown in plans and dry-runs).
    pub scope: Scope,
    /// offpeak's parameter groups (logging off) for the clone of production and its instance;
    /// the copy made after verification gets production's cluster group back.
    pub clone_parameter_groups: CloneParameterGroups,
}

/// What a tick does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Make this call; on success move to `then`, or observe again and decide anew.
    Act { action: Action, then: Option<Phase> },
    /// Move to another phase.
    Advance(Phase),
    /// Record the swap plan (the swap starts on the next step).
    BeginSwap(SwapPlan),
    /// Nothing to do until RDS catches up; the next tick looks again.
    Wait(String),
    /// The run cannot go on.
    Fail { kind: FailKind, error: String },
}

/// Why a run failed; the notification and the state document say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    Aws,
    Masking,
    Verification,
    Deadline,
    Preflight,
    Ownership,
}

impl FailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailKind::Aws => "aws",
            FailKind::Masking => "masking",
            FailKind::Verification => "verification",
            FailKind::Deadline => "deadline",
            FailKind::Preflight => "preflight",
            FailKind::Ownership => "ownership",
        }
    }
}

fn act(action: Action) -> Step {
    Step::Act { action, then: None }
}

fn act_then(action: Action, phase: Phase) -> Step {
    Step::Act {
        action,
        then: Some(phase),
    }
}

fn fail(kind: FailKind, error: impl Into<String>) -> Step {
    Step::Fail {
        kind,
        error: error.into(),
    }
}

fn wait(what: impl Into<String>) -> Step {
    Step::Wait(what.into())
}

/// A status from which a cluster or instance does not recover by waiting.
fn broken(status: &str) -> bool {
    Health::of(status) == Health::Broken
}

/// The next step of `run` at `now`.
pub fn next(cfg: &Refresh, run: &Run, obs: &Observed, now: DateTime<Utc>) -> Step {
    if let Some(due) = run.due().filter(|due| now >= *due) {
        return overdue(run, due);
    }
    let s = Ctx { cfg, run, obs };
    match run.phase {
        Phase::Clone => s.clone_step(),
        Phase::Secure => act_then(
            Action::ReplacePassword {
                cluster: run.clone.clone(),
            },
            Phase::Instance,
        ),
        Phase::Instance => s.instance_step(),
        Phase::Mask if run.cluster.is_none() => s.database_step(
            |cluster, database| Action::Contain {
                cluster,
                database,
                drop_databases: cfg.scope.drop_databases.clone(),
                keep_logins: cfg.scope.keep_logins.clone(),
            },
            None,
        ),
        Phase::Mask => s.database_step(
            |cluster, database| Action::Mask { cluster, database },
            Some(Phase::Verify),
        ),
        Phase::Verify => s.database_step(
            |cluster, database| Action::Verify { cluster, database },
            Some(Phase::Seal),
        ),
        Phase::Seal => s.seal_step(),
        Phase::Copy => s.copy_step(),
        Phase::Swap => s.swap_step(),
        Phase::Promote => s.promote_step(),
        Phase::Retire => s.retire_step(),
        Phase::Cleanup => s.cleanup_step(),
        Phase::Rollback => s.rollback_step(),
        Phase::Done | Phase::Failed => wait(format!("run {} is {}", run.id, run.phase)),
    }
}

/// The run's phase is past `due`.
fn overdue(run: &Run, due: DateTime<Utc>) -> Step {
    let (at, phase) = (due.to_rfc3339(), run.phase);
    let why = match phase {
        _ if phase.has_deadline() => format!(
            "the run's deadline passed at {at} (the window's close, or a refresh override's end) during phase {phase}"
        ),
        Phase::Cleanup => format!(
            "cleanup did not finish by {at} ({} minutes after it began)",
            crate::memory::CLEANUP_BUDGET.num_minutes()
        ),
        _ => format!(
            "the promoted cluster's deadline passed at {at} (the swap's end plus {} minutes, or the run's deadline if later) during phase {phase}",
            crate::memory::PROMOTE_BUDGET.num_minutes()
        ),
    };
    fail(FailKind::Deadline, why)
}

/// Where a run that failed in [`Phase::Promote`] goes: back to the previous dev cluster while it
/// is still aside ([`Phase::Rollback`]); otherwise it ends ([`Phase::Failed`]) with the promoted
/// cluster, a verified copy, keeping the dev name for a person to look at.
pub fn after_promote_failed(cfg: &Refresh, run: &Run, obs: &Observed) -> Phase {
    let aside = run.swap.as_ref().and_then(|s| s.previous.as_ref());
    let still_aside = aside
        .and_then(|a| obs.cluster(&a.cluster))
        .is_some_and(|c| {
            names::previous(&c.id, &c.tags, &cfg.target) && c.tag(REPLACED_BY_KEY) == Some(&run.id)
        });
    match still_aside {
        true => Phase::Rollback,
        false => Phase::Failed,
    }
}

struct Ctx<'a> {
    cfg: &'a Refresh,
    run: &'a Run,
    obs: &'a Observed,
}

impl Ctx<'_> {
    fn names(&self) -> Names<'_> {
        Names {
            target: &self.cfg.target,
            run: &self.run.id,
        }
    }

    fn ours(&self, tags: &[Tag]) -> bool {
        of_run(tags, &self.cfg.target, &self.run.id)
    }

    /// A resource under this run's name that the run did not create: the run fails, and the
    /// resource is left alone (cleanup deletes only what carries the run's tags).
    fn not_ours(&self, what: &str, id: &str) -> Step {
        fail(
            FailKind::Ownership,
            format!(
                "{what} {id} exists but was not created by run {}; it is left alone",
                self.run.id
            ),
        )
    }

    /// This run's clone under its clone name.
    fn clone_cluster(&self) -> Result<Option<&Cluster>, Box<Step>> {
        match self.obs.cluster(&self.run.clone) {
            Some(c) if !self.ours(&c.tags) => Err(Box::new(self.not_ours("cluster", &c.id))),
            found => Ok(found),
        }
    }

    /// This run's clone, which must still exist once restored.
    fn live_clone(&self) -> Result<&Cluster, Box<Step>> {
        self.clone_cluster()?.ok_or_else(|| {
            let gone = format!("clone {} disappeared", self.run.clone);
            Box::new(fail(FailKind::Aws, gone))
        })
    }

    fn clone_step(&self) -> Step {
        let clone = match self.clone_cluster() {
            Ok(c) => c,
            Err(step) => return *step,
        };
        match clone {
            None => match self.obs.cluster(&self.cfg.source) {
                Some(source) => act(Action::RestoreClone(self.clone_spec(source))),
                None => fail(
                    FailKind::Aws,
                    format!("source cluster {} not found", self.cfg.source),
                ),
            },
            Some(c) if c.status == AVAILABLE => Step::Advance(Phase::Secure),
            Some(c) if broken(&c.status) => {
                fail(FailKind::Aws, format!("clone {} is {}", c.id, c.status))
            }
            Some(c) => wait(format!("clone {} is {}", c.id, c.status)),
        }
    }

    /// Production's clone: offpeak's cluster parameter group when the stack has one (logging off
    /// until verification), else production's.
    fn clone_spec(&self, source: &Cluster) -> CloneSpec {
        let offpeaks = self.cfg.clone_parameter_groups.cluster.clone();
        CloneSpec {
            source: self.cfg.source.clone(),
            clone: self.run.clone.clone(),
            security_groups: self.cfg.quarantine.clone(),
            subnet_group: source.subnet_group.clone(),
            parameter_group: offpeaks.or_else(|| source.parameter_group.clone()),
            tags: names::clone_tags(&self.cfg.target, &self.cfg.source, &self.run.id),
        }
    }

    fn instance_step(&self) -> Step {
        let clone = match self.live_clone() {
            Ok(c) => c,
            Err(step) => return *step,
        };
        if clone.status != AVAILABLE {
            return wait(format!("clone {} is {}", clone.id, clone.status));
        }
        match self.obs.instance(&self.run.instance) {
            None => match self.instance_spec(clone) {
                Ok(spec) => act(Action::CreateInstance(spec)),
                Err(step) => *step,
            },
            Some(i) if !self.ours(&i.tags) => self.not_ours("instance", &i.id),
            Some(i) if i.status == AVAILABLE => Step::Advance(Phase::Mask),
            Some(i) if broken(&i.status) => {
                fail(FailKind::Aws, format!("instance {} is {}", i.id, i.status))
            }
            Some(i) => wait(format!("instance {} is {}", i.id, i.status)),
        }
    }

    fn instance_spec(&self, clone: &Cluster) -> Result<InstanceSpec, Box<Step>> {
        let writer_class = self
            .obs
            .cluster(&self.cfg.source)
            .and_then(Cluster::writer)
            .and_then(|w| self.obs.instance(w))
            .map(|i| i.class.clone());
        let Some(class) = self.cfg.instance_class.clone().or(writer_class) else {
            let why = "no instance class: set masked_refresh.instance_class (the source has no writer to copy it from)";
            return Err(Box::new(fail(FailKind::Preflight, why)));
        };
        Ok(InstanceSpec {
            cluster: clone.id.clone(),
            instance: self.run.instance.clone(),
            class,
            engine: clone.engine.clone(),
            parameter_group: self.cfg.clone_parameter_groups.instance.clone(),
            tags: names::clone_tags(&self.cfg.target, &self.cfg.source, &self.run.id),
        })
    }

    /// Contain, mask or verify: each needs the clone and its instance available.
    fn database_step(
        &self,
        action: impl Fn(String, Database) -> Action,
        then: Option<Phase>,
    ) -> Step {
        let clone = match self.live_clone() {
            Ok(c) => c,
            Err(step) => return *step,
        };
        let instance = self.obs.instance(&self.run.instance);
        match (clone.status.as_str(), instance.map(|i| i.status.as_str())) {
            (AVAILABLE, Some(AVAILABLE)) => Step::Act {
                action: action(clone.id.clone(), self.database(clone)),
                then,
            },
            (_, None) => fail(
                FailKind::Aws,
                format!("instance {} disappeared", self.run.instance),
            ),
            (cs, Some(is)) => wait(format!(
                "clone {} is {cs}, instance {} is {is}",
                clone.id, self.run.instance
            )),
        }
    }

    fn database(&self, clone: &Cluster) -> Database {
        let host = match self.cfg.database_override {
            true => crate::settings::CLONE_DATABASE_URL_ENV.to_owned(),
            false => clone.endpoint.clone().unwrap_or_default(),
        };
        Database {
            engine: clone.engine.clone(),
            host,
            port: clone.port,
            name: clone.database_name.clone(),
            user: clone.master_username.clone(),
            overridden: self.cfg.database_override,
        }
    }

    fn seal_step(&self) -> Step {
        let clone = match self.live_clone() {
            Ok(c) => c,
            Err(step) => return *step,
        };
        if clone.tag(MASKING_KEY) != Some(MASKING_VERIFIED) {
            let tags = vec![
                Tag::new(MASKING_KEY, MASKING_VERIFIED),
                Tag::new(PHASE_KEY, Phase::Seal.as_str()),
            ];
            return act(Action::Tag {
                resource: clone.id.clone(),
                arn: clone.arn.clone(),
                tags,
            });
        }
        let database = self.database(clone);
        act_then(
            Action::Forget {
                cluster: clone.id.clone(),
                database,
            },
            Phase::Copy,
        )
    }

    /// The copy of the sealed clone, its instance, then the intermediate clone deleted.
    fn copy_step(&self) -> Step {
        let copy_id = self.names().copy_cluster();
        match self.obs.cluster(&copy_id) {
            Some(c) if !self.ours(&c.tags) => self.not_ours("cluster", &c.id),
            None => self.make_copy(&copy_id),
            Some(c) if broken(&c.status) => {
                fail(FailKind::Aws, format!("copy {} is {}", c.id, c.status))
            }
            Some(c) if c.status != AVAILABLE => wait(format!("copy {} is {}", c.id, c.status)),
            Some(c) => self.copy_instance_step(c),
        }
    }

    /// The copy's instance; once it is available, the intermediate clone goes.
    fn copy_instance_step(&self, copy: &Cluster) -> Step {
        let copy_instance = self.names().copy_instance();
        match self.obs.instance(&copy_instance) {
            None => match self.instance_spec(copy) {
                // The copy is verified data: its instance names no group (the engine's
                // default, as dev's instances always had), never offpeak's.
                Ok(spec) => act(Action::CreateInstance(InstanceSpec {
                    instance: copy_instance,
                    parameter_group: None,
                    tags: names::copy_tags(&self.cfg.target, &self.cfg.source, &self.run.id),
                    ..spec
                })),
                Err(step) => *step,
            },
            Some(i) if !self.ours(&i.tags) => self.not_ours("instance", &i.id),
            Some(i) if broken(&i.status) => {
                fail(FailKind::Aws, format!("instance {} is {}", i.id, i.status))
            }
            Some(i) if i.status != AVAILABLE => wait(format!("instance {} is {}", i.id, i.status)),
            Some(_) => match self.clone_cluster() {
                Err(step) => *step,
                Ok(Some(clone)) => self
                    .delete(clone, Reason::Superseded)
                    .unwrap_or_else(|| wait(format!("clone {} is deleting", clone.id))),
                // The swap's last call needs the dev password: read it before the first rename,
                // so a secret that cannot be read fails the run with dev untouched.
                Ok(None) => act_then(
                    Action::CheckPasswordSecret {
                        password_secret: self.cfg.password_secret.clone(),
                    },
                    Phase::Swap,
                ),
            },
        }
    }

    /// Restores the copy from the clone: only this run's, only verified, only once a restore of
    /// it reflects the sealed state.
    fn make_copy(&self, copy_id: &str) -> Step {
        let clone = match self.live_clone() {
            Ok(c) => c,
            Err(step) => return *step,
        };
        if clone.tag(MASKING_KEY) != Some(MASKING_VERIFIED) {
            let why = format!(
                "clone {} is not tagged {MASKING_KEY}={MASKING_VERIFIED}; no copy is made of it",
                clone.id
            );
            return fail(FailKind::Verification, why);
        }
        let Some(sealed) = self.run.sealed_at else {
            let why = format!("run {} has no record of sealing its clone", self.run.id);
            return fail(FailKind::Verification, why);
        };
        if clone.status != AVAILABLE {
            return wait(format!("clone {} is {}", clone.id, clone.status));
        }
        // Verified data runs with the logging the team chose for production: production's cluster
        // parameter group as observed now, the clone's own (as restored) only if production is
        // not visible.
        let production_group = self
            .obs
            .cluster(&self.cfg.source)
            .and_then(|s| s.parameter_group.clone());
        match clone.latest_restorable_time {
            Some(latest) if latest > sealed => act(Action::CopyClone(CloneSpec {
                source: clone.id.clone(),
                clone: copy_id.to_owned(),
                security_groups: self.cfg.quarantine.clone(),
                subnet_group: clone.subnet_group.clone(),
                parameter_group: production_group.or_else(|| clone.parameter_group.clone()),
                tags: names::copy_tags(&self.cfg.target, &self.cfg.source, &self.run.id),
            })),
            latest => wait(format!(
                "the latest restorable time of clone {} ({}) is not yet past its sealing at {}",
                clone.id,
                latest.map_or_else(|| "not reported".to_owned(), |t| t.to_rfc3339()),
                sealed.to_rfc3339()
            )),
        }
    }

    fn swap_step(&self) -> Step {
        let Some(plan) = &self.run.swap else {
            return match self.swap_plan() {
                Ok(plan) => Step::BeginSwap(plan),
                Err(step) => *step,
            };
        };
        if let Some(step) = plan.previous.as_ref().and_then(|p| self.put_aside(p)) {
            return step;
        }
        self.promote_clone(plan)
    }

    /// Decides the swap from the dev cluster as it is now.
    fn swap_plan(&self) -> Result<SwapPlan, Box<Step>> {
        let target = &self.cfg.target;
        let Some(dev) = self.obs.cluster(target) else {
            return Ok(SwapPlan {
                previous: None,
                instance: format!("{target}-1"),
                deletion_protection: false,
            });
        };
        let instances = self.obs.instances_of(target);
        let foreign: Vec<&str> = std::iter::once((dev.id.as_str(), managed(&dev.tags)))
            .chain(instances.iter().map(|i| (i.id.as_str(), managed(&i.tags))))
            .filter(|(_, owned)| !owned)
            .map(|(id, _)| id)
            .collect();
        if !foreign.is_empty() {
            return Err(Box::new(fail(
                FailKind::Ownership,
                not_handed_over(&foreign),
            )));
        }
        let names = self.names();
        let aside = instances
            .iter()
            .enumerate()
            .map(|(n, i)| (i.id.clone(), names.aside_instance(n + 1)))
            .collect();
        let instance = instances
            .first()
            .map_or_else(|| format!("{target}-1"), |i| i.id.clone());
        Ok(SwapPlan {
            previous: Some(Aside {
                cluster: names.aside_cluster(),
                instances: aside,
            }),
            instance,
            deletion_protection: dev.deletion_protection,
        })
    }

    /// The previous dev cluster: tag aside, rename its instances, rename it. `None` once done.
    fn put_aside(&self, aside: &Aside) -> Option<Step> {
        let (target, run) = (&self.cfg.target, &self.run.id);
        for (from, to) in &aside.instances {
            match self.obs.instance(from) {
                Some(i) if self.ours(&i.tags) => {}
                Some(i) if i.tag(ROLE_KEY) != Some(ROLE_PREVIOUS) => {
                    let tags = names::aside_tags(target, run, from);
                    return Some(act(Action::Tag {
                        resource: i.id.clone(),
                        arn: i.arn.clone(),
                        tags,
                    }));
                }
                Some(_) => {
                    return Some(act(Action::RenameInstance {
                        from: from.clone(),
                        to: to.clone(),
                    }));
                }
                None => {}
            }
        }
        if let Some(dev) = self.obs.cluster(target).filter(|c| !self.ours(&c.tags)) {
            if dev.tag(ROLE_KEY) != Some(ROLE_PREVIOUS) || dev.tag(REPLACED_BY_KEY) != Some(run) {
                let tags = names::aside_tags(target, run, target);
                return Some(act(Action::Tag {
                    resource: dev.id.clone(),
                    arn: dev.arn.clone(),
                    tags,
                }));
            }
            let to = aside.cluster.clone();
            return Some(act(Action::RenameCluster {
                from: target.clone(),
                to,
                security_groups: None,
            }));
        }
        match self.obs.cluster(&aside.cluster) {
            Some(c) if c.status != AVAILABLE => Some(wait(format!("{} is {}", c.id, c.status))),
            _ => None,
        }
    }

    /// The copy takes the dev name, groups and password; then its instance the dev writer's name.
    fn promote_clone(&self, plan: &SwapPlan) -> Step {
        let target = &self.cfg.target;
        let at_dev = self.obs.cluster(target);
        let run_names = self.names();
        if let Some(clone) = self
            .obs
            .cluster(&run_names.copy_cluster())
            .filter(|c| self.ours(&c.tags))
        {
            if let Some(dev) = at_dev {
                return wait(format!(
                    "the dev name is still held by {} ({})",
                    dev.id, dev.status
                ));
            }
            return act(Action::Promote {
                from: clone.id.clone(),
                to: target.clone(),
                security_groups: self.cfg.dev_groups.clone(),
                password_secret: self.cfg.password_secret.clone(),
            });
        }
        if let Some(i) = self
            .obs
            .instance(&run_names.copy_instance())
            .filter(|i| self.ours(&i.tags))
        {
            if let Some(held) = self.obs.instance(&plan.instance) {
                return wait(format!(
                    "instance name {} is still held ({})",
                    held.id, held.status
                ));
            }
            return act(Action::RenameInstance {
                from: i.id.clone(),
                to: plan.instance.clone(),
            });
        }
        match at_dev {
            Some(dev) if self.ours(&dev.tags) => Step::Advance(Phase::Promote),
            _ => wait(format!(
                "waiting for the promoted cluster to appear as {target}"
            )),
        }
    }

    fn promote_step(&self) -> Step {
        let target = &self.cfg.target;
        let Some(dev) = self.obs.cluster(target).filter(|c| self.ours(&c.tags)) else {
            return wait(format!(
                "waiting for the promoted cluster to appear as {target}"
            ));
        };
        let instance = self
            .run
            .swap
            .as_ref()
            .map(|p| p.instance.as_str())
            .unwrap_or_default();
        let instance = self.obs.instance(instance).filter(|i| self.ours(&i.tags));
        for (id, arn, tags) in std::iter::once((&dev.id, &dev.arn, &dev.tags))
            .chain(instance.map(|i| (&i.id, &i.arn, &i.tags)))
        {
            if tag(tags, ROLE_KEY) != Some(ROLE_DEV) {
                let tags = vec![
                    Tag::new(ROLE_KEY, ROLE_DEV),
                    Tag::new(PHASE_KEY, Phase::Promote.as_str()),
                ];
                return act(Action::Tag {
                    resource: id.clone(),
                    arn: arn.clone(),
                    tags,
                });
            }
        }
        // Dev keeps deletion protection: set once the promoted cluster is available (RDS
        // modifies only an available cluster), before the run moves on.
        let protect = self
            .run
            .swap
            .as_ref()
            .is_some_and(|p| p.deletion_protection);
        if protect && !dev.deletion_protection && dev.status == AVAILABLE {
            return act(Action::EnableDeletionProtection {
                cluster: dev.id.clone(),
            });
        }
        match (dev.status.as_str(), instance.map(|i| i.status.as_str())) {
            (AVAILABLE, Some(AVAILABLE)) => Step::Advance(Phase::Retire),
            (cs, is) => wait(format!(
                "{target} is {cs}, its instance is {}",
                is.unwrap_or("not visible yet")
            )),
        }
    }

    fn retire_step(&self) -> Step {
        let target = &self.cfg.target;
        let mut previous: Vec<&Cluster> = self
            .obs
            .clusters
            .iter()
            .filter(|c| names::previous(&c.id, &c.tags, target))
            .collect();
        previous.sort_by(|a, b| {
            b.tag(REPLACED_BY_KEY)
                .cmp(&a.tag(REPLACED_BY_KEY))
                .then(b.id.cmp(&a.id))
        });
        match previous
            .iter()
            .skip(self.cfg.keep_previous)
            .find_map(|c| self.delete(c, Reason::Retired))
        {
            Some(step) => step,
            None => Step::Advance(Phase::Done),
        }
    }

    /// The next step deleting `cluster` (instances first), or `None` when it is gone.
    fn delete(&self, cluster: &Cluster, reason: Reason) -> Option<Step> {
        let instances = self.obs.instances_of(&cluster.id);
        if let Some(i) = instances.iter().find(|i| !managed(&i.tags)) {
            let why = format!(
                "instance {} of {} is not offpeak's; delete it by hand",
                i.id, cluster.id
            );
            return Some(fail(FailKind::Ownership, why));
        }
        if let Some(step) = delete_instances(&instances, reason) {
            return Some(step);
        }
        if cluster.deletion_protection {
            return Some(act(Action::DisableDeletionProtection {
                cluster: cluster.id.clone(),
            }));
        }
        Some(match cluster.status.as_str() {
            "deleting" => wait(format!("{} is deleting", cluster.id)),
            _ => act(Action::DeleteCluster {
                cluster: cluster.id.clone(),
                reason,
                final_snapshot: names::final_snapshot(&cluster.id, &cluster.tags),
            }),
        })
    }

    fn cleanup_step(&self) -> Step {
        let target = &self.cfg.target;
        let instances = self.obs.run_instances(target, &self.run.id);
        if let Some(step) = delete_instances(&instances, Reason::FailedRun) {
            return step;
        }
        let clusters = self.obs.run_clusters(target, &self.run.id);
        if clusters.iter().any(|c| &c.id == target) {
            // Never delete the cluster holding the dev name: undo the swap first.
            return Step::Advance(Phase::Rollback);
        }
        match clusters
            .iter()
            .find_map(|c| self.delete(c, Reason::FailedRun))
        {
            Some(step) => step,
            None => Step::Advance(Phase::Failed),
        }
    }

    fn rollback_step(&self) -> Step {
        let Some(plan) = &self.run.swap else {
            return Step::Advance(Phase::Cleanup);
        };
        let target = &self.cfg.target;
        if let Some(i) = self
            .obs
            .instance(&plan.instance)
            .filter(|i| self.ours(&i.tags))
        {
            match (self.promoted_then_failed(), Health::of(&i.status)) {
                (false, _) | (true, Health::Available) => {
                    return act(Action::RenameInstance {
                        from: i.id.clone(),
                        to: self.names().copy_instance(),
                    });
                }
                // The instance that did not come up cannot be renamed (RDS renames only an
                // available instance). It is the clone's: a broken one is deleted now, freeing
                // the previous writer's name; a busy one is left to cleanup, and the clusters'
                // names go back first, so dev's endpoint serves the previous cluster at once.
                (true, Health::Broken) => {
                    return act(Action::DeleteInstance {
                        instance: i.id.clone(),
                        reason: Reason::FailedRun,
                    });
                }
                (true, Health::Deleting) => {
                    return wait(format!("instance {} is deleting", i.id));
                }
                (true, Health::Busy) => {}
            }
        }
        if let Some(dev) = self.obs.cluster(target).filter(|c| self.ours(&c.tags)) {
            let quarantine = Some(self.cfg.quarantine.clone());
            return act(Action::RenameCluster {
                from: dev.id.clone(),
                to: self.names().copy_cluster(),
                security_groups: quarantine,
            });
        }
        match plan
            .previous
            .as_ref()
            .and_then(|p| self.restore_previous(p))
        {
            Some(step) => step,
            None => Step::Advance(Phase::Cleanup),
        }
    }

    /// The run failed after the swap, waiting for the promoted cluster to come up.
    fn promoted_then_failed(&self) -> bool {
        self.run
            .failure
            .as_ref()
            .is_some_and(|f| f.phase == Phase::Promote)
    }

    /// Puts the previous dev cluster back under the dev name; `None` once it is.
    fn restore_previous(&self, aside: &Aside) -> Option<Step> {
        let target = &self.cfg.target;
        if let Some(c) = self.obs.cluster(&aside.cluster) {
            return Some(match self.obs.cluster(target) {
                Some(held) => wait(format!(
                    "the dev name is still held by {} ({})",
                    held.id, held.status
                )),
                None => act(Action::RenameCluster {
                    from: c.id.clone(),
                    to: target.clone(),
                    security_groups: None,
                }),
            });
        }
        for (original, renamed) in &aside.instances {
            if self.obs.instance(renamed).is_some() && self.obs.instance(original).is_none() {
                return Some(act(Action::RenameInstance {
                    from: renamed.clone(),
                    to: original.clone(),
                }));
            }
        }
        let back: Vec<(&String, &String, &Vec<Tag>)> = self
            .obs
            .cluster(target)
            .map(|c| (&c.id, &c.arn, &c.tags))
            .into_iter()
            .chain(
                aside
                    .instances
                    .iter()
                    .filter_map(|(o, _)| self.obs.instance(o))
                    .map(|i| (&i.id, &i.arn, &i.tags)),
            )
            .collect();
        back.into_iter()
            .find(|(_, _, tags)| tag(tags, ROLE_KEY) == Some(ROLE_PREVIOUS))
            .map(|(id, arn, _)| {
                let tags = vec![Tag::new(ROLE_KEY, ROLE_DEV)];
                act(Action::Tag {
                    resource: id.clone(),
                    arn: arn.clone(),
                    tags,
                })
            })
    }
}

/// Whether a run may start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Go,
    /// Not now, but later in the window (the source is busy): no run is recorded.
    NotYet(String),
    /// This occurrence's run cannot happen: it is recorded as failed and a person is told.
    Refuse(String),
}

/// Checks, before anything is created, that a run of `run_id` can succeed and stay safe.
pub fn preflight(cfg: &Refresh, run_id: &str, obs: &Observed) -> Start {
    let names = Names {
        target: &cfg.target,
        run: run_id,
    };
    let refusals = [
        (!names.fit(), format!("target cluster id {} is too long for offpeak's derived names of run {run_id} (max {} characters)", cfg.target, names.max_target())),
        (cfg.quarantine.is_empty(), "no quarantine security group: set masked_refresh.quarantine_security_groups (or the stack's OFFPEAK_QUARANTINE_SECURITY_GROUP)".to_owned()),
        (cfg.dev_groups.is_empty(), "masked_refresh.dev_security_groups is empty: the promoted cluster would be unreachable from development".to_owned()),
    ];
    if let Some((_, why)) = refusals.into_iter().find(|(bad, _)| *bad) {
        return Start::Refuse(why);
    }
    match obs.cluster(&cfg.source) {
        None => return Start::Refuse(format!("source cluster {} not found", cfg.source)),
        Some(s) if s.status != AVAILABLE => {
            return Start::NotYet(format!("source cluster {} is {}", s.id, s.status));
        }
        Some(_) => {}
    }
    if let Some(dev) = obs.cluster(&cfg.target) {
        let foreign: Vec<&str> = std::iter::once(dev)
            .filter(|c| !managed(&c.tags))
            .map(|c| c.id.as_str())
            .chain(
                obs.instances_of(&dev.id)
                    .into_iter()
                    .filter(|i| !managed(&i.tags))
                    .map(|i| i.id.as_str()),
            )
            .collect();
        if !foreign.is_empty() {
            return Start::Refuse(not_handed_over(&foreign));
        }
    }
    let taken = [names.clone_cluster(), names.copy_cluster()]
        .into_iter()
        .filter_map(|id| obs.cluster(&id))
        .find(|c| !of_run(&c.tags, &cfg.target, run_id));
    match taken {
        Some(c) => Start::Refuse(format!(
            "cluster {} exists and is not offpeak's clone; rename or delete it",
            c.id
        )),
        None => Start::Go,
    }
}

fn delete_instances(instances: &[&Instance], reason: Reason) -> Option<Step> {
    let first = instances.first()?;
    Some(match instances.iter().find(|i| i.status != "deleting") {
        Some(i) => act(Action::DeleteInstance {
            instance: i.id.clone(),
            reason,
        }),
        None => wait(format!("instance {} is deleting", first.id)),
    })
}

fn not_handed_over(ids: &[&str]) -> String {
    format!(
        "the dev cluster is not offpeak's to replace: {} lack the tags offpeak:managed-by=offpeak \
         and offpeak:function=masked-refresh (tag them to hand the dev cluster over to offpeak)",
        ids.join(", ")
    )
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
