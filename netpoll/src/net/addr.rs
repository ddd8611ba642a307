//! Address arguments, resolved off the workers (Go: net.Resolver with the
//! pure-Go resolver's goroutine; here the blocking pool runs the system's
//! `getaddrinfo`, which may block for seconds).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What `connect`, `bind` and `send_to` accept: a socket address, or a
/// `"host:port"` / `(host, port)` to resolve. Literal IP addresses are
/// parsed in place; names are looked up on the blocking pool, never on a
/// worker thread.
///
/// This trait is sealed: the implementations below are the whole set.
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let l = netpoll::net::TcpListener::bind("localhost:0").await?;
///     let port = l.local_addr()?.port();
///     netpoll::net::TcpStream::connect(("localhost", port)).await?;
///     netpoll::net::TcpStream::connect(l.local_addr()?).await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    /// How an argument turns into addresses.
    pub trait Sealed {
        /// The addresses at once, or the name to look up.
        fn to_addrs(&self) -> super::Resolve;
    }
}

/// An argument's addresses, or a lookup still to do.
#[doc(hidden)]
pub enum Resolve {
    Done(Vec<SocketAddr>),
    Lookup(String, u16),
    Failed(io::Error),
}

macro_rules! literal_addrs {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl sealed::Sealed for $t {
            fn to_addrs(&self) -> Resolve {
                Resolve::Done(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}

literal_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn to_addrs(&self) -> Resolve {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Resolve::Done(vec![addr]);
        }
        let Some((host, port)) = self.rsplit_once(':') else {
            return Resolve::Failed(invalid("missing port in address"));
        };
        match port.parse::<u16>() {
            Ok(port) => (host, port).to_addrs(),
            Err(_) => Resolve::Failed(invalid("invalid port in address")),
        }
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn to_addrs(&self) -> Resolve {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Resolve::Done(vec![SocketAddr::new(ip, port)]),
            Err(_) => Resolve::Lookup(host.to_owned(), port),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn to_addrs(&self) -> Resolve {
        (self.0.as_str(), self.1).to_addrs()
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn to_addrs(&self) -> Resolve {
        self.as_str().to_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn to_addrs(&self) -> Resolve {
        Resolve::Done(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn to_addrs(&self) -> Resolve {
        (**self).to_addrs()
    }
}

/// The addresses of `addr`, looked up on the blocking pool if needed.
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_addrs() {
        Resolve::Done(addrs) => addrs,
        Resolve::Failed(e) => return Err(e),
        Resolve::Lookup(host, port) => crate::task::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Vec::from_iter)
        })
        .await
        .map_err(io::Error::other)??,
    };
    if addrs.is_empty() {
        return Err(invalid("no addresses to connect or bind to"));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the last error if all fail (Go:
/// dialSerial).
pub(crate) async fn each<T, F, Fut>(addrs: Vec<SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match f(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| invalid("no addresses to connect or bind to")))
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
