//! Kernel event backends behind one small interface.
//!
//! Go keeps one file per kernel behind six functions (runtime/netpoll.go);
//! so does this module. Every backend offers:
//!
//! | here                         | Go                 |
//! |------------------------------|--------------------|
//! | `new`                        | `netpollinit`      |
//! | `open(fd, token)`            | `netpollopen`      |
//! | `close(fd, token)`           | `netpollclose`     |
//! | `arm(token, interest)`       | `netpollarm`       |
//! | `wait(events, timeout, ..)`  | `netpoll(delay)`   |
//! | `wake()`                     | `netpollBreak`     |
//!
//! epoll and kqueue register both directions once, edge-triggered, and
//! ignore `arm`. Event ports and poll(2) are level-triggered and one-shot:
//! a fired direction stays quiet until a waiter arms it again, while the
//! directions that did not fire stay armed (Go: netpollupdate). poll(2)
//! runs everywhere, so that discipline is exercised on Linux too.
//!
//! [`Selector`] adds what all backends share: the choice of backend at run
//! time and wake coalescing (Go: netpollWakeSig).

mod event;
#[cfg(all(test, loom))]
mod loom_selector;
#[cfg(loom)]
pub(crate) mod model;
mod oneshot;
#[cfg(target_os = "linux")]
pub(crate) mod pidfd;
pub(crate) mod pipe;
mod poll;
pub(crate) mod sigchld;
// Its only users, the kernel copy paths (sendfile, splice), are Linux's.
#[cfg(target_os = "linux")]
pub(crate) mod sigpipe;

// Each platform has one native backend, named `Native` below, plus
// poll(2). The OS lists live here and nowhere else.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
use epoll::Epoll as Native;
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
mod kqueue;
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
use kqueue::Kqueue as Native;
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
mod port;
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
use port::Port as Native;
// Elsewhere poll(2) is all there is.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "solaris",
    any(
        target_os = "macos",
        target_os = "ios",
        target_os = "tvos",
        target_os = "watchos",
        target_os = "visionos",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )
)))]
use poll::Poll as Native;

pub(crate) use event::{Events, Interest, Readiness, MAX_EVENTS, WAKE_TOKEN};

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The environment variable that picks the backend wherever the program
/// leaves the choice to [`Poller::Auto`].
pub const POLLER_ENV: &str = "NETPOLL_POLLER";

/// Which kernel interface the netpoller uses.
///
/// `Auto` picks the platform's native interface (epoll on Linux, kqueue on
/// the BSDs and Apple systems, event ports on illumos and Solaris), unless
/// the environment variable `NETPOLL_POLLER` names another one
/// (`epoll`, `kqueue`, `ports`, `poll`). An explicit choice other than
/// `Auto` is taken as written. That way a whole test suite runs on each
/// backend without changing code, and a test that needs one backend still
/// gets it.
///
/// Go has no counterpart: its runtime compiles in exactly one backend.
///
/// # Example
///
/// ```
/// use netpoll::poll::Netpoller;
/// use netpoll::Poller;
///
/// let poller = Netpoller::new(Poller::Poll)?;
/// assert_eq!(poller.backend(), Poller::Poll);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
#[non_exhaustive]
pub enum Poller {
    /// The platform's native interface, or the one `NETPOLL_POLLER` names.
    #[default]
    Auto,
    /// Linux epoll, edge-triggered.
    Epoll,
    /// BSD and Apple kqueue, edge-triggered (`EV_CLEAR`).
    Kqueue,
    /// illumos and Solaris event ports, level-triggered and one-shot.
    EventPorts,
    /// poll(2): portable, level-triggered, driven one-shot like event ports.
    Poll,
}

impl Poller {
    /// The name used by `NETPOLL_POLLER` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Poller::Auto => "auto",
            Poller::Epoll => "epoll",
            Poller::Kqueue => "kqueue",
            Poller::EventPorts => "ports",
            Poller::Poll => "poll",
        }
    }

    /// Parses a `NETPOLL_POLLER` value.
    fn parse(value: &str) -> io::Result<Poller> {
        let all = [
            Poller::Auto,
            Poller::Epoll,
            Poller::Kqueue,
            Poller::EventPorts,
            Poller::Poll,
        ];
        let value = value.trim();
        all.into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(value))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{POLLER_ENV}={value:?}: expected one of auto, epoll, kqueue, ports, poll"
                    ),
                )
            })
    }

    /// The backend this platform uses natively.
    fn native() -> Poller {
        Native::KIND
    }

    /// Resolves `Auto` through the environment and the platform.
    pub(crate) fn resolve(self) -> io::Result<Poller> {
        if self != Poller::Auto {
            return Ok(self);
        }
        match std::env::var(POLLER_ENV) {
            Ok(v) if !v.trim().is_empty() => match Poller::parse(&v)? {
                Poller::Auto => Ok(Poller::native()),
                chosen => Ok(chosen),
            },
            _ => Ok(Poller::native()),
        }
    }
}

/// The backend chosen at run time: the platform's native one or poll(2);
/// under loom, always the model (`model.rs`).
#[cfg_attr(loom, allow(dead_code))]
enum Backend {
    Native(Native),
    Poll(poll::Poll),
    #[cfg(loom)]
    Model(model::Model),
}

/// Calls the same method on whichever backend is in use.
macro_rules! dispatch {
    ($backend:expr, $b:ident => $call:expr) => {
        match $backend {
            Backend::Native($b) => $call,
            Backend::Poll($b) => $call,
            #[cfg(loom)]
            Backend::Model($b) => $call,
        }
    };
}

