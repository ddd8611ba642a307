//! The synchronisation types of the concurrent structures: std's in normal
//! builds, loom's under `--cfg loom`, so the same code is model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locking that ignores poisoning, for std's and the shim's mutexes alike.
///
/// Every critical section in this crate leaves its data consistent (single
/// pushes, removals and assignments), so a panic while a lock was held (a
/// waker's clone or drop, a debug assertion) must not spread to every later
/// user of the poller or the scheduler.
pub(crate) trait LockExt<T: ?Sized> {
    /// The guard `lock` returns.
    type Guard<'a>
    where
        Self: 'a;

    /// Locks, taking over a poisoned lock as if it were not.
    fn locked(&self) -> Self::Guard<'_>;
}

impl<T: ?Sized> LockExt<T> for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        Self: 'a;

    fn locked(&self) -> Self::Guard<'_> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(loom)]
impl<T: ?Sized> LockExt<T> for loom::sync::Mutex<T> {
    type Guard<'a>
        = loom::sync::MutexGuard<'a, T>
    where
        Self: 'a;

    fn locked(&self) -> Self::Guard<'_> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
