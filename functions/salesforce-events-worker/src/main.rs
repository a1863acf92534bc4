//! `salesforce-events-worker` Lambda: wires [`omnibridge::services::salesforce_events`] to its SQS queue.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_worker::<omnibridge::workers::salesforce_events::Worker>().await
}
