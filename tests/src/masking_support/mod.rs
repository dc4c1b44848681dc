//! A realistic schema to mask, on either engine, and ways to look at it from outside the engine.
//!
//! users (unique e-mail, also unique under lower() on PostgreSQL; non-ASCII names; NULLs; a JSON
//! profile with nested personal data, JSON nulls and missing keys), orders (FK to users, a
//! shipping name equal to its user's name so joins on masked values can be checked), audit_log
//! (filled by a PostgreSQL trigger on users updates), countries (kept whole).
//!
//! Every original personal value carries a marker (`Mail.Example.com`, `Ñúñez`, `+81-90-`,
//! `Sakura-dōri`, `@example.org`, `+44 7700`, `leave at door`) that no masked value can contain,
//! so "no original survives" is checked by searching everything for the markers.

pub mod evidence;

use crate::{Engine, TestDb};
use offpeak_masking::{self as masking, Budget, Db, MaskReport, MaskingKey, Rules};
use sqlx::{Executor, MySqlPool, PgPool, Row};

pub const SALT: &[u8] = b"test-salt-0123456789abcdef";
pub const MARKERS: &[&str] = &[
    "Mail.Example.com",
    "Ñúñez",
    "+81-90-",
    "Sakura-dōri",
    "@example.org",
    "+44 7700",
    "leave at door",
];

pub fn key() -> MaskingKey {
    MaskingKey::from_salt(SALT, "test").unwrap()
}

/// The `users` table's rules, as the realistic schema and the masking benchmark mask it.
pub const USERS_RULES: &str = "  users:
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

/// The rules for the realistic schema; `rewrite_max_rows: 1` forces chunked UPDATEs.
pub fn rules_text(chunk_rows: u64, rewrite_max_rows: u64) -> String {
    format!(
        "chunk_rows: {chunk_rows}
rewrite_max_rows: {rewrite_max_rows}
tables:
{USERS_RULES}  orders:
    keep: [id, user_id, total_cents]
    mask:
      shipping_name: name
      note: null
  audit_log: truncate
  countries: {{ keep: [code, name] }}
"
    )
}

pub fn rules(text: &str) -> Rules {
    masking::rules::parse_str(text, "masking.yaml").expect("test rules parse")
}

/// Either engine's pool, for looking at the database from outside the engine under test.
pub enum Pool {
    Pg(PgPool),
    My(MySqlPool),
}

