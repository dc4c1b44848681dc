//! `offpeak deploy-params [--check]`: the stack parameters that follow from the schedule,
//! written into `samconfig.toml` so they are derived, never hand-copied.
//!
//! Derived: `ScheduleTimezone`, `ReplicaClusterIds`, `EksClusterNames`, `SelfManagedAsgNames`
//! and, with a masked refresh, `ProductionClusterId`, `CloneIdPrefix` (`<target_cluster>-offpeak-`),
//! `DevPasswordSecretId`, `MaskingSaltSecretId` (from the rules file), and the daily rules
//! check's `RulesCheckSchedule` ([`RULES_CHECK_LEAD_HOURS`] before the window opens) and
//! `RulesCheckTimezone` (the refresh's zone). Every other parameter in
//! `parameter_overrides` (VPC, subnets, topic, ...) is kept as it is, and so is the rest of the
//! file, comments included.
//!
//! `--check` changes nothing and exits 2 naming each parameter that differs, so `make deploy`
//! refuses to deploy IAM scoped to targets the schedule no longer names (or not yet names).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use offpeak_shared::config::{self, Schedule, Span};
use toml_edit::{DocumentMut, Item, Table, value};

use crate::args::ConfigArg;
use crate::failure::Failure;

#[derive(Args, Debug)]
pub struct DeployParamsArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The SAM config file to update
    #[arg(long, value_name = "PATH", default_value = "samconfig.toml")]
    pub samconfig: PathBuf,
    /// Change nothing; exit 2 when samconfig.toml differs from the schedule
    #[arg(long)]
    pub check: bool,
}

/// Where `sam deploy` reads its parameters.
const SECTION: [&str; 2] = ["default", "deploy"];
const KEY: &str = "parameter_overrides";

pub fn run(args: &DeployParamsArgs) -> Result<(), Failure> {
    let schedule = config::load(&args.config.path())?;
    let derived = derive(&schedule)?;
    let mut doc = read(&args.samconfig)?;
    let current = parse_overrides(overrides_text(&doc));
    let stale = differences(&current, &derived);
    if args.check {
        return check(&args.samconfig, &stale);
    }
    let mut merged = current;
    merged.extend(derived.iter().map(|(k, v)| (k.clone(), v.clone())));
    set_overrides(&mut doc, &render_overrides(&merged));
    std::fs::write(&args.samconfig, doc.to_string())
        .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", args.samconfig.display())))?;
    for line in &stale {
        println!("{}: {line}", args.samconfig.display());
    }
    println!(
        "{}: {} parameters follow infra/schedules.yaml ({} changed)",
        args.samconfig.display(),
        derived.len(),
        stale.len()
    );
    Ok(())
}

/// The parameters the schedule decides.
pub fn derive(schedule: &Schedule) -> Result<BTreeMap<String, String>, Failure> {
    let mut p = BTreeMap::new();
    let join = |ids: Vec<&str>| ids.join(",");
    p.insert(
        "ScheduleTimezone".into(),
        schedule.timezone.name().to_owned(),
    );
    let aurora = schedule.aurora_replicas.iter().map(|a| a.cluster.as_str());
    p.insert("ReplicaClusterIds".into(), join(aurora.collect()));
    let mut clusters: Vec<&str> = Vec::new();
    for e in &schedule.eks_nodegroups {
        if !clusters.contains(&e.cluster.as_str()) {
            clusters.push(&e.cluster);
        }
    }
    p.insert("EksClusterNames".into(), join(clusters));
    let asgs = schedule
        .eks_nodegroups
        .iter()
        .flat_map(|e| &e.autoscaling_groups);
    p.insert(
        "SelfManagedAsgNames".into(),
        join(asgs.map(String::as_str).collect()),
    );
    if let Some(refresh) = &schedule.masked_refresh {
        p.insert("ProductionClusterId".into(), refresh.source_cluster.clone());
        p.insert(
            "CloneIdPrefix".into(),
            format!("{}-offpeak-", refresh.target_cluster),
        );
        p.insert(
            "DevPasswordSecretId".into(),
            refresh.dev_password_secret.clone(),
        );
        let rules = offpeak_masking::rules::load(&refresh.rules)
            .map_err(|e| Failure::BadInput(e.to_string()))?;
        if let Some(secret) = rules.salt_secret {
            p.insert("MaskingSaltSecretId".into(), secret);
        }
        p.insert(
            "RulesCheckSchedule".into(),
            rules_check_cron(&refresh.window.span),
        );
        p.insert(
            "RulesCheckTimezone".into(),
            refresh.timezone.name().to_owned(),
        );
    }
    Ok(p)
}

/// How long before the refresh window opens the daily rules check runs: a working day's
/// afternoon for a night window, time enough to fix the rules and deploy.
pub const RULES_CHECK_LEAD_HOURS: u16 = 6;

