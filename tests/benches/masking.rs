//! Masking throughput on PostgreSQL: offpeak against the two forms an engineer would write by
//! hand, on the same data, on the same server, in the same run.
//!
//! `cargo bench -p offpeak-tests --bench masking`
//!
//! - `OFFPEAK_BENCH_ROWS` (default 1,000,000) users rows with 4 masked columns (e-mail, name,
//!   phone, birth date) and a JSONB profile with 3 masked paths; `OFFPEAK_BENCH_RUNS` (default 3)
//!   rounds; the server is `OFFPEAK_TEST_PG_URL` (else a throwaway one, see offpeak-tests).
//! - Each round copies a template database once per contender (`CREATE DATABASE ... TEMPLATE`),
//!   so every contender starts from identical, freshly analysed data; contenders run in turn
//!   within a round so they share the machine's state.
//! - Contenders: `offpeak` (the whole `mask_parallel` call: catalog and default-deny check,
//!   sample capture, the `swap` method — a masked copy filled on `swap_workers` sessions, then
//!   swapped in with its indexes and checked by signature —, ANALYZE and the verification gate),
//!   `offpeak mask only` (the same minus the gate, i.e. what the hand-written forms do),
//!   `offpeak mask only, swap off` (`swap_workers: 0`: the in-place `ALTER TABLE ... USING`
//!   rewrite offpeak used before), `UPDATE` (one hand-written UPDATE of the same columns) and
//!   `CTAS` (hand-written CREATE TABLE AS SELECT, then primary key, unique index and the swap:
//!   what makes the copy a usable table), plus, for reference, a hand-written
//!   `ALTER TABLE ... USING`.
//! - All contenders must produce the same masked data: a checksum over the masked columns is
//!   compared, so the comparison is of equal work.
//! - The results table is written into BENCHMARKS.md between `<!-- bench:masking -->` and
//!   `<!-- /bench:masking -->`, with when and where it ran.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use offpeak_masking::{self as masking, Budget, Db, Endpoint, MaskingKey, rules};
use sqlx::{Connection, Executor, PgConnection, Row};

const SALT: &[u8] = b"benchmark-salt-0123456789";

const RULES: &str = "
tables:
  users:
    keep: [id, status, created_at]
    mask:
      email: email
      full_name: name
      phone: phone
      birth_date: { strategy: generalize, to: month }
      profile:
        strategy: json
        paths:
          address.street: { strategy: redact, keep_first: 0, keep_last: 0 }
          contact.email: email
          contact.phone: phone
        others: keep
";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let rows: u64 = env_number("OFFPEAK_BENCH_ROWS", 1_000_000);
    let runs: u64 = env_number("OFFPEAK_BENCH_RUNS", 3);
    let load_before = load_average();
    let server = offpeak_tests::pg_server();
    let template = server.database().await;
    println!("filling {rows} users rows ...");
    fill(&template.url, rows).await;
    let contenders: [(&str, Contender); 6] = [
        (
            "offpeak (mask + verify)",
            Contender::Offpeak {
                verify: true,
                swap: true,
            },
        ),
        (
            "offpeak (mask only)",
            Contender::Offpeak {
                verify: false,
                swap: true,
            },
        ),
        (
            "offpeak (mask only, swap off)",
            Contender::Offpeak {
                verify: false,
                swap: false,
            },
        ),
        ("hand-written UPDATE", Contender::Update),
        ("hand-written CTAS + indexes", Contender::Ctas),
        ("hand-written ALTER ... USING", Contender::Alter),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    let mut checksums: Vec<String> = Vec::new();
    for round in 1..=runs {
        for (i, (name, contender)) in contenders.iter().enumerate() {
            let copy = copy_of(server.url(), &template.name, round, i).await;
            let took = contender.run(&copy).await;
            checksums.push(checksum(&copy).await);
            drop_copy(server.url(), &copy).await;
            println!("round {round}: {name:<30} {:>8.2}s", took.as_secs_f64());
            times[i].push(took);
        }
    }
    checksums.dedup();
    assert_eq!(
        checksums.len(),
        1,
        "every contender produced the same masked data"
    );
    let body = report(rows, &contenders.map(|(n, _)| n), &mut times);
    let machine = machine(server.url(), rows, runs, &load_before).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    offpeak_tests::bench_report::write_section(&file, "masking", &format!("{machine}\n\n{body}"));
    println!("\n{machine}\n\n{body}");
}

