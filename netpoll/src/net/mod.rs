//! TCP, UDP and Unix-domain sockets with Go's close and deadline
//! semantics (Go: package net).
//!
//! Every type takes `&self` for I/O, so one socket can be shared (in an
//! `Arc`, or borrowed by several tasks): one task reads while another
//! writes, a third closes it or moves its deadlines. Reads serialize with
//! reads and writes with writes; a read and a write run together.
//!
//! # Close (Go: net.Conn.Close)
//!
//! `close(&self)` may be called from any task, at any time:
//!
//! - operations waiting on the socket (a read, a write, an accept, a
//!   connect, or one queued behind another for the socket's lock) wake at
//!   once and fail with the closed error, which
//!   [`netpoll::io::is_closed`](crate::io::is_closed) recognises (Go:
//!   `net.ErrClosed`);
//! - operations started afterwards fail the same way, at once;
//! - the fd itself is closed only when no syscall on it is in flight: at
//!   once if none is, otherwise by the last operation to leave. Its number
//!   can therefore never be reused under a running operation;
//! - `close` never waits for another task; a second `close` returns the
//!   closed error. Dropping the socket closes it too.
//!
//! # Deadlines (Go: net.Conn.SetDeadline)
//!
//! `set_read_deadline`, `set_write_deadline` and `set_deadline` (both) take
//! an absolute [`Instant`](std::time::Instant), or `None` to clear:
//!
//! - a deadline applies to the operation waiting now and to every later
//!   one, until it is moved or cleared; it is not a per-call timeout;
//! - when it passes, the waiting operation fails with an error of kind
//!   [`TimedOut`](std::io::ErrorKind::TimedOut) that
//!   [`netpoll::io::is_deadline`](crate::io::is_deadline) recognises (Go:
//!   `os.ErrDeadlineExceeded`), and so does every later operation in that
//!   direction;
//! - a deadline at or before now fails the waiting operation at once;
//!   moving a deadline into the future makes the socket usable again;
//! - deadlines are timers of the runtime, one per direction per socket,
//!   re-armed in place: setting one allocates nothing after the first.
//!
//! # Readiness (tokio: readable and try_read)
//!
//! Beside the operations that wait, the stream and datagram types have
//! tokio's non-waiting ones, for code that drives its own loop (a
//! protocol library with a `poll`-style core, a batch of small reads):
//!
//! - `try_read`, `try_read_vectored`, `try_write`, `try_write_vectored`
//!   (streams) and `try_send`, `try_recv`, `try_send_to`, `try_recv_from`
//!   (datagrams) make the syscall once and fail with
//!   [`WouldBlock`](std::io::ErrorKind::WouldBlock) rather than wait,
//!   also while another operation of the same direction holds the
//!   socket's lock;
//! - `readable().await` and `writable().await` wait until that syscall
//!   would make progress. The answer is a hint: on `WouldBlock`, wait
//!   again.
//!
//! Close and deadlines apply as to any operation: `close` from another
//! task wakes a pending `readable()` with the closed error, a read
//! deadline that passes fails it with the deadline error, and a `try_*`
//! after either fails the same way. Go has no such calls: its
//! `syscall.RawConn.Read(func(fd uintptr) bool)` is the nearest, the
//! callback making the syscall and returning false to wait.
//!
//! ```
//! use netpoll::net::UnixStream;
//! use std::io::ErrorKind;
//!
//! netpoll::runtime::Runtime::new()?.block_on(async {
//!     let (a, b) = UnixStream::pair()?;
//!     a.write_all(b"hello").await?;
//!     let mut buf = [0; 16];
//!     let n = loop {
//!         b.readable().await?;
//!         match b.try_read(&mut buf) {
//!             Ok(n) => break n,
//!             Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
//!             Err(e) => return Err(e),
//!         }
//!     };
//!     assert_eq!(&buf[..n], b"hello");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Socket options before bind (tokio: TcpSocket)
//!
//! [`TcpSocket`] is a TCP socket to configure before it listens or
//! connects (`SO_REUSEADDR`, `SO_REUSEPORT`, `IPV6_V6ONLY`, buffer
//! sizes, linger), as Go does in a `net.ListenConfig` or `net.Dialer`
//! `Control` function.
//!
//! # Example
//!
//! ```
//! use netpoll::net::{TcpListener, TcpStream};
//! use std::time::{Duration, Instant};
//!
//! netpoll::runtime::Runtime::new()?.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let client = std::sync::Arc::new(TcpStream::connect(listener.local_addr()?).await?);
//!     let (_server, _) = listener.accept().await?;
//!
//!     // A read that nothing will satisfy, woken by close from another task.
//!     let reader = client.clone();
//!     let read = netpoll::spawn(async move { reader.read(&mut [0; 16]).await });
//!     netpoll::time::sleep(Duration::from_millis(10)).await;
//!     client.close()?;
//!     let err = read.await.unwrap().unwrap_err();
//!     assert!(netpoll::io::is_closed(&err));
//!
//!     // A deadline.
//!     let (conn, _) = (TcpStream::connect(listener.local_addr()?).await?, ());
//!     conn.set_read_deadline(Some(Instant::now() + Duration::from_millis(10)))?;
//!     let err = conn.read(&mut [0; 16]).await.unwrap_err();
//!     assert!(netpoll::io::is_deadline(&err));
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

mod addr;
pub(crate) mod common;
mod listen;
mod socket;
mod tcp;
mod tcp_socket;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use tcp::{TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
