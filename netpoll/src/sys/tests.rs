//! Backend tests, run on every backend this platform has.

use super::*;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Every backend that can run here.
fn selectors() -> Vec<Selector> {
    [
        Poller::Epoll,
        Poller::Kqueue,
        Poller::EventPorts,
        Poller::Poll,
    ]
    .into_iter()
    .filter_map(|k| Selector::new(k).ok())
    .collect()
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Fills `s`'s send buffer until the kernel says EAGAIN.
fn fill(s: &mut UnixStream) {
    let chunk = [0u8; 65536];
    while s.write(&chunk).is_ok() {}
}

fn events_for(ev: &Events, token: u64) -> Vec<Readiness> {
    ev.iter()
        .filter(|e| e.token == token)
        .map(|e| e.ready)
        .collect()
}

#[test]
fn both_linux_backends_exist() {
    let kinds: Vec<_> = selectors().iter().map(|s| s.kind()).collect();
    assert!(kinds.contains(&Poller::Poll));
    #[cfg(target_os = "linux")]
    assert!(kinds.contains(&Poller::Epoll));
}

#[test]
fn wakes_coalesce_and_only_a_blocking_wait_consumes_them() {
    for sel in selectors() {
        let mut ev = Events::new();
        assert!(
            sel.wake().unwrap(),
            "{:?}: first wake reaches the kernel",
            sel.kind()
        );
        assert!(
            !sel.wake().unwrap(),
            "{:?}: second wake coalesces",
            sel.kind()
        );
        // A non-blocking wait sees it but leaves it pending.
        assert!(sel.wait(&mut ev, Some(Duration::ZERO)).unwrap());
        assert!(!sel.wake().unwrap(), "{:?}: still pending", sel.kind());
        let t = Instant::now();
        assert!(sel.wait(&mut ev, Some(Duration::from_secs(5))).unwrap());
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", sel.kind());
        // Consumed: the next blocking wait times out, and a wake is new again.
        let t = Instant::now();
        assert!(!sel.wait(&mut ev, Some(Duration::from_millis(50))).unwrap());
        assert!(
            t.elapsed() >= Duration::from_millis(50),
            "{:?}: never early",
            sel.kind()
        );
        assert!(sel.wake().unwrap());
    }
}

#[test]
fn a_wake_from_another_thread_interrupts_a_blocking_wait() {
    for sel in selectors() {
        let sel = std::sync::Arc::new(sel);
        let s2 = sel.clone();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s2.wake().unwrap();
        });
        let t = Instant::now();
        let mut ev = Events::new();
        assert!(sel.wait(&mut ev, None).unwrap(), "{:?}", sel.kind());
        assert!(t.elapsed() < Duration::from_secs(5));
        waker.join().unwrap();
    }
}

#[test]
fn readable_and_writable_are_reported_with_the_token() {
    for sel in selectors() {
        let (a, mut b) = pair();
        sel.open(a.as_fd(), 77).unwrap();
        sel.arm(77, Interest::READ | Interest::WRITE).unwrap();
        let mut ev = Events::new();
        sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        let got = events_for(&ev, 77);
        assert!(got.iter().any(|r| r.write), "{:?}: {got:?}", sel.kind());
        assert!(!got.iter().any(|r| r.read), "{:?}: {got:?}", sel.kind());
        b.write_all(b"hi").unwrap();
        sel.arm(77, Interest::READ).unwrap();
        sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        assert!(
            events_for(&ev, 77).iter().any(|r| r.read),
            "{:?}",
            sel.kind()
        );
        sel.close(a.as_fd(), 77).unwrap();
    }
}

#[test]
fn peer_hangup_wakes_both_directions() {
    for sel in selectors() {
        let (a, b) = pair();
        let mut a2 = a.try_clone().unwrap();
        fill(&mut a2);
        sel.open(a.as_fd(), 5).unwrap();
        sel.arm(5, Interest::READ | Interest::WRITE).unwrap();
        drop(b);
        let mut ev = Events::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = Readiness::default();
        while !(seen.read && seen.write) && Instant::now() < deadline {
            sel.wait(&mut ev, Some(Duration::from_millis(100))).unwrap();
            for r in events_for(&ev, 5) {
                seen.read |= r.read;
                seen.write |= r.write;
            }
        }
        assert!(seen.read && seen.write, "{:?}: {seen:?}", sel.kind());
        sel.close(a.as_fd(), 5).unwrap();
    }
}

