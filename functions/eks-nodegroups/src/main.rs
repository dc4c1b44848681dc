//! The eks-nodegroups Lambda: one tick per EventBridge Scheduler invocation; the response is the
//! tick's report (and one JSON log line), failures under stable error types.

use offpeak_eks_nodegroups::{FUNCTION, tick};
use offpeak_shared::lambda::{diagnostic, respond, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(FUNCTION, |ctx, event, now| async move {
        offpeak_shared::savings::emit(FUNCTION, &ctx.schedule, &event, now);
        let report = tick(&ctx, &event, now)
            .await
            .map_err(|e| diagnostic(e.kind(), &e))?;
        respond(&report)
    })
    .await
}
