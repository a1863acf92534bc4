//! `pipedrive-conversation-get` Lambda: wires [`omnibridge::api::pipedrive_conversation_get`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::pipedrive_conversation_get::Endpoint>().await
}
