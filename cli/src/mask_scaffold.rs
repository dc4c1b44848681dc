//! `offpeak mask scaffold --database-url URL`: print a complete starting rules file for a
//! database on stdout, for a person to review (see `offpeak_masking::scaffold`).
//!
//! stdout carries the rules file only; a one-line summary goes to stderr. Neither holds a value
//! from the database: the file names tables and columns and gives counts. Exit codes: 0 printed;
//! 2 the URL is malformed or its scheme unsupported; 1 the database could not be read.

use std::io::Write;

use clap::Args;
use offpeak_masking::scaffold::{self, SAMPLE_ROWS, ScaffoldError};

use crate::failure::Failure;

/// `offpeak mask scaffold --help`. The bound is [`SAMPLE_ROWS`] (a test keeps them equal).
pub const LONG_ABOUT: &str =
    "Print a complete masking rules file for a database on stdout, to review before use.

Every table and every column is listed. Columns that look personal, by their name or by the shape \
of a bounded sample of their values (e-mail addresses, phone numbers, IP addresses, names, postal \
addresses, and JSON documents, arrays or text holding any of these), get a strategy and a comment \
saying why; everything else is kept. The result passes the masking engine's own check of the rules \
against this database.

The sample is at most 200 rows per table (and the first 65536 characters of each value), judged by \
the database itself: only counts come back, and no sampled value is printed. The session is \
read-only: nothing is written to the database.

Exit codes: 0 printed; 2 malformed URL; 1 the database could not be read.";

#[derive(Args, Debug)]
pub struct ScaffoldArgs {
    /// Database to read: postgres://... or mysql://... (TLS as for `offpeak mask`)
    #[arg(long, value_name = "URL")]
    pub database_url: String,
}

pub async fn run(args: ScaffoldArgs) -> Result<(), Failure> {
    let made =
        scaffold::scaffold_url(&args.database_url)
            .await
            .map_err(|e: ScaffoldError| match e.is_bad_input() {
                true => Failure::BadInput(e.to_string()),
                false => Failure::Runtime(e.to_string()),
            })?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(made.text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Runtime(format!("cannot write the rules file: {e}")))?;
    let plural = |n: usize, noun: &str| format!("{n} {noun}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "offpeak mask scaffold: {}, {} masked, {} truncated (sample: at most {SAMPLE_ROWS} rows \
         per table); review before use",
        plural(made.tables, "table"),
        plural(made.masked_columns, "column"),
        plural(made.truncated_tables, "table"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use offpeak_masking::scaffold::{SAMPLE_CHARS, SAMPLE_ROWS};

    #[test]
    fn the_help_states_the_sample_bounds() {
        assert!(super::LONG_ABOUT.contains(&format!("at most {SAMPLE_ROWS} rows per table")));
        assert!(super::LONG_ABOUT.contains(&format!("first {SAMPLE_CHARS} characters")));
    }
}
