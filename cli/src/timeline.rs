//! `offpeak timeline`: a week at a glance. One block per day, one row per target, one character
//! per half hour, in the schedule's zone. What a person checks after editing the YAML.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use offpeak_shared::calendar::{self, Kind, State, Target};
use offpeak_shared::config;

use crate::args::TimelineArgs;
use crate::failure::Failure;

const SLOTS_PER_DAY: usize = 48;
const SLOT: TimeDelta = TimeDelta::minutes(30);

pub fn run(args: &TimelineArgs, now: DateTime<Utc>) -> Result<(), Failure> {
    let schedule = config::load(&args.config.path())?;
    let zone = schedule.timezone;
    let from = args
        .from
        .unwrap_or_else(|| now.with_timezone(&zone).date_naive());
    let targets = calendar::targets(&schedule);
    print!("{}", render(&targets, zone, from, args.days));
    Ok(())
}

/// The whole chart as text.
pub fn render(targets: &[Target<'_>], zone: Tz, from: NaiveDate, days: u16) -> String {
    let labels: Vec<String> = targets.iter().map(label).collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    let last = from + TimeDelta::days(i64::from(days) - 1);
    let mut out = format!(
        "offpeak timeline, times in {zone}, {} to {}\n\
         digits: Aurora replicas wanted   █ asleep / refresh window open   ▌ part of the half hour   · idle\n\n",
        from.format("%a %Y-%m-%d"),
        last.format("%a %Y-%m-%d"),
    );
    for date in from.iter_days().take(usize::from(days)) {
        out += &format!(
            "{:<width$}  {}\n",
            date.format("%a %Y-%m-%d").to_string(),
            hour_ruler()
        );
        for (target, label) in targets.iter().zip(&labels) {
            out += &format!("{label:<width$}  {}\n", row(target, zone, date));
        }
        out.push('\n');
    }
    out
}

fn label(target: &Target<'_>) -> String {
    let what = match target.kind {
        Kind::AuroraReplicas => "replicas",
        Kind::EksNodegroup | Kind::EksAsg => "asleep",
        Kind::MaskedRefresh => "refresh",
    };
    format!("  {what:<8} {}", target.id)
}

/// `00    03    06 ...`: an hour mark every three hours (six half-hour slots).
fn hour_ruler() -> String {
    (0..24)
        .step_by(3)
        .map(|h| format!("{h:02}    "))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn row(target: &Target<'_>, zone: Tz, date: NaiveDate) -> String {
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists as a naive time");
    (0..SLOTS_PER_DAY)
        .map(|i| cell(target, zone, midnight + SLOT * i as i32))
        .collect()
}

/// One half hour starting at local `wall`: a glyph if the target is active throughout it,
/// `▌` if only for part of it, `·` if not at all, blank if the clock skips it (spring forward).
fn cell(target: &Target<'_>, zone: Tz, wall: NaiveDateTime) -> char {
    let start = match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => return ' ',
    };
    let samples: Vec<State> = (0..3)
        .map(|k| target.state_at(start + TimeDelta::minutes(10 * k)))
        .collect();
    let active = samples.iter().filter(|s| s.is_active()).count();
    match active {
        0 => '·',
        n if n < samples.len() => '▌',
        _ => glyph(&samples),
    }
}

fn glyph(samples: &[State]) -> char {
    let replicas = samples.iter().filter_map(|s| match s {
        State::Replicas(n) => Some(*n),
        _ => None,
    });
    match replicas.max() {
        Some(n @ 1..=9) => char::from(b'0' + n),
        Some(_) => '+',
        None => '█',
    }
}
