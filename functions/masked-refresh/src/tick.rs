//! One tick: read the run → (start one) → observe → next step → apply → save, repeated while
//! steps are ready, then stop until the next tick.
//!
//! Guarantees:
//! - **One invocation at a time.** A tick claims the target with the shared protocol
//!   ([`offpeak_shared::state::claim()`]) before it changes anything: one conditional write
//!   takes the target's lease at the clock (`LEASE_TTL`, longer than the function's timeout) only
//!   if the version is still the one it read, and every state write is conditional on that version. A tick that finds the lease
//!   held, or the run's state changed since it read it (a tick that finished meanwhile), stands
//!   aside. One killed mid-step leaves the lease to expire, and the next tick after that, having
//!   read the current version, resumes from the saved phase (masking resumes from the progress
//!   committed inside the clone).
//! - **Cheap when idle.** Outside the window, or once this window's run is over, a tick reads
//!   the state document and stops: no AWS call besides that read (and the write dropping an
//!   override that just ended, see [`crate::overrides`]).
//! - **An override is recorded on the claim's conditions.** Recording (or dropping) an override
//!   changes only the state document, so it is settled
//!   ([`offpeak_shared::state::settle()`]): one conditional write, only if the version is still
//!   the one read and no other invocation's lease is active, taking no lease. So a tick never
//!   writes under a live run's lease (whose next save would then lose); one that finds the lease
//!   held or the version moved stands aside, and the next tick records it.
//! - **Overrides first.** An override in the event is checked (at the clock) before anything is
//!   read, then stored and told before the run is decided, so that very tick already follows
//!   it; whether a run may start is [`crate::desired`]'s decision, never a run's in progress.
//! - **Bounded.** A tick takes at most `MAX_STEPS` steps, never repeats an action that already
//!   succeeded in the same tick (it waits for RDS to show the effect instead), and masks only for
//!   the configured time and never past the window's close.
//! - **Failures are handled by phase** (see [`crate`] docs): before the swap, the clone is
//!   deleted and dev is untouched (and, time permitting, the window tries again, see
//!   [`crate::desired`]); during it, the swap is rolled back; after it, a promoted cluster not
//!   available by the run's `promote_by` is rolled back to the previous dev cluster, or handed to
//!   a person when none is left ([`plan::after_promote_failed`]); a retirement that fails is a
//!   warning. Transient AWS errors (throttling, a resource briefly busy) are retried on the next
//!   tick until the phase's deadline. Every failure is notified once.
//! - **Dry-run** reads the state and RDS and reports the next step; it writes nothing, takes no
//!   lease, calls nothing else and connects to no database.
//!
//! Failure behaviour: if the state cannot be read or written, or RDS cannot be described, the
//! tick returns the error (the invocation fails and the alarm sees it); the run resumes from its
//! last saved phase on the next tick.

use chrono::{DateTime, Utc};
use offpeak_shared::config::MaskedRefresh;
use offpeak_shared::error_chain::chain;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::notify::{Notification, Notifier};
use offpeak_shared::report::{Failed, Report};
use offpeak_shared::state::{self, Claimed, Holder, PutOutcome, Settled, StateStore};

use crate::action::{Action, Reason, disabling, dropping};
use crate::apply::{Effect, Effectors, Production};
use crate::desired::{self, By, Desired, Slot};
use crate::engine::Masking;
use crate::error::{Recorded, StepError, TickError};
use crate::memory::{Failure, Memory, Phase, Run};
use crate::names::PHASE_KEY;
use crate::observe::{Observed, observe};
use crate::plan::{self, FailKind, Refresh, Start, Step};
use crate::rds::{Rds, Tag};
use crate::secret::random_hex;
use crate::secrets::Secrets;
use crate::security_groups::{SecurityGroups, admits_only};
use crate::settings::Settings;
use crate::{FUNCTION, notices, overrides};

/// Longer than the function's 900 s timeout: a live invocation never loses its lease.
pub const LEASE_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(16);
/// Steps per tick: a whole happy path against an instant RDS takes about 25.
const MAX_STEPS: usize = 80;

