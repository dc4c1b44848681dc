//! [`Invite`]: the one override a notice offers to set, as a chat button and as a command.
//!
//! A notice that carries an invite renders it three ways, all from the same value:
//! - in the AWS Chatbot document, `metadata.enableCustomActions: true` and `invite*` keys in
//!   `metadata.additionalContext` ([`Invite::context`]), which the stack's custom actions match
//!   and read (`template.yaml`, "Chat buttons"; `tests/tests/platform/template_policy.rs` proves
//!   that each button sends exactly [`Invite::payload`] to the function that holds its state);
//! - in the e-mail text, the commands a person runs instead ([`Invite::email_lines`]);
//! - as the override event itself ([`Invite::payload`]), the JSON `aws lambda invoke` sends.
//!
//! Guarantees: an invite holds only static text, the notice's target [`Token`] and numbers or
//! instants, so it adds no personal data. Its state always belongs to the function it names
//! ([`Invite::function`] is [`OverrideState::function`] of [`Invite::state`]). Durations are fixed
//! per kind, because the button's label is fixed in the template: "2 h" on the button and `"2h"` in
//! the payload can't disagree.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::Token;
use crate::event::OverrideState;

/// How long [`Invite::KeepAwake`] and [`Invite::HoldReplicas`] hold, from the click: the override
/// event's `for`.
pub const HOLD_FOR: &str = "2h";

/// The `additionalContext` key naming the invite's kind; the custom actions match on it.
pub const KIND_KEY: &str = "invite";

/// The override a notice invites a person to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invite {
    /// eks-nodegroups: hold the node group (or Auto Scaling group) awake for [`HOLD_FOR`] from the
    /// click, waking it if it sleeps.
    KeepAwake,
    /// aurora-replicas: hold exactly `replicas` offpeak replicas for [`HOLD_FOR`] from the click,
    /// so a peak that runs late keeps its readers.
    HoldReplicas { replicas: u32 },
    /// masked-refresh: start no refresh before `until` (a run already under way is not stopped).
    SkipUntil { until: DateTime<Utc> },
}

impl Invite {
    /// Skips the refresh window after the one that closes at `close`, for a window that opens every
    /// day: no refresh starts before an hour past the next close. The hour covers a daylight-saving
    /// change (a local day of 23 or 25 hours); a schedule with no window the next day lets the skip
    /// end unused, and the notice shows the instant as `invite_until`.
    pub fn skip_next_daily_window(close: DateTime<Utc>) -> Self {
        Invite::SkipUntil {
            until: close + chrono::Duration::hours(25),
        }
    }

    /// The kind, as matched by the custom actions: `keep-awake`, `hold-replicas`, `skip-refresh`.
    pub fn kind(self) -> &'static str {
        match self {
            Invite::KeepAwake => "keep-awake",
            Invite::HoldReplicas { .. } => "hold-replicas",
            Invite::SkipUntil { .. } => "skip-refresh",
        }
    }

    /// The label of the chat button that sets it (the template's `ButtonText`).
    pub fn button_text(self) -> &'static str {
        match self {
            Invite::KeepAwake => "Keep awake 2 h",
            Invite::HoldReplicas { .. } => "Hold replicas 2 h",
            Invite::SkipUntil { .. } => "Skip tonight's refresh",
        }
    }

    /// The override state it sets.
    pub fn state(self) -> OverrideState {
        match self {
            Invite::KeepAwake => OverrideState::Awake,
            Invite::HoldReplicas { replicas } => OverrideState::Replicas(replicas),
            Invite::SkipUntil { .. } => OverrideState::Skip,
        }
    }

    /// The function whose targets take that state, which the button invokes.
    pub fn function(self) -> &'static str {
        self.state()
            .function()
            .expect("an invite never sets `clear`, the only state every function takes")
    }

    /// The override event it sends for `target`, as compact JSON.
    pub fn payload(self, target: &Token) -> String {
        let mut o = Map::new();
        o.insert("target".into(), target.as_str().into());
        o.insert("state".into(), self.state().to_string().into());
        match self.until() {
            Some(until) => o.insert("until".into(), until.into()),
            None => o.insert("for".into(), HOLD_FOR.into()),
        };
        json!({ "override": o }).to_string()
    }

    /// The `additionalContext` entries the custom actions read.
    pub fn context(self) -> Vec<(&'static str, String)> {
        let mut entries = vec![
            (KIND_KEY, self.kind().to_owned()),
            ("invite_function", self.function().to_owned()),
            ("invite_state", self.state().to_string()),
        ];
        if let Invite::HoldReplicas { replicas } = self {
            entries.push(("invite_replicas", replicas.to_string()));
        }
        match self.until() {
            Some(until) => entries.push(("invite_until", until)),
            None => entries.push(("invite_for", HOLD_FOR.to_owned())),
        }
        entries
    }

    /// What the chat description says about the button.
    pub fn chat_line(self) -> &'static str {
        match self {
            Invite::KeepAwake => {
                "*Keep awake 2 h* below holds it awake for two hours from the click (waking it now)."
            }
            Invite::HoldReplicas { .. } => {
                "*Hold replicas 2 h* below keeps this many replicas for two hours from the click, past the window's close if the peak runs late."
            }
            Invite::SkipUntil { .. } => {
                "*Skip tonight's refresh* below starts no refresh before the time shown as skip_until."
            }
        }
    }

    /// The e-mail lines: the button, then the same override from a terminal.
    pub fn email_lines(self, target: &Token) -> Vec<String> {
        let end = match self.until() {
            Some(until) => until,
            None => "<two hours from now, RFC 3339>".to_owned(),
        };
        vec![
            format!("  In chat: the \"{}\" button.", self.button_text()),
            format!(
                "  Or run: offpeak override {target} {} --until {end}",
                self.state()
            ),
            format!(
                "  Or run: aws lambda invoke --function-name <stack>-{} --cli-binary-format raw-in-base64-out --payload '{}' /dev/stdout",
                self.function(),
                self.payload(target)
            ),
        ]
    }

    fn until(self) -> Option<String> {
        match self {
            Invite::SkipUntil { until } => Some(until.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Invite::KeepAwake | Invite::HoldReplicas { .. } => None,
        }
    }
}

