//! How the key blocks reach the session, without ever being in a form the server may log.
//!
//! The server computes the HMAC, so it must hold the key blocks (`K' XOR ipad`, `K' XOR opad`,
//! the verification key): PostgreSQL as session settings, MySQL as user variables. Statement
//! logging (`log_statement = all`, `log_min_duration_statement = 0` with parameters, pgaudit,
//! MySQL/MariaDB's general and slow logs, MariaDB's audit plugin) is common on production
//! parameter groups, which a clone inherits, and records statement text *and bind parameters*;
//! the salt is one XOR away from an ipad block. So the blocks never travel in a statement or a
//! bind parameter:
//!
//! - **PostgreSQL**: the blocks (hex) are sent as `COPY ... FROM STDIN` data into a temporary
//!   table that exists only inside one transaction (`ON COMMIT DROP`, never WAL-logged), and
//!   copied from there into the session settings by a statement that names no value. Every
//!   PostgreSQL log, pgaudit included, records the `COPY` command but not its data. The columns
//!   are `text` and the data hex, so no row can fail to parse (a parse error's `CONTEXT` line
//!   would quote the row).
//! - **MySQL / MariaDB** have no statement whose data the general log leaves out (`LOAD DATA
//!   LOCAL` is not offered by the driver; `sql_log_off` needs a privilege a managed database's
//!   master user lacks). So the blocks are one-time padded: the server draws a pad with
//!   `RANDOM_BYTES` into a user variable and returns it in a result set (which no server log
//!   records); the session sends `blocks XOR pad` and the server XORs the pad back out, then
//!   forgets the pad. The log holds only `blocks XOR pad` — uniformly random bytes that say
//!   nothing about the key without the pad, which was never logged. Needs `RANDOM_BYTES`
//!   (MariaDB 10.10+, MySQL 5.6.17+); a server without it fails the session, before any change.
//!
//! Both engines then check that the server holds exactly the blocks (a SHA-256 over them,
//! compared in the session; only the digest travels back), so a transport fault can never mask
//! with a wrong key.
//!
//! Shown by `tests/tests/masking/logging.rs`: a mask + verify on a server with every statement
//! and parameter logged leaves no form (raw, hex, base64) of the salt or of a block in the log.
//!
//! Not covered (outside a log the server writes): a superuser reading another session's state
//! while the run is on (MySQL `performance_schema.user_variables_by_thread`), and MySQL's binary
//! log in statement format, which records user variables used by a logged change — the engine
//! turns the binary log off for its session or refuses ([`crate::Db::binlog_off`]).

use sha2::{Digest, Sha256};

use super::conn::{Db, Param};
use super::dialect::{PG_IPAD, PG_OPAD, PG_VERIFY};
use super::key::MaskingKey;
use super::scrub::DbError;

const DURING: &str = "loading the masking key into the session";

/// The key blocks, in the order they are sent: ipad, opad, verification key.
fn blocks(key: &MaskingKey) -> Vec<u8> {
    [key.ipad(), key.opad(), key.verify_key()].concat()
}

/// PostgreSQL: the blocks as `COPY` data, then into the session settings.
pub async fn load_postgres(db: &mut Db, key: &MaskingKey) -> Result<(), DbError> {
    let row = format!(
        "{}\t{}\t{}\n",
        hex::encode(key.ipad()),
        hex::encode(key.opad()),
        hex::encode(key.verify_key())
    );
    let set = format!(
        "SELECT length(set_config('{PG_IPAD}', ipad, false) || set_config('{PG_OPAD}', opad, false) \
         || set_config('{PG_VERIFY}', vkey, false))::text FROM pg_temp.offpeak_key_in"
    );
    db.execute(DURING, "BEGIN", &[]).await?;
    let loaded = async {
        db.execute(
            DURING,
            "CREATE TEMPORARY TABLE offpeak_key_in (ipad text, opad text, vkey text) ON COMMIT DROP",
            &[],
        )
        .await?;
        let copy = "COPY pg_temp.offpeak_key_in FROM STDIN";
        db.copy_in(DURING, copy, row.as_bytes()).await?;
        db.rows(DURING, &set, &[]).await
    }
    .await;
    match loaded {
        Ok(_) => db.execute(DURING, "COMMIT", &[]).await.map(|_| ()),
        Err(e) => {
            let _ = db.execute(DURING, "ROLLBACK", &[]).await;
            Err(e)
        }
    }?;
    let digest = format!(
        "SELECT encode(sha256(decode(current_setting('{PG_IPAD}') || current_setting('{PG_OPAD}') \
         || current_setting('{PG_VERIFY}'), 'hex')), 'hex')"
    );
    check_digest(db, &digest, key).await
}