/// EventBridge Scheduler's cron for the daily rules check: every day, the lead before the
/// window's opening time (local to the refresh's zone).
fn rules_check_cron(span: &Span) -> String {
    let opens = match span {
        Span::Daily { start, .. } => *start,
        Span::Weekly { from, .. } => from.1,
    };
    let day = 24 * 60;
    let at = (opens.0 % day + day - RULES_CHECK_LEAD_HOURS * 60) % day;
    format!("cron({} {} * * ? *)", at % 60, at / 60)
}

/// `Key: "old" -> "new"` for every derived parameter samconfig holds otherwise.
fn differences(
    current: &BTreeMap<String, String>,
    derived: &BTreeMap<String, String>,
) -> Vec<String> {
    derived
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| match current.get(k) {
            Some(old) => format!("{k}: {old:?} -> {v:?}"),
            None => format!("{k}: unset -> {v:?}"),
        })
        .collect()
}

fn check(path: &Path, stale: &[String]) -> Result<(), Failure> {
    if stale.is_empty() {
        println!("{}: parameters follow the schedule", path.display());
        return Ok(());
    }
    let lines: Vec<String> = stale
        .iter()
        .map(|l| format!("{}: {l}", path.display()))
        .collect();
    Err(Failure::BadInput(format!(
        "{}\nthe stack parameters differ from the schedule: run `offpeak deploy-params` (or `make deploy-params`) and review the change",
        lines.join("\n")
    )))
}

fn read(path: &Path) -> Result<DocumentMut, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::BadInput(format!("cannot read {}: {e}", path.display())))?;
    text.parse()
        .map_err(|e| Failure::BadInput(format!("{}: not valid TOML: {e}", path.display())))
}

fn overrides_text(doc: &DocumentMut) -> &str {
    doc.get(SECTION[0])
        .and_then(|d| d.get(SECTION[1]))
        .and_then(|d| d.get("parameters"))
        .and_then(|p| p.get(KEY))
        .and_then(Item::as_str)
        .unwrap_or("")
}

fn set_overrides(doc: &mut DocumentMut, text: &str) {
    let mut table = doc.as_table_mut();
    for name in SECTION.iter().copied().chain(["parameters"]) {
        let item = table.entry(name).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_mut().expect("samconfig sections are tables");
    }
    table.insert(KEY, value(text));
}

/// SAM's `Key=Value Key2="value 2"` list. Unquoted and double-quoted values are both accepted.
pub fn parse_overrides(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim_start();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_owned();
        let after = &rest[eq + 1..];
        let (val, tail) = match after.strip_prefix('"') {
            Some(quoted) => quoted_value(quoted),
            None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
        };
        out.insert(key, val.replace("\\\"", "\""));
        rest = tail.trim_start();
    }
    out
}

/// Splits `value" rest` at the closing quote (a `\"` does not close it).
fn quoted_value(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return (&text[..i], &text[i + 1..]),
            _ => i += 1,
        }
    }
    (text, "")
}

pub fn render_overrides(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sam_override_strings_round_trip() {
        let text = r#"VpcId=vpc-1 MaskedRefreshSubnetIds="subnet-a,subnet-b" Note="say \"hi\"""#;
        let parsed = parse_overrides(text);
        assert_eq!(parsed["VpcId"], "vpc-1");
        assert_eq!(parsed["MaskedRefreshSubnetIds"], "subnet-a,subnet-b");
        assert_eq!(parsed["Note"], "say \"hi\"");
        assert_eq!(parse_overrides(&render_overrides(&parsed)), parsed);
        assert!(parse_overrides("").is_empty());
    }

    #[test]
    fn the_rules_check_runs_six_hours_before_the_window_opens() {
        use offpeak_shared::config::{DaySet, Minute};
        let daily = |h: u16, m: u16| Span::Daily {
            days: DaySet {
                weekdays: 0x7f,
                dates: Default::default(),
            },
            start: Minute(h * 60 + m),
            end: Minute(0),
        };
        assert_eq!(rules_check_cron(&daily(3, 0)), "cron(0 21 * * ? *)");
        assert_eq!(rules_check_cron(&daily(22, 30)), "cron(30 16 * * ? *)");
        assert_eq!(rules_check_cron(&daily(6, 0)), "cron(0 0 * * ? *)");
    }

    #[test]
    fn differences_name_each_stale_parameter() {
        let current = BTreeMap::from([
            ("ReplicaClusterIds".to_owned(), "a".to_owned()),
            ("VpcId".to_owned(), "vpc-1".to_owned()),
        ]);
        let derived = BTreeMap::from([
            ("ReplicaClusterIds".to_owned(), "a,b".to_owned()),
            ("EksClusterNames".to_owned(), "dev".to_owned()),
        ]);
        assert_eq!(
            differences(&current, &derived),
            [
                r#"EksClusterNames: unset -> "dev""#,
                r#"ReplicaClusterIds: "a" -> "a,b""#
            ]
        );
    }
}
