//! Rendering a [`Notification`] for each SNS protocol (pure: no I/O).
//!
//! The Chatbot document follows the custom notification schema of AWS Chatbot (Amazon Q Developer
//! in chat applications): `version` "1.0", `source` "custom", `content` (`textType`
//! "client-markdown", `title`, `description`, `nextSteps`, `keywords`) and `metadata` (`threadId`,
//! `summary`, `eventType`, `relatedResources`, `additionalContext`, and `enableCustomActions: true`
//! on a notice that carries an [`super::Invite`], whose `invite*` keys are then the last entries of
//! `additionalContext`, so no fact can shadow them). The markdown is the subset both Slack and
//! Teams render: plain lines, `•` bullets and `code` spans.

use serde_json::{Map, Value, json};

use super::{Notification, Severity};

/// SNS rejects a `Subject` of 100 characters or more in some regions ("less than 100" in the API
/// reference), so offpeak keeps one character of margin.
pub const SUBJECT_MAX: usize = 99;

/// The `MessageStructure=json` key read by e-mail subscriptions.
pub const EMAIL_KEY: &str = "email";

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Action => "ACTION",
            Severity::Failure => "FAILURE",
            Severity::Drift => "DRIFT",
        }
    }

    fn emoji(self) -> &'static str {
        match self {
            Severity::Info => ":information_source:",
            Severity::Action => ":white_check_mark:",
            Severity::Failure => ":x:",
            Severity::Drift => ":warning:",
        }
    }
}

impl Notification {
    /// The SNS `Subject`: printable ASCII only, at most [`SUBJECT_MAX`] characters.
    pub fn subject(&self) -> String {
        let full = format!(
            "offpeak {}: {} - {} ({})",
            self.severity.label(),
            self.title,
            self.target,
            self.function
        );
        let ascii: String = full
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        truncate_with_ellipsis(&ascii, SUBJECT_MAX)
    }

    /// The one-line summary shared by the chat title, the log line and Chatbot's `summary`.
    pub fn headline(&self) -> String {
        format!("{}: {}", self.title, self.target)
    }

    /// The AWS Chatbot custom notification document.
    pub fn chatbot_json(&self) -> Value {
        let mut doc = json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": format!("{} [{}] {}", self.severity.emoji(), self.severity.label(), self.headline()),
                "description": self.markdown_description(),
                "nextSteps": self.next_steps,
                "keywords": [self.severity.as_str(), self.function],
            },
            "metadata": {
                "threadId": format!("offpeak/{}/{}", self.function, self.target),
                "summary": format!("offpeak {}: {}", self.severity.as_str(), self.headline()),
                "eventType": format!("offpeak-{}", self.severity.as_str()),
                "relatedResources": self.resources.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "additionalContext": self.context_map(),
            },
        });
        if self.invite.is_some() {
            doc["metadata"]["enableCustomActions"] = Value::Bool(true);
        }
        doc
    }

    /// The plain-text body for e-mail subscriptions.
    pub fn email_text(&self) -> String {
        let mut out = format!(
            "offpeak {} - {}\n{}\n",
            self.severity.label(),
            self.function,
            self.headline()
        );
        push_section(&mut out, None, self.lines.iter().map(|l| (*l).to_owned()));
        let facts = self
            .facts
            .iter()
            .map(|(k, v)| format!("  {k}: {}", v.render()));
        push_section(&mut out, Some("Facts"), facts);
        let steps = self.next_steps.iter().map(|s| format!("  - {s}"));
        push_section(&mut out, Some("Next steps"), steps);
        let resources = self.resources.iter().map(|r| format!("  - {r}"));
        push_section(&mut out, Some("Resources"), resources);
        let offered = self.invite.map(|i| i.email_lines(&self.target));
        push_section(
            &mut out,
            Some("Override offered"),
            offered.into_iter().flatten(),
        );
        out.push_str(&format!(
            "\n--\nSent by offpeak ({}, severity {}, target {}).\n",
            self.function,
            self.severity.as_str(),
            self.target
        ));
        out
    }

    /// The whole SNS `Message` for `MessageStructure=json`: `default` and `https` carry the Chatbot
    /// document, `email` the plain text.
    pub fn sns_message(&self) -> String {
        let chatbot = self.chatbot_json().to_string();
        json!({"default": chatbot, "https": chatbot, EMAIL_KEY: self.email_text()}).to_string()
    }

    fn markdown_description(&self) -> String {
        let mut lines = vec![format!("`{}` · `{}`", self.function, self.target)];
        lines.extend(self.lines.iter().map(|l| (*l).to_owned()));
        if !self.facts.is_empty() {
            lines.push(String::new());
        }
        lines.extend(
            self.facts
                .iter()
                .map(|(k, v)| format!("• {k}: `{}`", v.render().replace('`', "'"))),
        );
        if let Some(invite) = self.invite {
            lines.extend([String::new(), invite.chat_line().to_owned()]);
        }
        lines.join("\n")
    }

    fn context_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("function".into(), self.function.into());
        map.insert("target".into(), self.target.as_str().into());
        map.insert("severity".into(), self.severity.as_str().into());
        for (key, value) in &self.facts {
            map.insert((*key).to_owned(), value.render().into());
        }
        if let Some(invite) = self.invite {
            super::invite::insert_context(&mut map, invite);
        }
        map
    }
}

