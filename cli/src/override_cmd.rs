//! `offpeak override <target> awake|asleep --until <RFC3339>`: keep one EKS target awake (or
//! asleep) until a time, whatever the schedule says. The next tick converges the target to it;
//! when it expires the schedule applies again.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use offpeak_eks_nodegroups::SleepState;

use crate::args::ConfigArg;
use crate::failure::Failure;
use crate::tick_cmd::{context, failure};

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OverrideState {
    Awake,
    Asleep,
}

#[derive(Args, Debug)]
pub struct OverrideArgs {
    /// The target id, e.g. dev-eks/app or an Auto Scaling group name
    pub target: String,
    #[arg(value_enum)]
    pub state: OverrideState,
    /// When the override ends (RFC 3339)
    #[arg(long)]
    pub until: DateTime<FixedOffset>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub async fn run(args: OverrideArgs, now: DateTime<Utc>) -> Result<(), Failure> {
    let ctx = context(&args.config).await?;
    let state = match args.state {
        OverrideState::Awake => SleepState::Awake,
        OverrideState::Asleep => SleepState::Asleep,
    };
    let until = args.until.with_timezone(&Utc);
    let held = offpeak_eks_nodegroups::set_override(&ctx, &args.target, state, until, now)
        .await
        .map_err(|e| failure(&e, e.is_bad_input()))?;
    let until = held.until.to_rfc3339_opts(SecondsFormat::Secs, true);
    println!(
        "{}: held {} until {until}; the next tick applies it",
        args.target,
        state_word(held.state)
    );
    Ok(())
}

fn state_word(state: SleepState) -> &'static str {
    match state {
        SleepState::Awake => "awake",
        SleepState::Asleep => "asleep",
    }
}
