//! `netpoll::signal` and `Builder::dump_on_signal`, on every poller
//! backend and both runtime flavours.
//!
//! Signals belong to the whole process, and the tests of this binary run
//! on parallel threads of one process: every test that sends one holds
//! `serial()`, so no test sees another's deliveries. Signals are sent with
//! `kill(getpid())`, as from outside: the kernel picks any thread.

mod common;

use common::{backends, fd_count, serial, SLACK};
use netpoll::runtime::{Builder, Runtime};
use netpoll::signal::{ctrl_c, signal, Signals};
use netpoll::signal::{SIGALRM, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH};
use netpoll::time::timeout;
use rustix::process::{getpid, kill_process, Signal};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (name, runtime) for each backend × flavour.
fn runtimes() -> Vec<(String, Runtime)> {
    let mut v = Vec::new();
    for poller in backends() {
        v.push((
            format!("multi_thread/{}", poller.name()),
            Builder::new_multi_thread()
                .worker_threads(2)
                .poller(poller)
                .build()
                .unwrap(),
        ));
        v.push((
            format!("current_thread/{}", poller.name()),
            Builder::new_current_thread()
                .poller(poller)
                .build()
                .unwrap(),
        ));
    }
    v
}

/// Sends `sig` to this process.
fn send(sig: i32) {
    let sig = Signal::from_named_raw(sig).expect("a standard signal");
    kill_process(getpid(), sig).unwrap();
}

/// Whether `s` gets a delivery within `d`.
async fn recv_within(s: &mut Signals, d: Duration) -> bool {
    timeout(d, s.recv()).await.is_ok_and(|v| v == Some(()))
}

#[test]
fn a_signal_reaches_recv() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut usr1 = signal(SIGUSR1).unwrap();
            assert_eq!(usr1.signum(), SIGUSR1);
            // Sent before the wait: the count is there when recv looks.
            send(SIGUSR1);
            assert!(
                recv_within(&mut usr1, Duration::from_secs(5)).await,
                "{name}: sent before recv"
            );
            // Sent while recv waits (most rounds): the signal thread wakes
            // the task. Bounded by SLACK from the send.
            for round in 0..3 {
                let sender = std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_millis(30));
                    let at = Instant::now();
                    send(SIGUSR1);
                    at
                });
                assert!(
                    recv_within(&mut usr1, Duration::from_secs(5)).await,
                    "{name}: round {round}: not woken"
                );
                let late = sender.join().unwrap().elapsed();
                assert!(late < SLACK, "{name}: round {round}: woken {late:?} late");
            }
        });
    }
}

#[test]
fn every_listener_gets_every_delivery() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut a = signal(SIGUSR2).unwrap();
            let mut b = signal(SIGUSR2).unwrap();
            for round in 0..2 {
                // One waits in a task, the other in block_on; both have
                // taken the delivery before the next is sent (two sends
                // before a recv would make one wake).
                let waiter = netpoll::spawn(async move {
                    let seen = recv_within(&mut b, Duration::from_secs(5)).await;
                    (b, seen)
                });
                send(SIGUSR2);
                assert!(
                    recv_within(&mut a, Duration::from_secs(5)).await,
                    "{name}: round {round}: a missed it"
                );
                let seen;
                (b, seen) = waiter.await.unwrap();
                assert!(seen, "{name}: round {round}: b missed it");
            }
        });
    }
    // Outside any runtime, and across two runtimes at once.
    let rts = runtimes();
    let mut a = signal(SIGUSR2).unwrap();
    let mut b = signal(SIGUSR2).unwrap();
    let mut c = signal(SIGUSR2).unwrap();
    send(SIGUSR2);
    assert_eq!(common::block_on(a.recv()), Some(()));
    assert!(rts[0]
        .1
        .block_on(recv_within(&mut b, Duration::from_secs(5))));
    assert!(rts[1]
        .1
        .block_on(recv_within(&mut c, Duration::from_secs(5))));
}

#[test]
fn a_listener_made_after_a_delivery_does_not_see_it() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut first = signal(SIGHUP).unwrap();
            send(SIGHUP);
            assert!(recv_within(&mut first, Duration::from_secs(5)).await);
            let mut late = signal(SIGHUP).unwrap();
            assert!(
                !recv_within(&mut late, SLACK).await,
                "{name}: saw a delivery from before it existed"
            );
            send(SIGHUP);
            assert!(
                recv_within(&mut late, Duration::from_secs(5)).await,
                "{name}"
            );
            assert!(
                recv_within(&mut first, Duration::from_secs(5)).await,
                "{name}"
            );
        });
    }
}

