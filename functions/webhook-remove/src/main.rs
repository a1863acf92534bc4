//! `webhook-remove` Lambda: wires [`omnibridge::api::webhook_remove`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::webhook_remove::Endpoint>().await
}
