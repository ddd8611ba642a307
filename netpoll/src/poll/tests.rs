//! Poll-layer tests that need to reach inside: a kernel event held back
//! until its descriptor has been closed and reused, then delivered.

use super::netpoller::Netpoller;
use crate::metrics;
use crate::sys::Events;
use crate::Poller;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::task::{Context, Waker};
use std::time::Duration;

fn pollers() -> Vec<Netpoller> {
    [
        Poller::Epoll,
        Poller::Kqueue,
        Poller::EventPorts,
        Poller::Poll,
    ]
    .into_iter()
    .filter_map(|k| Netpoller::new(k).ok())
    .collect()
}

/// A socket whose only pending event is an error: its peer is gone and
/// its send buffer is full, so nothing but POLLERR/EPOLLERR... is left. A
/// Unix stream reports HUP as well; both must stay in their own life.
fn broken_socket() -> OwnedFd {
    let (mut a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    while a.write(&[0u8; 65536]).is_ok() {}
    drop(b);
    a.into()
}

/// Collects one wait's events without delivering them.
fn collect(poller: &Netpoller) -> Events {
    let mut events = Events::new();
    poller
        .shared
        .selector
        .wait(&mut events, Some(Duration::from_secs(1)))
        .unwrap();
    events
}

fn readable_socket() -> (OwnedFd, UnixStream) {
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.write_all(b"m").unwrap();
    (a.into(), b)
}

#[test]
fn an_event_held_across_close_and_reuse_is_dropped_and_counted() {
    for poller in pollers() {
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        // A registration that has a kernel event waiting (armed on the
        // one-shot backend by the wait attempt).
        let old = poller.register(broken_socket()).unwrap();
        let _ = old.poll_read_ready(&mut cx);
        let _ = old.poll_write_ready(&mut cx);
        let mut events = Events::new();
        poller
            .shared
            .selector
            .wait(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        assert!(
            events.len() > 0,
            "{:?}: the broken socket reports",
            poller.backend()
        );
        let old_index = old.watch().slot.index;
        drop(old);

        // The descriptor is reused (LIFO free list) by a quiet socket.
        let (quiet, _peer) = UnixStream::pair().unwrap();
        quiet.set_nonblocking(true).unwrap();
        let new = poller.register(quiet.into()).unwrap();
        let reused = new.watch().slot.index == old_index;

        let before = metrics::snapshot();
        assert_eq!(poller.shared.dispatch(&events), 0);
        let after = metrics::snapshot();
        assert!(
            after.stale_events_dropped >= before.stale_events_dropped + events.len() as u64,
            "{:?}: every held event is stale",
            poller.backend()
        );
        // The new life saw nothing: no readiness, no event error.
        assert!(new.poll_read_ready(&mut cx).is_pending(), "reused={reused}");
        // Its own events still arrive: a quiet socket is writable.
        let _ = new.poll_write_ready(&mut cx);
        poller
            .poll(&mut super::Events::new(), Some(Duration::from_secs(1)))
            .unwrap();
        assert!(new.poll_write_ready(&mut cx).is_ready());
        assert!(new.poll_read_ready(&mut cx).is_pending());
    }
}

#[test]
fn a_held_event_for_the_current_life_is_delivered() {
    for poller in pollers() {
        let (fd, _peer) = readable_socket();
        let reg = poller.register(fd).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let _ = reg.poll_read_ready(&mut cx);
        let events = collect(&poller);
        let before = metrics::snapshot();
        poller.shared.dispatch(&events);
        assert!(metrics::snapshot().events_delivered > before.events_delivered);
        assert!(
            reg.poll_read_ready(&mut cx).is_ready(),
            "{:?}",
            poller.backend()
        );
    }
}
