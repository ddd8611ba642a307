//! The per-worker local run queue (Go: `p.runq` and `p.runnext` in
//! runtime/runtime2.go, operated by `runqput`, `runqputslow`, `runqget`,
//! `runqgrab`, `runqsteal` and `runqempty` in runtime/proc.go).
//!
//! # Shape
//!
//! - A fixed ring of [`CAPACITY`] slots with two `u32` cursors. `tail` is
//!   written only by the owner (the worker that holds [`Local`]); `head` is
//!   advanced by compare-and-swap, by the owner when it pops and by thieves
//!   (holders of a [`Stealer`]) when they take a batch. The cursors count
//!   forever and wrap at 2^32; `cursor & MASK` is the slot, so the number
//!   of queued elements is `tail - head` in wrapping arithmetic.
//! - `next`, a single slot holding the most recently readied element
//!   (Go's `runnext`). The owner runs it before the ring (LIFO), which keeps
//!   a producer and the consumer it wakes on one worker, with hot caches.
//!   Thieves take it only when the ring is empty (Go's `stealRunNextG`).
//!
//! Elements are stored as type-erased pointers ([`Handle`]), and every slot
//! is an `AtomicPtr`, so a thief that reads a slot while the owner
//! overwrites it races on an atomic, not on memory: no `UnsafeCell`, no
//! torn reads, and a value read that turns out stale is simply dropped on
//! the floor (it is a copy of a pointer, never dereferenced or freed).
//!
//! # Why this module holds `unsafe`
//!
//! The project keeps `unsafe` to `sys/` and the descriptor cache, with
//! this exception: a lock-free ring needs word-sized elements, so tasks
//! travel as raw pointers (`Handle::into_ptr`/`from_ptr`), and turning a
//! claimed pointer back into its owner is the only unsafe step. Every such
//! step is justified where it happens: a pointer is converted back exactly
//! once, by whoever won the CAS (or swap) that claimed it. (One more
//! exception lives in `task.rs`: the task future's pin projection, which
//! keeps each task its future's size, and the spawn that lets it borrow
//! its task's metadata; see there.)
//!
//! # Algorithm (Go's)
//!
//! - push (`runqput`): if `tail - head < CAPACITY`, store the slot at
//!   `tail`, then store-release `tail + 1` — the release publishes the slot
//!   and the element behind it.
//! - full ring (`runqputslow`): read the oldest `CAPACITY / 2` slots, CAS
//!   `head` forward by as many to claim them, and hand them plus the new
//!   element to the caller's overflow (the global queue). If the CAS fails
//!   a consumer made room meanwhile: retry the push.
//! - pop (`runqget`): swap `next` out; else read the slot at `head` and
//!   CAS `head` to `head + 1`. Winning the CAS is what makes the pointer
//!   read ours.
//! - steal (`runqgrab` + `runqsteal`): load-acquire `head`, then `tail`,
//!   take `n = ceil((tail - head) / 2)`: copy the slots into the thief's own
//!   ring past its tail (not yet published), then CAS the victim's `head`
//!   from `head` to `head + n`. On success store-release the thief's tail;
//!   on failure the copies are garbage beyond the thief's tail and we retry.
//!   An empty ring makes the thief swap the victim's `next` to null.
//!
//! # Why reading a slot before the CAS is sound
//!
//! The owner overwrites the slot of index `i` (as index `i + CAPACITY`)
//! only after it saw `head > i`, so any consumer that read that slot while
//! intending index `i` started from a `head <= i` that is gone: its CAS
//! fails and it discards what it read. That needs every CAS on `head` to
//! be a release and every load of `head` that precedes a slot write to be
//! an acquire: then a consumer's slot read happens before the owner's
//! overwrite, and cannot observe it. The same rule protects a thief's
//! writes into its own ring (other thieves may hold stale reads of it).
//! As in Go, this relies on a stalled consumer not seeing `head` wrap all
//! 2^32 values between its load and its CAS (ABA), which cannot happen in
//! practice.

use crate::loom_shim::{Arc, AtomicPtr, AtomicU32};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Slots in the ring (Go: `len(p.runq)`). A power of two so that cursors
/// may wrap at 2^32. Tiny under loom so that a full ring is reachable in a
/// model.
#[cfg(not(loom))]
pub(crate) const CAPACITY: usize = 256;
/// Slots in the ring; tiny under loom so that overflow is reachable.
#[cfg(loom)]
pub(crate) const CAPACITY: usize = 4;

