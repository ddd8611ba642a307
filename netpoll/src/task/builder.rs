//! Spawning with a name, and the current task's id (tokio:
//! `task::Builder`, `task::id`; Go has neither: goroutines are anonymous,
//! and their ids are deliberately hidden).

use super::JoinHandle;
use crate::runtime::Handle;
use std::fmt;
use std::future::Future;
use std::io;

/// A task's id: unique in the process for its whole run, never reused.
/// Shown in the task dump ([`crate::runtime::Handle::dump`]).
///
/// tokio: `task::Id`.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// let (a, b) = rt.block_on(async {
///     let a = netpoll::spawn(async { netpoll::task::id() }).await.unwrap();
///     let b = netpoll::spawn(async { netpoll::task::id() }).await.unwrap();
///     (a, b)
/// });
/// assert_ne!(a, b);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Id(u64);

impl Id {
    /// The id as a number (what the dump prints).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of the task this is called from. Panics outside a task (in
/// `block_on`'s own future, or a plain thread); see [`try_id`].
pub fn id() -> Id {
    try_id().expect("netpoll::task::id called outside a task")
}

/// The id of the task this is called from, if any.
pub fn try_id() -> Option<Id> {
    crate::runtime::task::current_id().map(Id)
}

/// Spawns a task with a name, which the task dump shows.
///
/// tokio: `task::Builder` (unstable there).
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// rt.block_on(async {
///     let h = netpoll::task::Builder::new().name("greeter").spawn(async { "hi" })?;
///     assert_eq!(h.await.unwrap(), "hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Default, Debug)]
#[must_use = "a Builder spawns nothing until spawn is called"]
pub struct Builder<'a> {
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder for an unnamed task.
    pub fn new() -> Builder<'a> {
        Builder { name: None }
    }

    /// Names the task.
    pub fn name(self, name: &'a str) -> Builder<'a> {
        Builder { name: Some(name) }
    }

    /// Spawns `future` on the current runtime. Fails (rather than
    /// panicking, as [`crate::spawn`] does) outside a runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = Handle::try_current().ok_or_else(no_runtime)?;
        Ok(self.spawn_on(future, &handle))
    }

    /// Spawns `future` on `handle`'s runtime.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_named(future, self.name.map(Box::from))
    }

    /// Runs `f` on the current runtime's blocking pool, named.
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let handle = Handle::try_current().ok_or_else(no_runtime)?;
        Ok(handle.spawn_blocking_named(f, self.name.map(Box::from)))
    }
}

fn no_runtime() -> io::Error {
    io::Error::other("netpoll: no runtime here to spawn on")
}
