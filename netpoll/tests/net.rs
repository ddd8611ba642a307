//! Sockets with Go's close and deadline semantics: the cases of Go's net
//! timeout and close tests, written fresh, on both runtime flavours. The
//! poller backend comes from NETPOLL_POLLER (CI runs the file once per
//! backend).

mod common;

use common::{fd_count, flavours, serial, SLACK};
use netpoll::io::{is_closed, is_deadline};
use netpoll::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use netpoll::time::sleep;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connected pair over loopback TCP.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// Fills the socket's send buffer (and the peer's receive buffer) until a
/// write would wait.
async fn fill(s: &TcpStream) {
    let chunk = vec![0u8; 1 << 16];
    loop {
        s.set_write_deadline(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
        match s.write(&chunk).await {
            Ok(_) => {}
            Err(e) if is_deadline(&e) => break,
            Err(e) => panic!("fill: {e}"),
        }
    }
    s.set_write_deadline(None).unwrap();
}

#[test]
fn read_deadline_fires_on_time_and_moving_it_makes_the_stream_usable() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, s) = tcp_pair().await;
            let start = Instant::now();
            let at = start + Duration::from_millis(30);
            c.set_read_deadline(Some(at)).unwrap();
            let err = c.read(&mut [0; 8]).await.unwrap_err();
            let took = start.elapsed();
            assert!(is_deadline(&err), "{name}: {err}");
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            assert!(took >= Duration::from_millis(30), "{name}: early {took:?}");
            assert!(
                took < Duration::from_millis(30) + SLACK,
                "{name}: late {took:?}"
            );
            // Still expired for the next read...
            assert!(is_deadline(&c.read(&mut [0; 8]).await.unwrap_err()));
            // ...until the deadline moves.
            c.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)))
                .unwrap();
            s.write_all(b"ok").await.unwrap();
            let mut buf = [0; 2];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ok", "{name}");
        });
    }
}

#[test]
fn write_deadline_with_a_full_socket_buffer() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, _s) = tcp_pair().await;
            fill(&c).await;
            let start = Instant::now();
            c.set_write_deadline(Some(start + Duration::from_millis(30)))
                .unwrap();
            let err = c.write_all(&[1; 1 << 16]).await.unwrap_err();
            assert!(is_deadline(&err), "{name}: {err}");
            let took = start.elapsed();
            assert!(
                took < Duration::from_millis(30) + SLACK,
                "{name}: late {took:?}"
            );
        });
    }
}

/// Rounds a timing test may retry when the machine stalled so long that a
/// round proves nothing (a step meant to come before a deadline came after
/// it). Timers never fire early, so a round that kept its schedule decides.
const ROUNDS: usize = 5;

/// A connected pair whose first end has a read deadline `ms` from the
/// returned instant and a task reading from it.
async fn read_waiting_with_deadline(
    ms: u64,
) -> (
    Arc<TcpStream>,
    TcpStream,
    Instant,
    netpoll::task::JoinHandle<std::io::Result<usize>>,
) {
    let (c, s) = tcp_pair().await;
    let c = Arc::new(c);
    let start = Instant::now();
    c.set_read_deadline(Some(start + Duration::from_millis(ms)))
        .unwrap();
    let reader = c.clone();
    let read = netpoll::spawn(async move { reader.read(&mut [0; 8]).await });
    (c, s, start, read)
}

#[test]
fn deadline_extended_and_shortened_while_a_read_waits() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            for round in 1..=ROUNDS {
                let (c, _s, start, read) = read_waiting_with_deadline(40).await;
                // Extend before expiry: the first timer must not fire.
                sleep(Duration::from_millis(10)).await;
                c.set_read_deadline(Some(start + Duration::from_millis(120)))
                    .unwrap();
                let extended_in_time = start.elapsed() < Duration::from_millis(40);
                sleep(Duration::from_millis(60)).await;
                let finished = read.is_finished();
                if !extended_in_time || start.elapsed() >= Duration::from_millis(120) {
                    assert!(round < ROUNDS, "{name}: every round stalled");
                    continue;
                }
                assert!(!finished, "{name}: the old deadline fired");
                // Shorten: it fires at the new, earlier time.
                let shortened = Instant::now();
                c.set_read_deadline(Some(shortened + Duration::from_millis(10)))
                    .unwrap();
                let err = read.await.unwrap().unwrap_err();
                assert!(is_deadline(&err), "{name}: {err}");
                let took = shortened.elapsed();
                assert!(took < Duration::from_millis(10) + SLACK, "{name}: {took:?}");
                break;
            }
        });
    }
}

