//! The verification gate: proof, from the database itself, that masking did what the rules say.
//!
//! Checks (coverage is checked before this, by `classify`, and refuses on any gap):
//! - `progress`: every table to mask or truncate was finished by a recorded run;
//! - `rows`: each masked table has the rows it had before masking, each truncated table none;
//! - `pattern`: every non-NULL masked value has its strategy's shape (hex e-mail at
//!   `example.invalid`, `Person XXXXXXXXXX`, `+999 ...`, stars, NULL, the constant, truncated dates);
//! - `sample`: none of the sampled originals (stored as keyed digests) appears in its column.
//!   When no sampled original already had the masked shape, the `pattern` check (every value has
//!   that shape) proves it without hashing every row; otherwise every value is digested and
//!   compared;
//! - `pattern` / `sample` of a walked JSON column (`table.column.*`, see `json`): every masked
//!   position of every document has its rule's shape and holds no sampled original;
//! - `statistics` (PostgreSQL): none appears in the planner's sampled values either (the table's,
//!   its partitions' and children's, its parents' inherited ones, its expression indexes', its
//!   extended statistics'); and no statistic that `ANALYZE` cannot have replaced is left from
//!   before masking (an emptied table's, an empty tree's, a skipped column's: see
//!   `catalog::residue`);
//! - `rewritten` (PostgreSQL): every table masked in place, and every table with a dropped
//!   column, was rewritten by offpeak (its files hold live rows only) and has not changed files
//!   since;
//! - `materialized_view` (PostgreSQL): no view holds, in its rows or statistics, a sampled
//!   original of a masked column it reads, or keeps statistics while empty;
//! - `foreign_key`: no orphan rows in foreign keys touching a masked or truncated table;
//! - `index` (PostgreSQL): every index of a masked table is valid.
//!
//! Originals whose text is empty or only `*` are not sampled (see `bookkeeping::capture`): they
//! hold no personal data, and `redact` leaves them as they are.
//!
//! All counting happens in SQL; only counts come back, so the report cannot carry a value.

use super::apply;
use super::bookkeeping::{self, placeholder, sample_table};
use super::catalog::Catalog;
use super::catalog::residue::{self, MaterializedView};
use super::classify::{PlannedAction, TablePlan};
use super::conn::{Db, Param};
use super::dialect::Dialect;
use super::expr::{self, CheckSpec};
use super::json;
use super::report::{Check, Verification, check};
use super::scrub::DbError;

/// Runs every check; a failing check is a result, not an error.
pub async fn verify(
    db: &mut Db,
    plans: &[TablePlan],
    catalog: &Catalog,
) -> Result<Verification, DbError> {
    let mut checks = Vec::new();
    let changed: Vec<&TablePlan> = plans
        .iter()
        .filter(|p| !matches!(p.action, PlannedAction::Keep))
        .collect();
    if !changed.is_empty() && !bookkeeping::exists(db).await? {
        checks.push(check(
            "progress",
            "database",
            false,
            "no masking record: this database was not masked by offpeak".into(),
        ));
        return Ok(Verification::new(checks));
    }
    for plan in &changed {
        checks.extend(table(db, plan).await?);
    }
    checks.extend(foreign_keys(db, &changed, catalog).await?);
    if db.dialect == Dialect::Postgres {
        checks.extend(residue_checks(db, plans).await?);
    }
    Ok(Verification::new(checks))
}

