//! Files, FIFOs and pipes: polled where the kernel allows, the blocking
//! pool where it does not. Go's FIFO tests, written fresh, on both runtime
//! flavours; the poller backend comes from NETPOLL_POLLER.

mod common;

use common::{fd_count, flavours, mkfifo, serial, SLACK};
use netpoll::fs::{File, OpenOptions};
use netpoll::io::{is_closed, is_deadline, pipe};
use netpoll::time::sleep;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpoll-fs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

const O_NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;

#[test]
fn a_nonblocking_fifo_reader_reaches_eof_after_the_writer_closes() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let dir = scratch(name);
        let before = fd_count();
        rt.block_on(async {
            let path = dir.join("fifo");
            mkfifo(&path);
            // Non-blocking open: no writer yet, and it must not wait for one.
            let r = OpenOptions::new()
                .read(true)
                .custom_flags(O_NONBLOCK)
                .open(&path)
                .await
                .unwrap();
            assert!(r.is_pollable(), "{name}: a FIFO goes through the poller");
            let w = OpenOptions::new().write(true).open(&path).await.unwrap();
            w.write_all(b"fifo").await.unwrap();
            w.close().unwrap();
            let mut got = Vec::new();
            let read = netpoll::time::timeout(Duration::from_secs(5), r.read_to_end(&mut got));
            assert_eq!(read.await.expect("hung at EOF").unwrap(), 4, "{name}");
            assert_eq!(got, b"fifo");
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn fifo_cycles_while_error_events_fly_give_no_spurious_error() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let dir = scratch(name);
        let before = fd_count();
        rt.block_on(async {
            // Another task keeps making fds that carry error events (the
            // write end of a pipe whose reader is gone) and closing them,
            // so their descriptors are reused by the FIFOs below.
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            let noise = netpoll::spawn(async move {
                let mut n = 0u64;
                while !s.load(SeqCst) {
                    let (r, w) = pipe().unwrap();
                    drop(r);
                    let _ = w.write(b"x").await; // EPIPE: an error event
                    drop(w);
                    n += 1;
                    netpoll::task::yield_now().await;
                }
                n
            });
            for i in 0..20_000u32 {
                let path = dir.join(format!("f{}", i % 2));
                let _ = std::fs::remove_file(&path);
                mkfifo(&path);
                let r = OpenOptions::new()
                    .read(true)
                    .custom_flags(O_NONBLOCK)
                    .open(&path)
                    .await
                    .unwrap();
                let w = OpenOptions::new().write(true).open(&path).await.unwrap();
                w.write_all(&i.to_le_bytes()).await.unwrap();
                let mut buf = [0; 4];
                r.read_exact(&mut buf)
                    .await
                    .unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
                assert_eq!(u32::from_le_bytes(buf), i);
                drop(w);
                let eof = r
                    .read(&mut buf)
                    .await
                    .unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
                assert_eq!(eof, 0, "{name} #{i}");
            }
            stop.store(true, SeqCst);
            assert!(noise.await.unwrap() > 0);
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_blocked_pipe_read_is_woken_by_close_from_another_task() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            let (r, _w) = pipe().unwrap();
            let r = Arc::new(r);
            let reader = r.clone();
            let read = netpoll::spawn(async move { reader.read(&mut [0; 8]).await });
            sleep(Duration::from_millis(10)).await;
            let start = Instant::now();
            r.close().unwrap();
            assert!(is_closed(&read.await.unwrap().unwrap_err()), "{name}");
            assert!(start.elapsed() < SLACK, "{name}");
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn the_kernel_decides_what_the_other_end_sees() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            // Writer gone: the reader sees EOF.
            let (r, w) = pipe().unwrap();
            let r = Arc::new(r);
            let reader = r.clone();
            let read = netpoll::spawn(async move { reader.read(&mut [0; 8]).await });
            sleep(Duration::from_millis(5)).await;
            w.close().unwrap();
            assert_eq!(read.await.unwrap().unwrap(), 0, "{name}: EOF");
            // Reader gone: the writer gets EPIPE, not a signal.
            let (r, w) = pipe().unwrap();
            drop(r);
            let err = w.write(b"x").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{name}");
        });
    }
}

#[test]
fn deadlines_on_pipes() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let (r, w) = pipe().unwrap();
            let start = Instant::now();
            r.set_read_deadline(Some(start + Duration::from_millis(20)))
                .unwrap();
            let err = r.read(&mut [0; 8]).await.unwrap_err();
            assert!(is_deadline(&err), "{name}: {err}");
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(20) && took < Duration::from_millis(20) + SLACK,
                "{name}: {took:?}"
            );
            r.set_read_deadline(None).unwrap();
            w.write_all(b"ok").await.unwrap();
            assert_eq!(r.read(&mut [0; 8]).await.unwrap(), 2, "{name}");
            // A full pipe: the write deadline fires.
            w.set_write_deadline(Some(Instant::now() + Duration::from_millis(20)))
                .unwrap();
            let err = w.write_all(&vec![0; 1 << 20]).await.unwrap_err();
            assert!(is_deadline(&err), "{name}: {err}");
        });
    }
}

