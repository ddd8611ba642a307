//! The socket under every type of `net`: an [`Fd`] plus the socket calls
//! they share (Go: net.netFD). Each public type wraps one and adds its own
//! constructors and options.

use crate::poll::fd::{Fd, MAX_RW};
use crate::poll::fdlock::Side;
use crate::runtime::Handle;
use rustix::net::{RecvFlags, SendFlags, SocketAddrAny};
use socket2::{Domain, SockAddr, SockRef, Type};
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

/// Sends never raise SIGPIPE: a write to a peer that has gone returns
/// `EPIPE` instead of killing the process. Apple has no `MSG_NOSIGNAL`;
/// there the `SO_NOSIGPIPE` option is set on every socket instead.
#[cfg(not(target_vendor = "apple"))]
const SEND: SendFlags = SendFlags::NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND: SendFlags = SendFlags::empty();

/// Whether a stream read of a `domain` socket that comes back short has
/// emptied the receive queue: true for TCP (save for urgent data, which
/// the poller reports), false for Unix streams, whose reads also stop
/// short at every message that carries fds or credentials.
fn short_reads_drain(domain: Domain) -> bool {
    domain != Domain::UNIX
}

/// A registered, non-blocking, close-on-exec socket.
pub(crate) struct Socket {
    fd: Fd,
}

impl Socket {
    /// A new socket of `domain` and `ty`, registered with the current
    /// runtime's poller.
    pub(crate) fn new(domain: Domain, ty: Type) -> io::Result<Socket> {
        // socket2 sets close-on-exec atomically where the kernel can, and
        // SO_NOSIGPIPE on Apple.
        let s = socket2::Socket::new(domain, ty, None)?;
        Socket::adopt_as(s.into(), short_reads_drain(domain))
    }

    /// Takes over an fd: makes it non-blocking and registers it with the
    /// current runtime's poller (Go: newFD + netFD.init).
    pub(crate) fn adopt(fd: OwnedFd) -> io::Result<Socket> {
        // The family of its address, which every platform reports
        // (socket2's `domain()`, SO_DOMAIN, is Linux's only).
        let domain = SockRef::from(&fd).local_addr()?.domain();
        Socket::adopt_as(fd, short_reads_drain(domain))
    }

    /// [`adopt`](Self::adopt) for a socket whose domain is known: whether
    /// a short stream read proves its receive queue empty.
    fn adopt_as(fd: OwnedFd, short_reads_drain: bool) -> io::Result<Socket> {
        let sock = SockRef::from(&fd);
        sock.set_nonblocking(true)?;
        #[cfg(target_vendor = "apple")]
        sock.set_nosigpipe(true)?;
        let reg = Handle::try_current().ok_or_else(no_runtime)?.register(fd)?;
        let fd = Fd::new(reg);
        Ok(Socket {
            fd: if short_reads_drain {
                fd.with_drain_hint()
            } else {
                fd
            },
        })
    }

    /// Runs `f` with the fd held open.
    pub(crate) fn with<T>(&self, f: impl FnOnce(SockRef<'_>) -> io::Result<T>) -> io::Result<T> {
        self.fd.with(|fd| f(SockRef::from(&fd)))
    }

    /// Runs `f` with the fd held open, as a plain `BorrowedFd`.
    /// The fd layer under the socket: close, deadlines, `with_fd`.
    pub(crate) fn fd(&self) -> &Fd {
        &self.fd
    }

    pub(crate) fn into_owned(self) -> io::Result<OwnedFd> {
        self.fd.into_owned()
    }

    pub(crate) fn bind(&self, addr: &SockAddr) -> io::Result<()> {
        self.with(|s| s.bind(addr))
    }

    pub(crate) fn listen(&self, backlog: i32) -> io::Result<()> {
        self.with(|s| s.listen(backlog))
    }

    /// Accepts a connection, waiting for one (Go: netFD.accept). The new
    /// socket is close-on-exec from birth where the kernel allows.
    pub(crate) async fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        let (conn, addr) = self
            .fd
            .io(Side::Read, |fd| SockRef::from(&fd).accept())
            .await?;
        // Same domain as the listener's.
        let hint = self.fd.has_drain_hint();
        Ok((Socket::adopt_as(conn.into(), hint)?, addr))
    }

    /// Connects, waiting for the handshake (Go: netFD.connect).
    pub(crate) async fn connect(&self, addr: &SockAddr) -> io::Result<()> {
        let mut started = false;
        self.fd
            .io(Side::Write, |fd| {
                let sock = SockRef::from(&fd);
                if !started {
                    started = true;
                    return match sock.connect(addr) {
                        Err(e) if in_progress(&e) => Err(io::ErrorKind::WouldBlock.into()),
                        done => done,
                    };
                }
                // Writable: the handshake ended, one way or the other.
                match sock.take_error()? {
                    Some(e) if in_progress(&e) => Err(io::ErrorKind::WouldBlock.into()),
                    Some(e) => Err(e),
                    // A wakeup before the handshake ended (the first event
                    // of a new socket): not connected yet, wait again.
                    None => match sock.peer_addr() {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(e) => Err(e),
                    },
                }
            })
            .await
    }

