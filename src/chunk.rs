//! Line-aligned chunking of a byte slice.
//!
//! Invariant: the returned ranges are non-empty, contiguous, cover `0..data.len()` exactly,
//! and every boundary sits at 0, at `data.len()`, or right after a `\n`. So no line is split
//! or duplicated — including when a candidate cut falls right after a newline, between `\r`
//! and `\n`, or inside a line longer than the chunk size (that chunk simply grows).

use memchr::{memchr, memrchr};
use std::ops::Range;

/// Split `data` into line-aligned ranges of roughly `target` bytes (at least 1): the
/// non-empty results of [`nth_chunk`] for every slot.
pub fn line_chunks(data: &[u8], target: usize) -> Vec<Range<usize>> {
    (0..slot_count(data.len(), target))
        .map(|k| nth_chunk(data, k, target))
        .filter(|r| !r.is_empty())
        .collect()
}

/// How many nominal slots of `target` bytes cover `len` bytes.
pub fn slot_count(len: usize, target: usize) -> usize {
    len.div_ceil(target.max(1))
}

/// Chunk `k`: from the first line boundary at or after `k * target` to the first at or after
/// `(k + 1) * target`. Each chunk is found on its own, so a worker touches a chunk's boundary
/// pages only when it scans that chunk (finding every boundary up front would fault pages
/// all over a mapped file at once). Empty when one line spans the whole slot.
pub fn nth_chunk(data: &[u8], k: usize, target: usize) -> Range<usize> {
    let target = target.max(1);
    let lo = k.saturating_mul(target).min(data.len());
    let Some(start) = chunk_start(data, k, target) else {
        return lo..lo;
    };
    let end = next_boundary(data, lo.saturating_add(target));
    start..end.max(start)
}

/// Where chunk `k` starts: the first line boundary at or after `k * target` inside its slot,
/// or `None` when no line starts in the slot (or the slot is past the end).
pub fn chunk_start(data: &[u8], k: usize, target: usize) -> Option<usize> {
    let target = target.max(1);
    let lo = k.saturating_mul(target);
    if lo >= data.len() {
        return None;
    }
    if k == 0 {
        return Some(0);
    }
    // The first boundary at or after `lo` must lie inside this slot, or the chunk is empty:
    // search only the slot, so a long line costs each slot it spans `target` bytes, not the
    // rest of the line (that would be quadratic for tiny chunks).
    let hi = lo.saturating_add(target).min(data.len());
    memchr(b'\n', &data[lo - 1..hi - 1]).map(|i| lo + i)
}

/// First line boundary at or after `candidate` (capped at `data.len()`).
pub fn next_boundary(data: &[u8], candidate: usize) -> usize {
    boundary_within(data, candidate, usize::MAX).unwrap_or(data.len())
}

/// [`next_boundary`], if it is at most `within` bytes past `candidate`; `None` for a line
/// going on further (a mapped file reads such a line window by window).
pub fn boundary_within(data: &[u8], candidate: usize, within: usize) -> Option<usize> {
    if candidate >= data.len() {
        return Some(data.len());
    }
    // `candidate` is a boundary itself at the start, or when the byte before it ends a line.
    if candidate == 0 || data[candidate - 1] == b'\n' {
        return Some(candidate);
    }
    let limit = candidate.saturating_add(within).min(data.len());
    match memchr(b'\n', &data[candidate..limit]) {
        Some(i) => Some(candidate + i + 1),
        None if limit == data.len() => Some(data.len()),
        None => None,
    }
}

/// The last line boundary in `from..=before`: where the line holding byte `before` starts.
pub fn last_boundary(data: &[u8], from: usize, before: usize) -> usize {
    let before = before.min(data.len());
    memrchr(b'\n', &data[from..before]).map_or(from, |i| from + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(data: &[u8], target: usize) {
        let ranges = line_chunks(data, target);
        let mut pos = 0;
        for r in &ranges {
            assert_eq!(r.start, pos, "contiguous");
            assert!(r.end > r.start, "non-empty");
            assert!(
                r.start == 0 || data[r.start - 1] == b'\n',
                "starts at a line start"
            );
            pos = r.end;
        }
        assert_eq!(pos, data.len(), "covers everything");
        let rejoined: Vec<&[u8]> = ranges
            .iter()
            .flat_map(|r| data[r.clone()].split_inclusive(|&b| b == b'\n'))
            .collect();
        assert_eq!(rejoined.concat(), data);
        if !data.is_empty() {
            let expected: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
            assert_eq!(rejoined, expected, "the same lines, none split");
        }
    }

    /// The contract the mapped path relies on: a boundary at or after `candidate`, `None` only
    /// for a line that goes on past `within` bytes and before the end of the data.
    #[test]
    fn boundaries_found_within_their_limits() {
        let data = b"ab\ncdefgh\nij";
        assert_eq!(boundary_within(data, 0, 1), Some(0));
        assert_eq!(boundary_within(data, 3, 2), Some(3));
        assert_eq!(boundary_within(data, 1, 2), Some(3));
        assert_eq!(boundary_within(data, 4, 6), Some(10));
        assert_eq!(boundary_within(data, 4, 5), None);
        assert_eq!(boundary_within(data, 11, 0), None);
        assert_eq!(boundary_within(data, 11, 1), Some(data.len()));
        assert_eq!(boundary_within(data, 12, 1), Some(data.len()));
        assert_eq!(boundary_within(data, 99, 1), Some(data.len()));
        assert_eq!(next_boundary(data, 4), 10);
        assert_eq!(next_boundary(data, 11), data.len());
        assert_eq!(last_boundary(data, 0, 5), 3);
        assert_eq!(last_boundary(data, 0, 2), 0);
        assert_eq!(last_boundary(data, 4, 11), 10);
        assert_eq!(last_boundary(data, 0, 99), 10);
    }

    #[test]
    fn edge_cases() {
        assert!(line_chunks(b"", 4).is_empty());
        assert_eq!(line_chunks(b"ab\ncd\n", 3), vec![0..3, 3..6]);
        assert_eq!(line_chunks(b"ab\r\ncd", 3), vec![0..4, 4..6]);
        assert_eq!(line_chunks(b"abcdefgh\nx", 2), vec![0..9, 9..10]);
        assert_eq!(line_chunks(b"\n\n\n", 1), vec![0..1, 1..2, 2..3]);
        check(b"a\r\nb\r\n\r\nccccccc\nd", 2);
    }

    proptest! {
        #[test]
        fn chunks_partition_lines(data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..300), target in 1usize..400) {
            check(&data, target);
        }
    }
}