const MASK: u32 = CAPACITY as u32 - 1;
const CAP: u32 = CAPACITY as u32;
/// How many elements a full ring hands to the overflow, besides the new one.
const HALF: u32 = CAP / 2;

const _: () = assert!(CAPACITY.is_power_of_two() && CAPACITY >= 2 && CAPACITY <= 1 << 16);

/// An element of the queue: something owned that converts to a non-null
/// pointer and back (the runtime's task handle, `Box<T>` in tests).
pub(crate) trait Handle: Send + Sized {
    /// Gives up ownership, as a pointer.
    fn into_ptr(self) -> NonNull<()>;

    /// Takes ownership back.
    ///
    /// # Safety
    ///
    /// `ptr` came from `into_ptr` of the same type, and this is the only
    /// `from_ptr` for that `into_ptr`.
    unsafe fn from_ptr(ptr: NonNull<()>) -> Self;
}

impl<T: Send> Handle for Box<T> {
    fn into_ptr(self) -> NonNull<()> {
        NonNull::from(Box::leak(self)).cast()
    }

    unsafe fn from_ptr(ptr: NonNull<()>) -> Self {
        // SAFETY: the caller guarantees `ptr` came from `into_ptr` of a
        // `Box<T>`, i.e. from `Box::leak` of a live allocation of `T`, and
        // that it is converted back once, so the box is owned exactly once.
        unsafe { Box::from_raw(ptr.as_ptr().cast::<T>()) }
    }
}

/// The state shared by the owner and the thieves.
struct Inner<T: Handle> {
    /// Next slot to consume; advanced only by CAS (owner pop, overflow,
    /// thieves).
    head: AtomicU32,
    /// Next slot to fill; written only by the owner (or by the owner's
    /// thread while it steals into its own ring).
    tail: AtomicU32,
    /// Go's `runnext`: null or one element, outside the ring.
    next: AtomicPtr<()>,
    /// Slots `head..tail` hold owned pointers; the others hold stale
    /// copies or null and are never converted back.
    ring: [AtomicPtr<()>; CAPACITY],
    /// The queue owns `T`s (drop check).
    _owns: PhantomData<T>,
}

// The `T`s behind the pointers are only ever moved between threads by
// value (whoever wins the CAS on `head`, or the swap of `next`, gets sole
// ownership) and never shared, as for `Mutex<T>`.
// SAFETY: `T: Send` suffices for moving by value; `Handle` requires it.
unsafe impl<T: Handle> Send for Inner<T> {}
// SAFETY: as for `Send`: through `&Inner` elements are only moved out by
// value after an atomic claim, never accessed in place.
unsafe impl<T: Handle> Sync for Inner<T> {}

impl<T: Handle> Inner<T> {
    fn slot(&self, i: u32) -> &AtomicPtr<()> {
        &self.ring[(i & MASK) as usize]
    }
}

/// Converts a claimed pointer back into its element.
///
/// # Safety
///
/// `p` was stored by `Handle::into_ptr` of `T`, and the caller has just
/// claimed it (won the CAS that covers its slot, or swapped it out of
/// `next`), so nobody else converts it.
unsafe fn own<T: Handle>(p: *mut ()) -> T {
    // A null here would be a bug of the queue (a claimed slot never
    // written); fail loudly rather than build a bogus element.
    let p = NonNull::new(p).expect("run queue: claimed an empty slot");
    // SAFETY: forwarded from the caller.
    unsafe { T::from_ptr(p) }
}

impl<T: Handle> Drop for Inner<T> {
    fn drop(&mut self) {
        // The last `Arc` is gone, so nobody else touches the queue and the
        // `Arc`'s own acquire makes every earlier write visible: relaxed
        // loads see the final state.
        let (mut h, t) = (self.head.load(Relaxed), self.tail.load(Relaxed));
        while h != t {
            let p = self.slot(h).load(Relaxed);
            h = h.wrapping_add(1);
            // SAFETY: slots `head..tail` hold owned pointers of `T` that no
            // consumer claimed (a claim moves `head` past them), and each is
            // visited once.
            drop(unsafe { own::<T>(p) });
        }
        let p = self.next.load(Relaxed);
        if !p.is_null() {
            // SAFETY: a non-null `next` is an owned pointer of `T` that
            // nobody swapped out.
            drop(unsafe { own::<T>(p) });
        }
    }
}

