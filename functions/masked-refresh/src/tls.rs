//! Which certificate authorities the clone's endpoint must be signed by.
//!
//! The clone's database URL is built by offpeak from the endpoint RDS reports, so offpeak also
//! decides how it is reached: TLS is required and the server's certificate is checked, host name
//! included, against [`TrustRoots`] (PostgreSQL `verify-full`, MySQL `VERIFY_IDENTITY`). By default
//! those are the Amazon RDS root authorities compiled into the binary
//! (`functions/masked-refresh/certs/`, where their provenance is documented);
//! `OFFPEAK_CLONE_CA_BUNDLE` names a PEM file to use instead. A URL given through
//! `OFFPEAK_CLONE_DATABASE_URL` (local runs) keeps its own TLS settings.
//!
//! Failure behaviour: a bundle without a single certificate is refused when settings are read, so
//! a wrong file fails the cold start instead of every connection.

use std::fmt;
use std::sync::Arc;

/// The Amazon RDS root authorities valid when this binary was built.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../certs/rds-ca-bundle.pem");

const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// A PEM bundle of trusted root certificates. The compiled-in bundle is referenced, not copied:
/// a cold start that never connects to a clone neither copies nor reads its 145 KB.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustRoots(Pem);

#[derive(Clone, PartialEq, Eq)]
enum Pem {
    CompiledIn(&'static [u8]),
    Read(Arc<[u8]>),
}

/// A bundle that holds no certificate.
#[derive(Debug, thiserror::Error)]
#[error("{origin} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)")]
pub struct EmptyBundle {
    pub origin: String,
}

impl TrustRoots {
    /// The compiled-in Amazon RDS authorities.
    pub fn rds() -> Self {
        Self(Pem::CompiledIn(RDS_CA_BUNDLE))
    }

    /// A bundle read from `origin` (named in the error when it holds no certificate).
    pub fn from_pem(pem: Vec<u8>, origin: &str) -> Result<Self, EmptyBundle> {
        match count(&pem) {
            0 => Err(EmptyBundle {
                origin: origin.to_owned(),
            }),
            _ => Ok(Self(Pem::Read(Arc::from(pem)))),
        }
    }

    pub fn pem(&self) -> &[u8] {
        match &self.0 {
            Pem::CompiledIn(pem) => pem,
            Pem::Read(pem) => pem,
        }
    }

    /// How many certificates the bundle holds.
    pub fn len(&self) -> usize {
        count(self.pem())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for TrustRoots {
    fn default() -> Self {
        Self::rds()
    }
}

impl fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustRoots({} certificates)", self.len())
    }
}

fn count(pem: &[u8]) -> usize {
    pem.windows(PEM_CERTIFICATE.len())
        .filter(|w| *w == PEM_CERTIFICATE)
        .count()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_bundle_holds_every_rds_authority() {
        // 29 regions' RSA2048, RSA4096 and ECC384 roots (certs/README.md lists them).
        assert_eq!(TrustRoots::rds().len(), 87);
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let err = TrustRoots::from_pem(b"not a bundle".to_vec(), "/tmp/ca.pem").unwrap_err();
        assert!(err.to_string().starts_with("/tmp/ca.pem holds no PEM"));
        let one = TrustRoots::from_pem(first_certificate(), "x").unwrap();
        assert_eq!(one.len(), 1);
    }

    /// The bundle's first certificate alone, PEM.
    pub(crate) fn first_certificate() -> Vec<u8> {
        const END: &[u8] = b"-----END CERTIFICATE-----\n";
        let end = RDS_CA_BUNDLE
            .windows(END.len())
            .position(|w| w == END)
            .expect("the bundle holds a certificate");
        RDS_CA_BUNDLE[..end + END.len()].to_vec()
    }
}
