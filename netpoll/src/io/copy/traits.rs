//! What `io::copy` accepts: netpoll's fd-backed types (whose fds the
//! kernel paths use), a length limit over one of them ([`Take`]), and any
//! futures-io reader or writer ([`Generic`], always the buffered path).

use crate::poll::fd::{Fd, HasFd};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;

/// A reader `io::copy` can copy from. Implemented by netpoll's readable
/// fd-backed types (and references to them), by [`Take`] and by
/// [`Generic`]; sealed.
///
/// Go: `io.Reader` (and `io.WriterTo`, which is how the kernel paths are
/// found).
///
/// # Example
///
/// ```
/// fn takes_a_source(_: &mut impl netpoll::io::Source) {}
/// ```
pub trait Source: sealed::Source {}

/// A writer `io::copy` can copy into; see [`Source`].
///
/// Go: `io.Writer` (and `io.ReaderFrom`).
///
/// # Example
///
/// ```
/// fn takes_a_sink(_: &mut impl netpoll::io::Sink) {}
/// ```
pub trait Sink: sealed::Sink {}

/// A stream that can be both ends of `copy_bidirectional`.
///
/// # Example
///
/// ```
/// fn proxies(_: &impl netpoll::io::Duplex) {}
/// ```
pub trait Duplex: sealed::Duplex {}

/// An fd-backed end, as the kernel paths see it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // The kernel copy paths are Linux-only.
pub struct End<'a> {
    pub(crate) fd: &'a Fd,
    /// The shared fd of a file, which a pool thread can hold.
    pub(crate) shared: Option<&'a Arc<Fd>>,
}

pub(crate) mod sealed {
    use super::End;
    use std::future::Future;
    use std::io;

    pub trait Source {
        /// The fd, if the kernel may read it directly.
        fn end(&self) -> Option<End<'_>>;
        /// The most bytes still to copy, if limited.
        fn limit(&self) -> Option<u64> {
            None
        }
        /// `n` bytes were copied.
        fn consume(&mut self, _n: u64) {}
        /// Reads into `buf`.
        fn read<'a>(
            &'a mut self,
            buf: &'a mut [u8],
        ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    }

    pub trait Sink {
        fn end(&self) -> Option<End<'_>>;
        fn write_all<'a>(
            &'a mut self,
            buf: &'a [u8],
        ) -> impl Future<Output = io::Result<()>> + Send + 'a;
    }

    pub trait Duplex {
        fn shutdown_write(&self) -> io::Result<()>;
    }
}

fn end_of(t: &impl HasFd) -> Option<End<'_>> {
    Some(End {
        fd: t.fd(),
        shared: t.shared(),
    })
}

macro_rules! source {
    ($($t:ty),*) => {$(
        impl Source for $t {}
        impl sealed::Source for $t {
            fn end(&self) -> Option<End<'_>> {
                end_of(self)
            }

            fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + Send + 'a {
                <$t>::read(self, buf)
            }
        }

        impl Source for &$t {}
        impl sealed::Source for &$t {
            fn end(&self) -> Option<End<'_>> {
                end_of(*self)
            }

            fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + Send + 'a {
                <$t>::read(*self, buf)
            }
        }
    )*};
}

macro_rules! sink {
    ($($t:ty),*) => {$(
        impl Sink for $t {}
        impl sealed::Sink for $t {
            fn end(&self) -> Option<End<'_>> {
                end_of(self)
            }

            fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a {
                <$t>::write_all(self, buf)
            }
        }

        impl Sink for &$t {}
        impl sealed::Sink for &$t {
            fn end(&self) -> Option<End<'_>> {
                end_of(*self)
            }

            fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a {
                <$t>::write_all(*self, buf)
            }
        }
    )*};
}

use crate::fs::File;
use crate::io::{PipeReader, PipeWriter};
use crate::net::{TcpStream, UnixStream};
use crate::process::{ChildStderr, ChildStdin, ChildStdout};

source!(
    TcpStream,
    UnixStream,
    File,
    PipeReader,
    ChildStdout,
    ChildStderr
);
sink!(TcpStream, UnixStream, File, PipeWriter, ChildStdin);

