//! SIGCHLD as bytes on a pipe, for the process reaper of platforms (or
//! sandboxes) without pidfds.
//!
//! rustix has no `sigaction` (signal handlers are outside its safe
//! surface), so this is the one place libc installs one. The handler only
//! does async-signal-safe things: it writes one byte to a non-blocking
//! pipe (a full pipe already says "something happened", so a failed write
//! loses nothing), calls the action that was installed before ours, and
//! restores `errno`.
//!
//! # Chaining the previous action
//!
//! Other code in the process (a C library, a shell's job control, a
//! program's own handler) may have set SIGCHLD's action before the first
//! child fell back to this reaper. What it set keeps working:
//!
//! - a handler function is called for every SIGCHLD, with the signature
//!   its `SA_SIGINFO` flag says: `f(sig)`, or `f(sig, info, ucontext)`
//!   with the siginfo and ucontext the kernel gave us;
//! - its `sa_mask` becomes our mask, so the signals it wanted blocked
//!   while it runs are blocked (ours runs first, briefly, under the same
//!   mask); `SA_NODEFER`, `SA_RESTART`, `SA_ONSTACK` and the absence of
//!   `SA_NOCLDSTOP` (it wants to hear of stopped children) are kept on our
//!   action, since the kernel applies them to the delivery, not to the
//!   handler;
//! - `SA_RESETHAND` (one shot) is emulated: the handler is called for the
//!   first SIGCHLD only, then treated as `SIG_DFL`, as the kernel would
//!   have reset it; our own handler of course stays;
//! - `SIG_DFL` means nothing to call (SIGCHLD's default is to ignore it);
//!   `SIG_IGN` and `SA_NOCLDWAIT`, which make the kernel reap every child
//!   itself so nobody can wait for one, are not kept: our children must
//!   stay waitable until the reaper has their status. Children that other
//!   code spawns are then left as zombies until it waits for them, as
//!   under `SIG_DFL`.
//!
//! # No window without the previous action
//!
//! Reading the previous action from `sigaction`'s `oldact` and publishing
//! it afterwards leaves a window: our handler is installed for the whole
//! process the moment `sigaction` returns, and a SIGCHLD delivered on any
//! thread before the publication would find nothing to chain and skip the
//! previous handler. Blocking SIGCHLD on the installing thread does not
//! close it, since another thread can take the signal. So the previous
//! action is read first (`sigaction(SIGCHLD, NULL, &old)`), published,
//! and only then is ours installed: our handler cannot run before the
//! publication it reads. If the action `sigaction` reports replacing
//! differs from the one read, other code changed it concurrently in
//! between; that one is published and ours installed again (with its
//! mask). A SIGCHLD in that short interval calls the action read first,
//! the one in force just before: two parties racing to set one signal's
//! action have no defined order anyway.

use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{
    AtomicI32, AtomicPtr,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::OnceLock;

/// The pipe's write end, for the handler (-1 until installed).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// The action we replaced, if it was a handler function (null otherwise,
/// and once a one-shot handler has run). Published before our handler is
/// installed; each value is leaked, so the handler can read it at any time
/// (at most two for the process's life).
static PREVIOUS: AtomicPtr<Previous> = AtomicPtr::new(ptr::null_mut());
/// The read end, shared by whoever listens; installed once per process.
static READ_END: OnceLock<Result<OwnedFd, i32>> = OnceLock::new();

/// A handler function installed for SIGCHLD before ours.
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

/// The read end of the SIGCHLD pipe, installing the handler on first use.
/// Every SIGCHLD after installation leaves at least one byte in it.
///
/// A SIGCHLD disposition of SIG_IGN (which makes the kernel reap children
/// itself, so nobody could wait for them) is replaced too; a previous
/// handler function keeps being called (see the module docs).
pub(crate) fn pipe() -> io::Result<&'static OwnedFd> {
    let res = READ_END.get_or_init(|| install().map_err(|e| e.raw_os_error().unwrap_or(0)));
    res.as_ref().map_err(|&e| io::Error::from_raw_os_error(e))
}

