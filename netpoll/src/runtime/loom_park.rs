//! loom model of the idle handshake in `idle.rs`: work queued while a
//! worker is about to sleep (in the poller, or parked) is never lost.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release loom`.

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
