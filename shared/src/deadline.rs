//! The time an invocation's work has: its deadline less a margin to
//! answer in, seen by every call it makes (a leaf module: anything may use
//! it, it uses nothing of the crate but errors).

use std::future::Future;

use crate::{Error, Result};

/// Time kept back from an HTTP invocation's deadline to answer in.
pub const HTTP_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);
/// Time kept back from a worker invocation's deadline to hand unfinished
/// messages back to the queue and report the batch.
pub const WORKER_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(2000);

tokio::task_local! {
    /// When the work of the invocation the current task serves must be
    /// done: its deadline less the margin kept to answer.
    static DEADLINE: std::time::SystemTime;
}

/// When the work of the invocation being served must be done, if any (its
/// deadline less the margin kept to answer): nothing it starts (such as a
/// claim) should outlive it.
pub fn invocation_deadline() -> Option<std::time::SystemTime> {
    DEADLINE.try_with(|d| *d).ok()
}

/// How long an outgoing call may take: `limit`, or less when the
/// invocation being served has less left (less `margin`, to answer in).
/// A call that would have no time at all is refused as retryable.
pub fn call_timeout(
    limit: std::time::Duration,
    margin: std::time::Duration,
) -> Result<std::time::Duration> {
    let Some(deadline) = invocation_deadline() else { return Ok(limit) };
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(margin);
    if left < std::time::Duration::from_millis(100) {
        return Err(Error::Retryable {
            what: "no time left in this invocation for another call".into(),
            retry_after: None,
            source: None,
        });
    }
    Ok(limit.min(left))
}

/// The end of an invocation's work: its deadline less a margin, as a
/// point in time for timers and as a wall-clock time for [`DEADLINE`].
pub(crate) struct WorkUntil {
    pub(crate) at: tokio::time::Instant,
    wall: std::time::SystemTime,
}

/// When the work of an invocation must be done: its deadline less `margin`
/// (`None` without a deadline, as in unit tests).
pub(crate) fn work_until(
    context: &lambda_runtime::Context,
    margin: std::time::Duration,
) -> Option<WorkUntil> {
    if context.deadline == 0 {
        return None;
    }
    let wall = context.deadline().checked_sub(margin).unwrap_or(std::time::UNIX_EPOCH);
    let left = wall.duration_since(std::time::SystemTime::now()).unwrap_or_default();
    Some(WorkUntil { at: tokio::time::Instant::now() + left, wall })
}

/// Runs `work` with `until` as the deadline its calls see (see
/// [`call_timeout`]): the work's own end, not the invocation's, so that a
/// peer call ends with time left to record its outcome before the work is
/// cut off (a message the peer took but not recorded as sent would be sent
/// again).
pub(crate) async fn within<T>(until: &WorkUntil, work: impl Future<Output = T>) -> T {
    DEADLINE.scope(until.wall, work).await
}
