//! `to-desk-worker` Lambda: wires [`omnibridge::services::to_desk`] to its SQS queue.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_worker::<omnibridge::workers::to_desk::Worker>().await
}
