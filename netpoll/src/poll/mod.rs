//! The poll layer: poll descriptors, the cache they live in, the tokens
//! that name them in the kernel, and the netpoller that ties them to a
//! backend (Go: runtime/netpoll.go, and the runtime half of internal/poll).
//!
//! This is the low-level layer the runtime is built on. Most programs use
//! the I/O types instead; [`Netpoller`] is public so the poller can be
//! driven and observed on its own.

mod cache;
mod desc;
mod error;
pub(crate) mod fd;
pub(crate) mod fdlock;
mod netpoller;
mod readbuf;
pub(crate) mod timer;
mod token;

// Real kernels behind real pollers: not under Miri, which runs only the
// unit tests that make no syscalls.
#[cfg(all(test, not(loom), not(miri)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_fdlock;
#[cfg(all(test, loom))]
mod loom_models;

pub use netpoller::{Events, Netpoller, Ready, Registration};

pub(crate) use error::{is_closed, is_deadline};
