//! Other ecosystems on netpoll's streams: hyper 1.x (client and server,
//! with netpoll's executor and timer) and tokio-util codecs, on both
//! runtime flavours.
#![cfg(all(feature = "hyper", feature = "tokio-io"))]

mod common;

use common::{fd_count, flavours, serial};
use futures_core::Stream;
use futures_sink::Sink;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use netpoll::net::{TcpListener, TcpStream, UnixStream};
use netpoll::time::timeout;
use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::codec::{Framed, FramedRead, FramedWrite, LinesCodec, LinesCodecError};

/// Every test body must finish well within this, or it fails.
const LIMIT: Duration = Duration::from_secs(20);

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Echo the path back in a header so the client can tell its requests
    // apart on the one connection.
    let path = req.uri().path().to_owned();
    let mut res = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    res.headers_mut()
        .insert("x-path", path.parse().expect("a path is a header value"));
    Ok(res)
}

/// Serves HTTP/1.1 until the listener is closed, then waits for every
/// connection it accepted to finish; returns how many it accepted.
async fn serve(listener: Arc<TcpListener>) -> usize {
    let mut conns = Vec::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if netpoll::io::is_closed(&e) => break,
            Err(e) => panic!("accept: {e}"),
        };
        conns.push(netpoll::spawn(
            hyper::server::conn::http1::Builder::new()
                .timer(netpoll::compat::HyperTimer)
                .serve_connection(stream, hyper::service::service_fn(hello)),
        ));
    }
    let n = conns.len();
    for c in conns {
        c.await.expect("connection task").expect("serve_connection");
    }
    n
}

#[test]
fn hyper_hello_world_keep_alive() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            timeout(LIMIT, async {
                let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
                let addr = listener.local_addr().unwrap();
                let server = netpoll::spawn(serve(listener.clone()));

                let stream = TcpStream::connect(addr).await.unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(stream)
                        .await
                        .unwrap();
                let conn = netpoll::spawn(conn);
                for i in 0..3 {
                    sender.ready().await.unwrap();
                    let req = Request::get(format!("/req/{i}"))
                        .header(hyper::header::HOST, addr.to_string())
                        .body(Empty::new())
                        .unwrap();
                    let res = sender.send_request(req).await.unwrap();
                    assert_eq!(res.status(), StatusCode::OK, "{name}");
                    assert_eq!(res.headers()["x-path"], format!("/req/{i}"), "{name}");
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    assert_eq!(&body[..], b"Hello, World!", "{name}");
                }
                // Dropping the sender ends the client connection cleanly,
                // which ends the server's side of it.
                drop(sender);
                conn.await.unwrap().unwrap();
                listener.close().unwrap();
                // One accepted connection: all three requests reused it.
                assert_eq!(server.await.unwrap(), 1, "{name}: keep-alive not used");
            })
            .await
            .unwrap_or_else(|_| panic!("{name}: timed out"));
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

const LINES: usize = 1000;

/// Varied lengths, some long, so the writer fills the socket buffer and
/// has to wait for the reader.
fn line(i: usize) -> String {
    format!("{i:04} {}", "x".repeat(i * 37 % 500))
}

async fn send<S>(sink: &mut S, item: String) -> Result<(), LinesCodecError>
where
    S: Sink<String, Error = LinesCodecError> + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *sink).poll_ready(cx)).await?;
    Pin::new(&mut *sink).start_send(item)
}

async fn flush<S>(sink: &mut S) -> Result<(), LinesCodecError>
where
    S: Sink<String, Error = LinesCodecError> + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *sink).poll_flush(cx)).await
}