/// Creates a queue: the owner's end and the thieves' end.
pub(crate) fn new<T: Handle>() -> (Local<T>, Stealer<T>) {
    let inner = Arc::new(Inner {
        head: AtomicU32::new(0),
        tail: AtomicU32::new(0),
        next: AtomicPtr::new(ptr::null_mut()),
        ring: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        _owns: PhantomData,
    });
    (
        Local {
            inner: inner.clone(),
        },
        Stealer { inner },
    )
}

/// The owner's end of a queue (Go: the `p` that owns `runq`). Not `Clone`:
/// exactly one thread pushes, which is what lets `tail` be a plain store.
pub(crate) struct Local<T: Handle> {
    inner: Arc<Inner<T>>,
}

/// The thieves' end of a queue: any worker may steal through it.
pub(crate) struct Stealer<T: Handle> {
    inner: Arc<Inner<T>>,
}

impl<T: Handle> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Stealer {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Handle> Local<T> {
    /// Queues `t` at the back of the ring (Go: `runqput(pp, gp, false)`).
    /// If the ring is full, the oldest half of it plus `t` — in queue
    /// order — go to `overflow` (Go: `runqputslow`, which moves them to the
    /// global queue).
    pub(crate) fn push_back(&mut self, t: T, overflow: impl FnOnce(Vec<T>)) {
        if let Some(batch) = self.push_ptr(t.into_ptr()) {
            overflow(batch);
        }
    }

    /// Puts `t` in the `next` slot, to be popped before the ring (Go:
    /// `runqput(pp, gp, true)`). The element it displaces goes to the back
    /// of the ring, with the overflow of [`Local::push_back`].
    pub(crate) fn push_next(&mut self, t: T, overflow: impl FnOnce(Vec<T>)) {
        // Release publishes `t` to a thief that swaps it out. (The old
        // value was stored by this thread, so the acquire half is free.)
        let old = self.inner.next.swap(t.into_ptr().as_ptr(), AcqRel);
        if let Some(old) = NonNull::new(old) {
            if let Some(batch) = self.push_ptr(old) {
                overflow(batch);
            }
        }
    }

    /// Queues an owned pointer at the tail; a full ring yields the batch for
    /// the overflow instead.
    fn push_ptr(&mut self, p: NonNull<()>) -> Option<Vec<T>> {
        let q = &*self.inner;
        // Only this thread writes `tail`.
        let t = q.tail.load(Relaxed);
        loop {
            // Acquire pairs with consumers' release CAS: their reads of the
            // slot we are about to overwrite happen before our write.
            let h = q.head.load(Acquire);
            if t.wrapping_sub(h) < CAP {
                q.slot(t).store(p.as_ptr(), Relaxed);
                // Release publishes the slot and the element behind it.
                q.tail.store(t.wrapping_add(1), Release);
                return None;
            }
            if let Some(batch) = self.take_half(h, t, p) {
                return Some(batch);
            }
            // A consumer moved `head` meanwhile, so there may be room now.
        }
    }

    /// Go's `runqputslow`: claims the oldest half of a full ring and returns
    /// it with `p` appended, or `None` if a consumer got in first.
    fn take_half(&self, h: u32, t: u32, p: NonNull<()>) -> Option<Vec<T>> {
        let q = &*self.inner;
        debug_assert_eq!(
            t.wrapping_sub(h),
            CAP,
            "run queue: overflow of a non-full ring"
        );
        let mut claimed = [ptr::null_mut::<()>(); HALF as usize];
        for (i, c) in (0..HALF).zip(claimed.iter_mut()) {
            *c = q.slot(h.wrapping_add(i)).load(Relaxed);
        }
        // Release: see the module doc; a failure just means retry.
        if q.head
            .compare_exchange(h, h.wrapping_add(HALF), Release, Relaxed)
            .is_err()
        {
            return None;
        }
        let mut batch = Vec::with_capacity(HALF as usize + 1);
        for c in claimed {
            // SAFETY: the CAS from `h` claimed slots `h..h + HALF`, which
            // held owned pointers of `T` (we wrote them; only we write).
            batch.push(unsafe { own::<T>(c) });
        }
        // SAFETY: `p` came from `into_ptr` of a `T` we own and was never
        // published.
        batch.push(unsafe { T::from_ptr(p) });
        Some(batch)
    }

