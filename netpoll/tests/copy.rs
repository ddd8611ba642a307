//! io::copy across a matrix of sources and destinations: the bytes match a
//! plain copy, the expected kernel path ran (by the metrics), limits are
//! exact, and no fd leaks. The poller backend comes from NETPOLL_POLLER.

mod common;

use common::{fd_count, serial};
use netpoll::fs::{File, OpenOptions};
use netpoll::io::{copy, take};
use netpoll::net::{TcpListener, TcpStream, UnixStream};
use netpoll::process::Command;
use netpoll::runtime::Builder;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Src {
    File,
    /// A file on tmpfs (/dev/shm), where copy_file_range works too.
    Shm,
    Proc,
    Fifo,
    Pipe,
    Tcp,
    Unix,
    Child,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dst {
    File,
    Append,
    Same,
    Pipe,
    Tcp,
    Unix,
    Child,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Path_ {
    CopyFileRange,
    Sendfile,
    Splice,
    Generic,
}

fn expected(src: Src, dst: Dst) -> Path_ {
    use Dst as D;
    use Src as S;
    // The kernel copy paths are Linux's; elsewhere every copy is a loop.
    if !cfg!(target_os = "linux") {
        return Path_::Generic;
    }
    match (src, dst) {
        (_, D::Append) | (_, D::Same) | (S::Proc, _) => Path_::Generic,
        (S::File | S::Shm, D::File) => Path_::CopyFileRange,
        (S::File | S::Shm, _) => Path_::Sendfile,
        (_, _) => Path_::Splice,
    }
}

fn moved_by(path: Path_, m: &netpoll::metrics::Metrics) -> u64 {
    match path {
        Path_::CopyFileRange => m.copy_file_range_bytes,
        Path_::Sendfile => m.sendfile_bytes,
        Path_::Splice => m.splice_bytes,
        Path_::Generic => m.generic_copy_bytes,
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    (c, l.accept().await.unwrap().0)
}

/// Reads `$r` to the end.
macro_rules! collect {
    ($r:expr) => {{
        let mut out = Vec::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            match $r.read(&mut buf).await.unwrap() {
                0 => break out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }};
}

/// Feeds `bytes` into a stream-like source end from a task, then ends it.
macro_rules! feed {
    ($w:expr, $bytes:expr, $end:expr) => {{
        let (w, bytes) = ($w, $bytes);
        netpoll::spawn(async move {
            w.write_all(&bytes).await.unwrap();
            $end(w);
        })
    }};
}

/// Binds `$s` to a source of `$kind` holding `$bytes`, and runs `$body`.
macro_rules! with_source {
    ($kind:expr, $bytes:expr, $dir:expr, |$s:ident| $body:expr) => {
        match $kind {
            Src::File | Src::Shm | Src::Proc => {
                let path = match $kind {
                    Src::Proc => PathBuf::from("/proc/self/cmdline"),
                    Src::Shm => {
                        let p = shm_dir().join(format!("netpoll-copy-{}", std::process::id()));
                        std::fs::write(&p, &$bytes).unwrap();
                        p
                    }
                    _ => {
                        let p = $dir.join("src");
                        std::fs::write(&p, &$bytes).unwrap();
                        p
                    }
                };
                let mut $s = File::open(&path).await.unwrap();
                $body
            }
            Src::Fifo => {
                let path = $dir.join("fifo");
                let _ = std::fs::remove_file(&path);
                common::mkfifo(&path);
                // Each end's open waits for the other (on the pool).
                let reader_path = path.clone();
                let reader_end = netpoll::spawn(async move {
                    OpenOptions::new().read(true).open(&reader_path).await
                });
                let w = OpenOptions::new().write(true).open(&path).await.unwrap();
                let r = reader_end.await.unwrap().unwrap();
                let _f = feed!(w, $bytes.clone(), drop);
                let mut $s = r;
                $body
            }
            Src::Pipe => {
                let (r, w) = netpoll::io::pipe().unwrap();
                let _f = feed!(w, $bytes.clone(), |w: netpoll::io::PipeWriter| drop(w));
                let mut $s = r;
                $body
            }
            Src::Tcp => {
                let (r, w) = tcp_pair().await;
                let _f = feed!(w, $bytes.clone(), |w: TcpStream| w
                    .shutdown(std::net::Shutdown::Write)
                    .unwrap());
                let mut $s = r;
                $body
            }
            Src::Unix => {
                let (r, w) = UnixStream::pair().unwrap();
                let _f = feed!(w, $bytes.clone(), |w: UnixStream| w
                    .shutdown(std::net::Shutdown::Write)
                    .unwrap());
                let mut $s = r;
                $body
            }
            Src::Child => {
                let mut cat = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let _f = feed!(cat.stdin.take().unwrap(), $bytes.clone(), drop);
                let mut $s = cat.stdout.take().unwrap();
                let out = $body;
                cat.wait().await.unwrap();
                out
            }
        }
    };
}

/// Binds `$d` to a destination of `$kind`, runs `$copy`, and returns what
/// arrived (after the prefix an append file held).
macro_rules! with_dest {
    ($kind:expr, $dir:expr, |$d:ident| $copy:expr) => {
        match $kind {
            Dst::File | Dst::Append | Dst::Same => {
                let path = match $kind {
                    Dst::Same => $dir.join("src"),
                    _ => $dir.join("dst"),
                };
                let prefix: &[u8] = if $kind == Dst::Append { b"prefix" } else { b"" };
                if $kind != Dst::Same {
                    std::fs::write(&path, prefix).unwrap();
                }
                let mut $d = OpenOptions::new()
                    .write(true)
                    .append($kind == Dst::Append)
                    .open(&path)
                    .await
                    .unwrap();
                let n = $copy;
                drop($d);
                let got = std::fs::read(&path).unwrap();
                assert!(got.starts_with(prefix));
                (n, got[prefix.len()..].to_vec())
            }
            Dst::Pipe => {
                let (r, w) = netpoll::io::pipe().unwrap();
                let reader = netpoll::spawn(async move { collect!(r) });
                let mut $d = w;
                let n = $copy;
                drop($d);
                (n, reader.await.unwrap())
            }
            Dst::Tcp => {
                let (w, r) = tcp_pair().await;
                let reader = netpoll::spawn(async move { collect!(r) });
                let mut $d = w;
                let n = $copy;
                drop($d);
                (n, reader.await.unwrap())
            }
            Dst::Unix => {
                let (w, r) = UnixStream::pair().unwrap();
                let reader = netpoll::spawn(async move { collect!(r) });
                let mut $d = w;
                let n = $copy;
                drop($d);
                (n, reader.await.unwrap())
            }
            Dst::Child => {
                let mut cat = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let out = cat.stdout.take().unwrap();
                let reader = netpoll::spawn(async move { collect!(out) });
                let mut $d = cat.stdin.take().unwrap();
                let n = $copy;
                drop($d);
                cat.wait().await.unwrap();
                (n, reader.await.unwrap())
            }
        }
    };
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpoll-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

const SRCS: [Src; 8] = [
    Src::File,
    Src::Shm,
    Src::Proc,
    Src::Fifo,
    Src::Pipe,
    Src::Tcp,
    Src::Unix,
    Src::Child,
];

/// Whether the source can be had here. A procfs file that reports size 0
/// (/proc/self/cmdline) exists where /proc is mounted, and is only what it
/// says where the kernel serves it: qemu-user answers it with a plain
/// file of its own, which the kernel paths copy like any file.
fn available(src: Src) -> bool {
    match src {
        Src::Proc => !common::under_qemu() && std::path::Path::new("/proc/self/cmdline").exists(),
        _ => true,
    }
}

/// tmpfs if the machine has it, else the temp dir.
fn shm_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}
const DSTS: [Dst; 7] = [
    Dst::File,
    Dst::Append,
    Dst::Same,
    Dst::Pipe,
    Dst::Tcp,
    Dst::Unix,
    Dst::Child,
];

#[test]
fn the_matrix() {
    let _serial = serial();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dir = scratch();
    // splice keeps its pipes in a process-wide pool (Go: splicePipePool):
    // fill it first, so the count below sees leaks, not the pool.
    rt.block_on(cell(Src::Tcp, Dst::Tcp, 1, None, &dir));
    let before_fds = fd_count();
    rt.block_on(async {
        for src in SRCS.into_iter().filter(|s| available(*s)) {
            for dst in DSTS {
                // Only a file can be copied into itself.
                if dst == Dst::Same && src != Src::File {
                    continue;
                }
                for (len, limit) in [
                    (0, None),
                    (1, None),
                    (65537, None),
                    (65537, Some(40000u64)),
                    (8 << 20, None),
                ] {
                    cell(src, dst, len, limit, &dir).await;
                }
            }
        }
    });
    assert_eq!(fd_count(), before_fds, "fds leaked");
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(shm_dir().join(format!("netpoll-copy-{}", std::process::id())));
}

async fn cell(src: Src, dst: Dst, len: usize, limit: Option<u64>, dir: &Path) {
    let name = format!("{src:?}->{dst:?} len {len} limit {limit:?}");
    let bytes = data(len);
    let source_bytes = if src == Src::Proc {
        std::fs::read("/proc/self/cmdline").unwrap()
    } else {
        bytes.clone()
    };
    let before = netpoll::metrics::snapshot();
    let (n, got) = with_source!(src, bytes, dir, |s| {
        with_dest!(dst, dir, |d| {
            match limit {
                None => copy(&mut s, &mut d).await.unwrap(),
                Some(l) => {
                    let mut t = take(&mut s, l);
                    let n = copy(&mut t, &mut d).await.unwrap();
                    assert_eq!(t.remaining(), l.saturating_sub(n), "{name}: limit");
                    n
                }
            }
        })
    });
    let after = netpoll::metrics::snapshot();
    let want: &[u8] = if dst == Dst::Same {
        &source_bytes
    } else {
        &source_bytes[..limit.map_or(source_bytes.len(), |l| (l as usize).min(source_bytes.len()))]
    };
    if dst != Dst::Same {
        assert_eq!(n as usize, want.len(), "{name}: count");
    }
    assert!(
        got == want,
        "{name}: bytes differ ({} vs {})",
        got.len(),
        want.len()
    );
    if std::env::var_os("NETPOLL_COPY_TRACE").is_some() {
        eprintln!(
            "{name}: n={n} cfr={} sendfile={} splice={} generic={}",
            after.copy_file_range_bytes - before.copy_file_range_bytes,
            after.sendfile_bytes - before.sendfile_bytes,
            after.splice_bytes - before.splice_bytes,
            after.generic_copy_bytes - before.generic_copy_bytes
        );
    }
    if n > 0 {
        let path = expected(src, dst);
        let by_path = moved_by(path, &after) - moved_by(path, &before);
        // File to file may be declined by the file system (overlayfs,
        // older kernels across mounts); Go falls back the same way.
        let declined = path == Path_::CopyFileRange
            && after.generic_copy_bytes - before.generic_copy_bytes == n;
        assert!(
            by_path == n || declined,
            "{name}: expected {path:?} to move {n} bytes, it moved {by_path}"
        );
    }
}

#[test]
fn a_peer_closing_mid_copy_is_an_error_not_a_hang() {
    let _serial = serial();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut src, feeder) = tcp_pair().await;
        let (mut dst, reader) = tcp_pair().await;
        // The source never ends; the reader takes 1 MiB and closes.
        netpoll::spawn(async move {
            let chunk = vec![1u8; 1 << 16];
            while feeder.write_all(&chunk).await.is_ok() {}
        });
        netpoll::spawn(async move {
            let mut buf = vec![0; 1 << 16];
            let mut got = 0;
            while got < 1 << 20 {
                got += reader.read(&mut buf).await.unwrap();
            }
            drop(reader);
        });
        let res =
            netpoll::time::timeout(std::time::Duration::from_secs(10), copy(&mut src, &mut dst))
                .await
                .expect("copy hung after the peer closed");
        let err = res.unwrap_err();
        assert!(netpoll::io::bytes_moved(&err) >= 1 << 20, "{err}");
    });
}

#[test]
fn close_interrupts_a_copy_in_progress() {
    let _serial = serial();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (src, _feeder) = tcp_pair().await;
        let (dst, _reader) = tcp_pair().await;
        let src = std::sync::Arc::new(src);
        let s = src.clone();
        let job = netpoll::spawn(async move {
            let mut r = &*s;
            let mut w = &dst;
            copy(&mut r, &mut w).await
        });
        netpoll::time::sleep(std::time::Duration::from_millis(20)).await;
        src.close().unwrap();
        let err = job.await.unwrap().unwrap_err();
        assert!(netpoll::io::is_closed(&err), "{err}");
    });
}

