//! The steps a refresh takes, as values: each prints as one line for people and serialises with
//! every parameter its call gets, so a dry-run shows exactly what a real tick would call next.
//! A password never appears here: [`Action::ReplacePassword`] and [`Action::Promote`] say where
//! the password comes from, not what it is.

use std::fmt;

use serde::Serialize;

use crate::overrides::{Ending, Hold};
use crate::rds::{CloneSpec, InstanceSpec, Tag};

/// One call (to RDS, or into the clone's database) a refresh makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Store a person's override in the state document (and tell it).
    HoldOverride {
        target: String,
        state: Hold,
        until: String,
    },
    /// Drop the stored override (and tell it): it expired, was cleared or replaced.
    EndOverride {
        target: String,
        state: Hold,
        why: Ending,
    },
    /// Record a new run in the state store (the window opened, or a `refresh` override allows it).
    StartRun {
        target: String,
        run: String,
        clone: String,
        deadline: String,
    },
    /// `RestoreDBClusterToPointInTime` (copy-on-write, latest restorable time) into quarantine.
    RestoreClone(CloneSpec),
    /// `RestoreDBClusterToPointInTime` (copy-on-write, latest restorable time) of the verified,
    /// sealed clone into quarantine: the copy that becomes dev, with no restorable point from
    /// before masking.
    CopyClone(CloneSpec),
    /// `ModifyDBCluster MasterUserPassword`: a generated password replaces production's.
    ReplacePassword { cluster: String },
    /// `CreateDBInstance` for the clone.
    CreateInstance(InstanceSpec),
    /// Before masking: check every database of the clone's server against the rules (any the
    /// rules do not name refuses the run, nothing changed), drop the ones they list, disable
    /// every login but the kept ones, and re-key those.
    Contain {
        cluster: String,
        database: Database,
        drop_databases: Vec<String>,
        keep_logins: Vec<String>,
    },
    /// Mask inside the clone (resumable; several ticks if need be).
    Mask { cluster: String, database: Database },
    /// The verification gate, in a fresh session.
    Verify { cluster: String, database: Database },
    /// Drop the masking bookkeeping from the clone before anyone else can reach it.
    Forget { cluster: String, database: Database },
    /// `AddTagsToResource`.
    Tag {
        resource: String,
        arn: String,
        tags: Vec<Tag>,
    },
    /// `ModifyDBInstance NewDBInstanceIdentifier`.
    RenameInstance { from: String, to: String },
    /// `ModifyDBCluster NewDBClusterIdentifier` (and, in a rollback, back into quarantine).
    RenameCluster {
        from: String,
        to: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        security_groups: Option<Vec<String>>,
    },
    /// `ModifyDBCluster`: the verified clone takes the dev name, the dev security groups and the
    /// dev master password (read from Secrets Manager), in one call.
    Promote {
        from: String,
        to: String,
        security_groups: Vec<String>,
        password_secret: String,
    },
    /// `GetSecretValue` of the dev password secret, before the swap renames anything: a secret
    /// that cannot be read or holds no password fails the run while dev is untouched. The value
    /// is dropped at once.
    CheckPasswordSecret { password_secret: String },
    /// `ModifyDBCluster DeletionProtection=true` on the promoted dev cluster, when the dev
    /// cluster it replaced had deletion protection on.
    EnableDeletionProtection { cluster: String },
    /// `ModifyDBCluster DeletionProtection=false`, before deleting a previous dev cluster.
    DisableDeletionProtection { cluster: String },
    /// `DeleteDBInstance`.
    DeleteInstance { instance: String, reason: Reason },
    /// `DeleteDBCluster`, automated backups deleted with it; with a final snapshot named
    /// `final_snapshot` for a cluster offpeak did not make (a handed-over dev cluster), without
    /// one for a cluster it made (a masked copy).
    DeleteCluster {
        cluster: String,
        reason: Reason,
        #[serde(skip_serializing_if = "Option::is_none")]
        final_snapshot: Option<String>,
    },
}

/// Why something is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The run failed or was aborted: its clone goes.
    FailedRun,
    /// A previous dev cluster beyond `keep_previous`.
    Retired,
    /// The verified clone, once its copy exists: its restorable history reaches back before
    /// masking.
    Superseded,
}

