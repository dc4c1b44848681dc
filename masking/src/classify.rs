//! Default-deny: the rules compared with the live catalog, before anything changes.
//!
//! [`classify`] is pure. It either resolves every table of the database to one action (keep,
//! truncate, or mask these columns with these strategies) or returns *every* disagreement as a
//! [`Finding`] pointing at the rules file: unclassified tables and columns, names in the rules
//! that the database does not have, strategies that do not fit a column's type or length, and
//! masking that could break a unique index, a foreign key, a NOT NULL column or a generated
//! column, or that MySQL could not do safely (triggers, non-transactional tables).

use offpeak_shared::config::ConfigError;
use offpeak_shared::yaml::Pos;

use super::catalog::{Catalog, Column, ColumnKind, Table, TableId, UniqueIndex};
use super::dialect::Dialect;
use super::rules::{Rules, Strategy, TableAction};

/// One reason the rules and the database disagree.
pub type Finding = ConfigError;

/// What will happen to one table.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub table: Table,
    /// Name as in rules and messages.
    pub display: String,
    pub action: PlannedAction,
}

#[derive(Clone, Debug)]
pub enum PlannedAction {
    Keep,
    Truncate,
    Mask(Vec<MaskedColumn>),
}

#[derive(Clone, Debug)]
pub struct MaskedColumn {
    pub column: Column,
    pub strategy: Strategy,
}

/// Resolves every table to an action, or lists every disagreement.
pub fn classify(
    rules: &Rules,
    catalog: &Catalog,
    dialect: Dialect,
) -> Result<Vec<TablePlan>, Vec<Finding>> {
    let mut c = Classifier::new(rules, catalog, dialect);
    let plans = c.tables();
    if c.findings.is_empty() {
        c.check_truncations(&plans);
        c.check_inheritance(&plans);
    }
    match c.findings.is_empty() {
        true => Ok(plans),
        false => {
            c.findings
                .sort_by(|a, b| (a.line, a.col, &a.message).cmp(&(b.line, b.col, &b.message)));
            Err(c.findings)
        }
    }
}

/// What the rules leave unclassified in the live catalog, and every disagreement (the same
/// comparison as [`classify`]; nothing resolved into plans).
#[derive(Clone, Debug, Default)]
pub struct Audit {
    /// Tables and columns no rule classifies, sorted: names only.
    pub unclassified: Vec<Unclassified>,
    /// Every finding, those about the names above included.
    pub findings: Vec<Finding>,
}

/// A table (no rule names it) or a column (its table's rule does not list it) left unclassified.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unclassified {
    pub table: TableId,
    /// `None`: the whole table is unclassified.
    pub column: Option<String>,
}

impl std::fmt::Display for Unclassified {
    /// `schema.table.column`, or `schema.table` for a table.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table.schema, self.table.name)?;
        match &self.column {
            Some(column) => write!(f, ".{column}"),
            None => Ok(()),
        }
    }
}

/// Compares the rules with `catalog` as [`classify`] does, naming what is unclassified.
pub fn audit(rules: &Rules, catalog: &Catalog, dialect: Dialect) -> Audit {
    let mut c = Classifier::new(rules, catalog, dialect);
    let plans = c.tables();
    if c.findings.is_empty() {
        c.check_truncations(&plans);
        c.check_inheritance(&plans);
    }
    c.findings
        .sort_by(|a, b| (a.line, a.col, &a.message).cmp(&(b.line, b.col, &b.message)));
    c.unclassified.sort();
    c.unclassified.dedup();
    Audit {
        unclassified: c.unclassified,
        findings: c.findings,
    }
}

/// A finding about `table`, pointing at the rule naming it (or at `tables:` when none does).
pub fn finding(rules: &Rules, catalog: &Catalog, table: &TableId, message: String) -> Finding {
    let pos = rules
        .tables
        .iter()
        .find(|r| &catalog.resolve(&r.name) == table)
        .map_or(rules.tables_pos, |r| r.pos);
    ConfigError {
        path: rules.path.clone(),
        line: pos.line,
        col: pos.col,
        message,
    }
}