    /// A stream read (TCP, Unix stream): see `Fd::read_stream` for how a
    /// short read saves the next one's EAGAIN.
    pub(crate) fn read<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        let want = buf.len().min(MAX_RW);
        self.fd
            .read_stream(want, move |fd| recv(fd, buf, RecvFlags::empty()))
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let want = buf.len().min(MAX_RW);
        self.fd
            .poll_read_stream(cx, want, |fd| recv(fd, buf, RecvFlags::empty()))
    }

    /// tokio's `AsyncRead::poll_read`: into the buffer's uninitialised
    /// part in place (the unsafe steps live in `poll::readbuf`).
    #[cfg(feature = "tokio-io")]
    pub(crate) fn poll_read_tokio(
        &self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.fd.poll_recv_tokio(cx, buf)
    }

    /// hyper's `rt::Read::poll_read`, in place like
    /// [`poll_read_tokio`](Self::poll_read_tokio).
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_read_hyper(
        &self,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.fd.poll_recv_hyper(cx, buf)
    }

    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd
            .io(Side::Read, |fd| recv(fd, buf, RecvFlags::PEEK))
            .await
    }

    /// A vectored stream read into the first [`IOV_MAX`] of `bufs`.
    pub(crate) async fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let bufs = first_iov_max(bufs);
        // The short-read test measures the slices readv is given: judged
        // against all of `bufs`, a full read of the first IOV_MAX would
        // look short and mark the stream drained, and with an
        // edge-triggered poller the rest already queued would wait for an
        // event that never comes.
        let want = total_len(bufs);
        self.fd
            .read_stream(want, |fd| Ok(rustix::io::readv(fd, bufs)?))
            .await
    }

    pub(crate) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = first_iov_max(bufs);
        let want = total_len(bufs);
        self.fd
            .poll_read_stream(cx, want, |fd| Ok(rustix::io::readv(fd, bufs)?))
    }

    /// Fills `buf`, under one read lock: no other read interleaves.
    pub(crate) async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        self.fd
            .io(Side::Read, |fd| {
                while done < buf.len() {
                    match recv(fd, &mut buf[done..], RecvFlags::empty())? {
                        0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                        n => done += n,
                    }
                }
                Ok(())
            })
            .await
    }

    pub(crate) fn write<'a>(
        &'a self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        self.fd.io(Side::Write, move |fd| send(fd, buf))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.fd.poll_io(Side::Write, cx, |fd| send(fd, buf))
    }

    pub(crate) async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.fd.io(Side::Write, |fd| send_vectored(fd, bufs)).await
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.fd
            .poll_io(Side::Write, cx, |fd| send_vectored(fd, bufs))
    }

    /// Writes all of `buf`, under one write lock: no other write
    /// interleaves (Go: FD.Write loops the same way).
    pub(crate) fn write_all<'a>(
        &'a self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        let mut done = 0;
        self.fd.io(Side::Write, move |fd| {
            while done < buf.len() {
                match send(fd, &buf[done..])? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    n => done += n,
                }
            }
            Ok(())
        })
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.with(|s| s.shutdown(how))
    }

    /// Sends one datagram to `addr` (Go: netFD.writeTo).
    pub(crate) async fn send_to(&self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        self.fd
            .io(Side::Write, |fd| {
                SockRef::from(&fd).send_to_with_flags(buf, addr, SEND.bits() as std::ffi::c_int)
            })
            .await
    }

    /// Receives one datagram and its sender, if the kernel names one
    /// (Go: netFD.readFrom).
    pub(crate) async fn recv_from(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> io::Result<(usize, Option<SocketAddrAny>)> {
        self.fd
            .io(Side::Read, |fd| {
                let (n, _, from) = rustix::net::recvfrom(fd, &mut *buf, flags)?;
                Ok((n, from))
            })
            .await
    }

    /// Receives one datagram on a connected socket; a zero-length buffer
    /// still takes a datagram, as the kernel does.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd
            .io(Side::Read, |fd| {
                Ok(rustix::net::recv(fd, &mut *buf, RecvFlags::empty())?.0)
            })
            .await
    }

    /// Sends one datagram on a connected socket.
    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd
            .io(Side::Write, |fd| Ok(rustix::net::send(fd, buf, SEND)?))
            .await
    }

    pub(crate) fn local_addr(&self) -> io::Result<SockAddr> {
        self.with(|s| s.local_addr())
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SockAddr> {
        self.with(|s| s.peer_addr())
    }
}

/// The most slices one readv, writev or sendmsg takes: Linux's
/// `UIO_MAXIOV` and the BSDs', macOS's and illumos's `IOV_MAX` are all
/// 1024. More fail the whole call (`EMSGSIZE` from sendmsg, `EINVAL` from
/// readv), where a vectored write or read may do part of the work: std's
/// moves the first `IOV_MAX` slices' worth, and so does netpoll.
pub(crate) const IOV_MAX: usize = 1024;

/// The first [`IOV_MAX`] slices of `bufs`.
fn first_iov_max<T>(bufs: &mut [T]) -> &mut [T] {
    let n = bufs.len().min(IOV_MAX);
    &mut bufs[..n]
}

/// The room in `bufs`, for the short-read test of a vectored read.
fn total_len(bufs: &[IoSliceMut<'_>]) -> usize {
    bufs.iter().map(|b| b.len()).fold(0, usize::saturating_add)
}

/// A stream read: nothing asked, nothing read, without a syscall; at most
/// [`MAX_RW`] bytes.
fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: RecvFlags) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let len = buf.len().min(MAX_RW);
    Ok(rustix::net::recv(fd, &mut buf[..len], flags)?.0)
}

/// A stream write of at most [`MAX_RW`] bytes, without SIGPIPE.
fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let len = buf.len().min(MAX_RW);
    Ok(rustix::net::send(fd, &buf[..len], SEND)?)
}

/// writev without SIGPIPE: sendmsg with the send flags, of the first
/// [`IOV_MAX`] slices.
fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(IOV_MAX)];
    let mut control = rustix::net::SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(fd, bufs, &mut control, SEND)?)
}

fn in_progress(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::INPROGRESS, Errno::ALREADY, Errno::INTR]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

fn no_runtime() -> io::Error {
    io::Error::other("netpoll: no runtime here; create sockets inside a netpoll runtime (block_on, a task, or Handle::enter)")
}