/// One kernel event queue plus the wake flag every backend shares.
pub(crate) struct Selector {
    backend: Backend,
    kind: Poller,
    /// A wake is in flight: set by `wake`, cleared only by a blocking wait
    /// after it drained the wake source (Go: netpollWakeSig).
    wake_pending: AtomicBool,
}

impl Selector {
    /// Opens the backend `choice` resolves to (Go: netpollinit).
    pub(crate) fn new(choice: Poller) -> io::Result<Selector> {
        let kind = choice.resolve()?;
        #[cfg(loom)]
        let backend = {
            // The kernel backends stay compiled under loom, just unused.
            let _ = (Native::new, poll::Poll::new, poll::Poll::KIND);
            Backend::Model(model::Model::new())
        };
        #[cfg(not(loom))]
        let backend = match kind {
            k if k == poll::Poll::KIND => Backend::Poll(poll::Poll::new()?),
            k if k == Native::KIND => Backend::Native(Native::new()?),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "the {} poller does not exist on this platform",
                        other.name()
                    ),
                ))
            }
        };
        Ok(Selector {
            backend,
            kind,
            wake_pending: AtomicBool::new(false),
        })
    }

    /// The backend in use, never `Auto`.
    pub(crate) fn kind(&self) -> Poller {
        self.kind
    }

    /// Starts watching `fd` under `token` (Go: netpollopen).
    pub(crate) fn open(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        dispatch!(&self.backend, b => b.open(fd, token))
    }

    /// Stops watching `fd`; `token` is the one it was opened with
    /// (Go: netpollclose). The caller still owns `fd`, open.
    pub(crate) fn close(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        dispatch!(&self.backend, b => b.close(fd, token))
    }

    /// Asks for one more event in the `interest` directions of `token`;
    /// a no-op on edge-triggered backends (Go: netpollarm).
    pub(crate) fn arm(&self, token: u64, interest: Interest) -> io::Result<()> {
        dispatch!(&self.backend, b => b.arm(token, interest))
    }

    /// Whether a stream read that came back short proves the receive queue
    /// empty as far as this backend's events go: the next read may then
    /// wait for an event without trying first. Level-triggered backends
    /// report any bytes still queued when the wait arms, so a wrong guess
    /// costs nothing there; epoll reports urgent data (EPOLLPRI), where a
    /// TCP read stops short. kqueue is edge-triggered and its urgent-data
    /// flag is not portable, so it never takes the shortcut.
    pub(crate) fn short_read_drains(&self) -> bool {
        !matches!(self.kind, Poller::Kqueue)
    }

    /// Whether `arm` does anything on this backend.
    pub(crate) fn needs_arm(&self) -> bool {
        matches!(self.kind, Poller::Poll | Poller::EventPorts)
    }

    /// Waits for events, at most `timeout` (`None`: until one arrives or a
    /// wake). Fills `events` with descriptor events only; a wake shows up
    /// as an early return. A non-blocking wait (`Some(ZERO)`) sees a
    /// pending wake but leaves it for the next blocking wait, as Go does,
    /// so a wake meant for a sleeping poller is never eaten by a passer-by.
    /// Returns whether a wake was seen.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<bool> {
        events.clear();
        let blocking = timeout != Some(Duration::ZERO);
        let woken = dispatch!(&self.backend, b => b.wait(events, timeout, blocking))?;
        if woken && blocking {
            // The backend drained the wake source before returning; only
            // now may a new wake write to it again. The other order would
            // let a wake land between clear and drain and be lost while the
            // flag stays set, swallowing every later wake.
            self.wake_pending.store(false, Ordering::Release);
        }
        Ok(woken)
    }

    /// Interrupts a wait in progress, or makes the next blocking one return
    /// at once (Go: netpollBreak). Wakes coalesce: while one is in flight
    /// further calls cost one atomic load.
    pub(crate) fn wake(&self) -> io::Result<bool> {
        if self.wake_pending.load(Ordering::Relaxed)
            || self.wake_pending.swap(true, Ordering::AcqRel)
        {
            return Ok(false);
        }
        dispatch!(&self.backend, b => b.wake())?;
        Ok(true)
    }
}

/// A `Duration` as the kernel's timespec, saturating at the largest value
/// the kernel takes.
pub(crate) fn timespec(d: Duration) -> rustix::event::Timespec {
    rustix::event::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// Whether `err` just means "interrupted by a signal, try again".
pub(crate) fn interrupted(err: rustix::io::Errno) -> bool {
    err == rustix::io::Errno::INTR
}

impl Selector {
    /// The model backend a loom model drives.
    #[cfg(loom)]
    pub(crate) fn model(&self) -> &model::Model {
        match &self.backend {
            Backend::Model(m) => m,
            _ => unreachable!("under loom every Selector runs on the model backend"),
        }
    }

    /// Directions armed for `token` on a one-shot backend (tests only).
    #[cfg(all(test, not(loom), not(miri)))]
    pub(crate) fn armed(&self, token: u64, fd: std::os::fd::RawFd) -> Option<Interest> {
        match &self.backend {
            Backend::Poll(p) => p.armed(token, fd),
            Backend::Native(_) => None,
        }
    }
}

// Every backend against the kernel: not under Miri, which runs only the
// unit tests that make no syscalls.
#[cfg(all(test, not(loom), not(miri)))]
mod tests;
