//! `offpeak timeline`: a week at a glance. One block per day, one row per target, one character
//! per half hour, in the schedule's zone; then each target's total over the days shown
//! (`offpeak_shared::savings`, exact to the second): replica-hours at peak (Aurora), hours asleep
//! (EKS), hours the refresh window is open. What a person checks after editing the YAML.
//!
//! Offline: no AWS call, unless `--state` asks for instance-hours, which reads each EKS target's
//! saved pre-sleep size from the state table ([`sizes`]).

mod sizes;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use offpeak_shared::calendar::{self, Kind, State, Target};
use offpeak_shared::config;
use offpeak_shared::savings::{self, Total};

use crate::args::TimelineArgs;
use crate::failure::Failure;
use sizes::{Size, Sizes};

const SLOTS_PER_DAY: usize = 48;
const SLOT: TimeDelta = TimeDelta::minutes(30);

pub fn run(args: &TimelineArgs, now: DateTime<Utc>) -> Result<(), Failure> {
    let schedule = config::load(&args.config.path())?;
    let zone = schedule.timezone;
    let from = args
        .from
        .unwrap_or_else(|| now.with_timezone(&zone).date_naive());
    let targets = calendar::targets(&schedule);
    let chart = render(&targets, zone, from, args.days);
    let totals = savings::totals(&targets, zone, from, args.days);
    if !args.state {
        print!(
            "{chart}{}",
            render_totals(&targets, &totals, from, args.days, None)
        );
        return Ok(());
    }
    crate::block_on(async {
        let sizes = sizes::read(&targets).await?;
        let block = render_totals(&targets, &totals, from, args.days, Some(&sizes));
        print!("{chart}{block}");
        Ok(())
    })
}

/// The whole chart as text.
pub fn render(targets: &[Target<'_>], zone: Tz, from: NaiveDate, days: u16) -> String {
    let labels: Vec<String> = targets.iter().map(label).collect();
    let width = label_width(&labels);
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

/// The totals after the chart: one line per target, in the chart's order and alignment.
/// `sizes` (from `--state`) adds instance-hours to the EKS lines.
pub fn render_totals(
    targets: &[Target<'_>],
    totals: &[Total],
    from: NaiveDate,
    days: u16,
    sizes: Option<&Sizes>,
) -> String {
    let labels: Vec<String> = targets.iter().map(label).collect();
    let width = label_width(&labels);
    let last = from + TimeDelta::days(i64::from(days) - 1);
    let what = if days == 7 {
        "weekly totals".to_owned()
    } else {
        format!("totals over {days} days")
    };
    let mut out = format!(
        "{what}, {} to {}\n",
        from.format("%a %Y-%m-%d"),
        last.format("%a %Y-%m-%d")
    );
    let mut unknown = false;
    for (total, label) in totals.iter().zip(&labels) {
        let size = sizes.map_or(Ok(String::new()), |s| size_note(total, s));
        unknown |= size.is_err();
        out += &format!(
            "{label:<width$}  {:>7} {}{}\n",
            figure(total.hours()),
            unit(total.kind),
            size.unwrap_or_else(|e| e)
        );
    }
    if unknown {
        out += "size unknown: the state table keeps a node group's size only while offpeak holds it asleep\n";
    }
    out
}

/// What `--state` adds to an EKS total: instance-hours at its saved size, or (as `Err`) that the
/// size is unknown. Nothing for other kinds.
fn size_note(total: &Total, sizes: &Sizes) -> Result<String, String> {
    if !matches!(total.kind, Kind::EksNodegroup | Kind::EksAsg) {
        return Ok(String::new());
    }
    match sizes.get(&total.target) {
        Some(Size::Nodes(n)) => Ok(format!(
            " (≈ {} instance-hours at {n} node{})",
            figure(total.hours() * *n as f64),
            if *n == 1 { "" } else { "s" }
        )),
        Some(Size::Unknown) | None => Err(" (size unknown)".to_owned()),
    }
}

/// What a total counts, after its number.
fn unit(kind: Kind) -> &'static str {
    match kind {
        Kind::AuroraReplicas => "replica-hours at peak",
        Kind::EksNodegroup | Kind::EksAsg => "h asleep",
        Kind::MaskedRefresh => "h refresh window open",
    }
}

/// Hours with one decimal, or two when the value needs them (a quarter hour: `87.25`).
fn figure(hours: f64) -> String {
    let tenths = hours * 10.0;
    if (tenths - tenths.round()).abs() < 1e-9 {
        format!("{hours:.1}")
    } else {
        format!("{hours:.2}")
    }
}

fn label_width(labels: &[String]) -> usize {
    labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(14)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_a_quarter_hour() {
        let cases = [
            (79.5, "79.5"),
            (87.25, "87.25"),
            (150.0, "150.0"),
            (0.0, "0.0"),
            (1.0 / 3.0, "0.33"),
        ];
        for (hours, text) in cases {
            assert_eq!(figure(hours), text, "{hours}");
        }
    }

    #[test]
    fn only_seven_days_make_weekly_totals() {
        let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let heading = |days| render_totals(&[], &[], monday, days, None);
        assert_eq!(
            heading(7),
            "weekly totals, Mon 2026-11-30 to Sun 2026-12-06\n"
        );
        assert_eq!(
            heading(3),
            "totals over 3 days, Mon 2026-11-30 to Wed 2026-12-02\n"
        );
    }
}
