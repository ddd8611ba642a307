//! The `http` suite: hyper's `Hello, World!` on netpoll and on tokio, and
//! Go's net/http, loaded by `wrk -t1 -c50` (keep-alive connections).
//! Pinned: server on core 0 with one worker, wrk on core 1; shared:
//! neither pinned, a worker per core.

use super::{App, Peer, Placement, Sample, Server};
use crate::report::Metric;
use crate::Bench;
use std::io;
use std::process::{Command, Stdio};

/// What each row reports.
const METRICS: [Metric; 2] = [
    Metric {
        name: "requests_per_s",
        column: "req/s",
        unit: "1/s",
        higher_is_better: true,
    },
    Metric {
        name: "server_cpu_per_request",
        column: "cpu µs/req",
        unit: "us",
        higher_is_better: false,
    },
];

/// wrk's connections.
const CONNS: u32 = 50;

/// The many-connections case (the fairness issue's `http c1000`): shared
/// placement, 1 000 keep-alive connections, with wrk's latency spread.
const MANY: u32 = 1000;

/// What the many-connections rows report.
const METRICS_MANY: [Metric; 4] = [
    Metric {
        name: "requests_per_s",
        column: "req/s",
        unit: "1/s",
        higher_is_better: true,
    },
    Metric {
        name: "latency_p50",
        column: "p50 ms",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "latency_p99",
        column: "p99 ms",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "latency_max",
        column: "max ms",
        unit: "ms",
        higher_is_better: false,
    },
];

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    if Command::new("wrk").arg("--version").output().is_err() {
        b.note("http skipped: no wrk (bench/setup.sh installs it)");
        return;
    }
    let secs = if b.quick { 1 } else { 10 };
    crate::report::header(
        b.json,
        &format!(
            "http: wrk -t1 -c{CONNS} -d{secs}s against a hello-world server; medians \
             of {} interleaved runs.\n\
             # pinned: server on core 0, 1 worker, wrk on core 1, compared with \
             tokio/current_thread; shared: unpinned, 2 workers, compared with \
             tokio/multi_thread. cpu = server CPU time per request.",
            b.net_reps()
        ),
        &METRICS,
    );
    for (placement, peers) in [
        (
            Placement::Pinned,
            [Peer::NetpollCt, Peer::TokioCt, Peer::Go],
        ),
        (
            Placement::Shared,
            [Peer::NetpollMt, Peer::TokioMt, Peer::Go],
        ),
    ] {
        let name = placement.case_name(CONNS as usize);
        super::case(
            b,
            "http",
            &name,
            &METRICS,
            &peers,
            Peer::reference(placement),
            |peer| sample(b, peer, placement, secs),
        );
    }
    // 1 000 connections on the shared placement: throughput and the
    // latency spread, where a worker that keeps its connections' tasks
    // to itself shows up in p99 and max.
    crate::report::header(
        b.json,
        &format!(
            "http: wrk -t1 -c{MANY} -d{secs}s --latency, shared placement (2 workers); \
             latency percentiles and max in ms."
        ),
        &METRICS_MANY,
    );
    let placement = Placement::Shared;
    super::case(
        b,
        "http",
        &placement.case_name(MANY as usize),
        &METRICS_MANY,
        &[Peer::NetpollMt, Peer::TokioMt, Peer::Go],
        Peer::reference(placement),
        |peer| {
            super::with_server(b, App::Http, peer, placement, |server| {
                wrk_many(server, secs)
            })
        },
    );
}

/// wrk with [`MANY`] connections and `--latency`: requests per second,
/// then p50, p99 and max latency in ms.
fn wrk_many(server: &Server, secs: u32) -> io::Result<Vec<f64>> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{MANY}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://{}/", server.addr))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok());
    match (rate, latencies(&text)) {
        (Some(rate), Some([p50, p99, max])) if out.status.success() => {
            Ok(vec![rate, p50, p99, max])
        }
        _ => Err(io::Error::other(format!("unreadable wrk output: {text}"))),
    }
}

/// p50, p99 and max latency (ms) from wrk's `--latency` output.
fn latencies(wrk_output: &str) -> Option<[f64; 3]> {
    let pct = |p: &str| {
        wrk_output
            .lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .and_then(|v| millis(v.trim()))
    };
    // "Latency   avg   stdev   max   +/- stdev": the third value.
    let max = wrk_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Latency "))
        .and_then(|v| v.split_whitespace().nth(2))
        .and_then(millis);
    Some([pct("50%")?, pct("99%")?, max?])
}

/// A wrk duration (`550.00us`, `2.00ms`, `1.20s`) in milliseconds.
fn millis(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60e3)
    } else {
        (v.strip_suffix('s')?, 1e3)
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

/// One wrk run of `secs` against a fresh server: wrk runs from the load
/// thread, so it inherits that thread's pinning.
fn sample(b: &Bench, peer: Peer, placement: Placement, secs: u32) -> Sample {
    super::with_server(b, App::Http, peer, placement, |server| wrk(server, secs))
}

/// Runs wrk and returns requests per second and server CPU µs per
/// request.
fn wrk(server: &Server, secs: u32) -> io::Result<Vec<f64>> {
    if !server.addr.ip().is_loopback() {
        return Err(io::Error::other(
            "the http suite only loads loopback servers",
        ));
    }
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{CONNS}"), &format!("-d{secs}s")])
        .arg(format!("http://{}/", server.addr))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let cpu = server.cpu_time()?;
    let out = cmd.output()?;
    let cpu = server.cpu_time()? - cpu;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed: {text}")));
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let (Some(rate), Some(total)) = (field("Requests/sec:"), requests(&text)) else {
        return Err(io::Error::other(format!("unreadable wrk output: {text}")));
    };
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(io::Error::other(format!("wrk saw errors: {text}")));
    }
    Ok(vec![rate, cpu.as_secs_f64() * 1e6 / total])
}

/// The request count of wrk's `N requests in Xs, Y read` line.
fn requests(wrk_output: &str) -> Option<f64> {
    wrk_output
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::{latencies, requests};

    #[test]
    fn reads_wrk_latency_percentiles() {
        let out = "\
  1 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    40.00ms   10.00ms   1.20s    90.00%
  Latency Distribution
     50%   38.00ms
     75%   45.00ms
     90%   50.00ms
     99%  900.00us
Requests/sec:  24000.00
";
        assert_eq!(latencies(out), Some([38.0, 0.9, 1200.0]));
    }

    #[test]
    fn reads_the_request_count_of_wrk() {
        let out = "\
Running 2s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   550.00us  100.00us   2.00ms   90.00%
    Req/Sec    90.00k     2.00k   95.00k    80.00%
  179000 requests in 2.00s, 15.00MB read
Requests/sec:  89500.00
Transfer/sec:      7.50MB
";
        assert_eq!(requests(out), Some(179000.0));
        assert_eq!(requests("no numbers"), None);
    }
}
