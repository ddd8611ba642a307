//! Readiness the poller must not lose or invent: short reads that are not
//! the end of the queued bytes, empty reads, and error events, which must
//! reach the caller as the kernel's errno. On both runtime flavours; the
//! poller backend comes from NETPOLL_POLLER (CI runs the file once per
//! backend).

mod common;

use common::flavours;
use netpoll::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use netpoll::time::{sleep, timeout};
use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a read that has bytes queued may take: generous, since the
/// bug it catches is a read that never returns.
const PROMPT: Duration = Duration::from_secs(5);

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// Reads from `$stream` until 6 bytes came, each read bounded by
/// [`PROMPT`]: a read that waits for ever with bytes queued fails the test
/// instead of hanging it. (A macro: the stream types share no read trait
/// for their inherent `read`.)
macro_rules! read_six {
    ($name:expr, $stream:expr) => {{
        let mut buf = [0; 64];
        let mut got = Vec::new();
        while got.len() < 6 {
            let n = timeout(PROMPT, $stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{}: read hung after {got:?}", $name))
                .unwrap();
            assert!(n > 0, "{}: EOF after {got:?}", $name);
            got.extend_from_slice(&buf[..n]);
        }
        got
    }};
}

/// A TCP read stops short at the urgent mark with bytes still queued
/// behind it; the next read must get them, not wait for an event that
/// already came (a short read was taken as proof the socket was drained).
#[test]
fn a_tcp_read_that_stops_at_the_urgent_mark_does_not_hide_the_rest() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, s) = tcp_pair().await;
            s.write_all(b"abc").await.unwrap();
            s.with_fd(|fd| socket2::SockRef::from(&fd).send_out_of_band(b"!"))
                .unwrap()
                .unwrap();
            s.write_all(b"def").await.unwrap();
            // Loopback delivers at once; the wait only makes it certain.
            sleep(Duration::from_millis(50)).await;
            let got = read_six!(name, c);
            assert_eq!(got, b"abcdef", "{name}");
        });
    }
}

/// A Unix stream read stops short after a message that carried fds, with
/// bytes still queued behind it; the next read must get them.
#[test]
fn a_unix_read_that_stops_at_passed_fds_does_not_hide_the_rest() {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (passed, _keep) = common::pipe();
            b.with_fd(|fd| {
                let fds = [std::os::fd::AsFd::as_fd(&passed)];
                let mut space =
                    [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut cmsg = SendAncillaryBuffer::new(&mut space);
                assert!(cmsg.push(SendAncillaryMessage::ScmRights(&fds)));
                sendmsg(fd, &[IoSlice::new(b"abc")], &mut cmsg, SendFlags::empty())
            })
            .unwrap()
            .unwrap();
            b.write_all(b"def").await.unwrap();
            // Let the poller take in the events first, so none of them
            // lands after the short read and masks the bug.
            sleep(Duration::from_millis(50)).await;
            let got = read_six!(name, a);
            assert_eq!(got, b"abcdef", "{name}");
        });
    }
}

/// An empty read returns `Ok(0)` at once, even right after a short read
/// (which used to make it wait for the next event): the inherent read and
/// read_vectored, and futures-io's poll_read.
#[test]
fn an_empty_read_returns_at_once_after_a_short_read() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (c, s) = tcp_pair().await;
            let (u, v) = UnixStream::pair().unwrap();
            s.write_all(b"abc").await.unwrap();
            v.write_all(b"abc").await.unwrap();
            let mut buf = [0; 8];
            assert_eq!(c.read(&mut buf).await.unwrap(), 3, "{name}");
            assert_eq!(u.read(&mut buf).await.unwrap(), 3, "{name}");
            let empty = timeout(PROMPT, c.read(&mut [])).await;
            assert_eq!(empty.expect("empty TCP read hung").unwrap(), 0, "{name}");
            let empty = timeout(PROMPT, u.read(&mut [])).await;
            assert_eq!(empty.expect("empty Unix read hung").unwrap(), 0, "{name}");
            let mut none: [u8; 0] = [];
            let mut slices = [IoSliceMut::new(&mut none)];
            let empty = timeout(PROMPT, c.read_vectored(&mut slices)).await;
            assert_eq!(empty.expect("empty read_vectored hung").unwrap(), 0);
            let empty = timeout(PROMPT, c.read_vectored(&mut [])).await;
            assert_eq!(empty.expect("read_vectored of no slices hung").unwrap(), 0);
            let polled = timeout(
                PROMPT,
                poll_fn(|cx| futures_io::AsyncRead::poll_read(Pin::new(&mut &c), cx, &mut [])),
            )
            .await;
            assert_eq!(polled.expect("empty poll_read hung").unwrap(), 0);
        });
    }
}

/// An error event reaches the waiting read as the kernel's errno (a UDP
/// socket connected to a closed port: ECONNREFUSED), not as a generic
/// poller error, and leaves nothing behind: after a connect to a live
/// peer the socket reads again.
#[test]
fn an_error_event_is_the_kernels_errno_and_does_not_stick() {
    for (name, rt) in flavours() {
        rt.block_on(async {
            let gone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let gone_addr = gone.local_addr().unwrap();
            drop(gone);
            let s = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            s.connect(gone_addr).await.unwrap();
            let mut buf = [0; 16];
            // Park the read first, so the error arrives as an event.
            let reading = netpoll::spawn({
                let s = s.clone();
                async move {
                    let mut buf = [0; 16];
                    timeout(PROMPT, s.recv(&mut buf)).await
                }
            });
            sleep(Duration::from_millis(50)).await;
            s.send(b"x").await.unwrap();
            let err = reading
                .await
                .unwrap()
                .unwrap_or_else(|_| panic!("{name}: recv hung"))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{name}: {err}");
            // The condition is gone once reported: a live peer is heard.
            let live = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            s.connect(live.local_addr().unwrap()).await.unwrap();
            live.send_to(b"hi", s.local_addr().unwrap()).await.unwrap();
            let n = timeout(PROMPT, s.recv(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{name}: recv after reconnect hung"))
                .unwrap_or_else(|e| panic!("{name}: recv after reconnect: {e}"));
            assert_eq!(&buf[..n], b"hi", "{name}");
        });
    }
}
