//! The `fairness` suite: what a task that never lets go does to the rest
//! of the runtime (the budget and the monitor at work), netpoll against
//! tokio in the same run.
//!
//! - `hog`: one always-ready ping-pong task per worker (a Unix stream pair
//!   the task holds both ends of, one byte there and back, forever) beside
//!   100 tasks that sleep 5 ms in a loop: how late the sleepers wake,
//!   p50 / p99 / max. Both runtimes have a cooperative budget; this shows
//!   whether it holds under I/O that never waits.
//! - `blocked`: on a 2-worker runtime one task blocks its worker
//!   (`std::thread::sleep`, 2 s; 0.5 s with `--quick`) while 100 sleepers
//!   and a TCP echo round trip every 5 ms run: lateness and echo latency,
//!   p99 / max, during the block. netpoll's monitor hands the blocked
//!   worker's tasks on; tokio has no such rescue.
//!
//! Latencies are wall clock, the one thing these cases are about, so each
//! row is the median over interleaved repetitions of each percentile.

use crate::report::{self, Metric};
use crate::rt::WORKERS;
use crate::Bench;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What each row reports (milliseconds; lower is better).
const METRICS: [Metric; 4] = [
    Metric {
        name: "late_p50",
        column: "late p50",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "late_p99",
        column: "late p99",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "late_max",
        column: "late max",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "echo_max",
        column: "echo max",
        unit: "ms",
        higher_is_better: false,
    },
];

/// Sleepers beside the hogs or the blocked worker.
const SLEEPERS: usize = 100;

/// Each sleeper's nap.
const NAP: Duration = Duration::from_millis(5);

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    let span = if b.quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    };
    report::header(
        b.json,
        &format!(
            "fairness: {SLEEPERS} tasks sleeping {NAP:?} in a loop for {span:?} beside \
             always-ready tasks (hog) or a worker blocked in std::thread::sleep \
             (blocked, 2 workers); how late the sleepers wake and the slowest 5 ms-spaced \
             echo round trip, in ms; medians of {} interleaved runs; ratio = tokio / netpoll.",
            b.net_reps()
        ),
        &METRICS,
    );
    let systems: [(&str, Measure); 4] = [
        ("netpoll/multi_thread", |c, s| {
            measure::<Netpoll>(c, true, s)
        }),
        ("tokio/multi_thread", |c, s| measure::<Tokio>(c, true, s)),
        ("netpoll/current_thread", |c, s| {
            measure::<Netpoll>(c, false, s)
        }),
        ("tokio/current_thread", |c, s| measure::<Tokio>(c, false, s)),
    ];
    for case in [Case::Hog, Case::Blocked] {
        // A blocked current-thread runtime has nothing left to run on.
        let n = if case == Case::Blocked { 2 } else { 4 };
        let mut samples: Vec<Vec<[f64; 4]>> = vec![Vec::new(); n];
        b.interleave(b.net_reps(), n, |i| {
            samples[i].push((systems[i].1)(case, span))
        });
        let medians: Vec<Vec<f64>> = samples
            .iter()
            .map(|runs| {
                (0..4)
                    .map(|m| report::median(runs.iter().map(|r| r[m]).collect()))
                    .collect()
            })
            .collect();
        // Each flavour's rows against its tokio row.
        for pair in (0..n).collect::<Vec<_>>().chunks(2) {
            let rows: Vec<(&str, Option<Vec<f64>>)> = pair
                .iter()
                .map(|&i| (systems[i].0, Some(medians[i].clone())))
                .collect();
            report::rows(
                b.json,
                "fairness",
                case.name(),
                &METRICS,
                &rows,
                systems[pair[1]].0,
            );
        }
    }
}

/// One run of a case on one system: its four metrics.
type Measure = fn(Case, Duration) -> [f64; 4];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Hog,
    Blocked,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Hog => "hog",
            Case::Blocked => "blocked",
        }
    }
}

/// The runtime operations the two cases need, per runtime.
trait FairRt: Sized {
    fn build(multi: bool) -> Self;
    fn block_on<F: Future>(&self, f: F) -> F::Output;
    fn spawn<F: Future<Output = ()> + Send + 'static>(f: F);
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
    /// One byte there and back over a Unix stream pair, until `stop`.
    fn hog(stop: Arc<AtomicBool>) -> impl Future<Output = ()> + Send + 'static;
    /// An echo server on loopback and a client task that makes a round
    /// trip every 5 ms until `stop`, recording each one's latency.
    fn echo(
        stop: Arc<AtomicBool>,
        rtts: Arc<Mutex<Vec<Duration>>>,
    ) -> impl Future<Output = ()> + Send;
}

