//! The masked refresh's own settings from the environment, read once per cold start (the Lambda
//! `main`, or the CLI) and passed down: nothing below this module reads an environment variable.
//!
//! | variable | meaning |
//! |---|---|
//! | `OFFPEAK_CLONE_DATABASE_URL` | mask this database instead of the clone's endpoint (local runs and tests: moto's endpoints are not databases) |
//! | `OFFPEAK_MASKING_SALT` | the masking HMAC salt (local runs); else the Secrets Manager id in the rules |
//! | `OFFPEAK_QUARANTINE_SECURITY_GROUP` | the stack's quarantine group, used when the schedule names none |
//! | `OFFPEAK_FUNCTION_SECURITY_GROUPS` | the function's own security groups (comma-separated; the stack sets its `VpcConfig` group): the only sources a quarantine group may admit. Unset: every run is refused, except local runs with `OFFPEAK_CLONE_DATABASE_URL`, where the quarantine check is skipped (see [`crate::security_groups`]) |
//! | `OFFPEAK_MASK_SECONDS` | masking time per invocation before it yields to the next tick (default 600; the function's timeout is 900) |
//! | `OFFPEAK_MASK_MAX_CHUNKS` | masking chunks per invocation (unset: no limit; tests, careful operators) |
//! | `OFFPEAK_RULES_CHECK_SECRET` | Secrets Manager id of the daily rules check's catalog-only production login (RDS secret JSON: `engine`, `host`, `port`, `username`, `password`, `dbname`; see [`crate::rules_check`]) |
//! | `OFFPEAK_SOURCE_DATABASE_URL` | the rules check reads this database's catalog instead (local runs and tests) |
//! | `OFFPEAK_CLONE_CA_BUNDLE` | PEM file of the authorities the clone's certificate must chain to (default: the compiled-in Amazon RDS bundle, see [`crate::tls`]) |
//! | `OFFPEAK_CLONE_CLUSTER_PARAMETER_GROUP` | the DB cluster parameter group the clone of production is restored with, logging off (the stack creates it when `CloneParameterGroupFamily` is set). Unset: production's group, as before. The copy that becomes dev always gets production's |
//! | `OFFPEAK_CLONE_INSTANCE_PARAMETER_GROUP` | the DB parameter group of the clone's instance, logging off (likewise). Unset: none named, the engine's default group |
//!
//! A set-but-blank variable counts as unset (SAM passes empty strings for optional parameters).

use std::fmt;
use std::time::Duration;

use crate::secret::{DatabaseUrl, Password};
use crate::tls::{EmptyBundle, TrustRoots};

pub const CLONE_DATABASE_URL_ENV: &str = "OFFPEAK_CLONE_DATABASE_URL";
pub const QUARANTINE_ENV: &str = "OFFPEAK_QUARANTINE_SECURITY_GROUP";
pub const FUNCTION_SECURITY_GROUPS_ENV: &str = "OFFPEAK_FUNCTION_SECURITY_GROUPS";
pub const MASK_SECONDS_ENV: &str = "OFFPEAK_MASK_SECONDS";
pub const MASK_MAX_CHUNKS_ENV: &str = "OFFPEAK_MASK_MAX_CHUNKS";
pub const CLONE_CA_BUNDLE_ENV: &str = "OFFPEAK_CLONE_CA_BUNDLE";
pub const RULES_CHECK_SECRET_ENV: &str = "OFFPEAK_RULES_CHECK_SECRET";
pub const SOURCE_DATABASE_URL_ENV: &str = "OFFPEAK_SOURCE_DATABASE_URL";
pub const CLONE_CLUSTER_PARAMETER_GROUP_ENV: &str = "OFFPEAK_CLONE_CLUSTER_PARAMETER_GROUP";
pub const CLONE_INSTANCE_PARAMETER_GROUP_ENV: &str = "OFFPEAK_CLONE_INSTANCE_PARAMETER_GROUP";
const DEFAULT_MASK_SECONDS: u64 = 600;

/// Settings of the masked refresh, fixed for the process's life.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub clone_database_url: Option<DatabaseUrl>,
    pub masking_salt: Option<Password>,
    pub quarantine_security_group: Option<String>,
    /// The function's own security groups: the only sources a quarantine group may admit.
    pub function_security_groups: Vec<String>,
    /// How long one invocation masks before leaving the rest to the next tick.
    pub mask_time: Option<Duration>,
    pub mask_max_chunks: Option<u64>,
    /// The authorities the clone's endpoint certificate is checked against (and production's,
    /// for the rules check).
    pub clone_roots: TrustRoots,
    /// The rules check's production login: a Secrets Manager id.
    pub rules_check_secret: Option<String>,
    /// The rules check reads this database instead (local runs, tests).
    pub source_database_url: Option<DatabaseUrl>,
    /// offpeak's parameter groups (logging off) for the clone until it is verified.
    pub clone_parameter_groups: CloneParameterGroups,
}

/// The parameter groups the clone of production runs with until it is verified; `None`: as
/// before (production's cluster group, the engine's default instance group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneParameterGroups {
    /// `DBClusterParameterGroupName` of the restore from production.
    pub cluster: Option<String>,
    /// `DBParameterGroupName` of the clone's instance.
    pub instance: Option<String>,
}

