//! The netpoller through its public API, on every backend (see
//! `common::backends`).

mod common;

use common::{backends, block_on, fd_count, pipe, serial};
use netpoll::poll::{Events, Netpoller};
use netpoll::Poller;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// Polls until `stop` is set, as a worker of the runtime would.
fn spawn_poller(poller: &Netpoller, stop: &Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let (poller, stop) = (poller.clone(), stop.clone());
    thread::spawn(move || {
        let mut events = Events::new();
        while !stop.load(SeqCst) {
            poller
                .poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
        }
    })
}

/// A pipe write end whose only event is an error: its pipe is full and its
/// reader is gone (EPOLLERR/POLLERR and nothing else).
fn error_only_fd() -> OwnedFd {
    let (r, w) = pipe();
    while rustix::io::write(&w, &[0u8; 65536]).is_ok() {}
    drop(r);
    w
}

/// Go #59545, scaled up: one thread keeps registering fds that carry error
/// events and closing them, while others register fresh pipes, exchange a
/// message and close them, reusing the same poll descriptors all along. A
/// stale error must never reach a new life: no read wait fails, and no
/// read finds anything but its own message.
#[test]
fn stale_error_events_never_reach_a_reused_descriptor() {
    let _serial = serial();
    const ROUNDS: usize = 10_000; // per reader thread; two of them
    for kind in backends() {
        let fds_before = fd_count();
        let poller = Netpoller::new(kind).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let poll_thread = spawn_poller(&poller, &stop);
        let stale_before = netpoll::metrics::snapshot().stale_events_dropped;

        let errors = {
            let (poller, stop) = (poller.clone(), stop.clone());
            thread::spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                let mut n = 0u64;
                while !stop.load(SeqCst) {
                    let reg = poller.register(error_only_fd()).unwrap();
                    // Ask for both directions so one-shot backends watch it.
                    let _ = reg.poll_read_ready(&mut cx);
                    let _ = reg.poll_write_ready(&mut cx);
                    if n.is_multiple_of(4) {
                        thread::yield_now();
                    }
                    drop(reg);
                    n += 1;
                }
                n
            })
        };

        let readers: Vec<_> = (0..2u8)
            .map(|id| {
                let poller = poller.clone();
                thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let (r, w) = pipe();
                        let reg = poller.register(r).unwrap();
                        let msg = [id, (i % 251) as u8];
                        rustix::io::write(&w, &msg).unwrap();
                        let mut buf = [0u8; 8];
                        loop {
                            match rustix::io::read(reg.fd(), &mut buf) {
                                Ok(n) => {
                                    assert_eq!(&buf[..n], &msg, "round {i}: foreign data");
                                    break;
                                }
                                Err(rustix::io::Errno::AGAIN) => {
                                    if let Err(e) = block_on(reg.readable()) {
                                        panic!("{kind:?} round {i}: stale error reached a new life: {e}");
                                    }
                                }
                                Err(e) => panic!("read: {e}"),
                            }
                        }
                        drop(reg);
                        drop(w);
                    }
                })
            })
            .collect();
        for r in readers {
            r.join().unwrap();
        }
        stop.store(true, SeqCst);
        let error_fds = errors.join().unwrap();
        poll_thread.join().unwrap();
        drop(poller);
        let stale = netpoll::metrics::snapshot().stale_events_dropped - stale_before;
        eprintln!("{kind:?}: {error_fds} error fds, {stale} stale events dropped");
        assert!(error_fds > 0);
        assert_eq!(fd_count(), fds_before, "{kind:?}: fd leak");
    }
}

/// Thousands of wakes from several threads at once: none is lost (every
/// waker sees the poller come round), and once they stop, an idle poller
/// sleeps instead of spinning.
#[test]
fn concurrent_wakes_are_never_lost_and_an_idle_poller_sleeps() {
    let _serial = serial();
    const THREADS: u64 = 4;
    const WAKES: u64 = 1_000;
    for kind in backends() {
        let poller = Netpoller::new(kind).unwrap();
        let requested = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(AtomicU64::new(0));
        let returns = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));

        let poll_thread = {
            let (poller, requested, acked, returns, stop) = (
                poller.clone(),
                requested.clone(),
                acked.clone(),
                returns.clone(),
                stop.clone(),
            );
            thread::spawn(move || {
                let mut events = Events::new();
                loop {
                    acked.store(requested.load(SeqCst), SeqCst);
                    if stop.load(SeqCst) {
                        return;
                    }
                    // No timeout: only a wake can end this wait.
                    poller.poll(&mut events, None).unwrap();
                    returns.fetch_add(1, SeqCst);
                }
            })
        };

        let start = Arc::new(Barrier::new(THREADS as usize));
        let wakers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (poller, requested, acked, start) = (
                    poller.clone(),
                    requested.clone(),
                    acked.clone(),
                    start.clone(),
                );
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..WAKES {
                        let mine = requested.fetch_add(1, SeqCst) + 1;
                        poller.wake().unwrap();
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while acked.load(SeqCst) < mine {
                            assert!(Instant::now() < deadline, "{kind:?}: lost wakeup");
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for w in wakers {
            w.join().unwrap();
        }

        // Idle: let any leftover pending wake drain, then count returns.
        thread::sleep(Duration::from_millis(100));
        let before = returns.load(SeqCst);
        thread::sleep(Duration::from_secs(1));
        let idle_returns = returns.load(SeqCst) - before;
        assert!(
            idle_returns <= 1,
            "{kind:?}: {idle_returns} returns in an idle second"
        );

        stop.store(true, SeqCst);
        poller.wake().unwrap();
        poll_thread.join().unwrap();
    }
}

