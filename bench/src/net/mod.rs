//! The network suites: `echo`, `http`, `idle` and `syscalls`.
//!
//! Every server runs as a child process (this binary's hidden `serve`
//! command, or the Go program `bench/go/servers.go`), so that its CPU time,
//! memory and syscalls are its own and can be read from `/proc` and
//! `strace`, and so that it can be pinned to a core apart from the load.
//! The load comes from this process: the raw epoll client (`client.rs`),
//! the same for every server, or `wrk` for HTTP.

pub mod client;
pub mod echo;
mod floor;
pub mod http;
pub mod idle;
mod proc;
pub mod serve;
pub mod syscalls;

pub use proc::{pin_and_exec, Server};

/// A server under test: one runtime (and flavour) serving one app.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    /// netpoll's current-thread runtime.
    NetpollCt,
    /// netpoll's multi-thread runtime.
    NetpollMt,
    /// tokio's current_thread runtime.
    TokioCt,
    /// tokio's multi_thread runtime.
    TokioMt,
    /// smol's executor on as many threads as the placement has workers.
    Smol,
    /// Go: a goroutine per connection (`bench/go/servers.go`), GOMAXPROCS = workers.
    Go,
    /// A hand-written epoll loop on one thread: the floor (`floor.rs`).
    Epoll,
}

impl Peer {
    /// Every peer of the echo suite, in the order a repetition runs them.
    pub const ALL: [Peer; 7] = [
        Peer::NetpollCt,
        Peer::NetpollMt,
        Peer::TokioCt,
        Peer::TokioMt,
        Peer::Smol,
        Peer::Go,
        Peer::Epoll,
    ];

    /// The name in the output's `system` column.
    pub fn name(self) -> &'static str {
        match self {
            Peer::NetpollCt => "netpoll/current_thread",
            Peer::NetpollMt => "netpoll/multi_thread",
            Peer::TokioCt => "tokio/current_thread",
            Peer::TokioMt => "tokio/multi_thread",
            Peer::Smol => "smol",
            Peer::Go => "go",
            Peer::Epoll => "epoll",
        }
    }

    /// The argument of `netpoll-bench serve <app> <peer>`.
    pub fn arg(self) -> &'static str {
        match self {
            Peer::NetpollCt => "netpoll-ct",
            Peer::NetpollMt => "netpoll-mt",
            Peer::TokioCt => "tokio-ct",
            Peer::TokioMt => "tokio-mt",
            Peer::Smol => "smol",
            Peer::Go => "go",
            Peer::Epoll => "epoll",
        }
    }

    /// The peer named `arg` (see [`arg`](Self::arg)).
    pub fn from_arg(arg: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.arg() == arg)
    }

    /// The peer whose result every row of a case is compared with: tokio
    /// current_thread when the server has one core, multi_thread when it
    /// shares both with the load.
    pub fn reference(placement: Placement) -> Peer {
        match placement {
            Placement::Pinned => Peer::TokioCt,
            Placement::Shared => Peer::TokioMt,
        }
    }
}

/// What a server serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum App {
    /// Echoes what it reads, per connection, through a 4 KiB buffer.
    Echo,
    /// HTTP/1.1 `Hello, World!` (hyper on the Rust runtimes, net/http in
    /// Go).
    Http,
}

impl App {
    /// The argument of `netpoll-bench serve <app> <peer>` and of the Go
    /// `servers` program.
    pub fn arg(self) -> &'static str {
        match self {
            App::Echo => "echo",
            App::Http => "http",
        }
    }
}

/// Where the server and its load run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Placement {
    /// The server on core 0 with one worker, the load on core 1.
    Pinned,
    /// Neither pinned; multi-thread servers get a worker per core.
    Shared,
}

impl Placement {
    /// Worker threads of a multi-thread server (and Go's GOMAXPROCS).
    pub fn workers(self) -> usize {
        match self {
            Placement::Pinned => 1,
            Placement::Shared => crate::rt::WORKERS,
        }
    }

