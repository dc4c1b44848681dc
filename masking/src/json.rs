//! JSON documents without holes: the `json` strategy walks every document and classifies every
//! value and every key in it.
//!
//! Guarantees, for a column masked by `{ strategy: json, paths: {...}, others: ..., keys: ... }`:
//! - **Every value is classified.** A scalar a listed path reaches gets that path's strategy
//!   (`keep` keeps it; a path that reaches an object or array masks its JSON text whole, or keeps
//!   it whole); every other scalar, at any depth, in arrays of any length, gets `others` (`null`:
//!   JSON null, `hash`: the 64-hex-digit keyed hash of its text, `keep`: as it is).
//! - **Every key is classified.** A key a listed path spells out (`$.contact.email` spells
//!   `contact` and `email`) is kept; every other key, wildcards' included, gets `keys` (`hash`:
//!   the keyed hash of the key, e.g. e-mails used as keys; `keep`).
//! - **Any shape is defined.** A document of another shape than the paths expect — a bare
//!   string or number, a top-level array, an array where an object was expected — has nothing a
//!   path reaches, so its values get `others`. JSON null stays JSON null and SQL NULL stays SQL
//!   NULL under every rule (neither holds a value).
//! - **Deterministic, server-side, keyed.** Hashes are the same HMAC as the `hash` strategy
//!   (same text and salt, same output, in every table and run), computed by the server from the
//!   key blocks already in the session (see `key_transport`): no key material is in any routine,
//!   statement or parameter.
//! - **Verified.** Before masking, the keyed digests of the masked originals (leaves and hashed
//!   keys) are sampled (label `column.*`); verification walks every masked document again with
//!   the same rules and fails when a masked position holds a sampled original or a value without
//!   its rule's shape (an original planted back after masking fails one or the other).
//!
//! Where every unlisted value and key is kept and no path has a wildcard
//! ([`JsonRules::fixed_paths_only`]), the document is masked by setting each listed path in one
//! expression (`expr`), without a routine.
//!
//! How: SQL has no recursion over arbitrary documents, so the walk is a routine generated from the
//! rules (pure text, named by a digest of the rules, so equal rules share it and a rules change
//! gets a new name). Each listed path is a bit of a 64-bit mask that stays set while the path
//! still matches on the way down. [`install`] creates the routines before masking or verifying,
//! [`uninstall`] drops them after; a run cut short leaves them for the next run (they hold no key
//! and no value).
//! - **PostgreSQL**: PL/pgSQL functions (PL/pgSQL because a SQL function's body is checked at
//!   creation, before it exists to call itself) in offpeak's bookkeeping schema
//!   `offpeak_masking`, not `pg_temp`, so that every session filling a swap copy sees them.
//! - **MariaDB / MySQL**: a stored function may not call itself, but a stored procedure may, so
//!   each walk is a recursive procedure behind a function, created in the masked database (where
//!   the bookkeeping tables live); the session's `max_sp_recursion_depth` is raised to 255.
//!   Creating a routine needs `CREATE ROUTINE`, and where binary logging is on for the session,
//!   `log_bin_trust_function_creators` or `SUPER`.
//!
//! Failure behaviour: a document nested deeper than the engine's recursion allows (MariaDB 255
//! levels, PostgreSQL its stack depth) fails the statement masking it, which rolls back; text
//! columns holding something other than JSON fail the same way on PostgreSQL. Nothing is left
//! half-masked, and the error names the table, never a value.

use sha2::{Digest, Sha256};

use super::bookkeeping::{self, sample_table};
use super::catalog::ColumnKind;
use super::classify::{MaskedColumn, PlannedAction, TablePlan};
use super::conn::{Db, Param};
use super::dialect::Dialect;
use super::expr;
use super::report::{Check, check};
use super::rules::{HASH_HEX_LEN, JsonKeys, JsonOthers, JsonRules, JsonSegment, Strategy};
use super::scrub::DbError;

/// PostgreSQL schema of the routines (the bookkeeping's).
const PG_SCHEMA: &str = "offpeak_masking";

/// The walked document rule of a masked column, if it has one.
fn walked(strategy: &Strategy) -> Option<&JsonRules> {
    match strategy {
        Strategy::Json(j) if !j.fixed_paths_only() => Some(j),
        _ => None,
    }
}