struct Classifier<'a> {
    rules: &'a Rules,
    catalog: &'a Catalog,
    dialect: Dialect,
    findings: Vec<Finding>,
    /// Unclassified tables and columns ([`Audit::unclassified`]).
    unclassified: Vec<Unclassified>,
}

impl<'a> Classifier<'a> {
    fn new(rules: &'a Rules, catalog: &'a Catalog, dialect: Dialect) -> Self {
        Classifier {
            rules,
            catalog,
            dialect,
            findings: Vec::new(),
            unclassified: Vec::new(),
        }
    }

    fn find(&mut self, pos: Pos, message: String) {
        self.findings.push(ConfigError {
            path: self.rules.path.clone(),
            line: pos.line,
            col: pos.col,
            message,
        });
    }

    fn tables(&mut self) -> Vec<TablePlan> {
        let mut plans = Vec::new();
        for rule in &self.rules.tables {
            let id = self.catalog.resolve(&rule.name);
            let Some(table) = self.catalog.table(&id) else {
                self.find(
                    rule.pos,
                    format!("table `{}`: no such table in the database", rule.name),
                );
                continue;
            };
            let action = match &rule.action {
                TableAction::Truncate => PlannedAction::Truncate,
                TableAction::Columns(cols) => self.columns(table, &rule.name, rule.pos, cols),
            };
            plans.push(TablePlan {
                table: table.clone(),
                display: self.catalog.display(&id),
                action,
            });
        }
        for u in &self.catalog.unmaskable {
            let message = format!("{} cannot be masked: {}", u.what, u.why);
            self.find(self.rules.tables_pos, message);
        }
        for table in &self.catalog.tables {
            if !plans.iter().any(|p| p.table.id == table.id) && !self.listed(&table.id) {
                let name = self.catalog.display(&table.id);
                let message = format!(
                    "table `{name}` is not classified: add it under tables with keep, truncate, or its columns"
                );
                self.find(self.rules.tables_pos, message);
                self.unclassified.push(Unclassified {
                    table: table.id.clone(),
                    column: None,
                });
            }
        }
        plans
    }

    fn listed(&self, id: &TableId) -> bool {
        self.rules
            .tables
            .iter()
            .any(|r| &self.catalog.resolve(&r.name) == id)
    }

    fn columns(
        &mut self,
        table: &Table,
        name: &str,
        pos: Pos,
        rules: &[super::rules::ColumnRule],
    ) -> PlannedAction {
        let mut masked = Vec::new();
        for rule in rules {
            let Some(column) = table.column(&rule.name) else {
                let have: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                let message = format!(
                    "`{name}.{}`: no such column (the table has: {})",
                    rule.name,
                    have.join(", ")
                );
                self.find(rule.pos, message);
                continue;
            };
            if let Some(strategy) = &rule.mask {
                for problem in self.problems(table, column, strategy) {
                    self.find(rule.pos, format!("`{name}.{}`: {problem}", column.name));
                }
                masked.push(MaskedColumn {
                    column: column.clone(),
                    strategy: strategy.clone(),
                });
            }
        }
        for column in &table.columns {
            if !rules.iter().any(|r| r.name == column.name) {
                let message = format!(
                    "`{name}.{}` is not classified: add it to keep or mask",
                    column.name
                );
                self.find(pos, message);
                self.unclassified.push(Unclassified {
                    table: table.id.clone(),
                    column: Some(column.name.clone()),
                });
            }
        }
        match masked.is_empty() {
            true => PlannedAction::Keep,
            false => PlannedAction::Mask(masked),
        }
    }

