//! Helpers shared by the integration tests.
#![allow(dead_code)]

use netpoll::runtime::{Builder, Runtime};
use netpoll::Poller;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

/// How late a wake may come after its cause (a close, a due deadline): far
/// below any fallback a missed wake could hide behind, far above a busy CI
/// machine's scheduling noise.
pub const SLACK: Duration = Duration::from_millis(250);

/// The backends to run a test on: the one `NETPOLL_POLLER` names when it
/// is set (CI runs the suite once per backend), otherwise every backend
/// this platform has, so a plain `cargo test` covers them all.
pub fn backends() -> Vec<Poller> {
    if std::env::var(netpoll::POLLER_ENV).is_ok_and(|v| !v.is_empty()) {
        return vec![Poller::Auto];
    }
    [
        Poller::Epoll,
        Poller::Kqueue,
        Poller::EventPorts,
        Poller::Poll,
    ]
    .into_iter()
    .filter(|k| netpoll::poll::Netpoller::new(*k).is_ok())
    .collect()
}

/// Serializes the tests of one binary that count fds: tests run on
/// parallel threads of one process, and another test's open pipe would
/// look like a leak.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many fds this process has open: the kernel's own list where it has
/// one (/proc/self/fd on Linux, /dev/fd on Apple systems), elsewhere by
/// asking each fd number below the limit (FreeBSD's /dev/fd lists only 0-2
/// unless fdescfs is mounted, illumos lists every possible number).
pub fn fd_count() -> usize {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const LIST: Option<&str> = Some("/proc/self/fd");
    #[cfg(target_vendor = "apple")]
    const LIST: Option<&str> = Some("/dev/fd");
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    const LIST: Option<&str> = None;
    if let Some(dir) = LIST {
        return std::fs::read_dir(dir).unwrap().count();
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
        .min(1 << 16) as i32;
    (0..limit)
        // SAFETY: F_GETFD only reads the fd's flags; a number that is not
        // an open fd fails with EBADF and nothing else happens.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .count()
}

/// Whether process `pid` exists, running or a zombie not yet reaped
/// (kill(pid, 0), which any Unix answers without /proc).
pub fn process_exists(pid: u32) -> bool {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a child's pid is positive");
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(rustix::io::Errno::PERM) => true,
        Err(_) => false,
    }
}

/// Makes a FIFO at `path` (mkfifo(3), which every Unix has; rustix's
/// mknodat is missing on Apple systems).
pub fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

/// The emulator command the tests run under, from `NETPOLL_TEST_QEMU`
/// (CI's foreign-architecture lanes set it to the same command as cargo's
/// runner, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`).
fn qemu() -> Option<Vec<String>> {
    let cmd = std::env::var("NETPOLL_TEST_QEMU").ok()?;
    let words: Vec<String> = cmd.split_whitespace().map(String::from).collect();
    (!words.is_empty()).then_some(words)
}

/// Whether the tests run under qemu-user, whose emulation has known gaps
/// (the tests that meet one name it).
pub fn under_qemu() -> bool {
    qemu().is_some()
}

/// A command that runs this test binary again (for tests that need a
/// process of their own). Under qemu-user the binary goes through the
/// emulator: without binfmt_misc the kernel cannot exec a foreign one.
pub fn this_test_binary() -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    match qemu() {
        Some(words) => {
            let mut cmd = std::process::Command::new(&words[0]);
            cmd.args(&words[1..]).arg(exe);
            cmd
        }
        None => std::process::Command::new(exe),
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (the runtime does not exist
/// at this layer).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A non-blocking, close-on-exec pipe.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    #[cfg(not(target_vendor = "apple"))]
    {
        use rustix::pipe::{pipe_with, PipeFlags};
        pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).unwrap()
    }
    // Apple has no pipe2: the flags follow at once (a child forked in
    // between would inherit the ends, as the library's sys/pipe.rs says).
    #[cfg(target_vendor = "apple")]
    {
        let (r, w) = rustix::pipe::pipe().unwrap();
        for fd in [&r, &w] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).unwrap();
            rustix::io::ioctl_fionbio(fd, true).unwrap();
        }
        (r, w)
    }
}

/// One runtime of each flavour (multi-thread with 2 workers), named. The
/// poller backend comes from `NETPOLL_POLLER`.
pub fn flavours() -> Vec<(&'static str, Runtime)> {
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

/// CPU time (user + system, in clock ticks) of this process's threads
/// named `name`: how a test tells a thread that sleeps from one that
/// spins. 0 where /proc does not show threads (off Linux).
pub fn thread_cpu_ticks(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim_end() != name {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            // utime and stime: fields 14 and 15 of stat, 12 and 13 after comm.
            Some(fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?)
        })
        .sum()
}
