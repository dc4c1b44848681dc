//! Each strategy as SQL the database evaluates itself, and what a masked value must look like.
//!
//! Pure text generation. Every expression keeps SQL NULL as NULL, reads one column of the row
//! being masked (so one statement masks every column of a table, in an UPDATE or in a table
//! rewrite), and computes the keyed hash at most once per value. Determinism: the same input
//! gives the same output in every table and every run with the same salt, so joins on masked
//! columns survive. [`checks`] gives, for verification, each masked value's SQL and the predicate
//! it must satisfy once masked.

use super::catalog::{Column, ColumnKind};
use super::dialect::Dialect;
use super::json;
use super::rules::{
    DatePart, EMAIL_DOMAIN, HASH_HEX_LEN, JsonPathRule, JsonSegment, NAME_HEX_LEN, NAME_PREFIX,
    PHONE_DIGITS, PHONE_PREFIX, Strategy,
};

/// The masked value of `column` under `strategy`.
pub fn masked(d: Dialect, column: &Column, strategy: &Strategy) -> String {
    let x = d.ident(&column.name);
    match strategy {
        Strategy::Value(v) => format!(
            "CASE WHEN {x} IS NULL THEN NULL ELSE {} END",
            typed_literal(d, v, column)
        ),
        Strategy::Generalize(part) => generalize(d, &x, *part, column),
        Strategy::Noise { days } => noise(d, &x, *days, column.kind),
        Strategy::Json(j) if j.fixed_paths_only() => fixed_json(d, &x, &j.paths, column.kind),
        Strategy::Json(j) => json::masked(d, &x, j, column.kind),
        other => text(d, other, &x),
    }
}

/// Strategies producing text, over any input expression (a column or a JSON leaf).
pub(crate) fn text(d: Dialect, strategy: &Strategy, input: &str) -> String {
    let h = d.hmac_hex(input);
    match strategy {
        Strategy::Hash { length } if usize::from(*length) == HASH_HEX_LEN => h,
        Strategy::Hash { length } => format!("LEFT({h}, {length})"),
        Strategy::Email => concat(d, &[&h, &d.literal(EMAIL_DOMAIN)]),
        Strategy::Name => concat(
            d,
            &[
                &d.literal(NAME_PREFIX),
                &format!("UPPER(LEFT({h}, {NAME_HEX_LEN}))"),
            ],
        ),
        Strategy::Phone => {
            let number = format!("{} % 1000000000", d.hex8_to_int(&h));
            let digits = format!("LPAD({}, {PHONE_DIGITS}, '0')", d.as_text(&number));
            concat(d, &[&d.literal(PHONE_PREFIX), &digits])
        }
        Strategy::Redact {
            keep_first,
            keep_last,
        } => redact(d, input, *keep_first, *keep_last),
        Strategy::Null => "NULL".to_owned(),
        Strategy::Value(v) => format!(
            "CASE WHEN {input} IS NULL THEN NULL ELSE {} END",
            d.literal(v)
        ),
        Strategy::Sql { sql, .. } => format!("({})", sql.replace("{column}", input)),
        Strategy::Generalize(_) | Strategy::Noise { .. } | Strategy::Json(_) => {
            unreachable!("rules refuse {} as a text strategy", strategy.name())
        }
    }
}

fn concat(d: Dialect, parts: &[&str]) -> String {
    match d {
        Dialect::Postgres => format!("({})", parts.join(" || ")),
        Dialect::MySql => format!("CONCAT({})", parts.join(", ")),
    }
}

fn redact(d: Dialect, x: &str, first: u8, last: u8) -> String {
    let keep = u32::from(first) + u32::from(last);
    let len = format!("CHAR_LENGTH({x})");
    if keep == 0 {
        // Nothing kept: every character starred, without the ends' branch.
        return format!("REPEAT('*', {len})");
    }
    let middle = format!("REPEAT('*', {len} - {keep})");
    let kept = concat(
        d,
        &[
            &format!("LEFT({x}, {first})"),
            &middle,
            &format!("RIGHT({x}, {last})"),
        ],
    );
    format!("CASE WHEN {len} <= {keep} THEN REPEAT('*', {len}) ELSE {kept} END")
}

