//! Reaping the pidfd children whose `Child` was dropped before they were
//! waited for, so none is left a zombie (Go leaves this to the user; tokio
//! keeps an orphan queue).
//!
//! One thread per process, started on first use, sleeps in poll(2) on the
//! orphans' pidfds and a wake pipe, and reaps each one when it turns
//! readable. A runtime may shut down long before its children exit, so
//! this cannot be a task.

use super::pidfd::reap;
use crate::loom_shim::LockExt;
use rustix::event::{poll, PollFd, PollFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

struct Orphans {
    pidfds: Mutex<Vec<OwnedFd>>,
    /// Write end: a new orphan interrupts the thread's poll.
    wake: OwnedFd,
}

/// Takes over the pidfd of a child nobody will wait for.
pub(crate) fn adopt(pidfd: OwnedFd) {
    if !still_running(&pidfd) {
        return;
    }
    match orphans() {
        Some(o) => {
            o.pidfds.locked().push(pidfd);
            let _ = crate::sys::pipe::signal(&o.wake);
        }
        // No thread: the child is left for the process's end.
        None => drop(pidfd),
    }
}

fn orphans() -> Option<&'static Orphans> {
    static ORPHANS: OnceLock<Option<Orphans>> = OnceLock::new();
    ORPHANS
        .get_or_init(|| {
            let (r, w) = crate::sys::pipe::nonblocking_pipe().ok()?;
            std::thread::Builder::new()
                .name("netpoll-orphans".into())
                .spawn(move || run(r))
                .ok()?;
            Some(Orphans {
                pidfds: Mutex::new(Vec::new()),
                wake: w,
            })
        })
        .as_ref()
}

fn run(wake: OwnedFd) {
    loop {
        let Some(o) = orphans() else { return };
        // Poll a snapshot of duplicates, so the list's lock is not held
        // while sleeping.
        let fds: Vec<OwnedFd> = o
            .pidfds
            .locked()
            .iter()
            .filter_map(|fd| fd.try_clone().ok())
            .collect();
        let mut polled: Vec<PollFd<'_>> = std::iter::once(&wake)
            .chain(fds.iter())
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        let _ = poll(&mut polled, None);
        drop(polled);
        crate::sys::pipe::drain(&wake);
        o.pidfds.locked().retain(still_running);
    }
}

/// Reaps the child if it has exited; whether it still runs. A child that
/// `waitid` no longer knows (ECHILD: other code reaped it) is done too:
/// keeping its pidfd, readable for good, would spin this thread.
fn still_running(pidfd: &OwnedFd) -> bool {
    matches!(reap(pidfd.as_fd()), Ok(None))
}
