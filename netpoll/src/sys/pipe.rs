//! A close-on-exec, non-blocking pipe: the wake source of the backends that
//! have no better one (poll(2), kqueue without EVFILT_USER).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// Opens a pipe whose ends are close-on-exec and non-blocking from birth
/// where the kernel allows (pipe2), and right after creation elsewhere.
pub(crate) fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "tvos",
        target_os = "watchos",
        target_os = "visionos"
    )))]
    {
        use rustix::pipe::{pipe_with, PipeFlags};
        Ok(pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?)
    }
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "tvos",
        target_os = "watchos",
        target_os = "visionos"
    ))]
    {
        // Apple has no pipe2: there is a window in which a concurrent
        // fork+exec could inherit these two fds. std's own pipe has the same
        // window on these systems.
        let (r, w) = rustix::pipe::pipe()?;
        for fd in [&r, &w] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
            set_nonblocking(fd.as_fd())?;
        }
        Ok((r, w))
    }
}

/// Writes one byte to a wake pipe. A full pipe already holds a wake.
pub(crate) fn signal(w: impl AsFd) -> io::Result<()> {
    loop {
        match rustix::io::write(&w, &[1]) {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Empties a wake pipe.
pub(crate) fn drain(r: impl AsFd) {
    let mut buf = [0u8; 64];
    loop {
        match rustix::io::read(&r, &mut buf) {
            Ok(n) if n == buf.len() => continue,
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
}

/// Sets O_NONBLOCK on `fd`.
#[allow(dead_code)]
pub(crate) fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}
