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
pub async fn once<S, F, Fut>(
    store: &S,
    key: &str,
    fingerprint: &str,
    lease: Duration,
    step: F,
) -> Result<String>
where
    S: IdempotencyStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let lease = crate::deadline::invocation_deadline()
        .map(|d| d.duration_since(std::time::SystemTime::now()).unwrap_or_default())
        .map_or(lease, |left| lease.min(left + LEASE_GRACE));
    match store.claim(key, fingerprint, lease).await? {
        Claim::Completed(outcome) => Ok(outcome),
        Claim::InProgress => Err(Error::Retryable {
            what: format!("another attempt holds {key}"),
            retry_after: Some(lease),
            source: None,
        }),
        Claim::Conflict => Err(Error::Conflict(format!("{key} was claimed for another request"))),
        Claim::Acquired => match step().await {
            Ok(outcome) => {
                // The step happened: failing now would have it run again.
                if let Err(e) = record_after_effect(|| store.complete(key, &outcome)).await {
                    tracing::error!(error = %e.chain(), key, "the step ran, but its outcome could not be recorded (its claim lapses with its lease)");
                }
                Ok(outcome)
            }
            Err(e) => {
                store.release(key).await?;
                Err(e)
            }
        },
    }
}

/// How many times a write that records an effect already had is tried.
const RECORD_TRIES: u32 = 4;

/// Runs `write`, which records an effect that already happened (a peer took
/// a message), trying a retryable failure again (50 ms, 200 ms, 800 ms
/// apart): the caller must not report such a failure as the effect's, or
/// the effect would be had again.
pub(crate) async fn record_after_effect<F, Fut>(write: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut wait = Duration::from_millis(50);
    let mut tries = 1;
    loop {
        match write().await {
            Err(e) if e.is_retryable() && tries < RECORD_TRIES => {
                tracing::warn!(error = %e.chain(), "recording what a peer took failed; trying again");
                tokio::time::sleep(wait).await;
                wait *= 4;
                tries += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn retryable() -> Error {
        Error::Retryable { what: "throttled".into(), retry_after: None, source: None }
    }

    #[tokio::test]
    async fn when_recording_an_effect_fails_for_a_while_should_try_again_until_it_is_recorded() {
        let tries = AtomicU32::new(0);
        let out = record_after_effect(|| async {
            if tries.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(retryable())
            } else {
                Ok(())
            }
        })
        .await;
        assert!(out.is_ok());
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn when_recording_an_effect_keeps_failing_should_give_up_after_four_tries_or_at_once_when_permanent(
    ) {
        let tries = AtomicU32::new(0);
        let out = record_after_effect(|| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(retryable())
        })
        .await;
        assert!(out.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), RECORD_TRIES);
        let tries = AtomicU32::new(0);
        let out = record_after_effect(|| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::NotFound("message".into()))
        })
        .await;
        assert!(out.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
