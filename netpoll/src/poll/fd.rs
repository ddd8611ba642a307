//! The fd under every I/O object (Go: internal/poll.FD).
//!
//! An [`Fd`] joins three things:
//!
//! - the fd lock ([`FdLock`]): a reference count with a closed bit and a
//!   read and a write lock. Every operation holds a reference (and its
//!   direction's lock) from start to finish, waits included, so reads
//!   serialize with reads and writes with writes while one read and one
//!   write run together;
//! - the registration with the netpoller, whose poll descriptor the
//!   operation waits on when the kernel says `EAGAIN`;
//! - the per-direction deadlines, which are timers of the same poller.
//!
//! # Close
//!
//! [`Fd::close`] sets the closed bit (new operations fail at once), evicts
//! the poll descriptor (every waiting operation wakes and fails with the
//! closed error), and drops its reference. The fd is deregistered and
//! closed by whoever drops the last reference: `close` itself when nothing
//! was in flight, otherwise the last operation to leave. So the fd number
//! is never closed, and never reused, under a syscall that is still
//! running, and `close` never waits for another task.
//!
//! # Deadlines
//!
//! Each direction has at most one timer, armed, moved or cancelled by
//! [`Fd::set_deadline`]. When it fires it marks the direction expired in
//! the poll descriptor, which wakes the waiter with a timeout; the mark
//! stays until the deadline is moved or cleared, so later operations fail
//! too (Go: pollDesc.rd/wd and netpolldeadlineimpl). Moving a deadline
//! re-arms the same timer, so no allocation happens per operation or per
//! change, only once per direction in the fd's life.

use super::desc::Dir;
use super::error::closed;
use super::fdlock::{FdLock, Release, Side, Ticket};
use super::netpoller::{Registration, Watch};
use super::timer::{TimerKey, Timers};
use crate::loom_shim::{LockExt, Mutex};
use crate::metrics;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

#[cfg(all(test, loom))]
#[path = "loom_fd.rs"]
mod loom_fd;

/// The most one read or write on a stream asks of the kernel: larger
/// requests are cut, as Go does (internal/poll's maxRW), since some
/// kernels fail or misbehave on counts beyond 2^31.
pub(crate) const MAX_RW: usize = 1 << 30;

/// An fd with Go's close and deadline semantics (Go: internal/poll.FD).
pub(crate) struct Fd {
    /// The fd number, valid while a reference on `lock` is held.
    raw: RawFd,
    lock: FdLock,
    /// The poll descriptor; `None` for an fd the poller cannot watch (a
    /// regular file), whose operations block (on the blocking pool).
    watch: Option<Watch>,
    /// Owns the fd; taken when the last reference is dropped after close.
    owner: Mutex<Option<Owner>>,
    /// Read and write deadlines, created on first use.
    deadlines: [OnceLock<Arc<Deadline>>; 2],
    /// A short stream read proves the receive queue empty (see
    /// [`with_drain_hint`](Self::with_drain_hint)).
    drain_hint: bool,
}

impl Fd {
    /// Wraps a registered (non-blocking) fd.
    pub(crate) fn new(reg: Registration) -> Fd {
        Fd {
            raw: reg.fd().as_raw_fd(),
            watch: Some(reg.watch().clone()),
            lock: FdLock::new(),
            owner: Mutex::new(Some(Owner::Polled(reg))),
            deadlines: [OnceLock::new(), OnceLock::new()],
            drain_hint: false,
        }
    }

    /// Wraps an fd the poller does not watch: its operations are plain
    /// (blocking) syscalls, for the caller to run off the workers, and it
    /// has no deadlines (Go: an FD whose pollDesc is not pollable).
    pub(crate) fn unpolled(fd: OwnedFd) -> Fd {
        Fd {
            raw: fd.as_raw_fd(),
            watch: None,
            lock: FdLock::new(),
            owner: Mutex::new(Some(Owner::Plain(fd))),
            deadlines: [OnceLock::new(), OnceLock::new()],
            drain_hint: false,
        }
    }

    /// Lets [`read_stream`](Self::read_stream) take a short read as proof
    /// that the receive queue is empty, where that holds: the caller
    /// vouches for the fd (a TCP stream, not a Unix stream, whose reads
    /// stop at every message carrying fds), and the backend for its events
    /// (`Selector::short_read_drains`).
    pub(crate) fn with_drain_hint(mut self) -> Fd {
        self.drain_hint = self.watch.as_ref().is_some_and(Watch::short_read_drains);
        self
    }