async fn table(db: &mut Db, plan: &TablePlan) -> Result<Vec<Check>, DbError> {
    let subject = plan.display.as_str();
    let Some(progress) = bookkeeping::read(db, subject).await?.filter(|p| p.done) else {
        return Ok(vec![check(
            "progress",
            subject,
            false,
            "not (fully) masked yet".into(),
        )]);
    };
    let mut out = vec![check(
        "progress",
        subject,
        true,
        format!("done by method {}", progress.method),
    )];
    let d = db.dialect;
    let name = d.table(&plan.table.id.schema, &plan.table.id.name);
    let PlannedAction::Mask(masked) = &plan.action else {
        let rows = db
            .count(
                &during(subject),
                &format!("SELECT {} FROM {name}", d.as_text("COUNT(*)")),
                &[],
            )
            .await?;
        out.push(check(
            "rows",
            subject,
            rows == 0,
            format!("{rows} rows after truncation"),
        ));
        return Ok(out);
    };
    let specs: Vec<CheckSpec> = masked
        .iter()
        .flat_map(|m| expr::checks(d, &m.column, &m.strategy))
        .collect();
    let mut digest_scan = Vec::with_capacity(specs.len());
    for spec in &specs {
        digest_scan.push(spec.sampled && shaped_originals(db, subject, &spec.label).await? > 0);
    }
    let counts = scan(db, plan, &name, &specs, &digest_scan).await?;
    let rows = counts[0];
    let same = rows == progress.rows_before;
    out.push(check(
        "rows",
        subject,
        same,
        format!("{rows} rows now, {} before masking", progress.rows_before),
    ));
    let mut at = 1;
    for (spec, scanned) in specs.iter().zip(&digest_scan) {
        let label = format!("{subject}.{}", spec.label);
        let mut misfits = 0;
        if spec.conforms.is_some() {
            misfits = counts[at];
            at += 1;
            out.push(check(
                "pattern",
                &label,
                misfits == 0,
                format!("{misfits} values do not have the masked shape"),
            ));
        }
        if spec.sampled && *scanned {
            let hits = counts[at];
            at += 1;
            out.push(check(
                "sample",
                &label,
                hits == 0,
                format!("{hits} sampled original values still present"),
            ));
        } else if spec.sampled {
            // No sampled original has the masked shape: only values lacking it (the pattern
            // check's misfits, normally none) can be originals, so only those are digested.
            let hits = match misfits {
                0 => 0,
                _ => misfit_hits(db, plan, &name, spec).await?,
            };
            let detail = format!(
                "{hits} sampled original values still present (of {misfits} values without the masked shape)"
            );
            out.push(check("sample", &label, hits == 0, detail));
        }
    }
    out.extend(json::checks(db, plan, &name, masked).await?);
    if d == Dialect::Postgres {
        out.extend(statistics(db, plan, &name, &specs).await?);
        out.push(indexes(db, plan, &name).await?);
    }
    Ok(out)
}

fn during(subject: &str) -> String {
    format!("verifying table {subject}")
}

/// One pass over the table: its row count, then per spec the non-conforming and the sampled-hit
/// counts, in the order `table` reads them.
async fn scan(
    db: &mut Db,
    plan: &TablePlan,
    name: &str,
    specs: &[CheckSpec],
    digest_scan: &[bool],
) -> Result<Vec<i64>, DbError> {
    let d = db.dialect;
    let mut columns = vec![d.as_text("COUNT(*)")];
    for (spec, scanned) in specs.iter().zip(digest_scan) {
        if let Some(conforms) = &spec.conforms {
            let bad = format!("{} IS NOT NULL AND NOT ({conforms})", spec.value);
            columns.push(d.as_text(&format!("COALESCE({}, 0)", d.count_if(&bad))));
        }
        if *scanned {
            let hit = format!(
                "{} IN ({})",
                d.verify_digest(&spec.value),
                sample_query(d, &plan.display, &spec.label)
            );
            columns.push(d.as_text(&format!("COALESCE({}, 0)", d.count_if(&hit))));
        }
    }
    let sql = format!("SELECT {} FROM {name}", columns.join(", "));
    let rows = db.rows(&during(&plan.display), &sql, &[]).await?;
    let row = rows.into_iter().next().unwrap_or_default();
    Ok(row
        .iter()
        .map(|v| v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0))
        .collect())
}

/// Sampled originals among the values of `spec` that lack the masked shape.
async fn misfit_hits(
    db: &mut Db,
    plan: &TablePlan,
    name: &str,
    spec: &CheckSpec,
) -> Result<i64, DbError> {
    let d = db.dialect;
    let conforms = spec.conforms.as_deref().unwrap_or("1 = 1");
    let sql = format!(
        "SELECT {} FROM {name} WHERE {} IS NOT NULL AND NOT ({conforms}) AND {} IN ({})",
        d.as_text("COUNT(*)"),
        spec.value,
        d.verify_digest(&spec.value),
        sample_query(d, &plan.display, &spec.label)
    );
    db.count(&during(&plan.display), &sql, &[]).await
}

