//! The errors a wait can end with, recognisable after they have become
//! `io::Error`s (Go: ErrNetClosing/ErrFileClosing, ErrDeadlineExceeded,
//! ErrNotPollable).

use std::error::Error;
use std::fmt;
use std::io;

/// Why a wait on a poll descriptor failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum WaitError {
    /// The descriptor is closing or was closed (Go: pollErrClosing).
    Closed,
    /// The direction's deadline passed (Go: pollErrTimeout).
    TimedOut,
    /// The kernel reported an error and nothing else (Go: pollErrNotPollable).
    EventError,
}

impl From<WaitError> for io::Error {
    fn from(e: WaitError) -> io::Error {
        match e {
            WaitError::Closed => closed(),
            WaitError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, DeadlineExceeded),
            WaitError::EventError => {
                io::Error::other("netpoll: the poller reported an error event on this descriptor")
            }
        }
    }
}

/// The payload of the error an operation on a closed descriptor returns.
#[derive(Debug)]
struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("use of closed file or network connection")
    }
}

impl Error for Closed {}

/// The payload of the error a deadline produces.
#[derive(Debug)]
struct DeadlineExceeded;

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("i/o deadline exceeded")
    }
}

impl Error for DeadlineExceeded {}

/// The error returned by operations on a closed descriptor.
pub(crate) fn closed() -> io::Error {
    io::Error::other(Closed)
}

/// Whether `err` says the descriptor was closed (Go: errors.Is(err, net.ErrClosed)).
pub(crate) fn is_closed(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<Closed>())
}

/// Whether `err` says a deadline passed (Go: errors.Is(err, os.ErrDeadlineExceeded)).
pub(crate) fn is_deadline(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut
        && err.get_ref().is_some_and(|e| e.is::<DeadlineExceeded>())
}
