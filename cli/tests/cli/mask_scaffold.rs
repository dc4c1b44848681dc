//! `offpeak mask scaffold` end to end: the binary against real PostgreSQL and MariaDB databases.
//!
//! For the realistic schema of the masking tests (`offpeak_tests::masking_support`) and for a
//! second schema of JSON documents, arrays, non-ASCII and odd table and column names, unique
//! columns too short for the usual pseudonyms and a personal key referenced by a foreign key:
//! - the printed file is accepted by the rules loader and by `offpeak validate` (a schedule
//!   naming it), and `offpeak mask` with it exits 0 with its verification passed;
//! - after that, no original e-mail address, phone number, name, street, IP address, note or
//!   birthday is left in any row, in the planner statistics, or in a full dump; kept data is
//!   unchanged;
//! - the scaffold itself wrote nothing (the catalog, every row's content and row version, and
//!   MariaDB's update times are what they were), works for a login that may only read, and
//!   printed none of the values it sampled.

use offpeak_tests::masking_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use masking_support::evidence::{lines_with, mysql_dump, pg_dump};
use masking_support::{MARKERS, Pool};
use offpeak_tests::{Engine, TestDb, mariadb_database, pg_database};

const SALT: &str = "scaffold-test-salt-0123456789abcdef";

fn offpeak(args: &[&str], salt: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_offpeak"));
    cmd.args(args)
        .env_remove("OFFPEAK_MASKING_SALT")
        .env_remove("OFFPEAK_CONFIG");
    if let Some(salt) = salt {
        cmd.env("OFFPEAK_MASKING_SALT", salt);
    }
    cmd.output().expect("run offpeak")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `offpeak mask scaffold` on `url`: exit 0, the rules file on stdout.
fn scaffold(url: &str) -> (String, String) {
    let out = offpeak(&["mask", "scaffold", "--database-url", url], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (
        String::from_utf8(out.stdout).expect("UTF-8 rules"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The printed file names no sampled value: none of the originals' markers, and no e-mail
/// address but the masked ones' `@example.invalid`.
fn assert_prints_no_value(output: &str, markers: &[&str]) {
    let found = lines_with(output, markers);
    assert!(found.is_empty(), "sampled values printed: {found:?}");
    let domains = email_domains(output);
    assert!(
        domains.iter().all(|d| d == "example.invalid"),
        "e-mail addresses printed, at: {domains:?}"
    );
}

/// The domain of every e-mail-shaped `local@domain.tld` in `text` (a login's `user@host` or
/// `user@%` is not one: its host has no dotted name ending in letters).
fn email_domains(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('@') {
        let local = text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || "._%+-".contains(c));
        let domain: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        let domain = domain.trim_end_matches('.');
        let tld = domain.rsplit_once('.').map(|(_, t)| t);
        if local && tld.is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()))
        {
            out.push(domain.to_owned());
        }
    }
    out
}

/// The file passes the rules loader and `offpeak validate` with a schedule naming it; returns
/// its path.
fn validates(dir: &Path, rules: &str) -> PathBuf {
    offpeak_masking::rules::parse_str(rules, "scaffold.yaml")
        .unwrap_or_else(|e| panic!("the rules loader refuses the scaffold: {e}\n{rules}"));
    let path = dir.join("masking.yaml");
    std::fs::write(&path, rules).unwrap();
    let schedule = dir.join("schedules.yaml");
    std::fs::write(
        &schedule,
        "timezone: Asia/Tokyo\nmasked_refresh:\n  source_cluster: prod-aurora\n  target_cluster: dev-aurora\n  rules: masking.yaml\n  window: { days: daily, start: \"03:00\", end: \"06:00\" }\n  dev_password_secret: offpeak/dev\n",
    )
    .unwrap();
    let out = offpeak(&["validate", "--config", schedule.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(", masking rules "),
        "{}",
        text(&out)
    );
    path
}

/// `offpeak mask` with the scaffolded rules (`text`) exits 0 with its verification passed.
fn masks(rules: &Path, text_: &str, url: &str) {
    let out = offpeak(
        &[
            "mask",
            "--rules",
            rules.to_str().unwrap(),
            "--database-url",
            url,
        ],
        Some(SALT),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nrules:\n{text_}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verification passed"),
        "{}",
        text(&out)
    );
}

/// What would change if anything wrote to the database: the catalog (PostgreSQL: every
/// relation and its file; MariaDB: tables, their update times, columns) and every row's content
/// (PostgreSQL: and row version).
async fn snapshot(pool: &Pool) -> Vec<String> {
    let mut out = Vec::new();
    let flat = |rows: Vec<Vec<Option<String>>>| {
        rows.into_iter()
            .map(|r| {
                r.into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect::<Vec<_>>()
    };
    match pool {
        Pool::Pg(_) => {
            out.extend(flat(
                pool.texts(
                    "SELECT n.nspname::text, c.relname::text, c.relkind::text, c.relfilenode::text \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
                       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1, 2",
                )
                .await,
            ));
            for table in pg_tables(pool).await {
                out.extend(flat(
                    pool.texts(&format!(
                        "SELECT '{table}', COALESCE(md5(string_agg(t::text || '@' || t.ctid::text || '@' || t.xmin::text, '|' \
                         ORDER BY t.ctid)), '') FROM {table} t"
                    ))
                    .await,
                ));
            }
        }
        Pool::My(p) => {
            out.extend(flat(
                pool.texts(
                    "SELECT TABLE_NAME, ENGINE, CAST(UPDATE_TIME AS CHAR) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
                )
                .await,
            ));
            out.extend(flat(
                pool.texts(
                    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2",
                )
                .await,
            ));
            let tables = pool
                .texts("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1")
                .await;
            for t in tables.into_iter().filter_map(|r| r[0].clone()) {
                use sqlx::Row;
                let sql = format!("CHECKSUM TABLE `{}`", t.replace('`', "``"));
                let row = sqlx::query(&sql).fetch_one(p).await.expect("checksum");
                let sum = row
                    .try_get::<Option<u64>, _>(1)
                    .map(|v| v.map(|v| v.to_string()))
                    .or_else(|_| {
                        row.try_get::<Option<i64>, _>(1)
                            .map(|v| v.map(|v| v.to_string()))
                    })
                    .expect("checksum value");
                out.push(format!("{t}|{}", sum.unwrap_or_default()));
            }
        }
    }
    out
}

/// Every user table of a PostgreSQL database, quoted.
async fn pg_tables(pool: &Pool) -> Vec<String> {
    pool.texts(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .await
    .into_iter()
    .filter_map(|r| r[0].clone())
    .collect()
}

/// Every row of every table (every schema, offpeak's bookkeeping included) and, on
/// PostgreSQL, the planner statistics, as text lines.
async fn every_row(pool: &Pool) -> Vec<String> {
    match pool {
        Pool::My(_) => {
            let mut out = Vec::new();
            let tables = pool
                .texts("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1")
                .await;
            for t in tables.into_iter().filter_map(|r| r[0].clone()) {
                let columns = pool
                    .texts(&format!(
                        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                         AND TABLE_NAME = '{}' ORDER BY ORDINAL_POSITION",
                        t.replace('\'', "''")
                    ))
                    .await;
                let cols: Vec<String> = columns
                    .into_iter()
                    .filter_map(|r| r[0].clone())
                    .map(|c| format!("IFNULL(CAST(`{}` AS CHAR), '<null>')", c.replace('`', "``")))
                    .collect();
                let sql = format!(
                    "SELECT CONCAT_WS('|', {}) FROM `{}`",
                    cols.join(", "),
                    t.replace('`', "``")
                );
                for r in pool.texts(&sql).await {
                    out.push(format!("{t}: {}", r[0].clone().unwrap_or_default()));
                }
            }
            out
        }
        Pool::Pg(_) => {
            let mut out = Vec::new();
            for table in pg_tables(pool).await {
                for r in pool.texts(&format!("SELECT t::text FROM {table} t")).await {
                    out.push(format!("{table}: {}", r[0].clone().unwrap_or_default()));
                }
            }
            let stats = pool
                .texts(
                    "SELECT schemaname || '.' || tablename || '.' || attname || ' ' || COALESCE(most_common_vals::text, '') \
                     || ' ' || COALESCE(histogram_bounds::text, '') FROM pg_stats \
                     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                )
                .await;
            out.extend(
                stats
                    .into_iter()
                    .map(|r| format!("pg_stats: {}", r[0].clone().unwrap_or_default())),
            );
            out
        }
    }
}

/// `url` with its user and password replaced.
fn as_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host_at = rest.find('/').unwrap_or(rest.len());
    let host = match rest[..host_at].rsplit_once('@') {
        Some((_, host)) => host,
        None => &rest[..host_at],
    };
    format!("{scheme}://{user}:{password}@{host}{}", &rest[host_at..])
}

/// The part of a scaffold about the database's own tables (the server part lists other
/// databases, which other tests create and drop meanwhile).
fn tables_part(rules: &str) -> &str {
    rules
        .split("\n# The clone is the whole server")
        .next()
        .unwrap()
        .split("\n# The server's other")
        .next()
        .unwrap()
}

/// A login that may only read this database; dropped by [`drop_reader`].
async fn reader(pool: &Pool, db: &TestDb, schemas: &[&str]) -> (String, String) {
    let user = format!("{}_ro", db.name);
    let password = "read-only-0123456789";
    match pool {
        Pool::Pg(_) => {
            pool.exec(&format!(
                "CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"
            ))
            .await;
            for s in schemas {
                pool.exec(&format!("GRANT USAGE ON SCHEMA \"{s}\" TO \"{user}\""))
                    .await;
                pool.exec(&format!(
                    "GRANT SELECT ON ALL TABLES IN SCHEMA \"{s}\" TO \"{user}\""
                ))
                .await;
            }
        }
        Pool::My(_) => {
            pool.exec(&format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"
            ))
            .await;
            pool.exec(&format!("GRANT SELECT ON `{}`.* TO '{user}'@'%'", db.name))
                .await;
        }
    }
    (as_user(&db.url, &user, password), user)
}

async fn drop_reader(pool: &Pool, user: &str) {
    match pool {
        Pool::Pg(_) => {
            pool.exec(&format!("DROP OWNED BY \"{user}\"")).await;
            pool.exec(&format!("DROP ROLE \"{user}\"")).await;
        }
        Pool::My(_) => pool.exec(&format!("DROP USER '{user}'@'%'")).await,
    }
}

/// The scaffold contract on one seeded database: prints nothing sampled, writes nothing (also as
/// a login that may only read), validates, and `offpeak mask` with it leaves no original.
async fn scaffold_validate_mask(
    db: &TestDb,
    pool: &Pool,
    schemas: &[&str],
    markers: &[&str],
) -> String {
    assert!(
        !lines_with(&every_row(pool).await.join("\n"), markers).is_empty(),
        "the markers are there to be found"
    );
    let before = snapshot(pool).await;

    // WHEN the scaffold reads the database, as its owner and as a login that may only read
    let (rules, stderr) = scaffold(&db.url);
    let (reader_url, user) = reader(pool, db, schemas).await;
    let (as_reader, _) = scaffold(&reader_url);
    drop_reader(pool, &user).await;

    // THEN it wrote nothing, needed no write privilege, and printed no sampled value
    assert_eq!(
        snapshot(pool).await,
        before,
        "the scaffold changed the database"
    );
    match pool {
        Pool::Pg(_) => assert_eq!(tables_part(&as_reader), tables_part(&rules)),
        // MariaDB shows triggers only to logins with the TRIGGER privilege: the scaffold says so.
        Pool::My(_) => {
            assert!(!rules.contains("lacks the TRIGGER privilege"), "{rules}");
            assert!(
                as_reader.contains("lacks the TRIGGER privilege"),
                "{as_reader}"
            );
        }
    }
    assert_prints_no_value(&rules, markers);
    assert_prints_no_value(&stderr, markers);
    assert!(stderr.contains("review before use"), "{stderr}");

    // AND the file validates, and `offpeak mask` with it masks and verifies
    let dir = tempfile::tempdir().unwrap();
    let path = validates(dir.path(), &rules);
    masks(&path, &rules, &db.url);

    // AND no original is left in any row, statistic or dump
    let rows = every_row(pool).await.join("\n");
    let left = lines_with(&rows, markers);
    assert!(left.is_empty(), "originals left in rows: {left:?}\n{rules}");
    let dump = match pool {
        Pool::Pg(_) => pg_dump(db, pool).await,
        Pool::My(_) => mysql_dump(db),
    };
    let left = lines_with(&dump, markers);
    assert!(
        left.is_empty(),
        "originals left in the dump: {left:?}\n{rules}"
    );
    rules
}

async fn realistic_schema(db: TestDb, engine: Engine) {
    // GIVEN the realistic schema of the masking tests
    let pool = Pool::connect(&db, engine).await;
    pool.create_schema(400).await;
    let kept = pool.kept().await;

    let rules = scaffold_validate_mask(&db, &pool, &["public"], MARKERS).await;

    // AND the choices are the ones a person would make
    for expected in [
        "      email: email\n",
        "      full_name: name\n",
        "      phone: phone\n",
        "      birth_date: { strategy: generalize, to: year }\n",
        match engine {
            // MariaDB's JSON is `longtext`: documents in text are replaced whole.
            Engine::MariaDb => "      profile: null\n",
            Engine::Postgres => "      profile: { strategy: json, others: hash, keys: hash }\n",
        },
        "      shipping_name: name\n",
        "      note: null\n",
        "    keep: [code, name]\n",
    ] {
        assert!(rules.contains(expected), "{expected:?} in\n{rules}");
    }
    assert!(
        rules.contains("of 200 sampled values are e-mail addresses"),
        "{rules}"
    );
    // AND what it kept is unchanged (every value and key of the JSON profile is hashed, so it is
    // not compared)
    let now = pool.kept().await;
    let plain = |rows: &[Vec<Option<String>>]| {
        rows.iter()
            .map(|r| match r.len() {
                8 => vec![
                    r[0].clone(),
                    r[1].clone(),
                    r[2].clone(),
                    r[5].clone(),
                    r[6].clone(),
                    r[7].clone(),
                ],
                _ => r.clone(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(plain(&now), plain(&kept));
}

#[tokio::test]
async fn postgres_scaffold_of_the_realistic_schema_masks_everything_personal() {
    realistic_schema(pg_database().await, Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_scaffold_of_the_realistic_schema_masks_everything_personal() {
    realistic_schema(mariadb_database().await, Engine::MariaDb).await;
}

/// Markers of the second schema's originals: e-mail domain, phone prefix, surname, street,
/// IP block, a word of the notes, the birth month.
const MARKERS_2: &[&str] = &[
    "@kunden.example",
    "+49 30 ",
    "森田",
    "Königsallee",
    "198.51.100.",
    "Geheimnis",
    "1931-06-",
];

fn pg_second_schema(n: u32) -> Vec<String> {
    vec![
        "CREATE SCHEMA \"営業\"".into(),
        "CREATE TABLE \"営業\".\"顧客\" (\"番号\" bigint PRIMARY KEY, \"氏名\" text NOT NULL, \
         \"メール\" varchar(60) NOT NULL UNIQUE, \"電話\" text, \"Straße\" text, \"連絡先\" jsonb NOT NULL, \
         tags text[], aliases text[] NOT NULL DEFAULT '{}', doc json NOT NULL, prefs jsonb, \"備考\" text, \
         ip inet, \"生年月日\" date, \"作成\" timestamptz NOT NULL DEFAULT now())".into(),
        format!(
            "INSERT INTO \"営業\".\"顧客\" SELECT g, '森田 ' || g, 'kunde' || g || '@kunden.example', \
             CASE WHEN g % 4 = 0 THEN NULL ELSE '+49 30 ' || lpad(g::text, 7, '0') END, \
             'Königsallee ' || g, \
             CASE WHEN g % 10 = 0 THEN '{{}}'::jsonb ELSE jsonb_build_object( \
                 'emails', (SELECT jsonb_agg('alt' || g || '.' || k || '@kunden.example') FROM generate_series(1, 1 + g % 4) k), \
                 'phones', CASE WHEN g % 3 = 0 THEN '[]'::jsonb ELSE jsonb_build_array('+49 30 ' || lpad(g::text, 7, '0')) END, \
                 'since', 2000 + g % 20) END, \
             CASE WHEN g % 5 = 0 THEN NULL ELSE ARRAY['vip', 'kunde' || g || '@kunden.example'] END, \
             CASE WHEN g % 6 = 0 THEN '{{}}'::text[] ELSE ARRAY['+49 30 ' || lpad(g::text, 7, '0')] END, \
             CASE WHEN g % 9 = 0 THEN '{{}}'::json ELSE json_build_object('history', json_build_array( \
                 json_build_object('phone', '+49 30 ' || lpad(g::text, 7, '0')), \
                 json_build_object('seen_from', '198.51.100.' || (g % 250)))) END, \
             jsonb_build_object('theme', 'dark', 'n', g), \
             CASE WHEN g % 2 = 0 THEN 'Geheimnis: ruf an unter +49 30 ' || lpad(g::text, 7, '0') END, \
             ('198.51.100.' || (g % 250))::inet, date '1931-06-10' + (g % 15) \
             FROM generate_series(1, {n}) g"
        ),
        "CREATE TABLE \"営業\".\"注文\" (id integer PRIMARY KEY, \
         \"顧客番号\" bigint NOT NULL REFERENCES \"営業\".\"顧客\" (\"番号\"), \"配送\" jsonb, contact text, \
         total numeric NOT NULL)".into(),
        format!(
            "INSERT INTO \"営業\".\"注文\" SELECT g, (g % {n}) + 1, \
             jsonb_build_object('to', jsonb_build_object('name', '森田 ' || g, 'street', 'Königsallee ' || g)), \
             '+49 30 ' || lpad(g::text, 7, '0'), g * 1.5 FROM generate_series(1, {}) g",
            2 * n
        ),
        // Not personal, though UUIDs whose groups are all digits look like grouped phone numbers.
        "CREATE TABLE \"営業\".\"商品\" (id integer PRIMARY KEY, \"名称\" text NOT NULL, price integer NOT NULL, \
         ref uuid NOT NULL, code text NOT NULL)".into(),
        "INSERT INTO \"営業\".\"商品\" SELECT g, 'Ware ' || g, g * 100, \
         ('11111111-2222-3333-4444-' || lpad(g::text, 12, '0'))::uuid, \
         '11111111-2222-3333-4444-' || lpad(g::text, 12, '0') FROM generate_series(1, 20) g".into(),
        "CREATE TABLE \"Ünïcode Tàble\" (\"Kéy\" integer PRIMARY KEY, \"e-mail addr\" text, \
         \"null\" text, \"weird.col\" text)".into(),
        "INSERT INTO \"Ünïcode Tàble\" SELECT g, 'ü' || g || '@kunden.example', 'x', \
         CASE WHEN g % 2 = 0 THEN '{\"mail\": \"m' || g || '@kunden.example\"}' END FROM generate_series(1, 50) g".into(),
        "CREATE TABLE \"audit.trail\" (id serial PRIMARY KEY, payload text NOT NULL)".into(),
        "INSERT INTO \"audit.trail\" (payload) SELECT 'login by kunde' || g || '@kunden.example' FROM generate_series(1, 30) g".into(),
        "CREATE TABLE \"営業\".accounts (email text PRIMARY KEY)".into(),
        "INSERT INTO \"営業\".accounts SELECT 'acc' || g || '@kunden.example' FROM generate_series(1, 10) g".into(),
        "CREATE TABLE \"営業\".logins (account_email text NOT NULL REFERENCES \"営業\".accounts (email), \
         at timestamptz NOT NULL)".into(),
        "INSERT INTO \"営業\".logins SELECT 'acc' || (g % 10 + 1) || '@kunden.example', now() FROM generate_series(1, 40) g".into(),
        "ANALYZE".into(),
    ]
}

/// What the scaffold keeps of the second schema.
async fn pg_second_kept(pool: &Pool) -> Vec<Vec<Option<String>>> {
    let mut rows = pool
        .texts(
            "SELECT \"番号\"::text, prefs::text, \"作成\"::text FROM \"営業\".\"顧客\" ORDER BY 1",
        )
        .await;
    rows.extend(
        pool.texts(
            "SELECT id::text, \"顧客番号\"::text, total::text FROM \"営業\".\"注文\" ORDER BY 1",
        )
        .await,
    );
    rows.extend(
        pool.texts("SELECT id::text, \"名称\", price::text, ref::text, code FROM \"営業\".\"商品\" ORDER BY 1")
            .await,
    );
    rows.extend(
        pool.texts("SELECT \"Kéy\"::text, \"null\" FROM \"Ünïcode Tàble\" ORDER BY 1")
            .await,
    );
    rows
}

#[tokio::test]
async fn postgres_scaffold_of_json_arrays_and_unicode_names_masks_everything_personal() {
    // GIVEN JSON documents of varying shape, arrays, non-ASCII and odd names, a unique e-mail
    // column too short for `email` and `hash`, and a personal key other tables reference
    let db = pg_database().await;
    let pool = Pool::connect(&db, Engine::Postgres).await;
    for sql in pg_second_schema(300) {
        pool.exec(&sql).await;
    }
    let kept = pg_second_kept(&pool).await;

    let rules = scaffold_validate_mask(&db, &pool, &["public", "営業"], MARKERS_2).await;

    // AND the choices fit each column
    for expected in [
        "  \"営業.顧客\":\n",
        "      \"氏名\": name\n",
        "      \"電話\": phone\n",
        "      \"Straße\": { strategy: redact, keep_first: 0, keep_last: 0 }\n",
        // Documents are walked, every value and key hashed; arrays are replaced whole.
        "      \"連絡先\": { strategy: json, others: hash, keys: hash }\n",
        "      tags: null\n",
        "      aliases: { strategy: value, value: \"{}\" }\n",
        "      \"備考\": null\n",
        "      ip: null\n",
        "      \"生年月日\": { strategy: generalize, to: year }\n",
        "      \"配送\": { strategy: json, others: hash, keys: hash }\n",
        "      contact: phone\n",
        "      \"e-mail addr\": email\n",
        "      \"weird.col\": null\n",
        "  \"public.audit.trail\":\n",
        "      payload: { strategy: redact, keep_first: 0, keep_last: 0 }\n",
        "  \"営業.accounts\": truncate\n",
        "  \"営業.logins\": truncate\n",
    ] {
        assert!(rules.contains(expected), "{expected:?} in\n{rules}");
    }
    // The 60-character unique e-mail: made from the primary key, which keeps it unique.
    assert!(
        rules.contains("      \"メール\": { strategy: sql, sql: \"CASE WHEN {column} IS NULL THEN NULL ELSE 'masked-' || CAST(\\\"番号\\\" AS text) || '@example.invalid' END\", unique: true }\n"),
        "{rules}"
    );
    // A `json` column (no equality) is walked like `jsonb`.
    assert!(
        rules.contains("      doc: { strategy: json, others: hash, keys: hash }\n"),
        "{rules}"
    );
    assert!(
        rules.contains("    keep: [id, \"名称\", price, ref, code]\n"),
        "{rules}"
    );
    assert!(rules.contains("    keep: [\"Kéy\", \"null\"]\n"), "{rules}");
    assert!(
        rules.contains("foreign key `logins_account_email_fkey` of `営業.logins` references it"),
        "{rules}"
    );

    // AND what it kept is unchanged, the unique column stayed unique and JSON stayed JSON
    assert_eq!(pg_second_kept(&pool).await, kept);
    let distinct = pool
        .count("SELECT COUNT(DISTINCT \"メール\") FROM \"営業\".\"顧客\"")
        .await;
    assert_eq!(distinct, 300);
    let docs = pool
        .count("SELECT COUNT(*) FROM \"営業\".\"顧客\" WHERE jsonb_typeof(\"連絡先\") = 'object' AND json_typeof(doc) = 'object'")
        .await;
    assert_eq!(docs, 300, "documents keep their shape");
}

/// The digits 1..=limit as a derived table `s(n)` (portable across MariaDB and MySQL).
fn series(limit: u32) -> String {
    let digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let n = "a.d + 10 * b.d + 100 * c.d + 1";
    format!("(SELECT {n} AS n FROM {digits} a, {digits} b, {digits} c WHERE {n} <= {limit}) s")
}

fn mariadb_second_schema(n: u32) -> Vec<String> {
    let utf = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
    vec![
        format!(
            "CREATE TABLE `顧客` (`番号` BIGINT PRIMARY KEY, `氏名` VARCHAR(100) NOT NULL, \
             `メール` VARCHAR(60) NOT NULL UNIQUE, `電話` VARCHAR(40), `Straße` VARCHAR(200), \
             `連絡先` JSON NOT NULL, doc JSON, prefs JSON, `備考` TEXT, `生年月日` DATE, `作成` DATETIME NOT NULL) {utf}"
        ),
        format!(
            "INSERT INTO `顧客` SELECT n, CONCAT('森田 ', n), CONCAT('kunde', n, '@kunden.example'), \
             CASE WHEN n % 4 = 0 THEN NULL ELSE CONCAT('+49 30 ', LPAD(n, 7, '0')) END, \
             CONCAT('Königsallee ', n), \
             CASE WHEN n % 10 = 0 THEN '{{}}' ELSE JSON_OBJECT('emails', JSON_ARRAY(CONCAT('alt', n, '@kunden.example')), \
                 'phones', CASE WHEN n % 3 = 0 THEN JSON_ARRAY() ELSE JSON_ARRAY(CONCAT('+49 30 ', LPAD(n, 7, '0'))) END) END, \
             CASE WHEN n % 9 = 0 THEN NULL ELSE JSON_OBJECT('history', JSON_ARRAY(JSON_OBJECT('seen_from', CONCAT('198.51.100.', n % 250)))) END, \
             JSON_OBJECT('theme', 'dark', 'n', n), \
             CASE WHEN n % 2 = 0 THEN CONCAT('Geheimnis: ruf an unter +49 30 ', LPAD(n, 7, '0')) END, \
             DATE_ADD('1931-06-10', INTERVAL (n % 15) DAY), '2024-01-02 03:04:05' FROM {}",
            series(n)
        ),
        format!(
            "CREATE TABLE `注文` (id INT PRIMARY KEY, `顧客番号` BIGINT NOT NULL, `配送` JSON, contact VARCHAR(40), \
             total DECIMAL(10, 2) NOT NULL, CONSTRAINT `注文_fk` FOREIGN KEY (`顧客番号`) REFERENCES `顧客` (`番号`)) {utf}"
        ),
        format!(
            "INSERT INTO `注文` SELECT n, (n % {n}) + 1, \
             JSON_OBJECT('to', JSON_OBJECT('name', CONCAT('森田 ', n), 'street', CONCAT('Königsallee ', n))), \
             CONCAT('+49 30 ', LPAD(n, 7, '0')), n * 1.5 FROM {}",
            series(2 * n)
        ),
        format!("CREATE TABLE `audit.trail` (id INT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL) {utf}"),
        format!(
            "INSERT INTO `audit.trail` (payload) SELECT CONCAT('login by kunde', n, '@kunden.example') FROM {}",
            series(30)
        ),
        // MariaDB cannot disable a trigger for a session: a personal table with one is truncated.
        format!("CREATE TABLE `gäste` (id INT PRIMARY KEY, email VARCHAR(200), seen INT NOT NULL DEFAULT 0) {utf}"),
        format!(
            "INSERT INTO `gäste` (id, email) SELECT n, CONCAT('gast', n, '@kunden.example') FROM {}",
            series(20)
        ),
        "CREATE TRIGGER `gäste_seen` BEFORE UPDATE ON `gäste` FOR EACH ROW SET NEW.seen = OLD.seen + 1".into(),
        format!(
            "CREATE TABLE `商品` (id INT PRIMARY KEY, `名称` VARCHAR(100) NOT NULL, price INT NOT NULL, \
             code CHAR(36) NOT NULL) {utf}"
        ),
        format!(
            "INSERT INTO `商品` SELECT n, CONCAT('Ware ', n), n * 100, \
             CONCAT('11111111-2222-3333-4444-', LPAD(n, 12, '0')) FROM {}",
            series(20)
        ),
        "ANALYZE TABLE `顧客`, `注文`".into(),
    ]
}

#[tokio::test]
async fn mariadb_scaffold_of_json_and_unicode_names_masks_everything_personal() {
    // GIVEN JSON documents, non-ASCII and dotted names, a short unique e-mail column and a
    // personal table with a trigger
    let db = mariadb_database().await;
    let pool = Pool::connect(&db, Engine::MariaDb).await;
    for sql in mariadb_second_schema(300) {
        pool.exec(&sql).await;
    }
    let kept_sql = "SELECT CAST(`番号` AS CHAR), CAST(prefs AS CHAR), CAST(`作成` AS CHAR) FROM `顧客` ORDER BY `番号`";
    let kept = pool.texts(kept_sql).await;

    let rules = scaffold_validate_mask(&db, &pool, &[], MARKERS_2).await;

    for expected in [
        "  \"顧客\":\n",
        "      \"氏名\": name\n",
        "      \"電話\": phone\n",
        // MariaDB's JSON is `longtext`: documents in text are replaced whole.
        "      \"連絡先\": { strategy: value, value: \"{\\\"masked\\\": true}\" }\n",
        "      doc: null\n",
        "      \"備考\": null\n",
        "      \"生年月日\": { strategy: generalize, to: year }\n",
        "      \"配送\": null\n",
        "      contact: phone\n",
        "      payload: { strategy: redact, keep_first: 0, keep_last: 0 }\n",
        "  \"gäste\": truncate\n",
    ] {
        assert!(rules.contains(expected), "{expected:?} in\n{rules}");
    }
    assert!(
        rules.contains(&format!("  \"{}.audit.trail\":\n", db.name)),
        "{rules}"
    );
    assert!(
        rules.contains("CONCAT('masked-', `番号`, '@example.invalid')"),
        "{rules}"
    );
    assert!(rules.contains("triggers (gäste_seen)"), "{rules}");
    assert!(
        rules.contains("    keep: [id, \"名称\", price, code]\n"),
        "{rules}"
    );
    assert_eq!(pool.texts(kept_sql).await, kept);
}

#[test]
fn scaffold_exit_codes_and_help() {
    // A URL that cannot be used is bad input (2); a server that cannot be reached is a runtime
    // failure (1); neither prints anything on stdout.
    let out = offpeak(
        &["mask", "scaffold", "--database-url", "ftp://example.com/db"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let out = offpeak(
        &[
            "mask",
            "scaffold",
            "--database-url",
            "postgres://u@127.0.0.1:1/db",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    // The help states the sample bound; `--rules` and the subcommand do not mix.
    let out = offpeak(&["mask", "scaffold", "--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("at most 200 rows per table"), "{help}");
    assert!(
        help.contains("nothing is written to the database"),
        "{help}"
    );
    let out = offpeak(
        &[
            "mask",
            "--rules",
            "x.yaml",
            "scaffold",
            "--database-url",
            "postgres://h/db",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