    /// Everything wrong with masking `column` by `strategy`.
    fn problems(&self, table: &Table, column: &Column, strategy: &Strategy) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(type_problem(column, strategy));
        if column.generated {
            out.push(
                "is a generated column: mask the columns it is computed from instead".to_owned(),
            );
        }
        if matches!(strategy, Strategy::Null) && !column.nullable {
            out.push("strategy `null` on a NOT NULL column".to_owned());
        }
        for index in &table.unique_indexes {
            out.extend(unique_problem(index, column, strategy));
        }
        out.extend(self.foreign_key_problems(table, column, strategy));
        if self.dialect == Dialect::MySql {
            if !table.triggers.is_empty() {
                out.push(format!(
                    "table has triggers ({}) that MySQL cannot disable for a session; drop them in the clone first",
                    table.triggers.join(", ")
                ));
            }
            if !table.transactional {
                out.push(
                    "table is not InnoDB: masking needs a transactional engine to resume safely"
                        .to_owned(),
                );
            }
        }
        out
    }

    fn foreign_key_problems(
        &self,
        table: &Table,
        column: &Column,
        strategy: &Strategy,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for fk in &self.catalog.foreign_keys {
            if fk.parent == table.id && fk.parent_columns.contains(&column.name) {
                out.push(format!(
                    "is referenced by foreign key `{}` of `{}`: masking a referenced key is not supported; keep it",
                    fk.name,
                    self.catalog.display(&fk.child)
                ));
            }
            let nulls_ok = matches!(strategy, Strategy::Null) && !fk.match_full;
            if fk.child == table.id && fk.child_columns.contains(&column.name) && !nulls_ok {
                out.push(format!(
                    "is part of foreign key `{}`: only `null` (which no foreign key rejects) or keep are allowed",
                    fk.name
                ));
            }
        }
        out
    }

    /// PostgreSQL inheritance: reads of a parent show its children's rows, and each table's
    /// statements touch its own rows only (`ONLY`). So a truncated parent needs truncated
    /// children, and a column a parent masks must be masked the same way in every child that
    /// inherits it; otherwise the parent would still show originals (or values of another
    /// shape) after the run, which verification would then fail with the database changed.
    fn check_inheritance(&mut self, plans: &[TablePlan]) {
        for parent in plans {
            for child_id in &parent.table.children {
                let Some(child) = plans.iter().find(|p| &p.table.id == child_id) else {
                    continue;
                };
                for problem in inheritance_problems(parent, child) {
                    let f = finding(self.rules, self.catalog, &parent.table.id, problem);
                    self.findings.push(f);
                }
            }
        }
    }

    /// A truncated table must not be referenced by a table that keeps rows.
    fn check_truncations(&mut self, plans: &[TablePlan]) {
        let truncated = |id: &TableId| {
            plans
                .iter()
                .any(|p| &p.table.id == id && matches!(p.action, PlannedAction::Truncate))
        };
        for fk in &self.catalog.foreign_keys {
            if truncated(&fk.parent) && !truncated(&fk.child) {
                let rule = self
                    .rules
                    .tables
                    .iter()
                    .find(|r| self.catalog.resolve(&r.name) == fk.parent);
                let pos = rule.map_or(self.rules.tables_pos, |r| r.pos);
                let message = format!(
                    "table `{}` is truncated but `{}` keeps rows that reference it (foreign key `{}`): truncate both",
                    self.catalog.display(&fk.parent),
                    self.catalog.display(&fk.child),
                    fk.name
                );
                self.find(pos, message);
            }
        }
    }
}

/// What `child`'s plan must also do for `parent`'s (see `check_inheritance`).
fn inheritance_problems(parent: &TablePlan, child: &TablePlan) -> Vec<String> {
    let (p, c) = (&parent.display, &child.display);
    match (&parent.action, &child.action) {
        (PlannedAction::Truncate, PlannedAction::Truncate) => Vec::new(),
        (PlannedAction::Truncate, _) => vec![format!(
            "table `{p}` is truncated but its inheritance child `{c}` keeps rows, which reads of `{p}` show: truncate `{c}` too"
        )],
        (PlannedAction::Mask(cols), action) => cols
            .iter()
            .filter(|m| child.table.column(&m.column.name).is_some())
            .filter(|m| !masks_alike(action, m))
            .map(|m| {
                format!(
                    "`{p}.{col}` is masked but its inheritance child `{c}` does not mask `{col}` with strategy `{s}` too, \
                     and reads of `{p}` show `{c}`'s rows: mask `{c}.{col}` the same way (or truncate `{c}`)",
                    col = m.column.name,
                    s = m.strategy.name()
                )
            })
            .collect(),
        (PlannedAction::Keep, _) => Vec::new(),
    }
}

