//! tokio's socket API on netpoll's sockets: `TcpSocket` (options before
//! bind, listen, connect), linger and buffer sizes on `TcpStream`, and
//! readiness with non-waiting I/O (`readable`, `writable`, `try_read`,
//! `try_write`, `try_send`, `try_recv`...) under Go's close and deadline
//! semantics. On both runtime flavours; the poller backend comes from
//! NETPOLL_POLLER (CI runs the file once per backend).

mod common;

use common::{fd_count, flavours, serial, SLACK};
use netpoll::io::{is_closed, is_deadline};
use netpoll::net::{TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use netpoll::time::{sleep, timeout};
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a wait whose cause is already there may take: generous, since
/// the bug it catches is a wait that never returns.
const PROMPT: Duration = Duration::from_secs(5);

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

fn would_block<T: std::fmt::Debug>(r: std::io::Result<T>) -> bool {
    match r {
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Err(e) => panic!("expected WouldBlock, got {e}"),
        Ok(v) => panic!("expected WouldBlock, got Ok({v:?})"),
    }
}

/// Runs `$body` once with a connected TCP pair and once with a Unix
/// stream pair, bound to `$a` and `$b`, with `$kind` naming the type.
macro_rules! each_stream_pair {
    (|$a:ident, $b:ident, $kind:ident| $body:block) => {{
        {
            let ($a, $b) = tcp_pair().await;
            let $kind = "tcp";
            $body
        }
        {
            let ($a, $b) = UnixStream::pair().unwrap();
            let $kind = "unix";
            $body
        }
    }};
}

/// Reads with `try_read` the tokio way: wait for readiness, try, and wait
/// again on `WouldBlock`.
macro_rules! try_read_ready {
    ($s:expr, $buf:expr) => {{
        loop {
            timeout(PROMPT, $s.readable())
                .await
                .expect("readable() hung with bytes queued")
                .unwrap();
            match $s.try_read($buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => panic!("try_read: {e}"),
            }
        }
    }};
}

/// Fills a stream's send buffer (and its peer's receive buffer) with
/// `try_write` until it says `WouldBlock`; returns the bytes written.
macro_rules! fill_with_try_write {
    ($s:expr) => {{
        let chunk = vec![7u8; 1 << 16];
        let mut written = 0usize;
        let mut rounds = 0;
        loop {
            match $s.try_write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("try_write: {e}"),
            }
            rounds += 1;
            assert!(rounds < 100_000, "the send buffer never filled");
        }
        written
    }};
}

#[test]
fn try_read_would_block_until_data_then_readable_wakes() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            each_stream_pair!(|a, b, kind| {
                let mut buf = [0u8; 64];
                assert!(would_block(b.try_read(&mut buf)), "{name} {kind}");
                let mut v = [0u8; 8];
                assert!(would_block(
                    b.try_read_vectored(&mut [IoSliceMut::new(&mut v)])
                ));

                // readable() waits for the data, written after it parked.
                let a = Arc::new(a);
                let w = a.clone();
                let writer = netpoll::spawn(async move {
                    sleep(Duration::from_millis(20)).await;
                    w.write_all(b"hello").await
                });
                let n = try_read_ready!(b, &mut buf);
                assert_eq!(&buf[..n], b"hello", "{name} {kind}");
                writer.await.unwrap().unwrap();

                // Vectored.
                a.write_all(b"xyz").await.unwrap();
                let (mut x, mut y) = ([0u8; 1], [0u8; 8]);
                let n = loop {
                    b.readable().await.unwrap();
                    let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
                    match b.try_read_vectored(&mut bufs) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                        Err(e) => panic!("{name} {kind}: {e}"),
                    }
                };
                assert_eq!((n, &x, &y[..2]), (3, b"x", &b"yz"[..]), "{name} {kind}");

                // End of stream: readable, and try_read says 0.
                a.shutdown(std::net::Shutdown::Write).unwrap();
                assert_eq!(try_read_ready!(b, &mut buf), 0, "{name} {kind}");
                // An empty buffer reads nothing, without waiting.
                assert_eq!(b.try_read(&mut []).unwrap(), 0);
            });
        });
    }
}

