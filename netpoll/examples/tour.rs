//! A tour of netpoll: every capability, working, with real numbers.
//!
//! Run it with `cargo run --release --example tour`. Each section prints
//! what it saw; the program exits non-zero if any section fails.
//! `NETPOLL_POLLER=poll` runs the same tour on the poll(2) backend.

use netpoll::poll::{Events, Netpoller};
use netpoll::runtime::Builder;
use netpoll::Poller;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

type Section = fn(&Netpoller) -> Result<String, String>;

fn main() {
    let poller = match Netpoller::new(Poller::Auto) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot open a netpoller: {e}");
            std::process::exit(1);
        }
    };
    println!("netpoll tour — poller backend: {}", poller.backend().name());
    let stop = Arc::new(AtomicBool::new(false));
    let driver = drive(&poller, &stop);

    let sections: [(&str, Section); 11] = [
        ("wake-up", pipe_wakes_a_waiter),
        ("stale events", stale_events_are_dropped),
        ("close", evict_wakes_a_blocked_reader),
        ("scheduler", tasks_spread_over_workers),
        ("runtime I/O", io_wakes_a_task_through_the_workers),
        ("timers", timers_never_fire_early),
        ("socket close", close_wakes_a_blocked_socket_read),
        ("deadline", read_deadline_expires),
        ("files", files_pick_their_path),
        ("processes", child_held_by_pidfd),
        ("zero-copy", copies_pick_kernel_paths),
    ];
    let mut failed = 0;
    for (name, section) in sections {
        match section(&poller) {
            Ok(msg) => println!("  [ok]   {name:<14} {msg}"),
            Err(msg) => {
                failed += 1;
                println!("  [FAIL] {name:<14} {msg}");
            }
        }
    }
    stop.store(true, SeqCst);
    let _ = poller.wake();
    let _ = driver.join();

    let m = netpoll::metrics::snapshot();
    println!(
        "metrics: {} events delivered, {} stale events dropped, {} poller waits, {} wakes, \
         {} closes woke waiters, {} deadlines expired, {} children reaped",
        m.events_delivered,
        m.stale_events_dropped,
        m.poller_waits,
        m.wakes,
        m.closes_with_waiters,
        m.deadline_expiries,
        m.children_reaped
    );
    if failed > 0 {
        println!("{failed} section(s) failed");
        std::process::exit(1);
    }
}

/// The thread that waits in the kernel and wakes tasks, as the runtime's
/// idle worker will.
fn drive(poller: &Netpoller, stop: &Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let (poller, stop) = (poller.clone(), stop.clone());
    thread::spawn(move || {
        let mut events = Events::new();
        while !stop.load(SeqCst) {
            if let Err(e) = poller.poll(&mut events, None) {
                eprintln!("poll: {e}");
                return;
            }
        }
    })
}

/// A pipe written by another thread wakes the task waiting to read it.
fn pipe_wakes_a_waiter(poller: &Netpoller) -> Result<String, String> {
    let (r, w) = pipe()?;
    let reg = poller.register(r).map_err(|e| e.to_string())?;
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let sent = Instant::now();
        rustix::io::write(&w, b"hello").map(|_| sent)
    });
    block_on(reg.readable()).map_err(|e| e.to_string())?;
    let woke = Instant::now();
    let sent = writer.join().unwrap().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16];
    let n = rustix::io::read(reg.fd(), &mut buf).map_err(|e| e.to_string())?;
    if &buf[..n] != b"hello" {
        return Err(format!("read {:?}", &buf[..n]));
    }
    Ok(format!(
        "a task waiting on a pipe read \"hello\" {:?} after another thread wrote it",
        woke.saturating_duration_since(sent)
    ))
}

