//! Tasks: async-task cells with a little metadata, and the handle that
//! awaits or aborts them (Go: a goroutine, which has no handle at all).

use crate::loom_shim::LockExt;
use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// What the scheduler keeps beside each task's future.
pub(crate) struct TaskMeta {
    /// `JoinHandle::abort` was called, or the runtime is shutting down:
    /// the task's next poll drops its future instead of polling it.
    aborted: AtomicBool,
    /// Where the task was spawned (`#[track_caller]`), for the monitor's
    /// warning about a task that blocks its worker, and the task dump.
    pub(crate) location: &'static Location<'static>,
    /// The task's id (`task::id()`): unique in the process, never reused.
    pub(crate) id: u64,
    /// The name given with `task::Builder::name`.
    pub(crate) name: Option<Box<str>>,
    /// Where the task is: [`WAITING`], [`SCHEDULED`], [`RUNNING`], [`DONE`].
    pub(crate) state: AtomicU8,
    /// What its last poll waited for (`waits::Wait`, packed: kind in the
    /// top byte, argument below; see `wait`).
    wait_kind: AtomicU8,
    wait_arg: AtomicU64,
}

/// A task waiting for a wake.
pub(crate) const WAITING: u8 = 0;
/// Woken, in a run queue.
pub(crate) const SCHEDULED: u8 = 1;
/// Being polled.
pub(crate) const RUNNING: u8 = 2;
/// Finished or cancelled.
pub(crate) const DONE: u8 = 3;

impl TaskMeta {
    /// What the task's last poll waited for.
    pub(crate) fn wait(&self) -> crate::waits::Wait {
        crate::waits::Wait {
            kind: self.wait_kind.load(Ordering::Relaxed),
            arg: self.wait_arg.load(Ordering::Relaxed),
        }
    }
}

thread_local! {
    /// The id of the task being polled on this thread (0: none).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// The id of the task being polled on this thread, if any.
pub(crate) fn current_id() -> Option<u64> {
    Some(CURRENT.with(Cell::get)).filter(|&id| id != 0)
}

/// A fresh task id (from 1; 0 means "no task").
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
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

/// A spawned future as its task runs it: checked for an abort at every
/// poll, and with a value (the task's owned-registry guard) dropped right
/// after it.
///
/// The abort check happens inside the poll, while async-task holds the
/// task as running, so an abort can never slip between a check and the
/// poll it guards: either the poll sees the flag, or the abort's wake
/// finds the task running and has it polled once more.
///
/// Not an `async` block around the future: rustc lays out an async block's
/// captured future and the future it awaits as two fields, so every task
/// would take twice its future's size (rust-lang/rust#62958), which with a
/// 4 KiB buffer per connection doubled the memory of an idle server.
struct TaskFuture<F, G> {
    /// The task's own metadata, which outlives this future (see `spawn`).
    meta: &'static TaskMeta,
    /// `None` once aborted: dropped then, in place.
    future: Option<F>,
    // Declared after `future`, so dropped after it.
    _guard: G,
}

impl<F: Future, G> Future for TaskFuture<F, G> {
    /// `None`: aborted, the future dropped unfinished.
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let meta = self.meta;
        meta.state.store(RUNNING, Ordering::Relaxed);
        let outer = CURRENT.with(|c| c.replace(meta.id));
        let _ = crate::waits::take();
        let polled = self.poll_inner(cx);
        CURRENT.with(|c| c.set(outer));
        if polled.is_pending() {
            let wait = crate::waits::take();
            meta.wait_kind.store(wait.kind, Ordering::Relaxed);
            meta.wait_arg.store(wait.arg, Ordering::Relaxed);
            // A wake during the poll only marks the task; async-task calls
            // its schedule function (which stores SCHEDULED) after this
            // poll has returned, so a plain store cannot hide it.
            meta.state.store(WAITING, Ordering::Relaxed);
        } else {
            meta.state.store(DONE, Ordering::Relaxed);
        }
        polled
    }
}

impl<F: Future, G> TaskFuture<F, G> {
    /// The abort check, then the future's poll.
    fn poll_inner(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let aborted = self.meta.aborted.load(Ordering::Acquire);
        // `future` is never moved out of a pinned `TaskFuture`: it is only
        // polled in place or dropped in place by `Pin::set`, there is no
        // `Drop` impl, and `TaskFuture` is `Unpin` only if `F` is.
        // SAFETY: so this is a structural pin projection.
        let mut future = unsafe { self.map_unchecked_mut(|t| &mut t.future) };
        if aborted {
            future.set(None);
            return Poll::Ready(None);
        }
        match future.as_pin_mut() {
            Some(f) => f.poll(cx).map(Some),
            None => Poll::Ready(None),
        }
    }
}

/// The future [`crate::task::unconstrained`] returns: polls `future` with
/// no cooperative budget in force (tokio: `task::Unconstrained`).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Unconstrained<F> {
    future: F,
}

impl<F> Unconstrained<F> {
    pub(crate) fn new(future: F) -> Unconstrained<F> {
        Unconstrained { future }
    }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // `future` is never moved out of a pinned `Unconstrained`: there is
        // no `Drop` impl, no method hands it out, and `Unconstrained` is
        // `Unpin` only if `F` is.
        // SAFETY: so this is a structural pin projection.
        let future = unsafe { self.map_unchecked_mut(|u| &mut u.future) };
        crate::coop::with(None, || future.poll(cx))
    }
}

