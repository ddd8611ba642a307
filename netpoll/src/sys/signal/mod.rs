//! A signal as bytes on a pipe: the one place netpoll catches signals,
//! for the SIGCHLD reaper (`sys/sigchld.rs`) and for `netpoll::signal`.
//!
//! rustix has no `sigaction` (signal handlers are outside its safe
//! surface), so this is where libc installs them. One handler serves every
//! signal number. It only does async-signal-safe things: it bumps the
//! signal's delivery counter (a lock-free atomic), writes one byte to a
//! non-blocking pipe shared by all signals (a full pipe already says
//! "something happened", so a failed write loses nothing: the counters say
//! what), calls the action that was installed before ours, and restores
//! `errno`.
//!
//! The counters, not the bytes, are what deliveries are read from: one
//! thread ([`dispatch`]) wakes on the pipe, drains it, and passes each
//! signal whose counter moved on to the reaper and to the listeners
//! ([`listener`]); a listener compares the counter with the value it saw
//! at its last `recv`. Several deliveries between two looks are one
//! change, as the kernel itself merges a signal that is already pending.
//!
//! # Chaining the previous action
//!
//! Other code in the process (a C library, a shell's job control, a
//! program's own handler) may have set the signal's action before netpoll
//! installed its own. What it set keeps working:
//!
//! - a handler function is called for every delivery, with the signature
//!   its `SA_SIGINFO` flag says: `f(sig)`, or `f(sig, info, ucontext)`
//!   with the siginfo and ucontext the kernel gave us;
//! - its `sa_mask` becomes our mask, so the signals it wanted blocked
//!   while it runs are blocked (ours runs first, briefly, under the same
//!   mask); `SA_NODEFER`, `SA_RESTART`, `SA_ONSTACK` and, for SIGCHLD, the
//!   absence of `SA_NOCLDSTOP` (it wants to hear of stopped children) are
//!   kept on our action, since the kernel applies them to the delivery,
//!   not to the handler;
//! - `SA_RESETHAND` (one shot) is emulated: the handler is called for the
//!   first delivery only, then treated as `SIG_DFL`, as the kernel would
//!   have reset it; our own handler of course stays;
//! - `SIG_DFL` and `SIG_IGN` mean nothing to call. Catching a signal
//!   replaces its default action (to terminate, for most): that is what
//!   listening asks for. A signal the program was started with ignored
//!   (SIGINT and SIGHUP under `nohup`) is caught all the same once
//!   listened for, as Go's `signal.Notify` does. For SIGCHLD, `SIG_IGN`
//!   and `SA_NOCLDWAIT` would make the kernel reap every child itself so
//!   nobody could wait for one: they are not kept, see `sys/sigchld.rs`.
//!
//! Our action stays for the life of the process: nothing here restores the
//! old one when the last listener goes (tokio's signal handling does not
//! either; Go restores it on `signal.Reset`).
//!
//! # No window without the previous action
//!
//! Reading the previous action from `sigaction`'s `oldact` and publishing
//! it afterwards leaves a window: our handler is installed for the whole
//! process the moment `sigaction` returns, and a delivery on any thread
//! before the publication would find nothing to chain and skip the
//! previous handler. Blocking the signal on the installing thread does not
//! close it, since another thread can take the signal. So the previous
//! action is read first (`sigaction(sig, NULL, &old)`), published, and
//! only then is ours installed: our handler cannot run before the
//! publication it reads. If the action `sigaction` reports replacing
//! differs from the one read, other code changed it concurrently in
//! between; that one is published and ours installed again (with its
//! mask). A delivery in that short interval calls the action read first,
//! the one in force just before: two parties racing to set one signal's
//! action have no defined order anyway.

mod dispatch;
mod listener;
#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests;

pub(crate) use dispatch::{subscribe, Subscriber};
pub(crate) use listener::Listener;

use std::ffi::{c_int, c_void};
use std::io;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::Mutex;