/// Go #59545 on purpose: an error event is collected from the kernel, its
/// fd is closed and a fresh pipe takes over the poll descriptor, and only
/// then is the event delivered. The sequence in the token tells it is
/// stale. Then the same race, left to chance, for a few hundred ms.
fn stale_events_are_dropped(_: &Netpoller) -> Result<String, String> {
    // A poller of its own, so no other thread collects the event first.
    let poller = Netpoller::new(Poller::Auto).map_err(|e| e.to_string())?;
    let noop = Waker::noop();
    let mut cx = Context::from_waker(noop);
    let before = netpoll::metrics::snapshot().stale_events_dropped;

    let broken = poller
        .register(error_only_fd()?)
        .map_err(|e| e.to_string())?;
    let _ = broken.poll_write_ready(&mut cx); // one-shot backends: arm it
    let _ = broken.poll_read_ready(&mut cx);
    let mut events = Events::new();
    poller
        .wait(&mut events, Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    if events.is_empty() {
        return Err("the broken pipe reported no event".into());
    }
    drop(broken); // closed; its descriptor goes back to the cache
    let (r, w) = pipe()?;
    let fresh = poller.register(r).map_err(|e| e.to_string())?;
    poller.dispatch(&events);
    let held = netpoll::metrics::snapshot().stale_events_dropped - before;
    if held < events.len() as u64 {
        return Err(format!("{} held events, only {held} dropped", events.len()));
    }
    if fresh.poll_read_ready(&mut cx).is_ready() {
        return Err("the fresh pipe saw the dead fd's event".into());
    }
    drop((fresh, w));

    // The same race left to chance, with a driver thread collecting events.
    let stop = Arc::new(AtomicBool::new(false));
    let driver = drive(&poller, &stop);
    let before = netpoll::metrics::snapshot().stale_events_dropped;
    let start = Instant::now();
    let mut cycles = 0;
    while start.elapsed() < Duration::from_millis(300) {
        let broken = poller
            .register(error_only_fd()?)
            .map_err(|e| e.to_string())?;
        let _ = broken.poll_write_ready(&mut cx);
        let _ = broken.poll_read_ready(&mut cx);
        drop(broken);
        let (r, w) = pipe()?;
        let fresh = poller.register(r).map_err(|e| e.to_string())?;
        rustix::io::write(&w, b"m").map_err(|e| e.to_string())?;
        if let Err(e) = block_on(fresh.readable()) {
            return Err(format!("a reused descriptor saw a stale event: {e}"));
        }
        cycles += 1;
    }
    stop.store(true, SeqCst);
    let _ = poller.wake();
    let _ = driver.join();
    let raced = netpoll::metrics::snapshot().stale_events_dropped - before;
    Ok(format!(
        "{held} event(s) held across close+reuse dropped as stale; \
         {cycles} racing cycles dropped {raced} more; none reached a new fd"
    ))
}

/// A pipe write end whose only event is an error: the pipe is full and
/// its reader is gone.
fn error_only_fd() -> Result<OwnedFd, String> {
    let (r, w) = pipe()?;
    while rustix::io::write(&w, &[0u8; 65536]).is_ok() {}
    drop(r);
    Ok(w)
}

/// A task blocked reading is woken by evict() from another thread with the
/// "use of closed" error (the fd layer's close() builds on this).
fn evict_wakes_a_blocked_reader(poller: &Netpoller) -> Result<String, String> {
    let (r, _w) = pipe()?;
    let reg = Arc::new(poller.register(r).map_err(|e| e.to_string())?);
    let closer = {
        let reg = reg.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            reg.evict();
            Instant::now()
        })
    };
    let err = match block_on(reg.readable()) {
        Ok(()) => return Err("the read wait succeeded on an empty pipe".into()),
        Err(e) => e,
    };
    let woke = Instant::now();
    let evicted = closer.join().unwrap();
    if !netpoll::io::is_closed(&err) {
        return Err(format!("wrong error: {err}"));
    }
    Ok(format!(
        "a blocked reader was woken {:?} after evict() with \"{err}\"",
        woke.saturating_duration_since(evicted)
    ))
}

