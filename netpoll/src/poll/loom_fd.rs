//! loom models of the fd layer end to end: real [`Fd`]s on a real
//! [`Netpoller`], whose backend under loom is the model in `sys/model.rs`
//! (no kernel: it records registrations, and a wait sleeps until a wake).
//! The fd itself is a real one (`/dev/null`), which the backend never
//! reads; the poll descriptors come from the cache's loom variant (fresh
//! per allocation, see `cache.rs`).
//!
//! - a deadline firing races a concurrent `set` of the same deadline:
//!   they apply in one order, an expiry wakes the parked operation, and a
//!   deadline cleared or moved away leaves no expiry behind;
//! - the same firing races a close, with a waiter whose wake re-enters the
//!   deadline (a task dropped in the wake closes its stream, which cancels
//!   the deadline: `Runtime::drop` deadlocked on exactly that while the
//!   wake ran under the deadline's lock);
//! - close → evict → the last reference destroys: an operation in flight
//!   keeps the fd registered (and open) until it leaves, a parked waiter
//!   is woken to fail, and the fd is deregistered exactly once, by
//!   whichever thread drops the last reference.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release
//! --target-dir target/loom loom_fd`.

use super::{Fd, Side};
use crate::loom_shim::LockExt;
use crate::poll::token;
use crate::poll::Netpoller;
use crate::Poller;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::io;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// A model checker bounded to `n` preemptions (unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise).
fn bounded(n: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound.get_or_insert(n);
    b
}

/// A registered fd (a real one, which the model backend never reads).
fn open_fd(poller: &Netpoller) -> Arc<Fd> {
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    Arc::new(Fd::new(poller.register(file.into()).expect("register")))
}

/// The kernel token `fd` was registered under.
fn token_of(fd: &Fd) -> u64 {
    let w = fd.watch.as_ref().expect("registered");
    token::pack(w.slot.index, w.seq)
}

/// A read whose syscall always says EAGAIN: it parks on the descriptor.
fn poll_read(fd: &Fd, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    fd.poll_io(Side::Read, cx, |_| {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    })
}

/// Counts its wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// Leaves the read deadline armed and due, deterministically: sets it an
/// hour away (arming its timer), then moves the deadline and its timer an
/// instant into the past, as if the clock had jumped. (loom has no clock,
/// and a model must take the same path in every execution: waiting for a
/// deadline a moment away could find it passed before `set` compared it
/// with the time, on a loaded machine, and take the expire-at-once path.)
fn arm_and_let_pass(fd: &Fd) {
    fd.set_read_deadline(Some(Instant::now() + Duration::from_secs(3600)))
        .unwrap();
    let deadline = fd.deadlines[Side::Read as usize].get().expect("set above");
    let past = Instant::now() - Duration::from_millis(1);
    let mut armed = deadline.armed.locked();
    armed.at = Some(past);
    let key = armed.key.expect("an armed timer");
    deadline
        .watch
        .timers()
        .reset(key, past, &Waker::from(deadline.clone()));
}

/// What the concurrent `set` does to the deadline.
#[derive(Clone, Copy, Debug)]
enum Set {
    Clear,
    MoveAway,
    Past,
}

/// The timer of a due read deadline fires while another thread clears
/// it, moves it away or moves it into the past, and a read is parked.
/// Whatever the order: a deadline cleared or moved away leaves no expiry
/// (a read after both is pending, not timed out); one in the past leaves
/// the expiry; and a read that the expiry hit was woken, exactly once.
#[test]
fn loom_fd_deadline_firing_races_a_set() {
    // Unbounded: every interleaving (under a second for the three).
    for set in [Set::Clear, Set::MoveAway, Set::Past] {
        loom::model(move || {
            let poller = Netpoller::new(Poller::Auto).unwrap();
            let fd = open_fd(&poller);
            arm_and_let_pass(&fd);
            let (woken, waker) = counter();
            let mut cx = Context::from_waker(&waker);
            assert!(poll_read(&fd, &mut cx).is_pending());

            let p2 = poller.clone();
            let firing = thread::spawn(move || {
                p2.timers().fire(Instant::now());
            });
            let fd2 = fd.clone();
            let setter = thread::spawn(move || {
                let at = match set {
                    Set::Clear => None,
                    Set::MoveAway => Some(Instant::now() + Duration::from_secs(3600)),
                    Set::Past => Some(Instant::now() - Duration::from_millis(1)),
                };
                fd2.set_read_deadline(at).unwrap();
            });
            firing.join().unwrap();
            setter.join().unwrap();

            let after = poll_read(&fd, &mut cx);
            match set {
                Set::Clear | Set::MoveAway => {
                    assert!(
                        after.is_pending(),
                        "{set:?}: an expiry outlived it: {after:?}"
                    );
                }
                Set::Past => match after {
                    Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
                    other => panic!("{set:?}: the past deadline did not expire: {other:?}"),
                },
            }
            let wakes = woken.0.load(SeqCst);
            assert!(wakes <= 1, "{set:?}: the read was woken {wakes} times");
            if let Set::Past = set {
                assert_eq!(wakes, 1, "{set:?}: the expiry did not wake the read");
            }
            drop(fd);
        });
    }
}

