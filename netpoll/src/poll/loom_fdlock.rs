//! loom models of the fd lock: an unlock racing a lock attempt loses no
//! wakeup, close wakes parked attempts, and exactly one party closes the fd.

use super::fdlock::{Closed, FdLock, Release, Side, Ticket};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::task::{Context, Poll, Wake, Waker};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn waker() -> (std::sync::Arc<Count>, Waker) {
    let c = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// A lock whose read side is held by this thread.
fn read_locked() -> Arc<FdLock> {
    let l = Arc::new(FdLock::new());
    let (_, w) = waker();
    let mut t = Ticket::default();
    let got = l.poll_lock(Side::Read, &mut t, &mut Context::from_waker(&w));
    assert_eq!(got, Poll::Ready(Ok(())));
    l
}

#[test]
fn loom_fdlock_unlock_racing_a_lock_attempt_loses_no_wakeup() {
    loom::model(|| {
        let l = read_locked();
        let l2 = l.clone();
        let unlocker = thread::spawn(move || l2.unlock(Side::Read));
        let (woken, w1) = waker();
        let mut t1 = Ticket::default();
        let first = l.poll_lock(Side::Read, &mut t1, &mut Context::from_waker(&w1));
        assert_eq!(unlocker.join().unwrap(), Release::Keep);
        if first.is_pending() {
            assert_eq!(woken.0.load(SeqCst), 1, "lost wakeup");
            let again = l.poll_lock(Side::Read, &mut t1, &mut Context::from_waker(&w1));
            assert_eq!(again, Poll::Ready(Ok(())));
        }
        assert_eq!(l.unlock(Side::Read), Release::Keep);
    });
}

#[test]
fn loom_fdlock_close_racing_operations_destroys_exactly_once() {
    loom::model(|| {
        let l = Arc::new(FdLock::new());
        let destroyed = Arc::new(AtomicUsize::new(0));
        let (l2, d2) = (l.clone(), destroyed.clone());
        let op = thread::spawn(move || {
            let (_, w) = waker();
            let mut t = Ticket::default();
            match l2.poll_lock(Side::Write, &mut t, &mut Context::from_waker(&w)) {
                Poll::Ready(Ok(())) => {
                    if l2.unlock(Side::Write) == Release::Destroy {
                        d2.fetch_add(1, SeqCst);
                    }
                }
                Poll::Ready(Err(Closed)) => {}
                Poll::Pending => unreachable!("nobody else holds the write lock"),
            }
        });
        if l.close().is_ok() && l.decref() == Release::Destroy {
            destroyed.fetch_add(1, SeqCst);
        }
        op.join().unwrap();
        assert_eq!(destroyed.load(SeqCst), 1, "the fd is closed exactly once");
    });
}

#[test]
fn loom_fdlock_close_wakes_a_parked_attempt() {
    loom::model(|| {
        let l = read_locked();
        let l2 = l.clone();
        let closer = thread::spawn(move || l2.close());
        let (woken, w1) = waker();
        let mut t1 = Ticket::default();
        let first = l.poll_lock(Side::Read, &mut t1, &mut Context::from_waker(&w1));
        closer.join().unwrap().unwrap();
        if first.is_pending() {
            assert_eq!(
                woken.0.load(SeqCst),
                1,
                "close did not wake the parked attempt"
            );
        }
        let again = l.poll_lock(Side::Read, &mut t1, &mut Context::from_waker(&w1));
        assert_eq!(again, Poll::Ready(Err(Closed)));
        assert_eq!(l.unlock(Side::Read), Release::Keep);
        assert_eq!(l.decref(), Release::Destroy);
    });
}

#[test]
fn loom_fdlock_unlock_racing_an_anonymous_attempt_loses_no_wakeup() {
    loom::model(|| {
        let l = read_locked();
        let l2 = l.clone();
        let unlocker = thread::spawn(move || l2.unlock(Side::Read));
        let (woken, w1) = waker();
        let first = l.poll_lock_anonymous(Side::Read, &mut Context::from_waker(&w1));
        assert_eq!(unlocker.join().unwrap(), Release::Keep);
        if first.is_pending() {
            assert_eq!(woken.0.load(SeqCst), 1, "lost wakeup");
            let again = l.poll_lock_anonymous(Side::Read, &mut Context::from_waker(&w1));
            assert_eq!(again, Poll::Ready(Ok(())));
        }
        assert_eq!(l.unlock(Side::Read), Release::Keep);
        // The waiting bit was cleared with the queue: a later lock takes
        // the fast path and nothing is left to wake.
        let (_, w2) = waker();
        let mut t = Ticket::default();
        let next = l.poll_lock(Side::Read, &mut t, &mut Context::from_waker(&w2));
        assert_eq!(next, Poll::Ready(Ok(())));
        assert_eq!(l.unlock(Side::Read), Release::Keep);
    });
}

/// A `try_*` operation's lock attempt racing close: it either gets the
/// closed error or the lock, and then its unlock or close's decref (never
/// both, never neither) is the last one out and closes the fd.
#[test]
fn loom_fdlock_try_lock_racing_close_destroys_exactly_once() {
    loom::model(|| {
        let l = Arc::new(FdLock::new());
        let l2 = l.clone();
        let closer = thread::spawn(move || l2.close().map(|_| l2.decref()));
        let mine = match l.try_lock(Side::Read) {
            Ok(true) => {
                // Held: a second try fails without queueing (or with
                // the closed error, if close came in between).
                let again = l.try_lock(Side::Read);
                assert!(matches!(again, Ok(false) | Err(Closed)), "{again:?}");
                Some(l.unlock(Side::Read))
            }
            Ok(false) => panic!("nothing else holds the read lock"),
            Err(Closed) => None,
        };
        let theirs = closer.join().unwrap().unwrap();
        let destroys = [mine, Some(theirs)]
            .into_iter()
            .filter(|r| *r == Some(Release::Destroy))
            .count();
        assert_eq!(destroys, 1, "the fd must be closed exactly once");
    });
}
