//! Listeners: each sees every delivery of its signal that came after its
//! creation, whatever the others do (a broadcast, as Go's `signal.Notify`
//! sends to every channel and tokio's `Signal`s each get their own wake).
//!
//! A listener keeps the delivery counter's value it saw last; `poll_recv`
//! is ready as soon as the counter differs, and takes the new value, so
//! deliveries between two `recv`s make one wake (they would have been
//! merged by the kernel too, had they come while the signal was pending)
//! and none goes unnoticed. A waiting listener leaves its waker in
//! [`WAITING`]; the signal thread takes them all out after a delivery and
//! wakes them.

use super::{delivered, install};
use crate::loom_shim::LockExt;
use std::collections::BTreeMap;
use std::ffi::c_int;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// The wakers of the listeners waiting, by (signal, listener id).
static WAITING: Mutex<BTreeMap<(c_int, u64), Waker>> = Mutex::new(BTreeMap::new());

/// One listener for one signal.
#[derive(Debug)]
pub(crate) struct Listener {
    sig: c_int,
    id: u64,
    /// The delivery count seen at the last `recv` (or at creation).
    seen: usize,
}

impl Listener {
    /// Starts listening for `sig`, installing netpoll's handler for it if
    /// it is not yet. Refuses what cannot or must not be caught.
    pub(crate) fn new(sig: c_int) -> io::Result<Listener> {
        refuse(sig)?;
        install(sig)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Ok(Listener {
            sig,
            id: NEXT.fetch_add(1, Relaxed),
            // Deliveries from now on: a listener made after a delivery
            // does not see it.
            seen: delivered(sig),
        })
    }

    /// The signal number.
    pub(crate) fn signum(&self) -> c_int {
        self.sig
    }

    /// Ready once `sig` has been delivered since the last ready return
    /// (or since creation).
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Cloned before locking: a waker's clone and drop are the
        // executor's code, which runs under no lock of ours.
        let waker = cx.waker().clone();
        let mut waiting = WAITING.locked();
        // Checked under the lock the signal thread takes the wakers
        // under, after it read the counter: either this sees the new
        // count, or the thread sees this waker.
        let now = delivered(self.sig);
        if now != self.seen {
            self.seen = now;
            let old = waiting.remove(&(self.sig, self.id));
            drop(waiting);
            drop((old, waker));
            return Poll::Ready(());
        }
        let old = waiting.insert((self.sig, self.id), waker);
        drop(waiting);
        drop(old);
        Poll::Pending
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let old = WAITING.locked().remove(&(self.sig, self.id));
        drop(old);
    }
}

/// Wakes every listener of `sig` that waits (called on the signal thread
/// after the counter of `sig` moved).
pub(super) fn wake(sig: c_int) {
    let woken: Vec<Waker> = {
        let mut waiting = WAITING.locked();
        let mut rest = waiting.split_off(&(sig, 0));
        let mut after = rest.split_off(&(sig.saturating_add(1), 0));
        waiting.append(&mut after);
        std::mem::take(&mut rest).into_values().collect()
    };
    woken.into_iter().for_each(Waker::wake);
}

/// Refuses, with InvalidInput, the signals that cannot be caught (SIGKILL,
/// SIGSTOP) and those whose handler must not just return (SIGSEGV, SIGBUS,
/// SIGILL, SIGFPE: raised by a faulting instruction, which would run again
/// straight after, for ever; tokio refuses them too), and numbers that
/// are no signal.
fn refuse(sig: c_int) -> io::Result<()> {
    let why = match sig {
        libc::SIGKILL => "SIGKILL cannot be caught",
        libc::SIGSTOP => "SIGSTOP cannot be caught",
        libc::SIGSEGV => "SIGSEGV cannot be listened for: its handler must not return",
        libc::SIGBUS => "SIGBUS cannot be listened for: its handler must not return",
        libc::SIGILL => "SIGILL cannot be listened for: its handler must not return",
        libc::SIGFPE => "SIGFPE cannot be listened for: its handler must not return",
        s if s <= 0 => "signal numbers start at 1",
        _ => return Ok(()),
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("signal {sig}: {why}"),
    ))
}
