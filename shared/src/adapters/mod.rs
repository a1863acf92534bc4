//! Adapters: the AWS services and, one module each, the peers; in memory
//! for tests (the `memory` feature).

pub mod custom_channel;
pub mod dynamodb;
pub mod fetch;
pub mod http_client;
#[cfg(feature = "memory")]
pub mod memory;
pub mod pipedrive;
pub mod s3;
pub mod salesforce;
pub mod sqs;
pub mod yalo;
pub mod yeahdesk;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::Error;

/// Error codes AWS services use for throttling and transient trouble.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "SlowDown",
    "TransactionConflictException",
    "RequestThrottled",
];

/// Turns an AWS SDK error into ours, keeping the cause and classifying it.
pub(crate) fn aws_error<E>(
    op: &'static str,
    err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        // A 5xx may pass, whatever its body says (or fails to say).
        SdkError::ServiceError(e) => {
            e.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || e.raw().status().is_server_error()
        }
        _ => false,
    };
    let what = match err.code() {
        Some(code) => format!("{op} failed ({code})"),
        None => format!("{op} failed"),
    };
    if retryable {
        Error::Retryable { what, retry_after: None, source: Some(Box::new(err)) }
    } else {
        Error::Permanent { what, source: Some(Box::new(err)) }
    }
}
