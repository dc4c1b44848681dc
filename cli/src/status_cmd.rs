//! `offpeak status`: what holds offpeak away from its schedule right now — pauses, overrides,
//! and targets removed from the schedule that a function has yet to put back. One state-table
//! read (a `BatchGetItem` per 100 keys); no other AWS call, nothing written.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::calendar;
use offpeak_shared::config;
use offpeak_shared::pause::{self, Pause};
use offpeak_shared::state::registry::{self, Registry};
use offpeak_shared::state::{Record, StateStore};

use crate::args::ConfigArg;
use crate::failure::Failure;
use crate::pause_cmd::state;
use crate::tick_cmd::Function;

pub async fn run(config: &ConfigArg, now: DateTime<Utc>) -> Result<(), Failure> {
    let schedule = config::load(&config.path())?;
    let aws = AwsCtx::load().await;
    let store = state(&aws)?;
    let scheduled: BTreeSet<String> = calendar::targets(&schedule)
        .into_iter()
        .map(|t| t.id)
        .collect();
    // The masked refresh keeps its documents under `masked-refresh/<target>`.
    let refresh_keys = calendar::targets(&schedule)
        .into_iter()
        .filter(|t| t.kind == calendar::Kind::MaskedRefresh)
        .map(|t| offpeak_masked_refresh::tick::state_key(&t.id));
    let mut keys = control_keys();
    let first = store
        .get_many(&keys)
        .await
        .map_err(|e| Failure::Runtime(offpeak_shared::error_chain::chain(&e)))?;
    let registered = registries(&first)?;
    keys = scheduled
        .iter()
        .chain(registered.iter())
        .cloned()
        .chain(refresh_keys)
        .collect();
    let targets = store
        .get_many(&keys)
        .await
        .map_err(|e| Failure::Runtime(offpeak_shared::error_chain::chain(&e)))?;
    let scheduled_refs: BTreeSet<&str> = scheduled.iter().map(String::as_str).collect();
    let mut lines = pauses(&first, now);
    lines.extend(overrides(targets.values(), now));
    lines.extend(orphans(&first, &scheduled_refs)?);
    if lines.is_empty() {
        lines.push("no pause, no override, nothing left to put back: the schedule rules".into());
    }
    lines.iter().for_each(|l| println!("{l}"));
    Ok(())
}

/// The pause items and the three registries.
fn control_keys() -> Vec<String> {
    let functions = Function::ALL.map(Function::name);
    std::iter::once(pause::key(pause::ALL))
        .chain(functions.iter().map(|f| pause::key(f)))
        .chain(functions.iter().map(|f| registry::key(f)))
        .collect()
}

fn registries(
    records: &std::collections::HashMap<String, Record>,
) -> Result<BTreeSet<String>, Failure> {
    let mut all = BTreeSet::new();
    for f in Function::ALL.map(Function::name) {
        let r = Registry::from_records(records, f).map_err(|e| Failure::Runtime(e.to_string()))?;
        all.extend(r.targets);
    }
    Ok(all)
}

fn pauses(records: &std::collections::HashMap<String, Record>, now: DateTime<Utc>) -> Vec<String> {
    let mut scopes = vec![pause::ALL];
    scopes.extend(Function::ALL.map(Function::name));
    scopes
        .into_iter()
        .filter_map(|s| records.get(&pause::key(s))?.decode::<Pause>().ok())
        .filter(|p| p.holds(now))
        .map(|p| format!("paused    {:<28} until {}", p.scope, time(p.until)))
        .collect()
}

/// Active overrides: any target document with an `override` whose `until` is still ahead.
fn overrides<'a>(records: impl Iterator<Item = &'a Record>, now: DateTime<Utc>) -> Vec<String> {
    let mut lines: Vec<String> = records
        .filter_map(|r| {
            let o = r.doc.get("override")?;
            let until: DateTime<Utc> = serde_json::from_value(o.get("until")?.clone()).ok()?;
            let state = o.get("state")?.as_str()?.to_owned();
            (now < until)
                .then(|| format!("override  {:<28} {state} until {}", r.target, time(until)))
        })
        .collect();
    lines.sort();
    lines
}

fn orphans(
    records: &std::collections::HashMap<String, Record>,
    scheduled: &BTreeSet<&str>,
) -> Result<Vec<String>, Failure> {
    let mut lines = Vec::new();
    for f in Function::ALL.map(Function::name) {
        let r = Registry::from_records(records, f).map_err(|e| Failure::Runtime(e.to_string()))?;
        for t in r.orphans(scheduled) {
            lines.push(format!(
                "removing  {t:<28} no longer scheduled: {f} puts it back on its next tick"
            ));
        }
    }
    Ok(lines)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