fn typed_literal(d: Dialect, v: &str, column: &Column) -> String {
    match d {
        Dialect::Postgres => format!("CAST({} AS {})", d.literal(v), column.sql_type),
        Dialect::MySql => d.literal(v),
    }
}

fn generalize(d: Dialect, x: &str, part: DatePart, column: &Column) -> String {
    let unit = match part {
        DatePart::Month => "month",
        DatePart::Year => "year",
    };
    match d {
        Dialect::Postgres => format!("CAST(date_trunc('{unit}', {x}) AS {})", column.sql_type),
        Dialect::MySql => {
            let day = match part {
                DatePart::Month => "%Y-%m-01",
                DatePart::Year => "%Y-01-01",
            };
            match column.kind {
                ColumnKind::Date => format!("CAST(DATE_FORMAT({x}, '{day}') AS DATE)"),
                _ => format!("CAST(DATE_FORMAT({x}, '{day} 00:00:00') AS DATETIME)"),
            }
        }
    }
}

/// Shifts by ±1..=days days. `round(m - days + 0.5)` over m in 0..2*days rounds half away
/// from zero (exact numerics in both dialects), which never yields 0: the original date never
/// survives, and the hash is computed once.
fn noise(d: Dialect, x: &str, days: u16, kind: ColumnKind) -> String {
    let m = format!(
        "({} % {})",
        d.hex8_to_int(&d.hmac_hex(x)),
        2 * u32::from(days)
    );
    match d {
        Dialect::Postgres => {
            let shift = format!("CAST(round(CAST({m} AS numeric) - {days} + 0.5) AS integer)");
            match kind {
                ColumnKind::Date => format!("({x} + {shift})"),
                _ => format!("({x} + make_interval(days => {shift}))"),
            }
        }
        Dialect::MySql => format!("DATE_ADD({x}, INTERVAL ROUND({m} - {days} + 0.5) DAY)"),
    }
}

/// Replaces each listed JSON leaf with its masked value, for rules that keep every other value
/// and key and list fixed paths only (see [`crate::json`] for the others). A missing path or a
/// JSON null is left as it is; a document that is not an object or array is kept whole, as
/// `others: keep` says.
fn fixed_json(d: Dialect, x: &str, paths: &[JsonPathRule], kind: ColumnKind) -> String {
    let paths: Vec<(&JsonPathRule, &Strategy)> = paths
        .iter()
        .filter_map(|p| p.strategy.as_ref().map(|s| (p, s)))
        .collect();
    if paths.is_empty() {
        return x.to_owned();
    }
    match d {
        Dialect::Postgres => {
            let doc = json::pg_doc(x, kind);
            let mut out = doc.clone();
            for (p, s) in &paths {
                let path = pg_path(&p.segments);
                let leaf = text(d, s, &format!("({doc} #>> {path})"));
                out = format!(
                    "jsonb_set({out}, CASE WHEN {doc} #> {path} IS NULL THEN CAST('{{}}' AS text[]) ELSE {path} END, \
                     COALESCE(to_jsonb({leaf}), CAST('null' AS jsonb)), false)"
                );
            }
            let set = format!(
                "CASE WHEN jsonb_typeof({doc}) IN ('object', 'array') THEN {out} ELSE {doc} END"
            );
            match kind {
                ColumnKind::Jsonb => set,
                ColumnKind::Json => format!("CAST({set} AS json)"),
                _ => format!("CAST({set} AS text)"),
            }
        }
        Dialect::MySql => {
            let pairs: Vec<String> = paths
                .iter()
                .map(|(p, s)| {
                    let path = my_path(&p.segments);
                    format!("{path}, {}", text(d, s, &my_leaf(x, &path)))
                })
                .collect();
            format!("JSON_REPLACE({x}, {})", pairs.join(", "))
        }
    }
}