#[test]
fn edge_triggered_backends_report_an_edge_once() {
    for sel in selectors().into_iter().filter(|s| !s.needs_arm()) {
        let (a, mut b) = pair();
        sel.open(a.as_fd(), 9).unwrap();
        b.write_all(b"x").unwrap();
        let mut ev = Events::new();
        sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        assert!(events_for(&ev, 9).iter().any(|r| r.read));
        sel.wait(&mut ev, Some(Duration::from_millis(50))).unwrap();
        assert!(
            !events_for(&ev, 9).iter().any(|r| r.read),
            "{:?}: no new data, no new edge",
            sel.kind()
        );
        sel.close(a.as_fd(), 9).unwrap();
    }
}

/// The event-port discipline, exercised through poll(2): a read event
/// leaves the write interest armed, and the read interest re-arms only when
/// a waiter asks again; an idle second is spent asleep.
#[test]
fn one_shot_rearm_on_the_poll_backend() {
    let sel = Selector::new(Poller::Poll).unwrap();
    let (mut a, mut b) = pair();
    fill(&mut a); // not writable: the write interest can stay armed unanswered
    sel.open(a.as_fd(), 3).unwrap();
    let fd = a.as_raw_fd();
    sel.arm(3, Interest::READ | Interest::WRITE).unwrap();
    assert_eq!(sel.armed(3, fd), Some(Interest::READ | Interest::WRITE));

    b.write_all(b"ping").unwrap();
    let mut ev = Events::new();
    sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    let got = events_for(&ev, 3);
    assert_eq!(got.len(), 1);
    assert!(got[0].read && !got[0].write);
    assert_eq!(sel.armed(3, fd), Some(Interest::WRITE), "write stays armed");

    // Still readable (nobody read), but the read interest fired: silence.
    sel.wait(&mut ev, Some(Duration::from_millis(100))).unwrap();
    assert!(
        events_for(&ev, 3).is_empty(),
        "read must not re-fire unarmed"
    );

    // An idle second: no busy loop.
    let start = Instant::now();
    let mut returns = 0;
    while start.elapsed() < Duration::from_secs(1) {
        sel.wait(&mut ev, Some(Duration::from_millis(250))).unwrap();
        assert!(events_for(&ev, 3).is_empty());
        returns += 1;
    }
    assert!(returns <= 6, "{returns} wait returns in an idle second");

    // The next waiter arms read again and is answered at once.
    sel.arm(3, Interest::READ).unwrap();
    sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    assert!(events_for(&ev, 3).iter().any(|r| r.read));

    // Draining the peer makes `a` writable: the write interest answers.
    let mut buf = vec![0u8; 1 << 20];
    while b.read(&mut buf).is_ok() {}
    sel.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    assert!(events_for(&ev, 3).iter().any(|r| r.write));
    assert_eq!(sel.armed(3, fd), Some(Interest::NONE));
    sel.close(a.as_fd(), 3).unwrap();
}

