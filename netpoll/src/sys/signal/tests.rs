//! Chaining an earlier action, for signals other than SIGCHLD (whose cases,
//! through the reaper, are in `sys/sigchld.rs`), and installation
//! failures. Each case sets a signal's action before netpoll installs its
//! handler, which happens once per process, so each runs in a fresh copy
//! of this test binary (`in_fresh_process`). Unit tests, because setting
//! an action takes `unsafe` and libc, which belong in `sys/`.

use super::*;
use crate::runtime::{Builder, Runtime};
use crate::sys::tests::in_fresh_process;
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// Both flavours.
fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        (
            "multi_thread",
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        ),
        (
            "current_thread",
            Builder::new_current_thread().build().unwrap(),
        ),
    ]
}

/// Installs the action "other code" had before netpoll's.
fn set_previous(sig: c_int, handler: usize, flags: c_int, mask: &[c_int]) {
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    // SAFETY: `act.sa_mask` is a valid sigset_t owned by us.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    for &s in mask {
        // SAFETY: as above; `s` is a valid signal number.
        unsafe { libc::sigaddset(&mut act.sa_mask, s) };
    }
    sigaction(sig, Some(&act)).unwrap();
}

/// Sends `sig` to this thread; the handler has run when this returns.
fn raise(sig: c_int) {
    // SAFETY: raise takes a plain signal number; every signal raised here
    // has a handler (netpoll's), so none ends the process.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

/// `listener.recv()` with a bound: `true` if a delivery came in time.
async fn recv_within(listener: &mut Listener, d: Duration) -> bool {
    crate::time::timeout(d, poll_fn(|cx| listener.poll_recv(cx)))
        .await
        .is_ok()
}

/// Raises `sig` `n` times, one at a time, each seen by a listener before
/// the next (so the count of deliveries is known), on both flavours.
fn deliver_each(sig: c_int, n: usize) {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut listener = Listener::new(sig).unwrap();
            for i in 0..n {
                raise(sig);
                assert!(
                    recv_within(&mut listener, Duration::from_secs(5)).await,
                    "{name}: delivery {i} not seen"
                );
            }
        });
    }
}

static PLAIN_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn counting_plain(sig: c_int) {
    if sig == libc::SIGUSR1 {
        PLAIN_CALLS.fetch_add(1, SeqCst);
    }
}

/// A plain handler set before the first listener keeps being called for
/// every delivery, and the listeners get each one too.
#[test]
fn an_earlier_plain_handler_is_still_called() {
    in_fresh_process(
        module_path!(),
        "an_earlier_plain_handler_is_still_called",
        || {
            let f = counting_plain as extern "C" fn(c_int) as usize;
            set_previous(libc::SIGUSR1, f, libc::SA_RESTART, &[]);
            deliver_each(libc::SIGUSR1, 3);
            assert_eq!(PLAIN_CALLS.load(SeqCst), 6);
        },
    );
}

static INFO_CALLS: AtomicUsize = AtomicUsize::new(0);
static INFO_BAD: AtomicUsize = AtomicUsize::new(0);
static INFO_UNMASKED: AtomicUsize = AtomicUsize::new(0);

/// An SA_SIGINFO handler: checks what it was given and under which mask,
/// with async-signal-safe calls only.
extern "C" fn counting_siginfo(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler,
    // and netpoll's handler passes it on.
    let Some(info) = (unsafe { info.as_ref() }) else {
        INFO_BAD.fetch_add(1, SeqCst);
        return;
    };
    // SAFETY: a signal sent by raise (tgkill) carries the sender's pid.
    let pid = unsafe { info.si_pid() };
    // SAFETY: getpid is always safe to call.
    let me = unsafe { libc::getpid() };
    if sig == libc::SIGUSR2 && info.si_signo == libc::SIGUSR2 && pid == me && !uc.is_null() {
        INFO_CALLS.fetch_add(1, SeqCst);
    } else {
        INFO_BAD.fetch_add(1, SeqCst);
    }
    // SAFETY: an all-zero sigset_t is valid storage.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only reads this thread's mask into `mask`.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), &mut mask) };
    // SAFETY: `mask` is a valid sigset_t.
    if unsafe { libc::sigismember(&mask, libc::SIGWINCH) } != 1 {
        INFO_UNMASKED.fetch_add(1, SeqCst);
    }
}

