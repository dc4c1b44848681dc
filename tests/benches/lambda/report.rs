//! BENCHMARKS.md: the tables, written between this benchmark's markers
//! (`<!-- bench:NAME -->` … `<!-- /bench:NAME -->`); everything outside them is left as it is.

use std::fmt::Write as _;
use std::time::Duration;

pub use offpeak_tests::bench_report::write_section;

use crate::cold_start::{FUNCTIONS, Runtime, Subject};
use crate::ticks::{Measured, Scenario};
use offpeak_tests::wire::{Tally, is_read};

/// The project's targets: start at least this many times faster than the Python baseline...
const SPEEDUP_TARGET: f64 = 10.0;
/// ...with at most this fraction of its peak memory.
const MEMORY_TARGET: f64 = 1.0 / 3.0;

pub fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// `median (min–max)` in milliseconds.
fn spread(values: &[Duration]) -> String {
    let (min, max) = (values.iter().min(), values.iter().max());
    match (min, max) {
        (Some(min), Some(max)) => format!("{} ({}–{})", ms(median(values)), ms(*min), ms(*max)),
        _ => "–".to_owned(),
    }
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// KiB below a MiB, MiB above.
fn size(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        mib(bytes as f64)
    }
}

fn kib_median(kib: &[u64]) -> u64 {
    let mut sorted = kib.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// `3: rds:DescribeDBClusters 1, …`.
fn calls(tally: &Tally) -> String {
    let total: usize = tally.values().sum();
    let each: Vec<String> = tally.iter().map(|(op, n)| format!("{op} {n}")).collect();
    if each.is_empty() {
        return "0".to_owned();
    }
    format!("{total}: {}", each.join(", "))
}

/// The cold-start section: one row per function and runtime, then the targets.
pub fn cold_start(subjects: &[Subject], runs: usize, machine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{machine}\n");
    let _ = writeln!(
        out,
        "{runs} cold starts per function and runtime; times are medians (min–max).\n"
    );
    out.push_str(
        "| function | runtime | cold start, ms | of which init, ms | warm invocation, ms | \
         peak RSS (anonymous) | zip (file, unzipped) | AWS requests in one invocation |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for s in subjects {
        let init: Vec<Duration> = s.samples.iter().map(|x| x.init).collect();
        let cold: Vec<Duration> = s.samples.iter().map(|x| x.cold).collect();
        let warm: Vec<Duration> = s.samples.iter().map(|x| x.warm).collect();
        let rss: Vec<u64> = s.samples.iter().map(|x| x.peak_rss_kib).collect();
        let anon: Vec<u64> = s.samples.iter().map(|x| x.anon_kib).collect();
        let peak = if rss.is_empty() {
            "–".to_owned()
        } else {
            let kib = |values: &[u64]| mib(kib_median(values) as f64 * 1024.0);
            format!("{} ({})", kib(&rss), kib(&anon))
        };
        let package = s.package.as_ref().map_or("–".to_owned(), |p| {
            let provided = p.provided.map_or(String::new(), |(what, bytes)| {
                format!("; the runtime provides {what}, {} here", size(bytes))
            });
            format!(
                "{} (`{}`, {}){provided}",
                size(p.zipped_bytes),
                p.contents,
                size(p.unzipped_bytes)
            )
        });
        let requests = match &s.problem {
            Some(why) => format!("**not measured**: {}", first_line(why)),
            None => calls(&s.requests),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {peak} | {package} | {requests} |",
            s.function,
            s.runtime.label(),
            spread(&cold),
            spread(&init),
            spread(&warm)
        );
    }
    out.push_str(&targets(subjects));
    out
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().replace('|', "\\|")
}

/// The targets table: Python ÷ Rust cold start, Rust ÷ Python memory, per function.
fn targets(subjects: &[Subject]) -> String {
    let mut out = String::from(
        "\n| function | cold start, Python ÷ Rust (target ≥ 10×) | init, Python ÷ Rust | \
         peak RSS, Rust ÷ Python (target ≤ 1/3) | same AWS requests |\n|---|---|---|---|---|\n",
    );
    for f in &FUNCTIONS {
        let find = |runtime| {
            subjects
                .iter()
                .find(|s| s.function == f.name && s.runtime == runtime)
                .filter(|s| s.problem.is_none() && !s.samples.is_empty())
        };
        let (Some(rust), Some(python)) = (find(Runtime::Rust), find(Runtime::Python)) else {
            let _ = writeln!(out, "| {} | not measured | – | not measured | – |", f.name);
            continue;
        };
        let cold = |s: &Subject| median(&s.samples.iter().map(|x| x.cold).collect::<Vec<_>>());
        let init = |s: &Subject| median(&s.samples.iter().map(|x| x.init).collect::<Vec<_>>());
        let rss =
            |s: &Subject| kib_median(&s.samples.iter().map(|x| x.peak_rss_kib).collect::<Vec<_>>());
        let speedup = cold(python).as_secs_f64() / cold(rust).as_secs_f64();
        let init_speedup = init(python).as_secs_f64() / init(rust).as_secs_f64();
        let memory = rss(rust) as f64 / rss(python) as f64;
        let verdict = |met: bool| if met { "met" } else { "**missed**" };
        let same = if rust.requests == python.requests {
            "yes"
        } else {
            "**no**"
        };
        let _ = writeln!(
            out,
            "| {} | {speedup:.1}× — {} | {init_speedup:.1}× | {memory:.2} — {} | {same} |",
            f.name,
            verdict(speedup >= SPEEDUP_TARGET),
            verdict(memory <= MEMORY_TARGET),
        );
    }
    out
}

/// The ticks section: one row per function, size and phase.
pub fn ticks(scenarios: &[Scenario], machine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{machine}\n");
    out.push_str(
        "| function | targets | tick | planned actions | AWS calls | reads | writes | \
         calls by operation | wall time, ms | ms per call |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in scenarios {
        for m in &s.phases {
            out.push_str(&tick_row(s, m));
        }
    }
    out.push('\n');
    for s in scenarios {
        let _ = writeln!(
            out,
            "- {} × {}: {} (seeding moto took {:.0} s).",
            s.function,
            s.targets,
            s.shape,
            s.seed_time.as_secs_f64()
        );
    }
    out.push_str(&aurora_reads(scenarios));
    out.push_str(&timeout_budget(scenarios));
    out
}

/// For each function's heaviest tick: the average answer time per call at which its calls, made
/// as many at a time as the function makes them, still fit the function's `Timeout`.
fn timeout_budget(scenarios: &[Scenario]) -> String {
    let mut out = String::new();
    for (function, in_flight) in [
        ("aurora-replicas", 1),
        ("eks-nodegroups", offpeak_eks_nodegroups::CONCURRENCY),
    ] {
        let heaviest = scenarios
            .iter()
            .filter(|s| s.function == function)
            .flat_map(|s| {
                s.phases
                    .iter()
                    .map(move |m| (s, m, m.calls.values().sum::<usize>()))
            })
            .max_by_key(|(_, _, total)| *total);
        let Some((s, m, total)) = heaviest.filter(|(_, _, total)| *total > 0) else {
            continue;
        };
        let timeout = crate::template::property(function, "Timeout");
        let how = match in_flight {
            1 => "one after another".to_owned(),
            n => format!("up to {n} at a time"),
        };
        let _ = writeln!(
            out,
            "- {function}'s heaviest tick ({} targets, \"{}\") makes {total} calls, {how}: to \
             finish within its {timeout} s `Timeout`, AWS must answer them in {:.0} ms each on \
             average.",
            s.targets,
            m.label,
            timeout as f64 * 1000.0 * in_flight as f64 / total as f64
        );
    }
    out
}

/// Requests of `calls` that only read.
fn reads(calls: &Tally) -> usize {
    calls
        .iter()
        .filter(|(op, _)| is_read(op))
        .map(|(_, n)| n)
        .sum()
}

fn tick_row(s: &Scenario, m: &Measured) -> String {
    let total: usize = m.calls.values().sum();
    let reads = reads(&m.calls);
    let per_call = if total == 0 {
        "–".to_owned()
    } else {
        format!(
            "{:.1}",
            median(&m.wall).as_secs_f64() * 1000.0 / total as f64
        )
    };
    let mut tick = m.label.to_owned();
    if m.failed > 0 {
        let _ = write!(tick, " (**{} failed actions**)", m.failed);
    }
    if !m.other_totals.is_empty() {
        let _ = write!(tick, " (later cycles: {:?} calls)", m.other_totals);
    }
    let by_operation: Vec<String> = m.calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
    format!(
        "| {} | {} | {tick} | {} | {total} | {reads} | {} | {} | {} | {per_call} |\n",
        s.function,
        s.targets,
        m.planned,
        total - reads,
        by_operation.join(", "),
        spread(&m.wall)
    )
}

/// Aurora's reads per steady tick at each size.
fn aurora_reads(scenarios: &[Scenario]) -> String {
    let steady: Vec<String> = scenarios
        .iter()
        .filter(|s| s.function == "aurora-replicas")
        .filter_map(|s| {
            let m = s
                .phases
                .iter()
                .find(|m| m.label.starts_with("steady, in window"))?;
            let reads = reads(&m.calls);
            Some(format!("{} cluster(s) → {reads}", s.targets))
        })
        .collect();
    if steady.is_empty() {
        return String::new();
    }
    format!(
        "- aurora-replicas reads per steady tick: {}.\n",
        steady.join(", ")
    )
}