/// Sampled originals of `label` that already had the masked shape (or whose strategy has none).
async fn shaped_originals(db: &mut Db, table: &str, label: &str) -> Result<i64, DbError> {
    let d = db.dialect;
    let sql = format!(
        "SELECT {} FROM {} WHERE table_name = {} AND column_name = {} AND conforms",
        d.as_text("COUNT(*)"),
        sample_table(d),
        placeholder(d, 1),
        placeholder(d, 2)
    );
    let params = [table, label].map(|s| Param::Text(Some(s.to_owned())));
    db.count(&during(table), &sql, &params).await
}

fn sample_query(d: Dialect, table: &str, label: &str) -> String {
    format!(
        "SELECT digest FROM {} WHERE table_name = {} AND column_name = {}",
        sample_table(d),
        d.literal(table),
        d.literal(label)
    )
}

/// The planner's statistics keep values sampled from rows (most-common values, histogram
/// bounds, extended statistics): after masking none may be a sampled original, in the statistics
/// of the table, of the tables below it (partitions, inheritance children), the inherited ones
/// of the tables above it, of its expression indexes, or of its extended statistics objects.
async fn statistics(
    db: &mut Db,
    plan: &TablePlan,
    name: &str,
    specs: &[CheckSpec],
) -> Result<Vec<Check>, DbError> {
    if !specs.iter().any(|s| s.sampled) {
        return Ok(Vec::new());
    }
    let d = db.dialect;
    let during = during(&plan.display);
    let version = db
        .count(&during, "SELECT current_setting('server_version_num')", &[])
        .await?;
    // Expression statistics (`pg_stats_ext_exprs`) exist from PostgreSQL 14 on.
    let exprs = if version >= 140_000 {
        EXPRESSION_VALUES
    } else {
        ""
    };
    let sql = STATISTICS_SQL
        .replace("{exprs}", exprs)
        .replace("{digest}", &d.verify_digest("v"))
        .replace("{sample}", &table_sample(d, &plan.display));
    let hits = db
        .count(&during, &sql, &[Param::Text(Some(name.to_owned()))])
        .await?;
    Ok(vec![check(
        "statistics",
        &plan.display,
        hits == 0,
        format!(
            "{hits} sampled original values in the statistics of the table, the tables above and \
             below it, its indexes and its statistics objects"
        ),
    )])
}

/// Every sampled original of `table`, but the leaves and keys of walked JSON documents
/// (`column.*`): those are short and common (`true`, `1`, a key name) and would be found in any
/// kept column's statistics; `json` checks them in their own column's statistics.
fn table_sample(d: Dialect, table: &str) -> String {
    format!(
        "SELECT digest FROM {} WHERE table_name = {} AND right(column_name, 2) <> '.*'",
        sample_table(d),
        d.literal(table)
    )
}

/// `$1`: the table. `{digest}` of `v`, `{sample}`: the digests to look for. Array-typed columns
/// are left out (their statistics print as nested arrays, and no strategy masks them).
const STATISTICS_SQL: &str = "
WITH RECURSIVE down(oid) AS (
  SELECT $1::regclass::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN down d ON i.inhparent = d.oid),
up(oid) AS (
  SELECT $1::regclass::oid UNION SELECT i.inhparent FROM pg_inherits i JOIN up u ON i.inhrelid = u.oid),
rels(oid, inherited_only) AS (
  SELECT oid, false FROM down UNION SELECT oid, true FROM up WHERE oid NOT IN (SELECT oid FROM down)),
stat_rels(oid, inherited_only) AS (
  SELECT oid, inherited_only FROM rels
  UNION SELECT i.indexrelid, false FROM pg_index i JOIN rels r ON r.oid = i.indrelid AND NOT r.inherited_only),
vals(v) AS (
  SELECT v FROM stat_rels sr JOIN pg_class c ON c.oid = sr.oid JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND (s.inherited OR NOT sr.inherited_only)
  JOIN pg_attribute a ON a.attrelid = sr.oid AND a.attname = s.attname
  JOIN pg_type t ON t.oid = a.atttypid AND t.typcategory <> 'A'
  CROSS JOIN LATERAL unnest(COALESCE(s.most_common_vals::text::text[], '{}')
                            || COALESCE(s.histogram_bounds::text::text[], '{}')) v
  UNION ALL
  SELECT v FROM rels r JOIN pg_statistic_ext x ON x.stxrelid = r.oid
  JOIN pg_namespace xn ON xn.oid = x.stxnamespace
  JOIN pg_stats_ext e ON e.statistics_schemaname = xn.nspname AND e.statistics_name = x.stxname
  CROSS JOIN LATERAL unnest(COALESCE(e.most_common_vals, '{}')) v
  {exprs})