    /// Whether [`with_drain_hint`](Self::with_drain_hint) took effect.
    pub(crate) fn has_drain_hint(&self) -> bool {
        self.drain_hint
    }

    /// Whether the poller watches the fd.
    pub(crate) fn is_pollable(&self) -> bool {
        self.watch.is_some()
    }

    /// The poll descriptor, or the closed error for an unpolled fd (its
    /// operations never wait for readiness).
    fn watch(&self) -> io::Result<&Watch> {
        self.watch.as_ref().ok_or_else(not_pollable)
    }

    /// The fd number (for `AsRawFd`; it may be closed by the time it is
    /// used, as with any raw fd).
    pub(crate) fn raw(&self) -> RawFd {
        self.raw
    }

    /// The fd, for a caller holding a reference (a [`Held`] or an
    /// [`OwnedHeld`], the only implementors of [`Reference`]). The fd is
    /// closed only once every reference is gone (`release`), and the
    /// borrow cannot outlive the reference it was taken through.
    fn borrow<'a>(&'a self, _held: &'a impl Reference) -> BorrowedFd<'a> {
        // SAFETY: `_held` keeps `raw` open for the borrow's lifetime (above).
        unsafe { BorrowedFd::borrow_raw(self.raw) }
    }

    /// Runs `f` on the fd under a plain reference, for operations that
    /// need no lock (socket options, addresses, shutdown). Go: FD.incref.
    pub(crate) fn with<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> io::Result<T>) -> io::Result<T> {
        let held = self.incref()?;
        f(self.borrow(&held))
    }

    fn incref(&self) -> io::Result<Held<'_>> {
        self.lock.incref().map_err(|_| closed())?;
        Ok(Held {
            fd: self,
            side: None,
        })
    }

    /// Takes `side`'s lock, waiting in line for it.
    fn lock(&self, side: Side) -> LockFuture<'_> {
        LockFuture {
            fd: self,
            side,
            ticket: Ticket::default(),
            done: false,
        }
    }

    /// Runs a non-blocking syscall until it stops saying `EINTR` or
    /// `EAGAIN`, waiting for readiness in between, under `side`'s lock
    /// (Go: FD.Read's loop; `Side::Read` also serves accept, recvfrom...,
    /// `Side::Write` serves connect, sendto...). Fails at once if the fd is
    /// closed or the direction's deadline has passed.
    ///
    /// (Plain functions returning the loop's future, here and in the
    /// layers above: each `async fn` that only awaits another stores its
    /// arguments beside the inner future, making every pending read or
    /// write, and so every connection's task, that much larger.)
    pub(crate) fn io<'a, T: 'a, F>(
        &'a self,
        side: Side,
        f: F,
    ) -> impl Future<Output = io::Result<T>> + 'a
    where
        F: FnMut(BorrowedFd<'_>) -> io::Result<T> + 'a,
    {
        self.io_core(side, false, f, |_, _| {})
    }

    /// A read of a stream (a socket): [`io`](Self::io) on the read side,
    /// where `f` reads into a buffer of `want` bytes. On an fd
    /// [`with_drain_hint`](Self::with_drain_hint), a read that comes back
    /// short has emptied the receive queue; unless a read event arrives
    /// meanwhile, the next read then waits for one at once rather than
    /// first making the syscall that would only return EAGAIN (a syscall
    /// saved per message, as tokio does; Go makes it). An empty read never
    /// waits: its syscall returns 0 at once, as std's and Go's do.
    pub(crate) fn read_stream<'a, F>(
        &'a self,
        want: usize,
        f: F,
    ) -> impl Future<Output = io::Result<usize>> + 'a
    where
        F: FnMut(BorrowedFd<'_>) -> io::Result<usize> + 'a,
    {
        let hint = self.drain_hint && want > 0;
        self.io_core(Side::Read, hint, f, move |watch, r| {
            if hint {
                note_drained(watch, r, want)
            }
        })
    }

    /// The loop of [`io`](Self::io) and [`read_stream`](Self::read_stream):
    /// under the lock, waits first if `use_hint` and the last read drained
    /// the fd, else resets the direction (Go: pollDesc.prepare); then the
    /// syscall until it is neither EINTR nor EAGAIN; `after` sees the
    /// result while the lock is still held.
    async fn io_core<T>(
        &self,
        side: Side,
        use_hint: bool,
        mut f: impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
        after: impl FnOnce(&Watch, &io::Result<T>),
    ) -> io::Result<T> {
        std::future::poll_fn(crate::coop::poll_proceed).await;
        let held = self.lock(side).await?;
        let dir = dir_of(side);
        let watch = self.watch()?;
        if use_hint && watch.is_drained() {
            watch.ready(dir).await?;
        } else {
            watch.prepare(dir)?;
        }
        loop {
            if let Some(done) = attempt(&mut f, self.borrow(&held)) {
                after(watch, &done);
                return done;
            }
            watch.ready(dir).await?;
        }
    }

    /// The poll form of [`io`](Self::io), for `AsyncRead`-style callers
    /// that keep no state between polls. While another operation holds
    /// the lock, the caller is woken when it is released.
    pub(crate) fn poll_io<T>(
        &self,
        side: Side,
        cx: &mut Context<'_>,
        f: impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.poll_io_core(side, cx, false, f, |_, _| {})
    }

    /// The poll form of [`read_stream`](Self::read_stream).
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        want: usize,
        f: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let hint = self.drain_hint && want > 0;
        self.poll_io_core(Side::Read, cx, hint, f, |watch, r| {
            if hint {
                note_drained(watch, r, want)
            }
        })
    }

    /// The poll form of [`io_core`](Self::io_core).
    fn poll_io_core<T>(
        &self,
        side: Side,
        cx: &mut Context<'_>,
        use_hint: bool,
        mut f: impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
        after: impl FnOnce(&Watch, &io::Result<T>),
    ) -> Poll<io::Result<T>> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        std::task::ready!(self.lock.poll_lock_anonymous(side, cx)).map_err(|_| closed())?;
        let held = Held {
            fd: self,
            side: Some(side),
        };
        let dir = dir_of(side);
        let watch = self.watch()?;
        if use_hint && watch.is_drained() {
            std::task::ready!(watch.poll_ready(dir, cx, 0))?;
        } else {
            watch.prepare(dir)?;
        }
        loop {
            if let Some(done) = attempt(&mut f, self.borrow(&held)) {
                after(watch, &done);
                return Poll::Ready(done);
            }
            std::task::ready!(watch.poll_ready(dir, cx, 0))?;
        }
    }

    /// Runs a non-blocking syscall once (again only on `EINTR`) under
    /// `side`'s lock, never waiting: `WouldBlock` if the kernel says
    /// `EAGAIN`, and also if another operation of the same side holds the
    /// lock (a read parked in another task). Fails like any operation on a
    /// closed fd or past the direction's deadline (Go: FD.Read's
    /// prepareRead, without the wait; tokio: `try_io`).
    ///
    /// The direction is reset first, as every operation does, so an
    /// event that comes after the syscall's `EAGAIN` stays recorded for
    /// the next wait. The drain hint is neither used nor set: the reset
    /// clears it, and a `try_*` read leaves it clear, which only costs
    /// the next `read` one syscall. No budget is spent (nothing waits).
    pub(crate) fn try_io<T>(
        &self,
        side: Side,
        mut f: impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
    ) -> io::Result<T> {
        if !self.lock.try_lock(side).map_err(|_| closed())? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let held = Held {
            fd: self,
            side: Some(side),
        };
        self.watch()?.prepare(dir_of(side))?;
        attempt(&mut f, self.borrow(&held)).unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
    }

    /// Waits until `side`'s syscall could make progress: the fd is
    /// readable (or writable), at end of stream, or has an error pending
    /// (tokio: `readable` / `writable`; Go has no such call, the closest
    /// is `syscall.RawConn.Read`, whose callback returns false to wait).
    ///
    /// It is an operation like a read or write: it queues for `side`'s
    /// lock and holds it while it waits (the poll descriptor has one
    /// waiter per direction), spends a unit of budget, fails with the
    /// closed error when `close` runs, and with the deadline error when
    /// the direction's deadline passes, before or during the wait.
    ///
    /// The answer is a hint, as tokio's is: another task may take the
    /// bytes first, so the caller's `try_*` can still say `WouldBlock`.
    ///
    /// Why it asks the kernel (`poll(2)` with no timeout) before parking:
    /// the descriptor's ready bit only records events since the last
    /// reset, and an edge-triggered poller sends no new event for bytes
    /// already queued; a read that stopped short of a full queue (a small
    /// buffer, a `try_read`) leaves such bytes behind with the bit clear,
    /// and a wait on the bit alone would hang. So: reset (forgetting
    /// stale readiness), ask the kernel, and only if nothing is there
    /// park; an event that lands after the reset wakes the wait, one that
    /// landed before it is in the kernel's answer.
    pub(crate) async fn ready(&self, side: Side) -> io::Result<()> {
        std::future::poll_fn(crate::coop::poll_proceed).await;
        let held = self.lock(side).await?;
        let dir = dir_of(side);
        let watch = self.watch()?;
        watch.prepare(dir)?;
        if ready_now(self.borrow(&held), dir)? {
            return Ok(());
        }
        watch.ready(dir).await
    }

    /// Closes the fd: later operations fail at once, waiting ones wake
    /// with the closed error, and close(2) runs when the last operation in
    /// flight leaves (now, if none is). A second close returns the closed
    /// error. Go: FD.Close.
    pub(crate) fn close(&self) -> io::Result<()> {
        let queued = self.lock.close().map_err(|_| closed())?;
        let waiting = self.watch.as_ref().and_then(Watch::evict).unwrap_or(0);
        if queued + waiting > 0 {
            metrics::add(&metrics::CLOSES_WITH_WAITERS, 1);
        }
        self.release(self.lock.decref());
        Ok(())
    }

    /// Stops watching the fd and hands it back open, for `into_std` and
    /// `OwnedFd::from`. Fails with the closed error if it was closed.
    pub(crate) fn into_owned(self) -> io::Result<OwnedFd> {
        self.lock.close().map_err(|_| closed())?;
        self.cancel_deadlines();
        // Nothing can be in flight: operations borrow the Fd, and we own
        // it. A leaked operation future (mem::forget) keeps its reference
        // and the fd stays in the registration, as leaks go.
        if self.lock.decref() == Release::Keep {
            return Err(io::Error::other(
                "netpoll: an operation on this fd was leaked while in flight",
            ));
        }
        match self.owner.locked().take() {
            Some(Owner::Polled(reg)) => reg.into_fd(),
            Some(Owner::Plain(fd)) => Ok(fd),
            None => Err(closed()),
        }
    }

    /// Sets (or with `None` clears) the deadline of `side`'s operations,
    /// pending and future. Go: FD.SetReadDeadline / SetWriteDeadline.
    /// Sets both deadlines (Go: FD.SetDeadline).
    pub(crate) fn set_deadline(&self, at: Option<Instant>) -> io::Result<()> {
        self.set_deadline_of(Side::Read, at)?;
        self.set_deadline_of(Side::Write, at)
    }

    /// Go: FD.SetReadDeadline.
    pub(crate) fn set_read_deadline(&self, at: Option<Instant>) -> io::Result<()> {
        self.set_deadline_of(Side::Read, at)
    }

    /// Go: FD.SetWriteDeadline.
    pub(crate) fn set_write_deadline(&self, at: Option<Instant>) -> io::Result<()> {
        self.set_deadline_of(Side::Write, at)
    }

    /// Runs `f` with the fd held open (Go: RawConn.Control).
    pub(crate) fn with_fd<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> io::Result<T> {
        self.with(|fd| Ok(f(fd)))
    }

    /// Fails with an `Unsupported` error for an fd the poller does not
    /// watch (Go: os.ErrNoDeadline).
    pub(crate) fn set_deadline_of(&self, side: Side, at: Option<Instant>) -> io::Result<()> {
        let _held = self.incref()?;
        let watch = self.watch.as_ref().ok_or_else(no_deadline)?;
        let deadline = self.deadlines[side as usize].get_or_init(|| {
            Arc::new(Deadline {
                watch: watch.clone(),
                dir: dir_of(side),
                armed: Mutex::new(Armed::default()),
            })
        });
        deadline.set(at, watch.timers());
        Ok(())
    }

    fn cancel_deadlines(&self) {
        let Some(watch) = &self.watch else { return };
        for d in self.deadlines.iter().filter_map(OnceLock::get) {
            d.set(None, watch.timers());
        }
    }

    /// Acts on what an unlock or decref said: the last one out closes.
    fn release(&self, release: Release) {
        if release == Release::Destroy {
            self.cancel_deadlines();
            // Deregisters, ends the descriptor's life, closes the fd.
            drop(self.owner.locked().take());
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        if !self.lock.is_closed() {
            let _ = self.close();
        }
    }
}

