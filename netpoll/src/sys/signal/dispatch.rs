//! The one reader of the signal pipe: a thread that sleeps in poll(2) on
//! it and, for each signal whose delivery counter moved, wakes the
//! listeners (`listener.rs`) and calls the subscribers (the SIGCHLD
//! reaper).
//!
//! Why a thread of its own, and not the pipe registered with each
//! runtime's poller (tokio's signal driver): the pipe is one per process,
//! written by a handler that cannot know which runtime, if any, listens,
//! while runtimes come and go (a test builds dozens). Each runtime reading
//! it would have to hand every delivery on to the listeners of all the
//! others anyway, and on the one-shot backends (poll(2), event ports) a
//! pipe drained by one runtime leaves another's armed interest silent, so
//! its listeners would hang on whether some other runtime happened to be
//! driven. The SIGCHLD reaper needs a reader that works when no runtime
//! is driven at all (a dropped child is reaped in the background), so it
//! had this thread already; the listeners share it, and a `Signals` works
//! on any executor and outlives the runtime it was made in. Go does the
//! same with one goroutine (os/signal's `loop`, blocked in
//! `signal_recv`). The cost is one hop (this thread wakes the task) at
//! signal rates; the thread sleeps in the kernel between signals.

use super::{SLOT, WRITE_FD};
use crate::loom_shim::LockExt;
use std::ffi::c_int;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Release};
use std::sync::Mutex;

/// Code called on the signal thread after deliveries of one signal (not
/// in the handler: anything may run here, but not for long, since every
/// other signal waits for it). Declared as a `static`, so subscribing is
/// idempotent.
pub(crate) struct Subscriber {
    sig: c_int,
    on_signal: fn(),
    /// Already in the list.
    subscribed: AtomicBool,
}

impl Subscriber {
    /// Calls `on_signal` after deliveries of `sig` (several deliveries
    /// between two calls may make one call).
    pub(crate) const fn new(sig: c_int, on_signal: fn()) -> Subscriber {
        Subscriber {
            sig,
            on_signal,
            subscribed: AtomicBool::new(false),
        }
    }
}

/// The subscribers, called in order.
static SUBSCRIBERS: Mutex<Vec<&'static Subscriber>> = Mutex::new(Vec::new());

/// The pipe exists and its reader runs.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Calls `sub` after every delivery of its signal from now on, installing
/// the handler if needed. Cheap once done (one atomic load); a failure
/// (the pipe or the thread could not be made) is tried again next time.
pub(crate) fn subscribe(sub: &'static Subscriber) -> io::Result<()> {
    if !sub.subscribed.load(Acquire) {
        // In the list before the handler goes in, so no delivery after
        // installation can be missed.
        let mut subs = SUBSCRIBERS.locked();
        if !sub.subscribed.load(Acquire) {
            subs.push(sub);
            sub.subscribed.store(true, Release);
        }
    }
    // One atomic load once installed; tried again after a failure.
    super::install(sub.sig)
}

/// Makes the pipe and starts the thread, once; called under the
/// installation lock, before any handler exists.
pub(super) fn start() -> io::Result<()> {
    if STARTED.load(Acquire) {
        return Ok(());
    }
    let (r, w) = crate::sys::pipe::nonblocking_pipe()?;
    // The thread owns the read end and never returns; if it cannot be
    // started, both ends are closed here and the next caller tries again.
    std::thread::Builder::new()
        .name("netpoll-signal".into())
        .spawn(move || run(r))?;
    // The write end lives as long as the process: the handler may run at
    // any time.
    WRITE_FD.store(w.as_raw_fd(), Release);
    std::mem::forget(w);
    STARTED.store(true, Release);
    Ok(())
}

/// The thread's body: for ever, wait for a byte, drain, dispatch.
fn run(read: OwnedFd) {
    // What this thread has handed on, per signal.
    let mut seen = vec![0usize; SLOT.len()];
    let mut changed = Vec::new();
    loop {
        let mut fds = [rustix::event::PollFd::new(
            &read,
            rustix::event::PollFlags::IN,
        )];
        // EINTR (a signal taken on this thread) just goes round.
        let _ = rustix::event::poll(&mut fds, None);
        // Drain first, read the counters second: a handler bumps its
        // counter before writing, so a byte drained here has its count
        // visible below, and a count missed below has its byte still to
        // come.
        crate::sys::pipe::drain(read.as_fd());
        changed.clear();
        for (sig, slot) in SLOT.iter().enumerate() {
            let now = slot.delivered.load(Acquire);
            if now != seen[sig] {
                seen[sig] = now;
                changed.push(sig as c_int);
            }
        }
        // A copy, so no lock is held while subscribers run.
        let subs: Vec<&'static Subscriber> = SUBSCRIBERS.locked().clone();
        for &sig in &changed {
            // A panic in a waker (foreign executors' wakers run here) must
            // not end signal handling for the whole process.
            let _ = catch_unwind(AssertUnwindSafe(|| super::listener::wake(sig)));
            for sub in subs.iter().filter(|s| s.sig == sig) {
                let _ = catch_unwind(AssertUnwindSafe(sub.on_signal));
            }
        }
    }
}
