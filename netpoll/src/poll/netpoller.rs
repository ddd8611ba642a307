//! The netpoller: a kernel backend plus the descriptor cache, and the
//! registration handle an fd carries while it is watched
//! (Go: runtime/netpoll.go's poll_runtime_* functions).

use super::cache::{self, Slot};
use super::desc::Dir;
use super::timer::Timers;
use super::token;
use crate::loom_shim::LockExt;
use crate::metrics;
use crate::sys::{self, Selector};
use crate::Poller;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomPinned;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A netpoller: one kernel event queue that wakes the tasks waiting on the
/// descriptors registered with it.
///
/// The runtime's workers drive one of these; it is public so the poller can
/// be used, and watched at work, on its own. Cloning gives another handle
/// to the same poller.
///
/// Go: the runtime netpoller (netpollinit, netpoll, netpollBreak).
///
/// # Example
///
/// ```
/// use netpoll::poll::{Events, Netpoller};
/// use netpoll::Poller;
/// use std::time::Duration;
///
/// let poller = Netpoller::new(Poller::Auto)?;
/// poller.wake()?;
/// let mut events = Events::new();
/// // The pending wake makes a blocking wait return at once.
/// poller.poll(&mut events, Some(Duration::from_secs(10)))?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Netpoller {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) selector: Selector,
    /// The timers of whoever drives this poller (a runtime): sleeps, and
    /// the fd deadlines of the registrations (Go: the runtime timers that
    /// netpoll deadlines use). The driver's blocking wait ends at the
    /// earliest one.
    pub(crate) timers: Timers,
    /// Live registrations (descriptor index → sequence), so shutdown can
    /// evict them; `None` once shut down.
    live: Mutex<Option<HashMap<u32, u32>>>,
    /// How many registrations are live (Go: netpollWaiters), read without
    /// the lock by workers deciding whether a non-blocking poll is worth a
    /// syscall.
    registered: AtomicUsize,
}

/// A reusable buffer for one wait's kernel events.
///
/// # Example
///
/// ```
/// let mut events = netpoll::poll::Events::new();
/// # let _ = &mut events;
/// ```
pub struct Events(pub(crate) sys::Events);

impl Events {
    /// An empty buffer.
    pub fn new() -> Events {
        Events(sys::Events::new())
    }

    /// Events the last wait collected, stale ones included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the last wait collected no event.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").field("len", &self.len()).finish()
    }
}

/// What one wait did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Polled {
    /// Waiters woken.
    pub(crate) woken: usize,
    /// Whether a wake interrupted the wait (the scheduler uses it).
    #[allow(dead_code)]
    pub(crate) wake: bool,
}

impl Netpoller {
    /// Opens a netpoller on the backend `choice` resolves to (see
    /// [`Poller`]). Fails with `Unsupported` for a backend this platform
    /// lacks and `InvalidInput` for a bad `NETPOLL_POLLER` value.
    pub fn new(choice: Poller) -> io::Result<Netpoller> {
        Ok(Netpoller {
            shared: Arc::new(Shared {
                selector: Selector::new(choice)?,
                timers: Timers::new(),
                live: Mutex::new(Some(HashMap::new())),
                registered: AtomicUsize::new(0),
            }),
        })
    }

    /// The backend in use (never `Auto`).
    pub fn backend(&self) -> Poller {
        self.shared.selector.kind()
    }

    /// Starts watching `fd`, which must be in non-blocking mode for the
    /// readiness to mean anything. The registration owns the fd from now
    /// on and closes it when dropped (Go: poll_runtime_pollOpen).
    ///
    /// Fails if the kernel refuses the fd (epoll refuses regular files with
    /// `EPERM`); the fd is closed then. See [`Registration`] for an example.
    pub fn register(&self, fd: OwnedFd) -> io::Result<Registration> {
        self.try_register(fd).map_err(|(e, _)| e)
    }