/// A task running `future`, with `guard` dropped right after it, and its
/// handle. Panics are caught in the task and re-raised where its
/// `JoinHandle` is polled, which is how a panic becomes a `JoinError`.
/// The caller's location is recorded as the task's spawn site.
#[track_caller]
pub(crate) fn spawn<F, G, S>(
    future: F,
    name: Option<Box<str>>,
    guard: G,
    schedule: S,
) -> (Runnable, Task<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    G: Send + 'static,
    S: async_task::Schedule<TaskMeta> + Send + Sync + 'static,
{
    let make = move |meta: &'static TaskMeta| TaskFuture {
        meta,
        future: Some(future),
        _guard: guard,
    };
    let meta = TaskMeta {
        aborted: AtomicBool::new(false),
        location: Location::caller(),
        id: next_id(),
        name,
        state: AtomicU8::new(SCHEDULED),
        wait_kind: AtomicU8::new(crate::waits::UNKNOWN),
        wait_arg: AtomicU64::new(0),
    };
    let builder = async_task::Builder::new()
        .metadata(meta)
        .propagate_panic(true);
    // `spawn_unchecked` only waives the checks that `spawn` makes with
    // bounds, and each holds here: the future is `Send`, the schedule
    // function `Send + Sync + 'static`, and the one borrow the future takes
    // is of its task's own metadata, which async-task allows (its safety
    // section: "borrowed non-metadata variables must outlive its
    // Runnable"): the metadata lives in the task's allocation until after
    // the future is dropped, and the `'static` never leaves `TaskFuture`.
    // SAFETY: the conditions above hold.
    unsafe { builder.spawn_unchecked(make, schedule) }
}

/// The handle half of a task: its output, or `None` if it was aborted.
pub(crate) type Task<T> = async_task::Task<Option<T>, TaskMeta>;

/// Ends a task instead of running its future, which is dropped at once
/// (here, on this thread); its `JoinHandle` then reports it cancelled.
/// Running it rather than dropping the `Runnable` keeps async-task's
/// state simple: every task completes, none is closed under its handle.
pub(crate) fn cancel(runnable: Runnable) {
    runnable.metadata().aborted.store(true, Ordering::Release);
    runnable.run();
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
    task: Option<Task<T>>,
    /// Schedules the task, so an abort is noticed even if it sleeps.
    waker: Waker,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Task<T>, waker: Waker) -> JoinHandle<T> {
        JoinHandle {
            task: Some(task),
            waker,
        }
    }

    /// Cancels the task: its future is dropped the next time it would run
    /// (at once if it is waiting), and awaiting this handle gives a
    /// cancelled [`JoinError`] once the future has been dropped, so
    /// whatever it owned is released by then. A task that already finished
    /// keeps its output.
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
        std::task::ready!(crate::coop::poll_proceed(cx));
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after it returned");
        // The task's panic, if any, is re-raised here (async-task's
        // propagate_panic): catch it and hand it over as a JoinError.
        let res = match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *task).poll(cx))) {
            Ok(Poll::Pending) => {
                crate::waits::note(crate::waits::TASK, task.metadata().id);
                return Poll::Pending;
            }
            Ok(Poll::Ready(Some(v))) => Ok(v),
            Ok(Poll::Ready(None)) => Err(JoinError::cancelled()),
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

// No runtime and no syscall: Miri runs these, over the unsafe steps above
// (the spawn whose future borrows its task's metadata, the pin projections
// of `TaskFuture` and `Unconstrained`, the queue handle conversion).
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its drops.
    struct Dropped(Arc<AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_task<T>(task: &mut Task<T>) -> Poll<Option<T>> {
        Pin::new(task).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_task_runs_once_and_drops_its_future_and_guard() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (future_drop, guard) = (Dropped(drops.clone()), Dropped(drops.clone()));
        let (r, mut t) = spawn(
            async move {
                let _held = future_drop;
                crate::task::unconstrained(async { 6 * 7 }).await
            },
            None,
            guard,
            |_: Runnable| {},
        );
        assert_eq!(r.metadata().location.file(), file!());
        // Through the run queue's pointer conversion and back.
        let r = {
            use super::super::queue::Handle;
            // SAFETY: the pointer came from `into_ptr` just now, once.
            unsafe { Runnable::from_ptr(r.into_ptr()) }
        };
        r.run();
        assert_eq!(poll_task(&mut t), Poll::Ready(Some(42)));
        assert_eq!(drops.load(Ordering::SeqCst), 2, "future and guard dropped");
    }

    #[test]
    fn a_cancelled_task_drops_its_future_unpolled() {
        let drops = Arc::new(AtomicUsize::new(0));
        let polled = Arc::new(AtomicBool::new(false));
        let (held, p) = (Dropped(drops.clone()), polled.clone());
        let (r, mut t) = spawn(
            async move {
                let _held = held;
                p.store(true, Ordering::SeqCst);
            },
            None,
            Dropped(drops.clone()),
            |_: Runnable| {},
        );
        cancel(r);
        assert_eq!(poll_task(&mut t), Poll::Ready(None), "cancelled");
        assert!(!polled.load(Ordering::SeqCst), "the future ran");
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}