#[test]
fn deadline_in_the_past_fails_at_once_and_wakes_a_waiter() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, _s) = tcp_pair().await;
            let c = Arc::new(c);
            let reader = c.clone();
            let read = netpoll::spawn(async move { reader.read(&mut [0; 8]).await });
            sleep(Duration::from_millis(10)).await;
            let start = Instant::now();
            c.set_read_deadline(Some(Instant::now() - Duration::from_secs(1)))
                .unwrap();
            assert!(is_deadline(&read.await.unwrap().unwrap_err()), "{name}");
            assert!(start.elapsed() < SLACK, "{name}");
            // A new operation fails at once without waiting.
            assert!(is_deadline(&c.read(&mut [0; 8]).await.unwrap_err()));
            // Writes are unaffected.
            c.write_all(b"x").await.unwrap();
        });
    }
}

#[test]
fn clearing_a_deadline_lets_a_waiting_read_finish() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            for round in 1..=ROUNDS {
                let (c, s, start, read) = read_waiting_with_deadline(30).await;
                sleep(Duration::from_millis(5)).await;
                c.set_read_deadline(None).unwrap();
                if start.elapsed() >= Duration::from_millis(30) {
                    assert!(round < ROUNDS, "{name}: every round stalled");
                    continue;
                }
                sleep(Duration::from_millis(60)).await;
                assert!(!read.is_finished(), "{name}: a cleared deadline fired");
                s.write_all(b"late").await.unwrap();
                assert_eq!(read.await.unwrap().unwrap(), 4, "{name}");
                break;
            }
        });
    }
}

#[test]
fn equal_read_and_write_deadlines_fire_both() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, _s) = tcp_pair().await;
            fill(&c).await;
            let c = Arc::new(c);
            c.set_deadline(Some(Instant::now() + Duration::from_millis(30)))
                .unwrap();
            let (r, w) = (c.clone(), c.clone());
            let read = netpoll::spawn(async move { r.read(&mut [0; 8]).await });
            let write = netpoll::spawn(async move { w.write_all(&[0; 1 << 16]).await });
            assert!(is_deadline(&read.await.unwrap().unwrap_err()), "{name}");
            assert!(is_deadline(&write.await.unwrap().unwrap_err()), "{name}");
        });
    }
}

#[test]
fn close_from_another_task_wakes_read_write_and_accept() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let before = netpoll::metrics::snapshot().closes_with_waiters;
            let (c, _s) = tcp_pair().await;
            fill(&c).await;
            let c = Arc::new(c);
            let l = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let (r, w, a) = (c.clone(), c.clone(), l.clone());
            // Each task counts itself in as it starts its operation, so a
            // worker slow to pick the tasks up cannot leave one unparked
            // at the close (the metric below counts parked waiters only).
            let started = Arc::new(AtomicUsize::new(0));
            let (s1, s2, s3) = (started.clone(), started.clone(), started.clone());
            let read = netpoll::spawn(async move {
                s1.fetch_add(1, SeqCst);
                r.read(&mut [0; 8]).await.map(drop)
            });
            // Writes until one blocks: the send buffer was full, but the
            // kernel may still grow it or move bytes to the peer a while
            // after `fill` gave up (a 64 KiB write once completed before
            // the close under qemu), so a single write could finish first.
            let write = netpoll::spawn(async move {
                s2.fetch_add(1, SeqCst);
                loop {
                    w.write_all(&[0; 1 << 16]).await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), std::io::Error>(())
            });
            let accept = netpoll::spawn(async move {
                s3.fetch_add(1, SeqCst);
                a.accept().await.map(drop)
            });
            while started.load(SeqCst) < 3 {
                sleep(Duration::from_millis(1)).await;
            }
            sleep(Duration::from_millis(20)).await;
            let start = Instant::now();
            c.close().unwrap();
            l.close().unwrap();
            for (op, h) in [("read", read), ("write", write), ("accept", accept)] {
                let err = h.await.unwrap().unwrap_err();
                assert!(is_closed(&err), "{name} {op}: {err}");
            }
            assert!(start.elapsed() < SLACK, "{name}: {:?}", start.elapsed());
            // Later operations fail at once; a second close says closed.
            assert!(is_closed(&c.read(&mut [0; 1]).await.unwrap_err()));
            assert!(is_closed(&c.write(b"x").await.unwrap_err()));
            assert!(is_closed(&c.set_read_deadline(None).unwrap_err()));
            assert!(is_closed(&c.close().unwrap_err()));
            assert!(is_closed(&l.accept().await.unwrap_err()));
            let after = netpoll::metrics::snapshot().closes_with_waiters;
            assert!(after >= before + 2, "{name}: metric {before} -> {after}");
        });
    }
}

