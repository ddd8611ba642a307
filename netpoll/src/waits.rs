//! What the task being polled is waiting for, noted by the operation that
//! made it wait, for the task dump (Go: the `[IO wait]`, `[sleep]`,
//! `[chan receive]` reasons in a goroutine dump).
//!
//! The operation that returns `Pending` writes one record into a
//! thread-local; the task's own poll wrapper (runtime/task.rs) clears it
//! before polling and keeps it in the task's metadata after. A leaf
//! module like `coop`, so the fd layer and the timers can note a wait
//! without knowing the scheduler. One record per poll: a task waiting on
//! several things at once (a `select!`) shows the last one asked.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A wait, packed small: what `kind` it is and one argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) kind: u8,
    pub(crate) arg: u64,
}

/// Nothing noted (the task waits on something netpoll does not know).
pub(crate) const UNKNOWN: u8 = 0;
/// Readiness of an fd: `arg` = fd number, with bit 32 set for writes.
pub(crate) const FD: u8 = 1;
/// A timer: `arg` = nanoseconds since [`base`].
pub(crate) const TIMER: u8 = 2;
/// Another task: `arg` = its id.
pub(crate) const TASK: u8 = 3;
/// A child process: `arg` = its PID.
pub(crate) const CHILD: u8 = 4;

thread_local! {
    static NOTED: Cell<Wait> = const { Cell::new(Wait { kind: UNKNOWN, arg: 0 }) };
}

/// Notes what the current poll is about to wait for.
#[inline]
pub(crate) fn note(kind: u8, arg: u64) {
    NOTED.with(|n| n.set(Wait { kind, arg }));
}

/// Notes a wait for `fd` to be readable (or writable).
#[inline]
pub(crate) fn note_fd(fd: i32, write: bool) {
    note(FD, u64::from(fd as u32) | (u64::from(write) << 32));
}

/// Notes a wait for a timer due at `at`.
#[inline]
pub(crate) fn note_timer(at: Instant) {
    let ns = at.saturating_duration_since(base()).as_nanos();
    note(TIMER, u64::try_from(ns).unwrap_or(u64::MAX));
}

/// Takes the record of this poll, leaving nothing noted.
#[inline]
pub(crate) fn take() -> Wait {
    NOTED.with(|n| n.replace(Wait::default()))
}

/// The instant timer records count from (the first use in the process).
pub(crate) fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// A timer record's deadline.
pub(crate) fn timer_deadline(arg: u64) -> Instant {
    base() + Duration::from_nanos(arg)
}