#[test]
fn deliveries_between_two_recvs_make_one_wake_and_none_is_lost() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let mut idle = signal(SIGWINCH).unwrap();
            let mut counter = signal(SIGWINCH).unwrap();
            for _ in 0..3 {
                send(SIGWINCH);
                // Each one delivered before the next is sent.
                assert!(recv_within(&mut counter, Duration::from_secs(5)).await);
            }
            // Three deliveries since `idle` last looked: one wake, at once.
            assert!(
                recv_within(&mut idle, Duration::from_millis(1)).await,
                "{name}"
            );
            assert!(
                !recv_within(&mut idle, SLACK).await,
                "{name}: a second wake"
            );
            // A recv dropped before it completed loses nothing.
            assert!(!recv_within(&mut idle, Duration::from_millis(5)).await);
            send(SIGWINCH);
            assert!(
                recv_within(&mut idle, Duration::from_secs(5)).await,
                "{name}"
            );
        });
    }
}

#[test]
fn ctrl_c_completes_on_sigint() {
    let _serial = serial();
    for (name, rt) in runtimes() {
        rt.block_on(async {
            // Listening from the call on: a SIGINT before the first poll
            // counts (and, caught, does not end this test process).
            let interrupted = ctrl_c();
            send(libc::SIGINT);
            timeout(Duration::from_secs(5), interrupted)
                .await
                .unwrap_or_else(|_| panic!("{name}: no SIGINT seen"))
                .unwrap();
            // And one that waits first.
            let task = netpoll::spawn(ctrl_c());
            netpoll::time::sleep(Duration::from_millis(20)).await;
            send(libc::SIGINT);
            timeout(Duration::from_secs(5), task)
                .await
                .unwrap_or_else(|_| panic!("{name}: no SIGINT seen by the task"))
                .unwrap()
                .unwrap();
        });
    }
}

#[test]
fn signals_that_cannot_or_must_not_be_caught_are_refused() {
    let _serial = serial();
    for sig in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        0,
        -1,
        10_000,
    ] {
        let err = signal(sig).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "signal {sig}: {err}");
        let err = Builder::new_current_thread()
            .dump_on_signal(sig)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "dump on {sig}: {err}");
    }
    let err = signal(libc::SIGKILL).unwrap_err();
    assert!(err.to_string().contains("SIGKILL"), "{err}");
    // The real-time signals glibc keeps for its threads: sigaction's EINVAL.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    assert_eq!(signal(32).unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// A user's SIGCHLD listener and the SIGCHLD reaper (`pidfd(false)`) share
/// the one handler: each gets every delivery.
#[test]
fn a_sigchld_listener_and_the_reaper_both_hear_each_child() {
    let _serial = serial();
    for pidfd in [true, false] {
        for (name, rt) in [
            (
                "multi_thread",
                Builder::new_multi_thread()
                    .worker_threads(2)
                    .pidfd(pidfd)
                    .build()
                    .unwrap(),
            ),
            (
                "current_thread",
                Builder::new_current_thread().pidfd(pidfd).build().unwrap(),
            ),
        ] {
            rt.block_on(async {
                let mut chld = signal(SIGCHLD).unwrap();
                for _ in 0..3 {
                    let st = timeout(
                        Duration::from_secs(5),
                        netpoll::process::Command::new("true").status(),
                    )
                    .await
                    .unwrap_or_else(|_| panic!("{name}/pidfd={pidfd}: the wait hung"))
                    .unwrap();
                    assert!(st.success());
                    assert!(
                        recv_within(&mut chld, Duration::from_secs(5)).await,
                        "{name}/pidfd={pidfd}: no SIGCHLD"
                    );
                }
            });
        }
    }
}

/// Listeners made and dropped leak no fd (there is one pipe per process,
/// made with the first listener), and the signal thread sleeps while a
/// listener waits.
#[test]
fn listeners_leak_no_fd_and_the_signal_thread_does_not_spin() {
    let _serial = serial();
    let rt = Builder::new_current_thread().build().unwrap();
    // Warm: the pipe and the thread exist from the first listener on.
    drop(signal(SIGUSR1).unwrap());
    let before = fd_count();
    rt.block_on(async {
        let mut all: Vec<Signals> = (0..100)
            .map(|i| signal([SIGUSR1, SIGUSR2, SIGALRM][i % 3]).unwrap())
            .collect();
        for sig in [SIGUSR1, SIGUSR2, SIGALRM] {
            send(sig);
        }
        for s in &mut all {
            assert!(recv_within(s, Duration::from_secs(5)).await);
        }
    });
    assert_eq!(fd_count(), before, "fds leaked");

    // A task waits on a listener for 300 ms: the signal thread sleeps.
    let cpu = || common::thread_cpu_ticks("netpoll-signal");
    rt.block_on(async {
        let mut usr1 = signal(SIGUSR1).unwrap();
        let waiter = netpoll::spawn(async move { usr1.recv().await });
        let before = cpu();
        netpoll::time::sleep(Duration::from_millis(300)).await;
        let spent = cpu() - before;
        assert!(
            spent <= 3,
            "the signal thread spun: {spent} ticks in 300 ms"
        );
        waiter.abort();
    });
}

