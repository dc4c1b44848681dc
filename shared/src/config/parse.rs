//! The grammar of `infra/schedules.yaml`: turns a positioned YAML tree into a [`Schedule`],
//! recording every error (with its position) rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;

use super::model::{
    AuroraTarget, DaySet, EksTarget, MaskedRefresh, NodeGroups, ReplicaWindow, Schedule, Span,
    Window,
};
use super::tokens::{self, Edge};
use crate::yaml::{Fields, Node, Pos, Value, Walker};

type Calendars = BTreeMap<String, BTreeSet<NaiveDate>>;

const ALL_DAYS: u8 = 0b111_1111;
const WEEKDAYS: u8 = 0b001_1111;
const WEEKENDS: u8 = 0b110_0000;

/// Walks a whole document. `base_dir` is where relative paths (the masking rules) are resolved.
pub fn schedule(root: &Node, base_dir: &Path) -> Result<Schedule, Vec<(Pos, String)>> {
    let mut g = Grammar {
        w: Walker::default(),
        calendars: Calendars::new(),
        zone: None,
    };
    let parsed = g.schedule(root, base_dir);
    match parsed {
        Some(schedule) if g.w.errors.is_empty() => Ok(schedule),
        _ => {
            let mut errors = g.w.errors;
            errors.sort_by_key(|(pos, _)| (pos.line, pos.col));
            Err(errors)
        }
    }
}

struct Grammar {
    w: Walker,
    calendars: Calendars,
    /// The top-level zone, default for every target.
    zone: Option<Tz>,
}

const TOP_KEYS: &[&str] = &[
    "timezone",
    "calendars",
    "aurora_replicas",
    "eks_nodegroups",
    "masked_refresh",
];
const WINDOW_KEYS: &[&str] = &["days", "start", "end", "from", "to", "except"];
const AURORA_KEYS: &[&str] = &[
    "cluster",
    "instance_class",
    "lead_time",
    "windows",
    "timezone",
    "enforce",
];
const AURORA_WINDOW_KEYS: &[&str] = &["days", "start", "end", "from", "to", "except", "replicas"];
const EKS_KEYS: &[&str] = &[
    "cluster",
    "nodegroups",
    "autoscaling_groups",
    "sleep",
    "timezone",
    "enforce",
];
const REFRESH_KEYS: &[&str] = &[
    "source_cluster",
    "target_cluster",
    "rules",
    "window",
    "instance_class",
    "quarantine_security_groups",
    "dev_security_groups",
    "dev_password_secret",
    "keep_previous",
    "timezone",
    "enforce",
];

impl Grammar {
    fn schedule(&mut self, root: &Node, base_dir: &Path) -> Option<Schedule> {
        let top = self.w.fields(root, "the schedule", TOP_KEYS)?;
        self.zone = self
            .w
            .required(&top, "timezone", "the schedule")
            .and_then(|n| self.zone(n));
        if let Some(node) = top.get("calendars") {
            self.calendars(node);
        }
        let aurora = self.targets(top.get("aurora_replicas"), "aurora_replicas", Self::aurora);
        let eks = self.targets(top.get("eks_nodegroups"), "eks_nodegroups", Self::eks);
        let refresh = match top.get("masked_refresh") {
            Some(node) => self.masked_refresh(node, base_dir).map(Some),
            None => Some(None),
        };
        if let (Some(a), Some(e)) = (&aurora, &eks) {
            self.check_duplicates(a, e);
        }
        Some(Schedule {
            timezone: self.zone?,
            aurora_replicas: aurora?.into_iter().map(|(_, t)| t).collect(),
            eks_nodegroups: eks?.into_iter().map(|(_, t)| t).collect(),
            masked_refresh: refresh?,
        })
    }

    fn zone(&mut self, node: &Node) -> Option<Tz> {
        self.w.parsed(node, "timezone", |s| {
            s.parse::<Tz>().map_err(|_| {
                format!("unknown timezone `{s}`: expected an IANA name such as Asia/Tokyo")
            })
        })
    }