#[test]
fn a_deadline_interrupts_a_copy_in_progress() {
    let _serial = serial();
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (mut src, _feeder) = tcp_pair().await;
        let (mut dst, _reader) = tcp_pair().await;
        src.set_read_deadline(Some(
            std::time::Instant::now() + std::time::Duration::from_millis(20),
        ))
        .unwrap();
        let err = copy(&mut src, &mut dst).await.unwrap_err();
        assert!(netpoll::io::is_deadline(&err), "{err}");
    });
}

#[test]
fn a_proxy_with_half_close() {
    let _serial = serial();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, proxy_a) = tcp_pair().await;
        let (proxy_b, server) = tcp_pair().await;
        let relay =
            netpoll::spawn(
                async move { netpoll::io::copy_bidirectional(&proxy_a, &proxy_b).await },
            );
        let up = data(3 << 20);
        let expect = up.clone();
        let server_task = netpoll::spawn(async move {
            let got = collect!(server);
            server.write_all(b"reply").await.unwrap();
            server.shutdown(std::net::Shutdown::Write).unwrap();
            got
        });
        client.write_all(&up).await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let back = collect!(client);
        assert_eq!(back, b"reply");
        assert!(server_task.await.unwrap() == expect);
        assert_eq!(relay.await.unwrap().unwrap(), (3 << 20, 5));
    });
}

