//! Process-wide counters of the runtime, read as one snapshot.
//!
//! Counters are relaxed atomics bumped once per batch (per poller wait, not
//! per event), so keeping them costs next to nothing. They only grow;
//! compare two snapshots to measure an interval.
//!
//! Go exposes similar numbers through runtime/metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A copy of every counter at one moment.
///
/// # Example
///
/// ```
/// let before = netpoll::metrics::snapshot();
/// // ... run some I/O ...
/// let after = netpoll::metrics::snapshot();
/// assert!(after.poller_waits >= before.poller_waits);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Kernel events delivered to a live poll descriptor.
    pub events_delivered: u64,
    /// Kernel events dropped because their descriptor had been closed or
    /// reused since they were queued (their sequence did not match).
    pub stale_events_dropped: u64,
    /// Calls into the kernel's wait (epoll_wait, kevent, port_getn, poll),
    /// blocking or not.
    pub poller_waits: u64,
    /// Wakes that reached the kernel (coalesced ones are not counted).
    pub wakes: u64,
    /// Tasks spawned (not counting `spawn_blocking`).
    pub tasks_spawned: u64,
    /// Times a worker ran a task.
    pub task_polls: u64,
    /// Successful steals from another worker's queue.
    pub steals: u64,
    /// Tasks run from a worker's LIFO slot.
    pub lifo_hits: u64,
    /// Times a worker parked its thread.
    pub parks: u64,
    /// Times a worker blocked in the poller.
    pub poller_blocking_waits: u64,
    /// Closes that woke at least one operation waiting on the fd (for
    /// readiness or for its lock).
    pub closes_with_waiters: u64,
    /// Deadlines that expired: fired by their timer, or set in the past.
    pub deadline_expiries: u64,
    /// Child processes spawned.
    pub children_spawned: u64,
    /// Child processes reaped (waited for, or reaped in the background).
    pub children_reaped: u64,
    /// Signals sent to children through their pidfd.
    pub signals_by_pidfd: u64,
    /// Signals sent to children by PID (the SIGCHLD fallback).
    pub signals_by_pid: u64,
    /// Bytes `io::copy` moved with copy_file_range (file to file).
    pub copy_file_range_bytes: u64,
    /// Bytes `io::copy` moved with sendfile (file to socket or pipe).
    pub sendfile_bytes: u64,
    /// Bytes `io::copy` moved with splice (from a socket or pipe).
    pub splice_bytes: u64,
    /// Bytes `io::copy` moved through a buffer in user space.
    pub generic_copy_bytes: u64,
    /// Operations that found their task's budget spent and made it yield
    /// instead of running on (tokio: budget_forced_yield_count).
    pub budget_yields: u64,
    /// Task polls that kept their worker past the monitor's threshold
    /// (10 ms): a task blocking in async code.
    pub blocked_worker_polls: u64,
    /// Tasks the monitor moved off a stuck worker (its queue, LIFO slot
    /// and yielded tasks) for the others to run (Go: handoffp).
    pub blocked_worker_handoffs: u64,
    /// Spare workers the monitor started because every worker was stuck.
    pub spare_workers_started: u64,
}

pub(crate) static EVENTS_DELIVERED: AtomicU64 = AtomicU64::new(0);
pub(crate) static STALE_EVENTS_DROPPED: AtomicU64 = AtomicU64::new(0);
pub(crate) static POLLER_WAITS: AtomicU64 = AtomicU64::new(0);
pub(crate) static WAKES: AtomicU64 = AtomicU64::new(0);
pub(crate) static TASKS_SPAWNED: AtomicU64 = AtomicU64::new(0);
pub(crate) static TASK_POLLS: AtomicU64 = AtomicU64::new(0);
pub(crate) static STEALS: AtomicU64 = AtomicU64::new(0);
pub(crate) static LIFO_HITS: AtomicU64 = AtomicU64::new(0);
pub(crate) static PARKS: AtomicU64 = AtomicU64::new(0);
pub(crate) static POLLER_BLOCKING_WAITS: AtomicU64 = AtomicU64::new(0);
pub(crate) static CLOSES_WITH_WAITERS: AtomicU64 = AtomicU64::new(0);
pub(crate) static DEADLINE_EXPIRIES: AtomicU64 = AtomicU64::new(0);
pub(crate) static CHILDREN_SPAWNED: AtomicU64 = AtomicU64::new(0);
pub(crate) static CHILDREN_REAPED: AtomicU64 = AtomicU64::new(0);
pub(crate) static SIGNALS_BY_PIDFD: AtomicU64 = AtomicU64::new(0);
pub(crate) static SIGNALS_BY_PID: AtomicU64 = AtomicU64::new(0);
pub(crate) static COPY_FILE_RANGE_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static SENDFILE_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static SPLICE_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static GENERIC_COPY_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static BUDGET_YIELDS: AtomicU64 = AtomicU64::new(0);
pub(crate) static BLOCKED_WORKER_POLLS: AtomicU64 = AtomicU64::new(0);
pub(crate) static BLOCKED_WORKER_HANDOFFS: AtomicU64 = AtomicU64::new(0);
pub(crate) static SPARE_WORKERS_STARTED: AtomicU64 = AtomicU64::new(0);

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n != 0 {
        counter.fetch_add(n, Relaxed);
    }
}

/// Reads every counter.
pub fn snapshot() -> Metrics {
    Metrics {
        events_delivered: EVENTS_DELIVERED.load(Relaxed),
        stale_events_dropped: STALE_EVENTS_DROPPED.load(Relaxed),
        poller_waits: POLLER_WAITS.load(Relaxed),
        wakes: WAKES.load(Relaxed),
        tasks_spawned: TASKS_SPAWNED.load(Relaxed),
        task_polls: TASK_POLLS.load(Relaxed),
        steals: STEALS.load(Relaxed),
        lifo_hits: LIFO_HITS.load(Relaxed),
        parks: PARKS.load(Relaxed),
        poller_blocking_waits: POLLER_BLOCKING_WAITS.load(Relaxed),
        closes_with_waiters: CLOSES_WITH_WAITERS.load(Relaxed),
        deadline_expiries: DEADLINE_EXPIRIES.load(Relaxed),
        children_spawned: CHILDREN_SPAWNED.load(Relaxed),
        children_reaped: CHILDREN_REAPED.load(Relaxed),
        signals_by_pidfd: SIGNALS_BY_PIDFD.load(Relaxed),
        signals_by_pid: SIGNALS_BY_PID.load(Relaxed),
        copy_file_range_bytes: COPY_FILE_RANGE_BYTES.load(Relaxed),
        sendfile_bytes: SENDFILE_BYTES.load(Relaxed),
        splice_bytes: SPLICE_BYTES.load(Relaxed),
        generic_copy_bytes: GENERIC_COPY_BYTES.load(Relaxed),
        budget_yields: BUDGET_YIELDS.load(Relaxed),
        blocked_worker_polls: BLOCKED_WORKER_POLLS.load(Relaxed),
        blocked_worker_handoffs: BLOCKED_WORKER_HANDOFFS.load(Relaxed),
        spare_workers_started: SPARE_WORKERS_STARTED.load(Relaxed),
    }
}
