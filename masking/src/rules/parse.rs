//! The grammar of the masking rules file: a positioned YAML tree in, [`Rules`] out, with every
//! mistake recorded (unknown keys included) rather than stopping at the first.

use offpeak_shared::yaml::{Fields, Node, Pos, Value, Walker};

use super::model::{
    ColumnRule, DEFAULT_CHUNK_ROWS, DEFAULT_REWRITE_MAX_ROWS, DEFAULT_SWAP_WORKERS, DatabaseRules,
    DatePart, HASH_HEX_LEN, JsonKeys, JsonOthers, JsonPathRule, JsonRules, JsonSegment, LoginRules,
    MAX_JSON_PATHS, MAX_SWAP_WORKERS, Named, Rules, SYSTEM_DATABASES, Strategy, TableAction,
    TableRule, builtin_login,
};

const TOP_KEYS: &[&str] = &[
    "salt_secret",
    "chunk_rows",
    "rewrite_max_rows",
    "swap_workers",
    "tables",
    "databases",
    "logins",
];
const DATABASE_KEYS: &[&str] = &["drop"];
const LOGIN_KEYS: &[&str] = &["keep"];
const TABLE_KEYS: &[&str] = &["keep", "mask"];
const STRATEGIES: &[&str] = &[
    "hash",
    "email",
    "name",
    "phone",
    "redact",
    "null",
    "value",
    "generalize",
    "noise",
    "json",
    "sql",
];

/// Walks a whole document; `path` is kept in the result for later messages.
pub fn rules(root: &Node, path: &str) -> Result<Rules, Vec<(Pos, String)>> {
    let mut w = Walker::default();
    let parsed = document(&mut w, root, path);
    match parsed {
        Some(rules) if w.errors.is_empty() => Ok(rules),
        _ => {
            let mut errors = w.errors;
            errors.sort_by_key(|(pos, _)| (pos.line, pos.col));
            Err(errors)
        }
    }
}

fn document(w: &mut Walker, root: &Node, path: &str) -> Option<Rules> {
    let top = w.fields(root, "the masking rules", TOP_KEYS)?;
    let salt_secret = top.get("salt_secret").map(|n| w.string(n, "salt_secret"));
    let chunk_rows = count(w, &top, "chunk_rows", DEFAULT_CHUNK_ROWS);
    let rewrite_max_rows = count(w, &top, "rewrite_max_rows", DEFAULT_REWRITE_MAX_ROWS);
    let swap_workers = workers(w, &top);
    let tables_node = w.required(&top, "tables", "the masking rules");
    let tables = tables_node.and_then(|n| tables(w, n));
    let databases = top
        .get("databases")
        .map_or(Some(DatabaseRules::default()), |n| databases(w, n));
    let logins = top
        .get("logins")
        .map_or(Some(LoginRules::default()), |n| logins(w, n));
    Some(Rules {
        path: path.to_owned(),
        salt_secret: salt_secret.map_or(Some(None), |s| s.map(Some))?,
        chunk_rows: chunk_rows?,
        rewrite_max_rows: rewrite_max_rows?,
        swap_workers: swap_workers?,
        tables_pos: tables_node?.pos,
        tables: tables?,
        databases: databases?,
        logins: logins?,
    })
}

/// `databases: { drop: [analytics, scratch] }`.
fn databases(w: &mut Walker, node: &Node) -> Option<DatabaseRules> {
    let f = w.fields(node, "databases", DATABASE_KEYS)?;
    let drop = match f.get("drop") {
        Some(n) => names(w, n, "databases.drop", "database")?,
        None => Vec::new(),
    };
    for entry in &drop {
        if SYSTEM_DATABASES.contains(&entry.name.as_str()) {
            let message = format!(
                "`{}` is a system database: the refresh never checks or drops it; remove it from databases.drop",
                entry.name
            );
            w.error(entry.pos, message);
        }
    }
    Some(DatabaseRules {
        pos: Some(node.pos),
        drop,
    })
}

/// `logins: { keep: [app_ro] }`.
fn logins(w: &mut Walker, node: &Node) -> Option<LoginRules> {
    let f = w.fields(node, "logins", LOGIN_KEYS)?;
    let keep = match f.get("keep") {
        Some(n) => names(w, n, "logins.keep", "login")?,
        None => Vec::new(),
    };
    for entry in &keep {
        if builtin_login(&entry.name) {
            let message = format!(
                "`{}` is a built-in login: the refresh never changes it; remove it from logins.keep",
                entry.name
            );
            w.error(entry.pos, message);
        }
    }
    Some(LoginRules {
        pos: Some(node.pos),
        keep,
    })
}