/// Signal numbers 1 to `SLOTS - 1` can be caught here: more than any
/// supported system has (Linux: 64, FreeBSD: 128, illumos: 74, Apple: 31).
const SLOTS: usize = 129;

/// What the handler and the dispatcher know of one signal number.
struct Slot {
    /// Deliveries since our handler went in, bumped by the handler.
    delivered: AtomicUsize,
    /// The action we replaced, if it was a handler function (null
    /// otherwise, and once a one-shot handler has run). Published before
    /// our handler is installed; each value is leaked, so the handler can
    /// read it at any time (at most two per signal for the process's life).
    previous: AtomicPtr<Previous>,
    /// Our handler is installed (set after `sigaction` succeeded).
    installed: AtomicBool,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            delivered: AtomicUsize::new(0),
            previous: AtomicPtr::new(ptr::null_mut()),
            installed: AtomicBool::new(false),
        }
    }
}

static SLOT: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

/// The shared pipe's write end, for the handler (-1 until the dispatcher
/// made it; never closed after).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// Serializes installations, so each signal's action is set once, and a
/// failed one (the pipe could not be made: EMFILE) is tried again by the
/// next caller instead of being remembered for the life of the process.
static INSTALL: Mutex<()> = Mutex::new(());

/// A handler function installed for a signal before ours.
struct Previous {
    /// The function, of the signature `flags` says.
    handler: usize,
    /// Its `sa_flags`: `SA_SIGINFO` (signature) and `SA_RESETHAND` (once)
    /// are what the call depends on.
    flags: c_int,
}

/// The flags of an action that the kernel applies when delivering, so they
/// are carried over from the previous handler to ours.
const DELIVERY_FLAGS: c_int = libc::SA_NODEFER | libc::SA_RESTART | libc::SA_ONSTACK;

/// The slot of `sig`, or EINVAL (as `sigaction` says) for a number out of
/// range.
fn slot(sig: c_int) -> io::Result<&'static Slot> {
    usize::try_from(sig)
        .ok()
        .filter(|&i| i > 0)
        .and_then(|i| SLOT.get(i))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// How many times `sig` has been delivered since our handler went in (0
/// before). Wraps; compare for equality only.
pub(crate) fn delivered(sig: c_int) -> usize {
    slot(sig).map_or(0, |s| s.delivered.load(Acquire))
}

/// Installs our handler for `sig` if it is not yet, starting the
/// dispatcher first: from then on every delivery bumps `delivered(sig)`
/// and reaches the dispatcher. The kernel's refusal (EINVAL for SIGKILL,
/// SIGSTOP or a number the C library keeps for itself) comes back as is.
pub(crate) fn install(sig: c_int) -> io::Result<()> {
    let slot = slot(sig)?;
    if slot.installed.load(Acquire) {
        return Ok(());
    }
    let _serial = crate::loom_shim::LockExt::locked(&INSTALL);
    if slot.installed.load(Acquire) {
        return Ok(());
    }
    // The pipe and its reader exist before any handler can write to it.
    dispatch::start()?;
    // Publish first, install second (see "No window" in the module docs).
    let old = sigaction(sig, None)?;
    publish(slot, &old);
    let replaced = match sigaction(sig, Some(&ours(sig, &old))) {
        Ok(replaced) => replaced,
        Err(e) => {
            slot.previous.store(ptr::null_mut(), Release);
            return Err(e);
        }
    };
    if !same_action(&replaced, &old) {
        publish(slot, &replaced);
        sigaction(sig, Some(&ours(sig, &replaced)))?;
    }
    slot.installed.store(true, Release);
    Ok(())
}

