//! `pipedrive-channel-delete` Lambda: wires [`omnibridge::api::pipedrive_channel_delete`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::pipedrive_channel_delete::Endpoint>().await
}
