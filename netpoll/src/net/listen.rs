//! Accepting under fd exhaustion (Go: net/http.Server.Serve's backoff on
//! temporary accept errors).
//!
//! When the process or the system is out of fds, the pending connection
//! stays in the kernel's backlog and the listener stays readable, so a
//! server that retries at once spins. The error is returned to the caller
//! (who may log it and go on), and the next accept first sleeps: 5 ms,
//! doubling up to 1 s, back to nothing after a success.

use super::socket::Socket;
use socket2::SockAddr;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const FIRST: Duration = Duration::from_millis(5);
const MAX: Duration = Duration::from_secs(1);

/// The delay the next accept waits first, in nanoseconds (0: none).
#[derive(Default)]
pub(super) struct Backoff {
    delay_ns: AtomicU64,
}

impl Backoff {
    /// Accepts on `listener`, backing off after fd exhaustion.
    pub(super) async fn accept(&self, listener: &Socket) -> io::Result<(Socket, SockAddr)> {
        let delay = self.delay_ns.load(Relaxed);
        if delay != 0 {
            crate::time::sleep(Duration::from_nanos(delay)).await;
        }
        match listener.accept().await {
            Ok(conn) => {
                self.delay_ns.store(0, Relaxed);
                Ok(conn)
            }
            Err(e) if out_of_fds(&e) => {
                let next = Duration::from_nanos(delay)
                    .saturating_mul(2)
                    .clamp(FIRST, MAX);
                self.delay_ns.store(next.as_nanos() as u64, Relaxed);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

/// `EMFILE` or `ENFILE`: the process's or the system's fd table is full.
pub(crate) fn out_of_fds(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::MFILE, Errno::NFILE]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}
