//! I/O helpers shared by every fd-backed type, and pipes.

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
