//! `offpeak plan <function>` and `offpeak run <function>`: one tick from a terminal, through the
//! same library call the Lambda handler makes. `plan` is `run --dry-run`: it observes AWS and
//! prints the plan, changing nothing.
//!
//! Exit codes: 0 when every planned action was applied (or, in dry-run, planned); 1 when the tick
//! failed or any action failed (the report still prints); 2 for bad input.

use std::fmt::Display;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::config;
use offpeak_shared::event::{Check, InvocationEvent};
use offpeak_shared::lambda::Ctx;
use offpeak_shared::report::Report;
use serde::Serialize;

use crate::args::ConfigArg;
use crate::failure::Failure;
use offpeak_shared::error_chain::chain;

/// The functions a tick can run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    AuroraReplicas,
    EksNodegroups,
    MaskedRefresh,
}

impl Function {
    pub const ALL: [Function; 3] = [
        Function::AuroraReplicas,
        Function::EksNodegroups,
        Function::MaskedRefresh,
    ];

    /// The function's name, as in the stack and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Function::AuroraReplicas => offpeak_aurora_replicas::FUNCTION,
            Function::EksNodegroups => offpeak_eks_nodegroups::FUNCTION,
            Function::MaskedRefresh => offpeak_masked_refresh::FUNCTION,
        }
    }
}

#[derive(Args, Debug)]
pub struct TickArgs {
    /// Which function's tick to run
    #[arg(value_enum)]
    pub function: Function,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Replay this instant instead of now (RFC 3339)
    #[arg(long)]
    pub at: Option<DateTime<FixedOffset>>,
    /// masked-refresh: run the daily rules check (masking rules against production's catalog,
    /// no row read, nothing changed) instead of a tick
    #[arg(long)]
    pub check_rules: bool,
    /// Print the report as JSON (the Lambda's response)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub tick: TickArgs,
    /// Observe and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Builds the context the Lambda would build at cold start, from `--config` instead of the
/// embedded schedule.
pub async fn context(config: &ConfigArg) -> Result<Ctx, Failure> {
    let schedule = config::load(&config.path())?;
    Ok(Ctx {
        aws: AwsCtx::load().await,
        schedule: Arc::new(schedule),
    })
}

pub async fn run(args: TickArgs, dry_run: bool, now: DateTime<Utc>) -> Result<(), Failure> {
    let ctx = context(&args.config).await?;
    let event = InvocationEvent {
        dry_run,
        at: args.at,
        override_: None,
        check: args.check_rules.then_some(Check::Rules),
    };
    event
        .ensure_check_fits(args.function.name())
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let succeeded = match args.function {
        Function::AuroraReplicas => {
            let report = offpeak_aurora_replicas::tick(&ctx, &event, now).await;
            show(
                report.map_err(|e| failure(&e, e.is_bad_input()))?,
                args.json,
            )
        }
        Function::EksNodegroups => {
            let report = offpeak_eks_nodegroups::tick(&ctx, &event, now).await;
            show(
                report.map_err(|e| failure(&e, e.is_bad_input()))?,
                args.json,
            )
        }
        Function::MaskedRefresh => {
            let report = offpeak_masked_refresh::tick(&ctx, &event, now).await;
            show(
                report.map_err(|e| failure(&e, e.is_bad_input()))?,
                args.json,
            )
        }
    };
    if succeeded {
        Ok(())
    } else {
        Err(Failure::Runtime(
            "some actions failed; see the report".into(),
        ))
    }
}

/// A tick's error as the command's failure: bad input exits 2, anything else 1.
pub fn failure(err: &(dyn std::error::Error + 'static), bad_input: bool) -> Failure {
    if bad_input {
        Failure::BadInput(chain(err))
    } else {
        Failure::Runtime(chain(err))
    }
}

/// Prints the report; returns whether every action succeeded.
fn show<A: Serialize + Display>(report: Report<A>, json: bool) -> bool {
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot encode the report: {e}"),
        }
    } else {
        print!("{}", human(&report));
    }
    report.succeeded()
}

/// The report as a person reads it.
fn human<A: Display>(report: &Report<A>) -> String {
    let mode = if report.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let at = report.at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = format!("{} at {at}{mode}\n", report.function);
    let section = |out: &mut String, title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            out.push_str(&format!("{title}:\n"));
            lines.iter().for_each(|l| out.push_str(&format!("  {l}\n")));
        }
    };
    if report.plan.is_empty() {
        out.push_str("plan: nothing to do\n");
    }
    section(
        &mut out,
        "plan",
        report.plan.iter().map(ToString::to_string).collect(),
    );
    section(
        &mut out,
        "applied",
        report.applied.iter().map(ToString::to_string).collect(),
    );
    section(
        &mut out,
        "failed",
        report
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.action, f.error))
            .collect(),
    );
    section(
        &mut out,
        "notes",
        report
            .notes
            .iter()
            .map(|n| format!("{}: {}", n.target, n.message))
            .collect(),
    );
    out
}
