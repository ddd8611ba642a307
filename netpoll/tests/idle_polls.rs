//! How often a worker polls the kernel without blocking, counted rather
//! than timed. Its own binary: it reads process-wide counters, which any
//! other runtime in the process would move too.

/// An echo served by a current-thread runtime to a plain-thread client:
/// a worker that keeps finding nothing to do must not poll the kernel
/// every 61 empty looks (its tick counted looks, not task polls: one
/// zero-timeout poll per 40 round trips), and a worker whose only work is
/// a due timer must fire it rather than come back for ever.
#[test]
fn an_echo_costs_almost_no_non_blocking_polls() {
    const ROUNDS: u64 = 5_000;
    let rt = netpoll::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let per_round = rt.block_on(async {
        let l = netpoll::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        netpoll::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 64];
            loop {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.write_all(&b[..n]).await.unwrap(),
                }
            }
        });
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.set_nodelay(true).unwrap();
            let mut b = [0u8; 64];
            let before = netpoll::metrics::snapshot();
            for _ in 0..ROUNDS {
                c.write_all(&b).unwrap();
                c.read_exact(&mut b).unwrap();
            }
            let after = netpoll::metrics::snapshot();
            // Blocking waits are counted in batches: take the deltas apart.
            let waits = after.poller_waits - before.poller_waits;
            let blocking = after.poller_blocking_waits - before.poller_blocking_waits;
            let polls = after.task_polls - before.task_polls;
            (waits.saturating_sub(blocking), polls)
        });
        // The main future wakes every 10 ms meanwhile, as a program's
        // housekeeping would.
        while !client.is_finished() {
            netpoll::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        client.join().unwrap()
    });
    let (non_blocking, polls) = per_round;
    // One maintenance poll per 61 task polls, plus a little for the main
    // future's timer wake-ups; counting idle looks made it about twice that.
    let allowed = polls / 61 + polls / 200 + 20;
    assert!(
        non_blocking <= allowed,
        "{non_blocking} non-blocking polls for {polls} task polls (allowed {allowed})"
    );
}
