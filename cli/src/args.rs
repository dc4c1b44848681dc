//! The command line, as clap parses it.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, NaiveDate};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "offpeak",
    version,
    about = "Timezone-aware off-peak scheduling for AWS: validate, preview and run the schedule"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the schedule file; print a summary, or every error as PATH:LINE:COL (exit 2).
    Validate(ValidateArgs),
    /// Desired state of every target at an instant. No AWS calls.
    Desired(DesiredArgs),
    /// A week-at-a-glance chart of every target's windows, then each target's hours for the week.
    Timeline(TimelineArgs),
    /// The DynamoDB state table (OFFPEAK_STATE_TABLE).
    #[command(subcommand)]
    State(StateCommand),
    /// Observe AWS and print one function's plan; change nothing.
    Plan(crate::tick_cmd::TickArgs),
    /// Run one tick of a function, the same code path as the Lambda.
    Run(crate::tick_cmd::RunArgs),
    /// Hold a target until a time, whatever the schedule says (awake|asleep, replicas:N,
    /// skip|refresh), or end its override now (clear).
    Override(crate::override_cmd::OverrideArgs),
    /// Mask a PostgreSQL/MySQL database in place by the masking rules, then verify it.
    ///
    /// Exit 0 means masked and verified: no original value of a masked column, and no row of a
    /// truncated table, can be read back by SQL from the rows, old row versions, TOAST, dropped
    /// columns, planner statistics or materialized views; every value in a JSON document was
    /// classified (listed paths, else the column's `others` rule); and the HMAC key never
    /// travelled in a statement or bind parameter the server may log.
    ///
    /// Default-deny: every table must be in the rules, kept tables name their columns, and what no
    /// rule can mask (PostgreSQL foreign tables and large objects, MariaDB system-versioned tables,
    /// a MySQL login that cannot see triggers) refuses the run. Whatever could fail a table midway
    /// (CHECK constraints, domains, lengths, rules, row security, triggers) is checked first: the
    /// run refuses or completes. Exit 2: refused before any change, each finding as
    /// PATH:LINE:COL. Exit 1: a database or AWS failure, or a failed verification.
    ///
    /// Not covered here: the server's WAL and backups, and other databases on the same server
    /// (the masked refresh drops or refuses those; see docs/decisions.md).
    Mask(crate::mask::MaskArgs),
    /// Stop a function (or all) from changing anything until a time; no redeploy.
    Pause(crate::pause_cmd::PauseArgs),
    /// Lift a pause now.
    Resume(crate::pause_cmd::ResumeArgs),
    /// Active pauses, overrides, and removed targets not yet put back.
    Status(StatusArgs),
    /// Write the stack parameters that follow from the schedule into samconfig.toml (--check: compare).
    DeployParams(crate::deploy_params::DeployParamsArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Create the state table if it is missing (local runs; the stack creates it in AWS).
    Init,
}

#[derive(Args, Debug, Default)]
pub struct ConfigArg {
    /// Schedule file [default: $OFFPEAK_CONFIG, else infra/schedules.yaml]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn path(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(|| std::env::var_os("OFFPEAK_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("infra/schedules.yaml"))
    }
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Args, Debug)]
pub struct DesiredArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The instant, RFC 3339 (e.g. 2026-11-27T18:30:00+09:00)
    #[arg(long)]
    pub at: DateTime<FixedOffset>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// First day shown, in the schedule's zone [default: today]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,
    /// Number of days
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=62))]
    pub days: u16,
    /// Also read the state table (OFFPEAK_STATE_TABLE): hours asleep × each node group's saved size
    #[arg(long)]
    pub state: bool,
}