/// 10 000 tasks on a multi-thread runtime: work spreads by stealing, and
/// idle workers sleep in the poller or park.
fn tasks_spread_over_workers(_: &Netpoller) -> Result<String, String> {
    let rt = Builder::new_multi_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let before = netpoll::metrics::snapshot();
    let start = Instant::now();
    let threads = rt.block_on(async {
        let hs: Vec<_> = (0..10_000u32)
            .map(|i| {
                netpoll::spawn(async move {
                    if i % 100 == 0 {
                        netpoll::task::yield_now().await;
                    }
                    std::thread::current().id()
                })
            })
            .collect();
        let mut threads = std::collections::HashSet::new();
        for h in hs {
            threads.insert(h.await.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(threads.len())
    })?;
    let took = start.elapsed();
    drop(rt);
    let m = netpoll::metrics::snapshot();
    Ok(format!(
        "10 000 tasks on {threads} worker thread(s) in {took:?}: {} steals, {} LIFO hits, {} parks, {} blocking poller waits",
        m.steals - before.steals,
        m.lifo_hits - before.lifo_hits,
        m.parks - before.parks,
        m.poller_blocking_waits - before.poller_blocking_waits
    ))
}

/// The runtime's own workers poll the kernel: a task waiting on a pipe is
/// woken with no reactor thread in between.
fn io_wakes_a_task_through_the_workers(_: &Netpoller) -> Result<String, String> {
    let rt = Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let (r, w) = pipe()?;
    let reg = rt.handle().register(r).map_err(|e| e.to_string())?;
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let sent = Instant::now();
        rustix::io::write(&w, b"ping").map(|_| sent)
    });
    let woke = rt.block_on(async {
        reg.readable().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(Instant::now())
    })?;
    let sent = writer.join().unwrap().map_err(|e| e.to_string())?;
    Ok(format!(
        "a task on a {} current-thread runtime woke {:?} after a thread wrote its pipe",
        rt.handle().poller().name(),
        woke.saturating_duration_since(sent)
    ))
}

/// Go's Conn.Close from another goroutine, which tokio cannot do: a task
/// blocked reading a TCP stream is woken by `close(&self)` from another
/// task, with an error that says "closed", and the fd is really closed.
fn close_wakes_a_blocked_socket_read(_: &Netpoller) -> Result<String, String> {
    use netpoll::net::{TcpListener, TcpStream};
    let rt = Builder::new_multi_thread()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let stream = Arc::new(TcpStream::connect(listener.local_addr()?).await?);
        let (_peer, _) = listener.accept().await?;
        let reader = stream.clone();
        let read = netpoll::spawn(async move { reader.read(&mut [0; 64]).await });
        netpoll::time::sleep(Duration::from_millis(20)).await;
        let closed_at = Instant::now();
        stream.close()?;
        let err = match read.await {
            Ok(Err(e)) => e,
            other => return Err(std::io::Error::other(format!("read ended with {other:?}"))),
        };
        if !netpoll::io::is_closed(&err) {
            return Err(std::io::Error::other(format!("wrong error: {err}")));
        }
        Ok(format!(
            "a read blocked on a TCP stream woke {:?} after close() from another task: \"{err}\"",
            closed_at.elapsed()
        ))
    })
    .map_err(|e: std::io::Error| e.to_string())
}

/// Go's SetReadDeadline: the pending read fails with TimedOut on time,
/// and moving the deadline makes the stream usable again.
fn read_deadline_expires(_: &Netpoller) -> Result<String, String> {
    use netpoll::net::UnixStream;
    let rt = Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (a, b) = UnixStream::pair()?;
        let start = Instant::now();
        a.set_read_deadline(Some(start + Duration::from_millis(25)))?;
        let err = a.read(&mut [0; 8]).await.unwrap_err();
        let took = start.elapsed();
        if !netpoll::io::is_deadline(&err) || took < Duration::from_millis(25) {
            return Err(std::io::Error::other(format!("{err} after {took:?}")));
        }
        a.set_read_deadline(Some(Instant::now() + Duration::from_secs(5)))?;
        b.write_all(b"again").await?;
        let n = a.read(&mut [0; 8]).await?;
        Ok(format!(
            "a read with a 25 ms deadline failed with TimedOut after {took:?}; \
             after moving the deadline it read {n} bytes"
        ))
    })
    .map_err(|e: std::io::Error| e.to_string())
}

