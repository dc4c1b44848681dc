//! Configuration errors, each printed as `PATH:LINE:COL: message`.

use std::fmt;
use std::path::PathBuf;

/// One mistake in a schedule file and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub line: u64,
    pub col: u64,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

/// Why a schedule could not be loaded. All are bad input (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "OFFPEAK_CONFIG is not set: it names the schedule file (the stack sets /opt/schedules.yaml, shipped in its schedule layer)"
    )]
    NotConfigured,
    #[error("cannot read schedule file {path}: {source}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every error found, in file order.
    #[error("{}", render(.0))]
    Invalid(Vec<ConfigError>),
}

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
