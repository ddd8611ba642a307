//! Other ecosystems' I/O traits on netpoll's types, behind features:
//! `tokio-io` (tokio's `AsyncRead`/`AsyncWrite`, so tokio-util codecs and
//! the like work on netpoll streams) and `hyper` (hyper 1.x's `Read`,
//! `Write`, `Executor` and `Timer`, so hyper runs on netpoll without
//! tokio's runtime).
//!
//! The trait implementations are generated per stream type by
//! the crate-private macros `tokio_io!` and `hyper_io!`, which expand to nothing when their
//! feature is off.

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio;

#[cfg(feature = "hyper")]
pub use self::hyper::{HyperExecutor, HyperTimer};

#[cfg(feature = "tokio-io")]
pub(crate) use self::tokio::tokio_io;
#[cfg(not(feature = "tokio-io"))]
macro_rules! tokio_io {
    ($t:ty) => {};
}
#[cfg(not(feature = "tokio-io"))]
pub(crate) use tokio_io;

#[cfg(feature = "hyper")]
pub(crate) use self::hyper::hyper_io;
#[cfg(not(feature = "hyper"))]
macro_rules! hyper_io {
    ($t:ty) => {};
}
#[cfg(not(feature = "hyper"))]
pub(crate) use hyper_io;
