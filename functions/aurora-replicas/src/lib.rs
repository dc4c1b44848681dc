//! aurora-replicas: read replicas for production Aurora clusters during peak hours, as
//! `infra/schedules.yaml` says, safe to run unattended against production.
//!
//! Each tick (EventBridge Scheduler, every few minutes; or `offpeak plan|run aurora-replicas`):
//!
//! 1. [`observe`] — one `DescribeDBClusters` and one `DescribeDBInstances` for all target clusters
//!    and all [`unscheduled`] ones (tags included), plus one state-store read (memory and registry);
//! 2. [`desired`] — how many offpeak replicas each cluster wants now (pure; `lead_time` included;
//!    the event's `at`, when set, moves only this instant);
//! 3. [`plan`] — the [`Action`]s that close the gap (pure; gated by [`memory`]: act on
//!    transitions, respect manual changes inside a window unless `enforce: true`); a registered
//!    cluster the schedule no longer names wants none of offpeak's replicas ([`unscheduled`]);
//! 4. [`apply`] — the only code that mutates, after the cluster is enrolled in offpeak's registry
//!    and claimed in the state store ([`mod@tick`]); dry-run stops before it.
//!
//! Safety, in one place (details in each module's docs):
//! - offpeak deletes only replicas it created (tags **and** name, [`ownership`]) and never the
//!   current writer; Application Auto Scaling's and people's readers are never touched;
//! - nothing happens on a cluster that is not `available`, nor to an instance in a state where the
//!   API would refuse or something is in flight (`offpeak_shared::rds::status`);
//! - new replicas have promotion tier 15, the writer's engine and parameter group, and are spread
//!   over the cluster's AZs; the 15-reader limit counts every reader ([`plan`], [`placement`]);
//! - duplicated, concurrent, late or missed ticks converge to the same cluster ([`mod@tick`]);
//! - removing a cluster from the schedule removes offpeak's replicas from it, then forgets it
//!   ([`unscheduled`]);
//! - one cluster's failure never stops another's, and every failure is notified ([`notices`]);
//! - people stay in control: an override holds exactly N offpeak replicas until a time, whatever
//!   the schedule says ([`overrides`]: `"override"` in the event, or [`set_override`]).
//!
//! Metrics: the report's (`offpeak_shared::metrics::report_metrics`); its `Drift` counts the
//! clusters whose replicas have differed from the schedule for [`memory::DRIFT_TICKS`] ticks.

pub mod action;
pub mod apply;
pub mod cluster;
pub mod desired;
mod error;
pub mod memory;
pub mod notices;
pub mod observe;
pub mod overrides;
pub mod ownership;
pub mod placement;
pub mod plan;
pub mod rds;
pub mod tick;
pub mod unscheduled;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use offpeak_shared::event::{InvocationEvent, Override};
use offpeak_shared::lambda::{Ctx, gated_tick};
use offpeak_shared::report::Report;

pub use action::Action;
pub use error::{TickError, chain};
pub use overrides::{HeldOverride, Overridden};
pub use rds::{Rds, SdkRds};
pub use tick::{Deps, run};

/// The function's name: Lambda function, CLI argument, report and notification field.
pub const FUNCTION: &str = "aurora-replicas";

/// One tick against the AWS account and region of `ctx`: the Lambda handler and
/// `offpeak run|plan aurora-replicas` both call this. `now` is the clock's value; the event's
/// `at` only moves the instant the schedule is read at. While `offpeak pause` holds the function
/// the tick runs as a dry-run. In dry-run the returned report holds the plan and nothing is applied.
pub async fn tick(
    ctx: &Ctx,
    event: &InvocationEvent,
    now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    // Building a client is cheap and does no I/O; the SDK config behind it was loaded once per
    // cold start in `Ctx`.
    let rds = SdkRds::from_sdk_config(ctx.aws.sdk_config());
    let deps = Deps {
        rds: &rds,
        store: ctx.aws.state(),
        notifier: ctx.aws.notifier(),
        schedule: &ctx.schedule,
    };
    let read_failed = |source| TickError::ReadState { count: 2, source };
    let run = |event: InvocationEvent| async move { run(&deps, &event, now).await };
    gated_tick(ctx, FUNCTION, event, now, read_failed, run).await
}

/// `offpeak override <cluster> replicas:N|clear [--until T]`: checks the override (a cluster of
/// the schedule, a state this function holds, an end within the next 31 days of the clock's
/// `now`, an N that Aurora's reader limit allows beside the cluster's other readers) and stores
/// it; the next tick applies it and announces its end. Refused ones are bad input
/// ([`TickError::is_bad_input`]) and write nothing. The caller announces a held override
/// ([`notices::override_started`]).
pub async fn set_override(
    ctx: &Ctx,
    o: &Override,
    now: DateTime<Utc>,
) -> Result<Overridden, TickError> {
    // Bad input is refused before the state table is even looked for.
    overrides::check(&ctx.schedule, o, now)?;
    let store = ctx.aws.state().ok_or(TickError::StateNotConfigured)?;
    let rds = SdkRds::from_sdk_config(ctx.aws.sdk_config());
    overrides::record(&rds, store, &ctx.schedule, o, now).await
}
