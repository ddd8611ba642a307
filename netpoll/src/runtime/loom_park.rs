//! loom model of the idle handshake in `idle.rs`: work queued while a
//! worker is about to sleep (in the poller, or parked) is never lost.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release
//! --target-dir target/loom loom`. The last model adds the Selector (its
//! wake and blocking wait, over the model backend) to the poller half.

use super::idle::{Idle, Wake};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// Runs a notifier (queue one item, then notify) against this thread,
/// which announces itself with `announce` and then looks at the queue.
/// Returns what the notifier decided and whether this thread saw the work.
fn race(idle: &Arc<Idle>, announce: impl FnOnce(&Idle)) -> (Wake, bool) {
    let queue = Arc::new(AtomicUsize::new(0));
    let (i2, q2) = (idle.clone(), queue.clone());
    let notifier = thread::spawn(move || {
        q2.fetch_add(1, SeqCst);
        i2.notify()
    });
    announce(idle);
    let saw_work = queue.load(SeqCst) != 0;
    (notifier.join().unwrap(), saw_work)
}

/// One worker goes to sleep in the poller while another thread queues
/// work and notifies: either the worker sees the work, or the notifier
/// wakes the poller.
#[test]
fn loom_work_racing_a_poller_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let idle = Arc::new(Idle::default());
        let (wake, saw_work) = race(&idle, Idle::poller_enter);
        if !saw_work {
            assert_eq!(wake, Wake::Poller, "lost wakeup: nobody woke the poller");
        }
        idle.poller_leave();
    });
}

/// The same race with a worker parking on its thread: the notifier picks
/// it (and only it) or it sees the work; it is never both left parked and
/// blind to the work, and the counts come back to zero.
#[test]
fn loom_work_racing_a_worker_going_to_park_is_never_lost() {
    loom::model(|| {
        let idle = Arc::new(Idle::default());
        let (wake, saw_work) = race(&idle, |i| i.park_enter(7));
        let picked = idle.park_leave(7);
        assert_eq!(picked, wake == Wake::Worker(7));
        if !saw_work {
            assert!(picked, "lost wakeup: parked, no work seen, not picked");
        }
        assert_eq!(idle.parked(), 0);
        if picked {
            idle.stop_searching();
        }
    });
}

/// Two notifiers and one parking worker: one notification picks the
/// worker, the other finds it searching and wakes nobody else.
#[test]
fn loom_a_burst_of_notifications_wakes_one_worker() {
    loom::model(|| {
        let idle = Arc::new(Idle::default());
        let woken = Arc::new(AtomicBool::new(false));
        idle.park_enter(1);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (idle, woken) = (idle.clone(), woken.clone());
                thread::spawn(move || {
                    if let Wake::Worker(1) = idle.notify() {
                        assert!(!woken.swap(true, SeqCst), "woken twice");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(woken.load(SeqCst));
        assert!(idle.park_leave(1));
    });
}

/// The whole poller-wake handshake, on the real `Idle` and the real
/// Selector (over the model backend, `sys/model.rs`): a worker that
/// announces it will sleep in the poller, looks for work and then blocks,
/// round after round, against two threads that each queue work and
/// notify (`Shared::notify_one`: `Idle::notify`, then the Selector's
/// wake). The worker must see both pieces of work: a wake lost anywhere
/// (a notifier that missed the announcement, a wake swallowed by the
/// coalescing flag) leaves it blocked for ever, which loom reports.
#[test]
fn loom_work_racing_the_poller_reaches_it_through_the_selector() {
    // 5 preemptions take some 10 s in release.
    let mut model = loom::model::Builder::new();
    model.preemption_bound.get_or_insert(5);
    model.check(|| {
        let idle = Arc::new(Idle::default());
        let poller = crate::poll::Netpoller::new(crate::Poller::Auto).unwrap();
        let queue = Arc::new(AtomicUsize::new(0));
        let notifiers: Vec<_> = (0..2)
            .map(|_| {
                let (idle, queue, poller) = (idle.clone(), queue.clone(), poller.clone());
                thread::spawn(move || {
                    queue.fetch_add(1, SeqCst);
                    if idle.notify() == Wake::Poller {
                        poller.shared.selector.wake().unwrap();
                    }
                })
            })
            .collect();
        let mut events = crate::sys::Events::new();
        loop {
            idle.poller_enter();
            if queue.load(SeqCst) == 2 {
                idle.poller_leave();
                break;
            }
            poller.shared.selector.wait(&mut events, None).unwrap();
            idle.poller_leave();
        }
        for n in notifiers {
            n.join().unwrap();
        }
    });
}
