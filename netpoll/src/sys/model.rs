//! The backend every [`Selector`](super::Selector) uses under `--cfg loom`:
//! no kernel, so the code above it (the Selector's wake coalescing, the
//! netpoller, the fd layer, the scheduler's sleep in the poller) runs
//! unchanged inside a loom model.
//!
//! It keeps what the callers rely on from a real backend and nothing else:
//!
//! - the wake source (an eventfd, a pipe, a user event) is one flag: set
//!   by `wake`, seen by every wait, drained only by a blocking wait that
//!   saw it (epoll.rs reads the eventfd only then);
//! - a blocking wait returns when the source is set, as the kernel's does
//!   when it is written. With no wake to come it would sleep for ever (or
//!   for its whole timeout): loom then reports a deadlock, which is how a
//!   model sees a lost wake-up;
//! - a timeout no longer than [`Model::set_patience`] ends the wait at once
//!   (loom has no clock): the model declares such a sleep short enough;
//!   a longer one needs a wake, like no timeout at all;
//! - registrations and re-arming are counted but deliver no events: the
//!   models hand readiness to the descriptors directly.
//!
//! It also checks the Selector's promise that wakes coalesce: writing the
//! source while it is already set is recorded (`redundant_wakes`).

use super::{Events, Interest};
use crate::loom_shim::{Condvar, LockExt, Mutex};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// The model backend (see the module docs).
pub(crate) struct Model {
    state: Mutex<State>,
    cond: Condvar,
}

#[derive(Default)]
struct State {
    /// The wake source is written and not yet drained.
    source: bool,
    /// The source was written while already set.
    redundant_wakes: usize,
    /// The longest timeout that ends a wait without a wake.
    patience: Duration,
    /// Blocking waits that returned, and how many of them were woken.
    blocking_waits: usize,
    woken_waits: usize,
    /// Tokens registered and deregistered (`open`, `close`), in order.
    opened: Vec<u64>,
    closed: Vec<u64>,
}

/// What the model backend saw, for a model's assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) redundant_wakes: usize,
    pub(crate) blocking_waits: usize,
    pub(crate) woken_waits: usize,
    pub(crate) pending_wake: bool,
    pub(crate) opened: Vec<u64>,
    pub(crate) closed: Vec<u64>,
}

impl Model {
    pub(crate) fn new() -> Model {
        Model {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        }
    }

    /// Timeouts up to `d` end a blocking wait without a wake.
    pub(crate) fn set_patience(&self, d: Duration) {
        self.state.locked().patience = d;
    }

    /// What happened so far.
    pub(crate) fn seen(&self) -> Seen {
        let st = self.state.locked();
        Seen {
            redundant_wakes: st.redundant_wakes,
            blocking_waits: st.blocking_waits,
            woken_waits: st.woken_waits,
            pending_wake: st.source,
            opened: st.opened.clone(),
            closed: st.closed.clone(),
        }
    }

    pub(crate) fn open(&self, _fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.state.locked().opened.push(token);
        Ok(())
    }

    pub(crate) fn close(&self, _fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.state.locked().closed.push(token);
        Ok(())
    }

    pub(crate) fn arm(&self, _token: u64, _interest: Interest) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn wait(
        &self,
        _events: &mut Events,
        timeout: Option<Duration>,
        blocking: bool,
    ) -> io::Result<bool> {
        let mut st = self.state.locked();
        if blocking {
            while !st.source {
                if timeout.is_some_and(|t| t <= st.patience) {
                    st.blocking_waits += 1;
                    return Ok(false);
                }
                st = self
                    .cond
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        let woken = st.source;
        if blocking {
            st.source = false;
            st.blocking_waits += 1;
            st.woken_waits += 1;
        }
        Ok(woken)
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        let mut st = self.state.locked();
        if st.source {
            st.redundant_wakes += 1;
        }
        st.source = true;
        drop(st);
        self.cond.notify_all();
        Ok(())
    }
}
