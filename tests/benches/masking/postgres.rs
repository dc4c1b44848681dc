//! The PostgreSQL side: the `users` table, its copies (`CREATE DATABASE ... TEMPLATE`) and the
//! forms an engineer would write by hand.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection, Row};

use crate::{Form, Lab, update_sql};

/// A server holding the template database.
pub struct Postgres {
    admin_url: String,
    template: String,
}

impl Postgres {
    /// Fills `rows` users into `template` (a fresh database on the server at `admin_url`).
    pub async fn fill(admin_url: &str, template: &str, template_url: &str, rows: u64) -> Postgres {
        let mut conn = PgConnection::connect(template_url).await.expect("connect");
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
        Postgres {
            admin_url: admin_url.to_owned(),
            template: template.to_owned(),
        }
    }
}

impl Lab for Postgres {
    fn engine(&self) -> &'static str {
        "PostgreSQL"
    }

    async fn copy(&self, label: &str) -> String {
        let name = format!("{}_{label}", self.template);
        let mut admin = PgConnection::connect(&self.admin_url).await.expect("admin");
        admin
            .execute(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", self.template).as_str())
            .await
            .expect("copy");
        admin.close().await.expect("close");
        let base = self
            .admin_url
            .rsplit_once('/')
            .map_or(self.admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        // Statistics are per database and not copied with the template's files.
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        conn.execute("ANALYZE").await.expect("analyze");
        conn.execute("CHECKPOINT").await.expect("checkpoint");
        conn.close().await.expect("close");
        url
    }

    async fn drop_copy(&self, url: &str) {
        let name = url.rsplit('/').next().expect("a database name");
        let mut admin = PgConnection::connect(&self.admin_url).await.expect("admin");
        admin
            .execute(format!("DROP DATABASE \"{name}\" WITH (FORCE)").as_str())
            .await
            .expect("drop");
        admin.close().await.expect("close");
    }

    async fn checksum(&self, url: &str) -> String {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        let sql = "SELECT md5(string_agg(concat_ws('|', email, full_name, phone, birth_date, profile), ',' ORDER BY id)) FROM users";
        let sum: String = conn.fetch_one(sql).await.expect("checksum").get(0);
        conn.close().await.expect("close");
        sum
    }

    async fn timed_sql(&self, url: &str, statements: &[String]) -> Duration {
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

    fn forms(&self) -> Vec<Form> {
        vec![
            Form {
                name: "hand-written UPDATE",
                baseline: true,
                statements: vec![update_sql(masked_columns())],
            },
            Form {
                name: "hand-written CTAS + indexes",
                baseline: true,
                statements: ctas_sql(),
            },
            Form {
                name: "hand-written ALTER ... USING",
                baseline: false,
                statements: vec![alter_sql()],
            },
        ]
    }

    async fn settings(&self) -> String {
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect");
        let version: String = conn
            .fetch_one("SELECT version()")
            .await
            .expect("version")
            .get(0);
        let settings: String = conn
            .fetch_one(
                "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings \
                 WHERE name IN ('max_parallel_workers_per_gather', 'max_parallel_maintenance_workers', \
                                'maintenance_work_mem', 'shared_buffers', 'wal_level', 'synchronous_commit')",
            )
            .await
            .expect("settings")
            .get(0);
        conn.close().await.expect("close");
        let short = version.split(" on ").next().unwrap_or(&version);
        format!("{short} ({settings})")
    }
}

/// HMAC-SHA256 written out by hand, key blocks inline (as a one-off script would have them).
fn hmac(expr: &str) -> String {
    let (ipad, opad) = crate::key_blocks();
    format!(
        "encode(sha256('\\x{opad}'::bytea || sha256('\\x{ipad}'::bytea || convert_to({expr}, 'UTF8'))), 'hex')"
    )
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

/// The single-pass rewrite offpeak falls back to, written by hand (for reference, not the target).
fn alter_sql() -> String {
    let types = ["text", "text", "text", "date", "jsonb"];
    let alters: Vec<String> = masked_columns()
        .into_iter()
        .zip(types)
        .map(|((c, e), t)| format!("ALTER COLUMN {c} TYPE {t} USING {e}"))
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
