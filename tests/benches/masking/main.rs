//! Masking throughput: `offpeak mask`, the whole command as a user runs it, against the forms an
//! engineer would write by hand, on the same data, on the same server, in the same run — on
//! PostgreSQL and on MariaDB.
//!
//! `cargo bench -p offpeak-tests --bench masking` (under `cargo test --benches`, without
//! `--bench`, it does nothing).
//!
//! - `OFFPEAK_BENCH_ROWS` (default 1,000,000) `users` rows with 4 masked columns (e-mail, name,
//!   phone, birth date) and a JSON profile with 3 masked paths; `OFFPEAK_BENCH_RUNS` (default 3)
//!   rounds; the servers are `OFFPEAK_TEST_PG_URL` and `OFFPEAK_TEST_MYSQL_URL` (else throwaway
//!   ones, see offpeak-tests); `OFFPEAK_BENCH_ENGINES` (default `postgres,mariadb`) picks them,
//!   `OFFPEAK_BENCH_MARIADB_ROWS` (default: the same rows) sizes the MariaDB table apart.
//! - Each round copies a template database once per contender, so every contender starts from
//!   identical, freshly analysed data; contenders run in turn within a round so they share the
//!   machine's state.
//! - `offpeak mask (whole command)` is the release `offpeak` binary run as a user runs it
//!   (`offpeak mask --rules FILE --database-url URL`, see [`command`]), timed from spawn to exit:
//!   catalog and default-deny check, preflight, sample capture, masking, clean-up (rewrites,
//!   statistics, materialized views) and the verification gate. The phases it reports are shown
//!   too (medians).
//! - Hand-written forms: PostgreSQL `UPDATE`, `CREATE TABLE AS SELECT` then primary key, unique
//!   index and the swap (what makes the copy a usable table), and, for reference only, `ALTER
//!   TABLE ... USING`; MariaDB `UPDATE`, and `CREATE TABLE ... SELECT` in key order, unique index,
//!   `RENAME`. The ratio is to the faster of each engine's `UPDATE` and copy form.
//! - All contenders must produce the same masked data: a checksum over the masked columns is
//!   compared, so the comparison is of equal work.
//! - The results are written into BENCHMARKS.md between `<!-- bench:masking -->` and
//!   `<!-- /bench:masking -->`, with when and where they ran and the machine's load.

mod command;
mod mariadb;
mod postgres;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use command::Offpeak;
use offpeak_tests::bench_report::{block_on, env_number, load_average};

/// The salt; `offpeak mask` reads it from `OFFPEAK_MASKING_SALT`.
const SALT: &str = "benchmark-salt-0123456789";

/// `offpeak mask`'s rules: the realistic schema's `users` table.
fn rules() -> String {
    format!("tables:\n{}", offpeak_tests::masking_support::USERS_RULES)
}

const OFFPEAK: &str = "offpeak mask (whole command)";

/// One engine's server with the template data, and its hand-written forms.
trait Lab {
    fn engine(&self) -> &'static str;
    /// A fresh copy of the template database, named with `label`; its URL.
    async fn copy(&self, label: &str) -> String;
    async fn drop_copy(&self, url: &str);
    /// A digest of every masked value, in key order.
    async fn checksum(&self, url: &str) -> String;
    async fn timed_sql(&self, url: &str, statements: &[String]) -> Duration;
    fn forms(&self) -> Vec<Form>;
    /// Server version and the settings that bear on the figures.
    async fn settings(&self) -> String;
}

/// A hand-written form; `baseline`: counts as "the faster hand-written form".
struct Form {
    name: &'static str,
    baseline: bool,
    statements: Vec<String>,
}

/// What one engine's rounds measured.
struct Measured {
    engine: &'static str,
    rows: u64,
    settings: String,
    names: Vec<&'static str>,
    baseline: Vec<bool>,
    times: Vec<Vec<Duration>>,
    /// Per round, the phases `offpeak mask` reported.
    phases: Vec<Vec<(String, f64)>>,
    /// Load average (1 min) when each contender started.
    loads: Vec<f64>,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("masking: a benchmark; run it with `make bench`");
        return;
    }
    block_on(bench());
}

