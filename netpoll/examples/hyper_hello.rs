//! Hello world with hyper 1.x on netpoll: no tokio runtime, only netpoll's
//! sockets, executor and timer behind hyper's traits.
//!
//! Run it with `cargo run --release --example hyper_hello --features hyper`.
//! It serves on 127.0.0.1 (a free port), sends itself one request, prints
//! the response and exits.

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use netpoll::net::{TcpListener, TcpStream};
use std::convert::Infallible;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn main() -> Result<(), Error> {
    netpoll::runtime::Runtime::new()?.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!("listening on http://{addr}");

        // A real server loops over accept; one connection is enough here.
        let server = netpoll::spawn(async move {
            let (stream, _) = listener.accept().await?;
            hyper::server::conn::http1::Builder::new()
                // Without a timer hyper has no header-read timeout.
                .timer(netpoll::compat::HyperTimer)
                .serve_connection(stream, hyper::service::service_fn(hello))
                .await
                .map_err(Error::from)
        });

        let stream = TcpStream::connect(addr).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
        // hyper's client connection is a future someone must drive.
        let conn = netpoll::spawn(conn);

        let req = Request::get("/")
            .header(hyper::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let res = sender.send_request(req).await?;
        println!("{:?} {}", res.version(), res.status());
        for (name, value) in res.headers() {
            println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
        }
        let body = res.into_body().collect().await?.to_bytes();
        println!("\n{}", String::from_utf8_lossy(&body));

        // Dropping the sender closes the connection; both sides then end.
        drop(sender);
        conn.await??;
        server.await??;
        Ok(())
    })
}
