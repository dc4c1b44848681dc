//! offpeak-shared: what every offpeak function and the `offpeak` CLI stand on.
//!
//! - [`config`]: the schedule file (`infra/schedules.yaml`): typed model, parser and validation
//!   that reports every error as `PATH:LINE:COL: message`.
//! - [`calendar`]: the pure calendar engine: desired state of every target at an instant, and the
//!   next instant that state changes. It never reads the clock.
//! - [`error_chain`]: an error and its causes on one line.
//! - [`error_kind`]: the stable types a tick's failure is reported under.
//! - [`event`]: the invocation event (`dry_run`, `at`, overrides) and the clock edge.
//! - [`lambda`]: the Lambda edge: context built once per cold start, the invocation loop.
//! - [`report`]: the report every tick returns (plan, applied, failed, notes).
//! - [`aws`]: AWS context built once per cold start (standard endpoint variables honoured).
//! - `rds` (feature `rds`): the RDS boundary both RDS functions stand on: vocabulary, status,
//!   errors, SDK adapter, and (feature `rds-fake`) an in-memory fake.
//! - [`state`]: the DynamoDB state store.
//! - [`notify`]: SNS notifications readable as email and as AWS Chatbot custom notifications.
//! - [`pause`]: the kill switch (`offpeak pause` / `resume`), read by every tick.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`savings`]: hours saved per target: weekly totals (timeline) and per-tick gauges (dashboard).
//! - [`yaml`]: YAML with line/column positions and error-collecting typed access.

pub mod aws;
pub mod calendar;
pub mod config;
pub mod error_chain;
pub mod error_kind;
pub mod event;
pub mod lambda;
pub mod metrics;
pub mod notify;
pub mod pause;
#[cfg(any(test, feature = "rds"))]
pub mod rds;
pub mod report;
pub mod savings;
pub mod state;
pub mod yaml;
