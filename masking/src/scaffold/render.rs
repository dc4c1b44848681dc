//! The scaffold as a rules file: YAML in the format `rules::parse_str` reads, with comments.
//!
//! Pure. Names are written plain when YAML reads them back unchanged (`[A-Za-z_][A-Za-z0-9_]*`
//! and not a YAML keyword such as `null` or `true`), else double-quoted with escapes, so any
//! name — non-ASCII, with spaces, quotes, colons, dots — reads back as itself. Comments hold
//! names (escaped so a newline in a name cannot end the comment) and counts, never a value.
//! The line of every table and masked column is recorded, so the engine's findings, which point
//! at lines, can be traced back to the choice they are about.

use std::fmt::Write as _;

use crate::cluster::Survey;
use crate::dialect::Dialect;
use crate::rules::{DatePart, HASH_HEX_LEN, Strategy};

use super::choose::TableChoice;
use super::sample::SAMPLE_ROWS;

/// What a rendered line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The key of `tables[i]`.
    Table(usize),
    /// The key of masked column `c` of `tables[t]`.
    Column(usize, usize),
}

/// The rules text and where each entry landed.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub text: String,
    lines: Vec<(u64, Entry)>,
}

impl Rendered {
    /// The entry written on `line` (1-based).
    pub fn entry(&self, line: u64) -> Option<Entry> {
        self.lines.iter().find(|(l, _)| *l == line).map(|(_, e)| *e)
    }
}

/// About the database and its server, for the header and the `databases:`/`logins:` sections.
pub struct Header<'a> {
    pub dialect: Dialect,
    pub mariadb: bool,
    pub database: &'a str,
    /// The server's other databases and logins; `Err` says why they could not be listed.
    pub server: Result<&'a Survey, String>,
    /// Caveats about what this login could see (comment lines).
    pub caveats: Vec<String>,
}

struct Out {
    text: String,
    line: u64,
    lines: Vec<(u64, Entry)>,
}

impl Out {
    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
        self.line += 1;
    }

    /// `# text` lines at `indent`, one per element.
    fn comments<S: AsRef<str>>(&mut self, indent: usize, lines: &[S]) {
        for l in lines {
            match l.as_ref() {
                "" => self.line(&format!("{:indent$}#", "")),
                l => self.line(&format!("{:indent$}# {l}", "")),
            }
        }
    }

    fn mark(&mut self, entry: Entry) {
        // The entry is written on the next line.
        self.lines.push((self.line + 1, entry));
    }
}

/// The whole rules file.
pub fn render(header: &Header<'_>, tables: &[TableChoice]) -> Rendered {
    let mut out = Out {
        text: String::new(),
        line: 0,
        lines: Vec::new(),
    };
    let engine = match (header.dialect, header.mariadb) {
        (Dialect::Postgres, _) => "PostgreSQL database",
        (Dialect::MySql, true) => "MariaDB database",
        (Dialect::MySql, false) => "MySQL database",
    };
    let masked: usize = tables
        .iter()
        .filter(|t| t.truncate.is_none())
        .map(|t| t.columns.iter().filter(|c| c.choice().is_some()).count())
        .sum();
    let truncated = tables.iter().filter(|t| t.truncate.is_some()).count();
    out.comments(
        0,
        &[
            format!(
                "offpeak masking rules for {engine} {}, scaffolded by `offpeak mask scaffold`:",
                shown(header.database)
            ),
            format!(
                "{} ({} masked, {} truncated).",
                plural(tables.len(), "table"),
                plural(masked, "column"),
                plural(truncated, "table")
            ),
        ],
    );
    out.line("#");
    out.comments(
        0,
        &[
            "Review every entry before relying on it. Each column was judged by its name and by the shape",
            &format!(
                "of a bounded sample (at most {SAMPLE_ROWS} rows per table, read-only); comments give counts and"
            ),
            "names, never a value. Personal-looking columns are masked, each with a comment saying why;",
            "everything else is kept. Every table lists all its columns, kept ones included: a column added",
            "later is then unclassified and stops the refresh until someone classifies it.",
            "",
            "Strategies and table forms: see infra/masking.yaml. Check this file with `offpeak validate`",
            "(a schedule naming it), then on a copy of the database with",
            "`offpeak mask --rules FILE --database-url URL`.",
            "",
            "The HMAC salt comes from OFFPEAK_MASKING_SALT when set (local runs), else from this Secrets",
            "Manager secret: create it (docs/deploy.md, step 3) or name yours.",
        ],
    );
    if !header.caveats.is_empty() {
        out.line("#");
        out.comments(0, &header.caveats);
    }
    out.line("salt_secret: offpeak/masking-salt");
    out.line("");
    out.line("tables:");
    for (ti, t) in tables.iter().enumerate() {
        table(&mut out, ti, t);
    }
    server(&mut out, header);
    Rendered {
        text: out.text,
        lines: out.lines,
    }
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn table(out: &mut Out, ti: usize, t: &TableChoice) {
    let personal: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| c.personal())
        .map(|c| c.name.as_str())
        .collect();
    let mut head = vec![format!(
        "{}, {} sampled",
        plural(t.columns.len(), "column"),
        plural(t.sampled_rows as usize, "row")
    )];
    if let Some(why) = &t.truncate {
        head.push(why.clone());
        if !personal.is_empty() {
            let names: Vec<String> = personal.iter().map(|n| shown(n)).collect();
            head.push(format!("personal-looking: {}", names.join(", ")));
        }
        out.comments(2, &head);
        out.mark(Entry::Table(ti));
        out.line(&format!("  {}: truncate", yaml_str(&t.rules_name)));
        return;
    }
    out.comments(2, &head);
    out.mark(Entry::Table(ti));
    out.line(&format!("  {}:", yaml_str(&t.rules_name)));
    let kept: Vec<&super::choose::ColumnChoice> =
        t.columns.iter().filter(|c| c.choice().is_none()).collect();
    let notes: Vec<String> = kept
        .iter()
        .filter_map(|c| c.note.as_ref().map(|n| format!("{}: {n}", shown(&c.name))))
        .collect();
    out.comments(4, &notes);
    if !kept.is_empty() || t.columns.is_empty() {
        let names: Vec<String> = kept.iter().map(|c| yaml_str(&c.name)).collect();
        out.line(&format!("    keep: [{}]", names.join(", ")));
    }
    let masked: Vec<(usize, &super::choose::ColumnChoice)> = t
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.choice().is_some())
        .collect();
    if masked.is_empty() {
        return;
    }
    out.line("    mask:");
    for (ci, c) in masked {
        let choice = c.choice().expect("filtered on a choice");
        let mut lines = c.why.clone();
        lines.extend(c.passed_over.iter().cloned());
        lines.push(format!("-> {}", choice.because));
        out.comments(6, &lines);
        out.mark(Entry::Column(ti, ci));
        out.line(&format!(
            "      {}: {}",
            yaml_str(&c.name),
            strategy(&choice.strategy)
        ));
    }
}

