//! The runtime's timer store: every `sleep`, `timeout`, `interval` and
//! (later) per-fd deadline is one entry here (Go: runtime/time.go).
//!
//! # Design
//!
//! One [`Timers`] per runtime, shared by all workers, holds behind one
//! mutex:
//!
//! - a *slab* of slots, one per timer (Go: `runtime.timer`). A slot is
//!   named by its index plus a generation that changes each time the slot
//!   is freed, so a [`TimerKey`] that outlived its timer (cancelled, slot
//!   reused) is recognised and ignored instead of touching the next
//!   occupant — the same trick as the poll descriptors' sequence numbers.
//! - a 4-ary min-heap of `(deadline, index, arm)` entries (Go: the per-P
//!   timer heap `p.timers`, also 4-ary: shallower than a binary heap, and
//!   the four children of a node share a cache line).
//!
//! Cancelling or re-arming a timer does not search the heap for its entry:
//! the slot's `arm` counter moves on and the old entry simply stops
//! matching, so it is dropped whenever it reaches the top (Go: `cleanHead`)
//! and cancel stays O(1). Stale entries the top never reaches, such as
//! long idle timeouts that every request pushes further away, would pile
//! up, so once they outnumber `max(live, 1024)` the heap is rebuilt from
//! its live entries in O(n) (Go: `cleantimers` / `adjusttimers`, and
//! `timers.deleteNeedClean` in later versions). Every rebuild removes at
//! least as many entries as it keeps, so its cost is paid for by the
//! operations that made the garbage and the heap never holds more than
//! about twice the live timers plus 1024.
//!
//! Deadlines are kept as `u64` nanoseconds since an `Instant` taken in
//! [`Timers::new`], which makes heap comparisons cheap and lets the
//! earliest deadline be published in an `AtomicU64` (Go: `p.timer0When`),
//! so the poller can read it before every blocking wait without the lock.
//! The published value is exact: the top of the heap is always a live
//! entry once a call returns.
//!
//! [`Timers::fire`] takes wakers out under the lock but wakes them after
//! releasing it, in batches of [`WAKE_BATCH`] (tokio: `WakeList`), so a
//! waker that re-enters the timer store (a task woken inline that re-arms
//! its interval) cannot deadlock, and no user code runs under the lock.
//! Replaced and cancelled wakers are likewise dropped after unlocking.
//!
//! A timer never fires early: it fires only from a [`Timers::fire`] whose
//! `now` is at or after its deadline.
//!
//! # Lifecycle
//!
//! `insert` → pending → (`fire`) → fired → `reset` → pending → …, and
//! `cancel` from any state frees the slot. A fired timer keeps its slot
//! until it is cancelled, so `poll` can keep answering `Ready` and `reset`
//! can re-arm it; the owner (the `Sleep` future, the interval, the fd) must
//! therefore call `cancel` when it is done, fired or not.
//!
//! # For the scheduler
//!
//! - A poller already blocked with a longer timeout must be woken when an
//!   earlier timer is armed (Go: `wakeNetPoller(when)`). `insert` and
//!   `reset` call the hook the driver installed with [`Timers::on_arm`]
//!   with the new deadline, after releasing the lock; the driver compares
//!   it with the deadline its poller sleeps until. Timer users (sleeps,
//!   fd deadlines) therefore need not know who drives the poller.
//! - `fire` may be called by any worker, concurrently; it is cheap (one
//!   atomic load) when nothing is due. Call it with a fresh
//!   `Instant::now()` after every poller wait and before parking.
//! - One mutex serves the whole runtime, where Go has one heap per P. It
//!   is held for O(log n) per operation and never while user code runs;
//!   sharding by worker is possible later without changing this API.

use crate::loom_shim::LockExt;
use crate::loom_shim::{AtomicU64, Mutex, MutexGuard};
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::OnceLock;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The published "next deadline" when no timer is pending.
const NONE: u64 = u64::MAX;

/// The largest stored deadline; later ones saturate here. It is about 584
/// years after the base, and [`Timers::fire`] never lets `now` reach it,
/// so a saturated deadline never fires rather than firing early.
const MAX_DEADLINE: u64 = u64::MAX - 1;

/// Stale heap entries tolerated regardless of the live count, so small
/// heaps are not rebuilt constantly (Go uses a quarter of the heap; a
/// floor keeps the amortisation obvious).
const MIN_DEAD_BEFORE_REBUILD: usize = 1024;

/// Wakers collected before the lock is dropped to wake them.
const WAKE_BATCH: usize = 32;

/// Children per heap node.
const ARITY: usize = 4;

/// Names one timer: its slot and the generation of the slot it was created
/// in. Stale keys (the timer was cancelled) are ignored by every method.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

