//! `offpeak state init`: create the DynamoDB state table for local runs (the stack creates it
//! in AWS). Idempotent: an existing table is left as it is.

use offpeak_shared::aws::AwsCtx;

use crate::failure::Failure;

pub async fn init() -> Result<(), Failure> {
    let ctx = AwsCtx::load().await;
    let store = ctx
        .require_state()
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let created = store
        .create_table_if_missing()
        .await
        .map_err(|e| Failure::Runtime(chain(&e)))?;
    let what = if created { "created" } else { "already exists" };
    println!("state table {}: {what}", store.table());
    Ok(())
}

/// An error and its sources on one line, so the AWS error code behind a failure is visible.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
