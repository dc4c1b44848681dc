//! The Secrets Manager boundary: `secretsmanager:GetSecretValue` on the dev master password
//! secret and on the masking salt secret the rules name ([`SdkSecrets::salt`], handed to the
//! masking engine's key loader, which makes no AWS call of its own).
//!
//! The secret may hold the password alone, or the JSON document RDS and most rotation functions
//! use (`{"username": ..., "password": ...}`), in which case `password` is taken.
//!
//! Failure behaviour: an unreadable or empty secret is a [`SecretError`] naming the secret id and
//! the AWS error code, never a value.

use std::future::Future;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};

use crate::secret::Password;

/// The Secrets Manager call of the masked-refresh IAM policy.
pub trait Secrets: Send + Sync {
    /// The password stored in secret `id`.
    fn password(&self, id: &str) -> impl Future<Output = Result<Password, SecretError>> + Send;
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
#[error("read secret {secret_id} failed: {reason}")]
pub struct SecretError {
    pub secret_id: String,
    /// An AWS error code, or what is wrong with the secret's shape.
    pub reason: String,
}

impl SecretError {
    /// A failure the next tick may not see again (throttling, a timeout, the network): not a
    /// reason to give up a run. A missing secret, a denied read, a malformed value or an answer
    /// that could not be read is not: the run is refused and a person told.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.reason.as_str(),
            "Timeout" | "DispatchFailure" | "ThrottlingException" | "InternalServiceError"
        )
    }
}

/// The password secret `id` holds, from its text (see [`password_from`]); a malformed value is
/// an error naming the secret, never showing the value.
pub fn password_in(id: &str, text: Option<&str>) -> Result<Password, SecretError> {
    let failed = |reason: &str| SecretError {
        secret_id: id.to_owned(),
        reason: reason.to_owned(),
    };
    let text = text.ok_or_else(|| failed("the secret has no string value"))?;
    password_from(text).ok_or_else(|| failed("the secret is empty or its JSON has no \"password\""))
}

/// The real adapter.
#[derive(Debug, Clone)]
pub struct SdkSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl SdkSecrets {
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

impl SdkSecrets {
    /// `GetSecretValue` of secret `id`.
    async fn get(&self, id: &str) -> Result<GetSecretValueOutput, SdkError<GetSecretValueError>> {
        self.client.get_secret_value().secret_id(id).send().await
    }

    /// The raw value of the masking salt secret `id` (its text, else its binary), for
    /// [`offpeak_masking::MaskingKey::load`]; the error is the reason only (the loader names the
    /// secret), never a value.
    pub async fn salt(&self, id: &str) -> Result<Vec<u8>, String> {
        let out = self
            .get(id)
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
        if let Some(text) = out.secret_string() {
            return Ok(text.as_bytes().to_vec());
        }
        match out.secret_binary() {
            Some(blob) => Ok(blob.as_ref().to_vec()),
            None => Err("the secret has no value".to_owned()),
        }
    }
}

impl SdkSecrets {
    /// The text of secret `id` (the rules check's connection document), never printed.
    pub async fn text(&self, id: &str) -> Result<Password, SecretError> {
        let failed = |reason: String| SecretError {
            secret_id: id.to_owned(),
            reason,
        };
        let out = self.get(id).await.map_err(|e| failed(code(&e)))?;
        out.secret_string()
            .map(Password::new)
            .ok_or_else(|| failed("the secret has no string value".into()))
    }
}

impl Secrets for SdkSecrets {
    async fn password(&self, id: &str) -> Result<Password, SecretError> {
        let failed = |reason: String| SecretError {
            secret_id: id.to_owned(),
            reason,
        };
        let out = self.get(id).await.map_err(|e| failed(code(&e)))?;
        password_in(id, out.secret_string())
    }
}

fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(_) => err.code().unwrap_or("Unknown").to_owned(),
        SdkError::TimeoutError(_) => "Timeout".to_owned(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_owned(),
        _ => "ResponseError".to_owned(),
    }
}

/// The password in a secret's text: the text itself, or the `password` of a JSON object.
pub fn password_from(text: &str) -> Option<Password> {
    let password = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map.get("password")?.as_str()?.to_owned(),
        _ => text.to_owned(),
    };
    (!password.is_empty()).then(|| Password::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_secrets_both_work() {
        assert_eq!(
            password_from("s3cret-pass").unwrap().expose(),
            "s3cret-pass"
        );
        let json = r#"{"username": "admin", "password": "from-json"}"#;
        assert_eq!(password_from(json).unwrap().expose(), "from-json");
        assert!(password_from(r#"{"username": "admin"}"#).is_none());
        assert!(password_from("").is_none());
    }

    #[test]
    fn a_malformed_secret_is_named_without_its_value_and_only_the_network_is_transient() {
        let err = password_in("offpeak/dev", Some(r#"{"pass": "hunter2hunter2"}"#)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("offpeak/dev") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(!err.is_transient());
        let failed = |reason: &str| SecretError {
            secret_id: "offpeak/dev".into(),
            reason: reason.into(),
        };
        assert!(failed("ThrottlingException").is_transient());
        assert!(failed("Timeout").is_transient());
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ResponseError",
        ] {
            assert!(!failed(code).is_transient(), "{code}");
        }
    }
}
