//! The `timers` suite: the timer store. Most timers in a server are
//! timeouts that never fire, so registering and cancelling one is what
//! matters most; firing is measured too.

use crate::rt::Rt;
use crate::{Bench, Workload};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    b.case("timers", &CancelEach);
    b.case("timers", &CancelAllLive);
    b.case("timers", &Complete);
}

/// Sleeps created by the cancel cases.
const CANCELLED: u32 = 1_000_000;

/// A deadline between 1 s and 10 s, scattered so that neither a heap nor a
/// wheel gets them in a friendly order; none fires during the case.
fn far(i: u32) -> Duration {
    Duration::from_millis(1_000 + u64::from(i.wrapping_mul(7_919) % 9_000))
}

/// 1 000 000 sleeps, each polled once (which registers its timer) and
/// dropped at once (which cancels it): a timeout around an operation that
/// finishes in time, with few timers alive at any moment.
struct CancelEach;

impl Workload for CancelEach {
    const NAME: &'static str = "cancel_each";

    async fn run<R: Rt>(&self) {
        let register_and_drop = poll_fn(|cx| {
            for i in 0..CANCELLED {
                let sleep = pin!(R::sleep(far(i)));
                assert!(sleep.poll(cx).is_pending());
            }
            Poll::Ready(())
        });
        R::unbudgeted(register_and_drop).await;
    }
}

/// 1 000 000 sleeps, all registered first, then all dropped: the same
/// operations with a million timers alive, where a heap's O(log n) shows.
struct CancelAllLive;

impl Workload for CancelAllLive {
    const NAME: &'static str = "cancel_all_live";

    async fn run<R: Rt>(&self) {
        let register_all_then_drop = poll_fn(|cx| {
            // Boxed so each stays pinned in place inside the vector.
            let mut sleeps: Vec<Pin<Box<_>>> =
                (0..CANCELLED).map(|i| Box::pin(R::sleep(far(i)))).collect();
            for sleep in &mut sleeps {
                assert!(sleep.as_mut().poll(cx).is_pending());
            }
            drop(sleeps);
            Poll::Ready(())
        });
        R::unbudgeted(register_all_then_drop).await;
    }
}

/// 100 000 tasks, each sleeping 1 ms to 10 ms, all joined: firing and the
/// wakes it causes. At least 10 ms of it is the sleeping itself.
struct Complete;

impl Workload for Complete {
    const NAME: &'static str = "complete_100k";

    async fn run<R: Rt>(&self) {
        let handles: Vec<_> = (0..100_000u64)
            .map(|i| R::spawn(R::sleep(Duration::from_millis(1 + i % 10))))
            .collect();
        for h in handles {
            h.await;
        }
    }
}
