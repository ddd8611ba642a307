//! The runtime: worker threads with the netpoller inside, timers and a
//! blocking pool (Go: the scheduler and netpoller of package runtime).
//!
//! ```
//! use netpoll::runtime::Builder;
//!
//! let rt = Builder::new_multi_thread().worker_threads(2).build()?;
//! let sum = rt.block_on(async {
//!     let tasks: Vec<_> = (0..10u64).map(|i| netpoll::spawn(async move { i * i })).collect();
//!     let mut sum = 0;
//!     for t in tasks {
//!         sum += t.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(sum, 285);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Two flavours: multi-thread (one worker per CPU by default; Go's
//! GOMAXPROCS) and current-thread (tasks run on the thread that calls
//! `block_on`, while it does).

mod blocking;
mod builder;
pub(crate) mod context;
mod dump;
mod idle;
mod metrics;
mod monitor;
mod owned;
pub(crate) mod queue;
mod scheduler;
pub(crate) mod task;

#[cfg(all(test, loom))]
mod loom_park;
#[cfg(all(test, loom))]
mod loom_queue;

pub use crate::Poller;
pub use builder::{Builder, PIDFD_ENV};
pub use dump::{Dump, TaskDump};
pub use metrics::RuntimeMetrics;
pub use monitor::WARN_BLOCKING_ENV;

/// A callback run on each runtime thread as it starts or stops
/// (`Builder::on_thread_start`, `on_thread_stop`).
pub(crate) type ThreadHook = Arc<dyn Fn() + Send + Sync>;

/// Runs the start hook now and the stop hook when dropped, so the stop
/// hook runs however the thread's work ends.
pub(crate) struct HookGuard(Option<ThreadHook>);

impl HookGuard {
    pub(crate) fn enter(hooks: &Hooks) -> HookGuard {
        if let Some(start) = &hooks.start {
            start();
        }
        HookGuard(hooks.stop.clone())
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("start", &self.start.is_some())
            .field("stop", &self.stop.is_some())
            .finish()
    }
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        if let Some(stop) = &self.0 {
            stop();
        }
    }
}

/// The user's thread hooks.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) start: Option<ThreadHook>,
    pub(crate) stop: Option<ThreadHook>,
}

use crate::loom_shim::LockExt;
use async_task::WithInfo;
use scheduler::{Shared, Worker};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};
use task::JoinHandle;

/// A netpoll runtime. Dropping it shuts it down: every task still alive is
/// cancelled (queued ones dropped, waiting ones woken and dropped), the
/// worker and blocking threads are joined, and every I/O registration is
/// evicted, so a wait still pending outside any task fails with the closed
/// error (`netpoll::io::is_closed`).
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    /// Shut down already (by `shutdown_timeout`), so drop has nothing to do.
    shut: bool,
}

/// A cheap, cloneable reference to a runtime: spawns onto it and makes it
/// current. Tasks and runtime threads find theirs with
/// [`Handle::current`].
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let handle = rt.handle().clone();
/// let t = std::thread::spawn(move || handle.block_on(async { 5 }));
/// assert_eq!(t.join().unwrap(), 5);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// A handle that does not keep the runtime alive.
#[derive(Clone)]
pub(crate) struct WeakHandle(Weak<Shared>);

impl WeakHandle {
    pub(crate) fn upgrade(&self) -> Option<Handle> {
        self.0.upgrade().map(|shared| Handle { shared })
    }
}

impl Runtime {
    /// A multi-thread runtime with default settings (one worker per CPU).
    pub fn new() -> std::io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<Runtime> {
        let handle = Handle { shared };
        handle
            .shared
            .blocking
            .set_handle(WeakHandle(Arc::downgrade(&handle.shared)));
        // Sleeps and fd deadlines arm timers without knowing the scheduler;
        // an earlier one must still wake a poller sleeping past it.
        let weak = Arc::downgrade(&handle.shared);
        handle.shared.timers().on_arm(move |deadline| {
            if let Some(shared) = weak.upgrade() {
                shared.timer_added(deadline);
            }
        });
        let rt = Runtime {
            handle,
            threads: Mutex::new(Vec::new()),
            shut: false,
        };
        let monitor = rt.handle.clone();
        let t = thread::Builder::new()
            .name(format!("{}-monitor", rt.handle.shared.config.thread_name))
            .spawn(move || {
                monitor.shared.set_monitor_thread();
                monitor::run(monitor)
            })?;
        rt.threads.locked().push(t);
        if rt.handle.shared.config.flavor == scheduler::Flavor::MultiThread {
            for index in 0..rt.handle.shared.config.workers {
                rt.handle.shared.set_running(index, true);
                let handle = rt.handle.clone();
                let t = thread::Builder::new()
                    .name(format!("{}-{index}", handle.shared.config.thread_name))
                    .spawn(move || worker_main(handle, index))?;
                rt.threads.locked().push(t);
            }
        }
        Ok(rt)
    }