/// Arming while another thread sleeps in poll(2) on an older snapshot wakes
/// it, so the new interest takes effect without waiting for a timeout.
#[test]
fn arming_wakes_a_sleeping_poll() {
    let sel = std::sync::Arc::new(Selector::new(Poller::Poll).unwrap());
    let (a, mut b) = pair();
    sel.open(a.as_fd(), 4).unwrap();
    b.write_all(b"x").unwrap();
    let s2 = sel.clone();
    let sleeper = std::thread::spawn(move || {
        let mut ev = Events::new();
        let t = Instant::now();
        loop {
            s2.wait(&mut ev, Some(Duration::from_secs(10))).unwrap();
            if events_for(&ev, 4).iter().any(|r| r.read) {
                return t.elapsed();
            }
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    sel.arm(4, Interest::READ).unwrap();
    assert!(sleeper.join().unwrap() < Duration::from_secs(5));
    sel.close(a.as_fd(), 4).unwrap();
}

#[test]
fn bad_poller_name_is_a_clear_error() {
    let err = Poller::parse("kqeue").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NETPOLL_POLLER"));
    assert_eq!(Poller::parse(" Poll ").unwrap(), Poller::Poll);
}

#[cfg(target_os = "linux")]
#[test]
fn foreign_backend_is_unsupported_not_a_panic() {
    let err = Selector::new(Poller::Kqueue).err().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
}

/// Set in a re-executed test binary: the test it is to run the body of.
#[cfg(target_os = "linux")]
const FRESH_PROCESS_ENV: &str = "NETPOLL_TEST_FRESH_PROCESS";

/// Runs `body` in a new copy of this test binary that runs only the test
/// `name` of `module` (the caller's `module_path!()`), for tests that
/// change the whole process once (a signal action, a seccomp filter).
/// The poller backend is passed on through the inherited
/// `NETPOLL_POLLER`. Fails if the copy fails, hangs for a minute, or ran no
/// test. Linux only: its users (signal actions, seccomp) are.
#[cfg(target_os = "linux")]
pub(super) fn in_fresh_process(module: &str, name: &str, body: fn()) {
    let path = format!("{}::{name}", module.split_once("::").unwrap().1);
    if std::env::var(FRESH_PROCESS_ENV).as_deref() == Ok(path.as_str()) {
        body();
        return;
    }
    // Output to a file, not a pipe: a grandchild left behind by a failing
    // case (a stopped `sleep`) would hold a pipe open for good.
    let log = std::env::temp_dir().join(format!("netpoll-fresh-{name}-{}", std::process::id()));
    let file = std::fs::File::create(&log).unwrap();
    // Under qemu-user (CI's foreign-architecture lanes set
    // NETPOLL_TEST_QEMU to cargo's runner) the binary cannot be exec'd
    // directly: it goes through the emulator.
    let exe = std::env::current_exe().unwrap();
    let qemu: Vec<String> = std::env::var("NETPOLL_TEST_QEMU")
        .map(|c| c.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut cmd = match qemu.split_first() {
        Some((emulator, args)) => {
            let mut c = std::process::Command::new(emulator);
            c.args(args).arg(&exe);
            c
        }
        None => std::process::Command::new(&exe),
    };
    let mut child = cmd
        .args([&path, "--exact", "--nocapture", "--test-threads=1"])
        .env(FRESH_PROCESS_ENV, &path)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    // A hang (a child whose exit was lost) fails the case, not the run.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(status.success(), "{name} failed:\n{text}");
    // Not a filter that matched nothing.
    assert!(text.contains("1 passed"), "{name} did not run:\n{text}");
}

/// Makes `epoll_pwait2` fail with ENOSYS for this thread and the threads it
/// starts from now on, as on Linux before 5.11 (and, with EPERM, under
/// seccomp profiles that predate it).
#[cfg(target_os = "linux")]
fn refuse_epoll_pwait2() {
    fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    let filter = [
        // The syscall number (`seccomp_data.nr`, at offset 0).
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_epoll_pwait2 as u32,
        },
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers.
    let no_new_privs = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(no_new_privs, 0);
    // SAFETY: `prog` points to a valid filter that lives through the call
    // (the kernel copies it).
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    };
    assert_eq!(r, 0, "seccomp: {}", io::Error::last_os_error());
}

/// A wait longer than epoll_wait's int milliseconds (24.8 days) went to
/// epoll_pwait2, which Linux before 5.11 lacks and older seccomp profiles
/// refuse: every wait failed at once, so a runtime whose next timer was
/// that far away (`sleep(Duration::MAX)`, a far deadline) spun in its
/// poller. Waits are capped, and a capped wait just returns early.
#[cfg(target_os = "linux")]
#[test]
fn a_wait_longer_than_epoll_wait_takes_needs_no_epoll_pwait2() {
    if std::env::var_os("NETPOLL_TEST_QEMU").is_some() {
        // qemu-user does not emulate a guest's seccomp filter: it would
        // be installed on the emulator itself, with the wrong syscall
        // numbers.
        eprintln!("skipped under qemu-user: no seccomp emulation");
        return;
    }
    in_fresh_process(
        module_path!(),
        "a_wait_longer_than_epoll_wait_takes_needs_no_epoll_pwait2",
        || {
            refuse_epoll_pwait2();
            let sel = Selector::new(Poller::Epoll).unwrap();
            let far = Some(Duration::from_secs(86_400 * 365 * 30));
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    sel.wake().unwrap();
                });
                let mut ev = Events::new();
                assert!(sel.wait(&mut ev, far).unwrap(), "not woken");
            });

            // A runtime whose only timer is 30 years away sleeps in its
            // poller instead of failing wait after wait (which no metric
            // counts: the CPU time this process spends tells).
            let rt = crate::runtime::Builder::new_current_thread()
                .poller(Poller::Epoll)
                .build()
                .unwrap();
            let cpu = rt.block_on(async {
                let never = crate::spawn(crate::time::sleep(Duration::MAX));
                let before = cpu_time();
                // 200 ms in which the only timer is the far one.
                crate::spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)))
                    .await
                    .unwrap();
                never.abort();
                cpu_time() - before
            });
            assert!(
                cpu < Duration::from_millis(20),
                "{cpu:?} of CPU in 200 ms: spinning"
            );
        },
    );
}

/// User and system CPU time of this process so far.
#[cfg(target_os = "linux")]
fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid storage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid storage for the call to fill.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