/// `'{a,b,0}'::text[]`.
fn pg_path(segments: &[JsonSegment]) -> String {
    let parts: Vec<String> = segments
        .iter()
        .map(|s| match s {
            JsonSegment::Key(k) => k.clone(),
            JsonSegment::Index(i) => i.to_string(),
            JsonSegment::AnyKey | JsonSegment::AnyIndex => {
                unreachable!("paths with wildcards are walked (see `json`)")
            }
        })
        .collect();
    format!("CAST('{{{}}}' AS text[])", parts.join(","))
}

/// `'$."a"."b"[0]'`.
fn my_path(segments: &[JsonSegment]) -> String {
    let mut path = String::from("$");
    for s in segments {
        match s {
            JsonSegment::Key(k) => path.push_str(&format!(".\"{k}\"")),
            JsonSegment::Index(i) => path.push_str(&format!("[{i}]")),
            JsonSegment::AnyKey | JsonSegment::AnyIndex => {
                unreachable!("paths with wildcards are walked (see `json`)")
            }
        }
    }
    format!("'{path}'")
}

fn my_leaf(x: &str, path: &str) -> String {
    format!(
        "CASE WHEN JSON_TYPE(JSON_EXTRACT({x}, {path})) = 'NULL' THEN NULL ELSE JSON_UNQUOTE(JSON_EXTRACT({x}, {path})) END"
    )
}

/// What verification looks at for one masked value.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSpec {
    /// `column`, or `column.path` for a JSON leaf.
    pub label: String,
    /// SQL of the value (text for JSON leaves).
    pub value: String,
    /// Predicate every non-NULL masked value satisfies; `None` when the strategy has no shape
    /// to check (noise, raw SQL).
    pub conforms: Option<String>,
    /// Originals are sampled (as keyed digests) and must not reappear after masking.
    pub sampled: bool,
}

/// One spec per masked column, or per masked path of a JSON column with fixed paths only (a
/// walked document is sampled and checked by [`crate::json`]).
pub fn checks(d: Dialect, column: &Column, strategy: &Strategy) -> Vec<CheckSpec> {
    let x = d.ident(&column.name);
    match strategy {
        Strategy::Json(j) if j.fixed_paths_only() => j
            .paths
            .iter()
            .filter_map(|p| p.strategy.as_ref().map(|s| (p, s)))
            .map(|(p, s)| {
                let value = json_leaf(d, &x, &p.segments, column.kind);
                CheckSpec {
                    label: format!("{}.{}", column.name, p.text),
                    conforms: conforms(d, s, &value, None),
                    sampled: sampled(s),
                    value,
                }
            })
            .collect(),
        Strategy::Json(_) => Vec::new(),
        _ => vec![CheckSpec {
            label: column.name.clone(),
            conforms: conforms(d, strategy, &x, Some(column)),
            sampled: sampled(strategy),
            value: x,
        }],
    }
}

/// The text of a JSON leaf (NULL when missing or JSON null).
fn json_leaf(d: Dialect, x: &str, segments: &[JsonSegment], kind: ColumnKind) -> String {
    match d {
        Dialect::Postgres => format!("({} #>> {})", json::pg_doc(x, kind), pg_path(segments)),
        Dialect::MySql => my_leaf(x, &my_path(segments)),
    }
}

fn sampled(strategy: &Strategy) -> bool {
    strategy.derives_text() || matches!(strategy, Strategy::Sql { .. })
}

