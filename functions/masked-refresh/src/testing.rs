//! Helpers shared by the unit tests.

use std::path::Path;

use chrono::{DateTime, Utc};
use offpeak_shared::config::{MaskedRefresh, parse_str};

use crate::memory::{Phase, Run};

/// An instant from RFC 3339 text.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

/// A daily refresh window `start`-`end` in `zone`, prod -> dev.
pub fn config(start: &str, end: &str, zone: &str) -> MaskedRefresh {
    schedule_config(start, end, zone, 0)
}

pub fn schedule_config(start: &str, end: &str, zone: &str, keep_previous: u32) -> MaskedRefresh {
    let yaml = format!(
        "timezone: {zone}\nmasked_refresh:\n  source_cluster: prod\n  target_cluster: dev\n  rules: masking.yaml\n  \
         window: {{ days: daily, start: \"{start}\", end: \"{end}\" }}\n  instance_class: db.r7g.large\n  \
         quarantine_security_groups: [sg-quarantine]\n  dev_security_groups: [sg-dev]\n  \
         dev_password_secret: offpeak/dev-master\n  keep_previous: {keep_previous}\n"
    );
    let schedule = parse_str(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}"));
    schedule.masked_refresh.expect("a masked_refresh section")
}

/// Run `20261127` of `dev` in `phase`, started at 03:00Z with a 06:00Z deadline.
pub fn run_in(phase: Phase) -> Run {
    Run {
        phase,
        ..Run::begin(
            "20261127".into(),
            utc("2026-11-27T03:00:00Z"),
            utc("2026-11-27T06:00:00Z"),
            "prod".into(),
            "dev-offpeak-20261127".into(),
            "dev-offpeak-20261127-1".into(),
            "00ff".into(),
        )
    }
}

use std::sync::Mutex;

use offpeak_masking::cluster::Containment;
use offpeak_masking::{Budget, Check, MaskReport, MaskingKey, Verification};
use offpeak_shared::event::{InvocationEvent, Override, OverrideState};
use offpeak_shared::notify::{Notifier, SentNotifications};
use offpeak_shared::report::Report;
use offpeak_shared::state::{MemoryStateStore, StateStore};

