//! Linux epoll: every descriptor registered once, edge-triggered, for both
//! directions and peer hang-up (Go: runtime/netpoll_epoll.go).

use super::{interrupted, timespec, Events, Interest, Readiness, MAX_EVENTS, WAKE_TOKEN};
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

pub(crate) struct Epoll {
    ep: OwnedFd,
    /// eventfd, registered level-triggered: a wake stays visible to every
    /// wait until a blocking wait reads it.
    wake: OwnedFd,
}

impl Epoll {
    /// Which [`Poller`](super::Poller) this is.
    pub(crate) const KIND: super::Poller = super::Poller::Epoll;

    /// `epoll_data` is a 64-bit union on every Linux, 32-bit ones
    /// included: a token keeps all of its bits.
    pub(crate) const TOKEN_BITS: u32 = 64;

    pub(crate) fn new() -> io::Result<Epoll> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(&ep, &wake, EventData::new_u64(WAKE_TOKEN), EventFlags::IN)?;
        Ok(Epoll { ep, wake })
    }

    pub(crate) fn open(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        // PRI: urgent data must be seen, or a stream read that stopped at
        // the urgent mark would be taken for one that drained the socket.
        let flags =
            EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::PRI | EventFlags::ET;
        epoll::add(&self.ep, fd, EventData::new_u64(token), flags)?;
        Ok(())
    }

    pub(crate) fn close(&self, fd: BorrowedFd<'_>, _token: u64) -> io::Result<()> {
        epoll::delete(&self.ep, fd)?;
        Ok(())
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
        let mut buf = [MaybeUninit::<epoll::Event>::uninit(); MAX_EVENTS];
        let ts = timeout.map(timespec);
        let got = match epoll::wait(&self.ep, &mut buf, ts.as_ref()) {
            Ok((got, _)) => got,
            Err(e) if interrupted(e) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let mut woken = false;
        for ev in got.iter() {
            let token = ev.data.u64();
            if token == WAKE_TOKEN {
                woken = true;
                continue;
            }
            events.push(token, translate(ev.flags));
        }
        if woken && consume_wake {
            let mut buf = [0u8; 8];
            // Nothing to do on failure: EAGAIN means another blocking wait
            // already drained it.
            let _ = rustix::io::read(&self.wake, &mut buf);
        }
        Ok(woken)
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        loop {
            match rustix::io::write(&self.wake, &1u64.to_ne_bytes()) {
                // EAGAIN: the counter is saturated, a wake is pending anyway.
                Ok(_) | Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(e) if interrupted(e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Go's translation: anything but plain writability lets a read retry, and
/// EPOLLERR alone marks an event error.
fn translate(flags: EventFlags) -> Readiness {
    let broken = EventFlags::HUP | EventFlags::ERR;
    Readiness {
        read: flags.intersects(EventFlags::IN | EventFlags::PRI | EventFlags::RDHUP | broken),
        write: flags.intersects(EventFlags::OUT | broken),
        error: flags == EventFlags::ERR,
        hangup: flags.intersects(EventFlags::RDHUP | broken),
        urgent: flags.contains(EventFlags::PRI),
    }
}
