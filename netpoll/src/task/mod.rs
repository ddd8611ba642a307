//! Tasks: spawning, joining, yielding (Go: the `go` statement).

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

mod builder;
mod join_set;

pub use crate::runtime::task::{JoinError, JoinHandle, Unconstrained};
pub use builder::{id, try_id, Builder, Id};
pub use join_set::JoinSet;

use crate::runtime::Handle;
use std::future::{poll_fn, Future};
use std::task::Poll;

/// Spawns a task on the current runtime and returns a handle to await its
/// output or abort it. Panics if called outside a runtime.
///
/// Go: `go f()`.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let v = rt.block_on(async { netpoll::spawn(async { "hi" }).await });
/// assert_eq!(v.unwrap(), "hi");
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Handle::current().spawn(future)
}

/// Runs blocking code on the runtime's blocking pool, off the workers.
/// Panics if called outside a runtime.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let n = rt.block_on(async {
///     netpoll::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await
/// });
/// assert!(n.unwrap() > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Handle::current().spawn_blocking(f)
}

/// Lets everything else that is ready run before this task continues:
/// the worker's other tasks, work queued from outside, due timers and I/O
/// (polled without blocking) all come first. A task yielding in a loop
/// therefore delays nothing by more than a turn.
///
/// Go: `runtime.Gosched()`; tokio: `task::yield_now`.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// rt.block_on(netpoll::task::yield_now());
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Spends one unit of the task's budget, yielding first if it is spent:
/// for a loop that does its own work without netpoll operations (which
/// spend units by themselves), so it still lets its worker go now and
/// then. Cheaper than [`yield_now`], which yields every time.
///
/// Go needs none (it preempts); tokio: `task::consume_budget`.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let sum = rt.block_on(async {
///     let mut sum = 0u64;
///     for i in 0..10_000u64 {
///         sum += i;
///         netpoll::task::consume_budget().await; // yields every 128 turns
///     }
///     sum
/// });
/// assert_eq!(sum, 49_995_000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn consume_budget() {
    poll_fn(crate::coop::poll_proceed).await
}

/// Runs `future` with no budget: its netpoll operations never make it
/// yield, however many complete in one poll. For a task that must not be
/// interleaved (and that accepts starving its worker's other tasks); the
/// budget still applies around it.
///
/// tokio: `task::unconstrained`.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// rt.block_on(netpoll::task::unconstrained(async {
///     for _ in 0..1000 {
///         netpoll::task::consume_budget().await; // never yields here
///     }
/// }));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained::new(future)
}

/// Runs two futures together on this task.
pub(crate) async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    use std::convert::Infallible;
    let (a, b) = (async { Ok::<_, Infallible>(a.await) }, async {
        Ok::<_, Infallible>(b.await)
    });
    match try_join(a, b).await {
        Ok(both) => both,
        Err(never) => match never {},
    }
}

/// Runs two fallible futures together on this task; the first error ends
/// both (the other is dropped).
pub(crate) async fn try_join<A, B, E>(
    a: impl std::future::Future<Output = Result<A, E>>,
    b: impl std::future::Future<Output = Result<B, E>>,
) -> Result<(A, B), E> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v?);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v?);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => std::task::Poll::Ready(Ok((x, y))),
            (x, y) => {
                (ra, rb) = (x, y);
                std::task::Poll::Pending
            }
        }
    })
    .await
}
