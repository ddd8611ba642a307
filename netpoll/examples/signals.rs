//! Graceful shutdown on Ctrl-C or SIGTERM: a server's main loop waits for
//! either (or gives up after a timeout), stops its workers, and exits.
//!
//! Run it with `cargo run --release --example signals`. So that it ends by
//! itself (CI runs it), it sends itself SIGTERM after 300 ms, as
//! `kill <pid>`, systemd or Kubernetes would; press Ctrl-C before that to
//! take the other branch. It exits 0 if a signal stopped it, 1 if the
//! timeout did.
//!
//! Go: `signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)`;
//! tokio: `tokio::signal::ctrl_c()` and
//! `tokio::signal::unix::signal(SignalKind::terminate())` in a `select!`.

use netpoll::signal::{ctrl_c, signal, SIGTERM};
use netpoll::time::{sleep, timeout};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long the program waits for a signal before giving up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// Which signal ended the wait.
enum Stop {
    Interrupt,
    Terminate,
}

#[netpoll::main]
async fn main() -> std::io::Result<()> {
    let start = Instant::now();
    // Listen before anything can send: from here on, neither signal ends
    // the process by itself; this program decides.
    let interrupted = ctrl_c();
    let mut terminate = signal(SIGTERM)?;
    println!(
        "[signals] pid {}: running; Ctrl-C or `kill {}` stops it",
        std::process::id(),
        std::process::id()
    );

    // The "server": workers that count until told to stop.
    let stopping = Arc::new(AtomicBool::new(false));
    let work = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stopping, work) = (stopping.clone(), work.clone());
            netpoll::spawn(async move {
                while !stopping.load(Ordering::Relaxed) {
                    work.fetch_add(1, Ordering::Relaxed);
                    sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();

    // The demonstration's `kill <pid>`.
    netpoll::spawn(async {
        sleep(Duration::from_millis(300)).await;
        let me = rustix::process::getpid();
        rustix::process::kill_process(me, rustix::process::Signal::TERM)
    });

    // Whichever comes first (tokio: select!).
    let mut interrupted = pin!(interrupted);
    let either = poll_fn(|cx| {
        if let Poll::Ready(res) = interrupted.as_mut().poll(cx) {
            return Poll::Ready(res.map(|()| Stop::Interrupt));
        }
        terminate
            .poll_recv(cx)
            .map(|_| Ok::<_, std::io::Error>(Stop::Terminate))
    });
    let stop = match timeout(GIVE_UP_AFTER, either).await {
        Ok(stop) => stop?,
        Err(_) => {
            eprintln!("[signals] no signal in {GIVE_UP_AFTER:?}: giving up");
            std::process::exit(1);
        }
    };
    let name = match stop {
        Stop::Interrupt => "SIGINT (Ctrl-C)",
        Stop::Terminate => "SIGTERM",
    };
    println!(
        "[signals] {name} after {:?}: shutting down",
        start.elapsed()
    );

    // Graceful: tell the workers, wait for each (bounded).
    stopping.store(true, Ordering::Relaxed);
    for w in workers {
        timeout(Duration::from_secs(1), w)
            .await
            .map_err(|_| std::io::Error::other("a worker did not stop"))?
            .map_err(std::io::Error::other)?;
    }
    println!(
        "[signals] {} units of work done; all workers stopped, exiting",
        work.load(Ordering::Relaxed)
    );
    Ok(())
}