#[test]
fn fs_copy_keeps_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = serial();
    let rt = Builder::new_current_thread().build().unwrap();
    let dir = scratch();
    rt.block_on(async {
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, data(100_000)).unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(netpoll::fs::copy(&a, &b).await.unwrap(), 100_000);
        assert_eq!(std::fs::read(&b).unwrap(), data(100_000));
        assert_eq!(
            std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
            0o640
        );
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The size of the sparse source the interruption tests copy: it costs
/// nothing, but every page of the copy is real (zeroes read from the
/// holes), so a whole copy takes most of a second even on tmpfs.
const BIG: u64 = 1 << 30;

/// A `BIG` sparse source (created) and a destination on tmpfs where the
/// machine has it, named for `test`; both are removed on drop, so a
/// failing run does not leave up to 1 GiB in memory.
struct SparsePair {
    src: PathBuf,
    dst: PathBuf,
}

impl SparsePair {
    fn new(test: &str) -> SparsePair {
        let dir = shm_dir();
        let id = std::process::id();
        let pair = SparsePair {
            src: dir.join(format!("netpoll-{test}-{id}-src")),
            dst: dir.join(format!("netpoll-{test}-{id}-dst")),
        };
        std::fs::File::create(&pair.src)
            .unwrap()
            .set_len(BIG)
            .unwrap();
        pair
    }
}

impl Drop for SparsePair {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.src);
        let _ = std::fs::remove_file(&self.dst);
    }
}

