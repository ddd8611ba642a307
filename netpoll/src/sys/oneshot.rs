//! Bookkeeping for the level-triggered, one-shot backends (event ports and
//! poll(2)): which directions of each registered descriptor are armed.
//!
//! The discipline is Go's netpollupdate: a waiter arms its direction before
//! it sleeps; when an event fires, the fired directions are disarmed (their
//! waiter has been told and will arm again if it must wait again) and the
//! directions that did not fire stay armed. Without this a level-triggered
//! kernel would report a readable socket nobody reads over and over: a busy
//! loop.

use super::Interest;
use crate::loom_shim::LockExt;
use std::collections::HashMap;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

/// One registered descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) fd: RawFd,
    /// Directions a waiter has asked for and no event has answered yet.
    pub(crate) armed: Interest,
}

/// The result of arming: what the kernel must now be told, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Armed {
    pub(crate) fd: RawFd,
    /// The full armed set after the call.
    pub(crate) interest: Interest,
    /// Whether the set grew (a no-op arm needs no syscall and no wake).
    pub(crate) changed: bool,
}

/// Token → entry, plus the count of blocking waits in progress, both under
/// one lock so that "did a sleeping wait miss this arm?" has one answer.
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub(crate) struct Inner {
    entries: HashMap<u64, Entry>,
    /// Blocking waits that took a snapshot and have not yet returned.
    pub(crate) sleepers: usize,
}

impl Inner {
    /// Directions armed for `token`, if it is registered with `fd`.
    #[cfg(all(test, not(loom), not(miri)))]
    pub(crate) fn armed(&self, token: u64, fd: RawFd) -> Option<Interest> {
        self.entries
            .get(&token)
            .filter(|e| e.fd == fd)
            .map(|e| e.armed)
    }

    /// Disarms the directions in `fired` for `token`, if it is still
    /// registered with `fd` (it may have been closed, and its number reused
    /// by another registration, since the wait took its snapshot). Returns
    /// the directions still armed.
    pub(crate) fn fired(&mut self, token: u64, fd: RawFd, fired: Interest) -> Option<Interest> {
        let e = self.entries.get_mut(&token).filter(|e| e.fd == fd)?;
        e.armed = e.armed.without(fired);
        Some(e.armed)
    }

    /// Every entry with an armed direction.
    pub(crate) fn armed_entries(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.entries
            .iter()
            .filter(|(_, e)| !e.armed.is_empty())
            .map(|(t, e)| (*t, *e))
    }
}

impl Registry {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Adds `fd` under `token`, nothing armed.
    pub(crate) fn insert(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut inner = self.lock();
        if inner.entries.contains_key(&token) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "netpoll: token registered twice",
            ));
        }
        inner.entries.insert(
            token,
            Entry {
                fd: fd.as_raw_fd(),
                armed: Interest::NONE,
            },
        );
        Ok(())
    }

    /// Removes `token`; returns its entry and whether a sleeping wait may
    /// still be watching it (and so should be woken to let go of it).
    pub(crate) fn remove(&self, token: u64) -> Option<(Entry, bool)> {
        let mut inner = self.lock();
        let sleepers = inner.sleepers > 0;
        inner
            .entries
            .remove(&token)
            .map(|e| (e, sleepers && !e.armed.is_empty()))
    }

    /// Adds `interest` to the armed set of `token` and calls `apply` with
    /// the result while still holding the lock, so that the kernel sees
    /// arm and re-association in the order the registry does. Returns the
    /// result and whether a sleeping wait took its snapshot without it.
    pub(crate) fn arm(
        &self,
        token: u64,
        interest: Interest,
        apply: impl FnOnce(Armed) -> io::Result<()>,
    ) -> io::Result<(Armed, bool)> {
        let mut inner = self.lock();
        let sleepers = inner.sleepers > 0;
        let entry = inner.entries.get_mut(&token).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "netpoll: arming a descriptor that is not registered",
            )
        })?;
        let before = entry.armed;
        let armed = Armed {
            fd: entry.fd,
            interest: before | interest,
            changed: before | interest != before,
        };
        if armed.changed {
            apply(armed)?;
            entry.armed = armed.interest;
        }
        Ok((armed, sleepers && armed.changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    #[cfg_attr(miri, ignore = "makes a pipe: Miri runs the tests without syscalls")]
    fn fired_directions_disarm_and_the_others_stay() {
        let reg = Registry::default();
        let (r, _w) = super::super::pipe::nonblocking_pipe().unwrap();
        reg.insert(r.as_fd(), 7).unwrap();
        let (a, _) = reg.arm(7, Interest::READ, |_| Ok(())).unwrap();
        assert!(a.changed);
        let (a, _) = reg.arm(7, Interest::WRITE, |_| Ok(())).unwrap();
        assert_eq!(a.interest, Interest::READ | Interest::WRITE);
        let (a, _) = reg.arm(7, Interest::READ, |_| Ok(())).unwrap();
        assert!(!a.changed, "arming an armed direction is a no-op");
        use std::os::fd::AsRawFd;
        let left = reg.lock().fired(7, r.as_raw_fd(), Interest::READ);
        assert_eq!(left, Some(Interest::WRITE));
        // A stale snapshot (other fd number under the token) changes nothing.
        assert_eq!(reg.lock().fired(7, -5, Interest::WRITE), None);
        assert!(reg.remove(7).is_some());
        assert!(reg.arm(7, Interest::READ, |_| Ok(())).is_err());
    }
}