/// When and where the numbers were measured.
async fn machine(url: &str, rows: u64, runs: u64, load_before: &str) -> String {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let version: String = conn
        .fetch_one("SELECT version()")
        .await
        .expect("version")
        .get(0);
    let settings: String = conn
        .fetch_one(
            "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings \
             WHERE name IN ('max_parallel_workers_per_gather', 'max_parallel_maintenance_workers', \
                            'shared_buffers', 'wal_level', 'synchronous_commit')",
        )
        .await
        .expect("settings")
        .get(0);
    conn.close().await.expect("close");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let short = version.split(" on ").next().unwrap_or(&version);
    format!(
        "Measured {} on {cores} cores (load average {load_before} before, {} after; the machine \
         is shared), {short} on the same machine ({settings}); {rows} rows, median of {runs} \
         rounds, `swap_workers` {}.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load_average(),
        masking::rules::parse_str(RULES, "bench.yaml")
            .map(|r| r.swap_workers)
            .unwrap_or_default()
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The results table (markdown): median, runs in order, rows per second, ratio to the faster of
/// the hand-written UPDATE and CTAS (the target's baseline).
fn report(rows: u64, names: &[&str], times: &mut [Vec<Duration>]) -> String {
    let runs: Vec<Vec<f64>> = times
        .iter()
        .map(|t| t.iter().map(Duration::as_secs_f64).collect())
        .collect();
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2].as_secs_f64()
        })
        .collect();
    let hand = |n: &str| {
        names
            .iter()
            .position(|x| x.starts_with(n))
            .map(|i| medians[i])
    };
    let best_hand = hand("hand-written UPDATE")
        .unwrap_or(f64::MAX)
        .min(hand("hand-written CTAS").unwrap_or(f64::MAX));
    let mut out = String::from(
        "| contender | median | runs | rows/s | vs faster hand-written |\n|---|---:|---|---:|---:|\n",
    );
    for ((name, m), all) in names.iter().zip(&medians).zip(&runs) {
        let all: Vec<String> = all.iter().map(|s| format!("{s:.2}")).collect();
        let _ = writeln!(
            out,
            "| {name} | {m:.2} s | {} | {:.0} | {:.2}x |",
            all.join(", "),
            rows as f64 / m,
            m / best_hand
        );
    }
    out
}

enum Contender {
    Offpeak { verify: bool, swap: bool },
    Update,
    Ctas,
    Alter,
}

impl Contender {
    async fn run(&self, url: &str) -> Duration {
        match self {
            Contender::Offpeak { verify, swap } => offpeak(url, *verify, *swap).await,
            Contender::Update => timed_sql(url, &[update_sql()]).await,
            Contender::Ctas => timed_sql(url, &ctas_sql()).await,
            Contender::Alter => timed_sql(url, &[alter_sql()]).await,
        }
    }
}

async fn offpeak(url: &str, verify: bool, swap: bool) -> Duration {
    let text = match swap {
        true => RULES.to_owned(),
        false => format!("swap_workers: 0\n{RULES}"),
    };
    let rules = rules::parse_str(&text, "bench.yaml").expect("rules");
    let key = MaskingKey::from_salt(SALT, "bench").expect("key");
    let mut db = Db::connect(url).await.expect("connect");
    let started = Instant::now();
    let report = masking::mask_parallel(
        &mut db,
        Some(Endpoint::new(url)),
        &rules,
        &key,
        Budget::default(),
    )
    .await
    .expect("mask");
    let expected = if swap { "swap" } else { "rewrite" };
    for t in &report.tables {
        println!(
            "    {}: {} in {:.2}s",
            t.table,
            t.method.as_deref().unwrap_or("-"),
            t.seconds
        );
        assert_eq!(t.method.as_deref(), Some(expected), "method of {}", t.table);
    }
    let mut took = started.elapsed();
    assert!(
        report.verification.as_ref().is_some_and(|v| v.passed),
        "verified"
    );
    if !verify {
        // The gate on its own, timed the same way, is subtracted to leave the masking work.
        let started = Instant::now();
        masking::verify(&mut db, &rules, &key)
            .await
            .expect("verify");
        took = took.saturating_sub(started.elapsed());
    }
    db.close().await;
    took
}

