//! The scheduler with the netpoller inside (Go: runtime/proc.go's
//! schedule/findRunnable, with netpoll called from the same loop).
//!
//! Each worker thread owns a local run queue with a LIFO "next" slot
//! (Go: runq, runnext). A worker looks for work in this order:
//!
//! 1. every 61st tick, the global queue first, so it cannot starve, plus
//!    expired timers and a non-blocking netpoll, so a worker that never
//!    runs dry still hears I/O and timers (Go: schedtick%61, sysmon);
//! 2. its LIFO slot (at most [`MAX_LIFO_POLLS`] times in a row), then its
//!    ring, then a batch from the global queue;
//! 3. timers and a non-blocking netpoll: wakers run on this thread and
//!    land in this worker's own queue;
//! 4. stealing half of another worker's queue, with at most half of the
//!    busy workers searching at once (Go: nmspinning);
//! 5. sleeping: the first idle worker blocks in the poller until the next
//!    timer (there is no reactor thread between the kernel and the task);
//!    the others park on their thread.
//!
//! Work that arrives from outside (another thread, the blocking pool, a
//! timer fired elsewhere) goes to the global queue and wakes one idle
//! worker: a parked one if any, else the one blocked in the poller, through
//! the backend's wake (Go: wakep, netpollBreak).

use super::blocking::BlockingPool;
use super::idle::{Idle, Wake};
use super::owned::OwnedTasks;
use super::queue::{self, Local, Stealer};
use super::task::{self, Runnable};
// The shim's types (loom's under `--cfg loom`): loom_scheduler.rs and
// loom_monitor.rs model this file's shutdown, sleep and hand-off code.
use crate::loom_shim::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, LockExt, Mutex,
};
use crate::metrics;
use crate::poll::timer::Timers;
use crate::poll::{Events, Netpoller};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::Location;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

#[cfg(all(test, loom))]
#[path = "loom_scheduler.rs"]
pub(super) mod loom_scheduler;

/// Ticks between fairness checks (Go and tokio both use 61: a prime, so it
/// does not beat with a program's own periodicity).
const MAINTENANCE_INTERVAL: u32 = 61;

/// Consecutive tasks taken from the LIFO slot before the ring gets a turn;
/// two tasks waking each other must not starve the rest.
const MAX_LIFO_POLLS: u32 = 3;

/// The runtime flavour.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    MultiThread,
    CurrentThread,
}

/// The global run queue (Go: sched.runq). Closed at the end of shutdown,
/// once it has been drained for the last time (tokio: `Inject::close`).
#[derive(Default)]
struct Inject {
    queue: Mutex<InjectQueue>,
    /// Mirrors the queue's length so "is there anything?" takes no lock.
    len: AtomicUsize,
}

#[derive(Default)]
struct InjectQueue {
    tasks: VecDeque<Runnable>,
    /// Nobody drains the queue any more: a push is refused.
    closed: bool,
}

impl Inject {
    /// Queues `r`, or hands it back if the queue is closed.
    fn push(&self, r: Runnable) -> Result<(), Runnable> {
        let mut q = self.queue.locked();
        if q.closed {
            return Err(r);
        }
        q.tasks.push_back(r);
        self.len.store(q.tasks.len(), SeqCst);
        Ok(())
    }

    /// Queues a local queue's overflow. The queue cannot be closed yet: a
    /// worker that overflows is still running, and closing comes after
    /// every worker has exited.
    fn push_batch(&self, batch: Vec<Runnable>) {
        let mut q = self.queue.locked();
        debug_assert!(!q.closed, "a worker overflowed into a closed inject queue");
        q.tasks.extend(batch);
        self.len.store(q.tasks.len(), SeqCst);
    }

    fn is_empty(&self) -> bool {
        self.len.load(SeqCst) == 0
    }

    /// Takes up to `max` tasks.
    fn pop_batch(&self, max: usize) -> Vec<Runnable> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut q = self.queue.locked();
        let n = q.tasks.len().min(max);
        let batch: Vec<_> = q.tasks.drain(..n).collect();
        self.len.store(q.tasks.len(), SeqCst);
        batch
    }

    fn pop(&self) -> Option<Runnable> {
        if self.is_empty() {
            return None;
        }
        let mut q = self.queue.locked();
        let r = q.tasks.pop_front();
        self.len.store(q.tasks.len(), SeqCst);
        r
    }

    /// Refuses pushes from now on and hands back what is left.
    fn close(&self) -> VecDeque<Runnable> {
        let mut q = self.queue.locked();
        q.closed = true;
        self.len.store(0, SeqCst);
        std::mem::take(&mut q.tasks)
    }
}

