//! Unix-domain sockets (Go: net.UnixListener, net.UnixConn).

use super::common::{fd_methods, ready_methods, stream_methods};
use super::listen::Backoff;
use super::socket::Socket;
use rustix::net::{RecvFlags, SocketAddrAny, SocketAddrUnix};
use socket2::{Domain, SockAddr, Type};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;

/// A Unix-domain socket listening for connections.
///
/// Go: `net.UnixListener`.
///
/// # Example
///
/// ```
/// use netpoll::net::{UnixListener, UnixStream};
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("netpoll-doc-{}.sock", std::process::id()));
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     std::fs::remove_file(&path)?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    sock: Socket,
    backoff: Backoff,
}

/// A Unix-domain stream connection.
///
/// Go: `net.UnixConn` (stream).
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let (a, b) = netpoll::net::UnixStream::pair()?;
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    sock: Socket,
}

/// A Unix-domain datagram socket.
///
/// Go: `net.UnixConn` (datagram).
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let (a, b) = netpoll::net::UnixDatagram::pair()?;
///     a.send(b"one").await?;
///     let mut buf = [0; 8];
///     assert_eq!(b.recv(&mut buf).await?, 3);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    sock: Socket,
}

fd_methods!(
    UnixListener,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
# let path = std::env::temp_dir().join(format!(\"netpoll-doc-l-{}.sock\", std::process::id()));
# let _ = std::fs::remove_file(&path);
let s = netpoll::net::UnixListener::bind(&path)?;
# std::fs::remove_file(&path)?;"
);
fd_methods!(
    UnixStream,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (s, _peer) = netpoll::net::UnixStream::pair()?;"
);
stream_methods!(
    UnixStream,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (s, _peer) = netpoll::net::UnixStream::pair()?;"
);
fd_methods!(
    UnixDatagram,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (s, _peer) = netpoll::net::UnixDatagram::pair()?;"
);
ready_methods!(
    UnixDatagram,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let (s, _peer) = netpoll::net::UnixDatagram::pair()?;"
);

impl UnixListener {
    /// Binds to `path` and listens. The socket file is left behind when
    /// the listener closes, as with std (Go removes it; remove it
    /// yourself).
    ///
    /// A path with a NUL in it fails with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput), as with std: the
    /// kernel would cut the path at the NUL. On Linux and Android a path
    /// that starts with a NUL names an abstract socket (no file; Go writes
    /// it `@name`), and the rest of it may hold any byte.
    ///
    /// Go: `net.ListenUnix`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = sockaddr(path.as_ref())?;
        let sock = Socket::new(Domain::UNIX, Type::STREAM)?;
        sock.bind(&addr)?;
        sock.listen(1024)?;
        Ok(UnixListener {
            sock,
            backoff: Backoff::default(),
        })
    }

    /// Waits for a connection. Backs off after fd exhaustion like
    /// [`TcpListener::accept`](super::TcpListener).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (sock, addr) = self.backoff.accept(&self.sock).await?;
        Ok((UnixStream { sock }, unix(addr)))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(unix(self.sock.local_addr()?))
    }

    /// Adopts a std listener (made non-blocking here).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            sock: Socket::adopt(listener.into())?,
            backoff: Backoff::default(),
        })
    }

    /// Hands the listener back as a std one (still non-blocking).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(OwnedFd::try_from(self)?.into())
    }
}

impl UnixStream {
    /// Connects to the socket at `path`. A path with a NUL in it fails
    /// with `InvalidInput`, but for an abstract name: see
    /// [`UnixListener::bind`].
    ///
    /// Go: `net.DialUnix`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = sockaddr(path.as_ref())?;
        let sock = Socket::new(Domain::UNIX, Type::STREAM)?;
        sock.connect(&addr).await?;
        Ok(UnixStream { sock })
    }

    /// A connected pair of streams (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = socket2::Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        Ok((
            UnixStream {
                sock: Socket::adopt(a.into())?,
            },
            UnixStream {
                sock: Socket::adopt(b.into())?,
            },
        ))
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(unix(self.sock.local_addr()?))
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(unix(self.sock.peer_addr()?))
    }

    /// Adopts a connected std stream (made non-blocking here).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            sock: Socket::adopt(stream.into())?,
        })
    }

    /// Hands the stream back as a std one (still non-blocking).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(OwnedFd::try_from(self)?.into())
    }
}

