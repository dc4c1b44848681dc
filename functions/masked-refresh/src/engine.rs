//! The seam between the refresh and the masking engine (crate [`offpeak_masking`]): rules, key,
//! and the database operations a run performs inside the clone: contain the clone's whole server
//! ([`offpeak_masking::cluster`]), mask, verify (the covered database and the whole server),
//! forget.
//!
//! [`Engine`] is the real one. The rules come from the file the schedule names (in Lambda, beside
//! the schedule in the stack's schedule layer: `/opt/masking.yaml`); nothing is compiled in, so
//! a missing file fails the run's first step with its path named. The HMAC key comes from
//! `OFFPEAK_MASKING_SALT` (given through [`crate::Settings`]) or the Secrets Manager id in the
//! rules, read here with [`SdkSecrets::salt`] (the engine makes no AWS call), and is loaded at
//! most once per tick.
//!
//! Failure behaviour: every failure is a [`MaskingError`] naming the rules file, the secret, or
//! the table and column involved — never a value (the engine's errors are scrubbed).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use offpeak_masking::cluster::{self, Containment};
use offpeak_masking::{
    self as masking, Budget, Db, Endpoint, MaskReport, MaskingKey, Rules, Verification,
};
use serde::Serialize;

use crate::secret::{DatabaseUrl, Password};
use crate::secrets::SdkSecrets;
use crate::tls::TrustRoots;

