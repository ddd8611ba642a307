//! TCP listeners and streams (Go: net.TCPListener, net.TCPConn).

use super::addr::{self, ToSocketAddrs};
use super::common::{fd_methods, stream_methods};
use super::listen::Backoff;
use super::socket::Socket;
use socket2::{Domain, SockAddr, TcpKeepalive, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// A TCP socket listening for connections. `accept` takes `&self`, so
/// several tasks may accept from one listener, and `close` from another
/// task wakes them.
///
/// When the process runs out of fds (`EMFILE`, `ENFILE`), `accept`
/// returns the error and the next `accept` waits a little before trying
/// again (5 ms, doubling to 1 s, reset by a success), so a server loop
/// that logs the error and goes on keeps serving without spinning (Go:
/// net/http.Server's accept backoff).
///
/// Go: `net.TCPListener`.
///
/// # Example
///
/// ```
/// use netpoll::net::{TcpListener, TcpStream};
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let client = netpoll::spawn(async move { TcpStream::connect(addr).await });
///     let (conn, peer) = listener.accept().await?;
///     assert_eq!(peer, client.await.unwrap()?.local_addr()?);
///     # drop(conn);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    sock: Socket,
    backoff: Backoff,
}

/// A TCP connection.
///
/// Go: `net.TCPConn`.
///
/// # Example
///
/// ```
/// use netpoll::net::{TcpListener, TcpStream};
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    sock: Socket,
}