/// Go's os.File: a FIFO and a pipe go through the poller and wake tasks;
/// a regular file, which no poller can watch, goes through the pool.
fn files_pick_their_path(_: &Netpoller) -> Result<String, String> {
    use netpoll::fs::{File, OpenOptions};
    let rt = Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("netpoll-tour-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let fifo = dir.join("fifo");
    // mkfifo(1): every Unix has it (rustix's mknodat is missing on Apple).
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map_err(|e| format!("mkfifo: {e}"))?;
    if !made.success() {
        return Err(format!("mkfifo: {made}"));
    }
    let res = rt.block_on(async {
        // A FIFO: a task blocks reading it until another task writes.
        // Opening one end waits for the other (on the blocking pool), so
        // both are opened at once.
        let path = fifo.clone();
        let reader_end =
            netpoll::spawn(async move { OpenOptions::new().read(true).open(&path).await });
        let w = OpenOptions::new().write(true).open(&fifo).await?;
        let r = reader_end.await.map_err(std::io::Error::other)??;
        let reader = netpoll::spawn(async move {
            let mut buf = [0; 4];
            r.read_exact(&mut buf).await.map(|_| r.is_pollable())
        });
        netpoll::time::sleep(Duration::from_millis(10)).await;
        w.write_all(b"fifo").await?;
        let fifo_polled = reader.await.map_err(std::io::Error::other)??;
        // A pipe: a blocked reader is woken by the write end's close (EOF).
        let (pr, pw) = netpoll::io::pipe()?;
        let eof = netpoll::spawn(async move { pr.read(&mut [0; 8]).await });
        pw.close()?;
        let eof = eof.await.map_err(std::io::Error::other)??;
        // A regular file: the blocking pool.
        let path = dir.join("regular");
        let f = File::create(&path).await?;
        f.write_all(&[7; 1 << 20]).await?;
        let regular_polled = f.is_pollable();
        let size = f.metadata().await?.len();
        Ok::<_, std::io::Error>(format!(
            "FIFO polled: {fifo_polled}, a task woke with its data; pipe reader woke with EOF ({eof}) at close; \
             regular file polled: {regular_polled}, {size} bytes written through the pool"
        ))
    });
    let _ = std::fs::remove_dir_all(&dir);
    res.map_err(|e| e.to_string())
}

/// A child spawned, signalled and waited through its pidfd: the signal
/// can never reach a recycled PID, and after the reap nothing is sent.
fn child_held_by_pidfd(_: &Netpoller) -> Result<String, String> {
    use netpoll::process::{is_process_done, Command};
    let rt = Builder::new_multi_thread()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let before = netpoll::metrics::snapshot();
        let mut child = Command::new("sleep").arg("30").spawn()?;
        child.signal(15)?; // SIGTERM
        let status = child.wait().await?;
        let after_reap = child.kill().unwrap_err();
        let m = netpoll::metrics::snapshot();
        let how = if m.signals_by_pidfd > before.signals_by_pidfd {
            "its pidfd"
        } else {
            "its PID (SIGCHLD fallback: no pidfd here)"
        };
        if !is_process_done(&after_reap) {
            return Err(std::io::Error::other(format!(
                "kill after reap: {after_reap}"
            )));
        }
        Ok(format!(
            "`sleep 30` signalled through {how}, waited through the poller: {status}; \
             kill after the reap sent nothing: \"{after_reap}\""
        ))
    })
    .map_err(|e: std::io::Error| e.to_string())
}

