//! `authenticate` Lambda: wires [`omnibridge::api::authenticate`] to API Gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), omnibridge::bootstrap::BoxError> {
    omnibridge::bootstrap::run_http::<omnibridge::api::authenticate::Endpoint>().await
}
