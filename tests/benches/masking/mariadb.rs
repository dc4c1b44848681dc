//! The MariaDB side: the same `users` table (InnoDB, `JSON` profile), its copies (one database
//! per contender, filled from the template database) and the forms an engineer would write by
//! hand.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, MySqlConnection, Row};

use crate::{Form, Lab, update_sql};

/// A server holding the template database.
pub struct MariaDb {
    admin_url: String,
    template: String,
}

const TABLE: &str = "CREATE TABLE users (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, \
     full_name VARCHAR(255), phone VARCHAR(64), birth_date DATE, profile JSON, \
     status VARCHAR(32) NOT NULL, created_at DATETIME NOT NULL) ENGINE = InnoDB";

impl MariaDb {
    /// Fills `rows` users into `template` (a fresh database on the server at `admin_url`).
    pub async fn fill(admin_url: &str, template: &str, template_url: &str, rows: u64) -> MariaDb {
        let mut conn = MySqlConnection::connect(template_url)
            .await
            .expect("connect");
        for sql in [
            TABLE.to_owned(),
            format!(
                "INSERT INTO users SELECT seq, CONCAT('user', seq, '@mail.example.com'), \
                 IF(seq % 10 = 0, NULL, CONCAT('Zoë Ñúñez ', seq)), IF(seq % 5 = 0, NULL, CONCAT('+81-90-', seq)), \
                 DATE_ADD(DATE '1960-01-01', INTERVAL seq % 20000 DAY), \
                 JSON_OBJECT('address', JSON_OBJECT('street', CONCAT(seq, ' Sakura-dori'), 'city', 'Tokyo'), \
                             'contact', JSON_OBJECT('email', CONCAT('alt', seq, '@example.org'), 'phone', CONCAT('+44 7700 ', seq))), \
                 'active', DATE_ADD(TIMESTAMP '2020-01-01 00:00:00', INTERVAL seq MINUTE) FROM seq_1_to_{rows}"
            ),
        ] {
            conn.execute(sql.as_str()).await.expect("fill");
        }
        conn.close().await.expect("close");
        MariaDb {
            admin_url: admin_url.to_owned(),
            template: template.to_owned(),
        }
    }

    fn url(&self, database: &str) -> String {
        let base = self
            .admin_url
            .split('?')
            .next()
            .unwrap_or(&self.admin_url)
            .trim_end_matches('/');
        let base = match base.matches('/').count() {
            n if n > 2 => base.rsplit_once('/').map_or(base, |(b, _)| b),
            _ => base,
        };
        format!("{base}/{database}")
    }
}

impl Lab for MariaDb {
    fn engine(&self) -> &'static str {
        "MariaDB"
    }

    async fn copy(&self, label: &str) -> String {
        let name = format!("{}_{label}", self.template);
        let mut admin = MySqlConnection::connect(&self.admin_url)
            .await
            .expect("admin");
        for sql in [
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
            format!("CREATE TABLE `{name}`.users LIKE `{}`.users", self.template),
            format!(
                "INSERT INTO `{name}`.users SELECT * FROM `{}`.users",
                self.template
            ),
            format!("ANALYZE TABLE `{name}`.users"),
        ] {
            admin.execute(sql.as_str()).await.expect("copy");
        }
        admin.close().await.expect("close");
        self.url(&name)
    }

    async fn drop_copy(&self, url: &str) {
        let name = url.rsplit('/').next().expect("a database name");
        let mut admin = MySqlConnection::connect(&self.admin_url)
            .await
            .expect("admin");
        admin
            .execute(format!("DROP DATABASE `{name}`").as_str())
            .await
            .expect("drop");
        admin.close().await.expect("close");
    }

    async fn checksum(&self, url: &str) -> String {
        let mut conn = MySqlConnection::connect(url).await.expect("connect");
        let sql = "SELECT CONCAT(COUNT(*), ':', BIT_XOR(CAST(CONV(LEFT(MD5(CONCAT_WS('|', id, email, \
                   IFNULL(full_name, '-'), IFNULL(phone, '-'), birth_date, profile)), 16), 16, 10) AS UNSIGNED))) \
                   FROM users";
        let sum: String = conn.fetch_one(sql).await.expect("checksum").get(0);
        conn.close().await.expect("close");
        sum
    }

    async fn timed_sql(&self, url: &str, statements: &[String]) -> Duration {
        let mut conn = MySqlConnection::connect(url).await.expect("connect");
        let started = Instant::now();
        for sql in statements {
            conn.execute(sql.as_str())
                .await
                .unwrap_or_else(|e| panic!("{e}: {sql}"));
        }
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
                name: "hand-written CREATE TABLE ... SELECT + index + RENAME",
                baseline: true,
                statements: create_select_sql(),
            },
        ]
    }

    async fn settings(&self) -> String {
        let mut conn = MySqlConnection::connect(&self.admin_url)
            .await
            .expect("connect");
        let version: String = conn
            .fetch_one("SELECT VERSION()")
            .await
            .expect("version")
            .get(0);
        let settings: String = conn
            .fetch_one(
                "SELECT GROUP_CONCAT(CONCAT(LOWER(VARIABLE_NAME), ' = ', VARIABLE_VALUE) ORDER BY VARIABLE_NAME SEPARATOR ', ') \
                 FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN \
                 ('INNODB_BUFFER_POOL_SIZE', 'INNODB_FLUSH_LOG_AT_TRX_COMMIT', 'INNODB_DOUBLEWRITE', 'LOG_BIN')",
            )
            .await
            .expect("settings")
            .get(0);
        conn.close().await.expect("close");
        format!("MariaDB {version} ({settings})")
    }
}

