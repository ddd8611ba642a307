//! The monitor: one thread per runtime that notices a worker stuck inside
//! one task poll and keeps the rest of the runtime going (Go: sysmon's
//! retake and handoffp, in runtime/proc.go).
//!
//! A task that blocks (`std::thread::sleep`, a blocking syscall, a long
//! computation) keeps its worker, and without help also everything only
//! that worker would run: its local queue, its LIFO slot, the tasks that
//! yielded on it and, if every worker is stuck, the poller and the timers.
//! Rust cannot preempt the task, so the monitor moves the work instead:
//!
//! 1. Every task poll bumps its worker's `tick` twice (odd: inside a poll;
//!    Go: p.schedtick). Each round the monitor compares the ticks with
//!    the ones it saw before; a worker whose odd tick has not moved for
//!    [`BLOCKED_AFTER`] is stuck.
//! 2. A stuck worker's local queue (LIFO slot included) and its deferred
//!    (yielded) tasks go to the global queue, and idle workers are woken
//!    to take them. Its queue is drained again every round it stays stuck,
//!    since the blocked task may keep waking others onto it.
//! 3. When every worker is stuck, nobody polls the kernel or fires
//!    timers: the monitor starts a spare worker (up to one per worker, as
//!    Go starts an M for a P whose M is blocked in a syscall). Spares are
//!    asked to retire once no regular worker is stuck; a retiring spare
//!    hands its tasks to the global queue and exits.
//! 4. Each occurrence is counted (`metrics.blocked_worker_polls`,
//!    `spare_workers_started`) and, if the user asked
//!    (`Builder::warn_blocking`, `NETPOLL_WARN_BLOCKING=1`), reported once
//!    when the poll returns, with the task's spawn location and how long
//!    it blocked.
//!
//! On a current-thread runtime there is nobody to hand work to: the
//! monitor only counts and warns.
//!
//! The monitor costs nothing while the runtime is idle: it backs off from
//! [`ROUND`] to [`IDLE_ROUND`] as Go's sysmon does, and once every worker
//! is parked (or no `block_on` drives a current-thread runtime) it sleeps
//! until a worker wakes up. The handshake cannot lose that wake: the
//! monitor announces it sleeps and then checks the workers once more; a
//! worker leaving its park marks itself awake and then looks for a
//! sleeping monitor (all SeqCst, so one of them sees the other).

use super::queue;
use super::scheduler::{Flavor, Shared};
use super::task::Runnable;
use super::Handle;
use crate::loom_shim::LockExt;
use crate::metrics;
use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;
use std::thread;
use std::time::{Duration, Instant};

#[cfg(all(test, loom))]
#[path = "loom_monitor.rs"]
mod loom_monitor;

/// How long one task poll may keep its worker before the monitor steps in
/// (Go's sysmon retakes a P after 10 ms in a syscall or in one goroutine).
pub(crate) const BLOCKED_AFTER: Duration = Duration::from_millis(10);

/// The monitor's round while any worker is busy.
const ROUND: Duration = Duration::from_millis(2);

/// The longest round, reached by doubling while every worker stays idle.
const IDLE_ROUND: Duration = Duration::from_millis(10);

/// Idle rounds in a row (at [`IDLE_ROUND`]) before the monitor sleeps
/// until a worker wakes it.
const IDLE_ROUNDS_BEFORE_SLEEP: u32 = 10;

/// The environment variable that turns the blocking warning on (`1`).
pub const WARN_BLOCKING_ENV: &str = "NETPOLL_WARN_BLOCKING";

/// What the monitor remembers of one worker between rounds.
#[derive(Clone, Copy)]
struct Seen {
    tick: u32,
    since: Instant,
    /// This poll has been found stuck (and its work handed on), by a task
    /// spawned here.
    stuck: Option<&'static Location<'static>>,
}

