//! Other ecosystems' I/O traits on netpoll's types, behind features:
//! `tokio-io` (tokio's `AsyncRead`/`AsyncWrite`, so tokio-util codecs and
//! the like work on netpoll streams) and `hyper` (hyper 1.x's `Read`,
//! `Write`, `Executor` and `Timer`, so hyper runs on netpoll without
//! tokio's runtime). Feature `server` adds [`serve`]: an HTTP/1.1
//! server for hyper and tower (axum) services with graceful shutdown and
//! Go's per-connection deadlines; `hyper` also brings [`HyperIo`],
//! hyper's traits for any futures-io (or, with `tokio-io`, tokio-io)
//! stream, and the futures-io/tokio-io traits for hyper's `Upgraded`.
//!
//! The trait implementations are generated per stream type by
//! the crate-private macros `tokio_io!` and `hyper_io!`, which expand to nothing when their
//! feature is off.

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "hyper")]
mod io;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "tokio-io")]
mod tokio;

#[cfg(feature = "client")]
pub use self::client::{HttpConnection, HttpConnector};
#[cfg(feature = "hyper")]
pub use self::hyper::{HyperExecutor, HyperTimer};
#[cfg(all(feature = "hyper", feature = "tokio-io"))]
pub use self::io::FromTokio;
#[cfg(feature = "hyper")]
pub use self::io::HyperIo;
#[cfg(feature = "server")]
pub use self::serve::{
    serve, serve_tower, Serve, TowerToHyperService, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT,
};

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