#[test]
fn close_wakes_an_operation_queued_for_the_lock() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, _s) = tcp_pair().await;
            let c = Arc::new(c);
            // Two reads: the second waits for the first's read lock.
            let (r1, r2) = (c.clone(), c.clone());
            let first = netpoll::spawn(async move { r1.read(&mut [0; 8]).await });
            sleep(Duration::from_millis(5)).await;
            let second = netpoll::spawn(async move { r2.read(&mut [0; 8]).await });
            sleep(Duration::from_millis(5)).await;
            c.close().unwrap();
            assert!(is_closed(&first.await.unwrap().unwrap_err()), "{name}");
            assert!(is_closed(&second.await.unwrap().unwrap_err()), "{name}");
        });
    }
}

#[test]
fn concurrent_reader_and_writer_on_one_shared_stream() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            const N: usize = 1 << 20;
            let (a, b) = tcp_pair().await;
            let (a, b) = (Arc::new(a), Arc::new(b));
            // Each side writes N bytes while reading N from the other, with
            // the reading and the writing in different tasks.
            let mut tasks = Vec::new();
            for (s, seed) in [(a.clone(), 1u8), (b.clone(), 2u8)] {
                let w = s.clone();
                tasks.push(netpoll::spawn(async move {
                    let data: Vec<u8> = (0..N).map(|i| (i as u8).wrapping_mul(seed)).collect();
                    w.write_all(&data).await.unwrap();
                    0
                }));
                let other = 3 - seed;
                tasks.push(netpoll::spawn(async move {
                    let mut got = vec![0u8; N];
                    s.read_exact(&mut got).await.unwrap();
                    let bad = got
                        .iter()
                        .enumerate()
                        .filter(|(i, &v)| v != (*i as u8).wrapping_mul(other))
                        .count();
                    bad
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), 0, "{name}: corrupted bytes");
            }
        });
    }
}

#[test]
fn no_fd_leak_after_connect_close_cycles_and_racing_closes() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            for i in 0..10_000 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (s, _) = l.accept().await.unwrap();
                if i % 2 == 0 {
                    c.close().unwrap();
                } // else: dropped
                drop(s);
            }
            // Closes racing pending operations: a read parked or about to
            // park while another task closes.
            for i in 0..3_000u32 {
                let c = Arc::new(TcpStream::connect(addr).await.unwrap());
                let (_s, _) = l.accept().await.unwrap();
                let r = c.clone();
                let read = netpoll::spawn(async move { r.read(&mut [0; 4]).await });
                if i % 3 == 0 {
                    netpoll::task::yield_now().await;
                }
                c.close().unwrap();
                let err = read.await.unwrap().unwrap_err();
                assert!(is_closed(&err), "{err}");
            }
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn udp_send_recv_and_close_wakes_recv() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            a.send_to(b"dgram", b.local_addr().unwrap()).await.unwrap();
            let mut buf = [0; 16];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"dgram"[..], a.local_addr().unwrap()));
            b.set_read_deadline(Some(Instant::now() + Duration::from_millis(10)))
                .unwrap();
            assert!(is_deadline(&b.recv(&mut buf).await.unwrap_err()), "{name}");
            b.set_read_deadline(None).unwrap();
            let r = b.clone();
            let recv = netpoll::spawn(async move { r.recv(&mut [0; 4]).await });
            sleep(Duration::from_millis(5)).await;
            b.close().unwrap();
            assert!(is_closed(&recv.await.unwrap().unwrap_err()), "{name}");
        });
    }
}

