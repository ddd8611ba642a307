//! The I/O of files and pipes: through the poller when the kernel can
//! watch the fd, on the blocking pool when it cannot (Go: os.File over
//! internal/poll.FD, with `pollable` chosen per fd at open time).
//!
//! Regular files and directories are never polled: epoll refuses them and
//! poll(2)/kqueue call them always ready, so a read could block a worker
//! on a slow disk. Their operations run on the blocking pool, each holding
//! a reference on the fd lock from the pool thread (so close waits for
//! them and the fd number is not reused under them), with the data copied
//! through a buffer of at most [`MAX_BLOCKING`] bytes per call. Pipes,
//! FIFOs, character devices and sockets go through the poller.

use crate::poll::fd::{Fd, MAX_RW};
use crate::poll::fdlock::Side;
use crate::runtime::Handle;
use rustix::fs::FileType;
use std::io::{self, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// The most one blocking-pool read or write moves (tokio uses the same
/// bound): larger requests return a partial count, as reads may.
pub(crate) const MAX_BLOCKING: usize = 2 << 20;

/// How an fd came to us, which decides whether we may change its flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Origin {
    /// We opened it: its open file description is ours, so we may make it
    /// non-blocking (Go: kindOpenFile).
    Opened,
    /// Handed to us (`from_std`, stdio): it may share its description with
    /// another process, so it is polled only if it is already
    /// non-blocking, and its flags are left alone (Go: kindNewFile /
    /// kindNonBlock).
    Adopted,
}

/// A file or pipe fd with both I/O paths.
pub(crate) struct FdIo {
    fd: Arc<Fd>,
}

impl FdIo {
    /// Wraps `fd`, polled if its kind allows (see the module docs).
    pub(crate) fn new(fd: OwnedFd, origin: Origin) -> io::Result<FdIo> {
        let handle = Handle::try_current().ok_or_else(no_runtime)?;
        let fd = if pollable_kind(&fd)? && may_poll(&fd, origin)? {
            match handle.shared.poller.try_register(fd) {
                Ok(reg) => Fd::new(reg),
                Err((_, fd)) => {
                    // The kernel refused it: the blocking path, in the
                    // blocking mode its other users expect.
                    if origin == Origin::Opened {
                        rustix::io::ioctl_fionbio(&fd, false)?;
                    }
                    Fd::unpolled(fd)
                }
            }
        } else {
            Fd::unpolled(fd)
        };
        Ok(FdIo { fd: Arc::new(fd) })
    }

    pub(crate) fn fd(&self) -> &Fd {
        &self.fd
    }

    /// The shared fd, for operations that hold it from the blocking pool.
    pub(crate) fn shared(&self) -> &Arc<Fd> {
        &self.fd
    }

