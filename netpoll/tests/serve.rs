//! `compat::serve`: hyper services served with graceful shutdown, Go's
//! header-read and idle deadlines, and upgrades; `compat::HyperIo` both
//! ways. On both runtime flavours; CI runs the binary once per poller.
#![cfg(feature = "server")]

mod common;

use common::{flavours, serial, SLACK};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use netpoll::compat::HyperIo;
use netpoll::net::{TcpListener, TcpStream};
use netpoll::time::{sleep, timeout};
use std::convert::Infallible;
use std::future::{poll_fn, Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);
const SLOW: Duration = Duration::from_millis(600);

/// A one-shot trigger: `fire()` completes every `wait()`.
#[derive(Clone, Default)]
struct Trigger(Arc<Mutex<(bool, Vec<Waker>)>>);

impl Trigger {
    fn fire(&self) {
        let wakers = {
            let mut g = self.0.lock().unwrap();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        poll_fn(move |cx| {
            let mut g = me.0.lock().unwrap();
            if g.0 {
                Poll::Ready(())
            } else {
                g.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

type Res = Result<Response<Full<Bytes>>, Infallible>;
type Handler = fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Res> + Send>>;

/// The test service (hyper's `ServiceFn` type cannot be named).
#[derive(Clone, Copy)]
struct Svc(Handler);

impl hyper::service::Service<Request<Incoming>> for Svc {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Res> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        (self.0)(req)
    }
}

fn handler(req: Request<Incoming>) -> Pin<Box<dyn Future<Output = Res> + Send>> {
    Box::pin(async move {
        match req.uri().path() {
            "/slow" => {
                sleep(SLOW).await;
                Ok(Response::new(Full::new(Bytes::from_static(b"slow"))))
            }
            "/upgrade" => {
                // Echo the upgraded connection's bytes back until EOF.
                netpoll::spawn(async move {
                    let up = hyper::upgrade::on(req).await.expect("upgrade");
                    let mut io = HyperIo::new(up);
                    let mut buf = [0u8; 64];
                    loop {
                        let n = read(&mut io, &mut buf).await.expect("upgraded read");
                        if n == 0 {
                            break;
                        }
                        write_all(&mut io, &buf[..n]).await.expect("upgraded write");
                    }
                });
                let mut res = Response::new(Full::default());
                *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                res.headers_mut()
                    .insert(hyper::header::CONNECTION, "upgrade".parse().unwrap());
                res.headers_mut()
                    .insert(hyper::header::UPGRADE, "echo".parse().unwrap());
                Ok(res)
            }
            path => Ok(Response::new(Full::new(Bytes::from(path.to_owned())))),
        }
    })
}

async fn read<R: futures_io::AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, buf)).await
}

async fn write_all<W: futures_io::AsyncWrite + Unpin>(
    w: &mut W,
    mut buf: &[u8],
) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    poll_fn(|cx| Pin::new(&mut *w).poll_flush(cx)).await
}

/// Starts a server with `configure` applied; returns its address, the
/// shutdown trigger and its task.
async fn start<F>(
    configure: F,
) -> (
    SocketAddr,
    Trigger,
    netpoll::task::JoinHandle<std::io::Result<()>>,
)
where
    F: FnOnce(netpoll::compat::Serve<Svc>) -> netpoll::compat::Serve<Svc>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let trigger = Trigger::default();
    let f: Handler = handler;
    let server =
        configure(netpoll::compat::serve(listener, Svc(f))).with_graceful_shutdown(trigger.wait());
    let task = netpoll::spawn(server.into_future());
    (addr, trigger, task)
}

async fn client(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
    netpoll::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender
}