/// An SA_SIGINFO handler is called with the siginfo and ucontext, under
/// its own mask.
#[test]
fn an_earlier_sa_siginfo_handler_gets_its_siginfo_under_its_mask() {
    in_fresh_process(
        module_path!(),
        "an_earlier_sa_siginfo_handler_gets_its_siginfo_under_its_mask",
        || {
            let f = counting_siginfo as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void)
                as usize;
            set_previous(libc::SIGUSR2, f, libc::SA_SIGINFO, &[libc::SIGWINCH]);
            deliver_each(libc::SIGUSR2, 2);
            assert_eq!(INFO_CALLS.load(SeqCst), 4);
            assert_eq!(INFO_BAD.load(SeqCst), 0, "a bad siginfo");
            assert_eq!(INFO_UNMASKED.load(SeqCst), 0, "called without its sa_mask");
        },
    );
}

static ONCE_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn counting_once(_: c_int) {
    ONCE_CALLS.fetch_add(1, SeqCst);
}

/// An SA_RESETHAND handler runs for the first delivery only, as it would
/// have without netpoll; the listeners go on getting each one.
#[test]
fn an_earlier_one_shot_handler_is_called_once() {
    in_fresh_process(
        module_path!(),
        "an_earlier_one_shot_handler_is_called_once",
        || {
            let f = counting_once as extern "C" fn(c_int) as usize;
            set_previous(libc::SIGHUP, f, libc::SA_RESETHAND, &[]);
            deliver_each(libc::SIGHUP, 3);
            assert_eq!(ONCE_CALLS.load(SeqCst), 1);
        },
    );
}

/// A signal the program was started with ignored (SIGHUP under nohup) is
/// caught once listened for, as Go's `signal.Notify` does.
#[test]
fn an_ignored_signal_is_caught_once_listened_for() {
    in_fresh_process(
        module_path!(),
        "an_ignored_signal_is_caught_once_listened_for",
        || {
            set_previous(libc::SIGHUP, libc::SIG_IGN, 0, &[]);
            deliver_each(libc::SIGHUP, 2);
        },
    );
}

/// The first installation failing with EMFILE (the pipe could not be
/// made) is not remembered: listening, and the SIGCHLD reaper, work once
/// fds are free again. The reaper kept its first error for the life of
/// the process, so one spawn at the fd limit broke every later child on
/// the fallback path.
#[test]
fn a_failed_installation_is_tried_again() {
    in_fresh_process(
        module_path!(),
        "a_failed_installation_is_tried_again",
        || {
            use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
            let rt = Builder::new_current_thread().pidfd(false).build().unwrap();
            let saved = getrlimit(Resource::Nofile);
            // No fd number left: the limit just above the highest open
            // one, and every hole below it filled.
            let highest = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
                .max()
                .unwrap();
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(highest + 1),
                    maximum: saved.maximum,
                },
            )
            .unwrap();
            let mut filler = Vec::new();
            while let Ok(fd) = rustix::io::dup(std::io::stderr()) {
                filler.push(fd);
            }
            let err = Listener::new(libc::SIGUSR1).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            let err = rt
                .block_on(async { crate::process::Command::new("true").status().await })
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

            drop(filler);
            setrlimit(Resource::Nofile, saved).unwrap();
            let mut listener = Listener::new(libc::SIGUSR1).unwrap();
            raise(libc::SIGUSR1);
            rt.block_on(async {
                assert!(recv_within(&mut listener, Duration::from_secs(5)).await);
                let st = crate::process::Command::new("true").status().await.unwrap();
                assert!(st.success());
            });
        },
    );
}
