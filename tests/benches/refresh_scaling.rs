//! The refresh's data-size scaling: the time to produce a masked development copy as the
//! non-personal part of production grows, offpeak's way against a dump → restore → mask pipeline,
//! on the same PostgreSQL, in the same run.
//!
//! `cargo bench -p offpeak-tests --bench refresh_scaling` (part of `make bench`); it
//! rewrites the `refresh-scaling` section of BENCHMARKS.md.
//!
//! - Production: `users` with `OFFPEAK_BENCH_USERS` rows (default 200,000) of personal data
//!   (e-mail, name, phone: masked) and `events` with a growing number of non-personal rows
//!   (`OFFPEAK_BENCH_SIZES`, default `0,1000000,3000000`; kept as is). `OFFPEAK_BENCH_RUNS`
//!   rounds (default 3); the server is `OFFPEAK_TEST_PG_URL` (else a throwaway one).
//! - offpeak: the copy is an Aurora fast clone (copy-on-write: no data is copied when it is
//!   made), then `masking::mask` inside it. Here `CREATE DATABASE ... TEMPLATE` stands in for the
//!   clone and is timed on its own, because it copies every file while Aurora's clone copies none.
//! - Pipeline: `pg_dump production | psql copy` (plain format), then the same `masking::mask`.
//! - Both copies must end with the same masked `users` and the same `events` (checksums).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use offpeak_masking::{self as masking, Budget, Db, Endpoint, MaskingKey, rules};
use offpeak_tests::bench_report::{block_on, env_number, load_average, server_version};
use sqlx::{Connection, Executor, PgConnection, Row};

const SALT: &[u8] = b"benchmark-salt-0123456789";

const RULES: &str = "
tables:
  users:
    keep: [id, created_at]
    mask:
      email: email
      full_name: name
      phone: phone
  events:
    keep: [id, user_id, kind, payload, at]
";

/// One production size's timings, one per round.
struct SizeResult {
    events: u64,
    bytes: i64,
    clone: Vec<Duration>,
    offpeak_mask: Vec<Duration>,
    dump_restore: Vec<Duration>,
    pipeline_mask: Vec<Duration>,
}

fn main() {
    block_on(bench());
}

async fn bench() {
    let users = env_number("OFFPEAK_BENCH_USERS", 200_000);
    let runs = env_number("OFFPEAK_BENCH_RUNS", 3);
    let sizes = env_sizes("OFFPEAK_BENCH_SIZES", &[0, 1_000_000, 3_000_000]);
    let (pg_dump, psql) = (client("pg_dump"), client("psql"));
    let server = offpeak_tests::pg_server();
    let load_before = load_average();
    let mut rows = Vec::new();
    for &events in &sizes {
        let production = server.database().await;
        println!("production: {users} users, {events} events ...");
        fill(&production.url, users, events).await;
        let mut row = SizeResult {
            events,
            bytes: database_bytes(&production.url).await,
            clone: Vec::new(),
            offpeak_mask: Vec::new(),
            dump_restore: Vec::new(),
            pipeline_mask: Vec::new(),
        };
        for round in 1..=runs {
            let (clone, clone_took) = template_copy(server.url(), &production.name, round).await;
            row.clone.push(clone_took);
            row.offpeak_mask.push(mask(&clone).await);
            let fresh = server.database().await;
            row.dump_restore
                .push(dump_restore(&pg_dump, &psql, &production.url, &fresh.url));
            row.pipeline_mask.push(mask(&fresh.url).await);
            assert_eq!(
                checksum(&clone).await,
                checksum(&fresh.url).await,
                "both ways produce the same masked copy"
            );
            drop_database(server.url(), &clone).await;
            println!(
                "round {round}: clone {:.2}s + mask {:.2}s | dump+restore {:.2}s + mask {:.2}s",
                secs(&row.clone[round as usize - 1]),
                secs(&row.offpeak_mask[round as usize - 1]),
                secs(&row.dump_restore[round as usize - 1]),
                secs(&row.pipeline_mask[round as usize - 1]),
            );
        }
        rows.push(row);
    }
    let body = format!(
        "{}\n\n{}",
        machine(server.url(), users, runs, &load_before).await,
        table(&mut rows)
    );
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    offpeak_tests::bench_report::write_section(&file, "refresh-scaling", &body);
    println!("\n{body}");
}

async fn fill(url: &str, users: u64, events: u64) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    for sql in [
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, \
         phone text, created_at timestamptz NOT NULL)"
            .to_owned(),
        "CREATE TABLE events (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, \
         kind text NOT NULL, payload text NOT NULL, at timestamptz NOT NULL)"
            .to_owned(),
        format!(
            "INSERT INTO users SELECT g, 'user' || g || '@mail.example.com', 'Person ' || g, \
             '+81-90-' || lpad(g::text, 8, '0'), timestamptz '2026-01-01' + g * interval '1 s' \
             FROM generate_series(1, {users}) g"
        ),
        format!(
            "INSERT INTO events SELECT g, 1 + g % {users}, 'kind-' || g % 20, \
             repeat(md5(g::text), 2), timestamptz '2026-01-01' + g * interval '1 s' \
             FROM generate_series(1, {events}) g"
        ),
        "VACUUM ANALYZE".to_owned(),
    ] {
        conn.execute(sql.as_str()).await.expect("fill");
    }
    conn.close().await.expect("close");
}

