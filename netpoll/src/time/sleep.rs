//! `sleep`: a future that completes at a deadline (Go: time.Sleep).

use crate::poll::timer::TimerKey;
use crate::runtime::Handle;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Waits until `duration` has passed.
///
/// Go: `time.Sleep`.
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
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => Sleep::never(),
    }
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
        deadline: Some(deadline),
        timer: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// It registers with the current runtime's timers when first polled
/// (panicking if there is no runtime), and unregisters when dropped.
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    /// `None`: so far away it never comes.
    deadline: Option<Instant>,
    timer: Option<(Handle, TimerKey)>,
}

impl Sleep {
    fn never() -> Sleep {
        Sleep {
            deadline: None,
            timer: None,
        }
    }

    /// When the sleep ends (`None`: never, the duration overflowed).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.deadline.is_some_and(|d| d <= Instant::now())
    }

    /// Moves the deadline, whether or not the sleep already ended.
    pub fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.deadline = Some(deadline);
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
        if let Some((handle, key)) = &this.timer {
            return handle.shared.timers().poll(*key, cx.waker());
        }
        let Some(deadline) = this.deadline else {
            return Poll::Pending;
        };
        if deadline <= Instant::now() {
            return Poll::Ready(());
        }
        let handle = Handle::current();
        let key = handle.shared.timers().insert(deadline, cx.waker());
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
