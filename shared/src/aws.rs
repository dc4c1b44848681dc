//! The AWS context, built once per cold start.
//!
//! [`AwsCtx::load`] resolves the SDK configuration with `aws_config::defaults(BehaviorVersion::latest())`,
//! so the standard variables are honoured: `AWS_REGION`, credentials, and the endpoint overrides
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` that point every command at moto server locally.
//! It also reads offpeak's own settings — `OFFPEAK_STATE_TABLE` and `OFFPEAK_TOPIC_ARN` — here and
//! nowhere else, and builds the state store and notifier from them.
//!
//! The SDKs are built without their default HTTPS client (rustls on aws-lc): [`https_client`]
//! builds one on rustls with ring, the crypto provider sqlx already links, so a function carries one
//! provider. [`AwsCtx::load`] puts it into the `SdkConfig`, and every client built from that config
//! (and the credential providers aws-config resolves) uses it.
//!
//! Guarantees:
//! - Environment variables are read once, in [`Settings::from_env`]; a set-but-blank variable counts
//!   as unset (SAM passes empty strings for optional parameters).
//! - No topic: notifications are only logged. No table: [`AwsCtx::state`] is `None` and
//!   [`AwsCtx::require_state`] says how to configure one.
//! - Loading never fails: a missing region or credentials surfaces at the first AWS call, as an
//!   error naming that call.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sns::config::SharedHttpClient;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::notify::Notifier;
use crate::state::{DynamoStateStore, StateError};

/// Names the DynamoDB state table.
pub const STATE_TABLE_ENV: &str = "OFFPEAK_STATE_TABLE";
/// Names the SNS topic notifications go to.
pub const TOPIC_ARN_ENV: &str = "OFFPEAK_TOPIC_ARN";

/// The HTTPS client every SDK client uses: rustls 0.23 on ring, with the platform's root certificates.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// offpeak's own settings from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub state_table: Option<String>,
    pub topic_arn: Option<String>,
}

impl Settings {
    /// Reads `OFFPEAK_STATE_TABLE` and `OFFPEAK_TOPIC_ARN` from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_blank = |name| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            state_table: non_blank(STATE_TABLE_ENV),
            topic_arn: non_blank(TOPIC_ARN_ENV),
        }
    }
}

/// Everything AWS-facing a function needs, built once per cold start. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AwsCtx {
    sdk: SdkConfig,
    state: Option<DynamoStateStore>,
    notifier: Notifier,
}

impl AwsCtx {
    /// Loads the SDK configuration and offpeak's settings from the environment.
    pub async fn load() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .load()
            .await;
        Self::from_parts(sdk, &Settings::from_env())
    }

    /// A context on `sdk` with no state table and a log-only notifier (tests add what they need
    /// with [`AwsCtx::with_state_table`] and [`AwsCtx::with_topic`]).
    pub fn from_sdk_config(sdk: SdkConfig) -> Self {
        Self::from_parts(sdk, &Settings::default())
    }

    /// A context on `sdk` configured by `settings`.
    pub fn from_parts(sdk: SdkConfig, settings: &Settings) -> Self {
        let ctx = Self {
            sdk,
            state: None,
            notifier: Notifier::log_only(),
        };
        let ctx = match &settings.state_table {
            Some(table) => ctx.with_state_table(table),
            None => ctx,
        };
        match &settings.topic_arn {
            Some(topic) => ctx.with_topic(topic),
            None => ctx,
        }
    }

    /// Uses the DynamoDB table `table` as the state store.
    pub fn with_state_table(mut self, table: &str) -> Self {
        self.state = Some(DynamoStateStore::from_sdk_config(&self.sdk, table));
        self
    }

    /// Publishes notifications to `topic_arn`.
    pub fn with_topic(mut self, topic_arn: &str) -> Self {
        self.notifier = Notifier::sns(aws_sdk_sns::Client::new(&self.sdk), topic_arn);
        self
    }

    /// Uses `notifier` (e.g. `Notifier::in_memory()` in tests).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The SDK configuration every client is built from.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The state store, when `OFFPEAK_STATE_TABLE` is set.
    pub fn state(&self) -> Option<&DynamoStateStore> {
        self.state.as_ref()
    }

    /// The state store, or an error that says how to configure one.
    pub fn require_state(&self) -> Result<&DynamoStateStore, StateError> {
        self.state.as_ref().ok_or(StateError::NotConfigured)
    }

    /// The notifier (log-only when `OFFPEAK_TOPIC_ARN` is unset).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    fn sdk() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn settings_come_from_the_two_variables_and_blank_is_unset() {
        assert_eq!(settings(&[]), Settings::default());
        assert_eq!(
            settings(&[(STATE_TABLE_ENV, " "), (TOPIC_ARN_ENV, "")]),
            Settings::default()
        );
        let s = settings(&[
            (STATE_TABLE_ENV, "offpeak-state"),
            (TOPIC_ARN_ENV, "arn:aws:sns:us-east-1:1:t"),
        ]);
        assert_eq!(s.state_table.as_deref(), Some("offpeak-state"));
        assert_eq!(s.topic_arn.as_deref(), Some("arn:aws:sns:us-east-1:1:t"));
    }

    #[test]
    fn unset_settings_mean_no_state_and_log_only_notifications() {
        let ctx = AwsCtx::from_sdk_config(sdk());
        assert!(ctx.state().is_none());
        assert!(matches!(
            ctx.require_state(),
            Err(StateError::NotConfigured)
        ));
        assert_eq!(ctx.notifier().topic_arn(), None);
    }

    #[test]
    fn settings_build_the_store_and_the_sns_notifier() {
        let s = settings(&[
            (STATE_TABLE_ENV, "offpeak-state"),
            (TOPIC_ARN_ENV, "arn:aws:sns:us-east-1:1:t"),
        ]);
        let ctx = AwsCtx::from_parts(sdk(), &s);
        assert_eq!(ctx.require_state().unwrap().table(), "offpeak-state");
        assert_eq!(
            ctx.notifier().topic_arn(),
            Some("arn:aws:sns:us-east-1:1:t")
        );
    }
}
