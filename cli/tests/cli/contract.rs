//! The `offpeak` command's contract (design.md, "offpeak CLI"): exit codes, error format,
//! the `desired --json` shape, and the shipped schedule.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn offpeak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offpeak"))
        .args(args)
        .current_dir(repo())
        .env_remove("OFFPEAK_CONFIG")
        .output()
        .expect("the offpeak binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `# expect: LINE:COL message` on a corpus file's first line.
fn expectation(path: &Path) -> (String, String) {
    let source = std::fs::read_to_string(path).unwrap();
    let first = source.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
    let (loc, message) = rest.split_once(' ').unwrap();
    (loc.to_owned(), message.to_owned())
}

#[test]
fn the_shipped_schedule_validates() {
    let out = offpeak(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "infra/schedules.yaml: ok, 2 Aurora clusters, 3 node groups, 1 Auto Scaling group"
        ),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "a one-line summary: {stdout}");
}

#[test]
fn every_broken_config_is_rejected_at_its_line_and_column() {
    let dir = repo().join("tests/configs/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the corpus has {} files", files.len());
    for file in files {
        let rel = file
            .strip_prefix(repo())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (loc, message) = expectation(&file);
        let out = offpeak(&["validate", "--config", &rel]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{rel}: exit code; stderr: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{rel}: nothing on stdout");
        let wanted = format!("{rel}:{loc}: ");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&wanted) && l.contains(&message)),
            "{rel}: expected `{wanted}...{message}`, got:\n{stderr}"
        );
        for line in stderr.lines() {
            let mut parts = line.splitn(4, ':');
            let (path, l, c) = (parts.next(), parts.next(), parts.next());
            assert_eq!(
                path,
                Some(rel.as_str()),
                "{rel}: every line is PATH:LINE:COL: {line}"
            );
            assert!(
                l.is_some_and(|l| l.parse::<u32>().is_ok())
                    && c.is_some_and(|c| c.parse::<u32>().is_ok()),
                "{line}"
            );
        }
    }
}

#[test]
fn all_errors_are_reported_not_only_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.yaml");
    std::fs::write(
        &path,
        "timezone: Asia/Tokio\naurora_replicas:\n  - cluster: a\n    windows:\n      - { days: mon-fry, start: \"25:00\", end: \"11:00\", replicas: 16 }\n    typo: 1\n",
    )
    .unwrap();
    let p = path.to_string_lossy().into_owned();
    let out = offpeak(&["validate", "--config", &p]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let expected = [
        format!("{p}:1:11: unknown timezone `Asia/Tokio`"),
        format!("{p}:5:17: unknown day or calendar `mon-fry`"),
        format!("{p}:5:33: bad time `25:00`"),
        format!("{p}:5:66: replicas must be between 1 and 15, found 16"),
        format!("{p}:6:5: unknown key `typo`"),
    ];
    assert_lines_start_with(&stderr, &expected);
}

#[test]
fn a_missing_file_is_bad_input() {
    let out = offpeak(&["validate", "--config", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read schedule file does/not/exist.yaml"),
        "{}",
        text(&out.stderr)
    );
}

/// `stderr` has exactly one line per `expected` entry, each starting with it.
fn assert_lines_start_with(stderr: &str, expected: &[String]) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(want.as_str()),
            "expected `{want}`, got `{line}`"
        );
    }
}

/// A valid schedule whose masked refresh names `rules` (relative to the schedule), in `dir`.
fn schedule_naming_rules(dir: &Path, rules: &str) -> String {
    let path = dir.join("schedules.yaml");
    std::fs::write(
        &path,
        format!(
            "timezone: Asia/Tokyo\nmasked_refresh:\n  source_cluster: prod-aurora\n  target_cluster: dev-aurora\n  rules: {rules}\n  window: {{ days: daily, start: \"03:00\", end: \"06:00\" }}\n  dev_password_secret: offpeak/dev\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn validate_reports_every_error_in_the_masking_rules_the_schedule_names() {
    // GIVEN a valid schedule naming a rules file with a misspelt strategy and an unknown key
    let dir = tempfile::tempdir().unwrap();
    let config = schedule_naming_rules(dir.path(), "masking.yaml");
    std::fs::write(
        dir.path().join("masking.yaml"),
        "tables:\n  users:\n    keep: [id]\n    mask:\n      email: emial\n  orders: truncate\ncolour: blue\n",
    )
    .unwrap();

    // WHEN it is validated
    let out = offpeak(&["validate", "--config", &config]);

    // THEN it is bad input, with every error at its line and column in the rules file
    assert_eq!(out.status.code(), Some(2), "stdout: {}", text(&out.stdout));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let rules = dir
        .path()
        .join("masking.yaml")
        .to_string_lossy()
        .into_owned();
    let expected = [
        format!("{rules}:5:14: unknown masking strategy `emial`"),
        format!("{rules}:7:1: unknown key `colour` in the masking rules"),
    ];
    assert_lines_start_with(&text(&out.stderr), &expected);
}

#[test]
fn validate_names_a_missing_masking_rules_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = schedule_naming_rules(dir.path(), "rules/absent.yaml");
    let out = offpeak(&["validate", "--config", &config]);
    assert_eq!(out.status.code(), Some(2), "stdout: {}", text(&out.stdout));
    let missing = dir.path().join("rules/absent.yaml");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot read masking rules {}", missing.display())),
        "{stderr}"
    );
}

