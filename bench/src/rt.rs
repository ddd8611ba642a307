//! One interface over the two runtimes, so each workload is written once
//! and the only thing that differs between the rows of a case is the
//! runtime underneath.

use std::future::Future;
use std::time::Duration;

/// The scheduler flavour, named as both runtimes name it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    /// Worker threads ([`WORKERS`] of them); `block_on` only waits.
    MultiThread,
    /// Tasks run on the thread that calls `block_on`.
    CurrentThread,
}

/// Workers of a multi-thread runtime: one per core of the 2-core machine
/// the results were taken on, the same for both runtimes.
pub const WORKERS: usize = 2;

/// What a workload needs from a runtime.
pub trait Rt: 'static {
    /// Starts a runtime of `flavor`; panics if it cannot (a benchmark has
    /// nothing sensible to do without one).
    fn build(flavor: Flavor) -> Self;

    /// Runs `f` to completion on this thread.
    fn block_on<F: Future>(&self, f: F) -> F::Output;

    /// Spawns `f` at once and returns its output when awaited. The join
    /// error is unwrapped: a benchmark task never panics or is aborted.
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Yields to the scheduler once.
    fn yield_now() -> impl Future<Output = ()> + Send;

    /// Sleeps for `d` on the runtime's timers.
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;

    /// Runs `f` outside any cooperative budget. tokio's `Sleep::poll`
    /// returns `Pending` without registering its timer once a task has
    /// spent its budget (128 polls), which would make a loop that polls a
    /// million sleeps in one go measure nothing; netpoll has no budget.
    fn unbudgeted<F: Future>(f: F) -> impl Future<Output = F::Output>;
}

/// netpoll, the runtime under test.
pub struct Netpoll(netpoll::runtime::Runtime);

impl Rt for Netpoll {
    fn build(flavor: Flavor) -> Self {
        let mut b = match flavor {
            Flavor::MultiThread => netpoll::runtime::Builder::new_multi_thread(),
            Flavor::CurrentThread => netpoll::runtime::Builder::new_current_thread(),
        };
        Netpoll(b.worker_threads(WORKERS).build().expect("netpoll runtime"))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = netpoll::spawn(f);
        async move { handle.await.expect("netpoll task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        netpoll::task::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        netpoll::time::sleep(d)
    }

    fn unbudgeted<F: Future>(f: F) -> impl Future<Output = F::Output> {
        f
    }
}

/// tokio, the baseline. Built with timers only: the sched and timers
/// suites do no I/O, and `enable_io` would need the `net` feature.
pub struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    fn build(flavor: Flavor) -> Self {
        let mut b = match flavor {
            Flavor::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(WORKERS);
                b
            }
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        };
        Tokio(b.enable_time().build().expect("tokio runtime"))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(f);
        async move { handle.await.expect("tokio task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }

    fn unbudgeted<F: Future>(f: F) -> impl Future<Output = F::Output> {
        tokio::task::unconstrained(f)
    }
}
