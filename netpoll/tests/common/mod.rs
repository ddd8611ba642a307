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

/// How many fds this process has open.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
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
    use rustix::pipe::{pipe_with, PipeFlags};
    pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).unwrap()
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
