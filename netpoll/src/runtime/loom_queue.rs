//! loom models of the local run queue: every interleaving of the owner's
//! push, pop and overflow with a thief's steal, on a ring of
//! `CAPACITY = 4` slots. Each model checks that every element comes out
//! exactly once. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p netpoll --lib --release --target-dir target/loom queue`.

use super::queue::{self, Local, Stealer, CAPACITY};
use loom::cell::UnsafeCell;
use loom::thread;

/// An element whose id lives in a loom cell: reading it on another thread
/// without a happens-before edge from its creation is reported by loom, so
/// the models also check that the queue publishes what it hands over.
struct Id(UnsafeCell<usize>);

type Item = Box<Id>;

fn item(id: usize) -> Item {
    Box::new(Id(UnsafeCell::new(id)))
}

/// Reads the id and leaks the box, so that a duplicated element fails the
/// model's assertion instead of crashing the test on a double free (the
/// drop path has its own model, with `Tracked`).
fn id(x: Item) -> usize {
    // SAFETY: the cell is only written by `UnsafeCell::new`.
    let id = x.0.with(|p| unsafe { *p });
    std::mem::forget(x);
    id
}

fn no_overflow(_: Vec<Item>) {
    panic!("unexpected overflow");
}

/// A thief with its own (initially empty) queue: steals once, then runs
/// what it got. Returns the ids it saw.
fn thief(victim: Stealer<Item>) -> thread::JoinHandle<Vec<usize>> {
    thread::spawn(move || {
        let (mut own, _s) = queue::new::<Item>();
        let mut got = Vec::new();
        if let Some(x) = victim.steal_into(&mut own) {
            got.push(id(x));
        }
        while let Some(x) = own.pop() {
            got.push(id(x));
        }
        got
    })
}

fn drain(q: &mut Local<Item>, into: &mut Vec<usize>) {
    while let Some(x) = q.pop() {
        into.push(id(x));
    }
}

fn assert_exactly_once(mut got: Vec<usize>, n: usize) {
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "lost or duplicated");
}

/// The owner pushes and pops while a thief steals: the race on the last
/// element of the ring (pop's CAS against the steal's CAS), and a steal
/// reading slots the owner is filling.
#[test]
fn loom_queue_push_pop_vs_steal() {
    loom::model(|| {
        let (mut q, s) = queue::new::<Item>();
        q.push_back(item(0), no_overflow);
        let th = thief(s);
        q.push_back(item(1), no_overflow);
        let mut got = Vec::new();
        if let Some(x) = q.pop() {
            got.push(id(x));
        }
        q.push_back(item(2), no_overflow);
        drain(&mut q, &mut got);
        got.extend(th.join().unwrap());
        assert_exactly_once(got, 3);
    });
}

/// The owner's `push_next` displaces `next` into the ring while a thief
/// finds the ring empty and swaps `next` out: whichever element the thief
/// gets, it is not run twice.
#[test]
fn loom_queue_push_next_vs_steal_next() {
    loom::model(|| {
        let (mut q, s) = queue::new::<Item>();
        q.push_next(item(0), no_overflow);
        let th = thief(s);
        q.push_next(item(1), no_overflow);
        let mut got = Vec::new();
        drain(&mut q, &mut got);
        got.extend(th.join().unwrap());
        assert_exactly_once(got, 2);
    });
}

/// The owner overflows a full ring while a thief steals half of it: the
/// overflow's CAS races the steal's CAS over the same slots, and the push
/// retries when the thief wins. The owner then pushes into the slots the
/// thief may have read before losing its CAS (slot reuse after wrap).
///
/// Unbounded, the retry loops make this model run for many minutes; it is
/// bounded to 4 preemptions (14k iterations, about 2 s in release) unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
#[test]
fn loom_queue_overflow_vs_steal() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound.get_or_insert(4);
    model.check(|| {
        let (mut q, s) = queue::new::<Item>();
        for i in 0..CAPACITY {
            q.push_back(item(i), no_overflow);
        }
        let th = thief(s);
        let mut got = Vec::new();
        for i in CAPACITY..CAPACITY + 3 {
            q.push_back(item(i), |batch| {
                // Exactly half the ring plus the new element, in order.
                assert_eq!(batch.len(), CAPACITY / 2 + 1);
                got.extend(batch.into_iter().map(id));
            });
        }
        drain(&mut q, &mut got);
        got.extend(th.join().unwrap());
        assert_exactly_once(got, CAPACITY + 3);
    });
}

/// A thief steals into its own ring while a second thief steals from that
/// ring: the batch is published by the first thief's tail release, and
/// elements pass owner -> thief -> thief intact and once.
#[test]
fn loom_queue_steal_from_a_thief() {
    loom::model(|| {
        let (mut q, s) = queue::new::<Item>();
        for i in 0..CAPACITY {
            q.push_back(item(i), no_overflow);
        }
        let (mut mid, mid_s) = queue::new::<Item>();
        let first = thread::spawn(move || {
            let mut got = Vec::new();
            if let Some(x) = s.steal_into(&mut mid) {
                got.push(id(x));
            }
            drain(&mut mid, &mut got);
            got
        });
        let second = thief(mid_s);
        let mut got = Vec::new();
        drain(&mut q, &mut got);
        got.extend(first.join().unwrap());
        got.extend(second.join().unwrap());
        assert_exactly_once(got, CAPACITY);
    });
}

/// Records its id when dropped.
struct Tracked(usize, std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0);
    }
}

/// The owner pops and is dropped while a thief steals, so the last
/// reference to the shared state may go on either thread: every element,
/// run or left in the queue, is dropped exactly once.
#[test]
fn loom_queue_drop_owner_during_steal() {
    loom::model(|| {
        // A std mutex: loom runs one thread at a time, so it never blocks
        // and adds no interleavings.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut q, s) = queue::new::<Box<Tracked>>();
        for i in 0..3 {
            q.push_back(Box::new(Tracked(i, log.clone())), |_| unreachable!());
        }
        q.push_next(Box::new(Tracked(3, log.clone())), |_| unreachable!());
        let th = thread::spawn(move || {
            let (mut own, _s) = queue::new::<Box<Tracked>>();
            drop(s.steal_into(&mut own));
            // `own` still holds the rest of the batch: freed by its drop.
        });
        drop(q.pop_ring());
        drop(q);
        th.join().unwrap();
        let mut log = log.lock().unwrap().clone();
        log.sort_unstable();
        assert_eq!(log, [0, 1, 2, 3], "element leaked or dropped twice");
    });
}