/// The timer store of one runtime (Go: the timer heaps of all Ps together).
pub(crate) struct Timers {
    /// Deadlines are stored as nanoseconds since this instant.
    base: Instant,
    /// The deadline of the heap's top (always live), or [`NONE`]; written
    /// only under the lock, read without it (Go: `p.timer0When`).
    next: AtomicU64,
    inner: Mutex<Inner>,
    /// Told of every deadline armed (see [`Timers::on_arm`]).
    armed: OnceLock<ArmHook>,
}

/// What [`Timers::on_arm`] installs.
type ArmHook = Box<dyn Fn(Instant) + Send + Sync>;

struct Inner {
    slots: Vec<Slot>,
    /// Indices of free slots, most recently freed last (reused first: its
    /// memory is the most likely to be cached).
    free: Vec<u32>,
    heap: Vec<HeapEntry>,
    /// Slots in [`State::Pending`]. Each has exactly one heap entry whose
    /// `arm` matches; every other heap entry is stale.
    pending: usize,
}

struct Slot {
    /// Changes each time the slot is freed, invalidating outstanding keys.
    /// It wraps after 2^32 reuses of one slot, so a key kept across that
    /// many could alias; nothing holds a key that long.
    generation: u32,
    /// Changes each time the timer is armed (insert, reset), invalidating
    /// the heap entry of the previous arming. Never reset, so entries left
    /// by an earlier occupant of the slot do not match either.
    arm: u32,
    state: State,
    /// The current deadline, meaningful while pending.
    deadline: u64,
    /// Who to wake when it fires; taken by the firing.
    waker: Option<Waker>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Not in use; on the free list.
    Free,
    /// Armed, in the heap, not yet due.
    Pending,
    /// Fired and not re-armed; kept until cancelled.
    Fired,
}

#[derive(Clone, Copy, Debug)]
struct HeapEntry {
    deadline: u64,
    index: u32,
    arm: u32,
}