    /// Takes the next element to run: `next` first, then the ring's head
    /// (Go: `runqget`).
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.pop_next().or_else(|| self.pop_ring())
    }

    /// Takes only the `next` slot. Go's `runqget` reports this case as
    /// `inheritTime`; the scheduler uses it to count LIFO polls.
    pub(crate) fn pop_next(&mut self) -> Option<T> {
        let q = &*self.inner;
        // Only the owner stores non-null, so a null seen here is current;
        // skip the write to a shared line in the common empty case.
        if q.next.load(Relaxed).is_null() {
            return None;
        }
        // A thief may have swapped it out since the load: the swap decides.
        // Release orders it for `Stealer::is_empty` (see there).
        let p = q.next.swap(ptr::null_mut(), AcqRel);
        // SAFETY: swapping `next` to null claimed the pointer it held.
        NonNull::new(p).map(|p| unsafe { T::from_ptr(p) })
    }

    /// Takes the ring's head, skipping `next`: the scheduler uses it to
    /// bound consecutive LIFO polls (tokio's `lifo` budget).
    pub(crate) fn pop_ring(&mut self) -> Option<T> {
        let q = &*self.inner;
        let t = q.tail.load(Relaxed);
        loop {
            let h = q.head.load(Acquire);
            if h == t {
                return None;
            }
            let p = q.slot(h).load(Relaxed);
            // Release like every CAS on `head` (module doc).
            if q.head
                .compare_exchange(h, h.wrapping_add(1), Release, Relaxed)
                .is_ok()
            {
                // SAFETY: the CAS from `h` claimed slot `h`, which held an
                // owned pointer of `T` stored by the owner (a push, or a
                // steal into this queue), i.e. by this thread.
                return Some(unsafe { own::<T>(p) });
            }
        }
    }

    /// Elements queued, ring and `next`. Exact for the owner, except that
    /// thieves may take some at any time.
    pub(crate) fn len(&self) -> usize {
        let q = &*self.inner;
        let t = q.tail.load(Relaxed);
        let h = q.head.load(Acquire);
        t.wrapping_sub(h) as usize + usize::from(!q.next.load(Relaxed).is_null())
    }

    /// No element in the ring or in `next`.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Handle> Stealer<T> {
    /// Moves about half of the victim's ring (`ceil(n / 2)`, at least one)
    /// into `dst` and returns one of them to run; with an empty ring, takes
    /// the victim's `next` instead (Go: `runqsteal` with `stealRunNextG`).
    /// `None` if there was nothing to take.
    ///
    /// `dst` may hold elements: the batch is capped to its free room plus
    /// the one returned. Unlike Go, this does not back off before taking
    /// `next` from a running victim; the scheduler decides when to call.
    pub(crate) fn steal_into(&self, dst: &mut Local<T>) -> Option<T> {
        let src = &*self.inner;
        let d = &*dst.inner;
        // Only this thread writes `dst`'s tail.
        let dt = d.tail.load(Relaxed);
        // Acquire, as in `push_ptr`: stale thieves of `dst` may still be
        // reading the slots we are about to fill.
        let dh = d.head.load(Acquire);
        // Free slots of `dst`; thieves of `dst` can only add to it.
        let room = CAP - dt.wrapping_sub(dh);
        loop {
            // Acquire on both: `head` for the slot-reuse rule, `tail` to see
            // the slots (and elements) the owner published.
            let h = src.head.load(Acquire);
            let t = src.tail.load(Acquire);
            let avail = t.wrapping_sub(h);
            if avail == 0 {
                return self.steal_next();
            }
            if avail > CAP {
                // `head` moved on after we loaded it and the owner refilled:
                // an inconsistent pair (Go: "read inconsistent h and t").
                continue;
            }
            let n = (avail - avail / 2).min(room + 1);
            let first = src.slot(h).load(Relaxed);
            for i in 1..n {
                let p = src.slot(h.wrapping_add(i)).load(Relaxed);
                d.slot(dt.wrapping_add(i - 1)).store(p, Relaxed);
            }
            // Release: our slot reads happen before the victim reuses them.
            if src
                .head
                .compare_exchange(h, h.wrapping_add(n), Release, Relaxed)
                .is_ok()
            {
                if n > 1 {
                    // Release publishes the copied slots to our own thieves.
                    d.tail.store(dt.wrapping_add(n - 1), Release);
                }
                // The CAS from `h` claimed slots `h..h + n` of the victim,
                // which held owned pointers of `T` (the tail acquire made
                // them current; a later overwrite would have moved `head`
                // and failed the CAS). The rest now live in `dst`'s ring.
                // SAFETY: `first` is slot `h`, claimed by the CAS above.
                return Some(unsafe { own::<T>(first) });
            }
        }
    }

