//! `salesforce-events-router` Lambda: wires [`omnibridge::workers::salesforce_events::Router`] to its SQS queue.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_worker::<omnibridge::workers::salesforce_events::Router>().await
}
