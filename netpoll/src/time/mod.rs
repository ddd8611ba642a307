//! Time: sleeping, timeouts and intervals on the runtime's timers
//! (Go: package time's Sleep, After, Ticker; context.WithTimeout).
//!
//! Timers never fire early, and have a resolution of about a millisecond
//! (the poller's wait rounds its timeout up). A sleep registers its timer
//! on first poll, so creating and dropping one that never ran costs
//! nothing; a registered one costs a slot in the runtime's timer heap and
//! is removed when dropped.

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

mod interval;
mod sleep;

pub use interval::{interval, interval_at, Interval};
pub use sleep::{sleep, sleep_until, Sleep};

use std::fmt;
use std::future::{poll_fn, Future, IntoFuture};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

/// How far away the deadline of a duration too long for an `Instant` is
/// put: far past any program's run, well inside the range of every
/// platform's `Instant` and of the timer store (tokio: the private
/// `Instant::far_future`, the same 30 years; Go saturates `when` at
/// `maxWhen`).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `base + d`, or a deadline 30 years after `base` where the sum does not
/// fit in an `Instant` (`Duration::MAX`, a period chosen to mean "never").
///
/// Every deadline the time module computes from a duration goes through
/// here: an unchecked `+` panics on overflow, and falling back to `base`
/// (what `Interval` did) makes a deadline that is always due, so whoever
/// waits for it spins. A far deadline is simply a timer that never fires.
/// Only if `base` itself lies within 30 years of the end of the platform's
/// `Instant` range is `base` returned, and that moment never comes.
pub(crate) fn deadline_after(base: Instant, d: Duration) -> Instant {
    base.checked_add(d)
        .or_else(|| base.checked_add(FAR_FUTURE))
        .unwrap_or(base)
}

/// The error of [`timeout`]: the deadline passed first.
///
/// Converts into an `io::Error` of kind `TimedOut`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`; `Err(Elapsed)` if it did not
/// finish by then (the future is dropped).
///
/// Go: `context.WithTimeout` around an operation.
///
/// # Example
///
/// ```
/// use netpoll::time::{sleep, timeout};
/// use std::time::Duration;
///
/// let rt = netpoll::runtime::Runtime::new()?;
/// rt.block_on(async {
///     let slow = sleep(Duration::from_secs(60));
///     assert!(timeout(Duration::from_millis(10), slow).await.is_err());
///     assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    race(
        deadline_after(Instant::now(), duration),
        future.into_future(),
    )
    .await
}

/// Like [`timeout`], with an absolute deadline.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = netpoll::runtime::Runtime::new()?;
/// let at = Instant::now() + Duration::from_secs(1);
/// assert_eq!(rt.block_on(netpoll::time::timeout_at(at, async { 1 })), Ok(1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    race(deadline, future.into_future()).await
}

/// The future first (a ready future wins even past the deadline), then the
/// timer.
async fn race<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut timer = sleep_until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
