//! loom model of the monitor's hand-off (monitor.rs `hand_off`, Go's
//! sysmon retake + handoffp): the monitor takes a stuck worker's queued
//! tasks (ring and LIFO slot, by stealing) and its deferred (yielded)
//! tasks while that worker still pushes onto both. The real `Worker::push`
//! runs on one thread, the real `hand_off` on another.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release
//! --target-dir target/loom loom_monitor`.

use super::hand_off;
use crate::loom_shim::LockExt;
use crate::runtime::queue;
use crate::runtime::scheduler::loom_scheduler::{
    bounded, drain_inject, inert_task, push, shared, Drops,
};
use crate::runtime::scheduler::Worker;
use crate::runtime::task::{self, Runnable};
use loom::thread;
use std::sync::Arc;

/// The worker pushes tasks woken by others (each into its LIFO slot,
/// moving the one before into the ring) and one that yielded (onto its
/// deferred list), then exits, while the monitor hands its work off twice
/// (stealing the ring in batches, through its staging queue, then the
/// LIFO slot). Every task ends up in exactly one place (the worker's
/// queue, its deferred list or the global queue): none lost, none run
/// twice, none left in the monitor's staging queue.
#[test]
fn loom_monitor_hand_off_races_the_worker_pushing() {
    // 4 preemptions take some 15 s in release (5: 45 s).
    bounded(4).check(|| {
        let shared = shared(2);
        let drops = Arc::new(Drops::default());
        let tasks: Vec<Runnable> = (0..5).map(|id| inert_task(id, &drops)).collect();
        let local = shared.take_core(0).expect("core 0");

        let s2 = shared.clone();
        let worker = thread::spawn(move || {
            let w = Worker::new(s2, 0, local);
            // Woken by others: each goes to the LIFO slot and pushes the
            // one before into the ring (which then holds 0, 2 and 3, so a
            // steal takes two at once); task 1 yielded.
            for (id, r) in tasks.into_iter().enumerate() {
                push(&w, r, id == 1);
            }
            // Exits, as a worker does: its deferred tasks move to the back
            // of its queue (racing the monitor for them too), and it keeps
            // what is left.
            let mut local = w.into_local();
            std::iter::from_fn(|| local.pop()).collect::<Vec<_>>()
        });
        let (mut staging, _) = queue::new::<Runnable>();
        hand_off(&shared, 0, &mut staging);
        hand_off(&shared, 0, &mut staging);
        let mut kept = worker.join().unwrap();

        assert!(
            staging.is_empty(),
            "the monitor kept a task in its staging queue"
        );
        kept.extend(std::mem::take(&mut *shared.remotes[0].deferred.locked()));
        kept.extend(drain_inject(&shared));
        kept.into_iter().for_each(task::cancel);
        assert_eq!(
            drops.ids(),
            [0, 1, 2, 3, 4],
            "a task lost or handed on twice"
        );
    });
}