    /// A target's zone: its own `timezone`, else the schedule's.
    fn target_zone(&mut self, fields: &Fields) -> Option<Tz> {
        match fields.get("timezone") {
            Some(node) => self.zone(node),
            None => self.zone,
        }
    }

    fn enforce(&mut self, fields: &Fields) -> Option<bool> {
        fields
            .get("enforce")
            .map_or(Some(false), |n| self.w.boolean(n, "enforce"))
    }

    fn calendars(&mut self, node: &Node) {
        let Value::Map(entries) = &node.value else {
            self.w.error(
                node.pos,
                format!(
                    "calendars must be a mapping of name to dates, found {}",
                    node.value.kind()
                ),
            );
            return;
        };
        for (key, list) in entries {
            if self.calendars.contains_key(&key.name) {
                self.w
                    .error(key.pos, format!("duplicate calendar `{}`", key.name));
                continue;
            }
            if let Some(bad) = reserved_day_word(&key.name) {
                self.w.error(
                    key.pos,
                    format!("calendar name `{}` is {bad}; choose another name", key.name),
                );
            }
            let Some(items) = self.w.items(list, "calendar") else {
                continue;
            };
            let dates = items
                .iter()
                .filter_map(|n| self.w.parsed(n, "date", tokens::date))
                .collect();
            self.calendars.insert(key.name.clone(), dates);
        }
    }

    /// A job's list of targets; each element parsed by `one`, keeping its position.
    fn targets<T>(
        &mut self,
        node: Option<&Node>,
        what: &str,
        one: fn(&mut Self, &Node) -> Option<T>,
    ) -> Option<Vec<(Pos, T)>> {
        let Some(node) = node else {
            return Some(Vec::new());
        };
        let items = self.w.sequence(node, what)?;
        let parsed: Vec<Option<(Pos, T)>> = items
            .iter()
            .map(|n| one(self, n).map(|t| (n.pos, t)))
            .collect();
        parsed.into_iter().collect()
    }

    fn aurora(&mut self, node: &Node) -> Option<AuroraTarget> {
        let what = "an aurora_replicas target";
        let f = self.w.fields(node, what, AURORA_KEYS)?;
        let cluster = self
            .w
            .required(&f, "cluster", what)
            .and_then(|n| self.w.string(n, "cluster"));
        let instance_class = f
            .get("instance_class")
            .map(|n| self.w.string(n, "instance_class"));
        let lead_time = match f.get("lead_time") {
            Some(n) => self.w.parsed(n, "lead_time", tokens::duration),
            None => Some(chrono::TimeDelta::zero()),
        };
        let windows = self
            .w
            .required(&f, "windows", what)
            .and_then(|n| self.replica_windows(n));
        Some(AuroraTarget {
            timezone: self.target_zone(&f)?,
            enforce: self.enforce(&f)?,
            cluster: cluster?,
            instance_class: instance_class.map_or(Some(None), |c| c.map(Some))?,
            lead_time: lead_time?,
            windows: windows?,
        })
    }

    fn replica_windows(&mut self, node: &Node) -> Option<Vec<ReplicaWindow>> {
        let items = self.non_empty_sequence(node, "windows")?;
        let parsed: Vec<Option<ReplicaWindow>> = items
            .iter()
            .map(|n| {
                let f = self.w.fields(n, "a replica window", AURORA_WINDOW_KEYS)?;
                let window = self.window_fields(&f, "a replica window");
                let replicas = self.w.required(&f, "replicas", "a replica window");
                let replicas = replicas.and_then(|r| self.w.integer(r, "replicas", 1..=15));
                Some(ReplicaWindow {
                    window: window?,
                    replicas: u8::try_from(replicas?).ok()?,
                })
            })
            .collect();
        parsed.into_iter().collect()
    }

