//! Notifications: one SNS message per action taken, per failure and per drift.
//!
//! A [`Notification`] is rendered into a single SNS message with `MessageStructure=json`:
//! - `default` and `https`: an AWS Chatbot (Amazon Q Developer in chat applications) custom
//!   notification, so a Chatbot subscription renders it natively in Slack or Teams;
//! - `email`: plain text a person reads in a mail client.
//!
//! The `Subject` (used by email subscriptions) is ASCII and at most 100 characters, as SNS requires.
//!
//! **No personal data, no secrets — by construction.** The type only admits:
//! - prose that is `&'static str`, i.e. written in offpeak's source and compiled into the binary
//!   (titles, lines, fact names, next steps);
//! - [`Token`]s: identifiers, states and codes (ASCII letters, digits and `-_.:/+=,#`, no spaces and
//!   no `@`, at most 256 characters) — resource ids, ARNs, `awake`/`asleep`;
//! - numbers, booleans, instants and durations;
//! - error summaries built from an [`std::error::Error`]; offpeak's error types never carry
//!   values (a design invariant), and the summary is capped and stripped of control characters.
//!
//! So a row value, a password or an e-mail address can't be put into a notification without first
//! passing [`Token::new`], which refuses spaces and `@`, or without writing it into the source.
//!
//! A notice may also carry an [`Invite`]: the one override it offers to set, rendered as a chat
//! button's variables and as the commands to run instead (see the `invite` module).
//!
//! Failure behaviour: see [`Notifier::notify`]; every notification is also logged, so nothing is
//! lost when no topic is configured or a publish fails.

mod invite;
mod render;
mod sns;
mod token;

use chrono::{DateTime, Utc};

pub use invite::{HOLD_FOR, Invite, KIND_KEY};
pub use render::{EMAIL_KEY, SUBJECT_MAX};
pub use sns::{Notifier, NotifyError, SentNotifications};
pub use token::{InvalidToken, Token};

/// How much a notification matters, and what kind of event it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// For information only (a run finished, nothing to do).
    Info,
    /// offpeak changed something.
    Action,
    /// Something failed; a person may need to act.
    Failure,
    /// Desired and actual state have disagreed for several ticks.
    Drift,
}

impl Severity {
    /// Lowercase name: `info`, `action`, `failure`, `drift`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Action => "action",
            Severity::Failure => "failure",
            Severity::Drift => "drift",
        }
    }
}

/// One value in a notification's key-value facts.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// An identifier, state or code.
    Token(Token),
    /// A count or other integer.
    Count(i64),
    /// A yes/no.
    Flag(bool),
    /// An instant, rendered as RFC 3339 UTC.
    Time(DateTime<Utc>),
    /// A duration, rendered in whole seconds.
    Duration(chrono::Duration),
    /// A summary of an error chain (see [`Fact::error`]).
    Error(ErrorSummary),
}

/// An error chain reduced to one capped line. Only [`Fact::error`] builds one, so arbitrary text
/// can't be smuggled into a notification as an "error".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSummary(String);

impl ErrorSummary {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An error summary is cut at this many characters.
const ERROR_SUMMARY_MAX: usize = 500;

impl Fact {
    /// Summarises an error and its causes (`outer: inner: root`), capped at 500 characters, with
    /// control characters removed. Only offpeak's own errors belong here: they never carry values.
    pub fn error(err: &(dyn std::error::Error + 'static)) -> Self {
        let clean: String = crate::error_chain::chain(err)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Fact::Error(ErrorSummary(
            clean.chars().take(ERROR_SUMMARY_MAX).collect(),
        ))
    }

    /// The value as text for humans and for Chatbot's `additionalContext`.
    pub fn render(&self) -> String {
        match self {
            Fact::Token(t) => t.to_string(),
            Fact::Count(n) => n.to_string(),
            Fact::Flag(b) => b.to_string(),
            Fact::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            Fact::Duration(d) => format!("{}s", d.num_seconds()),
            Fact::Error(e) => e.0.clone(),
        }
    }
}

impl From<Token> for Fact {
    fn from(value: Token) -> Self {
        Fact::Token(value)
    }
}

impl From<i64> for Fact {
    fn from(value: i64) -> Self {
        Fact::Count(value)
    }
}

impl From<i32> for Fact {
    fn from(value: i32) -> Self {
        Fact::Count(value.into())
    }
}

impl From<u32> for Fact {
    fn from(value: u32) -> Self {
        Fact::Count(value.into())
    }
}

impl From<usize> for Fact {
    fn from(value: usize) -> Self {
        Fact::Count(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Fact {
    fn from(value: bool) -> Self {
        Fact::Flag(value)
    }
}

impl From<DateTime<Utc>> for Fact {
    fn from(value: DateTime<Utc>) -> Self {
        Fact::Time(value)
    }
}

impl From<chrono::Duration> for Fact {
    fn from(value: chrono::Duration) -> Self {
        Fact::Duration(value)
    }
}

/// One notification. Build it with [`Notification::new`] and the chained adders.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub severity: Severity,
    /// The function that sends it: `aurora-replicas`, `eks-nodegroups`, `masked-refresh`, `cli`.
    pub function: &'static str,
    /// The schedule target it is about (`prod-aurora`, `dev-eks/app`).
    pub target: Token,
    /// A short headline, e.g. "replicas added".
    pub title: &'static str,
    /// Sentences of explanation, in order.
    pub lines: Vec<&'static str>,
    /// Key-value facts, in order.
    pub facts: Vec<(&'static str, Fact)>,
    /// What a person can do next.
    pub next_steps: Vec<&'static str>,
    /// ARNs or ids of the resources involved (Chatbot's `relatedResources`).
    pub resources: Vec<Token>,
    /// The override this notice offers to set on its target (a chat button).
    pub invite: Option<Invite>,
}

impl Notification {
    pub fn new(
        severity: Severity,
        function: &'static str,
        target: Token,
        title: &'static str,
    ) -> Self {
        Self {
            severity,
            function,
            target,
            title,
            lines: Vec::new(),
            facts: Vec::new(),
            next_steps: Vec::new(),
            resources: Vec::new(),
            invite: None,
        }
    }

    /// Adds a sentence to the body.
    pub fn line(mut self, line: &'static str) -> Self {
        self.lines.push(line);
        self
    }

    /// Adds a key-value fact (`"replicas", 2`, `"state", token`, `"at", now`).
    pub fn fact(mut self, key: &'static str, value: impl Into<Fact>) -> Self {
        self.facts.push((key, value.into()));
        self
    }

    /// Adds a suggested next step.
    pub fn next_step(mut self, step: &'static str) -> Self {
        self.next_steps.push(step);
        self
    }

    /// Adds a related resource (an ARN, preferably).
    pub fn resource(mut self, resource: Token) -> Self {
        self.resources.push(resource);
        self
    }

    /// Offers `invite` on this notice's target: a chat button where the stack enables them, the
    /// equivalent commands in the e-mail. A notice offers at most one; the last one set wins.
    pub fn invite(mut self, invite: Invite) -> Self {
        self.invite = Some(invite);
        self
    }
}
