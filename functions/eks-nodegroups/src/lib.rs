//! eks-nodegroups: development EKS managed node groups and self-managed Auto Scaling groups sleep
//! (`min = desired = 0`) inside the schedule's sleep windows and get back exactly what they had.
//!
//! Each tick ([`reconcile`]), one stage per module:
//! 1. [`observe`] — what AWS has (read-only), reduced to a [`observe::View`] per target;
//! 2. [`desired`] — asleep or awake, and why: an override holding at the clock, else the
//!    schedule at the event's `at` (else the clock) (pure);
//! 3. [`plan`] — the [`Action`]s that converge each target, acting on transitions (pure; they
//!    print and serialise);
//! 4. [`apply`] — the only code that mutates; in dry-run the plan is printed and the tick stops.
//!
//! Guarantees:
//! - **Exact restore.** Before a group is touched, its `{min, max, desired}` and its
//!   cluster-autoscaler discovery tags are saved in the state store with a conditional write, and
//!   mirrored in the `offpeak:asleep` tag on its Auto Scaling group ([`marker`]); they are never
//!   overwritten while it sleeps, restored exactly on wake, and cleared only after the restore is
//!   verified. `max` is never changed (EKS requires `max >= 1`).
//! - **Lost state can't strand a group** ([`recover`]): with its state item gone, a sleeping
//!   group's pre-sleep state is read back from its marker; zeros are never saved as a pre-sleep
//!   size nor restored. If the marker can't be read either, the group is left asleep with its
//!   marker and a person is told at once which values to set.
//! - **Nothing is orphaned** ([`orphans`]): every target offpeak changes is enrolled in its
//!   registry first (not changed if that fails); a target removed from the schedule is woken to
//!   its saved sizes and then released. One that no longer exists is released with a note; one
//!   offpeak's role may no longer touch is flagged and a person notified with what to do.
//! - **`at` replays the schedule, not the clock** ([`model::Instants`]): leases, override
//!   validity (the 31-day cap), skip tags and timestamps always use the clock.
//! - **The cluster autoscaler can't wake a sleeping group**: its discovery tags are removed from
//!   the group's Auto Scaling group while it sleeps ([`guard`]; docs/decisions.md says why).
//! - **Transitions, not ticks.** offpeak acts when the desired state changes (a window opens or
//!   closes, an override starts or ends); in between it respects a person's change unless the
//!   target sets `enforce: true`. Missed, late, duplicated and concurrent ticks converge to the
//!   same result (per-target leases, versioned writes); a converged target makes no write call.
//! - **One target never stops another.** A deleted node group, a failed call or a busy node group
//!   is reported (notes, notifications) and the rest of the tick proceeds.
//! - People stay in control: overrides ([`set_override`], or `"override"` in the event; their
//!   start and their end are notified, and `clear` ends one early) and the
//!   `offpeak:skip-until=<RFC3339>` tag on the node group.
//!
//! Failure behaviour: [`tick`] fails only when the tick as a whole can't run (no readable state
//! store, a refused override); everything else is in its [`Report`].

pub mod apply;
pub mod aws;
pub mod desired;
pub mod error;
pub mod guard;
pub mod marker;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod observe;
pub mod orphans;
pub mod overrides;
pub mod plan;
pub mod reconcile;
pub mod record;
pub mod recover;
pub mod skip;
pub mod targets;
#[cfg(test)]
mod testing;

use chrono::{DateTime, Utc};
use offpeak_shared::event::{InvocationEvent, Override};
use offpeak_shared::lambda::{Ctx, gated_tick};
use offpeak_shared::report::Report;
use offpeak_shared::state::DynamoStateStore;

pub use apply::Services;
pub use aws::{SdkAutoScaling, SdkEks};
pub use error::TickError;
pub use model::{Instants, Scaling, SleepState};
pub use overrides::Overridden;
pub use plan::{Action, Step};
pub use reconcile::run;
pub use record::HeldOverride;

/// The function's name: the Lambda's, the CLI's `<function>` and the report's `function`.
pub const FUNCTION: &str = "eks-nodegroups";

/// How many targets a tick describes or changes at once. EKS has no batch describe, so a tick
/// makes one `DescribeNodegroup` per node group; 8 in flight keeps 500 node groups to a few
/// seconds while staying well inside EKS and Auto Scaling API rate limits (the SDK's standard
/// retry absorbs any throttling). Results are always reported in schedule order.
pub const CONCURRENCY: usize = 8;

/// One tick with the cold-start context: the Lambda handler and `offpeak plan|run eks-nodegroups`.
/// `clock_now` is the clock's value; the event's `at` only moves the instant the schedule is read
/// at (leases, overrides and timestamps keep the clock). While `offpeak pause` holds the function
/// the tick runs as a dry-run.
pub async fn tick(
    ctx: &Ctx,
    event: &InvocationEvent,
    clock_now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let state = require_state(ctx)?;
    // Clients are thin handles over the shared SdkConfig (its credentials cache and HTTP
    // connection pool are reused), so building them here costs no I/O.
    let eks = SdkEks::new(aws_sdk_eks::Client::new(ctx.aws.sdk_config()));
    let autoscaling = SdkAutoScaling::new(aws_sdk_autoscaling::Client::new(ctx.aws.sdk_config()));
    let svc = Services {
        eks: &eks,
        autoscaling: &autoscaling,
        state,
        notifier: ctx.aws.notifier(),
    };
    let read_failed = |source| TickError::ReadState { count: 2, source };
    let run =
        |event: InvocationEvent| async move { run(&svc, &ctx.schedule, &event, clock_now).await };
    gated_tick(ctx, FUNCTION, event, clock_now, read_failed, run).await
}

/// `offpeak override <target> awake|asleep --until <time>` stores the override; the next tick
/// converges the target to it. `offpeak override <target> clear` ends the target's override at
/// the clock's `now`; the next tick follows the schedule and announces the end. Refused (see
/// [`TickError::is_bad_input`]) for a target the schedule does not cover, a state that is not
/// this function's, or an end not within the next 31 days. The caller announces a held override
/// ([`notify::override_started`]).
pub async fn set_override(
    ctx: &Ctx,
    o: &Override,
    now: DateTime<Utc>,
) -> Result<Overridden, TickError> {
    // Bad input is refused before the state table is even looked for.
    overrides::check_event(&ctx.schedule, o, now)?;
    let store = require_state(ctx)?;
    overrides::record(store, &ctx.schedule, o, now).await
}

fn require_state(ctx: &Ctx) -> Result<&DynamoStateStore, TickError> {
    ctx.aws
        .require_state()
        .map_err(|source| TickError::NoStateStore { source })
}