/// `action` masks `m`'s column by `m`'s strategy (or empties the table).
fn masks_alike(action: &PlannedAction, m: &MaskedColumn) -> bool {
    match action {
        PlannedAction::Truncate => true,
        PlannedAction::Keep => false,
        PlannedAction::Mask(cols) => cols
            .iter()
            .any(|c| c.column.name == m.column.name && c.strategy == m.strategy),
    }
}

fn type_problem(column: &Column, strategy: &Strategy) -> Option<String> {
    let text_only = strategy.derives_text();
    let kind = column.kind;
    let fits = match strategy {
        _ if text_only => kind == ColumnKind::Text,
        Strategy::Generalize(_) | Strategy::Noise { .. } => {
            matches!(kind, ColumnKind::Date | ColumnKind::Timestamp)
        }
        Strategy::Json(_) => matches!(
            kind,
            ColumnKind::Json | ColumnKind::Jsonb | ColumnKind::Text
        ),
        _ => true,
    };
    if !fits {
        return Some(format!(
            "strategy `{}` does not fit type {} (it needs {})",
            strategy.name(),
            column.sql_type,
            needs(strategy)
        ));
    }
    let listed = column.sql_type.to_ascii_lowercase();
    if text_only && (listed.starts_with("enum(") || listed.starts_with("set(")) {
        return Some(format!(
            "strategy `{}` writes values outside the column's ENUM/SET list (the UPDATE would fail): \
             keep it, or use `value` with one of its values",
            strategy.name()
        ));
    }
    let (Some(out), Some(max)) = (strategy.output_chars(), column.max_chars) else {
        return None;
    };
    (out > max).then(|| {
        format!(
            "strategy `{}` produces {out} characters but the column holds {max}",
            strategy.name()
        )
    })
}

fn needs(strategy: &Strategy) -> &'static str {
    match strategy {
        Strategy::Generalize(_) | Strategy::Noise { .. } => "a date or timestamp",
        Strategy::Json(_) => "json, jsonb or text holding JSON",
        _ => "text",
    }
}

fn unique_problem(index: &UniqueIndex, column: &Column, strategy: &Strategy) -> Vec<String> {
    let c = &column.name;
    if index.opaque_expression {
        return vec![format!(
            "unique index `{}` uses an expression offpeak cannot inspect, so masking could break it",
            index.name
        )];
    }
    if !index.columns.contains(c) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !strategy.keeps_unique() {
        out.push(format!(
            "strategy `{}` can produce duplicates but unique index `{}` covers this column (use email, hash at full length, or keep)",
            strategy.name(),
            index.name
        ));
    }
    if matches!(strategy, Strategy::Null) && index.nulls_not_distinct {
        out.push(format!(
            "unique index `{}` treats NULLs as equal",
            index.name
        ));
    }
    if index.predicate.as_deref().is_some_and(|p| mentions(p, c)) {
        out.push(format!(
            "the predicate of partial unique index `{}` uses this column",
            index.name
        ));
    }
    let odd_key = index
        .key_defs
        .iter()
        .any(|d| mentions(d, c) && !case_fold_of(d, c));
    if odd_key {
        out.push(format!(
            "unique index `{}` uses an expression over this column other than lower()/upper()",
            index.name
        ));
    }
    let short_prefix = index
        .prefix_chars
        .iter()
        .any(|(col, n)| col == c && strategy.output_chars().is_none_or(|o| *n < o));
    if short_prefix {
        out.push(format!(
            "unique index `{}` covers only a prefix of this column",
            index.name
        ));
    }
    out
}

