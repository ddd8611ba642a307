//! What the kernel's user field carries: a descriptor's index in the cache
//! and the sequence it had when it was registered (Go: taggedPointer, with
//! pollDesc.fdseq as the tag).
//!
//! On 64-bit targets the token is 32 bits of index and 32 bits of
//! sequence, and it fits every kernel's user field (epoll's u64, kqueue's
//! `udata` and event ports' user pointer). On 32-bit targets kqueue's and
//! event ports' user fields are only 32 bits wide, so the token shrinks to
//! 20 bits of index (about a million live descriptors) and 12 bits of
//! sequence: the sequence then repeats after 4 095 reuses of one
//! descriptor, and an event that stayed queued in the kernel across exactly
//! that many close/reopen cycles would not be recognised as stale.
//! Go accepts the same trade-off (taggedPointerBits is smaller on 32-bit).

/// Bits of the token that hold the sequence.
#[cfg(target_pointer_width = "64")]
pub(crate) const SEQ_BITS: u32 = 32;
#[cfg(not(target_pointer_width = "64"))]
pub(crate) const SEQ_BITS: u32 = 12;

/// Bits of a token that survive the narrowest kernel user field.
const TOKEN_BITS: u32 = usize::BITS;

const SEQ_MASK: u64 = (1u64 << SEQ_BITS) - 1;

/// The largest descriptor index a token can name.
pub(crate) const MAX_INDEX: u32 = ((1u64 << (TOKEN_BITS - SEQ_BITS)) - 1) as u32;

/// Packs a descriptor index and sequence into a kernel token.
pub(crate) fn pack(index: u32, seq: u32) -> u64 {
    debug_assert!(u64::from(index) <= u64::from(MAX_INDEX) && u64::from(seq) <= SEQ_MASK);
    (u64::from(index) << SEQ_BITS) | u64::from(seq)
}

/// Splits a kernel token into index and sequence.
pub(crate) fn unpack(token: u64) -> (u32, u32) {
    ((token >> SEQ_BITS) as u32, (token & SEQ_MASK) as u32)
}

/// The sequence after `seq`: it wraps within the token's bits and skips 0,
/// which is reserved for "never in use" and for the wake token.
pub(crate) fn next_seq(seq: u32) -> u32 {
    match (u64::from(seq) + 1) & SEQ_MASK {
        0 => 1,
        n => n as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_zero_sequence() {
        for (i, s) in [(0, 1), (1, 1), (MAX_INDEX, SEQ_MASK as u32), (12345, 678)] {
            assert_eq!(unpack(pack(i, s)), (i, s));
        }
        assert_eq!(next_seq(SEQ_MASK as u32), 1);
        assert_eq!(next_seq(0), 1);
        assert_ne!(pack(0, 1), crate::sys::WAKE_TOKEN);
    }
}