#[test]
fn unix_stream_and_datagram() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            let dir =
                std::env::temp_dir().join(format!("netpoll-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            let path = dir.join("s.sock");
            let l = UnixListener::bind(&path).unwrap();
            let c = UnixStream::connect(&path).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            c.write_all(b"unix").await.unwrap();
            let mut buf = [0; 4];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"unix");
            assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));

            let dpath = dir.join("d.sock");
            let d = UnixDatagram::bind(&dpath).unwrap();
            let u = UnixDatagram::unbound().unwrap();
            u.send_to(b"hey", &dpath).await.unwrap();
            let (n, from) = d.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, 3);
            assert!(from.is_unnamed(), "{name}: {from:?}");
            std::fs::remove_dir_all(&dir).unwrap();
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn futures_io_traits_on_shared_references() {
    use futures_io::{AsyncRead, AsyncWrite};
    use std::future::poll_fn;
    use std::pin::Pin;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut wa = &a;
            let n = poll_fn(|cx| Pin::new(&mut wa).poll_write(cx, b"trait"))
                .await
                .unwrap();
            assert_eq!(n, 5);
            poll_fn(|cx| Pin::new(&mut wa).poll_close(cx))
                .await
                .unwrap();
            let mut rb = &b;
            let mut buf = [0; 8];
            let n = poll_fn(|cx| Pin::new(&mut rb).poll_read(cx, &mut buf))
                .await
                .unwrap();
            assert_eq!(&buf[..n], b"trait", "{name}");
            let eof = poll_fn(|cx| Pin::new(&mut rb).poll_read(cx, &mut buf))
                .await
                .unwrap();
            assert_eq!(eof, 0, "{name}: EOF after poll_close");
        });
    }
}

#[test]
fn a_poll_read_waiting_behind_an_async_read_is_not_lost() {
    use futures_io::AsyncRead;
    use std::future::poll_fn;
    use std::pin::Pin;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let b = Arc::new(b);
            // A poll-style reader parks first, then an async read takes the
            // lock and parks too; both must finish once data comes.
            let p = b.clone();
            let polled = netpoll::spawn(async move {
                let mut r = &*p;
                let mut buf = [0; 1];
                poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf)).await
            });
            sleep(Duration::from_millis(5)).await;
            let q = b.clone();
            let awaited = netpoll::spawn(async move { q.read(&mut [0; 1]).await });
            sleep(Duration::from_millis(5)).await;
            a.write_all(b"12").await.unwrap();
            assert_eq!(awaited.await.unwrap().unwrap(), 1, "{name}");
            assert_eq!(polled.await.unwrap().unwrap(), 1, "{name}");
        });
    }
}

