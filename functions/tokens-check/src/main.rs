//! `tokens-check` Lambda: wires [`omnibridge::api::tokens_check`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::tokens_check::Endpoint>().await
}