    pub(crate) fn into_owned(self) -> io::Result<OwnedFd> {
        match Arc::try_unwrap(self.fd) {
            Ok(fd) => fd.into_owned(),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "netpoll: an operation on this file is still running on the blocking pool",
            )),
        }
    }

    pub(crate) fn is_pollable(&self) -> bool {
        self.fd.is_pollable()
    }

    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return self.fd.with(|_| Ok(0));
        }
        if self.is_pollable() {
            return self
                .fd
                .io(Side::Read, |fd| {
                    let len = buf.len().min(MAX_RW);
                    Ok(rustix::io::read(fd, &mut buf[..len])?)
                })
                .await;
        }
        let held = self.fd.lock_owned(Side::Read).await?;
        let len = buf.len().min(MAX_BLOCKING);
        let data = blocking(move || {
            let mut tmp = vec![0; len];
            let n = retry(|| rustix::io::read(held.fd(), &mut tmp[..]))?;
            tmp.truncate(n);
            Ok(tmp)
        })
        .await?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    /// Fills `buf`; `UnexpectedEof` if the data ends first.
    pub(crate) async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Reads to the end, appending to `out`; returns how many bytes.
    pub(crate) async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        let mut chunk = vec![0; 64 << 10];
        loop {
            match self.read(&mut chunk).await? {
                0 => return Ok(out.len() - start),
                n => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if self.is_pollable() {
            return self
                .fd
                .io(Side::Write, |fd| {
                    let len = buf.len().min(MAX_RW);
                    Ok(rustix::io::write(fd, &buf[..len])?)
                })
                .await;
        }
        let held = self.fd.lock_owned(Side::Write).await?;
        let data = buf[..buf.len().min(MAX_BLOCKING)].to_vec();
        blocking(move || retry(|| rustix::io::write(held.fd(), &data))).await
    }

    /// Writes all of `buf`, holding the write lock throughout.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        if self.is_pollable() {
            let mut done = 0;
            return self
                .fd
                .io(Side::Write, |fd| {
                    while done < buf.len() {
                        let end = buf.len().min(done + MAX_RW);
                        match rustix::io::write(fd, &buf[done..end])? {
                            0 => return Err(io::ErrorKind::WriteZero.into()),
                            n => done += n,
                        }
                    }
                    Ok(())
                })
                .await;
        }
        let mut held = self.fd.lock_owned(Side::Write).await?;
        for chunk in buf.chunks(MAX_BLOCKING) {
            // close wakes waiters on the poller and cannot reach a pool
            // thread: between trips is where it is seen, or the rest of
            // the buffer would go to a file already closed.
            held.ensure_open()?;
            let data = chunk.to_vec();
            held = blocking(move || {
                let mut done = 0;
                while done < data.len() {
                    match retry(|| rustix::io::write(held.fd(), &data[done..]))? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => done += n,
                    }
                }
                Ok(held)
            })
            .await?;
        }
        Ok(())
    }

    /// Reads at `offset` without moving the cursor (pread); concurrent
    /// calls run in parallel. Fails (`ESPIPE`) on pipes, as the kernel says.
    pub(crate) async fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.is_pollable() {
            return self
                .fd
                .with(|fd| Ok(rustix::io::pread(fd, &mut *buf, offset)?));
        }
        let held = self.fd.incref_owned()?;
        let len = buf.len().min(MAX_BLOCKING);
        let data = blocking(move || {
            let mut tmp = vec![0; len];
            let n = retry(|| rustix::io::pread(held.fd(), &mut tmp[..], offset))?;
            tmp.truncate(n);
            Ok(tmp)
        })
        .await?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    /// Writes at `offset` without moving the cursor (pwrite).
    pub(crate) async fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if self.is_pollable() {
            return self.fd.with(|fd| Ok(rustix::io::pwrite(fd, buf, offset)?));
        }
        let held = self.fd.incref_owned()?;
        let data = buf[..buf.len().min(MAX_BLOCKING)].to_vec();
        blocking(move || retry(|| rustix::io::pwrite(held.fd(), &data, offset))).await
    }

    /// Moves the cursor (lseek: it does not block, so it runs here, as in
    /// Go).
    pub(crate) fn seek(&self, pos: SeekFrom) -> io::Result<u64> {
        let pos = match pos {
            SeekFrom::Start(n) => rustix::fs::SeekFrom::Start(n),
            SeekFrom::End(n) => rustix::fs::SeekFrom::End(n),
            SeekFrom::Current(n) => rustix::fs::SeekFrom::Current(n),
        };
        self.fd.with(|fd| Ok(rustix::fs::seek(fd, pos)?))
    }

    /// Runs `f` on the blocking pool with the fd held open.
    pub(crate) async fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let held = self.fd.incref_owned()?;
        blocking(move || f(held.fd())).await
    }
}

/// `HasFd` for types that hold their fd in a field `io: FdIo`.
macro_rules! fdio_has_fd {
    ($($t:ty),*) => {$(
        impl $crate::poll::fd::HasFd for $t {
            fn fd(&self) -> &$crate::poll::fd::Fd {
                self.io.fd()
            }

            fn into_fd(self) -> std::io::Result<std::os::fd::OwnedFd> {
                self.io.into_owned()
            }

            fn shared(&self) -> Option<&std::sync::Arc<$crate::poll::fd::Fd>> {
                Some(self.io.shared())
            }
        }
    )*};
}

pub(crate) use fdio_has_fd;

/// Whether the poller can be asked to watch fds of this kind.
fn pollable_kind(fd: &OwnedFd) -> io::Result<bool> {
    let kind = FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode);
    Ok(match kind {
        FileType::RegularFile | FileType::Directory => false,
        // kqueue on Darwin mishandles FIFOs and devices (Go does the same).
        FileType::Fifo | FileType::CharacterDevice => !cfg!(target_vendor = "apple"),
        _ => true,
    })
}

/// Whether we may rely on non-blocking mode: set it if the description is
/// ours, otherwise only if it is already set.
fn may_poll(fd: &OwnedFd, origin: Origin) -> io::Result<bool> {
    match origin {
        Origin::Opened => {
            rustix::io::ioctl_fionbio(fd, true)?;
            Ok(true)
        }
        Origin::Adopted => {
            Ok(rustix::fs::fcntl_getfl(fd.as_fd())?.contains(rustix::fs::OFlags::NONBLOCK))
        }
    }
}

/// Retries a blocking syscall interrupted by a signal.
fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => {}
            done => return Ok(done?),
        }
    }
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    crate::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

fn no_runtime() -> io::Error {
    io::Error::other(
        "netpoll: no runtime here; open files inside a netpoll runtime (block_on, a task, or Handle::enter)",
    )
}
