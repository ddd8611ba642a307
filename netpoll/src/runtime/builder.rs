//! Runtime configuration (Go: GOMAXPROCS and friends; tokio: Builder).

use super::blocking::{BlockingPool, PoolConfig};
use super::scheduler::{Config, Flavor, Shared};
use super::Runtime;
use crate::poll::Netpoller;
use crate::Poller;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Runtime`].
///
/// # Example
///
/// ```
/// use netpoll::runtime::{Builder, Poller};
///
/// let rt = Builder::new_multi_thread()
///     .worker_threads(2)
///     .poller(Poller::Poll)
///     .thread_name("my-app")
///     .build()?;
/// assert_eq!(rt.handle().poller(), Poller::Poll);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    flavor: Flavor,
    worker_threads: Option<usize>,
    poller: Poller,
    thread_name: String,
    max_blocking_threads: usize,
    keep_alive: Duration,
    pidfd: Option<bool>,
    warn_blocking: Option<bool>,
    hooks: super::Hooks,
    dump_on_signal: Option<i32>,
}

/// The environment variable that turns the pidfd path off for runtimes
/// whose builder does not choose (`NETPOLL_PIDFD=0`), so the SIGCHLD
/// fallback can be tested where pidfds work.
pub const PIDFD_ENV: &str = "NETPOLL_PIDFD";

impl Builder {
    fn new(flavor: Flavor) -> Builder {
        Builder {
            flavor,
            worker_threads: None,
            poller: Poller::Auto,
            thread_name: "netpoll".to_owned(),
            max_blocking_threads: 512,
            keep_alive: Duration::from_secs(10),
            pidfd: None,
            warn_blocking: None,
            hooks: super::Hooks::default(),
            dump_on_signal: None,
        }
    }

    /// A runtime with worker threads: one per CPU unless
    /// [`worker_threads`](Self::worker_threads) says otherwise.
    pub fn new_multi_thread() -> Builder {
        Builder::new(Flavor::MultiThread)
    }

    /// A runtime whose tasks run on the thread that calls `block_on`, while
    /// it does.
    pub fn new_current_thread() -> Builder {
        Builder::new(Flavor::CurrentThread)
    }

    /// The number of worker threads (Go: GOMAXPROCS). Ignored by the
    /// current-thread flavour. Zero is refused by [`build`](Self::build).
    pub fn worker_threads(&mut self, n: usize) -> &mut Builder {
        self.worker_threads = Some(n);
        self
    }

    /// The kernel interface the poller uses; `Auto` by default, which
    /// honours `NETPOLL_POLLER`.
    pub fn poller(&mut self, poller: Poller) -> &mut Builder {
        self.poller = poller;
        self
    }