impl<S: Source + ?Sized> Source for &mut S {}
impl<S: Source + ?Sized> sealed::Source for &mut S {
    fn end(&self) -> Option<End<'_>> {
        (**self).end()
    }

    fn limit(&self) -> Option<u64> {
        (**self).limit()
    }

    fn consume(&mut self, n: u64) {
        (**self).consume(n)
    }

    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        (**self).read(buf)
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {}
impl<S: Sink + ?Sized> sealed::Sink for &mut S {
    fn end(&self) -> Option<End<'_>> {
        (**self).end()
    }

    fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        (**self).write_all(buf)
    }
}

macro_rules! duplex {
    ($($t:ty),*) => {$(
        impl Duplex for $t {}
        impl sealed::Duplex for $t {
            fn shutdown_write(&self) -> io::Result<()> {
                self.shutdown(std::net::Shutdown::Write)
            }
        }
    )*};
}

duplex!(TcpStream, UnixStream);

/// A [`Source`] that yields at most `n` more bytes; the kernel paths stay
/// open to it, and its count drops by exactly the bytes copied, errors
/// included.
///
/// Go: `io.LimitReader` / `io.CopyN`.
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let (r, w) = netpoll::io::pipe()?;
///     w.write_all(b"hello world").await?;
///     let (sink_r, mut sink_w) = netpoll::io::pipe()?;
///     let mut first5 = netpoll::io::take(&r, 5);
///     assert_eq!(netpoll::io::copy(&mut first5, &mut sink_w).await?, 5);
///     assert_eq!(first5.remaining(), 0);
///     let mut buf = [0; 5];
///     sink_r.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Take<S> {
    inner: S,
    limit: u64,
}

/// Limits `source` to `n` bytes; see [`Take`].
pub fn take<S: Source>(source: S, n: u64) -> Take<S> {
    Take {
        inner: source,
        limit: n,
    }
}

impl<S> Take<S> {
    /// The bytes it may still yield.
    pub fn remaining(&self) -> u64 {
        self.limit
    }

    /// The source back.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Source> Source for Take<S> {}
impl<S: Source> sealed::Source for Take<S> {
    fn end(&self) -> Option<End<'_>> {
        self.inner.end()
    }

    fn limit(&self) -> Option<u64> {
        Some(self.inner.limit().map_or(self.limit, |l| l.min(self.limit)))
    }

    fn consume(&mut self, n: u64) {
        self.limit -= n.min(self.limit);
        self.inner.consume(n);
    }

    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        let max = buf.len().min(self.limit.try_into().unwrap_or(usize::MAX));
        self.inner.read(&mut buf[..max])
    }
}

/// Any futures-io reader or writer, for [`copy`](super::copy) (which
/// then takes the buffered path).
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let (a, b) = netpoll::net::UnixStream::pair()?;
///     a.write_all(b"abc").await?;
///     a.shutdown(std::net::Shutdown::Write)?;
///     // Any futures_io::AsyncRead will do; this one happens to be ours.
///     let mut src = netpoll::io::generic(&b);
///     let (r, mut w) = netpoll::io::pipe()?;
///     assert_eq!(netpoll::io::copy(&mut src, &mut w).await?, 3);
///     # drop(r);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Generic<T>(pub T);

/// Wraps a futures-io reader or writer for [`copy`](super::copy).
pub fn generic<T>(io: T) -> Generic<T> {
    Generic(io)
}

impl<T: futures_io::AsyncRead + Unpin + Send> Source for Generic<T> {}
impl<T: futures_io::AsyncRead + Unpin + Send> sealed::Source for Generic<T> {
    fn end(&self) -> Option<End<'_>> {
        None
    }

    fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        poll_fn(move |cx| Pin::new(&mut self.0).poll_read(cx, buf))
    }
}

impl<T: futures_io::AsyncWrite + Unpin + Send> Sink for Generic<T> {}
impl<T: futures_io::AsyncWrite + Unpin + Send> sealed::Sink for Generic<T> {
    fn end(&self) -> Option<End<'_>> {
        None
    }

    fn write_all<'a>(
        &'a mut self,
        mut buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        poll_fn(move |cx| {
            while !buf.is_empty() {
                match std::task::ready!(Pin::new(&mut self.0).poll_write(cx, buf))? {
                    0 => return std::task::Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    n => buf = &buf[n..],
                }
            }
            std::task::Poll::Ready(Ok(()))
        })
    }
}
