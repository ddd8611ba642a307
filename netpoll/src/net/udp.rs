//! UDP sockets (Go: net.UDPConn).

use super::addr::{self, ToSocketAddrs};
use super::common::{fd_methods, ready_methods};
use super::socket::Socket;
use super::tcp::inet;
use rustix::net::RecvFlags;
use socket2::{Domain, Type};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;

/// A UDP socket. Every method takes `&self`: one task may receive while
/// another sends, and either may be woken by `close` or a deadline.
///
/// Go: `net.UDPConn`.
///
/// # Example
///
/// ```
/// use netpoll::net::UdpSocket;
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"hi", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    sock: Socket,
}

fd_methods!(
    UdpSocket,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let s = netpoll::net::UdpSocket::bind(\"127.0.0.1:0\").await?;"
);
ready_methods!(
    UdpSocket,
    "# netpoll::runtime::Runtime::new()?.block_on(async {
let s = netpoll::net::UdpSocket::bind(\"127.0.0.1:0\").await?;"
);

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works).
    ///
    /// Go: `net.ListenPacket("udp", addr)`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let s = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// assert_ne!(s.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = addr::resolve(&addr).await?;
        addr::each(addrs, |addr| async move {
            let sock = Socket::new(Domain::for_address(addr), Type::DGRAM)?;
            sock.bind(&addr.into())?;
            Ok(UdpSocket { sock })
        })
        .await
    }

    /// Sets the default destination of `send` and the only source `recv`
    /// accepts.
    ///
    /// Go: `net.DialUDP`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let a = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// a.send(b"x").await?;
    /// assert_eq!(b.recv(&mut [0; 4]).await?, 1);
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = addr::resolve(&addr).await?;
        addr::each(addrs, |addr| async move {
            self.sock.with(|s| s.connect(&addr.into()))
        })
        .await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.send(buf).await
    }

    /// Receives one datagram from the connected peer (or any sender, if not
    /// connected); a datagram longer than `buf` is cut.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, RecvFlags::empty()).await
    }

    /// Looks at the next datagram from the connected peer without taking
    /// it: the next `recv` gets it again.
    ///
    /// tokio: `peek`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let a = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(a.local_addr()?).await?;
    /// a.send(b"x").await?;
    /// let mut buf = [0; 4];
    /// assert_eq!(a.peek(&mut buf).await?, 1);
    /// assert_eq!(a.recv(&mut buf).await?, 1);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, RecvFlags::PEEK).await
    }

    /// Sends one datagram to the connected peer if the send buffer has
    /// room now; [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise (or
    /// while another send of this socket is in progress). Wait with
    /// [`writable`](Self::writable) and try again.
    ///
    /// tokio: `try_send`. Go: none.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let a = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// assert_eq!(a.try_send(b"x")?, 1);
    /// b.readable().await?;
    /// assert_eq!(b.try_recv(&mut [0; 4])?, 1);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_send(buf)
    }

    /// Receives one datagram if one is queued now;
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise. Wait with
    /// [`readable`](Self::readable) and try again. A datagram longer than
    /// `buf` is cut.
    ///
    /// tokio: `try_recv`. Go: none.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let s = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let err = s.try_recv(&mut [0; 4]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.try_recv(buf, RecvFlags::empty())
    }

    /// Sends one datagram to `target` if the send buffer has room now;
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise.
    ///
    /// tokio: `try_send_to`. Go: none.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let a = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.try_send_to(b"hi", b.local_addr()?)?;
    /// b.readable().await?;
    /// let mut buf = [0; 4];
    /// assert_eq!(b.try_recv_from(&mut buf)?, (2, a.local_addr()?));
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.sock.try_send_to(buf, &target.into())
    }

    /// Receives one datagram and its sender if one is queued now;
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) otherwise.
    ///
    /// tokio: `try_recv_from`. Go: none.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.try_recv_from(buf, RecvFlags::empty())?;
        Ok((n, ip_sender(from)?))
    }

    /// Sends one datagram to `addr` (resolved on the blocking pool if it is
    /// a name).
    ///
    /// Go: `net.UDPConn.WriteTo`.
    pub async fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addrs = addr::resolve(&addr).await?;
        self.sock.send_to(buf, &addrs[0].into()).await
    }

    /// Receives one datagram and its sender.
    ///
    /// Go: `net.UDPConn.ReadFrom`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_with(buf, RecvFlags::empty()).await
    }

    /// Looks at the next datagram and its sender without taking it.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let a = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"x", a.local_addr()?).await?;
    /// let mut buf = [0; 4];
    /// assert_eq!(a.peek_from(&mut buf).await?.0, 1);
    /// assert_eq!(a.recv_from(&mut buf).await?.0, 1);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_with(buf, RecvFlags::PEEK).await
    }

    async fn recv_from_with(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.sock.recv_from(buf, flags).await?;
        Ok((n, ip_sender(from)?))
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.sock.local_addr()?)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet(self.sock.peer_addr()?)
    }

    /// Whether sending to broadcast addresses is allowed (`SO_BROADCAST`).
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let s = netpoll::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// s.set_broadcast(true)?;
    /// assert!(s.broadcast()?);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.with(|s| s.broadcast())
    }

    /// Allows or forbids sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.with(|s| s.set_broadcast(on))
    }

    /// The IP time-to-live of outgoing datagrams.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.with(|s| s.ttl_v4())
    }

    /// Sets the IP time-to-live of outgoing datagrams.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.with(|s| s.set_ttl_v4(ttl))
    }

    /// Joins an IPv4 multicast group on `interface` (`UNSPECIFIED`: the
    /// system's choice).
    ///
    /// Go: `net.ListenMulticastUDP`.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// use std::net::Ipv4Addr;
    /// let s = netpoll::net::UdpSocket::bind("0.0.0.0:0").await?;
    /// s.set_multicast_loop_v4(true)?;
    /// # // Joining needs a multicast route, which a sandbox may lack.
    /// let _ = s.join_multicast_v4(Ipv4Addr::new(239, 255, 0, 1), Ipv4Addr::UNSPECIFIED);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.sock.with(|s| s.join_multicast_v4(&group, &interface))
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.sock.with(|s| s.leave_multicast_v4(&group, &interface))
    }

    /// Joins an IPv6 multicast group on interface index `interface` (0:
    /// the system's choice).
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.with(|s| s.join_multicast_v6(&group, interface))
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.with(|s| s.leave_multicast_v6(&group, interface))
    }

    /// Whether this host receives its own IPv4 multicast datagrams.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.sock.with(|s| s.multicast_loop_v4())
    }

    /// Sets whether this host receives its own IPv4 multicast datagrams.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock.with(|s| s.set_multicast_loop_v4(on))
    }

    /// The time-to-live of outgoing IPv4 multicast datagrams.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.sock.with(|s| s.multicast_ttl_v4())
    }

    /// Sets the time-to-live of outgoing IPv4 multicast datagrams.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.sock.with(|s| s.set_multicast_ttl_v4(ttl))
    }

    /// Adopts a std socket (made non-blocking here), registering it with
    /// the current runtime.
    ///
    /// # Example
    ///
    /// ```
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// let s = netpoll::net::UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
    /// let back: std::net::UdpSocket = s.into_std()?;
    /// # drop(back);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            sock: Socket::adopt(socket.into())?,
        })
    }

    /// Hands the socket back as a std one (still non-blocking).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(OwnedFd::try_from(self)?.into())
    }
}

/// The IP address of a datagram's sender.
fn ip_sender(from: Option<rustix::net::SocketAddrAny>) -> io::Result<SocketAddr> {
    from.and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without an IP sender"))
}

impl crate::poll::fd::HasFd for UdpSocket {
    fn fd(&self) -> &crate::poll::fd::Fd {
        self.sock.fd()
    }

    fn into_fd(self) -> io::Result<OwnedFd> {
        self.sock.into_owned()
    }
}
