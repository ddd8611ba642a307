//! `netpoll::fs`: std's file-system calls on the blocking pool, on both
//! runtime flavours. Each test counts the process's fds before and after.

mod common;

use common::{fd_count, flavours, serial};
use netpoll::fs;
use rustix::fs::{Mode, OFlags};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fresh directory under the system temp dir, removed on drop (also when
/// the test fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str, flavour: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "netpoll-fs-test-{test}-{flavour}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        Scratch(p)
    }

    fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn write_read_round_trip_of_4_mib() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        let dir = Scratch::new("round_trip", name);
        let data: Vec<u8> = (0..4usize << 20).map(|i| b'a' + (i % 26) as u8).collect();
        rt.block_on(async {
            fs::create_dir_all(&dir.0).await.unwrap();
            let path = dir.join("big");
            fs::write(&path, &data).await.unwrap();
            assert_eq!(fs::metadata(&path).await.unwrap().len(), 4 << 20, "{name}");
            let back = fs::read(&path).await.unwrap();
            assert!(back == data, "{name}: read gave different bytes");
            let text = fs::read_to_string(&path).await.unwrap();
            assert!(text.as_bytes() == data, "{name}: read_to_string differs");
            // write truncates.
            fs::write(&path, "short").await.unwrap();
            assert_eq!(fs::read_to_string(&path).await.unwrap(), "short", "{name}");
            assert_eq!(fs::metadata(&path).await.unwrap().len(), 5, "{name}");
            fs::remove_file(&path).await.unwrap();
        });
        drop(dir);
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn read_dir_lists_100_files_across_batches() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        let dir = Scratch::new("read_dir", name);
        let nested = dir.join("a/b/c");
        rt.block_on(async {
            fs::create_dir_all(&nested).await.unwrap();
            // Creating what exists is fine.
            fs::create_dir_all(&nested).await.unwrap();
            assert!(fs::metadata(&nested).await.unwrap().is_dir(), "{name}");
            let mut want: Vec<String> = (0..100).map(|i| format!("file-{i:03}")).collect();
            for (i, n) in want.iter().enumerate() {
                fs::write(nested.join(n), vec![b'x'; i]).await.unwrap();
            }
            fs::create_dir(nested.join("subdir")).await.unwrap();
            want.push("subdir".to_owned());

            let mut entries = fs::read_dir(&nested).await.unwrap();
            let mut got = Vec::new();
            while let Some(e) = entries.next_entry().await.unwrap() {
                let n = e.file_name().into_string().unwrap();
                assert_eq!(e.path(), nested.join(&n), "{name}");
                let ft = e.file_type().await.unwrap();
                if n == "subdir" {
                    assert!(ft.is_dir(), "{name}: {n}");
                } else {
                    assert!(ft.is_file(), "{name}: {n}");
                    let i: u64 = n["file-".len()..].parse().unwrap();
                    assert_eq!(e.metadata().await.unwrap().len(), i, "{name}: {n}");
                }
                got.push(n);
            }
            // The end is sticky.
            assert!(entries.next_entry().await.unwrap().is_none(), "{name}");
            got.sort();
            assert_eq!(got, want, "{name}");

            // An empty directory ends at once.
            let mut empty = fs::read_dir(nested.join("subdir")).await.unwrap();
            assert!(empty.next_entry().await.unwrap().is_none(), "{name}");

            // Dropping a listing part way closes the directory.
            let mut partial = fs::read_dir(&nested).await.unwrap();
            for _ in 0..5 {
                assert!(partial.next_entry().await.unwrap().is_some(), "{name}");
            }
            drop(partial);

            fs::remove_dir_all(dir.join("a")).await.unwrap();
            let gone = fs::metadata(dir.join("a")).await.unwrap_err();
            assert_eq!(gone.kind(), ErrorKind::NotFound, "{name}");
        });
        drop(dir);
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn rename_links_permissions_and_removal() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        let dir = Scratch::new("ops", name);
        rt.block_on(async {
            fs::create_dir(&dir.0).await.unwrap();

            // rename
            fs::write(dir.join("old"), "payload").await.unwrap();
            fs::rename(dir.join("old"), dir.join("new")).await.unwrap();
            assert_eq!(
                fs::read_to_string(dir.join("new")).await.unwrap(),
                "payload"
            );
            let old = fs::metadata(dir.join("old")).await.unwrap_err();
            assert_eq!(old.kind(), ErrorKind::NotFound, "{name}");

            // hard_link: one inode, two names.
            fs::hard_link(dir.join("new"), dir.join("link"))
                .await
                .unwrap();
            let (a, b) = (
                fs::metadata(dir.join("new")).await.unwrap(),
                fs::metadata(dir.join("link")).await.unwrap(),
            );
            assert_eq!(a.ino(), b.ino(), "{name}");
            assert_eq!(a.nlink(), 2, "{name}");
            fs::write(dir.join("link"), "changed").await.unwrap();
            assert_eq!(
                fs::read_to_string(dir.join("new")).await.unwrap(),
                "changed"
            );

            // symlink, read_link, symlink_metadata, canonicalize
            fs::symlink("new", dir.join("sym")).await.unwrap();
            assert_eq!(
                fs::read_link(dir.join("sym")).await.unwrap(),
                Path::new("new")
            );
            let lmeta = fs::symlink_metadata(dir.join("sym")).await.unwrap();
            assert!(lmeta.file_type().is_symlink(), "{name}");
            assert!(
                fs::metadata(dir.join("sym")).await.unwrap().is_file(),
                "{name}"
            );
            let canon = fs::canonicalize(dir.join("sym")).await.unwrap();
            assert_eq!(
                canon,
                std::fs::canonicalize(dir.join("new")).unwrap(),
                "{name}"
            );

            // set_permissions: read-only.
            let path = dir.join("new");
            let original = fs::metadata(&path).await.unwrap().permissions();
            let mut perms = original.clone();
            perms.set_readonly(true);
            fs::set_permissions(&path, perms).await.unwrap();
            let now = fs::metadata(&path).await.unwrap().permissions();
            assert!(now.readonly(), "{name}");
            assert_eq!(now.mode() & 0o222, 0, "{name}");
            // Root may write anyway: for it, only the mode is checked.
            if !rustix::process::geteuid().is_root() {
                let denied = fs::write(&path, "nope").await.unwrap_err();
                assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{name}");
            }
            fs::set_permissions(&path, original.clone()).await.unwrap();
            let restored = fs::metadata(&path).await.unwrap().permissions();
            assert_eq!(restored.mode(), original.mode(), "{name}");
            fs::write(&path, "writable again").await.unwrap();

            // remove_file, remove_dir, remove_dir_all
            fs::remove_file(dir.join("sym")).await.unwrap();
            fs::remove_file(dir.join("link")).await.unwrap();
            assert_eq!(fs::metadata(&path).await.unwrap().nlink(), 1, "{name}");
            fs::create_dir(dir.join("empty")).await.unwrap();
            fs::remove_dir(dir.join("empty")).await.unwrap();
            fs::create_dir_all(dir.join("full/deeper")).await.unwrap();
            fs::write(dir.join("full/deeper/f"), "x").await.unwrap();
            fs::remove_dir_all(&dir.0).await.unwrap();
            let gone = fs::metadata(&dir.0).await.unwrap_err();
            assert_eq!(gone.kind(), ErrorKind::NotFound, "{name}");
        });
        drop(dir);
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