#[test]
fn a_regular_file_goes_through_the_pool_and_has_no_deadlines() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let dir = scratch(name);
        let before = fd_count();
        rt.block_on(async {
            let path = dir.join("big");
            let f = File::create(&path).await.unwrap();
            assert!(!f.is_pollable(), "{name}");
            let err = f.set_read_deadline(Some(Instant::now())).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{name}");
            assert!(f.set_deadline(None).is_err());
            // A 16 MiB round trip through the pool (2 MiB per trip).
            let data: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
            f.write_all(&data).await.unwrap();
            f.sync_all().await.unwrap();
            assert_eq!(f.metadata().await.unwrap().len(), data.len() as u64);
            let f = File::open(&path).await.unwrap();
            let mut back = Vec::new();
            assert_eq!(f.read_to_end(&mut back).await.unwrap(), data.len());
            assert!(back == data, "{name}: data differs");
            // Concurrent readers with read_at, each checking its slice.
            let f = Arc::new(f);
            let readers: Vec<_> = (0..8u64)
                .map(|k| {
                    let f = f.clone();
                    netpoll::spawn(async move {
                        let mut buf = vec![0; 1 << 20];
                        let off = k << 21;
                        let n = f.read_at(&mut buf, off).await.unwrap();
                        (k, n, buf)
                    })
                })
                .collect();
            for h in readers {
                let (k, n, buf) = h.await.unwrap();
                let off = (k << 21) as usize;
                assert_eq!(n, 1 << 20);
                assert!(buf == data[off..off + n], "{name}: read_at {k} differs");
            }
            // Seek and set_len.
            f.seek(std::io::SeekFrom::Start(10)).unwrap();
            let mut one = [0; 1];
            f.read_exact(&mut one).await.unwrap();
            assert_eq!(one[0], data[10]);
            let w = OpenOptions::new().write(true).open(&path).await.unwrap();
            w.set_len(100).await.unwrap();
            assert_eq!(w.metadata().await.unwrap().len(), 100);
            // close, then everything fails with the closed error.
            w.close().unwrap();
            assert!(is_closed(&w.write(b"x").await.unwrap_err()));
            assert!(is_closed(&w.close().unwrap_err()));
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// write_all of a large buffer to a regular file goes to the pool 2 MiB
/// at a time with the write lock held throughout; a close from another
/// task is seen between those trips (no wake reaches the pool thread),
/// instead of the rest of the buffer being written to a closed file.
#[test]
fn close_interrupts_a_long_write_all_to_a_file() {
    let _serial = serial();
    const LEN: usize = 256 << 20;
    let data = Arc::new(vec![7u8; LEN]);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("netpoll-fs-{}-long-write", std::process::id()));
    // Removed even if the test fails, not to leave 256 MiB in memory.
    struct Remove<'a>(&'a std::path::Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _remove = Remove(&path);
    for (name, rt) in flavours() {
        let before = fd_count();
        rt.block_on(async {
            let mut interrupted = false;
            // A round whose close came after the write ended proves
            // nothing: try again.
            for _round in 0..5 {
                let f = Arc::new(File::create(&path).await.unwrap());
                let (w, data) = (f.clone(), data.clone());
                let job = netpoll::spawn(async move { w.write_all(&data).await });
                let waiting = Instant::now();
                while std::fs::metadata(&path).unwrap().len() == 0 {
                    assert!(
                        waiting.elapsed() < Duration::from_secs(10),
                        "{name}: no progress"
                    );
                    sleep(Duration::from_millis(1)).await;
                }
                f.close().unwrap();
                let closed_at = Instant::now();
                let res = job.await.unwrap();
                let took = closed_at.elapsed();
                let len = std::fs::metadata(&path).unwrap().len();
                if res.is_ok() {
                    assert_eq!(len, LEN as u64, "{name}");
                    continue;
                }
                let err = res.unwrap_err();
                assert!(is_closed(&err), "{name}: {err}");
                assert!(len < LEN as u64, "{name}: all written despite the close");
                assert!(took < SLACK, "{name}: stopped {took:?} after the close");
                interrupted = true;
                break;
            }
            assert!(
                interrupted,
                "{name}: every write ran to the end despite the close"
            );
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn stdio_handles_are_duplicates_and_leave_the_flags_alone() {
    let _serial = serial();
    for (name, rt) in flavours() {
        rt.block_on(async {
            let flags = rustix::fs::fcntl_getfl(std::io::stdin()).unwrap();
            let stdin = netpoll::io::stdin().unwrap();
            let out = netpoll::io::stdout().unwrap();
            out.close().unwrap();
            drop(stdin);
            // fd 1 and fd 0 are still open, with their flags as they were.
            assert!(rustix::fs::fcntl_getfl(std::io::stdout()).is_ok(), "{name}");
            assert_eq!(
                rustix::fs::fcntl_getfl(std::io::stdin()).unwrap(),
                flags,
                "{name}"
            );
            let err = netpoll::io::stderr().unwrap();
            err.write_all(b"").await.unwrap();
        });
    }
}
