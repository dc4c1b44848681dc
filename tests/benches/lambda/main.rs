//! offpeak's Lambda benchmarks, run by `make bench`; they rewrite their sections of BENCHMARKS.md.
//!
//! - `cold-start` ([`cold_start`]): each function's release binary against the Python/boto3
//!   baseline, through a loopback Lambda Runtime API: cold start, warm invocation, peak RSS,
//!   package size, AWS requests.
//! - `ticks` ([`ticks`]): AWS calls and wall time per tick for 1, 50 and 500 targets, in process.
//!
//! `cargo bench -p offpeak-tests --bench lambda [-- cold-start|ticks]`; `OFFPEAK_BENCH_RUNS`
//! (default 7) sets the cold starts per subject. Under `cargo test --benches` (no `--bench`
//! argument) it does nothing, so test runs never pay for it.

mod census;
mod cold_start;
mod report;
mod template;
mod ticks;
mod world;

use std::path::Path;
use std::process::Command;

const DEFAULT_RUNS: usize = 7;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("lambda: a benchmark; run it with `make bench`");
        return;
    }
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| named.is_empty() || named.contains(&section);
    let root = offpeak_tests::workspace_root();
    let file = root.join("BENCHMARKS.md");
    let scratch = tempfile::tempdir().expect("scratch directory");
    if wanted("cold-start") {
        let runs = runs();
        let before = load_average();
        let subjects = cold_start::run(runs, scratch.path()).await;
        let machine = machine(&root, &before);
        let body = report::cold_start(&subjects, runs, &machine);
        report::write_section(&file, "cold-start", &body);
        println!("{body}");
    }
    if wanted("ticks") {
        let before = load_average();
        let scenarios = ticks::run().await;
        let body = report::ticks(&scenarios, &machine(&root, &before));
        report::write_section(&file, "ticks", &body);
        println!("{body}");
    }
    println!("lambda: wrote {}", file.display());
}

fn runs() -> usize {
    match std::env::var("OFFPEAK_BENCH_RUNS") {
        Ok(text) => text
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("OFFPEAK_BENCH_RUNS={text}: expected a positive number")),
        Err(_) => DEFAULT_RUNS,
    }
}

/// The first field of /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Where and with what the numbers were measured.
fn machine(root: &Path, load_before: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = output("rustc", &["-V"]);
    let python = root.join(".venv-bench/bin/python");
    let versions = output(
        &python.display().to_string(),
        &[
            "-c",
            "import sys, importlib.metadata as m; print('Python', sys.version.split()[0] + ',', \
             'boto3', m.version('boto3') + ',', 'awslambdaric', m.version('awslambdaric'))",
        ],
    );
    let moto = output(
        &offpeak_tests::venv()
            .join("bin/python")
            .display()
            .to_string(),
        &["-c", "import moto; print('moto', moto.__version__)"],
    );
    format!(
        "Measured {} on {cpu}, {cores} cores (load average {load_before} before, {} after; \
         the machine is shared), {} host build (the deployed build is arm64); {rustc}; \
         {versions}; {moto} server.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load_average(),
        std::env::consts::ARCH,
    )
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| format!("{program}: unavailable"))
}
