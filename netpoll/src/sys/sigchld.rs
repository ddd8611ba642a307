//! SIGCHLD for the process reaper of platforms (or sandboxes) without
//! pidfds: a subscriber of the signal pipe (`sys/signal/`), which catches
//! it, chains the handler that was installed before, and calls the
//! reaper on its thread after each delivery.
//!
//! What is particular to SIGCHLD (the rest is in `sys/signal/`):
//!
//! - our action has `SA_NOCLDSTOP` (no wake for a child that only
//!   stopped) unless an earlier handler function asked to hear of stopped
//!   children by going without it;
//! - `SIG_IGN` and `SA_NOCLDWAIT`, which make the kernel reap every child
//!   itself so nobody can wait for one, are not kept: our children must
//!   stay waitable until the reaper has their status. Children that other
//!   code spawns are then left as zombies until it waits for them, as
//!   under `SIG_DFL` (SIGCHLD's default is to ignore it, and there is
//!   nothing to call).

use super::signal::{subscribe, Subscriber};
use std::io;

/// Calls `on_sigchld` on the signal thread after every SIGCHLD from now
/// on (several may make one call), installing the handler on first use.
/// Idempotent, and cheap once done; the first `on_sigchld` given stays.
pub(crate) fn watch(on_sigchld: fn()) -> io::Result<()> {
    static HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();
    static REAPER: Subscriber = Subscriber::new(libc::SIGCHLD, || {
        if let Some(f) = HOOK.get() {
            f()
        }
    });
    HOOK.get_or_init(|| on_sigchld);
    subscribe(&REAPER)
}

/// Each case installs a SIGCHLD action of its own before netpoll's reaper
/// installs its handler, which happens once per process; so each runs in
/// a fresh copy of this test binary (`in_fresh_process`).
///
/// They are unit tests, not in `tests/process.rs`, because setting a
/// signal action takes `unsafe` and libc, which belong in `sys/`.
#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use crate::process::Command;
    use crate::runtime::{Builder, Runtime};
    use crate::sys::tests::in_fresh_process;
    use std::ffi::{c_int, c_void};
    use std::io;
    use std::ptr;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    /// Sets SIGCHLD's action directly, as "other code" would.
    fn sigaction(new: Option<&libc::sigaction>) -> io::Result<libc::sigaction> {
        crate::sys::signal::sigaction(libc::SIGCHLD, new)
    }

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
