//! What the current thread is doing for which runtime: the handle that
//! `spawn` and `Handle::current` find, and, on a worker thread, the worker
//! whose queue a task woken here goes to.

use super::scheduler::Worker;
use super::Handle;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

thread_local! {
    static HANDLE: RefCell<Option<Handle>> = const { RefCell::new(None) };
    static WORKER: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
    /// Inside `block_on` or a worker loop: blocking here again would
    /// deadlock the thread that drives the tasks.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

/// The runtime this thread belongs to, if any.
pub(crate) fn current() -> Option<Handle> {
    HANDLE.with(|h| h.borrow().clone())
}

/// Makes `handle` current until the guard drops (then the previous one is
/// current again).
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let prev = HANDLE.with(|h| h.replace(Some(handle)));
    EnterGuard { prev }
}

/// Restores the previously current runtime on drop.
pub(crate) struct EnterGuard {
    prev: Option<Handle>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        HANDLE.with(|h| *h.borrow_mut() = prev);
    }
}

/// Calls `f` with this thread's worker, if it is one.
///
/// Every wake on a runtime thread comes through here, so it borrows the
/// thread-local rather than cloning the `Rc`. `f` must not set or clear
/// the worker (nothing that schedules a task does).
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    WORKER.with_borrow(|w| f(w.as_deref()))
}

/// Makes `worker` this thread's worker until the guard drops.
pub(crate) fn set_worker(worker: Rc<Worker>) -> WorkerGuard {
    WORKER.with(|w| *w.borrow_mut() = Some(worker));
    WorkerGuard(())
}

/// Undoes `set_worker`.
pub(crate) struct WorkerGuard(());

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        WORKER.with(|w| w.borrow_mut().take());
    }
}

/// Marks the thread as driving tasks; panics if it already is, because
/// blocking on a future here would stop the tasks it waits for.
pub(crate) fn drive() -> DrivingGuard {
    if DRIVING.with(|d| d.replace(true)) {
        panic!(
            "netpoll: cannot block_on from a thread that is already driving a runtime \
             (a worker thread or inside block_on): it would block the tasks it waits for. \
             Spawn the future and await its JoinHandle instead, or use spawn_blocking."
        );
    }
    DrivingGuard(())
}

/// Clears the driving mark on drop.
pub(crate) struct DrivingGuard(());

impl Drop for DrivingGuard {
    fn drop(&mut self) {
        DRIVING.with(|d| d.set(false));
    }
}