SELECT count(*)::text FROM vals WHERE v IS NOT NULL AND {digest} IN ({sample})";

const EXPRESSION_VALUES: &str = "
  UNION ALL
  SELECT v FROM rels r JOIN pg_statistic_ext x ON x.stxrelid = r.oid
  JOIN pg_namespace xn ON xn.oid = x.stxnamespace
  JOIN pg_stats_ext_exprs e ON e.statistics_schemaname = xn.nspname AND e.statistics_name = x.stxname
  CROSS JOIN LATERAL jsonb_array_elements_text(COALESCE(array_to_json(e.most_common_vals)::jsonb, '[]')
                                               || COALESCE(array_to_json(e.histogram_bounds)::jsonb, '[]')) v";

/// PostgreSQL: what `catalog::residue` finds beyond the rows — statistics `ANALYZE` could not
/// have replaced, tables whose files were not rewritten since they last could hold originals
/// (old row versions, dropped columns), and materialized views holding originals.
async fn residue_checks(db: &mut Db, plans: &[TablePlan]) -> Result<Vec<Check>, DbError> {
    let mut out = Vec::new();
    let scope = residue::scope(db, &apply::seeds(plans)).await?;
    let stale = residue::stale_statistics(db, &scope).await?;
    for s in &stale {
        out.push(check(
            "statistics",
            &format!("{}.{}", s.relation, s.column),
            false,
            format!(
                "statistics kept in {} come from rows masking removed or changed",
                s.kept_in
            ),
        ));
    }
    let mut methods = Vec::new();
    for plan in plans {
        if let Some(p) = bookkeeping::read(db, &plan.display).await? {
            methods.push((plan.display.clone(), p.method));
        }
    }
    let (in_place, emptied) = apply::changed_ids(plans, &methods);
    let recorded = bookkeeping::records_rewrites(db).await?;
    for n in residue::needing_rewrite(db, &in_place, &emptied, recorded).await? {
        let state = match n.done {
            true => "rewritten by offpeak since",
            false => "not rewritten since: its files may still hold original values",
        };
        out.push(check(
            "rewritten",
            &n.name,
            n.done,
            format!("{}; {state}", n.why),
        ));
    }
    for view in residue::materialized_views(db).await? {
        out.push(materialized_view(db, &view, plans).await?);
    }
    Ok(out)
}

/// A materialized view must hold, in its rows and statistics, no sampled original of a masked
/// column it reads, and must not keep statistics from before masking while it is empty.
async fn materialized_view(
    db: &mut Db,
    view: &MaterializedView,
    plans: &[TablePlan],
) -> Result<Check, DbError> {
    let d = db.dialect;
    let during = format!("verifying materialized view {}", view.name);
    let read: Vec<String> = view
        .reads
        .iter()
        .filter(|(id, column)| {
            plans.iter().any(|p| {
                &p.table.id == id
                    && matches!(&p.action, PlannedAction::Mask(cols)
                        if cols.iter().any(|m| &m.column.name == column))
            })
        })
        .map(|(id, column)| {
            let display = plans
                .iter()
                .find(|p| &p.table.id == id)
                .map_or_else(String::new, |p| p.display.clone());
            format!(
                "(table_name = {} AND (column_name = {} OR left(column_name, {}) = {}))",
                d.literal(&display),
                d.literal(column),
                column.chars().count() + 1,
                d.literal(&format!("{column}."))
            )
        })
        .collect();
    let mut hits = 0;
    if !read.is_empty() {
        let sample = format!(
            "SELECT digest FROM {} WHERE {}",
            sample_table(d),
            read.join(" OR ")
        );
        if view.populated && !view.columns.is_empty() {
            let values: Vec<String> = view
                .columns
                .iter()
                .map(|c| format!("m.{}::text", d.ident(c)))
                .collect();
            let sql = format!(
                "SELECT count(*)::text FROM {} m CROSS JOIN LATERAL unnest(ARRAY[{}]) x \
                 WHERE x IS NOT NULL AND {} IN ({sample})",
                view.name,
                values.join(", "),
                d.verify_digest("x")
            );
            hits += db.count(&during, &sql, &[]).await?;
        }
        let sql = VIEW_STATISTICS_SQL
            .replace("{digest}", &d.verify_digest("v"))
            .replace("{sample}", &sample);
        hits += db.count(&during, &sql, &view_params(view)).await?;
    }
    let has_statistics = db
        .value(
            &during,
            "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = $1 AND tablename = $2)::text",
            &view_params(view)[1..],
        )
        .await?
        .as_deref()
        == Some("true");
    let empty = !view.populated
        || db
            .value(
                &during,
                &format!("SELECT (NOT EXISTS (SELECT 1 FROM {}))::text", view.name),
                &[],
            )
            .await?
            .as_deref()
            == Some("true");
    let stale = has_statistics && empty;
    let mut detail = format!("{hits} sampled original values in its rows or statistics");
    if stale {
        detail.push_str("; it is empty or unpopulated but keeps statistics from before masking");
    }
    Ok(check(
        "materialized_view",
        &view.name,
        hits == 0 && !stale,
        detail,
    ))
}

