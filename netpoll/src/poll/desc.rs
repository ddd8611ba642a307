//! The poll descriptor: one per registered fd, reused forever (Go: pollDesc).
//!
//! All of its state is one 64-bit word: the sequence in the high half and
//! the flags in the low half (Go: pollDesc.atomicInfo, which carries
//! pollFDSeq beside the flag bits). Every change is a compare-and-swap that
//! checks the sequence first, so an event, a deadline or a close meant for
//! an earlier life of the descriptor can never set a bit in the current
//! one.
//!
//! Waiters (one per direction) live behind a small mutex. An event sets the
//! ready bit and, only if the word says a waiter is parked, takes the mutex
//! to wake it, checking the sequence again under the lock; reopening and
//! retiring change the sequence under the same lock. So a waiter is never
//! woken by an event of another sequence, and a ready bit set before anyone
//! waits is consumed by the next wait (Go: pdReady).

use super::error::WaitError;
use super::token::next_seq;
use crate::loom_shim::LockExt;
use crate::loom_shim::{AtomicI32, AtomicU64, Mutex, MutexGuard};
use crate::sys::Readiness;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, Waker};

/// The flag bits of the state word.
mod flag {
    /// Close has begun: every wait fails (Go: pollClosing).
    pub(super) const CLOSING: u64 = 1 << 0;
    /// The last kernel event was an error alone (Go: pollEventErr). It
    /// wakes the waiters like readiness does, so their syscalls report the
    /// kernel's errno; only a read that still finds nothing after it fails
    /// with the event error (a level-triggered kernel would report it
    /// again at once). Each new operation clears it and tries its syscall:
    /// the condition may be gone (a UDP socket connected anew).
    pub(super) const EVENT_ERR: u64 = 1 << 1;
    /// The read deadline passed (Go: pollExpiredReadDeadline).
    pub(super) const READ_EXPIRED: u64 = 1 << 2;
    /// The write deadline passed (Go: pollExpiredWriteDeadline).
    pub(super) const WRITE_EXPIRED: u64 = 1 << 3;
    /// Readable since the last wait or reset (Go: rg == pdReady).
    pub(super) const READ_READY: u64 = 1 << 4;
    /// Writable since the last wait or reset (Go: wg == pdReady).
    pub(super) const WRITE_READY: u64 = 1 << 5;
    /// A read waiter is parked in the mutex-guarded slot.
    pub(super) const READ_WAITER: u64 = 1 << 6;
    /// A write waiter is parked in the mutex-guarded slot.
    pub(super) const WRITE_WAITER: u64 = 1 << 7;
    /// The last stream read came back short, so it emptied the receive
    /// queue, and no read event has come since: the next read can wait at
    /// once instead of asking the kernel for an EAGAIN first (tokio's
    /// `clear_readiness` after a short read; Go makes the extra call).
    /// Cleared by any wait that consumes read readiness and by `reset`.
    pub(super) const READ_DRAINED: u64 = 1 << 8;
    /// A hang-up, an error or urgent data was reported in this life.
    /// Sticky: an edge-triggered kernel sends no new event for an end of
    /// stream that is already pending, and a TCP read stops short at the
    /// urgent mark with more queued behind it, so from here on a short
    /// read proves nothing and `READ_DRAINED` is ignored.
    pub(super) const NO_DRAIN_HINT: u64 = 1 << 9;
}

/// A direction of I/O on a descriptor (Go: mode 'r' / 'w').
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    /// Reading (and accepting).
    Read,
    /// Writing (and connecting).
    Write,
}

impl Dir {
    fn ready(self) -> u64 {
        match self {
            Dir::Read => flag::READ_READY,
            Dir::Write => flag::WRITE_READY,
        }
    }

    fn expired(self) -> u64 {
        match self {
            Dir::Read => flag::READ_EXPIRED,
            Dir::Write => flag::WRITE_EXPIRED,
        }
    }