/// The monitor thread's body; returns at shutdown (the runtime joins the
/// spares it started).
pub(crate) fn run(handle: Handle) {
    let shared = &handle.shared;
    let now = Instant::now();
    let mut seen: Vec<Seen> = shared
        .remotes
        .iter()
        .map(|r| Seen {
            tick: r.tick.load(Relaxed),
            since: now,
            stuck: None,
        })
        .collect();
    // A queue of the monitor's own, to steal a stuck worker's tasks into.
    let (mut staging, _) = queue::new::<Runnable>();
    let mut round = ROUND;
    let mut idle_rounds = 0;
    while !shared.is_shutdown() {
        thread::park_timeout(round);
        if shared.is_shutdown() {
            break;
        }
        let now = Instant::now();
        let mut stuck_regular = 0;
        let mut busy = false;
        for (i, remote) in shared.remotes.iter().enumerate() {
            let tick = remote.tick.load(Relaxed);
            let s = &mut seen[i];
            if tick != s.tick {
                if let Some(location) = s.stuck {
                    ended(shared, i, location, now - s.since);
                }
                *s = Seen {
                    tick,
                    since: now,
                    stuck: None,
                };
            }
            if tick % 2 == 0 {
                continue; // not inside a task poll
            }
            busy = true;
            if now - s.since < BLOCKED_AFTER {
                continue;
            }
            if s.stuck.is_none() {
                let location = remote.running_location();
                if remote.tick.load(Relaxed) != tick {
                    continue; // it just returned: the location may be the next task's
                }
                s.stuck = Some(location);
                metrics::add(&metrics::BLOCKED_WORKER_POLLS, 1);
            }
            if i < shared.config.workers {
                stuck_regular += 1;
            }
            if shared.config.flavor == Flavor::MultiThread {
                hand_off(shared, i, &mut staging);
                shared.ensure_poller_owner();
            }
        }
        if shared.config.flavor == Flavor::MultiThread {
            if stuck_regular == 0 {
                shared.retire_spares();
            } else if all_stuck(shared, &seen) {
                shared.start_spare(&handle);
            }
        }
        // Back off while idle, as Go's sysmon does; sleep once every
        // worker is parked.
        if busy {
            round = ROUND;
            idle_rounds = 0;
        } else {
            round = (round * 2).min(IDLE_ROUND);
            idle_rounds += 1;
            if idle_rounds >= IDLE_ROUNDS_BEFORE_SLEEP && shared.monitor_may_sleep() {
                while shared.monitor_sleeping() && !shared.is_shutdown() {
                    thread::park();
                }
                round = ROUND;
                idle_rounds = 0;
            }
        }
    }
}

/// Whether every running worker (regular and spare) is stuck.
fn all_stuck(shared: &Shared, seen: &[Seen]) -> bool {
    shared
        .remotes
        .iter()
        .enumerate()
        .filter(|(i, _)| shared.is_running(*i))
        .all(|(i, _)| seen[i].stuck.is_some())
}

/// Moves worker `i`'s queued and deferred tasks to the global queue and
/// wakes workers to run them.
fn hand_off(shared: &Shared, i: usize, staging: &mut queue::Local<Runnable>) {
    let remote = &shared.remotes[i];
    let mut moved: Vec<Runnable> = std::mem::take(&mut *remote.deferred.locked());
    while let Some(first) = remote.stealer.steal_into(staging) {
        moved.push(first);
        moved.extend(std::iter::from_fn(|| staging.pop()));
    }
    if moved.is_empty() {
        return;
    }
    let n = moved.len();
    metrics::add(&metrics::BLOCKED_WORKER_HANDOFFS, n as u64);
    shared.inject_batch(moved);
    for _ in 0..n.min(shared.remotes.len()) {
        shared.notify_one();
    }
}

/// A stuck poll of worker `i`, of a task spawned at `location`, returned
/// at least `took` after it was first seen: warn if asked to.
fn ended(shared: &Shared, i: usize, location: &Location<'_>, took: Duration) {
    if !shared.config.warn_blocking {
        return;
    }
    eprintln!(
        "netpoll: a task spawned at {location} blocked worker {i} for {took:.1?} or more; \
         blocking work belongs in spawn_blocking (Go's sysmon hands such a worker's \
         work on, and so did netpoll)"
    );
}
