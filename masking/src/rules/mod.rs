//! The masking rules file (`infra/masking.yaml`): parsing and the typed model.
//!
//! Guarantees: [`Rules`] only ever come from a file without errors; otherwise *every* error comes
//! back as a `PATH:LINE:COL: message` line, unknown keys and misspelt strategies included. Parsing
//! looks at the file alone: whether the rules fit a database is decided later, against its live
//! catalog (see `classify`).

mod model;
mod parse;

#[cfg(test)]
pub(crate) use parse::json_segments;

use std::path::Path;

use offpeak_shared::config::ConfigError;
use offpeak_shared::yaml;

pub use model::{
    ColumnRule, DEFAULT_CHUNK_ROWS, DEFAULT_REWRITE_MAX_ROWS, DatabaseRules, DatePart,
    EMAIL_DOMAIN, HASH_HEX_LEN, JsonKeys, JsonOthers, JsonPathRule, JsonRules, JsonSegment,
    LoginRules, MAX_JSON_PATHS, NAME_HEX_LEN, NAME_PREFIX, Named, PHONE_DIGITS, PHONE_PREFIX,
    Rules, SYSTEM_DATABASES, Strategy, TableAction, TableRule, builtin_login,
};

/// Why a rules file could not be loaded. Both are bad input.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read masking rules {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Every error found, in file order.
    #[error("{}", render(.0))]
    Invalid(Vec<ConfigError>),
}

fn render(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Reads and parses a rules file.
pub fn load(path: &Path) -> Result<Rules, RulesError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: label.clone(),
        source,
    })?;
    parse_str(&text, &label)
}

