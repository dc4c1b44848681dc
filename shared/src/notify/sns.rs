//! [`Notifier`]: where notifications go (SNS, the log only, or memory for tests).

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{Notification, Severity};

/// A notification could not be published. The notification itself was still logged.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "publish to sns topic {topic_arn} failed (the notification was logged); check the topic exists and the function may sns:Publish to it"
    )]
    Publish {
        topic_arn: String,
        #[source]
        source: Box<aws_sdk_sns::Error>,
    },
}

/// Sends notifications. Cheap to clone; build it once per cold start (see `AwsCtx`).
#[derive(Debug, Clone)]
pub struct Notifier {
    sink: Sink,
}

#[derive(Debug, Clone)]
enum Sink {
    LogOnly,
    Sns {
        client: aws_sdk_sns::Client,
        topic_arn: String,
    },
    Memory(SentNotifications),
}

/// What an in-memory notifier has received (for tests of whole reconcile flows).
#[derive(Debug, Clone, Default)]
pub struct SentNotifications(Arc<Mutex<Vec<Notification>>>);

impl SentNotifications {
    /// Removes and returns everything received so far, oldest first.
    pub fn take(&self) -> Vec<Notification> {
        std::mem::take(&mut *self.lock())
    }

    /// [`take`](Self::take), each as its severity, target and title.
    pub fn take_titles(&self) -> Vec<(Severity, String, &'static str)> {
        self.take()
            .into_iter()
            .map(|n| (n.severity, n.target.to_string(), n.title))
            .collect()
    }

    /// How many notifications are waiting to be taken.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, notification: Notification) {
        self.lock().push(notification);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Notification>> {
        // A panic while holding the lock leaves a Vec that is still valid: keep using it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Notifier {
    /// Publishes to `topic_arn` (and logs).
    pub fn sns(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            sink: Sink::Sns {
                client,
                topic_arn: topic_arn.into(),
            },
        }
    }

    /// Only logs: the behaviour when `OFFPEAK_TOPIC_ARN` is unset.
    pub fn log_only() -> Self {
        Self {
            sink: Sink::LogOnly,
        }
    }

    /// Keeps notifications in memory (and logs), for tests.
    pub fn in_memory() -> (Self, SentNotifications) {
        let sent = SentNotifications::default();
        (
            Self {
                sink: Sink::Memory(sent.clone()),
            },
            sent,
        )
    }

    /// A notifier whose every publish fails, as when SNS cannot be reached: for tests (and drills)
    /// of what a caller does when notifying fails. It publishes to a loopback port nothing
    /// listens on, without retries, so it fails at once through the real SDK error path.
    pub fn unreachable() -> Self {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "AKIDUNREACHABLE",
                "not-a-secret",
                None,
                None,
                "offpeak-unreachable",
            ))
            .endpoint_url("http://127.0.0.1:9")
            .http_client(crate::aws::https_client())
            .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
            .build();
        let topic = "arn:aws:sns:us-east-1:123456789012:unreachable";
        Self::sns(aws_sdk_sns::Client::from_conf(config), topic)
    }

    /// The SNS topic notifications go to, if any.
    pub fn topic_arn(&self) -> Option<&str> {
        match &self.sink {
            Sink::Sns { topic_arn, .. } => Some(topic_arn),
            Sink::LogOnly | Sink::Memory(_) => None,
        }
    }

    /// Logs the notification as one structured line, then publishes it as ONE SNS message
    /// (`MessageStructure=json`). Returns the SNS message id when one was published.
    ///
    /// A failed publish is returned, not retried beyond the SDK's own retries: the caller reports
    /// it and carries on, because a notification must never block or undo a reconcile.
    pub async fn notify(&self, notification: &Notification) -> Result<Option<String>, NotifyError> {
        log(notification);
        match &self.sink {
            Sink::LogOnly => Ok(None),
            Sink::Memory(sent) => {
                sent.push(notification.clone());
                Ok(None)
            }
            Sink::Sns { client, topic_arn } => {
                publish(client, topic_arn, notification).await.map(Some)
            }
        }
    }
}

async fn publish(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    notification: &Notification,
) -> Result<String, NotifyError> {
    let output = client
        .publish()
        .topic_arn(topic_arn)
        .subject(notification.subject())
        .message_structure("json")
        .message(notification.sns_message())
        .send()
        .await
        .map_err(|e| NotifyError::Publish {
            topic_arn: topic_arn.to_owned(),
            source: Box::new(e.into()),
        })?;
    Ok(output.message_id.unwrap_or_default())
}

fn log(n: &Notification) {
    let facts: serde_json::Map<String, Value> = n
        .facts
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(v.render())))
        .collect();
    let facts = Value::Object(facts);
    let (severity, function, target, title) =
        (n.severity.as_str(), n.function, n.target.as_str(), n.title);
    match n.severity {
        Severity::Failure => {
            tracing::error!(severity, function, target, title, %facts, "notification")
        }
        Severity::Drift => {
            tracing::warn!(severity, function, target, title, %facts, "notification")
        }
        Severity::Info | Severity::Action => {
            tracing::info!(severity, function, target, title, %facts, "notification")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Token;
    use super::*;

    fn sample(title: &'static str) -> Notification {
        Notification::new(
            Severity::Drift,
            "eks-nodegroups",
            Token::new("dev-eks/app").unwrap(),
            title,
        )
    }

    #[tokio::test]
    async fn in_memory_notifier_records_in_order() {
        let (notifier, sent) = Notifier::in_memory();
        assert_eq!(notifier.notify(&sample("first")).await.unwrap(), None);
        assert_eq!(notifier.notify(&sample("second")).await.unwrap(), None);
        let titles: Vec<_> = sent.take().into_iter().map(|n| n.title).collect();
        assert_eq!(titles, ["first", "second"]);
        assert!(sent.is_empty());
        assert_eq!(notifier.topic_arn(), None);
    }

    #[tokio::test]
    async fn an_unreachable_topic_is_an_error_naming_the_topic() {
        let err = Notifier::unreachable()
            .notify(&sample("lost"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(":unreachable failed"), "{err}");
    }

    #[tokio::test]
    async fn log_only_notifier_never_fails() {
        let notifier = Notifier::log_only();
        assert_eq!(notifier.notify(&sample("logged")).await.unwrap(), None);
        assert_eq!(notifier.topic_arn(), None);
    }
}