/// The bytes the file-to-file paths have moved so far (copy_file_range,
/// or the buffer where the file system declines it).
fn file_copy_bytes() -> u64 {
    let m = netpoll::metrics::snapshot();
    m.copy_file_range_bytes + m.generic_copy_bytes
}

/// The docs promise that close on either end interrupts a copy: the
/// file-to-file copy runs on the blocking pool, where no wake reaches it,
/// so it has to notice the close itself, between chunks.
#[test]
fn close_interrupts_a_file_to_file_copy() {
    use netpoll::time::{sleep, timeout};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let _serial = serial();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let files = SparsePair::new("close-file-copy");
    let (a, b) = (&files.src, &files.dst);
    rt.block_on(async {
        for end in ["source", "destination"] {
            let fds = fd_count();
            let mut interrupted = false;
            // A round whose close came after the copy ended proves
            // nothing: try again.
            for _round in 0..5 {
                let src = Arc::new(File::open(a).await.unwrap());
                let dst = Arc::new(File::create(b).await.unwrap());
                let (s, d) = (src.clone(), dst.clone());
                let start = file_copy_bytes();
                let job = netpoll::spawn(async move { copy(&mut &*s, &mut &*d).await });
                let waiting = Instant::now();
                while file_copy_bytes() == start {
                    assert!(waiting.elapsed() < Duration::from_secs(10), "no progress");
                    sleep(Duration::from_millis(1)).await;
                }
                let closed_at = Instant::now();
                match end {
                    "source" => src.close().unwrap(),
                    _ => dst.close().unwrap(),
                }
                let res = timeout(Duration::from_secs(30), job)
                    .await
                    .expect("the copy never ended")
                    .unwrap();
                let took = closed_at.elapsed();
                match res {
                    Ok(n) => assert_eq!(n, BIG),
                    Err(err) => {
                        assert!(netpoll::io::is_closed(&err), "{end}: {err}");
                        assert!(netpoll::io::bytes_moved(&err) < BIG, "{end}: {err}");
                        assert!(
                            took < common::SLACK,
                            "{end}: stopped {took:?} after the close"
                        );
                        interrupted = true;
                        break;
                    }
                }
            }
            assert!(
                interrupted,
                "{end}: every copy ran to the end despite the close"
            );
            assert_eq!(fd_count(), fds, "{end}: fds leaked");
        }
    });
}

