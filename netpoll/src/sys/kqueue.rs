//! BSD and Apple kqueue: every descriptor registered once, edge-triggered
//! (`EV_CLEAR`), for both directions (Go: runtime/netpoll_kqueue.go). The
//! wake source is an `EVFILT_USER` event where the kernel has one (Go:
//! netpoll_kqueue_event.go) and a pipe on NetBSD and OpenBSD (Go:
//! netpoll_kqueue_pipe.go).

use super::{interrupted, timespec, Events, Interest, Readiness, MAX_EVENTS, WAKE_TOKEN};
use rustix::event::kqueue::{self, Event, EventFilter, EventFlags};
use rustix::io::Errno;
use std::ffi::c_void;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

// Darwin fails a kevent whose timeout is too long with EINVAL; Go caps it
// at the same 10^6 s (11.5 days). A capped wait just returns early, empty.
use super::MAX_WAIT;

pub(crate) struct Kqueue {
    // First, so the queue closes before the wake pipe it may watch.
    kq: OwnedFd,
    wake: Wake,
}

impl Kqueue {
    /// Which [`Poller`](super::Poller) this is.
    pub(crate) const KIND: super::Poller = super::Poller::Kqueue;

    /// `udata` is a pointer: 32 bits on a 32-bit target, where the poll
    /// layer packs tokens narrower (see `poll::token`).
    pub(crate) const TOKEN_BITS: u32 = usize::BITS;

    pub(crate) fn new() -> io::Result<Kqueue> {
        let kq = kqueue::kqueue()?;
        // kqueue() is not close-on-exec by default on any of these systems
        // (FreeBSD's kqueuex and NetBSD's kqueue1 take a flag, but rustix
        // wraps only kqueue()), so set it at once, as Go does. A fork+exec
        // on another thread in between could inherit it: the window pipe.rs
        // describes for Apple's pipes.
        rustix::io::fcntl_setfd(&kq, rustix::io::FdFlags::CLOEXEC)?;
        let wake = Wake::new(kq.as_fd())?;
        Ok(Kqueue { kq, wake })
    }

    pub(crate) fn open(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let udata = udata(token)?;
        let flags = EventFlags::ADD | EventFlags::CLEAR;
        let raw = fd.as_raw_fd();
        let changes = [
            Event::new(EventFilter::Read(raw), flags, udata),
            Event::new(EventFilter::Write(raw), flags, udata),
        ];
        if let Err(e) = apply(self.kq.as_fd(), &changes) {
            // The kernel stops at the failing change, so the read filter
            // may be in: take it out rather than leave it under our token.
            let _ = self.close(fd, token);
            return Err(e.into());
        }
        Ok(())
    }

    /// Go leaves this to close(2), which drops the fd's filters; here the
    /// fd may outlive its registration (`Registration::into_fd`).
    pub(crate) fn close(&self, fd: BorrowedFd<'_>, _token: u64) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        let none = std::ptr::null_mut();
        let changes = [
            Event::new(EventFilter::Read(raw), EventFlags::DELETE, none),
            Event::new(EventFilter::Write(raw), EventFlags::DELETE, none),
        ];
        match apply(self.kq.as_fd(), &changes) {
            // A filter is missing (an open that half failed). The kernel
            // stopped there, so delete one at a time, each maybe missing.
            Err(Errno::NOENT) => {
                for change in &changes {
                    match apply(self.kq.as_fd(), std::slice::from_ref(change)) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }
            res => res.map_err(Into::into),
        }
    }

    pub(crate) fn arm(&self, _token: u64, _interest: Interest) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        consume_wake: bool,
    ) -> io::Result<bool> {
        let mut buf = [MaybeUninit::<Event>::uninit(); MAX_EVENTS];
        let ts = timeout.map(|d| timespec(d.min(MAX_WAIT)));
        // SAFETY: kevent's contract is about the descriptors a changelist
        // registers; this call has no changes, it only collects events.
        let res = unsafe { kqueue::kevent_timespec(&self.kq, &[], &mut buf, ts.as_ref()) };
        let got = match res {
            Ok((got, _)) => got,
            // Go also takes ETIMEDOUT, seen from Darwin's kevent, for an
            // empty return (go.dev/issue/59679).
            Err(e) if interrupted(e) || e == Errno::TIMEDOUT => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let mut woken = false;
        for ev in got.iter() {
            let token = ev.udata() as usize as u64;
            if token == WAKE_TOKEN {
                woken = true;
                continue;
            }
            if let Some(ready) = translate(ev) {
                // The read and the write filter of one fd are two kernel
                // events; each becomes its own entry.
                events.push(token, ready);
            }
        }
        if woken && consume_wake {
            self.wake.drain(self.kq.as_fd());
        }
        Ok(woken)
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        self.wake.signal(self.kq.as_fd())
    }
}

/// Go's translation: a read event with EV_EOF also lets a write retry,
/// since some kernels report a pipe's closed read end to the writer only
/// that way. EV_ERROR carries an errno in `data` rather than readiness, so
/// both directions retry to learn it from their syscalls. (Go tests
/// `flags == EV_ERROR`; the bit test also takes an error event that
/// carries other flags.)
fn translate(ev: &Event) -> Option<Readiness> {
    let flags = ev.flags();
    if flags.contains(EventFlags::ERROR) {
        return Some(Readiness {
            read: true,
            write: true,
            error: true,
            hangup: true,
            urgent: false,
        });
    }
    match ev.filter() {
        EventFilter::Read(_) => Some(Readiness {
            read: true,
            write: flags.contains(EventFlags::EOF),
            error: false,
            hangup: flags.contains(EventFlags::EOF),
            urgent: false,
        }),
        EventFilter::Write(_) => Some(Readiness {
            read: false,
            write: true,
            error: false,
            hangup: false,
            urgent: false,
        }),
        _ => None,
    }
}

/// The token in kqueue's pointer-sized `udata`. The poll layer packs
/// tokens to [`Kqueue::TOKEN_BITS`] (see `poll::token`), so every token
/// fits; one that did not would be refused rather than truncated.
fn udata(token: u64) -> io::Result<*mut c_void> {
    match usize::try_from(token) {
        Ok(t) => Ok(t as *mut c_void),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "netpoll: token does not fit kqueue's udata",
        )),
    }
}

