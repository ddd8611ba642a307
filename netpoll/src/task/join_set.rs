//! A set of tasks awaited in the order they finish (tokio: `JoinSet`; Go:
//! a `sync.WaitGroup` plus a channel of results, which this replaces).

use super::{JoinError, JoinHandle};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Tasks spawned together, whose outputs are taken as they finish.
/// Dropping the set aborts every task still in it.
///
/// Each task has a waker of its own that queues it as ready, so
/// [`join_next`](Self::join_next) polls only the tasks that finished or
/// were woken, not the whole set: O(1) per task however large the set.
///
/// tokio: `task::JoinSet`; Go: a `sync.WaitGroup` with a results channel.
///
/// # Example
///
/// ```
/// use netpoll::task::JoinSet;
/// let rt = netpoll::runtime::Runtime::new()?;
/// let sum = rt.block_on(async {
///     let mut set = JoinSet::new();
///     for i in 1..=10u64 {
///         set.spawn(async move { i * i });
///     }
///     let mut sum = 0;
///     while let Some(done) = set.join_next().await {
///         sum += done.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 385);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinSet<T> {
    /// The tasks, each with the waker that queues it as ready; `None` in a
    /// free slot.
    entries: Vec<Option<(JoinHandle<T>, Waker)>>,
    free: Vec<usize>,
    len: usize,
    ready: Arc<Ready>,
}

/// Which tasks to poll next, and who waits for one of them.
#[derive(Default)]
struct Ready {
    state: Mutex<ReadyState>,
}

#[derive(Default)]
struct ReadyState {
    queue: VecDeque<usize>,
    waiter: Option<Waker>,
}

/// The waker of one task of the set: queues its slot and wakes the set.
struct EntryWaker {
    slot: usize,
    ready: Arc<Ready>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let mut st = self.ready.state.lock().unwrap_or_else(|p| p.into_inner());
            st.queue.push_back(self.slot);
            st.waiter.take()
        };
        // Woken outside the lock: the waiter's wake is user code.
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            ready: Arc::default(),
        }
    }

    /// Tasks in the set: spawned and not yet taken out by a join.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Aborts every task in the set; each still comes out of
    /// [`join_next`](Self::join_next), as a cancelled [`JoinError`] unless
    /// it had finished already.
    pub fn abort_all(&self) {
        for (handle, _) in self.entries.iter().flatten() {
            handle.abort();
        }
    }

    /// Aborts every task and waits until each has been dropped.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Takes every task out of the set without aborting it: they run on,
    /// detached.
    pub fn detach_all(&mut self) {
        self.entries.clear();
        self.free.clear();
        self.len = 0;
        self.ready = Arc::default();
    }

    /// Waits for the next task to finish and returns its output (or how it
    /// failed); `None` once the set is empty.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// The output of a task that has already finished, if any, without
    /// waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        let waker = Waker::noop();
        match self.poll_join_next(&mut Context::from_waker(waker)) {
            Poll::Ready(done) => done,
            Poll::Pending => None,
        }
    }

    /// The poll form of [`join_next`](Self::join_next).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        // One unit for the join; the handles are polled without a budget,
        // or a spent one would have each re-queue itself for ever.
        std::task::ready!(crate::coop::poll_proceed(cx));
        loop {
            let next = {
                let mut st = self.ready.state.lock().unwrap_or_else(|p| p.into_inner());
                match st.queue.pop_front() {
                    Some(slot) => slot,
                    None => {
                        st.waiter = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            };
            // A slot freed (or reused) since it was queued: a spurious
            // poll at worst, which only re-registers its waker.
            let Some(Some((handle, waker))) = self.entries.get_mut(next) else {
                continue;
            };
            let mut task_cx = Context::from_waker(waker);
            let polled = crate::coop::with(None, || Pin::new(handle).poll(&mut task_cx));
            if let Poll::Ready(done) = polled {
                self.entries[next] = None;
                self.free.push(next);
                self.len -= 1;
                return Poll::Ready(Some(done));
            }
        }
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime as a task of this set.
    /// Panics outside a runtime, as [`crate::spawn`] does.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(crate::spawn(future));
    }

    /// Runs `f` on the blocking pool as a task of this set.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(crate::spawn_blocking(f));
    }

    fn insert(&mut self, handle: JoinHandle<T>) {
        let slot = self.free.pop().unwrap_or(self.entries.len());
        let waker = Waker::from(Arc::new(EntryWaker {
            slot,
            ready: self.ready.clone(),
        }));
        // Polled once by the next join, which registers the waker.
        waker.wake_by_ref();
        let entry = Some((handle, waker));
        if slot == self.entries.len() {
            self.entries.push(entry);
        } else {
            self.entries[slot] = entry;
        }
        self.len += 1;
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}