/// With an edge-triggered poller, a read that leaves bytes queued gets no
/// new event for them: `readable()` must still return at once. And after
/// a short read (the one that can mark the stream drained), new bytes
/// must still wake it.
#[test]
fn readable_after_a_partial_or_short_read_does_not_wait_for_a_new_event() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            each_stream_pair!(|a, b, kind| {
                let mut small = [0u8; 4];
                let mut big = [0u8; 64];

                // A try_read that leaves bytes behind.
                a.write_all(b"0123456789").await.unwrap();
                sleep(Duration::from_millis(20)).await; // the event is in
                assert_eq!(try_read_ready!(b, &mut small), 4);
                timeout(PROMPT, b.readable())
                    .await
                    .unwrap_or_else(|_| panic!("{name} {kind}: hung after a partial try_read"))
                    .unwrap();
                assert_eq!(try_read_ready!(b, &mut big), 6, "{name} {kind}");

                // A read() that leaves bytes behind.
                a.write_all(b"0123456789").await.unwrap();
                sleep(Duration::from_millis(20)).await;
                assert_eq!(b.read(&mut small).await.unwrap(), 4);
                timeout(PROMPT, b.readable())
                    .await
                    .unwrap_or_else(|_| panic!("{name} {kind}: hung after a partial read"))
                    .unwrap();
                assert_eq!(b.try_read(&mut big).unwrap(), 6, "{name} {kind}");

                // A short read() (which may mark the stream drained), then
                // bytes that come later, and bytes that come at once.
                for delay in [20, 0] {
                    a.write_all(b"abc").await.unwrap();
                    assert_eq!(b.read(&mut big).await.unwrap(), 3);
                    let w = async {
                        sleep(Duration::from_millis(delay)).await;
                        a.write_all(b"def").await.unwrap();
                    };
                    let r = async {
                        timeout(PROMPT, b.readable())
                            .await
                            .unwrap_or_else(|_| panic!("{name} {kind}: hung after a short read"))
                            .unwrap();
                    };
                    join2(w, r).await;
                    assert_eq!(try_read_ready!(b, &mut big), 3, "{name} {kind}");
                }

                // A short try_read, then more bytes.
                a.write_all(b"gh").await.unwrap();
                assert_eq!(try_read_ready!(b, &mut big), 2);
                a.write_all(b"ij").await.unwrap();
                assert_eq!(try_read_ready!(b, &mut big), 2, "{name} {kind}");
                // ...and read() still works after the try_* calls.
                a.write_all(b"kl").await.unwrap();
                assert_eq!(b.read(&mut big).await.unwrap(), 2, "{name} {kind}");
            });
        });
    }
}

/// Polls two futures together to completion (the crate has no join!).
async fn join2(a: impl std::future::Future<Output = ()>, b: impl std::future::Future<Output = ()>) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut da, mut db) = (false, false);
    std::future::poll_fn(|cx| {
        if !da {
            da = a.as_mut().poll(cx).is_ready();
        }
        if !db {
            db = b.as_mut().poll(cx).is_ready();
        }
        if da && db {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn try_write_until_would_block_then_writable_once_the_peer_drains() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            each_stream_pair!(|a, b, kind| {
                let written = fill_with_try_write!(a);
                assert!(written > 0, "{name} {kind}");
                assert!(would_block(a.try_write(b"x")));
                assert!(would_block(
                    a.try_write_vectored(&[IoSlice::new(b"x"), IoSlice::new(b"y")])
                ));

                // The peer drains everything, a little later; writable()
                // waits for it, then the last bytes go with try_write.
                let b = Arc::new(b);
                let r = b.clone();
                let drained = Arc::new(AtomicBool::new(false));
                let d = drained.clone();
                let reader = netpoll::spawn(async move {
                    sleep(Duration::from_millis(30)).await;
                    d.store(true, SeqCst);
                    let mut buf = vec![0u8; 1 << 16];
                    let mut total = 0;
                    loop {
                        match r.read(&mut buf).await.unwrap() {
                            0 => break total,
                            n => total += n,
                        }
                    }
                });
                let tail = b"the end";
                let mut sent = 0;
                while sent < tail.len() {
                    timeout(PROMPT, a.writable())
                        .await
                        .unwrap_or_else(|_| panic!("{name} {kind}: writable() hung"))
                        .unwrap();
                    match a.try_write(&tail[sent..]) {
                        Ok(n) => {
                            // Room came from the reader, not from nowhere.
                            assert!(drained.load(SeqCst), "{name} {kind}");
                            sent += n;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => panic!("{name} {kind}: {e}"),
                    }
                }
                a.shutdown(std::net::Shutdown::Write).unwrap();
                let total = timeout(PROMPT, reader).await.unwrap().unwrap();
                assert_eq!(total, written + tail.len(), "{name} {kind}");
            });
        });
    }
}

