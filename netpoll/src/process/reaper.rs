//! The SIGCHLD reaper: the fallback where pidfds are missing or refused,
//! and the only path off Linux.
//!
//! After each SIGCHLD, netpoll's signal thread (one per process, not per
//! child; `sys/sigchld.rs`, `sys/signal/`) tries `waitpid(pid, WNOHANG)`
//! for every child the reaper tracks (never `waitpid(-1)`, which would
//! steal the children of other code) and wakes their waiters. Signals are
//! sent under the same lock that reaping holds, and only to a child not yet
//! reaped: until we reap it, its PID stays a zombie's and cannot be
//! recycled, so a PID is never signalled after its process is gone.

use crate::loom_shim::LockExt;
use crate::metrics;
use rustix::process::{kill_process, test_kill_process, waitpid, Pid, Signal, WaitOptions};
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Mutex, OnceLock};
use std::task::{Poll, Waker};

#[derive(Default)]
struct Entry {
    status: Option<Reaped>,
    wakers: Vec<Waker>,
    /// Its `Child` is gone: forget the entry once reaped.
    orphan: bool,
}

/// How a child's wait ended.
#[derive(Clone, Copy, Debug)]
enum Reaped {
    /// We reaped it: its status.
    Exited(ExitStatus),
    /// `waitpid` said ECHILD: other code reaped it first (its own
    /// `waitpid`, or SIGCHLD set to SIG_IGN after our handler went in), so
    /// its status is gone. Waiting on would wait for ever.
    Lost,
}

impl Reaped {
    fn status(self) -> io::Result<ExitStatus> {
        match self {
            Reaped::Exited(s) => Ok(s),
            Reaped::Lost => Err(io::Error::from_raw_os_error(
                rustix::io::Errno::CHILD.raw_os_error(),
            )),
        }
    }
}

struct Reaper {
    children: Mutex<HashMap<u32, Entry>>,
}

/// The reaper, its SIGCHLD handler installed. A failure to install it
/// (the signal pipe or thread could not be made: EMFILE) is tried again
/// by the next caller, not kept for the life of the process.
fn reaper() -> io::Result<&'static Reaper> {
    static REAPER: OnceLock<Reaper> = OnceLock::new();
    let r = REAPER.get_or_init(|| Reaper {
        children: Mutex::new(HashMap::new()),
    });
    // One atomic load once done.
    crate::sys::sigchld::watch(on_sigchld)?;
    Ok(r)
}

/// Called on the signal thread after SIGCHLDs.
fn on_sigchld() {
    if let Ok(r) = reaper() {
        r.reap_all();
    }
}

impl Reaper {
    fn reap_all(&self) {
        let mut woken = Vec::new();
        let mut children = self.children.locked();
        children.retain(|&pid, e| {
            if e.status.is_none() {
                e.status = try_reap(pid);
                if e.status.is_some() {
                    woken.append(&mut e.wakers);
                }
            }
            !(e.orphan && e.status.is_some())
        });
        drop(children);
        woken.into_iter().for_each(Waker::wake);
    }
}

/// `waitpid(pid, WNOHANG)` for one of our children: `None` while it runs.
fn try_reap(pid: u32) -> Option<Reaped> {
    let pid = Pid::from_raw(pid as i32)?;
    loop {
        match waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => {
                metrics::add(&metrics::CHILDREN_REAPED, 1);
                return Some(Reaped::Exited(ExitStatus::from_raw(status.as_raw())));
            }
            Ok(None) => return None,
            Err(rustix::io::Errno::INTR) => {}
            // A child of ours that `waitpid` does not know was reaped by
            // someone else.
            Err(rustix::io::Errno::CHILD) => return Some(Reaped::Lost),
            Err(_) => return None,
        }
    }
}

/// A child the reaper tracks.
pub(crate) struct Tracked {
    pid: u32,
    /// A placeholder that tracks nothing (a `Child` being dropped).
    detached: bool,
}

impl Tracked {
    /// Starts the reaper, installing the SIGCHLD handler, if that has not
    /// happened yet: called before spawning a child that will be tracked.
    pub(crate) fn prepare() -> io::Result<()> {
        reaper().map(drop)
    }

    /// Starts tracking `pid`, a child we just spawned. A SIGCHLD that came
    /// before this call found nothing to reap; the check here covers it.
    /// Check and insert share one lock hold: a child exiting between them
    /// would otherwise have its SIGCHLD handled before the entry exists,
    /// and stay a zombie.
    pub(crate) fn new(pid: u32) -> io::Result<Tracked> {
        let mut children = reaper()?.children.locked();
        let status = try_reap(pid);
        children.insert(
            pid,
            Entry {
                status,
                ..Entry::default()
            },
        );
        Ok(Tracked {
            pid,
            detached: false,
        })
    }

    /// A placeholder that tracks nothing and does nothing when dropped.
    pub(crate) fn detached(pid: u32) -> Tracked {
        Tracked {
            pid,
            detached: true,
        }
    }

    pub(crate) async fn wait(&self) -> io::Result<ExitStatus> {
        let r = reaper()?;
        poll_fn(|cx| {
            let mut children = r.children.locked();
            let e = children.entry(self.pid).or_default();
            if e.status.is_none() {
                e.status = try_reap(self.pid);
            }
            match e.status {
                Some(r) => Poll::Ready(r.status()),
                None => {
                    if !e.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        e.wakers.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    pub(crate) fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        let mut children = reaper()?.children.locked();
        let e = children.entry(self.pid).or_default();
        if e.status.is_none() {
            e.status = try_reap(self.pid);
        }
        e.status.map(Reaped::status).transpose()
    }

    /// Sends `sig` by PID, or with `sig` `None` the null signal (Go:
    /// `Signal(0)`, the liveness probe), unless the child has been reaped
    /// (then `None`).
    pub(crate) fn signal(&self, sig: Option<Signal>) -> io::Result<Option<()>> {
        let children = reaper()?.children.locked();
        if children.get(&self.pid).is_some_and(|e| e.status.is_some()) {
            return Ok(None);
        }
        let pid = Pid::from_raw(self.pid as i32).ok_or_else(|| io::Error::other("bad pid"))?;
        // Under the lock: the reaper cannot reap (and free the PID) now.
        match sig {
            Some(sig) => kill_process(pid, sig)?,
            None => test_kill_process(pid)?,
        }
        metrics::add(&metrics::SIGNALS_BY_PID, 1);
        Ok(Some(()))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let Ok(r) = reaper() else { return };
        let mut children = r.children.locked();
        match children.get_mut(&self.pid) {
            // Exited (or exiting now, its SIGCHLD not yet handled): reap
            // it here rather than count on a later signal.
            Some(e) if e.status.is_some() || try_reap(self.pid).is_some() => {
                children.remove(&self.pid);
            }
            // Reaped in the background when it exits.
            Some(e) => e.orphan = true,
            None => {}
        }
    }
}
