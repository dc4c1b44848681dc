//! CloudWatch Embedded Metric Format (EMF) lines.
//!
//! A function builds one [`Emf`] per tick and prints it as a single JSON line on stdout; CloudWatch
//! Logs turns it into metrics in the `offpeak` namespace without any API call (so emitting a metric
//! can't fail a tick or be throttled). Every line carries the `Function` dimension and, optionally,
//! one more (typically `Target`); with the extra dimension the metrics are published under both
//! `[Function]` and `[Function, <extra>]`, so dashboards can show a whole function or one target.
//! A per-target gauge whose sum or average across targets means nothing opts out of the
//! `[Function]` roll-up ([`Emf::without_function_rollup`]).
//!
//! Guarantees:
//! - The timestamp is passed in (milliseconds since the epoch), never read from the clock.
//! - Metric values are numbers only; dimension values are ids supplied by offpeak (function and
//!   target names), so no personal value can reach a metric through this type.
//! - Non-finite values (NaN, ±inf) are dropped: EMF can't represent them and a bad gauge must not
//!   invalidate the whole line. Adding a metric twice keeps the last value.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::report::Report;

/// The CloudWatch namespace of every offpeak metric.
pub const NAMESPACE: &str = "offpeak";
/// The dimension every metric carries.
pub const FUNCTION_DIMENSION: &str = "Function";

/// The metrics a tick's report yields, dimension `Function` = the report's function:
/// `ActionsPlanned`, `ActionsApplied`, `ActionsFailed` and `Drift` (the targets the report lists
/// as left unlike the schedule; what makes one drift is each function's to say).
pub fn report_metrics<A>(report: &Report<A>) -> Emf {
    let count = |n: usize| n as f64;
    Emf::new(report.function)
        .metric("ActionsPlanned", count(report.plan.len()), Unit::Count)
        .metric("ActionsApplied", count(report.applied.len()), Unit::Count)
        .metric("ActionsFailed", count(report.failed.len()), Unit::Count)
        .metric("Drift", count(report.drifting.len()), Unit::Count)
}

/// CloudWatch units offpeak uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
    Percent,
    Bytes,
    None,
}

impl Unit {
    /// The unit's CloudWatch name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Percent => "Percent",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Metric {
    name: String,
    value: f64,
    unit: Unit,
}

/// One EMF record: the `Function` dimension, an optional extra dimension and a set of metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Emf {
    function: String,
    extra: Option<(String, String)>,
    rollup: bool,
    metrics: Vec<Metric>,
}

impl Emf {
    /// A record for `function` (e.g. `aurora-replicas`) with no metrics yet.
    pub fn new(function: &str) -> Self {
        Self {
            function: function.to_owned(),
            extra: None,
            rollup: true,
            metrics: Vec::new(),
        }
    }

    /// Publishes the metrics under `[Function, <extra>]` only, not also under `[Function]`.
    /// Without an extra dimension this changes nothing (a record always has one dimension set).
    pub fn without_function_rollup(mut self) -> Self {
        self.rollup = false;
        self
    }

