//! The aurora-replicas Lambda: one tick per invocation, the report as the response (and one
//! JSON log line), its metrics as one EMF log line, failures under stable error types. Everything
//! else is in the library and `offpeak_shared::lambda`.

use offpeak_aurora_replicas::{FUNCTION, TickError, tick};
use offpeak_shared::lambda::{answer, serve};
use offpeak_shared::metrics::report_metrics;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(FUNCTION, |ctx, event, now| async move {
        let result = tick(&ctx, &event, now).await;
        answer(result, TickError::kind, Some(report_metrics), now)
    })
    .await
}
