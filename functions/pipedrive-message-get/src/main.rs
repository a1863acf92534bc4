//! `pipedrive-message-get` Lambda: wires [`omnibridge::api::pipedrive_message_get`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::pipedrive_message_get::Endpoint>().await
}
