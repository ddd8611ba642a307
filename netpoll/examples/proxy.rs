//! A zero-copy TCP proxy that drops idle connections.
//!
//! Run it with `cargo run --release --example proxy`. It listens on
//! 127.0.0.1:0 and forwards each connection to an upstream. The built-in
//! demo starts an echo server as the upstream, sends 8 MiB through the
//! proxy and back, keeps a slow client talking across several idle
//! windows, lets a silent one be dropped, prints what moved and by which
//! kernel path, and exits (non-zero if the demo saw something wrong).
//!
//! # The idle deadline
//!
//! Without an idle limit the whole relay is one call,
//! `netpoll::io::copy_bidirectional(&client, &upstream)`: both directions
//! are spliced socket to socket, and a half-close is passed on. An idle
//! limit needs one thing it does not report: whether any byte moved lately.
//! Deadlines are absolute (Go's), and the bytes never pass through this
//! program, so there is no read to refresh a deadline after. So the relay
//! below runs copy_bidirectional's two halves itself (each still one
//! zero-copy `io::copy`), in windows: both read deadlines are set to
//! `now + IDLE`, both halves copy until their source ends or the deadline
//! cuts them, and a deadline error tells, through `io::bytes_moved`, how
//! much moved first. A window in which neither half moved a byte ends the
//! connection, so a silent connection is dropped after IDLE to 2×IDLE.

use netpoll::io::{bytes_moved, is_closed, is_deadline};
use netpoll::net::{TcpListener, TcpStream};
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long a connection may move nothing, either way, before it is dropped.
const IDLE: Duration = Duration::from_millis(300);

#[netpoll::main]
async fn main() -> io::Result<()> {
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    drop(netpoll::spawn(echo_server(upstream)));

    // Shared so the demo can close it: close wakes the pending accept,
    // which is how the accept loop learns to stop.
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await?);
    let addr = listener.local_addr()?;
    println!("proxy on {addr} -> upstream {upstream_addr}, idle limit {IDLE:?}");
    let server = netpoll::spawn(serve(listener.clone(), upstream_addr));

    let before = netpoll::metrics::snapshot();
    let result = demo(addr).await;
    listener.close()?;
    server.await.expect("proxy task");
    let m = netpoll::metrics::snapshot();
    println!(
        "kernel paths: splice moved {} bytes, a user-space buffer {} bytes",
        m.splice_bytes - before.splice_bytes,
        m.generic_copy_bytes - before.generic_copy_bytes
    );
    result
}

async fn serve(listener: Arc<TcpListener>, upstream: SocketAddr) {
    let mut conns = Vec::new();
    loop {
        match listener.accept().await {
            Ok((client, peer)) => conns.push(netpoll::spawn(proxy(client, peer, upstream))),
            Err(e) if is_closed(&e) => break,
            // EMFILE and friends: accept backs off by itself; go on.
            Err(e) => eprintln!("[proxy] accept: {e}"),
        }
    }
    // Let the connections already accepted finish, so their logs come
    // before the demo's summary.
    for c in conns {
        let _ = c.await;
    }
}

async fn proxy(client: TcpStream, peer: SocketAddr, upstream: SocketAddr) {
    let upstream = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => return eprintln!("[proxy] {peer}: upstream: {e}"),
    };
    match relay(&client, &upstream).await {
        Ok((up, down)) => println!("[proxy] {peer}: done, {up} bytes up, {down} bytes down"),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            println!("[proxy] {peer}: nothing moved for {IDLE:?}, dropped")
        }
        Err(e) => eprintln!("[proxy] {peer}: {e}"),
    }
    // Both sockets close here, as they drop.
}

/// One direction of the relay: bytes moved so far, and whether its source
/// has ended.
#[derive(Default)]
struct Half {
    total: u64,
    done: bool,
}

impl Half {
    /// Copies until the source ends or the window's read deadline cuts the
    /// copy; returns the bytes this window moved.
    async fn window(&mut self, src: &TcpStream, dst: &TcpStream, cap: Instant) -> io::Result<u64> {
        if self.done {
            return Ok(0);
        }
        let n = match netpoll::io::copy(&mut &*src, &mut &*dst).await {
            Ok(n) => {
                // Pass the half-close on, as copy_bidirectional does.
                dst.shutdown(Shutdown::Write)?;
                self.done = true;
                n
            }
            // The read deadline only stops the copy between reads, when
            // nothing is in flight, so the next window resumes losslessly.
            // Past `cap` it was the write deadline (a peer that stopped
            // reading), which may strand bytes: not resumable.
            Err(e) if is_deadline(&e) && Instant::now() < cap => bytes_moved(&e),
            Err(e) => return Err(e),
        };
        self.total += n;
        Ok(n)
    }
}

