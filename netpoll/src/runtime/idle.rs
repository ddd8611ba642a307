//! Who is idle, and whom a new piece of work should wake (Go:
//! sched.pidle, sched.nmspinning, wakep, and the netpollBreak that
//! interrupts an M blocked in netpoll).
//!
//! The handshake that must never lose a wakeup: a worker about to sleep
//! first announces it (registers as a sleeper, or marks the poller
//! sleeping), then looks at the queues once more; a notifier first queues
//! its work, then looks for an announced sleeper. Both sides put a SeqCst
//! fence between their write and their read, so at least one of them sees
//! the other. The loom model in `loom_park.rs` checks exactly this code.

use crate::loom_shim::LockExt;
use crate::loom_shim::{fence, AtomicBool, AtomicUsize, Mutex, MutexGuard};
use std::sync::atomic::Ordering::SeqCst;

/// What a notifier must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Someone is already looking for work, or nobody sleeps.
    Nobody,
    /// Unpark this worker; it has been counted as searching.
    Worker(usize),
    /// Interrupt the poller's blocking wait.
    Poller,
}

pub(crate) struct Idle {
    /// Workers parked on their thread, waiting to be notified.
    sleepers: Mutex<Vec<usize>>,
    parked: AtomicUsize,
    /// Workers looking for work (Go: nmspinning).
    searching: AtomicUsize,
    /// The poller's owner is in, or about to enter, a blocking wait.
    poller_sleeping: AtomicBool,
}

impl Default for Idle {
    fn default() -> Idle {
        Idle {
            sleepers: Mutex::new(Vec::new()),
            parked: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            poller_sleeping: AtomicBool::new(false),
        }
    }
}

impl Idle {
    fn sleepers(&self) -> MutexGuard<'_, Vec<usize>> {
        self.sleepers.locked()
    }

    /// Called after queueing work that no running worker is known to take.
    pub(crate) fn notify(&self) -> Wake {
        fence(SeqCst);
        if self.searching.load(SeqCst) != 0 {
            return Wake::Nobody;
        }
        if self.parked.load(SeqCst) != 0 {
            let mut sleepers = self.sleepers();
            if let Some(i) = sleepers.pop() {
                self.parked.fetch_sub(1, SeqCst);
                // Counted as searching on its behalf, so a burst of
                // notifications wakes one worker, not all of them.
                self.searching.fetch_add(1, SeqCst);
                return Wake::Worker(i);
            }
        }
        if self.poller_sleeping.load(SeqCst) {
            Wake::Poller
        } else {
            Wake::Nobody
        }
    }

    /// Workers asleep: parked on their thread, or blocked in the poller.
    pub(crate) fn sleeping_workers(&self) -> usize {
        self.parked.load(SeqCst) + usize::from(self.poller_sleeping.load(SeqCst))
    }

    /// Whether the poller's owner is (about to be) asleep in it.
    pub(crate) fn poller_sleeping(&self) -> bool {
        self.poller_sleeping.load(SeqCst)
    }

    /// Announces that the poller's owner is about to block. The caller
    /// must look for work afterwards and not block if it finds any.
    pub(crate) fn poller_enter(&self) {
        self.poller_sleeping.store(true, SeqCst);
        fence(SeqCst);
    }

    /// The poller's owner is awake again.
    pub(crate) fn poller_leave(&self) {
        self.poller_sleeping.store(false, SeqCst);
    }

    /// Announces that worker `index` is about to park. The caller must
    /// look for work afterwards and not park if it finds any.
    pub(crate) fn park_enter(&self, index: usize) {
        self.sleepers().push(index);
        self.parked.fetch_add(1, SeqCst);
        fence(SeqCst);
    }

    /// Worker `index` is awake again. Returns true if a notifier picked it
    /// (it is then counted as searching), false if it left on its own.
    pub(crate) fn park_leave(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.parked.fetch_sub(1, SeqCst);
                false
            }
            None => true,
        }
    }

    /// Workers parked now (the loom model checks it).
    #[cfg(all(test, loom))]
    pub(crate) fn parked(&self) -> usize {
        self.parked.load(SeqCst)
    }

    /// Tries to become a searcher: at most half of the busy workers search
    /// at a time, more would only steal from each other (Go: 2*nmspinning
    /// < busy Ps).
    pub(crate) fn start_searching(&self, workers: usize) -> bool {
        let busy = workers.saturating_sub(self.parked.load(SeqCst));
        if 2 * self.searching.load(SeqCst) >= busy {
            return false;
        }
        self.searching.fetch_add(1, SeqCst);
        true
    }

    /// Stops searching; returns whether this was the last searcher (who
    /// must then look at the queues once more, or wake another searcher).
    pub(crate) fn stop_searching(&self) -> bool {
        let last = self.searching.fetch_sub(1, SeqCst) == 1;
        fence(SeqCst);
        last
    }
}
