//! The fd lock: Go's internal/poll.fdMutex, made async.
//!
//! One atomic word counts the references to an fd (every operation in
//! flight holds one) and carries three bits: closed, read-locked and
//! write-locked. Reads serialize with reads and writes with writes, but a
//! read and a write may run together, as in Go. A task that finds its
//! direction locked parks in a FIFO queue instead of blocking its thread.
//!
//! Close sets the closed bit: every operation that starts afterwards, and
//! every parked one, fails at once. The fd itself must be closed by whoever
//! drops the last reference: `close` if nothing is in flight, otherwise
//! the last operation to leave. That is what keeps the fd number from
//! being reused under a syscall that is still running (Go: decref /
//! increfAndClose returning "destroy").

use crate::loom_shim::LockExt;
use crate::loom_shim::{AtomicU64, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::{Context, Poll, Waker};

const CLOSED: u64 = 1 << 0;
const READ_LOCKED: u64 = 1 << 1;
const WRITE_LOCKED: u64 = 1 << 2;
const READ_WAITING: u64 = 1 << 3;
const WRITE_WAITING: u64 = 1 << 4;
const REF: u64 = 1 << 8;
const REF_MASK: u64 = !(REF - 1);

/// Which lock an operation takes (Go: fdMutex's rwlock(read bool)).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Read,
    Write,
}

impl Side {
    fn locked(self) -> u64 {
        match self {
            Side::Read => READ_LOCKED,
            Side::Write => WRITE_LOCKED,
        }
    }

    fn waiting(self) -> u64 {
        match self {
            Side::Read => READ_WAITING,
            Side::Write => WRITE_WAITING,
        }
    }
}

/// The fd is closed (or closing): the operation must fail with the closed
/// error.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Closed;

/// What the caller of an unlock/decref/close must do next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use = "the last reference out must close the fd"]
pub(crate) enum Release {
    /// Others still hold the fd.
    Keep,
    /// Closed, and this was the last reference: close(2) the fd now.
    Destroy,
}

#[derive(Default)]
struct Queues {
    read: Queue,
    write: Queue,
    next_id: u64,
}

/// The tasks waiting for one side's lock.
#[derive(Default)]
struct Queue {
    /// Lock attempts that keep a [`Ticket`], in arrival order.
    tickets: VecDeque<(u64, Waker)>,
    /// `poll_*`-style callers, which cannot keep a ticket between polls:
    /// all of them are woken by the next unlock, to try again.
    anonymous: Vec<Waker>,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.anonymous.is_empty()
    }
}

impl Queues {
    fn of(&mut self, side: Side) -> &mut Queue {
        match side {
            Side::Read => &mut self.read,
            Side::Write => &mut self.write,
        }
    }
}

/// The locked queues of an `FdLock`, known to be allocated.
struct QueuesGuard<'a>(MutexGuard<'a, Option<Box<Queues>>>);

impl std::ops::Deref for QueuesGuard<'_> {
    type Target = Queues;

    fn deref(&self) -> &Queues {
        self.0.as_deref().expect("allocated by FdLock::queues")
    }
}

impl std::ops::DerefMut for QueuesGuard<'_> {
    fn deref_mut(&mut self) -> &mut Queues {
        self.0.as_deref_mut().expect("allocated by FdLock::queues")
    }
}

/// Go: internal/poll.fdMutex.
pub(crate) struct FdLock {
    state: AtomicU64,
    /// Boxed on first use: most fds never see their lock contended, and
    /// the queues would otherwise add 120 bytes to every one of them.
    queues: Mutex<Option<Box<Queues>>>,
}

/// A lock attempt's place in the queue, kept by the caller between polls
/// and handed to [`FdLock::cancel`] if it gives up.
#[derive(Default, Debug)]
pub(crate) struct Ticket {
    id: Option<u64>,
}

impl Default for FdLock {
    fn default() -> Self {
        FdLock::new()
    }
}

impl FdLock {
    pub(crate) fn new() -> FdLock {
        FdLock {
            state: AtomicU64::new(0),
            queues: Mutex::new(None),
        }
    }

