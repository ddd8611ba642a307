//! The `syscalls` suite: system calls per echo round trip, counted by
//! `strace -c -f` attached to the server for a fixed number of round
//! trips (after the connections are open, so setup is not counted).
//! Server on core 0 with one worker, client on core 1, 50 connections.
//!
//! strace slows every call down, so more events pile up per
//! `epoll_wait` than at full speed: the counts are for comparing servers
//! with each other, not a prediction of an unslowed run.

use super::client::{Client, Stop};
use super::{App, Peer, Placement, Sample};
use crate::report::Metric;
use crate::Bench;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Connections of the load.
const CONNS: usize = 50;

/// What each row reports: all calls, then by kind.
const METRICS: [Metric; 4] = [
    Metric {
        name: "syscalls_per_rt",
        column: "calls/rt",
        unit: "calls",
        higher_is_better: false,
    },
    Metric {
        name: "io_calls_per_rt",
        column: "io/rt",
        unit: "calls",
        higher_is_better: false,
    },
    Metric {
        name: "poll_calls_per_rt",
        column: "poll/rt",
        unit: "calls",
        higher_is_better: false,
    },
    Metric {
        name: "other_calls_per_rt",
        column: "other/rt",
        unit: "calls",
        higher_is_better: false,
    },
];

/// Reading and writing the sockets.
const IO_CALLS: &[&str] = &[
    "read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
];

/// Waiting for readiness.
const POLL_CALLS: &[&str] = &["epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll"];

/// Runs the suite's one case.
pub fn run(b: &Bench) {
    if Command::new("strace").arg("-V").output().is_err() {
        b.note("syscalls skipped: no strace (bench/setup.sh installs it)");
        return;
    }
    let trips: u64 = if b.quick { 10_000 } else { 50_000 };
    crate::report::header(
        b.json,
        &format!(
            "syscalls: strace -c -f on the server over {trips} round trips on {CONNS} \
             connections, by kind (io: read/write/send/recv, poll: epoll_wait/poll, \
             other: futex, timers, …); medians of {} interleaved runs.",
            b.net_reps()
        ),
        &METRICS,
    );
    super::case(
        b,
        "syscalls",
        &format!("c{CONNS}"),
        &METRICS,
        &Peer::ALL,
        Peer::reference(Placement::Pinned),
        |peer| sample(b, peer, trips),
    );
}

/// One server traced over `trips` round trips.
fn sample(b: &Bench, peer: Peer, trips: u64) -> Sample {
    let out = std::env::temp_dir().join(format!("netpoll-bench-strace-{}", std::process::id()));
    let values = super::with_server(b, App::Echo, peer, Placement::Pinned, |server| {
        let mut client = Client::connect(server.addr, CONNS)?;
        client.drive(Stop::Count(1_000))?;
        let mut strace = Tracer::attach(server.pid(), &out)?;
        let done = client.drive(Stop::Count(trips))?;
        strace.detach()?;
        Ok(per_trip(&parse(&std::fs::read_to_string(&out)?)?, done))
    });
    let _ = std::fs::remove_file(&out);
    values
}

/// The metrics from strace's counts over `done` round trips: all calls,
/// then io, poll and the rest.
fn per_trip(calls: &[(String, u64)], done: u64) -> Vec<f64> {
    let per_rt = |n: u64| n as f64 / done as f64;
    let of = |names: &[&str]| {
        calls
            .iter()
            .filter(|(name, _)| names.contains(&name.as_str()))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    let total: u64 = calls.iter().map(|(_, n)| n).sum();
    let (io, poll) = (of(IO_CALLS), of(POLL_CALLS));
    vec![
        per_rt(total),
        per_rt(io),
        per_rt(poll),
        per_rt(total - io - poll),
    ]
}

/// `strace -c -f -p <pid>`, counting into a file; detached when dropped
/// if [`detach`](Self::detach) was not reached (a failed load).
struct Tracer(Option<std::process::Child>);

impl Tracer {
    /// Attaches to every thread of `pid`; returns once strace says so.
    fn attach(pid: u32, out: &Path) -> io::Result<Tracer> {
        let mut child = Command::new("strace")
            .args(["-c", "-f", "-o"])
            .arg(out)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut line = String::new();
        while stderr.read_line(&mut line)? > 0 {
            if line.contains("attached") {
                // strace may write more to stderr; drain it elsewhere.
                std::thread::spawn(move || io::copy(&mut stderr, &mut io::sink()));
                return Ok(Tracer(Some(child)));
            }
            line.clear();
        }
        let _ = child.wait();
        Err(io::Error::other(
            "strace could not attach (is ptrace allowed here?)",
        ))
    }

    /// Detaches (SIGINT, on which strace writes its counts) and waits.
    fn detach(&mut self) -> io::Result<()> {
        let Some(mut child) = self.0.take() else {
            return Ok(());
        };
        let pid = rustix::process::Pid::from_raw(child.id() as i32)
            .ok_or_else(|| io::Error::other("strace has no pid"))?;
        let sent = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        if sent.is_err() {
            let _ = child.kill();
        }
        child.wait()?;
        Ok(sent?)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}

/// The calls per syscall of `strace -c` output: the rows between the
/// dashed lines, `% time  seconds  usecs/call  calls  [errors]  syscall`.
fn parse(summary: &str) -> io::Result<Vec<(String, u64)>> {
    let mut calls = Vec::new();
    for line in summary.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(n)) = (fields.last(), fields.get(3)) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        if *name != "total" && fields[0].parse::<f64>().is_ok() {
            calls.push((name.to_string(), n));
        }
    }
    if calls.is_empty() {
        return Err(io::Error::other(format!(
            "no counts in strace's output: {summary:?}"
        )));
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_strace_summary_rows_with_and_without_errors() {
        let out = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.600000          12     50000           sendto
 39.00    0.390000           7     50000       120 recvfrom
  1.00    0.010000           5      2000           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    1.000000           9    102000       120 total
";
        let calls = parse(out).unwrap();
        assert_eq!(
            calls,
            vec![
                ("sendto".to_string(), 50000),
                ("recvfrom".to_string(), 50000),
                ("epoll_wait".to_string(), 2000),
            ]
        );
        assert!(
            parse("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n").is_err()
        );
    }
}