impl Pool {
    pub async fn connect(db: &TestDb, engine: Engine) -> Pool {
        match engine {
            Engine::Postgres => Pool::Pg(
                PgPool::connect(&db.url)
                    .await
                    .expect("connect to PostgreSQL"),
            ),
            Engine::MariaDb => Pool::My(
                MySqlPool::connect(&db.url)
                    .await
                    .expect("connect to MariaDB"),
            ),
        }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self, Pool::Pg(_))
    }

    pub async fn exec(&self, sql: &str) {
        match self {
            Pool::Pg(p) => p.execute(sql).await.map(|_| ()),
            Pool::My(p) => p.execute(sql).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Rows of text columns (NULL as `None`; MySQL binary strings read as UTF-8, lossily).
    pub async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            Pool::Pg(p) => {
                let rows = sqlx::query(sql).fetch_all(p).await;
                let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
                cells(&rows, |r, i| r.get(i))
            }
            Pool::My(p) => {
                let rows = sqlx::query(sql).fetch_all(p).await;
                let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
                cells(&rows, |r, i| {
                    r.try_get::<Option<String>, _>(i).unwrap_or_else(|_| {
                        r.get::<Option<Vec<u8>>, _>(i)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                })
            }
        }
    }

    /// The first column of the first row, a BIGINT (e.g. `SELECT COUNT(*) ...`).
    pub async fn count(&self, sql: &str) -> i64 {
        let value = match self {
            Pool::Pg(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
            Pool::My(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
        };
        value.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Creates and fills the realistic schema with `users` users and twice as many orders.
    pub async fn create_schema(&self, users: u32) {
        let statements = match self {
            Pool::Pg(_) => pg_schema(users),
            Pool::My(_) => mysql_schema(users),
        };
        for sql in statements {
            self.exec(&sql).await;
        }
    }

    /// Every row of every table (offpeak's bookkeeping included) as text, plus (PostgreSQL) the
    /// planner statistics: the places an original value could hide.
    pub async fn everything(&self) -> Vec<String> {
        let mut out = Vec::new();
        for table in self.tables().await {
            let sql = match self {
                Pool::Pg(_) => format!("SELECT t::text FROM {table} t ORDER BY 1"),
                Pool::My(_) => format!(
                    "SELECT {} FROM {table} ORDER BY 1",
                    self.concat_columns(&table).await
                ),
            };
            out.extend(
                self.texts(&sql)
                    .await
                    .into_iter()
                    .map(|r| format!("{table}: {}", r[0].clone().unwrap_or_default())),
            );
        }
        if self.is_pg() {
            let sql = "SELECT tablename || '.' || attname || ' ' || COALESCE(most_common_vals::text, '') || ' ' || \
                       COALESCE(histogram_bounds::text, '') FROM pg_stats WHERE schemaname = 'public'";
            out.extend(
                self.texts(sql)
                    .await
                    .into_iter()
                    .map(|r| format!("pg_stats: {}", r[0].clone().unwrap_or_default())),
            );
        }
        out
    }

    async fn tables(&self) -> Vec<String> {
        let sql = match self {
            Pool::Pg(_) => {
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables \
                            WHERE schemaname IN ('public', 'offpeak_masking') ORDER BY 1"
            }
            Pool::My(_) => {
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1"
            }
        };
        self.texts(sql)
            .await
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect()
    }

    async fn concat_columns(&self, table: &str) -> String {
        let sql = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        );
        let cols: Vec<String> = self
            .texts(&sql)
            .await
            .into_iter()
            .filter_map(|r| r[0].clone())
            .map(|c| format!("IFNULL(CAST(`{c}` AS CHAR), '<null>')"))
            .collect();
        format!("CONCAT_WS('|', {})", cols.join(", "))
    }

    /// Whether a masking run has committed at least one chunk (its progress table may not
    /// exist yet).
    pub async fn chunk_committed(&self) -> bool {
        let (exists, count) = match self {
            Pool::Pg(_) => (
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'offpeak_masking' AND tablename = 'progress'",
                "SELECT COUNT(*) FROM offpeak_masking.progress WHERE last_key IS NOT NULL",
            ),
            Pool::My(_) => (
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = 'offpeak_masking_progress'",
                "SELECT COUNT(*) FROM offpeak_masking_progress WHERE last_key IS NOT NULL",
            ),
        };
        self.count(exists).await > 0 && self.count(count).await > 0
    }

    /// PostgreSQL: pages of `table` (heap, TOAST and indexes) whose raw bytes hold a marker,
    /// read with pageinspect: dead row versions and stale index entries included.
    pub async fn pages_with_markers(&self, table: &str) -> i64 {
        evidence::pg_page_hits(self, table, MARKERS).await
    }

    /// The columns masking must leave byte-identical, and the JSON keys it must leave alone.
    pub async fn kept(&self) -> Vec<Vec<Option<String>>> {
        let (orders, countries) = match self {
            Pool::Pg(_) => (
                "SELECT u.id::text, u.status, u.created_at::text, u.profile #>> '{address,city}', \
                 (u.profile -> 'prefs')::text, o.id::text, o.user_id::text, o.total_cents::text \
                 FROM orders o JOIN users u ON u.id = o.user_id ORDER BY o.id",
                "SELECT code::text, name FROM countries ORDER BY code",
            ),
            Pool::My(_) => (
                "SELECT CAST(u.id AS CHAR), u.status, CAST(u.created_at AS CHAR), \
                 JSON_UNQUOTE(JSON_EXTRACT(u.profile, '$.address.city')), JSON_EXTRACT(u.profile, '$.prefs'), \
                 CAST(o.id AS CHAR), CAST(o.user_id AS CHAR), CAST(o.total_cents AS CHAR) \
                 FROM orders o JOIN users u ON u.id = o.user_id ORDER BY o.id",
                "SELECT code, name FROM countries ORDER BY code",
            ),
        };
        let mut rows = self.texts(orders).await;
        rows.extend(self.texts(countries).await);
        rows
    }
}

fn pg_schema(n: u32) -> Vec<String> {
    vec![
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, \
         phone varchar(32), birth_date date, profile jsonb, status text NOT NULL, created_at timestamptz NOT NULL)".into(),
        "CREATE UNIQUE INDEX users_email_lower ON users (lower(email))".into(),
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), \
         shipping_name text, total_cents integer NOT NULL, note text)".into(),
        "CREATE TABLE audit_log (id bigserial PRIMARY KEY, user_id bigint, payload text)".into(),
        "CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL)".into(),
        "CREATE FUNCTION audit_users() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         INSERT INTO audit_log (user_id, payload) VALUES (OLD.id, OLD.email || ' ' || COALESCE(OLD.full_name, '')); \
         RETURN NEW; END $$".into(),
        "CREATE TRIGGER users_audit AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION audit_users()".into(),
        format!(
            "INSERT INTO users SELECT g, 'User.' || lpad(g::text, 6, '0') || '@Mail.Example.com', \
             CASE WHEN g % 10 = 0 THEN NULL ELSE 'Zoë Ñúñez-王 ' || lpad(g::text, 6, '0') END, \
             CASE WHEN g % 5 = 0 THEN NULL ELSE '+81-90-' || lpad(g::text, 8, '0') END, \
             date '1960-01-01' + (g * 7 % 20000), \
             CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object( \
               'address', jsonb_build_object('street', lpad(g::text, 6, '0') || ' Sakura-dōri', 'city', 'Tōkyō'), \
               'contact', CASE WHEN g % 11 = 0 THEN jsonb_build_object('email', 'alt.' || lpad(g::text, 6, '0') || '@example.org') \
                          ELSE jsonb_build_object('email', 'alt.' || lpad(g::text, 6, '0') || '@example.org', \
                               'phone', CASE WHEN g % 3 = 0 THEN NULL ELSE '+44 7700 ' || lpad(g::text, 6, '0') END) END, \
               'prefs', jsonb_build_object('lang', 'ja', 'n', g)) END, \
             CASE WHEN g % 2 = 0 THEN 'active' ELSE 'dormant' END, \
             timestamptz '2020-01-01 00:00:00+00' + g * interval '1 hour' \
             FROM generate_series(1, {n}) g"
        ),
        format!(
            "INSERT INTO orders SELECT g, (g % {n}) + 1, (SELECT full_name FROM users WHERE id = (g % {n}) + 1), \
             g * 100, CASE WHEN g % 4 = 0 THEN NULL ELSE 'leave at door ' || g END FROM generate_series(1, {}) g",
            2 * n
        ),
        "INSERT INTO audit_log (user_id, payload) VALUES (1, 'User.000001@Mail.Example.com changed')".into(),
        "INSERT INTO countries VALUES ('JP', 'Japan'), ('GB', 'United Kingdom')".into(),
        "ANALYZE".into(),
    ]
}