#[test]
fn data_after_a_short_read_is_never_missed() {
    // A short read marks the stream drained, so the next read waits for an
    // event before it reads. Whatever arrives later must still be read, by
    // every kind of read, and a full read must leave no such mark (with an
    // edge-triggered poller no new event comes for data already queued).
    use futures_io::AsyncRead;
    use netpoll::time::timeout;
    use std::future::poll_fn;
    use std::pin::Pin;
    const LONG: Duration = Duration::from_secs(5);
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, s) = tcp_pair().await;
            let mut buf = [0u8; 64];
            for _ in 0..50 {
                c.write_all(b"ping").await.unwrap();
                assert_eq!(timeout(LONG, s.read(&mut buf)).await.unwrap().unwrap(), 4);
                s.write_all(b"pong").await.unwrap();
                assert_eq!(timeout(LONG, c.read(&mut buf)).await.unwrap().unwrap(), 4);
            }
            // Drained: a peek sees later data, and the read after it too.
            c.write_all(b"ab").await.unwrap();
            let n = timeout(LONG, s.peek(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"ab", "{name}");
            let n = timeout(LONG, s.read(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"ab", "{name}");
            // A read that gives up while drained, then data.
            assert!(timeout(Duration::from_millis(20), s.read(&mut buf))
                .await
                .is_err());
            c.write_all(b"cd").await.unwrap();
            let n = timeout(LONG, s.read(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"cd", "{name}");
            // A full read leaves the rest to be read with no new event.
            c.write_all(&[7; 100]).await.unwrap();
            sleep(Duration::from_millis(20)).await;
            assert_eq!(s.read(&mut buf).await.unwrap(), 64, "{name}");
            let rest = timeout(LONG, s.read(&mut buf)).await;
            assert_eq!(
                rest.expect("the rest of a full read").unwrap(),
                36,
                "{name}"
            );
            // The poll form and the vectored form.
            c.write_all(b"ef").await.unwrap();
            let mut r = &s;
            let n = timeout(LONG, poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], b"ef", "{name}");
            c.write_all(b"gh").await.unwrap();
            let n = timeout(LONG, poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], b"gh", "{name}");
            c.write_all(b"ij").await.unwrap();
            let (mut x, mut y) = ([0u8; 1], [0u8; 8]);
            let mut bufs = [
                std::io::IoSliceMut::new(&mut x),
                std::io::IoSliceMut::new(&mut y),
            ];
            let n = timeout(LONG, s.read_vectored(&mut bufs))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((n, x[0], y[0]), (2, b'i', b'j'), "{name}");
            // EOF after a short read.
            c.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(
                timeout(LONG, s.read(&mut buf)).await.unwrap().unwrap(),
                0,
                "{name}"
            );
            // The last data and the FIN together: the read of the data is
            // short, and no new event will come for the EOF behind it.
            s.write_all(b"last").await.unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            sleep(Duration::from_millis(20)).await;
            assert_eq!(timeout(LONG, c.read(&mut buf)).await.unwrap().unwrap(), 4);
            let eof = timeout(LONG, c.read(&mut buf)).await;
            assert_eq!(eof.expect("EOF behind a short read").unwrap(), 0, "{name}");
        });
    }
}

#[test]
fn connect_errors_and_name_resolution() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            // A port nobody listens on: refused, not a hang.
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            drop(l);
            let err = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{name}");
            // Names go through the blocking pool.
            let l = TcpListener::bind("localhost:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            TcpStream::connect(("localhost", port)).await.unwrap();
            TcpStream::connect(format!("localhost:{port}"))
                .await
                .unwrap();
            let bad = TcpStream::connect("no-port").await.unwrap_err();
            assert_eq!(bad.kind(), ErrorKind::InvalidInput, "{name}");
            // Writing to a closed peer is an error, never SIGPIPE.
            let (c, s) = tcp_pair().await;
            drop(s);
            let mut failed = false;
            for _ in 0..100 {
                if c.write(&[0; 1024]).await.is_err() {
                    failed = true;
                    break;
                }
                sleep(Duration::from_millis(1)).await;
            }
            assert!(failed, "{name}: writes to a closed peer kept succeeding");
        });
    }
}

#[test]
fn socket_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<TcpListener>();
    check::<TcpStream>();
    check::<UdpSocket>();
    check::<UnixListener>();
    check::<UnixStream>();
    check::<UnixDatagram>();
}

#[test]
fn connect_timeout_gives_up_on_a_listener_that_never_answers() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            // A listener with a minimal backlog that never accepts: once
            // its queue is full the kernel drops further handshakes.
            let l =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            l.bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
            l.listen(0).unwrap();
            let addr = l.local_addr().unwrap().as_socket().unwrap();
            let mut held = Vec::new();
            let limit = Duration::from_millis(100);
            for _ in 0..16 {
                let start = Instant::now();
                match TcpStream::connect_timeout(addr, limit).await {
                    Ok(c) => held.push(c),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::TimedOut, "{name}: {e}");
                        let took = start.elapsed();
                        assert!(took >= limit && took < limit + SLACK, "{name}: {took:?}");
                        return;
                    }
                }
            }
            panic!("{name}: every connect succeeded; the backlog never filled");
        });
    }
}

