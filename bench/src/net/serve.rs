//! `netpoll-bench serve <app> <peer> <workers>`: the Rust servers, one
//! process each. Every one binds a free loopback port, prints
//! `listening <addr>`, serves until its stdin closes, and then exits.
//!
//! The echo servers are the same loop on every runtime: a task per
//! connection, a 4 KiB buffer, read then write all, until EOF or an
//! error. The HTTP servers are hyper's http1 server answering
//! `Hello, World!`, each with its runtime's timer (for hyper's header
//! timeout) and executor.

use super::{floor, App, Peer};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// Runs the server `args` names; returns only on failure.
pub fn main(args: &[String]) -> io::Result<()> {
    let usage = || io::Error::other("usage: netpoll-bench serve <echo|http> <peer> <workers>");
    let [app, peer, workers] = args else {
        return Err(usage());
    };
    let app = match app.as_str() {
        "echo" => App::Echo,
        "http" => App::Http,
        _ => return Err(usage()),
    };
    let peer = Peer::from_arg(peer).ok_or_else(usage)?;
    let workers: usize = workers.parse().map_err(|_| usage())?;
    exit_when_stdin_closes();
    match (app, peer) {
        (App::Echo, Peer::NetpollCt | Peer::NetpollMt) => {
            netpoll_rt(peer, workers)?.block_on(netpoll_echo())
        }
        (App::Echo, Peer::TokioCt | Peer::TokioMt) => {
            tokio_rt(peer, workers)?.block_on(tokio_echo())
        }
        (App::Echo, Peer::Smol) => smol_echo(workers),
        (App::Echo, Peer::Epoll) => floor::serve(announce),
        (App::Http, Peer::NetpollCt | Peer::NetpollMt) => {
            netpoll_rt(peer, workers)?.block_on(netpoll_http())
        }
        (App::Http, Peer::TokioCt | Peer::TokioMt) => {
            tokio_rt(peer, workers)?.block_on(tokio_http())
        }
        (_, _) => Err(io::Error::other(format!(
            "no {} server for {}",
            app.arg(),
            peer.name()
        ))),
    }
}

/// Tells the bench where the server listens.
fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
}

/// The bench stops a server by closing its stdin: a thread waits for
/// that and ends the process.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while let Ok(n) = io::stdin().read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
}

/// netpoll of `peer`'s flavour.
fn netpoll_rt(peer: Peer, workers: usize) -> io::Result<netpoll::runtime::Runtime> {
    match peer {
        Peer::NetpollCt => netpoll::runtime::Builder::new_current_thread().build(),
        _ => netpoll::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build(),
    }
}

/// tokio of `peer`'s flavour, with its I/O driver and timers.
fn tokio_rt(peer: Peer, workers: usize) -> io::Result<tokio::runtime::Runtime> {
    let mut b = match peer {
        Peer::TokioCt => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        }
    };
    b.enable_io().enable_time().build()
}

async fn netpoll_echo() -> io::Result<()> {
    let listener = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    announce(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        netpoll::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn tokio_echo() -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    announce(listener.local_addr()?);
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// smol's executor run by `workers` threads (this one included), each
/// also driving async-io's reactor when it has nothing to run.
fn smol_echo(workers: usize) -> io::Result<()> {
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    // Threads that run the executor need it for the life of the process.
    let ex: &'static smol::Executor<'static> = Box::leak(Box::new(smol::Executor::new()));
    for _ in 1..workers {
        std::thread::spawn(|| smol::block_on(ex.run(smol::future::pending::<()>())));
    }
    smol::block_on(ex.run(async {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?);
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            ex.spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            })
            .detach();
        }
    }))
}

/// The response of every HTTP server.
async fn hello(
    _: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<hyper::body::Bytes>>, std::convert::Infallible> {
    Ok(hyper::Response::new(http_body_util::Full::new(
        hyper::body::Bytes::from_static(b"Hello, World!"),
    )))
}

async fn netpoll_http() -> io::Result<()> {
    let listener = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    announce(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        netpoll::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(netpoll::compat::HyperTimer)
                .serve_connection(stream, hyper::service::service_fn(hello))
                .await;
        });
    }
}

async fn tokio_http() -> io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    announce(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper::service::service_fn(hello),
                )
                .await;
        });
    }
}
