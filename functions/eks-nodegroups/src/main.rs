//! The eks-nodegroups Lambda: one tick per EventBridge Scheduler invocation; the response is the
//! tick's report (and one JSON log line), failures under stable error types. The tick emits its
//! own metrics (`crate::metrics`).

use offpeak_eks_nodegroups::{FUNCTION, TickError, tick};
use offpeak_shared::lambda::{answer, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(FUNCTION, |ctx, event, now| async move {
        let result = tick(&ctx, &event, now).await;
        answer(result, TickError::kind, None, now)
    })
    .await
}
