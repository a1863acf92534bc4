//! `consent-update` Lambda: wires [`omnibridge::api::consent_update`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::consent_update::Endpoint>().await
}