/// What a tick runs against.
pub struct Deps<'a, R, S, G, M, St> {
    pub rds: &'a R,
    pub secrets: &'a S,
    /// EC2's security groups: preflight reads the quarantine groups' inbound rules.
    pub security_groups: &'a G,
    pub masking: &'a M,
    /// The state store; `None` is allowed only in dry-run.
    pub store: Option<&'a St>,
    pub notifier: &'a Notifier,
    pub cfg: &'a MaskedRefresh,
    pub settings: &'a Settings,
}

/// The state store key of a refresh target.
pub fn state_key(target: &str) -> String {
    format!("{FUNCTION}/{target}")
}

/// The configuration resolved for planning (the stack's quarantine group fills in for none).
pub fn refresh(cfg: &MaskedRefresh, settings: &Settings) -> Refresh {
    let quarantine = match cfg.quarantine_security_groups.is_empty() {
        true => settings.quarantine_security_group.iter().cloned().collect(),
        false => cfg.quarantine_security_groups.clone(),
    };
    Refresh {
        source: cfg.source_cluster.to_ascii_lowercase(),
        target: cfg.target_cluster.to_ascii_lowercase(),
        quarantine,
        dev_groups: cfg.dev_security_groups.clone(),
        password_secret: cfg.dev_password_secret.clone(),
        instance_class: cfg.instance_class.clone(),
        keep_previous: cfg.keep_previous as usize,
        database_override: settings.clone_database_url.is_some(),
        scope: Default::default(),
        clone_parameter_groups: settings.clone_parameter_groups.clone(),
    }
}

/// Runs one tick. `clock` is the real clock's value. The event's `at`, when set, replaces it as
/// the instant the schedule is evaluated at and the run's steps are timed by; the lease is always
/// taken at `clock`, and an override is checked and judged at `clock`, so a replayed instant can
/// never take over a run a live invocation holds, nor lift or stretch an override.
pub async fn run<R: Rds, S: Secrets, G: SecurityGroups, M: Masking, St: StateStore>(
    deps: &Deps<'_, R, S, G, M, St>,
    event: &InvocationEvent,
    clock: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let request = event.checked_override(FUNCTION, |o| {
        overrides::from_event(Some(deps.cfg), o, clock)
    })?;
    let at = event.instant(clock);
    let mut report = Report::new(FUNCTION, at, event.dry_run);
    let refresh = refresh(deps.cfg, deps.settings);
    let key = state_key(&refresh.target);
    let store = match (deps.store, event.dry_run) {
        (None, false) => return Err(TickError::StateNotConfigured),
        (store, _) => store,
    };
    let (memory, version) = read(store, &key, &refresh.target, &mut report).await?;
    let mut driver = Driver {
        deps,
        refresh,
        key,
        memory,
        version,
        at,
        clock,
        started: std::time::Instant::now(),
        report,
        acted: Vec::new(),
        last: None,
        holder: Holder::new(FUNCTION),
    };
    let changes = overrides::settle(&mut driver.memory, request.as_ref(), clock);
    if !driver.record_overrides(store, &changes).await? {
        if request.is_some() {
            driver.note(
                "the event's override was not recorded (this tick stood aside); send it again",
            );
        }
        return Ok(driver.report);
    }
    let desired = driver.desired();
    let target = driver.target();
    if !needs_work(&driver.memory, &desired, &target, &mut driver.report) {
        note_drift(&driver.memory, &target, &mut driver.report);
        return Ok(driver.report);
    }
    // Read only when there is work: it names what containing the clone will drop and keep. Rules
    // that do not load stop a run from starting ([`Driver::start`]) or fail its containment.
    driver.refresh.scope = deps.masking.scope().unwrap_or_default();
    match (event.dry_run, store) {
        (true, _) => driver.preview().await?,
        (false, Some(store)) => driver.leased(store).await?,
        (false, None) => return Err(TickError::StateNotConfigured),
    }
    note_drift(&driver.memory, &target, &mut driver.report);
    Ok(driver.report)
}

/// Development is stale while the latest run failed: the `Drift` metric's alarm watches this.
fn note_drift(memory: &Memory, target: &str, report: &mut Report<Action>) {
    if memory.run.as_ref().is_some_and(|r| r.phase.is_failure()) {
        report.drifting.push(target.to_owned());
    }
}

