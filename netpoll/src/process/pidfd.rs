//! Children held by a pidfd (Linux ≥ 5.3; Go: os/pidfd_linux.go).
//!
//! A pidfd names one process for as long as the fd is open, even after
//! the process exits and its PID is recycled. Waiting is the pidfd turning
//! readable in the poller, then `waitid(P_PIDFD, WEXITED|WNOHANG)`;
//! signals go through `pidfd_send_signal`. Nothing here ever uses the PID
//! after the spawn.
//!
//! The pidfd is opened with `pidfd_open` right after `fork`/`exec`
//! returns, not by `clone3(CLONE_PIDFD)`: std's spawn (which does the hard
//! parts of exec error reporting, `pre_exec` and signal masks soundly) has
//! no stable way to ask for one. That window is safe because only a wait
//! can free the PID of our child, and every wait on it goes through this
//! module; a program that reaps children it did not spawn (`waitpid(-1)`)
//! breaks every runtime's process handling alike.

use crate::poll::fd::Fd;
use crate::poll::fdlock::Side;
use crate::runtime::Handle;
use rustix::process::{
    pidfd_open, pidfd_send_signal, waitid, PidfdFlags, Signal, WaitId, WaitIdOptions, WaitIdStatus,
};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::OnceLock;

/// Whether the whole pidfd path works here: open, wait and signal (Go:
/// checkPidfd). Seccomp filters and old kernels refuse some of them with
/// ENOSYS or EPERM; then the SIGCHLD reaper is used.
pub(crate) fn available() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let Ok(me) = pidfd_open(rustix::process::getpid(), PidfdFlags::NONBLOCK) else {
            return false;
        };
        // The null signal checks permission and existence, sending nothing.
        if crate::sys::pidfd::send_null_signal(me.as_fd()).is_err() {
            return false;
        }
        // Waiting on ourselves is ECHILD when the call exists.
        !matches!(
            waitid(
                WaitId::PidFd(me.as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG
            ),
            Err(rustix::io::Errno::NOSYS) | Err(rustix::io::Errno::PERM)
        )
    })
}

/// Opens the pidfd of a child we just spawned.
pub(crate) fn open(child: &std::process::Child) -> io::Result<OwnedFd> {
    Ok(pidfd_open(
        rustix::process::Pid::from_child(child),
        PidfdFlags::NONBLOCK,
    )?)
}

/// A child held by its pidfd, registered with the runtime's poller.
pub(crate) struct PidfdChild {
    fd: Fd,
}

impl PidfdChild {
    pub(crate) fn new(pidfd: OwnedFd, handle: &Handle) -> io::Result<PidfdChild> {
        Ok(PidfdChild {
            fd: Fd::new(handle.register(pidfd)?),
        })
    }

    /// Waits for the exit and reaps. Readiness without an exit (a ptrace
    /// stop, tokio #7144) just means waiting again.
    pub(crate) async fn wait(&self) -> io::Result<ExitStatus> {
        self.fd
            .io(Side::Read, |fd| {
                reap(fd)?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
            })
            .await
    }

    /// Reaps if the child has exited.
    pub(crate) fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        self.fd.with(reap)
    }

    /// Sends `sig` through the pidfd, or with `None` the null signal (Go:
    /// `Signal(0)`, the liveness probe); `ESRCH` means it has been reaped.
    pub(crate) fn signal(&self, sig: Option<Signal>) -> io::Result<()> {
        self.fd.with(|fd| match sig {
            Some(sig) => Ok(pidfd_send_signal(fd, sig)?),
            // rustix's pidfd_send_signal takes only real signals.
            None => crate::sys::pidfd::send_null_signal(fd),
        })
    }

    /// Hands the pidfd over (for the orphan reaper).
    pub(crate) fn into_owned(self) -> io::Result<OwnedFd> {
        self.fd.into_owned()
    }
}

/// `waitid(P_PIDFD, WEXITED|WNOHANG)`, as an exit status.
pub(crate) fn reap(fd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    loop {
        match waitid(
            WaitId::PidFd(fd),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        ) {
            Ok(status) => {
                let status = status.and_then(|s| exit_status(&s));
                if status.is_some() {
                    crate::metrics::add(&crate::metrics::CHILDREN_REAPED, 1);
                }
                return Ok(status);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The wait status std understands, rebuilt from waitid's fields.
fn exit_status(s: &WaitIdStatus) -> Option<ExitStatus> {
    if let Some(code) = s.exit_status() {
        return Some(ExitStatus::from_raw((code & 0xff) << 8));
    }
    let sig = s.terminating_signal()?;
    Some(ExitStatus::from_raw(
        sig | if s.dumped() { 0x80 } else { 0 },
    ))
}
