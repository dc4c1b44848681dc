//! Apply: the only code that changes anything, one [`Action`] against RDS, Secrets Manager or the
//! clone's database.
//!
//! Guarantees:
//! - **Production is never changed.** Every action naming the source cluster, or an instance
//!   of it (its members as last observed), is refused before any call ([`touches_production`]);
//!   the restore is the one call that names it, as its source. IAM cannot say this for the
//!   instances (no condition key ties an instance to its cluster, and the stack does not know
//!   their names), so this check, with the role's need of the function's tag, is what does.
//! - **Repeats are harmless.** "Already exists" on a restore or create and "not found" on a
//!   delete are success; a repeated password replacement sets the same derived password.
//! - **Secrets stay inside.** The clone's password is derived here, used for one call or one
//!   connection, and dropped; the dev password goes from Secrets Manager straight into the call.
//!
//! Failure behaviour: a failed call is a [`StepError`] naming the action and keeping the AWS
//! error code or the scrubbed database error; what happens next (retry, clean up, roll back) is
//! the tick's decision.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use offpeak_masking::{Budget, MaskReport};

use crate::action::{Action, Database};
use crate::engine::{Masking, MaskingError};
use crate::error::StepError;
use crate::memory::{ClusterStats, MaskingStats, Run};
use crate::names::is_production;
use crate::rds::{ClusterChange, Rds, RdsError};
use crate::secret::{DatabaseUrl, Password, url_component};
use crate::secrets::Secrets;
use crate::settings::Settings;

/// What a run's tick acts through.
pub struct Effectors<'a, R, S, M> {
    pub rds: &'a R,
    pub secrets: &'a S,
    pub masking: &'a M,
    pub settings: &'a Settings,
    /// Production: the source cluster and its instances.
    pub production: Production<'a>,
}

/// The production cluster offpeak only ever clones, and its instances as last observed.
#[derive(Debug, Clone, Copy)]
pub struct Production<'a> {
    pub cluster: &'a str,
    pub instances: &'a [String],
}

impl Production<'_> {
    fn names(&self, id: &str) -> bool {
        is_production(id, self.cluster) || self.instances.iter().any(|i| is_production(id, i))
    }
}

/// What an applied action achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The action's work is complete.
    Done,
    /// Masking made progress but is not finished: the next tick continues.
    Partial,
}

