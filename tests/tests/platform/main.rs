//! What every function stands on, one test binary: the harness's own servers (`harness`), IAM
//! evaluated against recorded requests (`iam_conformance`), the SNS notifier (`notifier`), the
//! Lambda Runtime API served to the real binaries (`runtime_api`), the DynamoDB state store
//! (`state_store`) and the SAM template's policies (`template_policy`).

mod harness;
mod iam_conformance;
mod notifier;
mod runtime_api;
mod state_store;
mod template_policy;