#[allow(dead_code)] // Used by the scheduler, which is not written yet.
impl Timers {
    /// An empty store; deadlines are measured from now.
    pub(crate) fn new() -> Timers {
        Timers {
            base: Instant::now(),
            next: AtomicU64::new(NONE),
            inner: Mutex::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                heap: Vec::new(),
                pending: 0,
            }),
            armed: OnceLock::new(),
        }
    }

    /// Installs the hook told of every deadline `insert` and `reset` arm,
    /// called without the lock held. Only the first call takes effect: a
    /// store has one driver.
    pub(crate) fn on_arm(&self, hook: impl Fn(Instant) + Send + Sync + 'static) {
        let _ = self.armed.set(Box::new(hook));
    }

    fn armed(&self, deadline: Instant) {
        if let Some(hook) = self.armed.get() {
            hook(deadline);
        }
    }

    /// Arms a new timer that wakes `waker` once `deadline` has passed.
    /// O(log n).
    pub(crate) fn insert(&self, at: Instant, waker: &Waker) -> TimerKey {
        let deadline = self.to_nanos(at);
        // Cloned before locking: the clone is user code.
        let waker = waker.clone();
        let mut inner = self.lock();
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(inner.slots.len())
                    .expect("netpoll: more than 2^32 timers at once");
                inner.slots.push(Slot {
                    generation: 0,
                    arm: 0,
                    state: State::Free,
                    deadline: 0,
                    waker: None,
                });
                i
            }
        };
        let slot = &mut inner.slots[index as usize];
        debug_assert_eq!(slot.state, State::Free);
        slot.waker = Some(waker);
        let generation = slot.generation;
        inner.arm(index, deadline);
        self.publish(&inner);
        drop(inner);
        self.armed(at);
        TimerKey { index, generation }
    }

    /// `Ready` once the timer has fired (until it is re-armed); otherwise
    /// remembers `waker` as the one to wake, cloning it only if it would
    /// not wake the same task as the stored one.
    ///
    /// A stale key answers `Ready`: its timer is gone and will never fire,
    /// and finishing is better than hanging a caller that kept polling.
    pub(crate) fn poll(&self, key: TimerKey, waker: &Waker) -> Poll<()> {
        let mut inner = self.lock();
        let Some(slot) = inner.slot_mut(key) else {
            return Poll::Ready(());
        };
        if slot.state == State::Fired {
            return Poll::Ready(());
        }
        let old = match &slot.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.waker.replace(waker.clone()),
        };
        drop(inner);
        // The old waker's drop is user code: outside the lock.
        drop(old);
        Poll::Pending
    }

    /// Re-arms the timer for `deadline`, waking `waker` then, whether or
    /// not it has already fired (an interval's next tick, a deadline moved).
    /// A stale key is ignored.
    pub(crate) fn reset(&self, key: TimerKey, at: Instant, waker: &Waker) {
        let deadline = self.to_nanos(at);
        let mut inner = self.lock();
        let Some(slot) = inner.slot_mut(key) else {
            return;
        };
        let old = match &slot.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.waker.replace(waker.clone()),
        };
        let rearm = match slot.state {
            // Already armed for exactly this deadline: the heap entry is
            // still right, and pushing another would only make garbage.
            State::Pending if slot.deadline == deadline => false,
            State::Pending => {
                // The old entry goes stale; `arm` pushes the new one.
                inner.pending -= 1;
                true
            }
            State::Fired => true,
            State::Free => unreachable!("slot_mut returned a free slot"),
        };
        if rearm {
            inner.arm(key.index, deadline);
            // The previous entry may have been the top.
            inner.clean_head();
            inner.maybe_rebuild();
            self.publish(&inner);
        }
        drop(inner);
        drop(old);
        if rearm {
            self.armed(at);
        }
    }

    /// Disarms the timer and frees its slot, fired or not. O(1) amortised:
    /// the heap entry is left behind and skipped later. A stale key is
    /// ignored.
    pub(crate) fn cancel(&self, key: TimerKey) {
        let mut inner = self.lock();
        let Some(slot) = inner.slot_mut(key) else {
            return;
        };
        let was_pending = slot.state == State::Pending;
        slot.state = State::Free;
        slot.generation = slot.generation.wrapping_add(1);
        let old = slot.waker.take();
        inner.free.push(key.index);
        if was_pending {
            inner.pending -= 1;
            // Only the top needs to go now, so the published deadline stays
            // exact; buried entries wait for a pop or a rebuild.
            if inner.heap.first().is_some_and(|e| e.index == key.index) {
                inner.clean_head();
                self.publish(&inner);
            }
            inner.maybe_rebuild();
        }
        drop(inner);
        drop(old);
    }

    /// The earliest pending deadline, without taking the lock. A deadline
    /// before [`Timers::new`] is reported as the moment of `new`, which is
    /// still in the past.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.next.load(Acquire) {
            NONE => None,
            // Past the platform's Instant range: as good as never.
            n => self.base.checked_add(Duration::from_nanos(n)),
        }
    }

    /// Fires every pending timer whose deadline is at or before `now`,
    /// earliest first, and returns how many fired. Wakers are called with
    /// the lock released.
    pub(crate) fn fire(&self, now: Instant) -> usize {
        // Before the base no stored deadline can be due: deadlines before
        // the base were clamped to it, so firing them now could be early.
        let Some(since) = now.checked_duration_since(self.base) else {
            return 0;
        };
        // Stays below MAX_DEADLINE, so saturated deadlines never fire.
        let now = u64::try_from(since.as_nanos())
            .unwrap_or(u64::MAX)
            .min(MAX_DEADLINE - 1);
        // The poller calls this after every wait; usually nothing is due.
        if self.next.load(Acquire) > now {
            return 0;
        }
        let mut fired = 0;
        loop {
            let mut batch: [Option<Waker>; WAKE_BATCH] = [const { None }; WAKE_BATCH];
            let mut n = 0;
            let mut inner = self.lock();
            while n < WAKE_BATCH {
                match inner.heap.first() {
                    Some(top) if top.deadline <= now => {}
                    _ => break,
                }
                let entry = inner.pop();
                let slot = &mut inner.slots[entry.index as usize];
                if slot.state == State::Pending && slot.arm == entry.arm {
                    debug_assert!(slot.deadline <= now);
                    slot.state = State::Fired;
                    batch[n] = slot.waker.take();
                    n += 1;
                    inner.pending -= 1;
                }
            }
            // The top may now be a stale entry that is not yet due.
            inner.clean_head();
            self.publish(&inner);
            let more = inner.heap.first().is_some_and(|top| top.deadline <= now);
            drop(inner);
            fired += n;
            for waker in batch.iter_mut().take(n).filter_map(Option::take) {
                waker.wake();
            }
            if !more {
                return fired;
            }
        }
    }

    /// Pending (armed, not yet fired) timers.
    pub(crate) fn len(&self) -> usize {
        self.lock().pending
    }

    /// Heap entries, live and stale: what compaction bounds.
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.lock().heap.len()
    }

    /// Slots ever allocated, and how many are free.
    #[cfg(test)]
    pub(crate) fn slab_usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.slots.len(), inner.free.len())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Nanoseconds since the base, clamped to `0..=MAX_DEADLINE`.
    fn to_nanos(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.base) {
            Some(d) => u64::try_from(d.as_nanos())
                .unwrap_or(u64::MAX)
                .min(MAX_DEADLINE),
            None => 0,
        }
    }

    /// Publishes the heap's top, which callers have made live. Always
    /// under the lock, so stores happen in the order of the changes.
    fn publish(&self, inner: &Inner) {
        debug_assert!(inner.heap.first().is_none_or(|e| inner.is_live(e)));
        let next = inner.heap.first().map_or(NONE, |e| e.deadline);
        self.next.store(next, Release);
    }
}