fn mysql_schema(n: u32) -> Vec<String> {
    // Digits cross-joined: portable, unlike recursive CTEs whose depth limits differ by server.
    let series = |limit: u32| {
        let digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
        let n = "a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1";
        format!(
            "SELECT {n} AS n FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f WHERE {n} <= {limit}"
        )
    };
    vec![
        "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, full_name VARCHAR(200), \
         phone VARCHAR(32), birth_date DATE, profile JSON, status VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4".into(),
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, shipping_name VARCHAR(200), \
         total_cents INT NOT NULL, note TEXT, CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4".into(),
        "CREATE TABLE audit_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT, payload TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4".into(),
        "CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name VARCHAR(100) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4".into(),
        format!(
            "INSERT INTO users SELECT n, CONCAT('User.', LPAD(n, 6, '0'), '@Mail.Example.com'), \
             CASE WHEN n % 10 = 0 THEN NULL ELSE CONCAT('Zoë Ñúñez-王 ', LPAD(n, 6, '0')) END, \
             CASE WHEN n % 5 = 0 THEN NULL ELSE CONCAT('+81-90-', LPAD(n, 8, '0')) END, \
             DATE_ADD('1960-01-01', INTERVAL (n * 7 % 20000) DAY), \
             CASE WHEN n % 7 = 0 THEN NULL ELSE JSON_OBJECT( \
               'address', JSON_OBJECT('street', CONCAT(LPAD(n, 6, '0'), ' Sakura-dōri'), 'city', 'Tōkyō'), \
               'contact', CASE WHEN n % 11 = 0 THEN JSON_OBJECT('email', CONCAT('alt.', LPAD(n, 6, '0'), '@example.org')) \
                          ELSE JSON_OBJECT('email', CONCAT('alt.', LPAD(n, 6, '0'), '@example.org'), \
                               'phone', CASE WHEN n % 3 = 0 THEN NULL ELSE CONCAT('+44 7700 ', LPAD(n, 6, '0')) END) END, \
               'prefs', JSON_OBJECT('lang', 'ja', 'n', n)) END, \
             CASE WHEN n % 2 = 0 THEN 'active' ELSE 'dormant' END, \
             DATE_ADD('2020-01-01 00:00:00', INTERVAL n HOUR) FROM ({}) s",
            series(n)
        ),
        format!(
            "INSERT INTO orders SELECT n, (n % {n}) + 1, (SELECT full_name FROM users WHERE id = (n % {n}) + 1), \
             n * 100, CASE WHEN n % 4 = 0 THEN NULL ELSE CONCAT('leave at door ', n) END FROM ({}) s",
            series(2 * n)
        ),
        "INSERT INTO audit_log (user_id, payload) VALUES (1, 'User.000001@Mail.Example.com changed')".into(),
        "INSERT INTO countries VALUES ('JP', 'Japan'), ('GB', 'United Kingdom')".into(),
        "ANALYZE TABLE users, orders".into(),
    ]
}

/// Masks to completion in one run.
pub async fn mask_all(url: &str, rules: &Rules) -> MaskReport {
    let mut db = Db::connect(url).await.expect("connect");
    let report = masking::mask(&mut db, rules, &key(), Budget::default())
        .await
        .expect("masking runs");
    db.close().await;
    report
}

/// Lines of `dump` holding an original personal value.
pub fn survivors(dump: &[String]) -> Vec<&String> {
    dump.iter()
        .filter(|line| MARKERS.iter().any(|m| line.contains(m)))
        .collect()
}

/// Every cell of `rows`, read by `cell(row, column)`.
fn cells<R: Row>(
    rows: &[R],
    cell: impl Fn(&R, usize) -> Option<String>,
) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
        .collect()
}