/// `column` is given for whole columns (typed comparisons), `None` for JSON leaves (text).
pub(crate) fn conforms(
    d: Dialect,
    strategy: &Strategy,
    v: &str,
    column: Option<&Column>,
) -> Option<String> {
    // A length check plus an unbounded class: PostgreSQL's regex engine expands `{64}` into 64
    // states and runs several times slower than this equivalent pair.
    let shaped = |len: usize, pattern: &str| {
        format!("(CHAR_LENGTH({v}) = {len} AND {})", d.matches(v, pattern))
    };
    Some(match strategy {
        Strategy::Hash { length } => shaped(usize::from(*length), "^[0-9a-f]+$"),
        Strategy::Email => d
            .framed(v, "", "0-9a-f", HASH_HEX_LEN, EMAIL_DOMAIN)
            .unwrap_or_else(|| {
                shaped(
                    HASH_HEX_LEN + EMAIL_DOMAIN.len(),
                    "^[0-9a-f]+@example\\.invalid$",
                )
            }),
        Strategy::Name => d
            .framed(v, NAME_PREFIX, "0-9A-F", NAME_HEX_LEN, "")
            .unwrap_or_else(|| {
                shaped(
                    NAME_PREFIX.len() + NAME_HEX_LEN,
                    &format!("^{NAME_PREFIX}[0-9A-F]+$"),
                )
            }),
        Strategy::Phone => d
            .framed(v, PHONE_PREFIX, "0-9", PHONE_DIGITS, "")
            .unwrap_or_else(|| {
                shaped(
                    PHONE_PREFIX.len() + PHONE_DIGITS,
                    &format!("^\\{PHONE_PREFIX}[0-9]+$"),
                )
            }),
        Strategy::Redact {
            keep_first,
            keep_last,
        } => {
            let (f, keep) = (
                u32::from(*keep_first),
                u32::from(*keep_first) + u32::from(*keep_last),
            );
            let len = format!("CHAR_LENGTH({v})");
            if keep == 0 {
                return Some(format!("{v} = REPEAT('*', {len})"));
            }
            format!(
                "({len} = 0 OR {v} = REPEAT('*', {len}) OR ({len} > {keep} AND SUBSTR({v}, {}, {len} - {keep}) = REPEAT('*', {len} - {keep})))",
                f + 1
            )
        }
        Strategy::Null => "1 = 0".to_owned(),
        Strategy::Value(lit) => match column {
            Some(c) => format!("{v} = {}", typed_literal(d, lit, c)),
            None => format!("{v} = {}", d.literal(lit)),
        },
        Strategy::Generalize(part) => {
            let c = column.expect("generalize applies to whole columns");
            format!("{v} = {}", generalize(d, v, *part, c))
        }
        Strategy::Noise { .. } | Strategy::Sql { .. } | Strategy::Json(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{JsonKeys, JsonOthers, JsonRules, json_segments};

    fn column(name: &str, kind: ColumnKind, sql_type: &str) -> Column {
        Column {
            name: name.into(),
            kind,
            sql_type: sql_type.into(),
            nullable: true,
            ..Column::default()
        }
    }

    #[test]
    fn email_is_the_full_hmac_at_the_reserved_domain() {
        let c = column("email", ColumnKind::Text, "text");
        let pg = masked(Dialect::Postgres, &c, &Strategy::Email);
        assert!(pg.starts_with("(encode(sha256("), "{pg}");
        assert!(pg.ends_with("|| '@example.invalid')"), "{pg}");
        let my = masked(Dialect::MySql, &c, &Strategy::Email);
        assert!(
            my.starts_with("CONCAT(SHA2(") && my.ends_with(", '@example.invalid')"),
            "{my}"
        );
    }

    #[test]
    fn each_value_is_hashed_once() {
        let c = column("born", ColumnKind::Date, "date");
        for d in [Dialect::Postgres, Dialect::MySql] {
            for s in [
                Strategy::Noise { days: 5 },
                Strategy::Phone,
                Strategy::Name,
                Strategy::Email,
            ] {
                let sql = masked(d, &c, &s);
                let hashes = sql.matches("sha256(").count() + sql.matches("SHA2(").count();
                assert_eq!(hashes, 2, "one HMAC (two SHA-256) for {d:?} {s:?}: {sql}");
            }
        }
    }

    #[test]
    fn json_paths_become_jsonb_set_and_json_replace() {
        let paths = Strategy::Json(JsonRules {
            paths: vec![JsonPathRule {
                pos: Default::default(),
                text: "contact.email".into(),
                segments: json_segments("contact.email").unwrap(),
                strategy: Some(Strategy::Email),
            }],
            others: JsonOthers::Keep,
            keys: JsonKeys::Keep,
        });
        let c = column("profile", ColumnKind::Jsonb, "jsonb");
        let pg = masked(Dialect::Postgres, &c, &paths);
        assert!(pg.contains("jsonb_set(\"profile\", CASE WHEN \"profile\" #> CAST('{contact,email}' AS text[]) IS NULL"), "{pg}");
        let my = masked(Dialect::MySql, &c, &paths);
        assert!(
            my.starts_with("JSON_REPLACE(`profile`, '$.\"contact\".\"email\"', CONCAT("),
            "{my}"
        );
        let specs = checks(Dialect::Postgres, &c, &paths);
        assert_eq!(specs[0].label, "profile.contact.email");
        assert!(specs[0].sampled);
    }

    #[test]
    fn documents_with_wildcards_or_unlisted_values_to_mask_call_the_walk() {
        let walked = Strategy::Json(JsonRules {
            paths: Vec::new(),
            others: JsonOthers::Hash,
            keys: JsonKeys::Hash,
        });
        let c = column("doc", ColumnKind::Json, "json");
        let pg = masked(Dialect::Postgres, &c, &walked);
        assert!(
            pg.starts_with("CAST(offpeak_masking.offpeak_json_")
                && pg.ends_with("(CAST(\"doc\" AS jsonb), 0, 0) AS json)"),
            "{pg}"
        );
        let my = masked(Dialect::MySql, &c, &walked);
        assert!(
            my.starts_with("offpeak_json_") && my.ends_with("(`doc`)"),
            "{my}"
        );
        assert!(checks(Dialect::MySql, &c, &walked).is_empty());
    }

    #[test]
    fn redact_keeps_the_ends_and_stars_short_values_whole() {
        let c = column("ssn", ColumnKind::Text, "text");
        let sql = masked(
            Dialect::Postgres,
            &c,
            &Strategy::Redact {
                keep_first: 1,
                keep_last: 2,
            },
        );
        assert_eq!(
            sql,
            "CASE WHEN CHAR_LENGTH(\"ssn\") <= 3 THEN REPEAT('*', CHAR_LENGTH(\"ssn\")) ELSE (LEFT(\"ssn\", 1) || REPEAT('*', CHAR_LENGTH(\"ssn\") - 3) || RIGHT(\"ssn\", 2)) END"
        );
    }

    #[test]
    fn redact_keeping_nothing_stars_every_character_in_one_expression() {
        let c = column("street", ColumnKind::Text, "text");
        let s = Strategy::Redact {
            keep_first: 0,
            keep_last: 0,
        };
        assert_eq!(
            masked(Dialect::Postgres, &c, &s),
            "REPEAT('*', CHAR_LENGTH(\"street\"))"
        );
        assert_eq!(
            conforms(Dialect::MySql, &s, "`street`", Some(&c)).as_deref(),
            Some("`street` = REPEAT('*', CHAR_LENGTH(`street`))")
        );
    }

    #[test]
    fn raw_sql_substitutes_the_column() {
        let c = column("code", ColumnKind::Text, "text");
        let s = Strategy::Sql {
            sql: "upper({column})".into(),
            unique: false,
        };
        assert_eq!(masked(Dialect::MySql, &c, &s), "(upper(`code`))");
    }
}
