//! loom models of the scheduler's handshakes, on the real `Shared` and
//! `Worker` (scheduler.rs takes its atomics and locks from `loom_shim`).
//! The poller under them runs on the model backend (`sys/model.rs`): a
//! blocking wait sleeps until a wake, and loom reports a deadlock when
//! none comes, which is how a lost wake-up shows.
//!
//! - shutdown: a task woken on another thread (from under a lock its
//!   future's drop also takes) and a task spawned through a handle race
//!   `begin_shutdown` + `cancel_all` and the closing global queue: every
//!   task's future is dropped exactly once, none inside a wake, and
//!   nothing is left registered or queued;
//! - timers: a worker going to sleep in the poller until its next timer
//!   races a thread that arms an earlier one (`timer_added`,
//!   `poller_sleep_until`, `timer_hint`): the worker never sleeps past the
//!   new timer.
//!
//! The helpers at the top are shared with `loom_monitor.rs`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release
//! --target-dir target/loom loom_sched`.

use super::{Config, Flavor, Shared, Worker};
use crate::loom_shim::LockExt;
use crate::poll::Netpoller;
use crate::runtime::blocking::{BlockingPool, PoolConfig};
use crate::runtime::task::{self, Runnable};
use crate::runtime::Handle;
use crate::Poller;
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A model checker bounded to `n` preemptions (unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise).
pub(crate) fn bounded(n: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound.get_or_insert(n);
    b
}

/// A multi-thread runtime's shared state with `workers` workers (and as
/// many spare slots), no thread started: the model's threads play them.
pub(crate) fn shared(workers: usize) -> Arc<Shared> {
    let config = Config {
        flavor: Flavor::MultiThread,
        workers,
        thread_name: "loom".into(),
        pidfd: false,
        warn_blocking: false,
        hooks: Default::default(),
    };
    let pool = BlockingPool::new(PoolConfig {
        max_threads: 1,
        keep_alive: Duration::from_secs(10),
        thread_name: "loom".into(),
        hooks: Default::default(),
    });
    let poller = Netpoller::new(Poller::Auto).expect("model poller");
    Arc::new(Shared::new(config, poller, Arc::new(pool)))
}

/// `worker.push` (private to the scheduler), for the monitor's model.
pub(crate) fn push(worker: &Worker, r: Runnable, yielded: bool) {
    worker.push(r, yielded);
}

/// Everything in the global queue (private to the scheduler).
pub(crate) fn drain_inject(shared: &Shared) -> Vec<Runnable> {
    std::iter::from_fn(|| shared.inject.pop()).collect()
}

/// Records the ids of the task futures dropped.
#[derive(Default)]
pub(crate) struct Drops(std::sync::Mutex<Vec<usize>>);

impl Drops {
    pub(crate) fn ids(&self) -> Vec<usize> {
        let mut v = self.0.locked().clone();
        v.sort_unstable();
        v
    }
}

/// Dropped with its task's future: logs its id, first taking `lock` if
/// it has one (as a future whose drop closes a stream takes that
/// stream's locks).
pub(crate) struct OnDrop {
    pub(crate) id: usize,
    pub(crate) drops: Arc<Drops>,
    pub(crate) lock: Option<Arc<loom::sync::Mutex<()>>>,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _held = self.lock.as_ref().map(|l| l.lock().unwrap());
        self.drops.0.locked().push(self.id);
    }
}

/// A task that is never scheduled by a wake: the models move its
/// `Runnable` by hand, and `task::cancel` it in the end.
pub(crate) fn inert_task(id: usize, drops: &Arc<Drops>) -> Runnable {
    let guard = OnDrop {
        id,
        drops: drops.clone(),
        lock: None,
    };
    let (r, t) = task::spawn(std::future::pending::<()>(), None, guard, |_: Runnable| {});
    t.detach();
    r
}

/// Pending until woken once; hands its waker out on its first poll.
struct ParkOnce {
    waker: Arc<std::sync::Mutex<Option<Waker>>>,
    polled: bool,
    _on_drop: OnDrop,
}

impl Future for ParkOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled {
            return Poll::Ready(());
        }
        self.polled = true;
        *self.waker.locked() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Shutdown against a wake and a spawn from another thread.
