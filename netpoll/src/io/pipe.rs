//! Anonymous pipes through the poller (Go: os.Pipe).

use crate::fs::fdio::{fdio_has_fd, FdIo, Origin};
use crate::net::common::fd_methods;
use std::io;

/// Opens a pipe: non-blocking, close-on-exec, both ends watched by the
/// current runtime's poller. Mirrors `std::io::pipe`.
///
/// What the kernel does stays visible: when the writer closes, a read
/// returns 0 (EOF); when the reader closes, a write fails with
/// `BrokenPipe` (Rust programs ignore SIGPIPE). `close` of an end also
/// wakes that end's own blocked operation, with the closed error.
///
/// Go: `os.Pipe`.
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let (r, w) = netpoll::io::pipe()?;
///     let reader = netpoll::spawn(async move {
///         let mut buf = [0; 5];
///         r.read_exact(&mut buf).await.map(|_| buf)
///     });
///     w.write_all(b"hello").await?;
///     assert_eq!(&reader.await.unwrap()?, b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (r, w) = crate::sys::pipe::nonblocking_pipe()?;
    Ok((
        PipeReader {
            io: FdIo::new(r, Origin::Opened)?,
        },
        PipeWriter {
            io: FdIo::new(w, Origin::Opened)?,
        },
    ))
}

/// The read end of a [`pipe`].
pub struct PipeReader {
    io: FdIo,
}

/// The write end of a [`pipe`].
pub struct PipeWriter {
    io: FdIo,
}

fd_methods!(
    PipeReader,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (s, _w) = netpoll::io::pipe()?;"
);
fd_methods!(
    PipeWriter,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (_r, s) = netpoll::io::pipe()?;"
);

impl PipeReader {
    /// Reads into `buf`, waiting for data; 0 means every writer closed.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }

    /// Fills `buf`; `UnexpectedEof` if the writers close first.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.io.read_exact(buf).await
    }
}

impl PipeWriter {
    /// Writes some of `buf`, waiting for room.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf).await
    }

    /// Writes all of `buf`, holding the write lock throughout.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }
}

fdio_has_fd!(PipeReader, PipeWriter);