    fn eks(&mut self, node: &Node) -> Option<EksTarget> {
        let what = "an eks_nodegroups target";
        let f = self.w.fields(node, what, EKS_KEYS)?;
        let cluster = self
            .w
            .required(&f, "cluster", what)
            .and_then(|n| self.w.string(n, "cluster"));
        let nodegroups = match f.get("nodegroups") {
            Some(n) => self.nodegroups(n),
            None => Some(NodeGroups::Named(Vec::new())),
        };
        let asgs = match f.get("autoscaling_groups") {
            Some(n) => self
                .w
                .strings(n, "autoscaling_groups")
                .map(|v| v.into_iter().map(|(_, s)| s).collect()),
            None => Some(Vec::new()),
        };
        if !f.has("nodegroups") && !f.has("autoscaling_groups") {
            self.w.error(
                f.pos,
                "an eks_nodegroups target needs `nodegroups` or `autoscaling_groups`",
            );
        }
        let sleep = self
            .w
            .required(&f, "sleep", what)
            .and_then(|n| self.windows(n, "sleep"));
        Some(EksTarget {
            timezone: self.target_zone(&f)?,
            enforce: self.enforce(&f)?,
            cluster: cluster?,
            nodegroups: nodegroups?,
            autoscaling_groups: asgs?,
            sleep: sleep?,
        })
    }

    fn nodegroups(&mut self, node: &Node) -> Option<NodeGroups> {
        let names = self.w.strings(node, "nodegroups")?;
        let star = names.iter().any(|(_, n)| n == "*");
        if star && names.len() > 1 {
            self.w.error(
                node.pos,
                "nodegroups: `*` already means every node group; list no others with it",
            );
            return None;
        }
        if names.is_empty() {
            self.w
                .error(node.pos, "nodegroups must not be an empty list");
            return None;
        }
        Some(if star {
            NodeGroups::All
        } else {
            NodeGroups::Named(names.into_iter().map(|(_, n)| n).collect())
        })
    }

    fn masked_refresh(&mut self, node: &Node, base_dir: &Path) -> Option<MaskedRefresh> {
        let what = "masked_refresh";
        let f = self.w.fields(node, what, REFRESH_KEYS)?;
        let req =
            |g: &mut Self, key: &str| g.w.required(&f, key, what).and_then(|n| g.w.string(n, key));
        let source = req(self, "source_cluster");
        let target = req(self, "target_cluster");
        let rules = req(self, "rules");
        let secret = req(self, "dev_password_secret");
        let window = self.w.required(&f, "window", what).and_then(|n| {
            let wf = self.w.fields(n, "the refresh window", WINDOW_KEYS)?;
            self.window_fields(&wf, "the refresh window")
        });
        let groups = |g: &mut Self, key: &str| match f.get(key) {
            Some(n) => {
                g.w.strings(n, key)
                    .map(|v| v.into_iter().map(|(_, s)| s).collect())
            }
            None => Some(Vec::new()),
        };
        let quarantine = groups(self, "quarantine_security_groups");
        let dev_groups = groups(self, "dev_security_groups");
        let keep = f
            .get("keep_previous")
            .map_or(Some(0), |n| self.w.integer(n, "keep_previous", 0..=10));
        let class = f
            .get("instance_class")
            .map(|n| self.w.string(n, "instance_class"));
        if let (Some(s), Some(t), Some(n)) = (&source, &target, f.get("target_cluster"))
            && s == t
        {
            self.w.error(n.pos, format!("masked_refresh target_cluster `{t}` is the source cluster; production would be overwritten"));
        }
        Some(MaskedRefresh {
            timezone: self.target_zone(&f)?,
            enforce: self.enforce(&f)?,
            source_cluster: source?,
            target_cluster: target?,
            rules: base_dir.join(rules?),
            window: window?,
            instance_class: class.map_or(Some(None), |c| c.map(Some))?,
            quarantine_security_groups: quarantine?,
            dev_security_groups: dev_groups?,
            dev_password_secret: secret?,
            keep_previous: keep?,
        })
    }

