//! The HMAC the databases compute (no extensions: SHA-256 over precomputed key blocks) is exactly
//! RFC 2104 HMAC-SHA256, as the `hmac` crate computes it.

use offpeak_tests::masking_support;

use hmac::{Hmac, Mac};
use masking_support::{SALT, key};
use offpeak_masking::{Db, Dialect, Param};
use offpeak_tests::{mariadb_database, pg_database};
use sha2::Sha256;

const INPUTS: &[&str] = &[
    "",
    "alice@example.com",
    "Zoë Ñúñez-王",
    "+81-90-1234-5678",
    "a'quote\\back",
];

fn expected(input: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SALT).unwrap();
    mac.update(input.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn database_hmac_equals_rust_hmac(url: &str) {
    // GIVEN a session prepared with the key blocks
    let mut db = Db::connect(url).await.unwrap();
    db.prepare_session(&key()).await.unwrap();
    let placeholder = if db.dialect == Dialect::Postgres {
        "CAST($1 AS text)"
    } else {
        "?"
    };
    let sql = format!("SELECT {}", db.dialect.hmac_hex(placeholder));
    for input in INPUTS {
        // WHEN the database hashes the input
        let rows = db
            .rows("hashing", &sql, &[Param::Text(Some((*input).to_owned()))])
            .await
            .unwrap();
        // THEN it is the Rust HMAC-SHA256 of its UTF-8 bytes
        assert_eq!(
            rows[0][0].as_deref(),
            Some(expected(input).as_str()),
            "input {input:?}"
        );
    }
    db.close().await;
}

#[tokio::test]
async fn postgres_hmac_equals_rust_hmac() {
    database_hmac_equals_rust_hmac(&pg_database().await.url).await;
}

#[tokio::test]
async fn mariadb_hmac_equals_rust_hmac() {
    database_hmac_equals_rust_hmac(&mariadb_database().await.url).await;
}
