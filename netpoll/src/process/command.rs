//! `Command` and `Child` (Go: exec.Cmd, os.Process).

use super::process_done;
use super::reaper::Tracked;
use super::stdio::{ChildStderr, ChildStdin, ChildStdout};
use crate::metrics;
use crate::runtime::Handle;
use rustix::process::Signal;
use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

/// A process to start: std's `Command`, spawned into a [`Child`] held by
/// pidfd where the kernel allows (see the [module docs](super)).
///
/// Go: `exec.Cmd`.
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let status = netpoll::process::Command::new("sh").args(["-c", "exit 3"]).status().await?;
///     assert_eq!(status.code(), Some(3));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts from an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input (inherited by default for `spawn` and
    /// `status`).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self
    }

    /// The child's standard output.
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's standard error.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// The child's user id.
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.std.uid(id);
        self
    }

    /// The child's group id.
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.std.gid(id);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group of its own).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// Runs `f` in the child between fork and exec.
    ///
    /// # Safety
    ///
    /// As for std's `CommandExt::pre_exec`: `f` runs in a forked copy of
    /// a multi-threaded process and may only do async-signal-safe things.
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds pre_exec's contract (see above).
        unsafe { self.std.pre_exec(f) };
        self
    }

    /// Whether dropping the `Child` before it was waited for kills it
    /// (it is reaped in the background either way).
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Command {
        self.kill_on_drop = on;
        self
    }

    /// Starts the process. A failed exec is reported here, with the exec
    /// error, and leaves no fd behind. Must be called inside a runtime.
    ///
    /// Go: `exec.Cmd.Start`.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let handle = Handle::try_current().ok_or_else(|| {
            io::Error::other("netpoll: no runtime here; spawn processes inside a netpoll runtime")
        })?;
        let by_pidfd = Inner::by_pidfd(&handle);
        if !by_pidfd {
            // The SIGCHLD handler goes in before the first child of this
            // path starts: under SIG_IGN or SA_NOCLDWAIT the kernel reaps a
            // child that exits before it on its own, the status is lost,
            // and the wait never ends.
            Tracked::prepare()?;
        }
        let mut std = self.std.spawn()?;
        metrics::add(&metrics::CHILDREN_SPAWNED, 1);
        let pid = std.id();
        let inner = match Inner::new(&std, &handle, by_pidfd) {
            Ok(inner) => inner,
            Err(e) => {
                // Never leave it unwatched: kill it and reap it the std way.
                let _ = std.kill();
                let _ = std.wait();
                return Err(e);
            }
        };
        // From here a failure drops `child`, whose drop hands the process
        // to the background reaper.
        let mut child = Child {
            pid,
            inner,
            status: None,
            kill_on_drop: self.kill_on_drop,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        child.stdin = std
            .stdin
            .take()
            .map(|p| ChildStdin::new(p.into()))
            .transpose()?;
        child.stdout = std
            .stdout
            .take()
            .map(|p| ChildStdout::new(p.into()))
            .transpose()?;
        child.stderr = std
            .stderr
            .take()
            .map(|p| ChildStderr::new(p.into()))
            .transpose()?;
        Ok(child)
    }

    /// Runs the process with inherited stdio and waits for it.
    ///
    /// Go: `exec.Cmd.Run`.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Runs the process with stdout and stderr captured (and stdin empty
    /// unless set), and waits for it.
    ///
    /// Go: `exec.Cmd.Output` / `CombinedOutput`.
    pub async fn output(&mut self) -> io::Result<Output> {
        self.std.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

/// How the child is held.
enum Inner {
    #[cfg(target_os = "linux")]
    Pidfd(Box<super::pidfd::PidfdChild>),
    Reaper(Tracked),
}

impl Inner {
    /// Whether children spawned on `handle`'s runtime are held by pidfd
    /// (else by the SIGCHLD reaper).
    fn by_pidfd(handle: &Handle) -> bool {
        #[cfg(target_os = "linux")]
        return handle.shared.config.pidfd && super::pidfd::available();
        #[cfg(not(target_os = "linux"))]
        {
            let _ = handle;
            false
        }
    }

    fn new(std: &std::process::Child, handle: &Handle, by_pidfd: bool) -> io::Result<Inner> {
        #[cfg(target_os = "linux")]
        if by_pidfd {
            let pidfd = super::pidfd::open(std)?;
            return Ok(Inner::Pidfd(Box::new(super::pidfd::PidfdChild::new(
                pidfd, handle,
            )?)));
        }
        let _ = (handle, by_pidfd);
        Ok(Inner::Reaper(Tracked::new(std.id())?))
    }
}

/// A running (or finished) child process.
///
/// Go: `os.Process` (plus `exec.Cmd`'s pipes).
///
/// # Example
///
/// ```
/// use std::process::Stdio;
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let mut child = netpoll::process::Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     child.stdin.take().unwrap().write_all(b"through cat").await?;
///     let out = child.wait_with_output().await?;
///     assert_eq!(out.stdout, b"through cat");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Child {
    pid: u32,
    inner: Inner,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// The child's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The child's process id. Informational only: it may belong to
    /// another process once this one has been reaped.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit and reaps it; later calls return the
    /// same status. Closes the child's stdin first, so a child reading it
    /// to the end can finish.
    ///
    /// Go: `os.Process.Wait`.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(p) => p.wait().await?,
            Inner::Reaper(t) => t.wait().await?,
        };
        self.status = Some(s);
        Ok(s)
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = match &self.inner {
                #[cfg(target_os = "linux")]
                Inner::Pidfd(p) => p.try_wait()?,
                Inner::Reaper(t) => t.try_wait()?,
            };
        }
        Ok(self.status)
    }

    /// Sends SIGKILL. Fails with the process-done error (see
    /// [`is_process_done`](super::is_process_done)) if the child was
    /// already reaped; nothing is sent then.
    ///
    /// Go: `os.Process.Kill`.
    pub fn kill(&mut self) -> io::Result<()> {
        self.send(Some(Signal::KILL))
    }

    /// Sends signal number `sig` (a `libc::SIG*` value), with the same
    /// guarantee as [`kill`](Self::kill).
    ///
    /// Signal 0 is the liveness probe: it delivers nothing, and is `Ok`
    /// while the child has not been reaped (running, or exited and not yet
    /// waited for) and the process-done error once it has.
    ///
    /// Go: `os.Process.Signal` (`Signal(syscall.Signal(0))` for the probe);
    /// tokio has no counterpart.
    ///
    /// # Example
    ///
    /// ```
    /// use netpoll::process::{is_process_done, Command};
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     let mut child = Command::new("sleep").arg("10").spawn()?;
    ///     child.signal(0)?; // alive
    ///     child.signal(15)?; // SIGTERM
    ///     child.wait().await?;
    ///     assert!(is_process_done(&child.signal(0).unwrap_err()));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn signal(&mut self, sig: i32) -> io::Result<()> {
        if sig == 0 {
            return self.send(None);
        }
        let sig = Signal::from_named_raw(sig)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a signal number"))?;
        self.send(Some(sig))
    }

    /// Sends `sig`, or with `None` the null signal (checks that the child
    /// is there, delivering nothing).
    fn send(&mut self, sig: Option<Signal>) -> io::Result<()> {
        if self.status.is_some() {
            return Err(process_done());
        }
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(p) => match p.signal(sig) {
                Ok(()) => {
                    metrics::add(&metrics::SIGNALS_BY_PIDFD, 1);
                    Ok(())
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => {
                    Err(process_done())
                }
                Err(e) => Err(e),
            },
            Inner::Reaper(t) => t.signal(sig)?.ok_or_else(process_done),
        }
    }

    /// Waits for the child while reading all of its stdout and stderr.
    ///
    /// Go: `exec.Cmd.Output`.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (out, err) = (self.stdout.take(), self.stderr.take());
        let read_out = async {
            let mut v = Vec::new();
            if let Some(p) = &out {
                p.read_to_end(&mut v).await?;
            }
            Ok::<_, io::Error>(v)
        };
        let read_err = async {
            let mut v = Vec::new();
            if let Some(p) = &err {
                p.read_to_end(&mut v).await?;
            }
            Ok::<_, io::Error>(v)
        };
        let (stdout, stderr) = crate::task::join(read_out, read_err).await;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: stdout?,
            stderr: stderr?,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.send(Some(Signal::KILL));
        }
        // Not reaped: hand the child to the background reaper.
        match std::mem::replace(&mut self.inner, Inner::Reaper(Tracked::detached(self.pid))) {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(p) => {
                if let Ok(fd) = p.into_owned() {
                    super::orphans::adopt(fd);
                }
            }
            // Its drop marks it an orphan, reaped when it exits.
            Inner::Reaper(t) => drop(t),
        }
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish()
    }
}
