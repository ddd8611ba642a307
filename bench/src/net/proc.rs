//! Server processes: starting one (pinned or not, ours or Go's), finding
//! its address, reading its CPU time and memory, and stopping it.

use super::{App, Peer, Placement};
use crate::Bench;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A server running as a child process. It prints `listening <addr>` on
/// stdout once bound to a free loopback port, and exits when its stdin
/// closes, which [`stop`](Self::stop) (or dropping it) does.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    // Kept open so a late write by the server cannot fail on a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `peer` serving `app`, placed as `placement` says. `Ok(None)`
    /// when the peer cannot run here (Go without a `go` toolchain), after
    /// a note saying so.
    pub fn start(
        b: &Bench,
        app: App,
        peer: Peer,
        placement: Placement,
    ) -> io::Result<Option<Server>> {
        let (program, args) = match peer {
            Peer::Go => match go_binary(b) {
                Some(path) => (path.into_os_string(), vec![OsString::from(app.arg())]),
                None => return Ok(None),
            },
            _ => (
                std::env::current_exe()?.into_os_string(),
                [
                    "serve",
                    app.arg(),
                    peer.arg(),
                    &placement.workers().to_string(),
                ]
                .map(OsString::from)
                .to_vec(),
            ),
        };
        let mut cmd = match placement.server_cpu() {
            Some(cpu) => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("pin").arg(cpu.to_string()).arg(program).args(args);
                c
            }
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        };
        cmd.env("GOMAXPROCS", placement.workers().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        Server::spawn(cmd).map(Some)
    }

    /// Spawns `cmd` and reads its `listening <addr>` line.
    fn spawn(mut cmd: Command) -> io::Result<Server> {
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .strip_prefix("listening ")
            .and_then(|a| a.trim().parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "server {cmd:?} did not print its address (got {line:?})"
            )));
        };
        Ok(Server {
            child,
            stdin,
            _stdout: stdout,
            addr,
        })
    }

    /// The server's process id (the pin launcher execs, so it is the
    /// server's own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server's threads have had so far.
    pub fn cpu_time(&self) -> io::Result<Duration> {
        cpu_time(self.pid())
    }

    /// The server's resident memory, in bytes.
    pub fn rss(&self) -> io::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| io::Error::other("no VmRSS in /proc/<pid>/status"))
    }

    /// Closes the server's stdin and waits for it to exit; kills it if it
    /// has not within 2 s.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            self.shut_down();
        }
    }
}

/// The on-CPU time of every thread of process `pid`: the first field of
/// each `/proc/<pid>/task/<tid>/schedstat`, in nanoseconds (`stat`'s
/// utime and stime count in 10 ms ticks, too coarse for a 1 s sample).
fn cpu_time(pid: u32) -> io::Result<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread that has just exited has no file left; skip it.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        ns += text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("unreadable {}", path.display())))?;
    }
    Ok(Duration::from_nanos(ns))
}

/// The Go servers (`servers echo|http`), built from `bench/go/servers.go`
/// next to this binary on first use; `None` (after a note) when `go` is
/// missing or the build fails.
fn go_binary(b: &Bench) -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| match build_go() {
            Ok(path) => Some(path),
            Err(e) => {
                b.note(&format!(
                    "go rows skipped: {e} (bench/setup.sh installs golang-go)"
                ));
                None
            }
        })
        .clone()
}

/// `go build -o <target dir>/go-servers bench/go/servers.go`.
fn build_go() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let out = dir.join("go-servers");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/servers.go");
    let mut cmd = Command::new("go");
    cmd.arg("build").arg("-o").arg(&out).arg(&src);
    // Go needs a build cache; without a home directory, use one here.
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", dir.join("go-cache"));
    }
    let status = cmd
        .status()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `go`: {e}")))?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "`go build {}` failed",
            src.display()
        )));
    }
    Ok(out)
}

/// `netpoll-bench pin <cpu> <program> [args]`: confines this process to
/// `cpu`, then becomes `program` (the affinity survives exec). Returns
/// only on failure.
pub fn pin_and_exec(args: &[String]) -> io::Error {
    let [cpu, program, rest @ ..] = args else {
        return io::Error::other("usage: netpoll-bench pin <cpu> <program> [args]");
    };
    let Ok(cpu) = cpu.parse::<usize>() else {
        return io::Error::other(format!("pin: not a cpu number: {cpu:?}"));
    };
    if let Err(e) = super::pin_thread(Some(cpu)) {
        return e;
    }
    Command::new(program).args(rest).exec()
}
