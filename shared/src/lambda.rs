//! The Lambda edge every offpeak function shares: cold-start context and the invocation loop.
//!
//! A function's `main.rs` is one call: `offpeak_shared::lambda::serve("aurora-replicas", tick)`.
//! At cold start, [`serve`] sets up JSON-capable logging, loads the AWS context (SDK config, state
//! store, notifier) and the schedule **once**; then for every invocation it parses the event,
//! reads the clock (the only place a function does), and hands plain values to `tick`.
//!
//! Failure behaviour: a schedule that does not load stops the cold start with every
//! `PATH:LINE:COL` error in the log (the function never acts on a config it cannot read); an
//! invalid event fails that invocation with a message naming the problem; a tick's own error
//! fails the invocation, so EventBridge Scheduler's retry policy and dead-letter queue see it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::aws::AwsCtx;
use crate::config::{self, LoadError, Schedule};
use crate::event::{InvocationEvent, system_now};

/// Names a schedule file to use instead of the one compiled in (local runs).
pub const CONFIG_ENV: &str = "OFFPEAK_CONFIG";

/// What a function's tick gets, built once per cold start. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub aws: AwsCtx,
    pub schedule: Arc<Schedule>,
}

impl Ctx {
    /// Loads the AWS context and the schedule (`OFFPEAK_CONFIG`, else the embedded file).
    pub async fn load() -> Result<Self, LoadError> {
        let override_path = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        let schedule = config::load_configured(override_path.as_deref())?;
        Ok(Ctx {
            aws: AwsCtx::load().await,
            schedule: Arc::new(schedule),
        })
    }
}

/// Runs the Lambda Runtime API loop, calling `tick(ctx, event, now)` for each invocation and
/// returning its report as the response.
pub async fn serve<F, Fut>(function: &'static str, tick: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Ctx, InvocationEvent, DateTime<Utc>) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Value, lambda_runtime::Error>> + Send,
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
        let ctx = ctx.clone();
        async move {
            let parsed = InvocationEvent::from_value(event.payload)?;
            tick(ctx, parsed, system_now()).await
        }
    }))
    .await
}
