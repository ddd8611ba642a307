//! loom models of the poll descriptor: every interleaving of ready, wait,
//! close and reuse. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release loom`.

use super::desc::{Dir, PollDesc};
use super::error::WaitError;
use crate::sys::Readiness;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Counts its wakes.
struct Flag(AtomicUsize);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag(AtomicUsize::new(0)));
    (f.clone(), Waker::from(f))
}

const READ: Readiness = Readiness {
    read: true,
    write: false,
    error: false,
    hangup: false,
    urgent: false,
};

const WRITE: Readiness = Readiness {
    read: false,
    write: true,
    error: false,
    hangup: false,
    urgent: false,
};

/// An event racing a wait: the wait either sees the readiness or is woken.
#[test]
fn loom_ready_races_wait_without_lost_wakeup() {
    loom::model(|| {
        let d = Arc::new(PollDesc::new());
        let seq = d.open(3);
        let d2 = d.clone();
        let notifier = thread::spawn(move || {
            d2.notify(seq, READ);
        });
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let first = d.poll_wait(seq, Dir::Read, &mut cx, 1);
        notifier.join().unwrap();
        if first.is_pending() {
            assert_eq!(woken.0.load(SeqCst), 1, "lost wakeup");
            assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 1), Poll::Ready(Ok(())));
        }
    });
}

/// A short read's drained hint racing the event for data that came after
/// it: whatever the order, the next read must not take the hint and wait
/// for an edge that already came; and if it waits anyway (the hint was
/// set first, the event not yet delivered), the event wakes it.
#[test]
fn loom_drained_hint_races_an_event() {
    loom::model(|| {
        let d = Arc::new(PollDesc::new());
        let seq = d.open(3);
        let d2 = d.clone();
        let notifier = thread::spawn(move || {
            d2.notify(seq, READ);
        });
        d.set_drained(seq, true);
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let waited = d.is_drained(seq) && d.poll_wait(seq, Dir::Read, &mut cx, 1).is_pending();
        notifier.join().unwrap();
        assert!(!d.is_drained(seq), "the hint outlived the event");
        if waited {
            assert_eq!(woken.0.load(SeqCst), 1, "lost wakeup");
        }
    });
}

/// Events in both directions racing waiters in both directions.
#[test]
fn loom_both_directions_race_independently() {
    loom::model(|| {
        let d = Arc::new(PollDesc::new());
        let seq = d.open(3);
        let d2 = d.clone();
        let writer = thread::spawn(move || {
            let (woken, waker) = flag();
            let mut cx = Context::from_waker(&waker);
            let first = d2.poll_wait(seq, Dir::Write, &mut cx, 2);
            (first.is_pending(), woken)
        });
        let d3 = d.clone();
        let notifier = thread::spawn(move || {
            d3.notify(seq, READ);
            d3.notify(seq, WRITE);
        });
        let (rwoken, rwaker) = flag();
        let mut cx = Context::from_waker(&rwaker);
        let rfirst = d.poll_wait(seq, Dir::Read, &mut cx, 1);
        notifier.join().unwrap();
        let (wpending, wwoken) = writer.join().unwrap();
        if rfirst.is_pending() {
            assert_eq!(rwoken.0.load(SeqCst), 1, "read wakeup lost");
        }
        if wpending {
            assert_eq!(wwoken.0.load(SeqCst), 1, "write wakeup lost");
        }
    });
}

/// Close (evict) racing a wait: the waiter is woken or sees the close, and
/// in the end every wait fails with Closed.
#[test]
fn loom_evict_races_wait() {
    loom::model(|| {
        let d = Arc::new(PollDesc::new());
        let seq = d.open(3);
        let d2 = d.clone();
        let closer = thread::spawn(move || d2.evict(seq));
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let first = d.poll_wait(seq, Dir::Read, &mut cx, 1);
        assert!(closer.join().unwrap().is_some());
        match first {
            Poll::Pending => assert_eq!(woken.0.load(SeqCst), 1, "close did not wake"),
            Poll::Ready(r) => assert_eq!(r, Err(WaitError::Closed)),
        }
        assert_eq!(
            d.poll_wait(seq, Dir::Read, &mut cx, 1),
            Poll::Ready(Err(WaitError::Closed))
        );
    });
}

/// An event of an old life racing the descriptor's reuse: the waiter of the
/// new life is never woken by it and never sees its readiness.
#[test]
fn loom_stale_event_never_touches_the_next_life() {
    loom::model(|| {
        let d = Arc::new(PollDesc::new());
        let old = d.open(3);
        let d2 = d.clone();
        let stale = thread::spawn(move || {
            d2.notify(
                old,
                Readiness {
                    read: true,
                    write: true,
                    error: true,
                    hangup: false,
                    urgent: false,
                },
            );
        });
        d.retire(old);
        let new = d.open(4);
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let first = d.poll_wait(new, Dir::Read, &mut cx, 1);
        stale.join().unwrap();
        if first != Poll::Pending {
            eprintln!("old={old} new={new} word={:#x}", d.word());
        }
        assert_eq!(first, Poll::Pending, "old life's readiness leaked");
        assert_eq!(woken.0.load(SeqCst), 0, "woken by an old life's event");
        assert_eq!(d.poll_wait(new, Dir::Read, &mut cx, 1), Poll::Pending);
    });
}

/// A waiter of a life that ends while it waits (retire racing the wait) is
/// woken and finds its descriptor closed.
#[test]
fn loom_retire_races_wait() {
    loom::model(|| {
        let d = Arc::new(PollDesc::new());
        let seq = d.open(3);
        let d2 = d.clone();
        let retirer = thread::spawn(move || d2.retire(seq));
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let first = d.poll_wait(seq, Dir::Write, &mut cx, 1);
        retirer.join().unwrap();
        if first.is_pending() {
            assert_eq!(woken.0.load(SeqCst), 1, "retire did not wake");
        }
        assert_eq!(
            d.poll_wait(seq, Dir::Write, &mut cx, 1),
            Poll::Ready(Err(WaitError::Closed))
        );
    });
}