    /// The drained hint of the direction (reads only; 0 for writes).
    fn drained(self) -> u64 {
        match self {
            Dir::Read => flag::READ_DRAINED,
            Dir::Write => 0,
        }
    }

    /// The error-event mark, which only fails reads (0 for writes).
    fn event_err(self) -> u64 {
        match self {
            Dir::Read => flag::EVENT_ERR,
            Dir::Write => 0,
        }
    }

    fn waiter(self) -> u64 {
        match self {
            Dir::Read => flag::READ_WAITER,
            Dir::Write => flag::WRITE_WAITER,
        }
    }

    /// The interest a level-triggered backend must arm for this direction.
    pub(crate) fn interest(self) -> crate::sys::Interest {
        match self {
            Dir::Read => crate::sys::Interest::READ,
            Dir::Write => crate::sys::Interest::WRITE,
        }
    }
}

fn seq_of(word: u64) -> u32 {
    (word >> 32) as u32
}

fn stamp(seq: u32, flags: u64) -> u64 {
    (u64::from(seq) << 32) | flags
}

/// What a wait should do given the state word.
enum Decision {
    /// Fail with this error (Go: netpollcheckerr).
    Fail(WaitError),
    /// Ready: store this word (the ready bit consumed) and return.
    Consume(u64),
    /// Not ready: park, storing this word (the waiter bit set).
    Park(u64),
}

/// Go's netpollcheckerr followed by the pdReady check.
fn decide(word: u64, seq: u32, dir: Dir) -> Decision {
    if seq_of(word) != seq || word & flag::CLOSING != 0 {
        return Decision::Fail(WaitError::Closed);
    }
    if word & dir.expired() != 0 {
        return Decision::Fail(WaitError::TimedOut);
    }
    if word & dir.ready() != 0 {
        // An error event sets readiness too: the syscall tells the errno.
        Decision::Consume(word & !dir.ready() & !dir.drained())
    } else if dir == Dir::Read && word & flag::EVENT_ERR != 0 {
        // The syscall after the error event found nothing (Go:
        // netpollcheckerr's pollErrNotPollable).
        Decision::Fail(WaitError::EventError)
    } else {
        Decision::Park(word | dir.waiter())
    }
}

/// A parked waiter.
struct Waiter {
    waker: Waker,
    /// The sequence it waits under: an event of another one never wakes it.
    seq: u32,
    /// Identifies the wait that parked it, 0 for anonymous `poll_*` callers;
    /// used to catch two concurrent waiters in one direction (a bug: the fd
    /// lock serializes them) and to unpark exactly one's own entry.
    owner: usize,
}

#[derive(Default)]
struct Waiters {
    read: Option<Waiter>,
    write: Option<Waiter>,
}

impl Waiters {
    fn slot(&mut self, dir: Dir) -> &mut Option<Waiter> {
        match dir {
            Dir::Read => &mut self.read,
            Dir::Write => &mut self.write,
        }
    }

    /// Takes the waiter of `dir` if it waits under `seq`.
    fn take(&mut self, dir: Dir, seq: u32) -> Option<Waker> {
        let slot = self.slot(dir);
        if slot.as_ref().is_some_and(|w| w.seq == seq) {
            slot.take().map(|w| w.waker)
        } else {
            None
        }
    }
}

/// One poll descriptor (Go: runtime.pollDesc).
pub(crate) struct PollDesc {
    /// Sequence (high 32 bits) and flags (low 32 bits).
    word: AtomicU64,
    waiters: Mutex<Waiters>,
    /// The fd it watches, -1 when free (diagnostics; the owner holds the fd).
    fd: AtomicI32,
}

impl Default for PollDesc {
    fn default() -> Self {
        PollDesc::new()
    }
}

