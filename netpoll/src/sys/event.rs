//! The vocabulary every backend speaks: interests, readiness and the event
//! buffer a wait fills.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The token every backend reserves for its own wake source. No live poll
/// descriptor ever carries it, because sequence 0 is never in use (see
/// `poll::token`).
pub(crate) const WAKE_TOKEN: u64 = 0;

/// How many kernel events one wait collects at most (Go: 128 as well).
pub(crate) const MAX_EVENTS: usize = 128;

/// Directions a waiter can wait for. Only level-triggered backends look at
/// it: edge-triggered ones register both directions once, at open.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Interest(u8);

impl Interest {
    /// No direction.
    pub(crate) const NONE: Interest = Interest(0);
    /// Readable (Go: mode 'r').
    pub(crate) const READ: Interest = Interest(1);
    /// Writable (Go: mode 'w').
    pub(crate) const WRITE: Interest = Interest(2);

    pub(crate) fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` without the directions in `other`.
    pub(crate) fn without(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, rhs: Interest) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.contains(Interest::READ) {
            "R"
        } else {
            "-"
        };
        let w = if self.contains(Interest::WRITE) {
            "W"
        } else {
            "-"
        };
        write!(f, "Interest({r}{w})")
    }
}

/// What the kernel reported for one descriptor, already translated the way
/// Go's netpoll does: hang-up and error wake both directions, and `error`
/// is set only when the error was the sole event.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Readiness {
    /// The read direction should retry its syscall.
    pub(crate) read: bool,
    /// The write direction should retry its syscall.
    pub(crate) write: bool,
    /// The kernel reported an error and nothing else (Go: pollEventErr).
    pub(crate) error: bool,
    /// The peer closed its side or the connection broke (a hang-up or an
    /// error). On an edge-triggered kernel no new event follows for an
    /// end that is already pending, so a short read after this says
    /// nothing about whether EOF waits (see `PollDesc::set_drained`).
    pub(crate) hangup: bool,
    /// Urgent (out-of-band) data is pending (EPOLLPRI, POLLPRI). A stream
    /// read stops short at the urgent mark with more queued behind it, so
    /// from here on a short read proves nothing (see
    /// `PollDesc::set_drained`).
    pub(crate) urgent: bool,
}

impl Readiness {
    /// The directions this readiness fires, as an interest set.
    pub(crate) fn as_interest(self) -> Interest {
        let mut i = Interest::NONE;
        if self.read {
            i |= Interest::READ;
        }
        if self.write {
            i |= Interest::WRITE;
        }
        i
    }

    /// Translation shared by the poll(2)-flag kernels (poll, event ports):
    /// POLLIN/POLLPRI/POLLHUP/POLLERR/POLLNVAL make a read retry,
    /// POLLOUT/POLLHUP/POLLERR/POLLNVAL a write retry, and a lone POLLERR
    /// is an event error.
    pub(crate) fn from_poll_flags(flags: rustix::event::PollFlags) -> Readiness {
        use rustix::event::PollFlags as F;
        let broken = F::HUP | F::ERR | F::NVAL;
        // rustix defines POLLRDHUP only for these systems.
        #[cfg(any(
            all(
                any(target_os = "linux", target_os = "android"),
                not(any(target_arch = "sparc", target_arch = "sparc64"))
            ),
            target_os = "freebsd",
            target_os = "illumos"
        ))]
        let rdhup = F::RDHUP;
        #[cfg(not(any(
            all(
                any(target_os = "linux", target_os = "android"),
                not(any(target_arch = "sparc", target_arch = "sparc64"))
            ),
            target_os = "freebsd",
            target_os = "illumos"
        )))]
        let rdhup = F::empty();
        Readiness {
            read: flags.intersects(F::IN | F::PRI | rdhup | broken),
            write: flags.intersects(F::OUT | broken),
            error: flags == F::ERR,
            hangup: flags.intersects(rdhup | broken),
            urgent: flags.contains(F::PRI),
        }
    }
}

/// One event for one token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Event {
    /// The token the descriptor was registered with.
    pub(crate) token: u64,
    /// What fired.
    pub(crate) ready: Readiness,
}

/// The buffer a wait fills. Each caller of `wait` owns one, so several
/// threads can poll the same selector at once (Go: netpoll(0) from any M).
pub(crate) struct Events {
    list: Vec<Event>,
}

impl Events {
    /// An empty buffer that holds one wait's worth of events.
    pub(crate) fn new() -> Events {
        Events {
            list: Vec::with_capacity(MAX_EVENTS),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn push(&mut self, token: u64, ready: Readiness) {
        self.list.push(Event { token, ready });
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Event> + '_ {
        self.list.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}
