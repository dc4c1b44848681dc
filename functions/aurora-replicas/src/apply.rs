//! Apply: the only code that changes RDS.
//!
//! Guarantees:
//! - Each action is one API call, made exactly as planned.
//! - "Already exists" on create and "not found" on delete are success: a duplicated or racing tick
//!   got there first, and the state is what the plan wanted.
//! - A failed action does not stop the ones after it, on this cluster or any other: every action
//!   is independent, and the failure is recorded with its AWS error code for the report and the
//!   failure notification. The next tick re-observes and retries what is still missing.

use crate::TickError;
use crate::action::Action;
use crate::rds::Rds;

/// What applying one cluster's actions did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub applied: Vec<Action>,
    pub failed: Vec<(Action, TickError)>,
}

/// Applies `actions` in order, each independently of the others.
pub async fn apply<R: Rds>(rds: &R, actions: &[Action]) -> Outcome {
    let mut outcome = Outcome::default();
    for action in actions {
        match apply_one(rds, action).await {
            Ok(()) => outcome.applied.push(action.clone()),
            Err(err) => {
                tracing::warn!(action = %action, error = %crate::error::chain(&err), "action failed");
                outcome.failed.push((action.clone(), err));
            }
        }
    }
    outcome
}

async fn apply_one<R: Rds>(rds: &R, action: &Action) -> Result<(), TickError> {
    match action {
        Action::Create(spec) => match rds.create_instance(spec).await {
            Err(e) if !e.already_exists() => Err(TickError::CreateInstance {
                cluster: spec.cluster.clone(),
                instance: spec.instance.clone(),
                source: e,
            }),
            _ => Ok(()),
        },
        Action::Delete(r) => match rds.delete_instance(&r.instance).await {
            Err(e) if !e.not_found() => Err(TickError::DeleteInstance {
                cluster: r.cluster.clone(),
                instance: r.instance.clone(),
                source: e,
            }),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Removal, RemovalReason};
    use crate::rds::fake::FakeRds;
    use crate::rds::{InstanceSettings, ReplicaSpec};

    fn create(instance: &str) -> Action {
        Action::Create(ReplicaSpec {
            cluster: "prod".into(),
            instance: instance.into(),
            class: "db.r7g.large".into(),
            engine: "aurora-postgresql".into(),
            availability_zone: None,
            promotion_tier: 15,
            settings: InstanceSettings::default(),
            tags: vec![],
        })
    }

    fn delete(instance: &str) -> Action {
        Action::Delete(Removal {
            cluster: "prod".into(),
            instance: instance.into(),
            status: "available".into(),
            reason: RemovalReason::Surplus,
        })
    }

    #[tokio::test]
    async fn already_exists_and_not_found_are_success() {
        let rds = FakeRds::new();
        rds.add_cluster("prod");
        rds.add_instance("prod", "prod-writer", true);
        rds.add_instance("prod", "prod-offpeak-1", false);
        let outcome = apply(&rds, &[create("prod-offpeak-1"), delete("prod-gone")]).await;
        assert_eq!(outcome.applied.len(), 2);
        assert!(outcome.failed.is_empty());
    }

    #[tokio::test]
    async fn a_failure_does_not_stop_the_next_action() {
        let rds = FakeRds::new();
        rds.add_cluster("prod");
        rds.add_instance("prod", "prod-writer", true);
        rds.fail("CreateDBInstance", "prod-offpeak-1", "Throttling");
        let outcome = apply(&rds, &[create("prod-offpeak-1"), create("prod-offpeak-2")]).await;
        assert_eq!(outcome.applied, [create("prod-offpeak-2")]);
        assert_eq!(outcome.failed.len(), 1);
        assert_eq!(outcome.failed[0].1.aws_code(), Some("Throttling"));
    }
}