    /// Runs `future` to completion on the current thread and returns its
    /// output. On a current-thread runtime the spawned tasks run here too,
    /// while this call lasts.
    ///
    /// Panics if called from a thread that already drives a runtime (a
    /// worker, or inside another `block_on`).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `f` on the blocking pool; see [`crate::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// This runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The runtime's counters, per worker and in all; see
    /// [`Handle::metrics`].
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }
}

impl Runtime {
    /// Shuts the runtime down as dropping it does, but waits at most
    /// `timeout` for its threads: a worker stuck in a task that blocks, or
    /// a blocking-pool job that never returns (a read of stdin), is left
    /// to finish on its own, detached. Every task is still cancelled and
    /// every pending I/O wait still fails with the closed error.
    ///
    /// tokio: `Runtime::shutdown_timeout`. Go has no counterpart: its
    /// runtime ends with the process.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let rt = netpoll::runtime::Runtime::new()?;
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_secs(5)));
    /// let start = Instant::now();
    /// rt.shutdown_timeout(Duration::from_millis(50));
    /// assert!(start.elapsed() < Duration::from_secs(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shut_down(Instant::now().checked_add(timeout));
    }

    /// Shuts the runtime down without waiting for any of its threads:
    /// [`shutdown_timeout`](Self::shutdown_timeout) with no time at all.
    /// What `#[netpoll::main]` does once `main`'s future returns, so a
    /// blocking job still running (a read of stdin) cannot keep the program
    /// from exiting.
    ///
    /// tokio: `Runtime::shutdown_background`.
    ///
    /// # Example
    ///
    /// ```
    /// let rt = netpoll::runtime::Runtime::new()?;
    /// rt.spawn_blocking(|| std::thread::sleep(std::time::Duration::from_secs(5)));
    /// rt.shutdown_background(); // returns at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }

    /// Runs `future` to completion, then shuts down in the background:
    /// the body of the `main` that `#[netpoll::main]` writes.
    ///
    /// # Example
    ///
    /// ```
    /// let rt = netpoll::runtime::Runtime::new()?;
    /// assert_eq!(rt.run_main(async { 7 }), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_main<F: Future>(self, future: F) -> F::Output {
        let out = self.block_on(future);
        self.shutdown_background();
        out
    }

    /// The shutdown protocol, waiting for threads until `limit` (`None`:
    /// for as long as they take):
    ///
    /// 1. the scheduler stops: no task runs from now on, every worker and
    ///    the monitor wake up and exit;
    /// 2. their threads (and the monitor's spares) are joined;
    /// 3. the blocking pool stops: queued jobs are cancelled, running ones
    ///    finish (or are left behind at `limit`);
    /// 4. every task left is cancelled, on this thread, outside any wake
    ///    (`Shared::cancel_all`);
    /// 5. every I/O registration is evicted, so a wait still pending
    ///    outside any task fails with the closed error.
    fn shut_down(&mut self, limit: Option<Instant>) {
        if self.shut {
            return;
        }
        self.shut = true;
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        let me = thread::current().id();
        // Workers and the monitor first: once the monitor has exited, it
        // starts no more spares, and the list of those is complete.
        let threads: Vec<_> = self.threads.locked().drain(..).collect();
        for t in threads {
            if t.thread().id() != me {
                join_until(t, limit);
            }
        }
        for t in shared.take_spare_threads() {
            if t.thread().id() != me {
                join_until(t, limit);
            }
        }
        shared.blocking.shutdown(limit);
        shared.cancel_all();
        // What is still waiting on I/O outside any task fails now.
        shared.poller.shutdown();
    }
}

