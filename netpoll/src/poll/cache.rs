//! Where poll descriptors live: blocks that are allocated on demand and
//! never freed, with a free list for reuse (Go: pollCache).
//!
//! Never freeing is what makes stale events safe to look at: a token from
//! the kernel always names memory that is a valid descriptor, possibly in a
//! later life, which the sequence check then recognises.
//!
//! Block `b` holds `FIRST_BLOCK << b` descriptors, so a handful of blocks
//! covers every index a token can carry, and finding a descriptor from its
//! index is two shifts and one atomic load, with no lock.

// Under loom the cache below is replaced by `model` (see there).
#![cfg_attr(loom, allow(dead_code, unused_imports))]

use super::desc::PollDesc;
use super::token::MAX_INDEX;
use crate::loom_shim::LockExt;
use std::io;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// Descriptors in the first block.
const FIRST_BLOCK: usize = 64;
const FIRST_SHIFT: u32 = FIRST_BLOCK.trailing_zeros();
/// Enough blocks for every index below 2^32.
const BLOCKS: usize = 32 - FIRST_SHIFT as usize + 1;

/// The process-wide cache (Go: the global pollcache). One cache for every
/// netpoller keeps indices unique across them.
#[cfg(not(loom))]
static CACHE: Cache = Cache {
    blocks: [const { AtomicPtr::new(std::ptr::null_mut()) }; BLOCKS],
    free: Mutex::new(FreeList {
        free: Vec::new(),
        next: 0,
    }),
};

#[cfg(not(loom))]
struct Cache {
    /// Start of each block, null until allocated; written once.
    blocks: [AtomicPtr<PollDesc>; BLOCKS],
    free: Mutex<FreeList>,
}

struct FreeList {
    /// Indices of descriptors whose last life ended, most recent last.
    free: Vec<u32>,
    /// The lowest index never handed out (u64: on 64-bit targets every
    /// u32 is a valid index, and the counter must be able to pass them).
    next: u64,
}

/// Which block and offset hold `index`.
fn locate(index: u32) -> (usize, usize) {
    let n = index as u64 + FIRST_BLOCK as u64;
    let block = (63 - n.leading_zeros() - FIRST_SHIFT) as usize;
    let offset = (n - ((FIRST_BLOCK as u64) << block)) as usize;
    (block, offset)
}

/// A descriptor handed out by [`alloc`], with its index.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) index: u32,
    pub(crate) desc: &'static PollDesc,
}

/// Takes a descriptor off the free list, growing the cache if it is empty
/// (Go: pollCache.alloc).
#[cfg(not(loom))]
pub(crate) fn alloc() -> io::Result<Slot> {
    let mut list = CACHE.free.locked();
    let index = match list.free.pop() {
        Some(i) => i,
        None => {
            let next = list.next;
            if next > u64::from(MAX_INDEX) {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "netpoll: no poll descriptor left (token index space exhausted)",
                ));
            }
            let i = next as u32;
            let (block, _) = locate(i);
            if CACHE.blocks[block].load(Ordering::Acquire).is_null() {
                // The last blocks hold more descriptors than a 32-bit
                // address space (2^32 in the last): refuse, never wrap.
                let len = usize::try_from((FIRST_BLOCK as u64) << block)
                    .ok()
                    .filter(|n| {
                        n.checked_mul(std::mem::size_of::<PollDesc>())
                            .is_some_and(|b| b <= isize::MAX as usize)
                    })
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::OutOfMemory,
                            "netpoll: no poll descriptor left (address space exhausted)",
                        )
                    })?;
                let descs: Box<[PollDesc]> = (0..len).map(|_| PollDesc::new()).collect();
                // The block is leaked on purpose: descriptors are never freed.
                let start = Box::leak(descs).as_mut_ptr();
                CACHE.blocks[block].store(start, Ordering::Release);
            }
            list.next = next + 1;
            i
        }
    };
    drop(list);
    let desc = get(index).expect("an allocated index always has its block");
    Ok(Slot { index, desc })
}