/// A file-to-file copy whose future is dropped (a timeout, an aborted
/// task) stops at its next chunk rather than copying the rest of the file
/// on the blocking pool for nobody, holding the destination's write lock.
#[test]
fn a_dropped_file_to_file_copy_stops() {
    use netpoll::time::timeout;
    use std::time::Duration;
    let _serial = serial();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let files = SparsePair::new("drop-file-copy");
    let (a, b) = (&files.src, &files.dst);
    rt.block_on(async {
        let mut dropped = false;
        for _round in 0..5 {
            let src = File::open(a).await.unwrap();
            let dst = File::create(b).await.unwrap();
            let (mut r, mut w) = (&src, &dst);
            if timeout(Duration::from_millis(5), copy(&mut r, &mut w))
                .await
                .is_ok()
            {
                continue; // It finished first: the round proves nothing.
            }
            // The write lock is free once the pool has let go.
            timeout(common::SLACK, dst.write_all(b"x"))
                .await
                .expect("the dropped copy still holds the destination")
                .unwrap();
            let len = dst.metadata().await.unwrap().len();
            assert!(len < BIG, "the dropped copy ran to the end ({len} bytes)");
            dropped = true;
            break;
        }
        assert!(dropped, "every copy finished within 5 ms");
    });
}

/// One counter of `/proc/<path>/io`, or `None` where the kernel has no
/// I/O accounting.
fn io_counter(path: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{path}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": ")?.parse().ok())
}

/// splice from a socket into a regular file: the write to the file may
/// wait for the disk, so it runs on the blocking pool, never on a worker.
/// The kernel charges the pages a thread dirties to that thread
/// (`write_bytes` in /proc/thread-self/io), which shows where it ran.
#[test]
fn splice_into_a_file_writes_off_the_worker() {
    let _serial = serial();
    let rt = Builder::new_current_thread().build().unwrap();
    let dir = scratch();
    let len = 8 << 20;
    rt.block_on(async {
        let (mut src, feeder) = tcp_pair().await;
        let mut dst = File::create(dir.join("dst")).await.unwrap();
        let _feed = feed!(feeder, data(len), |w: TcpStream| w
            .shutdown(std::net::Shutdown::Write)
            .unwrap());
        let (Some(mine), Some(all)) = (
            io_counter("thread-self", "write_bytes"),
            io_counter("self", "write_bytes"),
        ) else {
            eprintln!("no per-thread I/O accounting here: nothing to check");
            return;
        };
        let spliced = netpoll::metrics::snapshot().splice_bytes;
        assert_eq!(copy(&mut src, &mut dst).await.unwrap(), len as u64);
        assert_eq!(
            netpoll::metrics::snapshot().splice_bytes - spliced,
            len as u64
        );
        let mine = io_counter("thread-self", "write_bytes").unwrap() - mine;
        let all = io_counter("self", "write_bytes").unwrap() - all;
        if all < len as u64 / 2 {
            eprintln!("this file system charges no writes (tmpfs?): nothing to check");
            return;
        }
        assert_eq!(mine, 0, "the worker wrote {mine} bytes of the file itself");
    });
    assert_eq!(std::fs::read(dir.join("dst")).unwrap(), data(len));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The ways a copy meets a reader that has gone, each run by
/// `sigpipe_child` in a process that restored SIGPIPE's default action.
/// The names are Linux's kernel paths; elsewhere each is a plain loop of
/// sends (which pass MSG_NOSIGNAL or SO_NOSIGPIPE) and writes, and a
/// write into a pipe keeps the process's SIGPIPE disposition, as every
/// pipe write does (see `sigpipe_cases`).
const SIGPIPE_CASES: [&str; 6] = [
    "sendfile file->tcp",
    "sendfile file->pipe",
    "splice tcp->tcp",
    "splice tcp->unix",
    "splice tcp->pipe",
    "splice unix->tcp",
];

/// The cases that must end in EPIPE without a signal on this platform:
/// all of them on Linux, where sendfile and splice run under the guard of
/// sys::sigpipe; elsewhere those into a socket.
fn sigpipe_cases() -> impl Iterator<Item = &'static str> {
    SIGPIPE_CASES
        .into_iter()
        .filter(|case| cfg!(target_os = "linux") || !case.ends_with("->pipe"))
}

