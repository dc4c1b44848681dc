//! `offpeak desired`: every target's desired state at one instant, as a table or as JSON.
//!
//! JSON shape (design.md): `{"at": "<UTC RFC3339>", "targets": [...]}` with one object per target,
//! `kind` and `target` first, then `replicas`, `state` or `window`; `timezone` and `next_change`
//! are extra fields.

use std::path::Path;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use offpeak_shared::calendar::{self, State, Target};
use offpeak_shared::config;
use serde_json::{Map, Value, json};

use crate::failure::Failure;

pub fn run(path: &Path, at: DateTime<FixedOffset>, as_json: bool) -> Result<(), Failure> {
    let schedule = config::load(path)?;
    let at = at.with_timezone(&Utc);
    let rows = calendar::desired(&schedule, at);
    if as_json {
        println!("{}", to_json(at, &rows));
    } else {
        print!("{}", table(at, &rows));
    }
    Ok(())
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The JSON document `desired --json` prints.
pub fn to_json(at: DateTime<Utc>, rows: &[(Target<'_>, State)]) -> Value {
    let targets: Vec<Value> = rows.iter().map(|(t, s)| target_json(at, t, *s)).collect();
    json!({ "at": utc(at), "targets": targets })
}

fn target_json(at: DateTime<Utc>, target: &Target<'_>, state: State) -> Value {
    let mut obj = Map::new();
    obj.insert("kind".into(), target.kind.as_str().into());
    obj.insert("target".into(), target.id.clone().into());
    let (key, value): (&str, Value) = match state {
        State::Replicas(n) => ("replicas", n.into()),
        State::Awake => ("state", "awake".into()),
        State::Asleep => ("state", "asleep".into()),
        State::WindowOpen => ("window", "open".into()),
        State::WindowClosed => ("window", "closed".into()),
    };
    obj.insert(key.into(), value);
    obj.insert("timezone".into(), target.zone.name().into());
    obj.insert("next_change".into(), target.next_change(at).map(utc).into());
    Value::Object(obj)
}

fn state_text(state: State) -> String {
    match state {
        State::Replicas(n) => format!("{n} replica{}", if n == 1 { "" } else { "s" }),
        State::Awake => "awake".into(),
        State::Asleep => "asleep".into(),
        State::WindowOpen => "window open".into(),
        State::WindowClosed => "window closed".into(),
    }
}

/// A plain table: kind, target, state, and when it next changes in the target's own zone.
fn table(at: DateTime<Utc>, rows: &[(Target<'_>, State)]) -> String {
    let mut out = format!("desired state at {}\n", utc(at));
    let width = rows
        .iter()
        .map(|(t, _)| t.id.len())
        .max()
        .unwrap_or(6)
        .max(6);
    out += &format!(
        "{:<16} {:<width$} {:<14} next change\n",
        "KIND", "TARGET", "STATE"
    );
    for (target, state) in rows {
        let next = match target.next_change(at) {
            Some(t) => t
                .with_timezone(&target.zone)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string(),
            None => format!("none within {} days", calendar::HORIZON_DAYS),
        };
        out += &format!(
            "{:<16} {:<width$} {:<14} {next}\n",
            target.kind.as_str(),
            target.id,
            state_text(*state)
        );
    }
    out
}