/// One run of `case` for `span`: the sleepers' lateness percentiles and
/// the slowest echo, in milliseconds.
fn measure<R: FairRt>(case: Case, multi: bool, span: Duration) -> [f64; 4] {
    let rt = R::build(multi);
    let stop = Arc::new(AtomicBool::new(false));
    let late = Arc::new(Mutex::new(Vec::new()));
    let rtts = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        for _ in 0..SLEEPERS {
            let (stop, late) = (stop.clone(), late.clone());
            R::spawn(async move {
                while !stop.load(SeqCst) {
                    let start = Instant::now();
                    R::sleep(NAP).await;
                    let l = start.elapsed().saturating_sub(NAP);
                    late.lock().unwrap().push(l);
                }
            });
        }
        R::echo(stop.clone(), rtts.clone()).await;
        // Let everything settle before the measured span.
        R::sleep(Duration::from_millis(50)).await;
        late.lock().unwrap().clear();
        rtts.lock().unwrap().clear();
        match case {
            Case::Hog => {
                let workers = if multi { WORKERS } else { 1 };
                for _ in 0..workers {
                    R::spawn(R::hog(stop.clone()));
                }
            }
            Case::Blocked => R::spawn(async move { std::thread::sleep(span) }),
        }
        // Inside block_on: a current-thread runtime runs tasks only here.
        R::sleep(span).await;
    });
    stop.store(true, SeqCst);
    drop(rt);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut late = std::mem::take(&mut *late.lock().unwrap());
    late.sort();
    let pick = |q: f64| {
        late.get(((late.len() as f64 - 1.0) * q) as usize)
            .map_or(f64::NAN, |d| ms(*d))
    };
    let echo_max = rtts
        .lock()
        .unwrap()
        .iter()
        .max()
        .map_or(f64::NAN, |d| ms(*d));
    [
        pick(0.5),
        pick(0.99),
        late.last().map_or(f64::NAN, |d| ms(*d)),
        echo_max,
    ]
}

struct Netpoll(netpoll::runtime::Runtime);

impl FairRt for Netpoll {
    fn build(multi: bool) -> Self {
        let mut b = if multi {
            netpoll::runtime::Builder::new_multi_thread()
        } else {
            netpoll::runtime::Builder::new_current_thread()
        };
        Netpoll(b.worker_threads(WORKERS).build().expect("netpoll runtime"))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
        drop(netpoll::spawn(f));
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        netpoll::time::sleep(d)
    }

    async fn hog(stop: Arc<AtomicBool>) {
        let (a, b) = netpoll::net::UnixStream::pair().expect("pair");
        let mut byte = [0u8; 1];
        while !stop.load(SeqCst) {
            a.write_all(b"x").await.expect("hog write");
            b.read_exact(&mut byte).await.expect("hog read");
        }
    }

    async fn echo(stop: Arc<AtomicBool>, rtts: Arc<Mutex<Vec<Duration>>>) {
        let l = netpoll::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let stop2 = stop.clone();
        drop(netpoll::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            let mut b = [0u8; 8];
            while !stop2.load(SeqCst) {
                if s.read_exact(&mut b).await.is_err() || s.write_all(&b).await.is_err() {
                    break;
                }
            }
        }));
        let c = netpoll::net::TcpStream::connect(addr)
            .await
            .expect("connect");
        drop(netpoll::spawn(async move {
            let mut b = [0u8; 8];
            while !stop.load(SeqCst) {
                let start = Instant::now();
                if c.write_all(b"ping-png").await.is_err() || c.read_exact(&mut b).await.is_err() {
                    break;
                }
                rtts.lock().unwrap().push(start.elapsed());
                netpoll::time::sleep(NAP).await;
            }
        }));
    }
}

struct Tokio(tokio::runtime::Runtime);

impl FairRt for Tokio {
    fn build(multi: bool) -> Self {
        let mut b = if multi {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(WORKERS);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        Tokio(b.enable_all().build().expect("tokio runtime"))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
        drop(tokio::spawn(f));
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }

    async fn hog(stop: Arc<AtomicBool>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut a, mut b) = tokio::net::UnixStream::pair().expect("pair");
        let mut byte = [0u8; 1];
        while !stop.load(SeqCst) {
            a.write_all(b"x").await.expect("hog write");
            b.read_exact(&mut byte).await.expect("hog read");
        }
    }

    async fn echo(stop: Arc<AtomicBool>, rtts: Arc<Mutex<Vec<Duration>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let stop2 = stop.clone();
        drop(tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut b = [0u8; 8];
            while !stop2.load(SeqCst) {
                if s.read_exact(&mut b).await.is_err() || s.write_all(&b).await.is_err() {
                    break;
                }
            }
        }));
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        drop(tokio::spawn(async move {
            let mut b = [0u8; 8];
            while !stop.load(SeqCst) {
                let start = Instant::now();
                if c.write_all(b"ping-png").await.is_err() || c.read_exact(&mut b).await.is_err() {
                    break;
                }
                rtts.lock().unwrap().push(start.elapsed());
                tokio::time::sleep(NAP).await;
            }
        }));
    }
}
