//! `sleep`: a future that completes at a deadline (Go: time.Sleep).

use crate::poll::timer::TimerKey;
use crate::runtime::Handle;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Waits until `duration` has passed. A duration past what an `Instant`
/// can hold (`Duration::MAX`) waits for a deadline 30 years away: pending
/// for good, and still cancellable like any sleep.
///
/// Go: `time.Sleep`; tokio: `tokio::time::sleep`.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = netpoll::runtime::Runtime::new()?;
/// let start = Instant::now();
/// rt.block_on(netpoll::time::sleep(Duration::from_millis(20)));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(super::deadline_after(Instant::now(), duration))
}

/// Waits until `deadline`.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = netpoll::runtime::Runtime::new()?;
/// let at = Instant::now() + Duration::from_millis(5);
/// rt.block_on(netpoll::time::sleep_until(at));
/// assert!(Instant::now() >= at);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// It registers with the current runtime's timers when first polled
/// (panicking if there is no runtime), and unregisters when dropped.
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    timer: Option<(Handle, TimerKey)>,
}

impl Sleep {
    /// When the sleep ends: 30 years on for a duration too long to add to
    /// now.
    ///
    /// Go: the `time.Timer`'s `when` (not exported); tokio:
    /// `Sleep::deadline`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let s = netpoll::time::sleep(Duration::MAX);
    /// assert!(s.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.deadline <= Instant::now()
    }

    /// Moves the deadline, whether or not the sleep already ended.
    pub fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.deadline = deadline;
    }

    fn unregister(&mut self) {
        if let Some((handle, key)) = self.timer.take() {
            handle.shared.timers().cancel(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        let this = &mut *self;
        // For the task dump, should this poll wait.
        crate::waits::note_timer(this.deadline);
        if let Some((handle, key)) = &this.timer {
            return handle.shared.timers().poll(*key, cx.waker());
        }
        if this.deadline <= Instant::now() {
            return Poll::Ready(());
        }
        let handle = Handle::current();
        let key = handle.shared.timers().insert(this.deadline, cx.waker());
        this.timer = Some((handle, key));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.timer.is_some())
            .finish()
    }
}