async fn bench() {
    let rows: u64 = env_number("OFFPEAK_BENCH_ROWS", 1_000_000);
    let mariadb_rows: u64 = env_number("OFFPEAK_BENCH_MARIADB_ROWS", rows);
    let runs: u64 = env_number("OFFPEAK_BENCH_RUNS", 3);
    let engines = std::env::var("OFFPEAK_BENCH_ENGINES").unwrap_or("postgres,mariadb".into());
    let scratch = tempfile::tempdir().expect("scratch directory");
    let offpeak = Offpeak::find(&rules(), scratch.path());
    let load_before = load_average();
    let started = chrono::Utc::now();
    let mut measured = Vec::new();
    if engines.contains("postgres") {
        let server = offpeak_tests::pg_server();
        let template = server.database().await;
        println!("filling {rows} PostgreSQL users rows ...");
        let lab = postgres::Postgres::fill(server.url(), &template.name, &template.url, rows).await;
        measured.push(measure(&lab, &offpeak, rows, runs).await);
    }
    if engines.contains("mariadb") {
        let server = offpeak_tests::mariadb_server();
        let template = server.database().await;
        println!("filling {mariadb_rows} MariaDB users rows ...");
        let lab =
            mariadb::MariaDb::fill(server.url(), &template.name, &template.url, mariadb_rows).await;
        measured.push(measure(&lab, &offpeak, mariadb_rows, runs).await);
    }
    let mut body = machine(&started, runs, &load_before, &measured);
    for m in &measured {
        body.push_str("\n\n");
        body.push_str(&report(m));
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    offpeak_tests::bench_report::write_section(&file, "masking", &body);
    println!("\n{body}");
}

/// Every contender of `lab`, `runs` rounds.
async fn measure(lab: &impl Lab, offpeak: &Offpeak, rows: u64, runs: u64) -> Measured {
    let forms = lab.forms();
    let mut names = vec![OFFPEAK];
    names.extend(forms.iter().map(|f| f.name));
    let mut baseline = vec![false];
    baseline.extend(forms.iter().map(|f| f.baseline));
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let (mut phases, mut loads, mut checksums) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=runs {
        for (i, name) in names.iter().enumerate() {
            let url = lab.copy(&format!("r{round}_c{i}")).await;
            loads.push(load_average().parse().unwrap_or(0.0));
            let took = match i {
                0 => {
                    let run = offpeak.mask(&url, SALT);
                    for (table, method) in run.methods() {
                        println!("    {table}: {method}");
                    }
                    phases.push(run.phases());
                    run.took
                }
                _ => lab.timed_sql(&url, &forms[i - 1].statements).await,
            };
            checksums.push(lab.checksum(&url).await);
            lab.drop_copy(&url).await;
            println!(
                "{} round {round}: {name:<55} {:>8.2}s",
                lab.engine(),
                took.as_secs_f64()
            );
            times[i].push(took);
        }
    }
    checksums.dedup();
    assert_eq!(
        checksums.len(),
        1,
        "every {} contender produced the same masked data",
        lab.engine()
    );
    Measured {
        engine: lab.engine(),
        rows,
        settings: lab.settings().await,
        names,
        baseline,
        times,
        phases,
        loads,
    }
}

/// When and where the numbers were measured, and how loaded the machine was.
fn machine(
    started: &chrono::DateTime<chrono::Utc>,
    runs: u64,
    load_before: &str,
    measured: &[Measured],
) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let loads: Vec<f64> = measured.iter().flat_map(|m| m.loads.clone()).collect();
    let low = loads.iter().copied().fold(f64::MAX, f64::min);
    let high = loads.iter().copied().fold(0.0, f64::max);
    let servers: Vec<String> = measured.iter().map(|m| m.settings.clone()).collect();
    format!(
        "Measured {} on {cores} cores, shared with other builds: load average {load_before} \
         before, {low:.2}–{high:.2} as contenders started, {} after. Servers on the same machine: \
         {}. Median of {runs} rounds, `swap_workers` {}.",
        started.format("%Y-%m-%d %H:%M UTC"),
        load_average(),
        servers.join("; "),
        offpeak_masking::rules::parse_str(&rules(), "bench.yaml")
            .map(|r| r.swap_workers)
            .unwrap_or_default()
    )
}

