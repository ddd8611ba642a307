//! The kernel paths of `io::copy` on Linux: copy_file_range, sendfile and
//! splice (Go: os/zero_copy_linux.go, internal/poll/splice_linux.go and
//! sendfile_linux.go; std: sys/pal/unix/kernel_copy.rs).

use super::traits::End;
use crate::fs::fdio::blocking;
use crate::loom_shim::LockExt;
use crate::metrics;
use crate::poll::fd::Fd;
use crate::poll::fdlock::Side;
use crate::sys::sigpipe;
use rustix::fs::FileType;
use rustix::io::Errno;
use rustix::pipe::SpliceFlags;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

/// How a kernel path ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Done {
    /// End of the source, or its limit reached.
    Complete,
    /// The kernel declined (before moving anything, or this pairing has
    /// no kernel path): the buffered loop takes over.
    Fallback,
}

/// The most one sendfile call asks for (Go's maxSendfileSize is about
/// this).
const ROUND: usize = 1 << 30;
/// The most one copy_file_range call asks for. Go asks for 1 GiB at a
/// time; this is far less because the copy checks for a close between
/// calls (see [`copy_file_range`]), so a round is how long a close may
/// wait: a few milliseconds through the page cache, against a second or
/// more for 1 GiB. One more syscall per 8 MiB is lost in the cost of
/// moving them.
const FILE_ROUND: usize = 8 << 20;
/// The size of the pipes splice goes through (Go: 1 MiB too).
const PIPE_SIZE: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    File { append: bool },
    Pipe,
    Socket,
    Other,
}

fn kind(fd: &Fd) -> io::Result<(Kind, (u64, u64))> {
    fd.with(|b| {
        let st = rustix::fs::fstat(b)?;
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Kind::File {
                append: rustix::fs::fcntl_getfl(b)?.contains(rustix::fs::OFlags::APPEND),
            },
            FileType::Fifo => Kind::Pipe,
            FileType::Socket => Kind::Socket,
            _ => Kind::Other,
        };
        Ok((kind, (st.st_dev as u64, st.st_ino as u64)))
    })
}

/// Copies from `src` to `dst` by the kernel path the pair allows, at most
/// `limit` bytes. Returns the bytes moved, with how it ended.
pub(crate) async fn copy(
    src: End<'_>,
    dst: End<'_>,
    limit: Option<u64>,
) -> (u64, io::Result<Done>) {
    let ((sk, sid), (dk, did)) = match (kind(src.fd), kind(dst.fd)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return (0, Err(e)),
    };
    if sid == did {
        // The same file (or pipe) on both ends: only the buffer keeps
        // Go's and std's results.
        return (0, Ok(Done::Fallback));
    }
    let mut moved = 0;
    let res = match (sk, dk) {
        (Kind::File { .. }, Kind::File { append: false }) => {
            copy_file_range(&src, &dst, limit, &mut moved).await
        }
        (Kind::File { .. }, Kind::Socket | Kind::Pipe) => {
            sendfile(&src, &dst, limit, &mut moved).await
        }
        (Kind::Socket | Kind::Pipe, Kind::Socket | Kind::Pipe | Kind::File { append: false })
            if src.fd.is_pollable() =>
        {
            splice(&src, &dst, limit, &mut moved).await
        }
        _ => Ok(Done::Fallback),
    };
    (moved, res)
}

/// The bytes still allowed, capped at one round.
fn round(limit: Option<u64>, moved: u64, cap: usize) -> usize {
    limit.map_or(cap, |l| (l - moved).min(cap as u64) as usize)
}

/// Errors that mean "no kernel path here" when nothing has moved yet.
fn declined(e: Errno) -> bool {
    [
        Errno::XDEV,
        Errno::INVAL,
        Errno::NOSYS,
        Errno::OPNOTSUPP,
        Errno::PERM,
        Errno::IO,
    ]
    .contains(&e)
}

fn count(counter: &AtomicU64, n: usize) {
    metrics::add(counter, n as u64);
}

/// File to file on the blocking pool, both locked for the whole copy, in
/// rounds of [`FILE_ROUND`]. Between rounds the pool thread checks that
/// neither file was closed and that the copy's future still exists: no
/// wake reaches a thread inside a syscall, so without the checks a close,
/// a timeout or an aborted task would leave it copying the rest of the
/// file for nobody, holding both locks (and the fds) all along.
async fn copy_file_range(
    src: &End<'_>,
    dst: &End<'_>,
    limit: Option<u64>,
    moved: &mut u64,
) -> io::Result<Done> {
    let (Some(s), Some(d)) = (src.shared, dst.shared) else {
        return Ok(Done::Fallback);
    };
    let (s, d) = (
        s.lock_owned(Side::Read).await?,
        d.lock_owned(Side::Write).await?,
    );
    let wanted = Wanted::new();
    let still_wanted = wanted.flag();
    let (n, res) = blocking(move || {
        let mut moved = 0u64;
        let res = loop {
            let want = round(limit, moved, FILE_ROUND);
            if want == 0 {
                break Ok(Done::Complete);
            }
            if let Err(e) = s.ensure_open().and_then(|()| d.ensure_open()) {
                break Err(e);
            }
            // Relaxed: a hint to stop, publishing nothing.
            if !still_wanted.load(Relaxed) {
                // Nobody will see this: the future that would is gone.
                break Err(io::ErrorKind::Interrupted.into());
            }
            match rustix::fs::copy_file_range(s.fd(), None, d.fd(), None, want) {
                // Size-0 files of procfs and sysfs say 0 at once: read them.
                Ok(0) if moved == 0 => break Ok(Done::Fallback),
                Ok(0) => break Ok(Done::Complete),
                Ok(n) => {
                    moved += n as u64;
                    count(&metrics::COPY_FILE_RANGE_BYTES, n);
                }
                Err(Errno::INTR) => {}
                Err(e) if moved == 0 && declined(e) => break Ok(Done::Fallback),
                Err(e) => break Err(io::Error::from(e)),
            }
        };
        Ok((moved, res))
    })
    .await?;
    drop(wanted);
    *moved += n;
    res
}

