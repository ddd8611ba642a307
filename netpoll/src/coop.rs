//! The cooperative budget: how a task whose I/O never waits still lets
//! its worker go (tokio: `runtime::coop`; Go needs none, it preempts).
//!
//! A task that reads, writes, accepts or sleeps in a loop where every
//! operation is already ready never returns `Pending`, so without help it
//! would keep its worker for ever: timers, other sockets and every task
//! queued behind it would stop. Each task poll therefore starts with
//! [`BUDGET`] units. Every netpoll operation that could complete without
//! waiting spends one before it starts ([`poll_proceed`]); once the
//! budget is spent, the operation wakes its task and returns `Pending`,
//! and the task goes behind everything else that is ready (its worker
//! treats the wake as a yield).
//!
//! The budget lives in a thread-local: one decrement per operation, no
//! atomics. A thread that is not polling a task (outside any runtime, a
//! blocking-pool thread, inside [`unconstrained`](crate::task::unconstrained))
//! has no budget, and nothing is counted there.
//!
//! This module sits at the bottom of the crate, beside `metrics`, so the
//! fd layer and the timers can spend units without knowing the scheduler,
//! which is what resets the budget ([`with_budget`]).

use std::cell::Cell;
use std::task::{Context, Poll};

/// Units a task poll starts with (tokio's number: enough to amortise a
/// trip through the run queue, small enough that a ready loop gives its
/// worker up within a few hundred microseconds).
pub(crate) const BUDGET: u8 = 128;

thread_local! {
    /// What is left of the current task poll's budget; `None`: unlimited.
    static LEFT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `poll` (one poll of a task) with a fresh budget, and puts the
/// previous one back afterwards, even if `poll` panics.
pub(crate) fn with_budget<R>(poll: impl FnOnce() -> R) -> R {
    with(Some(BUDGET), poll)
}

/// Runs `f` with `budget` in force, restoring the one before after.
pub(crate) fn with<R>(budget: Option<u8>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LEFT.with(|l| l.replace(budget)));
    f()
}

/// Spends one unit for an operation about to start. `Pending` (with the
/// task woken, so it runs again after the others) when the budget is
/// spent; always `Ready` where there is no budget.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    LEFT.with(|l| match l.get() {
        None => Poll::Ready(()),
        Some(0) => {
            crate::metrics::add(&crate::metrics::BUDGET_YIELDS, 1);
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            l.set(Some(n - 1));
            Poll::Ready(())
        }
    })
}

/// The units left in this task poll (`None`: unlimited), for tests.
#[cfg(test)]
pub(crate) fn left() -> Option<u8> {
    LEFT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_spent_budget_wakes_and_defers_until_the_next_poll() {
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert_eq!(left(), None);
        assert!(poll_proceed(&mut cx).is_ready(), "no budget: unlimited");
        with_budget(|| {
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
            with(None, || assert!(poll_proceed(&mut cx).is_ready()));
            assert_eq!(left(), Some(0), "restored after an unconstrained part");
        });
        assert_eq!(left(), None, "restored after the task poll");
    }
}
