//! `pipedrive-conversations-list` Lambda: wires [`omnibridge::api::pipedrive_conversations_list`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::pipedrive_conversations_list::Endpoint>()
        .await
}
