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
//! - [`io`], [`metrics`]: the public helpers.
#![warn(missing_docs)]

mod loom_shim;

pub mod io;
pub mod metrics;
pub mod poll;
mod sys;

pub use sys::{Poller, POLLER_ENV};