async fn read<St: StateStore>(
    store: Option<&St>,
    key: &str,
    target: &str,
    report: &mut Report<Action>,
) -> Result<(Memory, Option<u64>), TickError> {
    let Some(store) = store else {
        report.note(
            target,
            "no state table configured: planned as if no run had happened",
        );
        return Ok((Memory::default(), None));
    };
    let records = store
        .get_many(&[key])
        .await
        .map_err(|source| TickError::ReadState {
            target: target.to_owned(),
            source,
        })?;
    let Some(record) = records.get(key) else {
        return Ok((Memory::default(), None));
    };
    match record.decode::<Memory>() {
        Ok(memory) => Ok((memory, Some(record.version))),
        // An unreadable document must not be overwritten blindly: a person looks at it first.
        Err(source) => Err(TickError::ReadState {
            target: target.to_owned(),
            source,
        }),
    }
}

/// Whether this tick has anything to do; says why not in the report.
fn needs_work(
    memory: &Memory,
    desired: &Desired,
    target: &str,
    report: &mut Report<Action>,
) -> bool {
    if let Some(run) = memory.run.as_ref().filter(|r| !r.phase.is_terminal()) {
        report.note(target, format!("run {} is in phase {}", run.id, run.phase));
        return true;
    }
    match desired {
        Desired::Start(_) => true,
        Desired::Idle(why) => {
            report.note(target, why.to_string());
            false
        }
    }
}

struct Driver<'d, 'a, R, S, G, M, St> {
    deps: &'d Deps<'a, R, S, G, M, St>,
    refresh: Refresh,
    key: String,
    memory: Memory,
    version: Option<u64>,
    at: DateTime<Utc>,
    /// The real clock's value: leases are taken at it, whatever `at` says.
    clock: DateTime<Utc>,
    /// When this invocation began, to tell the real time later in it.
    started: std::time::Instant,
    report: Report<Action>,
    /// Actions that succeeded in this tick: never sent twice in one tick.
    acted: Vec<Action>,
    /// The latest observation, for mirroring the phase as a tag.
    last: Option<Observed>,
    /// Who this invocation is, when it settles or claims the target.
    holder: Holder,
}

