//! The `idle` suite: the memory a server holds per idle connection.
//! 10 000 connections, each served one echo round trip and then left
//! alone; the server's resident set is read before and after.

use super::client::Client;
use super::{App, Peer, Placement, Sample};
use crate::report::Metric;
use crate::Bench;
use rustix::process::{getrlimit, setrlimit, Resource};
use std::time::Duration;

/// Idle connections per sample.
const CONNS: usize = 10_000;

/// Descriptors beyond the connections: the runtime's own, stdio, pipes.
const SPARE_FDS: u64 = 256;

/// What each row reports.
const METRICS: [Metric; 2] = [
    Metric {
        name: "rss_per_conn",
        column: "B/conn",
        unit: "bytes",
        higher_is_better: false,
    },
    Metric {
        name: "rss_total",
        column: "rss MiB",
        unit: "MiB",
        higher_is_better: false,
    },
];

/// Runs the suite's one case.
pub fn run(b: &Bench) {
    let conns = match raise_fd_limit(CONNS as u64 + SPARE_FDS) {
        Ok(()) => CONNS,
        Err(limit) => {
            let fit = limit.saturating_sub(SPARE_FDS) as usize;
            b.note(&format!(
                "idle: the fd limit is {limit}; {fit} connections instead of {CONNS}"
            ));
            fit
        }
    };
    crate::report::header(
        b.json,
        &format!(
            "idle: {conns} connections, one echo round trip each, then idle; server \
             RSS growth per connection and RSS in all, medians of {} interleaved \
             samples, server on core 0 with 1 worker.",
            b.net_reps()
        ),
        &METRICS,
    );
    super::case(
        b,
        "idle",
        &format!("c{conns}"),
        &METRICS,
        &Peer::ALL,
        Peer::reference(Placement::Pinned),
        |peer| sample(b, peer, conns),
    );
}

/// One server: its RSS once listening, and again with `conns` open.
fn sample(b: &Bench, peer: Peer, conns: usize) -> Sample {
    super::with_server(b, App::Echo, peer, Placement::Pinned, |server| {
        let before = server.rss()?;
        let client = Client::connect(server.addr, conns)?;
        // Whatever the server does after the last echo (a task's last
        // poll, a GC cycle) settles.
        std::thread::sleep(Duration::from_millis(100));
        let after = server.rss()?;
        drop(client);
        Ok(vec![
            after.saturating_sub(before) as f64 / conns as f64,
            after as f64 / f64::from(1u32 << 20),
        ])
    })
}

/// Raises this process's soft fd limit (which the servers inherit) to
/// `want`, and the hard one too if it is lower and we may. `Err` holds
/// the limit there is when `want` cannot be had.
fn raise_fd_limit(want: u64) -> Result<(), u64> {
    let now = getrlimit(Resource::Nofile);
    let soft = now.current.unwrap_or(u64::MAX);
    if soft >= want {
        return Ok(());
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    let mut new = now;
    new.current = Some(want);
    new.maximum = Some(hard.max(want));
    if setrlimit(Resource::Nofile, new).is_ok() {
        return Ok(());
    }
    // Not allowed past the hard limit: take all of it.
    let mut new = now;
    new.current = Some(hard);
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => Err(hard),
        Err(_) => Err(soft),
    }
}
