//! illumos and Solaris event ports, level-triggered and one-shot (Go:
//! runtime/netpoll_solaris.go). The kernel drops a descriptor's
//! association when it queues an event for it, so `arm` associates the
//! full armed set, and a wait re-associates whatever did not fire.

use super::oneshot::Registry;
use super::{interrupted, Events, Interest, Readiness, MAX_EVENTS, WAKE_TOKEN};
use libc::{c_uint, c_void, port_event as PortEvent, PORT_SOURCE_FD, PORT_SOURCE_USER};
use rustix::event::port::{self, PollFlags};
use rustix::io::Errno;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

// Longer timeouts are cut to this (Go does the same); a wait cut short
// just returns early, empty.
use super::MAX_WAIT;

pub(crate) struct Port {
    port: OwnedFd,
    reg: Registry,
}

impl Port {
    /// Which [`Poller`](super::Poller) this is.
    pub(crate) const KIND: super::Poller = super::Poller::EventPorts;

    /// The user value is a pointer: 32 bits on a 32-bit target, where the
    /// poll layer packs tokens narrower (see `poll::token`).
    pub(crate) const TOKEN_BITS: u32 = usize::BITS;

    pub(crate) fn new() -> io::Result<Port> {
        let port = port::create()?;
        // port_create takes no flags; set close-on-exec at once, as Go does.
        rustix::io::fcntl_setfd(&port, rustix::io::FdFlags::CLOEXEC)?;
        Ok(Port {
            port,
            reg: Registry::default(),
        })
    }

    pub(crate) fn open(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        // Nothing is armed yet, so the kernel has nothing to watch.
        self.reg.insert(fd, token)
    }

    pub(crate) fn close(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        // Out of the registry first: no wait or arm re-associates it after.
        if self.reg.remove(token).is_none() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        // rustix asks that `fd` was associated through `associate_fd`, so as
        // not to undo someone else's association. If there is none (never
        // armed, or dropped by the kernel when an event fired) the kernel
        // says ENOENT and nothing changes.
        // SAFETY: this port is private to this backend, so any association
        // of `fd` with it is ours, made under this token.
        match unsafe { port::dissociate_fd(&self.port, fd) } {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn arm(&self, token: u64, interest: Interest) -> io::Result<()> {
        // Association acts at once, even on a wait already asleep in
        // port_getn, so a sleeper that "missed" this arm needs no wake.
        let (_, _missed_by_sleeper) = self.reg.arm(token, interest, |a| {
            associate(self.port.as_fd(), a.fd, a.interest, token)
        })?;
        Ok(())
    }

    pub(crate) fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        consume_wake: bool,
    ) -> io::Result<bool> {
        let mut buf = [MaybeUninit::<PortEvent>::uninit(); MAX_EVENTS];
        let got = match getn(
            self.port.as_fd(),
            &mut buf,
            timeout.map(|d| d.min(MAX_WAIT)),
        ) {
            Ok(got) => got,
            Err(e) if interrupted(e) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let mut woken = false;
        let mut inner = self.reg.lock();
        for ev in got {
            let token = ev.portev_user as usize as u64;
            match libc::c_int::from(ev.portev_source) {
                PORT_SOURCE_USER if token == WAKE_TOKEN => woken = true,
                PORT_SOURCE_FD => {
                    let fd = ev.portev_object as RawFd;
                    let flags = PollFlags::from_bits_truncate(ev.portev_events as _);
                    let mut ready = Readiness::from_poll_flags(flags);
                    // What fired is disarmed; the rest goes back to the
                    // kernel (Go: netpollupdate). `fired` is None if the
                    // token was closed meanwhile: its fd may be reused.
                    let left = inner.fired(token, fd, ready.as_interest());
                    if let Some(left) = left.filter(|l| !l.is_empty()) {
                        if associate(self.port.as_fd(), fd, left, token).is_err() {
                            // Unwatched, the rest would never fire. Report it
                            // instead: its waiters retry, and their next arm
                            // returns the error if it persists.
                            inner.fired(token, fd, left);
                            ready.read |= left.contains(Interest::READ);
                            ready.write |= left.contains(Interest::WRITE);
                        }
                    }
                    events.push(token, ready);
                }
                // Nothing else is ever sent to this port.
                _ => {}
            }
        }
        drop(inner);
        if woken && !consume_wake {
            // Retrieving a port_send event consumes it. Send it again so the
            // wake still reaches the blocking wait it was meant for; the
            // Selector sends no other until that wait has seen this one.
            self.wake()?;
        }
        Ok(woken)
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        port::send(&self.port, 0, WAKE_TOKEN as usize as *mut c_void)?;
        Ok(())
    }
}

/// Associates `fd` with the port for the `interest` directions, replacing
/// any earlier association.
fn associate(port: BorrowedFd<'_>, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
    let mut flags = PollFlags::empty();
    if interest.contains(Interest::READ) {
        flags |= PollFlags::IN;
    }
    if interest.contains(Interest::WRITE) {
        flags |= PollFlags::OUT;
    }
    // The poll layer packs tokens to `Port::TOKEN_BITS`, the pointer's
    // width; one that did not fit would be refused rather than truncated.
    let user = usize::try_from(token).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "netpoll: token does not fit the event port's user pointer",
        )
    })? as *mut c_void;
    // port_associate requires `fd` to stay valid while associated. The
    // kernel also drops a closed fd's association itself, and `user` is a
    // token, never dereferenced.
    // SAFETY: callers hold the registry lock and take `fd` from a live
    // entry, whose owner removes it (then dissociates) before closing `fd`.
    unsafe { port::associate_fd(port, fd, flags, user)? };
    Ok(())
}

/// port_getn(3C) for at least one event, or none once `timeout` runs out.
///
/// The one libc call of this crate (rustix's `port::getn` cannot do this).
/// Not rustix's `port::getn`: when the timer fires as events arrive, the
/// kernel returns those events together with ETIME, and an `Err` cannot
/// carry them. Dropped, they would be lost for good, their fds already
/// dissociated (Go, libuv and APR keep them too). EINTR brings none.
fn getn<'a>(
    port: BorrowedFd<'_>,
    buf: &'a mut [MaybeUninit<PortEvent>; MAX_EVENTS],
    timeout: Option<Duration>,
) -> rustix::io::Result<&'a [PortEvent]> {
    let mut ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_mut()
        .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
    let mut nget: c_uint = 1;
    // SAFETY: `buf` has room for the MAX_EVENTS events the kernel may
    // write; `nget` and `ts` are live locals, and a null timeout means
    // "wait indefinitely". `port` is an open event port.
    let rc = unsafe {
        libc::port_getn(
            port.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            MAX_EVENTS as c_uint,
            &mut nget,
            ts_ptr,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let err = Errno::from_raw_os_error(err);
        // Only with ETIME has `nget` been set (possibly to 0).
        if err != Errno::TIME {
            return Err(err);
        }
    }
    let n = (nget as usize).min(MAX_EVENTS);
    // SAFETY: the kernel initialized the first `nget` entries of `buf`
    // (at most MAX_EVENTS, the `max` it was given).
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<PortEvent>(), n) })
}