/// A variable that does not hold what it should.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{name} must be a whole number, got {value:?}")]
    NotANumber { name: &'static str, value: String },
    #[error("{CLONE_CA_BUNDLE_ENV}: cannot read {path}")]
    ReadBundle {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{CLONE_CA_BUNDLE_ENV}: {0}")]
    EmptyBundle(#[source] EmptyBundle),
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field(
                "clone_database_url",
                &self.clone_database_url.as_ref().map(|_| "<set>"),
            )
            .field("masking_salt", &self.masking_salt.as_ref().map(|_| "<set>"))
            .field("quarantine_security_group", &self.quarantine_security_group)
            .field("function_security_groups", &self.function_security_groups)
            .field("mask_time", &self.mask_time)
            .field("mask_max_chunks", &self.mask_max_chunks)
            .field("clone_roots", &self.clone_roots)
            .field("rules_check_secret", &self.rules_check_secret)
            .field(
                "source_database_url",
                &self.source_database_url.as_ref().map(|_| "<set>"),
            )
            .field("clone_parameter_groups", &self.clone_parameter_groups)
            .finish()
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let number = |name: &'static str| {
            get(name)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| SettingsError::NotANumber { name, value: v })
                })
                .transpose()
        };
        Ok(Self {
            clone_database_url: get(CLONE_DATABASE_URL_ENV).map(DatabaseUrl::new),
            masking_salt: get(offpeak_masking::SALT_ENV).map(Password::new),
            quarantine_security_group: get(QUARANTINE_ENV),
            function_security_groups: get(FUNCTION_SECURITY_GROUPS_ENV)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            mask_time: Some(Duration::from_secs(
                number(MASK_SECONDS_ENV)?.unwrap_or(DEFAULT_MASK_SECONDS),
            )),
            mask_max_chunks: number(MASK_MAX_CHUNKS_ENV)?,
            clone_roots: get(CLONE_CA_BUNDLE_ENV)
                .map(|path| read_bundle(&path))
                .transpose()?
                .unwrap_or_default(),
            rules_check_secret: get(RULES_CHECK_SECRET_ENV),
            source_database_url: get(SOURCE_DATABASE_URL_ENV).map(DatabaseUrl::new),
            clone_parameter_groups: CloneParameterGroups {
                cluster: get(CLONE_CLUSTER_PARAMETER_GROUP_ENV),
                instance: get(CLONE_INSTANCE_PARAMETER_GROUP_ENV),
            },
        })
    }
}

fn read_bundle(path: &str) -> Result<TrustRoots, SettingsError> {
    let pem = std::fs::read(path).map_err(|source| SettingsError::ReadBundle {
        path: path.to_owned(),
        source,
    })?;
    TrustRoots::from_pem(pem, path).map_err(SettingsError::EmptyBundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn variables_are_read_once_and_blank_is_unset() {
        let s = settings(&[
            (CLONE_DATABASE_URL_ENV, "postgres://u:pw@127.0.0.1/db"),
            (QUARANTINE_ENV, " "),
        ])
        .unwrap();
        assert_eq!(
            s.clone_database_url.as_ref().unwrap().expose(),
            "postgres://u:pw@127.0.0.1/db"
        );
        assert_eq!(s.quarantine_security_group, None);
        assert!(s.function_security_groups.is_empty());
        let s = settings(&[(FUNCTION_SECURITY_GROUPS_ENV, " sg-1, sg-2 ,")]).unwrap();
        assert_eq!(s.function_security_groups, ["sg-1", "sg-2"]);
        assert_eq!(s.mask_time, Some(Duration::from_secs(600)));
        assert_eq!(s.clone_roots, TrustRoots::rds());
        assert!(
            !format!("{s:?}").contains("pw@"),
            "Debug never shows the URL"
        );
    }

    #[test]
    fn the_clones_parameter_groups_are_read_each_on_its_own() {
        let s = settings(&[
            (CLONE_CLUSTER_PARAMETER_GROUP_ENV, " offpeak-clone-cluster "),
            (CLONE_INSTANCE_PARAMETER_GROUP_ENV, "offpeak-clone-instance"),
        ])
        .unwrap();
        assert_eq!(
            s.clone_parameter_groups,
            CloneParameterGroups {
                cluster: Some("offpeak-clone-cluster".into()),
                instance: Some("offpeak-clone-instance".into()),
            }
        );
        // SAM passes "" for the groups a stack without CloneParameterGroupFamily does not create.
        let s = settings(&[
            (CLONE_CLUSTER_PARAMETER_GROUP_ENV, ""),
            (CLONE_INSTANCE_PARAMETER_GROUP_ENV, ""),
        ])
        .unwrap();
        assert_eq!(s.clone_parameter_groups, CloneParameterGroups::default());
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let err = settings(&[(MASK_MAX_CHUNKS_ENV, "lots")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OFFPEAK_MASK_MAX_CHUNKS must be a whole number, got \"lots\""
        );
    }

    #[test]
    fn a_ca_bundle_file_replaces_the_compiled_in_one() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.pem");
        let pem = crate::tls::tests::first_certificate();
        std::fs::write(&one, &pem).unwrap();
        let s = settings(&[(CLONE_CA_BUNDLE_ENV, one.to_str().unwrap())]).unwrap();
        assert_eq!(s.clone_roots.len(), 1);

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "nothing").unwrap();
        let err = settings(&[(CLONE_CA_BUNDLE_ENV, junk.to_str().unwrap())]).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        let err = settings(&[(CLONE_CA_BUNDLE_ENV, "/nonexistent/ca.pem")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OFFPEAK_CLONE_CA_BUNDLE: cannot read /nonexistent/ca.pem"
        );
    }
}