/// Says, through a flag shared with a pool thread, whether the future
/// that waits for the thread's work still exists: it is cleared when this
/// is dropped, with the future, however it ends.
struct Wanted(Arc<AtomicBool>);

impl Wanted {
    fn new() -> Wanted {
        Wanted(Arc::new(AtomicBool::new(true)))
    }

    fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for Wanted {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

/// File to socket or pipe: sendfile, waiting for room on EAGAIN.
async fn sendfile(
    src: &End<'_>,
    dst: &End<'_>,
    limit: Option<u64>,
    moved: &mut u64,
) -> io::Result<Done> {
    if !dst.fd.is_pollable() {
        return Ok(Done::Fallback);
    }
    let s = src.fd.lock_for(Side::Read).await?;
    loop {
        let want = round(limit, *moved, ROUND);
        if want == 0 {
            return Ok(Done::Complete);
        }
        let first = *moved == 0;
        let sent = dst
            .fd
            .io(Side::Write, |out| {
                // No MSG_NOSIGNAL here: a reader that has gone would
                // raise SIGPIPE (see sys::sigpipe).
                match sigpipe::quiet(|| rustix::fs::sendfile(out, s.fd(), None, want)) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if first && declined(e) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        match sent {
            None => return Ok(Done::Fallback),
            Some(0) => return Ok(Done::Complete),
            Some(n) => {
                *moved += n as u64;
                count(&metrics::SENDFILE_BYTES, n);
            }
        }
    }
}

/// Socket or pipe to socket, pipe or file: splice into a pooled pipe, then
/// out of it.
async fn splice(
    src: &End<'_>,
    dst: &End<'_>,
    limit: Option<u64>,
    moved: &mut u64,
) -> io::Result<Done> {
    // A regular file is written from the blocking pool, which needs the
    // fd it can hold from there.
    let file = match (dst.fd.is_pollable(), dst.shared) {
        (true, _) => None,
        (false, Some(file)) => Some(file),
        (false, None) => return Ok(Done::Fallback),
    };
    let mut pipe = Pipe::get()?;
    let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
    loop {
        let want = round(limit, *moved, PIPE_SIZE);
        if want == 0 {
            pipe.put();
            return Ok(Done::Complete);
        }
        let first = *moved == 0;
        let got = src
            .fd
            .io(Side::Read, |s| {
                match rustix::pipe::splice(s, None, &pipe.w, None, want, flags) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if first && declined(e) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            })
            .await;
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                // Nothing was read into the pipe: it can serve again.
                pipe.put();
                return Err(e);
            }
        };
        let mut left = match got {
            None => {
                pipe.put();
                return Ok(Done::Fallback);
            }
            Some(0) => {
                pipe.put();
                return Ok(Done::Complete);
            }
            Some(n) => n,
        };
        // Out of the pipe; if this fails the pipe keeps bytes and is
        // dropped rather than pooled.
        match file {
            None => {
                while left > 0 {
                    let n = dst
                        .fd
                        .io(Side::Write, |d| {
                            // As for sendfile: no MSG_NOSIGNAL for splice.
                            Ok(sigpipe::quiet(|| {
                                rustix::pipe::splice(&pipe.r, None, d, None, left, flags)
                            })?)
                        })
                        .await?;
                    left -= n;
                    *moved += n as u64;
                    count(&metrics::SPLICE_BYTES, n);
                }
            }
            Some(file) => {
                // A write to a regular file may wait for the disk (a full
                // page cache, a journal): never on a worker, which would
                // stall every task queued behind it. Go makes this splice
                // on the goroutine's thread, which its scheduler replaces
                // while it blocks; ours does not.
                let d = file.lock_owned(Side::Write).await?;
                let (back, n, res) = blocking(move || {
                    let (n, res) = splice_to_file(pipe.r.as_fd(), d.fd(), left);
                    Ok((pipe, n, res))
                })
                .await?;
                pipe = back;
                *moved += n as u64;
                count(&metrics::SPLICE_BYTES, n);
                res?;
            }
        }
    }
}

/// Moves `len` bytes from a pipe into a file, blocking (on the pool).
/// Returns how many moved, with the error that stopped it short.
fn splice_to_file(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < len {
        match rustix::pipe::splice(from, None, to, None, len - done, SpliceFlags::MOVE) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(e) => return (done, Err(e.into())),
        }
    }
    (done, Ok(()))
}

/// A pipe for splice, from a process-wide pool (Go: splicePipePool).
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

impl Pipe {
    fn get() -> io::Result<Pipe> {
        if let Some(p) = POOL.locked().pop() {
            return Ok(p);
        }
        let (r, w) = crate::sys::pipe::nonblocking_pipe()?;
        // A bigger pipe means fewer round trips; the default is 64 KiB.
        let _ = rustix::pipe::fcntl_setpipe_size(&w, PIPE_SIZE);
        Ok(Pipe { r, w })
    }

    /// Back to the pool (only ever called when it is empty).
    fn put(self) {
        let mut pool = POOL.locked();
        if pool.len() < 64 {
            pool.push(self);
        }
    }
}