    /// Like `register`, but hands the fd back on failure, so a caller can
    /// fall back to another way of doing I/O on it.
    pub(crate) fn try_register(&self, fd: OwnedFd) -> Result<Registration, (io::Error, OwnedFd)> {
        let slot = match cache::alloc() {
            Ok(slot) => slot,
            Err(e) => return Err((e, fd)),
        };
        let seq = slot.desc.open(fd.as_raw_fd());
        let token = token::pack(slot.index, seq);
        if let Err(e) = self.shared.selector.open(fd.as_fd(), token) {
            release(slot, seq);
            return Err((e, fd));
        }
        // Recorded after the syscall, not around it: registrations from
        // every worker would otherwise queue on this lock. If shutdown came
        // in between, it did not see this one: undo it and refuse.
        let recorded = match self.shared.live.locked().as_mut() {
            Some(live) => live.insert(slot.index, seq).is_none(),
            None => false,
        };
        if !recorded {
            let _ = self.shared.selector.close(fd.as_fd(), token);
            release(slot, seq);
            return Err((shut_down(), fd));
        }
        self.shared.registered.fetch_add(1, Ordering::Relaxed);
        Ok(Registration {
            fd: Some(fd),
            watch: Watch {
                slot,
                seq,
                shared: self.shared.clone(),
            },
        })
    }

    /// Waits for kernel events, at most `timeout` (`None`: until an event
    /// or a wake), and wakes the tasks waiting for them. Returns how many
    /// waiters were woken. Several threads may poll at once.
    ///
    /// Go: netpoll(delay) followed by injecting the goroutines it returns.
    pub fn poll(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        self.shared.poll(&mut events.0, timeout).map(|p| p.woken)
    }

    /// The timers that this poller's driver fires.
    pub(crate) fn timers(&self) -> &Timers {
        &self.shared.timers
    }

    /// Whether any fd is registered: with none, a non-blocking poll can
    /// only find a wake, so callers may skip the syscall (Go:
    /// netpollAnyWaiters).
    pub(crate) fn has_registrations(&self) -> bool {
        self.shared.registered.load(Ordering::Relaxed) != 0
    }

    /// The first half of [`poll`](Self::poll): collects kernel events into
    /// `events` without delivering them. Returns whether a wake was seen.
    ///
    /// Splitting the two halves shows why descriptors carry a sequence: an
    /// event collected here for an fd that is closed, and whose descriptor
    /// is reused, before [`dispatch`](Self::dispatch) runs, is dropped as
    /// stale instead of waking the new owner (Go #59545).
    ///
    /// # Example
    ///
    /// ```
    /// use netpoll::poll::{Events, Netpoller};
    /// use std::time::Duration;
    ///
    /// let poller = Netpoller::new(netpoll::Poller::Auto)?;
    /// let mut events = Events::new();
    /// poller.wait(&mut events, Some(Duration::ZERO))?;
    /// let woken = poller.dispatch(&events);
    /// assert_eq!(woken, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<bool> {
        let wake = self.shared.selector.wait(&mut events.0, timeout)?;
        metrics::add(&metrics::POLLER_WAITS, 1);
        Ok(wake)
    }

    /// The second half of [`poll`](Self::poll): delivers collected events
    /// to their descriptors, dropping (and counting in
    /// [`metrics`](crate::metrics)) those whose descriptor has moved on to
    /// another life. Returns how many waiters were woken.
    pub fn dispatch(&self, events: &Events) -> usize {
        self.shared.dispatch(&events.0)
    }

    /// Makes a wait in progress return, or the next blocking one return at
    /// once. Wakes coalesce while one is pending (Go: netpollBreak).
    pub fn wake(&self) -> io::Result<()> {
        self.shared.wake()
    }

    /// Shuts the poller down: every registration is evicted, so each
    /// pending and future wait on it fails with the closed error, and new
    /// registrations are refused. The registrations still own their fds
    /// and close them when dropped. A runtime calls this when it is
    /// dropped.
    ///
    /// # Example
    ///
    /// ```
    /// let poller = netpoll::poll::Netpoller::new(netpoll::Poller::Auto)?;
    /// let (r, _w) = std::io::pipe()?;
    /// let reg = poller.register(r.into())?;
    /// poller.shutdown();
    /// assert!(reg.is_evicted());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self) {
        let live = self.shared.live.locked().take().unwrap_or_default();
        for (index, seq) in live {
            if let Some(desc) = cache::get(index) {
                desc.evict(seq);
            }
        }
        let _ = self.wake();
    }
}

