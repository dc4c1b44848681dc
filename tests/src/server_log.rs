//! A database server's own log, with every statement and its bind parameters in it, searched for
//! what must never reach it: the masking key in any form, original values, passwords.
//!
//! Only for the test process's throwaway servers (never a shared one, whose settings are not ours
//! to change): PostgreSQL `log_statement = all`, `log_min_duration_statement = 0` and full
//! parameter values, to its stderr log beside the data directory; MariaDB the general log, which
//! records every statement with its values substituted, to a file in its data directory.

use offpeak_masking::MaskingKey;
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, Row};

use crate::Engine;

/// A server's log file, read from where it stood when logging was turned on.
pub struct ServerLog {
    pub engine: Engine,
    pub path: String,
    from: usize,
    admin_url: String,
}

impl ServerLog {
    /// Turns full statement logging on for the whole server `admin_url` points at (a superuser
    /// session on any of its databases).
    pub async fn everything(engine: Engine, admin_url: &str) -> ServerLog {
        let path = match engine {
            Engine::Postgres => pg_everything(admin_url).await,
            Engine::MariaDb => mariadb_everything(admin_url).await,
        };
        let from = len(&path);
        ServerLog {
            engine,
            path,
            from,
            admin_url: admin_url.to_owned(),
        }
    }

    /// Turns the logging [`ServerLog::everything`] turned on back off (the server is lent to
    /// other tests after this one).
    pub async fn off(&self) {
        match self.engine {
            Engine::Postgres => {
                let mut c = PgConnection::connect(&self.admin_url)
                    .await
                    .expect("connect");
                for sql in [
                    "ALTER SYSTEM RESET log_statement",
                    "ALTER SYSTEM RESET log_min_duration_statement",
                    "ALTER SYSTEM RESET log_parameter_max_length",
                    "ALTER SYSTEM RESET log_parameter_max_length_on_error",
                    "SELECT pg_reload_conf()",
                ] {
                    c.execute(sql).await.expect(sql);
                }
                c.close().await.expect("close");
            }
            Engine::MariaDb => {
                let mut c = MySqlConnection::connect(&self.admin_url)
                    .await
                    .expect("connect");
                c.execute("SET GLOBAL general_log = OFF")
                    .await
                    .expect("general log off");
                c.close().await.expect("close");
            }
        }
    }

    /// What was written since logging was turned on.
    pub fn written(&self) -> Vec<u8> {
        let all = std::fs::read(&self.path)
            .unwrap_or_else(|e| panic!("read server log {}: {e}", self.path));
        all.get(self.from..).unwrap_or_default().to_vec()
    }

    /// Whether the log shows bind parameters (else a search for values in them proves nothing).
    pub fn shows_parameters(&self, written: &str) -> bool {
        match self.engine {
            Engine::Postgres => written.contains("DETAIL:  parameters: $1 = "),
            Engine::MariaDb => written.contains("Execute\t"),
        }
    }
}

fn len(path: &str) -> usize {
    std::fs::metadata(path).map_or(0, |m| m.len() as usize)
}

async fn pg_everything(url: &str) -> String {
    let mut c = PgConnection::connect(url).await.expect("connect");
    for sql in [
        "ALTER SYSTEM SET log_statement = 'all'",
        "ALTER SYSTEM SET log_min_duration_statement = 0",
        "ALTER SYSTEM SET log_parameter_max_length = -1",
        "ALTER SYSTEM SET log_parameter_max_length_on_error = -1",
        "SELECT pg_reload_conf()",
    ] {
        c.execute(sql).await.expect(sql);
    }
    let data: String = c
        .fetch_one("SHOW data_directory")
        .await
        .expect("data directory")
        .get(0);
    c.close().await.expect("close");
    // The reload is asynchronous: wait until a new session sees it.
    for _ in 0..100 {
        let mut c = PgConnection::connect(url).await.expect("connect");
        let shown: String = c
            .fetch_one("SHOW log_min_duration_statement")
            .await
            .expect("show")
            .get(0);
        c.close().await.expect("close");
        if shown == "0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let dir = std::path::Path::new(&data)
        .parent()
        .expect("data directory parent");
    dir.join("postgres.log").display().to_string()
}

async fn mariadb_everything(url: &str) -> String {
    let mut c = MySqlConnection::connect(url).await.expect("connect");
    let data: String = c
        .fetch_one("SELECT @@datadir")
        .await
        .expect("datadir")
        .get(0);
    let path = std::path::Path::new(&data).join("offpeak-general.log");
    let path = path.display().to_string();
    for sql in [
        format!("SET GLOBAL general_log_file = '{path}'"),
        "SET GLOBAL log_output = 'FILE'".to_owned(),
        "SET GLOBAL general_log = ON".to_owned(),
    ] {
        c.execute(sql.as_str()).await.expect("general log on");
    }
    c.close().await.expect("close");
    path
}

/// Every form of the key material a log line could carry: raw bytes, hex (either case, which
/// also covers bytea's `\x...` escape) and base64, of the salt and of each derived key.
pub fn key_forms(salt: &[u8], key: &MaskingKey) -> Vec<(String, Vec<u8>)> {
    let mut forms = Vec::new();
    for (name, bytes) in [
        ("salt", salt),
        ("ipad", key.ipad()),
        ("opad", key.opad()),
        ("verify key", key.verify_key()),
    ] {
        // A 16-byte window is enough to prove a leak and catches a block split across lines.
        let window = &bytes[..16];
        let hex = hex::encode(window);
        forms.push((format!("{name} raw"), window.to_vec()));
        forms.push((format!("{name} hex"), hex.clone().into_bytes()));
        forms.push((format!("{name} HEX"), hex.to_uppercase().into_bytes()));
        let b64 = base64(bytes);
        forms.push((format!("{name} base64"), b64.as_bytes()[..20].to_vec()));
    }
    forms
}

/// The names of the `needles` found in `log`.
pub fn found(log: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, needle)| contains(log, needle))
        .map(|(name, _)| name.clone())
        .collect()
}

/// `texts` as needles named after themselves, e.g. original values or passwords.
pub fn literal_needles(kind: &str, texts: &[&str]) -> Vec<(String, Vec<u8>)> {
    texts
        .iter()
        .map(|t| (format!("{kind} {t:?}"), t.as_bytes().to_vec()))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Standard base64 with padding (the form `encode(..., 'base64')` and `TO_BASE64` produce).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"M"), "TQ==");
    }

    #[test]
    fn found_names_each_needle_present() {
        let needles = literal_needles("original", &["Ñúñez", "absent"]);
        assert_eq!(
            found("x Ñúñez y".as_bytes(), &needles),
            ["original \"Ñúñez\""]
        );
    }
}