/// Wakes by closing the fd again and clearing its deadline, as a task
/// dropped inside its wake would (its stream's close cancels the
/// deadline, which takes the deadline's lock).
struct Reenter {
    fd: Weak<Fd>,
    woken: AtomicUsize,
}

impl Wake for Reenter {
    fn wake(self: Arc<Self>) {
        self.woken.fetch_add(1, SeqCst);
        if let Some(fd) = self.fd.upgrade() {
            let _ = fd.set_read_deadline(None);
            let _ = fd.close();
        }
    }
}

/// A due deadline fires while the fd is closed on another thread, and the
/// parked read's waker re-enters the deadline. No wake runs under the
/// deadline's lock (loom reports the re-entry as a deadlock if one does),
/// the read is woken exactly once (by the expiry or by the close), and
/// the fd is deregistered exactly once.
#[test]
fn loom_fd_deadline_firing_races_close_and_a_reentrant_wake() {
    // Unbounded: every interleaving (some 5 s in release).
    loom::model(|| {
        let poller = Netpoller::new(Poller::Auto).unwrap();
        let fd = open_fd(&poller);
        let token = token_of(&fd);
        arm_and_let_pass(&fd);
        let reenter = Arc::new(Reenter {
            fd: Arc::downgrade(&fd),
            woken: AtomicUsize::new(0),
        });
        let waker = Waker::from(reenter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(poll_read(&fd, &mut cx).is_pending());

        let p2 = poller.clone();
        let firing = thread::spawn(move || {
            p2.timers().fire(Instant::now());
        });
        let fd2 = fd.clone();
        let closer = thread::spawn(move || {
            let _ = fd2.close();
        });
        firing.join().unwrap();
        closer.join().unwrap();

        assert_eq!(
            reenter.woken.load(SeqCst),
            1,
            "the parked read was not woken once"
        );
        assert!(fd.lock.is_closed());
        let seen = poller.shared.selector.model().seen();
        assert_eq!(seen.closed, [token], "deregistered other than once");
    });
}

/// Close while one operation is inside its syscall and another is parked:
/// the parked one is woken and fails with the closed error; the fd stays
/// registered (so open, and its number not reused) until the operation
/// inside leaves; whoever leaves last deregisters it, exactly once, and
/// ends the descriptor's life.
#[test]
fn loom_fd_close_evicts_and_the_last_reference_destroys() {
    // Three threads: 5 preemptions take some 15 s in release.
    bounded(5).check(|| {
        let poller = Netpoller::new(Poller::Auto).unwrap();
        let fd = open_fd(&poller);
        let token = token_of(&fd);

        let (fd2, p2) = (fd.clone(), poller.clone());
        let inside = thread::spawn(move || {
            let r = fd2.with(|_| {
                // The syscall: the fd must still be registered (and so
                // open) while it runs.
                let seen = p2.shared.selector.model().seen();
                assert!(
                    !seen.closed.contains(&token),
                    "deregistered under a running syscall"
                );
                Ok(())
            });
            // Either it ran, or the fd was already closed when it came.
            if let Err(e) = r {
                assert!(crate::poll::is_closed(&e), "{e}");
            }
        });
        let fd3 = fd.clone();
        let parked = thread::spawn(move || {
            let (woken, waker) = counter();
            let mut cx = Context::from_waker(&waker);
            let first = poll_read(&fd3, &mut cx);
            (
                first.map(|r| r.map_err(|e| crate::poll::is_closed(&e))),
                woken,
            )
        });
        fd.close().unwrap();
        inside.join().unwrap();
        let (first, woken) = parked.join().unwrap();

        match first {
            Poll::Pending => assert_eq!(woken.0.load(SeqCst), 1, "close did not wake the read"),
            Poll::Ready(r) => assert_eq!(r, Err(true), "a read after close must fail closed"),
        }
        let (_, waker) = counter();
        let again = poll_read(&fd, &mut Context::from_waker(&waker));
        assert!(
            matches!(&again, Poll::Ready(Err(e)) if crate::poll::is_closed(e)),
            "{again:?}"
        );
        let seen = poller.shared.selector.model().seen();
        assert_eq!(seen.closed, [token], "deregistered other than once");
        // The life ended: the descriptor's sequence moved past the token's.
        let w = fd.watch.as_ref().unwrap();
        assert_ne!(
            w.slot.desc.word() >> 32,
            u64::from(w.seq),
            "the life did not end"
        );
    });
}
