//! poll(2): the portable backend, level-triggered and driven one-shot like
//! event ports, so that discipline runs (and is tested) on Linux. Go's
//! closest relative is runtime/netpoll_aix.go.
//!
//! Each wait snapshots the armed descriptors under the registry lock and
//! polls them together with the wake pipe. Arming a direction or closing a
//! descriptor while a wait sleeps on an older snapshot writes to the wake
//! pipe, so the sleeper returns, and the next wait polls the new set. The
//! close case matters beyond freshness: poll(2) holds a reference to every
//! file in its set until it returns, so a closed pipe end would otherwise
//! keep its peer from seeing EOF.

use super::oneshot::Registry;
use super::pipe::{drain, nonblocking_pipe, signal};
use super::{interrupted, timespec, Events, Interest, Readiness};
use rustix::event::{PollFd, PollFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

pub(crate) struct Poll {
    reg: Registry,
    wake_r: OwnedFd,
    wake_w: OwnedFd,
}

impl Poll {
    /// Which [`Poller`](super::Poller) this is.
    pub(crate) const KIND: super::Poller = super::Poller::Poll;

    /// Tokens live in this backend's own table, never in the kernel.
    pub(crate) const TOKEN_BITS: u32 = 64;

    pub(crate) fn new() -> io::Result<Poll> {
        let (wake_r, wake_w) = nonblocking_pipe()?;
        Ok(Poll {
            reg: Registry::default(),
            wake_r,
            wake_w,
        })
    }

    pub(crate) fn open(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.reg.insert(fd, token)
    }

    pub(crate) fn close(&self, _fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        match self.reg.remove(token) {
            Some((_, true)) => signal(&self.wake_w),
            Some((_, false)) => Ok(()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    pub(crate) fn arm(&self, token: u64, interest: Interest) -> io::Result<()> {
        let (_, missed_by_sleeper) = self.reg.arm(token, interest, |_| Ok(()))?;
        if missed_by_sleeper {
            signal(&self.wake_w)?;
        }
        Ok(())
    }

    pub(crate) fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        consume_wake: bool,
    ) -> io::Result<bool> {
        let sleeping = timeout != Some(Duration::ZERO);
        let snapshot: Vec<(u64, RawFd, Interest)> = {
            let mut inner = self.reg.lock();
            if sleeping {
                inner.sleepers += 1;
            }
            inner
                .armed_entries()
                .map(|(token, e)| (token, e.fd, e.armed))
                .collect()
        };
        let mut fds = Vec::with_capacity(snapshot.len() + 1);
        fds.push(PollFd::from_borrowed_fd(self.wake_r.as_fd(), PollFlags::IN));
        for &(_, fd, interest) in &snapshot {
            // `fd` was registered by an owner that deregisters before it
            // closes, but it may do both while this wait runs, after the
            // snapshot was taken. poll(2) validates every number itself: a
            // closed one yields POLLNVAL, a reused one an event under the old
            // token, which the poll descriptor's sequence check drops.
            // SAFETY: the borrow only reaches poll(2) and never outlives
            // this call; a stale number is harmless there (see above).
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            fds.push(PollFd::from_borrowed_fd(fd, flags(interest)));
        }
        let ts = timeout.map(timespec);
        let res = rustix::event::poll(&mut fds, ts.as_ref());

        let mut inner = self.reg.lock();
        if sleeping {
            inner.sleepers -= 1;
        }
        match res {
            Ok(_) => {}
            Err(e) if interrupted(e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let woken = !fds[0].revents().is_empty();
        for (pfd, &(token, fd, _)) in fds[1..].iter().zip(&snapshot) {
            let revents = pfd.revents();
            if revents.is_empty() {
                continue;
            }
            let ready = Readiness::from_poll_flags(revents);
            // One-shot: what fired is disarmed until its waiter arms it
            // again; the rest stays armed (Go: netpollupdate).
            inner.fired(token, fd, ready.as_interest());
            events.push(token, ready);
        }
        drop(inner);
        if woken && consume_wake {
            drain(&self.wake_r);
        }
        Ok(woken)
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        signal(&self.wake_w)
    }

    /// Directions armed for `token` (tests only).
    #[cfg(all(test, not(loom), not(miri)))]
    pub(crate) fn armed(&self, token: u64, fd: RawFd) -> Option<Interest> {
        self.reg.lock().armed(token, fd)
    }
}

fn flags(interest: Interest) -> PollFlags {
    let mut f = PollFlags::empty();
    if interest.contains(Interest::READ) {
        f |= PollFlags::IN;
    }
    if interest.contains(Interest::WRITE) {
        f |= PollFlags::OUT;
    }
    f
}
