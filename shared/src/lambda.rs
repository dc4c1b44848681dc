//! The Lambda edge every offpeak function shares: cold-start context and the invocation loop.
//!
//! A function's `main.rs` is one call: `offpeak_shared::lambda::serve(FUNCTION, handler)`. At
//! cold start, [`serve`] sets up JSON-capable logging, loads the AWS context (SDK config, state
//! store, notifier) and the schedule **once**; then for every invocation it parses the event,
//! reads the clock (the only place a function does), and hands plain values to the handler.
//!
//! The schedule is data, not code: the stack ships `infra/` as a layer and points
//! `OFFPEAK_CONFIG` at `/opt/schedules.yaml`, so a schedule edit is a deploy of a new layer
//! version and recompiles nothing. The masking rules the schedule names are read from beside it.
//!
//! Failure behaviour: an unset `OFFPEAK_CONFIG` or a schedule that does not load stops the cold
//! start with every `PATH:LINE:COL` error in the log (the function never acts on a config it
//! cannot read); an invalid event fails that invocation with `errorType` `InvalidEvent`; a tick's
//! own error fails the invocation with the stable `errorType` its `kind()` names ([`diagnostic`])
//! (never a Rust type name), so alarms, EventBridge Scheduler's retry policy and the dead-letter
//! queue see it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::AwsCtx;
use crate::config::{self, LoadError, Schedule};
use crate::error_chain::chain;
use crate::error_kind::ErrorKind;
use crate::event::{InvocationEvent, system_now};
use crate::metrics::Emf;
use crate::pause::Gate;
use crate::report::Report;
use crate::savings;
use crate::state::StateError;

/// Names the schedule file a function reads at cold start (the stack sets `/opt/schedules.yaml`).
pub const CONFIG_ENV: &str = "OFFPEAK_CONFIG";

/// What a function's tick gets, built once per cold start. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub aws: AwsCtx,
    pub schedule: Arc<Schedule>,
}

impl Ctx {
    /// Loads the AWS context and the schedule file `OFFPEAK_CONFIG` names.
    pub async fn load() -> Result<Self, LoadError> {
        let path = std::env::var_os(CONFIG_ENV)
            .map(PathBuf::from)
            .ok_or(LoadError::NotConfigured)?;
        let schedule = config::load(&path)?;
        Ok(Ctx {
            aws: AwsCtx::load().await,
            schedule: Arc::new(schedule),
        })
    }
}

/// `err` as the Lambda error response: its stable kind and its one-line cause chain.
pub fn diagnostic(kind: &str, err: &(dyn std::error::Error + 'static)) -> Diagnostic {
    Diagnostic {
        error_type: kind.to_owned(),
        error_message: chain(err),
    }
}

/// Logs the report's plan, outcome and notes as one JSON line and turns it into the response.
///
/// The line is `{"level": "INFO", "message": "tick report", "function", "report": {...}}`, so
/// CloudWatch Logs Insights can query `report.plan` and `report.notes` of a dry-run deployment.
/// Reports hold ids, counts and scrubbed errors only (see [`crate::report`]).
pub fn respond<A: Serialize>(report: &Report<A>) -> Result<Value, Diagnostic> {
    let value =
        serde_json::to_value(report).map_err(|e| diagnostic("ReportNotSerializable", &e))?;
    let line = json!({
        "level": "INFO",
        "message": "tick report",
        "function": report.function,
        "report": &value,
    });
    println!("{line}");
    Ok(value)
}

/// The response to one invocation: the tick's report, logged as one JSON line ([`respond`]),
/// with `metrics` of it (when the function has them) printed as one EMF line; or the tick's error
/// under its stable type `kind` ([`diagnostic`]).
pub fn answer<A: Serialize, E: std::error::Error + 'static>(
    result: Result<Report<A>, E>,
    kind: impl FnOnce(&E) -> ErrorKind,
    metrics: Option<fn(&Report<A>) -> Emf>,
    now: DateTime<Utc>,
) -> Result<Value, Diagnostic> {
    let report = result.map_err(|e| diagnostic(kind(&e).as_str(), &e))?;
    if let Some(metrics) = metrics {
        metrics(&report).emit(now.timestamp_millis());
    }
    respond(&report)
}

/// Runs one tick of `function` under its pause, with the state store and notifier of `ctx`:
/// reads the gate ([`Gate::check`]), runs `tick` with the event it allows (a dry-run while
/// paused), marks the report, and retires ended pauses. Every function's tick entry point goes
/// through here, so none can forget the kill switch.
///
/// Type-erased and boxed: the SDK's futures nest deeply, and unerased the handler's future type
/// would exceed the compiler's layout depth limit in the callers (`main.rs`, the CLI).
pub async fn gated_tick<A, E, Fut>(
    ctx: &Ctx,
    function: &'static str,
    event: &InvocationEvent,
    clock: DateTime<Utc>,
    read_failed: impl FnOnce(StateError) -> E + Send,
    tick: impl FnOnce(InvocationEvent) -> Fut + Send,
) -> Result<Report<A>, E>
where
    A: Send,
    E: Send,
    Fut: Future<Output = Result<Report<A>, E>> + Send,
{
    let store = ctx.aws.state();
    let gated: Pin<Box<dyn Future<Output = Result<Report<A>, E>> + Send + '_>> =
        Box::pin(async move {
            let gate = Gate::check(store, function, clock)
                .await
                .map_err(read_failed)?;
            let mut report = Box::pin(tick(gate.event(event))).await?;
            gate.annotate(&mut report);
            let notifier = ctx.aws.notifier();
            gate.finish(store, notifier, function, event.dry_run, &mut report)
                .await;
            Ok(report)
        });
    gated.await
}

/// Runs the Lambda Runtime API loop: for each invocation, parses the event, reads the clock,
/// emits the schedule's savings gauges ([`crate::savings::emit`]), and calls `tick(ctx, event,
/// now)`, whose value is the response.
pub async fn serve<F, Fut>(function: &'static str, tick: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Ctx, InvocationEvent, DateTime<Utc>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<Value, Diagnostic>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let ctx = match Ctx::load().await {
        Ok(ctx) => ctx,
        Err(err) => {
            tracing::error!(function, error = %err, "schedule failed to load");
            return Err(err.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (ctx, tick) = (ctx.clone(), tick.clone());
        async move {
            let parsed = InvocationEvent::from_value(event.payload)
                .and_then(|e| e.ensure_check_fits(function).map(|()| e))
                .map_err(|e| diagnostic("InvalidEvent", &e))?;
            let now = system_now();
            savings::emit(function, &ctx.schedule, &parsed, now);
            tick(ctx, parsed, now).await
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("describe clusters failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_failure_is_reported_by_its_stable_kind_and_cause_chain() {
        let err = Outer(std::io::Error::other("throttled"));
        let d = diagnostic("ObserveFailed", &err);
        assert_eq!(d.error_type, "ObserveFailed");
        assert_eq!(d.error_message, "describe clusters failed: throttled");
    }

    #[test]
    fn the_response_is_the_report() {
        let mut report: Report<String> =
            Report::new("aurora-replicas", DateTime::<Utc>::UNIX_EPOCH, true);
        report.plan.push("add replica prod-offpeak-1".into());
        report.note("prod", "cluster is modifying");
        let value = respond(&report).unwrap();
        assert_eq!(value["plan"][0], "add replica prod-offpeak-1");
        assert_eq!(value["notes"][0]["target"], "prod");
    }
}
