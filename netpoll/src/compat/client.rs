//! [`HttpConnector`]: connections for hyper-util's legacy `Client` on
//! netpoll (feature `client`).

use crate::net::TcpStream;
use hyper::Uri;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Opens plain-HTTP connections for hyper-util's legacy `Client`: names
/// resolved on netpoll's blocking pool, an optional connect timeout
/// (over resolution and connect together), `TCP_NODELAY` on by default.
/// `https` URIs fail with [`InvalidInput`](io::ErrorKind::InvalidInput):
/// wrap a TLS connector around this one for those.
///
/// Go: `net/http.Transport`'s `DialContext` with a `net.Dialer`; tokio:
/// hyper-util's `HttpConnector`, which needs tokio's reactor.
///
/// # Example
///
/// ```
/// use hyper_util::client::legacy::Client;
/// use netpoll::compat::{HttpConnector, HyperExecutor, HyperTimer};
/// use std::time::Duration;
///
/// let mut connector = HttpConnector::new();
/// connector.set_connect_timeout(Some(Duration::from_secs(5)));
/// let client: Client<_, http_body_util::Empty<hyper::body::Bytes>> = Client::builder(HyperExecutor)
///     .timer(HyperTimer)
///     .pool_timer(HyperTimer)
///     .build(connector);
/// # drop(client);
/// ```
#[derive(Clone, Debug)]
pub struct HttpConnector {
    connect_timeout: Option<Duration>,
    nodelay: bool,
}

impl Default for HttpConnector {
    fn default() -> Self {
        HttpConnector::new()
    }
}

impl HttpConnector {
    /// A connector with no connect timeout and `TCP_NODELAY` on.
    pub fn new() -> Self {
        HttpConnector {
            connect_timeout: None,
            nodelay: true,
        }
    }

    /// Bounds name resolution and connect together; `None` for no bound
    /// (the default). A connect that runs out fails with
    /// [`TimedOut`](io::ErrorKind::TimedOut).
    pub fn set_connect_timeout(&mut self, timeout: Option<Duration>) {
        self.connect_timeout = timeout;
    }

    /// Whether new connections get `TCP_NODELAY` (default `true`, as Go).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.nodelay = nodelay;
    }
}

impl tower_service::Service<Uri> for HttpConnector {
    type Response = HttpConnection;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<HttpConnection>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned());
            match uri.scheme_str() {
                Some("http") | None => {}
                Some(_) => return Err(invalid("HttpConnector: only http URIs")),
            }
            let host = uri
                .host()
                .ok_or_else(|| invalid("HttpConnector: URI has no host"))?;
            // An IPv6 literal comes bracketed in a URI.
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(80);
            let connect = TcpStream::connect((host, port));
            let stream = match this.connect_timeout {
                Some(d) => crate::time::timeout(d, connect).await.map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "HttpConnector: connect timed out")
                })??,
                None => connect.await?,
            };
            if this.nodelay {
                stream.set_nodelay(true)?;
            }
            Ok(HttpConnection { stream })
        })
    }
}

/// A connection made by [`HttpConnector`]: a [`TcpStream`] with hyper's
/// `Read`/`Write` and hyper-util's `Connection`.
#[derive(Debug)]
pub struct HttpConnection {
    stream: TcpStream,
}

impl HttpConnection {
    /// The underlying stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

impl hyper_util::client::legacy::connect::Connection for HttpConnection {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl hyper::rt::Read for HttpConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for HttpConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.stream), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.stream), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.stream)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.stream), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.stream), cx)
    }
}
