//! `File` and `OpenOptions` (Go: os.File, os.OpenFile).

use super::fdio::{blocking, fdio_has_fd, FdIo, Origin};
use crate::net::common::fd_methods;
use std::fs::Metadata;
use std::io::{self, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An open file, FIFO, character device or other fd from the filesystem.
///
/// Chosen per fd when it is opened, as in Go: FIFOs, ttys, character
/// devices and sockets go through the poller (and support deadlines);
/// regular files and directories, which the poller cannot watch, do their
/// I/O on the blocking pool. [`is_pollable`](File::is_pollable) tells
/// which. Every method takes `&self`; reads serialize with reads and
/// writes with writes, and `close` from another task wakes a blocked
/// operation.
///
/// Go: `os.File`.
///
/// # Example
///
/// ```
/// use netpoll::fs::File;
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("netpoll-file-{}", std::process::id()));
///     let f = File::create(&path).await?;
///     assert!(!f.is_pollable(), "a regular file goes through the blocking pool");
///     f.write_all(b"hello").await?;
///     let f = File::open(&path).await?;
///     let mut buf = [0; 5];
///     f.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hello");
///     std::fs::remove_file(&path)?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct File {
    io: FdIo,
}

/// Options for opening a [`File`]: std's `OpenOptions`, opened on the
/// blocking pool (opening a FIFO blocks until the other end opens).
///
/// Go: `os.OpenFile` flags and permissions.
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("netpoll-opts-{}", std::process::id()));
///     let f = netpoll::fs::OpenOptions::new()
///         .write(true)
///         .create_new(true)
///         .mode(0o600)
///         .open(&path)
///         .await?;
///     f.write_all(b"x").await?;
///     std::fs::remove_file(&path)?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// All options off (std's defaults).
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut OpenOptions {
        self.0.read(on);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut OpenOptions {
        self.0.write(on);
        self
    }

    /// Writes go to the end (`O_APPEND`).
    pub fn append(&mut self, on: bool) -> &mut OpenOptions {
        self.0.append(on);
        self
    }

    /// Truncate to length 0 when opening.
    pub fn truncate(&mut self, on: bool) -> &mut OpenOptions {
        self.0.truncate(on);
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, on: bool) -> &mut OpenOptions {
        self.0.create(on);
        self
    }

    /// Create the file, failing if it exists (`O_EXCL`).
    pub fn create_new(&mut self, on: bool) -> &mut OpenOptions {
        self.0.create_new(on);
        self
    }

    /// The permission bits of a created file (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.0.mode(mode);
        self
    }

    /// Extra `open(2)` flags, such as `O_NOFOLLOW` or `O_NONBLOCK` (which
    /// opening a FIFO for reading without a writer needs).
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.0.custom_flags(flags);
        self
    }

    /// Opens `path` on the blocking pool. The fd is close-on-exec.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let (opts, path) = (self.0.clone(), path.as_ref().to_owned());
        let std = blocking(move || opts.open(path)).await?;
        File::with_origin(std.into(), Origin::Opened)
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

fd_methods!(
    File,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (r, _w) = std::io::pipe()?;
# rustix::io::ioctl_fionbio(&r, true)?;
let s = netpoll::fs::File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(r)))?;"
);

impl File {
    /// Opens `path` for reading.
    ///
    /// Go: `os.Open`.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for writing, creating it or truncating it.
    ///
    /// Go: `os.Create`.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    fn with_origin(fd: OwnedFd, origin: Origin) -> io::Result<File> {
        Ok(File {
            io: FdIo::new(fd, origin)?,
        })
    }

    /// Adopts a std file. Its open file description may be shared (with a
    /// parent process, say), so its flags are left alone: it is polled
    /// only if it is already non-blocking and of a pollable kind (Go:
    /// `os.NewFile`).
    pub fn from_std(file: std::fs::File) -> io::Result<File> {
        File::with_origin(file.into(), Origin::Adopted)
    }

    /// Hands the file back as a std one.
    pub fn into_std(self) -> io::Result<std::fs::File> {
        Ok(OwnedFd::try_from(self)?.into())
    }

    /// Whether the poller watches this file (a pipe, FIFO, tty, device or
    /// socket); if not, its I/O runs on the blocking pool and it has no
    /// deadlines.
    pub fn is_pollable(&self) -> bool {
        self.io.is_pollable()
    }

    /// Reads into `buf` at the cursor; 0 means end of file (or an empty
    /// `buf`). At most 2 MiB per call for a file on the blocking pool.
    ///
    /// Go: `os.File.Read`.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }

    /// Fills `buf`; `UnexpectedEof` if the file ends first.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.io.read_exact(buf).await
    }

    /// Reads to the end, appending to `out`; returns how many bytes.
    pub async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        self.io.read_to_end(out).await
    }

    /// Writes some of `buf` at the cursor (at the end with `append`).
    ///
    /// Go: `os.File.Write` (which writes all; see [`write_all`](Self::write_all)).
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf).await
    }

    /// Writes all of `buf`, holding the write lock throughout.
    ///
    /// Go: `os.File.Write`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }

    /// Reads at `offset` without moving the cursor; calls run
    /// concurrently. Pipes and FIFOs fail with `ESPIPE`.
    ///
    /// Go: `os.File.ReadAt`.
    ///
    /// # Example
    ///
    /// ```
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("netpoll-at-{}", std::process::id()));
    ///     netpoll::fs::File::create(&path).await?.write_all(b"0123456789").await?;
    ///     let f = netpoll::fs::File::open(&path).await?;
    ///     let mut buf = [0; 3];
    ///     assert_eq!(f.read_at(&mut buf, 4).await?, 3);
    ///     assert_eq!(&buf, b"456");
    ///     std::fs::remove_file(&path)?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.io.read_at(buf, offset).await
    }

    /// Writes at `offset` without moving the cursor.
    ///
    /// Go: `os.File.WriteAt`.
    pub async fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.io.write_at(buf, offset).await
    }

    /// Moves the cursor; returns the new position.
    ///
    /// Go: `os.File.Seek`.
    pub fn seek(&self, pos: SeekFrom) -> io::Result<u64> {
        self.io.seek(pos)
    }

    /// Flushes data and metadata to the device (fsync), on the pool.
    ///
    /// Go: `os.File.Sync`.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.io.on_pool(|fd| Ok(rustix::fs::fsync(fd)?)).await
    }

    /// Flushes data to the device (fdatasync where the kernel has it).
    pub async fn sync_data(&self) -> io::Result<()> {
        self.io
            .on_pool(|fd| {
                #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
                return Ok(rustix::fs::fdatasync(fd)?);
                #[allow(unreachable_code)]
                Ok(rustix::fs::fsync(fd)?)
            })
            .await
    }

    /// Truncates or extends the file to `len` bytes, on the pool.
    ///
    /// Go: `os.File.Truncate`.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        self.io
            .on_pool(move |fd| Ok(rustix::fs::ftruncate(fd, len)?))
            .await
    }

    /// The file's metadata, on the pool.
    ///
    /// Go: `os.File.Stat`.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.io
            .on_pool(|fd| {
                // std's Metadata has no public constructor; a duplicate of
                // the fd, held as a std File for the call, gives one.
                std::fs::File::from(fd.try_clone_to_owned()?).metadata()
            })
            .await
    }
}

fdio_has_fd!(File);