/// A public fd-backed type: how the shared methods (close, deadlines,
/// `with_fd`, conversions) reach its [`Fd`].
pub(crate) trait HasFd {
    /// The fd layer.
    fn fd(&self) -> &Fd;
    /// Hands the fd over, open.
    fn into_fd(self) -> io::Result<OwnedFd>;
    /// The fd as shared with pool threads, for types that do blocking I/O.
    fn shared(&self) -> Option<&Arc<Fd>> {
        None
    }
}

/// What owns the fd until it is closed.
enum Owner {
    /// Registered: dropping deregisters, then closes.
    Polled(Registration),
    /// Not watched by the poller.
    Plain(OwnedFd),
}

fn not_pollable() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "netpoll: this fd is not watched by the poller",
    )
}

fn no_deadline() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "netpoll: deadlines are not supported for this file type (Go: os.ErrNoDeadline)",
    )
}

/// One try of a non-blocking syscall, repeated on EINTR: `None` if it
/// would block (wait for readiness, then try again).
fn attempt<T>(
    f: &mut impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
    fd: BorrowedFd<'_>,
) -> Option<io::Result<T>> {
    loop {
        match f(fd) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            done => return Some(done),
        }
    }
}

/// Whether `dir`'s syscall on `fd` would make progress now: a poll(2)
/// that does not wait. An error or hang-up counts for both directions:
/// the syscall then reports it.
fn ready_now(fd: BorrowedFd<'_>, dir: Dir) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let want = match dir {
        Dir::Read => PollFlags::IN,
        Dir::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::from_borrowed_fd(fd, want)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&now)) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let got = fds[0].revents();
    Ok(got.intersects(want | PollFlags::ERR | PollFlags::HUP))
}

