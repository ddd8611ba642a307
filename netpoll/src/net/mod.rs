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
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