/// close() from another task wakes a pending readable() (and writable())
/// with the closed error; later try_* calls fail the same way.
#[test]
fn readiness_waits_are_woken_by_close_with_the_closed_error() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            each_stream_pair!(|a, b, kind| {
                let b = Arc::new(b);
                let waiter = b.clone();
                let started = Arc::new(AtomicBool::new(false));
                let s = started.clone();
                let read = netpoll::spawn(async move {
                    s.store(true, SeqCst);
                    let r = waiter.readable().await;
                    (r, Instant::now())
                });
                fill_with_try_write!(b);
                let writer = b.clone();
                let write = netpoll::spawn(async move {
                    let r = writer.writable().await;
                    (r, Instant::now())
                });
                while !started.load(SeqCst) {
                    sleep(Duration::from_millis(1)).await;
                }
                sleep(Duration::from_millis(20)).await;
                let closed_at = Instant::now();
                b.close().unwrap();
                for (what, task) in [("readable", read), ("writable", write)] {
                    let (r, at) = timeout(PROMPT, task).await.unwrap().unwrap();
                    let err = r.unwrap_err();
                    assert!(is_closed(&err), "{name} {kind} {what}: {err}");
                    assert!(
                        at.duration_since(closed_at) < SLACK,
                        "{name} {kind} {what}: woken late"
                    );
                }
                assert!(is_closed(&b.try_read(&mut [0; 4]).unwrap_err()));
                assert!(is_closed(&b.try_write(b"x").unwrap_err()));
                assert!(is_closed(&b.readable().await.unwrap_err()));
                drop(a);
            });

            // Datagram sockets.
            let u = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let w = u.clone();
            let read = netpoll::spawn(async move { w.readable().await });
            sleep(Duration::from_millis(20)).await;
            u.close().unwrap();
            let err = timeout(PROMPT, read).await.unwrap().unwrap().unwrap_err();
            assert!(is_closed(&err), "{name} udp: {err}");
            assert!(is_closed(&u.try_recv(&mut [0; 4]).unwrap_err()));
            assert!(is_closed(&u.try_send_to(b"x", u_addr()).unwrap_err()));

            let (d, _peer) = UnixDatagram::pair().unwrap();
            let d = Arc::new(d);
            let w = d.clone();
            let read = netpoll::spawn(async move { w.readable().await });
            sleep(Duration::from_millis(20)).await;
            d.close().unwrap();
            let err = timeout(PROMPT, read).await.unwrap().unwrap().unwrap_err();
            assert!(is_closed(&err), "{name} unixgram: {err}");
            assert!(is_closed(&d.try_send(b"x").unwrap_err()));
        });
    }
}