/// How another thread reaches a worker: its queue's thief end, its
/// parking spot, and what the monitor watches.
pub(crate) struct Remote {
    pub(crate) stealer: Stealer<Runnable>,
    /// The thread running the worker (a spare slot gets a new one each
    /// time the monitor starts it).
    thread: Mutex<Option<Thread>>,
    /// Set by a notifier that took this worker out of the sleeper list.
    notified: AtomicBool,
    /// Tasks that yielded (woken while they ran), held back until this
    /// worker has looked everywhere else: its queue, the global queue, its
    /// siblings, timers and I/O. A task yielding in a loop then delays
    /// nothing that is ready, however it became ready (tokio: the defer
    /// list; Go: Gosched puts the goroutine on the global queue). Behind a
    /// lock, not in the worker, so the monitor can hand them to the other
    /// workers when this one is stuck in a task (a yielded task used to
    /// wait out the whole block).
    pub(crate) deferred: Mutex<Vec<Runnable>>,
    /// Task polls begun and ended: odd while the worker is inside one
    /// (Go: p.schedtick, which sysmon compares between its rounds). Only
    /// the worker writes it, with plain relaxed stores.
    pub(crate) tick: AtomicU32,
    /// Where the task being polled was spawned (for the monitor's warning).
    pub(crate) running: AtomicPtr<Location<'static>>,
    /// A spare worker is asked to hand its tasks on and exit.
    pub(crate) retire: AtomicBool,
    /// A thread runs this worker (always, for a regular worker of a
    /// multi-thread runtime once started; a spare only while needed).
    active: AtomicBool,
    /// This worker's counters, added in batches (`Stats::flush`).
    pub(crate) counters: WorkerCounters,
}

/// One worker's counters (`Handle::metrics`).
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) polls: std::sync::atomic::AtomicU64,
    pub(crate) steals: std::sync::atomic::AtomicU64,
    pub(crate) parks: std::sync::atomic::AtomicU64,
    pub(crate) lifo_hits: std::sync::atomic::AtomicU64,
    pub(crate) poller_blocking_waits: std::sync::atomic::AtomicU64,
}