fn server(out: &mut Out, header: &Header<'_>) {
    let schemas = match header.dialect {
        Dialect::Postgres => "database",
        Dialect::MySql => "schema",
    };
    out.line("");
    let survey = match &header.server {
        Ok(s) => *s,
        Err(why) => {
            out.comments(
                0,
                &[
                    format!("The server's other {schemas}s and logins could not be listed ({why})."),
                    "Before a refresh, list every other one under `databases: { drop: [...] }`: the refresh"
                        .to_owned(),
                    format!("refuses a clone holding a {schemas} the rules neither cover nor drop."),
                ],
            );
            return;
        }
    };
    out.comments(
        0,
        &[
            format!(
                "The clone is the whole server, and the refresh masks only {}: every other {schemas}",
                shown(&survey.covered)
            ),
            "found on the server is dropped from the clone before verification. A name the clone lacks"
                .to_owned(),
            "is fine; one it holds that is not listed refuses the refresh.".to_owned(),
        ],
    );
    if !survey.sees_everything {
        out.comments(
            0,
            &["This user cannot list every schema (MySQL: it lacks the global SHOW DATABASES privilege):",
                "others may exist."],
        );
    }
    match survey.others.is_empty() {
        true => out.comments(0, &[format!("(No other {schemas} found.)")]),
        false => {
            let names: Vec<String> = survey.others.iter().map(|d| yaml_str(d)).collect();
            out.line("databases:");
            out.line(&format!("  drop: [{}]", names.join(", ")));
        }
    }
    out.line("");
    let logins: Vec<String> = survey.logins.iter().map(|l| shown(&l.display())).collect();
    let mut lines = vec![
        "Every login of the clone but the connecting (master) user is disabled before development can"
            .to_owned(),
        "reach it; one listed under keep stays enabled with a new random password.".to_owned(),
    ];
    if !logins.is_empty() {
        lines.push(format!("Logins found: {}.", logins.join(", ")));
    }
    out.comments(0, &lines);
    out.line("logins:");
    out.line("  keep: []");
}