/// Ends a descriptor's life `seq` and returns it to the cache: events still
/// in flight for it become stale.
fn release(slot: Slot, seq: u32) {
    slot.desc.retire(seq);
    cache::free(slot);
}

/// The error of registering with a poller that has shut down.
fn shut_down() -> io::Error {
    io::Error::other("netpoll: the runtime (its poller) has shut down")
}

impl fmt::Debug for Netpoller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netpoller")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Shared {
    pub(crate) fn poll(
        &self,
        events: &mut sys::Events,
        timeout: Option<Duration>,
    ) -> io::Result<Polled> {
        let wake = self.selector.wait(events, timeout)?;
        metrics::add(&metrics::POLLER_WAITS, 1);
        let woken = self.dispatch(events);
        Ok(Polled { woken, wake })
    }

    /// Hands each event to its descriptor, dropping (and counting) those
    /// whose sequence is not the descriptor's current one. Returns how many
    /// waiters were woken.
    pub(crate) fn dispatch(&self, events: &sys::Events) -> usize {
        let (mut delivered, mut stale, mut woken) = (0u64, 0u64, 0usize);
        for ev in events.iter() {
            let (index, seq) = token::unpack(ev.token);
            match cache::get(index).and_then(|d| d.notify(seq, ev.ready)) {
                Some(n) => {
                    delivered += 1;
                    woken += n;
                }
                None => stale += 1,
            }
        }
        metrics::add(&metrics::EVENTS_DELIVERED, delivered);
        metrics::add(&metrics::STALE_EVENTS_DROPPED, stale);
        woken
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        if self.selector.wake()? {
            metrics::add(&metrics::WAKES, 1);
        }
        Ok(())
    }
}

/// An fd watched by a [`Netpoller`]: owns the fd and a poll descriptor.
///
/// Waits are split by direction, one waiter per direction at a time (the
/// fd layer above serializes operations per direction, like Go's fdMutex).
/// Readiness that arrives while nobody waits is remembered and consumed by
/// the next wait. Dropping the registration deregisters the fd, ends the
/// descriptor's life (so events still queued for it are dropped as stale)
/// and closes the fd, in that order.
///
/// Go: runtime.pollDesc as seen from internal/poll.pollDesc.
///
/// # Example
///
/// ```
/// use netpoll::poll::{Events, Netpoller};
/// use netpoll::Poller;
/// use std::io::Write;
/// use std::time::Duration;
///
/// let poller = Netpoller::new(Poller::Auto)?;
/// let (r, mut w) = std::io::pipe()?;
/// // Real users set O_NONBLOCK first; readiness alone does not need it.
/// let reg = poller.register(r.into())?;
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// // Nothing to read yet: the wait parks (and, on a one-shot backend,
/// // asks the kernel for the next read event).
/// assert!(reg.poll_read_ready(&mut cx).is_pending());
/// w.write_all(b"x")?;
/// let mut events = Events::new();
/// poller.poll(&mut events, Some(Duration::from_secs(5)))?;
/// assert!(reg.poll_read_ready(&mut cx).is_ready());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Registration {
    /// Always `Some` until `into_fd` or drop.
    fd: Option<OwnedFd>,
    watch: Watch,
}

