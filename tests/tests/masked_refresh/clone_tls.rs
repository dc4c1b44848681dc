//! The masked refresh reaches the clone over TLS with the certificate checked: a real PostgreSQL
//! server with TLS on, certificates made per test, and the engine's own connection code.
//!
//! What is shown: the connection the refresh builds (`DatabaseUrl::verified`, used for every
//! clone endpoint) succeeds only against a server whose certificate chains to a trusted authority
//! and names the host it was asked for; a server without TLS is refused rather than used in
//! plain text; and the compiled-in Amazon RDS bundle loads (every one of its certificates is
//! accepted as a trust anchor) but does not trust anyone else's server.

use offpeak_masked_refresh::engine::{Engine, Masking, MaskingError};
use offpeak_masked_refresh::secret::{DatabaseUrl, Password};
use offpeak_masked_refresh::tls::{RDS_CA_BUNDLE, TrustRoots};
use offpeak_masking::{Db, DbError};
use offpeak_tests::{ServerTls, throwaway_pg, throwaway_pg_with_tls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A certificate authority of the test's own.
struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Authority { cert, key }
    }

    /// A server certificate for `host`, and its key, PEM.
    fn issue(&self, host: &str) -> (String, String) {
        let params = CertificateParams::new(vec![host.to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }
}

/// A TLS server presenting a certificate for `host` from `authority`; its URL names `localhost`.
fn tls_server(authority: &Authority, host: &str) -> String {
    let (cert_pem, key_pem) = authority.issue(host);
    let server = throwaway_pg_with_tls(ServerTls {
        cert_pem: &cert_pem,
        key_pem: &key_pem,
    });
    server.url().replace("127.0.0.1", "localhost")
}

async fn verified(url: &str, roots: &[u8]) -> Result<Db, DbError> {
    Db::connect_verified(url, roots).await
}

fn refused(result: Result<Db, DbError>) -> String {
    match result {
        Ok(_) => panic!("the connection was made; it must be refused"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn a_certificate_from_a_trusted_authority_for_the_host_is_accepted() {
    // GIVEN a server whose certificate for `localhost` is signed by the test's authority
    let ca = Authority::new("offpeak test CA");
    let url = tls_server(&ca, "localhost");

    // WHEN the refresh's connection trusts that authority, THEN it connects, over TLS
    let mut db = verified(&url, &ca.pem())
        .await
        .expect("verified connection");
    let ssl = db
        .value(
            "reading the session's TLS state",
            "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ssl.as_deref(), Some("true"));
    db.close().await;

    // AND trusting the RDS bundle together with it works too: every RDS certificate loads
    let mut both = RDS_CA_BUNDLE.to_vec();
    both.extend(ca.pem());
    let db = verified(&url, &both).await.expect("RDS bundle + test CA");
    db.close().await;
}

#[tokio::test]
async fn an_untrusted_authority_is_refused() {
    // GIVEN a server whose certificate comes from an authority nobody configured
    let ca = Authority::new("someone else's CA");
    let url = tls_server(&ca, "localhost");

    // WHEN the refresh trusts only the RDS authorities (its default) or another authority
    let with_rds = refused(verified(&url, TrustRoots::rds().pem()).await);
    let other = Authority::new("offpeak test CA");
    let with_other = refused(verified(&url, &other.pem()).await);

    // THEN both are refused as certificate failures, and the errors carry no URL or password
    for err in [&with_rds, &with_other] {
        assert!(
            err.contains("tls error: invalid peer certificate: UnknownIssuer"),
            "{err}"
        );
        assert!(!err.contains("postgres://"), "{err}");
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    // GIVEN a trusted authority's certificate, but issued for a different host name
    let ca = Authority::new("offpeak test CA");
    let url = tls_server(&ca, "other-cluster.example");

    // WHEN the refresh connects to `localhost`, THEN the name mismatch is refused
    let err = refused(verified(&url, &ca.pem()).await);
    assert!(
        err.contains("invalid peer certificate: certificate not valid for name \"localhost\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_without_tls_is_refused_not_used_in_plain_text() {
    // GIVEN a server that offers no TLS at all (the harness's plain throwaway server)
    let url = throwaway_pg().url().replace("127.0.0.1", "localhost");
    let ca = Authority::new("offpeak test CA");

    // WHEN the refresh connects with certificate checks, THEN it is refused
    refused(verified(&url, &ca.pem()).await);

    // AND a URL built by the refresh for the clone goes the same way through the engine: a
    // verified URL is never downgraded, even on loopback where an unverified one would connect
    let rules = offpeak_tests::workspace_root().join("infra/masking.yaml");
    let engine = Engine::new(
        &rules,
        Some(Password::new("salt-for-tls-test")),
        aws_config::SdkConfig::builder().build(),
    );
    let clone_url = DatabaseUrl::verified(url.clone(), TrustRoots::rds());
    match engine.verify(&clone_url, Default::default()).await {
        Err(MaskingError::Connect(_)) => {}
        other => panic!("expected a refused connection, got {other:?}"),
    }
    Db::connect(&url)
        .await
        .expect("the plain URL connects")
        .close()
        .await;
}