/// Why masking could not be done.
#[derive(Debug, thiserror::Error)]
pub enum MaskingError {
    #[error("load masking rules failed")]
    Rules(#[source] masking::RulesError),
    #[error("load the masking key failed")]
    Key(#[source] masking::KeyError),
    #[error("connect to the clone's database failed")]
    Connect(#[source] masking::DbError),
    #[error("masking failed")]
    Mask(#[source] masking::MaskError),
}

impl MaskingError {
    /// The rules (or the key's configuration) are wrong, as opposed to a database failure.
    pub fn is_bad_input(&self) -> bool {
        match self {
            MaskingError::Rules(_) => true,
            MaskingError::Key(e) => masking::MaskingKey::is_bad_input(e),
            MaskingError::Mask(e) => e.is_bad_input(),
            MaskingError::Connect(_) => false,
        }
    }

    /// The clone's server ran out of time (a statement or lock timeout, the invocation's
    /// deadline, a server that did not answer), as opposed to a failure that would repeat:
    /// a later tick may succeed.
    pub fn is_timeout(&self) -> bool {
        match self {
            MaskingError::Connect(e) | MaskingError::Mask(masking::MaskError::Database(e)) => {
                e.is_timeout()
            }
            _ => false,
        }
    }
}

/// What the rules say about the clone's server beyond the database they cover, as plans and
/// dry-runs show it (sorted names; read from the rules file, no database involved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Databases (schemas) dropped from the clone before verification.
    pub drop_databases: Vec<String>,
    /// Logins that stay enabled, re-keyed; every other login is disabled.
    pub keep_logins: Vec<String>,
}

impl Scope {
    /// The scope of `rules`.
    pub fn of(rules: &Rules) -> Scope {
        let sorted = |names: &[masking::rules::Named]| {
            let mut v: Vec<String> = names.iter().map(|n| n.name.clone()).collect();
            v.sort();
            v
        };
        Scope {
            drop_databases: sorted(&rules.databases.drop),
            keep_logins: sorted(&rules.logins.keep),
        }
    }
}

/// What a run needs from the masking engine.
pub trait Masking: Send + Sync {
    /// Loads the rules: a run does not start when they do not load.
    fn check_rules(&self) -> Result<(), MaskingError>;

    /// What the rules drop and keep on the clone's server.
    fn scope(&self) -> Result<Scope, MaskingError>;

    /// Checks the clone's whole server against the rules (refusing before any change), then
    /// drops the databases they list and disables or re-keys every login, in a session bound
    /// by `budget`'s deadline.
    fn contain(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> impl Future<Output = Result<Containment, MaskingError>> + Send;

    /// The masking key (also the root of the clone's derived password).
    fn key(&self) -> impl Future<Output = Result<MaskingKey, MaskingError>> + Send;

    /// Masks within `budget`; verification runs once every table is done.
    fn mask(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> impl Future<Output = Result<MaskReport, MaskingError>> + Send;

    /// The verification gate alone, in a fresh session bound by `budget`'s deadline (as masking
    /// is, see `offpeak_masking::limits`): the covered database, then the server (no database
    /// but the covered one, no login enabled the rules do not keep).
    fn verify(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> impl Future<Output = Result<Verification, MaskingError>> + Send;

    /// Drops the masking bookkeeping from the database, in a session bound by `budget`'s
    /// deadline.
    fn forget(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> impl Future<Output = Result<(), MaskingError>> + Send;
}

/// The real masking engine.
pub struct Engine {
    rules_path: PathBuf,
    salt: Option<Password>,
    sdk: aws_config::SdkConfig,
    key: Mutex<Option<MaskingKey>>,
}

impl Engine {
    pub fn new(rules_path: &Path, salt: Option<Password>, sdk: aws_config::SdkConfig) -> Self {
        Self {
            rules_path: rules_path.to_owned(),
            salt,
            sdk,
            key: Mutex::new(None),
        }
    }

    fn rules(&self) -> Result<Rules, MaskingError> {
        load_rules(&self.rules_path).map_err(MaskingError::Rules)
    }

    fn cached_key(&self) -> Option<MaskingKey> {
        self.key.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Reads the rules at `path`.
pub fn load_rules(path: &Path) -> Result<Rules, masking::RulesError> {
    masking::rules::load(path)
}

/// The database behind `url`, with its TLS rules (checked certificate when it carries roots).
fn endpoint(url: &DatabaseUrl) -> Endpoint<'_> {
    Endpoint {
        url: url.expose(),
        roots: url.roots().map(TrustRoots::pem),
    }
}

async fn connect(url: &DatabaseUrl) -> Result<Db, MaskingError> {
    endpoint(url).connect().await.map_err(MaskingError::Connect)
}

/// A session on `url` whose every statement (catalog reads included: they wait on locks too)
/// is bound by `budget`'s deadline, so no call outlives the invocation that made it.
async fn connect_bound(url: &DatabaseUrl, budget: &Budget) -> Result<Db, MaskingError> {
    let mut db = connect(url).await?;
    match db.bound_by(budget.deadline).await {
        Ok(()) => Ok(db),
        Err(e) => {
            db.close().await;
            Err(MaskingError::Mask(e.into()))
        }
    }
}

impl Masking for Engine {
    fn check_rules(&self) -> Result<(), MaskingError> {
        self.rules().map(|_| ())
    }

    fn scope(&self) -> Result<Scope, MaskingError> {
        self.rules().map(|r| Scope::of(&r))
    }

    async fn contain(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> Result<Containment, MaskingError> {
        let rules = self.rules()?;
        // Fresh for this call and dropped with it: the replacement verifiers are made from it.
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).expect("the operating system's random source is available");
        let mut db = connect_bound(url, &budget).await?;
        let result = cluster::contain(&mut db, &rules, &seed).await;
        db.close().await;
        result.map_err(MaskingError::Mask)
    }

    async fn key(&self) -> Result<MaskingKey, MaskingError> {
        if let Some(key) = self.cached_key() {
            return Ok(key);
        }
        let rules = self.rules()?;
        let salt = self.salt.as_ref().map(|s| s.expose().to_owned());
        let env = move |name: &str| (name == masking::SALT_ENV).then(|| salt.clone()).flatten();
        let sdk = self.sdk.clone();
        let read = async move |id: &str| SdkSecrets::from_sdk_config(&sdk).salt(id).await;
        let key = MaskingKey::load(env, rules.salt_secret.as_deref(), read)
            .await
            .map_err(MaskingError::Key)?;
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        Ok(key)
    }

    async fn mask(&self, url: &DatabaseUrl, budget: Budget) -> Result<MaskReport, MaskingError> {
        let rules = self.rules()?;
        let key = self.key().await?;
        let mut db = connect(url).await?;
        // More sessions to the same database fill large tables' copies in parallel.
        let result =
            masking::mask_parallel(&mut db, Some(endpoint(url)), &rules, &key, budget).await;
        db.close().await;
        result.map_err(MaskingError::Mask)
    }

    async fn verify(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> Result<Verification, MaskingError> {
        let rules = self.rules()?;
        let key = self.key().await?;
        let mut db = connect_bound(url, &budget).await?;
        let result = gate(&mut db, &rules, &key).await;
        db.close().await;
        result.map_err(MaskingError::Mask)
    }

    async fn forget(&self, url: &DatabaseUrl, budget: Budget) -> Result<(), MaskingError> {
        let mut db = connect_bound(url, &budget).await?;
        let result = masking::forget(&mut db).await;
        db.close().await;
        result.map_err(MaskingError::Mask)
    }
}

/// The covered database's gate, then the server's checks, as one verification.
async fn gate(
    db: &mut Db,
    rules: &Rules,
    key: &MaskingKey,
) -> Result<Verification, masking::MaskError> {
    let database = masking::verify(db, rules, key).await?;
    let server = cluster::verify(db, rules).await?;
    Ok(Verification::new(
        database.checks.into_iter().chain(server).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_parse_and_a_missing_file_is_named() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/masking.yaml");
        let rules = load_rules(&shipped).unwrap();
        assert!(!rules.tables.is_empty());
        let scope = Scope::of(&rules);
        assert_eq!(scope.drop_databases, ["postgres"]);
        assert!(scope.keep_logins.is_empty());
        let missing = load_rules(Path::new("/nonexistent/masking.yaml")).unwrap_err();
        assert!(
            matches!(missing, masking::RulesError::Read { .. }),
            "{missing}"
        );
    }
}
