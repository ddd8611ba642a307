//! hyper 1.x's runtime traits (feature `hyper`): `Read`/`Write` for the
//! stream types, an [`HyperExecutor`] that spawns on netpoll and a
//! [`HyperTimer`] backed by netpoll's timers.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// hyper's `Read` and `Write` for a stream type or a reference to one.
macro_rules! hyper_io {
    ($t:ty) => {
        impl ::hyper::rt::Read for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: ::hyper::rt::ReadBufCursor<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.sock.poll_read_hyper(cx, buf)
            }
        }

        $crate::net::common::write_half!(::hyper::rt::Write, $t, poll_shutdown, is_write_vectored);
    };
}

pub(crate) use hyper_io;

/// Runs hyper's background futures (HTTP/2 streams, client connections)
/// as netpoll tasks.
///
/// # Example
///
/// ```
/// let exec = netpoll::compat::HyperExecutor;
/// # let _ = exec;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        drop(crate::spawn(fut));
    }
}

/// hyper's timeouts (header read, keep-alive) on netpoll's timers.
///
/// # Example
///
/// ```
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder.timer(netpoll::compat::HyperTimer);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<crate::time::Sleep>() {
            Some(ours) => ours.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

impl hyper::rt::Sleep for crate::time::Sleep {}