async fn timed_sql(url: &str, statements: &[String]) -> Duration {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let started = Instant::now();
    conn.execute("BEGIN").await.expect("begin");
    for sql in statements {
        conn.execute(sql.as_str())
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    conn.execute("COMMIT").await.expect("commit");
    started.elapsed()
}

/// HMAC-SHA256 written out by hand, key blocks inline (as a one-off script would have them).
fn hmac(expr: &str) -> String {
    let mut block = [0u8; 64];
    block[..SALT.len()].copy_from_slice(SALT);
    let ipad = hex_of(&block.map(|b| b ^ 0x36));
    let opad = hex_of(&block.map(|b| b ^ 0x5c));
    format!(
        "encode(sha256('\\x{opad}'::bytea || sha256('\\x{ipad}'::bytea || convert_to({expr}, 'UTF8'))), 'hex')"
    )
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The masked columns, hand-written: `(column, expression)`.
fn masked_columns() -> Vec<(&'static str, String)> {
    let phone = |x: &str| {
        format!(
            "'+999 ' || lpad(((('x' || left({}, 8))::bit(32)::bigint % 1000000000))::text, 9, '0')",
            hmac(x)
        )
    };
    let street = "profile #>> '{address,street}'";
    let contact_email = "profile #>> '{contact,email}'";
    let contact_phone = "profile #>> '{contact,phone}'";
    let profile = format!(
        "jsonb_set(jsonb_set(jsonb_set(profile, '{{address,street}}', COALESCE(to_jsonb(repeat('*', char_length({street}))), 'null'), false), \
         '{{contact,email}}', COALESCE(to_jsonb({} || '@example.invalid'), 'null'), false), \
         '{{contact,phone}}', COALESCE(to_jsonb({}), 'null'), false)",
        hmac(contact_email),
        phone(contact_phone)
    );
    vec![
        ("email", format!("{} || '@example.invalid'", hmac("email"))),
        (
            "full_name",
            format!("'Person ' || upper(left({}, 10))", hmac("full_name")),
        ),
        ("phone", phone("phone")),
        (
            "birth_date",
            "date_trunc('month', birth_date)::date".to_owned(),
        ),
        ("profile", profile),
    ]
}

fn update_sql() -> String {
    let sets: Vec<String> = masked_columns()
        .into_iter()
        .map(|(c, e)| format!("{c} = {e}"))
        .collect();
    format!("UPDATE users SET {}", sets.join(", "))
}

/// The same single-pass rewrite offpeak uses, written by hand (for reference, not the target).
fn alter_sql() -> String {
    let types = [
        ("email", "text"),
        ("full_name", "text"),
        ("phone", "text"),
        ("birth_date", "date"),
        ("profile", "jsonb"),
    ];
    let alters: Vec<String> = masked_columns()
        .into_iter()
        .zip(types)
        .map(|((c, e), (_, t))| format!("ALTER COLUMN {c} TYPE {t} USING {e}"))
        .collect();
    format!("ALTER TABLE users {}", alters.join(", "))
}

fn ctas_sql() -> Vec<String> {
    let cols: Vec<String> = masked_columns()
        .into_iter()
        .map(|(c, e)| format!("{e} AS {c}"))
        .collect();
    vec![
        format!(
            "CREATE TABLE users_masked AS SELECT id, {}, status, created_at FROM users",
            cols.join(", ")
        ),
        "ALTER TABLE users_masked ADD PRIMARY KEY (id)".to_owned(),
        "CREATE UNIQUE INDEX users_masked_email_key ON users_masked (email)".to_owned(),
        "DROP TABLE users".to_owned(),
        "ALTER TABLE users_masked RENAME TO users".to_owned(),
    ]
}

async fn fill(url: &str, rows: u64) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    for sql in [
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, phone text, \
         birth_date date, profile jsonb, status text NOT NULL, created_at timestamptz NOT NULL)"
            .to_owned(),
        format!(
            "INSERT INTO users SELECT g, 'user' || g || '@mail.example.com', \
             CASE WHEN g % 10 = 0 THEN NULL ELSE 'Zoë Ñúñez ' || g END, \
             CASE WHEN g % 5 = 0 THEN NULL ELSE '+81-90-' || g END, date '1960-01-01' + (g % 20000), \
             jsonb_build_object('address', jsonb_build_object('street', g || ' Sakura-dori', 'city', 'Tokyo'), \
                                'contact', jsonb_build_object('email', 'alt' || g || '@example.org', 'phone', '+44 7700 ' || g)), \
             'active', timestamptz '2020-01-01' + g * interval '1 minute' FROM generate_series(1, {rows}) g"
        ),
        "VACUUM ANALYZE users".to_owned(),
    ] {
        conn.execute(sql.as_str()).await.expect("fill");
    }
    conn.close().await.expect("close");
}

async fn copy_of(admin_url: &str, template: &str, round: u64, contender: usize) -> String {
    let name = format!("{template}_r{round}_c{contender}");
    let mut admin = PgConnection::connect(admin_url).await.expect("admin");
    admin
        .execute(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"").as_str())
        .await
        .expect("copy");
    admin.close().await.expect("close");
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    let url = format!("{base}/{name}");
    // Statistics are per database and not copied with the template's files.
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    conn.execute("ANALYZE").await.expect("analyze");
    conn.execute("CHECKPOINT").await.expect("checkpoint");
    conn.close().await.expect("close");
    url
}

async fn checksum(url: &str) -> String {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let sql = "SELECT md5(string_agg(concat_ws('|', email, full_name, phone, birth_date, profile), ',' ORDER BY id)) FROM users";
    let row = conn.fetch_one(sql).await.expect("checksum");
    let sum: String = row.get(0);
    conn.close().await.expect("close");
    sum
}

async fn drop_copy(admin_url: &str, url: &str) {
    let name = url.rsplit('/').next().expect("a database name");
    let mut admin = PgConnection::connect(admin_url).await.expect("admin");
    admin
        .execute(format!("DROP DATABASE \"{name}\" WITH (FORCE)").as_str())
        .await
        .expect("drop");
    admin.close().await.expect("close");
}
