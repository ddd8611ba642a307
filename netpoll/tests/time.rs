//! Timers: never early, in order, on both flavours.

mod common;

use common::{flavours, SLACK};
use netpoll::time::{interval, interval_at, sleep, sleep_until, timeout};
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

/// Polls `f` as a future, counting the polls: a task that spins is polled
/// over and over although nothing happened.
async fn counting_polls<T>(
    polls: &mut u32,
    mut f: impl FnMut(&mut Context<'_>) -> std::task::Poll<T>,
) -> T {
    std::future::poll_fn(|cx| {
        *polls += 1;
        f(cx)
    })
    .await
}

/// An interval whose next tick is past what an `Instant` can hold ticks
/// once, at once, and then waits for a far deadline: no panic (reset added
/// the period unchecked), and no tick after tick without waiting (the
/// overflow used to leave the next tick at the last one, always due).
#[test]
fn an_interval_of_duration_max_ticks_once_then_waits() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let start = Instant::now();
            let mut ticks = interval(Duration::MAX);
            let first = ticks.tick().await;
            assert!(first <= Instant::now(), "{name}");
            assert!(start.elapsed() < SLACK, "{name}: the first tick waited");
            // Then nothing for a while, and the task is not polled in a
            // loop meanwhile (one poll to register, perhaps a spurious one).
            let mut polls = 0;
            let r = timeout(
                Duration::from_millis(50),
                counting_polls(&mut polls, |cx| ticks.poll_tick(cx)),
            )
            .await;
            assert!(r.is_err(), "{name}: a second tick at {:?}", r.unwrap());
            assert!(polls <= 3, "{name}: polled {polls} times while waiting");

            // reset: the next tick a period from now, i.e. never.
            ticks.reset();
            let mut polls = 0;
            let r = timeout(
                Duration::from_millis(20),
                counting_polls(&mut polls, |cx| ticks.poll_tick(cx)),
            )
            .await;
            assert!(r.is_err(), "{name}: ticked after reset");
            assert!(polls <= 3, "{name}: polled {polls} times after reset");

            // interval_at: the first tick at its start, then never again.
            let at = Instant::now() + Duration::from_millis(10);
            let mut ticks = interval_at(at, Duration::MAX);
            assert_eq!(ticks.tick().await, at, "{name}");
            assert!(Instant::now() >= at, "{name}: ticked early");
            let r = timeout(Duration::from_millis(20), ticks.tick()).await;
            assert!(r.is_err(), "{name}: interval_at ticked twice");
        });
    }
}

/// A period short of overflowing but far past any test still waits (the
/// timer store saturates it); and a normal period keeps its schedule after
/// a far one was reset away.
#[test]
fn an_interval_with_a_far_period_waits_and_resets() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let mut ticks = interval(Duration::from_secs(u64::MAX / 4));
            ticks.tick().await;
            let r = timeout(Duration::from_millis(20), ticks.tick()).await;
            assert!(r.is_err(), "{name}");
            ticks.reset();
            let r = timeout(Duration::from_millis(20), ticks.tick()).await;
            assert!(r.is_err(), "{name}");
        });
    }
}

/// `sleep(Duration::MAX)` is pending and stays cancellable: dropped by a
/// timeout, aborted as a task, and moved to a near deadline by `reset`.
/// `timeout(Duration::MAX, ..)` never expires and lets the future finish.
#[test]
fn sleep_and_timeout_of_duration_max_wait_and_cancel() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let r = timeout(Duration::from_millis(20), sleep(Duration::MAX)).await;
            assert!(r.is_err(), "{name}");

            let long = netpoll::spawn(sleep(Duration::MAX));
            sleep(Duration::from_millis(10)).await;
            long.abort();
            let err = timeout(SLACK * 4, long).await.expect("abort hung");
            assert!(err.is_err(), "{name}: a Duration::MAX sleep finished");

            let mut s = sleep(Duration::MAX);
            assert!(
                s.deadline() > Instant::now() + Duration::from_secs(86_400 * 365),
                "{name}: {:?}",
                s.deadline()
            );
            assert!(!s.is_elapsed());
            let r = timeout(Duration::from_millis(10), &mut s).await;
            assert!(r.is_err(), "{name}");
            let at = Instant::now() + Duration::from_millis(10);
            s.reset(at);
            timeout(SLACK * 4, &mut s).await.expect("reset sleep hung");
            assert!(Instant::now() >= at, "{name}: woke early");
            assert!(s.is_elapsed());

            assert_eq!(timeout(Duration::MAX, async { 7 }).await, Ok(7));
            let t = Instant::now();
            let r = timeout(Duration::MAX, sleep(Duration::from_millis(10))).await;
            assert_eq!(r, Ok(()), "{name}");
            assert!(t.elapsed() >= Duration::from_millis(10));
        });
    }
}

/// A read deadline far in the future (past the timer store's range) is as
/// good as none: the read waits, is not failed early, and finishes when
/// data comes.
#[test]
fn a_far_read_deadline_waits_for_data() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = netpoll::net::UnixStream::pair().unwrap();
            let far = Instant::now() + Duration::from_secs(u64::MAX / 4);
            a.set_read_deadline(Some(far)).unwrap();
            let mut buf = [0u8; 4];
            let r = timeout(Duration::from_millis(20), a.read(&mut buf)).await;
            assert!(r.is_err(), "{name}: read ended early: {r:?}");
            let reader = netpoll::spawn(async move {
                let mut buf = [0u8; 4];
                a.read(&mut buf).await.map(|n| buf[..n].to_vec())
            });
            sleep(Duration::from_millis(20)).await;
            b.write_all(b"ping").await.unwrap();
            let got = timeout(SLACK * 4, reader).await.expect("read hung");
            assert_eq!(got.unwrap().unwrap(), b"ping", "{name}");
        });
    }
}