fn u_addr() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// A read deadline that passes during readable() fails it with the
/// deadline error, on time; one already passed fails it (and try_read)
/// at once; clearing it makes the socket usable again. Likewise for
/// writes.
#[test]
fn readiness_waits_fail_with_the_deadline_error() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            each_stream_pair!(|a, b, kind| {
                let start = Instant::now();
                b.set_read_deadline(Some(start + Duration::from_millis(30)))
                    .unwrap();
                let err = b.readable().await.unwrap_err();
                let took = start.elapsed();
                assert!(is_deadline(&err), "{name} {kind}: {err}");
                assert!(took >= Duration::from_millis(30), "{name} {kind}: early");
                assert!(
                    took < Duration::from_millis(30) + SLACK,
                    "{name} {kind}: late {took:?}"
                );
                // Passed: at once, even with data queued.
                a.write_all(b"x").await.unwrap();
                assert!(is_deadline(&b.readable().await.unwrap_err()));
                assert!(is_deadline(&b.try_read(&mut [0; 4]).unwrap_err()));
                b.set_read_deadline(None).unwrap();
                assert_eq!(try_read_ready!(b, &mut [0; 4]), 1, "{name} {kind}");

                // The write side: a past deadline fails writable() even
                // though there is room.
                b.set_write_deadline(Some(Instant::now())).unwrap();
                assert!(is_deadline(&b.writable().await.unwrap_err()));
                assert!(is_deadline(&b.try_write(b"x").unwrap_err()));
                b.set_write_deadline(None).unwrap();
                b.writable().await.unwrap();
                // And one that passes while writable() waits.
                fill_with_try_write!(b);
                b.set_write_deadline(Some(Instant::now() + Duration::from_millis(30)))
                    .unwrap();
                let err = timeout(PROMPT, b.writable()).await.unwrap().unwrap_err();
                assert!(is_deadline(&err), "{name} {kind}: {err}");
            });

            let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            u.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)))
                .unwrap();
            let err = timeout(PROMPT, u.readable()).await.unwrap().unwrap_err();
            assert!(is_deadline(&err), "{name} udp: {err}");
            let (d, _peer) = UnixDatagram::pair().unwrap();
            d.set_read_deadline(Some(Instant::now())).unwrap();
            assert!(is_deadline(&d.readable().await.unwrap_err()));
            assert!(is_deadline(&d.try_recv(&mut [0; 4]).unwrap_err()));
        });
    }
}

#[test]
fn datagram_try_send_and_try_recv() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            // UDP, unconnected and connected.
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = [0u8; 16];
            assert!(would_block(b.try_recv(&mut buf)));
            assert!(would_block(b.try_recv_from(&mut buf)));
            a.writable().await.unwrap();
            assert_eq!(a.try_send_to(b"one", b.local_addr().unwrap()).unwrap(), 3);
            let from = loop {
                timeout(PROMPT, b.readable()).await.unwrap().unwrap();
                match b.try_recv_from(&mut buf) {
                    Ok((n, from)) => {
                        assert_eq!(&buf[..n], b"one", "{name}");
                        break from;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{name}: {e}"),
                }
            };
            assert_eq!(from, a.local_addr().unwrap());
            a.connect(b.local_addr().unwrap()).await.unwrap();
            b.connect(a.local_addr().unwrap()).await.unwrap();
            assert_eq!(a.try_send(b"two").unwrap(), 3);
            timeout(PROMPT, b.readable()).await.unwrap().unwrap();
            // peek leaves the datagram for try_recv.
            assert_eq!(b.peek(&mut buf).await.unwrap(), 3, "{name}");
            assert_eq!(b.try_recv(&mut buf).unwrap(), 3, "{name}");
            assert_eq!(&buf[..3], b"two");
            assert!(would_block(b.try_recv(&mut buf)));

            // Unix datagrams: a pair, then bound sockets by path.
            let (x, y) = UnixDatagram::pair().unwrap();
            assert!(would_block(y.try_recv(&mut buf)));
            assert_eq!(x.try_send(b"abc").unwrap(), 3);
            timeout(PROMPT, y.readable()).await.unwrap().unwrap();
            assert_eq!(y.try_recv(&mut buf).unwrap(), 3, "{name}");

            // A full queue: try_send says WouldBlock, writable() waits for
            // the peer to take some.
            let mut sent = 0;
            while x.try_send(&[1u8; 512]).is_ok() {
                sent += 1;
                assert!(sent < 1_000_000, "{name}: the queue never filled");
            }
            assert!(would_block(x.try_send(b"x")));
            let y = Arc::new(y);
            let r = y.clone();
            let reader = netpoll::spawn(async move {
                sleep(Duration::from_millis(20)).await;
                let mut buf = [0u8; 512];
                let mut got = 0;
                while got < sent {
                    r.recv(&mut buf).await.unwrap();
                    got += 1;
                }
                got
            });
            loop {
                timeout(PROMPT, x.writable()).await.unwrap().unwrap();
                match x.try_send(b"last") {
                    Ok(n) => break assert_eq!(n, 4),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{name}: {e}"),
                }
            }
            timeout(PROMPT, reader).await.unwrap().unwrap();
            assert_eq!(y.recv(&mut buf).await.unwrap(), 4);

            let dir = std::env::temp_dir()
                .join(format!("netpoll-socket-api-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let (pa, pb) = (dir.join("a"), dir.join("b"));
            let da = UnixDatagram::bind(&pa).unwrap();
            let db = UnixDatagram::bind(&pb).unwrap();
            assert_eq!(da.try_send_to(b"hey", &pb).unwrap(), 3);
            timeout(PROMPT, db.readable()).await.unwrap().unwrap();
            let (n, from) = db.try_recv_from(&mut buf).unwrap();
            assert_eq!((n, from.as_pathname()), (3, Some(pa.as_path())), "{name}");
            assert!(would_block(db.try_recv_from(&mut buf)));
            // A path with a NUL is refused before any syscall.
            let bad = std::path::Path::new("x\0y");
            assert_eq!(
                da.try_send_to(b"x", bad).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
            std::fs::remove_dir_all(&dir).unwrap();
        });
    }
}

