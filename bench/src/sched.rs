//! The `sched` suite: the scheduler alone — spawning, waking, yielding —
//! with no I/O and no timers.

use crate::rt::Rt;
use crate::{Bench, Workload};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use tokio::sync::oneshot;

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    b.case("sched", &SpawnMany);
    b.case("sched", &PingPong);
    b.case("sched", &YieldMany);
    b.case("sched", &ChainedSpawn);
}

/// 10 000 trivial tasks spawned from `block_on`, then all joined: the cost
/// of spawn, of the first poll and of the join handle.
struct SpawnMany;

impl Workload for SpawnMany {
    const NAME: &'static str = "spawn_many";
    const ITERS: u32 = 5;

    async fn run<R: Rt>(&self) {
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| R::spawn(async move { black_box(i) * 2 }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        assert_eq!(sum, 9_999 * 10_000);
    }
}

/// 1 000 pairs of tasks, each pair one message there and one back through
/// tokio's oneshot (executor-agnostic, so only the scheduler differs):
/// the cost of cross-task wakes.
struct PingPong;

impl Workload for PingPong {
    const NAME: &'static str = "ping_pong";
    const ITERS: u32 = 20;

    async fn run<R: Rt>(&self) {
        let mut pongers = Vec::with_capacity(1_000);
        let mut pingers = Vec::with_capacity(1_000);
        for i in 0..1_000u32 {
            let (ping_tx, ping_rx) = oneshot::channel();
            let (pong_tx, pong_rx) = oneshot::channel();
            // The ponger first, so it is usually already waiting when the
            // ping arrives and both directions are real wakes.
            pongers.push(R::spawn(async move {
                let v: u32 = ping_rx.await.expect("ping");
                pong_tx.send(v + 1).expect("pong");
            }));
            pingers.push(R::spawn(async move {
                ping_tx.send(i).expect("ping");
                assert_eq!(pong_rx.await.expect("pong"), i + 1);
            }));
        }
        for h in pingers {
            h.await;
        }
        for h in pongers {
            h.await;
        }
    }
}

/// 200 tasks yielding 1 000 times each: the run queue's round trip, and
/// whether a yielding task really lets the others run.
struct YieldMany;

impl Workload for YieldMany {
    const NAME: &'static str = "yield_many";
    const ITERS: u32 = 2;

    async fn run<R: Rt>(&self) {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                R::spawn(async {
                    for _ in 0..1_000 {
                        R::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
    }
}

/// A chain of 1 000 tasks, each spawning the next from inside a task; the
/// last one signals the end: spawn latency from a worker, one at a time.
struct ChainedSpawn;

impl Workload for ChainedSpawn {
    const NAME: &'static str = "chained_spawn";
    const ITERS: u32 = 50;

    async fn run<R: Rt>(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        drop(R::spawn(link::<R>(1_000, done_tx)));
        done_rx.await.expect("chain end");
    }
}

/// One link of [`ChainedSpawn`]. Boxed: a future that spawns its own type
/// needs a named type to be `Send`-checked at all.
fn link<R: Rt>(left: u32, done: oneshot::Sender<()>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if left == 0 {
            let _ = done.send(());
        } else {
            // Dropping the join handle detaches the next link.
            drop(R::spawn(link::<R>(left - 1, done)));
        }
    })
}
