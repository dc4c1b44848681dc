//! `offpeak mask` as a user runs it: the release binary, a rules file on disk, the database URL,
//! the salt in `OFFPEAK_MASKING_SALT`; timed from spawn to exit, so process start, rules and key
//! loading, connecting, masking, clean-up and the verification gate are all inside the figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use offpeak_masking::SALT_ENV;
use offpeak_tests::bench_report::profile_dir;

/// The built `offpeak` binary and the rules file it is given.
pub struct Offpeak {
    program: PathBuf,
    rules: PathBuf,
}

/// One run of the command: its wall time and the report it printed (`--json`).
pub struct Run {
    pub took: Duration,
    pub report: serde_json::Value,
}

impl Offpeak {
    /// The release binary beside this benchmark (`make bench` builds it first: `cargo build
    /// --release -p offpeak-cli --bin offpeak`; built from here, cargo's environment for the
    /// benchmark would make it rebuild dependencies), and `rules` written into `scratch`.
    pub fn find(rules: &str, scratch: &Path) -> Offpeak {
        let program = profile_dir().join("offpeak");
        assert!(
            program.is_file(),
            "{} not found: run `cargo build --release -p offpeak-cli --bin offpeak` first (`make bench` does)",
            program.display()
        );
        let file = scratch.join("masking.yaml");
        std::fs::write(&file, rules).expect("rules file");
        Offpeak {
            program,
            rules: file,
        }
    }

    /// `offpeak mask --rules FILE --database-url URL --json`; panics unless it exits 0 with a
    /// passed verification.
    pub fn mask(&self, url: &str, salt: &str) -> Run {
        let started = Instant::now();
        let output = Command::new(&self.program)
            .arg("mask")
            .arg("--rules")
            .arg(&self.rules)
            .args(["--database-url", url, "--json"])
            .env(SALT_ENV, salt)
            .output()
            .expect("cannot run offpeak");
        let took = started.elapsed();
        assert!(
            output.status.success(),
            "offpeak mask failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("offpeak mask --json prints a report");
        assert_eq!(
            report["verification"]["passed"],
            serde_json::Value::Bool(true),
            "verified"
        );
        Run { took, report }
    }
}

impl Run {
    /// Seconds per phase, as the report lists them.
    pub fn phases(&self) -> Vec<(String, f64)> {
        self.report["phases"]
            .as_array()
            .map(|phases| {
                phases
                    .iter()
                    .map(|p| {
                        let name = p["name"].as_str().unwrap_or("?").to_owned();
                        (name, p["seconds"].as_f64().unwrap_or(0.0))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The method each masked table was masked by.
    pub fn methods(&self) -> Vec<(String, String)> {
        self.report["tables"]
            .as_array()
            .map(|tables| {
                tables
                    .iter()
                    .map(|t| {
                        let name = t["table"].as_str().unwrap_or("?").to_owned();
                        (name, t["method"].as_str().unwrap_or("-").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