/// A readiness wait is an operation like any other: it spends the task's
/// budget, so a loop of waits that are always ready still yields.
#[test]
fn readiness_waits_spend_the_budget_and_try_calls_do_not_wait() {
    let _serial = serial();
    async fn count_polls<F: std::future::Future>(fut: F) -> usize {
        let mut fut = std::pin::pin!(fut);
        let mut polls = 0;
        std::future::poll_fn(|cx| {
            polls += 1;
            fut.as_mut().poll(cx).map(|_| ())
        })
        .await;
        polls
    }
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"x").await.unwrap();
            let waits = async move {
                for _ in 0..1000 {
                    b.readable().await.unwrap();
                    b.writable().await.unwrap();
                }
            };
            let polls = timeout(PROMPT, netpoll::spawn(count_polls(waits)))
                .await
                .expect("ready waits hung with data queued")
                .unwrap();
            assert!(
                polls >= 2000 / 128,
                "{name}: 2000 ready waits in {polls} polls"
            );
            drop(a);
        });
    }
}

/// A try_* call never waits for the socket's lock: while a read holds it
/// (parked for more data), try_read says WouldBlock even with bytes
/// queued, and leaves them to that read. (Deterministic on the
/// current-thread runtime, where the parked read cannot run before the
/// try; on the multi-thread one the read may take the bytes first, and
/// the answer is WouldBlock too.)
#[test]
fn try_read_does_not_wait_behind_a_read_in_progress() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let b = Arc::new(b);
            let r = b.clone();
            let read = netpoll::spawn(async move {
                let mut buf = [0u8; 4];
                r.read_exact(&mut buf).await.map(|()| buf)
            });
            // read_exact takes "ab" and holds the read lock, waiting for
            // the other two bytes.
            a.write_all(b"ab").await.unwrap();
            sleep(Duration::from_millis(20)).await;
            a.write_all(b"cd").await.unwrap();
            let mut buf = [0u8; 4];
            assert!(would_block(b.try_read(&mut buf)), "{name}");
            let got = timeout(PROMPT, read).await.unwrap().unwrap().unwrap();
            assert_eq!(&got, b"abcd", "{name}");
        });
    }
}