/// Joins `t`, or at `limit` leaves it running, detached.
pub(crate) fn join_until(t: thread::JoinHandle<()>, limit: Option<Instant>) {
    match limit {
        None => {
            let _ = t.join();
        }
        Some(limit) => {
            while !t.is_finished() {
                if Instant::now() >= limit {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
            let _ = t.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shut_down(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.handle.fmt(f)
    }
}

/// The body of a worker thread, regular or spare: runs worker `index`
/// until shutdown (or, for a spare, until the monitor retires it), then
/// gives its local queue back so the slot can be started again.
fn worker_main(handle: Handle, index: usize) {
    let shared = &handle.shared;
    let Some(local) = shared.take_core(index) else {
        shared.set_running(index, false);
        return;
    };
    shared.set_running(index, true);
    let _hooks = HookGuard::enter(&shared.config.hooks);
    let _enter = context::enter(handle.clone());
    let _driving = context::drive();
    let worker = Rc::new(Worker::new(shared.clone(), index, local));
    let guard = context::set_worker(worker.clone());
    worker.run();
    drop(guard);
    if let Ok(worker) = Rc::try_unwrap(worker) {
        shared.put_core(index, worker.into_local());
    }
    shared.set_running(index, false);
}

impl Handle {
    /// The runtime of the current thread: a worker's, a blocking-pool
    /// thread's, or the one whose `block_on` is running here.
    ///
    /// Panics if there is none; see [`try_current`](Self::try_current).
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "netpoll: no runtime here; this must be called from a netpoll runtime \
             (inside block_on, a task, or spawn_blocking)",
        )
    }

    /// The runtime of the current thread, if any.
    pub fn try_current() -> Option<Handle> {
        context::current()
    }

    /// Makes this runtime current on this thread until the guard drops, so
    /// `spawn` and I/O constructors find it outside `block_on`.
    pub fn enter(&self) -> EnterGuard {
        EnterGuard(context::enter(self.clone()))
    }

    /// A live view of this runtime's counters: per worker (polls, steals,
    /// parks, local queue depth), the global queue, live tasks and the
    /// blocking pool. tokio: `Handle::metrics()`; Go: runtime/metrics.
    ///
    /// # Example
    ///
    /// ```
    /// let rt = netpoll::runtime::Builder::new_multi_thread().worker_threads(2).build()?;
    /// rt.block_on(async { netpoll::spawn(async {}).await.unwrap() });
    /// let m = rt.metrics();
    /// assert_eq!(m.num_workers(), 2);
    /// // Added in batches: a worker's counts show by its next park.
    /// let polls: u64 = (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum();
    /// println!("{polls} task polls, {} tasks alive", m.num_alive_tasks());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.shared.clone())
    }

    /// Every live task of this runtime: id, name, spawn location, state,
    /// and what it waits for where netpoll knows (an fd and direction, a
    /// timer, another task). Go: the goroutine dump (`SIGQUIT`,
    /// `runtime.Stack(buf, true)`); tokio's is unstable-only. See [`Dump`].
    pub fn dump(&self) -> Dump {
        Dump::take(&self.shared.owned)
    }

    /// The poller backend this runtime uses.
    pub fn poller(&self) -> Poller {
        self.shared.poller.backend()
    }

    /// Registers `fd` (which should be non-blocking) with this runtime's
    /// poller: the low-level building block under the I/O types. Waits on
    /// the registration are woken by the workers' netpoll.
    ///
    /// # Example
    ///
    /// ```
    /// use std::io::Write;
    /// let rt = netpoll::runtime::Runtime::new()?;
    /// let (r, mut w) = std::io::pipe()?;
    /// let reg = rt.handle().register(r.into())?;
    /// std::thread::spawn(move || w.write_all(b"x"));
    /// rt.block_on(reg.readable())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn register(&self, fd: std::os::fd::OwnedFd) -> std::io::Result<crate::poll::Registration> {
        self.shared.poller.register(fd)
    }

    /// Spawns a task onto this runtime; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None)
    }

    /// [`spawn`](Self::spawn) with a name for the task (`task::Builder`).
    #[track_caller]
    pub(crate) fn spawn_named<F>(&self, future: F, name: Option<Box<str>>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.shared;
        let key = shared.owned.reserve();
        let guard = owned::OwnedGuard {
            owned: shared.clone(),
            key,
        };
        // The guard travels with the future, not created inside it: a task
        // cancelled before its first poll still drops it.
        let sched = shared.clone();
        let (runnable, task) = task::spawn(
            future,
            name,
            guard,
            WithInfo(move |r, info: async_task::ScheduleInfo| {
                sched.schedule(r, info.woken_while_running)
            }),
        );
        let waker = runnable.waker();
        shared.owned.fill(key, waker.clone(), runnable.metadata());
        crate::metrics::add(&crate::metrics::TASKS_SPAWNED, 1);
        runnable.schedule();
        JoinHandle::new(task, waker)
    }

    /// Runs `f` on the blocking pool; see [`crate::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_blocking_named(f, None)
    }

    /// [`spawn_blocking`](Self::spawn_blocking) with a name for the job.
    #[track_caller]
    pub(crate) fn spawn_blocking_named<F, R>(&self, f: F, name: Option<Box<str>>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.shared.blocking.clone();
        let (runnable, task) = task::spawn(async move { f() }, name, (), move |r| pool.push(r));
        let waker = runnable.waker();
        runnable.schedule();
        JoinHandle::new(task, waker)
    }

    /// Runs `future` to completion on this thread; see [`Runtime::block_on`].
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = context::enter(self.clone());
        let _driving = context::drive();
        if self.shared.config.flavor == scheduler::Flavor::CurrentThread {
            if let Some(local) = self.shared.take_core(0) {
                return block_on_current_thread(&self.shared, local, future);
            }
            // Another thread is driving this runtime: wait for the future
            // here while it runs the tasks.
        }
        block_on_parked(future)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("flavor", &self.shared.config.flavor)
            .field("workers", &self.shared.config.workers)
            .field("poller", &self.poller())
            .finish()
    }
}

