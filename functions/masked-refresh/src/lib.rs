//! masked-refresh: every night, make the development Aurora cluster a fresh, masked copy of
//! production — with the guarantee that unmasked data never reaches development.
//!
//! A re-entrant state machine driven by the periodic tick (EventBridge Scheduler, or
//! `offpeak plan|run masked-refresh`). Each tick advances the current run by what is ready; the
//! run's phase lives in the state store (target `masked-refresh/<dev cluster>`, see [`memory`])
//! and is mirrored as the `offpeak:phase` tag on the clone. A run starts only inside
//! `masked_refresh.window`, once per window occurrence, with one more attempt the same night
//! after a failure before the swap that a second attempt may fix ([`desired`]) — unless a person's override
//! ([`overrides`], [`set_override`]) says otherwise: `skip` starts no run before its end,
//! `refresh` starts one now, outside the window too, due by its end ([`desired`]).
//!
//! Stages, one module each, as in every offpeak function:
//!
//! | stage | module | here |
//! |---|---|---|
//! | observe | [`observe`] | the source, the dev cluster and every cluster named with the target's offpeak prefix, with their instances: one `DescribeDBClusters` and one `DescribeDBInstances` (read-only) |
//! | desired | [`desired`], [`window`] | may a run start, which one and by when: [`desired::Desired`] (`Start` or `Idle`, and why) from a person's override at the clock, else the window occurrence open at `at` ([`window::open_at`]) (pure) |
//! | plan | [`plan`] | the state machine as a pure step function: [`plan::next`] is a run's one next [`plan::Step`] from its phase and what was observed; [`plan::preflight`] says whether a run may start (pure) |
//! | apply | [`apply`] | the only code that changes anything: one [`Action`] against RDS, Secrets Manager or the clone's database |
//! | preflight | [`security_groups`] | before a run starts: the quarantine groups' inbound rules (`ec2:DescribeSecurityGroups`) admit only the function's own groups |
//! | driver | [`mod@tick`] | one tick: read the state document, settle overrides, ask [`desired`] when no run is in progress, then under the target's lease repeat observe → plan → apply → save while a step is ready |
//!
//! Phases ([`memory::Phase`]):
//!
//! | phase | does | moves on when |
//! |---|---|---|
//! | `clone` | `RestoreDBClusterToPointInTime` (copy-on-write, latest restorable time) as `<dev>-offpeak-<run>` into the quarantine security groups, tagged | the clone is `available` |
//! | `secure` | replaces the inherited master password with a derived one (never logged, never stored), before any instance exists | the call succeeded |
//! | `instance` | `CreateDBInstance` `<dev>-offpeak-<run>-1` | instance and clone `available` |
//! | `mask` | first, once: *contain* the clone's whole server ([`offpeak_masking::cluster`]) — every database checked against the rules (one they neither cover nor drop refuses the run, nothing changed), the listed ones dropped, every production login disabled, kept ones re-keyed; then the masking engine (crate [`offpeak_masking`]) inside the clone (resumable, several ticks if need be) | every table done and its verification passed |
//! | `verify` | the verification gate, again, in a fresh session, with the server's checks (no database but the covered one, no login the rules do not keep can log in) | it passed |
//! | `seal` | tags the clone `offpeak:masking=verified`, drops the masking bookkeeping | done |
//! | `copy` | once the clone's latest restorable time is past its sealing: `RestoreDBClusterToPointInTime` (copy-on-write) *of the verified clone* as `<dev>-offpeak-<run>-copy` into quarantine, `CreateDBInstance` `<dev>-offpeak-<run>-copy-1`; then deletes the clone and its instance (`DeleteAutomatedBackups`, no final snapshot), so no restorable point of dev predates masking; last, reads the dev password secret (`GetSecretValue`, value dropped) | the copy and its instance are `available`, the clone is gone and the secret holds a password |
//! | `swap` | tags the dev cluster aside, renames it (and its instances) to `<dev>-offpeak-prev-<run>`, then renames the copy to the dev name with the dev security groups and the dev master password (from Secrets Manager) in one call, and its instance to the old writer's name | the copy holds the dev name |
//! | `promote` | waits for the promoted cluster and instance; tags them `offpeak:role=dev`; turns deletion protection on when the dev cluster it replaced had it | both `available` (due by `promote_by`: the swap's end + 60 min, or the window's close if later) |
//! | `retire` | deletes previous dev clusters beyond `keep_previous` (instances first; deletion protection off first): one a person handed over with a final snapshot `<its id>-final`, one offpeak made (a masked copy) without | none left over (due by `promote_by`) |
//! | `done` | notifies with duration and counts, naming any final snapshot taken | — |
//!
//! Failure behaviour:
//! - a run does not start (nothing is created; "masked refresh did not start") when preflight
//!   refuses it: the dev password secret cannot be read or holds no password, a quarantine
//!   security group admits anything but the function's own groups ([`security_groups`]), the dev
//!   cluster is not handed over, a name is taken, ...;
//! - before the swap (any AWS error, masking error, verification failure, the window closing):
//!   `cleanup` deletes the clone, its copy and their instances, leaves dev untouched, notifies →
//!   `failed`;
//! - during the swap (including the window closing): `rollback` renames the copy back into
//!   quarantine and the previous dev cluster back to the dev name, then cleans up → `failed`;
//! - after the swap: a promoted cluster or instance not `available` by `promote_by` is rolled
//!   back to the previous dev cluster while that is still aside (dev serves the old verified
//!   copy) → `failed`; with none left, the run ends `failed` at once, the promoted (verified)
//!   cluster keeping the dev name for a person to look at. Either way a person is notified, the
//!   `Drift` metric is 1, and the next night's run starts as usual. A previous cluster that
//!   cannot be deleted (by then) is a warning, retried by the next run;
//! - a run that failed before the swap with an `aws` or `deadline` failure is tried once more
//!   in the same window occurrence when at least 2 h of it are left ([`desired`]);
//! - a `cleanup` not finished an hour after it began (a delete RDS keeps refusing) ends the run
//!   `failed`, naming what is left for a person ("failed refresh left for a person"); dev is by
//!   then the cluster it was before the run;
//! - a `rollback` not finished an hour after it began is told to a person, once, and goes on
//!   (never given up: it alone gives dev its name back);
//! - a killed invocation leaves its lease to expire; the next tick resumes from the saved phase;
//! - transient AWS errors, and the clone's server running out of time (every session on it is
//!   bound by the invocation's allowance: a statement or lock timeout, a silent endpoint), are
//!   retried on the next tick until the phase's deadline.
//!
//! Safety, in one place: unmasked data is only ever in a cluster carrying the quarantine groups
//! and a password nobody outside the function can derive; the clone leaves quarantine only
//! through a passed verification, which covers its whole server (no database the rules do not
//! cover, no production login that can log in). offpeak renames or deletes only what it created or what carries
//! `offpeak:managed-by=offpeak` ([`names`]); production, the cluster and each of its instances,
//! is only the source of the restore ([`apply::touches_production`]).
//!
//! The daily rules check (`{"check": "rules"}`, hours before the window) compares the rules with
//! production's catalog, reading no row and changing nothing, and notifies once naming each
//! unclassified column ([`rules_check`]).
//!
//! Metrics: the report's (`offpeak_shared::metrics::report_metrics`); its `Drift` is 1 while the
//! latest refresh run failed (development was not refreshed as scheduled).

