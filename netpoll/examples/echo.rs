//! A TCP echo server that drops idle connections, Go style: a read
//! deadline set before each read, instead of a timer wrapped around it.
//!
//! Run it with `cargo run --release --example echo [ADDR]`. It serves on
//! ADDR (default 127.0.0.1:0), runs a short client demo against itself,
//! prints what happened and exits; non-zero if the demo saw something
//! wrong.

use netpoll::io::is_deadline;
use netpoll::net::{TcpListener, TcpStream};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a connection may stay silent before the server drops it.
const IDLE: Duration = Duration::from_millis(300);

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    netpoll::runtime::Runtime::new()?.block_on(async {
        // Shared so the demo can close it: close wakes the pending accept,
        // which is how the server loop learns to stop.
        let listener = Arc::new(TcpListener::bind(addr.as_str()).await?);
        let addr = listener.local_addr()?;
        println!("echo server on {addr}, idle timeout {IDLE:?}");
        let server = netpoll::spawn(serve(listener.clone()));

        let result = demo(addr).await;
        listener.close()?;
        server.await.expect("server task")?;
        result
    })
}

async fn serve(listener: Arc<TcpListener>) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => drop(netpoll::spawn(echo(conn, peer))),
            Err(e) if netpoll::io::is_closed(&e) => return Ok(()),
            // EMFILE and friends: the listener backs off by itself, so
            // logging and going on is enough.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

async fn echo(conn: TcpStream, peer: std::net::SocketAddr) {
    let mut buf = [0; 4096];
    loop {
        // Re-armed before every read: the deadline is absolute and sticks
        // until moved, so this is what makes it an *idle* timeout.
        if let Err(e) = conn.set_read_deadline(Some(Instant::now() + IDLE)) {
            eprintln!("[server] {peer}: {e}");
            return;
        }
        let n = match conn.read(&mut buf).await {
            Ok(0) => return println!("[server] {peer}: closed by client"),
            Ok(n) => n,
            Err(e) if is_deadline(&e) => {
                // Dropping `conn` would close it too; closing says so.
                let _ = conn.close();
                return println!("[server] {peer}: idle for {IDLE:?}, closed");
            }
            Err(e) => return eprintln!("[server] {peer}: read: {e}"),
        };
        if let Err(e) = conn.write_all(&buf[..n]).await {
            return eprintln!("[server] {peer}: write: {e}");
        }
    }
}

async fn demo(addr: std::net::SocketAddr) -> io::Result<()> {
    // A chatty client: a few round trips, each well within IDLE.
    let chatty = TcpStream::connect(addr).await?;
    for msg in ["hello", "netpoll", "bye"] {
        chatty.write_all(msg.as_bytes()).await?;
        let mut back = vec![0; msg.len()];
        chatty.read_exact(&mut back).await?;
        println!(
            "[client] sent {msg:?}, got {:?}",
            String::from_utf8_lossy(&back)
        );
        if back != msg.as_bytes() {
            return Err(io::Error::other("echo mismatch"));
        }
    }
    drop(chatty);

    // A silent client: the server should hang up on it after IDLE, which
    // the client sees as end of stream.
    let silent = TcpStream::connect(addr).await?;
    let start = Instant::now();
    // Our own deadline, so a server that never hangs up fails the demo
    // instead of hanging it.
    silent.set_read_deadline(Some(start + 10 * IDLE))?;
    let n = silent.read(&mut [0; 16]).await?;
    let waited = start.elapsed();
    println!("[client] silent client: server hung up after {waited:?}");
    if n != 0 || waited < IDLE {
        return Err(io::Error::other(
            "server did not drop the idle client as expected",
        ));
    }
    Ok(())
}
