//! SIGCHLD as bytes on a pipe, for the process reaper of platforms (or
//! sandboxes) without pidfds.
//!
//! rustix has no `sigaction` (signal handlers are outside its safe
//! surface), so this is the one place libc installs one. The handler only
//! does async-signal-safe things: it writes one byte to a non-blocking
//! pipe (a full pipe already says "something happened", so a failed write
//! loses nothing), calls the handler that was installed before ours if
//! there was one, and restores `errno`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

/// The pipe's write end, for the handler (-1 until installed).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// The handler we replaced, if it was a function (0 otherwise).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
/// The read end, shared by whoever listens; installed once per process.
static READ_END: OnceLock<Result<OwnedFd, i32>> = OnceLock::new();

/// The read end of the SIGCHLD pipe, installing the handler on first use.
/// Every SIGCHLD after installation leaves at least one byte in it.
///
/// A SIGCHLD disposition of SIG_IGN (which makes the kernel reap children
/// itself, so nobody could wait for them) is replaced too; a previous
/// handler function keeps being called.
pub(crate) fn pipe() -> io::Result<&'static OwnedFd> {
    let res = READ_END.get_or_init(|| install().map_err(|e| e.raw_os_error().unwrap_or(0)));
    res.as_ref().map_err(|&e| io::Error::from_raw_os_error(e))
}

fn install() -> io::Result<OwnedFd> {
    let (r, w) = super::pipe::nonblocking_pipe()?;
    WRITE_FD.store(w.as_raw_fd(), Relaxed);
    // The write end lives as long as the process: the handler may run at
    // any time.
    std::mem::forget(w);
    // SAFETY: an all-zero sigaction is a valid value to fill in (no
    // handler, empty mask, no flags).
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = on_sigchld as extern "C" fn(libc::c_int) as usize;
    new.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
    // SAFETY: `new.sa_mask` is a valid sigset_t owned by us.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: an all-zero sigaction is valid storage for the old action.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to valid sigaction values; the handler is
    // async-signal-safe (see the module docs).
    if unsafe { libc::sigaction(libc::SIGCHLD, &new, &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if old.sa_sigaction != libc::SIG_DFL
        && old.sa_sigaction != libc::SIG_IGN
        && old.sa_flags & libc::SA_SIGINFO == 0
    {
        PREVIOUS.store(old.sa_sigaction, Relaxed);
    }
    Ok(r)
}

extern "C" fn on_sigchld(sig: libc::c_int) {
    let saved = errno::get();
    let fd = WRITE_FD.load(Relaxed);
    if fd >= 0 {
        // SAFETY: `fd` is the pipe's write end, never closed; writing one
        // byte from a local is async-signal-safe.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
    let previous = PREVIOUS.load(Relaxed);
    if previous != 0 {
        // SAFETY: `previous` was a plain (non-SA_SIGINFO) handler function
        // installed for SIGCHLD before ours, so it has this signature.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
        f(sig);
    }
    errno::set(saved);
}

/// errno, saved and restored around the handler (a signal must not change
/// what the interrupted code sees).
mod errno {
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    use libc::___errno as location;
    #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
    use libc::__errno as location;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    use libc::__errno_location as location;
    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "dragonfly"
    ))]
    use libc::__error as location;

    pub(super) fn get() -> i32 {
        // SAFETY: the thread's errno location is always valid.
        unsafe { *location() }
    }

    pub(super) fn set(v: i32) {
        // SAFETY: as above.
        unsafe { *location() = v };
    }
}
