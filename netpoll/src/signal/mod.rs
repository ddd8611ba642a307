//! Unix signals as async events: wait for Ctrl-C, SIGTERM, SIGHUP in a
//! task (Go: os/signal's `signal.Notify`; tokio: `tokio::signal::ctrl_c`
//! and `tokio::signal::unix::signal`).
//!
//! ```
//! use netpoll::signal::{signal, SIGHUP};
//! use std::time::Duration;
//!
//! #[netpoll::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     // Go: c := make(chan os.Signal, 1); signal.Notify(c, syscall.SIGHUP)
//!     // tokio: signal(SignalKind::hangup())?
//!     let mut hup = signal(SIGHUP)?;
//!     // Someone sends one (here we do, as kill -HUP <pid> would).
//!     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::HUP)?;
//!     // Go: <-c
//!     hup.recv().await;
//!     println!("SIGHUP: reloading the configuration");
//!     Ok(())
//! }
//! ```
//!
//! # How it works, and what it changes
//!
//! The first listener for a signal installs netpoll's handler for it, for
//! the rest of the process: the handler counts the delivery and writes a
//! byte to a pipe, and one process-wide thread, asleep in the kernel
//! between signals, wakes the tasks that wait (the thread the SIGCHLD
//! reaper of [`process`](crate::process) uses too). One thread rather
//! than the pipe in each runtime's poller: the handler cannot know which
//! runtime listens, runtimes come and go, and a listener then works on any
//! executor and outlives the runtime it was made in. Go does the same with
//! one goroutine (os/signal's `loop`); tokio reads its pipe in each
//! runtime's driver.
//!
//! - **Every listener gets every delivery** (a broadcast): two `Signals`
//!   for SIGTERM both wake for one SIGTERM. A listener sees the
//!   deliveries after it was made, never an older one. Several deliveries
//!   between two `recv` calls make one wake, as the kernel merges a
//!   pending signal and as tokio does; none that came after the last
//!   `recv` goes unnoticed.
//! - **A handler installed before keeps being called**, with its own
//!   signature, mask and flags (a C library's, or the program's own).
//! - **Catching replaces the default action.** Once SIGINT has a listener,
//!   Ctrl-C no longer ends the program: the program decides. Dropping
//!   every listener does not bring the old action back; the signal is then
//!   counted and otherwise ignored. tokio behaves the same; Go restores
//!   the default on `signal.Reset` (and when the last `Notify` for it is
//!   stopped). A signal the program was started with ignored (SIGHUP
//!   under `nohup`) is caught all the same once listened for, as in Go.
//! - **Refused** with `InvalidInput`: SIGKILL and SIGSTOP, which cannot be
//!   caught, and SIGSEGV, SIGBUS, SIGILL and SIGFPE, whose handler must
//!   not simply return (the faulting instruction would run again, for
//!   ever); tokio refuses them too.
//!
//! A task dump on a signal, as Go prints every goroutine on SIGQUIT, is
//! [`Builder::dump_on_signal`](crate::runtime::Builder::dump_on_signal).

use crate::sys::signal::Listener;
use std::future::{poll_fn, Future};
use std::io;
use std::task::{Context, Poll};

/// SIGHUP: the terminal went away, or, by convention, "reload".
pub const SIGHUP: i32 = libc::SIGHUP;
/// SIGINT: Ctrl-C in the terminal ([`ctrl_c`]).
pub const SIGINT: i32 = libc::SIGINT;
/// SIGQUIT: Ctrl-\ in the terminal; Go prints its goroutines on it.
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// SIGTERM: the polite request to stop (`kill`, systemd, Kubernetes).
pub const SIGTERM: i32 = libc::SIGTERM;
/// SIGUSR1: the program's to define.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// SIGUSR2: the program's to define.
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// SIGCHLD: a child exited or stopped.
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// SIGWINCH: the terminal was resized.
pub const SIGWINCH: i32 = libc::SIGWINCH;
/// SIGALRM: an `alarm(2)` or `setitimer(2)` timer expired.
pub const SIGALRM: i32 = libc::SIGALRM;
/// SIGPIPE: a write to a pipe or socket whose reader is gone. Rust
/// programs ignore it from the start; netpoll's writes never raise it.
pub const SIGPIPE: i32 = libc::SIGPIPE;