#[test]
fn errors_are_std_errors_not_panics() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        let dir = Scratch::new("errors", name);
        rt.block_on(async {
            fs::create_dir(&dir.0).await.unwrap();
            let missing = dir.join("missing");

            // The same error std gives, kind and errno.
            let ours = fs::read(&missing).await.unwrap_err();
            let std_err = std::fs::read(&missing).unwrap_err();
            assert_eq!(ours.kind(), ErrorKind::NotFound, "{name}");
            assert_eq!(ours.raw_os_error(), std_err.raw_os_error(), "{name}");

            for err in [
                fs::read_to_string(&missing).await.unwrap_err(),
                fs::metadata(&missing).await.unwrap_err(),
                fs::symlink_metadata(&missing).await.unwrap_err(),
                fs::remove_file(&missing).await.unwrap_err(),
                fs::remove_dir(&missing).await.unwrap_err(),
                fs::remove_dir_all(&missing).await.unwrap_err(),
                fs::rename(&missing, dir.join("x")).await.unwrap_err(),
                fs::canonicalize(&missing).await.unwrap_err(),
                fs::hard_link(&missing, dir.join("x")).await.unwrap_err(),
                fs::read_link(&missing).await.unwrap_err(),
                fs::read_dir(&missing).await.unwrap_err(),
                fs::write(missing.join("child"), "x").await.unwrap_err(),
                fs::create_dir(missing.join("child")).await.unwrap_err(),
            ] {
                assert_eq!(err.kind(), ErrorKind::NotFound, "{name}: {err}");
            }

            fs::write(dir.join("file"), [0xff, 0xfe]).await.unwrap();
            let utf8 = fs::read_to_string(dir.join("file")).await.unwrap_err();
            assert_eq!(utf8.kind(), ErrorKind::InvalidData, "{name}");
            let exists = fs::create_dir(&dir.0).await.unwrap_err();
            assert_eq!(exists.kind(), ErrorKind::AlreadyExists, "{name}");
            let not_dir = fs::read_dir(dir.join("file")).await.unwrap_err();
            assert_eq!(not_dir.kind(), ErrorKind::NotADirectory, "{name}");
            let not_empty = fs::remove_dir(&dir.0).await.unwrap_err();
            assert_eq!(not_empty.kind(), ErrorKind::DirectoryNotEmpty, "{name}");
            let not_link = fs::read_link(dir.join("file")).await.unwrap_err();
            assert_eq!(not_link.kind(), ErrorKind::InvalidInput, "{name}");
        });
        drop(dir);
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}