/// Routine base name: a digest of the rules (positions left out, so moving a rule in the file
/// changes nothing).
fn base(d: Dialect, rules: &JsonRules) -> String {
    let mut text = format!("v1 {d:?} {} {}", rules.others.name(), rules.keys.name());
    for p in &rules.paths {
        text.push_str(&format!(" | {:?} {:?}", p.segments, p.strategy));
    }
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let name = format!("offpeak_json_{}", &digest[..16]);
    match d {
        Dialect::Postgres => format!("{PG_SCHEMA}.{name}"),
        Dialect::MySql => name,
    }
}

/// The masked document of column `x` (quoted) of `kind`.
pub fn masked(d: Dialect, x: &str, rules: &JsonRules, kind: ColumnKind) -> String {
    let f = base(d, rules);
    match d {
        Dialect::Postgres => {
            let call = format!("{f}({}, {}, 0)", pg_doc(x, kind), all_bits(rules));
            match kind {
                ColumnKind::Jsonb => call,
                ColumnKind::Json => format!("CAST({call} AS json)"),
                _ => format!("CAST({call} AS text)"),
            }
        }
        Dialect::MySql => format!("{f}({x})"),
    }
}

/// PostgreSQL: column `x` as a `jsonb` document (a `json` or text column is cast).
pub(crate) fn pg_doc(x: &str, kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Jsonb => x.to_owned(),
        _ => format!("CAST({x} AS jsonb)"),
    }
}

fn all_bits(rules: &JsonRules) -> u64 {
    (0..rules.paths.len()).fold(0, |m, i| m | 1 << i)
}

/// `FROM` text listing, per row of `table`, every masked position of column `x` as
/// `x.kind` (`k`: a hashed key, `o`: a value `others` masks, `p<i>`: a value path `i` masks) and
/// `x.v` (its text).
fn positions(d: Dialect, table: &str, x: &str, rules: &JsonRules, kind: ColumnKind) -> String {
    let f = format!("{}_leaves", base(d, rules));
    match d {
        Dialect::Postgres => format!(
            "{table} CROSS JOIN LATERAL (SELECT e ->> 0 AS kind, e ->> 1 AS v FROM \
             jsonb_array_elements({f}({}, {}, 0)) e) x",
            pg_doc(x, kind),
            all_bits(rules)
        ),
        Dialect::MySql => format!(
            "{table} CROSS JOIN JSON_TABLE({f}({table}.{x}), '$[*]' COLUMNS (kind VARCHAR(8) PATH '$[0]', \
             v LONGTEXT CHARACTER SET utf8mb4 PATH '$[1]')) AS x"
        ),
    }
}

/// Whether `x.v` has the shape its position's rule gives (keys and `others: hash` 64 hex
/// digits, `others: null` nothing, a path its strategy's; no shape: true).
fn conforms(d: Dialect, rules: &JsonRules) -> String {
    let hex = expr::conforms(d, &full_hash(), "x.v", None).unwrap_or_else(|| "1 = 1".into());
    let mut arms = vec![format!("WHEN 'k' THEN {hex}")];
    match rules.others {
        JsonOthers::Hash => arms.push(format!("WHEN 'o' THEN {hex}")),
        JsonOthers::Null => arms.push("WHEN 'o' THEN 1 = 0".to_owned()),
        JsonOthers::Keep => {}
    }
    for (i, p) in rules.paths.iter().enumerate() {
        if let Some(s) = &p.strategy {
            let c = expr::conforms(d, s, "x.v", None).unwrap_or_else(|| "1 = 1".into());
            arms.push(format!("WHEN 'p{i}' THEN {c}"));
        }
    }
    format!("(CASE x.kind {} ELSE 1 = 0 END)", arms.join(" "))
}

fn full_hash() -> Strategy {
    Strategy::Hash {
        length: HASH_HEX_LEN as u8,
    }
}

fn label(column: &str) -> String {
    format!("{column}.*")
}