impl Inner {
    /// The slot `key` names, unless the key is stale.
    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation && s.state != State::Free)
    }

    fn is_live(&self, e: &HeapEntry) -> bool {
        let slot = &self.slots[e.index as usize];
        slot.state == State::Pending && slot.arm == e.arm
    }

    /// Marks the slot pending at `deadline` and pushes its (new, only
    /// live) heap entry.
    fn arm(&mut self, index: u32, deadline: u64) {
        let slot = &mut self.slots[index as usize];
        slot.arm = slot.arm.wrapping_add(1);
        slot.state = State::Pending;
        slot.deadline = deadline;
        let entry = HeapEntry {
            deadline,
            index,
            arm: slot.arm,
        };
        self.pending += 1;
        self.heap.push(entry);
        self.sift_up(self.heap.len() - 1);
    }

    /// Drops stale entries from the top until it is live (Go: cleanHead).
    fn clean_head(&mut self) {
        while let Some(top) = self.heap.first() {
            if self.is_live(top) {
                break;
            }
            self.pop();
        }
    }

    /// Rebuilds the heap from its live entries once stale ones outnumber
    /// `max(live, 1024)` (Go: cleantimers/adjusttimers). The rebuild is
    /// O(heap) and removes more than half of it, so it is O(1) amortised
    /// over the cancels and resets that made the garbage.
    fn maybe_rebuild(&mut self) {
        let dead = self.heap.len() - self.pending;
        if dead <= self.pending.max(MIN_DEAD_BEFORE_REBUILD) {
            return;
        }
        let slots = &self.slots;
        self.heap.retain(|e| {
            let slot = &slots[e.index as usize];
            slot.state == State::Pending && slot.arm == e.arm
        });
        debug_assert_eq!(self.heap.len(), self.pending);
        // Floyd's heapify: sift down every node that has children, last
        // first; O(n).
        if self.heap.len() > 1 {
            for i in (0..=(self.heap.len() - 2) / ARITY).rev() {
                self.sift_down(i);
            }
        }
        // Don't keep a huge allocation after a burst of timers.
        if self.heap.capacity() > 4 * self.heap.len().max(MIN_DEAD_BEFORE_REBUILD) {
            self.heap.shrink_to(2 * self.heap.len());
        }
    }

    /// Removes and returns the top entry. The heap must not be empty.
    fn pop(&mut self) -> HeapEntry {
        let last = self.heap.pop().expect("pop from an empty timer heap");
        if self.heap.is_empty() {
            return last;
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        self.sift_down(0);
        top
    }

    fn sift_up(&mut self, mut i: usize) {
        let entry = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.heap[parent].deadline <= entry.deadline {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    fn sift_down(&mut self, mut i: usize) {
        let len = self.heap.len();
        let entry = self.heap[i];
        loop {
            let first = i * ARITY + 1;
            if first >= len {
                break;
            }
            let end = (first + ARITY).min(len);
            let mut min = first;
            for c in first + 1..end {
                if self.heap[c].deadline < self.heap[min].deadline {
                    min = c;
                }
            }
            if entry.deadline <= self.heap[min].deadline {
                break;
            }
            self.heap[i] = self.heap[min];
            i = min;
        }
        self.heap[i] = entry;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// Counts its wakes; optionally records its id in a shared log.
    struct Counter {
        id: usize,
        wakes: AtomicUsize,
        log: Option<Arc<std::sync::Mutex<Vec<usize>>>>,
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            if let Some(log) = &self.log {
                log.lock().unwrap().push(self.id);
            }
        }
    }

    impl Counter {
        fn wakes(&self) -> usize {
            self.wakes.load(Ordering::SeqCst)
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        logged(0, None)
    }

    fn logged(id: usize, log: Option<Arc<std::sync::Mutex<Vec<usize>>>>) -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter {
            id,
            wakes: AtomicUsize::new(0),
            log,
        });
        (c.clone(), Waker::from(c))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Checks the heap property and the live-entry bookkeeping.
    fn check_invariants(t: &Timers) {
        let inner = t.lock();
        for i in 1..inner.heap.len() {
            assert!(inner.heap[(i - 1) / ARITY].deadline <= inner.heap[i].deadline);
        }
        let live = inner.heap.iter().filter(|e| inner.is_live(e)).count();
        let pending = inner
            .slots
            .iter()
            .filter(|s| s.state == State::Pending)
            .count();
        assert_eq!(live, inner.pending);
        assert_eq!(pending, inner.pending);
        let free = inner
            .slots
            .iter()
            .filter(|s| s.state == State::Free)
            .count();
        assert_eq!(free, inner.free.len());
        assert!(inner.heap.first().is_none_or(|e| inner.is_live(e)));
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Timers>();
        check::<TimerKey>();
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let t = Timers::new();
        let t0 = Instant::now();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut counters = Vec::new();
        for (id, d) in [50, 10, 30, 20, 40].into_iter().enumerate() {
            let (c, w) = logged(id, Some(log.clone()));
            t.insert(t0 + ms(d), &w);
            counters.push(c);
        }
        assert_eq!(t.len(), 5);
        assert_eq!(t.fire(t0), 0);
        assert_eq!(t.fire(t0 + ms(10) - Duration::from_nanos(1)), 0);
        assert!(log.lock().unwrap().is_empty());
        // Exactly at the deadline counts as due.
        assert_eq!(t.fire(t0 + ms(10)), 1);
        assert_eq!(t.fire(t0 + ms(35)), 2);
        assert_eq!(*log.lock().unwrap(), [1, 3, 2]);
        assert_eq!(t.fire(t0 + ms(35)), 0);
        assert_eq!(t.fire(t0 + ms(1000)), 2);
        assert_eq!(*log.lock().unwrap(), [1, 3, 2, 4, 0]);
        assert!(counters.iter().all(|c| c.wakes() == 1));
        assert_eq!(t.len(), 0);
        check_invariants(&t);
    }

    #[test]
    fn many_timers_fire_in_order_across_batches() {
        let t = Timers::new();
        let t0 = Instant::now();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut x: u64 = 12345;
        let mut deadlines = Vec::new();
        // Several wake batches' worth; fewer under Miri.
        let n = if cfg!(miri) { 200 } else { 1000 };
        for id in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let d = Duration::from_micros((x >> 33) % 100_000);
            let (_, w) = logged(id, Some(log.clone()));
            t.insert(t0 + d, &w);
            deadlines.push(d);
        }
        check_invariants(&t);
        let now = t0 + ms(50);
        let due = deadlines.iter().filter(|d| t0 + **d <= now).count();
        assert_eq!(t.fire(now), due);
        let log = log.lock().unwrap();
        assert_eq!(log.len(), due);
        for pair in log.windows(2) {
            assert!(deadlines[pair[0]] <= deadlines[pair[1]]);
        }
        assert!(log.iter().all(|&id| t0 + deadlines[id] <= now));
        assert_eq!(t.len(), n - due);
        check_invariants(&t);
    }

    #[test]
    fn deadlines_before_base_fire_but_not_before_base() {
        let early = Instant::now();
        let t = Timers::new();
        let (c, w) = counter();
        t.insert(early, &w);
        // `now` before the base: nothing can be proven due.
        assert_eq!(t.fire(early), 0);
        assert_eq!(t.next_deadline(), Some(t.base));
        assert_eq!(t.fire(t.base), 1);
        assert_eq!(c.wakes(), 1);
    }

    #[test]
    fn far_deadlines_saturate_and_never_fire() {
        let t = Timers::new();
        let far = t.base + Duration::from_secs(1000 * 365 * 86400);
        let (c, w) = counter();
        let k = t.insert(far, &w);
        assert_eq!(t.len(), 1);
        assert_eq!(t.fire(far), 0);
        assert_eq!(c.wakes(), 0);
        t.cancel(k);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn cancel_prevents_firing_and_stale_keys_are_ignored() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (ca, wa) = counter();
        let a = t.insert(t0 + ms(10), &wa);
        t.cancel(a);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);

        // The slot is reused with a new generation.
        let (cb, wb) = counter();
        let b = t.insert(t0 + ms(20), &wb);
        assert_eq!(a.index, b.index);
        assert_ne!(a, b);

        // Every use of the stale key leaves `b` alone.
        let (cx, wx) = counter();
        t.cancel(a);
        assert_eq!(t.len(), 1);
        assert_eq!(t.poll(a, &wx), Poll::Ready(()));
        t.reset(a, t0 + ms(5), &wx);
        assert_eq!(t.next_deadline(), Some(t0 + ms(20)));
        assert_eq!(t.fire(t0 + ms(10)), 0);
        assert_eq!(t.fire(t0 + ms(20)), 1);
        assert_eq!((ca.wakes(), cb.wakes(), cx.wakes()), (0, 1, 0));
        assert_eq!(t.poll(b, &wb), Poll::Ready(()));
        check_invariants(&t);

        // Cancelling after firing frees the slot; a second cancel is a no-op.
        t.cancel(b);
        t.cancel(b);
        assert_eq!(t.slab_usage(), (1, 1));
        check_invariants(&t);
    }

    #[test]
    fn cancel_of_one_leaves_the_others() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let (c3, w3) = counter();
        let k1 = t.insert(t0 + ms(1), &w1);
        let _k2 = t.insert(t0 + ms(2), &w2);
        let _k3 = t.insert(t0 + ms(3), &w3);
        t.cancel(k1);
        assert_eq!(t.len(), 2);
        assert_eq!(t.fire(t0 + ms(10)), 2);
        assert_eq!((c1.wakes(), c2.wakes(), c3.wakes()), (0, 1, 1));
    }

    #[test]
    fn reset_before_firing() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (c, w) = counter();
        let k = t.insert(t0 + ms(50), &w);

        // Earlier.
        t.reset(k, t0 + ms(10), &w);
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(t.fire(t0 + ms(9)), 0);
        assert_eq!(t.fire(t0 + ms(10)), 1);
        assert_eq!(c.wakes(), 1);
        // The stale entry at 50ms does not fire again.
        assert_eq!(t.fire(t0 + ms(60)), 0);
        assert_eq!(c.wakes(), 1);
        check_invariants(&t);

        // Later.
        let (c2, w2) = counter();
        let k2 = t.insert(t0 + ms(100), &w2);
        t.reset(k2, t0 + ms(200), &w2);
        assert_eq!(t.next_deadline(), Some(t0 + ms(200)));
        assert_eq!(t.fire(t0 + ms(150)), 0);
        assert_eq!(t.poll(k2, &w2), Poll::Pending);
        assert_eq!(t.fire(t0 + ms(200)), 1);
        assert_eq!(c2.wakes(), 1);

        // Same deadline: no new heap entry.
        let k3 = t.insert(t0 + ms(300), &w2);
        let before = t.heap_len();
        t.reset(k3, t0 + ms(300), &w2);
        assert_eq!(t.heap_len(), before);
        check_invariants(&t);
    }

    #[test]
    fn reset_after_firing_rearms() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (c, w) = counter();
        let k = t.insert(t0 + ms(10), &w);
        assert_eq!(t.fire(t0 + ms(10)), 1);
        assert_eq!(t.len(), 0);
        assert_eq!(t.poll(k, &w), Poll::Ready(()));

        // Interval-style: next tick later.
        t.reset(k, t0 + ms(20), &w);
        assert_eq!(t.len(), 1);
        assert_eq!(t.poll(k, &w), Poll::Pending);
        assert_eq!(t.fire(t0 + ms(19)), 0);
        assert_eq!(t.fire(t0 + ms(20)), 1);
        assert_eq!(c.wakes(), 2);

        // Re-armed into the past: due at the next fire.
        t.reset(k, t0 + ms(1), &w);
        assert_eq!(t.poll(k, &w), Poll::Pending);
        assert_eq!(t.fire(t0 + ms(20)), 1);
        assert_eq!(c.wakes(), 3);
        assert_eq!(t.poll(k, &w), Poll::Ready(()));
        check_invariants(&t);
    }

    #[test]
    fn reset_replaces_the_waker() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let k = t.insert(t0 + ms(10), &w1);
        t.reset(k, t0 + ms(20), &w2);
        assert_eq!(t.fire(t0 + ms(20)), 1);
        assert_eq!((c1.wakes(), c2.wakes()), (0, 1));
    }

    #[test]
    fn poll_stores_the_waker_and_clones_only_when_needed() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let k = t.insert(t0 + ms(10), &w1);
        // Ours, `w1`, and the stored clone.
        assert_eq!(Arc::strong_count(&c1), 3);
        assert_eq!(t.poll(k, &w1), Poll::Pending);
        assert_eq!(Arc::strong_count(&c1), 3, "will_wake: no clone");
        let w1b = w1.clone();
        assert_eq!(t.poll(k, &w1b), Poll::Pending);
        assert_eq!(Arc::strong_count(&c1), 4, "same task: still no clone");
        drop(w1b);

        assert_eq!(t.poll(k, &w2), Poll::Pending);
        assert_eq!(Arc::strong_count(&c1), 2, "old waker dropped");
        assert_eq!(Arc::strong_count(&c2), 3, "new waker stored");

        assert_eq!(t.fire(t0 + ms(10)), 1);
        assert_eq!((c1.wakes(), c2.wakes()), (0, 1));
        // The fired waker was consumed.
        assert_eq!(Arc::strong_count(&c2), 2);
        assert_eq!(t.poll(k, &w1), Poll::Ready(()));
        assert_eq!(t.poll(k, &w1), Poll::Ready(()));
        assert_eq!(Arc::strong_count(&c1), 2, "no waker stored after firing");
        t.cancel(k);
    }

    #[test]
    fn next_deadline_tracks_changes() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (_, w) = counter();
        assert_eq!(t.next_deadline(), None);
        let k20 = t.insert(t0 + ms(20), &w);
        assert_eq!(t.next_deadline(), Some(t0 + ms(20)));
        let k10 = t.insert(t0 + ms(10), &w);
        assert_eq!(t.next_deadline(), Some(t0 + ms(10)));
        let k30 = t.insert(t0 + ms(30), &w);
        assert_eq!(t.next_deadline(), Some(t0 + ms(10)));
        // Cancelling the earliest exposes the next one at once.
        t.cancel(k10);
        assert_eq!(t.next_deadline(), Some(t0 + ms(20)));
        // Cancelling a buried one changes nothing.
        t.cancel(k30);
        assert_eq!(t.next_deadline(), Some(t0 + ms(20)));
        let k40 = t.insert(t0 + ms(40), &w);
        // Firing moves it on, past the stale entry of k30.
        assert_eq!(t.fire(t0 + ms(20)), 1);
        assert_eq!(t.next_deadline(), Some(t0 + ms(40)));
        // Resetting the earliest later, and a fired one earlier.
        t.reset(k40, t0 + ms(50), &w);
        assert_eq!(t.next_deadline(), Some(t0 + ms(50)));
        t.reset(k20, t0 + ms(45), &w);
        assert_eq!(t.next_deadline(), Some(t0 + ms(45)));
        assert_eq!(t.fire(t0 + ms(100)), 2);
        assert_eq!(t.next_deadline(), None);
        t.cancel(k20);
        t.cancel(k40);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.heap_len(), 0);
        check_invariants(&t);
    }

    #[test]
    fn compaction_keeps_the_heap_bounded_for_one_timer() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (c, w) = counter();
        let far = t0 + Duration::from_secs(3600);
        let k = t.insert(far, &w);
        let mut max = 0;
        // Under Miri enough rounds for a rebuild, not a million.
        let rounds = if cfg!(miri) { 2_000 } else { 1_000_000u64 };
        for i in 0..rounds {
            // Ever earlier, so each stale entry is buried below the new one
            // and only the rebuild can remove it.
            t.reset(k, far - Duration::from_micros(i), &w);
            max = max.max(t.heap_len());
        }
        assert!(max <= 1 + MIN_DEAD_BEFORE_REBUILD + 1, "heap grew to {max}");
        assert_eq!(t.len(), 1);
        check_invariants(&t);
        assert_eq!(t.fire(far), 1);
        assert_eq!(c.wakes(), 1);
    }

    #[test]
    fn compaction_keeps_the_heap_bounded_for_many_timers() {
        let t = Timers::new();
        let t0 = Instant::now();
        let (_, w) = counter();
        let far = t0 + Duration::from_secs(3600);
        // Under Miri fewer timers, and enough resets for a few rebuilds
        // (one) rather than a million.
        let (n, rounds) = if cfg!(miri) {
            (300, 1_500)
        } else {
            (2000, 1_000_000)
        };
        let keys: Vec<_> = (0..n).map(|_| t.insert(far, &w)).collect();
        let mut x: u64 = 1;
        let mut max = 0;
        for _ in 0..rounds {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = keys[(x >> 33) as usize % keys.len()];
            t.reset(k, far + Duration::from_micros((x >> 20) % 10_000_000), &w);
            max = max.max(t.heap_len());
        }
        // Live entries plus the stale ones a rebuild tolerates.
        let bound = n + n.max(MIN_DEAD_BEFORE_REBUILD) + 1;
        assert!(max <= bound, "heap grew to {max}");
        assert_eq!(t.len(), n);
        check_invariants(&t);
        for k in keys {
            t.cancel(k);
        }
        assert_eq!(t.len(), 0);
        assert!(t.heap_len() <= MIN_DEAD_BEFORE_REBUILD + 1);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn concurrent_inserts_cancels_and_fires_lose_nothing() {
        const PER_THREAD: usize = if cfg!(miri) { 100 } else { 20_000 };
        let t = Arc::new(Timers::new());
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let fired_total = Arc::new(AtomicUsize::new(0));

        let firer = {
            let (t, stop, fired_total) = (t.clone(), stop.clone(), fired_total.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    fired_total.fetch_add(t.fire(Instant::now()), Ordering::SeqCst);
                    std::thread::yield_now();
                }
            })
        };

        let workers: Vec<_> = (0..2)
            .map(|seed| {
                let (t, done) = (t.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut x: u64 = seed + 1;
                    let mut kept = Vec::new();
                    let mut cancelled = Vec::new();
                    for i in 0..PER_THREAD {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let (c, w) = counter();
                        let d = Instant::now() + Duration::from_micros((x >> 33) % 2000);
                        let k = t.insert(d, &w);
                        if i % 3 == 0 {
                            t.cancel(k);
                            cancelled.push(c);
                        } else {
                            // Reset may come after the firer fired the
                            // first arming: then it rightly fires twice.
                            let reset = i % 3 == 1;
                            if reset {
                                t.reset(k, d + Duration::from_micros(100), &w);
                            }
                            kept.push((k, c, w, reset));
                        }
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    (kept, cancelled)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(done.load(Ordering::SeqCst), 2);
        // Everything left is due within a few milliseconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        while t.len() > 0 {
            assert!(Instant::now() < deadline, "timers never fired");
            std::thread::sleep(ms(1));
        }
        stop.store(true, Ordering::SeqCst);
        firer.join().unwrap();

        let mut wakes = 0;
        for (kept, cancelled) in &results {
            for (k, c, w, reset) in kept {
                if *reset {
                    assert!(
                        (1..=2).contains(&c.wakes()),
                        "a reset timer fires once per arming"
                    );
                } else {
                    assert_eq!(c.wakes(), 1, "a kept timer must fire exactly once");
                }
                assert_eq!(t.poll(*k, w), Poll::Ready(()));
                wakes += c.wakes();
            }
            for c in cancelled {
                // Cancelled right after insert: fired at most once, if the
                // firer got there first.
                assert!(c.wakes() <= 1);
                wakes += c.wakes();
            }
        }
        assert_eq!(fired_total.load(Ordering::SeqCst), wakes);
        for (kept, _) in &results {
            for (k, ..) in kept {
                t.cancel(*k);
            }
        }
        let (slots, free) = t.slab_usage();
        assert_eq!(slots, free);
        assert_eq!(t.next_deadline(), None);
        check_invariants(&t);
    }

    /// Prints the cost of inserting then cancelling a million timers.
    /// `cargo test --release -p netpoll --lib runtime::timer -- --nocapture --include-ignored`
    #[test]
    #[ignore = "measurement; run in release with --nocapture"]
    fn bench_insert_cancel() {
        const N: usize = 1_000_000;
        let w = Waker::noop();
        let t = Timers::new();
        let t0 = Instant::now();
        let mut keys = Vec::with_capacity(N);
        for round in 0..3 {
            // A million timers with scattered deadlines, then all cancelled
            // in insertion order.
            keys.clear();
            let mut x: u64 = 7;
            let start = Instant::now();
            for _ in 0..N {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let d =
                    t0 + Duration::from_secs(60) + Duration::from_micros((x >> 33) % 60_000_000);
                keys.push(t.insert(d, w));
            }
            let inserted = start.elapsed();
            for &k in &keys {
                t.cancel(k);
            }
            let total = start.elapsed();
            assert_eq!(t.len(), 0);
            println!(
                "round {round}: {N} inserts then cancels (scattered): {:.1} ns/pair \
                 (insert {:.1} ns, cancel {:.1} ns)",
                total.as_nanos() as f64 / N as f64,
                inserted.as_nanos() as f64 / N as f64,
                (total - inserted).as_nanos() as f64 / N as f64,
            );

            // Same, deadlines increasing: every cancel removes the top.
            keys.clear();
            let start = Instant::now();
            for i in 0..N {
                keys.push(t.insert(
                    t0 + Duration::from_secs(60) + Duration::from_micros(i as u64),
                    w,
                ));
            }
            for &k in &keys {
                t.cancel(k);
            }
            println!(
                "round {round}: {N} inserts then cancels (in deadline order): {:.1} ns/pair",
                start.elapsed().as_nanos() as f64 / N as f64
            );

            // The common case: a timeout set and cancelled at once, among
            // 10_000 other pending timers.
            let others: Vec<_> = (0..10_000)
                .map(|i| t.insert(t0 + Duration::from_secs(30) + Duration::from_millis(i), w))
                .collect();
            let start = Instant::now();
            for i in 0..N {
                let k = t.insert(
                    t0 + Duration::from_secs(60) + Duration::from_micros(i as u64 % 1000),
                    w,
                );
                t.cancel(k);
            }
            println!(
                "round {round}: {N} insert+cancel pairs among 10k pending: {:.1} ns/pair",
                start.elapsed().as_nanos() as f64 / N as f64
            );
            for k in others {
                t.cancel(k);
            }
            assert!(t.heap_len() <= 2 * MIN_DEAD_BEFORE_REBUILD);
        }
    }
}