/// Records whether a stream read of `want` bytes came back short.
fn note_drained(watch: &Watch, r: &io::Result<usize>, want: usize) {
    if let Ok(n) = r {
        watch.set_drained(*n > 0 && *n < want);
    }
}

fn dir_of(side: Side) -> Dir {
    match side {
        Side::Read => Dir::Read,
        Side::Write => Dir::Write,
    }
}

/// A reference on the fd lock (with `side`'s lock if `Some`), dropped when
/// the operation leaves, however it leaves.
pub(crate) struct Held<'a> {
    fd: &'a Fd,
    side: Option<Side>,
}

impl Held<'_> {
    /// The fd, open for as long as this guard lives.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // The kernel copy paths are Linux-only.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.borrow(self)
    }
}

/// A live reference on an fd's lock: what makes borrowing its fd sound.
trait Reference {}

impl Reference for Held<'_> {}
impl Reference for OwnedHeld {}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let release = match self.side {
            Some(side) => self.fd.lock.unlock(side),
            None => self.fd.lock.decref(),
        };
        self.fd.release(release);
    }
}

impl Fd {
    /// Takes `side`'s lock (waiting in line) and holds it for as long as
    /// the guard lives, for operations that span several syscalls on two
    /// fds (the copy engine).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // The kernel copy paths are Linux-only.
    pub(crate) async fn lock_for(&self, side: Side) -> io::Result<Held<'_>> {
        self.lock(side).await
    }

    /// Takes `side`'s lock for an operation that runs on another thread
    /// (the blocking pool): the guard keeps the fd open, however long the
    /// syscall takes and even if the task that started it goes away.
    pub(crate) async fn lock_owned(self: &Arc<Self>, side: Side) -> io::Result<OwnedHeld> {
        let held = self.lock(side).await?;
        std::mem::forget(held);
        Ok(OwnedHeld {
            fd: self.clone(),
            side: Some(side),
        })
    }

    /// A plain reference for an operation on another thread (`pread`,
    /// `fsync`...), which needs no lock.
    pub(crate) fn incref_owned(self: &Arc<Self>) -> io::Result<OwnedHeld> {
        std::mem::forget(self.incref()?);
        Ok(OwnedHeld {
            fd: self.clone(),
            side: None,
        })
    }
}