/// Our action, adapted to the one it replaces (see the module docs).
fn ours(sig: c_int, old: &libc::sigaction) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value to fill in (no
    // handler, empty mask, no flags).
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction =
        on_signal as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as usize;
    let child = sig == libc::SIGCHLD;
    if is_function(old.sa_sigaction) {
        new.sa_mask = old.sa_mask;
        new.sa_flags = libc::SA_SIGINFO | (old.sa_flags & DELIVERY_FLAGS);
        if child {
            new.sa_flags |= old.sa_flags & libc::SA_NOCLDSTOP;
        }
    } else {
        // SAFETY: `new.sa_mask` is a valid sigset_t owned by us.
        unsafe { libc::sigemptyset(&mut new.sa_mask) };
        new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        if child {
            // Nobody asked to hear of stopped children.
            new.sa_flags |= libc::SA_NOCLDSTOP;
        }
    }
    new
}

/// Whether an action's handler is a function, not SIG_DFL or SIG_IGN.
fn is_function(handler: usize) -> bool {
    handler != libc::SIG_DFL && handler != libc::SIG_IGN
}

fn same_action(a: &libc::sigaction, b: &libc::sigaction) -> bool {
    a.sa_sigaction == b.sa_sigaction && a.sa_flags == b.sa_flags
}

/// Makes `old` the action the handler chains to for this slot's signal.
fn publish(slot: &Slot, old: &libc::sigaction) {
    let previous = if is_function(old.sa_sigaction) {
        Box::into_raw(Box::new(Previous {
            handler: old.sa_sigaction,
            flags: old.sa_flags,
        }))
    } else {
        ptr::null_mut()
    };
    slot.previous.store(previous, Release);
}

/// `sigaction(sig, new, &old)`: installs `new` if given, and returns the
/// action in force before.
pub(super) fn sigaction(sig: c_int, new: Option<&libc::sigaction>) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero sigaction is valid storage for the old action.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let new = new.map_or(ptr::null(), |n| n as *const libc::sigaction);
    // SAFETY: `new` is null or a valid sigaction, `old` valid storage; the
    // handler `new` names is async-signal-safe (see the module docs).
    if unsafe { libc::sigaction(sig, new, &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old)
}

/// The handler of every signal netpoll catches.
extern "C" fn on_signal(sig: c_int, info: *mut libc::siginfo_t, ucontext: *mut c_void) {
    let saved = errno::get();
    if let Ok(slot) = slot(sig) {
        // Counter first, byte second: the dispatcher drains the pipe and
        // then reads the counters, so it cannot take the byte and miss the
        // count that goes with it.
        slot.delivered.fetch_add(1, AcqRel);
        let fd = WRITE_FD.load(Acquire);
        if fd >= 0 {
            let byte = sig as u8;
            // SAFETY: `fd` is the pipe's write end, never closed; writing
            // one byte from a local is async-signal-safe. A full pipe
            // (EAGAIN) already holds a wake.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
        chain(slot, sig, info, ucontext);
    }
    errno::set(saved);
}

/// Calls the handler that was installed for `sig` before ours, if any.
fn chain(slot: &Slot, sig: c_int, info: *mut libc::siginfo_t, ucontext: *mut c_void) {
    let p = slot.previous.load(Acquire);
    // SAFETY: a non-null `previous` points to a leaked, never-freed value.
    let Some(previous) = (unsafe { p.as_ref() }) else {
        return;
    };
    // A one-shot handler runs for the first delivery only; the swap makes
    // that hold when two threads take the signal at once.
    let once = previous.flags & libc::SA_RESETHAND != 0;
    if once
        && slot
            .previous
            .compare_exchange(p, ptr::null_mut(), AcqRel, Relaxed)
            .is_err()
    {
        return;
    }
    if previous.flags & libc::SA_SIGINFO != 0 {
        // SAFETY: it was installed for `sig` with SA_SIGINFO, so it has
        // this signature; `info` and `ucontext` are what the kernel passed
        // us, since we are installed with SA_SIGINFO.
        let f: InfoHandler = unsafe { std::mem::transmute(previous.handler) };
        f(sig, info, ucontext);
    } else {
        // SAFETY: it was installed for `sig` without SA_SIGINFO, so it
        // has this signature.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(previous.handler) };
        f(sig);
    }
}

/// The signature of an `SA_SIGINFO` handler.
type InfoHandler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

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
