//! Secrets the refresh handles: master passwords and database URLs that embed them.
//!
//! Guarantees:
//! - [`Password`] and [`DatabaseUrl`] never print: `Debug` shows `<redacted>`, neither implements
//!   `Display` or `Serialize`, so one cannot reach a log line, a report, a notification or an
//!   error message by accident.
//! - The clone's master password is **derived, never stored**: HMAC-SHA256 over the clone's id
//!   and a random per-run nonce (kept in the state document), keyed by a key derived from the
//!   masking salt. Every tick of a run can reconnect to the clone without the password being
//!   written anywhere; the state document alone (nonce, ids) does not reveal it, and each run's
//!   password differs. Replacing it before the clone has an instance means production's
//!   password never opens the clone.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::tls::TrustRoots;

/// Domain separation: this HMAC is for clone passwords and nothing else.
const CLONE_PASSWORD_LABEL: &[u8] = b"offpeak/masked-refresh/clone-password/v1";
/// Hex characters in a derived password: 128 bits, within every Aurora engine's limit (MySQL: 41)
/// and made only of characters every engine accepts.
const PASSWORD_HEX: usize = 32;

/// A master password. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The password of `clone` for the run with `nonce`, derived from `key` (see the module docs).
    pub fn derive(key: &[u8], clone: &str, nonce: &str) -> Password {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .expect("HMAC takes keys of any length")
            .chain_update(CLONE_PASSWORD_LABEL)
            .chain_update([0])
            .chain_update(clone.as_bytes())
            .chain_update([0])
            .chain_update(nonce.as_bytes())
            .finalize()
            .into_bytes();
        let mut hex = hex::encode(mac);
        hex.truncate(PASSWORD_HEX);
        Password(hex)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A database URL, which may carry a password, and how its server's certificate is checked.
/// Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    roots: Option<TrustRoots>,
}

impl DatabaseUrl {
    /// A URL whose own parameters decide TLS (`OFFPEAK_CLONE_DATABASE_URL`: local runs, tests).
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            url: value.into(),
            roots: None,
        }
    }

    /// A URL offpeak built itself: TLS required, the certificate and host name checked against
    /// `roots`, whatever the URL says.
    pub fn verified(value: impl Into<String>, roots: TrustRoots) -> Self {
        Self {
            url: value.into(),
            roots: Some(roots),
        }
    }

    pub fn expose(&self) -> &str {
        &self.url
    }

    /// The authorities to check the server against; `None`: as the URL says.
    pub fn roots(&self) -> Option<&TrustRoots> {
        self.roots.as_ref()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

/// `bytes` random bytes from the operating system, hex-encoded: nonces.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the operating system's random source is available");
    hex::encode(buf)
}

/// Percent-encodes text for a URL component (user-info, query or form value): every byte but
/// the unreserved ones (RFC 3986: letters, digits, `-._~`).
pub fn url_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_passwords_are_stable_per_run_and_differ_between_runs() {
        let a = Password::derive(b"key", "dev-offpeak-20261127", "n1");
        assert_eq!(a, Password::derive(b"key", "dev-offpeak-20261127", "n1"));
        assert_ne!(a, Password::derive(b"key", "dev-offpeak-20261127", "n2"));
        assert_ne!(a, Password::derive(b"other", "dev-offpeak-20261127", "n1"));
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn secrets_never_print() {
        let p = Password::new("hunter2hunter2");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        let u = DatabaseUrl::new("postgres://u:hunter2@h/db");
        assert!(!format!("{u:?}").contains("hunter2"));
    }

    #[test]
    fn random_hex_is_fresh_and_url_components_are_escaped() {
        assert_ne!(random_hex(16), random_hex(16));
        assert_eq!(random_hex(8).len(), 16);
        assert_eq!(url_component("ad min@x"), "ad%20min%40x");
    }
}