fn install() -> io::Result<OwnedFd> {
    let (r, w) = super::pipe::nonblocking_pipe()?;
    WRITE_FD.store(w.as_raw_fd(), Release);
    // The write end lives as long as the process: the handler may run at
    // any time.
    std::mem::forget(w);
    // Publish first, install second (see "No window" in the module docs).
    let old = sigaction(None)?;
    publish(&old);
    let replaced = sigaction(Some(&ours(&old)))?;
    if !same_action(&replaced, &old) {
        publish(&replaced);
        sigaction(Some(&ours(&replaced)))?;
    }
    Ok(r)
}

/// Our action, adapted to the one it replaces (see the module docs).
fn ours(old: &libc::sigaction) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value to fill in (no
    // handler, empty mask, no flags).
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction =
        on_sigchld as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as usize;
    if is_function(old.sa_sigaction) {
        new.sa_mask = old.sa_mask;
        new.sa_flags = libc::SA_SIGINFO
            | (old.sa_flags & DELIVERY_FLAGS)
            | (old.sa_flags & libc::SA_NOCLDSTOP);
    } else {
        // SAFETY: `new.sa_mask` is a valid sigset_t owned by us.
        unsafe { libc::sigemptyset(&mut new.sa_mask) };
        new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_NOCLDSTOP;
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

/// Makes `old` the action the handler chains to.
fn publish(old: &libc::sigaction) {
    let previous = if is_function(old.sa_sigaction) {
        Box::into_raw(Box::new(Previous {
            handler: old.sa_sigaction,
            flags: old.sa_flags,
        }))
    } else {
        ptr::null_mut()
    };
    PREVIOUS.store(previous, Release);
}

/// `sigaction(SIGCHLD, new, &old)`: installs `new` if given, and returns
/// the action in force before.
fn sigaction(new: Option<&libc::sigaction>) -> io::Result<libc::sigaction> {
    // SAFETY: an all-zero sigaction is valid storage for the old action.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let new = new.map_or(ptr::null(), |n| n as *const libc::sigaction);
    // SAFETY: `new` is null or a valid sigaction, `old` valid storage; the
    // handler `new` names is async-signal-safe (see the module docs).
    if unsafe { libc::sigaction(libc::SIGCHLD, new, &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old)
}

extern "C" fn on_sigchld(sig: c_int, info: *mut libc::siginfo_t, ucontext: *mut c_void) {
    let saved = errno::get();
    let fd = WRITE_FD.load(Acquire);
    if fd >= 0 {
        // SAFETY: `fd` is the pipe's write end, never closed; writing one
        // byte from a local is async-signal-safe.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
    let p = PREVIOUS.load(Acquire);
    // SAFETY: a non-null `PREVIOUS` points to a leaked, never-freed value.
    if let Some(previous) = unsafe { p.as_ref() } {
        // A one-shot handler runs for the first SIGCHLD only; the swap
        // makes that hold when two threads take a SIGCHLD at once.
        let once = previous.flags & libc::SA_RESETHAND != 0;
        if !once
            || PREVIOUS
                .compare_exchange(p, ptr::null_mut(), AcqRel, Relaxed)
                .is_ok()
        {
            if previous.flags & libc::SA_SIGINFO != 0 {
                // SAFETY: it was installed for SIGCHLD with SA_SIGINFO, so
                // it has this signature; `info` and `ucontext` are what the
                // kernel passed us, since we are installed with SA_SIGINFO.
                let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                    unsafe { std::mem::transmute(previous.handler) };
                f(sig, info, ucontext);
            } else {
                // SAFETY: it was installed for SIGCHLD without SA_SIGINFO,
                // so it has this signature.
                let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(previous.handler) };
                f(sig);
            }
        }
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

/// Each case installs a SIGCHLD action of its own before netpoll's reaper
/// installs its handler, which happens once per process; so each runs in
/// a fresh copy of this test binary (`in_fresh_process`).
///
/// They are unit tests, not in `tests/process.rs`, because setting a
/// signal action takes `unsafe` and libc, which belong in `sys/`.
#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use super::*;
    use crate::process::Command;
    use crate::runtime::{Builder, Runtime};
    use crate::sys::tests::in_fresh_process;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    /// Both flavours, on the SIGCHLD reaper.
    fn runtimes() -> Vec<(&'static str, Runtime)> {
        vec![
            (
                "multi_thread/sigchld",
                Builder::new_multi_thread()
                    .worker_threads(2)
                    .pidfd(false)
                    .build()
                    .unwrap(),
            ),
            (
                "current_thread/sigchld",
                Builder::new_current_thread().pidfd(false).build().unwrap(),
            ),
        ]
    }

    /// Installs the action "other code" had before netpoll's.
    fn set_previous(handler: usize, flags: c_int, mask: &[c_int]) {
        // SAFETY: an all-zero sigaction is a valid value to fill in.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        // SAFETY: `act.sa_mask` is a valid sigset_t owned by us.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        for &sig in mask {
            // SAFETY: as above; `sig` is a valid signal number.
            unsafe { libc::sigaddset(&mut act.sa_mask, sig) };
        }
        sigaction(Some(&act)).unwrap();
    }

    /// Waits (up to 5 s) for `done`.
    fn until(what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs `n` children one after the other, each waited for before the
    /// next starts, so each one's SIGCHLD has been handled before the next
    /// exits (the reaper learns of the exit from our handler's byte): `n`
    /// deliveries, none merged.
    fn run_children(rt: &Runtime, n: usize) {
        rt.block_on(async {
            for _ in 0..n {
                let st = Command::new("true").status().await.unwrap();
                assert!(st.success());
            }
        });
    }

    static INFO_CALLS: AtomicUsize = AtomicUsize::new(0);
    static INFO_BAD: AtomicUsize = AtomicUsize::new(0);
    static INFO_STOPPED: AtomicUsize = AtomicUsize::new(0);
    static INFO_UNMASKED: AtomicUsize = AtomicUsize::new(0);

    /// An SA_SIGINFO handler: checks what it was given and under which
    /// mask, with async-signal-safe calls only.
    extern "C" fn counting_siginfo(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO
        // handler, and netpoll's handler passes it on.
        let Some(info) = (unsafe { info.as_ref() }) else {
            INFO_BAD.fetch_add(1, SeqCst);
            return;
        };
        // SAFETY: a SIGCHLD's siginfo carries the child's pid.
        let pid = unsafe { info.si_pid() };
        if sig == libc::SIGCHLD && info.si_signo == libc::SIGCHLD && pid > 0 && !uc.is_null() {
            INFO_CALLS.fetch_add(1, SeqCst);
        } else {
            INFO_BAD.fetch_add(1, SeqCst);
        }
        if info.si_code == libc::CLD_STOPPED {
            INFO_STOPPED.fetch_add(1, SeqCst);
        }
        // SAFETY: an all-zero sigset_t is valid storage.
        let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a null new set only reads this thread's mask into `mask`.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), &mut mask) };
        // SAFETY: `mask` is a valid sigset_t.
        if unsafe { libc::sigismember(&mask, libc::SIGUSR1) } != 1 {
            INFO_UNMASKED.fetch_add(1, SeqCst);
        }
    }

    /// Item 13 of the correctness issue: an SA_SIGINFO handler set before
    /// the reaper was dropped. It keeps being called, with the siginfo and
    /// ucontext, under its own mask, and (having no SA_NOCLDSTOP) for a
    /// stopped child too.
    #[test]
    fn an_earlier_sa_siginfo_handler_is_still_called_with_its_siginfo() {
        in_fresh_process(
            module_path!(),
            "an_earlier_sa_siginfo_handler_is_still_called_with_its_siginfo",
            || {
                let f = counting_siginfo as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void)
                    as usize;
                set_previous(f, libc::SA_SIGINFO, &[libc::SIGUSR1]);
                for (name, rt) in runtimes() {
                    let before = INFO_CALLS.load(SeqCst);
                    run_children(&rt, 5);
                    until(
                        &format!("{name}: the earlier handler was not called"),
                        || INFO_CALLS.load(SeqCst) >= before + 5,
                    );
                    rt.block_on(async {
                        // Killed by its drop if an assertion fails first.
                        let mut child = Command::new("sleep")
                            .arg("10")
                            .kill_on_drop(true)
                            .spawn()
                            .unwrap();
                        child.signal(libc::SIGSTOP).unwrap();
                        until(&format!("{name}: no CLD_STOPPED"), || {
                            INFO_STOPPED.load(SeqCst) > 0
                        });
                        child.kill().unwrap();
                        child.wait().await.unwrap();
                    });
                    assert_eq!(INFO_BAD.load(SeqCst), 0, "{name}: a bad siginfo");
                    assert_eq!(
                        INFO_UNMASKED.load(SeqCst),
                        0,
                        "{name}: called without its sa_mask"
                    );
                }
            },
        );
    }

    static PLAIN_CALLS: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn counting_plain(sig: c_int) {
        if sig == libc::SIGCHLD {
            PLAIN_CALLS.fetch_add(1, SeqCst);
        }
    }

    /// A plain handler keeps being called for every SIGCHLD.
    #[test]
    fn an_earlier_plain_handler_is_still_called() {
        in_fresh_process(
            module_path!(),
            "an_earlier_plain_handler_is_still_called",
            || {
                let f = counting_plain as extern "C" fn(c_int) as usize;
                set_previous(f, libc::SA_RESTART, &[]);
                for (name, rt) in runtimes() {
                    let before = PLAIN_CALLS.load(SeqCst);
                    run_children(&rt, 3);
                    until(
                        &format!("{name}: the earlier handler was not called"),
                        || PLAIN_CALLS.load(SeqCst) >= before + 3,
                    );
                }
            },
        );
    }

    static ONCE_CALLS: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn counting_once(_: c_int, _: *mut libc::siginfo_t, _: *mut c_void) {
        ONCE_CALLS.fetch_add(1, SeqCst);
    }

    /// An SA_RESETHAND handler runs for the first SIGCHLD only, as it
    /// would have without netpoll; the reaper goes on working.
    #[test]
    fn an_earlier_one_shot_handler_is_called_once() {
        in_fresh_process(
            module_path!(),
            "an_earlier_one_shot_handler_is_called_once",
            || {
                let f = counting_once as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void)
                    as usize;
                set_previous(f, libc::SA_SIGINFO | libc::SA_RESETHAND, &[]);
                for (_, rt) in runtimes() {
                    run_children(&rt, 3);
                }
                until("the one-shot handler was not called", || {
                    ONCE_CALLS.load(SeqCst) > 0
                });
                // Six SIGCHLDs were handled (the reaper saw each): one call.
                assert_eq!(ONCE_CALLS.load(SeqCst), 1);
            },
        );
    }

    /// SIG_IGN (the kernel would reap every child itself) is replaced:
    /// children stay waitable and report their real status.
    #[test]
    fn an_earlier_sig_ign_still_lets_children_be_waited_for() {
        in_fresh_process(
            module_path!(),
            "an_earlier_sig_ign_still_lets_children_be_waited_for",
            || {
                set_previous(libc::SIG_IGN, 0, &[]);
                for (name, rt) in runtimes() {
                    rt.block_on(async {
                        let st = Command::new("sh")
                            .args(["-c", "exit 3"])
                            .status()
                            .await
                            .unwrap();
                        assert_eq!(st.code(), Some(3), "{name}");
                    });
                }
            },
        );
    }
}