async fn close<S>(sink: &mut S) -> Result<(), LinesCodecError>
where
    S: Sink<String, Error = LinesCodecError> + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *sink).poll_close(cx)).await
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// `a` (owned, in a `Framed`) sends the lines and half-closes; `b`
/// (through `&b`, split into a reader and a writer) reads them to EOF and
/// answers with a count that `a` reads back.
async fn lines_over<S>(name: &str, a: S, b: S)
where
    S: Send + Sync + 'static,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    for<'a> &'a S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let sender = netpoll::spawn(async move {
        let mut framed = Framed::new(a, LinesCodec::new());
        for i in 0..LINES {
            send(&mut framed, line(i)).await.unwrap();
            if i % 100 == 99 {
                flush(&mut framed).await.unwrap();
            }
        }
        // Flushes, then shuts down the write side: the reader sees EOF.
        close(&mut framed).await.unwrap();
        next(&mut framed).await
    });

    let mut reader = FramedRead::new(&b, LinesCodec::new());
    let mut got = 0;
    while let Some(l) = next(&mut reader).await {
        assert_eq!(l.unwrap(), line(got), "{name}: line {got}");
        got += 1;
    }
    assert_eq!(got, LINES, "{name}");
    let mut writer = FramedWrite::new(&b, LinesCodec::new());
    send(&mut writer, format!("got {got}")).await.unwrap();
    flush(&mut writer).await.unwrap();

    let ack = sender.await.unwrap();
    assert_eq!(ack.unwrap().unwrap(), format!("got {LINES}"), "{name}");
}

#[test]
fn lines_codec_over_a_unix_pair() {
    // Not counting fds, but opening them: the hyper test counts.
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            timeout(LIMIT, lines_over(name, a, b))
                .await
                .unwrap_or_else(|_| panic!("{name}: timed out"));
        });
    }
}

#[test]
fn lines_codec_over_tcp() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (b, _) = l.accept().await.unwrap();
            timeout(LIMIT, lines_over(name, a, b))
                .await
                .unwrap_or_else(|_| panic!("{name}: timed out"));
        });
    }
}

#[test]
fn vectored_writes_past_iov_max_through_tokio_and_hyper() {
    // More slices than one sendmsg takes (IOV_MAX, 1024): the traits write
    // the first 1024, as std does, where the kernel would fail the call
    // with EMSGSIZE.
    use std::io::IoSlice;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let data = [7u8; 1500];
            let slices: Vec<IoSlice<'_>> = data.chunks(1).map(IoSlice::new).collect();
            let (mut a, b) = UnixStream::pair().unwrap();
            let n = poll_fn(|cx| {
                tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut a), cx, &slices)
            })
            .await
            .unwrap();
            assert_eq!(n, 1024, "{name}: tokio");
            let mut r = &a;
            let n =
                poll_fn(|cx| hyper::rt::Write::poll_write_vectored(Pin::new(&mut r), cx, &slices))
                    .await
                    .unwrap();
            assert_eq!(n, 1024, "{name}: hyper");
            let mut got = [0u8; 2048];
            b.read_exact(&mut got).await.unwrap();
            assert!(got.iter().all(|&x| x == 7), "{name}");
        });
    }
}

#[test]
fn shutdown_after_a_peer_reset_is_ok_through_tokio_and_hyper() {
    // A client that drops its connection with SO_LINGER 0 resets it; the
    // server's write shutdown then gets ENOTCONN from the kernel. tokio's
    // and hyper's poll_shutdown take it as done, as tokio does
    // (tokio-rs/tokio#4665), so hyper does not log Error(Shutdown,
    // NotConnected); the inherent shutdown keeps the error.
    use std::io::ErrorKind;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            for which in ["tokio", "hyper", "hyper on &TcpStream"] {
                let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
                let (mut server, _) = l.accept().await.unwrap();
                client
                    .with_fd(|fd| socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO)))
                    .unwrap()
                    .unwrap();
                drop(client);
                let err = timeout(LIMIT, server.read(&mut [0; 8]))
                    .await
                    .expect("the reset reaches the server")
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{name}");
                let err = server.shutdown(std::net::Shutdown::Write).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::NotConnected, "{name}: inherent");
                let r = match which {
                    "tokio" => {
                        poll_fn(|cx| {
                            tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut server), cx)
                        })
                        .await
                    }
                    "hyper" => {
                        poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut server), cx))
                            .await
                    }
                    _ => {
                        let mut r = &server;
                        poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut r), cx)).await
                    }
                };
                r.unwrap_or_else(|e| panic!("{name}: {which}: {e}"));
            }
        });
    }
}
