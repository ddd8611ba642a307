//! Backend tests, run on every backend this platform has.

use super::*;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// Every backend that can run here.
fn selectors() -> Vec<Selector> {
    [
        Poller::Epoll,
        Poller::Kqueue,
        Poller::EventPorts,
        Poller::Poll,
    ]
    .into_iter()
    .filter_map(|k| Selector::new(k).ok())
    .collect()
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Fills `s`'s send buffer until the kernel says EAGAIN.
fn fill(s: &mut UnixStream) {
    let chunk = [0u8; 65536];
    while s.write(&chunk).is_ok() {}
}

fn events_for(ev: &Events, token: u64) -> Vec<Readiness> {
    ev.iter()
        .filter(|e| e.token == token)
        .map(|e| e.ready)
        .collect()
}

#[test]
fn both_linux_backends_exist() {
    let kinds: Vec<_> = selectors().iter().map(|s| s.kind()).collect();
    assert!(kinds.contains(&Poller::Poll));
    #[cfg(target_os = "linux")]
    assert!(kinds.contains(&Poller::Epoll));
}

#[test]
fn wakes_coalesce_and_only_a_blocking_wait_consumes_them() {
    for sel in selectors() {
        let mut ev = Events::new();
        assert!(
            sel.wake().unwrap(),
            "{:?}: first wake reaches the kernel",
            sel.kind()
        );
        assert!(
            !sel.wake().unwrap(),
            "{:?}: second wake coalesces",
            sel.kind()
        );
        // A non-blocking wait sees it but leaves it pending.
        assert!(sel.wait(&mut ev, Some(Duration::ZERO)).unwrap());
        assert!(!sel.wake().unwrap(), "{:?}: still pending", sel.kind());
        let t = Instant::now();
        assert!(sel.wait(&mut ev, Some(Duration::from_secs(5))).unwrap());
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", sel.kind());
        // Consumed: the next blocking wait times out, and a wake is new again.
        let t = Instant::now();
        assert!(!sel.wait(&mut ev, Some(Duration::from_millis(50))).unwrap());
        assert!(
            t.elapsed() >= Duration::from_millis(50),
            "{:?}: never early",
            sel.kind()
        );
        assert!(sel.wake().unwrap());
    }
}

#[test]
fn a_wake_from_another_thread_interrupts_a_blocking_wait() {
    for sel in selectors() {
        let sel = std::sync::Arc::new(sel);
        let s2 = sel.clone();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s2.wake().unwrap();
        });
        let t = Instant::now();
        let mut ev = Events::new();
        assert!(sel.wait(&mut ev, None).unwrap(), "{:?}", sel.kind());
        assert!(t.elapsed() < Duration::from_secs(5));
        waker.join().unwrap();
    }
}

#[test]
fn readable_and_writable_are_reported_with_the_token() {
    for sel in selectors() {
        let (a, mut b) = pair();
        sel.open(a.as_fd(), 77).unwrap();
        sel.arm(77, Interest::READ | Interest::WRITE).unwrap();
        let mut ev = Events::new();
        sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        let got = events_for(&ev, 77);
        assert!(got.iter().any(|r| r.write), "{:?}: {got:?}", sel.kind());
        assert!(!got.iter().any(|r| r.read), "{:?}: {got:?}", sel.kind());
        b.write_all(b"hi").unwrap();
        sel.arm(77, Interest::READ).unwrap();
        sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        assert!(
            events_for(&ev, 77).iter().any(|r| r.read),
            "{:?}",
            sel.kind()
        );
        sel.close(a.as_fd(), 77).unwrap();
    }
}

#[test]
fn peer_hangup_wakes_both_directions() {
    for sel in selectors() {
        let (a, b) = pair();
        let mut a2 = a.try_clone().unwrap();
        fill(&mut a2);
        sel.open(a.as_fd(), 5).unwrap();
        sel.arm(5, Interest::READ | Interest::WRITE).unwrap();
        drop(b);
        let mut ev = Events::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = Readiness::default();
        while !(seen.read && seen.write) && Instant::now() < deadline {
            sel.wait(&mut ev, Some(Duration::from_millis(100))).unwrap();
            for r in events_for(&ev, 5) {
                seen.read |= r.read;
                seen.write |= r.write;
            }
        }
        assert!(seen.read && seen.write, "{:?}: {seen:?}", sel.kind());
        sel.close(a.as_fd(), 5).unwrap();
    }
}