/// Adds [`Invite::context`] to a JSON map (Chatbot's `additionalContext`).
pub(super) fn insert_context(map: &mut Map<String, Value>, invite: Invite) {
    for (key, value) in invite.context() {
        // Removed first, so a fact of the same name can shadow neither the value nor the order.
        map.remove(key);
        map.insert(key.to_owned(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::InvocationEvent;
    use chrono::TimeZone;

    fn token(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    fn all() -> [Invite; 3] {
        [
            Invite::KeepAwake,
            Invite::HoldReplicas { replicas: 3 },
            Invite::SkipUntil {
                until: Utc.with_ymd_and_hms(2026, 11, 28, 20, 0, 0).unwrap(),
            },
        ]
    }

    #[test]
    fn every_payload_is_an_override_event_its_function_accepts() {
        for invite in all() {
            let text = invite.payload(&token("dev-eks/app"));
            let event = InvocationEvent::from_json_str(&text).unwrap();
            event.ensure_override_fits(invite.function()).unwrap();
            let o = event.override_.expect("an override");
            assert_eq!(o.target, "dev-eks/app");
            assert_eq!(o.state, invite.state());
        }
    }

    #[test]
    fn each_kind_sets_its_documented_override() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        let [awake, replicas, skip] = all();
        let end = |i: Invite| {
            InvocationEvent::from_json_str(&i.payload(&token("t")))
                .unwrap()
                .override_
                .unwrap()
                .end(now)
                .unwrap()
        };
        assert_eq!(end(awake), now + chrono::Duration::hours(2));
        assert_eq!(end(replicas), now + chrono::Duration::hours(2));
        assert_eq!(
            end(skip),
            Utc.with_ymd_and_hms(2026, 11, 28, 20, 0, 0).unwrap()
        );
        assert_eq!(
            [awake.function(), replicas.function(), skip.function()],
            ["eks-nodegroups", "aurora-replicas", "masked-refresh"]
        );
        assert_eq!(replicas.state().to_string(), "replicas:3");
    }

    #[test]
    fn the_next_daily_window_is_skipped_across_a_daylight_saving_change() {
        use chrono_tz::Europe::Berlin;
        // GIVEN a 03:00-06:00 Berlin window closing on the eve of the spring and autumn changes
        for (day, next) in [(28, 29), (24, 25)] {
            let month = if day == 28 { 3 } else { 10 };
            let close = Berlin.with_ymd_and_hms(2026, month, day, 6, 0, 0).unwrap();
            let next_open = Berlin.with_ymd_and_hms(2026, month, next, 3, 0, 0).unwrap();
            let next_close = Berlin.with_ymd_and_hms(2026, month, next, 6, 0, 0).unwrap();
            let after = Berlin
                .with_ymd_and_hms(2026, month, next + 1, 3, 0, 0)
                .unwrap();
            // WHEN the done notice offers to skip the next window
            let Invite::SkipUntil { until } =
                Invite::skip_next_daily_window(close.with_timezone(&Utc))
            else {
                panic!("a skip");
            };
            // THEN the skip covers the whole next window and ends before the one after it
            assert!(
                until > next_open && until >= next_close,
                "{until} vs {next_close}"
            );
            assert!(until < after, "{until} vs {after}");
        }
    }

    #[test]
    fn context_names_kind_function_state_and_end() {
        let [_, replicas, skip] = all();
        let ctx: Map<String, Value> = replicas
            .context()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect();
        assert_eq!(
            Value::Object(ctx),
            json!({"invite": "hold-replicas", "invite_function": "aurora-replicas",
                   "invite_state": "replicas:3", "invite_replicas": "3", "invite_for": "2h"})
        );
        let keys: Vec<&str> = skip.context().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            ["invite", "invite_function", "invite_state", "invite_until"]
        );
        assert_eq!(skip.context()[3].1, "2026-11-28T20:00:00Z");
    }

    #[test]
    fn email_lines_give_the_cli_and_the_invoke_command() {
        let lines = Invite::KeepAwake.email_lines(&token("dev-eks/app"));
        assert_eq!(lines[0], "  In chat: the \"Keep awake 2 h\" button.");
        assert_eq!(
            lines[1],
            "  Or run: offpeak override dev-eks/app awake --until <two hours from now, RFC 3339>"
        );
        assert!(
            lines[2].ends_with(
                r#"--function-name <stack>-eks-nodegroups --cli-binary-format raw-in-base64-out --payload '{"override":{"target":"dev-eks/app","state":"awake","for":"2h"}}' /dev/stdout"#
            ),
            "{}",
            lines[2]
        );
    }
}