/// Applies `changes` and collects no events. With nowhere to report
/// per-change errors, the kernel fails the call at the first failing
/// change and skips the rest.
fn apply(kq: BorrowedFd<'_>, changes: &[Event]) -> rustix::io::Result<()> {
    let mut no_events: [Event; 0] = [];
    let zero = timespec(Duration::ZERO);
    loop {
        // kevent requires every fd a change registers to stay valid while
        // registered. `udata` is a token, never dereferenced by anyone, and
        // the kernel drops a closed fd's filters itself.
        // SAFETY: callers register only open fds: a `Registration`'s, whose
        // owner deletes it (EV_DELETE) before closing the fd, and the wake
        // pipe, which outlives the queue.
        match unsafe { kqueue::kevent_timespec(kq, changes, &mut no_events, Some(&zero)) } {
            // kevent(2): EINTR comes after every change was applied. Doing
            // them again is harmless; a repeated delete reports ENOENT,
            // which `close` ignores.
            Err(e) if interrupted(e) => continue,
            res => return res.map(drop),
        }
    }
}

/// The user pointer of the wake source: the token no descriptor carries.
fn wake_udata() -> *mut c_void {
    WAKE_TOKEN as usize as *mut c_void
}

/// An `EVFILT_USER` event, added without EV_CLEAR: once triggered it stays
/// triggered, and every wait reports it, until a blocking wait disables it
/// (Go: drainWakeupEvent). A non-blocking wait leaves it be, so the wake
/// still reaches the sleeper it was meant for.
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly"
))]
struct Wake;

#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly"
))]
impl Wake {
    /// Its ident; user events have their own ident space, and this queue
    /// has no other.
    const IDENT: isize = 0;

    fn change(flags: EventFlags, user: kqueue::UserFlags) -> Event {
        let filter = EventFilter::User {
            ident: Wake::IDENT,
            flags: user,
            user_flags: kqueue::UserDefinedFlags::new(0),
        };
        Event::new(filter, flags, wake_udata())
    }

    fn new(kq: BorrowedFd<'_>) -> io::Result<Wake> {
        let none = kqueue::UserFlags::empty();
        apply(kq, &[Wake::change(EventFlags::ADD, none)])?;
        Ok(Wake)
    }

    fn signal(&self, kq: BorrowedFd<'_>) -> io::Result<()> {
        let trigger = kqueue::UserFlags::TRIGGER;
        apply(kq, &[Wake::change(EventFlags::ENABLE, trigger)])?;
        Ok(())
    }

    fn drain(&self, kq: BorrowedFd<'_>) {
        // Disabled, it stays triggered but unreported; `signal` enables it
        // again. On failure the wake stays visible, a spurious wake at worst.
        let none = kqueue::UserFlags::empty();
        let _ = apply(kq, &[Wake::change(EventFlags::DISABLE, none)]);
    }
}

/// A pipe, read end registered level-triggered (no EV_CLEAR): unread bytes
/// keep it reported by every wait until a blocking wait drains them.
#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
struct Wake {
    r: OwnedFd,
    w: OwnedFd,
}

#[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
impl Wake {
    fn new(kq: BorrowedFd<'_>) -> io::Result<Wake> {
        let (r, w) = super::pipe::nonblocking_pipe()?;
        let read = EventFilter::Read(r.as_raw_fd());
        apply(kq, &[Event::new(read, EventFlags::ADD, wake_udata())])?;
        Ok(Wake { r, w })
    }

    fn signal(&self, _kq: BorrowedFd<'_>) -> io::Result<()> {
        super::pipe::signal(&self.w)
    }

    fn drain(&self, _kq: BorrowedFd<'_>) {
        super::pipe::drain(&self.r);
    }
}