/// The waiting half of a [`Registration`], without the fd: cheap to clone,
/// and safe to use after the registration is gone (every call then finds
/// the descriptor's life over and fails with the closed error). The fd
/// layer keeps one beside the registration it may have to drop from
/// `&self`.
#[derive(Clone)]
pub(crate) struct Watch {
    pub(crate) slot: Slot,
    pub(crate) seq: u32,
    shared: Arc<Shared>,
}

impl Registration {
    /// The watched fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("registration holds its fd").as_fd()
    }

    /// The waiting half, for the fd layer.
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Polls for readability. Ready(Ok) consumes the readiness; Ready(Err)
    /// reports closing (see `netpoll::io::is_closed`), an expired deadline
    /// or an error event (Go: poll_runtime_pollWait(pd, 'r')).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.watch.poll_ready(Dir::Read, cx, 0)
    }

    /// Polls for writability; see [`poll_read_ready`](Self::poll_read_ready).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.watch.poll_ready(Dir::Write, cx, 0)
    }

    /// Waits until the fd is readable (or the wait fails).
    pub fn readable(&self) -> Ready<'_> {
        Ready::new(&self.watch, Dir::Read)
    }

    /// Waits until the fd is writable (or the wait fails).
    pub fn writable(&self) -> Ready<'_> {
        Ready::new(&self.watch, Dir::Write)
    }

    /// Forgets readiness seen so far in the read direction and fails if a
    /// read cannot succeed now (closing, deadline passed). Call before the
    /// syscall of a new operation (Go: pollDesc.prepareRead).
    pub fn prepare_read(&self) -> io::Result<()> {
        self.watch.prepare(Dir::Read)
    }

    /// The write-direction counterpart of [`prepare_read`](Self::prepare_read)
    /// (Go: pollDesc.prepareWrite).
    pub fn prepare_write(&self) -> io::Result<()> {
        self.watch.prepare(Dir::Write)
    }

    /// Marks the descriptor closing and wakes both waiters with the closed
    /// error; every later wait fails the same way. The fd stays open and
    /// registered until the registration is dropped. Returns false if it
    /// was already evicted (Go: pollDesc.evict / poll_runtime_pollUnblock).
    pub fn evict(&self) -> bool {
        self.watch.evict().is_some()
    }

    /// Whether [`evict`](Self::evict) has been called.
    pub fn is_evicted(&self) -> bool {
        self.watch.slot.desc.is_closing(self.watch.seq)
    }

    /// Stops watching the fd and hands it back, open (Go: poll_runtime_pollClose).
    pub fn into_fd(mut self) -> io::Result<OwnedFd> {
        let fd = self.fd.take().expect("registration holds its fd");
        self.deregister(&fd)?;
        Ok(fd)
    }

    /// Deregisters from the kernel while the fd is still open, then ends the
    /// descriptor's life and returns it to the cache. The order matters:
    /// once the fd is closed its number may belong to someone else.
    fn deregister(&self, fd: &OwnedFd) -> io::Result<()> {
        let Watch { slot, seq, shared } = &self.watch;
        debug_assert_eq!(slot.desc.fd(), fd.as_raw_fd());
        if let Some(live) = shared.live.locked().as_mut() {
            live.remove(&slot.index);
        }
        shared.registered.fetch_sub(1, Ordering::Relaxed);
        let res = shared.selector.close(fd.as_fd(), self.watch.token());
        release(*slot, *seq);
        res
    }
}

impl Watch {
    fn token(&self) -> u64 {
        token::pack(self.slot.index, self.seq)
    }

    /// The poller's timers, which fd deadlines are armed on.
    pub(crate) fn timers(&self) -> &Timers {
        &self.shared.timers
    }