/// Returns a descriptor whose life has been retired to the free list
/// (Go: pollCache.free).
#[cfg(not(loom))]
pub(crate) fn free(slot: Slot) {
    let mut list = CACHE.free.locked();
    list.free.push(slot.index);
}

/// The descriptor at `index`, if its block exists. Lock-free: this is what
/// every kernel event goes through.
#[cfg(not(loom))]
pub(crate) fn get(index: u32) -> Option<&'static PollDesc> {
    let (block, offset) = locate(index);
    let start = CACHE.blocks.get(block)?.load(Ordering::Acquire);
    if start.is_null() {
        return None;
    }
    // `start` is the first element of a leaked `Box<[PollDesc]>` of
    // `FIRST_BLOCK << block` elements, fully initialised before the Release
    // store that published it (paired with the Acquire load above), never
    // freed and never moved. `PollDesc` is Sync, so a shared `'static`
    // reference to it may be used from any thread.
    // SAFETY: in bounds (`locate` yields `offset < FIRST_BLOCK << block`)
    // of a live, initialised, never-freed block.
    Some(unsafe { &*start.add(offset) })
}

/// The cache under loom: a fresh descriptor for every allocation, never
/// reused. A descriptor's atomics and lock are loom objects, which belong
/// to one execution of a model, so a static cache reused across executions
/// would hand the next one dangling objects. The cache's own publication
/// is not what the loom models check (Miri checks it, in the tests below);
/// the descriptors, the netpoller and the fd layer above it are.
#[cfg(loom)]
mod model {
    use super::{PollDesc, Slot};
    use crate::loom_shim::LockExt;
    use std::io;
    use std::sync::Mutex;

    static DESCS: Mutex<Vec<&'static PollDesc>> = Mutex::new(Vec::new());

    pub(crate) fn alloc() -> io::Result<Slot> {
        let desc: &'static PollDesc = Box::leak(Box::new(PollDesc::new()));
        let mut descs = DESCS.locked();
        descs.push(desc);
        let index = u32::try_from(descs.len() - 1).expect("fewer than 2^32 descriptors");
        Ok(Slot { index, desc })
    }

    pub(crate) fn free(_: Slot) {}

    pub(crate) fn get(index: u32) -> Option<&'static PollDesc> {
        DESCS.locked().get(index as usize).copied()
    }
}

#[cfg(loom)]
pub(crate) use model::{alloc, free, get};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_the_index_space_without_gaps() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        // Block sizes in u64: the last block holds 2^32 descriptors, more
        // than a 32-bit usize counts (`FIRST_BLOCK << 26` wraps to 0 there).
        let size = |b: usize| (FIRST_BLOCK as u64) << b;
        let (b, o) = locate(u32::MAX);
        assert!(b < BLOCKS && (o as u64) < size(b));
        // Each block starts where the one before it ends.
        let mut start = 0u64;
        for b in 0..BLOCKS {
            if let Ok(first) = u32::try_from(start) {
                assert_eq!(locate(first), (b, 0), "first index of block {b}");
            }
            start += size(b);
            if let Ok(last) = u32::try_from(start - 1) {
                assert_eq!(locate(last), (b, (size(b) - 1) as usize), "last of {b}");
            }
        }
        assert!(start > u64::from(u32::MAX), "every u32 index has a block");
    }

    #[test]
    fn freed_descriptors_are_reused_not_freed() {
        let a = alloc().unwrap();
        let addr = a.desc as *const PollDesc;
        free(a);
        let b = alloc().unwrap();
        // LIFO reuse; other tests may race for the same slot, so only check
        // that a reused index still maps to the same memory.
        assert_eq!(get(b.index).unwrap() as *const _, b.desc as *const _);
        if b.index == a.index {
            assert_eq!(b.desc as *const PollDesc, addr);
        }
        free(b);
    }
}