/// Whether this host has IPv6 loopback; tests of `[::1]` skip without it.
fn have_v6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn tcp_socket_options_round_trip_and_bind_listen_connect_v4_and_v6() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let mut families = vec![("v4", "127.0.0.1:0")];
            if have_v6() {
                families.push(("v6", "[::1]:0"));
            } else {
                eprintln!("no IPv6 loopback here: the v6 half is skipped");
            }
            for (fam, local) in families {
                let new = || match fam {
                    "v4" => TcpSocket::new_v4(),
                    _ => TcpSocket::new_v6(),
                };
                let s = new().unwrap();
                s.set_reuseaddr(true).unwrap();
                assert!(s.reuseaddr().unwrap());
                s.set_reuseaddr(false).unwrap();
                assert!(!s.reuseaddr().unwrap());
                // illumos and Solaris have no SO_REUSEPORT.
                #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
                {
                    s.set_reuseport(true).unwrap();
                    assert!(s.reuseport().unwrap());
                    s.set_reuseport(false).unwrap();
                    assert!(!s.reuseport().unwrap());
                }
                if fam == "v6" {
                    s.set_only_v6(true).unwrap();
                    assert!(s.only_v6().unwrap());
                    s.set_only_v6(false).unwrap();
                    assert!(!s.only_v6().unwrap());
                } else {
                    // IPV6_V6ONLY on an IPv4 socket: the kernel's errno.
                    let err = s.set_only_v6(true).unwrap_err();
                    assert!(err.raw_os_error().is_some(), "{name}: {err}");
                }
                s.set_send_buffer_size(64 * 1024).unwrap();
                assert!(s.send_buffer_size().unwrap() >= 64 * 1024, "{name} {fam}");
                s.set_recv_buffer_size(64 * 1024).unwrap();
                assert!(s.recv_buffer_size().unwrap() >= 64 * 1024, "{name} {fam}");
                s.set_nodelay(true).unwrap();
                assert!(s.nodelay().unwrap());
                s.set_keepalive(true).unwrap();
                assert!(s.keepalive().unwrap());
                assert_eq!(s.linger().unwrap(), None);
                s.set_linger(Some(Duration::from_secs(3))).unwrap();
                assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(3)));
                s.set_linger(None).unwrap();
                assert!(s.take_error().unwrap().is_none());

                // Bind, listen, connect; the options carry over.
                s.bind(local.parse().unwrap()).unwrap();
                let addr = s.local_addr().unwrap();
                assert_ne!(addr.port(), 0);
                let listener = s.listen(16).unwrap();
                assert_eq!(listener.local_addr().unwrap(), addr);
                let c = new().unwrap();
                c.set_nodelay(true).unwrap();
                c.set_linger(Some(Duration::ZERO)).unwrap();
                let client = timeout(PROMPT, c.connect(addr)).await.unwrap().unwrap();
                let (server, peer) = listener.accept().await.unwrap();
                assert_eq!(peer, client.local_addr().unwrap(), "{name} {fam}");
                assert!(client.nodelay().unwrap());
                assert_eq!(client.linger().unwrap(), Some(Duration::ZERO));
                client.write_all(b"ping").await.unwrap();
                let mut buf = [0u8; 4];
                server.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"ping");
                // Zero linger: close resets, the peer sees ECONNRESET.
                client.close().unwrap();
                let err = timeout(PROMPT, server.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{name} {fam}");
            }
        });
    }
}