/// Runs one of `SIGPIPE_CASES` and returns the error it ended with.
async fn sigpipe_case(case: &str) -> std::io::Error {
    // A socket whose own write side is shut down fails every send with
    // EPIPE, which is what a TCP socket whose peer has gone says after its
    // first ECONNRESET; a Unix socket or pipe says it as soon as the
    // reader is dropped.
    let gone_tcp = || async {
        let (w, r) = tcp_pair().await;
        w.shutdown(std::net::Shutdown::Write).unwrap();
        (w, r)
    };
    let gone_pipe = || {
        let (r, w) = netpoll::io::pipe().unwrap();
        drop(r);
        w
    };
    let gone_unix = || {
        let (w, r) = UnixStream::pair().unwrap();
        drop(r);
        w
    };
    // Sources of 1 MiB.
    let file = || async {
        let path = shm_dir().join(format!("netpoll-sigpipe-{}", std::process::id()));
        std::fs::write(&path, data(1 << 20)).unwrap();
        let f = File::open(&path).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    };
    // (The feeders keep their end open: the copy ends with the write.)
    let tcp = || async {
        let (r, w) = tcp_pair().await;
        let w = std::sync::Arc::new(w);
        let feeder = w.clone();
        netpoll::spawn(async move { feeder.write_all(&data(1 << 20)).await.ok() });
        (r, w)
    };
    let unix = || {
        let (r, w) = UnixStream::pair().unwrap();
        let w = std::sync::Arc::new(w);
        let feeder = w.clone();
        netpoll::spawn(async move { feeder.write_all(&data(1 << 20)).await.ok() });
        (r, w)
    };
    match case {
        "sendfile file->tcp" => {
            let (mut d, _r) = gone_tcp().await;
            copy(&mut file().await, &mut d).await.unwrap_err()
        }
        "sendfile file->pipe" => copy(&mut file().await, &mut gone_pipe()).await.unwrap_err(),
        "splice tcp->tcp" => {
            let ((mut s, _w), (mut d, _r)) = (tcp().await, gone_tcp().await);
            copy(&mut s, &mut d).await.unwrap_err()
        }
        "splice tcp->unix" => {
            let (mut s, _w) = tcp().await;
            copy(&mut s, &mut gone_unix()).await.unwrap_err()
        }
        "splice tcp->pipe" => {
            let (mut s, _w) = tcp().await;
            copy(&mut s, &mut gone_pipe()).await.unwrap_err()
        }
        "splice unix->tcp" => {
            let ((mut s, _w), (mut d, _r)) = (unix(), gone_tcp().await);
            copy(&mut s, &mut d).await.unwrap_err()
        }
        _ => panic!("no case {case}"),
    }
}

/// Run by `a_gone_reader_never_raises_sigpipe`, in a child process.
#[test]
#[ignore = "run in a child process by a_gone_reader_never_raises_sigpipe"]
fn sigpipe_child() {
    let Ok(case) = std::env::var("NETPOLL_SIGPIPE_CHILD") else {
        return;
    };
    // SAFETY: sets the default action of SIGPIPE (which Rust's runtime set
    // to SIG_IGN before main), as a program may; no handler is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    for (flavour, rt) in common::flavours() {
        let err = rt.block_on(sigpipe_case(&case));
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::BrokenPipe,
            "{case} on {flavour}: {err}"
        );
    }
    println!("SIGPIPE-CHILD-OK");
}

/// A copy into a socket or pipe whose reader has gone fails with
/// BrokenPipe (EPIPE) and raises no SIGPIPE, even in a program that
/// restored its default action (which kills): sendfile and splice have no
/// MSG_NOSIGNAL.
#[test]
fn a_gone_reader_never_raises_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    // The children's pipes would look like leaks to a test counting fds.
    let _serial = serial();
    let mut failed = Vec::new();
    for case in sigpipe_cases() {
        let out = common::this_test_binary()
            .args([
                "--exact",
                "sigpipe_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("NETPOLL_SIGPIPE_CHILD", case)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !(out.status.success() && stdout.contains("SIGPIPE-CHILD-OK")) {
            failed.push(format!(
                "{case}: the child ended with {:?} (killed by signal {:?}): {stdout}\n{}",
                out.status,
                out.status.signal(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
