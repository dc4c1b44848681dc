//! The masked-refresh Lambda: settings read once at cold start, one tick per invocation, the
//! report as the response (and one JSON log line), its metrics as one EMF log line, failures
//! under stable error types.

use std::sync::Arc;

use offpeak_masked_refresh::{FUNCTION, Settings, TickError, tick_with};
use offpeak_shared::lambda::{answer, serve};
use offpeak_shared::metrics::report_metrics;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Arc::new(Settings::from_env()?);
    serve(FUNCTION, move |ctx, event, now| {
        let settings = Arc::clone(&settings);
        async move {
            let result = tick_with(&ctx, &settings, &event, now).await;
            answer(result, TickError::kind, Some(report_metrics), now)
        }
    })
    .await
}