/// HMAC-SHA256 written out by hand, key blocks inline.
fn hmac(expr: &str) -> String {
    let (ipad, opad) = crate::key_blocks();
    format!(
        "SHA2(CONCAT(UNHEX('{opad}'), UNHEX(SHA2(CONCAT(UNHEX('{ipad}'), CONVERT({expr} USING utf8mb4)), 256))), 256)"
    )
}

fn phone(x: &str) -> String {
    format!(
        "CONCAT('+999 ', LPAD(CAST(CAST(CONV(LEFT({}, 8), 16, 10) AS UNSIGNED) % 1000000000 AS CHAR), 9, '0'))",
        hmac(x)
    )
}

/// The masked columns, hand-written: `(column, expression)`.
fn masked_columns() -> Vec<(&'static str, String)> {
    let leaf = |path: &str| format!("JSON_UNQUOTE(JSON_EXTRACT(profile, '{path}'))");
    let street = leaf("$.\"address\".\"street\"");
    let email = leaf("$.\"contact\".\"email\"");
    let phone_leaf = leaf("$.\"contact\".\"phone\"");
    let profile = format!(
        "JSON_REPLACE(profile, '$.\"address\".\"street\"', REPEAT('*', CHAR_LENGTH({street})), \
         '$.\"contact\".\"email\"', CONCAT({}, '@example.invalid'), '$.\"contact\".\"phone\"', {})",
        hmac(&email),
        phone(&phone_leaf)
    );
    vec![
        (
            "email",
            format!("CONCAT({}, '@example.invalid')", hmac("email")),
        ),
        (
            "full_name",
            format!("CONCAT('Person ', UPPER(LEFT({}, 10)))", hmac("full_name")),
        ),
        ("phone", phone("phone")),
        (
            "birth_date",
            "CAST(DATE_FORMAT(birth_date, '%Y-%m-01') AS DATE)".to_owned(),
        ),
        ("profile", profile),
    ]
}

/// A new table filled in primary-key order, its unique index built afterwards (one sorted build
/// rather than one insert per row), then renamed into place.
fn create_select_sql() -> Vec<String> {
    let cols: Vec<String> = masked_columns()
        .into_iter()
        .map(|(c, e)| format!("{e} AS {c}"))
        .collect();
    let table = TABLE
        .replace("CREATE TABLE users", "CREATE TABLE users_masked")
        .replace(" NOT NULL UNIQUE", " NOT NULL");
    vec![
        format!(
            "{table} SELECT id, {}, status, created_at FROM users ORDER BY id",
            cols.join(", ")
        ),
        "ALTER TABLE users_masked ADD UNIQUE INDEX email (email)".to_owned(),
        "RENAME TABLE users TO users_original, users_masked TO users".to_owned(),
        "DROP TABLE users_original".to_owned(),
    ]
}
