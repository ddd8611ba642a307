//! A runtime's own counters, per worker and in all (tokio:
//! `RuntimeMetrics`; Go: runtime/metrics). The process-wide counters of
//! every runtime together are in `crate::metrics`.

use super::scheduler::Shared;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A live view of one runtime's counters: each call reads the current
/// value. Worker counters are added in batches (at least once per park
/// and every 61 task polls), so they may trail by that much.
///
/// Workers are numbered `0..num_workers()`; the monitor's spare workers
/// (started only while every worker is stuck) are not counted among them.
///
/// tokio: `runtime::RuntimeMetrics`, from `Handle::metrics()`.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Builder::new_current_thread().build()?;
/// rt.block_on(async { netpoll::spawn(async {}).await.unwrap() });
/// let m = rt.metrics();
/// assert_eq!(m.num_workers(), 1);
/// assert_eq!(m.num_alive_tasks(), 0);
/// assert_eq!(m.global_queue_depth(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct RuntimeMetrics {
    shared: Arc<Shared>,
}

impl RuntimeMetrics {
    pub(crate) fn new(shared: Arc<Shared>) -> RuntimeMetrics {
        RuntimeMetrics { shared }
    }

    /// Worker threads (1 for a current-thread runtime).
    pub fn num_workers(&self) -> usize {
        self.shared.config.workers
    }

    /// Tasks spawned and not yet finished or cancelled.
    pub fn num_alive_tasks(&self) -> usize {
        self.shared.owned.len()
    }

    /// Tasks waiting in the global (inject) queue.
    pub fn global_queue_depth(&self) -> usize {
        self.shared.global_queue_depth()
    }

    /// Threads of the blocking pool, busy or idle.
    pub fn num_blocking_threads(&self) -> usize {
        self.shared.blocking.threads()
    }

    /// Blocking-pool threads waiting for a job.
    pub fn num_idle_blocking_threads(&self) -> usize {
        self.shared.blocking.idle_threads()
    }

    /// Jobs queued for the blocking pool, not yet started.
    pub fn blocking_queue_depth(&self) -> usize {
        self.shared.blocking.queued()
    }

    /// Tasks polled by `worker`. Panics if `worker >= num_workers()`.
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.counters(worker).polls.load(Relaxed)
    }

    /// Times `worker` took tasks from another worker's queue.
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        self.counters(worker).steals.load(Relaxed)
    }

    /// Times `worker` parked its thread (slept without the poller).
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.counters(worker).parks.load(Relaxed)
    }

    /// Times `worker` slept in the poller.
    pub fn worker_poller_wait_count(&self, worker: usize) -> u64 {
        self.counters(worker).poller_blocking_waits.load(Relaxed)
    }

    /// Tasks `worker` ran from its LIFO slot.
    pub fn worker_lifo_count(&self, worker: usize) -> u64 {
        self.counters(worker).lifo_hits.load(Relaxed)
    }

    /// Tasks in `worker`'s local queue (LIFO slot included) now.
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        assert!(worker < self.num_workers(), "no worker {worker}");
        self.shared.remotes[worker].stealer.len()
    }

    fn counters(&self, worker: usize) -> &super::scheduler::WorkerCounters {
        assert!(worker < self.num_workers(), "no worker {worker}");
        &self.shared.remotes[worker].counters
    }
}

impl fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("num_workers", &self.num_workers())
            .field("num_alive_tasks", &self.num_alive_tasks())
            .field("global_queue_depth", &self.global_queue_depth())
            .field("num_blocking_threads", &self.num_blocking_threads())
            .finish()
    }
}