/// Parses rules text; `path` names the file in messages.
pub fn parse_str(text: &str, path: &str) -> Result<Rules, RulesError> {
    let at = |(pos, message): (yaml::Pos, String)| ConfigError {
        path: path.to_owned(),
        line: pos.line,
        col: pos.col,
        message,
    };
    let root = yaml::parse(text).map_err(|e| RulesError::Invalid(vec![at(e)]))?;
    parse::rules(&root, path)
        .map_err(|errors| RulesError::Invalid(errors.into_iter().map(at).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse_str(text, "m.yaml") {
            Err(RulesError::Invalid(errors)) => errors.iter().map(ToString::to_string).collect(),
            other => panic!("expected errors, got {other:?}"),
        }
    }

    #[test]
    fn a_kept_table_must_name_its_columns() {
        let err = errors("tables:\n  countries: keep\n");
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(
            err[0].starts_with(
                "m.yaml:2:14: table `countries`: `keep` must name the columns it keeps"
            ),
            "{err:?}"
        );
        assert!(err[0].contains("offpeak mask scaffold"), "{err:?}");
    }

    #[test]
    fn swap_workers_default_to_four_and_zero_turns_the_swap_off() {
        let tables = "tables:\n  t: { keep: [id] }\n";
        assert_eq!(parse_str(tables, "m.yaml").unwrap().swap_workers, 4);
        let off = parse_str(&format!("swap_workers: 0\n{tables}"), "m.yaml").unwrap();
        assert_eq!(off.swap_workers, 0);
        assert_eq!(
            errors(&format!("swap_workers: 17\n{tables}")),
            ["m.yaml:1:15: swap_workers must be a whole number from 0 (off) to 16, found `17`"]
        );
    }

    #[test]
    fn a_full_rules_file_parses_into_typed_strategies() {
        let text = r#"
salt_secret: offpeak/masking-salt
chunk_rows: 1000
tables:
  users:
    keep: [id, created_at]
    mask:
      email: email
      full_name: name
      notes: null
      ssn: { strategy: redact, keep_last: 4, keep_first: 0 }
      born: { strategy: generalize, to: year }
      seen: { strategy: noise, days: 7 }
      ref: { strategy: hash, length: 32 }
      country: { strategy: value, value: "" }
      profile:
        strategy: json
        paths:
          address.street: { strategy: redact, keep_first: 2, keep_last: 0 }
          $.phones[0]: phone
        others: keep
      legacy: { strategy: sql, sql: "left({column}, 1)", unique: false }
  audit_log: truncate
  countries: { keep: [code, name] }
"#;
        let rules = parse_str(text, "m.yaml").unwrap();
        assert_eq!(rules.salt_secret.as_deref(), Some("offpeak/masking-salt"));
        assert_eq!(rules.chunk_rows, 1000);
        assert_eq!(rules.rewrite_max_rows, DEFAULT_REWRITE_MAX_ROWS);
        assert_eq!(rules.tables.len(), 3);
        assert_eq!(rules.tables[1].action, TableAction::Truncate);
        let TableAction::Columns(kept) = &rules.tables[2].action else {
            panic!("countries lists its columns")
        };
        assert!(kept.iter().all(|c| c.mask.is_none()) && kept.len() == 2);
        let TableAction::Columns(cols) = &rules.tables[0].action else {
            panic!("users has columns")
        };
        let by_name = |n: &str| cols.iter().find(|c| c.name == n).unwrap().mask.clone();
        assert_eq!(by_name("id"), None);
        assert_eq!(by_name("email"), Some(Strategy::Email));
        assert_eq!(by_name("notes"), Some(Strategy::Null));
        assert_eq!(
            by_name("ssn"),
            Some(Strategy::Redact {
                keep_first: 0,
                keep_last: 4
            })
        );
        assert_eq!(by_name("born"), Some(Strategy::Generalize(DatePart::Year)));
        assert_eq!(by_name("seen"), Some(Strategy::Noise { days: 7 }));
        assert_eq!(by_name("ref"), Some(Strategy::Hash { length: 32 }));
        assert_eq!(by_name("country"), Some(Strategy::Value(String::new())));
        let Some(Strategy::Json(json)) = by_name("profile") else {
            panic!("profile is json")
        };
        assert_eq!(
            json.paths[1].segments,
            vec![JsonSegment::Key("phones".into()), JsonSegment::Index(0)]
        );
        assert_eq!(json.paths[1].strategy, Some(Strategy::Phone));
        assert_eq!((json.others, json.keys), (JsonOthers::Keep, JsonKeys::Keep));
    }

    #[test]
    fn every_mistake_is_reported_with_its_position() {
        let text = "\
tables:
  users:
    keep: [id]
    mask:
      email: emial
      name: { strategy: redact, keep_frist: 2 }
    masc: {}
  orders: truncated
colour: blue
";
        let errs = errors(text);
        assert_eq!(
            errs,
            vec![
                "m.yaml:5:14: unknown masking strategy `emial` (expected one of: hash, email, name, phone, redact, null, value, generalize, noise, json, sql)",
                "m.yaml:6:33: unknown key `keep_frist` in strategy `redact` (expected one of: strategy, keep_first, keep_last)",
                "m.yaml:7:5: unknown key `masc` in table `users` (expected one of: keep, mask)",
                "m.yaml:8:11: table `orders`: expected `keep`, `truncate` or a mapping with keep/mask, found `truncated`",
                "m.yaml:9:1: unknown key `colour` in the masking rules (expected one of: salt_secret, chunk_rows, rewrite_max_rows, swap_workers, tables, databases, logins)",
            ]
        );
    }

    #[test]
    fn a_column_both_kept_and_masked_is_an_error() {
        let errs = errors("tables:\n  t:\n    keep: [a]\n    mask: { a: email }\n");
        assert_eq!(
            errs,
            vec!["m.yaml:4:13: column `a` of table `t` is classified twice"]
        );
    }

    #[test]
    fn overlapping_json_paths_and_bad_paths_are_errors() {
        let text = "tables:\n  t:\n    mask:\n      j:\n        strategy: json\n        others: null\n        paths:\n          a.b: name\n          a: null\n          'x-y': name\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("m.yaml:9:11: JSON path `a` overlaps `a.b`"),
            "{errs:?}"
        );
        assert!(errs[1].contains("invalid JSON path `x-y`"), "{errs:?}");
    }

    #[test]
    fn options_are_range_checked_and_required_ones_demanded() {
        let text = "tables:\n  t:\n    mask:\n      a: { strategy: hash, length: 8 }\n      b: { strategy: value }\n      c: { strategy: json, paths: { k: noise }, others: keep }\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].contains("length must be between 16 and 64, found 8"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains("strategy `value` needs `value`"),
            "{errs:?}"
        );
        assert!(
            errs[2].contains("strategy `noise` cannot be used on a JSON path"),
            "{errs:?}"
        );
    }

    #[test]
    fn the_rest_of_the_server_is_dropped_or_kept_by_name() {
        let text = "tables:\n  t: { keep: [id] }\ndatabases:\n  drop: [analytics, postgres]\nlogins:\n  keep: [app_ro, 'etl@10.0.%']\n";
        let rules = parse_str(text, "m.yaml").unwrap();
        let names = |v: &[Named]| v.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&rules.databases.drop), ["analytics", "postgres"]);
        assert_eq!(rules.databases.drop[0].pos.line, 4);
        assert_eq!(rules.databases.pos.map(|p| p.line), Some(4));
        assert_eq!(names(&rules.logins.keep), ["app_ro", "etl@10.0.%"]);
        // Without the sections: nothing dropped, nothing kept.
        let bare = parse_str("tables:\n  t: { keep: [id] }\n", "m.yaml").unwrap();
        assert_eq!(bare.databases, DatabaseRules::default());
        assert_eq!(bare.logins, LoginRules::default());
    }

    #[test]
    fn mistakes_in_databases_and_logins_are_reported_with_their_position() {
        let text = "\
tables:
  t: { keep: [id] }
databases:
  drop: [analytics, template1, analytics]
  keep: [x]
logins:
  keep: [app_ro, rdsadmin, '']
";
        assert_eq!(
            errors(text),
            vec![
                "m.yaml:4:21: `template1` is a system database: the refresh never checks or drops it; remove it from databases.drop",
                "m.yaml:4:32: database `analytics` is listed twice in databases.drop",
                "m.yaml:5:3: unknown key `keep` in databases (expected one of: drop)",
                "m.yaml:7:28: logins.keep must not be empty",
            ]
        );
        assert_eq!(
            errors("tables:\n  t: { keep: [id] }\nlogins:\n  keep: [rdsadmin]\ndatabases: [a]\n"),
            vec![
                "m.yaml:4:10: `rdsadmin` is a built-in login: the refresh never changes it; remove it from logins.keep",
                "m.yaml:5:12: databases must be a mapping, found a list",
            ]
        );
    }

    fn json_of(text: &str) -> JsonRules {
        let rules = parse_str(text, "m.yaml").unwrap();
        let TableAction::Columns(cols) = &rules.tables[0].action else {
            panic!("columns")
        };
        match &cols[0].mask {
            Some(Strategy::Json(j)) => j.clone(),
            other => panic!("expected json, got {other:?}"),
        }
    }

    #[test]
    fn json_paths_take_wildcards_over_arrays_and_keys_and_keep() {
        let j = json_of(
            "tables:\n  t:\n    mask:\n      doc:\n        strategy: json\n        others: hash\n        paths:\n          $.emails[*]: email\n          $.contacts[*].phone: phone\n          $.prefs.*: keep\n          $[*].name: name\n          a.b[2][*]: null\n",
        );
        use JsonSegment::{AnyIndex, AnyKey, Index, Key};
        let segments: Vec<_> = j.paths.iter().map(|p| p.segments.clone()).collect();
        assert_eq!(
            segments,
            vec![
                vec![Key("emails".into()), AnyIndex],
                vec![Key("contacts".into()), AnyIndex, Key("phone".into())],
                vec![Key("prefs".into()), AnyKey],
                vec![AnyIndex, Key("name".into())],
                vec![Key("a".into()), Key("b".into()), Index(2), AnyIndex],
            ]
        );
        assert_eq!(j.paths[2].strategy, None, "keep is no strategy");
        assert_eq!(j.paths[4].strategy, Some(Strategy::Null));
        assert_eq!(j.others, JsonOthers::Hash);
        assert_eq!(
            j.keys,
            JsonKeys::Hash,
            "unlisted keys follow a masking `others`"
        );
        assert!(!j.fixed_paths_only());
    }

    #[test]
    fn json_others_is_required_and_names_the_column() {
        let errs = errors(
            "tables:\n  t:\n    keep: [id]\n    mask:\n      doc:\n        strategy: json\n        paths: { a: email }\n",
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "m.yaml:6:9: column `doc` of table `t`: strategy `json` needs `others: null | hash | keep`"
            ),
            "{errs:?}"
        );
        let errs = errors(
            "tables:\n  t:\n    mask: { doc: { strategy: json, others: drop, keys: maybe } }\n",
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("others must be `null`, `hash` or `keep`, found `drop`"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains("keys must be `keep` or `hash`, found `maybe`"),
            "{errs:?}"
        );
    }

    #[test]
    fn json_without_paths_masks_every_value_and_keys_follow_others_unless_set() {
        let all = json_of("tables:\n  t:\n    mask: { doc: { strategy: json, others: null } }\n");
        assert!(all.paths.is_empty());
        assert_eq!((all.others, all.keys), (JsonOthers::Null, JsonKeys::Hash));
        let kept = json_of(
            "tables:\n  t:\n    mask: { doc: { strategy: json, others: keep, paths: { a.b: email } } }\n",
        );
        assert_eq!((kept.others, kept.keys), (JsonOthers::Keep, JsonKeys::Keep));
        assert!(kept.fixed_paths_only());
        let explicit = json_of(
            "tables:\n  t:\n    mask: { doc: { strategy: json, others: keep, keys: hash } }\n",
        );
        assert_eq!(explicit.keys, JsonKeys::Hash);
        assert!(!explicit.fixed_paths_only());
        let keys_kept = json_of(
            "tables:\n  t:\n    mask: { doc: { strategy: json, others: hash, keys: keep } }\n",
        );
        assert_eq!(keys_kept.keys, JsonKeys::Keep);
    }

    #[test]
    fn json_wildcards_overlapping_fixed_paths_and_bad_paths_are_errors() {
        let errs = errors(
            "tables:\n  t:\n    mask:\n      doc:\n        strategy: json\n        others: hash\n        paths:\n          $.contacts[*].phone: phone\n          $.contacts[0].phone: keep\n          $.prefs.*: keep\n          prefs.theme: keep\n          $: email\n          $.a[x]: email\n          $.b..c: email\n",
        );
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "m.yaml:9:11: JSON path `$.contacts[0].phone` overlaps `$.contacts[*].phone`"
            ),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("m.yaml:11:11: JSON path `prefs.theme` overlaps `$.prefs.*`"),
            "{errs:?}"
        );
        assert!(
            errs[2].contains("JSON path `$` names the whole document"),
            "{errs:?}"
        );
        assert!(errs[3].contains("invalid JSON path `$.a[x]`"), "{errs:?}");
        assert!(errs[4].contains("invalid JSON path `$.b..c`"), "{errs:?}");
        // Different keys under the same wildcard do not overlap.
        json_of(
            "tables:\n  t:\n    mask: { doc: { strategy: json, others: null, paths: { '$.c[*].phone': phone, '$.c[*].email': email } } }\n",
        );
    }

    #[test]
    fn json_paths_are_capped_at_what_one_mask_holds() {
        let paths: String = (0..=MAX_JSON_PATHS)
            .map(|i| format!("          k{i}: email\n"))
            .collect();
        let text = format!(
            "tables:\n  t:\n    mask:\n      doc:\n        strategy: json\n        others: hash\n        paths:\n{paths}"
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("paths lists 61 JSON paths; at most 60 are allowed"),
            "{errs:?}"
        );
    }

    #[test]
    fn the_repository_rules_file_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/masking.yaml");
        let rules = load(Path::new(path)).expect("infra/masking.yaml is valid");
        assert!(!rules.tables.is_empty());
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/demo/masking.yaml");
        load(Path::new(demo)).expect("infra/demo/masking.yaml is valid");
    }
}
