//! `yeahdesk-webhook` Lambda: wires [`omnibridge::api::yeahdesk_webhook`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::yeahdesk_webhook::Endpoint>().await
}
