//! The aurora-replicas Lambda: one tick per invocation, the report as the response (and one
//! JSON log line), its metrics as one EMF log line, failures under stable error types. Everything
//! else is in the library and `offpeak_shared::lambda`.

use offpeak_aurora_replicas::{FUNCTION, metrics, tick};
use offpeak_shared::lambda::{diagnostic, respond, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(FUNCTION, |ctx, event, now| async move {
        offpeak_shared::savings::emit(FUNCTION, &ctx.schedule, &event, now);
        let report = tick(&ctx, &event, now)
            .await
            .map_err(|e| diagnostic(e.kind(), &e))?;
        metrics(&report).emit(now.timestamp_millis());
        respond(&report)
    })
    .await
}