/// One engine's tables (markdown): per contender the median, runs in order, rows per second and
/// ratio to the faster baseline form; then the medians of `offpeak mask`'s phases.
fn report(m: &Measured) -> String {
    let runs: Vec<Vec<f64>> = m
        .times
        .iter()
        .map(|t| t.iter().map(Duration::as_secs_f64).collect())
        .collect();
    let medians: Vec<f64> = runs.iter().map(|r| median(r)).collect();
    let best = medians
        .iter()
        .zip(&m.baseline)
        .filter(|(_, b)| **b)
        .map(|(t, _)| *t)
        .fold(f64::MAX, f64::min);
    let mut out = format!(
        "{}, {} rows:\n\n| contender | median | runs | rows/s | vs faster hand-written |\n|---|---:|---|---:|---:|\n",
        m.engine, m.rows
    );
    for ((name, median), all) in m.names.iter().zip(&medians).zip(&runs) {
        let all: Vec<String> = all.iter().map(|s| format!("{s:.2}")).collect();
        let _ = writeln!(
            out,
            "| {name} | {median:.2} s | {} | {:.0} | {:.2}x |",
            all.join(", "),
            m.rows as f64 / median,
            median / best
        );
    }
    out.push_str(&phase_table(m, &runs[0]));
    out
}

/// Medians of each phase over the rounds, and what lies outside them (process start, reading
/// the rules and the key, connecting).
fn phase_table(m: &Measured, totals: &[f64]) -> String {
    let Some(first) = m.phases.first() else {
        return String::new();
    };
    let mut heads = Vec::new();
    let mut cells = Vec::new();
    let mut inside = vec![0.0; totals.len()];
    for (k, (name, _)) in first.iter().enumerate() {
        let values: Vec<f64> = m
            .phases
            .iter()
            .map(|p| p.get(k).map_or(0.0, |x| x.1))
            .collect();
        for (sum, v) in inside.iter_mut().zip(&values) {
            *sum += v;
        }
        heads.push(name.clone());
        cells.push(format!("{:.2} s", median(&values)));
    }
    let outside: Vec<f64> = totals.iter().zip(&inside).map(|(t, i)| t - i).collect();
    heads.push("outside the engine".to_owned());
    cells.push(format!("{:.2} s", median(&outside)));
    format!(
        "\n`{OFFPEAK}` by phase (medians):\n\n| {} |\n|{}\n| {} |\n",
        heads.join(" | "),
        "---:|".repeat(heads.len()),
        cells.join(" | ")
    )
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// The HMAC key blocks of [`SALT`] (`K XOR ipad`, `K XOR opad`, RFC 2104) in hex, for the
/// hand-written forms.
fn key_blocks() -> (String, String) {
    let mut block = [0u8; 64];
    block[..SALT.len()].copy_from_slice(SALT.as_bytes());
    let hex = |pad: u8| block.iter().map(|b| format!("{:02x}", b ^ pad)).collect();
    (hex(0x36), hex(0x5c))
}

/// `UPDATE users SET column = expression, ...`: the hand-written in-place form.
fn update_sql(masked: Vec<(&str, String)>) -> String {
    let sets: Vec<String> = masked
        .into_iter()
        .map(|(c, e)| format!("{c} = {e}"))
        .collect();
    format!("UPDATE users SET {}", sets.join(", "))
}
