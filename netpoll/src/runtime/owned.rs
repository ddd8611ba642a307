//! Every live task of a runtime, so shutdown can reach the ones that are
//! not in any queue (parked on I/O or a timer) and cancel them
//! (tokio: OwnedTasks; Go needs none, its goroutines die with the process).
//!
//! A slab per shard, each behind its own mutex: spawning and finishing
//! lock only one shard, chosen round-robin, so concurrent spawns rarely
//! meet.

use super::task::TaskMeta;
use crate::loom_shim::LockExt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::task::Waker;

const SHARDS: usize = 16;

/// Where a task sits in the registry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnedKey {
    shard: u32,
    index: u32,
}

#[derive(Default)]
struct Slab {
    /// `Some(None)`: reserved by a task being spawned, no waker yet.
    entries: Vec<Option<Option<Entry>>>,
    free: Vec<u32>,
}

/// A registered task: the waker that schedules it, and its metadata.
struct Entry {
    waker: Waker,
    meta: MetaRef,
}

/// A pointer to a task's metadata, valid while the entry holding it exists:
/// the entry's waker keeps the task's allocation, where the metadata
/// lives, from being freed.
struct MetaRef(NonNull<TaskMeta>);

// SAFETY: `TaskMeta` is `Sync` (atomics and immutable fields), so sharing
// a pointer to it between threads is sound; it is only read through,
// under the shard lock, while the waker beside it keeps it alive.
unsafe impl Send for MetaRef {}

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Slab>]>,
    next: AtomicUsize,
    live: AtomicUsize,
}

impl OwnedTasks {
    pub(crate) fn new() -> OwnedTasks {
        OwnedTasks {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            next: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
        }
    }

    fn shard(&self, i: u32) -> std::sync::MutexGuard<'_, Slab> {
        self.shards[i as usize].locked()
    }

    /// Reserves a place for a task about to be spawned.
    pub(crate) fn reserve(&self) -> OwnedKey {
        let shard = (self.next.fetch_add(1, Relaxed) % SHARDS) as u32;
        let mut slab = self.shard(shard);
        let index = match slab.free.pop() {
            Some(i) => {
                slab.entries[i as usize] = Some(None);
                i
            }
            None => {
                slab.entries.push(Some(None));
                (slab.entries.len() - 1) as u32
            }
        };
        self.live.fetch_add(1, Relaxed);
        OwnedKey { shard, index }
    }

    /// Records the waker that schedules the task at `key`, and where its
    /// metadata is.
    pub(crate) fn fill(&self, key: OwnedKey, waker: Waker, meta: &TaskMeta) {
        let mut slab = self.shard(key.shard);
        if let Some(entry @ Some(_)) = slab.entries.get_mut(key.index as usize) {
            let meta = MetaRef(NonNull::from(meta));
            *entry = Some(Some(Entry { waker, meta }));
        }
    }

    /// Calls `f` with the metadata of every task still registered, under
    /// each shard's lock in turn (for the task dump).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&TaskMeta)) {
        for i in 0..SHARDS as u32 {
            let slab = self.shard(i);
            for entry in slab.entries.iter().flatten().flatten() {
                // SAFETY: the entry exists, so its waker keeps the task's
                // allocation, and with it the metadata, alive (`MetaRef`).
                f(unsafe { entry.meta.0.as_ref() });
            }
        }
    }

    /// Forgets the task at `key` (its future was dropped).
    pub(crate) fn remove(&self, key: OwnedKey) {
        let waker = {
            let mut slab = self.shard(key.shard);
            match slab.entries.get_mut(key.index as usize) {
                Some(entry @ Some(_)) => {
                    let w = entry.take().flatten().map(|e| e.waker);
                    slab.free.push(key.index);
                    self.live.fetch_sub(1, Relaxed);
                    w
                }
                _ => None,
            }
        };
        // Dropped outside the lock: a waker's drop may free the task.
        drop(waker);
    }

    /// Takes the wakers of every task still registered.
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        let mut out = Vec::new();
        for i in 0..SHARDS as u32 {
            let slab = self.shard(i);
            out.extend(
                slab.entries
                    .iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.waker.clone()),
            );
        }
        out
    }

    /// Tasks spawned and not yet finished or cancelled.
    pub(crate) fn len(&self) -> usize {
        self.live.load(Relaxed)
    }
}

/// Removes a task from the registry when its future is dropped, whether it
/// completed, was cancelled or was never polled. It is captured by the task
/// future itself, so it drops exactly when the future does.
pub(crate) struct OwnedGuard {
    pub(crate) owned: std::sync::Arc<super::scheduler::Shared>,
    pub(crate) key: OwnedKey,
}

impl Drop for OwnedGuard {
    fn drop(&mut self) {
        self.owned.owned.remove(self.key);
    }
}
