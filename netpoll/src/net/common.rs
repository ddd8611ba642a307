//! The methods every socket type shares, written once: close, deadlines,
//! scoped fd access and conversions ([`fd_methods`]), readiness waits for
//! the stream and datagram types ([`ready_methods`]), and the byte-stream
//! I/O of the two stream types, waiting and not, with their trait
//! implementations ([`stream_methods`]).
//!
//! Each macro takes the type and a doc-test prelude that binds `s` to one
//! inside a runtime, so every generated method gets a runnable example.

/// Close, deadlines, `with_fd`, `AsRawFd`, `TryFrom<$t> for OwnedFd`, for
/// a type that implements [`HasFd`](crate::poll::fd::HasFd).
macro_rules! fd_methods {
    ($t:ident, $setup:expr) => {
        impl $t {
            /// Closes the socket from any task: operations waiting on it
            /// wake with the closed error, later ones fail at once, and the
            /// fd is closed once no syscall on it is in flight. A second
            /// call returns the closed error. See [the module
            /// docs](crate::net#close-go-netconnclose).
            ///
            /// Go: `net.Conn.Close`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.close()?;
            /// assert!(netpoll::io::is_closed(&s.close().unwrap_err()));
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn close(&self) -> std::io::Result<()> {
                $crate::poll::fd::HasFd::fd(self).close()
            }

            /// Sets both deadlines; `None` clears them. See [the module
            /// docs](crate::net#deadlines-go-netconnsetdeadline).
            ///
            /// Go: `net.Conn.SetDeadline`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// use std::time::{Duration, Instant};
            /// match s.set_deadline(Some(Instant::now() + Duration::from_secs(30))) {
            ///     Ok(()) => s.set_deadline(None)?,
            ///     // Only fds the poller watches have deadlines (Go: os.ErrNoDeadline).
            ///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
            /// }
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn set_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                $crate::poll::fd::HasFd::fd(self).set_deadline(at)
            }

            /// Sets the deadline of reads (and accepts, receives); `None`
            /// clears it. Applies to the read waiting now and to later
            /// ones; when it passes they fail with
            /// [`TimedOut`](std::io::ErrorKind::TimedOut).
            ///
            /// Go: `net.Conn.SetReadDeadline`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// use std::time::Instant;
            /// # let _ =
            /// s.set_read_deadline(Some(Instant::now()))
            /// # ;
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn set_read_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                $crate::poll::fd::HasFd::fd(self).set_read_deadline(at)
            }

            /// Sets the deadline of writes (and connects, sends); `None`
            /// clears it.
            ///
            /// Go: `net.Conn.SetWriteDeadline`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// # let _ =
            /// s.set_write_deadline(None)
            /// # ;
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn set_write_deadline(
                &self,
                at: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                $crate::poll::fd::HasFd::fd(self).set_write_deadline(at)
            }

            /// Runs `f` with the fd, held open for the call even if another
            /// task closes the socket meanwhile: the way to set options
            /// this type has no method for. Fails with the closed error
            /// after close.
            ///
            /// Go: `syscall.RawConn.Control`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// let raw = s.with_fd(|fd| std::os::fd::AsRawFd::as_raw_fd(&fd))?;
            /// assert!(raw >= 0);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn with_fd<R>(
                &self,
                f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R,
            ) -> std::io::Result<R> {
                $crate::poll::fd::HasFd::fd(self).with_fd(f)
            }
        }

        /// The fd number, which stays valid only until the socket is
        /// closed, by any task; prefer `with_fd`. (There is no `AsFd`: a
        /// borrowed fd could outlive a `close(&self)`.)
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                $crate::poll::fd::HasFd::fd(self).raw()
            }
        }

        /// Stops watching the fd and hands it over, open. Fails with the
        /// closed error if the socket was closed.
        impl TryFrom<$t> for std::os::fd::OwnedFd {
            type Error = std::io::Error;

            fn try_from(s: $t) -> std::io::Result<std::os::fd::OwnedFd> {
                $crate::poll::fd::HasFd::into_fd(s)
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("fd", &$crate::poll::fd::HasFd::fd(self).raw())
                    .finish()
            }
        }
    };
}