/// The stand-in for Aurora's clone: a file copy of the production database.
async fn template_copy(server: &str, template: &str, round: u64) -> (String, Duration) {
    let name = format!("{template}_clone_{round}");
    let mut conn = PgConnection::connect(server).await.expect("connect");
    let start = Instant::now();
    conn.execute(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"").as_str())
        .await
        .expect("template copy");
    let took = start.elapsed();
    conn.close().await.expect("close");
    (with_database(server, &name), took)
}

fn dump_restore(pg_dump: &Path, psql: &Path, from: &str, to: &str) -> Duration {
    let start = Instant::now();
    let mut dump = Command::new(pg_dump)
        .args(["--no-owner", "--no-privileges", "--dbname", from])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pg_dump");
    let restored = Command::new(psql)
        .args([
            "--quiet",
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            "--dbname",
            to,
        ])
        .stdin(dump.stdout.take().expect("pg_dump stdout"))
        .stdout(Stdio::null())
        .status()
        .expect("run psql");
    let dumped = dump.wait().expect("wait for pg_dump");
    assert!(
        dumped.success() && restored.success(),
        "dump | restore failed"
    );
    start.elapsed()
}

async fn mask(url: &str) -> Duration {
    let rules = rules::parse_str(RULES, "bench.yaml").expect("bench rules");
    let key = MaskingKey::from_salt(SALT, "bench").expect("key");
    let start = Instant::now();
    let mut db = Db::connect(url).await.expect("connect");
    let report = masking::mask_parallel(
        &mut db,
        Some(Endpoint::new(url)),
        &rules,
        &key,
        Budget::default(),
    )
    .await
    .expect("mask");
    db.close().await;
    assert!(
        report.verification.is_some_and(|v| v.passed),
        "verification passed"
    );
    start.elapsed()
}

async fn checksum(url: &str) -> String {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let sum: String = conn
        .fetch_one(
            "SELECT md5(coalesce((SELECT string_agg(md5(u::text), '' ORDER BY id) FROM users u), '')) \
             || md5(coalesce((SELECT string_agg(md5(e::text), '' ORDER BY id) FROM events e), ''))",
        )
        .await
        .expect("checksum")
        .get(0);
    conn.close().await.expect("close");
    sum
}

async fn database_bytes(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let bytes: i64 = conn
        .fetch_one("SELECT pg_database_size(current_database())")
        .await
        .expect("size")
        .get(0);
    conn.close().await.expect("close");
    bytes
}

async fn drop_database(server: &str, url: &str) {
    let name = url.rsplit('/').next().expect("database name").to_owned();
    let mut conn = PgConnection::connect(server).await.expect("connect");
    conn.execute(format!("DROP DATABASE \"{name}\"").as_str())
        .await
        .expect("drop");
    conn.close().await.expect("close");
}

fn with_database(server: &str, name: &str) -> String {
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    format!("{base}/{name}")
}

/// `pg_dump` / `psql` from PATH or Debian's versioned directories (newest first).
fn client(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort();
    dirs.reverse();
    offpeak_tests::process::find_program(name, &dirs).unwrap_or_else(|e| panic!("{e}"))
}

fn table(rows: &mut [SizeResult]) -> String {
    let mut out = String::from(
        "| non-personal rows | production size | clone stand-in (template copy) | offpeak: mask in the clone | dump + restore | mask after restore | pipeline total | pipeline ÷ offpeak mask |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows.iter_mut() {
        let (clone, mask, dump, pmask) = (
            median(&mut r.clone),
            median(&mut r.offpeak_mask),
            median(&mut r.dump_restore),
            median(&mut r.pipeline_mask),
        );
        let _ = writeln!(
            out,
            "| {} | {:.0} MiB | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.1}x |",
            r.events,
            r.bytes as f64 / (1024.0 * 1024.0),
            clone,
            mask,
            dump,
            pmask,
            dump + pmask,
            (dump + pmask) / mask
        );
    }
    out
}

async fn machine(url: &str, users: u64, runs: u64, load_before: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "Measured {} on {cores} cores (load average {load_before} before, {} after; the machine \
         is shared), {} on the same machine; {users} users rows, medians of {runs} rounds.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load_average(),
        server_version(url).await
    )
}

fn median(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

fn secs(d: &Duration) -> f64 {
    d.as_secs_f64()
}

fn env_sizes(name: &str, default: &[u64]) -> Vec<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .split(',')
            .map(|s| {
                s.trim()
                    .replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {s:?} is not a number"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}
