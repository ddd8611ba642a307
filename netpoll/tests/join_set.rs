//! `task::JoinSet`: outputs in the order tasks finish, aborts, and drop.
//! On both runtime flavours; the poller backend comes from
//! NETPOLL_POLLER.

mod common;

use common::flavours;
use netpoll::task::JoinSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn join_next_returns_outputs_in_the_order_tasks_finish() {
    for (name, rt) in flavours() {
        let order = rt.block_on(async {
            let mut set = JoinSet::new();
            for i in [3u64, 1, 2] {
                set.spawn(async move {
                    netpoll::time::sleep(Duration::from_millis(30 * i)).await;
                    i
                });
            }
            assert_eq!(set.len(), 3);
            let mut order = Vec::new();
            while let Some(done) = set.join_next().await {
                order.push(done.unwrap());
            }
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none(), "empty set: None");
            order
        });
        assert_eq!(order, [1, 2, 3], "{name}");
    }
}

#[test]
fn abort_all_cancels_and_dropping_the_set_aborts_every_task() {
    for (name, rt) in flavours() {
        let dropped = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut set = JoinSet::new();
            for _ in 0..5 {
                let d = OnDrop(dropped.clone());
                set.spawn(async move {
                    let _d = d;
                    netpoll::time::sleep(Duration::from_secs(3600)).await;
                });
            }
            set.spawn(async {});
            netpoll::time::sleep(Duration::from_millis(10)).await;
            set.abort_all();
            let (mut cancelled, mut finished) = (0, 0);
            while let Some(done) = set.join_next().await {
                match done {
                    Ok(()) => finished += 1,
                    Err(e) => {
                        assert!(e.is_cancelled());
                        cancelled += 1;
                    }
                }
            }
            assert_eq!((cancelled, finished), (5, 1), "{name}");
            assert_eq!(dropped.load(SeqCst), 5, "{name}: futures dropped by join");
            // Dropping a set aborts what is left in it.
            let mut set = JoinSet::new();
            for _ in 0..3 {
                let d = OnDrop(dropped.clone());
                set.spawn(async move {
                    let _d = d;
                    std::future::pending::<()>().await;
                });
            }
            drop(set);
            for _ in 0..100 {
                if dropped.load(SeqCst) == 8 {
                    break;
                }
                netpoll::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(dropped.load(SeqCst), 8, "{name}: drop aborts");
        });
    }
}

#[test]
fn a_large_set_joins_every_task_and_blocking_jobs_too() {
    for (name, rt) in flavours() {
        let sum = rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..2_000u64 {
                if i % 100 == 0 {
                    set.spawn_blocking(move || i);
                } else {
                    set.spawn(async move {
                        netpoll::task::yield_now().await;
                        i
                    });
                }
            }
            let mut sum = 0;
            while let Some(done) = set.join_next().await {
                sum += done.unwrap();
            }
            sum
        });
        assert_eq!(sum, 1_999 * 2_000 / 2, "{name}");
    }
}
