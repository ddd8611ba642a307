//! netpoll-bench: netpoll against tokio, measured side by side.
//!
//! `cargo run --release -p netpoll-bench -- <suite> [--quick] [--json]`
//!
//! This file holds what every suite shares: argument parsing, the A/B
//! measurement (see [`Bench::case`]) and the output. Each suite is one
//! file with a `run(&Bench)` listed in [`SUITES`].

mod copy;
mod fairness;
mod net;
mod process;
mod report;
mod rt;
mod sched;
mod timers;

use rt::{Flavor, Netpoll, Procs, Rt, Tokio};
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A suite's entry point: measures and prints each of its cases.
type Suite = fn(&Bench);

/// The columns of a suite's rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Columns {
    /// The common table: median and `ratio_vs_tokio`.
    Tokio,
    /// The common table plus `ratio_vs_std` (a blocking std loop as the
    /// baseline).
    Std,
    /// Columns of its own, with a header the suite prints itself.
    Own,
}

/// The suites by name, in the order `all` runs them, with their columns.
const SUITES: &[(&str, Suite, Columns)] = &[
    ("sched", sched::run, Columns::Tokio),
    ("timers", timers::run, Columns::Tokio),
    ("process", process::run, Columns::Std),
    ("copy", copy::run, Columns::Own),
    ("echo", net::echo::run, Columns::Own),
    ("http", net::http::run, Columns::Own),
    ("idle", net::idle::run, Columns::Own),
    ("syscalls", net::syscalls::run, Columns::Own),
    ("fairness", fairness::run, Columns::Own),
];

/// Printed for `--help`, and with exit code 2 for any misuse.
const USAGE: &str = "\
usage: netpoll-bench <suite> [--quick] [--json]

suites: sched, timers, process, copy, echo, http, idle, syscalls, fairness, all (every suite)
  --quick  3 repetitions per case instead of 7 (5 for the network suites), and
           shorter samples: 200 processes instead of 1000, 128 MiB copies
           instead of 1 GiB, 0.6 s echo samples instead of 3 s, and so on
  --json   one JSON object per result line instead of a table

The network suites need wrk, go and strace (bench/setup.sh installs them);
rows whose peer is missing are skipped with a note.";

/// A benchmark body, written once for both runtimes.
pub trait Workload {
    /// The case's name in the output.
    const NAME: &'static str;

    /// Runs of the workload back to back in one timed sample, which then
    /// counts as their mean: enough to lift a sub-millisecond case well
    /// above the clock and scheduling noise of the VM.
    const ITERS: u32 = 1;

    /// The timed work: runs inside `block_on` on a fresh runtime `R`.
    fn run<R: Rt>(&self) -> impl Future<Output = ()>;
}

/// One of the four configurations every case is measured on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct System {
    is_tokio: bool,
    flavor: Flavor,
}

/// The interleaving order A B C D of every repetition.
const SYSTEMS: [System; 4] = [
    System::netpoll(Flavor::MultiThread),
    System::netpoll(Flavor::CurrentThread),
    System::tokio(Flavor::MultiThread),
    System::tokio(Flavor::CurrentThread),
];

impl System {
    /// netpoll of `flavor`.
    const fn netpoll(flavor: Flavor) -> System {
        System {
            is_tokio: false,
            flavor,
        }
    }

    /// tokio of `flavor`.
    const fn tokio(flavor: Flavor) -> System {
        System {
            is_tokio: true,
            flavor,
        }
    }

    /// The name in the output's `system` column.
    fn name(self) -> &'static str {
        match (self.is_tokio, self.flavor) {
            (false, Flavor::MultiThread) => "netpoll/multi_thread",
            (false, Flavor::CurrentThread) => "netpoll/current_thread",
            (true, Flavor::MultiThread) => "tokio/multi_thread",
            (true, Flavor::CurrentThread) => "tokio/current_thread",
        }
    }

    /// One timed run of `w`.
    fn time<W: Workload>(self, w: &W) -> Duration {
        if self.is_tokio {
            time_on::<Tokio, W>(w, self.flavor, Procs::None)
        } else {
            time_on::<Netpoll, W>(w, self.flavor, Procs::None)
        }
    }
}

/// Builds `R`, lets its threads come up, then times `w` alone: building
/// and dropping the runtime stay outside the clock. One `block_on` holds
/// the warm-up and the timed loop, so nothing else runs in between.
fn time_on<R: Rt, W: Workload>(w: &W, flavor: Flavor, procs: Procs) -> Duration {
    let rt = R::build(flavor, procs);
    let took = rt.block_on(async {
        // A first task round trip, untimed: every worker is up and has run.
        R::spawn(async {}).await;
        let start = Instant::now();
        for _ in 0..W::ITERS {
            w.run::<R>().await;
        }
        start.elapsed() / W::ITERS
    });
    drop(rt);
    took
}

/// The run's settings and output mode, handed to every suite.
pub struct Bench {
    reps: usize,
    json: bool,
    quick: bool,
}

impl Bench {
    /// Measures `w` on the four systems and prints a row for each.
    ///
    /// The VM this runs on drifts by ±20 % from one minute to the next, so
    /// the systems are interleaved (A B C D A B C D …) rather than run one
    /// after the other: a slow spell then hits all four alike, and the
    /// median of each, compared within the case, is what holds.
    pub fn case<W: Workload>(&self, suite: &str, w: &W) {
        let mut samples: [Vec<Duration>; 4] = Default::default();
        for _ in 0..self.reps {
            for (system, s) in SYSTEMS.iter().zip(&mut samples) {
                s.push(system.time(w));
            }
        }
        let medians = samples.map(report::median);
        for (i, system) in SYSTEMS.iter().enumerate() {
            let tokio = SYSTEMS
                .iter()
                .position(|s| s.is_tokio && s.flavor == system.flavor)
                .expect("a tokio system per flavour");
            let ratio = medians[tokio].as_secs_f64() / medians[i].as_secs_f64();
            self.print(suite, W::NAME, system.name(), medians[i], ratio, None);
        }
    }