#[test]
fn linger_and_buffer_sizes_on_a_stream_and_linger_rounding() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, _s) = tcp_pair().await;
            assert_eq!(c.linger().unwrap(), None);
            c.set_linger(Some(Duration::from_secs(2))).unwrap();
            assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(2)));
            // A fraction rounds up: only ZERO is an abortive close
            // (socket2 alone truncates 500 ms to 0).
            c.set_linger(Some(Duration::from_millis(500))).unwrap();
            assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(1)), "{name}");
            // 2^32 s would wrap to 0 as a C int: capped instead.
            c.set_linger(Some(Duration::from_secs(1 << 32))).unwrap();
            assert!(
                c.linger().unwrap().is_some_and(|d| d > Duration::ZERO),
                "{name}: {:?}",
                c.linger()
            );
            c.set_linger(None).unwrap();
            assert_eq!(c.linger().unwrap(), None);

            c.set_send_buffer_size(48 * 1024).unwrap();
            assert!(c.send_buffer_size().unwrap() >= 48 * 1024, "{name}");
            c.set_recv_buffer_size(48 * 1024).unwrap();
            assert!(c.recv_buffer_size().unwrap() >= 48 * 1024, "{name}");
            // Past i32::MAX: capped (the kernel clamps to its maximum),
            // not wrapped negative.
            c.set_send_buffer_size(u32::MAX).unwrap();
            assert!(c.send_buffer_size().unwrap() >= 48 * 1024, "{name}");

            // TcpSocket's sizes use the same conversion.
            let s = TcpSocket::new_v4().unwrap();
            s.set_recv_buffer_size(u32::MAX).unwrap();
            assert!(s.recv_buffer_size().unwrap() > 0);
            s.set_linger(Some(Duration::from_millis(1))).unwrap();
            assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(1)));

            c.close().unwrap();
            assert!(is_closed(&c.set_linger(None).unwrap_err()));
            assert!(is_closed(&c.send_buffer_size().unwrap_err()));
        });
    }
}

/// The states of the local TCP sockets on `port` (Linux: /proc/net/tcp
/// and tcp6, hex fields; TIME_WAIT is 06). `None` where /proc has no
/// such file.
fn tcp_states_on_port(port: u16) -> Option<Vec<u8>> {
    let mut states = Vec::new();
    let mut any = false;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        any = true;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f.get(1).and_then(|a| a.rsplit(':').next());
            if local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                if let Some(st) = f.get(3).and_then(|s| u8::from_str_radix(s, 16).ok()) {
                    states.push(st);
                }
            }
        }
    }
    any.then_some(states)
}

const TIME_WAIT: u8 = 6;

#[test]
fn reuseaddr_lets_a_new_listener_bind_a_port_held_in_time_wait() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let first = TcpSocket::new_v4().unwrap();
            first.set_reuseaddr(true).unwrap();
            first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = first.local_addr().unwrap();
            let listener = first.listen(16).unwrap();
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            // The server closes first, so its end (on the listening port)
            // goes to TIME_WAIT once the client's FIN comes back.
            server.close().unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(
                timeout(PROMPT, client.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap(),
                0
            );
            client.close().unwrap();
            listener.close().unwrap();
            let start = Instant::now();
            if let Some(mut states) = tcp_states_on_port(addr.port()) {
                while !states.contains(&TIME_WAIT) {
                    assert!(start.elapsed() < PROMPT, "{name}: no TIME_WAIT: {states:?}");
                    sleep(Duration::from_millis(5)).await;
                    states = tcp_states_on_port(addr.port()).unwrap();
                }
            }

            // Without SO_REUSEADDR the port is taken...
            let plain = TcpSocket::new_v4().unwrap();
            let err = plain.bind(addr).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{name}: {err}");
            // ...with it, a new listener binds and serves at once.
            let second = TcpSocket::new_v4().unwrap();
            second.set_reuseaddr(true).unwrap();
            second.bind(addr).unwrap();
            let listener = second.listen(16).unwrap();
            let c = TcpStream::connect(addr).await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            c.write_all(b"again").await.unwrap();
            let mut got = [0u8; 5];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"again", "{name}");
        });
    }
}

