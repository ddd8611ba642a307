//! The null signal through a pidfd, for the pidfd probe (Go:
//! checkPidfd) and the liveness probe `Child::signal(0)` (Go:
//! `Signal(0)`). rustix's `pidfd_send_signal` takes only real signals, so
//! this one raw syscall goes through libc.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `pidfd_send_signal(fd, 0, NULL, 0)`: checks that the call is allowed
/// and the process exists, delivering nothing.
pub(crate) fn send_null_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the arguments are a valid fd, the null signal, a null info
    // pointer (allowed by the call) and no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
