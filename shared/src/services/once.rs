//! Side effects that must happen once: claim an idempotency key with one
//! conditional write, run the step, and remember its outcome (or give the
//! key up when the step failed, so a retry may run it).

use std::future::Future;
use std::time::Duration;

use crate::ports::{Claim, IdempotencyStore};
use crate::{Error, Result};

/// A claim's lease beyond its invocation's deadline (clocks differ a little).
const LEASE_GRACE: Duration = Duration::from_secs(1);

/// Runs `step` once per `key`; a completed step returns its recorded outcome.
/// Another attempt holding the key is a retryable error. The claim's lease is
/// `lease`, or less: no longer than the invocation that holds it can run.
pub async fn once<S, F, Fut>(store: &S, key: &str, fingerprint: &str, lease: Duration, step: F) -> Result<String>
where
    S: IdempotencyStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let lease = crate::bootstrap::invocation_deadline()
        .map(|d| d.duration_since(std::time::SystemTime::now()).unwrap_or_default())
        .map_or(lease, |left| lease.min(left + LEASE_GRACE));
    match store.claim(key, fingerprint, lease).await? {
        Claim::Completed(outcome) => Ok(outcome),
        Claim::InProgress => {
            Err(Error::Retryable { what: format!("another attempt holds {key}"), retry_after: Some(lease), source: None })
        }
        Claim::Conflict => Err(Error::Conflict(format!("{key} was claimed for another request"))),
        Claim::Acquired => match step().await {
            Ok(outcome) => {
                store.complete(key, &outcome).await?;
                Ok(outcome)
            }
            Err(e) => {
                store.release(key).await?;
                Err(e)
            }
        },
    }
}
