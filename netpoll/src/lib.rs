//! netpoll: an async runtime built the way Go's runtime does I/O.
//!
//! One netpoller per runtime, driven by the scheduler's own workers; poll
//! descriptors that are never freed and carry a sequence number, so a
//! stale kernel event can never touch a reused fd; close that wakes every
//! blocked operation; per-fd deadlines.
//!
//! Layers, lowest first (a layer never imports a higher one):
//! - `sys`: one file per kernel interface behind one small interface.
//! - [`poll`]: poll descriptors, their cache and the netpoller.
//! - [`runtime`]: workers with the poller inside, timers, blocking pool.
//! - [`net`]: TCP, UDP and Unix sockets with Go's close and deadline
//!   semantics, on the fd layer in `poll` (Go: internal/poll.FD).
//! - [`task`], [`time`], [`io`], [`signal`], [`metrics`]: the public API; [`compat`]:
//!   tokio's and hyper's traits behind features.
//!
//! ```
//! #[netpoll::main(flavor = "current_thread")]
//! async fn main() {
//!     let answer = netpoll::spawn(async { 42 }).await.unwrap();
//!     netpoll::time::sleep(std::time::Duration::from_millis(1)).await;
//!     assert_eq!(answer, 42);
//! }
//! ```
#![deny(missing_docs)]

mod coop;
mod loom_shim;
mod waits;

pub mod compat;
pub mod fs;
pub mod io;
pub mod metrics;
pub mod net;
pub mod poll;
pub mod process;
pub mod runtime;
pub mod signal;
mod sys;
pub mod task;
pub mod time;

pub use netpoll_macros::{main, test};
pub use sys::{Poller, POLLER_ENV};
pub use task::{spawn, spawn_blocking};

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
