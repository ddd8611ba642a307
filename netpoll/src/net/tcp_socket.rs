//! A TCP socket set up before it listens or connects (tokio: TcpSocket;
//! Go: net.ListenConfig and net.Dialer with a Control function).

use super::socket::Socket;
use super::tcp::{inet, TcpListener, TcpStream};
use socket2::{Domain, SockAddr, SockRef, Type};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

/// A TCP socket not yet listening or connected: set its options, bind
/// it, then turn it into a [`TcpListener`] with
/// [`listen`](Self::listen) or a [`TcpStream`] with
/// [`connect`](Self::connect).
///
/// The socket is close-on-exec and non-blocking from birth, like every
/// socket of [`net`](crate::net); it needs no runtime until `listen` or
/// `connect` registers it with the current one. Dropping it closes it.
///
/// tokio: `TcpSocket`. Go: the `Control` function of `net.ListenConfig`
/// or `net.Dialer`, which sets options on the fd between socket(2) and
/// bind(2)/connect(2):
///
/// ```go
/// lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
///     return c.Control(func(fd uintptr) {
///         syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
///     })
/// }}
/// ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:8080")
/// ```
///
/// # Example
///
/// ```
/// use netpoll::net::TcpSocket;
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let s = TcpSocket::new_v4()?;
///     s.set_reuseaddr(true)?;
///     # #[cfg(target_os = "linux")]
///     s.set_reuseport(true)?;
///     s.bind("127.0.0.1:0".parse().unwrap())?;
///     let listener = s.listen(1024)?;
///
///     let c = TcpSocket::new_v4()?;
///     c.set_nodelay(true)?;
///     let client = c.connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert!(client.nodelay()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpSocket {
    inner: socket2::Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    ///
    /// tokio: `TcpSocket::new_v4`. Go: `syscall.Socket(AF_INET,
    /// SOCK_STREAM, 0)`, which `net.ListenConfig` does for a `tcp4`
    /// address.
    ///
    /// # Example
    ///
    /// ```
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.bind("127.0.0.1:0".parse().unwrap())?;
    /// assert!(s.local_addr()?.is_ipv4());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket. Fails with the kernel's errno
    /// (`EAFNOSUPPORT`) where IPv6 is off.
    ///
    /// tokio: `TcpSocket::new_v6`.
    ///
    /// # Example
    ///
    /// ```
    /// if let Ok(s) = netpoll::net::TcpSocket::new_v6() {
    ///     // ::1 may still be missing (a container without IPv6 loopback).
    ///     if s.bind("[::1]:0".parse().unwrap()).is_ok() {
    ///         assert!(s.local_addr()?.is_ipv6());
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            inner: Socket::create(domain, Type::STREAM)?,
        })
    }

    /// Adopts a std TCP socket (not yet connected, or it cannot connect
    /// again). It is made non-blocking and registered by `listen` or
    /// `connect`.
    ///
    /// tokio: `TcpSocket::from_std_stream`.
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket::from(OwnedFd::from(stream))
    }

    /// Allows binding to an address in use by connections that are
    /// closing (`TIME_WAIT`): what lets a restarted server bind its port
    /// at once (`SO_REUSEADDR`). [`TcpListener::bind`] sets it, as Go's
    /// `net.Listen` does.
    ///
    /// tokio: `set_reuseaddr`. Go: `syscall.SetsockoptInt(fd,
    /// SOL_SOCKET, SO_REUSEADDR, 1)` in a `ListenConfig.Control`.
    ///
    /// # Example
    ///
    /// ```
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.set_reuseaddr(true)?;
    /// assert!(s.reuseaddr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuseaddr)
    }

    /// Whether `SO_REUSEADDR` is set; see [`set_reuseaddr`](Self::set_reuseaddr).
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Allows several sockets to bind the same address and port, each
    /// with this option set (`SO_REUSEPORT`): on Linux the kernel then
    /// spreads incoming connections over their listeners. Not on illumos
    /// and Solaris, which lack the option.
    ///
    /// tokio: `set_reuseport`. Go: `syscall.SetsockoptInt(fd,
    /// SOL_SOCKET, unix.SO_REUSEPORT, 1)` in a `ListenConfig.Control`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// use netpoll::net::TcpSocket;
    /// let a = TcpSocket::new_v4()?;
    /// a.set_reuseport(true)?;
    /// a.bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = a.local_addr()?;
    /// let b = TcpSocket::new_v4()?;
    /// b.set_reuseport(true)?;
    /// b.bind(addr)?; // the same port
    /// let (_la, _lb) = (a.listen(16)?, b.listen(16)?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuseport)
    }

    /// Whether `SO_REUSEPORT` is set; see [`set_reuseport`](Self::set_reuseport).
    #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// For an IPv6 socket, whether it takes IPv6 only (`true`) or also
    /// IPv4 peers as v4-mapped addresses (`false`, a dual-stack socket
    /// bound to `[::]`): `IPV6_V6ONLY`. Set it before `bind`. An IPv4
    /// socket fails with the kernel's errno.
    ///
    /// tokio has none. Go: `net.Listen("tcp6", ...)` sets it, `"tcp"` on
    /// `[::]` clears it.
    ///
    /// # Example
    ///
    /// ```
    /// if let Ok(s) = netpoll::net::TcpSocket::new_v6() {
    ///     s.set_only_v6(true)?;
    ///     assert!(s.only_v6()?);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        self.inner.set_only_v6(only_v6)
    }

    /// Whether `IPV6_V6ONLY` is set; see [`set_only_v6`](Self::set_only_v6).
    pub fn only_v6(&self) -> io::Result<bool> {
        self.inner.only_v6()
    }

    /// Sets the size of the send buffer (`SO_SNDBUF`). The kernel may
    /// adjust it: Linux doubles the value for its bookkeeping and clamps
    /// it to `net.core.wmem_max`, so read it back with
    /// [`send_buffer_size`](Self::send_buffer_size).
    ///
    /// tokio: `set_send_buffer_size`. Go: `net.TCPConn.SetWriteBuffer`.
    ///
    /// # Example
    ///
    /// ```
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.set_send_buffer_size(64 * 1024)?;
    /// assert!(s.send_buffer_size()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(buffer_arg(size))
    }

    /// The size of the send buffer (`SO_SNDBUF`), as the kernel reports it.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.send_buffer_size().map(buffer_size)
    }

    /// Sets the size of the receive buffer (`SO_RCVBUF`); the kernel may
    /// adjust it, as for [`set_send_buffer_size`](Self::set_send_buffer_size).
    /// Set before `listen` or `connect`, it also sizes the TCP window the
    /// handshake announces.
    ///
    /// tokio: `set_recv_buffer_size`. Go: `net.TCPConn.SetReadBuffer`.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(buffer_arg(size))
    }

    /// The size of the receive buffer (`SO_RCVBUF`), as the kernel reports it.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.recv_buffer_size().map(buffer_size)
    }

    /// Sets `SO_LINGER`; see [`TcpStream::set_linger`], which says why
    /// only `None` and `Some(Duration::ZERO)` suit an async runtime.
    ///
    /// tokio: `set_linger`. Go: `net.TCPConn.SetLinger`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.set_linger(Some(Duration::ZERO))?; // close resets, no TIME_WAIT
    /// assert_eq!(s.linger()?, Some(Duration::ZERO));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        set_linger(SockRef::from(&self.inner), linger)
    }

    /// `SO_LINGER` in whole seconds; `None` when off.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Turns Nagle's algorithm off (`true`) or on (`TCP_NODELAY`); the
    /// stream `connect` returns keeps it.
    ///
    /// tokio: `set_nodelay`. Go: `net.TCPConn.SetNoDelay` (on by default
    /// in Go; off here until set).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.tcp_nodelay()
    }

    /// Turns TCP keep-alive probes on or off (`SO_KEEPALIVE`), with the
    /// system's timing; [`TcpStream::set_keepalive`] also sets the idle
    /// time.
    ///
    /// tokio: `set_keepalive`. Go: `net.TCPConn.SetKeepAlive`.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Binds the socket to `addr` (port 0: one the kernel picks). An
    /// address of the other family fails with the kernel's errno.
    ///
    /// tokio: `TcpSocket::bind`. Go: the bind(2) `net.ListenConfig.Listen`
    /// makes, or `net.Dialer.LocalAddr` for a client.
    ///
    /// # Example
    ///
    /// ```
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.bind("127.0.0.1:0".parse().unwrap())?;
    /// assert_ne!(s.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&SockAddr::from(addr))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.inner.local_addr()?)
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// tokio: `take_error`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Listens, with room for `backlog` connections waiting to be
    /// accepted (the kernel caps it: `net.core.somaxconn` on Linux), and
    /// registers the socket with the current runtime. Unbound, it
    /// listens on a port the kernel picks, on every address.
    ///
    /// tokio: `TcpSocket::listen`. Go: `net.ListenConfig.Listen`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.bind("127.0.0.1:0".parse().unwrap())?;
    /// let listener = s.listen(128)?;
    /// # let _ = listener;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self.inner.listen(backlog)?;
        Ok(TcpListener::from_socket(Socket::adopt(self.inner.into())?))
    }

    /// Connects to `addr`, registering the socket with the current runtime
    /// and waiting for the handshake; the stream keeps every option set
    /// here. For a time limit, wrap it in
    /// [`time::timeout`](crate::time::timeout): dropping the future closes
    /// the socket.
    ///
    /// tokio: `TcpSocket::connect`. Go: `net.Dialer.DialContext` with a
    /// `Control` function.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpSocket::new_v4()?;
    /// s.set_linger(Some(std::time::Duration::ZERO))?;
    /// let stream = s.connect(l.local_addr()?).await?;
    /// assert_eq!(stream.peer_addr()?, l.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let sock = Socket::adopt(self.inner.into())?;
        sock.connect(&SockAddr::from(addr)).await?;
        Ok(TcpStream::from_socket(sock))
    }
}

