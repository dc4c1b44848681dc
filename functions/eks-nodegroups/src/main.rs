//! The eks-nodegroups Lambda: one tick per EventBridge Scheduler invocation; the response is the
//! tick's report.

use offpeak_eks_nodegroups::{FUNCTION, tick};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    offpeak_shared::lambda::serve(FUNCTION, |ctx, event, now| async move {
        let report = tick(&ctx, &event, now).await?;
        Ok(serde_json::to_value(report)?)
    })
    .await
}
