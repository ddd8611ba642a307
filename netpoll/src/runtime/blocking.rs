//! The blocking pool: threads for work that must not stall a worker
//! (`spawn_blocking`, regular-file I/O, name resolution). It grows on
//! demand up to a cap; threads idle longer than the keep-alive exit.
//!
//! Go needs no such pool: a goroutine blocked in a syscall releases its P
//! and the runtime starts another M. Rust's threads cannot do that, so the
//! blocking work moves instead (tokio: the blocking pool).

use super::task::{self, Runnable};
use crate::loom_shim::thread::{self, JoinHandle};
use crate::loom_shim::{wait_timeout, Condvar, LockExt, Mutex};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(all(test, loom))]
#[path = "loom_blocking.rs"]
mod loom_blocking;

/// The longest keep-alive honoured (about 30 years): "for ever".
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(1 << 30);

/// Pool settings.
#[derive(Clone)]
pub(crate) struct PoolConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) thread_name: String,
    pub(crate) hooks: super::Hooks,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Runnable>,
    threads: usize,
    /// Threads waiting for work that no push has claimed yet.
    idle: usize,
    /// Waiting threads claimed by a push and not yet up: a push takes an
    /// idle thread when it notifies (`idle` goes down at once), so the
    /// next push cannot count the same thread again. Counting it only once
    /// the woken thread re-took the lock sent a burst of jobs to one
    /// thread, one after the other; a job that waits for the next one
    /// deadlocked (tokio counts the same way: num_idle and num_notify).
    wakeups: usize,
    shutdown: bool,
    handles: Vec<JoinHandle<()>>,
}

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    cond: Condvar,
    config: PoolConfig,
    /// The runtime to make current on pool threads (set once it exists).
    handle: std::sync::OnceLock<super::WeakHandle>,
}

impl BlockingPool {
    pub(crate) fn new(config: PoolConfig) -> BlockingPool {
        BlockingPool {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            config,
            handle: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn set_handle(&self, h: super::WeakHandle) {
        let _ = self.handle.set(h);
    }

    /// Queues a task, starting a thread if none is idle and the cap allows.
    pub(crate) fn push(self: &Arc<Self>, r: Runnable) {
        let mut st = self.state.locked();
        if st.shutdown {
            drop(st);
            task::cancel(r);
            return;
        }
        st.queue.push_back(r);
        if st.idle > 0 {
            st.idle -= 1;
            st.wakeups += 1;
            drop(st);
            self.cond.notify_one();
            return;
        }
        if st.threads >= self.config.max_threads {
            return; // a busy thread takes it when it is free
        }
        st.handles.retain(|h| !h.is_finished());
        st.threads += 1;
        match self.start_thread() {
            Ok(h) => st.handles.push(h),
            Err(_) if st.threads > 1 => st.threads -= 1, // the others will get to it
            Err(e) => {
                // No thread at all to run it: fail the task rather than
                // leave its JoinHandle waiting forever.
                st.threads -= 1;
                let r = st.queue.pop_back();
                drop(st);
                eprintln!("netpoll: cannot start a blocking-pool thread: {e}");
                if let Some(r) = r {
                    task::cancel(r);
                }
            }
        }
    }

    fn start_thread(self: &Arc<Self>) -> io::Result<JoinHandle<()>> {
        let pool = self.clone();
        thread::Builder::new()
            .name(format!("{}-blocking", self.config.thread_name))
            .spawn(move || pool.thread_main())
    }

    fn thread_main(&self) {
        let _hooks = super::HookGuard::enter(&self.config.hooks);
        let _enter = self
            .handle
            .get()
            .and_then(|h| h.upgrade())
            .map(super::context::enter);
        let mut st = self.state.locked();
        loop {
            if let Some(r) = st.queue.pop_front() {
                drop(st);
                r.run();
                st = self.state.locked();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            // Clamped, so a keep-alive of Duration::MAX cannot overflow.
            let retire_at = Instant::now() + self.config.keep_alive.min(MAX_KEEP_ALIVE);
            let retire = loop {
                let left = retire_at.saturating_duration_since(Instant::now());
                st = wait_timeout(&self.cond, &self.state, st, left);
                if st.wakeups > 0 {
                    // Claimed by a push (which took us off `idle`).
                    st.wakeups -= 1;
                    break false;
                }
                if st.shutdown || Instant::now() >= retire_at {
                    st.idle -= 1;
                    break !st.shutdown && st.queue.is_empty();
                }
                // A spurious wake-up: still idle, wait on.
            };
            if retire {
                break;
            }
        }
        st.threads -= 1;
    }

    /// Threads of the pool, busy or idle.
    pub(crate) fn threads(&self) -> usize {
        self.state.locked().threads
    }

    /// Threads waiting for work (claimed ones not counted).
    pub(crate) fn idle_threads(&self) -> usize {
        self.state.locked().idle
    }

    /// Jobs not yet started.
    pub(crate) fn queued(&self) -> usize {
        self.state.locked().queue.len()
    }

    /// Stops the pool: queued tasks are cancelled, running ones finish, and
    /// every thread is joined, or left running, detached, at `limit`.
    pub(crate) fn shutdown(&self, limit: Option<std::time::Instant>) {
        let (queued, handles) = {
            let mut st = self.state.locked();
            st.shutdown = true;
            (
                st.queue.drain(..).collect::<Vec<_>>(),
                std::mem::take(&mut st.handles),
            )
        };
        self.cond.notify_all();
        queued.into_iter().for_each(task::cancel);
        let me = thread::current().id();
        for h in handles {
            // A pool thread dropping the runtime cannot join itself.
            if h.thread().id() != me {
                join_until(h, limit);
            }
        }
    }
}

/// Joins a pool thread, or at `limit` leaves it running, detached (the
/// runtime's `join_until`, for the shim's handle, which loom models use).
fn join_until(h: JoinHandle<()>, limit: Option<std::time::Instant>) {
    if let Some(limit) = limit {
        while !h.is_finished() {
            if std::time::Instant::now() >= limit {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = h.join();
}
