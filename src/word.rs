//! Tests of eight bytes at a time: a "word test" maps a little-endian `u64` of eight bytes
//! to the top bit of each byte it marks (a byte to escape, a non-digit), and [`next_marked`]
//! finds the first marked byte of a slice with it.
//!
//! Invariant: a word test is exact per byte, its top bits set aside so that no addition
//! carries from one byte into the next; each is checked against its byte rule for every byte
//! value at every place (`assert_word_marks`, in tests).

/// `0x01` in every byte of a word.
pub const BYTES: u64 = 0x0101_0101_0101_0101;
/// The low seven bits of every byte.
pub const LOW_BITS: u64 = BYTES * 0x7f;
/// The top bit of every byte.
pub const TOP_BITS: u64 = BYTES * 0x80;

/// The top bit of each byte of `word` that is not zero, the others clear. Exact per byte:
/// the top bits are set aside, so no addition carries into the next byte.
#[inline(always)]
pub fn nonzero_bytes(word: u64) -> u64 {
    (((word & LOW_BITS) + LOW_BITS) | word) & TOP_BITS
}

/// The index of the first byte at or after `from` whose top bit `marks` sets in a word
/// (eight bytes, little-endian) holding it; `marks` must be exact per byte. Eight bytes are
/// tested at once, the tail in one zero-padded word.
#[inline]
pub fn next_marked(bytes: &[u8], from: usize, marks: impl Fn(u64) -> u64) -> Option<usize> {
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let found = marks(u64::from_le_bytes(eight));
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let tail = bytes.get(i..)?;
    if tail.is_empty() {
        return None;
    }
    let mut eight = [0u8; 8];
    eight[..tail.len()].copy_from_slice(tail);
    // Only the tail's own bytes count: the padding may be marked too (a zero byte is).
    let found = marks(u64::from_le_bytes(eight)) & (u64::MAX >> (64 - 8 * tail.len()));
    (found != 0).then(|| i + (found.trailing_zeros() / 8) as usize)
}

/// Check a word test byte by byte: every byte value at every place
/// of `background`, marked exactly where `marked` says (`background` itself unmarked).
#[cfg(test)]
pub(crate) fn assert_word_marks(
    marks: impl Fn(u64) -> u64,
    background: [u8; 8],
    marked: impl Fn(u8) -> bool,
) {
    for b in 0..=255u8 {
        for at in 0..8 {
            let mut bytes = background;
            bytes[at] = b;
            let expect = if marked(b) { 0x80u64 << (8 * at) } else { 0 };
            assert_eq!(marks(u64::from_le_bytes(bytes)), expect, "byte {b} at {at}");
        }
    }
}