impl<R: Rds, S: Secrets, M: Masking> Effectors<'_, R, S, M> {
    /// Applies `action` for `run` at `at`; masking statistics are added to `run.masking`.
    pub async fn apply(
        &self,
        action: &Action,
        run: &mut Run,
        at: DateTime<Utc>,
    ) -> Result<Effect, StepError> {
        if touches_production(action, self.production).is_some() {
            return Err(StepError::Refused {
                action: action.to_string(),
                why: "it would change the production cluster or one of its instances",
            });
        }
        let rds = |source: RdsError| StepError::Rds {
            action: action.to_string(),
            source,
        };
        let done = |r: Result<(), RdsError>| r.map(|()| Effect::Done).map_err(rds);
        match action {
            Action::StartRun { .. } | Action::HoldOverride { .. } | Action::EndOverride { .. } => {
                Ok(Effect::Done)
            }
            Action::RestoreClone(spec) | Action::CopyClone(spec) => done(tolerate(
                self.rds.restore_clone(spec).await,
                RdsError::already_exists,
            )),
            Action::ReplacePassword { cluster } => {
                let password = self.clone_password(action, run).await?;
                let change = ClusterChange {
                    cluster: cluster.clone(),
                    master_password: Some(password),
                    ..Default::default()
                };
                done(self.rds.modify_cluster(&change).await)
            }
            Action::CreateInstance(spec) => done(tolerate(
                self.rds.create_instance(spec).await,
                RdsError::already_exists,
            )),
            Action::Contain { database, .. } => {
                let (url, budget) = self.session(action, database, run, at).await?;
                let contained = self
                    .masking
                    .contain(&url, budget)
                    .await
                    .map_err(|e| masking_error(action, e))?;
                run.cluster = Some(ClusterStats {
                    dropped: contained.dropped,
                    logins_disabled: contained.logins_disabled,
                    logins_rekeyed: contained.logins_rekeyed,
                });
                Ok(Effect::Done)
            }
            Action::Mask { database, .. } => self.mask(action, database, run, at).await,
            Action::Verify { cluster, database } => {
                self.verify(action, cluster, database, run, at).await
            }
            Action::Forget { database, .. } => {
                let (url, budget) = self.session(action, database, run, at).await?;
                self.masking
                    .forget(&url, budget)
                    .await
                    .map_err(|e| masking_error(action, e))?;
                Ok(Effect::Done)
            }
            Action::Tag { arn, tags, .. } => done(self.rds.add_tags(arn, tags).await),
            Action::RenameInstance { from, to } => done(self.rds.rename_instance(from, to).await),
            Action::RenameCluster {
                from,
                to,
                security_groups,
            } => {
                let change = ClusterChange {
                    cluster: from.clone(),
                    new_id: Some(to.clone()),
                    security_groups: security_groups.clone(),
                    ..Default::default()
                };
                done(self.rds.modify_cluster(&change).await)
            }
            Action::Promote {
                from,
                to,
                security_groups,
                password_secret,
            } => {
                let password = self
                    .secrets
                    .password(password_secret)
                    .await
                    .map_err(|source| StepError::Secret {
                        action: action.to_string(),
                        source,
                    })?;
                let change = ClusterChange {
                    cluster: from.clone(),
                    new_id: Some(to.clone()),
                    security_groups: Some(security_groups.clone()),
                    master_password: Some(password),
                    deletion_protection: None,
                };
                done(self.rds.modify_cluster(&change).await)
            }
            Action::CheckPasswordSecret { password_secret } => {
                // Read and dropped: only whether it holds a password matters here.
                self.secrets
                    .password(password_secret)
                    .await
                    .map(|_| Effect::Done)
                    .map_err(|source| StepError::Secret {
                        action: action.to_string(),
                        source,
                    })
            }
            Action::EnableDeletionProtection { cluster }
            | Action::DisableDeletionProtection { cluster } => {
                let on = matches!(action, Action::EnableDeletionProtection { .. });
                let change = ClusterChange {
                    cluster: cluster.clone(),
                    deletion_protection: Some(on),
                    ..Default::default()
                };
                done(self.rds.modify_cluster(&change).await)
            }
            Action::DeleteInstance { instance, .. } => done(tolerate(
                self.rds.delete_instance(instance).await,
                RdsError::not_found,
            )),
            Action::DeleteCluster {
                cluster,
                final_snapshot,
                ..
            } => done(tolerate(
                self.rds
                    .delete_cluster(cluster, final_snapshot.as_deref())
                    .await,
                RdsError::not_found,
            )),
        }
    }

    async fn clone_password(&self, action: &Action, run: &Run) -> Result<Password, StepError> {
        let key = self
            .masking
            .key()
            .await
            .map_err(|e| masking_error(action, e))?;
        Ok(Password::derive(key.verify_key(), &run.clone, &run.nonce))
    }

    /// The clone's database: the override (its own TLS settings), else its endpoint with the
    /// derived password, reached over TLS with the certificate checked ([`crate::tls`]).
    async fn url(
        &self,
        action: &Action,
        db: &Database,
        run: &Run,
    ) -> Result<DatabaseUrl, StepError> {
        if let Some(url) = &self.settings.clone_database_url {
            return Ok(url.clone());
        }
        let password = self.clone_password(action, run).await?;
        let (scheme, default_db) = match db.engine.contains("mysql") {
            true => ("mysql", None),
            false => ("postgres", Some("postgres")),
        };
        let Some(name) = db.name.as_deref().or(default_db) else {
            return Err(StepError::NoDatabase {
                cluster: run.clone.clone(),
            });
        };
        let user = url_component(db.user.as_deref().unwrap_or_default());
        let port = db.port.map(|p| format!(":{p}")).unwrap_or_default();
        let pw = url_component(password.expose());
        let url = format!(
            "{scheme}://{user}:{pw}@{}{port}/{}",
            db.host,
            url_component(name)
        );
        Ok(DatabaseUrl::verified(
            url,
            self.settings.clone_roots.clone(),
        ))
    }

    async fn mask(
        &self,
        action: &Action,
        db: &Database,
        run: &mut Run,
        at: DateTime<Utc>,
    ) -> Result<Effect, StepError> {
        let (url, budget) = self.session(action, db, run, at).await?;
        let report = self
            .masking
            .mask(&url, budget)
            .await
            .map_err(|e| masking_error(action, e))?;
        run.masking.record(&report);
        match (&report.complete, &report.verification) {
            (false, _) => Ok(Effect::Partial),
            (true, Some(v)) if !v.passed => Err(verification_failed(&run.clone, v)),
            (true, _) => Ok(Effect::Done),
        }
    }

    async fn verify(
        &self,
        action: &Action,
        cluster: &str,
        db: &Database,
        run: &mut Run,
        at: DateTime<Utc>,
    ) -> Result<Effect, StepError> {
        let (url, budget) = self.session(action, db, run, at).await?;
        let verification = self
            .masking
            .verify(&url, budget)
            .await
            .map_err(|e| masking_error(action, e))?;
        run.masking.checks = u32::try_from(verification.checks.len()).unwrap_or(u32::MAX);
        match verification.passed {
            true => Ok(Effect::Done),
            false => Err(verification_failed(cluster, &verification)),
        }
    }

    /// The URL of `db`, and the budget of a session opened on it at `at` (containment, masking,
    /// the verification gate and sealing alike): the configured allowance, never past the run's
    /// deadline, so a session never outlives the invocation that opened it.
    async fn session(
        &self,
        action: &Action,
        db: &Database,
        run: &Run,
        at: DateTime<Utc>,
    ) -> Result<(DatabaseUrl, Budget), StepError> {
        let url = self.url(action, db, run).await?;
        Ok((url, self.budget(run.deadline, at)))
    }

    fn budget(&self, deadline: DateTime<Utc>, at: DateTime<Utc>) -> Budget {
        let left = (deadline - at).to_std().unwrap_or(Duration::ZERO);
        let time = self.settings.mask_time.map_or(left, |t| t.min(left));
        Budget {
            deadline: Some(Instant::now() + time),
            max_chunks: self.settings.mask_max_chunks,
        }
    }
}