use crate::action::Action;
use crate::engine::{Masking, MaskingError, Scope};
use crate::error::TickError;
use crate::memory::Memory;
use crate::names::{FUNCTION_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::overrides::HeldOverride;
use crate::rds::Tag;
use crate::rds::fake::FakeRds;
use crate::secret::{DatabaseUrl, Password};
use crate::secrets::{SecretError, Secrets};
use crate::security_groups::fake::{FakeSecurityGroups, from_group};
use crate::settings::Settings;
use crate::tick::{Deps, run};

/// The dev master password the fake Secrets Manager holds.
pub const DEV_PASSWORD: &str = "dev-master-password";

/// The quarantine group of [`schedule_config`].
pub const QUARANTINE_SG: &str = "sg-quarantine";

/// The function's own security group in [`Harness`]'s settings.
pub const FUNCTION_SG: &str = "sg-function";

/// The id of the dev password secret in [`schedule_config`].
pub const DEV_SECRET: &str = "offpeak/dev-master";

/// A Secrets Manager holding only the dev password secret: its text (the password itself at
/// first), or an error code every read answers with.
pub struct FakeSecrets {
    pub dev: Mutex<Result<String, String>>,
}

impl Default for FakeSecrets {
    fn default() -> Self {
        Self {
            dev: Mutex::new(Ok(DEV_PASSWORD.to_owned())),
        }
    }
}

impl Secrets for FakeSecrets {
    async fn password(&self, id: &str) -> Result<Password, SecretError> {
        let failed = |code: &str| SecretError {
            secret_id: id.to_owned(),
            reason: code.to_owned(),
        };
        match (id, &*self.dev.lock().unwrap()) {
            (DEV_SECRET, Ok(text)) => crate::secrets::password_in(id, Some(text.as_str())),
            (DEV_SECRET, Err(code)) => Err(failed(code)),
            _ => Err(failed("ResourceNotFoundException")),
        }
    }
}

/// A masking engine that needs `calls_to_finish` masking calls, and whose gate passes or not.
pub struct FakeMasking {
    pub calls_to_finish: u32,
    pub gate_passes: bool,
    pub fail_mask: bool,
    /// The clone's server holds a database the rules do not name: containing it is refused.
    pub refuse_server: bool,
    pub scope: Scope,
    pub masked: Mutex<u32>,
    pub contained: Mutex<u32>,
    /// The budget of each verification gate.
    pub verified: Mutex<Vec<Budget>>,
}

impl FakeMasking {
    pub fn new(calls_to_finish: u32) -> Self {
        Self {
            calls_to_finish,
            gate_passes: true,
            fail_mask: false,
            refuse_server: false,
            scope: Scope::default(),
            masked: Mutex::new(0),
            contained: Mutex::new(0),
            verified: Mutex::new(Vec::new()),
        }
    }

    fn verification(&self) -> Verification {
        let check = Check {
            check: "sample",
            subject: "users.email".into(),
            passed: self.gate_passes,
            detail: "0 originals".into(),
        };
        Verification::new(vec![check])
    }
}

impl Masking for FakeMasking {
    fn check_rules(&self) -> Result<(), MaskingError> {
        Ok(())
    }

    fn scope(&self) -> Result<Scope, MaskingError> {
        Ok(self.scope.clone())
    }

    async fn contain(
        &self,
        _url: &DatabaseUrl,
        _budget: Budget,
    ) -> Result<Containment, MaskingError> {
        if self.refuse_server {
            let finding = offpeak_shared::config::ConfigError {
                path: "masking.yaml".into(),
                line: 1,
                col: 1,
                message: "the clone's server holds a database the rules neither cover nor drop: `analytics`".into(),
            };
            let refused = offpeak_masking::MaskError::Refused(vec![finding]);
            return Err(MaskingError::Mask(refused));
        }
        *self.contained.lock().unwrap() += 1;
        Ok(Containment {
            covered: "app".into(),
            dropped: self.scope.drop_databases.clone(),
            logins_disabled: 2,
            logins_rekeyed: u32::try_from(self.scope.keep_logins.len()).unwrap_or(u32::MAX),
        })
    }

    async fn key(&self) -> Result<MaskingKey, MaskingError> {
        Ok(MaskingKey::from_salt(b"unit-test-salt-0123456789", "test").expect("a long salt"))
    }

    async fn mask(&self, _url: &DatabaseUrl, _budget: Budget) -> Result<MaskReport, MaskingError> {
        if self.fail_mask {
            let refused = offpeak_masking::MaskError::Refused(Vec::new());
            return Err(MaskingError::Mask(refused));
        }
        let mut masked = self.masked.lock().unwrap();
        *masked += 1;
        let complete = *masked >= self.calls_to_finish;
        Ok(MaskReport {
            complete,
            tables: Vec::new(),
            verification: complete.then(|| self.verification()),
            phases: Vec::new(),
        })
    }

    async fn verify(
        &self,
        _url: &DatabaseUrl,
        budget: Budget,
    ) -> Result<Verification, MaskingError> {
        self.verified.lock().unwrap().push(budget);
        Ok(self.verification())
    }

    async fn forget(&self, _url: &DatabaseUrl, _budget: Budget) -> Result<(), MaskingError> {
        Ok(())
    }
}

pub fn managed() -> Vec<Tag> {
    vec![
        Tag::new(MANAGED_BY_KEY, MANAGED_BY_VALUE),
        Tag::new(FUNCTION_KEY, crate::FUNCTION),
    ]
}

/// An available cluster `id` in the security groups `groups`, tagged `tags`, with one available
/// instance, its writer, carrying the same tags.
pub fn add_cluster(rds: &FakeRds, id: &str, writer: &str, groups: &[&str], tags: &[Tag]) {
    rds.add_cluster(id);
    rds.add_instance(id, writer, true);
    rds.update_cluster(id, |c| {
        c.security_groups = groups.iter().map(|g| (*g).to_owned()).collect();
        c.tags = tags.to_vec();
    });
    rds.update_instance(writer, |i| i.tags = tags.to_vec());
}

/// prod (writer prod-1) and dev (writer dev-1, handed to offpeak), a daily 03:00-06:00 UTC window.
pub struct Harness {
    pub rds: FakeRds,
    pub secrets: FakeSecrets,
    /// `sg-quarantine` admitting only [`FUNCTION_SG`].
    pub security_groups: FakeSecurityGroups,
    pub masking: FakeMasking,
    pub store: MemoryStateStore,
    pub notifier: Notifier,
    pub sent: SentNotifications,
    pub cfg: MaskedRefresh,
    pub settings: Settings,
}

impl Harness {
    pub fn new(keep_previous: u32) -> Harness {
        let rds = FakeRds::new();
        add_cluster(
            &rds,
            "prod",
            "prod-1",
            &["sg-prod"],
            &[Tag::new("team", "payments")],
        );
        add_cluster(&rds, "dev", "dev-1", &["sg-dev"], &managed());
        let (notifier, sent) = Notifier::in_memory();
        let security_groups = FakeSecurityGroups::default();
        security_groups.admitting(QUARANTINE_SG, vec![from_group(FUNCTION_SG)]);
        Harness {
            rds,
            secrets: FakeSecrets::default(),
            security_groups,
            masking: FakeMasking::new(2),
            store: MemoryStateStore::new(),
            notifier,
            sent,
            cfg: schedule_config("03:00", "06:00", "UTC", keep_previous),
            settings: Settings {
                function_security_groups: vec![FUNCTION_SG.to_owned()],
                ..Settings::default()
            },
        }
    }

    /// The tick's dependencies: this harness's fakes, store, notifier and configuration.
    fn deps(
        &self,
    ) -> Deps<'_, FakeRds, FakeSecrets, FakeSecurityGroups, FakeMasking, MemoryStateStore> {
        Deps {
            rds: &self.rds,
            secrets: &self.secrets,
            security_groups: &self.security_groups,
            masking: &self.masking,
            store: Some(&self.store),
            notifier: &self.notifier,
            cfg: &self.cfg,
            settings: &self.settings,
        }
    }

    pub async fn tick_event(&self, at: &str, dry_run: bool) -> Report<Action> {
        self.tick_replayed(at, None, dry_run).await
    }

    /// A tick at clock `clock` whose event replays the instant `at` (when given).
    pub async fn tick_replayed(
        &self,
        clock: &str,
        at: Option<&str>,
        dry_run: bool,
    ) -> Report<Action> {
        let deps = self.deps();
        let event = InvocationEvent {
            dry_run,
            at: at.map(|a| utc(a).fixed_offset()),
            ..InvocationEvent::default()
        };
        run(&deps, &event, utc(clock)).await.expect("the tick runs")
    }

    pub async fn tick(&self, at: &str) -> Report<Action> {
        self.tick_event(at, false).await
    }

    /// A tick at clock `clock` carrying the override `{"target", "state", "until"}`.
    pub async fn tick_override(
        &self,
        clock: &str,
        target: &str,
        state: OverrideState,
        until: Option<&str>,
        dry_run: bool,
    ) -> Result<Report<Action>, TickError> {
        let o = Override {
            target: target.to_owned(),
            state,
            until: until.map(|u| utc(u).fixed_offset()),
            for_: None,
        };
        self.tick_carrying(clock, None, o, dry_run).await
    }

    /// A tick at clock `clock`, replaying `at` (when given), carrying the override `o`.
    pub async fn tick_carrying(
        &self,
        clock: &str,
        at: Option<&str>,
        o: Override,
        dry_run: bool,
    ) -> Result<Report<Action>, TickError> {
        let deps = self.deps();
        let event = InvocationEvent {
            dry_run,
            at: at.map(|a| utc(a).fixed_offset()),
            override_: Some(o),
            check: None,
        };
        run(&deps, &event, utc(clock)).await
    }

    /// The whole state document as stored (`null` when there is none).
    pub async fn doc(&self) -> serde_json::Value {
        let records = self.store.get_many(&["masked-refresh/dev"]).await.unwrap();
        records
            .get("masked-refresh/dev")
            .map_or(serde_json::Value::Null, |r| r.doc.clone())
    }

    /// The stored override, if any.
    pub async fn held(&self) -> Option<HeldOverride> {
        let records = self.store.get_many(&["masked-refresh/dev"]).await.unwrap();
        records
            .get("masked-refresh/dev")
            .and_then(|r| r.decode::<Memory>().unwrap().override_)
    }

    pub async fn run(&self) -> Option<Run> {
        let records = self.store.get_many(&["masked-refresh/dev"]).await.unwrap();
        records
            .get("masked-refresh/dev")
            .and_then(|r| r.decode::<Memory>().unwrap().run)
    }

    pub async fn phase(&self) -> Option<Phase> {
        self.run().await.map(|r| r.phase)
    }

    pub fn titles(&self) -> Vec<&'static str> {
        self.sent.take().iter().map(|n| n.title).collect()
    }
}