async fn get(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> (StatusCode, Bytes) {
    sender.ready().await.unwrap();
    let req = Request::get(path)
        .header(hyper::header::HOST, "localhost")
        .body(Empty::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

fn run<F: Future<Output = ()>>(body: impl Fn(&'static str) -> F) {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            timeout(LIMIT, body(name))
                .await
                .unwrap_or_else(|_| panic!("{name}: timed out"));
        });
    }
}

#[test]
fn serve_answers_requests_then_shuts_down() {
    run(|name| async move {
        let (addr, trigger, server) = start(|s| s).await;
        let mut c = client(addr).await;
        for i in 0..3 {
            let (status, body) = get(&mut c, &format!("/p/{i}")).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(&body[..], format!("/p/{i}").as_bytes(), "{name}");
        }
        // An idle keep-alive connection does not hold the shutdown up.
        let t0 = Instant::now();
        trigger.fire();
        server.await.unwrap().unwrap();
        assert!(t0.elapsed() < SLACK * 4, "{name}: {:?}", t0.elapsed());
        // The listener is closed. (Polled: the fd's close(2) may trail the
        // drop by a moment while the poller lets go of it.)
        let t1 = Instant::now();
        while TcpStream::connect(addr).await.is_ok() {
            assert!(t1.elapsed() < SLACK * 4, "{name}: still accepting");
            sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn graceful_shutdown_waits_for_in_flight_request() {
    run(|name| async move {
        let (addr, trigger, server) = start(|s| s).await;
        let mut c = client(addr).await;
        let t0 = Instant::now();
        let req = netpoll::spawn(async move { get(&mut c, "/slow").await });
        sleep(SLOW / 4).await;
        trigger.fire();
        let res = server.await.unwrap();
        assert!(res.is_ok(), "{name}: {res:?}");
        // The server waited for the slow handler...
        assert!(t0.elapsed() >= SLOW, "{name}: {:?}", t0.elapsed());
        // ...which answered in full.
        let (status, body) = req.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(&body[..], b"slow", "{name}");
    });
}

#[test]
fn shutdown_timeout_closes_what_is_left() {
    run(|name| async move {
        let (addr, trigger, server) = start(|s| s.shutdown_timeout(SLOW / 4)).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(stream)
            .await
            .unwrap();
        let conn = netpoll::spawn(conn);
        let req = Request::get("/slow")
            .header(hyper::header::HOST, "localhost")
            .body(Empty::new())
            .unwrap();
        let res = netpoll::spawn(sender.send_request(req));
        sleep(SLOW / 8).await;
        let t0 = Instant::now();
        trigger.fire();
        let err = server.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{name}");
        assert!(
            t0.elapsed() < SLOW / 4 + SLACK,
            "{name}: {:?}",
            t0.elapsed()
        );
        // The client sees its connection closed, not an answer.
        assert!(res.await.unwrap().is_err(), "{name}");
        let _ = conn.await;
    });
}

/// Reads until EOF (or an error, such as a reset); returns when.
async fn until_eof(s: &TcpStream) -> Instant {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

#[test]
fn slowloris_cut_off_after_header_timeout() {
    let header = Duration::from_millis(400);
    run(|name| async move {
        let (addr, trigger, server) = start(|s| s.header_read_timeout(Some(header))).await;
        let s = TcpStream::connect(addr).await.unwrap();
        let t0 = Instant::now();
        // Half a header, then nothing.
        s.write_all(b"GET / HTTP/1.1\r\nHost: loc").await.unwrap();
        let at = until_eof(&s).await;
        let took = at - t0;
        assert!(
            took >= header - Duration::from_millis(50),
            "{name}: {took:?}"
        );
        assert!(took < header + SLACK * 2, "{name}: {took:?}");
        trigger.fire();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn idle_keep_alive_closed_after_idle_timeout_not_header_timeout() {
    // Idle longer than the header timeout: the idle deadline, not the
    // header one, applies between requests (Go's split).
    let header = Duration::from_millis(200);
    let idle = Duration::from_millis(800);
    run(|name| async move {
        let (addr, trigger, server) =
            start(|s| s.header_read_timeout(Some(header)).idle_timeout(Some(idle))).await;
        let s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.ends_with(b"/a") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "{name}: EOF before the response");
            got.extend_from_slice(&buf[..n]);
        }
        let t0 = Instant::now();
        // Kept alive: a second request after a pause longer than the
        // header timeout is still answered.
        sleep(header * 2).await;
        s.write_all(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        got.clear();
        while !got.ends_with(b"/b") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "{name}: closed after {:?} idle", t0.elapsed());
            got.extend_from_slice(&buf[..n]);
        }
        let t1 = Instant::now();
        let took = until_eof(&s).await - t1;
        assert!(took >= idle - Duration::from_millis(50), "{name}: {took:?}");
        assert!(took < idle + SLACK * 2, "{name}: {took:?}");
        trigger.fire();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn upgrade_round_trip() {
    run(|name| async move {
        let (addr, trigger, server) =
            start(|s| s.idle_timeout(Some(Duration::from_millis(200)))).await;
        let mut c = client(addr).await;
        c.ready().await.unwrap();
        let req = Request::get("/upgrade")
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONNECTION, "upgrade")
            .header(hyper::header::UPGRADE, "echo")
            .body(Empty::new())
            .unwrap();
        let res = c.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS, "{name}");
        let mut io = HyperIo::new(hyper::upgrade::on(res).await.unwrap());
        // Past the idle timeout: an upgraded connection has no deadlines.
        sleep(Duration::from_millis(400)).await;
        for msg in [&b"ping"[..], b"pong pong"] {
            write_all(&mut io, msg).await.unwrap();
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            while got.len() < msg.len() {
                let n = read(&mut io, &mut buf).await.unwrap();
                assert!(n > 0, "{name}: EOF");
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, msg, "{name}");
        }
        drop(io);
        trigger.fire();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn hyper_io_over_a_futures_io_stream() {
    // HyperIo around a netpoll stream used only through futures-io: what
    // a futures-rustls stream looks like to it.
    run(|name| async move {
        let (addr, trigger, server) = start(|s| s).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let io = HyperIo::new(futures_only(stream));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        netpoll::spawn(conn);
        let (status, body) = get(&mut sender, "/io").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(&body[..], b"/io", "{name}");
        drop(sender);
        trigger.fire();
        server.await.unwrap().unwrap();
    });
}

/// Hides every trait but futures-io's.
struct FuturesOnly<T>(T);

fn futures_only<T>(t: T) -> FuturesOnly<T> {
    FuturesOnly(t)
}

impl<T: futures_io::AsyncRead + Unpin> futures_io::AsyncRead for FuturesOnly<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: futures_io::AsyncWrite + Unpin> futures_io::AsyncWrite for FuturesOnly<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(feature = "client")]
#[test]
fn legacy_client_with_http_connector() {
    use hyper_util::client::legacy::Client;
    use netpoll::compat::{HttpConnector, HyperExecutor, HyperTimer};
    run(|name| async move {
        let (addr, trigger, server) = start(|s| s).await;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client: Client<_, Empty<Bytes>> = Client::builder(HyperExecutor)
            .timer(HyperTimer)
            .pool_timer(HyperTimer)
            .build(connector);
        for i in 0..2 {
            // "localhost": the name goes through the blocking-pool resolver.
            let uri: hyper::Uri = format!("http://localhost:{}/c/{i}", addr.port())
                .parse()
                .unwrap();
            let res = client.get(uri).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{name}");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], format!("/c/{i}").as_bytes(), "{name}");
        }
        let https: hyper::Uri = format!("https://127.0.0.1:{}/", addr.port())
            .parse()
            .unwrap();
        assert!(client.get(https).await.is_err(), "{name}");
        drop(client);
        trigger.fire();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn serve_an_axum_router() {
    use axum::extract::Path;
    run(|name| async move {
        let app = axum::Router::new()
            .route("/", axum::routing::get(|| async { "root" }))
            .route(
                "/hello/{who}",
                axum::routing::get(|Path(who): Path<String>| async move { format!("hello {who}") }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let trigger = Trigger::default();
        let server = netpoll::spawn(
            netpoll::compat::serve_tower(listener, app)
                .with_graceful_shutdown(trigger.wait())
                .into_future(),
        );
        let mut c = client(addr).await;
        assert_eq!(
            get(&mut c, "/").await,
            (StatusCode::OK, Bytes::from("root")),
            "{name}"
        );
        assert_eq!(
            get(&mut c, "/hello/go").await,
            (StatusCode::OK, Bytes::from("hello go")),
            "{name}"
        );
        assert_eq!(
            get(&mut c, "/nope").await.0,
            StatusCode::NOT_FOUND,
            "{name}"
        );
        trigger.fire();
        server.await.unwrap().unwrap();
    });
}
