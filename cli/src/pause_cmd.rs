//! `offpeak pause [FUNCTION] --until T`, `offpeak resume [FUNCTION]`: the kill switch.
//!
//! A pause is one item in the state table (see `offpeak_shared::pause`), read by every tick: the
//! next tick of a paused function observes, plans and reports, and changes nothing. No redeploy.
//! Without FUNCTION the pause (or resume) covers all three functions.
//!
//! Bad input (exit 2): an `--until` not after now, or more than 31 days ahead (a lasting stop is
//! the stack's `ScheduleState=DISABLED` parameter). Both commands notify the stack's topic when
//! `OFFPEAK_TOPIC_ARN` is set.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use clap::Args;
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::error_chain::chain;
use offpeak_shared::notify::Notification;
use offpeak_shared::pause::{self, Pause};
use offpeak_shared::state::{DeleteOutcome, DynamoStateStore, PutOutcome, StateStore};

use crate::failure::Failure;
use crate::tick_cmd::Function;

/// The longest pause `offpeak pause` sets.
pub const MAX_DAYS: i64 = 31;

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// The function to pause [default: all of them]
    #[arg(value_enum)]
    pub function: Option<Function>,
    /// When the pause ends (RFC 3339)
    #[arg(long)]
    pub until: DateTime<FixedOffset>,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The function to resume [default: all of them]
    #[arg(value_enum)]
    pub function: Option<Function>,
}

/// The scope a command names: a function, or all of them.
pub fn scope(function: Option<Function>) -> &'static str {
    function.map_or(pause::ALL, Function::name)
}

pub async fn pause(args: PauseArgs, now: DateTime<Utc>) -> Result<(), Failure> {
    let until = args.until.with_timezone(&Utc);
    check_until(until, now)?;
    let aws = AwsCtx::load().await;
    let store = state(&aws)?;
    let held = Pause {
        scope: scope(args.function).to_owned(),
        until,
        since: now,
    };
    write(store, &held).await?;
    notify(&aws, &pause::started_notice(&held)).await;
    println!(
        "{}: paused until {}; from the next tick nothing changes (offpeak resume lifts it)",
        held.scope,
        until.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    Ok(())
}

pub async fn resume(args: ResumeArgs) -> Result<(), Failure> {
    let aws = AwsCtx::load().await;
    let store = state(&aws)?;
    let scope = scope(args.function);
    let key = pause::key(scope);
    let records = store.get_many(&[&key]).await.map_err(runtime)?;
    let Some(record) = records.get(&key) else {
        println!("{scope}: not paused");
        return Ok(());
    };
    match store.delete(&key, record.version).await.map_err(runtime)? {
        DeleteOutcome::Deleted => {
            notify(&aws, &pause::resumed_notice(scope)).await;
            println!("{scope}: resumed; the schedule applies from the next tick");
            Ok(())
        }
        DeleteOutcome::Conflict => Err(Failure::Runtime(format!(
            "{scope}: the pause changed while resuming it; run offpeak status and try again"
        ))),
    }
}

fn check_until(until: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Failure> {
    if until <= now {
        return Err(Failure::BadInput(format!(
            "--until {} is not after now ({})",
            until.to_rfc3339_opts(SecondsFormat::Secs, true),
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        )));
    }
    if until > now + Duration::days(MAX_DAYS) {
        return Err(Failure::BadInput(format!(
            "--until is more than {MAX_DAYS} days ahead; for a lasting stop deploy with ScheduleState=DISABLED"
        )));
    }
    Ok(())
}

/// Creates or replaces the pause item (versioned: a racing writer makes it a conflict).
async fn write(store: &DynamoStateStore, held: &Pause) -> Result<(), Failure> {
    let key = pause::key(&held.scope);
    let records = store.get_many(&[&key]).await.map_err(runtime)?;
    let doc = serde_json::to_value(held).map_err(|e| Failure::Runtime(e.to_string()))?;
    match store
        .put(&key, &doc, records.get(&key).map(|r| r.version))
        .await
        .map_err(runtime)?
    {
        PutOutcome::Written { .. } => Ok(()),
        PutOutcome::Conflict => Err(Failure::Runtime(format!(
            "{}: the pause changed while writing it; run offpeak status and try again",
            held.scope
        ))),
    }
}

pub fn state(aws: &AwsCtx) -> Result<&DynamoStateStore, Failure> {
    aws.require_state()
        .map_err(|e| Failure::BadInput(e.to_string()))
}

/// A failed publish is reported, never fatal: the pause itself is in place.
async fn notify(aws: &AwsCtx, notification: &Notification) {
    if let Err(err) = aws.notifier().notify(notification).await {
        eprintln!("warning: {}", chain(&err));
    }
}

fn runtime(err: offpeak_shared::state::StateError) -> Failure {
    Failure::Runtime(chain(&err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn until_must_be_ahead_and_within_31_days() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
        assert!(matches!(check_until(now, now), Err(Failure::BadInput(_))));
        assert!(check_until(now + Duration::days(31), now).is_ok());
        let far = check_until(now + Duration::days(32), now);
        assert!(matches!(far, Err(Failure::BadInput(m)) if m.contains("ScheduleState=DISABLED")));
    }
}