/// Starts listening for the signal `signum` (`SIGTERM`, `libc::SIGRTMIN()
/// + 1`, ...): every delivery from now on wakes [`Signals::recv`].
///
/// Go: `signal.Notify(c, sig)`; tokio: `tokio::signal::unix::signal`,
/// which takes a `SignalKind` where this takes the number. Needs no
/// runtime: the returned `Signals` can be awaited anywhere.
///
/// Fails with `InvalidInput` for SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL,
/// SIGFPE, and numbers that are no signal (`sigaction`'s EINVAL, as for
/// the real-time signals the C library keeps for itself); with the
/// kernel's error if the pipe or thread cannot be made (then the next call
/// tries again). See the [module docs](self) for what listening changes.
///
/// # Example
///
/// ```
/// use netpoll::signal::{signal, SIGTERM};
///
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let mut term = signal(SIGTERM)?;
///     let mut also = signal(SIGTERM)?; // each listener gets each one
///     rustix::process::kill_process(
///         rustix::process::getpid(),
///         rustix::process::Signal::TERM,
///     )?;
///     assert_eq!(term.recv().await, Some(()));
///     assert_eq!(also.recv().await, Some(()));
///
///     let err = signal(libc::SIGKILL).unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(signum: i32) -> io::Result<Signals> {
    Ok(Signals {
        listener: Listener::new(signum)?,
    })
}

/// Completes at the first SIGINT (Ctrl-C in the terminal) after the call.
///
/// The listener is made when `ctrl_c` is called, not when the future is
/// first polled (tokio's `async fn` makes it then): a SIGINT between the
/// two is not lost, and once `ctrl_c()` has been called Ctrl-C no longer
/// ends the program by itself (see the [module docs](self)).
///
/// Go: `signal.Notify(c, os.Interrupt)`, or `signal.NotifyContext`;
/// tokio: `tokio::signal::ctrl_c`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// #[netpoll::main]
/// async fn main() -> std::io::Result<()> {
///     let interrupted = netpoll::signal::ctrl_c();
///     // A server would run until then; here it stops waiting after 10 ms.
///     match netpoll::time::timeout(Duration::from_millis(10), interrupted).await {
///         Ok(res) => {
///             res?;
///             println!("Ctrl-C: shutting down");
///         }
///         Err(_) => println!("no Ctrl-C within 10 ms"),
///     }
///     Ok(())
/// }
/// ```
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send + 'static {
    let listener = signal(SIGINT);
    async move {
        listener?.recv().await;
        Ok(())
    }
}

/// A listener for one signal, from [`signal`]. Each `Signals` sees every
/// delivery that comes after it was made and after its last `recv`.
///
/// Go: the channel given to `signal.Notify`; tokio:
/// `tokio::signal::unix::Signal`. Dropping it stops listening (Go:
/// `signal.Stop`) but leaves netpoll's handler in place.
#[derive(Debug)]
pub struct Signals {
    listener: Listener,
}

impl Signals {
    /// Waits for the next delivery of the signal: completes at once if one
    /// came since the last `recv` (or since the listener was made);
    /// several such deliveries make one `Some(())`.
    ///
    /// Always `Some(())` today: the `Option` is tokio's shape, where `None`
    /// means the runtime's driver is gone, which cannot happen here.
    /// Cancel-safe: a `recv` dropped before it completed loses nothing.
    ///
    /// Go: `<-c`; tokio: `Signal::recv`.
    ///
    /// # Example
    ///
    /// ```
    /// use netpoll::signal::{signal, SIGUSR1};
    ///
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     let mut usr1 = signal(SIGUSR1)?;
    ///     let pid = rustix::process::getpid();
    ///     for _ in 0..3 {
    ///         rustix::process::kill_process(pid, rustix::process::Signal::USR1)?;
    ///     }
    ///     // Up to three deliveries (the kernel merges one still pending)
    ///     // since the listener was made: one wake.
    ///     usr1.recv().await;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll function, for hand-written futures
    /// and streams (tokio: `Signal::poll_recv`).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.listener.poll_recv(cx).map(Some)
    }

    /// The signal number this listens for.
    pub fn signum(&self) -> i32 {
        self.listener.signum()
    }
}