/// MySQL / MariaDB: the blocks one-time padded with a pad the server draws and never logs.
pub async fn load_mysql(db: &mut Db, key: &MaskingKey) -> Result<(), DbError> {
    let blocks = blocks(key);
    let draw = format!("SET @offpeak_pad = RANDOM_BYTES({})", blocks.len());
    db.execute(DURING, &draw, &[]).await?;
    let pad = db.value(DURING, "SELECT HEX(@offpeak_pad)", &[]).await?;
    let pad = pad
        .and_then(|p| hex::decode(p).ok())
        .filter(|p| p.len() == blocks.len())
        .ok_or_else(|| DbError::other(DURING, "the server drew no random pad"))?;
    let padded: Vec<u8> = blocks.iter().zip(&pad).map(|(b, p)| b ^ p).collect();
    let sql = unpad_sql([key.ipad().len(), key.opad().len(), key.verify_key().len()]);
    let params = [Param::Text(Some(hex::encode_upper(padded)))];
    db.execute(DURING, "SET @offpeak_padded = ?", &params)
        .await?;
    let unpadded = db.execute(DURING, &sql, &[]).await;
    db.execute(
        DURING,
        "SET @offpeak_pad = NULL, @offpeak_padded = NULL",
        &[],
    )
    .await?;
    unpadded?;
    let digest = "SELECT SHA2(CONCAT(@offpeak_ipad, @offpeak_opad, @offpeak_vkey), 256)";
    check_digest(db, digest, key).await
}

/// `SET @offpeak_ipad = ..., @offpeak_opad = ..., @offpeak_vkey = ...` from the padded blocks
/// (hex, in `@offpeak_padded`, set by an earlier statement: MariaDB evaluates every right-hand
/// side of a `SET` before assigning any) XOR `@offpeak_pad`, 8 bytes at a time: MariaDB's `^`
/// works on 64-bit integers only, not on binary strings.
fn unpad_sql(lengths: [usize; 3]) -> String {
    let word = |i: usize| {
        format!(
            "LPAD(CONV(CAST(CONV(SUBSTRING(@offpeak_padded, {}, 16), 16, 10) AS UNSIGNED) ^ \
             CAST(CONV(HEX(SUBSTRING(@offpeak_pad, {}, 8)), 16, 10) AS UNSIGNED), 10, 16), 16, '0')",
            16 * i + 1,
            8 * i + 1
        )
    };
    let mut first = 0;
    let mut assignments = Vec::new();
    for (name, len) in ["ipad", "opad", "vkey"].into_iter().zip(lengths) {
        let words: Vec<String> = (first / 8..(first + len) / 8).map(word).collect();
        assignments.push(format!(
            "@offpeak_{name} = UNHEX(CONCAT({}))",
            words.join(", ")
        ));
        first += len;
    }
    format!("SET {}", assignments.join(", "))
}

/// Fails unless the server's digest of its blocks is the digest of ours.
async fn check_digest(db: &mut Db, sql: &str, key: &MaskingKey) -> Result<(), DbError> {
    let expected = hex::encode(Sha256::digest(blocks(key)));
    let held = db.value(DURING, sql, &[]).await?;
    if held.map(|h| h.to_ascii_lowercase()) == Some(expected) {
        Ok(())
    } else {
        Err(DbError::other(
            DURING,
            "the session does not hold the key that was sent",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_padded_blocks_are_read_word_by_word_in_order() {
        let sql = unpad_sql([64, 64, 32]);
        assert!(sql.starts_with("SET @offpeak_ipad = UNHEX(CONCAT(LPAD("));
        assert!(!sql.contains('?'));
        assert_eq!(sql.matches("SUBSTRING(@offpeak_pad,").count(), 20);
        assert!(sql.contains("SUBSTRING(@offpeak_padded, 305, 16)"));
        assert!(sql.contains("SUBSTRING(@offpeak_pad, 153, 8)"));
        assert!(!sql.contains("SUBSTRING(@offpeak_pad, 161, 8)"));
    }
}
