//! The synchronisation types of the concurrent structures: std's in normal
//! builds, loom's under `--cfg loom`, so the same code is model-checked.
//!
//! Threads too (the blocking pool starts its own): under loom they are
//! loom's, so a model runs the pool's real thread body. Two things loom
//! cannot do are bridged here, each documented where it is: a timed
//! condition-variable wait ([`wait_timeout`]) and `JoinHandle::is_finished`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Threads: std's.
#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, Builder, JoinHandle};
}

/// Threads: loom's, with the two std methods the blocking pool uses that
/// loom lacks.
#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::current;

    /// std's `thread::Builder`, on loom threads.
    pub(crate) struct Builder(loom::thread::Builder);

    impl Builder {
        pub(crate) fn new() -> Builder {
            Builder(loom::thread::Builder::new())
        }

        pub(crate) fn name(self, name: String) -> Builder {
            Builder(self.0.name(name))
        }

        pub(crate) fn spawn<F, T>(self, f: F) -> std::io::Result<JoinHandle<T>>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            self.0.spawn(f).map(JoinHandle)
        }
    }

    /// std's `JoinHandle`, on a loom thread.
    pub(crate) struct JoinHandle<T>(loom::thread::JoinHandle<T>);

    impl<T> JoinHandle<T> {
        pub(crate) fn join(self) -> std::thread::Result<T> {
            self.0.join()
        }

        pub(crate) fn thread(&self) -> &loom::thread::Thread {
            self.0.thread()
        }

        /// Always false: loom cannot tell without joining, and a model
        /// joins every thread it started anyway (std's answer only lets
        /// the pool forget handles of threads that have exited).
        pub(crate) fn is_finished(&self) -> bool {
            false
        }
    }
}

/// Waits on `cond` for a notification, at most `dur`, and returns the
/// guard of `lock` (which `guard` must be) taken again; poisoning is
/// ignored, as in [`LockExt`]. Whether the wait timed out is left to the
/// caller's clock, which it must check anyway (spurious wake-ups).
#[cfg(not(loom))]
pub(crate) fn wait_timeout<'a, T>(
    cond: &Condvar,
    _lock: &'a Mutex<T>,
    guard: MutexGuard<'a, T>,
    dur: std::time::Duration,
) -> MutexGuard<'a, T> {
    cond.wait_timeout(guard, dur)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0
}

/// loom's condition variable cannot time out, so: a zero `dur` (the wait
/// has already timed out) releases `lock` and takes it again, as std's
/// wait does, which lets every other thread act in between; any other
/// `dur` waits for a notification, as if the timeout were too long to
/// matter. A model that wants the timeout path sets it to zero (the
/// blocking pool's `keep_alive`).
#[cfg(loom)]
pub(crate) fn wait_timeout<'a, T>(
    cond: &Condvar,
    lock: &'a Mutex<T>,
    guard: MutexGuard<'a, T>,
    dur: std::time::Duration,
) -> MutexGuard<'a, T> {
    if dur.is_zero() {
        drop(guard);
        return lock.locked();
    }
    cond.wait(guard)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