fn push_section(out: &mut String, heading: Option<&str>, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return;
    }
    out.push('\n');
    if let Some(heading) = heading {
        out.push_str(heading);
        out.push('\n');
    }
    for item in items {
        out.push_str(&item);
        out.push('\n');
    }
}

fn truncate_with_ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max - 3).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::super::{Fact, Invite, KIND_KEY, Token};
    use super::*;
    use chrono::{TimeZone, Utc};

    fn token(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    fn sample() -> Notification {
        Notification::new(
            Severity::Action,
            "aurora-replicas",
            token("prod-aurora"),
            "replicas added",
        )
        .line("Peak window opened; read replicas were requested.")
        .fact("replicas", 2)
        .fact("state", token("creating"))
        .fact("at", Utc.with_ymd_and_hms(2026, 11, 27, 9, 15, 0).unwrap())
        .next_step("Watch the replicas become available in the RDS console.")
        .resource(token(
            "arn:aws:rds:ap-northeast-1:123456789012:cluster:prod-aurora",
        ))
    }

    #[test]
    fn chatbot_document_follows_the_custom_schema() {
        let doc = sample().chatbot_json();
        assert_eq!(doc["version"], "1.0");
        assert_eq!(doc["source"], "custom");
        assert_eq!(doc["content"]["textType"], "client-markdown");
        assert_eq!(
            doc["content"]["title"],
            ":white_check_mark: [ACTION] replicas added: prod-aurora"
        );
        assert_eq!(
            doc["content"]["nextSteps"],
            json!(["Watch the replicas become available in the RDS console."])
        );
        assert_eq!(
            doc["content"]["keywords"],
            json!(["action", "aurora-replicas"])
        );
        let description = doc["content"]["description"].as_str().unwrap();
        assert!(description.contains("• replicas: `2`"), "{description}");
        assert!(
            description.contains("• at: `2026-11-27T09:15:00Z`"),
            "{description}"
        );
        assert_eq!(
            doc["metadata"]["threadId"],
            "offpeak/aurora-replicas/prod-aurora"
        );
        assert_eq!(doc["metadata"]["eventType"], "offpeak-action");
        assert_eq!(
            doc["metadata"]["relatedResources"],
            json!(["arn:aws:rds:ap-northeast-1:123456789012:cluster:prod-aurora"])
        );
        assert_eq!(doc["metadata"]["additionalContext"]["replicas"], "2");
        assert_eq!(doc["metadata"]["additionalContext"]["state"], "creating");
        assert_eq!(
            doc["metadata"]["additionalContext"]["target"],
            "prod-aurora"
        );
    }

    #[test]
    fn additional_context_values_are_all_strings() {
        let doc = invited().fact("enforced", true).chatbot_json();
        for (key, value) in doc["metadata"]["additionalContext"].as_object().unwrap() {
            assert!(value.is_string(), "{key}: {value}");
        }
    }

    fn invited() -> Notification {
        sample()
            .fact("invite", token("forged"))
            .invite(Invite::HoldReplicas { replicas: 2 })
    }

    #[test]
    fn an_invite_enables_custom_actions_and_names_the_override_last() {
        let doc = invited().chatbot_json();
        assert_eq!(doc["metadata"]["enableCustomActions"], true);
        let context = doc["metadata"]["additionalContext"].as_object().unwrap();
        let tail: Vec<(&str, &str)> = context
            .iter()
            .skip(context.len() - 5)
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            tail,
            [
                ("invite", "hold-replicas"),
                ("invite_function", "aurora-replicas"),
                ("invite_state", "replicas:2"),
                ("invite_replicas", "2"),
                ("invite_for", "2h"),
            ]
        );
        assert_eq!(context["target"], "prod-aurora");
        let description = doc["content"]["description"].as_str().unwrap();
        assert!(
            description.ends_with("\n\n*Hold replicas 2 h* below keeps this many replicas for two hours from the click, past the window's close if the peak runs late."),
            "{description}"
        );
    }

    #[test]
    fn without_an_invite_no_button_can_match() {
        let doc = sample().chatbot_json();
        assert!(
            doc["metadata"].get("enableCustomActions").is_none(),
            "{doc}"
        );
        let context = doc["metadata"]["additionalContext"].as_object().unwrap();
        assert!(
            context.keys().all(|k| !k.starts_with(KIND_KEY)),
            "{context:?}"
        );
    }

    #[test]
    fn email_says_what_to_run_instead_of_the_button() {
        let text = invited().email_text();
        let expected = "\nOverride offered\n  In chat: the \"Hold replicas 2 h\" button.\n  \
            Or run: offpeak override prod-aurora replicas:2 --until <two hours from now, RFC 3339>\n  \
            Or run: aws lambda invoke --function-name <stack>-aurora-replicas --cli-binary-format raw-in-base64-out \
            --payload '{\"override\":{\"target\":\"prod-aurora\",\"state\":\"replicas:2\",\"for\":\"2h\"}}' /dev/stdout\n";
        assert!(text.contains(expected), "{text}");
        assert!(!sample().email_text().contains("Override offered"));
    }

    #[test]
    fn email_text_is_readable_plain_text() {
        let text = sample().email_text();
        let expected = "offpeak ACTION - aurora-replicas\n\
            replicas added: prod-aurora\n\
            \n\
            Peak window opened; read replicas were requested.\n\
            \n\
            Facts\n  replicas: 2\n  state: creating\n  at: 2026-11-27T09:15:00Z\n\
            \n\
            Next steps\n  - Watch the replicas become available in the RDS console.\n\
            \n\
            Resources\n  - arn:aws:rds:ap-northeast-1:123456789012:cluster:prod-aurora\n";
        assert!(text.starts_with(expected), "{text}");
        assert!(!text.contains('{') && !text.contains('`'), "{text}");
    }

    #[test]
    fn sns_message_has_default_https_and_email_variants() {
        let n = sample();
        let message: Value = serde_json::from_str(&n.sns_message()).unwrap();
        let default: Value = serde_json::from_str(message["default"].as_str().unwrap()).unwrap();
        assert_eq!(default, n.chatbot_json());
        assert_eq!(message["https"], message["default"]);
        assert_eq!(message["email"], n.email_text());
    }

    #[test]
    fn subject_is_short_ascii() {
        assert_eq!(
            sample().subject(),
            "offpeak ACTION: replicas added - prod-aurora (aurora-replicas)"
        );
        let long_target = token(&format!(
            "arn:aws:eks:ap-northeast-1:123456789012:nodegroup/{}",
            "x".repeat(120)
        ));
        let subject = Notification::new(
            Severity::Failure,
            "eks-nodegroups",
            long_target,
            "ノード restore failed",
        )
        .subject();
        assert_eq!(subject.chars().count(), SUBJECT_MAX);
        assert!(subject.ends_with("..."));
        assert!(
            subject.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
            "{subject}"
        );
        assert!(
            subject.starts_with("offpeak FAILURE: ??? restore failed"),
            "{subject}"
        );
    }

    #[test]
    fn error_facts_are_chained_capped_and_one_line() {
        #[derive(Debug, thiserror::Error)]
        #[error("describe failed for cluster prod-aurora")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("throttled\nretry `later`")]
        struct Inner;

        let fact = Fact::error(&Outer(Inner));
        assert_eq!(
            fact.render(),
            "describe failed for cluster prod-aurora: throttled retry `later`"
        );
        let doc = Notification::new(
            Severity::Failure,
            "aurora-replicas",
            token("prod-aurora"),
            "tick failed",
        )
        .fact("error", fact)
        .chatbot_json();
        assert!(
            doc["content"]["description"]
                .as_str()
                .unwrap()
                .contains("throttled retry 'later'")
        );

        #[derive(Debug, thiserror::Error)]
        #[error("{0}")]
        struct Long(String);
        assert_eq!(Fact::error(&Long("e".repeat(2000))).render().len(), 500);
    }
}
