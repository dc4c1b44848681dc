//! `offpeak override <TARGET> <STATE> [--until RFC3339] [--config PATH]`: hold one target in a
//! state until a time, whatever the schedule says, or end its override early (`clear`).
//!
//! The target decides the function: its kind in the schedule (an Aurora cluster, an EKS node
//! group or Auto Scaling group, the masked refresh's dev cluster). The state must fit that kind:
//! `replicas:N` (Aurora: exactly N offpeak replicas, 0 allowed), `awake` | `asleep` (EKS), `skip`
//! | `refresh` (masked refresh), or `clear` (any). The function's library checks the rest (an
//! `--until` after now and at most 31 days ahead; for Aurora, an N the cluster's reader limit
//! allows) and stores the override; the next tick applies it, and announces its end.
//!
//! Exit 2 (bad input, nothing written): an unknown target (the known ones are listed), a state
//! that does not fit the target, `--until` missing (or given with `clear`), or refused by the
//! function. A stored override is announced on the stack's topic (`OFFPEAK_TOPIC_ARN`) as
//! started; a failed publish is a warning, the override stands.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use clap::Args;
use offpeak_shared::aws::AwsCtx;
use offpeak_shared::calendar::{self, Kind};
use offpeak_shared::config::{self, Schedule};
use offpeak_shared::error_chain::chain;
use offpeak_shared::event::{Override, OverrideState};
use offpeak_shared::lambda::Ctx;
use offpeak_shared::notify::Notification;

use crate::args::ConfigArg;
use crate::failure::Failure;
use crate::tick_cmd::{Function, failure};

#[derive(Args, Debug)]
pub struct OverrideArgs {
    /// The target id: an Aurora cluster, <cluster>/<nodegroup> or an Auto Scaling group name, or
    /// the masked refresh's dev cluster
    pub target: String,
    /// awake | asleep (EKS), replicas:N (Aurora), skip | refresh (masked refresh), clear (any)
    #[arg(value_parser = parse_state)]
    pub state: OverrideState,
    /// When the override ends (RFC 3339); not with clear
    #[arg(long)]
    pub until: Option<DateTime<FixedOffset>>,
    #[command(flatten)]
    pub config: ConfigArg,
}

fn parse_state(text: &str) -> Result<OverrideState, String> {
    text.parse()
}

/// What an override did, as the command prints it (and the notice it sends).
struct Done {
    line: String,
    started: Option<Notification>,
}

pub async fn run(args: OverrideArgs, now: DateTime<Utc>) -> Result<(), Failure> {
    check_until(&args)?;
    let schedule = config::load(&args.config.path())?;
    // Settled before AWS is even configured: a wrong target or state never gets further.
    let (function, target) = function_for(&schedule, &args.target, args.state)?;
    let ctx = Ctx {
        aws: AwsCtx::load().await,
        schedule: Arc::new(schedule),
    };
    let o = Override {
        target,
        state: args.state,
        until: args.until,
        for_: None,
    };
    let done = match function {
        Function::AuroraReplicas => aurora(&ctx, &o, now).await?,
        Function::EksNodegroups => eks(&ctx, &o, now).await?,
        Function::MaskedRefresh => refresh(&ctx, &o, now).await?,
    };
    if let Some(notice) = &done.started
        && let Err(err) = ctx.aws.notifier().notify(notice).await
    {
        eprintln!("warning: {}", chain(&err));
    }
    println!("{}", done.line);
    Ok(())
}

/// `--until` is required, except for `clear`, which ends the override now and takes none.
fn check_until(args: &OverrideArgs) -> Result<(), Failure> {
    match (args.state, args.until) {
        (OverrideState::Clear, Some(_)) => Err(Failure::BadInput(
            "clear ends the target's override now: it takes no --until".into(),
        )),
        (OverrideState::Clear, None) | (_, Some(_)) => Ok(()),
        (state, None) => Err(Failure::BadInput(format!(
            "override {state} needs --until RFC3339 (when it ends, at most 31 days ahead)"
        ))),
    }
}

