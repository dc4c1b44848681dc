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
//! - `pg_stats` (PostgreSQL): none appears in the planner's sampled values either;
//! - `foreign_key`: no orphan rows in foreign keys touching a masked or truncated table;
//! - `index` (PostgreSQL): every index of a masked table is valid.
//!
//! All counting happens in SQL; only counts come back, so the report cannot carry a value.

use super::bookkeeping::{self, placeholder, sample_table};
use super::catalog::Catalog;
use super::classify::{PlannedAction, TablePlan};
use super::conn::{Db, Param};
use super::dialect::Dialect;
use super::expr::{self, CheckSpec};
use super::report::{Check, Verification};
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
    Ok(Verification::new(checks))
}

fn check(name: &'static str, subject: &str, passed: bool, detail: String) -> Check {
    Check {
        check: name,
        subject: subject.to_owned(),
        passed,
        detail,
    }
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
    if d == Dialect::Postgres {
        out.extend(pg_stats(db, plan, &specs).await?);
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

/// `pg_stats` keeps most-common values and histogram bounds sampled from the table: after
/// masking (and ANALYZE) none of them may be a sampled original.
async fn pg_stats(
    db: &mut Db,
    plan: &TablePlan,
    specs: &[CheckSpec],
) -> Result<Vec<Check>, DbError> {
    let d = db.dialect;
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| s.sampled && !s.label.contains('.')) {
        let sql = format!(
            "SELECT COUNT(*)::text FROM pg_stats s, LATERAL unnest(COALESCE(s.most_common_vals::text::text[], '{{}}') \
             || COALESCE(s.histogram_bounds::text::text[], '{{}}')) v \
             WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3 AND {} IN ({})",
            d.verify_digest("v"),
            sample_query(d, &plan.display, &spec.label)
        );
        let params = [&plan.table.id.schema, &plan.table.id.name, &spec.label]
            .map(|s| Param::Text(Some(s.clone())));
        let hits = db.count(&during(&plan.display), &sql, &params).await?;
        let subject = format!("{}.{}", plan.display, spec.label);
        out.push(check(
            "pg_stats",
            &subject,
            hits == 0,
            format!("{hits} sampled original values in pg_stats"),
        ));
    }
    Ok(out)
}

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
