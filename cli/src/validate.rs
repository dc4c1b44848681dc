//! `offpeak validate`: accept the schedule, and the masking rules file its `masked_refresh.rules`
//! names, with a one-line summary; or list every error of the first file that has any, as
//! `PATH:LINE:COL: message` (exit 2). The rules are parsed by the masking engine's own parser
//! ([`offpeak_masking::rules::load`]), so a typo there fails here, not at the refresh's 03:00 start.
//! Whether the rules fit a database is decided against its live catalog (`offpeak mask`, the
//! refresh), not here.

use std::path::Path;

use offpeak_masking::rules;
use offpeak_shared::calendar::{Kind, targets};
use offpeak_shared::config::{self, Schedule};

use crate::failure::Failure;

pub fn run(path: &Path) -> Result<(), Failure> {
    let schedule = config::load(path)?;
    let rules = match &schedule.masked_refresh {
        Some(refresh) => format!(", {}", rules_summary(&refresh.rules)?),
        None => String::new(),
    };
    println!("{}: ok, {}{rules}", path.display(), summary(&schedule));
    Ok(())
}

/// `masking rules infra/masking.yaml: 5 tables`, or every error in the rules file.
fn rules_summary(path: &Path) -> Result<String, Failure> {
    let rules = rules::load(path).map_err(|e| Failure::BadInput(e.to_string()))?;
    let n = rules.tables.len();
    let tables = if n == 1 { "table" } else { "tables" };
    Ok(format!("masking rules {}: {n} {tables}", path.display()))
}

/// `2 Aurora clusters, 4 node groups, 1 ASG, masked refresh prod-aurora -> dev-aurora`.
fn summary(schedule: &Schedule) -> String {
    let all = targets(schedule);
    let count = |kind| all.iter().filter(|t| t.kind == kind).count();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        plural(
            count(Kind::AuroraReplicas),
            "Aurora cluster",
            "Aurora clusters",
        ),
        plural(count(Kind::EksNodegroup), "node group", "node groups"),
        plural(
            count(Kind::EksAsg),
            "Auto Scaling group",
            "Auto Scaling groups",
        ),
    ];
    parts.push(match &schedule.masked_refresh {
        Some(r) => format!(
            "masked refresh {} -> {}",
            r.source_cluster, r.target_cluster
        ),
        None => "no masked refresh".to_owned(),
    });
    format!("{} (timezone {})", parts.join(", "), schedule.timezone)
}
