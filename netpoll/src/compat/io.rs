//! [`HyperIo`]: hyper's `Read`/`Write` for any futures-io stream (and,
//! through [`FromTokio`], any tokio-io one), and the way back: futures-io
//! and tokio-io traits for anything hyper reads and writes, such as
//! `hyper::upgrade::Upgraded`.
//!
//! Safe code only: hyper and tokio offer no safe way to read into their
//! uninitialised buffers in place, so reads into hyper's buffer go through
//! a stack buffer and cost one copy. netpoll's own streams implement
//! hyper's traits directly (feature `hyper`) and need no adapter.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The largest read passed through the stack buffer: one TLS record.
const CHUNK: usize = 16 * 1024;

/// Adapts an I/O stream to the other ecosystem's traits, in both
/// directions:
///
/// - `HyperIo<T>` with `T` a futures-io `AsyncRead`/`AsyncWrite` (a
///   futures-rustls TLS stream, say) implements hyper's `rt::Read` and
///   `rt::Write`, so hyper can serve or send requests over it without
///   hyper-util's `tokio` feature; a tokio-io stream gets there through
///   [`HyperIo::tokio`].
/// - `HyperIo<T>` with `T` a hyper `rt::Read`/`rt::Write` (hyper's
///   `Upgraded` after `hyper::upgrade::on`) implements futures-io's
///   traits, and tokio's with the `tokio-io` feature, so a WebSocket
///   crate or a codec can run on an upgraded connection.
///
/// Go: not needed (one `net.Conn` interface); tokio: hyper-util's
/// `TokioIo`.
///
/// # Example
///
/// ```
/// # netpoll::runtime::Runtime::new()?.block_on(async {
/// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let stream = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
/// // Any futures-io stream: a TLS stream in practice.
/// let io = netpoll::compat::HyperIo::new(stream);
/// let (_sender, _conn) =
///     hyper::client::conn::http1::handshake::<_, http_body_util::Empty<hyper::body::Bytes>>(io)
///         .await
///         .map_err(std::io::Error::other)?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        HyperIo { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

#[cfg(feature = "tokio-io")]
impl<T> HyperIo<FromTokio<T>> {
    /// Wraps a tokio-io stream (a tokio-rustls TLS stream, say) for hyper.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let stream = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// let io = netpoll::compat::HyperIo::tokio(stream);
    /// # let _ = io;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn tokio(inner: T) -> Self {
        HyperIo::new(FromTokio::new(inner))
    }
}

impl<T: futures_io::AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut tmp = [0u8; CHUNK];
        let len = buf.remaining().min(CHUNK);
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, &mut tmp[..len]))?;
        buf.put_slice(&tmp[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<T: futures_io::AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<T: hyper::rt::Read + Unpin> futures_io::AsyncRead for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // `buf` is initialised, so hyper's ReadBuf takes it safely and the
        // read lands in place.
        let mut rb = hyper::rt::ReadBuf::new(buf);
        ready!(Pin::new(&mut self.inner).poll_read(cx, rb.unfilled()))?;
        Poll::Ready(Ok(rb.filled().len()))
    }
}

impl<T: hyper::rt::Write + Unpin> futures_io::AsyncWrite for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.inner), cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.inner), cx)
    }
}

#[cfg(feature = "tokio-io")]
impl<T: hyper::rt::Read + Unpin> tokio::io::AsyncRead for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Zeroes only the part tokio has not seen initialised yet: a
        // reused buffer pays once.
        let dst = buf.initialize_unfilled();
        let mut rb = hyper::rt::ReadBuf::new(dst);
        ready!(Pin::new(&mut self.inner).poll_read(cx, rb.unfilled()))?;
        let n = rb.filled().len();
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl<T: hyper::rt::Write + Unpin> tokio::io::AsyncWrite for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.inner), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.inner)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.inner), cx)
    }
}

/// futures-io's `AsyncRead`/`AsyncWrite` for a tokio-io stream, so it can
/// go into [`HyperIo`] (see [`HyperIo::tokio`]) or anything else written
/// for futures-io.
///
/// Go: not needed; tokio: tokio-util's `compat::Compat`.
///
/// # Example
///
/// ```
/// # netpoll::runtime::Runtime::new()?.block_on(async {
/// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let stream = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
/// let s = netpoll::compat::FromTokio::new(stream);
/// # let _ = s.into_inner();
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
#[cfg(feature = "tokio-io")]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FromTokio<T> {
    inner: T,
}

#[cfg(feature = "tokio-io")]
impl<T> FromTokio<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        FromTokio { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

#[cfg(feature = "tokio-io")]
impl<T: tokio::io::AsyncRead + Unpin> futures_io::AsyncRead for FromTokio<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = tokio::io::ReadBuf::new(buf);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
        Poll::Ready(Ok(rb.filled().len()))
    }
}

#[cfg(feature = "tokio-io")]
impl<T: tokio::io::AsyncWrite + Unpin> futures_io::AsyncWrite for FromTokio<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