/// Run by `accept_keeps_working_after_the_fd_limit` in a child process,
/// whose fd limit it lowers.
#[test]
#[ignore = "run in a child process by accept_keeps_working_after_the_fd_limit"]
fn emfile_child() {
    if std::env::var("NETPOLL_EMFILE_CHILD").is_err() {
        return;
    }
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let rt = netpoll::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let limit = getrlimit(Resource::Nofile);
        let open = fd_count() as u64;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(open + 8),
                maximum: limit.maximum,
            },
        )
        .unwrap();
        // Use up the table with clients (each takes one fd here).
        let mut clients = Vec::new();
        while let Ok(c) = TcpStream::connect(addr).await {
            clients.push(c);
        }
        // The accept fails with EMFILE, is reported, and is not fatal.
        let err = l.accept().await.unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::MFILE.raw_os_error())
        );
        let start = Instant::now();
        let err = l.accept().await.unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::MFILE.raw_os_error())
        );
        assert!(start.elapsed() >= Duration::from_millis(5), "no backoff");
        // Free some fds: the listener serves the waiting connections.
        clients.truncate(clients.len() - 4);
        let (conn, _) = l.accept().await.unwrap();
        drop(conn);
        let (conn, _) = l.accept().await.unwrap();
        drop(conn);
    });
    println!("EMFILE-CHILD-OK");
}

#[test]
fn accept_keeps_working_after_the_fd_limit() {
    let out = common::this_test_binary()
        .args([
            "--exact",
            "emfile_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NETPOLL_EMFILE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("EMFILE-CHILD-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh directory for one test's socket files.
fn socket_dir(test: &str, flavour: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netpoll-{test}-{}-{flavour}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// `dir` joined with raw bytes, which may hold a NUL.
fn join_bytes(dir: &std::path::Path, name: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(name))
}

#[test]
fn unix_paths_with_an_interior_nul_are_refused_everywhere() {
    // The kernel ends a pathname at its first NUL: unchecked, bind("p\0x")
    // creates "p" and connect("p\0x") reaches it. std refuses such a path
    // with InvalidInput, before any socket is made.
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            let dir = socket_dir("nul", name);
            let invalid = |what: &str, r: std::io::Result<()>| {
                let err = r.expect_err(what);
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {what}: {err}");
            };
            invalid(
                "UnixListener::bind",
                UnixListener::bind(join_bytes(&dir, b"l\0x")).map(drop),
            );
            invalid(
                "UnixDatagram::bind",
                UnixDatagram::bind(join_bytes(&dir, b"d\0x")).map(drop),
            );
            assert!(
                !dir.join("l").exists() && !dir.join("d").exists(),
                "{name}: truncated path bound"
            );

            // Sockets at the truncated paths: nothing may reach them.
            let l = UnixListener::bind(dir.join("l")).unwrap();
            let d = UnixDatagram::bind(dir.join("d")).unwrap();
            invalid(
                "UnixStream::connect",
                UnixStream::connect(join_bytes(&dir, b"l\0x"))
                    .await
                    .map(drop),
            );
            let u = UnixDatagram::unbound().unwrap();
            invalid(
                "UnixDatagram::connect",
                u.connect(join_bytes(&dir, b"d\0x")),
            );
            invalid(
                "UnixDatagram::send_to",
                u.send_to(b"x", join_bytes(&dir, b"d\0x")).await.map(drop),
            );
            // A NUL at the very end is no less interior to the path.
            invalid(
                "UnixStream::connect, trailing NUL",
                UnixStream::connect(join_bytes(&dir, b"l\0"))
                    .await
                    .map(drop),
            );
            // Nothing arrived at either socket.
            l.set_read_deadline(Some(Instant::now())).unwrap();
            assert!(is_deadline(&l.accept().await.unwrap_err()), "{name}");
            d.set_read_deadline(Some(Instant::now())).unwrap();
            assert!(
                is_deadline(&d.recv(&mut [0; 4]).await.unwrap_err()),
                "{name}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn abstract_unix_addresses_work_everywhere_a_path_does() {
    // A leading NUL names an abstract socket (Linux), whose name may hold
    // any byte, NULs included: only a NUL inside a pathname is refused.
    use std::os::linux::net::SocketAddrExt;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let id = format!("\0netpoll-abstract-{}-{name}\0end", std::process::id());
            let stream_path = format!("{id}-s");
            let l = UnixListener::bind(&stream_path).unwrap();
            let expect = format!("{}-s", &id[1..]);
            assert_eq!(
                l.local_addr().unwrap().as_abstract_name(),
                Some(expect.as_bytes()),
                "{name}"
            );
            let c = UnixStream::connect(&stream_path).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            c.write_all(b"abs").await.unwrap();
            let mut buf = [0; 3];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"abs", "{name}");

            let dgram_path = format!("{id}-d");
            let d = UnixDatagram::bind(&dgram_path).unwrap();
            let u = UnixDatagram::unbound().unwrap();
            u.send_to(b"to", &dgram_path).await.unwrap();
            assert_eq!(d.recv(&mut buf).await.unwrap(), 2, "{name}");
            u.connect(&dgram_path).unwrap();
            u.send(b"via").await.unwrap();
            assert_eq!(d.recv(&mut buf).await.unwrap(), 3, "{name}");
        });
    }
}
/// More slices than any kernel takes in one call (IOV_MAX is 1024 on
/// every platform netpoll runs on).
const SLICES: usize = 1500;

