//! The schedule file, `infra/schedules.yaml`: loading, validation and the typed model.
//!
//! Guarantees: a [`Schedule`] is only ever produced from a file with no errors at all; when there
//! are errors, *all* of them come back as [`ConfigError`]s (`PATH:LINE:COL: message`, in file
//! order), including unknown keys, so a typo never silently disables a window. Loading reads the
//! file it is given and nothing else: no clock, no environment, no AWS.
//!
//! The file is data, never compiled in: the functions read the file `OFFPEAK_CONFIG` names at
//! cold start (the stack ships `infra/` as a layer), the CLI the file `--config` names. Either
//! edge reads the environment and passes the path to [`load`].

mod error;
mod model;
mod parse;
mod tokens;

use std::path::Path;

use crate::yaml;

pub use error::{ConfigError, LoadError};
pub use model::{
    AuroraTarget, DaySet, EksTarget, MaskedRefresh, Minute, NodeGroups, ReplicaWindow, Schedule,
    Span, Window,
};

/// Parses schedule text. `path` names the file in error messages and anchors relative paths.
pub fn parse_str(text: &str, path: &Path) -> Result<Schedule, LoadError> {
    let label = path.display().to_string();
    let at = |(pos, message): (yaml::Pos, String)| ConfigError {
        path: label.clone(),
        line: pos.line,
        col: pos.col,
        message,
    };
    let root = yaml::parse(text).map_err(|e| LoadError::Invalid(vec![at(e)]))?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse::schedule(&root, base_dir)
        .map_err(|errors| LoadError::Invalid(errors.into_iter().map(at).collect()))
}

/// Reads and parses a schedule file.
pub fn load(path: &Path) -> Result<Schedule, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(&text, path)
}