    /// Adds the one extra dimension (e.g. `("Target", "prod-aurora")`); a second call replaces it.
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.extra = Some((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds (or replaces) a metric.
    pub fn metric(mut self, name: &str, value: f64, unit: Unit) -> Self {
        self.metrics.retain(|m| m.name != name);
        self.metrics.push(Metric {
            name: name.to_owned(),
            value,
            unit,
        });
        self
    }

    /// The EMF JSON document, stamped with `timestamp_ms` (milliseconds since the Unix epoch).
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let metrics: Vec<&Metric> = self
            .metrics
            .iter()
            .filter(|m| m.value.is_finite())
            .collect();
        let mut root = Map::new();
        root.insert("_aws".into(), self.directive(&metrics, timestamp_ms));
        root.insert(
            FUNCTION_DIMENSION.into(),
            Value::from(self.function.as_str()),
        );
        if let Some((name, value)) = &self.extra {
            root.insert(name.clone(), Value::from(value.as_str()));
        }
        for m in metrics {
            root.insert(m.name.clone(), json!(m.value));
        }
        Value::Object(root)
    }

    /// The record as one line of JSON (no trailing newline).
    pub fn to_line(&self, timestamp_ms: i64) -> String {
        self.to_json(timestamp_ms).to_string()
    }

    /// Prints the record as one line on stdout, where the Lambda runtime hands it to CloudWatch Logs.
    /// A record with no (finite) metric prints nothing. A failed write is ignored: losing a metric
    /// must never fail a tick.
    pub fn emit(&self, timestamp_ms: i64) {
        if !self.metrics.iter().any(|m| m.value.is_finite()) {
            return;
        }
        let line = self.to_line(timestamp_ms);
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn directive(&self, metrics: &[&Metric], timestamp_ms: i64) -> Value {
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
            .collect();
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": self.dimension_sets(),
                "Metrics": definitions,
            }],
        })
    }

    fn dimension_sets(&self) -> Value {
        match &self.extra {
            None => json!([[FUNCTION_DIMENSION]]),
            Some((name, _)) if !self.rollup => json!([[FUNCTION_DIMENSION, name]]),
            Some((name, _)) => json!([[FUNCTION_DIMENSION], [FUNCTION_DIMENSION, name]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_771_800_000;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "EMF must be a single line");
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn line_has_the_cloudwatch_metrics_directive() {
        let line = Emf::new("aurora-replicas")
            .metric("ActionsApplied", 2.0, Unit::Count)
            .metric("TickDuration", 153.0, Unit::Milliseconds)
            .to_line(T);
        let doc = parse(&line);
        assert_eq!(doc["_aws"]["Timestamp"], T);
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        assert_eq!(directives[0]["Namespace"], "offpeak");
        assert_eq!(directives[0]["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directives[0]["Metrics"],
            json!([{"Name": "ActionsApplied", "Unit": "Count"}, {"Name": "TickDuration", "Unit": "Milliseconds"}])
        );
        assert_eq!(doc["Function"], "aurora-replicas");
        assert_eq!(doc["ActionsApplied"], 2.0);
        assert_eq!(doc["TickDuration"], 153.0);
    }

    #[test]
    fn extra_dimension_publishes_both_rollups() {
        let doc = parse(
            &Emf::new("eks-nodegroups")
                .dimension("Target", "dev-eks/app")
                .metric("Drift", 1.0, Unit::Count)
                .to_line(T),
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["Function"], ["Function", "Target"]])
        );
        assert_eq!(doc["Target"], "dev-eks/app");
        assert_eq!(doc["Function"], "eks-nodegroups");
    }

    #[test]
    fn a_per_target_gauge_can_skip_the_function_rollup() {
        let doc = parse(
            &Emf::new("eks-nodegroups")
                .dimension("Target", "dev-eks/app")
                .without_function_rollup()
                .metric("ScheduledAsleep", 1.0, Unit::Count)
                .to_line(T),
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Function", "Target"]]));
        assert_eq!(doc["Function"], "eks-nodegroups");
        assert_eq!(doc["Target"], "dev-eks/app");
        let alone = parse(
            &Emf::new("f")
                .without_function_rollup()
                .metric("M", 1.0, Unit::Count)
                .to_line(T),
        );
        assert_eq!(
            alone["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
    }

    #[test]
    fn every_declared_metric_and_dimension_has_a_member_value() {
        let doc = parse(
            &Emf::new("masked-refresh")
                .dimension("Target", "dev-aurora")
                .metric("RowsMasked", 1200.0, Unit::Count)
                .metric("Duration", 812.5, Unit::Seconds)
                .to_line(T),
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(doc[d.as_str().unwrap()].is_string(), "{d}");
            }
        }
    }

    #[test]
    fn non_finite_values_are_dropped_and_last_value_wins() {
        let doc = parse(
            &Emf::new("f")
                .metric("Bad", f64::NAN, Unit::None)
                .metric("Inf", f64::INFINITY, Unit::None)
                .metric("Good", 1.0, Unit::Count)
                .metric("Good", 3.0, Unit::Count)
                .to_line(T),
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "Good", "Unit": "Count"}])
        );
        assert_eq!(doc["Good"], 3.0);
        assert!(doc.get("Bad").is_none() && doc.get("Inf").is_none());
    }

    #[test]
    fn units_use_cloudwatch_names() {
        let all = [
            Unit::Count,
            Unit::Seconds,
            Unit::Milliseconds,
            Unit::Percent,
            Unit::Bytes,
            Unit::None,
        ];
        let names: Vec<&str> = all.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            names,
            [
                "Count",
                "Seconds",
                "Milliseconds",
                "Percent",
                "Bytes",
                "None"
            ]
        );
    }
}