impl UnixDatagram {
    /// A datagram socket bound to `path`. A path with a NUL in it fails
    /// with `InvalidInput`, but for an abstract name: see
    /// [`UnixListener::bind`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = sockaddr(path.as_ref())?;
        let sock = Socket::new(Domain::UNIX, Type::DGRAM)?;
        sock.bind(&addr)?;
        Ok(UnixDatagram { sock })
    }

    /// A datagram socket bound to no address (it can send, and receive
    /// replies once connected).
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Socket::new(Domain::UNIX, Type::DGRAM)?,
        })
    }

    /// A connected pair of datagram sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = socket2::Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
        Ok((
            UnixDatagram {
                sock: Socket::adopt(a.into())?,
            },
            UnixDatagram {
                sock: Socket::adopt(b.into())?,
            },
        ))
    }

    /// Sets the default destination of `send`. Paths are checked as by
    /// [`bind`](Self::bind).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let addr = sockaddr(path.as_ref())?;
        self.sock.with(|s| s.connect(&addr))
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.send(buf).await
    }

    /// Receives one datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, RecvFlags::empty()).await
    }

    /// Sends one datagram to the socket at `path`. Paths are checked as by
    /// [`bind`](Self::bind).
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = sockaddr(path.as_ref())?;
        self.sock.send_to(buf, &addr).await
    }

    /// Receives one datagram and its sender's address (unnamed if the
    /// sender is not bound).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.recv_from(buf, RecvFlags::empty()).await?;
        Ok((n, from.map(from_rustix).unwrap_or_else(unnamed)))
    }

    /// Sends one datagram to the connected peer if there is room now;
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise (or while
    /// another send of this socket is in progress). Wait with
    /// [`writable`](Self::writable) and try again.
    ///
    /// tokio: `try_send`. Go: none.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let (a, b) = netpoll::net::UnixDatagram::pair()?;
    /// assert_eq!(a.try_send(b"x")?, 1);
    /// b.readable().await?;
    /// assert_eq!(b.try_recv(&mut [0; 4])?, 1);
    /// assert_eq!(b.try_recv(&mut [0; 4]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_send(buf)
    }

    /// Receives one datagram if one is queued now;
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise.
    ///
    /// tokio: `try_recv`. Go: none.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.try_recv(buf, RecvFlags::empty())
    }

    /// Sends one datagram to the socket at `path` if there is room now;
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise. Paths are
    /// checked as by [`bind`](Self::bind).
    ///
    /// tokio: `try_send_to`. Go: none.
    pub fn try_send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = sockaddr(path.as_ref())?;
        self.sock.try_send_to(buf, &addr)
    }

    /// Receives one datagram and its sender's address if one is queued
    /// now; [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise.
    ///
    /// tokio: `try_recv_from`. Go: none.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.try_recv_from(buf, RecvFlags::empty())?;
        Ok((n, from.map(from_rustix).unwrap_or_else(unnamed)))
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(unix(self.sock.local_addr()?))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(unix(self.sock.peer_addr()?))
    }

    /// Adopts a std socket (made non-blocking here).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Socket::adopt(socket.into())?,
        })
    }

    /// Hands the socket back as a std one (still non-blocking).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        Ok(OwnedFd::try_from(self)?.into())
    }
}

/// The address of the socket at `path`, for every call that takes a path
/// (bind, connect, send_to).
///
/// The kernel ends a pathname at its first NUL, so `bind("p\0x")` would
/// create `p` and `connect("p\0x")` would reach it: such a path is refused
/// with `InvalidInput`, as std refuses it (socket2 does not check). On
/// Linux and Android a leading NUL names an abstract socket instead, whose
/// name is any bytes, NULs included; elsewhere there are none, and any NUL
/// is refused.
fn sockaddr(path: &Path) -> io::Result<SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let abstract_name =
        cfg!(any(target_os = "linux", target_os = "android")) && bytes.first() == Some(&0);
    if !abstract_name && bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "paths must not contain interior null bytes",
        ));
    }
    SockAddr::unix(path)
}

/// A Unix address out of socket2's any-family one: a pathname, an
/// abstract name (Linux, Android), or unnamed. (socket2's `as_unix` knows
/// only pathnames, and panics on one std cannot hold.)
fn unix(addr: SockAddr) -> SocketAddr {
    if let Some(path) = addr.as_pathname() {
        return SocketAddr::from_pathname(path).unwrap_or_else(|_| unnamed());
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(name) = addr.as_abstract_namespace() {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name).unwrap_or_else(|_| unnamed());
    }
    unnamed()
}

/// A Unix address out of rustix's, which `recvfrom` gives.
fn from_rustix(addr: SocketAddrAny) -> SocketAddr {
    let Ok(addr) = SocketAddrUnix::try_from(addr) else {
        return unnamed();
    };
    if let Some(path) = addr.path() {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::OsStr::from_bytes(path.to_bytes());
        return SocketAddr::from_pathname(path).unwrap_or_else(|_| unnamed());
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(name) = addr.abstract_name() {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name).unwrap_or_else(|_| unnamed());
    }
    unnamed()
}

/// The address of an unbound socket.
fn unnamed() -> SocketAddr {
    // The empty path is how std spells "unnamed".
    SocketAddr::from_pathname("").expect("the empty path is the unnamed address")
}

impl crate::poll::fd::HasFd for UnixListener {
    fn fd(&self) -> &crate::poll::fd::Fd {
        self.sock.fd()
    }

    fn into_fd(self) -> io::Result<OwnedFd> {
        self.sock.into_owned()
    }
}

impl crate::poll::fd::HasFd for UnixStream {
    fn fd(&self) -> &crate::poll::fd::Fd {
        self.sock.fd()
    }

    fn into_fd(self) -> io::Result<OwnedFd> {
        self.sock.into_owned()
    }
}

impl crate::poll::fd::HasFd for UnixDatagram {
    fn fd(&self) -> &crate::poll::fd::Fd {
        self.sock.fd()
    }

    fn into_fd(self) -> io::Result<OwnedFd> {
        self.sock.into_owned()
    }
}
