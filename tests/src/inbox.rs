//! An SNS topic with an SQS queue subscribed, in moto: what a subscriber of offpeak's
//! notifications receives.
//!
//! Delivery is not raw, so each queue message is the SNS envelope (`Subject`, `Message`, ...).
//! Panics on any AWS error: this is test set-up, and a broken emulator must fail the test loudly.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

/// A topic and the queue subscribed to it.
pub struct Inbox {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Inbox {
    /// Creates topic `offpeak-notifications` and queue `notifications`, and subscribes the queue.
    pub async fn subscribe(sdk: &SdkConfig) -> Inbox {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic = sns
            .create_topic()
            .name("offpeak-notifications")
            .send()
            .await
            .unwrap();
        let topic_arn = topic.topic_arn.expect("moto returns the topic ARN");
        let queue = sqs
            .create_queue()
            .queue_name("notifications")
            .send()
            .await
            .unwrap();
        let queue_url = queue.queue_url.expect("moto returns the queue URL");
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "false")
            .send()
            .await
            .unwrap();
        Inbox {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Every SNS envelope that reached the queue since the last call (received and deleted).
    pub async fn drain(&self) -> Vec<Value> {
        let mut envelopes = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if received.messages().is_empty() {
                return envelopes;
            }
            for m in received.messages() {
                envelopes.push(serde_json::from_str(m.body().unwrap()).expect("an SNS envelope"));
                let handle = m.receipt_handle().unwrap();
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// The `Subject` of every notification received since the last call.
    pub async fn subjects(&self) -> Vec<String> {
        let envelopes = self.drain().await;
        envelopes
            .iter()
            .map(|e| e["Subject"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