/// `def` is `c`, `lower(c)` or `upper(c)` (quotes, casts to text and parentheses aside): forms
/// under which an injective lowercase-hex output stays unique.
fn case_fold_of(def: &str, c: &str) -> bool {
    let norm: String = def
        .replace("::text", "")
        .chars()
        .filter(|ch| !matches!(ch, '"' | '`' | '(' | ')' | ' '))
        .collect();
    norm == c || norm == format!("lower{c}") || norm == format!("upper{c}")
}

/// `text` mentions the identifier `name` (not merely a longer identifier containing it).
pub(crate) fn mentions(text: &str, name: &str) -> bool {
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_' || ch == '$';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ForeignKey;
    use crate::catalog::fixtures::{col, unique};
    use crate::rules::parse_str;

    fn id(name: &str) -> TableId {
        TableId {
            schema: "public".into(),
            name: name.into(),
        }
    }

    /// users(id PK, email UNIQUE, name, note) and orders(id PK, user_id FK -> users.id).
    fn catalog() -> Catalog {
        let users = Table {
            id: id("users"),
            columns: vec![
                col("id", ColumnKind::Integer, false),
                Column {
                    max_chars: Some(255),
                    ..col("email", ColumnKind::Text, false)
                },
                col("name", ColumnKind::Text, true),
                col("born", ColumnKind::Date, true),
            ],
            primary_key: vec!["id".into()],
            unique_indexes: vec![
                unique("users_pkey", "id"),
                UniqueIndex {
                    key_defs: vec!["lower(email)".into()],
                    ..unique("users_email_key", "email")
                },
            ],
            transactional: true,
            ..Table::default()
        };
        let orders = Table {
            id: id("orders"),
            columns: vec![
                col("id", ColumnKind::Integer, false),
                col("user_id", ColumnKind::Integer, true),
            ],
            primary_key: vec!["id".into()],
            transactional: true,
            ..Table::default()
        };
        Catalog {
            default_schema: "public".into(),
            tables: vec![users, orders],
            foreign_keys: vec![ForeignKey {
                name: "orders_user_fk".into(),
                child: id("orders"),
                child_columns: vec!["user_id".into()],
                parent: id("users"),
                parent_columns: vec!["id".into()],
                match_full: false,
            }],
            materialized_views: Vec::new(),
            unmaskable: Vec::new(),
        }
    }

    fn run(rules: &str) -> Result<Vec<TablePlan>, Vec<String>> {
        let rules = parse_str(rules, "m.yaml").expect("rules parse");
        classify(&rules, &catalog(), Dialect::Postgres)
            .map_err(|f| f.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn complete_rules_resolve_every_table() {
        let plans = run("tables:\n  users:\n    keep: [id, born]\n    mask: { email: email, name: name }\n  orders: { keep: [id, user_id] }\n").unwrap();
        assert_eq!(plans.len(), 2);
        let PlannedAction::Mask(cols) = &plans[0].action else {
            panic!("users is masked")
        };
        assert_eq!(cols.len(), 2);
    }

    #[test]
    fn what_no_rule_can_mask_refuses_even_complete_rules() {
        let rules = parse_str(
            "tables:\n  users:\n    keep: [id, born]\n    mask: { email: email, name: name }\n  orders: { keep: [id, user_id] }\n",
            "m.yaml",
        )
        .unwrap();
        let mut catalog = catalog();
        catalog.unmaskable.push(crate::catalog::Unmaskable {
            what: "foreign table `public.crm`".into(),
            why: "its rows live elsewhere",
        });
        let errs: Vec<String> = classify(&rules, &catalog, Dialect::Postgres)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "m.yaml:2:3: foreign table `public.crm` cannot be masked: its rows live elsewhere"
            ]
        );
    }

    #[test]
    fn an_audit_names_each_unclassified_column_and_table_qualified() {
        let rules = parse_str(
            "tables:\n  users:\n    keep: [id, born, email]\n  invoices: { keep: [id] }\n",
            "m.yaml",
        )
        .unwrap();
        let audit = audit(&rules, &catalog(), Dialect::Postgres);
        let names: Vec<String> = audit.unclassified.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["public.orders", "public.users.name"]);
        assert_eq!(audit.findings.len(), 3, "{:?}", audit.findings);

        let complete = parse_str(
            "tables:\n  users:\n    keep: [id, born, email, name]\n  orders: { keep: [id, user_id] }\n",
            "m.yaml",
        )
        .unwrap();
        let audit = super::audit(&complete, &catalog(), Dialect::Postgres);
        assert!(audit.unclassified.is_empty() && audit.findings.is_empty());
    }

    #[test]
    fn unclassified_unknown_and_misfit_are_all_listed() {
        let errs = run("tables:\n  users:\n    keep: [id, emial]\n    mask: { born: email }\n  invoices: { keep: [id] }\n").unwrap_err();
        assert_eq!(
            errs,
            vec![
                "m.yaml:2:3: `users.email` is not classified: add it to keep or mask",
                "m.yaml:2:3: `users.name` is not classified: add it to keep or mask",
                "m.yaml:2:3: table `orders` is not classified: add it under tables with keep, truncate, or its columns",
                "m.yaml:3:16: `users.emial`: no such column (the table has: id, email, name, born)",
                "m.yaml:4:13: `users.born`: strategy `email` does not fit type date (it needs text)",
                "m.yaml:5:3: table `invoices`: no such table in the database",
            ]
        );
    }

    #[test]
    fn strategies_that_could_collide_on_a_unique_column_are_refused() {
        let errs = run("tables:\n  users:\n    keep: [id, born, name]\n    mask: { email: name }\n  orders: { keep: [id, user_id] }\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("unique index `users_email_key`"),
            "{errs:?}"
        );
        assert!(run("tables:\n  users:\n    keep: [id, born, name]\n    mask: { email: hash }\n  orders: { keep: [id, user_id] }\n").is_ok());
        let short = run(
            "tables:\n  users:\n    keep: [id, born, name]\n    mask: { email: { strategy: hash, length: 32 } }\n  orders: { keep: [id, user_id] }\n",
        );
        assert!(short.is_err());
    }

    #[test]
    fn foreign_keys_are_never_broken() {
        let errs = run("tables:\n  users:\n    keep: [email, name, born]\n    mask: { id: { strategy: value, value: '1' } }\n  orders: { keep: [id, user_id] }\n").unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("referenced by foreign key `orders_user_fk`")),
            "{errs:?}"
        );
        assert!(
            run("tables:\n  users: { keep: [id, email, name, born] }\n  orders:\n    keep: [id]\n    mask: { user_id: null }\n")
                .is_ok()
        );
        let errs =
            run("tables:\n  users: truncate\n  orders: { keep: [id, user_id] }\n").unwrap_err();
        assert!(
            errs[0].contains("`users` is truncated but `orders` keeps rows"),
            "{errs:?}"
        );
        assert!(run("tables:\n  users: truncate\n  orders: truncate\n").is_ok());
    }

    #[test]
    fn null_needs_a_nullable_column_and_lengths_must_fit() {
        let errs = run("tables:\n  users:\n    keep: [id, born, name]\n    mask: { email: null }\n  orders: { keep: [id, user_id] }\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("NOT NULL"), "{errs:?}");
    }

    #[test]
    fn mentions_matches_whole_identifiers_only() {
        assert!(mentions("lower((email)::text)", "email"));
        assert!(!mentions("email_verified IS NULL", "email"));
        assert!(case_fold_of("lower((email)::text)", "email"));
        assert!(!case_fold_of("left(email, 3)", "email"));
    }
}