/// [`Held`] with the fd shared rather than borrowed, so it can move to the
/// thread that runs the syscall.
pub(crate) struct OwnedHeld {
    fd: Arc<Fd>,
    side: Option<Side>,
}

impl OwnedHeld {
    /// The fd, open for as long as this guard lives.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.borrow(self)
    }

    /// The closed error once `close` has begun. A loop that holds the fd
    /// for many trips to the blocking pool or syscalls on it (a file's
    /// `write_all`, the file-to-file copy) calls it between them: close
    /// wakes waiters on the poller, and nothing else can reach a thread
    /// that is not waiting.
    pub(crate) fn ensure_open(&self) -> io::Result<()> {
        if self.fd.lock.is_closed() {
            return Err(closed());
        }
        Ok(())
    }
}

impl Drop for OwnedHeld {
    fn drop(&mut self) {
        drop(Held {
            fd: &self.fd,
            side: self.side,
        });
    }
}

/// Waits for one side's lock; gives its place up if dropped first.
struct LockFuture<'a> {
    fd: &'a Fd,
    side: Side,
    ticket: Ticket,
    done: bool,
}

impl<'a> Future for LockFuture<'a> {
    type Output = io::Result<Held<'a>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let res = this.fd.lock.poll_lock(this.side, &mut this.ticket, cx);
        let Poll::Ready(res) = res else {
            return Poll::Pending;
        };
        this.done = true;
        Poll::Ready(match res {
            Ok(()) => Ok(Held {
                fd: this.fd,
                side: Some(this.side),
            }),
            Err(_) => Err(closed()),
        })
    }
}

