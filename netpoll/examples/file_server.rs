//! A minimal HTTP/1.1 static file server whose bodies go out by sendfile.
//!
//! Run it with `cargo run --release --example file_server`. It serves a
//! temporary directory holding one generated file, fetches that file once
//! with a tiny client, checks every byte, checks that `..` and missing
//! files are refused, prints how many bytes sendfile moved, and exits
//! (non-zero if the demo saw something wrong).
//!
//! GET only, one request per connection (`Connection: close`). A body is
//! one `netpoll::io::copy` from the file to the socket: the kernel sends
//! the page cache straight to the socket, and the file's reads never
//! touch a worker thread.

use netpoll::fs::File;
use netpoll::io::is_closed;
use netpoll::net::{TcpListener, TcpStream};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest request head accepted (Go: http.Server.MaxHeaderBytes is
/// larger; a file server needs little).
const MAX_HEAD: usize = 8 << 10;

#[netpoll::main]
async fn main() -> io::Result<()> {
    let root = std::env::temp_dir().join(format!("netpoll-file-server-{}", std::process::id()));
    netpoll::fs::create_dir_all(&root).await?;
    let body: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 253) as u8).collect();
    netpoll::fs::write(root.join("blob.bin"), &body).await?;

    // Shared so the demo can close it, which stops the accept loop.
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await?);
    let addr = listener.local_addr()?;
    println!("serving {} on http://{addr}/", root.display());
    let server = netpoll::spawn(serve(listener.clone(), root.clone()));

    let before = netpoll::metrics::snapshot();
    let result = demo(addr, &body).await;
    listener.close()?;
    server.await.expect("server task");
    let m = netpoll::metrics::snapshot();
    println!(
        "kernel paths: sendfile moved {} bytes, a user-space buffer {} bytes",
        m.sendfile_bytes - before.sendfile_bytes,
        m.generic_copy_bytes - before.generic_copy_bytes
    );
    netpoll::fs::remove_dir_all(&root).await?;
    result
}

async fn serve(listener: Arc<TcpListener>, root: PathBuf) {
    let root = Arc::new(root);
    let mut conns = Vec::new();
    loop {
        match listener.accept().await {
            Ok((conn, _)) => conns.push(netpoll::spawn(handle(conn, root.clone()))),
            Err(e) if is_closed(&e) => break,
            // EMFILE and friends: accept backs off by itself; go on.
            Err(e) => eprintln!("[server] accept: {e}"),
        }
    }
    for c in conns {
        let _ = c.await;
    }
}

async fn handle(conn: TcpStream, root: Arc<PathBuf>) {
    if let Err(e) = respond(&conn, &root).await {
        eprintln!("[server] {e}");
    }
    // `conn` closes as it drops, after the whole body was queued.
}

async fn respond(conn: &TcpStream, root: &Path) -> io::Result<()> {
    // Go's ReadHeaderTimeout and WriteTimeout: absolute deadlines on the
    // socket, covering every read and write below, however many.
    let now = Instant::now();
    conn.set_read_deadline(Some(now + Duration::from_secs(5)))?;
    conn.set_write_deadline(Some(now + Duration::from_secs(60)))?;

    let head = read_head(conn).await?;
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    println!("[server] {method} {target}");
    if method != "GET" {
        return status(conn, "405 Method Not Allowed", "Allow: GET\r\n").await;
    }
    let Some(path) = resolve(root, target) else {
        return status(conn, "400 Bad Request", "").await;
    };
    let file = match File::open(&path).await {
        Ok(f) => f,
        Err(_) => return status(conn, "404 Not Found", "").await,
    };
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return status(conn, "404 Not Found", "").await;
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        meta.len()
    );
    conn.write_all(head.as_bytes()).await?;
    // File to socket: sendfile. `take` keeps the body at the length the
    // head announced, should the file grow meanwhile.
    let mut body = netpoll::io::take(file, meta.len());
    netpoll::io::copy(&mut body, &mut &*conn).await?;
    conn.shutdown(Shutdown::Write)
}

/// Reads up to the blank line that ends a request head. Anything after it
/// is dropped: a GET has no body, and one request per connection means no
/// pipelined request to keep.
async fn read_head(conn: &TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            break;
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        match conn.read(&mut buf).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8(head).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// The file a request target names under `root`, or `None` if it tries to
/// leave it (`..`, or anything but plain names). Symlinks inside `root` are
/// followed: the directory is trusted, the request is not.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let rel = Path::new(path);
    if path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

/// A response without a body.
async fn status(conn: &TcpStream, status: &str, extra: &str) -> io::Result<()> {
    let head =
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await?;
    conn.shutdown(Shutdown::Write)
}

/// The tiny client: one GET, the whole response read to the end.
async fn get(addr: SocketAddr, target: &str) -> io::Result<(String, Vec<u8>)> {
    let conn = TcpStream::connect(addr).await?;
    // So a broken server fails the demo instead of hanging it.
    conn.set_deadline(Some(Instant::now() + Duration::from_secs(10)))?;
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    let mut buf = vec![0; 64 << 10];
    loop {
        match conn.read(&mut buf).await? {
            0 => break,
            n => resp.extend_from_slice(&buf[..n]),
        }
    }
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no response head"))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    Ok((head, resp[split + 4..].to_vec()))
}

async fn demo(addr: SocketAddr, expected: &[u8]) -> io::Result<()> {
    let (head, body) = get(addr, "/blob.bin").await?;
    let status = head.lines().next().unwrap_or_default();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse::<usize>().ok());
    println!(
        "[client] /blob.bin: {status}, Content-Length {length:?}, {} body bytes",
        body.len()
    );
    if status != "HTTP/1.1 200 OK" || length != Some(expected.len()) || body != expected {
        return Err(io::Error::other("the file came back wrong"));
    }

    for (target, want) in [
        ("/../etc/passwd", "HTTP/1.1 400 Bad Request"),
        ("/missing.bin", "HTTP/1.1 404 Not Found"),
    ] {
        let (head, _) = get(addr, target).await?;
        let status = head.lines().next().unwrap_or_default();
        println!("[client] {target}: {status}");
        if status != want {
            return Err(io::Error::other(format!("{target}: wanted {want}")));
        }
    }
    Ok(())
}
