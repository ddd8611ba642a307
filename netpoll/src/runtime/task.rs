//! Tasks: async-task cells with a little metadata, and the handle that
//! awaits or aborts them (Go: a goroutine, which has no handle at all).

use crate::loom_shim::LockExt;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// What the scheduler keeps beside each task's future.
#[derive(Default)]
pub(crate) struct TaskMeta {
    /// `JoinHandle::abort` was called: the next time the task is picked to
    /// run, it is dropped instead.
    pub(crate) aborted: AtomicBool,
    /// The task was dropped without completing (aborted, or cancelled by
    /// shutdown). Set before the drop, so a `JoinHandle` that sees it never
    /// polls the dead cell.
    pub(crate) cancelled: AtomicBool,
}

/// A task ready to run, as the queues hold it.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

// The run queues hold tasks as raw pointers in atomic slots (a lock-free
// ring needs word-sized elements); this is the only conversion.
impl super::queue::Handle for Runnable {
    fn into_ptr(self) -> std::ptr::NonNull<()> {
        self.into_raw()
    }

    unsafe fn from_ptr(ptr: std::ptr::NonNull<()>) -> Self {
        // SAFETY: the queue hands back each pointer exactly once, and only
        // pointers it got from `into_ptr` on a `Runnable<TaskMeta>`, which
        // is what `Runnable::from_raw` requires.
        unsafe { Runnable::from_raw(ptr) }
    }
}

/// A spawned future with a value dropped right after it (the task's
/// owned-registry guard). Not an `async` block around the future: rustc
/// lays out an async block's captured future and the future it awaits as
/// two fields, so every task would take twice its future's size
/// (rust-lang/rust#62958), which with a 4 KiB buffer per connection
/// doubled the memory of an idle server.
pub(crate) struct Guarded<F, G> {
    future: F,
    // Declared after `future`, so dropped after it.
    _guard: G,
}

impl<F, G> Guarded<F, G> {
    /// `future`, with `guard` dropped when it is.
    pub(crate) fn new(future: F, guard: G) -> Self {
        Guarded {
            future,
            _guard: guard,
        }
    }
}

impl<F: Future, G> Future for Guarded<F, G> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: a structural pin projection. `future` is never moved out
        // of a pinned `Guarded`: no method hands it out by value, there is
        // no `Drop` impl, and `Guarded` is `Unpin` only if `F` is.
        unsafe { self.map_unchecked_mut(|g| &mut g.future) }.poll(cx)
    }
}

/// The builder of every task cell: with our metadata, and with panics
/// caught in the task and re-raised where its `JoinHandle` is polled, which
/// is how a panic becomes a `JoinError` (see `JoinHandle::poll`).
pub(crate) fn builder() -> async_task::Builder<TaskMeta> {
    async_task::Builder::new()
        .metadata(TaskMeta::default())
        .propagate_panic(true)
}

/// Drops a task instead of running it, marking it cancelled first.
pub(crate) fn cancel(runnable: Runnable) {
    runnable.metadata().cancelled.store(true, Ordering::Release);
    drop(runnable);
}

/// Runs a task unless it was aborted. Returns whether it ran.
pub(crate) fn run(runnable: Runnable) -> bool {
    if runnable.metadata().aborted.load(Ordering::Acquire) {
        cancel(runnable);
        return false;
    }
    runnable.run();
    true
}

/// An owned permission to await a spawned task's output, or to abort it.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] if the task
/// panicked or was aborted. Dropping it detaches the task, which keeps
/// running.
///
/// Go has no counterpart: a goroutine cannot be awaited or cancelled from
/// outside (tokio: `JoinHandle`).
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let answer = rt.block_on(async {
///     netpoll::spawn(async { 6 * 7 }).await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinHandle<T> {
    task: Option<async_task::Task<T, TaskMeta>>,
    /// Schedules the task, so an abort is noticed even if it sleeps.
    waker: Waker,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: async_task::Task<T, TaskMeta>, waker: Waker) -> JoinHandle<T> {
        JoinHandle {
            task: Some(task),
            waker,
        }
    }

    /// Cancels the task: it is dropped the next time it would run (at once
    /// if it is waiting), and awaiting this handle gives a cancelled
    /// [`JoinError`]. A task that already finished keeps its output.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = netpoll::runtime::Runtime::new()?;
    /// rt.block_on(async {
    ///     let h = netpoll::spawn(netpoll::time::sleep(Duration::from_secs(60)));
    ///     h.abort();
    ///     assert!(h.await.unwrap_err().is_cancelled());
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort(&self) {
        if let Some(task) = &self.task {
            task.metadata().aborted.store(true, Ordering::Release);
            self.waker.wake_by_ref();
        }
    }

    /// Whether the task has finished (completed, panicked or was dropped).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after it returned");
        if task.metadata().cancelled.load(Ordering::Acquire) {
            if let Some(t) = self.task.take() {
                t.detach();
            }
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        // The task's panic, if any, is re-raised here (async-task's
        // propagate_panic): catch it and hand it over as a JoinError.
        let res = match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *task).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(v)) => Ok(v),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        if let Some(t) = self.task.take() {
            t.detach();
        }
        Poll::Ready(res)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task produced no output: it panicked or it was cancelled.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let err = rt.block_on(async {
///     netpoll::spawn(async { panic!("boom") }).await.unwrap_err()
/// });
/// assert!(err.is_panic());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// Behind a mutex only to be `Sync`; nothing contends for it.
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Mutex::new(payload)),
        }
    }

    /// The task was aborted or cancelled by runtime shutdown.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    /// Panics if the task was cancelled instead.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.repr {
            Repr::Panic(p) => p.into_inner().unwrap_or_else(|e| e.into_inner()),
            Repr::Cancelled => panic!("JoinError::into_panic on a cancelled task"),
        }
    }

    /// Re-raises the task's panic on this thread (panics with a message
    /// if the task was cancelled).
    pub fn resume_panic(self) -> ! {
        resume_unwind(self.into_panic())
    }

    fn message(&self) -> String {
        match &self.repr {
            Repr::Cancelled => "task was cancelled".to_owned(),
            Repr::Panic(p) => {
                let p = p.locked();
                if let Some(s) = p.downcast_ref::<&str>() {
                    format!("task panicked with message {s:?}")
                } else if let Some(s) = p.downcast_ref::<String>() {
                    format!("task panicked with message {s:?}")
                } else {
                    "task panicked".to_owned()
                }
            }
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({})", self.message())
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e)
    }
}