/// Where masking connects: the clone's endpoint, or the local override. Never a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Database {
    pub engine: String,
    /// The clone's writer endpoint, or `OFFPEAK_CLONE_DATABASE_URL`.
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// True when `OFFPEAK_CLONE_DATABASE_URL` replaces the endpoint (local runs, tests).
    pub overridden: bool,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::FailedRun => "failed run",
            Reason::Retired => "beyond keep_previous",
            Reason::Superseded => "copied after masking; its backups predate masking",
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::HoldOverride {
                target,
                state,
                until,
            } => write!(f, "hold {target} at {state} until {until} (override)"),
            Action::EndOverride { target, state, why } => {
                write!(f, "end the {state} override of {target} ({})", why.as_str())
            }
            Action::StartRun {
                target,
                run,
                clone,
                deadline,
            } => {
                write!(
                    f,
                    "start run {run} of {target} (clone {clone}, must finish by {deadline})"
                )
            }
            Action::RestoreClone(s) => write!(
                f,
                "clone {} as {} (copy-on-write, latest restorable time) into quarantine {}",
                s.source,
                s.clone,
                s.security_groups.join(",")
            ),
            Action::CopyClone(s) => write!(
                f,
                "copy verified clone {} as {} (copy-on-write, latest restorable time) into quarantine {}",
                s.source,
                s.clone,
                s.security_groups.join(",")
            ),
            Action::ReplacePassword { cluster } => {
                write!(
                    f,
                    "replace the master password of {cluster} (generated, not shown)"
                )
            }
            Action::CreateInstance(s) => {
                write!(
                    f,
                    "create instance {} ({}) in {}",
                    s.instance, s.class, s.cluster
                )
            }
            Action::Contain {
                cluster,
                drop_databases,
                keep_logins,
                ..
            } => write!(
                f,
                "contain {cluster}: {}; {}",
                dropping(drop_databases),
                disabling(keep_logins)
            ),
            Action::Mask { cluster, database } => write!(f, "mask {cluster} via {}", database.host),
            Action::Verify { cluster, database } => {
                write!(f, "verify masking of {cluster} via {}", database.host)
            }
            Action::Forget { cluster, .. } => write!(f, "drop masking bookkeeping from {cluster}"),
            Action::Tag { resource, tags, .. } => {
                let pairs: Vec<String> = tags
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.value))
                    .collect();
                write!(f, "tag {resource} {}", pairs.join(" "))
            }
            Action::RenameInstance { from, to } => write!(f, "rename instance {from} -> {to}"),
            Action::RenameCluster {
                from,
                to,
                security_groups,
            } => {
                write!(f, "rename cluster {from} -> {to}")?;
                match security_groups {
                    Some(groups) => write!(f, " (security groups {})", groups.join(",")),
                    None => Ok(()),
                }
            }
            Action::Promote {
                from,
                to,
                security_groups,
                password_secret,
            } => write!(
                f,
                "promote {from} -> {to} (security groups {}, master password from secret {password_secret})",
                security_groups.join(",")
            ),
            Action::CheckPasswordSecret { password_secret } => {
                write!(
                    f,
                    "check that secret {password_secret} holds the dev master password (value not shown)"
                )
            }
            Action::EnableDeletionProtection { cluster } => {
                write!(
                    f,
                    "turn on deletion protection of {cluster} (the dev cluster it replaced had it)"
                )
            }
            Action::DisableDeletionProtection { cluster } => {
                write!(f, "turn off deletion protection of {cluster}")
            }
            Action::DeleteInstance { instance, reason } => {
                write!(f, "delete instance {instance} ({reason})")
            }
            Action::DeleteCluster {
                cluster,
                reason,
                final_snapshot,
            } => match final_snapshot {
                Some(snapshot) => write!(
                    f,
                    "delete cluster {cluster} ({reason}) with final snapshot {snapshot}"
                ),
                None => write!(f, "delete cluster {cluster} ({reason}, no final snapshot)"),
            },
        }
    }
}

/// `drop databases a, b`, or `drop no database`.
pub fn dropping(databases: &[String]) -> String {
    match databases.is_empty() {
        true => "drop no database".to_owned(),
        false => format!("drop databases {}", databases.join(", ")),
    }
}

/// `disable every login but a (re-keyed)`, or `disable every login`.
pub fn disabling(kept: &[String]) -> String {
    match kept.is_empty() {
        true => "disable every login".to_owned(),
        false => format!("disable every login but {} (re-keyed)", kept.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_print_one_line_and_serialise_every_parameter_but_passwords() {
        let promote = Action::Promote {
            from: "dev-offpeak-20261127".into(),
            to: "dev".into(),
            security_groups: vec!["sg-dev".into()],
            password_secret: "offpeak/dev".into(),
        };
        assert_eq!(
            promote.to_string(),
            "promote dev-offpeak-20261127 -> dev (security groups sg-dev, master password from secret offpeak/dev)"
        );
        assert_eq!(
            serde_json::to_value(&promote).unwrap(),
            json!({"action": "promote", "from": "dev-offpeak-20261127", "to": "dev",
                   "security_groups": ["sg-dev"], "password_secret": "offpeak/dev"})
        );
        let contain = Action::Contain {
            cluster: "c".into(),
            database: Database {
                engine: "aurora-postgresql".into(),
                host: "c.cluster-x.rds.amazonaws.com".into(),
                port: Some(5432),
                name: Some("app".into()),
                user: Some("admin".into()),
                overridden: false,
            },
            drop_databases: vec!["analytics".into(), "postgres".into()],
            keep_logins: vec![],
        };
        assert_eq!(
            contain.to_string(),
            "contain c: drop databases analytics, postgres; disable every login"
        );
        let json = serde_json::to_value(&contain).unwrap();
        assert_eq!(json["drop_databases"], json!(["analytics", "postgres"]));
        assert_eq!(json["keep_logins"], json!([]));
        let replace = Action::ReplacePassword {
            cluster: "c".into(),
        };
        assert_eq!(
            serde_json::to_value(&replace).unwrap(),
            json!({"action": "replace_password", "cluster": "c"})
        );
    }
}
