//! `context-get` Lambda: wires [`omnibridge::api::context_get`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::context_get::Endpoint>().await
}
