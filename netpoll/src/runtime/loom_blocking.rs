//! loom models of the blocking pool (blocking.rs): its real push, thread
//! body, idle count, `wakeups` claims, retirement and shutdown, with the
//! pool's threads, lock and condition variable taken from `loom_shim`
//! (loom's). loom cannot time a wait out: a keep-alive of zero makes every
//! idle wait time out at once, releasing and retaking the lock as std's
//! does (see `loom_shim::wait_timeout`); a long one waits for a push.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release
//! --target-dir target/loom loom_blocking`.

use super::{BlockingPool, PoolConfig};
use crate::loom_shim::{Condvar, LockExt, Mutex};
use crate::runtime::scheduler::loom_scheduler::bounded;
use crate::runtime::task::{self, Runnable};
use std::sync::Arc;
use std::time::Duration;

fn pool(max_threads: usize, keep_alive: Duration) -> Arc<BlockingPool> {
    Arc::new(BlockingPool::new(PoolConfig {
        max_threads,
        keep_alive,
        thread_name: "loom".into(),
        hooks: Default::default(),
    }))
}

/// A flag a job can wait for (loom's lock and condition variable).
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Flag {
    fn set(&self) {
        *self.set.locked() = true;
        self.cond.notify_all();
    }

    fn wait(&self) {
        let mut set = self.set.locked();
        while !*set {
            set = self.cond.wait(set).unwrap();
        }
    }
}

/// `spawn_blocking`'s way in: a task whose schedule function pushes it
/// onto the pool, scheduled once.
fn spawn_blocking(pool: &Arc<BlockingPool>, job: impl FnOnce() + Send + 'static) {
    let p = pool.clone();
    let (r, t) = task::spawn(async move { job() }, None, (), move |r: Runnable| p.push(r));
    t.detach();
    r.schedule();
}

/// The pool's books balance once it is shut down: no thread counted, none
/// idle, no claim outstanding, nothing queued.
fn assert_settled(pool: &BlockingPool) {
    let st = pool.state.locked();
    assert_eq!(
        (st.threads, st.idle, st.wakeups, st.queue.len()),
        (0, 0, 0, 0),
        "threads, idle, wakeups, queued"
    );
}

/// A burst of two jobs, the first of which waits for the second, meets a
/// thread that went idle after an earlier job. The first push claims that
/// thread (idle goes down at once), so the second starts a thread of its
/// own instead of counting the same idle thread again and queueing behind
/// the first, which would wait for it for ever (loom: deadlock).
#[test]
fn loom_blocking_a_burst_gets_a_thread_per_job() {
    // Up to three threads: 5 preemptions take some 11 s in release.
    bounded(5).check(|| {
        let pool = pool(2, Duration::from_secs(3600));
        let (second_ran, done) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
        spawn_blocking(&pool, || {});
        let (s, d) = (second_ran.clone(), done.clone());
        spawn_blocking(&pool, move || {
            s.wait();
            d.set();
        });
        let s = second_ran.clone();
        spawn_blocking(&pool, move || s.set());
        done.wait();
        pool.shutdown(None);
        assert_settled(&pool);
    });
}

/// With a keep-alive of zero every idle thread retires as soon as it
/// finds nothing to do, racing a push: the push either claims it before
/// it decides, or finds it gone (and starts another, the cap allowing one
/// thread), or finds it still busy (and leaves the job for it). The job
/// runs exactly once in every case, and no thread is left counted.
#[test]
fn loom_blocking_a_retiring_thread_races_a_push() {
    // Unbounded: every interleaving (well under a second).
    loom::model(|| {
        let pool = pool(1, Duration::ZERO);
        let runs = Arc::new(crate::loom_shim::AtomicUsize::new(0));
        let done = Arc::new(Flag::default());
        spawn_blocking(&pool, || {});
        let (r, d) = (runs.clone(), done.clone());
        spawn_blocking(&pool, move || {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            d.set();
        });
        done.wait();
        pool.shutdown(None);
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_settled(&pool);
    });
}
