//! `offpeak`: check, preview and run the schedule from a terminal.
//!
//! This is an edge: it reads the clock, the environment and the command line, then hands plain
//! values to the library code. Exit codes: 0 ok, 1 runtime failure, 2 bad input.

mod args;
mod deploy_params;
mod desired;
mod failure;
mod mask;
mod mask_scaffold;
mod override_cmd;
mod pause_cmd;
mod state_cmd;
mod status_cmd;
mod tick_cmd;
mod timeline;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, StateCommand};
use failure::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Validate(a) => validate::run(&a.config.path()),
        Command::Desired(a) => desired::run(&a.config.path(), a.at, a.json),
        Command::Timeline(a) => timeline::run(&a, chrono::Utc::now()),
        Command::State(StateCommand::Init) => block_on(state_cmd::init()),
        Command::Plan(a) => block_on(tick_cmd::run(a, true, chrono::Utc::now())),
        Command::Run(a) => block_on(tick_cmd::run(a.tick, a.dry_run, chrono::Utc::now())),
        Command::Override(a) => block_on(override_cmd::run(a, chrono::Utc::now())),
        Command::Mask(a) => block_on(mask::run(a)),
        Command::Pause(a) => block_on(pause_cmd::pause(a, chrono::Utc::now())),
        Command::Resume(a) => block_on(pause_cmd::resume(a)),
        Command::Status(a) => block_on(status_cmd::run(&a.config, chrono::Utc::now())),
        Command::DeployParams(a) => deploy_params::run(&a),
    }
}

/// Runs one async command to completion; only the commands that talk to AWS or a database
/// start a runtime.
fn block_on<F: std::future::Future<Output = Result<(), Failure>>>(
    future: F,
) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(future)
}