pub mod action;
pub mod apply;
pub mod desired;
pub mod engine;
mod error;
pub mod memory;
pub mod names;
pub mod notices;
pub mod observe;
pub mod overrides;
pub mod plan;
pub mod rds;
pub mod rules_check;
pub mod secret;
pub mod secrets;
pub mod security_groups;
pub mod settings;
pub mod tick;
pub mod tls;
pub mod window;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use offpeak_shared::event::{InvocationEvent, OverrideState};
use offpeak_shared::lambda::{Ctx, gated_tick};
use offpeak_shared::report::Report;

pub use action::Action;
pub use engine::Engine;
pub use error::{StepError, TickError};
pub use overrides::{HeldOverride, Hold, Recorded};
pub use rds::{Rds, SdkRds};
pub use secrets::{SdkSecrets, Secrets};
pub use security_groups::{SdkSecurityGroups, SecurityGroups};
pub use settings::Settings;
pub use tick::{Deps, run};

/// The function's name: Lambda function, CLI argument, report and notification field.
pub const FUNCTION: &str = "masked-refresh";

/// One tick against the AWS account and region of `ctx`, with settings read from the process
/// environment once per process (`offpeak run|plan masked-refresh`).
pub async fn tick(
    ctx: &Ctx,
    event: &InvocationEvent,
    now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    let settings = match SETTINGS.get() {
        Some(s) => s,
        None => {
            let s = Settings::from_env()?;
            SETTINGS.get_or_init(|| s)
        }
    };
    tick_with(ctx, settings, event, now).await
}

