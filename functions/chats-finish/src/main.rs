//! `chats-finish` Lambda: wires [`omnibridge::api::chats_finish`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::chats_finish::Endpoint>().await
}
