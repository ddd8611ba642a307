//! The `process` suite: spawning a child and waiting for it, the async
//! runtimes against a blocking loop of std's `Command::status`.
//!
//! The child is `true`, so what is measured is the spawn (std's, which
//! all three use underneath: `posix_spawn`, a `clone3` that shares the
//! address space until the exec), the exit, and how the parent learns of
//! it: `wait4` blocking in the kernel (std), a pidfd turning readable in
//! the poller (netpoll, and tokio 1.54 on Linux), or SIGCHLD and a reaper
//! thread (netpoll's fallback).

use crate::rt::{Flavor, Netpoll, Procs, Rt, Tokio};
use crate::{time_on, Bench, Workload};
use std::process::Command;
use std::time::{Duration, Instant};

/// The program every case runs: it exits at once with status 0.
const PROGRAM: &str = "true";

/// Tasks (or std threads) of the concurrent case.
const CONCURRENCY: u32 = 8;

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    // A sample takes 0.5–1 s at 1 000 children on the 2-core VM.
    let n = if b.quick { 200 } else { 1_000 };
    warm_up();
    compare(b, &SpawnWait { n }, || std_sequential(n));
    compare(b, &SpawnWaitConcurrent { n }, || std_concurrent(n));
}

/// Measures `w` on netpoll (pidfd and SIGCHLD) and tokio, all
/// multi-thread, interleaved with `std`, its blocking equivalent, and
/// prints a row for each with its ratios to tokio and to std.
fn compare<W: Workload>(b: &Bench, w: &W, std: impl Fn() -> Duration) {
    let netpoll = || time_on::<Netpoll, W>(w, Flavor::MultiThread, Procs::Pidfd);
    let sigchld = || time_on::<Netpoll, W>(w, Flavor::MultiThread, Procs::Sigchld);
    let tokio = || time_on::<Tokio, W>(w, Flavor::MultiThread, Procs::Pidfd);
    let rows = [
        "std/blocking",
        "netpoll/multi_thread",
        "netpoll/sigchld",
        "tokio/multi_thread",
    ];
    let medians = b.interleaved(&[&std, &netpoll, &sigchld, &tokio]);
    let secs = |i: usize| medians[i].as_secs_f64();
    for (i, system) in rows.iter().enumerate() {
        let (vs_tokio, vs_std) = (secs(3) / secs(i), secs(0) / secs(i));
        b.print(
            "process",
            W::NAME,
            system,
            medians[i],
            vs_tokio,
            Some(vs_std),
        );
    }
}

/// One child through each system, untimed, so every timed sample runs in
/// the same process state: `true` and its libraries in the page cache,
/// and netpoll's SIGCHLD reaper started. The reaper, once started, stays
/// for the life of the process and its handler runs on every child's exit
/// (std's and tokio's too); without this, only the samples before the
/// first `netpoll/sigchld` one would run without it.
fn warm_up() {
    let one = SpawnWait { n: 1 };
    std_sequential(1);
    time_on::<Netpoll, _>(&one, Flavor::MultiThread, Procs::Pidfd);
    time_on::<Netpoll, _>(&one, Flavor::MultiThread, Procs::Sigchld);
    time_on::<Tokio, _>(&one, Flavor::MultiThread, Procs::Pidfd);
}

/// Panics unless the child exited with status 0: a benchmark that
/// measures failing spawns measures nothing.
fn check(status: std::io::Result<std::process::ExitStatus>) {
    let status = status.expect("spawning `true`");
    assert!(status.success(), "`true` exited with {status}");
}

/// `n` children, spawned and waited for one after the other by one task
/// (on a worker, as a server's request handler would).
struct SpawnWait {
    n: u32,
}

impl Workload for SpawnWait {
    const NAME: &'static str = "spawn_wait";

    async fn run<R: Rt>(&self) {
        let n = self.n;
        R::spawn(async move {
            for _ in 0..n {
                check(R::status(PROGRAM).await);
            }
        })
        .await;
    }
}

/// `n` children again, from 8 tasks at once, each spawning and waiting
/// for `n / 8` one after the other.
struct SpawnWaitConcurrent {
    n: u32,
}

impl Workload for SpawnWaitConcurrent {
    const NAME: &'static str = "spawn_wait_x8";

    async fn run<R: Rt>(&self) {
        let each = self.n / CONCURRENCY;
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                R::spawn(async move {
                    for _ in 0..each {
                        check(R::status(PROGRAM).await);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    }
}

/// std's equivalent of [`SpawnWait`]: `Command::status` in a loop on this
/// thread, blocking in `waitpid`.
fn std_sequential(n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        check(Command::new(PROGRAM).status());
    }
    start.elapsed()
}

/// std's equivalent of [`SpawnWaitConcurrent`]: 8 threads, each running
/// `Command::status` `n / 8` times. Starting the threads is timed (tens
/// of µs against hundreds of ms).
fn std_concurrent(n: u32) -> Duration {
    let each = n / CONCURRENCY;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CONCURRENCY {
            s.spawn(|| {
                for _ in 0..each {
                    check(Command::new(PROGRAM).status());
                }
            });
        }
    });
    start.elapsed()
}
