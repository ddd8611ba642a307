//! No task can starve a worker: a task whose I/O is always ready yields
//! once its budget is spent. On both runtime flavours; the poller backend
//! comes from NETPOLL_POLLER (CI runs the file once per backend).

mod common;

use common::flavours;
use netpoll::net::{TcpListener, TcpStream, UnixStream};
use netpoll::task::JoinHandle;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How late a 10 ms sleep may end, and how long a fresh connection may
/// take to be served, beside the always-ready tasks (the bound).
const BOUND: Duration = Duration::from_millis(100);

/// Rounds measured; the best one decides, so one stall of a loaded
/// machine cannot fail the test while a starved runtime (seconds late
/// every round) still does.
const ROUNDS: usize = 3;

/// A task whose every operation is ready at once: a ping-pong over a Unix
/// stream pair it holds both ends of. It never waits, so only its budget
/// makes it give its worker up. It stops when `stop` is set.
fn spawn_hog(stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    netpoll::spawn(async move {
        let (a, b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 1];
        let mut turns = 0;
        while !stop.load(SeqCst) {
            a.write_all(b"x").await.unwrap();
            b.read_exact(&mut buf).await.unwrap();
            turns += 1;
        }
        turns
    })
}

/// Sets `stop` after `after`, so a starved runtime still ends the test.
fn watchdog(stop: &Arc<AtomicBool>, after: Duration) {
    let stop = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        stop.store(true, SeqCst);
    });
}

#[test]
fn always_ready_tasks_on_every_worker_starve_neither_timers_nor_accepts() {
    for (name, rt) in flavours() {
        let workers = if name == "multi_thread" { 2 } else { 1 };
        let stop = Arc::new(AtomicBool::new(false));
        watchdog(&stop, Duration::from_secs(10));
        let (late, served) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = netpoll::spawn(async move {
                loop {
                    let (s, _) = listener.accept().await.unwrap();
                    let mut b = [0u8; 4];
                    s.read_exact(&mut b).await.unwrap();
                    s.write_all(&b).await.unwrap();
                }
            });
            let hogs: Vec<_> = (0..workers).map(|_| spawn_hog(stop.clone())).collect();
            // Let the hogs take their workers.
            netpoll::time::sleep(Duration::from_millis(20)).await;
            let (mut late, mut served) = (Duration::MAX, Duration::MAX);
            for _ in 0..ROUNDS {
                let start = Instant::now();
                netpoll::time::sleep(Duration::from_millis(10)).await;
                late = late.min(start.elapsed().saturating_sub(Duration::from_millis(10)));
                let start = Instant::now();
                let c = TcpStream::connect(addr).await.unwrap();
                c.write_all(b"ping").await.unwrap();
                let mut b = [0u8; 4];
                c.read_exact(&mut b).await.unwrap();
                served = served.min(start.elapsed());
            }
            // Measured beside running hogs, not after the watchdog stopped
            // them (a starved runtime gets here only then).
            assert!(
                !stop.swap(true, SeqCst),
                "{name}: starved until the watchdog stopped the always-ready tasks"
            );
            for h in hogs {
                assert!(h.await.unwrap() > 0);
            }
            server.abort();
            (late, served)
        });
        assert!(late < BOUND, "{name}: a 10 ms sleep ended {late:?} late");
        assert!(served < BOUND, "{name}: a connection took {served:?}");
    }
}

/// Polls `fut` to completion, counting its polls.
async fn count_polls<F: std::future::Future>(fut: F) -> usize {
    let mut fut = std::pin::pin!(fut);
    let mut polls = 0;
    std::future::poll_fn(|cx| {
        polls += 1;
        fut.as_mut().poll(cx).map(|_| ())
    })
    .await;
    polls
}

/// `consume_budget` makes a loop without netpoll I/O yield once per
/// budget, and `unconstrained` opts out: its operations never yield.
#[test]
fn consume_budget_yields_and_unconstrained_never_does() {
    let units = |n: usize| async move {
        for _ in 0..n {
            netpoll::task::consume_budget().await;
        }
    };
    for (name, rt) in flavours() {
        let (bounded, free) = rt.block_on(async {
            let bounded = netpoll::spawn(count_polls(units(1000))).await.unwrap();
            let free = netpoll::spawn(count_polls(netpoll::task::unconstrained(units(1000))))
                .await
                .unwrap();
            (bounded, free)
        });
        assert!(
            bounded >= 1000 / 128,
            "{name}: 1000 units in {bounded} polls"
        );
        assert_eq!(free, 1, "{name}: unconstrained yielded");
    }
}
