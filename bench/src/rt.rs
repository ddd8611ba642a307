//! One interface over the two runtimes, so each workload is written once
//! and the only thing that differs between the rows of a case is the
//! runtime underneath.

use std::future::Future;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// The scheduler flavour, named as both runtimes name it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    /// Worker threads ([`WORKERS`] of them); `block_on` only waits.
    MultiThread,
    /// Tasks run on the thread that calls `block_on`.
    CurrentThread,
}

/// Whether and how a runtime handles child processes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Procs {
    /// None: tokio gets its timers only (the sched and timers suites);
    /// netpoll is built as it comes.
    #[default]
    None,
    /// netpoll holds each child by pidfd (`Builder::pidfd(true)`); tokio
    /// gets its I/O and signal drivers, which `tokio::process` needs (and
    /// on Linux it too waits through a pidfd where it can).
    Pidfd,
    /// netpoll's SIGCHLD reaper (`Builder::pidfd(false)`); tokio as for
    /// `Pidfd`.
    Sigchld,
}

/// Workers of a multi-thread runtime: one per core of the 2-core machine
/// the results were taken on, the same for both runtimes.
pub const WORKERS: usize = 2;

/// What a workload needs from a runtime.
pub trait Rt: 'static {
    /// Starts a runtime of `flavor`, set up for child processes as `procs`
    /// says; panics if it cannot (a benchmark has nothing sensible to do
    /// without one).
    fn build(flavor: Flavor, procs: Procs) -> Self;

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

    /// Runs `f` outside any cooperative budget. Both runtimes' `Sleep::poll`
    /// returns `Pending` without registering its timer once a task has
    /// spent its budget (128 operations), which would make a loop that
    /// polls a million sleeps in one go measure nothing.
    fn unbudgeted<F: Future>(f: F) -> impl Future<Output = F::Output>;

    /// Starts `program` (no arguments, inherited stdio) and waits for it:
    /// the runtime's own process type, spawn then wait.
    fn status(program: &'static str) -> impl Future<Output = io::Result<ExitStatus>> + Send;
}

/// netpoll, the runtime under test.
pub struct Netpoll(netpoll::runtime::Runtime);

impl Rt for Netpoll {
    fn build(flavor: Flavor, procs: Procs) -> Self {
        let mut b = match flavor {
            Flavor::MultiThread => netpoll::runtime::Builder::new_multi_thread(),
            Flavor::CurrentThread => netpoll::runtime::Builder::new_current_thread(),
        };
        match procs {
            Procs::None => {}
            Procs::Pidfd => {
                b.pidfd(true);
            }
            Procs::Sigchld => {
                b.pidfd(false);
            }
        }
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
        netpoll::task::unconstrained(f)
    }

    async fn status(program: &'static str) -> io::Result<ExitStatus> {
        netpoll::process::Command::new(program)
            .spawn()?
            .wait()
            .await
    }
}

/// tokio, the baseline. Built with timers only for the sched and timers
/// suites, which do no I/O; with its I/O and signal drivers too for the
/// process suite.
pub struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    fn build(flavor: Flavor, procs: Procs) -> Self {
        let mut b = match flavor {
            Flavor::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(WORKERS);
                b
            }
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        };
        b.enable_time();
        if procs != Procs::None {
            b.enable_io();
        }
        Tokio(b.build().expect("tokio runtime"))
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

    async fn status(program: &'static str) -> io::Result<ExitStatus> {
        tokio::process::Command::new(program).status().await
    }
}
