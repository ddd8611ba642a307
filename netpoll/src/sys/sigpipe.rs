//! Writes that raise no SIGPIPE where the kernel offers no flag for it.
//!
//! A write into a pipe, or into a socket, whose reader has gone fails with
//! `EPIPE` and raises SIGPIPE on the writing thread, whose default action
//! kills the process. Rust programs ignore it (std sets `SIG_IGN` before
//! `main`), but a program may restore the default. Socket sends pass
//! `MSG_NOSIGNAL`; `write(2)` on a pipe, `sendfile` and `splice` have no
//! such flag, so they run under [`quiet`]: SIGPIPE blocked on the calling
//! thread for the one syscall and, if it failed with `EPIPE`, the signal
//! it raised taken off the thread's pending set before the mask is
//! restored (the technique of libcurl and OpenSSL, minus the `sigpending`
//! they need only to leave a SIGPIPE that was already pending: one that
//! was not blocked cannot have been pending on the thread).
//!
//! rustix has these calls only in its libc-implementer's `runtime`
//! module, so they go through libc, here and nowhere else. Linux only:
//! the kernel copy paths are the only users (socket sends pass a flag,
//! and pipe writes keep the process's disposition).

use rustix::io::Errno;

/// Runs `f`, one write-like syscall on the calling thread, so that it
/// raises no SIGPIPE: an `EPIPE` is all it reports.
pub(crate) fn quiet<T>(f: impl FnOnce() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    let blocked = Blocked::new();
    let res = f();
    if res.as_ref().err() == Some(&Errno::PIPE) {
        blocked.take_pending();
    }
    res
}

/// SIGPIPE blocked on this thread while it lives, unless it already was
/// (then the caller's mask is left alone, and so is any SIGPIPE its owner
/// means to handle).
struct Blocked {
    /// Whether this guard blocked it (and must unblock it).
    ours: bool,
}

impl Blocked {
    fn new() -> Blocked {
        let set = sigpipe_set();
        // SAFETY: an all-zero sigset_t is valid storage for the old mask,
        // which pthread_sigmask fills in.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to valid sigset_t values; SIG_BLOCK
        // only adds SIGPIPE to this thread's mask.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        // SAFETY: `old` is a valid sigset_t, filled in by the call.
        let was_blocked = r == 0 && unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
        // pthread_sigmask fails only for a bad `how`: then nothing was
        // blocked, nothing is undone, and the write is as plain as before.
        Blocked {
            ours: r == 0 && !was_blocked,
        }
    }

    /// Takes the SIGPIPE a failed write raised off this thread, before
    /// the mask is restored and it would be delivered.
    fn take_pending(&self) {
        if !self.ours {
            return;
        }
        let set = sigpipe_set();
        take(&set);
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if self.ours {
            let set = sigpipe_set();
            // SAFETY: `set` is a valid sigset_t; SIG_UNBLOCK only removes
            // SIGPIPE, which this guard added, from this thread's mask.
            unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
        }
    }
}

/// The set holding SIGPIPE alone.
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is valid storage for sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t owned here, and SIGPIPE a valid
    // signal number.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

/// Linux queues a blocked signal even when its action is to ignore it, so
/// the write's SIGPIPE is pending: a zero timeout takes it, and could not
/// wait even if something else had taken it first. (Elsewhere POSIX lets
/// an ignored signal be dropped while blocked, and not every system has
/// sigtimedwait; only Linux's copy paths use this module.)
fn take(set: &libc::sigset_t) {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `set` and `zero` are valid; a null info pointer is
        // allowed.
        let r = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &zero) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}
