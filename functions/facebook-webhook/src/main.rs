//! `facebook-webhook` Lambda: wires [`omnibridge::api::facebook_webhook`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::facebook_webhook::Endpoint>().await
}
