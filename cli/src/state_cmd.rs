//! `offpeak state init`: create the DynamoDB state table for local runs (the stack creates it
//! in AWS). Idempotent: an existing table is left as it is.

use offpeak_shared::aws::AwsCtx;
use offpeak_shared::error_chain::chain;

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
