//! `offpeak validate`: accept the schedule with a one-line summary, or list every error.

use std::path::Path;

use offpeak_shared::calendar::{Kind, targets};
use offpeak_shared::config::{self, Schedule};

use crate::failure::Failure;

pub fn run(path: &Path) -> Result<(), Failure> {
    let schedule = config::load(path)?;
    println!("{}: ok, {}", path.display(), summary(&schedule));
    Ok(())
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
