//! `offpeak`: check, preview and run the schedule from a terminal.
//!
//! This is an edge: it reads the clock, the environment and the command line, then hands plain
//! values to the library code. Exit codes: 0 ok, 1 runtime failure, 2 bad input.

mod args;
mod desired;
mod failure;
mod timeline;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
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
    }
}