/// A list of distinct names; `what` names the list and `noun` one entry in messages.
fn names(w: &mut Walker, node: &Node, what: &str, noun: &str) -> Option<Vec<Named>> {
    let mut out: Vec<Named> = Vec::new();
    for (pos, name) in w.strings(node, what)? {
        if out.iter().any(|n| n.name == name) {
            w.error(pos, format!("{noun} `{name}` is listed twice in {what}"));
        } else {
            out.push(Named { pos, name });
        }
    }
    Some(out)
}

fn count(w: &mut Walker, top: &Fields, key: &str, default: u64) -> Option<u64> {
    let Some(node) = top.get(key) else {
        return Some(default);
    };
    w.parsed(node, key, |s| match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{key} must be a whole number of at least 1, found `{s}`"
        )),
    })
}

fn workers(w: &mut Walker, top: &Fields) -> Option<u64> {
    let Some(node) = top.get("swap_workers") else {
        return Some(DEFAULT_SWAP_WORKERS);
    };
    w.parsed(node, "swap_workers", |s| match s.parse::<u64>() {
        Ok(n) if n <= MAX_SWAP_WORKERS => Ok(n),
        _ => Err(format!(
            "swap_workers must be a whole number from 0 (off) to {MAX_SWAP_WORKERS}, found `{s}`"
        )),
    })
}

