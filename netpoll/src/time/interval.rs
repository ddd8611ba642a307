//! `interval`: ticks at a fixed period (Go: time.Ticker).

use super::sleep::{sleep_until, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Ticks every `period`, the first tick at once. A period too long to add
/// to an `Instant` (`Duration::MAX`) ticks once and then waits 30 years.
///
/// Go: `time.NewTicker`; tokio: `tokio::time::interval`. Panics if
/// `period` is zero.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = netpoll::runtime::Runtime::new()?;
/// rt.block_on(async {
///     let start = Instant::now();
///     let mut ticks = netpoll::time::interval(Duration::from_millis(10));
///     for _ in 0..3 {
///         ticks.tick().await;
///     }
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// Go: none (a `time.Ticker` starts one period on); tokio:
/// `tokio::time::interval_at`. Panics if `period` is zero.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// let i = netpoll::time::interval_at(Instant::now(), Duration::from_secs(1));
/// assert_eq!(i.period(), Duration::from_secs(1));
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "netpoll::time::interval: period must be non-zero"
    );
    Interval {
        next: start,
        period,
        sleep: sleep_until(start),
    }
}

/// The stream of ticks of [`interval`].
///
/// Ticks missed while nobody awaited come at once, one per `tick` call,
/// until the schedule is caught up (tokio's `MissedTickBehavior::Burst`).
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns when it was scheduled.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.next;
        // Saturating far away, never at `tick` itself: a next tick that is
        // already due would tick again at once, forever.
        self.next = super::deadline_after(tick, self.period);
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Restarts the schedule: the next tick is one period from now (30
    /// years from now for a period too long to add).
    ///
    /// Go: `time.Ticker.Reset` with the same period; tokio:
    /// `Interval::reset`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut ticks = netpoll::time::interval(Duration::MAX);
    /// ticks.reset(); // the next tick 30 years away; no overflow
    /// ```
    pub fn reset(&mut self) {
        self.next = super::deadline_after(Instant::now(), self.period);
        self.sleep.reset(self.next);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
