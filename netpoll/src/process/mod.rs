//! Child processes held by pidfd, waited for through the poller (Go:
//! os/exec, os.Process; tokio: tokio::process).
//!
//! # Guarantees
//!
//! On Linux ≥ 5.3 each child is held by a **pidfd**, a handle on that one
//! process that stays valid after it exits and its PID is reused:
//!
//! - waiting is the pidfd turning readable in the poller, then
//!   `waitid(P_PIDFD)`: no thread blocks, no SIGCHLD handler is needed;
//! - [`Child::kill`] and [`Child::signal`] go through `pidfd_send_signal`,
//!   so a signal can never reach a process that merely inherited the PID
//!   (tokio still kills by PID: tokio #6141);
//! - once the child has been reaped, `kill` and `signal` send nothing and
//!   fail with an error [`is_process_done`] recognises (Go:
//!   `os.ErrProcessDone`); `wait` after `wait` returns the same status.
//!   `signal(0)` is the liveness probe built on this (Go: `Signal(0)`):
//!   `Ok` until the reap, the process-done error after it.
//!
//! Whether the pidfd path works is probed once (pidfd_open, waitid and
//! pidfd_send_signal must all be allowed; seccomp sandboxes refuse some).
//! Where it does not, and off Linux, a **SIGCHLD reaper** takes over: one
//! thread for the whole process, woken by the signal through a pipe, reaps
//! each tracked child with `waitpid(pid, WNOHANG)` (never `waitpid(-1)`)
//! and signals a child by PID only while it is unreaped, under the lock
//! the reaping takes, so the PID cannot have been recycled. The fallback is
//! chosen with [`Builder::pidfd(false)`](crate::runtime::Builder::pidfd)
//! or `NETPOLL_PIDFD=0`, which the test suite uses to run both paths.
//!
//! A `Child` dropped before it was waited for is reaped in the background
//! when it exits (no zombies); with [`Command::kill_on_drop`] it is killed
//! first. The child's stdio pipes are poller-backed.
//!
//! # Example
//!
//! ```
//! use netpoll::process::Command;
//! netpoll::runtime::Runtime::new()?.block_on(async {
//!     let out = Command::new("echo").arg("hello").output().await?;
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, b"hello\n");
//!
//!     let mut child = Command::new("sleep").arg("10").spawn()?;
//!     child.kill()?;
//!     let status = child.wait().await?;
//!     assert!(!status.success());
//!     // Reaped: nothing is sent, whoever has the PID now.
//!     assert!(netpoll::process::is_process_done(&child.kill().unwrap_err()));
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod command;
#[cfg(target_os = "linux")]
mod orphans;
#[cfg(target_os = "linux")]
mod pidfd;
mod reaper;
mod stdio;

pub use command::{Child, Command};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

use std::fmt;
use std::io;

/// The payload of the error a signal to a reaped child returns.
#[derive(Debug)]
struct ProcessDone;

impl fmt::Display for ProcessDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("process already finished")
    }
}

impl std::error::Error for ProcessDone {}

fn process_done() -> io::Error {
    io::Error::other(ProcessDone)
}

/// Whether `err` says the process had already finished (and been reaped),
/// so nothing was sent.
///
/// Go: `errors.Is(err, os.ErrProcessDone)`.
///
/// # Example
///
/// ```
/// assert!(!netpoll::process::is_process_done(&std::io::Error::other("x")));
/// ```
pub fn is_process_done(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<ProcessDone>())
}
