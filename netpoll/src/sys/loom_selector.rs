//! loom model of the Selector's wake coalescing (Go: netpollWakeSig): the
//! real `Selector::wake` and `Selector::wait` over the model backend
//! (`model.rs`), whose wake source stands for the eventfd (pipe, user
//! event) a real backend writes and drains. The kernel's half is the part
//! that cannot run under loom; the flag that coalesces wakes and the
//! order of draining and clearing are the Selector's own code.
//!
//! The end-to-end handshake with the scheduler's `Idle` (announce, look,
//! sleep; queue, notify, wake) is modelled in `runtime/loom_park.rs`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release
//! --target-dir target/loom loom_selector`.

use super::{Events, Selector};
use crate::Poller;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use std::sync::Arc;

/// Two threads wake while the poller sleeps in a blocking wait and then
/// polls without blocking. Concurrent wakes write the wake source once
/// (no write while a wake is in flight); the blocking wait returns; and
/// once everyone is done the Selector's flag agrees with the source: a
/// wake left pending is still in the source for the next blocking wait,
/// and no flag stays set over an empty source, which would swallow every
/// later wake (the drain must come before the clear).
#[test]
fn loom_selector_wakes_coalesce_and_none_is_swallowed() {
    loom::model(|| {
        let sel = Arc::new(Selector::new(Poller::Auto).unwrap());
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let sel = sel.clone();
                thread::spawn(move || {
                    sel.wake().unwrap();
                })
            })
            .collect();
        let mut events = Events::new();
        assert!(
            sel.wait(&mut events, None).unwrap(),
            "a blocking wait ends by a wake here"
        );
        let _ = sel
            .wait(&mut events, Some(std::time::Duration::ZERO))
            .unwrap();
        for w in wakers {
            w.join().unwrap();
        }
        let seen = sel.model().seen();
        assert_eq!(
            seen.redundant_wakes, 0,
            "a wake wrote the source while one was pending"
        );
        assert_eq!(
            sel.wake_pending.load(SeqCst),
            seen.pending_wake,
            "the wake flag disagrees with the wake source"
        );
    });
}

/// A wake that comes after a blocking wait returned reaches the next
/// blocking wait, however the earlier wakes fell: the poller waits twice,
/// and the second waker starts only once the first wait is over.
#[test]
fn loom_selector_a_wake_after_a_wait_reaches_the_next_wait() {
    loom::model(|| {
        let sel = Arc::new(Selector::new(Poller::Auto).unwrap());
        let first_done = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (s1, s2, f2) = (sel.clone(), sel.clone(), first_done.clone());
        let early = thread::spawn(move || {
            s1.wake().unwrap();
        });
        let late = thread::spawn(move || {
            while !f2.load(SeqCst) {
                thread::yield_now();
            }
            s2.wake().unwrap();
        });
        let mut events = Events::new();
        sel.wait(&mut events, None).unwrap();
        first_done.store(true, SeqCst);
        sel.wait(&mut events, None).unwrap();
        early.join().unwrap();
        late.join().unwrap();
    });
}
