//! `salesforce-events` Lambda: wires [`omnibridge::api::salesforce_events`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::salesforce_events::Endpoint>().await
}