/// The environment variable that makes `dump_on_signal_child` run, naming
/// the file its stderr goes to.
const DUMP_CHILD_ENV: &str = "NETPOLL_DUMP_CHILD";

/// `dump_on_signal` in a fresh process (its listener stays for good): a
/// runtime of each flavour prints its dump on SIGUSR1 and goes on.
#[test]
fn dump_on_signal_prints_the_task_dump_and_goes_on() {
    let exe = std::env::current_exe().unwrap();
    let log = std::env::temp_dir().join(format!("netpoll-dump-child-{}", std::process::id()));
    let file = std::fs::File::create(&log).unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "dump_on_signal_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DUMP_CHILD_ENV, &log)
        .stderr(file)
        .output()
        .unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("DUMP-CHILD-OK"),
        "child failed: {stdout}\n{stderr}"
    );
    assert!(stderr.contains("live tasks"), "{stderr}");
}

/// How many dumps the file at `log` holds.
fn count_dumps(log: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .matches("live tasks")
        .count()
}

#[test]
#[ignore = "run by dump_on_signal_prints_the_task_dump_and_goes_on in a fresh process"]
fn dump_on_signal_child() {
    let Ok(log) = std::env::var(DUMP_CHILD_ENV) else {
        return;
    };
    let dumps = || count_dumps(&log);
    for round in 0..2 {
        // Each built after the last is gone: a listener made earlier would
        // see the earlier round's signal too.
        let rt = match round {
            0 => Builder::new_multi_thread()
                .worker_threads(2)
                .dump_on_signal(SIGUSR1)
                .build(),
            _ => Builder::new_current_thread()
                .dump_on_signal(SIGUSR1)
                .build(),
        }
        .unwrap();
        rt.block_on(async {
            let sleeper = netpoll::task::Builder::new()
                .name("sleeper")
                .spawn(netpoll::time::sleep(Duration::from_secs(60)))
                .unwrap();
            netpoll::time::sleep(Duration::from_millis(20)).await;
            send(SIGUSR1);
            let start = Instant::now();
            while dumps() < round + 1 {
                assert!(start.elapsed() < Duration::from_secs(5), "no dump");
                netpoll::time::sleep(Duration::from_millis(5)).await;
            }
            // Printed, and the runtime goes on.
            netpoll::spawn(async {}).await.unwrap();
            sleeper.abort();
        });
        drop(rt);
        // A dump is one write: wholly in the file once counted.
        let all = std::fs::read_to_string(&log).unwrap();
        let text = &all[all.rfind("live tasks").unwrap()..];
        assert!(
            text.contains(r#""sleeper" waiting: timer due in"#),
            "round {round}: {text}"
        );
        assert!(text.contains(r#""netpoll-dump""#), "round {round}: {text}");
    }

    // Every worker stuck in a task that blocks: the dump still comes (a
    // spare worker runs the dumper) and shows them running.
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .dump_on_signal(SIGUSR1)
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let (started, log) = (started.clone(), log.clone());
            rt.spawn(async move {
                started.fetch_add(1, SeqCst);
                // Blocks its worker until the dump is out (or 10 s).
                let start = Instant::now();
                while count_dumps(&log) < 3 && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    let start = Instant::now();
    while started.load(SeqCst) < 2 {
        assert!(start.elapsed() < Duration::from_secs(5), "not started");
        std::thread::sleep(Duration::from_millis(5));
    }
    send(SIGUSR1);
    while dumps() < 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "no dump");
        std::thread::sleep(Duration::from_millis(5));
    }
    let all = std::fs::read_to_string(&log).unwrap();
    let text = &all[all.rfind("live tasks").unwrap()..];
    assert_eq!(text.matches(" running, spawned at ").count(), 3, "{text}");
    for t in stuck {
        rt.block_on(t).unwrap();
    }
    drop(rt);

    // The dropped runtimes' dumpers are gone with them.
    send(SIGUSR1);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(dumps(), 3);
    println!("DUMP-CHILD-OK");
}