/// `fs::read` of a FIFO blocks in `open` until a writer appears, and the
/// only writer is a task on the same runtime. On the current-thread
/// runtime that task can run only if the read blocks some other thread:
/// the blocking pool. If the read ran on the runtime's thread, a watchdog
/// thread unblocks it after 10 s with other bytes and the test fails.
#[test]
fn blocking_calls_leave_the_runtime_thread_free() {
    let _serial = serial();
    for (name, rt) in flavours() {
        let before = fd_count();
        let dir = Scratch::new("off_thread", name);
        std::fs::create_dir(&dir.0).unwrap();
        let fifo = dir.join("fifo");
        common::mkfifo(&fifo);
        // Opens the write end without blocking: only works while a reader
        // has the FIFO open (ENXIO otherwise).
        let open_writer = |p: &Path| {
            rustix::fs::open(
                p,
                OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };

        let (done, done_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn({
            let fifo = fifo.clone();
            move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    done_rx.recv_timeout(Duration::from_secs(10))
                {
                    if let Ok(fd) = open_writer(&fifo) {
                        let _ = rustix::io::write(&fd, b"from the watchdog");
                    }
                }
            }
        });

        let (data, wrote) = rt.block_on(async {
            let writer = netpoll::spawn({
                let fifo = fifo.clone();
                async move {
                    let start = Instant::now();
                    loop {
                        match open_writer(&fifo) {
                            Ok(fd) => return rustix::io::write(&fd, b"from a task").map(drop),
                            Err(rustix::io::Errno::NXIO)
                                if start.elapsed() < Duration::from_secs(10) =>
                            {
                                netpoll::time::sleep(Duration::from_millis(1)).await
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            });
            let data = fs::read(&fifo).await.unwrap();
            // Bounded: the writer gives up after 10 s.
            (data, writer.await.unwrap())
        });
        let _ = done.send(());
        watchdog.join().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&data),
            "from a task",
            "{name}: the read blocked the runtime's thread"
        );
        assert_eq!(wrote, Ok(()), "{name}: the writer task failed");
        drop(dir);
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}
