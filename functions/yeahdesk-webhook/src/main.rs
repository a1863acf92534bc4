//! `yeahdesk-webhook` Lambda: wires [`omnibridge::api::yeahdesk_webhook`] to API Gateway.
#[tokio::main]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::yeahdesk_webhook::Endpoint>().await
}
