//! An axum app on netpoll: `compat::serve_tower` serves the Router with
//! Go's per-connection deadlines, and shuts down gracefully on Ctrl-C or
//! SIGTERM (in-flight requests finish, bounded by a timeout).
//!
//! Run it with `cargo run --release --features server,client --example
//! axum_server`. So that it ends by itself (CI runs it), it fetches two
//! pages from itself with hyper-util's legacy `Client` over
//! `compat::HttpConnector`, then sends itself SIGTERM, as `kill <pid>`,
//! systemd or Kubernetes would.
//!
//! Go: `http.Server{Handler: mux}.Serve(l)` with `signal.NotifyContext`
//! and `Shutdown`; tokio: `axum::serve(listener, app)
//! .with_graceful_shutdown(signal)`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use netpoll::compat::{HttpConnector, HyperExecutor, HyperTimer};
use netpoll::net::TcpListener;
use netpoll::signal::{ctrl_c, signal, SIGTERM};
use std::future::{poll_fn, Future, IntoFuture};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

async fn hello(Path(name): Path<String>) -> String {
    format!("Hello, {name}!")
}

#[netpoll::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(|| async { "netpoll + axum" }))
        .route("/hello/{name}", get(hello));

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("[axum_server] listening on http://{addr}");

    // Listen for the signals before anything can send them.
    let interrupted = ctrl_c();
    let mut terminate = signal(SIGTERM)?;
    let shutdown = async move {
        let mut interrupted = pin!(interrupted);
        poll_fn(|cx| {
            if interrupted.as_mut().poll(cx).is_ready() {
                return Poll::Ready("SIGINT");
            }
            terminate.poll_recv(cx).map(|_| "SIGTERM")
        })
        .await;
        println!("[axum_server] signal received: shutting down gracefully");
    };

    let server = netpoll::spawn(
        netpoll::compat::serve_tower(listener, app)
            .with_graceful_shutdown(shutdown)
            .shutdown_timeout(Duration::from_secs(5))
            .header_read_timeout(Some(Duration::from_secs(10)))
            .idle_timeout(Some(Duration::from_secs(60)))
            .into_future(),
    );

    // The demonstration's client: hyper-util's pooled Client on netpoll.
    let client: Client<_, Empty<Bytes>> = Client::builder(HyperExecutor)
        .timer(HyperTimer)
        .pool_timer(HyperTimer)
        .build(HttpConnector::new());
    for path in ["/", "/hello/netpoll"] {
        let uri = format!("http://{addr}{path}")
            .parse()
            .map_err(std::io::Error::other)?;
        let res = client.get(uri).await.map_err(std::io::Error::other)?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        println!(
            "[axum_server] GET {path} -> {status}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(status.is_success());
    }
    drop(client);

    // The demonstration's `kill <pid>`.
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM)?;
    server.await.map_err(std::io::Error::other)??;
    println!("[axum_server] all connections done, exiting");
    Ok(())
}