/// One tick with `settings` built by the caller at its edge (the Lambda `main`, tests).
pub async fn tick_with(
    ctx: &Ctx,
    settings: &Settings,
    event: &InvocationEvent,
    now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let Some(cfg) = &ctx.schedule.masked_refresh else {
        event.checked_override(FUNCTION, |o| overrides::from_event(None, o, now))?;
        let mut report = Report::new(FUNCTION, event.instant(now), event.dry_run);
        report.note(
            FUNCTION,
            "the schedule has no masked_refresh section: nothing to do",
        );
        return Ok(report);
    };
    let sdk = ctx.aws.sdk_config();
    if event.check.is_some() {
        // Type-erased, as `gated_tick` is: unerased, the two paths' nested SDK futures exceed
        // the compiler's layout depth limit in the Lambda `main`.
        let check: Pin<Box<dyn Future<Output = _> + Send + '_>> =
            Box::pin(check_rules(ctx, settings, cfg, event, now));
        return check.await;
    }
    let rds = SdkRds::from_sdk_config(sdk);
    let secrets = SdkSecrets::from_sdk_config(sdk);
    let security_groups = SdkSecurityGroups::from_sdk_config(sdk);
    let masking = Engine::new(&cfg.rules, settings.masking_salt.clone(), sdk.clone());
    let deps = Deps {
        rds: &rds,
        secrets: &secrets,
        security_groups: &security_groups,
        masking: &masking,
        store: ctx.aws.state(),
        notifier: ctx.aws.notifier(),
        cfg,
        settings,
    };
    let read_failed = |source| TickError::ReadState {
        target: FUNCTION.to_owned(),
        source,
    };
    let run = |event: InvocationEvent| async move { run(&deps, &event, now).await };
    gated_tick(ctx, FUNCTION, event, now, read_failed, run).await
}

/// The daily rules check ([`rules_check`]) under the function's pause, like a tick.
async fn check_rules(
    ctx: &Ctx,
    settings: &Settings,
    cfg: &offpeak_shared::config::MaskedRefresh,
    event: &InvocationEvent,
    now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    event.ensure_check_fits(FUNCTION)?;
    let secrets = SdkSecrets::from_sdk_config(ctx.aws.sdk_config());
    let url = rules_check::source(settings, &secrets).await?;
    let notifier = ctx.aws.notifier();
    let read_failed = |source| TickError::ReadState {
        target: FUNCTION.to_owned(),
        source,
    };
    let check = |event: InvocationEvent| async move {
        rules_check::run(cfg, &url, notifier, &event, now).await
    };
    gated_tick(ctx, FUNCTION, event, now, read_failed, check).await
}

/// `offpeak override <dev cluster> skip|refresh|clear --until <time>`: checks the override with
/// the clock at `now`, stores it in the refresh's state document and notifies; the next tick
/// follows it. `until` is required for `skip` and `refresh` and ignored for `clear`. Refused
/// ([`TickError::is_bad_input`], nothing written) for another target, another function's state,
/// or an end not after `now` or more than 31 days after it. See [`overrides`].
pub async fn set_override(
    ctx: &Ctx,
    target: &str,
    state: OverrideState,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Recorded, TickError> {
    let cfg = ctx.schedule.masked_refresh.as_ref();
    overrides::request(cfg, target, state, until, now)?;
    let store = ctx
        .aws
        .require_state()
        .map_err(|_| TickError::StateNotConfigured)?;
    let notifier = ctx.aws.notifier();
    overrides::record(store, notifier, cfg, target, state, until, now).await
}
