//! The real masking engine, with a hook a test uses to break the clone's data between masking
//! and the verification gate (a masking bug the gate must catch), and a note of when the clone
//! was sealed.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use offpeak_masked_refresh::Engine;
use offpeak_masked_refresh::engine::{Masking, MaskingError, Scope};
use offpeak_masked_refresh::secret::DatabaseUrl;
use offpeak_masking::cluster::Containment;
use offpeak_masking::{Budget, MaskReport, MaskingKey, Verification};

use crate::masking_support::Pool;

pub struct Sabotage {
    engine: Engine,
    pub pool: Pool,
    before_verify: Mutex<Option<String>>,
    /// The real instant the masking bookkeeping was last dropped (the clone sealed).
    sealed: Mutex<Option<DateTime<Utc>>>,
}

impl Sabotage {
    pub fn new(engine: Engine, pool: Pool) -> Self {
        Self {
            engine,
            pool,
            before_verify: Mutex::new(None),
            sealed: Mutex::new(None),
        }
    }

    /// When the clone was sealed, on the real clock (the one RDS keeps restorable times on).
    pub fn sealed_at(&self) -> Option<DateTime<Utc>> {
        *self.sealed.lock().unwrap()
    }

    /// Runs `sql` on the database right before the next verification gate.
    pub fn before_verify(&self, sql: &str) {
        *self.before_verify.lock().unwrap() = Some(sql.to_owned());
    }
}

impl Masking for Sabotage {
    fn check_rules(&self) -> Result<(), MaskingError> {
        self.engine.check_rules()
    }

    fn scope(&self) -> Result<Scope, MaskingError> {
        self.engine.scope()
    }

    async fn contain(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> Result<Containment, MaskingError> {
        self.engine.contain(url, budget).await
    }

    async fn key(&self) -> Result<MaskingKey, MaskingError> {
        self.engine.key().await
    }

    async fn mask(&self, url: &DatabaseUrl, budget: Budget) -> Result<MaskReport, MaskingError> {
        self.engine.mask(url, budget).await
    }

    async fn verify(
        &self,
        url: &DatabaseUrl,
        budget: Budget,
    ) -> Result<Verification, MaskingError> {
        let sql = self.before_verify.lock().unwrap().take();
        if let Some(sql) = sql {
            self.pool.exec(&sql).await;
        }
        self.engine.verify(url, budget).await
    }

    async fn forget(&self, url: &DatabaseUrl, budget: Budget) -> Result<(), MaskingError> {
        self.engine.forget(url, budget).await?;
        *self.sealed.lock().unwrap() = Some(Utc::now());
        Ok(())
    }
}