impl Remote {
    /// Marks the start of a task poll (two relaxed accesses: the price of
    /// being watched).
    fn enter_poll(&self, location: &'static Location<'static>) {
        self.running
            .store(std::ptr::from_ref(location).cast_mut(), Relaxed);
        self.tick
            .store(self.tick.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Marks the end of a task poll.
    fn leave_poll(&self) {
        self.tick
            .store(self.tick.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Where the task in the current (or last) poll was spawned.
    pub(crate) fn running_location(&self) -> &'static Location<'static> {
        let p = self.running.load(Relaxed);
        if p.is_null() {
            return Location::caller();
        }
        // SAFETY: `running` only ever holds null or a pointer made from a
        // `&'static Location<'static>` (`enter_poll`), which lives for
        // ever and is never written through.
        unsafe { &*p }
    }
}

impl Remote {
    pub(crate) fn unpark(&self) {
        self.notified.store(true, SeqCst);
        if let Some(t) = self.thread.locked().as_ref() {
            t.unpark();
        }
    }
}

/// Static configuration of a runtime.
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    pub(crate) workers: usize,
    pub(crate) thread_name: String,
    /// Child processes may be held by pidfd (if the kernel allows).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) pidfd: bool,
    /// The monitor reports each task poll that blocked its worker.
    pub(crate) warn_blocking: bool,
    /// The user's thread start and stop callbacks.
    pub(crate) hooks: super::Hooks,
}

/// Everything the workers of one runtime share.
pub(crate) struct Shared {
    pub(crate) poller: Netpoller,
    pub(crate) owned: OwnedTasks,
    pub(crate) blocking: Arc<BlockingPool>,
    pub(crate) config: Config,
    inject: Inject,
    /// The workers' remote ends: `config.workers` regular ones, then as
    /// many spares, which the monitor starts when every worker is stuck.
    pub(crate) remotes: Box<[Remote]>,
    /// The monitor sleeps until a worker wakes up (see monitor.rs).
    monitor_sleeping: AtomicBool,
    monitor_thread: OnceLock<Thread>,
    /// Threads of the spares the monitor started.
    spare_threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    idle: Idle,
    shutdown: AtomicBool,
    /// A worker holds the poller (blocks in it when idle).
    poller_owned: AtomicBool,
    /// Until when that wait sleeps, in ns since `epoch` (MAX: unknown), so
    /// a new, earlier timer knows to wake it (Go: wakeNetPoller).
    poller_sleep_until: AtomicU64,
    /// The earliest deadline that woke the poller since it last slept (ns
    /// since `epoch`, MAX: none). The poller sleeps until it even if that
    /// timer was cancelled meanwhile: one spurious wake then, instead of
    /// one wake for every short-lived timer (tokio keeps its driver's
    /// stale wake time the same way).
    timer_hint: AtomicU64,
    epoch: Instant,
    /// The local queues nobody runs yet: taken by worker threads at start,
    /// and by `block_on` on a current-thread runtime.
    cores: Mutex<Vec<Option<Local<Runnable>>>>,
}

impl Shared {
    pub(crate) fn new(config: Config, poller: Netpoller, blocking: Arc<BlockingPool>) -> Shared {
        let spares = match config.flavor {
            Flavor::MultiThread => config.workers,
            Flavor::CurrentThread => 0,
        };
        let (locals, remotes): (Vec<_>, Vec<_>) = (0..config.workers + spares)
            .map(|_| {
                let (local, stealer) = queue::new();
                (
                    Some(local),
                    Remote {
                        stealer,
                        thread: Mutex::new(None),
                        notified: AtomicBool::new(false),
                        deferred: Mutex::new(Vec::new()),
                        tick: AtomicU32::new(0),
                        running: AtomicPtr::new(std::ptr::null_mut()),
                        retire: AtomicBool::new(false),
                        active: AtomicBool::new(false),
                        counters: WorkerCounters::default(),
                    },
                )
            })
            .unzip();
        Shared {
            poller,
            owned: OwnedTasks::new(),
            blocking,
            config,
            inject: Inject::default(),
            remotes: remotes.into_boxed_slice(),
            monitor_sleeping: AtomicBool::new(false),
            monitor_thread: OnceLock::new(),
            spare_threads: Mutex::new(Vec::new()),
            idle: Idle::default(),
            shutdown: AtomicBool::new(false),
            poller_owned: AtomicBool::new(false),
            poller_sleep_until: AtomicU64::new(u64::MAX),
            timer_hint: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            cores: Mutex::new(locals),
        }
    }

    /// The runtime's timers (they live with its poller, which also arms
    /// the fd deadlines on them).
    pub(crate) fn timers(&self) -> &Timers {
        self.poller.timers()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    /// Takes worker `index`'s local queue, if nobody runs it.
    pub(crate) fn take_core(&self, index: usize) -> Option<Local<Runnable>> {
        self.cores.locked()[index].take()
    }

    /// Gives a local queue back (current-thread `block_on` returning).
    pub(crate) fn put_core(&self, index: usize, local: Local<Runnable>) {
        self.cores.locked()[index] = Some(local);
    }

    /// The schedule function of every task (async-task calls it on wake).
    ///
    /// During shutdown a woken task is queued on the global queue for the
    /// drain in [`cancel_all`](Self::cancel_all), never cancelled here: a
    /// wake may come from under its caller's lock (a deadline, a poll
    /// descriptor), and dropping the task's future there could re-enter
    /// that lock through the future's destructors.
    pub(crate) fn schedule(self: &Arc<Self>, r: Runnable, yielded: bool) {
        r.metadata().state.store(task::SCHEDULED, Relaxed);
        if self.is_shutdown() {
            self.inject_or_cancel(r);
            return;
        }
        let pushed = super::context::with_worker(|w| match w {
            Some(w) if Arc::ptr_eq(&w.shared, self) => {
                w.push(r, yielded);
                Ok(w.delivering.get())
            }
            _ => Err(r),
        });
        match pushed {
            // Woken by the events this worker is delivering: it decides
            // once they are all in (a single one it simply runs next).
            Ok(true) => {}
            // On one of our workers: it will run it, but an idle sibling
            // may help (Go: ready → runqput + wakep).
            Ok(false) => self.notify_one(),
            Err(r) => {
                self.inject_or_cancel(r);
                self.notify_one();
            }
        }
    }

    /// Queues `r` on the global queue. Once the queue has closed (the
    /// runtime is gone) a task arrives here from a handle that outlived
    /// the runtime, or from a wake on another thread that raced the drain
    /// in `cancel_all` (the wake had marked the task scheduled, so the
    /// drain's own wake found nothing to queue and stopped). Either way
    /// the caller may hold a lock the task's future takes when dropped, so
    /// the task is cancelled on a thread of its own, never inside the wake
    /// or the spawn (if no thread can be started, the dropped `Runnable`
    /// cancels it here after all).
    fn inject_or_cancel(&self, r: Runnable) {
        if let Err(r) = self.inject.push(r) {
            let _ = crate::loom_shim::thread::Builder::new()
                .name(format!("{}-cancel", self.config.thread_name))
                .spawn(move || task::cancel(r));
        }
    }

    /// Wakes one idle worker if nobody is already looking for work
    /// (Go: wakep, and netpollBreak when the only idle worker is in the
    /// poller).
    pub(crate) fn notify_one(&self) {
        match self.idle.notify() {
            Wake::Nobody => {}
            Wake::Worker(i) => self.remotes[i].unpark(),
            Wake::Poller => {
                let _ = self.poller.wake();
            }
        }
    }

    /// Wakes a parked worker to take the poller if nobody holds it, as
    /// Go's sysmon polls the network itself when nobody has for 10 ms.
    /// The monitor calls it for a stuck worker: the poller's last owner
    /// may be that one, stuck in a task since its wait returned, while
    /// the others park, and no timer or I/O is served until the task ends.
    pub(crate) fn ensure_poller_owner(&self) {
        if !self.poller_owned.load(SeqCst) {
            self.notify_one();
        }
    }

    /// Interrupts the poller's blocking wait, if one is under way.
    pub(crate) fn wake_poller(&self) {
        if self.idle.poller_sleeping() {
            let _ = self.poller.wake();
        }
    }

    /// A timer was added: if it is due before the sleeping poller would
    /// wake, wake it now so it can recompute its timeout.
    pub(crate) fn timer_added(&self, deadline: Instant) {
        fence(SeqCst);
        if self.idle.poller_sleeping() {
            let at = self.nanos(deadline);
            if at < self.poller_sleep_until.load(SeqCst) {
                self.timer_hint.fetch_min(at, SeqCst);
                let _ = self.poller.wake();
            }
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u64::MAX as u128 - 1) as u64
    }

    /// Whether any queue (other than worker `me`'s) holds work, or a timer
    /// is due: a worker that is about to sleep looks once more.
    fn any_work(&self, me: usize) -> bool {
        !self.inject.is_empty()
            || self
                .remotes
                .iter()
                .enumerate()
                .any(|(i, r)| i != me && !r.stealer.is_empty())
            || self
                .timers()
                .next_deadline()
                .is_some_and(|d| d <= Instant::now())
    }

    /// Begins shutdown: no task runs from now on; every worker wakes up and
    /// exits.
    pub(crate) fn begin_shutdown(&self) -> bool {
        if self.shutdown.swap(true, SeqCst) {
            return false;
        }
        for r in self.remotes.iter() {
            r.unpark();
        }
        let _ = self.poller.wake();
        self.monitor_sleeping.store(false, SeqCst);
        if let Some(t) = self.monitor_thread.get() {
            t.unpark();
        }
        true
    }

    /// The monitor's thread is this one.
    pub(crate) fn set_monitor_thread(&self) {
        let _ = self.monitor_thread.set(std::thread::current());
    }

    /// Wakes the monitor if it sleeps: a worker has work again.
    pub(crate) fn wake_monitor(&self) {
        if self.monitor_sleeping.load(SeqCst) && self.monitor_sleeping.swap(false, SeqCst) {
            if let Some(t) = self.monitor_thread.get() {
                t.unpark();
            }
        }
    }

    /// Whether the monitor still sleeps (it parks while this holds).
    pub(crate) fn monitor_sleeping(&self) -> bool {
        self.monitor_sleeping.load(SeqCst)
    }

    /// Announces that the monitor sleeps, then checks once more that no
    /// worker can run a task without first waking it: every running worker
    /// parked or in the poller, or no `block_on` driving a current-thread
    /// runtime. Returns false (and stays awake) otherwise.
    pub(crate) fn monitor_may_sleep(&self) -> bool {
        self.monitor_sleeping.store(true, SeqCst);
        let idle = match self.config.flavor {
            Flavor::CurrentThread => {
                self.idle.poller_sleeping() || self.cores.locked()[0].is_some()
            }
            Flavor::MultiThread => {
                let running = (0..self.remotes.len())
                    .filter(|&i| self.is_running(i))
                    .count();
                self.idle.sleeping_workers() >= running
            }
        };
        if !idle {
            self.monitor_sleeping.store(false, SeqCst);
        }
        idle
    }

    /// Marks worker `i` run by a thread, or no longer.
    pub(crate) fn set_running(&self, i: usize, running: bool) {
        self.remotes[i].active.store(running, SeqCst);
    }

    /// Whether a thread runs worker `i`.
    pub(crate) fn is_running(&self, i: usize) -> bool {
        self.remotes[i].active.load(SeqCst)
    }

    /// Tasks in the global queue now.
    pub(crate) fn global_queue_depth(&self) -> usize {
        self.inject.len.load(Relaxed)
    }

    /// Queues tasks taken from a stuck worker.
    pub(crate) fn inject_batch(&self, batch: Vec<Runnable>) {
        self.inject.push_batch(batch);
    }

    /// Starts a spare worker in the first free spare slot, if any; its
    /// thread is joined at shutdown.
    pub(crate) fn start_spare(&self, handle: &super::Handle) {
        let mut threads = self.spare_threads.locked();
        threads.retain(|t| !t.is_finished());
        let Some(index) = (self.config.workers..self.remotes.len())
            .find(|&i| !self.is_running(i) && self.cores.locked()[i].is_some())
        else {
            return;
        };
        let remote = &self.remotes[index];
        remote.retire.store(false, SeqCst);
        remote.active.store(true, SeqCst);
        let handle = handle.clone();
        let started = std::thread::Builder::new()
            .name(format!("{}-spare-{index}", self.config.thread_name))
            .spawn(move || super::worker_main(handle, index));
        match started {
            Ok(t) => {
                metrics::add(&metrics::SPARE_WORKERS_STARTED, 1);
                threads.push(t);
            }
            Err(_) => remote.active.store(false, SeqCst),
        }
    }

    /// The spare workers' threads, for shutdown to join.
    pub(crate) fn take_spare_threads(&self) -> Vec<std::thread::JoinHandle<()>> {
        std::mem::take(&mut *self.spare_threads.locked())
    }

    /// Asks every running spare to hand its tasks on and exit.
    pub(crate) fn retire_spares(&self) {
        for i in self.config.workers..self.remotes.len() {
            let remote = &self.remotes[i];
            if self.is_running(i) && !remote.retire.swap(true, SeqCst) {
                remote.unpark();
                self.wake_poller();
            }
        }
    }

    /// Workers running now: the regular ones and the spares.
    fn running_workers(&self) -> usize {
        self.config.workers
            + (self.config.workers..self.remotes.len())
                .filter(|&i| self.is_running(i))
                .count()
    }

    /// Cancels every task that is left, once the workers have exited
    /// (step 3 of the shutdown in `Runtime::drop`):
    ///
    /// 1. the local queues nobody runs (a current-thread core) move to the
    ///    global queue;
    /// 2. every task still registered is woken: since shutdown began,
    ///    `schedule` queues it on the global queue instead of running it;
    /// 3. the global queue is drained here, each task cancelled (its future
    ///    dropped) on this thread, outside any lock and any wake. A dropped
    ///    future may wake or own other tasks, so 2 and 3 repeat until no
    ///    task is left or a round makes no progress;
    /// 4. the global queue closes, and what raced into it is cancelled.
    pub(crate) fn cancel_all(&self) {
        let queued: Vec<Runnable> = self
            .cores
            .locked()
            .iter_mut()
            .flatten()
            .flat_map(|local| std::iter::from_fn(|| local.pop()))
            .collect();
        self.inject.push_batch(queued);
        loop {
            let before = self.owned.len();
            while let Some(r) = self.inject.pop() {
                task::cancel(r);
            }
            if self.owned.len() == 0 {
                break;
            }
            for w in self.owned.wakers() {
                w.wake();
            }
            if self.inject.is_empty() && self.owned.len() >= before {
                break; // what is left cannot be reached by a wake
            }
        }
        self.inject.close().into_iter().for_each(task::cancel);
    }
}

/// Per-worker counters, added to the global metrics in batches.
#[derive(Default)]
struct Stats {
    polls: Cell<u64>,
    steals: Cell<u64>,
    lifo_hits: Cell<u64>,
    parks: Cell<u64>,
    blocking_waits: Cell<u64>,
}

impl Stats {
    fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }

    /// Adds the counts to the process's metrics and to this worker's.
    fn flush(&self, mine: &WorkerCounters) {
        // Plain std counters: the metrics are not part of any model.
        type Counter = std::sync::atomic::AtomicU64;
        let both = |global: &Counter, own: &Counter, n: u64| {
            metrics::add(global, n);
            metrics::add(own, n);
        };
        both(&metrics::TASK_POLLS, &mine.polls, self.polls.take());
        both(&metrics::STEALS, &mine.steals, self.steals.take());
        both(&metrics::LIFO_HITS, &mine.lifo_hits, self.lifo_hits.take());
        both(&metrics::PARKS, &mine.parks, self.parks.take());
        both(
            &metrics::POLLER_BLOCKING_WAITS,
            &mine.poller_blocking_waits,
            self.blocking_waits.take(),
        );
    }
}

/// One worker, living on its thread (Go: an M holding a P).
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    index: usize,
    local: RefCell<Local<Runnable>>,
    events: RefCell<Events>,
    /// Task polls run (Go: schedtick).
    tick: Cell<u32>,
    /// The tick of the last maintenance, so it runs once per 61 polls.
    maintained_at: Cell<u32>,
    lifo_polls: Cell<u32>,
    searching: Cell<bool>,
    /// Inside the poller, delivering events: the tasks they wake notify
    /// nobody; the worker looks at how many there were afterwards.
    delivering: Cell<bool>,
    rng: Cell<u32>,
    stats: Stats,
    /// One of the monitor's spare workers, which exits when asked to.
    spare: bool,
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>, index: usize, local: Local<Runnable>) -> Worker {
        *shared.remotes[index].thread.locked() = Some(std::thread::current());
        let spare = index >= shared.config.workers;
        Worker {
            shared,
            index,
            local: RefCell::new(local),
            events: RefCell::new(Events::new()),
            tick: Cell::new(0),
            maintained_at: Cell::new(0),
            lifo_polls: Cell::new(0),
            searching: Cell::new(false),
            delivering: Cell::new(false),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            stats: Stats::default(),
            spare,
        }
    }

    /// Hands the local queue back (the worker is done).
    pub(crate) fn into_local(self) -> Local<Runnable> {
        self.flush_stats();
        self.requeue_deferred();
        self.local.into_inner()
    }

    /// Queues a task woken on this thread. A task that yielded waits in
    /// the deferred list, so it cannot keep the worker from anything else;
    /// a task woken by another goes to the LIFO slot, to run next while its
    /// data is hot.
    fn push(&self, r: Runnable, yielded: bool) {
        if yielded {
            self.remote().deferred.locked().push(r);
        } else {
            let overflow = |batch| self.shared.inject.push_batch(batch);
            self.local.borrow_mut().push_next(r, overflow);
        }
    }

    /// Adds this worker's batched counts to the metrics.
    fn flush_stats(&self) {
        self.stats.flush(&self.remote().counters);
    }

    /// This worker's remote end (what other threads see of it).
    fn remote(&self) -> &Remote {
        &self.shared.remotes[self.index]
    }

    /// Moves the deferred tasks to the back of the local queue.
    fn requeue_deferred(&self) {
        let deferred = std::mem::take(&mut *self.remote().deferred.locked());
        let mut local = self.local.borrow_mut();
        for r in deferred {
            local.push_back(r, |batch| self.shared.inject.push_batch(batch));
        }
    }

    /// The tasks that yielded, once nothing else is ready: timers and I/O
    /// get a non-blocking look first, so a task that yields in a loop
    /// starves neither (tokio: park_yield). What they wake runs first.
    pub(crate) fn take_deferred(&self) -> Option<Runnable> {
        if self.remote().deferred.locked().is_empty() {
            return None;
        }
        self.poll_now();
        self.requeue_deferred();
        let mut local = self.local.borrow_mut();
        let next = local.pop();
        if !local.is_empty() {
            drop(local);
            self.shared.notify_one();
        }
        next
    }

    fn rand(&self) -> u32 {
        // xorshift32: only spreads steal victims, needs no quality.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// The run loop of a worker thread.
    pub(crate) fn run(&self) {
        while !self.shared.is_shutdown() {
            if self.spare && self.remote().retire.load(Relaxed) {
                self.hand_on_everything();
                return;
            }
            // A worker holding tasks that yielded is not idle: it runs them
            // (after timers and I/O) rather than steal, so they stay on it.
            let next = self.next_task().or_else(|| self.take_deferred());
            if let Some(r) = next.or_else(|| self.search()) {
                self.run_task(r);
                continue;
            }
            self.park();
        }
        // Leave nothing behind: cancel what this worker still holds. (The
        // borrow ends before the drop: a dropped future may wake others.)
        self.requeue_deferred();
        loop {
            let next = self.local.borrow_mut().pop();
            match next {
                Some(r) => task::cancel(r),
                None => break,
            }
        }
        self.flush_stats();
    }

    /// A retiring spare's last act: its queued and deferred tasks go to
    /// the global queue, and a worker is woken for them.
    fn hand_on_everything(&self) {
        self.requeue_deferred();
        let tasks: Vec<Runnable> = std::iter::from_fn(|| self.local.borrow_mut().pop()).collect();
        if !tasks.is_empty() {
            self.shared.inject.push_batch(tasks);
        }
        // Even with no task to hand on: this spare may have been the one
        // in the poller, the workers parked because it was, and with
        // nobody polling, timers and I/O would stop for good. The worker
        // woken takes the poller over (see `park_thread`).
        self.shared.notify_one();
        self.flush_stats();
    }

    /// Runs one task.
    pub(crate) fn run_task(&self, r: Runnable) {
        if self.searching.get() {
            self.stop_searching();
        }
        Stats::bump(&self.stats.polls);
        self.tick.set(self.tick.get().wrapping_add(1));
        let remote = self.remote();
        remote.enter_poll(r.metadata().location);
        crate::coop::with_budget(|| r.run());
        remote.leave_poll();
    }

    /// Work this worker can take without looking elsewhere.
    pub(crate) fn next_task(&self) -> Option<Runnable> {
        // Ticks count task polls (Go: schedtick), not calls here: a worker
        // that keeps finding nothing must not poll the kernel every 61
        // empty looks (that was one zero-timeout epoll_pwait per 20 echo
        // round trips on a current-thread runtime).
        let tick = self.tick.get();
        if tick.is_multiple_of(MAINTENANCE_INTERVAL) && self.maintained_at.replace(tick) != tick {
            self.maintenance();
            if let Some(r) = self.shared.inject.pop() {
                return Some(r);
            }
        }
        let mut local = self.local.borrow_mut();
        if self.lifo_polls.get() < MAX_LIFO_POLLS {
            if let Some(r) = local.pop_next() {
                self.lifo_polls.set(self.lifo_polls.get() + 1);
                Stats::bump(&self.stats.lifo_hits);
                return Some(r);
            }
        }
        self.lifo_polls.set(0);
        if let Some(r) = local.pop_ring().or_else(|| local.pop_next()) {
            return Some(r);
        }
        drop(local);
        self.take_from_inject()
    }

    /// A fair share of the global queue: the first to run, the rest into
    /// the local queue.
    fn take_from_inject(&self) -> Option<Runnable> {
        // The usual answer, with one load: nothing queued from outside.
        if self.shared.inject.is_empty() {
            return None;
        }
        let workers = self.shared.config.workers.max(1);
        let want = (self.shared.inject.len.load(Relaxed) / workers + 1).min(128);
        let mut batch = self.shared.inject.pop_batch(want).into_iter();
        let first = batch.next()?;
        let mut local = self.local.borrow_mut();
        for r in batch {
            local.push_back(r, |b| self.shared.inject.push_batch(b));
        }
        Some(first)
    }

    /// Timers, I/O and metrics, every [`MAINTENANCE_INTERVAL`] ticks.
    fn maintenance(&self) {
        self.poll_now();
        self.flush_stats();
    }

    /// Fires due timers and polls the kernel without blocking; whatever
    /// they wake lands in this worker's queue.
    pub(crate) fn poll_now(&self) {
        self.shared.timers().fire(Instant::now());
        if !self.shared.poller.has_registrations() {
            return; // only a wake could be pending, and it is not for us
        }
        if let Ok(mut events) = self.events.try_borrow_mut() {
            self.delivering.set(true);
            let _ = self.shared.poller.poll(&mut events, Some(Duration::ZERO));
            self.delivering.set(false);
            // More than this worker runs at once: let a sibling steal.
            if self.local.borrow().len() > 1 {
                self.shared.notify_one();
            }
        }
    }

    /// Looks for work beyond the local queue: timers and I/O first, then
    /// other workers' queues.
    fn search(&self) -> Option<Runnable> {
        let running = self.shared.running_workers();
        if running <= 1 {
            // The only worker: it blocks in the poller next, which returns
            // at once if events are pending, so a non-blocking poll first
            // would only be a second syscall per idle moment.
            return self.take_from_inject();
        }
        self.poll_now();
        if let Some(r) = self.local.borrow_mut().pop() {
            return Some(r);
        }
        if let Some(r) = self.take_from_inject() {
            return Some(r);
        }
        if !self.searching.get() {
            if !self.shared.idle.start_searching(running) {
                return None;
            }
            self.searching.set(true);
        }
        // Every slot, spares included: a spare that retired left nothing.
        let n = self.shared.remotes.len();
        let start = self.rand() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let stolen = self.shared.remotes[victim]
                .stealer
                .steal_into(&mut self.local.borrow_mut());
            if stolen.is_some() {
                Stats::bump(&self.stats.steals);
                return stolen;
            }
        }
        self.take_from_inject()
    }

    /// Found work while searching: if this was the last searcher, wake
    /// another to keep looking, since more work may be coming
    /// (Go: resetspinning → wakep).
    fn stop_searching(&self) {
        self.searching.set(false);
        if self.shared.idle.stop_searching() {
            self.shared.notify_one();
        }
    }

    /// Sleeps until there may be work: in the poller if nobody else is,
    /// otherwise parked on this thread.
    fn park(&self) {
        let shared = &self.shared;
        if self.searching.replace(false)
            && shared.idle.stop_searching()
            && shared.any_work(self.index)
        {
            // The last searcher to give up must look once more: work that
            // was queued while it searched notified nobody (Go: the
            // nmspinning decrement in findRunnable).
            return;
        }
        if shared
            .poller_owned
            .compare_exchange(false, true, AcqRel, Acquire)
            .is_ok()
        {
            self.block_in_poller(|| false);
            shared.poller_owned.store(false, Release);
            shared.wake_monitor();
            // Woke more than this worker runs at once: let a sibling steal.
            if self.local.borrow().len() > 1 {
                shared.notify_one();
            }
            return;
        }
        self.park_thread();
        shared.wake_monitor();
    }

    /// Blocks in the kernel until an event, a wake, or the next timer.
    /// `woken` is one more reason not to sleep (current-thread: the main
    /// future was woken).
    pub(crate) fn block_in_poller(&self, woken: impl Fn() -> bool) {
        let shared = &self.shared;
        shared.poller_sleep_until.store(u64::MAX, SeqCst);
        // Either a notifier sees us sleeping and wakes the poller, or we
        // see its work here (see idle.rs).
        shared.idle.poller_enter();
        if shared.is_shutdown() || woken() || shared.any_work(self.index) {
            shared.idle.poller_leave();
            // A due timer is work only once fired: firing it here, not
            // only after a wait, keeps a worker whose sole work is a due
            // timer from coming straight back without it, for ever.
            shared.timers().fire(Instant::now());
            return;
        }
        let now = Instant::now();
        let hint = match shared.timer_hint.swap(u64::MAX, SeqCst) {
            u64::MAX => None,
            ns => shared.epoch.checked_add(Duration::from_nanos(ns)),
        };
        let deadline = match (shared.timers().next_deadline(), hint.filter(|h| *h > now)) {
            (Some(d), Some(h)) => Some(d.min(h)),
            (d, h) => d.or(h),
        };
        if let Some(d) = deadline {
            shared.poller_sleep_until.store(shared.nanos(d), SeqCst);
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        Stats::bump(&self.stats.blocking_waits);
        // An idle worker's counts must not wait in it for the next tick.
        self.flush_stats();
        {
            let mut events = self.events.borrow_mut();
            self.delivering.set(true);
            let _ = shared.poller.poll(&mut events, timeout);
            self.delivering.set(false);
        }
        shared.idle.poller_leave();
        shared.timers().fire(Instant::now());
    }

    /// Parks this thread until a notifier picks it.
    fn park_thread(&self) {
        let shared = &self.shared;
        let remote = &shared.remotes[self.index];
        shared.idle.park_enter(self.index);
        // Parks only while another worker holds the poller: a notifier
        // wakes that one for I/O and timers. If it has let go for good (a
        // spare retiring) this worker takes the poller instead; the
        // spare's notify either finds it announced here or it sees the
        // poller free (both sides fenced).
        if !shared.any_work(self.index) && !shared.is_shutdown() && shared.poller_owned.load(SeqCst)
        {
            Stats::bump(&self.stats.parks);
            self.flush_stats();
            while !remote.notified.swap(false, SeqCst) && !shared.is_shutdown() {
                std::thread::park();
            }
        }
        if shared.idle.park_leave(self.index) {
            // A notifier took us out and counted us as searching.
            remote.notified.store(false, SeqCst);
            self.searching.set(true);
        }
    }
}