#[test]
fn vectored_io_with_more_slices_than_iov_max() {
    // The kernel refuses more than IOV_MAX slices (EMSGSIZE from sendmsg,
    // EINVAL from readv); std writes and reads through the first IOV_MAX.
    use futures_io::{AsyncRead, AsyncWrite};
    use netpoll::time::timeout;
    use std::future::poll_fn;
    use std::io::{IoSlice, IoSliceMut};
    use std::pin::Pin;
    const LONG: Duration = Duration::from_secs(5);
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let data: Vec<u8> = (0..SLICES).map(|i| i as u8).collect();
            let slices: Vec<IoSlice<'_>> = data.chunks(1).map(IoSlice::new).collect();
            let (tc, ts) = tcp_pair().await;
            let (uc, us) = UnixStream::pair().unwrap();
            // The inherent methods, on TCP.
            let n = tc.write_vectored(&slices).await.unwrap();
            assert_eq!(n, 1024, "{name}: TCP write_vectored");
            tc.write_all(&data[n..]).await.unwrap();
            let mut got = vec![0u8; SLICES];
            ts.read_exact(&mut got).await.unwrap();
            assert_eq!(got, data, "{name}");
            // The futures-io trait, on Unix.
            let mut w = &uc;
            let n = poll_fn(|cx| Pin::new(&mut w).poll_write_vectored(cx, &slices))
                .await
                .unwrap();
            assert_eq!(n, 1024, "{name}: Unix poll_write_vectored");
            uc.write_all(&data[n..]).await.unwrap();

            // Reads: all SLICES bytes are queued; a vectored read takes the
            // first IOV_MAX, and the rest is read with no new event (a read
            // judged short against all the slices would wait for one).
            let mut got = vec![0u8; SLICES];
            let mut bufs: Vec<IoSliceMut<'_>> = got.chunks_mut(1).map(IoSliceMut::new).collect();
            let n = timeout(LONG, us.read_vectored(&mut bufs))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 1024, "{name}: Unix read_vectored");
            drop(bufs);
            let mut done = n;
            while done < SLICES {
                let n = timeout(LONG, us.read(&mut got[done..]))
                    .await
                    .expect("the rest of a vectored read")
                    .unwrap();
                assert!(n > 0, "{name}: EOF");
                done += n;
            }
            assert_eq!(got, data, "{name}");

            tc.write_all(&data).await.unwrap();
            let mut got = vec![0u8; SLICES];
            let mut done = 0;
            let mut r = &ts;
            while done < SLICES {
                let mut bufs: Vec<IoSliceMut<'_>> =
                    got[done..].chunks_mut(1).map(IoSliceMut::new).collect();
                let n = timeout(
                    LONG,
                    poll_fn(|cx| Pin::new(&mut r).poll_read_vectored(cx, &mut bufs)),
                )
                .await
                .expect("the rest of a vectored read")
                .unwrap();
                assert!(
                    n > 0 && n <= 1024,
                    "{name}: TCP poll_read_vectored read {n}"
                );
                done += n;
            }
            assert_eq!(got, data, "{name}");
        });
    }
}

