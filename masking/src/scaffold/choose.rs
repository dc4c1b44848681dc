//! From what a column is (its name, type, constraints and sampled shape) to a strategy, with the
//! reasons a person reviewing the rules needs.
//!
//! Pure. For each personal-looking column the choice is an ordered list of strategies, best
//! first, from which those that cannot work on this column are struck with the reason: a unique
//! index needs a strategy that keeps distinct values distinct (`email`, `hash` at full length,
//! `null`, or a value made from the primary key), a foreign key allows only `null` on its
//! columns and no masking at all of the keys it references, `null` needs a nullable column, and
//! the output must fit the column's length. JSON documents, arrays and other structured values
//! are replaced whole (`null`, or where the column is NOT NULL a constant: `{"masked": true}`,
//! an empty array): the engine's `json` strategy masks only the paths it lists, and documents of
//! varying shape (arrays of contacts, optional keys) could hold personal data under a path no
//! list names. A table with a personal column that nothing
//! fits, or that the engine cannot mask at all (MySQL: triggers, or a non-transactional
//! engine), is truncated instead; tables referencing it are then truncated too (see
//! [`cascade`]). The engine's own classifier has the last word (`super::settle`).

use crate::catalog::{Catalog, Column, ColumnKind, ForeignKey, Table, TableId};
use crate::dialect::Dialect;
use crate::rules::{
    DatePart, EMAIL_DOMAIN, HASH_HEX_LEN, JsonKeys, JsonOthers, JsonRules, NAME_PREFIX,
    PHONE_PREFIX, Strategy,
};

use super::names::{self, Category, Verdict};
use super::sample::{Shape, TableSample};

/// What the scaffold does with one table.
#[derive(Clone, Debug)]
pub struct TableChoice {
    pub id: TableId,
    /// The table's name as the rules file writes it.
    pub rules_name: String,
    /// Rows the sample read.
    pub sampled_rows: u64,
    pub columns: Vec<ColumnChoice>,
    /// Why the whole table is truncated, when it is.
    pub truncate: Option<String>,
}

/// What the scaffold does with one column.
#[derive(Clone, Debug)]
pub struct ColumnChoice {
    pub name: String,
    /// Why the column looks personal (comment lines); empty: kept.
    pub why: Vec<String>,
    /// For a kept column: why it is worth a second look.
    pub note: Option<String>,
    /// Strategies that fit, best first.
    pub options: Vec<Choice>,
    /// The option in use.
    pub at: usize,
    /// Why better options were not taken (comment lines).
    pub passed_over: Vec<String>,
}

/// One strategy and what it does to this column.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub strategy: Strategy,
    pub because: String,
}

impl ColumnChoice {
    pub fn personal(&self) -> bool {
        !self.why.is_empty()
    }

    /// The strategy in use; `None` for kept columns and for personal ones nothing fits.
    pub fn choice(&self) -> Option<&Choice> {
        match self.personal() {
            true => self.options.get(self.at),
            false => None,
        }
    }
}

/// How a column's values are masked, by what they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Text,
    /// JSON documents (a JSON type, or text holding mostly documents).
    Document,
    /// PostgreSQL arrays.
    Array,
    Number,
    Date,
    Binary,
    Boolean,
    /// Any other type (PostgreSQL `inet`, `uuid`, `hstore`, ...; MySQL spatial types, ...).
    Other,
}

fn family(column: &Column, shape: Option<&Shape>) -> Family {
    match column.kind {
        ColumnKind::Json | ColumnKind::Jsonb => Family::Document,
        ColumnKind::Text if shape.is_some_and(Shape::documents) => Family::Document,
        ColumnKind::Text => Family::Text,
        ColumnKind::Integer | ColumnKind::UnsignedInteger | ColumnKind::Numeric => Family::Number,
        ColumnKind::Date | ColumnKind::Timestamp => Family::Date,
        ColumnKind::Binary => Family::Binary,
        ColumnKind::Boolean => Family::Boolean,
        ColumnKind::Other if column.sql_type.ends_with("[]") => Family::Array,
        ColumnKind::Other => Family::Other,
    }
}