    pub(crate) fn poll_ready(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        owner: usize,
    ) -> Poll<io::Result<()>> {
        let desc = self.slot.desc;
        if self.shared.selector.needs_arm() {
            // Level-triggered backends report nothing unless asked; ask only
            // when the answer is not already known (Go: netpollarm before
            // netpollblock).
            if let Some(done) = desc.try_now(self.seq, dir) {
                return Poll::Ready(done.map_err(io::Error::from));
            }
            if let Err(e) = self.shared.selector.arm(self.token(), dir.interest()) {
                return Poll::Ready(Err(e));
            }
        }
        let polled = desc.poll_wait(self.seq, dir, cx, owner);
        if polled.is_pending() {
            crate::waits::note_fd(desc.fd(), dir == Dir::Write);
        }
        polled.map(|r| r.map_err(io::Error::from))
    }

    /// Go: pollDesc.prepare.
    pub(crate) fn prepare(&self, dir: Dir) -> io::Result<()> {
        Ok(self.slot.desc.reset(self.seq, dir)?)
    }

    /// Whether this backend's events make a short stream read proof of an
    /// empty receive queue (`Selector::short_read_drains`).
    pub(crate) fn short_read_drains(&self) -> bool {
        self.shared.selector.short_read_drains()
    }

    /// Whether the last stream read emptied the receive queue and no read
    /// event has come since: the next read may wait without trying.
    pub(crate) fn is_drained(&self) -> bool {
        self.slot.desc.is_drained(self.seq)
    }

    /// Records whether a stream read came back short (emptying the queue).
    pub(crate) fn set_drained(&self, drained: bool) {
        self.slot.desc.set_drained(self.seq, drained)
    }

    /// Waits for `dir` with a future that cleans up after itself.
    pub(crate) fn ready(&self, dir: Dir) -> Ready<'_> {
        Ready::new(self, dir)
    }

    /// Marks the descriptor closing and wakes its waiters; `None` if it was
    /// already closing, otherwise how many waiters were woken.
    pub(crate) fn evict(&self) -> Option<usize> {
        self.slot.desc.evict(self.seq)
    }

    /// Marks a direction's deadline as passed and hands back its waiter,
    /// for the caller to wake once it holds no lock (it then fails with a
    /// timeout).
    #[must_use = "the waiter must be woken"]
    pub(crate) fn expire(&self, dir: Dir) -> Option<Waker> {
        self.slot.desc.expire(self.seq, dir)
    }

    /// Clears a direction's expired mark.
    pub(crate) fn clear_expired(&self, dir: Dir) {
        self.slot.desc.clear_expired(self.seq, dir);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            // Nothing useful can be done with a failure here; the fd is
            // closed below either way, which removes it from the kernel's
            // sets too.
            let _ = self.deregister(&fd);
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd.as_ref().map(|fd| fd.as_raw_fd()))
            .field("index", &self.watch.slot.index)
            .field("seq", &self.watch.seq)
            .finish()
    }
}

/// The future of [`Registration::readable`] and [`Registration::writable`].
///
/// It unparks itself when it completes or is dropped, so a cancelled wait
/// leaves nothing behind in the descriptor.
#[must_use = "futures do nothing unless polled"]
pub struct Ready<'a> {
    watch: &'a Watch,
    dir: Dir,
    parked: Cell<bool>,
    /// The future's address names its waiter entry, so it must not move
    /// once polled.
    _pinned: PhantomPinned,
}

impl<'a> Ready<'a> {
    fn new(watch: &'a Watch, dir: Dir) -> Ready<'a> {
        Ready {
            watch,
            dir,
            parked: Cell::new(false),
            _pinned: PhantomPinned,
        }
    }

    fn owner(&self) -> usize {
        self as *const Self as usize
    }

    fn unpark(&self) {
        if self.parked.replace(false) {
            let w = self.watch;
            w.slot.desc.unpark(w.seq, self.dir, self.owner());
        }
    }
}

impl Future for Ready<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.into_ref().get_ref();
        let res = this.watch.poll_ready(this.dir, cx, this.owner());
        if res.is_pending() {
            this.parked.set(true);
        } else {
            this.unpark();
        }
        res
    }
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.unpark();
    }
}

impl fmt::Debug for Ready<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").field("dir", &self.dir).finish()
    }
}