/// Closes `s` with `SO_LINGER` 0, so its peer is reset (RST) rather than
/// shut down (FIN), and waits until `peer` has seen the reset.
async fn reset(s: TcpStream, peer: &TcpStream) {
    s.with_fd(|fd| socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO)))
        .unwrap()
        .unwrap();
    drop(s);
    let err = netpoll::time::timeout(Duration::from_secs(5), peer.read(&mut [0; 8]))
        .await
        .expect("the reset reaches the peer")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn shutting_down_a_connection_the_peer_reset_is_ok_for_the_traits() {
    // The inherent shutdown keeps the kernel's ENOTCONN (std, Go); the
    // async-write traits' close succeeds, as tokio's does, so a server
    // (hyper) does not report clients that reset their connection.
    use futures_io::AsyncWrite;
    use std::future::poll_fn;
    use std::net::Shutdown;
    use std::pin::Pin;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, s) = tcp_pair().await;
            reset(s, &c).await;
            let err = c.shutdown(Shutdown::Write).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotConnected, "{name}: inherent");
            let mut w = &c;
            poll_fn(|cx| Pin::new(&mut w).poll_close(cx))
                .await
                .unwrap_or_else(|e| panic!("{name}: poll_close on &TcpStream: {e}"));
            let (mut c, s) = tcp_pair().await;
            reset(s, &c).await;
            poll_fn(|cx| Pin::new(&mut c).poll_close(cx))
                .await
                .unwrap_or_else(|e| panic!("{name}: poll_close on TcpStream: {e}"));

            // Unix: the peer closes with data unread, which resets us.
            let (mut a, b) = UnixStream::pair().unwrap();
            a.write_all(b"unread").await.unwrap();
            drop(b);
            let err = a.read(&mut [0; 8]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{name}: Unix");
            poll_fn(|cx| Pin::new(&mut a).poll_close(cx))
                .await
                .unwrap_or_else(|e| panic!("{name}: poll_close on UnixStream: {e}"));
            // Other errors still come through: a closed stream.
            a.close().unwrap();
            let err = poll_fn(|cx| Pin::new(&mut a).poll_close(cx))
                .await
                .unwrap_err();
            assert!(is_closed(&err), "{name}: {err}");
        });
    }
}

#[test]
fn copy_bidirectional_half_closes_toward_a_peer_that_reset() {
    // The relay's b→a direction ends cleanly (FIN), then b's peer resets.
    // When a's client then finishes, the relay shuts down b's write side,
    // which the kernel answers with ENOTCONN: the relay still succeeds, as
    // tokio's copy_bidirectional does.
    use netpoll::time::timeout;
    use std::net::Shutdown;
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (client, a) = tcp_pair().await;
            let (b, server) = tcp_pair().await;
            let (a, b) = (Arc::new(a), Arc::new(b));
            let (ra, rb) = (a.clone(), b.clone());
            let relay =
                netpoll::spawn(async move { netpoll::io::copy_bidirectional(&*ra, &*rb).await });
            server.write_all(b"bye").await.unwrap();
            server.shutdown(Shutdown::Write).unwrap();
            let mut buf = [0; 3];
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(client.read(&mut buf).await.unwrap(), 0, "{name}: EOF");
            // b's peer resets; wait until b has seen it.
            server
                .with_fd(|fd| socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO)))
                .unwrap()
                .unwrap();
            drop(server);
            let start = Instant::now();
            while b.peer_addr().is_ok() {
                assert!(start.elapsed() < Duration::from_secs(5), "{name}: no reset");
                sleep(Duration::from_millis(1)).await;
            }
            client.shutdown(Shutdown::Write).unwrap();
            let moved = timeout(Duration::from_secs(5), relay)
                .await
                .expect("the relay ends")
                .unwrap();
            assert_eq!(moved.unwrap(), (0, 3), "{name}");
        });
    }
}

#[test]
fn connect_timeout_of_zero_is_invalid_input() {
    // std's TcpStream::connect_timeout refuses a zero timeout; Go's
    // DialTimeout takes 0 as no timeout. netpoll follows std: it neither
    // fails at once as timed out nor waits forever.
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let err = TcpStream::connect_timeout(addr, Duration::ZERO)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {err}");
            // The smallest timeout that is not zero is a real one.
            match TcpStream::connect_timeout(addr, Duration::from_nanos(1)).await {
                Ok(_) => {}
                Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{name}: {e}"),
            }
            TcpStream::connect_timeout(addr, Duration::from_secs(5))
                .await
                .unwrap();
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}