/// Readiness that arrives while nobody waits is kept for the next wait; on
/// an edge-triggered backend, where the kernel will not repeat it, the
/// wait completes without asking the kernel again.
#[test]
fn readiness_before_a_waiter_is_not_lost() {
    let _serial = serial();
    for kind in backends() {
        let poller = Netpoller::new(kind).unwrap();
        let (r, w) = pipe();
        let reg = poller.register(r).unwrap();
        let mut events = Events::new();
        // The edge arrives with no waiter.
        rustix::io::write(&w, b"x").unwrap();
        poller
            .poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut extra_polls = 0;
        loop {
            match reg.poll_read_ready(&mut cx) {
                Poll::Ready(res) => {
                    res.unwrap();
                    break;
                }
                Poll::Pending => {
                    extra_polls += 1;
                    assert!(extra_polls <= 2, "{kind:?}: readiness lost");
                    poller
                        .poll(&mut events, Some(Duration::from_secs(1)))
                        .unwrap();
                }
            }
        }
        if matches!(poller.backend(), Poller::Epoll | Poller::Kqueue) {
            assert_eq!(extra_polls, 0, "edge-triggered: remembered, not re-asked");
        }
        // Consumed: the next wait parks until new data.
        assert!(reg.poll_read_ready(&mut cx).is_pending());
    }
}

/// A task blocked in a read wait is woken by evict() from another thread
/// with the closed error, and every later wait fails the same way.
#[test]
fn evict_wakes_a_blocked_waiter_with_the_closed_error() {
    let _serial = serial();
    for kind in backends() {
        let poller = Netpoller::new(kind).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let poll_thread = spawn_poller(&poller, &stop);
        let (r, _w) = pipe();
        let reg = Arc::new(poller.register(r).unwrap());
        let waiter = {
            let reg = reg.clone();
            thread::spawn(move || {
                let t = Instant::now();
                (block_on(reg.readable()), t.elapsed())
            })
        };
        thread::sleep(Duration::from_millis(50));
        assert!(reg.evict());
        let (res, waited) = waiter.join().unwrap();
        let err = res.unwrap_err();
        assert!(netpoll::io::is_closed(&err), "{kind:?}: {err}");
        assert!(waited < Duration::from_secs(5));
        assert!(reg.is_evicted());
        assert!(!reg.evict(), "second evict reports it was already done");
        assert!(netpoll::io::is_closed(
            &block_on(reg.writable()).unwrap_err()
        ));
        stop.store(true, SeqCst);
        poll_thread.join().unwrap();
    }
}

/// Registering and dropping many fds leaves no fd behind; `into_fd` hands
/// the fd back open and unregistered.
#[test]
fn registrations_own_and_close_their_fds() {
    let _serial = serial();
    for kind in backends() {
        let poller = Netpoller::new(kind).unwrap();
        let before = fd_count();
        for _ in 0..1_000 {
            let (r, w) = pipe();
            let _a = poller.register(r).unwrap();
            let _b = poller.register(w).unwrap();
        }
        assert_eq!(fd_count(), before, "{kind:?}");
        let (r, _w) = pipe();
        let reg = poller.register(r).unwrap();
        let fd = reg.into_fd().unwrap();
        assert!(rustix::fs::fstat(&fd).is_ok(), "still open");
        // And it can be registered again.
        drop(poller.register(fd).unwrap());
    }
}