impl PollDesc {
    /// A descriptor that was never used: sequence 0, which no token carries.
    pub(crate) fn new() -> PollDesc {
        PollDesc {
            word: AtomicU64::new(0),
            waiters: Mutex::new(Waiters::default()),
            fd: AtomicI32::new(-1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Only a debug assertion can panic in here.
        self.waiters.locked()
    }

    /// The raw state word (loom models only).
    #[cfg(all(test, loom))]
    pub(crate) fn word(&self) -> u64 {
        self.word.load(Acquire)
    }

    /// The fd this descriptor watches, -1 when free.
    pub(crate) fn fd(&self) -> i32 {
        self.fd.load(Relaxed)
    }

    /// Starts a new life for `fd`: no flags, no waiters, under the
    /// sequence the last [`retire`](Self::retire) moved to (Go:
    /// poll_runtime_pollOpen, which tags with the current pd.fdseq). Only
    /// retire moves the sequence, once per life, so the whole tag space
    /// separates lives; a descriptor never used takes the first sequence.
    /// Returns the life's sequence.
    pub(crate) fn open(&self, fd: i32) -> u32 {
        let (r, w, seq) = {
            let mut g = self.lock();
            // Only open and retire change the word's sequence, both under
            // the lock, so it cannot move between this load and the swap.
            // The swap (not a store) keeps a racing stale CAS ordered
            // against it. No token carries the current sequence of a free
            // descriptor: retire moved past every token of the last life.
            let seq = match seq_of(self.word.load(Acquire)) {
                0 => next_seq(0),
                current => current,
            };
            self.word.swap(stamp(seq, 0), AcqRel);
            self.fd.store(fd, Relaxed);
            (
                g.read.take().map(|w| w.waker),
                g.write.take().map(|w| w.waker),
                seq,
            )
        };
        // Leftovers could only be wakers of a finished life; waking them is
        // harmless and dropping them silently would be too.
        wake(r);
        wake(w);
        seq
    }

    /// Ends the life `seq`: the sequence moves on (the only place it does),
    /// so every event still in flight for it is dropped as stale, and any
    /// waiter still parked is woken to find its descriptor closed (Go:
    /// pollCache.free's fdseq increment).
    pub(crate) fn retire(&self, seq: u32) {
        let (r, w) = {
            let mut g = self.lock();
            let word = self.word.load(Acquire);
            debug_assert_eq!(seq_of(word), seq, "retiring a life that is not current");
            if seq_of(word) != seq {
                return;
            }
            self.word.swap(stamp(next_seq(seq), 0), AcqRel);
            self.fd.store(-1, Relaxed);
            (
                g.read.take().map(|w| w.waker),
                g.write.take().map(|w| w.waker),
            )
        };
        wake(r);
        wake(w);
    }

    /// Delivers a kernel event for life `seq` (Go: netpollready, with
    /// setEventErr). Returns `None` if the event is stale, otherwise how
    /// many waiters it woke.
    pub(crate) fn notify(&self, seq: u32, ready: Readiness) -> Option<usize> {
        let mut set = 0;
        if ready.read {
            set |= flag::READ_READY;
        }
        if ready.write {
            set |= flag::WRITE_READY;
        }
        let mut cur = self.word.load(Acquire);
        let prev = loop {
            if seq_of(cur) != seq {
                return None;
            }
            let mut new = cur | set;
            if ready.hangup || ready.urgent {
                new |= flag::NO_DRAIN_HINT;
            }
            if ready.error {
                new |= flag::EVENT_ERR;
            } else {
                new &= !flag::EVENT_ERR;
            }
            match self.word.compare_exchange_weak(cur, new, AcqRel, Acquire) {
                Ok(_) => break cur,
                Err(actual) => cur = actual,
            }
        };
        let mut parked = 0;
        if ready.read {
            parked |= prev & flag::READ_WAITER;
        }
        if ready.write {
            parked |= prev & flag::WRITE_WAITER;
        }
        if parked == 0 {
            return Some(0);
        }
        self.wake_parked(seq, parked)
    }

    /// Wakes the waiters of life `seq` whose bits are in `which`. Returns
    /// `None` if the life already ended (its end woke them).
    fn wake_parked(&self, seq: u32, which: u64) -> Option<usize> {
        let (r, w) = self.take_parked(seq, which)?;
        Some(usize::from(wake(r)) + usize::from(wake(w)))
    }

    /// Takes the read and write waiters of life `seq` whose bits are in
    /// `which`, clearing the bits; the caller wakes them once it holds no
    /// lock. `None` if the life already ended (its end woke them).
    fn take_parked(&self, seq: u32, which: u64) -> Option<(Option<Waker>, Option<Waker>)> {
        let mut g = self.lock();
        self.update(seq, |w| w & !which)?;
        let r = (which & flag::READ_WAITER != 0)
            .then(|| g.take(Dir::Read, seq))
            .flatten();
        let w = (which & flag::WRITE_WAITER != 0)
            .then(|| g.take(Dir::Write, seq))
            .flatten();
        Some((r, w))
    }

    /// Waits for `dir` in life `seq` (Go: netpollblock, after
    /// netpollcheckerr). Ready consumes the ready bit. `owner` identifies
    /// the wait (see [`Waiter::owner`]).
    pub(crate) fn poll_wait(
        &self,
        seq: u32,
        dir: Dir,
        cx: &mut Context<'_>,
        owner: usize,
    ) -> Poll<Result<(), WaitError>> {
        if let Some(done) = self.try_now(seq, dir) {
            return Poll::Ready(done);
        }
        // Slow path: decide again under the lock, where parking happens.
        let mut g = self.lock();
        let mut cur = self.word.load(Acquire);
        loop {
            let (new, park) = match decide(cur, seq, dir) {
                Decision::Fail(e) => return Poll::Ready(Err(e)),
                Decision::Consume(new) => (new, false),
                Decision::Park(new) => (new, true),
            };
            match self.word.compare_exchange_weak(cur, new, AcqRel, Acquire) {
                Ok(_) if park => break,
                Ok(_) => return Poll::Ready(Ok(())),
                Err(actual) => cur = actual,
            }
        }
        let slot = g.slot(dir);
        let mut displaced = None;
        match slot {
            Some(w) if w.seq == seq => {
                debug_assert!(
                    w.owner == 0 || owner == 0 || w.owner == owner,
                    "two tasks wait for {dir:?} on one poll descriptor at once; \
                     the fd lock must serialize them"
                );
                if !w.waker.will_wake(cx.waker()) {
                    let old = std::mem::replace(&mut w.waker, cx.waker().clone());
                    // An anonymous poller (a `poll_read`-style caller, which
                    // holds no lock while it waits) pushed out by an
                    // operation is told to retry, so it is not left
                    // hanging: it will queue behind the operation's lock.
                    if w.owner == 0 && owner != 0 {
                        displaced = Some(old);
                    }
                }
                w.owner = owner;
            }
            _ => {
                *slot = Some(Waiter {
                    waker: cx.waker().clone(),
                    seq,
                    owner,
                })
            }
        }
        drop(g);
        wake(displaced);
        Poll::Pending
    }

    /// The lock-free half of a wait: the answer if it is already known
    /// (failure, or readiness, which is consumed), `None` if the wait would
    /// have to park.
    pub(crate) fn try_now(&self, seq: u32, dir: Dir) -> Option<Result<(), WaitError>> {
        let mut cur = self.word.load(Acquire);
        loop {
            match decide(cur, seq, dir) {
                Decision::Fail(e) => return Some(Err(e)),
                Decision::Park(_) => return None,
                Decision::Consume(new) => {
                    match self.word.compare_exchange_weak(cur, new, AcqRel, Acquire) {
                        Ok(_) => return Some(Ok(())),
                        Err(actual) => cur = actual,
                    }
                }
            }
        }
    }

    /// Removes the waiter `owner` parked for `dir` in life `seq`, if it is
    /// still there (a wait that completes or is dropped cleans up after
    /// itself).
    pub(crate) fn unpark(&self, seq: u32, dir: Dir, owner: usize) {
        let mut g = self.lock();
        let slot = g.slot(dir);
        if !slot
            .as_ref()
            .is_some_and(|w| w.seq == seq && w.owner == owner)
        {
            return;
        }
        *slot = None;
        self.update(seq, |w| w & !dir.waiter());
    }

    /// Applies `f` to the flags of life `seq`; returns the word before, or
    /// `None` if the life ended.
    fn update(&self, seq: u32, mut f: impl FnMut(u64) -> u64) -> Option<u64> {
        let mut cur = self.word.load(Acquire);
        loop {
            if seq_of(cur) != seq {
                return None;
            }
            match self
                .word
                .compare_exchange_weak(cur, f(cur), AcqRel, Acquire)
            {
                Ok(_) => return Some(cur),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Prepares `dir` for a new operation: fails if it cannot succeed and
    /// forgets readiness seen before, and an earlier error event, so the
    /// operation's syscall says what holds now (Go: poll_runtime_pollReset).
    pub(crate) fn reset(&self, seq: u32, dir: Dir) -> Result<(), WaitError> {
        // The common case, every operation's first step: nothing to fail on
        // and nothing to forget. One load, no compare-and-swap; an event
        // that lands after it is readiness seen after the reset, as it
        // would be after a CAS.
        let w = self.word.load(Acquire);
        if let Decision::Park(_) = decide(w, seq, dir) {
            if w & dir.drained() == 0 {
                return Ok(());
            }
        }
        let mut err = None;
        let updated = self.update(seq, |w| {
            let w = w & !dir.event_err();
            err = None;
            match decide(w, seq, dir) {
                Decision::Fail(e) => {
                    err = Some(e);
                    w
                }
                _ => w & !dir.ready() & !dir.drained(),
            }
        });
        match (updated, err) {
            (None, _) => Err(WaitError::Closed),
            (Some(_), Some(e)) => Err(e),
            (Some(_), None) => Ok(()),
        }
    }

    /// Whether the last read of life `seq` emptied the receive queue and no
    /// read event has come since (see `flag::READ_DRAINED`).
    pub(crate) fn is_drained(&self, seq: u32) -> bool {
        let w = self.word.load(Acquire);
        let relevant = flag::READ_DRAINED | flag::READ_READY | flag::NO_DRAIN_HINT;
        seq_of(w) == seq && w & relevant == flag::READ_DRAINED
    }

    /// Records whether a stream read just emptied the receive queue (it
    /// came back short). The hint is set only if no read event has come
    /// in the meantime: such an event may be for data that arrived after
    /// the read. Once a hang-up has been seen it is never used: a short
    /// read can leave the end of stream pending with no event to come.
    pub(crate) fn set_drained(&self, seq: u32, drained: bool) {
        let w = self.word.load(Acquire);
        if seq_of(w) != seq || (w & flag::READ_DRAINED != 0) == drained {
            return;
        }
        self.update(seq, |w| {
            if !drained {
                w & !flag::READ_DRAINED
            } else if w & flag::READ_READY == 0 {
                w | flag::READ_DRAINED
            } else {
                w
            }
        });
    }

    /// Marks life `seq` closing and wakes both waiters, which then fail
    /// with the closed error (Go: poll_runtime_pollUnblock). Returns `None`
    /// if it was already closing or the life is over.
    /// Returns how many waiters it woke.
    pub(crate) fn evict(&self, seq: u32) -> Option<usize> {
        match self.update(seq, |w| w | flag::CLOSING) {
            Some(prev) if prev & flag::CLOSING == 0 => Some(
                self.wake_parked(seq, flag::READ_WAITER | flag::WRITE_WAITER)
                    .unwrap_or(0),
            ),
            _ => None,
        }
    }

    /// Whether life `seq` is closing or over.
    pub(crate) fn is_closing(&self, seq: u32) -> bool {
        let w = self.word.load(Acquire);
        seq_of(w) != seq || w & flag::CLOSING != 0
    }

    /// Marks `dir`'s deadline passed and hands back the direction's
    /// waiter, which fails with a timeout once woken. The caller wakes it
    /// after releasing its own locks: the deadline calls this under the
    /// lock that orders it against `set_deadline`, and a wake there could
    /// run code that takes that lock again (Go: netpolldeadlineimpl sets
    /// the mark under pd.lock and readies the goroutine after unlocking).
    #[must_use = "the waiter must be woken"]
    pub(crate) fn expire(&self, seq: u32, dir: Dir) -> Option<Waker> {
        self.update(seq, |w| w | dir.expired())?;
        let (r, w) = self.take_parked(seq, dir.waiter())?;
        r.or(w)
    }

    /// Clears `dir`'s expired mark: the deadline moved or was cleared.
    pub(crate) fn clear_expired(&self, seq: u32, dir: Dir) {
        self.update(seq, |w| w & !dir.expired());
    }
}

/// Wakes `w` if present; returns whether it was.
fn wake(w: Option<Waker>) -> bool {
    w.map(Waker::wake).is_some()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    const R: Readiness = Readiness {
        read: true,
        write: false,
        error: false,
        hangup: false,
        urgent: false,
    };

    #[test]
    fn readiness_before_wait_is_consumed_once() {
        let d = PollDesc::new();
        let seq = d.open(3);
        assert_eq!(d.notify(seq, R), Some(0));
        let (_, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Ready(Ok(())));
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Pending);
    }

    #[test]
    fn drained_hint_is_set_only_without_a_newer_event() {
        let d = PollDesc::new();
        let seq = d.open(3);
        assert!(!d.is_drained(seq));
        d.set_drained(seq, true);
        assert!(d.is_drained(seq));
        // An event after the short read: data may be there, so no hint.
        d.notify(seq, R);
        assert!(!d.is_drained(seq));
        // A read that consumes the event clears the hint for good...
        let (_, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Ready(Ok(())));
        assert!(!d.is_drained(seq));
        // ...and a hint is not set while an unconsumed event stands.
        d.notify(seq, R);
        d.set_drained(seq, true);
        assert!(!d.is_drained(seq));
    }

    #[test]
    fn drained_hint_is_cleared_by_reset_full_reads_and_a_new_life() {
        let d = PollDesc::new();
        let seq = d.open(3);
        d.set_drained(seq, true);
        d.reset(seq, Dir::Read).unwrap();
        assert!(!d.is_drained(seq), "another read operation may leave data");
        d.set_drained(seq, true);
        d.reset(seq, Dir::Write).unwrap();
        assert!(d.is_drained(seq), "writes leave the read hint alone");
        d.set_drained(seq, false);
        assert!(!d.is_drained(seq), "a full read may have left data");
        d.set_drained(seq, true);
        d.retire(seq);
        let seq2 = d.open(3);
        assert!(!d.is_drained(seq) && !d.is_drained(seq2));
        d.set_drained(seq, true);
        assert!(!d.is_drained(seq2), "a stale life cannot set it");
    }

    #[test]
    fn drained_hint_is_ignored_once_a_hangup_was_seen() {
        // The peer's FIN came with the last data: its event was consumed
        // before the read, the read came back short, and EOF waits in the
        // socket with no new edge to come. The next read must try.
        let d = PollDesc::new();
        let seq = d.open(3);
        let fin = Readiness {
            read: true,
            write: false,
            error: false,
            hangup: true,
            urgent: false,
        };
        d.notify(seq, fin);
        d.reset(seq, Dir::Read).unwrap();
        d.set_drained(seq, true);
        assert!(!d.is_drained(seq));
    }

    #[test]
    fn drained_wait_still_fails_on_close_and_deadline() {
        let d = PollDesc::new();
        let seq = d.open(3);
        d.set_drained(seq, true);
        let (_, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        wake(d.expire(seq, Dir::Read));
        assert_eq!(
            d.poll_wait(seq, Dir::Read, &mut cx, 0),
            Poll::Ready(Err(WaitError::TimedOut))
        );
        d.clear_expired(seq, Dir::Read);
        d.evict(seq);
        assert_eq!(
            d.poll_wait(seq, Dir::Read, &mut cx, 0),
            Poll::Ready(Err(WaitError::Closed))
        );
    }

    #[test]
    fn reset_forgets_readiness() {
        let d = PollDesc::new();
        let seq = d.open(3);
        d.notify(seq, R);
        d.reset(seq, Dir::Read).unwrap();
        let (_, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Pending);
    }

    /// Each life moves the sequence once, so a tag repeats only after as
    /// many lives as the token has sequences (two bumps a life halved
    /// that: 2 047 reuses on 32-bit targets instead of 4 095).
    #[test]
    fn each_life_moves_the_sequence_once() {
        let d = PollDesc::new();
        let first = d.open(3);
        assert_ne!(first, 0, "0 is reserved");
        let mut seq = first;
        let mut lives = 0u64;
        for _ in 0..10 {
            d.retire(seq);
            let next = d.open(3);
            lives += 1;
            assert_eq!(next, next_seq(seq), "one bump per life");
            seq = next;
        }
        // The tag comes back only after every other one was used (checked
        // where the tag space is small enough to walk: the narrow layout
        // of 32-bit kqueue and event ports; poll::token walks both layouts
        // on every platform).
        if super::super::token::SEQ_BITS <= 16 {
            loop {
                d.retire(seq);
                seq = d.open(3);
                lives += 1;
                if seq == first {
                    break;
                }
            }
            assert_eq!(lives, (1u64 << super::super::token::SEQ_BITS) - 1);
        }
    }

    /// On Linux the kernel keeps 64 bits of user data (epoll) or none at
    /// all (poll(2)), so a tag outlives thousands of reuses on every
    /// pointer width. 32-bit Linux shared 32-bit kqueue's 12 bits of
    /// sequence, and the first tag came back after 4 095 lives.
    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn a_linux_tag_outlives_thousands_of_lives_on_every_pointer_width() {
        let d = PollDesc::new();
        let first = d.open(3);
        let mut seq = first;
        for life in 1..=10_000 {
            d.retire(seq);
            seq = d.open(3);
            assert_ne!(seq, first, "the first tag came back after {life} lives");
        }
    }

    #[test]
    fn parked_waiter_is_woken_once_and_stale_events_are_dropped() {
        let d = PollDesc::new();
        let old = d.open(3);
        d.retire(old);
        let seq = d.open(4);
        let (count, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Pending);
        assert_eq!(d.notify(old, R), None, "old life's event is stale");
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        let err = Readiness {
            read: true,
            write: true,
            error: true,
            hangup: false,
            urgent: false,
        };
        assert_eq!(d.notify(old, err), None);
        assert_eq!(d.notify(seq, R), Some(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Ready(Ok(())));
    }

    #[test]
    fn event_error_only_for_its_own_life_and_only_for_reads() {
        let d = PollDesc::new();
        let old = d.open(3);
        let lone_err = Readiness {
            read: true,
            write: true,
            error: true,
            hangup: false,
            urgent: false,
        };
        d.notify(old, lone_err);
        let (_, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        // The error event is readiness first: both syscalls retry, to
        // learn the errno.
        assert_eq!(d.poll_wait(old, Dir::Read, &mut cx, 0), Poll::Ready(Ok(())));
        assert_eq!(
            d.poll_wait(old, Dir::Write, &mut cx, 0),
            Poll::Ready(Ok(()))
        );
        // A read that still found nothing then fails with the event error
        // rather than wait for a report a level-triggered kernel repeats.
        assert_eq!(
            d.poll_wait(old, Dir::Read, &mut cx, 0),
            Poll::Ready(Err(WaitError::EventError))
        );
        // A new operation forgets it and tries its syscall again.
        d.reset(old, Dir::Read).unwrap();
        assert_eq!(d.poll_wait(old, Dir::Read, &mut cx, 0), Poll::Pending);
        d.notify(old, lone_err);
        d.retire(old);
        let seq = d.open(3);
        assert_eq!(d.notify(old, lone_err), None);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Pending);
        // A later non-error event clears the bit, as in Go.
        d.notify(seq, lone_err);
        d.notify(seq, R);
        assert_eq!(d.poll_wait(seq, Dir::Read, &mut cx, 0), Poll::Ready(Ok(())));
    }

    #[test]
    fn evict_wakes_both_directions_with_closed() {
        let d = PollDesc::new();
        let seq = d.open(3);
        let (cr, wr) = waker();
        let (cw, ww) = waker();
        assert!(d
            .poll_wait(seq, Dir::Read, &mut Context::from_waker(&wr), 1)
            .is_pending());
        assert!(d
            .poll_wait(seq, Dir::Write, &mut Context::from_waker(&ww), 2)
            .is_pending());
        assert_eq!(d.evict(seq), Some(2));
        assert_eq!(d.evict(seq), None, "second evict is a no-op");
        assert_eq!(cr.0.load(Ordering::SeqCst), 1);
        assert_eq!(cw.0.load(Ordering::SeqCst), 1);
        let mut cx = Context::from_waker(&wr);
        assert_eq!(
            d.poll_wait(seq, Dir::Read, &mut cx, 1),
            Poll::Ready(Err(WaitError::Closed))
        );
        assert!(d.is_closing(seq));
    }

    #[test]
    fn expiry_wakes_only_its_direction() {
        let d = PollDesc::new();
        let seq = d.open(3);
        let (cr, wr) = waker();
        let (cw, ww) = waker();
        let _ = d.poll_wait(seq, Dir::Read, &mut Context::from_waker(&wr), 1);
        let _ = d.poll_wait(seq, Dir::Write, &mut Context::from_waker(&ww), 2);
        wake(d.expire(seq, Dir::Read));
        assert_eq!(cr.0.load(Ordering::SeqCst), 1);
        assert_eq!(cw.0.load(Ordering::SeqCst), 0);
        let mut cx = Context::from_waker(&wr);
        assert_eq!(
            d.poll_wait(seq, Dir::Read, &mut cx, 1),
            Poll::Ready(Err(WaitError::TimedOut))
        );
        d.clear_expired(seq, Dir::Read);
        assert!(d.poll_wait(seq, Dir::Read, &mut cx, 1).is_pending());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "two tasks wait")]
    fn second_concurrent_waiter_is_caught_in_debug() {
        let d = PollDesc::new();
        let seq = d.open(3);
        let (_, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        let _ = d.poll_wait(seq, Dir::Read, &mut cx, 1);
        let _ = d.poll_wait(seq, Dir::Read, &mut cx, 2);
    }

    #[test]
    fn an_anonymous_waiter_displaced_by_an_operation_is_told_to_retry() {
        let d = PollDesc::new();
        let seq = d.open(3);
        let (anon, wa) = waker();
        let (op, wo) = waker();
        let _ = d.poll_wait(seq, Dir::Read, &mut Context::from_waker(&wa), 0);
        let _ = d.poll_wait(seq, Dir::Read, &mut Context::from_waker(&wo), 9);
        assert_eq!(anon.0.load(Ordering::SeqCst), 1, "displaced, woken");
        d.notify(seq, R);
        assert_eq!(op.0.load(Ordering::SeqCst), 1, "the operation waits on");
    }

    #[test]
    fn unpark_removes_only_own_entry() {
        let d = PollDesc::new();
        let seq = d.open(3);
        let (c, wk) = waker();
        let mut cx = Context::from_waker(&wk);
        let _ = d.poll_wait(seq, Dir::Read, &mut cx, 7);
        d.unpark(seq, Dir::Read, 8);
        d.notify(seq, R);
        assert_eq!(c.0.load(Ordering::SeqCst), 1, "foreign unpark left it");
        let _ = d.poll_wait(seq, Dir::Read, &mut cx, 7);
        let _ = d.poll_wait(seq, Dir::Read, &mut cx, 7);
        d.unpark(seq, Dir::Read, 7);
        d.notify(seq, R);
        assert_eq!(c.0.load(Ordering::SeqCst), 1, "own unpark removed it");
    }
}