fn tables(w: &mut Walker, node: &Node) -> Option<Vec<TableRule>> {
    let Value::Map(entries) = &node.value else {
        w.error(
            node.pos,
            format!(
                "tables must be a mapping of table name to rule, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    let mut out: Vec<Option<TableRule>> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if out.iter().flatten().any(|t| t.name == key.name) {
            w.error(key.pos, format!("duplicate table `{}`", key.name));
            continue;
        }
        out.push(
            table_action(w, key.name.as_str(), value).map(|action| TableRule {
                pos: key.pos,
                name: key.name.clone(),
                action,
            }),
        );
    }
    out.into_iter().collect()
}

fn table_action(w: &mut Walker, table: &str, node: &Node) -> Option<TableAction> {
    match &node.value {
        Value::Scalar(s) if s == "keep" => {
            w.error(
                node.pos,
                format!(
                    "table `{table}`: `keep` must name the columns it keeps, e.g. \
                     `{table}: {{ keep: [id, name] }}`, so that a column added later is refused by \
                     name instead of kept unseen (`offpeak mask scaffold` writes the list)"
                ),
            );
            None
        }
        Value::Scalar(s) if s == "truncate" => Some(TableAction::Truncate),
        Value::Scalar(s) => {
            w.error(
                node.pos,
                format!(
                    "table `{table}`: expected `keep`, `truncate` or a mapping with keep/mask, found `{s}`"
                ),
            );
            None
        }
        _ => columns(w, table, node).map(TableAction::Columns),
    }
}

fn columns(w: &mut Walker, table: &str, node: &Node) -> Option<Vec<ColumnRule>> {
    let what = format!("table `{table}`");
    let f = w.fields(node, &what, TABLE_KEYS)?;
    let kept = match f.get("keep") {
        Some(n) => w.strings(n, "keep")?,
        None => Vec::new(),
    };
    let masked = match f.get("mask") {
        Some(n) => mask_map(w, table, n)?,
        None => Vec::new(),
    };
    let mut out: Vec<ColumnRule> = Vec::new();
    let keeps = kept.into_iter().map(|(pos, name)| ColumnRule {
        pos,
        name,
        mask: None,
    });
    for rule in keeps.chain(masked) {
        if out.iter().any(|c| c.name == rule.name) {
            w.error(
                rule.pos,
                format!(
                    "column `{}` of table `{table}` is classified twice",
                    rule.name
                ),
            );
        } else {
            out.push(rule);
        }
    }
    Some(out)
}

fn mask_map(w: &mut Walker, table: &str, node: &Node) -> Option<Vec<ColumnRule>> {
    let Value::Map(entries) = &node.value else {
        w.error(
            node.pos,
            format!(
                "mask must be a mapping of column to strategy, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    let parsed: Vec<Option<ColumnRule>> = entries
        .iter()
        .map(|(key, value)| {
            let owner = format!("column `{}` of table `{table}`", key.name);
            strategy(w, value, Some(&owner)).map(|s| ColumnRule {
                pos: key.pos,
                name: key.name.clone(),
                mask: Some(s),
            })
        })
        .collect();
    parsed.into_iter().collect()
}

/// A strategy: a bare name (`email`, or YAML `null`) or a mapping with `strategy:` and options.
/// `column` names the column it masks (messages), `None` for a JSON path (where `json`,
/// `generalize` and `noise` are refused).
fn strategy(w: &mut Walker, node: &Node, column: Option<&str>) -> Option<Strategy> {
    let name = match &node.value {
        Value::Null => return Some(Strategy::Null),
        Value::Scalar(s) => s.clone(),
        Value::Map(entries) => match entries.iter().find(|(k, _)| k.name == "strategy") {
            Some((_, v)) => w.string(v, "strategy")?,
            None => {
                w.error(node.pos, "missing key `strategy` in a masking strategy");
                return None;
            }
        },
        Value::Seq(_) => {
            w.error(
                node.pos,
                "a masking strategy must be a name or a mapping, found a list",
            );
            return None;
        }
    };
    if !STRATEGIES.contains(&name.as_str()) {
        let known = STRATEGIES.join(", ");
        w.error(
            node.pos,
            format!("unknown masking strategy `{name}` (expected one of: {known})"),
        );
        return None;
    }
    if column.is_none() && matches!(name.as_str(), "json" | "generalize" | "noise") {
        w.error(
            node.pos,
            format!("strategy `{name}` cannot be used on a JSON path"),
        );
        return None;
    }
    let f = match &node.value {
        Value::Map(_) => Some(w.fields(node, &format!("strategy `{name}`"), option_keys(&name))?),
        _ => None,
    };
    options(
        w,
        &name,
        f.as_ref(),
        node.pos,
        column.unwrap_or("a JSON path"),
    )
}

fn option_keys(name: &str) -> &'static [&'static str] {
    match name {
        "hash" => &["strategy", "length"],
        "redact" => &["strategy", "keep_first", "keep_last"],
        "value" => &["strategy", "value"],
        "generalize" => &["strategy", "to"],
        "noise" => &["strategy", "days"],
        "json" => &["strategy", "paths", "others", "keys"],
        "sql" => &["strategy", "sql", "unique"],
        _ => &["strategy"],
    }
}

fn options(
    w: &mut Walker,
    name: &str,
    f: Option<&Fields>,
    pos: Pos,
    column: &str,
) -> Option<Strategy> {
    let opt = |key: &str| f.and_then(|f| f.get(key));
    let required = |w: &mut Walker, key: &str| {
        let found = opt(key);
        if found.is_none() {
            w.error(pos, format!("strategy `{name}` needs `{key}`"));
        }
        found
    };
    let small = |w: &mut Walker, key: &str, default: u32, range| {
        opt(key).map_or(Some(default), |n| w.integer(n, key, range))
    };
    Some(match name {
        "hash" => Strategy::Hash {
            length: small(w, "length", HASH_HEX_LEN as u32, 16..=64)? as u8,
        },
        "email" => Strategy::Email,
        "name" => Strategy::Name,
        "phone" => Strategy::Phone,
        "null" => Strategy::Null,
        "redact" => {
            let keep_first = small(w, "keep_first", 1, 0..=16);
            let keep_last = small(w, "keep_last", 1, 0..=16);
            Strategy::Redact {
                keep_first: keep_first? as u8,
                keep_last: keep_last? as u8,
            }
        }
        "value" => {
            let node = required(w, "value")?;
            Strategy::Value(scalar_text(w, node)?)
        }
        "generalize" => Strategy::Generalize(match opt("to") {
            None => DatePart::Month,
            Some(n) => w.parsed(n, "to", |s| match s {
                "month" => Ok(DatePart::Month),
                "year" => Ok(DatePart::Year),
                other => Err(format!("to must be `month` or `year`, found `{other}`")),
            })?,
        }),
        "noise" => Strategy::Noise {
            days: small(w, "days", 30, 1..=3650)? as u16,
        },
        "json" => Strategy::Json(json_rules(w, f, pos, column)?),
        "sql" => {
            let sql = required(w, "sql").and_then(|n| w.string(n, "sql"));
            let unique = opt("unique").map_or(Some(false), |n| w.boolean(n, "unique"));
            Strategy::Sql {
                sql: sql?,
                unique: unique?,
            }
        }
        _ => unreachable!("checked against STRATEGIES"),
    })
}

/// A constant may legitimately be empty, so it is read without the non-empty check.
fn scalar_text(w: &mut Walker, node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar(s) => Some(s.clone()),
        other => {
            w.error(
                node.pos,
                format!("value must be a scalar, found {}", other.kind()),
            );
            None
        }
    }
}

/// `{ strategy: json, paths: {...}, others: null | hash | keep, keys: keep | hash }`.
fn json_rules(w: &mut Walker, f: Option<&Fields>, pos: Pos, column: &str) -> Option<JsonRules> {
    let others = match f.and_then(|f| f.get("others")) {
        // `others: null` is YAML's null, not the word.
        Some(n) if matches!(n.value, Value::Null) => Some(JsonOthers::Null),
        Some(n) => w.parsed(n, "others", |s| match s {
            "null" => Ok(JsonOthers::Null),
            "hash" => Ok(JsonOthers::Hash),
            "keep" => Ok(JsonOthers::Keep),
            other => Err(format!(
                "others must be `null`, `hash` or `keep`, found `{other}`"
            )),
        }),
        None => {
            w.error(
                pos,
                format!(
                    "{column}: strategy `json` needs `others: null | hash | keep`, the rule for \
                     every value no listed path reaches (`keep` keeps them as they are)"
                ),
            );
            None
        }
    };
    let keys = f.and_then(|f| f.get("keys")).map(|n| {
        w.parsed(n, "keys", |s| match s {
            "keep" => Ok(JsonKeys::Keep),
            "hash" => Ok(JsonKeys::Hash),
            other => Err(format!("keys must be `keep` or `hash`, found `{other}`")),
        })
    });
    let paths = match f.and_then(|f| f.get("paths")) {
        Some(n) => json_paths(w, n),
        None => Some(Vec::new()),
    };
    let others = others?;
    let keys = match keys {
        Some(k) => k?,
        // Unlisted keys follow the values: kept only where every other value is kept too.
        None if others == JsonOthers::Keep => JsonKeys::Keep,
        None => JsonKeys::Hash,
    };
    Some(JsonRules {
        paths: paths?,
        others,
        keys,
    })
}

fn json_paths(w: &mut Walker, node: &Node) -> Option<Vec<JsonPathRule>> {
    let entries = match &node.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => &[][..],
        other => {
            w.error(
                node.pos,
                format!(
                    "paths must be a mapping of JSON path to strategy, found {}",
                    other.kind()
                ),
            );
            return None;
        }
    };
    let mut out: Vec<JsonPathRule> = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let segments = json_segments(&key.name)
            .map_err(|m| w.error(key.pos, m))
            .ok();
        let strategy = match &value.value {
            Value::Scalar(s) if s == "keep" => Some(None),
            _ => strategy(w, value, None).map(Some),
        };
        let (Some(segments), Some(strategy)) = (segments, strategy) else {
            ok = false;
            continue;
        };
        let rule = JsonPathRule {
            pos: key.pos,
            text: key.name.clone(),
            segments,
            strategy,
        };
        if let Some(other) = out.iter().find(|o| o.overlaps(&rule)) {
            let message = format!("JSON path `{}` overlaps `{}`", rule.text, other.text);
            w.error(key.pos, message);
            ok = false;
        }
        out.push(rule);
    }
    if out.len() > MAX_JSON_PATHS {
        w.error(
            node.pos,
            format!(
                "paths lists {} JSON paths; at most {MAX_JSON_PATHS} are allowed",
                out.len()
            ),
        );
        return None;
    }
    ok.then_some(out)
}

