//! Child processes on both paths (pidfd and the SIGCHLD reaper) and both
//! runtime flavours; the poller backend comes from NETPOLL_POLLER.

mod common;

use common::{fd_count, serial};
use netpoll::process::{is_process_done, Command};
use netpoll::runtime::{Builder, Runtime};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// (name, runtime) for each flavour × process path.
///
/// Under ThreadSanitizer (the tsan lane builds with `--cfg netpoll_tsan`)
/// only the pidfd path runs: ThreadSanitizer defers an asynchronous
/// signal's handler until the thread it landed on next calls into the C
/// library, and a worker parked in a futex never does, so the SIGCHLD
/// reaper would never hear its children there.
fn runtimes() -> Vec<(String, Runtime)> {
    let mut v = Vec::new();
    let paths: &[bool] = if cfg!(netpoll_tsan) {
        &[true]
    } else {
        &[true, false]
    };
    for &pidfd in paths {
        let path = if pidfd { "pidfd" } else { "sigchld" };
        v.push((
            format!("multi_thread/{path}"),
            Builder::new_multi_thread()
                .worker_threads(2)
                .pidfd(pidfd)
                .build()
                .unwrap(),
        ));
        v.push((
            format!("current_thread/{path}"),
            Builder::new_current_thread().pidfd(pidfd).build().unwrap(),
        ));
    }
    v
}

/// Children of this process still in /proc: running, or exited and not
/// reaped (zombies). Counting the running ones too means a check for "none
/// left" cannot pass just because a child has not exited yet.
fn children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid ...": comm may hold spaces.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            rest.split_whitespace().nth(1) == Some(me.as_str())
        })
        .count()
}

#[test]
fn exit_codes_signals_and_kill_after_wait() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let st = Command::new("sh")
                .args(["-c", "exit 7"])
                .status()
                .await
                .unwrap();
            assert_eq!(st.code(), Some(7), "{name}");

            let mut child = Command::new("sleep").arg("10").spawn().unwrap();
            assert_eq!(child.try_wait().unwrap(), None, "{name}");
            let sent = netpoll::metrics::snapshot();
            child.signal(libc_sigterm()).unwrap();
            let m = netpoll::metrics::snapshot();
            // The path the runtime was built for is the one that signalled
            // (Linux 6.x allows pidfds here).
            if name.ends_with("pidfd") {
                assert!(
                    m.signals_by_pidfd > sent.signals_by_pidfd,
                    "{name}: not by pidfd"
                );
            } else {
                assert!(m.signals_by_pid > sent.signals_by_pid, "{name}: not by pid");
            }
            let st = child.wait().await.unwrap();
            assert_eq!(st.signal(), Some(libc_sigterm()), "{name}: {st:?}");
            // wait after wait: the cached status.
            assert_eq!(child.wait().await.unwrap(), st);
            assert_eq!(child.try_wait().unwrap(), Some(st));
            // Reaped: kill and signal send nothing and say so.
            let before = netpoll::metrics::snapshot();
            assert!(is_process_done(&child.kill().unwrap_err()), "{name}");
            assert!(is_process_done(&child.signal(libc_sigterm()).unwrap_err()));
            let after = netpoll::metrics::snapshot();
            assert_eq!(
                after.signals_by_pid + after.signals_by_pidfd,
                before.signals_by_pid + before.signals_by_pidfd,
                "{name}: a signal was sent after the reap"
            );

            // A child that exits on its own, then try_wait sees it.
            let mut child = Command::new("true").spawn().unwrap();
            let start = Instant::now();
            loop {
                if let Some(st) = child.try_wait().unwrap() {
                    assert!(st.success());
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{name}: never exited"
                );
                netpoll::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
}

fn libc_sigterm() -> i32 {
    15
}

#[test]
fn a_thousand_children_waited_and_a_thousand_dropped_leave_no_zombie() {
    let _serial = serial();
    for (name, rt) in runtimes()
        .into_iter()
        .filter(|(n, _)| n.starts_with("multi"))
    {
        rt.block_on(async {
            let tasks: Vec<_> = (0..1000)
                .map(|_| {
                    netpoll::spawn(async {
                        let mut c = Command::new("true").spawn()?;
                        c.wait().await
                    })
                })
                .collect();
            for t in tasks {
                assert!(t.await.unwrap().unwrap().success(), "{name}");
            }
            for _ in 0..1000 {
                drop(Command::new("true").spawn().unwrap());
            }
        });
        let start = Instant::now();
        // Every child was `true`: all exit at once, so any still listed
        // after a few seconds is a zombie nobody reaps.
        while children() > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{name}: {} children left after 5 s",
                children()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn kill_on_drop_kills_then_reaps() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let child = Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let pid = child.id();
            drop(child);
            let start = Instant::now();
            // Gone from /proc entirely: killed and reaped.
            while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                assert!(
                    start.elapsed() < Duration::from_secs(3),
                    "{name}: still there"
                );
                netpoll::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
}

#[test]
fn ten_mib_through_cat_without_deadlock() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("netpoll-cat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let (input, output) = (dir.join("in"), dir.join("out"));
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            // Both directions with io::copy at once: file -> stdin while
            // stdout -> file, so neither pipe can fill up and stall cat.
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let (input, output) = (input.clone(), output.clone());
            let feed = netpoll::spawn(async move {
                let mut src = netpoll::fs::File::open(&input).await?;
                let n = netpoll::io::copy(&mut src, &mut stdin).await?;
                stdin.close()?;
                Ok::<_, std::io::Error>(n)
            });
            let mut dst = netpoll::fs::File::create(&output).await.unwrap();
            let drained = netpoll::io::copy(&mut stdout, &mut dst).await.unwrap();
            assert_eq!(feed.await.unwrap().unwrap(), 10 << 20, "{name}");
            assert_eq!(drained, 10 << 20, "{name}");
            assert!(child.wait().await.unwrap().success(), "{name}");
            assert!(
                std::fs::read(&output).unwrap() == data,
                "{name}: bytes differ"
            );
        });
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_returns_while_a_pty_is_copied_into_the_childs_stdin() {
    use rustix::pty::{grantpt, openpt, unlockpt, OpenptFlags};
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            // The Go #71375 case: a copy from a pty into the child's stdin
            // is blocked reading the pty when the child exits.
            let master =
                openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
            grantpt(&master).unwrap();
            unlockpt(&master).unwrap();
            rustix::io::ioctl_fionbio(&master, true).unwrap();
            let pty = netpoll::fs::File::from_std(std::fs::File::from(master)).unwrap();
            let mut child = Command::new("sh")
                .args(["-c", "sleep 0.05"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            let copy = netpoll::spawn(async move {
                let mut buf = [0; 512];
                loop {
                    let n = pty.read(&mut buf).await?;
                    stdin.write_all(&buf[..n]).await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), std::io::Error>(())
            });
            let st = netpoll::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .expect("wait hung behind the copy")
                .unwrap();
            assert!(st.success(), "{name}");
            copy.abort();
        });
    }
}

#[test]
fn a_missing_program_is_a_clear_error_and_leaks_no_fd() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        let before = fd_count();
        rt.block_on(async {
            let err = Command::new("/nonexistent/netpoll-test-program")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{name}: {err}");
        });
        assert_eq!(fd_count(), before, "{name}: fds leaked");
    }
}