    /// The median time of each of `runs`, each timed `reps` times. They
    /// are interleaved as in [`case`](Self::case), but the order is
    /// reversed every other repetition (A B C D, D C B A, …), so no run
    /// always follows the same one (for processes: the reaping and page
    /// cache state the previous run left).
    pub fn interleaved(&self, runs: &[&dyn Fn() -> Duration]) -> Vec<Duration> {
        let mut samples = vec![Vec::with_capacity(self.reps); runs.len()];
        self.interleave(self.reps, runs.len(), |i| samples[i].push(runs[i]()));
        samples.into_iter().map(report::median).collect()
    }

    /// Calls `run(i)` for every `i < n`, `reps` times over, in the order of
    /// [`interleaved`](Self::interleaved): A B C, C B A, A B C, …
    pub fn interleave(&self, reps: usize, n: usize, mut run: impl FnMut(usize)) {
        for rep in 0..reps {
            let mut order: Vec<usize> = (0..n).collect();
            if rep % 2 == 1 {
                order.reverse();
            }
            for i in order {
                run(i);
            }
        }
    }

    /// Repetitions per case of the network suites, whose samples take
    /// seconds each: 3, or 5 for a full run.
    pub fn net_reps(&self) -> usize {
        if self.quick {
            3
        } else {
            5
        }
    }

    /// A remark for the reader; see [`report::note`].
    pub fn note(&self, text: &str) {
        report::note(self.json, text);
    }

    /// One result: a table row, or a JSON line with `--json`. Suites with
    /// a blocking std baseline (process) also give the ratio against it.
    fn print(
        &self,
        suite: &str,
        case: &str,
        system: &str,
        t: Duration,
        ratio: f64,
        ratio_vs_std: Option<f64>,
    ) {
        if self.json {
            let vs_std = ratio_vs_std
                .map(|r| format!(",\"ratio_vs_std\":{r:.4}"))
                .unwrap_or_default();
            let line = report::Line {
                suite,
                case,
                system,
                metric: "time",
                value: t.as_secs_f64(),
                unit: "s",
                ratio_vs_tokio: Some(ratio),
            };
            println!("{}", line.json(&vs_std));
        } else {
            let vs_std = ratio_vs_std
                .map(|r| format!(" {r:>13.2}"))
                .unwrap_or_default();
            println!(
                "{suite:<8} {case:<18} {system:<24} {:>10} {ratio:>15.2}{vs_std}",
                human(t)
            );
        }
    }

    /// The table's legend and column names (nothing with `--json`, whose
    /// lines must each be one JSON object); `with_std` adds the
    /// `ratio_vs_std` column of the process suite.
    fn print_header(&self, with_std: bool) {
        if self.json {
            return;
        }
        println!(
            "# {} repetitions per system, interleaved; median of one run of \
             the workload shown.\n\
             # ratio_vs_tokio = tokio median / netpoll median, same flavour: \
             > 1.00 means netpoll is faster.",
            self.reps
        );
        if with_std {
            println!(
                "# ratio_vs_std = std's median / this median, same case (process): \
                 > 1.00 means faster than the blocking std loop."
            );
            println!(
                "{:<8} {:<18} {:<24} {:>10} {:>15} {:>13}",
                "suite", "case", "system", "median", "ratio_vs_tokio", "ratio_vs_std"
            );
        } else {
            println!(
                "{:<8} {:<18} {:<24} {:>10} {:>15}",
                "suite", "case", "system", "median", "ratio_vs_tokio"
            );
        }
    }
}

/// A duration with three significant digits in a fitting unit.
fn human(t: Duration) -> String {
    let s = t.as_secs_f64();
    let (v, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else {
        (s * 1e6, "µs")
    };
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$} {unit}")
}

fn main() -> ExitCode {
    // The hidden commands the network suites start as child processes.
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => return exit_with(net::serve::main(&args[1..])),
        Some("load") => return exit_with(net::client::main(&args[1..])),
        Some("pin") => return exit_with(Err(net::pin_and_exec(&args[1..]))),
        _ => {}
    }
    let mut suite = None;
    let (mut quick, mut json) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if suite.is_none() && (s == "all" || SUITES.iter().any(|(n, ..)| *n == s)) => {
                suite = Some(arg)
            }
            _ => return usage_error(&format!("unexpected argument {arg:?}")),
        }
    }
    let Some(suite) = suite else {
        return usage_error("no suite given");
    };
    let bench = Bench {
        reps: if quick { 3 } else { 7 },
        json,
        quick,
    };
    let chosen = |name: &str| suite == "all" || suite == name;
    // The common header, unless every suite chosen prints its own.
    if SUITES
        .iter()
        .any(|&(n, _, c)| c != Columns::Own && chosen(n))
    {
        bench.print_header(
            SUITES
                .iter()
                .any(|&(n, _, c)| c == Columns::Std && chosen(n)),
        );
    }
    for (name, run, _) in SUITES {
        if chosen(name) {
            run(&bench);
        }
    }
    ExitCode::SUCCESS
}

/// Exit code 1 with the error on stderr, for the hidden commands.
fn exit_with(r: std::io::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netpoll-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit code 2, as for any command-line misuse.
fn usage_error(why: &str) -> ExitCode {
    eprintln!("netpoll-bench: {why}\n{USAGE}");
    ExitCode::from(2)
}