/// A socket option's buffer size as socket2 takes it: socket2 passes it to
/// the kernel as a C `int`, so sizes past `i32::MAX` are capped there
/// rather than wrapped negative.
pub(super) fn buffer_arg(size: u32) -> usize {
    size.min(i32::MAX as u32) as usize
}

/// A buffer size the kernel reported, as `u32` (tokio's type).
pub(super) fn buffer_size(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// Sets `SO_LINGER` with the duration in whole seconds, as the kernel
/// keeps it: see [`whole_seconds`]. socket2 truncates (`as_secs() as
/// c_int`), which would turn 500 ms into 0, the abortive close that sends
/// a reset and discards unsent data, and wrap 2^32 s to 0 as well; here
/// only `Duration::ZERO` means an abortive close.
pub(super) fn set_linger(sock: SockRef<'_>, linger: Option<Duration>) -> io::Result<()> {
    sock.set_linger(linger.map(whole_seconds))
}

/// `d` in whole seconds for a socket option kept in seconds (linger,
/// keep-alive idle time): a fraction rounds up, as Go's `roundDurationUp`
/// does for `SetKeepAlivePeriod`, so a short non-zero time never becomes
/// 0; and the count is capped at `i32::MAX`, the C `int` it travels in.
pub(super) fn whole_seconds(d: Duration) -> Duration {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    Duration::from_secs(secs.min(i32::MAX as u64))
}

/// Takes over a TCP socket, open; `listen` and `connect` make it
/// non-blocking. (tokio: `FromRawFd`, which is unsafe; an `OwnedFd`
/// already carries the ownership.)
impl From<OwnedFd> for TcpSocket {
    fn from(fd: OwnedFd) -> TcpSocket {
        TcpSocket {
            inner: socket2::Socket::from(fd),
        }
    }
}

/// Hands the socket over, open (tokio: `IntoRawFd`).
impl From<TcpSocket> for OwnedFd {
    fn from(s: TcpSocket) -> OwnedFd {
        s.inner.into()
    }
}

/// Unlike the connected types, a `TcpSocket` has no `close(&self)` that
/// another task could run, so lending its fd is safe.
impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}
