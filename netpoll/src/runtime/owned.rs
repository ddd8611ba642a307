//! Every live task of a runtime, so shutdown can reach the ones that are
//! not in any queue (parked on I/O or a timer) and cancel them
//! (tokio: OwnedTasks; Go needs none, its goroutines die with the process).
//!
//! A slab per shard, each behind its own mutex: spawning and finishing
//! lock only one shard, chosen round-robin, so concurrent spawns rarely
//! meet.

use crate::loom_shim::LockExt;
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
    entries: Vec<Option<Option<Waker>>>,
    free: Vec<u32>,
}

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

    /// Records the waker that schedules the task at `key`.
    pub(crate) fn fill(&self, key: OwnedKey, waker: Waker) {
        let mut slab = self.shard(key.shard);
        if let Some(entry @ Some(_)) = slab.entries.get_mut(key.index as usize) {
            *entry = Some(Some(waker));
        }
    }

    /// Forgets the task at `key` (its future was dropped).
    pub(crate) fn remove(&self, key: OwnedKey) {
        let waker = {
            let mut slab = self.shard(key.shard);
            match slab.entries.get_mut(key.index as usize) {
                Some(entry @ Some(_)) => {
                    let w = entry.take().flatten();
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
            out.extend(slab.entries.iter().flatten().flatten().cloned());
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