/// `readable` and `writable`, for the stream and the datagram types.
macro_rules! ready_methods {
    ($t:ident, $setup:expr) => {
        impl $t {
            /// Waits until the socket is readable: data (or a datagram) is
            /// queued, the peer closed its side, or an error is pending, so
            /// a `try_*` read or receive makes progress, unless another
            /// task takes the data first. Like tokio's, the answer is a
            /// hint: on `WouldBlock`, wait again.
            ///
            /// It waits as a read does: in line behind other reads for the
            /// socket's read lock, holding it while it waits. `close` from
            /// another task wakes it with the closed error
            /// ([`is_closed`](crate::io::is_closed)); a read deadline that
            /// passes, before or during the wait, fails it with the
            /// deadline error ([`is_deadline`](crate::io::is_deadline)).
            ///
            /// tokio: `readable`. Go has no such call; the closest is
            /// `syscall.RawConn.Read`, whose callback returns false to wait
            /// for readability. See [the module
            /// docs](crate::net#readiness-tokio-readable-and-try_read).
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.set_read_deadline(Some(std::time::Instant::now()))?;
            /// let err = s.readable().await.unwrap_err();
            /// assert!(netpoll::io::is_deadline(&err));
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn readable(&self) -> std::io::Result<()> {
                self.sock.readable().await
            }

            /// Waits until the socket is writable (there is room in its
            /// send buffer), or an error is pending: the counterpart of
            /// [`readable`](Self::readable), under the write lock and the
            /// write deadline.
            ///
            /// tokio: `writable`. Go: the closest is
            /// `syscall.RawConn.Write`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.writable().await?;
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn writable(&self) -> std::io::Result<()> {
                self.sock.writable().await
            }
        }
    };
}

/// Reads, writes, shutdown and the async I/O traits of a stream type.
macro_rules! stream_methods {
    ($t:ident, $setup:expr) => {
        $crate::net::common::ready_methods!($t, $setup);

        impl $t {
            /// Reads into `buf` what is queued now, without waiting: fails
            /// with [`WouldBlock`](std::io::ErrorKind::WouldBlock) if
            /// nothing is (or another read of this socket is in progress).
            /// 0 means the peer closed its side (or `buf` is empty). Wait
            /// with [`readable`](Self::readable) and try again.
            ///
            /// Like any read it fails with the closed error after `close`
            /// and with the deadline error once the read deadline passed.
            ///
            /// tokio: `try_read`. Go: none (a read with a deadline in the
            /// past, `SetReadDeadline(time.Now())`, comes closest).
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// // Nothing was sent.
            /// let err = s.try_read(&mut [0; 16]).unwrap_err();
            /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.sock.try_read(buf)
            }

            /// [`try_read`](Self::try_read) into several buffers with one
            /// syscall (into the first 1024 of them at most, `IOV_MAX`).
            ///
            /// tokio: `try_read_vectored`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// let mut a = [0u8; 4];
            /// let err = s.try_read_vectored(&mut [std::io::IoSliceMut::new(&mut a)]).unwrap_err();
            /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn try_read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.sock.try_read_vectored(bufs)
            }

            /// Writes as much of `buf` as the send buffer takes now,
            /// without waiting: fails with
            /// [`WouldBlock`](std::io::ErrorKind::WouldBlock) if it is full
            /// (or another write of this socket is in progress). Wait with
            /// [`writable`](Self::writable) and try again. Never SIGPIPE.
            ///
            /// tokio: `try_write`. Go: none.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// assert_eq!(s.try_write(b"hi")?, 2);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.sock.try_write(buf)
            }

            /// [`try_write`](Self::try_write) from several buffers with one
            /// syscall (from the first 1024 of them at most, `IOV_MAX`).
            ///
            /// tokio: `try_write_vectored`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// let n = s.try_write_vectored(&[std::io::IoSlice::new(b"a"), std::io::IoSlice::new(b"b")])?;
            /// assert_eq!(n, 2);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn try_write_vectored(
                &self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                self.sock.try_write_vectored(bufs)
            }
            /// Reads into `buf`, waiting for data; 0 means the peer closed
            /// its side (or `buf` is empty, which makes no syscall). At
            /// most 1 GiB per call.
            ///
            /// Go: `net.Conn.Read`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.write_all(b"hi").await?;
            /// # let _ = s.read(&mut [0; 0]).await?;
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.sock.read(buf).await
            }

            /// Reads into several buffers with one syscall: into the first
            /// 1024 of them at most (`IOV_MAX`, the most one call takes), as
            /// std does.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// let (mut a, mut b) = ([0u8; 0], [0u8; 0]);
            /// # let _ = &mut (a, b);
            /// s.shutdown(std::net::Shutdown::Read)?;
            /// let n = s.read_vectored(&mut [std::io::IoSliceMut::new(&mut a), std::io::IoSliceMut::new(&mut b)]).await?;
            /// assert_eq!(n, 0);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.sock.read_vectored(bufs).await
            }

            /// Reads exactly `buf.len()` bytes, holding the read lock
            /// throughout so no other read interleaves; fails with
            /// `UnexpectedEof` if the peer closes first.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.shutdown(std::net::Shutdown::Read)?;
            /// let err = s.read_exact(&mut [0; 4]).await.unwrap_err();
            /// assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn read_exact(&self, buf: &mut [u8]) -> std::io::Result<()> {
                self.sock.read_exact(buf).await
            }

            /// Reads without consuming: the next read sees the same bytes.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.shutdown(std::net::Shutdown::Read)?;
            /// assert_eq!(s.peek(&mut [0; 8]).await?, 0);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.sock.peek(buf).await
            }

            /// Writes some of `buf`, waiting for room; at most 1 GiB per
            /// call. A peer that has gone gives `BrokenPipe`, never SIGPIPE.
            ///
            /// Go: `net.Conn.Write` (which writes all; see
            /// [`write_all`](Self::write_all)).
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// let n = s.write(b"hello").await?;
            /// assert!(n > 0);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.sock.write(buf).await
            }

            /// Writes from several buffers with one syscall: from the first
            /// 1024 of them at most (`IOV_MAX`, the most one call takes), as
            /// std does; the trait methods (`poll_write_vectored`) too.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// let n = s.write_vectored(&[std::io::IoSlice::new(b"a"), std::io::IoSlice::new(b"b")]).await?;
            /// assert_eq!(n, 2);
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn write_vectored(
                &self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                self.sock.write_vectored(bufs).await
            }

            /// Writes all of `buf`, holding the write lock throughout so no
            /// other write interleaves with it.
            ///
            /// Go: `net.Conn.Write`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.write_all(&[7; 100_000]).await.or_else(|e| if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) })?;
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
                self.sock.write_all(buf).await
            }

            /// Shuts down the read side, the write side or both (the peer
            /// reads EOF after a write shutdown). Unlike `close`, the fd
            /// stays open.
            ///
            /// On a connection the peer has reset this fails with
            /// [`NotConnected`](std::io::ErrorKind::NotConnected)
            /// (`ENOTCONN`), as std's `shutdown` and Go's `CloseWrite` do.
            /// The async-write traits' close (futures-io `poll_close`,
            /// tokio's and hyper's `poll_shutdown`) and
            /// [`copy_bidirectional`](crate::io::copy_bidirectional)'s
            /// half-close take that `ENOTCONN` as done and return `Ok`, as
            /// tokio does: there is no write side left to shut down, and a
            /// server (hyper's) would otherwise report every client that
            /// dropped its connection.
            ///
            /// Go: `net.TCPConn.CloseWrite` / `CloseRead`.
            ///
            /// # Example
            ///
            /// ```
            #[doc = $setup]
            /// s.shutdown(std::net::Shutdown::Write)?;
            /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
            /// ```
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.sock.shutdown(how)
            }
        }

        $crate::net::common::futures_io_traits!($t);
        $crate::net::common::futures_io_traits!(&$t);
        $crate::compat::tokio_io!($t);
        $crate::compat::tokio_io!(&$t);
        $crate::compat::hyper_io!($t);
        $crate::compat::hyper_io!(&$t);
    };
}

