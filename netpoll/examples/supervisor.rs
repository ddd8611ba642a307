//! A process supervisor: restarts a crashing child a few times, then stops
//! a long-running one with SIGTERM through its pidfd.
//!
//! Run it with `cargo run --release --example supervisor`. It prints each
//! run and how the long-running child ended, shows that a signal after the
//! reap sends nothing, and exits (non-zero if something went wrong).
//! `NETPOLL_PIDFD=0` runs the same program on the SIGCHLD fallback, where
//! signals go by PID.
//!
//! Waiting costs no thread: a child's pidfd turns readable in the poller
//! when it exits, and the supervisor is just a task.

use netpoll::process::{is_process_done, Command};
use netpoll::time::{sleep, timeout};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

/// How many times a crashing child is started again before giving up.
const RESTARTS: u32 = 3;
/// The signal number of SIGTERM, the same on every Unix.
const SIGTERM: i32 = 15;
/// How long a child may take to stop after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(2);

#[netpoll::main]
async fn main() -> io::Result<()> {
    let before = netpoll::metrics::snapshot();

    // A child that keeps failing: restarted with a doubling backoff, as
    // long as restarts are left.
    let mut backoff = Duration::from_millis(50);
    for run in 0..=RESTARTS {
        let start = Instant::now();
        let mut child = Command::new("sh")
            .args(["-c", "sleep 0.2; exit 1"])
            .spawn()?;
        let status = child.wait().await?;
        println!(
            "[supervisor] run {}: pid {} ended with {status} after {:?}",
            run + 1,
            child.id(),
            start.elapsed()
        );
        if status.success() {
            break;
        }
        if run == RESTARTS {
            println!("[supervisor] still failing after {RESTARTS} restarts: giving up");
            break;
        }
        sleep(backoff).await;
        backoff *= 2;
    }

    // A long-running child, stopped the way Go's exec.Cmd.Cancel plus
    // WaitDelay would: SIGTERM, a grace period, then SIGKILL.
    let mut child = Command::new("sleep")
        .arg("30")
        // Should this task fail before the wait, the child goes too.
        .kill_on_drop(true)
        .spawn()?;
    sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    child.signal(SIGTERM)?;
    // Dropping the wait at the timeout loses nothing: a wait that reaps
    // returns in the same step, so a later wait finds the status.
    let status = match timeout(GRACE, child.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            child.kill()?;
            child.wait().await?
        }
    };
    println!(
        "[supervisor] pid {} stopped by SIGTERM in {:?}: {status}",
        child.id(),
        start.elapsed()
    );
    if status.signal() != Some(SIGTERM) {
        return Err(io::Error::other("the child did not end by SIGTERM"));
    }

    // Reaped: the pidfd names a process that is gone, so nothing is sent,
    // whoever holds the PID now.
    let err = child
        .signal(SIGTERM)
        .expect_err("a signal after the reap must fail");
    println!(
        "[supervisor] SIGTERM after the reap: \"{err}\", is_process_done = {}",
        is_process_done(&err)
    );
    if !is_process_done(&err) {
        return Err(io::Error::other("expected the process-done error"));
    }

    let m = netpoll::metrics::snapshot();
    println!(
        "metrics: {} children spawned, {} reaped, {} signals by pidfd, {} by PID",
        m.children_spawned - before.children_spawned,
        m.children_reaped - before.children_reaped,
        m.signals_by_pidfd - before.signals_by_pidfd,
        m.signals_by_pid - before.signals_by_pid
    );
    Ok(())
}