/// Makes a runtime current until dropped; from [`Handle::enter`].
pub struct EnterGuard(#[allow(dead_code)] context::EnterGuard);

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnterGuard")
    }
}

/// Wakes the thread blocked in `block_on_parked`.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between wakes; the tasks it
/// waits for run on the workers.
fn block_on_parked<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// The main future's waker on a current-thread runtime: flags it and
/// interrupts the poller the thread may be sleeping in.
struct MainWaker {
    woken: AtomicBool,
    shared: Weak<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(shared) = self.shared.upgrade() {
            shared.wake_poller();
        }
    }
}

/// Owns the current-thread worker while `block_on` runs, and gives its
/// local queue back when `block_on` ends, even by a panic, so the next
/// `block_on` drives the runtime again.
struct CoreGuard {
    worker: Option<Rc<Worker>>,
    guard: Option<context::WorkerGuard>,
}

impl Drop for CoreGuard {
    fn drop(&mut self) {
        // The thread-local copy first, so ours is the last `Rc`.
        drop(self.guard.take());
        let worker = self.worker.take().and_then(|w| Rc::try_unwrap(w).ok());
        debug_assert!(worker.is_some(), "the current-thread worker leaked an Rc");
        if let Some(worker) = worker {
            let shared = worker.shared.clone();
            shared.put_core(0, worker.into_local());
        }
    }
}

/// The current-thread scheduler: this thread is the only worker and the
/// poller's owner while `future` runs.
fn block_on_current_thread<F: Future>(
    shared: &Arc<Shared>,
    local: queue::Local<task::Runnable>,
    future: F,
) -> F::Output {
    let worker = Rc::new(Worker::new(shared.clone(), 0, local));
    // The monitor may sleep while nobody drives this runtime.
    shared.wake_monitor();
    let core = CoreGuard {
        guard: Some(context::set_worker(worker.clone())),
        worker: Some(worker),
    };
    let worker = core.worker.as_deref().expect("set just above");
    let main = Arc::new(MainWaker {
        woken: AtomicBool::new(true),
        shared: Arc::downgrade(shared),
    });
    let waker = Waker::from(main.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if main.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(v) = crate::coop::with_budget(|| future.as_mut().poll(&mut cx)) {
                return v;
            }
        }
        // A batch of tasks between two polls of the main future, even if it
        // is woken meanwhile: a main future that yields in a loop must not
        // starve the tasks (tokio: the current-thread event interval).
        let mut ran = 0;
        while ran < 61 {
            match worker.next_task() {
                Some(r) => {
                    worker.run_task(r);
                    ran += 1;
                }
                None => break,
            }
        }
        if ran > 0 || main.woken.load(Ordering::SeqCst) {
            continue;
        }
        // Tasks that yielded run once the main future has had its turn.
        if let Some(r) = worker.take_deferred() {
            worker.run_task(r);
            continue;
        }
        // Out of work: wait in the kernel. No non-blocking poll first: the
        // wait returns at once if events are pending, and a poll that
        // finds none would only be a second syscall per idle moment.
        worker.block_in_poller(|| main.woken.load(Ordering::SeqCst));
    }
}
