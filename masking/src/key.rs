//! The HMAC key that makes pseudonyms deterministic, and where it comes from.
//!
//! The database computes HMAC-SHA256 itself, without extensions, from two 64-byte blocks derived
//! here: `K' XOR ipad` and `K' XOR opad` (RFC 2104). Only those blocks are sent, and never
//! in a form the server may log — not in SQL text, not as bind parameters (which statement logs
//! record) — so the key does not reach query logs, `pg_stat_statements` or plans (see
//! `key_transport`). A second key, derived from the salt, digests the
//! original-value sample that verification compares against; it differs from the masking key so a
//! stored sample digest never equals a pseudonym.
//!
//! The salt comes from `OFFPEAK_MASKING_SALT`, else from the Secrets Manager secret the rules
//! name, read by the caller ([`MaskingKey::load`] takes the read as a function): the engine links
//! no AWS SDK, and each caller reads the secret with the client its permissions allow.
//!
//! Guarantees: `Debug` never prints key material; a salt shorter than 16 bytes is refused.
//!
//! Failure behaviour: no salt anywhere, or an unreadable secret, is a [`KeyError`] naming where
//! it looked (never the value).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Environment variable holding the salt for local runs; it wins over the rules' secret.
pub const SALT_ENV: &str = "OFFPEAK_MASKING_SALT";
const MIN_SALT_BYTES: usize = 16;
const BLOCK: usize = 64;

/// Key material for one run.
#[derive(Clone)]
pub struct MaskingKey {
    ipad: [u8; BLOCK],
    opad: [u8; BLOCK],
    verify: [u8; 32],
}

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no masking salt: set {SALT_ENV} or name a Secrets Manager secret with `salt_secret` in the rules"
    )]
    Missing,
    #[error("the masking salt from {origin} is shorter than {MIN_SALT_BYTES} bytes")]
    TooShort { origin: String },
    #[error("cannot read masking salt secret {secret_id}: {reason}")]
    Secret { secret_id: String, reason: String },
}

impl fmt::Debug for MaskingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaskingKey(<redacted>)")
    }
}

impl MaskingKey {
    /// Derives the HMAC blocks and the verification key from a salt.
    pub fn from_salt(salt: &[u8], origin: &str) -> Result<MaskingKey, KeyError> {
        if salt.len() < MIN_SALT_BYTES {
            return Err(KeyError::TooShort {
                origin: origin.to_owned(),
            });
        }
        let mut block = [0u8; BLOCK];
        if salt.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(salt));
        } else {
            block[..salt.len()].copy_from_slice(salt);
        }
        let verify = <Hmac<Sha256> as Mac>::new_from_slice(salt)
            .expect("HMAC takes keys of any length")
            .chain_update(b"offpeak/masking/verify/v1")
            .finalize()
            .into_bytes();
        Ok(MaskingKey {
            ipad: block.map(|b| b ^ 0x36),
            opad: block.map(|b| b ^ 0x5c),
            verify: verify.into(),
        })
    }

    pub fn ipad(&self) -> &[u8] {
        &self.ipad
    }

    pub fn opad(&self) -> &[u8] {
        &self.opad
    }

    /// Key of the keyed digest that stores the original-value sample.
    pub fn verify_key(&self) -> &[u8] {
        &self.verify
    }

    /// The salt from `OFFPEAK_MASKING_SALT` (looked up through `env`), else the value of the
    /// named secret as `fetch` reads it (the caller's Secrets Manager client: the engine makes no
    /// AWS call of its own). `fetch` fails with a reason naming no value.
    pub async fn load(
        env: impl Fn(&str) -> Option<String>,
        secret_id: Option<&str>,
        fetch: impl AsyncFnOnce(&str) -> Result<Vec<u8>, String>,
    ) -> Result<MaskingKey, KeyError> {
        if let Some(salt) = env(SALT_ENV).filter(|s| !s.is_empty()) {
            return MaskingKey::from_salt(salt.as_bytes(), SALT_ENV);
        }
        let Some(secret_id) = secret_id else {
            return Err(KeyError::Missing);
        };
        let salt = fetch(secret_id).await.map_err(|reason| KeyError::Secret {
            secret_id: secret_id.to_owned(),
            reason,
        })?;
        MaskingKey::from_salt(&salt, &format!("secret {secret_id}"))
    }

    /// True when the key could not be had because of what the user supplied (no salt, a short
    /// one), as opposed to a failed AWS call.
    pub fn is_bad_input(err: &KeyError) -> bool {
        !matches!(err, KeyError::Secret { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocks_reproduce_rust_hmac_sha256() {
        for salt in [&b"a-sixteen-byte-k"[..], &[7u8; 64][..], &[9u8; 100][..]] {
            let key = MaskingKey::from_salt(salt, "test").unwrap();
            for message in [&b""[..], b"alice@example.com", "José Ñúñez".as_bytes()] {
                let inner = Sha256::new()
                    .chain_update(key.ipad())
                    .chain_update(message)
                    .finalize();
                let outer = Sha256::new()
                    .chain_update(key.opad())
                    .chain_update(inner)
                    .finalize();
                let expected = <Hmac<Sha256> as Mac>::new_from_slice(salt)
                    .unwrap()
                    .chain_update(message)
                    .finalize()
                    .into_bytes();
                assert_eq!(outer, expected, "salt of {} bytes", salt.len());
            }
        }
    }

    #[test]
    fn short_salts_are_refused_and_debug_shows_nothing() {
        assert!(matches!(
            MaskingKey::from_salt(b"short", "x"),
            Err(KeyError::TooShort { .. })
        ));
        let key = MaskingKey::from_salt(b"0123456789abcdef", "x").unwrap();
        assert_eq!(format!("{key:?}"), "MaskingKey(<redacted>)");
        assert_ne!(key.verify_key(), &key.ipad()[..32]);
    }

    #[tokio::test]
    async fn the_environment_wins_and_nothing_at_all_is_an_error() {
        let env = |name: &str| (name == SALT_ENV).then(|| "0123456789abcdef".to_owned());
        let never = async |_: &str| panic!("no AWS call when the environment has the salt");
        assert!(MaskingKey::load(env, Some("ignored"), never).await.is_ok());
        let nothing = |_: &str| None;
        let never = async |_: &str| panic!("no AWS call without a secret id");
        assert!(matches!(
            MaskingKey::load(nothing, None, never).await,
            Err(KeyError::Missing)
        ));
    }

    #[tokio::test]
    async fn a_secret_is_read_through_the_callers_client_and_its_failure_named() {
        let nothing = |_: &str| None;
        let salt = async |id: &str| Ok(format!("salt-of-{id}-0123456789").into_bytes());
        assert!(MaskingKey::load(nothing, Some("s"), salt).await.is_ok());
        let denied = async |_: &str| Err("AccessDeniedException".to_owned());
        let err = MaskingKey::load(nothing, Some("offpeak/salt"), denied)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read masking salt secret offpeak/salt: AccessDeniedException"
        );
        assert!(!MaskingKey::is_bad_input(&err));
    }
}
