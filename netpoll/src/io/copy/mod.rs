//! `io::copy`: the kernel moves the bytes when it can (Go: io.Copy with
//! ReaderFrom/WriterTo, internal/poll's splice and sendfile,
//! os/zero_copy_linux.go).
//!
//! The engine; the decision table is in [`crate::io`]'s docs.

#[cfg(target_os = "linux")]
mod kernel;
mod traits;

pub use traits::{generic, take, Duplex, Generic, Sink, Source, Take};

use crate::metrics;
use std::error::Error;
use std::fmt;
use std::io;

/// Copies everything `reader` yields (up to its limit, for a
/// [`Take`]) into `writer`, and returns how many bytes moved. The kernel
/// moves them without a trip through user space whenever both ends allow
/// (see the [decision table](crate::io#the-decision-table-of-copy-linux)).
///
/// An error after some bytes moved carries that count:
/// [`bytes_moved`] reads it, and the error keeps its kind (and is still
/// recognised by [`is_closed`](crate::io::is_closed) and
/// [`is_deadline`](crate::io::is_deadline)).
///
/// Go: `io.Copy`, `io.CopyN` (with [`take`]).
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let dir = std::env::temp_dir();
///     let (a, b) = (dir.join(format!("np-copy-a-{}", std::process::id())), dir.join(format!("np-copy-b-{}", std::process::id())));
///     std::fs::write(&a, vec![7u8; 100_000])?;
///     let mut src = netpoll::fs::File::open(&a).await?;
///     let mut dst = netpoll::fs::File::create(&b).await?;
///     let n = netpoll::io::copy(&mut src, &mut dst).await?;
///     assert_eq!(n, 100_000);
///     assert_eq!(std::fs::read(&b)?, vec![7u8; 100_000]);
///     std::fs::remove_file(&a)?;
///     std::fs::remove_file(&b)?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: Source + ?Sized,
    W: Sink + ?Sized,
{
    let mut moved = 0;
    match copy_counted(reader, writer, &mut moved).await {
        Ok(()) => Ok(moved),
        Err(e) if moved == 0 => Err(e),
        Err(e) => Err(io::Error::new(e.kind(), PartialCopy { moved, source: e })),
    }
}

async fn copy_counted<R, W>(reader: &mut R, writer: &mut W, moved: &mut u64) -> io::Result<()>
where
    R: Source + ?Sized,
    W: Sink + ?Sized,
{
    #[cfg(target_os = "linux")]
    {
        let kernel = match (reader.end(), writer.end()) {
            (Some(src), Some(dst)) => Some(kernel::copy(src, dst, reader.limit()).await),
            _ => None,
        };
        if let Some((n, done)) = kernel {
            reader.consume(n);
            *moved += n;
            if done? == kernel::Done::Complete {
                return Ok(());
            }
        }
    }
    generic_loop(reader, writer, moved).await
}

/// The buffered loop, for everything the kernel cannot move.
async fn generic_loop<R, W>(reader: &mut R, writer: &mut W, moved: &mut u64) -> io::Result<()>
where
    R: Source + ?Sized,
    W: Sink + ?Sized,
{
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let want = reader.limit().map_or(buf.len(), |l| {
            buf.len().min(l.try_into().unwrap_or(usize::MAX))
        });
        if want == 0 {
            return Ok(());
        }
        let n = reader.read(&mut buf[..want]).await?;
        if n == 0 {
            return Ok(());
        }
        writer.write_all(&buf[..n]).await?;
        reader.consume(n as u64);
        *moved += n as u64;
        metrics::add(&metrics::GENERIC_COPY_BYTES, n as u64);
    }
}

/// Copies both ways between `a` and `b` at once until both directions
/// reach end of file, shutting down the write side of each destination
/// when its source ends (a proxy's half-close). Returns the bytes moved
/// a→b and b→a. Each direction takes the zero-copy path where it can.
///
/// The first error ends both directions at once (the other is dropped, so
/// a silent peer cannot hold the relay); [`bytes_moved`] on it tells how
/// far that direction got. Bytes a splice had taken from the source but
/// not yet written are lost with an error on the writing side, as in Go.
///
/// Go: two `io.Copy` goroutines and `CloseWrite`.
///
/// # Example
///
/// ```
/// use netpoll::net::UnixStream;
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let (client, proxy_a) = UnixStream::pair()?;
///     let (proxy_b, server) = UnixStream::pair()?;
///     let relay = netpoll::spawn(async move {
///         netpoll::io::copy_bidirectional(&proxy_a, &proxy_b).await
///     });
///     client.write_all(b"ping").await?;
///     client.shutdown(std::net::Shutdown::Write)?;
///     let mut got = [0; 4];
///     server.read_exact(&mut got).await?;
///     server.write_all(b"pong").await?;
///     server.shutdown(std::net::Shutdown::Write)?;
///     client.read_exact(&mut got).await?;
///     assert_eq!(&got, b"pong");
///     assert_eq!(relay.await.unwrap()?, (4, 4));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn copy_bidirectional<A, B>(a: &A, b: &B) -> io::Result<(u64, u64)>
where
    A: Duplex,
    B: Duplex,
    for<'x> &'x A: Source + Sink,
    for<'x> &'x B: Source + Sink,
{
    let there = async {
        let (mut r, mut w) = (a, b);
        let n = copy(&mut r, &mut w).await?;
        crate::net::common::write_side_gone(b.shutdown_write())?;
        Ok::<_, io::Error>(n)
    };
    let back = async {
        let (mut r, mut w) = (b, a);
        let n = copy(&mut r, &mut w).await?;
        crate::net::common::write_side_gone(a.shutdown_write())?;
        Ok::<_, io::Error>(n)
    };
    crate::task::try_join(there, back).await
}

/// The payload of an error that ended a copy after some bytes moved.
#[derive(Debug)]
struct PartialCopy {
    moved: u64,
    source: io::Error,
}

impl fmt::Display for PartialCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (after {} bytes were copied)",
            self.source, self.moved
        )
    }
}

impl Error for PartialCopy {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// How many bytes a failed [`copy`] moved before the error (0 if `err`
/// did not come from a copy, or the copy moved nothing).
///
/// Go: the `written` result that `io.Copy` returns beside its error.
///
/// # Example
///
/// ```
/// assert_eq!(netpoll::io::bytes_moved(&std::io::Error::other("x")), 0);
/// ```
pub fn bytes_moved(err: &io::Error) -> u64 {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<PartialCopy>())
        .map_or(0, |p| p.moved)
}

/// The error a copy wraps, for the `is_closed`-style checks.
pub(crate) fn unwrap_partial(err: &io::Error) -> &io::Error {
    match err.get_ref().and_then(|e| e.downcast_ref::<PartialCopy>()) {
        Some(p) => &p.source,
        None => err,
    }
}
