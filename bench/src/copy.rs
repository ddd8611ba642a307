//! The `copy` suite: bulk copies between files and loopback TCP sockets,
//! netpoll's `io::copy` (which lets the kernel move the bytes:
//! copy_file_range, sendfile, splice) against tokio's copies through a
//! buffer in user space, and, file to file, against `cp` and std.
//!
//! Every case moves the same number of bytes (1 GiB, 128 MiB with
//! `--quick`) and counts them at the far end. The threads on the far side
//! of the sockets are plain blocking std threads, the same for every row,
//! so only the copying side differs. Files live in one directory on one
//! filesystem (see [`Dir`]); each destination is deleted after its sample,
//! which also throws its dirty pages away before any writeback starts.

use crate::rt::WORKERS;
use crate::Bench;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The bytes of one sample, full size and with `--quick`.
const FULL: u64 = 1 << 30;
const QUICK: u64 = 128 << 20;

/// The buffer of the blocking std threads at the far ends (sender and
/// sink), the same for every row.
const CHUNK: usize = 256 << 10;

/// The buffers of the `tokio/1MiB_buffer` rows.
const BIG_BUF: usize = 1 << 20;

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    let size = if b.quick { QUICK } else { FULL };
    let dir = Dir::new();
    let src = dir.0.join("src");
    write_source(&src, size);
    let cp_never = cp_supports_reflink_never(&dir.0);
    warm_up(&dir.0, &src, size);
    print_header(b, size, &dir.0, cp_never);
    file_to_file(b, &dir.0, &src, size, cp_never, false);
    if can_drop_caches() {
        file_to_file(b, &dir.0, &src, size, cp_never, true);
    } else if !b.json {
        println!(
            "# copy: file_to_file_cold skipped: cannot write /proc/sys/vm/drop_caches (not root)"
        );
    }
    file_to_tcp(b, &src, size);
    tcp_to_file(b, &dir.0, size);
    tcp_to_tcp(b, size);
}