fn view_params(view: &MaterializedView) -> [Param; 3] {
    [
        Param::Text(Some(view.name.clone())),
        Param::Text(Some(view.id.schema.clone())),
        Param::Text(Some(view.id.name.clone())),
    ]
}

/// `$1`: the view, `$2`, `$3`: its schema and name.
const VIEW_STATISTICS_SQL: &str = "
SELECT count(*)::text FROM pg_stats s
JOIN pg_attribute a ON a.attrelid = $1::regclass AND a.attname = s.attname
JOIN pg_type t ON t.oid = a.atttypid AND t.typcategory <> 'A'
CROSS JOIN LATERAL unnest(COALESCE(s.most_common_vals::text::text[], '{}')
                          || COALESCE(s.histogram_bounds::text::text[], '{}')) v
WHERE s.schemaname = $2 AND s.tablename = $3 AND {digest} IN ({sample})";

async fn indexes(db: &mut Db, plan: &TablePlan, name: &str) -> Result<Check, DbError> {
    let sql = format!(
        "SELECT COUNT(*)::text FROM pg_index WHERE indrelid = {}::regclass AND NOT (indisvalid AND indisready)",
        placeholder(db.dialect, 1)
    );
    let invalid = db
        .count(
            &during(&plan.display),
            &sql,
            &[Param::Text(Some(name.to_owned()))],
        )
        .await?;
    Ok(check(
        "index",
        &plan.display,
        invalid == 0,
        format!("{invalid} invalid indexes"),
    ))
}

/// Orphans in every foreign key whose child or parent was masked or truncated.
async fn foreign_keys(
    db: &mut Db,
    changed: &[&TablePlan],
    catalog: &Catalog,
) -> Result<Vec<Check>, DbError> {
    let d = db.dialect;
    let touched = |id| changed.iter().any(|p| &p.table.id == id);
    let mut out = Vec::new();
    for fk in catalog
        .foreign_keys
        .iter()
        .filter(|fk| touched(&fk.child) || touched(&fk.parent))
    {
        let pairs: Vec<String> = fk
            .child_columns
            .iter()
            .zip(&fk.parent_columns)
            .map(|(c, p)| format!("p.{} = c.{}", d.ident(p), d.ident(c)))
            .collect();
        let not_null: Vec<String> = fk
            .child_columns
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", d.ident(c)))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            d.as_text("COUNT(*)"),
            d.table(&fk.child.schema, &fk.child.name),
            not_null.join(" AND "),
            d.table(&fk.parent.schema, &fk.parent.name),
            pairs.join(" AND ")
        );
        let orphans = db
            .count(&format!("verifying foreign key {}", fk.name), &sql, &[])
            .await?;
        out.push(check(
            "foreign_key",
            &fk.name,
            orphans == 0,
            format!("{orphans} orphan rows"),
        ));
    }
    Ok(out)
}