    /// The core the server is confined to, if any.
    pub fn server_cpu(self) -> Option<usize> {
        (self == Placement::Pinned).then_some(0)
    }

    /// The core the load is confined to, if any.
    pub fn load_cpu(self) -> Option<usize> {
        (self == Placement::Pinned).then_some(1)
    }

    /// The name of a case with `conns` connections: `pinned_c50`, …
    pub fn case_name(self, conns: usize) -> String {
        match self {
            Placement::Pinned => format!("pinned_c{conns}"),
            Placement::Shared => format!("shared_c{conns}"),
        }
    }
}

/// Pins the calling thread to `cpu` (`None`: leaves it where it may run).
pub fn pin_thread(cpu: Option<usize>) -> std::io::Result<()> {
    if let Some(cpu) = cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set)?;
    }
    Ok(())
}

/// A sample's medians-to-be, one per metric; `Ok(None)` when the peer
/// cannot run here (already noted).
pub type Sample = std::io::Result<Option<Vec<f64>>>;

/// Measures one case: `sample(peer)` for every peer of `peers`,
/// interleaved over [`crate::Bench::net_reps`] repetitions, then a row per peer
/// with the medians, compared with `reference`'s. A peer whose sample
/// fails is noted and left out of the rest of the case.
pub fn case(
    b: &crate::Bench,
    suite: &str,
    case: &str,
    metrics: &[crate::report::Metric],
    peers: &[Peer],
    reference: Peer,
    sample: impl Fn(Peer) -> Sample,
) {
    let peers: Vec<Peer> = peers.iter().copied().filter(|p| chosen(*p)).collect();
    // Per peer: every sample so far, or None once it is out.
    let mut samples: Vec<Option<Vec<Vec<f64>>>> = vec![Some(Vec::new()); peers.len()];
    b.interleave(b.net_reps(), peers.len(), |i| {
        let Some(taken) = &mut samples[i] else { return };
        match sample(peers[i]) {
            Ok(Some(values)) => taken.push(values),
            Ok(None) => samples[i] = None,
            Err(e) => {
                b.note(&format!("{suite} {case}: {} failed: {e}", peers[i].name()));
                samples[i] = None;
            }
        }
    });
    let rows: Vec<(&str, Option<Vec<f64>>)> = peers
        .iter()
        .zip(samples)
        .map(|(peer, taken)| {
            let medians = taken.filter(|t| !t.is_empty()).map(|t| {
                (0..metrics.len())
                    .map(|m| crate::report::median(t.iter().map(|v| v[m]).collect()))
                    .collect()
            });
            (peer.name(), medians)
        })
        .collect();
    crate::report::rows(b.json, suite, case, metrics, &rows, reference.name());
}

/// Whether `peer` is among those `NETPOLL_BENCH_PEERS` lists (a comma-
/// separated list of `serve` names such as `netpoll-ct,tokio-ct`; all
/// when unset), to rerun or profile a few servers alone.
fn chosen(peer: Peer) -> bool {
    match std::env::var("NETPOLL_BENCH_PEERS") {
        Ok(list) => list.split(',').any(|p| p.trim() == peer.arg()),
        Err(_) => true,
    }
}

/// One sample of `peer` serving `app`: starts the server, runs `load`
/// against it on a thread of its own placed as `placement` says (the
/// caller keeps its affinity; a program the load starts, such as wrk,
/// inherits the thread's), then stops the server. `Ok(None)` when the
/// peer cannot run here (already noted).
pub fn with_server(
    b: &crate::Bench,
    app: App,
    peer: Peer,
    placement: Placement,
    load: impl FnOnce(&Server) -> std::io::Result<Vec<f64>> + Send,
) -> Sample {
    let Some(server) = Server::start(b, app, peer, placement)? else {
        return Ok(None);
    };
    let values = std::thread::scope(|s| {
        s.spawn(|| {
            pin_thread(placement.load_cpu())?;
            load(&server)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the load thread panicked")))
    });
    server.stop();
    values.map(Some)
}