/// The function whose target `target` is, and its id as the schedule spells it; bad input when
/// the schedule has no such target or `state` does not fit its kind.
fn function_for(
    schedule: &Schedule,
    target: &str,
    state: OverrideState,
) -> Result<(Function, String), Failure> {
    let targets = calendar::targets(schedule);
    let mut found: Vec<(Function, String)> = targets
        .iter()
        .filter(|t| names(t.kind, &t.id, target))
        .map(|t| (function_of(t.kind), t.id.clone()))
        .collect();
    // A node group of a `nodegroups: ["*"]` cluster: its node groups are known only at tick time.
    if found.is_empty() && offpeak_eks_nodegroups::targets::resolve(schedule, target).is_some() {
        found.push((Function::EksNodegroups, target.to_owned()));
    }
    if found.is_empty() {
        let known: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        return Err(Failure::BadInput(format!(
            "unknown override target {target}; the schedule's targets are: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    let fits = |(f, _): &&(Function, String)| state.function().is_none_or(|s| s == f.name());
    match found.iter().filter(fits).collect::<Vec<_>>()[..] {
        [one] => Ok(one.clone()),
        [] => Err(Failure::BadInput(format!(
            "override state {state} does not fit {target}: it is {}",
            found
                .iter()
                .map(|(f, _)| format!("a target of {}, which takes {}", f.name(), takes(*f)))
                .collect::<Vec<_>>()
                .join(", and ")
        ))),
        _ => Err(Failure::BadInput(format!(
            "{target} is a target of each of {}: clear cannot tell whose override to end",
            found
                .iter()
                .map(|(f, _)| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Whether target `id` of `kind` is what `given` names: RDS cluster ids are case-insensitive.
fn names(kind: Kind, id: &str, given: &str) -> bool {
    match kind {
        Kind::AuroraReplicas | Kind::MaskedRefresh => id.eq_ignore_ascii_case(given),
        Kind::EksNodegroup | Kind::EksAsg => id == given,
    }
}

fn function_of(kind: Kind) -> Function {
    match kind {
        Kind::AuroraReplicas => Function::AuroraReplicas,
        Kind::EksNodegroup | Kind::EksAsg => Function::EksNodegroups,
        Kind::MaskedRefresh => Function::MaskedRefresh,
    }
}

fn takes(function: Function) -> &'static str {
    match function {
        Function::AuroraReplicas => "replicas:N or clear",
        Function::EksNodegroups => "awake, asleep or clear",
        Function::MaskedRefresh => "skip, refresh or clear",
    }
}

async fn aurora(ctx: &Ctx, o: &Override, now: DateTime<Utc>) -> Result<Done, Failure> {
    use offpeak_aurora_replicas::{Overridden, notices, set_override};
    let outcome = set_override(ctx, o, now)
        .await
        .map_err(|e| failure(&e, e.is_bad_input()))?;
    Ok(match outcome {
        Overridden::Held(held) => Done {
            line: held_line(&o.target, &held.state.to_string(), held.until),
            started: Some(notices::override_started(&o.target, &held)),
        },
        Overridden::Cleared(held) => cleared(&o.target, &held.state.to_string(), held.until),
        Overridden::NothingToClear => nothing_to_clear(&o.target),
    })
}

/// The masked refresh records the override and sends its own notice, so `started` stays empty.
async fn refresh(ctx: &Ctx, o: &Override, now: DateTime<Utc>) -> Result<Done, Failure> {
    let until = o.until.map(|u| u.with_timezone(&Utc));
    let recorded = offpeak_masked_refresh::set_override(ctx, &o.target, o.state, until, now)
        .await
        .map_err(|e| failure(&e, e.is_bad_input()))?;
    Ok(Done {
        line: recorded.to_string(),
        started: None,
    })
}

async fn eks(ctx: &Ctx, o: &Override, now: DateTime<Utc>) -> Result<Done, Failure> {
    use offpeak_eks_nodegroups::{Overridden, notify, set_override};
    let outcome = set_override(ctx, o, now)
        .await
        .map_err(|e| failure(&e, e.is_bad_input()))?;
    Ok(match outcome {
        Overridden::Held(held) => Done {
            line: held_line(&o.target, held.state.as_str(), held.until),
            started: Some(notify::override_started(&o.target, held.state, held.until)),
        },
        Overridden::Cleared(held) => cleared(&o.target, held.state.as_str(), held.until),
        Overridden::NothingToClear => nothing_to_clear(&o.target),
    })
}

fn held_line(target: &str, state: &str, until: DateTime<Utc>) -> String {
    format!(
        "{target}: held {state} until {}; the next tick applies it (offpeak override {target} clear ends it early)",
        time(until)
    )
}

fn cleared(target: &str, state: &str, until: DateTime<Utc>) -> Done {
    Done {
        line: format!(
            "{target}: override {state} (until {}) cleared; the next tick follows the schedule and announces it",
            time(until)
        ),
        started: None,
    }
}

fn nothing_to_clear(target: &str) -> Done {
    Done {
        line: format!("{target}: no override to clear; nothing changed"),
        started: None,
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const YAML: &str = r#"
timezone: Asia/Tokyo
aurora_replicas:
  - cluster: Shop
    windows:
      - { days: daily, start: "18:30", end: "23:30", replicas: 2 }
eks_nodegroups:
  - cluster: dev-eks
    nodegroups: [app]
    autoscaling_groups: [dev-legacy]
    sleep:
      - { from: "fri 22:00", to: "mon 07:30" }
  - cluster: sandbox
    nodegroups: ["*"]
    sleep:
      - { from: "fri 22:00", to: "mon 07:30" }
"#;

    fn schedule() -> Schedule {
        offpeak_shared::config::parse_str(YAML, Path::new("t.yaml")).unwrap()
    }

    fn state(text: &str) -> OverrideState {
        text.parse().unwrap()
    }

    #[test]
    fn the_target_decides_the_function() {
        let s = schedule();
        let cases = [
            ("shop", "replicas:0", Function::AuroraReplicas, "Shop"),
            ("Shop", "clear", Function::AuroraReplicas, "Shop"),
            (
                "dev-eks/app",
                "awake",
                Function::EksNodegroups,
                "dev-eks/app",
            ),
            ("dev-legacy", "clear", Function::EksNodegroups, "dev-legacy"),
            (
                "sandbox/web",
                "asleep",
                Function::EksNodegroups,
                "sandbox/web",
            ),
        ];
        for (target, st, function, id) in cases {
            let got = function_for(&s, target, state(st)).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(got, (function, id.to_owned()), "{target} {st}");
        }
    }

    #[test]
    fn an_unknown_target_or_a_state_that_does_not_fit_is_bad_input() {
        let s = schedule();
        let bad = |target: &str, st: &str| match function_for(&s, target, state(st)) {
            Err(Failure::BadInput(message)) => message,
            other => panic!("{target} {st}: {other:?}"),
        };
        let message = bad("ghost", "awake");
        assert!(
            message
                .contains("the schedule's targets are: Shop, dev-eks/app, dev-legacy, sandbox/*"),
            "{message}"
        );
        let message = bad("shop", "awake");
        assert!(
            message.contains("a target of aurora-replicas, which takes replicas:N or clear"),
            "{message}"
        );
        let message = bad("dev-eks/app", "replicas:2");
        assert!(
            message.contains("takes awake, asleep or clear"),
            "{message}"
        );
        assert!(bad("dev-eks/App", "awake").contains("unknown override target"));
    }

    #[test]
    fn until_is_required_except_for_clear_which_takes_none() {
        let args = |st: &str, until: Option<&str>| OverrideArgs {
            target: "shop".into(),
            state: state(st),
            until: until.map(|u| DateTime::parse_from_rfc3339(u).unwrap()),
            config: crate::args::ConfigArg::default(),
        };
        let until = Some("2026-11-28T18:00:00+09:00");
        assert!(check_until(&args("replicas:1", until)).is_ok());
        assert!(check_until(&args("clear", None)).is_ok());
        for (st, u) in [("replicas:1", None), ("awake", None), ("clear", until)] {
            assert!(
                matches!(check_until(&args(st, u)), Err(Failure::BadInput(_))),
                "{st} {u:?}"
            );
        }
    }
}
