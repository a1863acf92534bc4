//! The hello-world of `lambda_runtime`, as its README writes it: answers the
//! event it is given. `dev/bench` builds it with the functions' profile and
//! measures every function against it.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