    /// The queues, locked (and allocated if this is their first use).
    fn queues(&self) -> QueuesGuard<'_> {
        let mut guard = self.queues.locked();
        guard.get_or_insert_with(Box::default);
        QueuesGuard(guard)
    }

    /// Applies `f` until the CAS succeeds; `f` may refuse with `Err`.
    fn update<E>(&self, mut f: impl FnMut(u64) -> Result<u64, E>) -> Result<u64, E> {
        let mut cur = self.state.load(Acquire);
        loop {
            let new = f(cur)?;
            match self.state.compare_exchange_weak(cur, new, AcqRel, Acquire) {
                Ok(_) => return Ok(cur),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes a reference for an operation that needs no lock (setsockopt,
    /// fstat...). Go: fdMutex.incref.
    pub(crate) fn incref(&self) -> Result<(), Closed> {
        self.update(|s| {
            if s & CLOSED != 0 {
                Err(Closed)
            } else {
                Ok(add_ref(s))
            }
        })
        .map(drop)
    }

    /// Drops a reference. Go: fdMutex.decref.
    pub(crate) fn decref(&self) -> Release {
        let prev = self.update::<()>(|s| Ok(drop_ref(s))).unwrap_or_default();
        destroy_if_last(drop_ref(prev))
    }

    /// Marks the fd closed, taking a reference the caller must drop with
    /// [`decref`](Self::decref) once the poll descriptor is evicted; every
    /// parked operation is woken to fail. Returns how many were woken;
    /// `Err` if it was already closed. Go: fdMutex.increfAndClose.
    pub(crate) fn close(&self) -> Result<usize, Closed> {
        self.update(|s| {
            if s & CLOSED != 0 {
                Err(Closed)
            } else {
                Ok(add_ref(s | CLOSED))
            }
        })?;
        let woken: Vec<Waker> = {
            let mut q = self.queues.locked();
            let Some(q) = q.as_deref_mut() else {
                return Ok(0); // never contended: nobody to wake
            };
            [&mut q.read, &mut q.write]
                .into_iter()
                .flat_map(|side| {
                    let tickets = side.tickets.drain(..).map(|(_, w)| w);
                    tickets.chain(side.anonymous.drain(..)).collect::<Vec<_>>()
                })
                .collect()
        };
        let n = woken.len();
        woken.into_iter().for_each(Waker::wake);
        Ok(n)
    }

    /// Whether close has begun.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Acquire) & CLOSED != 0
    }

    /// Tries to take `side`'s lock and a reference; parks the task in
    /// `side`'s queue if it is held. Go: fdMutex.rwlock.
    ///
    /// Not FIFO-fair, like Go's: a woken waiter competes with newcomers,
    /// keeping its place in the queue if it loses.
    pub(crate) fn poll_lock(
        &self,
        side: Side,
        ticket: &mut Ticket,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        self.poll_lock_as(side, Some(ticket), cx)
    }

    /// Like [`poll_lock`](Self::poll_lock) for a caller that cannot keep a
    /// ticket between polls (`AsyncRead::poll_read` on a shared stream):
    /// if the lock is held, its waker is woken by the next unlock, along
    /// with every other such caller, to try again.
    pub(crate) fn poll_lock_anonymous(
        &self,
        side: Side,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        self.poll_lock_as(side, None, cx)
    }

    /// Takes `side`'s lock and a reference if the lock is free, without
    /// queueing: `Ok(false)` if another operation holds it (the `try_*`
    /// operations, which never wait, then report `WouldBlock`). Nothing is
    /// left in the queues, so no unlock has a waker to find for it. Go has
    /// none: fdMutex.rwlock always waits.
    pub(crate) fn try_lock(&self, side: Side) -> Result<bool, Closed> {
        let taken = self.update(|s| {
            if s & CLOSED != 0 {
                Err(Some(Closed))
            } else if s & side.locked() != 0 {
                Err(None)
            } else {
                Ok(add_ref(s | side.locked()))
            }
        });
        match taken {
            Ok(_) => Ok(true),
            Err(Some(closed)) => Err(closed),
            Err(None) => Ok(false),
        }
    }

    fn poll_lock_as(
        &self,
        side: Side,
        ticket: Option<&mut Ticket>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        let mut none = Ticket::default();
        // Fast path: free (or closed), no queue lock.
        let fast = self.update(|s| {
            if s & CLOSED != 0 {
                Err(Some(Closed))
            } else if s & side.locked() != 0 {
                Err(None)
            } else {
                Ok(add_ref(s | side.locked()))
            }
        });
        match fast {
            Ok(_) => return Poll::Ready(self.acquired(side, ticket.unwrap_or(&mut none))),
            Err(Some(closed)) => {
                return Poll::Ready(self.failed(side, ticket.unwrap_or(&mut none), closed))
            }
            Err(None) => {}
        }
        // Slow path, under the queue lock. Seeing the lock held and raising
        // the waiting bit is one CAS: an unlock either comes before it (and
        // we take the lock here) or sees the bit and wakes the queue, which
        // it can only read after we have queued (we hold its lock).
        let mut q = self.queues();
        let prev = self.update(|s| {
            if s & CLOSED != 0 {
                Err(Closed)
            } else if s & side.locked() != 0 {
                Ok(s | side.waiting())
            } else {
                Ok(add_ref(s | side.locked()))
            }
        });
        match prev {
            Err(closed) => {
                drop(q);
                Poll::Ready(self.failed(side, ticket.unwrap_or(&mut none), closed))
            }
            Ok(s) if s & side.locked() == 0 => {
                drop(q);
                Poll::Ready(self.acquired(side, ticket.unwrap_or(&mut none)))
            }
            Ok(_) => {
                let waker = cx.waker();
                let Some(ticket) = ticket else {
                    let anonymous = &mut q.of(side).anonymous;
                    if !anonymous.iter().any(|w| w.will_wake(waker)) {
                        anonymous.push(waker.clone());
                    }
                    return Poll::Pending;
                };
                let id = *ticket.id.get_or_insert_with(|| {
                    q.next_id += 1;
                    q.next_id
                });
                let queue = &mut q.of(side).tickets;
                match queue.iter_mut().find(|(i, _)| *i == id) {
                    Some(entry) => entry.1.clone_from(waker),
                    None => queue.push_back((id, waker.clone())),
                }
                Poll::Pending
            }
        }
    }

    /// The lock is ours: leave the queue if we were in it.
    fn acquired(&self, side: Side, ticket: &mut Ticket) -> Result<(), Closed> {
        self.leave_queue(side, ticket);
        Ok(())
    }

    /// The fd is closed: leave the queue if we were in it.
    fn failed(&self, side: Side, ticket: &mut Ticket, closed: Closed) -> Result<(), Closed> {
        self.leave_queue(side, ticket);
        Err(closed)
    }

    /// Removes the ticket's entry; returns the new head's waker if the lock
    /// is free now (someone should retry).
    fn leave_queue(&self, side: Side, ticket: &mut Ticket) -> Option<Waker> {
        let id = ticket.id.take()?;
        let mut q = self.queues();
        let queue = q.of(side);
        queue.tickets.retain(|(i, _)| *i != id);
        if queue.is_empty() {
            let _ = self.update::<()>(|s| Ok(s & !side.waiting()));
            return None;
        }
        let free = self.state.load(Acquire) & side.locked() == 0;
        free.then(|| queue.tickets.front().map(|(_, w)| w.clone()))
            .flatten()
    }

    /// Gives up a lock attempt that has not succeeded (its future was
    /// dropped). If the lock is free, the next in line is woken: the wakeup
    /// this attempt may have received must not be lost with it.
    pub(crate) fn cancel(&self, side: Side, ticket: &mut Ticket) {
        if let Some(next) = self.leave_queue(side, ticket) {
            next.wake();
        }
    }

    /// Releases `side`'s lock and its reference, waking the next in line.
    /// Go: fdMutex.rwunlock.
    pub(crate) fn unlock(&self, side: Side) -> Release {
        let prev = self
            .update::<()>(|s| {
                if s & side.locked() == 0 {
                    inconsistent("an unlock without the lock");
                }
                Ok(drop_ref(s & !side.locked()))
            })
            .unwrap_or_default();
        if prev & side.waiting() != 0 {
            // Wake the head; it stays queued (keeping its place) until it
            // takes the lock or gives up. Anonymous callers all retry.
            let (head, anonymous) = {
                let mut q = self.queues();
                let queue = q.of(side);
                let head = queue.tickets.front().map(|(_, w)| w.clone());
                let anonymous = std::mem::take(&mut queue.anonymous);
                if queue.is_empty() {
                    let _ = self.update::<()>(|s| Ok(s & !side.waiting()));
                }
                (head, anonymous)
            };
            head.into_iter().chain(anonymous).for_each(Waker::wake);
        }
        destroy_if_last(drop_ref(prev & !side.locked()))
    }
}

/// `state` with one more reference. The count has 56 bits, so only a bug
/// (references leaked in a loop) can fill it; that stops here, in release
/// builds too, rather than wrap into the flag bits (Go: fdMutex's
/// "too many concurrent operations" panic).
fn add_ref(state: u64) -> u64 {
    match state.checked_add(REF) {
        Some(s) => s,
        None => inconsistent("too many concurrent operations on one fd"),
    }
}

/// `state` with one reference less. A release without a reference is a
/// bug that would otherwise wrap the count and corrupt the flags; it stops
/// here, in release builds too (Go: "inconsistent poll.fdMutex").
fn drop_ref(state: u64) -> u64 {
    if state & REF_MASK == 0 {
        inconsistent("a reference released twice");
    }
    state - REF
}

#[cold]
#[inline(never)]
fn inconsistent(what: &str) -> ! {
    panic!("netpoll: inconsistent fd lock: {what}")
}

fn destroy_if_last(state: u64) -> Release {
    if state & CLOSED != 0 && state & REF_MASK == 0 {
        Release::Destroy
    } else {
        Release::Keep
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn lock(l: &FdLock, side: Side, t: &mut Ticket, w: &Waker) -> Poll<Result<(), Closed>> {
        l.poll_lock(side, t, &mut Context::from_waker(w))
    }

    // The count's guards hold in release builds too (no debug_assert):
    // a broken count must stop the program, not corrupt the flags.
    #[test]
    #[should_panic(expected = "inconsistent fd lock: a reference released twice")]
    fn a_decref_without_a_reference_panics() {
        let l = FdLock::new();
        let _ = l.decref();
    }

    #[test]
    #[should_panic(expected = "inconsistent fd lock: an unlock without the lock")]
    fn an_unlock_without_the_lock_panics() {
        let l = FdLock::new();
        l.incref().unwrap();
        let _ = l.unlock(Side::Read);
    }

    #[test]
    #[should_panic(expected = "inconsistent fd lock: too many concurrent operations")]
    fn a_reference_count_overflow_panics() {
        let l = FdLock::new();
        l.state.store(REF_MASK, SeqCst);
        let _ = l.incref();
    }

    #[test]
    fn reads_serialize_with_reads_but_not_with_writes() {
        let l = FdLock::new();
        let (_, w) = waker();
        let (mut a, mut b, mut c) = (Ticket::default(), Ticket::default(), Ticket::default());
        assert_eq!(lock(&l, Side::Read, &mut a, &w), Poll::Ready(Ok(())));
        assert_eq!(lock(&l, Side::Write, &mut b, &w), Poll::Ready(Ok(())));
        assert!(lock(&l, Side::Read, &mut c, &w).is_pending());
        assert_eq!(l.unlock(Side::Write), Release::Keep);
        assert_eq!(l.unlock(Side::Read), Release::Keep);
        assert_eq!(lock(&l, Side::Read, &mut c, &w), Poll::Ready(Ok(())));
        assert_eq!(l.unlock(Side::Read), Release::Keep);
    }

    #[test]
    fn try_lock_takes_a_free_side_and_never_queues() {
        let l = FdLock::new();
        let (c, w) = waker();
        let mut t = Ticket::default();
        assert_eq!(l.try_lock(Side::Read), Ok(true));
        assert_eq!(l.try_lock(Side::Read), Ok(false), "held: not taken");
        assert_eq!(l.try_lock(Side::Write), Ok(true), "the other side is free");
        assert!(lock(&l, Side::Read, &mut t, &w).is_pending());
        // The failed try left nothing queued: one unlock wakes the one
        // real waiter, and the count is back where it was.
        assert_eq!(l.unlock(Side::Read), Release::Keep);
        assert_eq!(c.0.load(SeqCst), 1);
        assert!(lock(&l, Side::Read, &mut t, &w).is_ready());
        assert_eq!(l.unlock(Side::Read), Release::Keep);
        assert_eq!(l.unlock(Side::Write), Release::Keep);
        l.incref().unwrap();
        l.close().unwrap();
        assert_eq!(l.try_lock(Side::Read), Err(Closed));
        assert_eq!(l.decref(), Release::Keep);
        assert_eq!(l.decref(), Release::Destroy);
    }

    #[test]
    fn unlock_wakes_the_head_of_the_queue() {
        let l = FdLock::new();
        let (_, w0) = waker();
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let (mut t0, mut t1, mut t2) = (Ticket::default(), Ticket::default(), Ticket::default());
        assert!(lock(&l, Side::Read, &mut t0, &w0).is_ready());
        assert!(lock(&l, Side::Read, &mut t1, &w1).is_pending());
        assert!(lock(&l, Side::Read, &mut t2, &w2).is_pending());
        let _ = l.unlock(Side::Read);
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (1, 0), "FIFO wake");
        assert!(lock(&l, Side::Read, &mut t1, &w1).is_ready());
        let _ = l.unlock(Side::Read);
        assert_eq!(c2.0.load(SeqCst), 1);
        assert!(lock(&l, Side::Read, &mut t2, &w2).is_ready());
        let _ = l.unlock(Side::Read);
    }

    #[test]
    fn a_cancelled_woken_waiter_passes_the_wakeup_on() {
        let l = FdLock::new();
        let (_, w0) = waker();
        let (_, w1) = waker();
        let (c2, w2) = waker();
        let (mut t0, mut t1, mut t2) = (Ticket::default(), Ticket::default(), Ticket::default());
        assert!(lock(&l, Side::Write, &mut t0, &w0).is_ready());
        assert!(lock(&l, Side::Write, &mut t1, &w1).is_pending());
        assert!(lock(&l, Side::Write, &mut t2, &w2).is_pending());
        let _ = l.unlock(Side::Write); // wakes t1
        l.cancel(Side::Write, &mut t1); // t1 gives up
        assert_eq!(c2.0.load(SeqCst), 1, "t2 was told to retry");
        assert!(lock(&l, Side::Write, &mut t2, &w2).is_ready());
        let _ = l.unlock(Side::Write);
    }

    #[test]
    fn close_fails_new_and_parked_operations_and_the_last_one_out_destroys() {
        let l = FdLock::new();
        let (c, w) = waker();
        let (mut t0, mut t1) = (Ticket::default(), Ticket::default());
        assert!(lock(&l, Side::Read, &mut t0, &w).is_ready());
        assert!(lock(&l, Side::Read, &mut t1, &w).is_pending());
        l.incref().unwrap();
        assert_eq!(l.close(), Ok(1));
        assert_eq!(l.close(), Err(Closed), "second close");
        assert!(l.is_closed());
        assert_eq!(c.0.load(SeqCst), 1, "parked op woken");
        assert_eq!(lock(&l, Side::Read, &mut t1, &w), Poll::Ready(Err(Closed)));
        assert_eq!(l.incref(), Err(Closed));
        // close's own reference, the incref, the read lock: the last out
        // destroys, whatever the order.
        assert_eq!(l.decref(), Release::Keep);
        assert_eq!(l.decref(), Release::Keep);
        assert_eq!(l.unlock(Side::Read), Release::Destroy);
    }

    #[test]
    fn close_with_nothing_in_flight_destroys_at_once() {
        let l = FdLock::new();
        l.close().unwrap();
        assert_eq!(l.decref(), Release::Destroy);
    }
}
