//! `custom-channel-message` Lambda: wires [`omnibridge::api::custom_channel_message`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::custom_channel_message::Endpoint>().await
}
