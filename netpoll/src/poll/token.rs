//! What the kernel's user field carries: a descriptor's index in the cache
//! and the sequence it had when it was registered (Go: taggedPointer, with
//! pollDesc.fdseq as the tag).
//!
//! Two layouts, chosen per platform by the narrowest user field among the
//! backends it can pick ([`crate::sys::TOKEN_BITS`]):
//!
//! - **wide**, 32 bits of index and 32 of sequence, wherever that field
//!   holds 64 bits: epoll's `u64` on every Linux, 32-bit ones included,
//!   the poll(2) backend's own table everywhere, and kqueue's `udata` and
//!   event ports' user pointer on 64-bit targets. A descriptor's sequence
//!   repeats after 2^32 - 1 lives.
//! - **narrow**, 20 bits of index (about a million live descriptors) and
//!   12 of sequence, where the field is a 32-bit pointer: kqueue and event
//!   ports on 32-bit targets (and poll(2) beside them, since one cache of
//!   descriptors serves every backend of the process). Each life moves the
//!   sequence once, so the tag of a descriptor repeats after 4 095 lives,
//!   and an event that stayed queued in the kernel across exactly that
//!   many close/reopen cycles would not be recognised as stale. Go accepts
//!   the same trade-off on 32-bit kqueue (taggedPointerBits is smaller
//!   there) and keeps the full tag where the kernel gives it 64 bits.

/// How a token splits into index and sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Bits of the kernel field the token must fit.
    token_bits: u32,
    /// Bits of the token that hold the sequence (the low ones).
    seq_bits: u32,
}

/// 32 bits of index, 32 of sequence: a 64-bit user field.
const WIDE: Layout = Layout {
    token_bits: 64,
    seq_bits: 32,
};

/// 20 bits of index, 12 of sequence: a 32-bit user pointer.
const NARROW: Layout = Layout {
    token_bits: 32,
    seq_bits: 12,
};

/// The layout of this platform.
const LAYOUT: Layout = match crate::sys::TOKEN_BITS {
    64.. => WIDE,
    32 => NARROW,
    _ => panic!("no token layout for a user field this small"),
};

impl Layout {
    const fn seq_mask(self) -> u64 {
        (1u64 << self.seq_bits) - 1
    }

    const fn max_index(self) -> u32 {
        ((1u64 << (self.token_bits - self.seq_bits)) - 1) as u32
    }

    fn pack(self, index: u32, seq: u32) -> u64 {
        debug_assert!(index <= self.max_index() && u64::from(seq) <= self.seq_mask());
        (u64::from(index) << self.seq_bits) | u64::from(seq)
    }

    fn unpack(self, token: u64) -> (u32, u32) {
        (
            (token >> self.seq_bits) as u32,
            (token & self.seq_mask()) as u32,
        )
    }

    fn next_seq(self, seq: u32) -> u32 {
        match (u64::from(seq) + 1) & self.seq_mask() {
            0 => 1,
            n => n as u32,
        }
    }
}

/// Bits of the token that hold the sequence (the descriptor tests walk
/// the whole space where it is small).
#[cfg(all(test, not(loom)))]
pub(crate) const SEQ_BITS: u32 = LAYOUT.seq_bits;

/// The largest descriptor index a token can name.
pub(crate) const MAX_INDEX: u32 = LAYOUT.max_index();

/// Packs a descriptor index and sequence into a kernel token.
pub(crate) fn pack(index: u32, seq: u32) -> u64 {
    LAYOUT.pack(index, seq)
}

/// Splits a kernel token into index and sequence.
pub(crate) fn unpack(token: u64) -> (u32, u32) {
    LAYOUT.unpack(token)
}

/// The sequence after `seq`: it wraps within the token's bits and skips 0,
/// which is reserved for "never in use" and for the wake token.
pub(crate) fn next_seq(seq: u32) -> u32 {
    LAYOUT.next_seq(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_zero_sequence() {
        for layout in [WIDE, NARROW] {
            let top = layout.seq_mask() as u32;
            let max = layout.max_index();
            for (i, s) in [(0, 1), (1, 1), (max, top), (12345, 678)] {
                let token = layout.pack(i, s);
                assert!(layout.token_bits == 64 || token >> layout.token_bits == 0);
                assert_eq!(layout.unpack(token), (i, s), "{layout:?}");
            }
            assert_eq!(layout.next_seq(top), 1, "{layout:?}");
            assert_eq!(layout.next_seq(0), 1);
            assert_ne!(layout.pack(0, 1), crate::sys::WAKE_TOKEN);
        }
    }

    /// Every descriptor tag separates as many lives as its layout has
    /// sequences: 2^32 - 1 with a 64-bit user field, 4 095 with a 32-bit
    /// one (walked here on every platform, whichever it uses).
    #[test]
    fn a_sequence_repeats_only_after_the_whole_tag_space() {
        let mut seq = NARROW.next_seq(0);
        let first = seq;
        let mut lives = 0u64;
        loop {
            seq = NARROW.next_seq(seq);
            lives += 1;
            if seq == first {
                break;
            }
        }
        assert_eq!(lives, (1 << NARROW.seq_bits) - 1);
        assert_eq!(WIDE.next_seq(u32::MAX), 1);
        assert_eq!(WIDE.next_seq(4095), 4096, "no wrap at the narrow width");
    }

    /// epoll's user data is 64 bits on every Linux, and the poll(2)
    /// backend keeps its own table: a 32-bit Linux gets the wide layout,
    /// not the one 32-bit kqueue needs (it had 12 bits of sequence there,
    /// so a tag repeated after 4 095 lives of a descriptor).
    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn linux_tokens_use_all_64_bits_on_every_pointer_width() {
        assert_eq!(LAYOUT, WIDE);
        assert_eq!(MAX_INDEX, u32::MAX);
        assert_eq!(next_seq(4095), 4096);
        assert_eq!(unpack(pack(u32::MAX, u32::MAX)), (u32::MAX, u32::MAX));
    }

    /// Where the kernel field is a pointer, the token fits it.
    #[test]
    fn the_layout_fits_this_platform() {
        let top = pack(MAX_INDEX, LAYOUT.seq_mask() as u32);
        assert!(crate::sys::TOKEN_BITS >= 64 || top >> crate::sys::TOKEN_BITS == 0);
    }
}