/// A strategy in the rules file's syntax.
pub fn strategy(s: &Strategy) -> String {
    match s {
        Strategy::Hash { length } if usize::from(*length) == HASH_HEX_LEN => "hash".to_owned(),
        Strategy::Hash { length } => format!("{{ strategy: hash, length: {length} }}"),
        Strategy::Email => "email".to_owned(),
        Strategy::Name => "name".to_owned(),
        Strategy::Phone => "phone".to_owned(),
        Strategy::Null => "null".to_owned(),
        Strategy::Redact {
            keep_first,
            keep_last,
        } => format!("{{ strategy: redact, keep_first: {keep_first}, keep_last: {keep_last} }}"),
        Strategy::Value(v) => format!("{{ strategy: value, value: {} }}", quoted(v)),
        Strategy::Generalize(part) => format!(
            "{{ strategy: generalize, to: {} }}",
            match part {
                DatePart::Month => "month",
                DatePart::Year => "year",
            }
        ),
        Strategy::Noise { days } => format!("{{ strategy: noise, days: {days} }}"),
        Strategy::Sql { sql, unique } => {
            format!(
                "{{ strategy: sql, sql: {}, unique: {unique} }}",
                quoted(sql)
            )
        }
        Strategy::Json(j) => {
            let paths: Vec<String> = j
                .paths
                .iter()
                .map(|p| {
                    let s = p
                        .strategy
                        .as_ref()
                        .map_or_else(|| "keep".to_owned(), strategy);
                    format!("{}: {s}", quoted(&p.text))
                })
                .collect();
            let paths = match paths.is_empty() {
                true => String::new(),
                false => format!(", paths: {{ {} }}", paths.join(", ")),
            };
            format!(
                "{{ strategy: json{paths}, others: {}, keys: {} }}",
                j.others.name(),
                j.keys.name()
            )
        }
    }
}

/// Words YAML reads as something other than the string itself.
const KEYWORDS: &[&str] = &[
    "null", "true", "false", "yes", "no", "on", "off", "y", "n", "~",
];

/// A name as a YAML scalar that reads back as itself.
pub fn yaml_str(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name.to_ascii_lowercase().as_str());
    match plain {
        true => name.to_owned(),
        false => quoted(name),
    }
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Control characters, and characters some YAML readers take for line breaks or byte-order marks.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// A name for a comment: in backticks, with anything that could end the comment line escaped.
pub fn shown(name: &str) -> String {
    let mut out = String::from("`");
    for c in name.chars() {
        match needs_escape(c) {
            true => {
                let _ = write!(out, "\\u{{{:04X}}}", u32::from(c));
            }
            false => out.push(c),
        }
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{JsonKeys, JsonOthers, JsonRules, parse_str};

    #[test]
    fn names_are_quoted_when_yaml_would_read_them_otherwise() {
        assert_eq!(yaml_str("users"), "users");
        assert_eq!(yaml_str("_x1"), "_x1");
        assert_eq!(yaml_str("null"), "\"null\"");
        assert_eq!(yaml_str("True"), "\"True\"");
        assert_eq!(yaml_str("1st"), "\"1st\"");
        assert_eq!(yaml_str("e-mail addr"), "\"e-mail addr\"");
        assert_eq!(yaml_str("顧客"), "\"顧客\"");
        assert_eq!(yaml_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(yaml_str("line\nbreak"), "\"line\\u000Abreak\"");
        assert_eq!(shown("a\nb"), "`a\\u{000A}b`");
    }

    #[test]
    fn every_strategy_and_odd_name_reads_back_as_itself() {
        let names = [
            "null",
            "true",
            "e-mail addr",
            "顧客 メール",
            "a:b",
            "# not a comment",
            "[x]",
            "{y}",
            "quote\"d",
            "back\\slash",
            "tab\there",
            "007",
            "-dash",
            "  spaced",
        ];
        let strategies = [
            Strategy::Email,
            Strategy::Name,
            Strategy::Phone,
            Strategy::Null,
            Strategy::Hash { length: 64 },
            Strategy::Hash { length: 20 },
            Strategy::Redact {
                keep_first: 0,
                keep_last: 0,
            },
            Strategy::Value("{}".into()),
            Strategy::Value(String::new()),
            Strategy::Generalize(DatePart::Year),
            Strategy::Json(JsonRules {
                paths: Vec::new(),
                others: JsonOthers::Hash,
                keys: JsonKeys::Hash,
            }),
            Strategy::Sql {
                sql: "CASE WHEN {column} IS NULL THEN NULL ELSE 'm-' || CAST(\"id\" AS text) END"
                    .into(),
                unique: true,
            },
        ];
        let mut text = String::from("tables:\n");
        for (i, name) in names.iter().enumerate() {
            text.push_str(&format!(
                "  {}:\n    keep: [{}]\n    mask:\n",
                yaml_str(&format!("t{i}.{name}")),
                yaml_str(name)
            ));
            for (j, s) in strategies.iter().enumerate() {
                text.push_str(&format!(
                    "      {}: {}\n",
                    yaml_str(&format!("{name}{j}")),
                    strategy(s)
                ));
            }
        }
        let rules = parse_str(&text, "m.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        for (i, name) in names.iter().enumerate() {
            let t = &rules.tables[i];
            assert_eq!(t.name, format!("t{i}.{name}"));
            let crate::rules::TableAction::Columns(cols) = &t.action else {
                panic!("columns")
            };
            assert_eq!(cols[0].name, *name);
            assert_eq!(cols[0].mask, None);
            for (j, s) in strategies.iter().enumerate() {
                assert_eq!(cols[j + 1].name, format!("{name}{j}"));
                assert_eq!(cols[j + 1].mask.as_ref(), Some(s), "{name}{j}");
            }
        }
    }
}