    /// Go's `stealRunNextG`: the victim's ring is empty, take its `next`.
    fn steal_next(&self) -> Option<T> {
        let q = &*self.inner;
        if q.next.load(Relaxed).is_null() {
            return None;
        }
        // Acquire pairs with the owner's release swap that stored it: the
        // element's contents are visible. The swap makes us its only taker.
        let p = q.next.swap(ptr::null_mut(), Acquire);
        // SAFETY: swapping `next` to null claimed the pointer it held.
        NonNull::new(p).map(|p| unsafe { T::from_ptr(p) })
    }

    /// Whether the queue looked empty, ring and `next` (Go: `runqempty`).
    ///
    /// Re-reads `tail` to rule out the false "empty" of this interleaving:
    /// we see an empty ring, the owner's `push_next` moves the old `next`
    /// into the ring and its `pop` empties `next`, then we see no `next`.
    pub(crate) fn is_empty(&self) -> bool {
        let q = &*self.inner;
        loop {
            let h = q.head.load(Acquire);
            let t = q.tail.load(Acquire);
            // Acquire pairs with the owner's release swaps of `next`, so a
            // `next` state seen here comes with the `tail` stored before it.
            let next = q.next.load(Acquire);
            if q.tail.load(Acquire) == t {
                return h == t && next.is_null();
            }
        }
    }