/// Failures give the kernel's errno, and nothing leaks: sockets made,
/// configured, bound, refused, listened on, connected and dropped (also
/// mid-connect) in a loop leave the fd count where it was.
#[test]
fn tcp_socket_errors_are_clean_and_leak_no_fds() {
    let _serial = serial();
    // Outside a runtime: the options work, listen needs one.
    let before = fd_count();
    let s = TcpSocket::new_v4().unwrap();
    s.set_reuseaddr(true).unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let err = s.listen(16).unwrap_err();
    assert!(err.to_string().contains("no runtime"), "{err}");
    assert_eq!(fd_count(), before, "a socket leaked by a failed listen");

    for (name, rt) in flavours() {
        rt.block_on(async {
            // Warm up anything the runtime makes on first use.
            let _ = tcp_pair().await;
            let before = fd_count();
            for _ in 0..20 {
                let taken = TcpSocket::new_v4().unwrap();
                taken.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let addr = taken.local_addr().unwrap();
                // Bound, not listening: a connect to it is refused.
                let err = TcpSocket::new_v4()
                    .unwrap()
                    .connect(addr)
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{name}: {err}");
                // In use.
                let again = TcpSocket::new_v4().unwrap();
                assert_eq!(again.bind(addr).unwrap_err().kind(), ErrorKind::AddrInUse);
                // The wrong family: the kernel's errno.
                let v4 = TcpSocket::new_v4().unwrap();
                let err = v4.bind("[::1]:0".parse().unwrap()).unwrap_err();
                assert!(err.raw_os_error().is_some(), "{name}: {err}");
                // A round trip, then drop everything.
                let l = taken.listen(4).unwrap();
                let c = TcpSocket::new_v4().unwrap().connect(addr).await.unwrap();
                let (s, _) = l.accept().await.unwrap();
                c.try_write(b"x").unwrap();
                assert_eq!(try_read_ready!(s, &mut [0; 1]), 1);
                // A connect abandoned before it ends (the backlog of 4
                // may or may not hold it): dropping closes the socket.
                let pending = TcpSocket::new_v4().unwrap().connect(addr);
                let _ = timeout(Duration::from_millis(1), pending).await;
                drop((l, c, s));
            }
            // Let any close that runs when its last operation leaves run.
            sleep(Duration::from_millis(20)).await;
            assert_eq!(fd_count(), before, "{name}: fds leaked");
        });
    }
}

#[test]
fn tcp_socket_conversions() {
    let _serial = serial();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    for (name, rt) in flavours() {
        rt.block_on(async {
            // Through an OwnedFd and back.
            let fd: std::os::fd::OwnedFd = TcpSocket::new_v4().unwrap().into();
            let s = TcpSocket::from(fd);
            assert!(std::os::fd::AsRawFd::as_raw_fd(&s) >= 0);
            assert!(format!("{s:?}").starts_with("TcpSocket"));
            let stream = s.connect(addr).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), addr, "{name}");
            // A blocking std socket, bound but not connected (std makes
            // one only by way of a listener, so the fd is borrowed from a
            // fresh TcpSocket): connect makes it non-blocking first.
            let fd: std::os::fd::OwnedFd = TcpSocket::new_v4().unwrap().into();
            let std_stream = std::net::TcpStream::from(fd);
            let s = TcpSocket::from_std_stream(std_stream);
            s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let local = s.local_addr().unwrap();
            let stream = timeout(PROMPT, s.connect(addr)).await.unwrap().unwrap();
            assert_eq!(stream.local_addr().unwrap(), local, "{name}");
        });
    }
}

/// The keep-alive idle time is whole seconds in the kernel; a fraction
/// rounds up, as Go's `SetKeepAlivePeriod` does (socket2 alone truncates
/// 500 ms to 0, which Linux refuses with EINVAL after turning keep-alive
/// on: an error with the option half set).
#[test]
fn keepalive_idle_time_rounds_up_to_whole_seconds() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, _s) = tcp_pair().await;
            c.set_keepalive(Some(Duration::from_millis(500)))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(c.keepalive().unwrap());
            let idle = c
                .with_fd(|fd| socket2::SockRef::from(&fd).tcp_keepalive_time())
                .unwrap()
                .unwrap();
            assert_eq!(idle, Duration::from_secs(1), "{name}");
            c.set_keepalive(Some(Duration::from_secs(30))).unwrap();
            c.set_keepalive(None).unwrap();
            assert!(!c.keepalive().unwrap());
        });
    }
}
