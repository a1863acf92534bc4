//! `webhook-register` Lambda: wires [`omnibridge::api::webhook_register`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::webhook_register::Endpoint>().await
}