fd_methods!(
    TcpListener,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let s = netpoll::net::TcpListener::bind(\"127.0.0.1:0\").await?;"
);
fd_methods!(
    TcpStream,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
# let l = netpoll::net::TcpListener::bind(\"127.0.0.1:0\").await?;
let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;"
);
stream_methods!(
    TcpStream,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
# let l = netpoll::net::TcpListener::bind(\"127.0.0.1:0\").await?;
let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;"
);

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) and listens,
    /// with `SO_REUSEADDR` set as servers expect and Go does. Names are
    /// resolved on the blocking pool.
    ///
    /// Go: `net.Listen("tcp", addr)`.
    ///
    /// # Example
    ///
    /// ```
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     assert_ne!(l.local_addr()?.port(), 0);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = addr::resolve(&addr).await?;
        addr::each(addrs, |addr| async move {
            let sock = Socket::new(Domain::for_address(addr), Type::STREAM)?;
            sock.with(|s| s.set_reuse_address(true))?;
            sock.bind(&addr.into())?;
            sock.listen(1024)?;
            Ok(TcpListener::from_socket(sock))
        })
        .await
    }

    /// A listener on a listening socket.
    pub(super) fn from_socket(sock: Socket) -> TcpListener {
        TcpListener {
            sock,
            backoff: Backoff::default(),
        }
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Go: `net.TCPListener.Accept`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let _c = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// let (conn, peer) = l.accept().await?;
    /// assert_eq!(conn.peer_addr()?, peer);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (sock, addr) = self.backoff.accept(&self.sock).await?;
        Ok((TcpStream { sock }, inet(addr)?))
    }

    /// The address the listener is bound to.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// assert!(l.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.sock.local_addr()?)
    }

    /// The IP time-to-live of accepted connections' packets.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// l.set_ttl(42)?;
    /// assert_eq!(l.ttl()?, 42);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.with(|s| s.ttl_v4())
    }

    /// Sets the IP time-to-live; see [`ttl`](Self::ttl).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.with(|s| s.set_ttl_v4(ttl))
    }

    /// Adopts a std listener (made non-blocking here), registering it with
    /// the current runtime.
    ///
    /// # Example
    ///
    /// ```
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     let std = std::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let l = netpoll::net::TcpListener::from_std(std)?;
    ///     let back: std::net::TcpListener = l.into_std()?;
    ///     # drop(back);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener::from_socket(Socket::adopt(listener.into())?))
    }

    /// Hands the listener back as a std one (still non-blocking); fails
    /// with the closed error if it was closed.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(OwnedFd::try_from(self)?.into())
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each of its addresses in turn until one
    /// answers. Names are resolved on the blocking pool.
    ///
    /// Go: `net.Dial("tcp", addr)`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// assert_eq!(s.peer_addr()?, l.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = addr::resolve(&addr).await?;
        addr::each(addrs, |addr| TcpStream::connect_addr(addr, None)).await
    }

    /// Connects to one address, giving up after `timeout` with an error of
    /// kind `TimedOut` (a write deadline on the connecting socket, as Go's
    /// Dialer does it).
    ///
    /// A zero `timeout` fails at once with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput), as std's
    /// `TcpStream::connect_timeout` does; Go's `DialTimeout` takes 0 as no
    /// timeout at all, which here is [`connect`](Self::connect).
    ///
    /// Go: `net.DialTimeout`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// use std::time::Duration;
    /// let s = netpoll::net::TcpStream::connect_timeout(l.local_addr()?, Duration::from_secs(5)).await?;
    /// # let _ = s;
    /// let zero = netpoll::net::TcpStream::connect_timeout(l.local_addr()?, Duration::ZERO).await;
    /// assert_eq!(zero.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            // std's check: a zero deadline would fail every connect as
            // timed out before it starts, which is never what was meant.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(addr, Instant::now().checked_add(timeout)).await
    }

    /// A stream on a connected socket.
    pub(super) fn from_socket(sock: Socket) -> TcpStream {
        TcpStream { sock }
    }

    async fn connect_addr(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM)?;
        if deadline.is_some() {
            sock.fd().set_write_deadline(deadline)?;
        }
        sock.connect(&SockAddr::from(addr)).await?;
        if deadline.is_some() {
            sock.fd().set_write_deadline(None)?;
        }
        Ok(TcpStream { sock })
    }

    /// The address of the other end.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// assert_eq!(s.peer_addr()?, l.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet(self.sock.peer_addr()?)
    }

    /// The address of this end.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// assert!(s.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.sock.local_addr()?)
    }

    /// Whether Nagle's algorithm is off (`TCP_NODELAY`).
    ///
    /// Go: `net.TCPConn.SetNoDelay` (Go turns it on by default; so does
    /// not this type: set it).
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// s.set_nodelay(true)?;
    /// assert!(s.nodelay()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.with(|s| s.tcp_nodelay())
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.with(|s| s.set_tcp_nodelay(nodelay))
    }

    /// Turns TCP keep-alive on with probes after `idle` of silence, or off
    /// with `None`. The kernel counts `idle` in whole seconds; a fraction
    /// rounds up, as in Go (a zero `idle` is the kernel's `EINVAL`).
    ///
    /// Go: `net.TCPConn.SetKeepAlive` + `SetKeepAlivePeriod`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// s.set_keepalive(Some(std::time::Duration::from_secs(30)))?;
    /// assert!(s.keepalive()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        self.sock.with(|s| match idle {
            Some(idle) => {
                let idle = super::tcp_socket::whole_seconds(idle);
                s.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))
            }
            None => s.set_keepalive(false),
        })
    }

    /// Whether TCP keep-alive is on.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.sock.with(|s| s.keepalive())
    }

    /// Sets `SO_LINGER`, what `close` does with data not yet sent:
    ///
    /// - `None` (the default): close returns at once and the kernel
    ///   sends what is left, then the FIN, in the background;
    /// - `Some(Duration::ZERO)`: an abortive close: unsent data is
    ///   discarded, the peer gets a reset, and no `TIME_WAIT` is left
    ///   behind;
    /// - `Some(d)`: close(2) itself waits, up to `d` in whole seconds (a
    ///   fraction rounds up), for the data and the FIN to be acknowledged.
    ///
    /// The last one blocks a thread: netpoll closes the fd on whichever
    /// thread drops the last reference to it, a runtime worker, and Linux
    /// lingers in close(2) even on a non-blocking socket. So use `None` or
    /// `Some(Duration::ZERO)`; for a close that knows the peer got
    /// everything, [`shutdown`](Self::shutdown) the write side and read
    /// until EOF instead. (tokio deprecated this setter on its `TcpStream`
    /// for that reason; Go documents that "Close may block".)
    ///
    /// Go: `net.TCPConn.SetLinger` (in seconds). tokio: `set_linger`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// use std::time::Duration;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// s.set_linger(Some(Duration::ZERO))?;
    /// assert_eq!(s.linger()?, Some(Duration::ZERO));
    /// s.close()?; // resets the connection
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.sock.with(|s| super::tcp_socket::set_linger(s, linger))
    }

    /// `SO_LINGER` in whole seconds; `None` when off. See
    /// [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.sock.with(|s| s.linger())
    }

    /// Sets the size of the send buffer (`SO_SNDBUF`). The kernel may
    /// adjust it (Linux doubles it for bookkeeping and clamps it to
    /// `net.core.wmem_max`); read it back with
    /// [`send_buffer_size`](Self::send_buffer_size).
    ///
    /// Go: `net.TCPConn.SetWriteBuffer`. tokio: `TcpSocket::set_send_buffer_size`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let l = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let s = netpoll::net::TcpStream::connect(l.local_addr()?).await?;
    /// s.set_send_buffer_size(32 * 1024)?;
    /// s.set_recv_buffer_size(32 * 1024)?;
    /// assert!(s.send_buffer_size()? > 0 && s.recv_buffer_size()? > 0);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.sock
            .with(|s| s.set_send_buffer_size(super::tcp_socket::buffer_arg(size)))
    }

    /// The size of the send buffer (`SO_SNDBUF`), as the kernel reports it.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.sock
            .with(|s| s.send_buffer_size().map(super::tcp_socket::buffer_size))
    }

    /// Sets the size of the receive buffer (`SO_RCVBUF`); the kernel may
    /// adjust it, as for [`set_send_buffer_size`](Self::set_send_buffer_size).
    ///
    /// Go: `net.TCPConn.SetReadBuffer`. tokio: `TcpSocket::set_recv_buffer_size`.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.sock
            .with(|s| s.set_recv_buffer_size(super::tcp_socket::buffer_arg(size)))
    }

    /// The size of the receive buffer (`SO_RCVBUF`), as the kernel reports it.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.sock
            .with(|s| s.recv_buffer_size().map(super::tcp_socket::buffer_size))
    }

    /// The IP time-to-live of this connection's packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.with(|s| s.ttl_v4())
    }

    /// Sets the IP time-to-live; see [`ttl`](Self::ttl).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.with(|s| s.set_ttl_v4(ttl))
    }

    /// Adopts a connected std stream (made non-blocking here), registering
    /// it with the current runtime.
    ///
    /// # Example
    ///
    /// ```
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let std = std::net::TcpStream::connect(l.local_addr()?)?;
    ///     let s = netpoll::net::TcpStream::from_std(std)?;
    ///     let back: std::net::TcpStream = s.into_std()?;
    ///     # drop(back);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: Socket::adopt(stream.into())?,
        })
    }

    /// Hands the stream back as a std one (still non-blocking); fails with
    /// the closed error if it was closed.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(OwnedFd::try_from(self)?.into())
    }
}

/// An IP socket address out of socket2's any-family one.
pub(super) fn inet(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
}

impl crate::poll::fd::HasFd for TcpListener {
    fn fd(&self) -> &crate::poll::fd::Fd {
        self.sock.fd()
    }

    fn into_fd(self) -> io::Result<OwnedFd> {
        self.sock.into_owned()
    }
}

impl crate::poll::fd::HasFd for TcpStream {
    fn fd(&self) -> &crate::poll::fd::Fd {
        self.sock.fd()
    }

    fn into_fd(self) -> io::Result<OwnedFd> {
        self.sock.into_owned()
    }
}