/// The statement sampling the masked originals of column `m` of `plan` (none when the column
/// is not a walked document).
pub fn capture(d: Dialect, plan: &TablePlan, m: &MaskedColumn) -> Option<(String, Vec<Param>)> {
    let rules = walked(&m.strategy)?;
    let table = d.table(&plan.table.id.schema, &plan.table.id.name);
    let x = d.ident(&m.column.name);
    let from = positions(d, &table, &x, rules, m.column.kind);
    Some(bookkeeping::capture(
        d,
        &plan.display,
        &label(&m.column.name),
        "x.v",
        Some(conforms(d, rules).as_str()),
        &from,
    ))
}

/// Verification of every walked document column of `plan`: a `pattern` check (every masked
/// position has its rule's shape) and a `sample` check (no masked position holds a sampled
/// original), each named `table.column.*`.
pub async fn checks(
    db: &mut Db,
    plan: &TablePlan,
    name: &str,
    masked: &[MaskedColumn],
) -> Result<Vec<Check>, DbError> {
    let d = db.dialect;
    let mut out = Vec::new();
    for m in masked {
        let Some(rules) = walked(&m.strategy) else {
            continue;
        };
        let subject = format!("{}.{}", plan.display, label(&m.column.name));
        let x = d.ident(&m.column.name);
        let sample = format!(
            "SELECT digest FROM {} WHERE table_name = {} AND column_name = {}",
            sample_table(d),
            d.literal(&plan.display),
            d.literal(&label(&m.column.name))
        );
        let misfit = format!("NOT COALESCE({}, 1 = 0)", conforms(d, rules));
        let hit = format!("{} IN ({sample})", d.verify_digest("x.v"));
        let sql = format!(
            "SELECT {}, {} FROM {}",
            d.as_text(&format!("COALESCE({}, 0)", d.count_if(&misfit))),
            d.as_text(&format!("COALESCE({}, 0)", d.count_if(&hit))),
            positions(d, name, &x, rules, m.column.kind)
        );
        let during = format!("verifying column {subject}");
        let row = db.rows(&during, &sql, &[]).await?;
        let count = |i: usize| -> i64 {
            row.first()
                .and_then(|r| r.get(i).cloned().flatten())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let (misfits, hits) = (count(0), count(1));
        out.push(check(
            "pattern",
            &subject,
            misfits == 0,
            format!(
                "{misfits} masked values or keys in the documents do not have the masked shape"
            ),
        ));
        out.push(check(
            "sample",
            &subject,
            hits == 0,
            format!("{hits} sampled original values or keys still present in the documents"),
        ));
        if d == Dialect::Postgres {
            let hits = statistics(db, plan, m, rules, &sample, &during).await?;
            out.push(check(
                "statistics",
                &subject,
                hits == 0,
                format!("{hits} sampled original values or keys in the column's statistics"),
            ));
        }
    }
    Ok(out)
}

/// PostgreSQL: sampled originals among the positions of the documents the planner's statistics
/// of the column keep (most common values, histogram bounds; `jsonb` only: `json` has none).
async fn statistics(
    db: &mut Db,
    plan: &TablePlan,
    m: &MaskedColumn,
    rules: &JsonRules,
    sample: &str,
    during: &str,
) -> Result<i64, DbError> {
    if m.column.kind != ColumnKind::Jsonb {
        return Ok(0);
    }
    let d = db.dialect;
    let sql = format!(
        "SELECT count(*)::text FROM pg_stats s \
         CROSS JOIN LATERAL unnest(COALESCE(s.most_common_vals::text::jsonb[], '{{}}') \
                                   || COALESCE(s.histogram_bounds::text::jsonb[], '{{}}')) doc \
         CROSS JOIN LATERAL jsonb_array_elements({}_leaves(doc, {}, 0)) e \
         WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3 AND {} IN ({sample})",
        base(d, rules),
        all_bits(rules),
        d.verify_digest("e ->> 1")
    );
    let params = [&plan.table.id.schema, &plan.table.id.name, &m.column.name]
        .map(|s| Param::Text(Some(s.clone())));
    db.count(during, &sql, &params).await
}

/// Every distinct walked document rule of `plans`.
fn rules_of(plans: &[TablePlan]) -> Vec<&JsonRules> {
    let mut out: Vec<&JsonRules> = Vec::new();
    for plan in plans {
        let PlannedAction::Mask(cols) = &plan.action else {
            continue;
        };
        for rules in cols.iter().filter_map(|m| walked(&m.strategy)) {
            if !out.contains(&rules) {
                out.push(rules);
            }
        }
    }
    out
}

/// Creates the routines the walked document columns of `plans` need (none: nothing happens).
/// PostgreSQL needs the bookkeeping schema to exist.
pub async fn install(db: &mut Db, plans: &[TablePlan]) -> Result<(), DbError> {
    let rules = rules_of(plans);
    if rules.is_empty() {
        return Ok(());
    }
    let d = db.dialect;
    let during = "creating the JSON masking routines";
    if d == Dialect::MySql {
        db.execute(during, "SET SESSION max_sp_recursion_depth = 255", &[])
            .await?;
    }
    for r in rules {
        for sql in routines(d, r) {
            db.execute(during, &sql, &[]).await?;
        }
    }
    Ok(())
}

/// Drops what [`install`] created.
pub async fn uninstall(db: &mut Db, plans: &[TablePlan]) -> Result<(), DbError> {
    let during = "dropping the JSON masking routines";
    let d = db.dialect;
    for r in rules_of(plans) {
        let f = base(d, r);
        let drops = match d {
            Dialect::Postgres => vec![
                format!("DROP FUNCTION IF EXISTS {f}(jsonb, bigint, integer)"),
                format!("DROP FUNCTION IF EXISTS {f}_leaves(jsonb, bigint, integer)"),
            ],
            Dialect::MySql => vec![
                format!("DROP FUNCTION IF EXISTS {f}"),
                format!("DROP PROCEDURE IF EXISTS {f}_walk"),
                format!("DROP FUNCTION IF EXISTS {f}_leaves"),
                format!("DROP PROCEDURE IF EXISTS {f}_leaves_walk"),
            ],
        };
        for sql in drops {
            db.execute(during, &sql, &[]).await?;
        }
    }
    Ok(())
}

/// The `CREATE` statements of one rule's routines.
fn routines(d: Dialect, rules: &JsonRules) -> Vec<String> {
    let w = Walk::new(d, rules);
    match d {
        Dialect::Postgres => vec![w.pg_mask(), w.pg_leaves()],
        Dialect::MySql => vec![
            w.my_walk(),
            w.my_wrapper("", ""),
            w.my_leaves_walk(),
            w.my_wrapper("_leaves", "'[', r, ']'"),
        ],
    }
}

/// What a child of the current node is reached by.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// An object member, its key in this SQL expression.
    Key(&'a str),
    /// An array element, its 0-based index in this SQL expression.
    Index(&'a str),
}

/// The generated walk over documents for one rule. Inside the routines: `doc` is the node,
/// `m` the mask of paths still matching, `d` its depth, `leaf` its text.
struct Walk<'r> {
    d: Dialect,
    rules: &'r JsonRules,
    name: String,
}

impl<'r> Walk<'r> {
    fn new(d: Dialect, rules: &'r JsonRules) -> Walk<'r> {
        Walk {
            d,
            rules,
            name: base(d, rules),
        }
    }

    fn live(&self, i: usize) -> String {
        format!("(m & {}) <> 0", 1u64 << i)
    }

    /// Path `i` ends at this node.
    fn exact(&self, i: usize) -> String {
        format!(
            "{} AND d = {}",
            self.live(i),
            self.rules.paths[i].segments.len()
        )
    }

    fn key_equals(&self, key: &str, literal: &str) -> String {
        match self.d {
            Dialect::Postgres => format!("{key} = {}", self.d.literal(literal)),
            Dialect::MySql => format!("CAST({key} AS BINARY) = {}", self.d.literal(literal)),
        }
    }

    /// Whether segment `s` matches the step (`None`: it never does).
    fn matches(&self, s: &JsonSegment, step: Step<'_>) -> Option<String> {
        match (s, step) {
            (JsonSegment::Key(k), Step::Key(key)) => Some(self.key_equals(key, k)),
            (JsonSegment::AnyKey, Step::Key(_)) | (JsonSegment::AnyIndex, Step::Index(_)) => {
                Some("1 = 1".into())
            }
            (JsonSegment::Index(n), Step::Index(i)) => Some(format!("{i} = {n}")),
            _ => None,
        }
    }

    /// `CASE d WHEN depth THEN <segment matches> ... ELSE 1 = 0 END` for path `i`, counting
    /// only the segments `keep` accepts.
    fn at_depth(&self, i: usize, step: Step<'_>, keep: fn(&JsonSegment) -> bool) -> String {
        let arms: Vec<String> = self.rules.paths[i]
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| keep(s))
            .filter_map(|(depth, s)| {
                self.matches(s, step)
                    .map(|c| format!("WHEN {depth} THEN {c}"))
            })
            .collect();
        match arms.is_empty() {
            true => "1 = 0".to_owned(),
            false => format!("(CASE d {} ELSE 1 = 0 END)", arms.join(" ")),
        }
    }

    /// The mask of the paths still matching at the child.
    fn child_mask(&self, step: Step<'_>) -> String {
        let parts: Vec<String> = (0..self.rules.paths.len())
            .map(|i| {
                format!(
                    "(CASE WHEN {} AND {} THEN {} ELSE 0 END)",
                    self.live(i),
                    self.at_depth(i, step, |_| true),
                    1u64 << i
                )
            })
            .collect();
        match parts.is_empty() {
            true => "0".to_owned(),
            false => parts.join(" | "),
        }
    }

    /// Whether a listed path spells out the key (then it is kept whatever `keys` says).
    fn named(&self, key: &str) -> String {
        let parts: Vec<String> = (0..self.rules.paths.len())
            .map(|i| {
                let spelled =
                    self.at_depth(i, Step::Key(key), |s| matches!(s, JsonSegment::Key(_)));
                format!("({} AND {spelled})", self.live(i))
            })
            .collect();
        match parts.is_empty() {
            true => "1 = 0".to_owned(),
            false => format!("({})", parts.join(" OR ")),
        }
    }

    /// The key as written into the masked document.
    fn key_out(&self, key: &str) -> String {
        match self.rules.keys {
            JsonKeys::Keep => key.to_owned(),
            JsonKeys::Hash => format!(
                "CASE WHEN {} THEN {key} ELSE {} END",
                self.named(key),
                self.d.hmac_hex(key)
            ),
        }
    }

    /// The masked value of a scalar no path reaches (a JSON value: jsonb / JSON text).
    fn others(&self) -> String {
        match (self.d, self.rules.others) {
            (_, JsonOthers::Keep) => "doc".to_owned(),
            (Dialect::Postgres, JsonOthers::Null) => "CAST('null' AS jsonb)".to_owned(),
            (Dialect::MySql, JsonOthers::Null) => "'null'".to_owned(),
            (Dialect::Postgres, JsonOthers::Hash) => {
                format!("to_jsonb({})", self.d.hmac_hex("leaf"))
            }
            (Dialect::MySql, JsonOthers::Hash) => {
                format!("JSON_QUOTE({})", self.d.hmac_hex("leaf"))
            }
        }
    }

    /// The masked value of the node path `i` ends at.
    fn path_value(&self, i: usize) -> String {
        let Some(s) = &self.rules.paths[i].strategy else {
            return "doc".to_owned();
        };
        let text = expr::text(self.d, s, "leaf");
        match self.d {
            Dialect::Postgres => {
                format!("COALESCE(to_jsonb(CAST({text} AS text)), CAST('null' AS jsonb))")
            }
            Dialect::MySql => format!("COALESCE(JSON_QUOTE({text}), 'null')"),
        }
    }

    /// `[kind, text]` entries (JSON) for the node path `i` ends at.
    fn path_entry(&self, i: usize) -> Option<String> {
        self.rules.paths[i].strategy.as_ref()?;
        Some(self.entry(&format!("p{i}"), "leaf"))
    }

    /// One `[kind, text]` entry.
    fn entry(&self, kind: &str, text: &str) -> String {
        match self.d {
            Dialect::Postgres => format!("jsonb_build_array(jsonb_build_array('{kind}', {text}))"),
            Dialect::MySql => format!("CONCAT('[\"{kind}\",', JSON_QUOTE({text}), ']')"),
        }
    }

    // ---- PostgreSQL --------------------------------------------------------------------------

    fn pg_head(&self, suffix: &str) -> String {
        format!(
            "CREATE OR REPLACE FUNCTION {}{suffix}(doc jsonb, m bigint, d integer) RETURNS jsonb \
             LANGUAGE plpgsql STABLE AS $offpeak$\nDECLARE leaf text := doc #>> '{{}}';\nBEGIN\n",
            self.name
        )
    }

    fn pg_mask(&self) -> String {
        let f = &self.name;
        let mut body = self.pg_head("");
        body.push_str("IF doc IS NULL OR jsonb_typeof(doc) = 'null' THEN RETURN doc; END IF;\n");
        for i in 0..self.rules.paths.len() {
            body.push_str(&format!(
                "IF {} THEN RETURN {}; END IF;\n",
                self.exact(i),
                self.path_value(i)
            ));
        }
        let key = Step::Key("e.key");
        let index = Step::Index("(e.i - 1)");
        body.push_str(&format!(
            "IF jsonb_typeof(doc) = 'object' THEN RETURN (SELECT COALESCE(jsonb_object_agg({}, \
             {f}(e.value, {}, d + 1)), CAST('{{}}' AS jsonb)) FROM jsonb_each(doc) e); END IF;\n",
            self.key_out("e.key"),
            self.child_mask(key)
        ));
        body.push_str(&format!(
            "IF jsonb_typeof(doc) = 'array' THEN RETURN (SELECT COALESCE(jsonb_agg({f}(e.value, {}, \
             d + 1) ORDER BY e.i), CAST('[]' AS jsonb)) FROM jsonb_array_elements(doc) WITH ORDINALITY e(value, i)); END IF;\n",
            self.child_mask(index)
        ));
        body.push_str(&format!("RETURN {};\nEND\n$offpeak$", self.others()));
        body
    }

    fn pg_leaves(&self) -> String {
        let f = format!("{}_leaves", self.name);
        let none = "CAST('[]' AS jsonb)";
        let mut body = self.pg_head("_leaves");
        body.push_str(&format!(
            "IF doc IS NULL OR jsonb_typeof(doc) = 'null' THEN RETURN {none}; END IF;\n"
        ));
        for i in 0..self.rules.paths.len() {
            let entry = self.path_entry(i).unwrap_or_else(|| none.to_owned());
            body.push_str(&format!(
                "IF {} THEN RETURN {entry}; END IF;\n",
                self.exact(i)
            ));
        }
        let key_entry = match self.rules.keys {
            JsonKeys::Keep => none.to_owned(),
            JsonKeys::Hash => format!(
                "CASE WHEN {} THEN {none} ELSE {} END",
                self.named("e.key"),
                self.entry("k", "e.key")
            ),
        };
        body.push_str(&format!(
            "IF jsonb_typeof(doc) = 'object' THEN RETURN (SELECT COALESCE(jsonb_agg(x), {none}) FROM \
             jsonb_each(doc) e CROSS JOIN LATERAL jsonb_array_elements({key_entry} || {f}(e.value, {}, d + 1)) x); END IF;\n",
            self.child_mask(Step::Key("e.key"))
        ));
        body.push_str(&format!(
            "IF jsonb_typeof(doc) = 'array' THEN RETURN (SELECT COALESCE(jsonb_agg(x), {none}) FROM \
             jsonb_array_elements(doc) WITH ORDINALITY e(value, i) CROSS JOIN LATERAL \
             jsonb_array_elements({f}(e.value, {}, d + 1)) x); END IF;\n",
            self.child_mask(Step::Index("(e.i - 1)"))
        ));
        let others = match self.rules.others {
            JsonOthers::Keep => none.to_owned(),
            _ => self.entry("o", "leaf"),
        };
        body.push_str(&format!("RETURN {others};\nEND\n$offpeak$"));
        body
    }

    // ---- MariaDB / MySQL ---------------------------------------------------------------------

    fn my_head(&self, suffix: &str) -> String {
        let text = "LONGTEXT CHARACTER SET utf8mb4";
        format!(
            "CREATE OR REPLACE PROCEDURE {}{suffix}(IN doc {text}, IN m BIGINT UNSIGNED, IN d INT, OUT res {text})\n\
             BEGIN\n\
             DECLARE t VARCHAR(16) DEFAULT JSON_TYPE(doc);\n\
             DECLARE leaf {text} DEFAULT IF(JSON_TYPE(doc) IN ('OBJECT', 'ARRAY'), doc, JSON_UNQUOTE(doc));\n\
             DECLARE ks, k, sub, part {text};\n\
             DECLARE acc {text} DEFAULT '';\n\
             DECLARE i, n INT DEFAULT 0;\n\
             DECLARE cm BIGINT UNSIGNED DEFAULT 0;\n",
            self.name
        )
    }

    /// The object and array arms: `member` and `element` are the statements run per child,
    /// with `cm` (its mask), `k` (its key) and `i` set; `close` finishes `res` from `acc`.
    fn my_children(&self, member: &str, element: &str, close: (&str, &str)) -> String {
        format!(
            "ELSEIF t = 'OBJECT' THEN\n\
             SET ks = JSON_KEYS(doc);\n\
             SET n = JSON_LENGTH(ks);\n\
             WHILE i < n DO\n\
             SET k = JSON_UNQUOTE(JSON_EXTRACT(ks, CONCAT('$[', i, ']')));\n\
             SET cm = {};\n\
             {member}\n\
             SET i = i + 1;\n\
             END WHILE;\n\
             SET res = {};\n\
             ELSEIF t = 'ARRAY' THEN\n\
             SET n = JSON_LENGTH(doc);\n\
             WHILE i < n DO\n\
             SET cm = {};\n\
             {element}\n\
             SET i = i + 1;\n\
             END WHILE;\n\
             SET res = {};\n",
            self.child_mask(Step::Key("k")),
            close.0,
            self.child_mask(Step::Index("i")),
            close.1
        )
    }

    fn my_walk(&self) -> String {
        let walk = format!("{}_walk", self.name);
        let mut body = self.my_head("_walk");
        body.push_str(
            "IF doc IS NULL THEN SET res = NULL;\nELSEIF t = 'NULL' THEN SET res = 'null';\n",
        );
        for i in 0..self.rules.paths.len() {
            body.push_str(&format!(
                "ELSEIF {} THEN SET res = {};\n",
                self.exact(i),
                self.path_value(i)
            ));
        }
        let member = format!(
            "CALL {walk}(JSON_EXTRACT(doc, CONCAT('$.', JSON_QUOTE(k))), cm, d + 1, sub);\n\
             SET acc = CONCAT(acc, IF(i > 0, ',', ''), JSON_QUOTE({}), ':', sub);",
            self.key_out("k")
        );
        let element = format!(
            "CALL {walk}(JSON_EXTRACT(doc, CONCAT('$[', i, ']')), cm, d + 1, sub);\n\
             SET acc = CONCAT(acc, IF(i > 0, ',', ''), sub);"
        );
        body.push_str(&self.my_children(
            &member,
            &element,
            ("CONCAT('{', acc, '}')", "CONCAT('[', acc, ']')"),
        ));
        body.push_str(&format!("ELSE SET res = {};\nEND IF;\nEND", self.others()));
        body
    }

    fn my_leaves_walk(&self) -> String {
        let walk = format!("{}_leaves_walk", self.name);
        let mut body = self.my_head("_leaves_walk");
        body.push_str("IF doc IS NULL OR t = 'NULL' THEN SET res = '';\n");
        for i in 0..self.rules.paths.len() {
            let entry = self.path_entry(i).unwrap_or_else(|| "''".to_owned());
            body.push_str(&format!(
                "ELSEIF {} THEN SET res = {entry};\n",
                self.exact(i)
            ));
        }
        let key_entry = match self.rules.keys {
            JsonKeys::Keep => "''".to_owned(),
            JsonKeys::Hash => format!("IF({}, '', {})", self.named("k"), self.entry("k", "k")),
        };
        let join = "SET acc = CONCAT_WS(',', NULLIF(acc, ''), NULLIF(part, ''), NULLIF(sub, ''));";
        let member = format!(
            "SET part = {key_entry};\n\
             CALL {walk}(JSON_EXTRACT(doc, CONCAT('$.', JSON_QUOTE(k))), cm, d + 1, sub);\n{join}"
        );
        let element = format!(
            "SET part = '';\n\
             CALL {walk}(JSON_EXTRACT(doc, CONCAT('$[', i, ']')), cm, d + 1, sub);\n{join}"
        );
        body.push_str(&self.my_children(&member, &element, ("acc", "acc")));
        let others = match self.rules.others {
            JsonOthers::Keep => "''".to_owned(),
            _ => self.entry("o", "leaf"),
        };
        body.push_str(&format!("ELSE SET res = {others};\nEND IF;\nEND"));
        body
    }

    /// The function calling procedure `{name}{suffix}_walk` from the root; `wrap` (with `r`, the
    /// procedure's result) gives the returned text, or `r` itself when empty.
    fn my_wrapper(&self, suffix: &str, wrap: &str) -> String {
        let text = "LONGTEXT CHARACTER SET utf8mb4";
        let result = match wrap {
            "" => "r".to_owned(),
            w => format!("CONCAT({w})"),
        };
        format!(
            "CREATE OR REPLACE FUNCTION {name}{suffix}(doc {text}) RETURNS {text} NOT DETERMINISTIC CONTAINS SQL\n\
             BEGIN\nDECLARE r {text};\nIF doc IS NULL THEN RETURN NULL; END IF;\n\
             CALL {name}{suffix}_walk(doc, {bits}, 0, r);\nRETURN {result};\nEND",
            name = self.name,
            bits = all_bits(self.rules)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{JsonPathRule, json_segments};

    fn rules(paths: &[(&str, Option<Strategy>)], others: JsonOthers, keys: JsonKeys) -> JsonRules {
        JsonRules {
            paths: paths
                .iter()
                .map(|(t, s)| JsonPathRule {
                    pos: Default::default(),
                    text: (*t).to_owned(),
                    segments: json_segments(t).unwrap(),
                    strategy: s.clone(),
                })
                .collect(),
            others,
            keys,
        }
    }

    #[test]
    fn equal_rules_share_routines_and_positions_do_not_matter() {
        let a = rules(
            &[("$.emails[*]", Some(Strategy::Email))],
            JsonOthers::Hash,
            JsonKeys::Hash,
        );
        let mut b = a.clone();
        b.paths[0].pos.line = 40;
        assert_eq!(base(Dialect::Postgres, &a), base(Dialect::Postgres, &b));
        let c = rules(
            &[("$.emails[*]", Some(Strategy::Email))],
            JsonOthers::Null,
            JsonKeys::Hash,
        );
        assert_ne!(base(Dialect::MySql, &a), base(Dialect::MySql, &c));
        assert!(base(Dialect::Postgres, &a).starts_with("offpeak_masking.offpeak_json_"));
    }

    #[test]
    fn the_routines_read_the_key_from_the_session_and_name_every_path() {
        let r = rules(
            &[
                ("$.contacts[*].phone", Some(Strategy::Phone)),
                ("$.prefs.*", None),
            ],
            JsonOthers::Hash,
            JsonKeys::Hash,
        );
        for d in [Dialect::Postgres, Dialect::MySql] {
            let all = routines(d, &r).join("\n");
            assert!(!all.contains('?') && !all.contains("$1"), "{all}");
            assert!(
                all.contains("offpeak.mask_ipad") || all.contains("@offpeak_ipad"),
                "{all}"
            );
            assert!(
                all.contains("'contacts'") && all.contains("'phone'"),
                "{all}"
            );
        }
        let pg = Walk::new(Dialect::Postgres, &r).child_mask(Step::Index("(e.i - 1)"));
        assert_eq!(
            pg,
            "(CASE WHEN (m & 1) <> 0 AND (CASE d WHEN 1 THEN 1 = 1 ELSE 1 = 0 END) THEN 1 ELSE 0 END) \
             | (CASE WHEN (m & 2) <> 0 AND 1 = 0 THEN 2 ELSE 0 END)"
        );
    }

    #[test]
    fn fixed_paths_with_everything_else_kept_need_no_routine() {
        let fixed = rules(
            &[("a.b", Some(Strategy::Email))],
            JsonOthers::Keep,
            JsonKeys::Keep,
        );
        assert!(walked(&Strategy::Json(fixed)).is_none());
        let wild = rules(
            &[("a[*]", Some(Strategy::Email))],
            JsonOthers::Keep,
            JsonKeys::Keep,
        );
        assert!(walked(&Strategy::Json(wild)).is_some());
        let hashed = rules(&[], JsonOthers::Keep, JsonKeys::Hash);
        assert!(walked(&Strategy::Json(hashed)).is_some());
    }
}
