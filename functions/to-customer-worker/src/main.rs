//! `to-customer-worker` Lambda: wires [`omnibridge::services::to_customer`] to its SQS queue.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_worker::<omnibridge::workers::to_customer::Worker>().await
}