/// Relays until both directions end, or a whole window moves nothing.
async fn relay(client: &TcpStream, upstream: &TcpStream) -> io::Result<(u64, u64)> {
    let (mut up, mut down) = (Half::default(), Half::default());
    while !(up.done && down.done) {
        let deadline = Instant::now() + IDLE;
        // A write stuck for a further IDLE means the reader is gone.
        let cap = deadline + IDLE;
        for s in [client, upstream] {
            s.set_read_deadline(Some(deadline))?;
            s.set_write_deadline(Some(cap))?;
        }
        // Both halves in this task: the window's verdict needs both counts.
        let (a, b) = join(
            up.window(client, upstream, cap),
            down.window(upstream, client, cap),
        )
        .await;
        if a? + b? == 0 && !(up.done && down.done) {
            return Err(io::ErrorKind::TimedOut.into());
        }
    }
    Ok((up.total, down.total))
}

/// Runs two futures on this task until both finish (netpoll's own join is
/// crate-private; the futures crate's `join` is the same thing).
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            ra = match a.as_mut().poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            };
        }
        if rb.is_none() {
            rb = match b.as_mut().poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            };
        }
        match (ra.is_some(), rb.is_some()) {
            (true, true) => Poll::Ready((ra.take().unwrap(), rb.take().unwrap())),
            _ => Poll::Pending,
        }
    })
    .await
}

/// The upstream: echoes through a user buffer, so the metrics' splice
/// count is the proxy's alone.
async fn echo_server(listener: TcpListener) -> io::Result<()> {
    loop {
        let (conn, _) = listener.accept().await?;
        drop(netpoll::spawn(echo(conn)));
    }
}

async fn echo(conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0; 64 << 10];
    loop {
        match conn.read(&mut buf).await? {
            0 => return conn.shutdown(Shutdown::Write),
            n => conn.write_all(&buf[..n]).await?,
        }
    }
}

async fn demo(proxy: SocketAddr) -> io::Result<()> {
    // A busy client: 8 MiB written by one task while this one reads the
    // echo back (both at once, or the buffers fill and both stall).
    const LEN: usize = 8 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let client = Arc::new(TcpStream::connect(proxy).await?);
    // Our own deadline, so a broken proxy fails the demo instead of hanging it.
    client.set_deadline(Some(Instant::now() + Duration::from_secs(10)))?;
    let writer = {
        let (client, data) = (client.clone(), data.clone());
        netpoll::spawn(async move {
            client.write_all(&data).await?;
            client.shutdown(Shutdown::Write)
        })
    };
    let mut back = Vec::with_capacity(LEN);
    let mut buf = vec![0; 64 << 10];
    loop {
        match client.read(&mut buf).await? {
            0 => break,
            n => back.extend_from_slice(&buf[..n]),
        }
    }
    writer.await.expect("writer task")?;
    println!("[client] sent {LEN} bytes, got {} back", back.len());
    if back != data {
        return Err(io::Error::other("the echo through the proxy differs"));
    }

    // A slow client: one byte every IDLE/3, for 2×IDLE in all. Every
    // window sees traffic, so the proxy keeps it.
    let slow = TcpStream::connect(proxy).await?;
    slow.set_deadline(Some(Instant::now() + Duration::from_secs(10)))?;
    let start = Instant::now();
    for i in 0..6u8 {
        slow.write_all(&[i]).await?;
        let mut b = [0];
        slow.read_exact(&mut b).await?;
        netpoll::time::sleep(IDLE / 3).await;
    }
    slow.shutdown(Shutdown::Write)?;
    let eof = slow.read(&mut [0; 1]).await?;
    println!(
        "[client] slow client: 6 bytes over {:?}, never dropped",
        start.elapsed()
    );
    if eof != 0 {
        return Err(io::Error::other("the slow client got an extra byte"));
    }

    // A silent client: the proxy should hang up on it after IDLE..2×IDLE,
    // which the client reads as end of stream.
    let silent = TcpStream::connect(proxy).await?;
    let start = Instant::now();
    silent.set_read_deadline(Some(start + 10 * IDLE))?;
    let n = silent.read(&mut [0; 16]).await?;
    let waited = start.elapsed();
    println!("[client] silent client: proxy hung up after {waited:?}");
    if n != 0 || waited < IDLE {
        return Err(io::Error::other("the proxy did not drop the idle client"));
    }
    Ok(())
}