/// `address.street`, `$.phones[0]`, `$.contacts[*].phone`, `$.prefs.*`, `$[*].email`: keys of
/// letters, digits and `_` (or `*`, any key) separated by `.`, array indexes (or `*`, any
/// element) in brackets; the leading `$.` is optional.
pub fn json_segments(text: &str) -> Result<Vec<JsonSegment>, String> {
    let bad = || {
        format!(
            "invalid JSON path `{text}`: expected keys of letters, digits and `_` (or `*`) \
             separated by `.`, with optional [index] (or [*]), e.g. address.street, phones[0], \
             $.contacts[*].phone or $.prefs.*"
        )
    };
    let body = match text.strip_prefix('$') {
        Some("") => {
            return Err(format!(
                "JSON path `{text}` names the whole document: the document is masked by `others` \
                 where no path reaches"
            ));
        }
        Some(rest) if rest.starts_with('[') => rest.to_owned(),
        Some(rest) => rest.strip_prefix('.').ok_or_else(bad)?.to_owned(),
        None => text.to_owned(),
    };
    let mut segments = Vec::new();
    let mut rest = body.as_str();
    let mut first = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']').ok_or_else(bad)?;
            segments.push(match index {
                "*" => JsonSegment::AnyIndex,
                n => JsonSegment::Index(n.parse().map_err(|_| bad())?),
            });
            rest = tail;
        } else {
            let after = match first {
                true => rest,
                false => rest.strip_prefix('.').ok_or_else(bad)?,
            };
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            let key_ok =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            segments.push(match key {
                "*" => JsonSegment::AnyKey,
                _ if key_ok => JsonSegment::Key(key.to_owned()),
                _ => return Err(bad()),
            });
            rest = &after[end..];
        }
        first = false;
    }
    if segments.is_empty() {
        return Err(bad());
    }
    Ok(segments)
}