    /// A non-empty list of windows without extra keys.
    fn windows(&mut self, node: &Node, what: &str) -> Option<Vec<Window>> {
        let items = self.non_empty_sequence(node, what)?;
        let parsed: Vec<Option<Window>> = items
            .iter()
            .map(|n| {
                let f = self.w.fields(n, "a window", WINDOW_KEYS)?;
                self.window_fields(&f, "a window")
            })
            .collect();
        parsed.into_iter().collect()
    }

    fn non_empty_sequence<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        let items = self.w.sequence(node, what)?;
        if items.is_empty() {
            self.w
                .error(node.pos, format!("{what} must list at least one window"));
            return None;
        }
        Some(items)
    }

    /// Either form of window, from an already key-checked mapping.
    fn window_fields(&mut self, f: &Fields, what: &str) -> Option<Window> {
        let except = match f.get("except") {
            Some(n) => self.day_set(n, "except"),
            None => Some(DaySet::default()),
        };
        let daily = f.has("days") || f.has("start") || f.has("end");
        let weekly = f.has("from") || f.has("to");
        let span = match (daily, weekly) {
            (true, true) => {
                self.w.error(
                    f.pos,
                    format!("{what} mixes `days`/`start`/`end` with `from`/`to`; use one form"),
                );
                None
            }
            (_, true) => self.weekly(f, what),
            _ => self.daily(f, what),
        };
        Some(Window {
            span: span?,
            except: except?,
        })
    }

    fn daily(&mut self, f: &Fields, what: &str) -> Option<Span> {
        let days = self
            .w
            .required(f, "days", what)
            .and_then(|n| self.day_set(n, "days"));
        let start = self.w.required(f, "start", what).and_then(|n| {
            self.w
                .parsed(n, "start", |s| tokens::minute(s, Edge::Start))
        });
        let end_node = self.w.required(f, "end", what);
        let end = end_node.and_then(|n| self.w.parsed(n, "end", |s| tokens::minute(s, Edge::End)));
        if let (Some(s), Some(e), Some(n)) = (start, end, end_node)
            && s == e
        {
            self.w.error(
                n.pos,
                format!("start and end are both {s}: the window would be empty"),
            );
            return None;
        }
        Some(Span::Daily {
            days: days?,
            start: start?,
            end: end?,
        })
    }

    fn weekly(&mut self, f: &Fields, what: &str) -> Option<Span> {
        let from = self
            .w
            .required(f, "from", what)
            .and_then(|n| self.w.parsed(n, "from", tokens::weekday_time));
        let to_node = self.w.required(f, "to", what);
        let to = to_node.and_then(|n| self.w.parsed(n, "to", tokens::weekday_time));
        if let (Some(a), Some(b), Some(n)) = (from, to, to_node)
            && a == b
        {
            self.w.error(
                n.pos,
                "`from` and `to` are the same instant: a zero-length span",
            );
            return None;
        }
        Some(Span::Weekly {
            from: from?,
            to: to?,
        })
    }

    /// A day-set: a list or a comma-separated string of days, ranges, keywords and calendars.
    fn day_set(&mut self, node: &Node, what: &str) -> Option<DaySet> {
        let items = self.w.items(node, what)?;
        let mut set = DaySet::default();
        let mut ok = true;
        for item in items {
            let Some(text) = self.w.string(item, what) else {
                ok = false;
                continue;
            };
            for token in text.split(',').map(str::trim) {
                if let Err(msg) = self.add_days(&mut set, token) {
                    self.w.error(item.pos, msg);
                    ok = false;
                }
            }
        }
        ok.then_some(set)
    }

    fn add_days(&self, set: &mut DaySet, token: &str) -> Result<(), String> {
        if let Some(dates) = self.calendars.get(token) {
            set.dates.extend(dates.iter().copied());
            return Ok(());
        }
        match token {
            "daily" => set.weekdays |= ALL_DAYS,
            "weekdays" => set.weekdays |= WEEKDAYS,
            "weekends" => set.weekdays |= WEEKENDS,
            _ => match token.split_once('-') {
                Some((a, b)) if is_weekday(a) && is_weekday(b) => {
                    add_range(set, tokens::weekday(a)?, tokens::weekday(b)?)
                }
                _ if is_weekday(token) => set.add_weekday(tokens::weekday(token)?),
                _ => return Err(self.unknown_day(token)),
            },
        }
        Ok(())
    }

    fn unknown_day(&self, token: &str) -> String {
        let known: Vec<&str> = self.calendars.keys().map(String::as_str).collect();
        let calendars = if known.is_empty() {
            "none defined".to_owned()
        } else {
            known.join(", ")
        };
        format!(
            "unknown day or calendar `{token}`: expected mon..sun, a range like mon-fri, daily, weekdays, weekends, or a calendar name (calendars: {calendars})"
        )
    }

    /// Every target id is used once: an Aurora cluster, a `cluster/nodegroup`, an ASG. Ids are
    /// compared ignoring case: RDS identifiers are case-insensitive (stored lowercase), so
    /// `prod-a` and `Prod-A` are one cluster, and two targets that differ only by case would
    /// fight over it; for EKS and Auto Scaling names such a pair is a typo far more often than
    /// two real resources, so it is refused too.
    fn check_duplicates(&mut self, aurora: &[(Pos, AuroraTarget)], eks: &[(Pos, EksTarget)]) {
        let mut seen: HashMap<String, (String, Pos)> = HashMap::new();
        let mut dup = |w: &mut Walker, id: String, pos: Pos| {
            match seen.get(&id.to_lowercase()) {
                Some((first, at)) if *first == id => w.error(
                    pos,
                    format!("duplicate target `{id}` (first defined at line {})", at.line),
                ),
                Some((first, at)) => w.error(
                    pos,
                    format!(
                        "duplicate target `{id}`: differs only by case from `{first}` at line {}, and AWS would treat them as one resource or as a typo",
                        at.line
                    ),
                ),
                None => {
                    seen.insert(id.to_lowercase(), (id, pos));
                }
            }
        };
        for (pos, t) in aurora {
            dup(&mut self.w, format!("aurora-replicas {}", t.cluster), *pos);
        }
        for (pos, t) in eks {
            let groups: Vec<String> = match &t.nodegroups {
                NodeGroups::All => vec!["*".to_owned()],
                NodeGroups::Named(names) => names.clone(),
            };
            for g in groups {
                dup(
                    &mut self.w,
                    format!("eks-nodegroup {}/{g}", t.cluster),
                    *pos,
                );
            }
            for asg in &t.autoscaling_groups {
                dup(&mut self.w, format!("eks-asg {asg}"), *pos);
            }
        }
        self.check_star_overlap(eks);
    }

    /// `cluster: x, nodegroups: ["*"]` already covers every node group of `x`.
    fn check_star_overlap(&mut self, eks: &[(Pos, EksTarget)]) {
        let starred: BTreeSet<&str> = eks
            .iter()
            .filter(|(_, t)| t.nodegroups == NodeGroups::All)
            .map(|(_, t)| t.cluster.as_str())
            .collect();
        for (pos, t) in eks {
            if matches!(&t.nodegroups, NodeGroups::Named(n) if !n.is_empty())
                && starred.contains(t.cluster.as_str())
            {
                self.w.error(
                    *pos,
                    format!(
                        "duplicate target: cluster `{}` is already covered by nodegroups [\"*\"]",
                        t.cluster
                    ),
                );
            }
        }
    }
}

fn is_weekday(token: &str) -> bool {
    tokens::weekday(token).is_ok()
}

/// `fri-mon` wraps around the week.
fn add_range(set: &mut DaySet, from: Weekday, to: Weekday) {
    let mut day = from;
    set.add_weekday(day);
    while day != to {
        day = day.succ();
        set.add_weekday(day);
    }
}

fn reserved_day_word(name: &str) -> Option<&'static str> {
    if matches!(name, "daily" | "weekdays" | "weekends") || is_weekday(name) {
        Some("a day keyword")
    } else {
        None
    }
}