impl Drop for LockFuture<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.fd.lock.cancel(self.side, &mut self.ticket);
        }
    }
}

/// One direction's deadline: its timer's waker, shared by every arming.
struct Deadline {
    watch: Watch,
    dir: Dir,
    armed: Mutex<Armed>,
}

#[derive(Default)]
struct Armed {
    /// The deadline now in force.
    at: Option<Instant>,
    /// The timer, kept (fired or not) until the deadline is cleared.
    key: Option<TimerKey>,
}

impl Deadline {
    /// Go: poll_runtime_pollSetDeadline for one direction. The expired
    /// mark changes under `armed`, so a firing timer and a concurrent
    /// `set` apply in one order; a waiter to wake is woken after `armed`
    /// is released (see [`Deadline::wake_by_ref`]).
    fn set(self: &Arc<Self>, at: Option<Instant>, timers: &Timers) {
        let waiter = {
            let mut armed = self.armed.locked();
            armed.at = at;
            match at {
                None => {
                    if let Some(key) = armed.key.take() {
                        timers.cancel(key);
                    }
                    self.watch.clear_expired(self.dir);
                    None
                }
                Some(at) if at <= Instant::now() => {
                    if let Some(key) = armed.key.take() {
                        timers.cancel(key);
                    }
                    self.expire()
                }
                Some(at) => {
                    // Cleared first: an operation that starts after this
                    // call must not see the old expiry.
                    self.watch.clear_expired(self.dir);
                    let waker = Waker::from(self.clone());
                    match armed.key {
                        Some(key) => timers.reset(key, at, &waker),
                        None => armed.key = Some(timers.insert(at, &waker)),
                    }
                    None
                }
            }
        };
        wake(waiter);
    }

    /// Marks the direction expired; returns its waiter, to be woken once
    /// `armed` is released.
    #[must_use = "the waiter must be woken"]
    fn expire(&self) -> Option<Waker> {
        metrics::add(&metrics::DEADLINE_EXPIRIES, 1);
        self.watch.expire(self.dir)
    }
}

/// Wakes a waiter handed out by an expiry, if there was one.
fn wake(waiter: Option<Waker>) {
    if let Some(w) = waiter {
        w.wake();
    }
}

impl Wake for Deadline {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// The timer fired. The deadline may have moved since the timer took
    /// this waker out (a wake runs after the timer lock is released), so
    /// it is checked again under the deadline's own lock, which `set`
    /// holds too (Go checks pollDesc.rseq for the same reason).
    ///
    /// The waiter is woken only after that lock is released: during
    /// shutdown the wake can end with the waiting task's future dropped,
    /// and with it the stream, whose close cancels this deadline and so
    /// takes the lock again (Runtime::drop deadlocked on exactly that).
    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let armed = self.armed.locked();
            if armed.at.is_some_and(|at| at <= Instant::now()) {
                self.expire()
            } else {
                None
            }
        };
        wake(waiter);
    }
}
