//! I/O helpers shared by every fd-backed type, pipes, stdio, and the
//! zero-copy [`copy`].
//!
//! # The decision table of `copy` (Linux)
//!
//! | source | destination | path |
//! |---|---|---|
//! | regular file | regular file, not `O_APPEND`, not the same file | `copy_file_range` |
//! | regular file | socket or pipe | `sendfile` |
//! | socket or pipe | socket, pipe, or regular file not `O_APPEND` | `splice` through a pooled pipe |
//! | anything else | | a 64 KiB buffer in user space |
//!
//! A kernel path that the kernel refuses before moving anything (`EXDEV`,
//! `EINVAL`, `ENOSYS`, `EOPNOTSUPP`, `EPERM`, `EIO`) falls back to the
//! buffer, with identical output; so does `copy_file_range` returning 0 on
//! its first call (procfs and sysfs files report size 0). `sendfile` is
//! never used file to file (Go #71375: it can hang a child's exit).
//! Elsewhere than Linux every copy takes the buffer.
//!
//! Both ends are locked for the copy (the source's read lock, the
//! destination's write lock, chunk by chunk), so deadlines and `close` on
//! either end interrupt a copy in progress; a file-to-file copy, which
//! runs on the blocking pool, notices between its 8 MiB rounds, and stops
//! there too if its future is dropped. A copy into a socket or pipe whose
//! reader has gone fails with `BrokenPipe` and never raises SIGPIPE, even
//! where the program restored its default action. The bytes each path
//! moved are counted in [`metrics`](crate::metrics).

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

use std::io;

mod copy;
mod pipe;
mod stdio;

pub use copy::{
    bytes_moved, copy, copy_bidirectional, generic, take, Duplex, Generic, Sink, Source, Take,
};
pub use pipe::{pipe, PipeReader, PipeWriter};
pub use stdio::{stderr, stdin, stdout, Stderr, Stdin, Stdout};

/// Whether `err` comes from an operation on a closed descriptor, or one
/// that was closed while the operation waited.
///
/// Go: `errors.Is(err, net.ErrClosed)` / `os.ErrClosed`.
///
/// # Example
///
/// ```
/// use std::io;
/// assert!(!netpoll::io::is_closed(&io::Error::from(io::ErrorKind::NotFound)));
/// ```
pub fn is_closed(err: &io::Error) -> bool {
    crate::poll::is_closed(copy::unwrap_partial(err))
}

/// Whether `err` comes from a deadline that passed. Such errors also have
/// kind [`io::ErrorKind::TimedOut`].
///
/// Go: `errors.Is(err, os.ErrDeadlineExceeded)`.
///
/// # Example
///
/// ```
/// use std::io;
/// assert!(!netpoll::io::is_deadline(&io::Error::from(io::ErrorKind::TimedOut)));
/// ```
pub fn is_deadline(err: &io::Error) -> bool {
    crate::poll::is_deadline(copy::unwrap_partial(err))
}
