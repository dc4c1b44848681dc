//! The aurora-replicas Lambda: one tick per invocation, the report as the response, its metrics
//! as one EMF log line. Everything else is in the library and `offpeak_shared::lambda`.

use offpeak_aurora_replicas::{FUNCTION, metrics, tick};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    offpeak_shared::lambda::serve(FUNCTION, |ctx, event, now| async move {
        let report = tick(&ctx, &event, now).await?;
        metrics(&report).emit(now.timestamp_millis());
        Ok(serde_json::to_value(report)?)
    })
    .await
}