/// futures-io's `AsyncRead` and `AsyncWrite` for a stream type or a
/// reference to one.
macro_rules! futures_io_traits {
    ($t:ty) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.sock.poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.sock.poll_read_vectored(cx, bufs)
            }
        }

        $crate::net::common::write_half!(futures_io::AsyncWrite, $t, poll_close);
    };
}

/// An async-write trait (futures-io's, tokio's or hyper's: same methods
/// but for the name of the one that closes, and whether vectored writes
/// are advertised) for a stream type or a reference to one. Writes go
/// straight to the kernel, so flushing has nothing to do; closing shuts
/// the write side down (the peer reads EOF) and leaves the fd open until
/// `close` or drop. A connection the peer reset closes with `Ok`: see
/// [`write_side_gone`].
macro_rules! write_half {
    ($trait:path, $t:ty, $close:ident $(, $vectored:ident)?) => {
        impl $trait for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.sock.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.sock.poll_write_vectored(cx, bufs)
            }

            $(
                fn $vectored(&self) -> bool {
                    true
                }
            )?

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn $close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::common::write_side_gone(
                    self.sock.shutdown(std::net::Shutdown::Write),
                ))
            }
        }
    };
}

pub(crate) use {fd_methods, futures_io_traits, ready_methods, stream_methods, write_half};

/// The result of shutting down a stream's write side where the caller is
/// done with the stream (the async-write traits' close,
/// `copy_bidirectional`'s half-close), with `ENOTCONN` taken as success.
///
/// The kernel answers a write shutdown with `ENOTCONN` when the peer has
/// already reset the connection: there is no write side left, so the
/// close has nothing to do. tokio maps it the same way
/// (tokio-rs/tokio#4665); without it a hyper server reports
/// `Error(Shutdown, NotConnected)` for every client that dropped its
/// connection. Other errors (a `close`d socket among them) stay errors,
/// and the inherent `shutdown` keeps the kernel's answer, as std and Go do.
pub(crate) fn write_side_gone(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTCONN.raw_os_error()) => Ok(()),
        r => r,
    }
}