    /// The prefix of the runtime's thread names.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        self.thread_name = name.into();
        self
    }

    /// The most threads the blocking pool starts (512 by default).
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it
    /// exits (10 s by default).
    pub fn thread_keep_alive(&mut self, d: Duration) -> &mut Builder {
        self.keep_alive = d;
        self
    }

    /// Whether child processes are held by pidfd (Linux ≥ 5.3, the
    /// default where the probe succeeds) or reaped on SIGCHLD (`false`).
    /// Unset, `NETPOLL_PIDFD=0` in the environment means `false`. See
    /// [`process`](crate::process).
    pub fn pidfd(&mut self, on: bool) -> &mut Builder {
        self.pidfd = Some(on);
        self
    }

    /// Whether the monitor prints a warning, naming the task's spawn
    /// location and how long it blocked, each time a task keeps its worker
    /// for more than 10 ms in one poll (a blocking call in async code).
    /// The monitor hands such a worker's other tasks on either way; this
    /// only makes it tell. Unset, `NETPOLL_WARN_BLOCKING=1` in the
    /// environment turns it on. Go has no such warning (its sysmon hands
    /// the P off silently); tokio has none either.
    ///
    /// # Example
    ///
    /// ```
    /// let rt = netpoll::runtime::Builder::new_multi_thread()
    ///     .warn_blocking(true)
    ///     .build()?;
    /// rt.block_on(async {
    ///     // Prints "netpoll: a task spawned at src/main.rs:… blocked worker …".
    ///     netpoll::spawn(async { std::thread::sleep(std::time::Duration::from_millis(30)) })
    ///         .await
    ///         .unwrap();
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn warn_blocking(&mut self, on: bool) -> &mut Builder {
        self.warn_blocking = Some(on);
        self
    }

    /// Runs `f` on every thread the runtime starts (workers, the monitor's
    /// spare workers, blocking-pool threads) before it does any work: to
    /// name it for a profiler, pin it, set up thread-locals. tokio:
    /// `Builder::on_thread_start`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let rt = netpoll::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .on_thread_start(move || {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()?;
    /// rt.block_on(rt.spawn_blocking(|| ())).unwrap();
    /// drop(rt);
    /// assert_eq!(started.load(Ordering::SeqCst), 3); // 2 workers, 1 pool thread
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.hooks.start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on every thread the runtime started, as the thread ends
    /// (after its last piece of work). tokio: `Builder::on_thread_stop`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let s = stopped.clone();
    /// let rt = netpoll::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .on_thread_stop(move || {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()?;
    /// drop(rt); // joins the workers
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.hooks.stop = Some(Arc::new(f));
        self
    }

    /// Prints the runtime's task dump ([`Handle::dump`](super::Handle::dump))
    /// to stderr each time the signal `signum` arrives, and goes on
    /// running. Go prints every goroutine on SIGQUIT (and exits); tokio has
    /// no counterpart. SIGQUIT (Ctrl-\ in a terminal) is the usual choice.
    ///
    /// A task of the runtime does it, spawned by [`build`](Self::build),
    /// named `"netpoll-dump"` (it shows in its own dump): on a multi-thread
    /// runtime it runs even when every worker is stuck in a blocking task
    /// (the monitor starts a spare worker); on a current-thread runtime it
    /// runs while `block_on` does. It listens the way
    /// [`netpoll::signal::signal`](crate::signal::signal) does, so `build`
    /// refuses the signals `signal` refuses, and the signal no longer has
    /// its default action (SIGQUIT would otherwise end the process with a
    /// core dump).
    ///
    /// # Example
    ///
    /// ```
    /// use netpoll::signal::SIGUSR1;
    ///
    /// let rt = netpoll::runtime::Builder::new_multi_thread()
    ///     .dump_on_signal(SIGUSR1)
    ///     .build()?;
    /// rt.spawn(netpoll::time::sleep(std::time::Duration::from_secs(60)));
    /// // `kill -USR1 <pid>` prints, on stderr:
    /// //   netpoll: 2 live tasks
    /// //   task 1 "netpoll-dump" running, spawned at …/runtime/builder.rs:…
    /// //   task 2 waiting: timer due in 59.998s, spawned at src/main.rs:…
    /// rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR1)?;
    /// # std::thread::sleep(std::time::Duration::from_millis(100));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump_on_signal(&mut self, signum: i32) -> &mut Builder {
        self.dump_on_signal = Some(signum);
        self
    }

    /// Opens the poller and starts the worker threads.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let workers = match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => match self.worker_threads {
                Some(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "worker_threads must be at least 1",
                    ))
                }
                Some(n) => n,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        };
        if self.max_blocking_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_blocking_threads must be at least 1",
            ));
        }
        // Listening from here on, before any thread starts, so a refused
        // signal fails the build and a signal sent once `build` returned
        // is seen.
        let dump_on = self
            .dump_on_signal
            .map(crate::sys::signal::Listener::new)
            .transpose()?;
        let poller = Netpoller::new(self.poller)?;
        let blocking = Arc::new(BlockingPool::new(PoolConfig {
            max_threads: self.max_blocking_threads,
            keep_alive: self.keep_alive,
            thread_name: self.thread_name.clone(),
            hooks: self.hooks.clone(),
        }));
        let config = Config {
            flavor: self.flavor,
            workers,
            thread_name: self.thread_name.clone(),
            pidfd: self
                .pidfd
                .unwrap_or_else(|| std::env::var(PIDFD_ENV).map_or(true, |v| v != "0")),
            warn_blocking: self
                .warn_blocking
                .unwrap_or_else(|| std::env::var(super::WARN_BLOCKING_ENV).is_ok_and(|v| v == "1")),
            hooks: self.hooks.clone(),
        };
        let rt = Runtime::start(Arc::new(Shared::new(config, poller, blocking)))?;
        if let Some(mut listener) = dump_on {
            rt.handle().spawn_named(
                async move {
                    loop {
                        std::future::poll_fn(|cx| listener.poll_recv(cx)).await;
                        // Formatted first: one write, not one per line
                        // between which other output could cut in.
                        let text = super::Handle::current().dump().to_string();
                        eprint!("{text}");
                    }
                },
                Some("netpoll-dump".into()),
            );
        }
        Ok(rt)
    }
}