impl MaskingStats {
    fn record(&mut self, report: &MaskReport) {
        let count = |action: &str| {
            u32::try_from(report.tables.iter().filter(|t| t.action == action).count())
                .unwrap_or(u32::MAX)
        };
        self.invocations += 1;
        self.tables = u32::try_from(report.tables.len()).unwrap_or(u32::MAX);
        self.tables_masked = count("mask");
        self.tables_truncated = count("truncate");
        self.rows = report
            .tables
            .iter()
            .filter(|t| t.action != "keep")
            .filter_map(|t| t.rows)
            .sum();
        self.chunks += report.tables.iter().map(|t| t.chunks).sum::<u64>();
        if let Some(v) = &report.verification {
            self.checks = u32::try_from(v.checks.len()).unwrap_or(u32::MAX);
        }
    }
}

fn verification_failed(cluster: &str, v: &offpeak_masking::Verification) -> StepError {
    let failed = v
        .failures()
        .map(|c| format!("{} {}", c.check, c.subject))
        .collect();
    StepError::Verification {
        cluster: cluster.to_owned(),
        failed,
    }
}

fn masking_error(action: &Action, source: MaskingError) -> StepError {
    StepError::Masking {
        action: action.to_string(),
        source: Box::new(source),
    }
}

/// Success when the error is the one `ok` accepts ("already exists", "not found").
fn tolerate(result: Result<(), RdsError>, ok: fn(&RdsError) -> bool) -> Result<(), RdsError> {
    match result {
        Err(e) if ok(&e) => Ok(()),
        other => other,
    }
}

