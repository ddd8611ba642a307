//! The synchronisation types of the concurrent structures: std's in normal
//! builds, loom's under `--cfg loom`, so the same code is model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicI32, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicI32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