/// Go's io.Copy: a file copied, served to a socket and proxied, each by
/// the kernel path the metrics name.
fn copies_pick_kernel_paths(_: &Netpoller) -> Result<String, String> {
    use netpoll::fs::File;
    use netpoll::net::{TcpListener, TcpStream};
    let rt = Builder::new_multi_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("netpoll-tour-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let res = rt.block_on(async {
        const LEN: u64 = 32 << 20;
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, vec![42u8; LEN as usize])?;
        let m0 = netpoll::metrics::snapshot();
        netpoll::fs::copy(&a, &b).await?;
        let m1 = netpoll::metrics::snapshot();
        // Serve the copy to a socket, through a proxy, to a client.
        let origin = TcpListener::bind("127.0.0.1:0").await?;
        let front = TcpListener::bind("127.0.0.1:0").await?;
        let (origin_addr, front_addr) = (origin.local_addr()?, front.local_addr()?);
        let server = netpoll::spawn(async move {
            let (conn, _) = origin.accept().await?;
            let mut file = File::open(&b).await?;
            let mut out = &conn;
            let n = netpoll::io::copy(&mut file, &mut out).await?;
            conn.shutdown(std::net::Shutdown::Write)?;
            Ok::<_, std::io::Error>(n)
        });
        let proxy = netpoll::spawn(async move {
            let (client, _) = front.accept().await?;
            let upstream = TcpStream::connect(origin_addr).await?;
            netpoll::io::copy_bidirectional(&client, &upstream).await
        });
        let client = TcpStream::connect(front_addr).await?;
        client.shutdown(std::net::Shutdown::Write)?;
        let mut got = 0u64;
        let mut buf = vec![0; 1 << 16];
        loop {
            match client.read(&mut buf).await? {
                0 => break,
                n => got += n as u64,
            }
        }
        let served = server.await.map_err(std::io::Error::other)??;
        proxy.await.map_err(std::io::Error::other)??;
        let m2 = netpoll::metrics::snapshot();
        if got != LEN || served != LEN {
            return Err(std::io::Error::other(format!("moved {got} of {LEN}")));
        }
        let mib = |n: u64| n >> 20;
        Ok(format!(
            "32 MiB file->file by copy_file_range: {} MiB; file->socket by sendfile: {} MiB; \
             proxied socket->socket by splice: {} MiB; through a user buffer: {} MiB",
            mib(m1.copy_file_range_bytes - m0.copy_file_range_bytes),
            mib(m2.sendfile_bytes - m1.sendfile_bytes),
            mib(m2.splice_bytes - m1.splice_bytes),
            mib(m2.generic_copy_bytes - m0.generic_copy_bytes),
        ))
    });
    let _ = std::fs::remove_dir_all(&dir);
    res.map_err(|e| e.to_string())
}

/// A thousand sleeps of 1–20 ms: none ends early.
fn timers_never_fire_early(_: &Netpoller) -> Result<String, String> {
    let rt = Builder::new_multi_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let lateness = rt.block_on(async {
        let hs: Vec<_> = (0..1_000u64)
            .map(|i| {
                netpoll::spawn(async move {
                    let want = Duration::from_micros(1_000 + i * 19);
                    let start = Instant::now();
                    netpoll::time::sleep(want).await;
                    start.elapsed().checked_sub(want)
                })
            })
            .collect();
        let mut late = Vec::new();
        for h in hs {
            late.push(h.await.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(late)
    })?;
    if lateness.iter().any(Option::is_none) {
        return Err("a sleep ended before its deadline".into());
    }
    let mut late: Vec<Duration> = lateness.into_iter().flatten().collect();
    late.sort();
    Ok(format!(
        "1 000 sleeps of 1-20 ms, none early; lateness median {:?}, max {:?}",
        late[late.len() / 2],
        late[late.len() - 1]
    ))
}

/// A non-blocking, close-on-exec pipe.
fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    #[cfg(not(target_vendor = "apple"))]
    {
        use rustix::pipe::{pipe_with, PipeFlags};
        pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).map_err(|e| e.to_string())
    }
    // Apple has no pipe2: the flags follow at once.
    #[cfg(target_vendor = "apple")]
    {
        let (r, w) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
        for fd in [&r, &w] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).map_err(|e| e.to_string())?;
            rustix::io::ioctl_fionbio(fd, true).map_err(|e| e.to_string())?;
        }
        Ok((r, w))
    }
}

/// Runs a future on this thread until it completes (the runtime arrives
/// with the scheduler; this tour section drives the poller by hand).
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}