#[test]
fn the_shipped_schedules_and_their_masking_rules_validate() {
    for (config, rules) in [
        ("infra/schedules.yaml", "infra/masking.yaml"),
        ("infra/demo/schedules.yaml", "infra/demo/masking.yaml"),
    ] {
        let out = offpeak(&["validate", "--config", config]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{config}: {}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        let tail = stdout
            .trim_end()
            .split_once(&format!(", masking rules {rules}: "))
            .map(|(_, tail)| tail)
            .unwrap_or_else(|| panic!("{config}: no rules summary in {stdout}"));
        let tables = tail.strip_suffix(" tables").unwrap_or(tail);
        assert!(tables.parse::<u32>().is_ok_and(|n| n > 0), "{stdout}");
        assert_eq!(stdout.lines().count(), 1, "a one-line summary: {stdout}");
    }
}

#[test]
fn desired_json_has_the_contract_shape() {
    // GIVEN Friday 18:20 JST: inside prod-aurora's 18:15 lead, before the dev-eks nights.
    let out = offpeak(&["desired", "--at", "2026-11-27T18:20:00+09:00", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    // THEN the top level is exactly {at, targets}, `at` in UTC.
    let top: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["at", "targets"]);
    assert_eq!(doc["at"], "2026-11-27T09:20:00Z");
    let targets = doc["targets"].as_array().unwrap();
    let essentials: Vec<Value> = targets
        .iter()
        .map(|t| {
            let obj = t.as_object().unwrap();
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            assert_eq!(&keys[..2], ["kind", "target"], "kind and target come first: {t}");
            let state_key = keys[2];
            serde_json::json!({ "kind": obj["kind"], "target": obj["target"], state_key: obj[state_key] })
        })
        .collect();
    assert_eq!(
        Value::Array(essentials),
        serde_json::json!([
            {"kind": "aurora-replicas", "target": "prod-aurora", "replicas": 2},
            {"kind": "aurora-replicas", "target": "prod-aurora-us", "replicas": 0},
            {"kind": "eks-nodegroup", "target": "dev-eks/app", "state": "awake"},
            {"kind": "eks-nodegroup", "target": "dev-eks/batch", "state": "awake"},
            {"kind": "eks-asg", "target": "dev-legacy", "state": "awake"},
            {"kind": "eks-nodegroup", "target": "sandbox-eks/*", "state": "awake"},
            {"kind": "masked-refresh", "target": "dev-aurora", "window": "closed"},
        ])
    );
    assert_eq!(
        targets[0]["next_change"], "2026-11-27T14:30:00Z",
        "prod-aurora drops to 0 at 23:30 JST"
    );
}

#[test]
fn desired_rejects_a_malformed_instant() {
    let out = offpeak(&["desired", "--at", "tomorrow"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn timeline_draws_a_row_per_target_per_day() {
    let out = offpeak(&["timeline", "--from", "2026-11-27", "--days", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let row = |day: &str, label: &str| -> String {
        let mut lines = stdout.lines().skip_while(|l| !l.starts_with(day)).skip(1);
        let line = lines
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no row {label} on {day}:\n{stdout}"));
        line.split_whitespace().last().unwrap().to_owned()
    };
    // Friday: prod-aurora 2 replicas from 18:15 (lead) to 23:30, then the 23:00-02:00 window's 1.
    let aurora = row("Fri 2026-11-27 ", "prod-aurora ");
    assert_eq!(aurora.chars().count(), 48, "one character per half hour");
    assert_eq!(aurora, format!("{}▌{}1", "·".repeat(36), "2".repeat(10)));
    // Saturday: dev-eks/app asleep all day (the weekend span).
    assert_eq!(row("Sat 2026-11-28 ", "dev-eks/app"), "█".repeat(48));
    // The refresh window 03:00-06:00 every day.
    assert_eq!(
        row("Sat 2026-11-28 ", "refresh"),
        format!("{}{}{}", "·".repeat(6), "█".repeat(6), "·".repeat(36))
    );
}

#[test]
fn the_shipped_samconfig_follows_the_shipped_schedule() {
    let out = offpeak(&["deploy-params", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn deploy_params_derives_the_target_lists_and_check_refuses_a_stale_samconfig() {
    // GIVEN a copy of the shipped schedule, rules and samconfig (with a parameter of the account's)
    let dir = tempfile::tempdir().unwrap();
    for name in ["schedules.yaml", "masking.yaml"] {
        std::fs::copy(repo().join("infra").join(name), dir.path().join(name)).unwrap();
    }
    let samconfig = dir.path().join("samconfig.toml");
    let shipped = std::fs::read_to_string(repo().join("samconfig.toml")).unwrap();
    let without_overrides: String = shipped
        .lines()
        .filter(|l| !l.starts_with("parameter_overrides"))
        .map(|l| format!("{l}\n"))
        .collect();
    let with_vpc = without_overrides.replace(
        "[default.deploy.parameters]\n",
        "[default.deploy.parameters]\nparameter_overrides = \"VpcId=\\\"vpc-0123\\\"\"\n",
    );
    std::fs::write(&samconfig, with_vpc).unwrap();
    let schedule = dir.path().join("schedules.yaml");
    let (config, sam) = (
        schedule.to_string_lossy().into_owned(),
        samconfig.to_string_lossy().into_owned(),
    );
    let args = |extra: &[&'static str]| {
        let mut v = vec!["deploy-params", "--config", &config, "--samconfig", &sam];
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        offpeak(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // WHEN the schedule gains a cluster
    let text_before = std::fs::read_to_string(&schedule).unwrap();
    let edited = text_before.replacen(
        "aurora_replicas:\n",
        "aurora_replicas:\n  - cluster: prod-new\n    windows:\n      - { days: daily, start: \"10:00\", end: \"11:00\", replicas: 1 }\n",
        1,
    );
    std::fs::write(&schedule, edited).unwrap();

    // THEN --check refuses, naming the parameter, and changes nothing
    let check = run(&["--check"]);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check.stdout));
    let stderr = text(&check.stderr);
    assert!(
        stderr.contains("ReplicaClusterIds: unset -> \"prod-new,"),
        "{stderr}"
    );
    assert!(
        !std::fs::read_to_string(&samconfig)
            .unwrap()
            .contains("prod-new")
    );

    // WHEN deploy-params writes them
    let write = run(&[]);
    assert_eq!(write.status.code(), Some(0), "{}", text(&write.stderr));

    // THEN samconfig names the new cluster, keeps the account's parameter and its comments, and
    // --check passes
    let written = std::fs::read_to_string(&samconfig).unwrap();
    assert!(
        written.contains(r#"ReplicaClusterIds="prod-new,prod-aurora,prod-aurora-us""#),
        "{written}"
    );
    assert!(
        written.contains(r#"CloneIdPrefix="dev-aurora-offpeak-""#),
        "{written}"
    );
    assert!(written.contains(r#"VpcId="vpc-0123""#), "{written}");
    assert!(
        written.contains("# SAM CLI settings for offpeak"),
        "{written}"
    );
    assert_eq!(run(&["--check"]).status.code(), Some(0));
}

/// `offpeak override` with the shipped schedule, with AWS pointed at a port nothing listens on:
/// reaching AWS would fail with exit 1, so exit 2 proves the refusal came first.
fn override_without_aws(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offpeak"))
        .arg("override")
        .args(args)
        .current_dir(repo())
        .env_remove("OFFPEAK_CONFIG")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "ap-northeast-1")
        .env("OFFPEAK_STATE_TABLE", "offpeak-state")
        .output()
        .expect("the offpeak binary runs")
}

#[test]
fn override_refuses_what_does_not_fit_the_target_before_any_aws_call() {
    let until = "2026-12-01T18:00:00+09:00";
    let cases: [(&[&str], &str); 8] = [
        (
            &["prod-aurora-eu", "replicas:1", "--until", until],
            "unknown override target prod-aurora-eu; the schedule's targets are: prod-aurora, prod-aurora-us, dev-eks/app, dev-eks/batch, dev-legacy, sandbox-eks/*, dev-aurora",
        ),
        (
            &["prod-aurora", "awake", "--until", until],
            "a target of aurora-replicas, which takes replicas:N or clear",
        ),
        (
            &["dev-eks/app", "replicas:2", "--until", until],
            "a target of eks-nodegroups, which takes awake, asleep or clear",
        ),
        (
            &["dev-aurora", "awake", "--until", until],
            "a target of masked-refresh, which takes skip, refresh or clear",
        ),
        (
            &["dev-aurora", "skip", "--until", until],
            "which is not after now",
        ),
        (&["prod-aurora", "replicas:1"], "needs --until"),
        (
            &["prod-aurora", "clear", "--until", until],
            "takes no --until",
        ),
        (
            &["prod-aurora", "replicas:two", "--until", until],
            "unknown override state \"replicas:two\"",
        ),
    ];
    for (args, needle) in cases {
        let out = override_without_aws(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn mask_help_states_the_promise_and_its_limits() {
    let out = Command::new(env!("CARGO_BIN_EXE_offpeak"))
        .args(["mask", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // Compared with white space folded: clap may wrap the text to a terminal's width.
    let help = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "Exit 0 means masked and verified",
        "old row versions, TOAST, dropped",
        "kept tables name their columns",
        "every value in a JSON document was classified",
        "the run refuses or completes",
        "Exit 2: refused before any change",
        "Not covered here: the server's WAL and backups",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