///
/// Task 0 waits (parked on "I/O"); another thread wakes it while holding
/// a lock that task 0's future takes when dropped, then spawns task 2
/// through a handle. Task 1 sits in the global queue, never run. The
/// runtime meanwhile begins shutdown and cancels everything
/// (`Runtime::drop` after its workers exited). Every future must be
/// dropped exactly once; a wake must never drop one inline (the waker's
/// thread would take its own lock again: loom reports the deadlock); and
/// in the end nothing is registered, nothing queued, and the global queue
/// refuses work.
#[test]
fn loom_sched_shutdown_races_a_wake_and_a_spawn() {
    // Unbounded: every interleaving (under a second).
    loom::model(|| {
        let shared = shared(1);
        let handle = Handle {
            shared: shared.clone(),
        };
        let drops = Arc::new(Drops::default());
        let lock = Arc::new(loom::sync::Mutex::new(()));
        let slot = Arc::new(std::sync::Mutex::new(None));
        let on_drop = |id, lock| OnDrop {
            id,
            drops: drops.clone(),
            lock,
        };
        let parked = handle.spawn(ParkOnce {
            waker: slot.clone(),
            polled: false,
            _on_drop: on_drop(0, Some(lock.clone())),
        });
        let queued = handle.spawn({
            let d = on_drop(1, None);
            async move { drop(d) }
        });
        // A worker runs task 0 once: it parks, leaving its waker out.
        shared.inject.pop().expect("task 0 queued").run();
        let waker = slot.locked().take().expect("task 0 parked");

        let (h2, lock2, d2) = (handle.clone(), lock.clone(), on_drop(2, None));
        let other = thread::spawn(move || {
            {
                let _held = lock2.lock().unwrap();
                waker.wake();
            }
            drop(h2.spawn(async move { drop(d2) }));
        });
        shared.begin_shutdown();
        shared.cancel_all();
        other.join().unwrap();
        // A task refused by the closed queue is cancelled on a thread of
        // its own: wait for it.
        while drops.ids().len() < 3 {
            thread::yield_now();
        }

        assert_eq!(drops.ids(), [0, 1, 2], "a future dropped twice or never");
        assert_eq!(shared.owned.len(), 0, "a task is still registered");
        assert!(shared.inject.is_empty(), "a task is still queued");
        let late = inert_task(3, &drops);
        let refused = shared
            .inject
            .push(late)
            .expect_err("the global queue is closed");
        task::cancel(refused);
        drop((parked, queued));
    });
}

/// A worker going to sleep in the poller until its next timer (an hour
/// away) races a thread that arms one due in a second, through the hook
/// `Runtime::start` installs. The model backend lets a wait with a
/// timeout of a minute or less end at once (it would end in time); a
/// longer one needs a wake. So the model deadlocks, and fails, exactly if
/// the worker could sleep past the new timer: it did not see the timer
/// when it computed its timeout, and the arming thread did not see it
/// asleep, or did not find the timer earlier than its sleep, or its wake
/// was lost.
#[test]
fn loom_sched_an_earlier_timer_wakes_the_poller() {
    // Unbounded: every interleaving (well under a second).
    loom::model(|| {
        let shared = shared(1);
        let weak = Arc::downgrade(&shared);
        shared.timers().on_arm(move |deadline| {
            if let Some(shared) = weak.upgrade() {
                shared.timer_added(deadline);
            }
        });
        let model = shared.poller.shared.selector.model();
        model.set_patience(Duration::from_secs(60));
        let now = Instant::now();
        let noop = Waker::noop();
        let late = shared
            .timers()
            .insert(now + Duration::from_secs(3600), noop);

        let local = shared.take_core(0).expect("core 0");
        let s2 = shared.clone();
        let worker = thread::spawn(move || {
            let w = Worker::new(s2, 0, local);
            w.block_in_poller(|| false);
            w.into_local()
        });
        let soon = shared.timers().insert(now + Duration::from_secs(1), noop);
        let local = worker.join().unwrap();

        shared.put_core(0, local);
        shared.timers().cancel(soon);
        shared.timers().cancel(late);
        assert_eq!(model.seen().redundant_wakes, 0, "wakes did not coalesce");
    });
}
