//! The masked-refresh Lambda: settings read once at cold start, one tick per invocation, the
//! report as the response (and one JSON log line), its metrics as one EMF log line, failures
//! under stable error types.

use std::sync::Arc;

use offpeak_masked_refresh::{FUNCTION, Settings, metrics, tick_with};
use offpeak_shared::lambda::{diagnostic, respond, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Arc::new(Settings::from_env()?);
    serve(FUNCTION, move |ctx, event, now| {
        let settings = Arc::clone(&settings);
        async move {
            offpeak_shared::savings::emit(FUNCTION, &ctx.schedule, &event, now);
            let report = tick_with(&ctx, &settings, &event, now)
                .await
                .map_err(|e| diagnostic(e.kind(), &e))?;
            metrics(&report).emit(now.timestamp_millis());
            respond(&report)
        }
    })
    .await
}