    #[cfg(all(test, not(loom)))]
    /// Elements queued, ring and `next`; a snapshot for heuristics.
    pub(crate) fn len(&self) -> usize {
        let q = &*self.inner;
        let h = q.head.load(Acquire);
        let t = q.tail.load(Acquire);
        // `head` may have moved past `h` and the ring refilled: clamp.
        t.wrapping_sub(h).min(CAP) as usize + usize::from(!q.next.load(Acquire).is_null())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::Barrier;
    use std::thread;

    fn no_overflow<T>(_: Vec<T>) {
        panic!("unexpected overflow");
    }

    fn pop_all<T: Handle>(q: &mut Local<T>) -> Vec<T> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    fn ids(v: impl IntoIterator<Item = Box<usize>>) -> Vec<usize> {
        v.into_iter().map(|b| *b).collect()
    }

    #[test]
    fn ends_move_between_threads() {
        fn send<X: Send>() {}
        fn shared<X: Send + Sync + Clone>() {}
        send::<Local<Box<usize>>>();
        shared::<Stealer<Box<usize>>>();
    }

    #[test]
    fn ring_is_fifo_next_is_lifo() {
        let (mut q, s) = new::<Box<usize>>();
        assert!(q.is_empty() && s.is_empty());
        for i in 0..5 {
            q.push_back(Box::new(i), no_overflow);
        }
        q.push_next(Box::new(10), no_overflow);
        // 10 is displaced into the ring by 11.
        q.push_next(Box::new(11), no_overflow);
        assert_eq!((q.len(), s.len()), (7, 7));
        assert_eq!(ids(pop_all(&mut q)), [11, 0, 1, 2, 3, 4, 10]);
        assert!(q.is_empty() && s.is_empty());
    }

    #[test]
    fn pop_ring_skips_next() {
        let (mut q, _s) = new::<Box<usize>>();
        q.push_next(Box::new(1), no_overflow);
        assert!(q.pop_ring().is_none());
        q.push_back(Box::new(2), no_overflow);
        assert_eq!(*q.pop_ring().unwrap(), 2);
        assert_eq!(q.len(), 1);
        assert_eq!(*q.pop_next().unwrap(), 1);
        assert!(q.pop_next().is_none());
    }

    #[test]
    fn overflow_moves_half_plus_one_and_loses_nothing() {
        let (mut q, _s) = new::<Box<usize>>();
        // Wrap the cursors first so the overflow crosses the ring's end.
        for i in 0..CAPACITY + 7 {
            q.push_back(Box::new(i), no_overflow);
            assert_eq!(*q.pop().unwrap(), i);
        }
        for i in 0..CAPACITY {
            q.push_back(Box::new(i), no_overflow);
        }
        let mut spilled = Vec::new();
        q.push_back(Box::new(CAPACITY), |b| spilled = ids(b));
        let mut want: Vec<usize> = (0..CAPACITY / 2).collect();
        want.push(CAPACITY);
        assert_eq!(spilled, want);
        assert_eq!(q.len(), CAPACITY / 2);
        assert_eq!(
            ids(pop_all(&mut q)),
            (CAPACITY / 2..CAPACITY).collect::<Vec<_>>()
        );
    }

    #[test]
    fn push_next_overflows_the_displaced_element() {
        let (mut q, _s) = new::<Box<usize>>();
        for i in 0..CAPACITY {
            q.push_back(Box::new(i), no_overflow);
        }
        q.push_next(Box::new(1000), no_overflow);
        let mut spilled = Vec::new();
        q.push_next(Box::new(1001), |b| spilled = ids(b));
        let mut want: Vec<usize> = (0..CAPACITY / 2).collect();
        want.push(1000);
        assert_eq!(spilled, want);
        assert_eq!(q.len(), CAPACITY / 2 + 1);
        let mut rest = vec![1001];
        rest.extend(CAPACITY / 2..CAPACITY);
        assert_eq!(ids(pop_all(&mut q)), rest);
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        for (queued, taken) in [(1, 1), (2, 1), (3, 2), (10, 5), (CAPACITY, CAPACITY / 2)] {
            let (mut victim, s) = new::<Box<usize>>();
            let (mut dst, _ds) = new::<Box<usize>>();
            for i in 0..queued {
                victim.push_back(Box::new(i), no_overflow);
            }
            // The oldest is returned, the rest of the batch is in `dst`.
            assert_eq!(*s.steal_into(&mut dst).unwrap(), 0);
            assert_eq!(dst.len(), taken - 1, "queued {queued}");
            assert_eq!(victim.len(), queued - taken);
            assert_eq!(ids(pop_all(&mut dst)), (1..taken).collect::<Vec<_>>());
            assert_eq!(
                ids(pop_all(&mut victim)),
                (taken..queued).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn steal_is_capped_by_room_in_dst() {
        let (mut victim, s) = new::<Box<usize>>();
        let (mut dst, _ds) = new::<Box<usize>>();
        for i in 0..CAPACITY {
            victim.push_back(Box::new(i), no_overflow);
        }
        for i in 0..CAPACITY - 2 {
            dst.push_back(Box::new(1000 + i), no_overflow);
        }
        // Room for 2 plus the one returned.
        assert_eq!(*s.steal_into(&mut dst).unwrap(), 0);
        assert_eq!(dst.len(), CAPACITY);
        assert_eq!(victim.len(), CAPACITY - 3);
        // Full `dst`: still one to run.
        assert_eq!(*s.steal_into(&mut dst).unwrap(), 3);
        assert_eq!(victim.len(), CAPACITY - 4);
    }

    #[test]
    fn next_is_stolen_only_from_an_empty_ring() {
        let (mut victim, s) = new::<Box<usize>>();
        let (mut dst, _ds) = new::<Box<usize>>();
        victim.push_back(Box::new(1), no_overflow);
        victim.push_next(Box::new(2), no_overflow);
        assert_eq!(*s.steal_into(&mut dst).unwrap(), 1);
        assert_eq!(victim.len(), 1);
        assert!(!s.is_empty());
        assert_eq!(*s.steal_into(&mut dst).unwrap(), 2);
        assert!(s.steal_into(&mut dst).is_none());
        assert!(victim.is_empty() && s.is_empty() && dst.is_empty());
    }

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn drop_frees_everything() {
        let drops = Arc::new(AtomicUsize::new(0));
        let c = || Box::new(Counted(drops.clone()));
        let (mut q, s) = new::<Box<Counted>>();
        let mut spilled = Vec::new();
        // Wrap the cursors, fill and overflow, and fill `next`.
        for _ in 0..CAPACITY + 3 {
            q.push_back(c(), no_overflow);
            drop(q.pop());
        }
        assert_eq!(drops.load(SeqCst), CAPACITY + 3);
        for _ in 0..=CAPACITY {
            q.push_back(c(), |b| spilled = b);
        }
        q.push_next(c(), no_overflow);
        assert_eq!(spilled.len(), CAPACITY / 2 + 1);
        drop(spilled);
        assert_eq!(q.len(), CAPACITY / 2 + 1);
        let (mut dst, dst_s) = new::<Box<Counted>>();
        let before = drops.load(SeqCst);
        assert_eq!(before, CAPACITY + 3 + CAPACITY / 2 + 1);
        // Takes CAPACITY / 4: one dropped here, the rest stay in `dst`.
        drop(s.steal_into(&mut dst));
        assert_eq!(drops.load(SeqCst), before + 1);
        // The stealer outlives the owner: the elements live until both go.
        drop(q);
        assert_eq!(drops.load(SeqCst), before + 1);
        drop(s);
        assert_eq!(drops.load(SeqCst), before + 1 + CAPACITY / 4 + 1);
        drop((dst, dst_s));
        // Everything ever created: the first round, CAPACITY + 1 pushed,
        // one pushed to `next`.
        assert_eq!(drops.load(SeqCst), 2 * CAPACITY + 5);
    }

    /// Marks ids seen, failing on a second sighting.
    struct Seen(Vec<AtomicU64>);

    impl Seen {
        fn new(n: usize) -> Self {
            Seen((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
        }
        fn mark(&self, id: usize) {
            let bit = 1 << (id % 64);
            let old = self.0[id / 64].fetch_or(bit, SeqCst);
            assert_eq!(old & bit, 0, "item {id} seen twice");
        }
        fn count(&self) -> usize {
            self.0
                .iter()
                .map(|w| w.load(SeqCst).count_ones() as usize)
                .sum()
        }
    }

    #[test]
    fn stress_owner_against_two_thieves() {
        // Miri is some 10^4 times slower: fewer items, shorter phases (each
        // still overflows the ring).
        const N: usize = if cfg!(miri) { 3_000 } else { 1_000_000 };
        const PHASE: usize = if cfg!(miri) { 1024 } else { 4096 };
        let seen = Arc::new(Seen::new(N));
        let done = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(3));
        let (mut owner, victim) = new::<Box<usize>>();
        let (qa, sa) = new::<Box<usize>>();
        let (qb, sb) = new::<Box<usize>>();
        let thief = |mut own: Local<Box<usize>>, peer: Stealer<Box<usize>>| {
            let (seen, done, victim) = (seen.clone(), done.clone(), victim.clone());
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut stolen = 0usize;
                for k in 0usize.. {
                    // Mostly run our own; steal when empty, and sometimes
                    // into a non-empty ring; sometimes from the peer.
                    if k % 4 != 0 {
                        if let Some(x) = own.pop() {
                            seen.mark(*x);
                            continue;
                        }
                    }
                    let from = if k % 7 == 0 { &peer } else { &victim };
                    if let Some(x) = from.steal_into(&mut own) {
                        stolen += 1;
                        seen.mark(*x);
                    } else if done.load(SeqCst) && victim.is_empty() {
                        break;
                    } else {
                        thread::yield_now();
                    }
                }
                while let Some(x) = own.pop() {
                    seen.mark(*x);
                }
                stolen
            })
        };
        let a = thief(qa, sb);
        let b = thief(qb, sa);
        start.wait();
        let mut spilled = 0;
        for i in 0..N {
            let spill = |batch: Vec<Box<usize>>| {
                spilled += batch.len();
                batch.into_iter().for_each(|x| seen.mark(*x));
            };
            if i % 5 == 0 {
                owner.push_next(Box::new(i), spill);
            } else {
                owner.push_back(Box::new(i), spill);
            }
            // Alternate phases: popping as fast as we push (races on the
            // last elements), and popping a third of it (overflows).
            if (i / PHASE).is_multiple_of(2) || i % 3 == 0 {
                if let Some(x) = owner.pop() {
                    seen.mark(*x);
                }
            }
        }
        while let Some(x) = owner.pop() {
            seen.mark(*x);
        }
        done.store(true, SeqCst);
        let (sa, sb) = (a.join().unwrap(), b.join().unwrap());
        eprintln!("stolen: {sa} + {sb} batches, spilled {spilled}");
        assert_eq!(seen.count(), N);
    }
}
