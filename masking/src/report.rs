//! What a masking run or a verification reports: names, methods, counts and durations, never a
//! value. Serialises to JSON for `offpeak mask --json` and the refresh's notifications.

use std::time::Instant;

use serde::Serialize;

/// A masking run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MaskReport {
    /// Every table reached its end state; false when the budget ran out first (run again).
    pub complete: bool,
    pub tables: Vec<TableReport>,
    /// Present when the run completed: the verification gate's result.
    pub verification: Option<Verification>,
    /// Where the run spent its time, phase by phase, in the order they ran.
    pub phases: Vec<Phase>,
}

/// The wall time of one phase of a run: `check` (session, catalog, rules), `preflight` (locks,
/// what the clean-up will need), `record` (row counts, original-value sample), `truncate`,
/// `mask`, `finalize` (rewrites, statistics, materialized views) and `verify` (the gate).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Phase {
    pub name: &'static str,
    pub seconds: f64,
}

/// Times consecutive phases: each [`Stopwatch::lap`] closes the phase running since the last.
pub(crate) struct Stopwatch {
    since: Instant,
    phases: Vec<Phase>,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            since: Instant::now(),
            phases: Vec::new(),
        }
    }

    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push(Phase {
            name,
            seconds: (now - self.since).as_secs_f64(),
        });
        self.since = now;
    }

    pub fn phases(self) -> Vec<Phase> {
        self.phases
    }
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

/// One check's result, as a verification lists it.
pub(crate) fn check(name: &'static str, subject: &str, passed: bool, detail: String) -> Check {
    Check {
        check: name,
        subject: subject.to_owned(),
        passed,
        detail,
    }
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