impl<R: Rds, S: Secrets, G: SecurityGroups, M: Masking, St: StateStore>
    Driver<'_, '_, R, S, G, M, St>
{
    /// The real clock now, well into an invocation that masked for minutes.
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::TimeDelta::from_std(self.started.elapsed());
        self.clock + elapsed.unwrap_or_default()
    }

    fn target(&self) -> String {
        self.refresh.target.clone()
    }

    fn active(&self) -> Option<&Run> {
        self.memory.run.as_ref().filter(|r| !r.phase.is_terminal())
    }

    fn run_mut(&mut self) -> &mut Run {
        self.memory.run.as_mut().expect("an active run")
    }

    fn note(&mut self, message: impl Into<String>) {
        let target = self.target();
        self.report.note(target, message);
    }

    async fn observe(&mut self) -> Result<Observed, TickError> {
        let obs = observe(self.deps.rds, &self.refresh.source, &self.refresh.target)
            .await
            .map_err(|source| TickError::Observe {
                target: self.target(),
                source,
            })?;
        self.last = Some(obs.clone());
        Ok(obs)
    }

    /// What the window and the override allow now (a run in progress is not its business).
    fn desired(&self) -> Desired {
        desired::desired(self.deps.cfg, &self.memory, self.at, self.clock)
    }

    /// Plans the override's changes; unless in dry-run (or without a store), settles them and
    /// then tells each. False when the settle stood aside (noted): nothing is told, and the tick
    /// stops; the next one decides again.
    async fn record_overrides(
        &mut self,
        store: Option<&St>,
        changes: &[overrides::Change],
    ) -> Result<bool, TickError> {
        let target = self.target();
        let actions: Vec<Action> = changes.iter().map(|c| c.action(&target)).collect();
        self.report.plan.extend(actions.iter().cloned());
        let Some(store) = store.filter(|_| !self.report.dry_run && !changes.is_empty()) else {
            return Ok(true);
        };
        if !self.settle(store).await? {
            return Ok(false);
        }
        self.report.applied.extend(actions);
        for change in changes {
            self.send(&change.notice(&target)).await;
        }
        Ok(true)
    }

    /// Writes the memory, this tick's only change so far, without taking a lease
    /// ([`state::settle()`], at the clock); false when it stood aside (noted).
    async fn settle(&mut self, store: &St) -> Result<bool, TickError> {
        let doc =
            serde_json::to_value(&self.memory).expect("the state document serialises to JSON");
        let settled = state::settle(
            store,
            &self.holder,
            &self.key,
            self.version,
            &doc,
            self.clock,
        )
        .await;
        match settled {
            Ok(Settled::Written { version }) => {
                self.version = Some(version);
                Ok(true)
            }
            Ok(Settled::StoodAside(aside)) => {
                self.note(aside.to_string());
                Ok(false)
            }
            Err(source) => Err(TickError::WriteState {
                target: self.target(),
                source,
            }),
        }
    }

    /// Claims the refresh (lease, then the version this tick read), drives the run, releases the
    /// lease.
    async fn leased(&mut self, store: &St) -> Result<(), TickError> {
        let claimed = state::claim(
            store,
            &self.holder,
            &self.key,
            self.version,
            self.clock,
            LEASE_TTL,
        )
        .await
        .map_err(|source| TickError::Lease {
            target: self.target(),
            source,
        })?;
        let claim = match claimed {
            Claimed::Held(claim) => claim,
            Claimed::StoodAside(aside) => {
                self.note(aside.to_string());
                return Ok(());
            }
        };
        let result = self.drive(store).await;
        if let Err(err) = claim.release(store).await {
            self.note(chain(&err));
        }
        result
    }

    async fn drive(&mut self, store: &St) -> Result<(), TickError> {
        for _ in 0..MAX_STEPS {
            let obs = self.observe().await?;
            let Some(run) = self.active() else {
                // No run in progress: start the one the window or an override allows, if any.
                // Decided again after each run ends, so a run that ended in this tick is seen.
                match self.desired() {
                    Desired::Start(slot) if self.start(store, &slot, &obs).await? => continue,
                    Desired::Start(_) | Desired::Idle(_) => return Ok(()),
                }
            };
            let step = plan::next(&self.refresh, run, &obs, self.at);
            if run.rollback_overran(self.at) {
                self.rollback_overran(store).await?;
            }
            if !self.take(store, step).await? {
                return Ok(());
            }
        }
        self.note("step limit reached for this tick; the next tick continues");
        Ok(())
    }

    /// Starts the run `slot` allows when preflight allows; false when it did not start. A run
    /// a `refresh` override allows is recorded as its run (started or refused: never twice).
    async fn start(&mut self, store: &St, slot: &Slot, obs: &Observed) -> Result<bool, TickError> {
        let mut run = new_run(&self.refresh, slot, self.at);
        let verdict = match self.deps.masking.check_rules() {
            Err(err) => Start::Refuse(chain(&err)),
            Ok(()) => plan::preflight(&self.refresh, &slot.run, obs),
        };
        let verdict = match verdict {
            Start::Go => self.password_secret_readable().await,
            other => other,
        };
        let verdict = match verdict {
            Start::Go => self.quarantine_admits_only_the_function().await,
            other => other,
        };
        match verdict {
            Start::Go => {
                if slot.by == By::Retry {
                    self.note(format!(
                        "the window's previous attempt failed before the swap and time remains: attempt {} starts",
                        slot.run
                    ));
                }
                let action = start_action(&self.refresh, &run);
                self.report.plan.push(action.clone());
                self.memory.run = Some(run);
                self.claim(slot);
                self.save(store).await?;
                self.report.applied.push(action);
                Ok(true)
            }
            Start::NotYet(why) => {
                self.note(format!("run {} waits: {why}", slot.run));
                Ok(false)
            }
            Start::Refuse(why) => {
                run.failure = Some(failure(Phase::Clone, FailKind::Preflight, &why, self.at));
                run.phase = Phase::Failed;
                run.finished_at = Some(self.at);
                self.note(format!("run {} did not start: {why}", slot.run));
                self.memory.run = Some(run);
                self.claim(slot);
                self.save(store).await?;
                let n =
                    notices::refused(&self.target(), self.memory.run.as_ref().expect("just set"));
                self.send(&n).await;
                Ok(false)
            }
        }
    }

    /// Preflight's one read outside RDS: the dev password secret holds a password. The swap
    /// needs it hours later; a secret that cannot be read, or holds no password, refuses the run
    /// before anything is created (a throttled or timed-out read: later in the window). The value
    /// is dropped at once; the error names the secret, never a value.
    async fn password_secret_readable(&self) -> Start {
        match self
            .deps
            .secrets
            .password(&self.refresh.password_secret)
            .await
        {
            Ok(_) => Start::Go,
            Err(err) if err.is_transient() => Start::NotYet(chain(&err)),
            Err(err) => Start::Refuse(chain(&err)),
        }
    }

    /// Preflight's read of EC2: every quarantine group the clone will be restored into admits
    /// only the function's own security groups (`OFFPEAK_FUNCTION_SECURITY_GROUPS`): checked,
    /// not trusted, since a schedule may name any group ([`crate::security_groups`]). A group
    /// admitting anything else (a CIDR, a prefix list, another group, its own members) refuses
    /// the run, naming the group and what it admits; so does a group that cannot be described
    /// (throttled or timed out: later in the window). Without the function's groups configured
    /// the run is refused, except for local runs masking `OFFPEAK_CLONE_DATABASE_URL`, where the
    /// check is skipped (no clone of the account is reached there).
    async fn quarantine_admits_only_the_function(&mut self) -> Start {
        let allowed = &self.deps.settings.function_security_groups;
        if allowed.is_empty() {
            if self.refresh.database_override {
                self.note(
                    "the quarantine groups are not checked: OFFPEAK_FUNCTION_SECURITY_GROUPS is unset \
                     and the clone's database is OFFPEAK_CLONE_DATABASE_URL (a local run)",
                );
                return Start::Go;
            }
            return Start::Refuse(
                "the function's own security groups are not configured (OFFPEAK_FUNCTION_SECURITY_GROUPS): \
                 the quarantine groups cannot be checked"
                    .to_owned(),
            );
        }
        let quarantine = &self.refresh.quarantine;
        match self.deps.security_groups.inbound(quarantine).await {
            Ok(groups) => match admits_only(quarantine, &groups, allowed) {
                Ok(()) => Start::Go,
                Err(why) => Start::Refuse(why),
            },
            Err(err) if err.is_transient() => Start::NotYet(chain(&err)),
            Err(err) => Start::Refuse(chain(&err)),
        }
    }

    /// Marks the holding `refresh` override as having had its run, when `slot` is its.
    fn claim(&mut self, slot: &Slot) {
        if slot.by == By::Refresh
            && let Some(o) = self.memory.override_.as_mut()
        {
            o.run = Some(slot.run.clone());
        }
    }

    /// Carries out one step; false when the tick should stop.
    async fn take(&mut self, store: &St, step: Step) -> Result<bool, TickError> {
        match step {
            Step::Wait(why) => {
                self.note(why);
                Ok(false)
            }
            Step::Advance(phase) => self.advance(store, phase).await.map(|()| true),
            Step::BeginSwap(plan) => {
                self.run_mut().swap = Some(plan);
                self.save(store).await.map(|()| true)
            }
            Step::Fail { kind, error } => self.fail(store, kind, error).await,
            Step::Act { action, then } => self.act(store, action, then).await,
        }
    }

    async fn act(
        &mut self,
        store: &St,
        action: Action,
        then: Option<Phase>,
    ) -> Result<bool, TickError> {
        if self.acted.contains(&action) {
            self.note(format!("waiting for RDS to show the effect of: {action}"));
            return Ok(false);
        }
        self.report.plan.push(action.clone());
        let at = self.at;
        let before = self.run_mut().clone();
        let mut run = before.clone();
        let production_instances: Vec<String> = self
            .last
            .as_ref()
            .and_then(|obs| obs.cluster(&self.refresh.source))
            .map(|c| c.members.iter().map(|m| m.instance_id.clone()).collect())
            .unwrap_or_default();
        let effectors = Effectors {
            rds: self.deps.rds,
            secrets: self.deps.secrets,
            masking: self.deps.masking,
            settings: self.deps.settings,
            production: Production {
                cluster: &self.refresh.source,
                instances: &production_instances,
            },
        };
        let result = effectors.apply(&action, &mut run, at).await;
        *self.run_mut() = run;
        match result {
            Ok(effect) => {
                if let Action::DeleteCluster {
                    cluster,
                    reason: Reason::Retired,
                    final_snapshot,
                } = &action
                {
                    let run = self.run_mut();
                    run.retired.push(cluster.clone());
                    run.final_snapshots.extend(final_snapshot.iter().cloned());
                }
                // Sealed once the bookkeeping is gone: RDS's restorable time is on the real clock.
                if let Action::Forget { .. } = &action {
                    self.run_mut().sealed_at = Some(self.now());
                }
                self.report.applied.push(action.clone());
                self.acted.push(action);
                if then.is_none() && effect == Effect::Done && *self.run_mut() != before {
                    self.save(store).await?;
                }
                self.applied(store, effect, then).await
            }
            Err(err) => {
                tracing::warn!(error = %chain(&err), "refresh step failed");
                self.report.failed.push(Failed {
                    action,
                    error: chain(&err),
                });
                self.step_failed(store, err).await
            }
        }
    }

    async fn applied(
        &mut self,
        store: &St,
        effect: Effect,
        then: Option<Phase>,
    ) -> Result<bool, TickError> {
        match (effect, then) {
            (Effect::Done, Some(phase)) => self.advance(store, phase).await.map(|()| true),
            (Effect::Done, None) => Ok(true),
            (Effect::Partial, _) => {
                let m = &self.run_mut().masking;
                let message = format!("masking continues next tick ({} chunk(s) so far)", m.chunks);
                self.save(store).await?;
                self.note(message);
                Ok(false)
            }
        }
    }

    async fn step_failed(&mut self, store: &St, err: StepError) -> Result<bool, TickError> {
        let phase = self.run_mut().phase;
        if err.is_transient() && phase.has_deadline() {
            self.note(format!("{}; the next tick retries", chain(&err)));
            self.save(store).await?;
            return Ok(false);
        }
        if phase == Phase::Promote {
            self.note(format!("{}; the next tick retries", chain(&err)));
            return Ok(false);
        }
        self.fail_with(store, err.kind(), chain(&err), Some(&err))
            .await
    }

    async fn fail(&mut self, store: &St, kind: FailKind, error: String) -> Result<bool, TickError> {
        self.fail_with(store, kind, error, None).await
    }

    /// Records a failure and moves the run to where that failure leads; false to stop.
    async fn fail_with(
        &mut self,
        store: &St,
        kind: FailKind,
        error: String,
        source: Option<&StepError>,
    ) -> Result<bool, TickError> {
        let at = self.at;
        let phase = self.run_mut().phase;
        let next = match phase {
            Phase::Clone
            | Phase::Secure
            | Phase::Instance
            | Phase::Mask
            | Phase::Verify
            | Phase::Seal
            | Phase::Copy => Phase::Cleanup,
            Phase::Swap => Phase::Rollback,
            Phase::Promote => self.after_promote_failed(),
            Phase::Retire => {
                self.run_mut().warnings.push(error);
                return self.advance(store, Phase::Done).await.map(|()| true);
            }
            Phase::Cleanup if kind == FailKind::Deadline => {
                return self.hand_over(store, error).await;
            }
            Phase::Cleanup | Phase::Rollback => return self.stuck(store, source, error).await,
            Phase::Done | Phase::Failed => {
                self.note(error);
                return Ok(false);
            }
        };
        let run = self.run_mut();
        run.failure = Some(failure(phase, kind, &error, at));
        run.enter(next, at);
        self.note(format!(
            "run failed in phase {phase} ({}): {error}; now {next}",
            kind.as_str()
        ));
        self.save(store).await?;
        self.mirror_phase(next).await;
        let n = notices::failed(&self.target(), self.memory.run.as_ref().expect("a run"));
        self.send(&n).await;
        Ok(true)
    }

    /// Rollback while the previous dev cluster is still aside, else the run ends here
    /// ([`plan::after_promote_failed`], judged on the latest observation).
    fn after_promote_failed(&self) -> Phase {
        let run = self.memory.run.as_ref().expect("a run");
        match &self.last {
            Some(obs) => plan::after_promote_failed(&self.refresh, run, obs),
            None => Phase::Failed,
        }
    }

    /// Cleanup ran out of time: what is left of the run is a person's, and the run ends so the
    /// next one starts. Dev is the cluster it was before the run (cleanup follows a rollback).
    async fn hand_over(&mut self, store: &St, error: String) -> Result<bool, TickError> {
        let (at, target) = (self.at, self.target());
        let run_id = self.run_mut().id.clone();
        let left: Vec<String> = self.last.as_ref().map_or_else(Vec::new, |obs| {
            let clusters = obs
                .run_clusters(&target, &run_id)
                .into_iter()
                .map(|c| c.id.clone());
            let instances = obs
                .run_instances(&target, &run_id)
                .into_iter()
                .map(|i| i.id.clone());
            clusters.chain(instances).collect()
        });
        let run = self.run_mut();
        run.warnings
            .push(format!("{error}; left: {}", left.join(", ")));
        run.enter(Phase::Failed, at);
        self.note(format!(
            "{error}: the run ends, leaving {} to a person",
            left.join(", ")
        ));
        self.save(store).await?;
        self.mirror_phase(Phase::Failed).await;
        let n = notices::left_over(&target, self.memory.run.as_ref().expect("a run"), &left);
        self.send(&n).await;
        Ok(true)
    }

    /// The rollback overran its bound: a person is told, once, and the rollback goes on (it
    /// alone puts the previous dev cluster back under its name).
    async fn rollback_overran(&mut self, store: &St) -> Result<(), TickError> {
        let by = self.run_mut().rollback_by.map(|t| t.to_rfc3339());
        let error = format!(
            "the rollback did not finish by {} ({} minutes after it began); development may not \
             serve the previous cluster until it does",
            by.unwrap_or_default(),
            crate::memory::ROLLBACK_BUDGET.num_minutes()
        );
        self.stuck(store, None, error).await.map(drop)
    }

    /// A cleanup or rollback step failed: retry next tick, tell a person once.
    async fn stuck(
        &mut self,
        store: &St,
        source: Option<&StepError>,
        error: String,
    ) -> Result<bool, TickError> {
        self.note(format!("{error}; the next tick retries"));
        if self.run_mut().stuck_notified {
            return Ok(false);
        }
        let recorded = Recorded(error);
        let err: &(dyn std::error::Error + 'static) = match source {
            Some(e) => e,
            None => &recorded,
        };
        let n = notices::stuck(&self.target(), self.active().expect("an active run"), err);
        // Recorded as told only once it was: a failed publish is tried again next tick.
        if self.send(&n).await {
            self.run_mut().stuck_notified = true;
            self.save(store).await?;
        }
        Ok(false)
    }

    async fn advance(&mut self, store: &St, phase: Phase) -> Result<(), TickError> {
        let at = self.at;
        let run = self.run_mut();
        let from = run.phase;
        run.enter(phase, at);
        self.note(format!("phase {from} -> {phase}"));
        self.save(store).await?;
        self.mirror_phase(phase).await;
        let target = self.target();
        let run = self.memory.run.as_ref().expect("a run");
        let notice = match phase {
            Phase::Done => Some(notices::done(&target, run, at)),
            Phase::Failed => Some(notices::cleaned_up(&target, run)),
            _ => None,
        };
        if let Some(n) = notice {
            self.send(&n).await;
        }
        Ok(())
    }

    /// Mirrors the phase as a tag on the run's cluster (best effort: the state store is the truth).
    async fn mirror_phase(&mut self, phase: Phase) {
        let run_id = self
            .memory
            .run
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default();
        let cluster = self.last.as_ref().and_then(|obs| {
            obs.run_clusters(&self.refresh.target, &run_id)
                .first()
                .map(|c| (c.id.clone(), c.arn.clone()))
        });
        let Some((id, arn)) = cluster else { return };
        let tags = vec![Tag::new(PHASE_KEY, phase.as_str())];
        if let Err(err) = self.deps.rds.add_tags(&arn, &tags).await {
            self.note(format!("mirror phase tag on {id} failed: {}", chain(&err)));
        }
    }

    async fn save(&mut self, store: &St) -> Result<(), TickError> {
        let doc =
            serde_json::to_value(&self.memory).expect("the state document serialises to JSON");
        let target = self.target();
        match store.put(&self.key, &doc, self.version).await {
            Ok(PutOutcome::Written { version }) => {
                self.version = Some(version);
                Ok(())
            }
            Ok(PutOutcome::Conflict) => Err(TickError::Conflict { target }),
            Err(source) => Err(TickError::WriteState { target, source }),
        }
    }

    /// Publishes `n`; a failure becomes a note. True when it was published.
    async fn send(&mut self, n: &Notification) -> bool {
        match self.deps.notifier.notify(n).await {
            Ok(_) => true,
            Err(err) => {
                self.note(chain(&err));
                false
            }
        }
    }

    /// Dry-run: the next step, reported, nothing done.
    async fn preview(&mut self) -> Result<(), TickError> {
        let obs = self.observe().await?;
        let run = match (self.active().cloned(), self.desired()) {
            (Some(run), _) => run,
            (None, Desired::Start(slot)) => match plan::preflight(&self.refresh, &slot.run, &obs) {
                Start::Go => {
                    let run = new_run(&self.refresh, &slot, self.at);
                    self.report.plan.push(start_action(&self.refresh, &run));
                    run
                }
                Start::NotYet(why) | Start::Refuse(why) => {
                    self.note(format!("run {} would not start: {why}", slot.run));
                    return Ok(());
                }
            },
            (None, Desired::Idle(_)) => return Ok(()),
        };
        self.preview_steps(run, &obs);
        Ok(())
    }

    /// Follows phase changes (which need no call) in memory until the next call or wait.
    fn preview_steps(&mut self, mut run: Run, obs: &Observed) {
        if run.cluster.is_none() && run.phase.is_pre_swap() {
            let scope = &self.refresh.scope;
            self.note(format!(
                "before masking, every database of the clone's server is checked against the rules \
                 (one they do not name refuses the run), then: {}; {}",
                dropping(&scope.drop_databases),
                disabling(&scope.keep_logins)
            ));
        }
        for _ in 0..MAX_STEPS {
            match plan::next(&self.refresh, &run, obs, self.at) {
                Step::Act { action, .. } => return self.report.plan.push(action),
                Step::Advance(phase) => {
                    self.note(format!("next: phase {} -> {phase}", run.phase));
                    run.phase = phase;
                }
                Step::BeginSwap(plan) => {
                    self.note(format!(
                        "next: begin the swap ({})",
                        serde_json::to_string(&plan).unwrap_or_default()
                    ));
                    run.swap = Some(plan);
                }
                Step::Wait(why) => return self.note(format!("next: wait ({why})")),
                Step::Fail { kind, error } => {
                    return self.note(format!("next: the run fails ({}): {error}", kind.as_str()));
                }
            }
            if run.phase.is_terminal() {
                return;
            }
        }
    }
}

fn new_run(refresh: &Refresh, slot: &Slot, at: DateTime<Utc>) -> Run {
    let names = crate::names::Names {
        target: &refresh.target,
        run: &slot.run,
    };
    Run::begin(
        slot.run.clone(),
        at,
        slot.deadline,
        refresh.source.clone(),
        names.clone_cluster(),
        names.clone_instance(),
        random_hex(16),
    )
}

fn start_action(refresh: &Refresh, run: &Run) -> Action {
    Action::StartRun {
        target: refresh.target.clone(),
        run: run.id.clone(),
        clone: run.clone.clone(),
        deadline: run.deadline.to_rfc3339(),
    }
}

fn failure(phase: Phase, kind: FailKind, error: &str, at: DateTime<Utc>) -> Failure {
    Failure {
        phase,
        kind: kind.as_str().to_owned(),
        error: error.to_owned(),
        at,
    }
}