#[test]
fn edge_triggered_backends_report_an_edge_once() {
    for sel in selectors().into_iter().filter(|s| !s.needs_arm()) {
        let (a, mut b) = pair();
        sel.open(a.as_fd(), 9).unwrap();
        b.write_all(b"x").unwrap();
        let mut ev = Events::new();
        sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        assert!(events_for(&ev, 9).iter().any(|r| r.read));
        sel.wait(&mut ev, Some(Duration::from_millis(50))).unwrap();
        assert!(
            !events_for(&ev, 9).iter().any(|r| r.read),
            "{:?}: no new data, no new edge",
            sel.kind()
        );
        sel.close(a.as_fd(), 9).unwrap();
    }
}

/// The event-port discipline, exercised through poll(2): a read event
/// leaves the write interest armed, and the read interest re-arms only when
/// a waiter asks again; an idle second is spent asleep.
#[test]
fn one_shot_rearm_on_the_poll_backend() {
    let sel = Selector::new(Poller::Poll).unwrap();
    let (mut a, mut b) = pair();
    fill(&mut a); // not writable: the write interest can stay armed unanswered
    sel.open(a.as_fd(), 3).unwrap();
    let fd = a.as_raw_fd();
    sel.arm(3, Interest::READ | Interest::WRITE).unwrap();
    assert_eq!(sel.armed(3, fd), Some(Interest::READ | Interest::WRITE));

    b.write_all(b"ping").unwrap();
    let mut ev = Events::new();
    sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    let got = events_for(&ev, 3);
    assert_eq!(got.len(), 1);
    assert!(got[0].read && !got[0].write);
    assert_eq!(sel.armed(3, fd), Some(Interest::WRITE), "write stays armed");

    // Still readable (nobody read), but the read interest fired: silence.
    sel.wait(&mut ev, Some(Duration::from_millis(100))).unwrap();
    assert!(
        events_for(&ev, 3).is_empty(),
        "read must not re-fire unarmed"
    );

    // An idle second: no busy loop.
    let start = Instant::now();
    let mut returns = 0;
    while start.elapsed() < Duration::from_secs(1) {
        sel.wait(&mut ev, Some(Duration::from_millis(250))).unwrap();
        assert!(events_for(&ev, 3).is_empty());
        returns += 1;
    }
    assert!(returns <= 6, "{returns} wait returns in an idle second");

    // The next waiter arms read again and is answered at once.
    sel.arm(3, Interest::READ).unwrap();
    sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    assert!(events_for(&ev, 3).iter().any(|r| r.read));

    // Draining the peer makes `a` writable: the write interest answers.
    let mut buf = vec![0u8; 1 << 20];
    while b.read(&mut buf).is_ok() {}
    sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    assert!(events_for(&ev, 3).iter().any(|r| r.write));
    assert_eq!(sel.armed(3, fd), Some(Interest::NONE));
    sel.close(a.as_fd(), 3).unwrap();
}

/// Arming while another thread sleeps in poll(2) on an older snapshot wakes
/// it, so the new interest takes effect without waiting for a timeout.
#[test]
fn arming_wakes_a_sleeping_poll() {
    let sel = std::sync::Arc::new(Selector::new(Poller::Poll).unwrap());
    let (a, mut b) = pair();
    sel.open(a.as_fd(), 4).unwrap();
    b.write_all(b"x").unwrap();
    let s2 = sel.clone();
    let sleeper = std::thread::spawn(move || {
        let mut ev = Events::new();
        let t = Instant::now();
        loop {
            s2.wait(&mut ev, Some(Duration::from_secs(10))).unwrap();
            if events_for(&ev, 4).iter().any(|r| r.read) {
                return t.elapsed();
            }
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    sel.arm(4, Interest::READ).unwrap();
    assert!(sleeper.join().unwrap() < Duration::from_secs(5));
    sel.close(a.as_fd(), 4).unwrap();
}

#[test]
fn bad_poller_name_is_a_clear_error() {
    let err = Poller::parse("kqeue").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NETPOLL_POLLER"));
    assert_eq!(Poller::parse(" Poll ").unwrap(), Poller::Poll);
}

#[cfg(target_os = "linux")]
#[test]
fn foreign_backend_is_unsupported_not_a_panic() {
    let err = Selector::new(Poller::Kqueue).err().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
}