/// The directory of the suite's files, removed with everything in it when
/// the suite ends (or panics). Under `NETPOLL_BENCH_DIR` if set, else
/// under the system's temporary directory; all files of a run are on its
/// filesystem.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let base = std::env::var_os("NETPOLL_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let path = base.join(format!("netpoll-bench-copy-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating the copy suite's directory");
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` bytes of a fixed pseudo-random pattern (xorshift), so no layer
/// can shortcut zeros.
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes the source file and syncs it: it stays in the page cache (the
/// warm cases read it from there) and holds no dirty pages.
fn write_source(path: &Path, size: u64) {
    let buf = pattern(1 << 20);
    let mut f = std::fs::File::create(path).expect("creating the source file");
    for _ in 0..size / buf.len() as u64 {
        f.write_all(&buf).expect("writing the source file");
    }
    f.sync_all().expect("syncing the source file");
}

/// One untimed copy of the source, deleted at once. The first copy of
/// 1 GiB after the source was written took 1.2 s where the next ones took
/// 0.34 s (the kernel finding memory for the first destination's pages,
/// likely); without this, that one falls on the first sample.
fn warm_up(dir: &Path, src: &Path, size: u64) {
    let dst = dir.join("warm-up");
    std::fs::copy(src, &dst).expect("the warm-up copy");
    check_and_remove(&dst, size);
}

/// Whether this `cp` takes `--reflink=never` (GNU coreutils does).
fn cp_supports_reflink_never(dir: &Path) -> bool {
    let (a, b) = (dir.join("probe-a"), dir.join("probe-b"));
    std::fs::write(&a, b"x").expect("writing the cp probe");
    let ok = Command::new("cp")
        .arg("--reflink=never")
        .arg(&a)
        .arg(&b)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
    ok
}

/// Whether this process may drop the page cache (root, and a writable
/// procfs): tried once, for real.
fn can_drop_caches() -> bool {
    drop_caches().is_ok()
}

/// Writes back dirty pages, then drops the clean ones (and the dentry and
/// inode caches) of the whole machine.
fn drop_caches() -> io::Result<()> {
    Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

/// The suite's legend and columns (nothing with `--json`).
fn print_header(b: &Bench, size: u64, dir: &Path, cp_never: bool) {
    if b.json {
        return;
    }
    let cp = if cp_never {
        "`cp --reflink=never`"
    } else {
        "`cp` (no --reflink=never here)"
    };
    println!(
        "# copy: {} MiB per sample; files in {} (one filesystem); {} repetitions per system, \
         interleaved, the order reversed every other repetition; median shown.\n\
         # GiB/s = bytes / median. ratio_vs_tokio = the tokio row's median / this median \
         (tokio::fs::copy, tokio::io::copy or tokio::io::copy_bidirectional, same case); \
         ratio_vs_cp = {cp}'s median / this median (file cases): > 1.00 means faster.\n\
         # path = the copy paths netpoll's metrics counted during the row's samples.",
        size >> 20,
        dir.display(),
        b.reps,
    );
    println!(
        "{:<8} {:<18} {:<24} {:>10} {:>7} {:>15} {:>12}  path",
        "suite", "case", "system", "median", "GiB/s", "ratio_vs_tokio", "ratio_vs_cp"
    );
}

/// The paths each netpoll sample took, as [`path_of`] names them.
type Paths = RefCell<Vec<String>>;

/// The copy paths netpoll moved bytes by between two snapshots, e.g.
/// `splice` (or `copy_file_range+buffer` if a copy fell back midway).
fn path_of(before: netpoll::metrics::Metrics, after: netpoll::metrics::Metrics) -> String {
    let moved = [
        (
            "copy_file_range",
            after.copy_file_range_bytes - before.copy_file_range_bytes,
        ),
        ("sendfile", after.sendfile_bytes - before.sendfile_bytes),
        ("splice", after.splice_bytes - before.splice_bytes),
        (
            "buffer",
            after.generic_copy_bytes - before.generic_copy_bytes,
        ),
    ];
    let names: Vec<&str> = moved
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| *name)
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join("+")
    }
}

/// One row of a case: its name and one timed sample.
struct Row<'a> {
    system: &'static str,
    run: &'a dyn Fn() -> Duration,
}

/// The rows of the socket cases: netpoll, tokio as it comes, and tokio
/// with 1 MiB buffers.
fn socket_rows<'a>(
    netpoll: &'a dyn Fn() -> Duration,
    tokio: &'a dyn Fn() -> Duration,
    tokio_big: &'a dyn Fn() -> Duration,
) -> [Row<'a>; 3] {
    [
        ("netpoll/multi_thread", netpoll),
        ("tokio/multi_thread", tokio),
        ("tokio/1MiB_buffer", tokio_big),
    ]
    .map(|(system, run)| Row { system, run })
}

/// Times `rows` interleaved and prints them. `tokio` and `cp` are the
/// indices of the rows the ratios are taken against; `paths` is what the
/// netpoll row (`netpoll`) recorded.
fn report(
    b: &Bench,
    case: &str,
    size: u64,
    rows: &[Row],
    (tokio, cp): (usize, Option<usize>),
    (netpoll, paths): (usize, &Paths),
) {
    let runs: Vec<&dyn Fn() -> Duration> = rows.iter().map(|r| r.run).collect();
    let medians = b.interleaved(&runs);
    let mut seen = paths.borrow().clone();
    seen.sort();
    seen.dedup();
    let netpoll_path = seen.join(",");
    for (i, row) in rows.iter().enumerate() {
        let t = medians[i].as_secs_f64();
        let gib_s = size as f64 / t / f64::from(1u32 << 30);
        let vs_tokio = medians[tokio].as_secs_f64() / t;
        let vs_cp = cp.map(|c| medians[c].as_secs_f64() / t);
        let path = if i == netpoll {
            netpoll_path.as_str()
        } else {
            "-"
        };
        if b.json {
            let vs_cp = vs_cp
                .map(|r| format!(",\"ratio_vs_cp\":{r:.4}"))
                .unwrap_or_default();
            let path = if i == netpoll {
                format!(",\"path\":\"{path}\"")
            } else {
                String::new()
            };
            let line = crate::report::Line {
                suite: "copy",
                case,
                system: row.system,
                metric: "time",
                value: t,
                unit: "s",
                ratio_vs_tokio: Some(vs_tokio),
            };
            println!(
                "{}",
                line.json(&format!(
                    ",\"bytes\":{size},\"gib_per_s\":{gib_s:.4}{vs_cp}{path}"
                ))
            );
        } else {
            let vs_cp = vs_cp.map(|r| format!("{r:.2}")).unwrap_or_default();
            println!(
                "{:<8} {case:<18} {:<24} {:>10} {gib_s:>7.2} {vs_tokio:>15.2} {vs_cp:>12}  {path}",
                "copy",
                row.system,
                crate::human(medians[i]),
            );
        }
    }
}

/// netpoll as the suite runs it: multi-thread, 2 workers.
fn netpoll_rt() -> netpoll::runtime::Runtime {
    netpoll::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("netpoll runtime")
}

/// tokio as the suite runs it: multi-thread, 2 workers, with its I/O
/// driver (sockets) and blocking pool (files).
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_io()
        .build()
        .expect("tokio runtime")
}

/// Runs `f` as a task on a fresh netpoll runtime (on a worker, as a
/// server's handler would) and returns its output. Building and dropping
/// the runtime stay outside any clock `f` keeps.
fn on_netpoll<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let rt = netpoll_rt();
    rt.block_on(async { netpoll::spawn(f).await.expect("netpoll task failed") })
}

/// [`on_netpoll`] for tokio.
fn on_tokio<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let rt = tokio_rt();
    rt.block_on(async { tokio::spawn(f).await.expect("tokio task failed") })
}

/// Panics unless `path` holds `size` bytes, then deletes it.
fn check_and_remove(path: &Path, size: u64) {
    let len = std::fs::metadata(path).expect("the copy's output").len();
    assert_eq!(len, size, "{} has the wrong length", path.display());
    std::fs::remove_file(path).expect("removing the copy's output");
}

/// File to file: `netpoll::fs::copy` against `cp`, `std::fs::copy` and
/// `tokio::fs::copy`, from a source in the page cache, or (`cold`) with
/// the page cache dropped before each sample.
fn file_to_file(b: &Bench, dir: &Path, src: &Path, size: u64, cp_never: bool, cold: bool) {
    let dst = dir.join("dst");
    let before = || {
        if cold {
            drop_caches().expect("dropping the page cache");
        }
    };
    let cp_with = |args: &[&str]| {
        before();
        let start = Instant::now();
        let status = Command::new("cp").args(args).arg(src).arg(&dst).status();
        let took = start.elapsed();
        assert!(status.expect("spawning cp").success(), "cp failed");
        check_and_remove(&dst, size);
        took
    };
    let cp_never_args: &[&str] = if cp_never { &["--reflink=never"] } else { &[] };
    let cp_never_run = || cp_with(cp_never_args);
    let cp_run = || cp_with(&[]);
    let std_run = || {
        before();
        let start = Instant::now();
        let n = std::fs::copy(src, &dst).expect("std::fs::copy");
        let took = start.elapsed();
        assert_eq!(n, size);
        check_and_remove(&dst, size);
        took
    };
    let tokio_run = || {
        before();
        let (from, to) = (src.to_owned(), dst.clone());
        let took = on_tokio(async move {
            let start = Instant::now();
            let n = tokio::fs::copy(from, to).await.expect("tokio::fs::copy");
            assert_eq!(n, size);
            start.elapsed()
        });
        check_and_remove(&dst, size);
        took
    };
    let paths = Paths::default();
    let netpoll_run = || {
        before();
        let (from, to) = (src.to_owned(), dst.clone());
        let (took, path) = on_netpoll(async move {
            let snap = netpoll::metrics::snapshot();
            let start = Instant::now();
            let n = netpoll::fs::copy(from, to)
                .await
                .expect("netpoll::fs::copy");
            let took = start.elapsed();
            assert_eq!(n, size);
            (took, path_of(snap, netpoll::metrics::snapshot()))
        });
        paths.borrow_mut().push(path);
        check_and_remove(&dst, size);
        took
    };
    let rows = [
        Row {
            system: "cp --reflink=never",
            run: &cp_never_run,
        },
        Row {
            system: "cp",
            run: &cp_run,
        },
        Row {
            system: "std::fs::copy",
            run: &std_run,
        },
        Row {
            system: "tokio::fs::copy",
            run: &tokio_run,
        },
        Row {
            system: "netpoll::fs::copy",
            run: &netpoll_run,
        },
    ];
    // Without --reflink=never both cp rows would be the same: keep one.
    let rows = if cp_never { &rows[..] } else { &rows[1..] };
    let case = if cold {
        "file_to_file_cold"
    } else {
        "file_to_file"
    };
    let n = rows.len();
    report(b, case, size, rows, (n - 2, Some(0)), (n - 1, &paths));
}

/// A blocking std thread that accepts one connection on `listener`, reads
/// it to the end and returns the bytes read, with when it saw the end.
fn sink(listener: std::net::TcpListener) -> JoinHandle<(u64, Instant)> {
    named("bench-sink", move || {
        let (mut s, _) = listener.accept().expect("sink accept");
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (total, Instant::now()),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("sink read: {e}"),
            }
        }
    })
}

/// Spawns `f` on a std thread called `name`. Named, because an unnamed
/// thread takes the name of the thread that spawns it (here often a
/// runtime's worker), which would blur a profile by thread.
fn named<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawning a thread")
}

/// A sink on a fresh loopback listener: its address and its thread.
fn start_sink() -> (SocketAddr, JoinHandle<(u64, Instant)>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("sink bind");
    (l.local_addr().expect("sink address"), sink(l))
}

/// A blocking std thread that connects to `addr`, waits for `go`, writes
/// `size` bytes, shuts its write side down and reads until the other side
/// does the same (a proxy's client; a plain sender sees the end at once).
fn sender(addr: SocketAddr, size: u64, go: mpsc::Receiver<()>) -> JoinHandle<()> {
    named("bench-sender", move || {
        let mut s = std::net::TcpStream::connect(addr).expect("sender connect");
        let buf = pattern(CHUNK);
        go.recv().expect("go");
        for _ in 0..size / CHUNK as u64 {
            s.write_all(&buf).expect("sender write");
        }
        s.shutdown(Shutdown::Write).expect("sender shutdown");
        let mut rest = Vec::new();
        // The receiver may close without shutting down (a reset): fine.
        let _ = s.read_to_end(&mut rest);
    })
}

/// File to TCP: a file in the page cache to a loopback socket whose other
/// end a std thread reads and discards. The clock stops when the sink
/// reads the end of the stream (after the last byte), so neither the
/// bytes still in the socket buffers nor dropping the runtime count.
fn file_to_tcp(b: &Bench, src: &Path, size: u64) {
    let paths = Paths::default();
    let netpoll_run = || {
        let (addr, sink) = start_sink();
        let from = src.to_owned();
        let (start, path) = on_netpoll(async move {
            let mut file = netpoll::fs::File::open(from).await.expect("open");
            let stream = netpoll::net::TcpStream::connect(addr)
                .await
                .expect("connect");
            let snap = netpoll::metrics::snapshot();
            let start = Instant::now();
            let mut w = &stream;
            let n = netpoll::io::copy(&mut file, &mut w).await.expect("copy");
            assert_eq!(n, size);
            drop(stream);
            (start, path_of(snap, netpoll::metrics::snapshot()))
        });
        let (got, end) = sink.join().expect("sink");
        assert_eq!(got, size);
        paths.borrow_mut().push(path);
        end - start
    };
    let tokio_with = |big: bool| {
        let (addr, sink) = start_sink();
        let from = src.to_owned();
        let start = on_tokio(async move {
            let file = tokio::fs::File::open(from).await.expect("open");
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let start = Instant::now();
            let n = if big {
                let mut r = tokio::io::BufReader::with_capacity(BIG_BUF, file);
                tokio::io::copy_buf(&mut r, &mut stream).await
            } else {
                let mut file = file;
                tokio::io::copy(&mut file, &mut stream).await
            };
            assert_eq!(n.expect("copy"), size);
            drop(stream);
            start
        });
        let (got, end) = sink.join().expect("sink");
        assert_eq!(got, size);
        end - start
    };
    let tokio_run = || tokio_with(false);
    let tokio_big_run = || tokio_with(true);
    let rows = socket_rows(&netpoll_run, &tokio_run, &tokio_big_run);
    report(b, "file_to_tcp", size, &rows, (1, None), (0, &paths));
}

/// TCP to file: a std thread writes into a loopback socket; the receiver
/// copies what arrives into a new file (page cache, no fsync). The clock
/// starts when the sender is told to go and stops when the copy (and, for
/// tokio, the flush that waits for its last write) returns.
fn tcp_to_file(b: &Bench, dir: &Path, size: u64) {
    let dst = dir.join("dst");
    let paths = Paths::default();
    let netpoll_run = || {
        let to = dst.clone();
        let (took, path, sender) = on_netpoll(async move {
            let l = netpoll::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let (go, wait) = mpsc::channel();
            let sender = sender(l.local_addr().expect("address"), size, wait);
            let (stream, _) = l.accept().await.expect("accept");
            let mut file = netpoll::fs::File::create(to).await.expect("create");
            let snap = netpoll::metrics::snapshot();
            let start = Instant::now();
            go.send(()).expect("go");
            let mut r = &stream;
            let n = netpoll::io::copy(&mut r, &mut file).await.expect("copy");
            let took = start.elapsed();
            assert_eq!(n, size);
            (took, path_of(snap, netpoll::metrics::snapshot()), sender)
        });
        sender.join().expect("sender");
        paths.borrow_mut().push(path);
        check_and_remove(&dst, size);
        took
    };
    let tokio_with = |big: bool| {
        use tokio::io::AsyncWriteExt;
        let to = dst.clone();
        let (took, sender) = on_tokio(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let (go, wait) = mpsc::channel();
            let sender = sender(l.local_addr().expect("address"), size, wait);
            let (mut stream, _) = l.accept().await.expect("accept");
            let mut file = tokio::fs::File::create(to).await.expect("create");
            let start = Instant::now();
            go.send(()).expect("go");
            let n = if big {
                let mut r = tokio::io::BufReader::with_capacity(BIG_BUF, stream);
                tokio::io::copy_buf(&mut r, &mut file).await
            } else {
                tokio::io::copy(&mut stream, &mut file).await
            };
            // tokio's File writes in the background: flush waits for
            // the last one.
            file.flush().await.expect("flush");
            let took = start.elapsed();
            assert_eq!(n.expect("copy"), size);
            (took, sender)
        });
        sender.join().expect("sender");
        check_and_remove(&dst, size);
        took
    };
    let tokio_run = || tokio_with(false);
    let tokio_big_run = || tokio_with(true);
    let rows = socket_rows(&netpoll_run, &tokio_run, &tokio_big_run);
    report(b, "tcp_to_file", size, &rows, (1, None), (0, &paths));
}

/// TCP to TCP through a proxy: a std client writes into the proxy, which
/// relays to a std sink with a bidirectional copy; when the client shuts
/// its side down the proxy passes the half-close on, the sink closes, and
/// that end comes back to the client. The clock stops when the proxy's
/// copy returns (after the sink has read everything and closed).
fn tcp_to_tcp(b: &Bench, size: u64) {
    let paths = Paths::default();
    let netpoll_run = || {
        let (sink_addr, sink) = start_sink();
        let (took, path, client) = on_netpoll(async move {
            let l = netpoll::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let (go, wait) = mpsc::channel();
            let client = sender(l.local_addr().expect("address"), size, wait);
            let (a, _) = l.accept().await.expect("accept");
            let b = netpoll::net::TcpStream::connect(sink_addr)
                .await
                .expect("connect");
            let snap = netpoll::metrics::snapshot();
            let start = Instant::now();
            go.send(()).expect("go");
            let (there, back) = netpoll::io::copy_bidirectional(&a, &b)
                .await
                .expect("copy_bidirectional");
            let took = start.elapsed();
            assert_eq!((there, back), (size, 0));
            (took, path_of(snap, netpoll::metrics::snapshot()), client)
        });
        client.join().expect("client");
        assert_eq!(sink.join().expect("sink").0, size);
        paths.borrow_mut().push(path);
        took
    };
    let tokio_with = |big: bool| {
        let (sink_addr, sink) = start_sink();
        let (took, client) = on_tokio(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let (go, wait) = mpsc::channel();
            let client = sender(l.local_addr().expect("address"), size, wait);
            let (mut a, _) = l.accept().await.expect("accept");
            let mut b = tokio::net::TcpStream::connect(sink_addr)
                .await
                .expect("connect");
            let start = Instant::now();
            go.send(()).expect("go");
            let moved = if big {
                tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, BIG_BUF, BIG_BUF).await
            } else {
                tokio::io::copy_bidirectional(&mut a, &mut b).await
            };
            let took = start.elapsed();
            assert_eq!(moved.expect("copy_bidirectional"), (size, 0));
            (took, client)
        });
        client.join().expect("client");
        assert_eq!(sink.join().expect("sink").0, size);
        took
    };
    let tokio_run = || tokio_with(false);
    let tokio_big_run = || tokio_with(true);
    let rows = socket_rows(&netpoll_run, &tokio_run, &tokio_big_run);
    report(b, "tcp_to_tcp", size, &rows, (1, None), (0, &paths));
}
