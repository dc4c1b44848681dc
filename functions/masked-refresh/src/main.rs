//! The masked-refresh Lambda: settings read once at cold start, one tick per invocation, the
//! report as the response, its metrics as one EMF log line.

use offpeak_masked_refresh::{FUNCTION, Settings, metrics, tick_with};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Read once per cold start; a `&'static` keeps the handler closure `Copy`.
    let settings: &'static Settings = Box::leak(Box::new(Settings::from_env()?));
    offpeak_shared::lambda::serve(FUNCTION, move |ctx, event, now| async move {
        let report = tick_with(&ctx, settings, &event, now).await?;
        metrics(&report).emit(now.timestamp_millis());
        Ok(serde_json::to_value(report)?)
    })
    .await
}
