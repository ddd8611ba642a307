//! Timers: never early, in order, on both flavours.

mod common;

use common::flavours;
use netpoll::time::{interval, sleep, sleep_until, timeout};
use std::future::Future;
use std::task::Context;
use std::time::{Duration, Instant};

#[test]
fn sleeps_never_end_early() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let hs: Vec<_> = (0..200u64)
                .map(|i| {
                    netpoll::spawn(async move {
                        let d = Duration::from_micros(i * 137 % 20_000);
                        let start = Instant::now();
                        sleep(d).await;
                        (d, start.elapsed())
                    })
                })
                .collect();
            for h in hs {
                let (want, got) = h.await.unwrap();
                assert!(got >= want, "{name}: slept {got:?} < {want:?}");
            }
        });
    }
}

/// Timers registered in scrambled order complete in deadline order. One
/// task polls all of them, in deadline order, on every wake. When one has
/// completed, every earlier one must have completed too: they are polled
/// again at that moment and recorded first, so an earlier timer still
/// pending shows up as disorder. (Polling them again makes the check
/// independent of when a worker fires timers between two polls of this
/// task. Separate tasks could not tell: tasks woken together may run in
/// any order.)
#[test]
fn timers_fire_in_deadline_order() {
    for (name, rt) in flavours() {
        let order = rt.block_on(async {
            let base = Instant::now() + Duration::from_millis(20);
            let scrambled = [7u64, 2, 9, 0, 5, 1, 8, 3, 6, 4];
            let mut sleeps: Vec<(u64, Option<netpoll::time::Sleep>)> = scrambled
                .iter()
                .map(|&i| (i, Some(sleep_until(base + Duration::from_millis(3 * i)))))
                .collect();
            // Registered in scrambled order (first poll), then watched in
            // deadline order.
            std::future::poll_fn(|cx| {
                for (_, s) in sleeps.iter_mut() {
                    let _ = std::pin::Pin::new(s.as_mut().unwrap()).poll(cx);
                }
                std::task::Poll::Ready(())
            })
            .await;
            sleeps.sort_by_key(|(i, _)| *i);
            let mut order = Vec::new();
            let done = |s: &mut Option<netpoll::time::Sleep>, cx: &mut Context<'_>| {
                s.as_mut()
                    .is_some_and(|s| std::pin::Pin::new(s).poll(cx).is_ready())
            };
            std::future::poll_fn(|cx| {
                for k in 0..sleeps.len() {
                    if !done(&mut sleeps[k].1, cx) {
                        continue;
                    }
                    // Every earlier timer must be done by now.
                    for (i, slot) in sleeps.iter_mut().take(k) {
                        if done(slot, cx) {
                            order.push(*i);
                            *slot = None;
                        }
                    }
                    order.push(sleeps[k].0);
                    sleeps[k].1 = None;
                }
                if order.len() == sleeps.len() {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            order
        });
        assert_eq!(order, (0..10).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn timeout_and_interval() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let t = Instant::now();
            let r = timeout(Duration::from_millis(20), sleep(Duration::from_secs(60))).await;
            assert!(r.is_err(), "{name}");
            assert!(t.elapsed() >= Duration::from_millis(20));
            assert!(t.elapsed() < Duration::from_secs(5));
            let err: std::io::Error = r.unwrap_err().into();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

            let mut ticks = interval(Duration::from_millis(5));
            let first = ticks.tick().await;
            let mut last = first;
            for _ in 0..4 {
                last = ticks.tick().await;
            }
            assert_eq!(
                last - first,
                Duration::from_millis(20),
                "{name}: scheduled ticks"
            );
            assert!(first.elapsed() >= Duration::from_millis(20));
        });
    }
}

/// A timer added from another thread while the poller sleeps on a later
/// one wakes the poller, so it fires on time, not at the later deadline.
#[test]
fn an_earlier_timer_wakes_a_sleeping_poller() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let long = netpoll::spawn(sleep(Duration::from_secs(30)));
            sleep(Duration::from_millis(20)).await; // the poller now sleeps ~30 s
            let t = Instant::now();
            // A pool thread inserts a 10 ms timer while this runtime's
            // threads sleep in the poller.
            let h = netpoll::runtime::Handle::current();
            netpoll::spawn_blocking(move || h.block_on(sleep(Duration::from_millis(10))))
                .await
                .unwrap();
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{name}: {:?}",
                t.elapsed()
            );
            long.abort();
        });
    }
}
