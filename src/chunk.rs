//! Line-aligned chunking of a byte slice.
//!
//! Invariant: the returned ranges are non-empty, contiguous, cover `0..data.len()` exactly,
//! and every boundary sits at 0, at `data.len()`, or right after a `\n`. So no line is split
//! or duplicated — including when a candidate cut falls right after a newline, between `\r`
//! and `\n`, or inside a line longer than the chunk size (that chunk simply grows).

use memchr::memchr;
use std::ops::Range;

/// Split `data` into line-aligned ranges of roughly `target` bytes (at least 1).
pub fn line_chunks(data: &[u8], target: usize) -> Vec<Range<usize>> {
    let target = target.max(1);
    let mut ranges = Vec::with_capacity(data.len() / target + 1);
    let mut start = 0;
    while start < data.len() {
        let end = next_boundary(data, start.saturating_add(target));
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// First line boundary at or after `candidate` (capped at `data.len()`).
pub fn next_boundary(data: &[u8], candidate: usize) -> usize {
    if candidate >= data.len() {
        return data.len();
    }
    // `candidate` is a boundary itself when the byte before it ends a line.
    if candidate > 0 && data[candidate - 1] == b'\n' {
        return candidate;
    }
    match memchr(b'\n', &data[candidate..]) {
        Some(i) => candidate + i + 1,
        None => data.len(),
    }
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
