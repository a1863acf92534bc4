//! `whatsapp-webhook` Lambda: wires [`omnibridge::api::whatsapp_webhook`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::whatsapp_webhook::Endpoint>().await
}
