//! The `echo` suite: 64-byte round trips, one in flight per connection,
//! from the raw epoll client to each server. Pinned: the server on core
//! 0 with one worker, the client on core 1. Shared: neither pinned,
//! multi-thread servers with a worker per core.

use super::client::{Client, Stop};
use super::{App, Peer, Placement, Sample};
use crate::report::Metric;
use crate::Bench;
use std::time::{Duration, Instant};

/// What each row reports.
const METRICS: [Metric; 2] = [
    Metric {
        name: "round_trips_per_s",
        column: "rt/s",
        unit: "1/s",
        higher_is_better: true,
    },
    Metric {
        name: "server_cpu_per_rt",
        column: "cpu µs/rt",
        unit: "us",
        higher_is_better: false,
    },
];

/// Runs every case of the suite.
pub fn run(b: &Bench) {
    let (warm_up, measure) = if b.quick {
        (Duration::from_millis(200), Duration::from_millis(600))
    } else {
        (Duration::from_millis(500), Duration::from_secs(3))
    };
    crate::report::header(
        b.json,
        &format!(
            "echo: 64-byte round trips from a raw epoll client, one in flight per \
             connection; medians of {} interleaved {:.1} s samples.\n\
             # pinned_*: server on core 0, 1 worker, client on core 1, compared with \
             tokio/current_thread; shared_*: unpinned, 2 workers, compared with \
             tokio/multi_thread. cpu = server CPU time per round trip.",
            b.net_reps(),
            measure.as_secs_f64()
        ),
        &METRICS,
    );
    let mut cases = vec![
        (Placement::Pinned, 50),
        (Placement::Pinned, 500),
        (Placement::Shared, 50),
    ];
    if !b.quick {
        cases.push((Placement::Shared, 500));
    }
    for (placement, conns) in cases {
        let name = placement.case_name(conns);
        super::case(
            b,
            "echo",
            &name,
            &METRICS,
            &Peer::ALL,
            Peer::reference(placement),
            |peer| sample(b, peer, placement, conns, warm_up, measure),
        );
    }
}

/// One server, `conns` connections, `warm_up` untimed, then `measure`
/// timed: round trips per second and server CPU µs per round trip.
fn sample(
    b: &Bench,
    peer: Peer,
    placement: Placement,
    conns: usize,
    warm_up: Duration,
    measure: Duration,
) -> Sample {
    super::with_server(b, App::Echo, peer, placement, |server| {
        let mut client = Client::connect(server.addr, conns)?;
        client.drive(Stop::After(warm_up))?;
        let (cpu, start) = (server.cpu_time()?, Instant::now());
        let trips = client.drive(Stop::After(measure))?;
        let (cpu, took) = (server.cpu_time()? - cpu, start.elapsed());
        Ok(vec![
            trips as f64 / took.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / trips as f64,
        ])
    })
}