/// epoll refuses regular files; the error is an `io::Error`, not a panic,
/// and the fd is not leaked.
#[test]
fn a_refused_fd_is_an_error_and_is_closed() {
    let _serial = serial();
    let Ok(poller) = Netpoller::new(Poller::Epoll) else {
        return;
    };
    let file = tempfile_in_target();
    let before = fd_count();
    let fd: OwnedFd = std::fs::File::open(&file).unwrap().into();
    let err = poller.register(fd).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::PERM.raw_os_error())
    );
    assert_eq!(fd_count(), before);
    let _ = std::fs::remove_file(file);
}

fn tempfile_in_target() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("netpoll-regular-{}", std::process::id()));
    std::fs::write(&p, b"data").unwrap();
    p
}

/// The native backend of the platform the tests run on.
fn native_backend() -> Poller {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        Poller::Epoll
    } else if cfg!(any(target_os = "illumos", target_os = "solaris")) {
        Poller::EventPorts
    } else if cfg!(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        Poller::Kqueue
    } else {
        Poller::Poll
    }
}

/// Every platform has its native backend and poll(2); a backend it lacks
/// is `Unsupported`, with the backend's name in the message.
#[test]
fn backend_choice_errors_are_clear() {
    let _serial = serial();
    let native = native_backend();
    for kind in [native, Poller::Poll] {
        let poller = Netpoller::new(kind).unwrap();
        assert_eq!(poller.backend(), kind);
    }
    for kind in [Poller::Epoll, Poller::Kqueue, Poller::EventPorts] {
        if kind == native {
            continue;
        }
        let err = Netpoller::new(kind).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{kind:?}");
        assert!(err.to_string().contains(kind.name()), "{kind:?}: {err}");
    }
}

/// Runs `f` on a thread of its own and fails if it has not returned
/// within `limit`: a call that blocks must fail the test, not hang it (the
/// blocked thread is left behind; the failing test ends the process).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {limit:?}"))
}

/// While one thread waits in the kernel with no timeout, the others go on
/// using the poller: they register fds, poll without blocking and see
/// their events, and a wake ends the sleeper's wait. The scheduler lives
/// on this (one worker sleeps in the poller while the others poll between
/// tasks), as Go's does, and every kernel interface allows it. libkqueue
/// (kqueue on Linux) before 2.7.0 held the kqueue's lock for the whole of
/// a blocking kevent(): a second worker's non-blocking poll then waited
/// for the sleeper, and the tasks queued behind it never ran (a million
/// cross-thread wakes hung with half the pipes unread, issue 20).
#[test]
fn other_threads_use_the_poller_while_one_waits_in_it() {
    let _serial = serial();
    let limit = Duration::from_secs(10);
    for kind in backends() {
        let poller = Netpoller::new(kind).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(Barrier::new(2));
        let sleeper = {
            let (poller, stop, started) = (poller.clone(), stop.clone(), started.clone());
            thread::spawn(move || {
                let mut events = Events::new();
                started.wait();
                while !stop.load(SeqCst) {
                    // No timeout: only an event or a wake ends it.
                    poller.poll(&mut events, None).unwrap();
                }
            })
        };
        started.wait();
        // Most likely asleep by now; if not, the steps below only prove
        // less, never fail wrongly.
        thread::sleep(Duration::from_millis(50));
        let p = poller.clone();
        within(
            limit,
            &format!("{kind:?}: register, poll and see an event"),
            move || {
                for _ in 0..3 {
                    let (r, w) = pipe();
                    let reg = p.register(r).unwrap();
                    rustix::io::write(&w, b"x").unwrap();
                    let mut cx = Context::from_waker(Waker::noop());
                    let mut events = Events::new();
                    // The event goes to whichever thread's wait takes it.
                    while reg.poll_read_ready(&mut cx).is_pending() {
                        p.poll(&mut events, Some(Duration::ZERO)).unwrap();
                        thread::yield_now();
                    }
                }
            },
        );
        stop.store(true, SeqCst);
        let p = poller.clone();
        within(
            limit,
            &format!("{kind:?}: a wake ends the wait"),
            move || {
                p.wake().unwrap();
                sleeper.join().unwrap();
            },
        );
    }
}

/// A wake that reaches the kernel is counted; one that coalesces with a
/// pending wake is not.
#[test]
fn wakes_that_reach_the_kernel_are_counted() {
    let _serial = serial();
    for kind in backends() {
        let poller = Netpoller::new(kind).unwrap();
        let before = netpoll::metrics::snapshot().wakes;
        poller.wake().unwrap();
        poller.wake().unwrap(); // coalesces
        let after = netpoll::metrics::snapshot().wakes;
        assert_eq!(after - before, 1, "{kind:?}");
        let mut events = Events::new();
        poller
            .poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        poller.wake().unwrap(); // consumed: a new wake counts again
        assert_eq!(netpoll::metrics::snapshot().wakes - after, 1, "{kind:?}");
    }
}
