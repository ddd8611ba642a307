//! The standard streams (Go: os.Stdin, os.Stdout, os.Stderr).
//!
//! Each handle owns a duplicate of fd 0, 1 or 2, so closing or dropping it
//! never closes the process's own stream. The open file description is
//! shared with the parent process (a shell, say), and `O_NONBLOCK` lives
//! there: setting it would make the parent's own reads fail with `EAGAIN`.
//! So, as Go does, the flags are left alone: a stream that is already
//! non-blocking and pollable (a pipe, tty or socket someone set up so) goes
//! through the poller; any other, the usual case, does its I/O on the
//! blocking pool.

use crate::fs::fdio::{fdio_has_fd, FdIo, Origin};
use crate::net::common::fd_methods;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

macro_rules! stdio {
    ($(#[$doc:meta])* $name:ident, $ctor:ident, $std:expr, $setup:literal) => {
        $(#[$doc])*
        pub struct $name {
            io: FdIo,
        }

        #[doc = concat!("Opens a handle on the process's ", stringify!($ctor), " (a duplicate of its fd; see [`", stringify!($name), "`]).")]
        ///
        /// # Example
        ///
        /// ```
        #[doc = $setup]
        /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
        /// ```
        pub fn $ctor() -> io::Result<$name> {
            Ok($name {
                io: FdIo::new(duplicate($std)?, Origin::Adopted)?,
            })
        }

        impl $name {
            /// Whether the stream goes through the poller (see the module
            /// docs); if not, its I/O runs on the blocking pool.
            pub fn is_pollable(&self) -> bool {
                self.io.is_pollable()
            }
        }

        fdio_has_fd!($name);

        fd_methods!($name, $setup);
    };
}

stdio!(
    /// The process's standard input.
    ///
    /// Go: `os.Stdin`.
    Stdin, stdin, std::io::stdin().as_fd(),
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let s = netpoll::io::stdin()?;"
);
stdio!(
    /// The process's standard output. Writes go straight to the fd,
    /// bypassing the buffer of `std::io::stdout()`.
    ///
    /// Go: `os.Stdout`.
    Stdout, stdout, std::io::stdout().as_fd(),
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let s = netpoll::io::stdout()?;"
);
stdio!(
    /// The process's standard error.
    ///
    /// Go: `os.Stderr`.
    Stderr, stderr, std::io::stderr().as_fd(),
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let s = netpoll::io::stderr()?;"
);

impl Stdin {
    /// Reads into `buf`; 0 at end of input.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }
}

impl Stdout {
    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }
}

impl Stderr {
    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }
}

/// A close-on-exec duplicate of a standard fd.
fn duplicate(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 3)?)
}
