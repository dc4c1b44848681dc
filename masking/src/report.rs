//! What a masking run or a verification reports: names, methods, counts and durations, never a
//! value. Serialises to JSON for `offpeak mask --json` and the refresh's notifications.

use serde::Serialize;

/// A masking run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MaskReport {
    /// Every table reached its end state; false when the budget ran out first (run again).
    pub complete: bool,
    pub tables: Vec<TableReport>,
    /// Present when the run completed: the verification gate's result.
    pub verification: Option<Verification>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TableReport {
    pub table: String,
    /// `keep`, `truncate` or `mask`.
    pub action: &'static str,
    /// `rewrite`, `chunked`, `single` or `truncate`, once chosen.
    pub method: Option<String>,
    /// `column: strategy` for each masked column.
    pub columns: Vec<String>,
    /// Rows when masking started.
    pub rows: Option<i64>,
    /// Chunks committed by this run.
    pub chunks: u64,
    /// Already finished by an earlier run.
    pub already_done: bool,
    pub done: bool,
    pub seconds: f64,
}

/// The verification gate.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verification {
    pub passed: bool,
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Check {
    /// `progress`, `rows`, `pattern`, `sample`, `statistics`, `rewritten`, `materialized_view`,
    /// `foreign_key`, `index`.
    pub check: &'static str,
    /// `table`, `table.column` or `table.column.path`.
    pub subject: String,
    pub passed: bool,
    /// Counts only.
    pub detail: String,
}

impl Verification {
    pub fn new(checks: Vec<Check>) -> Verification {
        Verification {
            passed: checks.iter().all(|c| c.passed),
            checks,
        }
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}