/// Whether a column of `family` can hold data of `category` (a boolean `email_opt_in` cannot).
fn holds(family: Family, category: Category) -> bool {
    match family {
        Family::Text | Family::Document | Family::Array | Family::Other => true,
        Family::Number => matches!(
            category,
            Category::Phone | Category::NationalId | Category::Ip | Category::Geo
        ),
        Family::Date => category == Category::Birth,
        Family::Binary => matches!(category, Category::Secret | Category::Ip),
        Family::Boolean => false,
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the sample says about a column: a category and a comment line, or nothing.
fn by_shape(family: Family, shape: &Shape) -> Option<(Category, String)> {
    let of = |n: u64, what: &str| {
        format!(
            "{n} of {} {} {what}",
            plural(shape.values, "sampled value", "sampled values"),
            if n == 1 { "is" } else { "are" }
        )
    };
    match family {
        Family::Text => {
            if shape.mostly(shape.email) {
                Some((Category::Email, of(shape.email, "e-mail addresses")))
            } else if shape.mostly(shape.phone) {
                Some((Category::Phone, of(shape.phone, "phone numbers")))
            } else if shape.mostly(shape.ip) {
                Some((Category::Ip, of(shape.ip, "IP addresses")))
            } else {
                inside(shape).map(|line| (Category::FreeText, line))
            }
        }
        Family::Document => {
            let mut parts = vec![of(shape.documents, "JSON documents")];
            parts.extend(inside(shape));
            if shape.keys > 0 {
                parts.push(format!(
                    "{} of them {} personal-looking keys (e-mail, phone, name, address, ...)",
                    shape.keys,
                    if shape.keys == 1 { "has" } else { "have" }
                ));
            }
            (parts.len() > 1).then(|| (Category::FreeText, parts.join("; ")))
        }
        Family::Array | Family::Other => inside(shape).map(|line| (Category::FreeText, line)),
        _ => None,
    }
}

/// `4 of 10 sampled values hold an e-mail address, 1 a phone number`; `None` when none does.
fn inside(shape: &Shape) -> Option<String> {
    let email = shape.email_in.max(shape.email);
    let phone = shape.phone_in.max(shape.phone);
    let ip = shape.ip_in.max(shape.ip);
    let parts: Vec<String> = [
        (email, "an e-mail address"),
        (phone, "a phone number"),
        (ip, "an IP address"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .enumerate()
    .map(|(i, (n, what))| match i {
        0 => format!(
            "{n} of {} {} {what}",
            plural(shape.values, "sampled value", "sampled values"),
            if n == 1 { "holds" } else { "hold" }
        ),
        _ => format!("{n} {what}"),
    })
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The constraints a column's strategy must respect.
struct Constraints<'a> {
    column: &'a Column,
    /// Unique indexes (the primary key included) covering the column.
    unique: Vec<&'a str>,
    nulls_not_distinct: bool,
    referenced_by: Option<&'a ForeignKey>,
    in_foreign_key: Option<&'a ForeignKey>,
}

impl<'a> Constraints<'a> {
    fn of(catalog: &'a Catalog, table: &'a Table, column: &'a Column) -> Self {
        let covering: Vec<_> = table
            .unique_indexes
            .iter()
            .filter(|i| i.columns.contains(&column.name))
            .collect();
        Constraints {
            column,
            unique: covering.iter().map(|i| i.name.as_str()).collect(),
            nulls_not_distinct: covering.iter().any(|i| i.nulls_not_distinct),
            referenced_by: catalog
                .foreign_keys
                .iter()
                .find(|fk| fk.parent == table.id && fk.parent_columns.contains(&column.name)),
            in_foreign_key: catalog
                .foreign_keys
                .iter()
                .find(|fk| fk.child == table.id && fk.child_columns.contains(&column.name)),
        }
    }

    /// Why `choice` cannot work on this column, if it cannot.
    fn refuses(&self, catalog: &Catalog, choice: &Choice, chars: Option<usize>) -> Option<String> {
        let s = &choice.strategy;
        let name = s.name();
        if let Some(fk) = self.referenced_by {
            return Some(format!(
                "foreign key `{}` of `{}` references it, and the engine never masks a referenced key",
                fk.name,
                catalog.display(&fk.child)
            ));
        }
        if let Some(fk) = self.in_foreign_key
            && (!matches!(s, Strategy::Null) || fk.match_full)
        {
            return Some(format!(
                "it is part of foreign key `{}`: only `null` keeps that valid",
                fk.name
            ));
        }
        if matches!(s, Strategy::Null) && !self.column.nullable {
            return Some("not `null`: the column is NOT NULL".to_owned());
        }
        if matches!(s, Strategy::Null) && self.nulls_not_distinct {
            return Some("not `null`: a unique index on it treats NULLs as equal".to_owned());
        }
        if !self.unique.is_empty() && !s.keeps_unique() {
            return Some(format!(
                "not `{name}`: it can repeat values, and unique index `{}` covers the column",
                self.unique[0]
            ));
        }
        let out = chars.or_else(|| s.output_chars());
        if let (Some(out), Some(max)) = (out, self.column.max_chars)
            && out > max
        {
            return Some(format!(
                "not `{name}`: it produces up to {out} characters and the column holds {max}"
            ));
        }
        None
    }
}

/// A candidate with, for raw SQL, the longest text it produces.
struct Candidate {
    choice: Choice,
    chars: Option<usize>,
}

fn candidate(strategy: Strategy, because: impl Into<String>) -> Candidate {
    Candidate {
        choice: Choice {
            strategy,
            because: because.into(),
        },
        chars: None,
    }
}

const MAX_KEY_DIGITS: usize = 20;

/// The primary key a value can be made from: one integer column, kept.
struct Key<'a> {
    name: &'a str,
}

fn from_key(d: Dialect, key: &Key<'_>, prefix: &str, suffix: &str) -> Candidate {
    let k = d.ident(key.name);
    let expr = match d {
        Dialect::Postgres => {
            let mut parts = vec![d.literal(prefix), format!("CAST({k} AS text)")];
            if !suffix.is_empty() {
                parts.push(d.literal(suffix));
            }
            parts.join(" || ")
        }
        Dialect::MySql => {
            let mut parts = vec![d.literal(prefix), k.clone()];
            if !suffix.is_empty() {
                parts.push(d.literal(suffix));
            }
            format!("CONCAT({})", parts.join(", "))
        }
    };
    Candidate {
        choice: Choice {
            strategy: Strategy::Sql {
                sql: format!("CASE WHEN {{column}} IS NULL THEN NULL ELSE {expr} END"),
                unique: true,
            },
            because: format!(
                "`sql`: made from the primary key `{}`, so distinct for every row (a unique index stays valid; equal values do not stay equal across tables)",
                key.name
            ),
        },
        chars: Some(prefix.chars().count() + MAX_KEY_DIGITS + suffix.chars().count()),
    }
}

fn hash(length: usize) -> Strategy {
    Strategy::Hash {
        length: length as u8,
    }
}

fn redact() -> Candidate {
    candidate(
        Strategy::Redact {
            keep_first: 0,
            keep_last: 0,
        },
        "`redact`: every character starred",
    )
}

fn null() -> Candidate {
    candidate(Strategy::Null, "`null`: the value is removed")
}

fn full_hash() -> Candidate {
    candidate(
        hash(HASH_HEX_LEN),
        "`hash`: 64 hex digits of a keyed hash; equal values stay equal (joins survive), distinct ones distinct",
    )
}

/// `hash` shortened to fit a column of `max` characters (16 to 63).
fn short_hash(max: Option<usize>) -> Option<Candidate> {
    let max = max?;
    (16..HASH_HEX_LEN).contains(&max).then(|| {
        candidate(
            hash(max),
            format!(
                "`hash` shortened to {max} hex digits to fit the column; equal values stay equal"
            ),
        )
    })
}

/// Candidates for a text column, best first.
fn text_candidates(
    d: Dialect,
    category: Category,
    column: &Column,
    key: Option<&Key<'_>>,
) -> Vec<Candidate> {
    let keyed = |prefix: &str, suffix: &str| key.map(|k| from_key(d, k, prefix, suffix));
    let mut out: Vec<Option<Candidate>> = match category {
        Category::Email => vec![
            Some(candidate(
                Strategy::Email,
                "`email`: <64 hex digits>@example.invalid; equal values stay equal (joins survive), distinct ones distinct",
            )),
            Some(full_hash()),
            keyed("masked-", EMAIL_DOMAIN),
            short_hash(column.max_chars),
            Some(redact()),
            Some(null()),
        ],
        Category::Phone => vec![
            Some(candidate(
                Strategy::Phone,
                "`phone`: +999 and 9 digits; equal values stay equal",
            )),
            Some(full_hash()),
            keyed(PHONE_PREFIX, ""),
            Some(redact()),
            Some(null()),
        ],
        Category::PersonName => vec![
            Some(candidate(
                Strategy::Name,
                "`name`: Person and 10 hex digits; equal values stay equal (joins survive)",
            )),
            Some(full_hash()),
            keyed(NAME_PREFIX, ""),
            Some(redact()),
            Some(null()),
        ],
        Category::Username | Category::Secret => vec![
            Some(full_hash()),
            keyed("masked-", ""),
            short_hash(column.max_chars),
            Some(redact()),
            Some(null()),
        ],
        Category::Ip | Category::FreeText => vec![
            Some(null()),
            Some(redact()),
            Some(full_hash()),
            keyed("masked-", ""),
        ],
        Category::NationalId | Category::Address | Category::Birth | Category::Geo => vec![
            Some(redact()),
            Some(full_hash()),
            keyed("masked-", ""),
            Some(null()),
        ],
    };
    out.drain(..).flatten().collect()
}

/// Candidates that replace a document, array or other structured value whole.
fn whole_candidates(d: Dialect, family: Family, column: &Column, arrays: bool) -> Vec<Candidate> {
    let why_whole = match family {
        Family::Document => {
            "replaced whole: documents of varying shape could hold personal data anywhere"
        }
        Family::Array => "replaced whole: any element could hold personal data",
        _ => "replaced whole",
    };
    let mut out = vec![candidate(Strategy::Null, format!("`null`: {why_whole}"))];
    let neutral = match family {
        Family::Document => Some(match arrays {
            true => (r#"["masked"]"#.to_owned(), r#"the document ["masked"]"#),
            false => (
                r#"{"masked": true}"#.to_owned(),
                r#"the document {"masked": true}"#,
            ),
        }),
        Family::Array => Some(("{}".to_owned(), "an empty array")),
        Family::Binary => Some((String::new(), "empty bytes")),
        Family::Number => Some(("0".to_owned(), "0")),
        Family::Other => {
            neutral_literal(&column.sql_type).map(|v| (v.to_owned(), "a neutral value"))
        }
        _ => None,
    };
    match (family, neutral) {
        (Family::Document, _) if column.kind == ColumnKind::Json => {
            out.push(json_constant(d, arrays, why_whole));
        }
        (_, Some((value, what))) => out.push(candidate(
            Strategy::Value(value),
            format!("`value`: {what}; {why_whole}"),
        )),
        _ => {}
    }
    out
}

/// PostgreSQL `json` has no equality (so `value` could not be verified) and MySQL compares a
/// JSON column with a string as a JSON string: the constant document through raw SQL instead.
///
/// The constant is `{"masked": true}` (or `["masked"]`) rather than an empty document, here and
/// for `value`: verification looks for every sampled original of a table in the statistics of
/// all its columns, and an empty document is a common original of some other JSON column.
fn json_constant(d: Dialect, arrays: bool, why_whole: &str) -> Candidate {
    let doc = match (d, arrays) {
        (Dialect::Postgres, false) => "CAST('{\"masked\": true}' AS json)".to_owned(),
        (Dialect::Postgres, true) => "CAST('[\"masked\"]' AS json)".to_owned(),
        (Dialect::MySql, false) => "JSON_OBJECT('masked', TRUE)".to_owned(),
        (Dialect::MySql, true) => "JSON_ARRAY('masked')".to_owned(),
    };
    let shown = match arrays {
        true => "[\"masked\"]",
        false => "{\"masked\": true}",
    };
    candidate(
        Strategy::Sql {
            sql: format!("CASE WHEN {{column}} IS NULL THEN NULL ELSE {doc} END"),
            unique: false,
        },
        format!("`sql`: the constant document {shown}; {why_whole}"),
    )
}

/// A value of a PostgreSQL type that identifies no one.
fn neutral_literal(sql_type: &str) -> Option<&'static str> {
    Some(match sql_type {
        "inet" => "0.0.0.0",
        "cidr" => "0.0.0.0/32",
        "macaddr" => "00:00:00:00:00:00",
        "uuid" => "00000000-0000-0000-0000-000000000000",
        "hstore" => "",
        _ => return None,
    })
}

/// Candidates for a column of `family` holding `category`.
fn candidates(
    d: Dialect,
    family: Family,
    category: Category,
    column: &Column,
    shape: Option<&Shape>,
    key: Option<&Key<'_>>,
) -> Vec<Candidate> {
    match family {
        Family::Text => text_candidates(d, category, column, key),
        Family::Date if category == Category::Birth => vec![
            candidate(
                Strategy::Generalize(DatePart::Year),
                "`generalize` to the year: only the year is left",
            ),
            null(),
        ],
        Family::Date => vec![null()],
        Family::Boolean => Vec::new(),
        Family::Document => {
            let arrays = shape.is_some_and(|s| s.mostly(s.arrays));
            let mut out = walked_document(column).into_iter().collect::<Vec<_>>();
            out.extend(whole_candidates(d, family, column, arrays));
            out
        }
        _ => whole_candidates(d, family, column, false),
    }
}

/// A JSON-typed column: `json` with no path, every value and every key hashed, at any depth and
/// in any shape, so the documents keep their structure and nothing in them is left unmasked.
/// Text holding documents is replaced whole instead (a value that is not JSON would fail the
/// walk).
fn walked_document(column: &Column) -> Option<Candidate> {
    matches!(column.kind, ColumnKind::Json | ColumnKind::Jsonb).then(|| {
        candidate(
            Strategy::Json(JsonRules {
                paths: Vec::new(),
                others: JsonOthers::Hash,
                keys: JsonKeys::Hash,
            }),
            "`json` with `others: hash`: every value and every key of the document, at any depth, \
             replaced by its keyed hash (JSON null stays null); list paths to keep or mask values \
             otherwise",
        )
    })
}

/// The scaffold's choice for `table`, before the engine checks it.
pub fn table(
    catalog: &Catalog,
    table: &Table,
    rules_name: String,
    sample: &TableSample,
    d: Dialect,
) -> TableChoice {
    // First pass: what each column is.
    let judged: Vec<Judged> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| judge(table, c, sample.shapes.get(i).copied().flatten()))
        .collect();
    let key = match table.primary_key.as_slice() {
        [k] => {
            let kept = judged
                .iter()
                .zip(&table.columns)
                .any(|(j, c)| &c.name == k && j.category.is_none());
            let integer = table.column(k).is_some_and(|c| {
                matches!(c.kind, ColumnKind::Integer | ColumnKind::UnsignedInteger)
            });
            (kept && integer).then_some(Key { name: k })
        }
        _ => None,
    };
    let mut columns = Vec::with_capacity(table.columns.len());
    for (column, j) in table.columns.iter().zip(judged) {
        columns.push(column_choice(catalog, table, column, j, key.as_ref(), d));
    }
    let mut choice = TableChoice {
        id: table.id.clone(),
        rules_name,
        sampled_rows: sample.rows,
        columns,
        truncate: None,
    };
    let personal: Vec<&str> = choice
        .columns
        .iter()
        .filter(|c| c.personal())
        .map(|c| c.name.as_str())
        .collect();
    if d == Dialect::MySql && !personal.is_empty() {
        if !table.triggers.is_empty() {
            choice.truncate = Some(format!(
                "truncated: it has personal-looking columns ({}) and triggers ({}), which MySQL cannot disable while masking; drop the triggers in the clone and classify its columns to keep its rows",
                personal.join(", "),
                table.triggers.join(", ")
            ));
        } else if !table.transactional {
            choice.truncate = Some(format!(
                "truncated: it has personal-looking columns ({}) and is not InnoDB, and masking needs a transactional engine",
                personal.join(", ")
            ));
        }
    }
    if choice.truncate.is_none()
        && let Some(stuck) = choice
            .columns
            .iter()
            .find(|c| c.personal() && c.choice().is_none())
    {
        let why = match stuck.passed_over.as_slice() {
            [] => String::new(),
            reasons => format!(" ({})", reasons.join("; ")),
        };
        choice.truncate = Some(format!(
            "truncated: `{}` looks personal but no strategy fits it{why}",
            stuck.name
        ));
    }
    choice
}

/// What a column is, before its constraints are looked at.
struct Judged {
    family: Family,
    category: Option<Category>,
    why: Vec<String>,
    note: Option<String>,
    shape: Option<Shape>,
}

fn judge(table: &Table, column: &Column, shape: Option<Shape>) -> Judged {
    let family = family(column, shape.as_ref());
    let verdict = names::verdict(&column.name, &table.id.name);
    let mut why = Vec::new();
    let mut note = None;
    let by_name = match verdict {
        Verdict::Personal { category, why: w } if holds(family, category) => {
            why.push(w);
            Some(category)
        }
        Verdict::Personal { .. } | Verdict::Nothing => None,
        Verdict::Kept { why: w } => {
            note = Some(w);
            None
        }
    };
    let by_shape = shape.as_ref().and_then(|s| by_shape(family, s));
    let category = match (by_name, &by_shape) {
        // Values that are e-mail addresses, phone numbers or IPs decide the strategy.
        (_, Some((c @ (Category::Email | Category::Phone | Category::Ip), _))) => Some(*c),
        (Some(c), _) => Some(c),
        (None, Some((c, _))) => Some(*c),
        (None, None) => None,
    };
    if let Some((_, line)) = by_shape {
        why.push(line);
    }
    if category.is_some() {
        note = None;
    }
    if column.generated && category.is_some() {
        return Judged {
            family,
            category: None,
            why: Vec::new(),
            note: Some(format!(
                "kept: it looks personal ({}) but is generated from other columns, which the engine masks instead: make sure they are masked",
                why.join("; ")
            )),
            shape,
        };
    }
    Judged {
        family,
        category,
        why,
        note,
        shape,
    }
}

fn column_choice(
    catalog: &Catalog,
    table: &Table,
    column: &Column,
    judged: Judged,
    key: Option<&Key<'_>>,
    d: Dialect,
) -> ColumnChoice {
    let Some(category) = judged.category else {
        return ColumnChoice {
            name: column.name.clone(),
            why: Vec::new(),
            note: judged.note,
            options: Vec::new(),
            at: 0,
            passed_over: Vec::new(),
        };
    };
    let key = key.filter(|k| k.name != column.name);
    let constraints = Constraints::of(catalog, table, column);
    let mut options = Vec::new();
    let mut passed_over = Vec::new();
    for c in candidates(
        d,
        judged.family,
        category,
        column,
        judged.shape.as_ref(),
        key,
    ) {
        match constraints.refuses(catalog, &c.choice, c.chars) {
            None => options.push(c.choice),
            // Only reasons that struck something better than what was chosen are worth a line.
            Some(why) if options.is_empty() && !passed_over.contains(&why) => passed_over.push(why),
            Some(_) => {}
        }
    }
    let mut why = judged.why;
    if !constraints.unique.is_empty() {
        let (noun, verb) = match constraints.unique.len() {
            1 => ("index", "covers"),
            _ => ("indexes", "cover"),
        };
        why.push(format!(
            "unique {noun} {} {verb} it",
            constraints
                .unique
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    ColumnChoice {
        name: column.name.clone(),
        why,
        note: None,
        options,
        at: 0,
        passed_over,
    }
}

/// Truncates every table that references a truncated one (the engine refuses to leave rows
/// pointing at an emptied table), until nothing changes.
pub fn cascade(catalog: &Catalog, tables: &mut [TableChoice]) {
    loop {
        let mut changed = false;
        for fk in &catalog.foreign_keys {
            let parent_truncated = tables
                .iter()
                .any(|t| t.id == fk.parent && t.truncate.is_some());
            if !parent_truncated {
                continue;
            }
            if let Some(child) = tables
                .iter_mut()
                .find(|t| t.id == fk.child && t.truncate.is_none())
            {
                child.truncate = Some(format!(
                    "truncated: it references `{}` (foreign key `{}`), which is truncated",
                    catalog.display(&fk.parent),
                    fk.name
                ));
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fixtures::unique;

    fn col(
        name: &str,
        kind: ColumnKind,
        sql_type: &str,
        nullable: bool,
        max: Option<usize>,
    ) -> Column {
        Column {
            name: name.into(),
            kind,
            sql_type: sql_type.into(),
            nullable,
            max_chars: max,
            ..Column::default()
        }
    }

    fn id(name: &str) -> TableId {
        TableId {
            schema: "public".into(),
            name: name.into(),
        }
    }

    fn shape(values: u64, f: impl FnOnce(&mut Shape)) -> Option<Shape> {
        let mut s = Shape {
            values,
            ..Shape::default()
        };
        f(&mut s);
        Some(s)
    }

    fn strategies(t: &TableChoice) -> Vec<(String, Option<String>)> {
        t.columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.choice().map(|ch| ch.strategy.name().to_owned()),
                )
            })
            .collect()
    }

    fn users() -> (Catalog, Table) {
        let users = Table {
            id: id("users"),
            columns: vec![
                col("id", ColumnKind::Integer, "bigint", false, None),
                col(
                    "email",
                    ColumnKind::Text,
                    "character varying(60)",
                    false,
                    Some(60),
                ),
                col("full_name", ColumnKind::Text, "text", true, None),
                col("contact", ColumnKind::Text, "text", true, None),
                col("born", ColumnKind::Date, "date", true, None),
                col("profile", ColumnKind::Jsonb, "jsonb", false, None),
                col("status", ColumnKind::Text, "text", false, None),
                col("tags", ColumnKind::Other, "text[]", true, None),
            ],
            primary_key: vec!["id".into()],
            unique_indexes: vec![
                unique("users_pkey", "id"),
                unique("users_email_key", "email"),
            ],
            transactional: true,
            ..Table::default()
        };
        let catalog = Catalog {
            default_schema: "public".into(),
            tables: vec![users.clone()],
            ..Catalog::default()
        };
        (catalog, users)
    }

    #[test]
    fn each_column_gets_the_best_strategy_its_constraints_allow() {
        let (catalog, users) = users();
        let sample = TableSample {
            rows: 10,
            shapes: vec![
                None,
                shape(10, |s| s.email = 10),
                shape(9, |_| {}),
                shape(10, |s| s.phone = 8),
                None,
                shape(10, |s| {
                    s.documents = 10;
                    s.email_in = 4;
                }),
                shape(10, |_| {}),
                shape(3, |s| s.email_in = 1),
            ],
        };
        let t = table(&catalog, &users, "users".into(), &sample, Dialect::Postgres);
        let got = strategies(&t);
        let want = [
            ("id", None),
            // Unique and 60 characters: neither `email` (80) nor `hash` (64) fits.
            ("email", Some("sql")),
            ("full_name", Some("name")),
            ("contact", Some("phone")),
            ("born", Some("generalize")),
            // A JSON-typed document is walked, every value and key hashed.
            ("profile", Some("json")),
            ("status", None),
            ("tags", Some("null")),
        ];
        let want: Vec<(String, Option<String>)> = want
            .iter()
            .map(|(c, s)| (c.to_string(), s.map(str::to_owned)))
            .collect();
        assert_eq!(got, want);
        let email = &t.columns[1];
        assert!(
            email
                .passed_over
                .iter()
                .any(|w| w.contains("80 characters")),
            "{:?}",
            email.passed_over
        );
        let Some(Strategy::Sql { sql, unique }) = email.choice().map(|c| c.strategy.clone()) else {
            panic!("sql")
        };
        assert!(unique);
        assert_eq!(
            sql,
            "CASE WHEN {column} IS NULL THEN NULL ELSE 'masked-' || CAST(\"id\" AS text) || '@example.invalid' END"
        );
        assert!(t.truncate.is_none());
    }

    #[test]
    fn a_referenced_personal_key_truncates_its_table_and_those_that_reference_it() {
        let accounts = Table {
            id: id("accounts"),
            columns: vec![col("email", ColumnKind::Text, "text", false, None)],
            primary_key: vec!["email".into()],
            unique_indexes: vec![unique("accounts_pkey", "email")],
            transactional: true,
            ..Table::default()
        };
        let logins = Table {
            id: id("logins"),
            columns: vec![
                col("account_email", ColumnKind::Text, "text", true, None),
                col("at", ColumnKind::Timestamp, "timestamptz", false, None),
            ],
            transactional: true,
            ..Table::default()
        };
        let catalog = Catalog {
            default_schema: "public".into(),
            tables: vec![accounts.clone(), logins.clone()],
            foreign_keys: vec![ForeignKey {
                name: "logins_account_fk".into(),
                child: id("logins"),
                child_columns: vec!["account_email".into()],
                parent: id("accounts"),
                parent_columns: vec!["email".into()],
                match_full: false,
            }],
            ..Catalog::default()
        };
        let none = |n| TableSample {
            rows: 0,
            shapes: vec![None; n],
        };
        let mut tables = vec![
            table(
                &catalog,
                &accounts,
                "accounts".into(),
                &none(1),
                Dialect::Postgres,
            ),
            table(
                &catalog,
                &logins,
                "logins".into(),
                &none(2),
                Dialect::Postgres,
            ),
        ];
        assert!(tables[0].truncate.as_deref().unwrap().contains("`email`"));
        cascade(&catalog, &mut tables);
        assert!(
            tables[1]
                .truncate
                .as_deref()
                .unwrap()
                .contains("references `accounts`"),
            "{:?}",
            tables[1].truncate
        );
    }

    #[test]
    fn mysql_tables_with_triggers_are_truncated_rather_than_masked() {
        let (mut catalog, mut users) = users();
        users.triggers = vec!["users_audit".into()];
        catalog.tables = vec![users.clone()];
        let sample = TableSample {
            rows: 0,
            shapes: vec![None; users.columns.len()],
        };
        let t = table(&catalog, &users, "users".into(), &sample, Dialect::MySql);
        assert!(t.truncate.as_deref().unwrap().contains("users_audit"));
    }

    #[test]
    fn json_typed_columns_are_walked_with_others_hash_and_text_documents_replaced_whole() {
        let doc = col("doc", ColumnKind::Jsonb, "jsonb", false, None);
        let got = candidates(
            Dialect::Postgres,
            Family::Document,
            Category::FreeText,
            &doc,
            None,
            None,
        );
        let Strategy::Json(j) = &got[0].choice.strategy else {
            panic!("json first: {:?}", got[0].choice.strategy)
        };
        assert_eq!((j.others, j.keys), (JsonOthers::Hash, JsonKeys::Hash));
        assert!(j.paths.is_empty());
        let text = col("doc", ColumnKind::Text, "text", false, None);
        let got = candidates(
            Dialect::MySql,
            Family::Document,
            Category::FreeText,
            &text,
            None,
            None,
        );
        assert_eq!(got[0].choice.strategy, Strategy::Null);
    }

    #[test]
    fn json_columns_without_equality_get_a_constant_document() {
        let c = col("doc", ColumnKind::Json, "json", false, None);
        let got = whole_candidates(Dialect::Postgres, Family::Document, &c, false);
        assert!(matches!(
            got[1].choice.strategy,
            Strategy::Sql { unique: false, .. }
        ));
        let c = col("doc", ColumnKind::Jsonb, "jsonb", false, None);
        let got = whole_candidates(Dialect::Postgres, Family::Document, &c, true);
        assert_eq!(
            got[1].choice.strategy,
            Strategy::Value("[\"masked\"]".into())
        );
    }
}
