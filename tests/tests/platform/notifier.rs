//! The SNS notifier against a real moto server: what a Chatbot (https), e-mail and SQS subscriber
//! would receive from one published notification.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::notify::{Fact, Notification, NotifyError, Severity, Token};
use offpeak_tests::Inbox;
use offpeak_tests::moto::Moto;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The raw `Message` strings moto's topic recorded, read from moto's own introspection endpoint.
async fn published_raw_messages(moto: &Moto, topic_arn: &str) -> Vec<String> {
    let data = http_get_json(moto.endpoint(), "/moto-api/data.json").await;
    let topics = data["sns"]["Topic"]
        .as_array()
        .expect("moto-api lists SNS topics");
    let topic = topics
        .iter()
        .find(|t| t["arn"] == topic_arn)
        .expect("the topic is listed");
    let sent = topic["sent_notifications"].as_array().unwrap();
    // Each entry is (message_id, message, subject, message_attributes, group_id).
    sent.iter()
        .map(|n| n[1].as_str().unwrap().to_owned())
        .collect()
}

async fn http_get_json(endpoint: &str, path: &str) -> Value {
    let authority = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    serde_json::from_str(body).unwrap()
}

fn token(value: &str) -> Token {
    Token::new(value).unwrap()
}

fn replicas_added() -> Notification {
    Notification::new(
        Severity::Action,
        "aurora-replicas",
        token("prod-aurora"),
        "replicas added",
    )
    .line("The peak window opens in 15 minutes; read replicas were requested.")
    .fact("replicas", 2)
    .fact(
        "window_opens",
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap(),
    )
    .next_step("Follow the replicas in the RDS console.")
    .resource(token(
        "arn:aws:rds:ap-northeast-1:123456789012:cluster:prod-aurora",
    ))
}

#[tokio::test]
async fn one_message_reaches_chatbot_email_and_queue_subscribers() {
    // GIVEN a topic with an SQS queue subscribed, and a context that publishes to it
    let moto = Moto::start().await;
    let sub = Inbox::subscribe(&moto.sdk_config().await).await;
    let ctx = AwsCtx::from_sdk_config(moto.sdk_config().await).with_topic(&sub.topic_arn);
    let notification = replicas_added();

    // WHEN one notification is sent
    let message_id = ctx.notifier().notify(&notification).await.unwrap();

    // THEN the queue receives exactly one SNS envelope carrying the subject and the Chatbot document
    let received = sub.drain().await;
    assert_eq!(received.len(), 1, "{received:?}");
    let envelope = &received[0];
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], sub.topic_arn.as_str());
    assert_eq!(
        Some(envelope["MessageId"].as_str().unwrap().to_owned()),
        message_id
    );
    assert_eq!(
        envelope["Subject"],
        "offpeak ACTION: replicas added - prod-aurora (aurora-replicas)"
    );
    let chatbot: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(chatbot["version"], "1.0");
    assert_eq!(chatbot["source"], "custom");
    assert_eq!(chatbot["content"]["textType"], "client-markdown");
    assert_eq!(
        chatbot["content"]["title"],
        ":white_check_mark: [ACTION] replicas added: prod-aurora"
    );
    assert_eq!(
        chatbot["content"]["nextSteps"][0],
        "Follow the replicas in the RDS console."
    );
    assert_eq!(
        chatbot["metadata"]["threadId"],
        "offpeak/aurora-replicas/prod-aurora"
    );
    assert_eq!(chatbot["metadata"]["additionalContext"]["replicas"], "2");
    assert_eq!(
        chatbot["metadata"]["additionalContext"]["window_opens"],
        "2026-11-27T09:30:00Z"
    );
    let description = chatbot["content"]["description"].as_str().unwrap();
    assert!(description.contains("• replicas: `2`"), "{description}");

    // AND the one published message carries the https (Chatbot) and readable e-mail variants
    let raw = published_raw_messages(&moto, &sub.topic_arn).await;
    assert_eq!(raw.len(), 1);
    let variants: Value = serde_json::from_str(&raw[0]).unwrap();
    assert_eq!(variants["https"], variants["default"]);
    let email = variants["email"].as_str().unwrap();
    assert!(
        email.starts_with("offpeak ACTION - aurora-replicas\nreplicas added: prod-aurora\n"),
        "{email}"
    );
    assert!(
        email.contains("\nFacts\n  replicas: 2\n  window_opens: 2026-11-27T09:30:00Z\n"),
        "{email}"
    );
    assert!(
        email.contains("\nNext steps\n  - Follow the replicas in the RDS console.\n"),
        "{email}"
    );
    assert!(
        !email.contains('{') && !email.contains('`'),
        "e-mail is plain text: {email}"
    );
}

#[tokio::test]
async fn long_failure_subject_is_accepted_by_sns() {
    // GIVEN a failure about a target whose id alone is longer than SNS allows a subject to be
    let moto = Moto::start().await;
    let sub = Inbox::subscribe(&moto.sdk_config().await).await;
    let ctx = AwsCtx::from_sdk_config(moto.sdk_config().await).with_topic(&sub.topic_arn);
    let long_target = format!(
        "arn:aws:eks:ap-northeast-1:123456789012:nodegroup/dev-eks/{}",
        "a".repeat(80)
    );
    let err = std::io::Error::other("restore of dev-eks/app failed: DescribeNodegroup throttled");
    let failure = Notification::new(
        Severity::Failure,
        "eks-nodegroups",
        token(&long_target),
        "restore failed",
    )
    .fact("error", Fact::error(&err));

    // WHEN it is published
    ctx.notifier().notify(&failure).await.unwrap();

    // THEN the queue gets it with a subject cut to fit, and the error summary in the Chatbot context
    let received = sub.drain().await;
    assert_eq!(received.len(), 1);
    let subject = received[0]["Subject"].as_str().unwrap();
    assert!(subject.len() < 100 && subject.ends_with("..."), "{subject}");
    let chatbot: Value = serde_json::from_str(received[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        chatbot["metadata"]["additionalContext"]["error"],
        "restore of dev-eks/app failed: DescribeNodegroup throttled"
    );
    assert_eq!(chatbot["metadata"]["eventType"], "offpeak-failure");
}

#[tokio::test]
async fn publish_failure_names_the_topic_and_keeps_the_cause() {
    // GIVEN a context whose topic does not exist
    let moto = Moto::start().await;
    let missing = "arn:aws:sns:ap-northeast-1:123456789012:no-such-topic";
    let ctx = AwsCtx::from_sdk_config(moto.sdk_config().await).with_topic(missing);

    // WHEN a notification is sent
    let err = ctx.notifier().notify(&replicas_added()).await.unwrap_err();

    // THEN the error names the topic and the SNS cause is its source
    let NotifyError::Publish { topic_arn, .. } = &err;
    assert_eq!(topic_arn, missing);
    assert!(err.to_string().contains(missing), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("NotFound"), "{cause}");
}

#[tokio::test]
async fn without_a_topic_nothing_is_published() {
    // GIVEN a topic with a queue, and a context with no topic configured
    let moto = Moto::start().await;
    let sub = Inbox::subscribe(&moto.sdk_config().await).await;
    let ctx = AwsCtx::from_sdk_config(moto.sdk_config().await);

    // WHEN a notification is sent
    let published = ctx.notifier().notify(&replicas_added()).await.unwrap();

    // THEN it is only logged: no message id, nothing on the topic
    assert_eq!(published, None);
    assert!(sub.drain().await.is_empty());
    assert!(
        published_raw_messages(&moto, &sub.topic_arn)
            .await
            .is_empty()
    );
}