/// The production id (cluster or instance) an action would change, if any (the restore only
/// reads it).
pub fn touches_production<'a>(action: &'a Action, production: Production) -> Option<&'a str> {
    let ids: Vec<&str> = match action {
        Action::StartRun { .. }
        | Action::HoldOverride { .. }
        | Action::EndOverride { .. }
        | Action::CheckPasswordSecret { .. } => vec![],
        Action::RestoreClone(spec) => vec![&spec.clone],
        // A copy is made from the verified clone, never from production.
        Action::CopyClone(spec) => vec![&spec.source, &spec.clone],
        Action::ReplacePassword { cluster }
        | Action::Contain { cluster, .. }
        | Action::Mask { cluster, .. }
        | Action::Verify { cluster, .. }
        | Action::Forget { cluster, .. }
        | Action::EnableDeletionProtection { cluster }
        | Action::DisableDeletionProtection { cluster }
        | Action::DeleteCluster { cluster, .. } => vec![cluster],
        Action::CreateInstance(spec) => vec![&spec.cluster, &spec.instance],
        Action::Tag { resource, .. } => vec![resource],
        Action::RenameInstance { from, to }
        | Action::RenameCluster { from, to, .. }
        | Action::Promote { from, to, .. } => {
            vec![from, to]
        }
        Action::DeleteInstance { instance, .. } => vec![instance],
    };
    ids.into_iter().find(|id| production.names(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Reason;

    const PROD: Production = Production {
        cluster: "prod",
        instances: &[],
    };

    #[test]
    fn no_action_may_name_production_except_as_the_restore_source() {
        let delete = Action::DeleteCluster {
            cluster: "prod".into(),
            reason: Reason::FailedRun,
            final_snapshot: None,
        };
        assert_eq!(touches_production(&delete, PROD), Some("prod"));
        let rename = Action::RenameCluster {
            from: "dev".into(),
            to: "PROD".into(),
            security_groups: None,
        };
        assert_eq!(touches_production(&rename, PROD), Some("PROD"));
        let restore = Action::RestoreClone(crate::rds::CloneSpec {
            source: "prod".into(),
            clone: "dev-offpeak-20261127".into(),
            security_groups: vec!["sg-q".into()],
            subnet_group: None,
            parameter_group: None,
            tags: vec![],
        });
        assert_eq!(touches_production(&restore, PROD), None);
        let crate::action::Action::RestoreClone(spec) = restore else {
            unreachable!()
        };
        let copy = Action::CopyClone(crate::rds::CloneSpec {
            clone: "dev-offpeak-20261127-copy".into(),
            ..spec
        });
        assert_eq!(
            touches_production(&copy, PROD),
            Some("prod"),
            "a copy of production would be an unmasked clone"
        );
    }

    #[test]
    fn no_action_may_name_an_instance_of_production() {
        let members = ["prod-writer".to_owned(), "prod-offpeak-1".to_owned()];
        let production = Production {
            cluster: "prod",
            instances: &members,
        };
        let delete = Action::DeleteInstance {
            instance: "prod-writer".into(),
            reason: Reason::FailedRun,
        };
        assert_eq!(touches_production(&delete, production), Some("prod-writer"));
        let rename = Action::RenameInstance {
            from: "dev-1".into(),
            to: "PROD-OFFPEAK-1".into(),
        };
        assert_eq!(
            touches_production(&rename, production),
            Some("PROD-OFFPEAK-1")
        );
        let ours = Action::RenameInstance {
            from: "dev-1".into(),
            to: "dev-offpeak-prev-20261127-1".into(),
        };
        assert_eq!(touches_production(&ours, production), None);
    }
}
