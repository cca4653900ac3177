//! Where the newlines and quotes of a chunk are, as bitmaps: one bit per byte, 64 bytes per
//! word, built with SIMD compares one window (16 KiB, with its bitmaps well inside L1) at a time.
//!
//! The hot loop asks two questions per line, "where does this line end" and "where is the
//! next quote"; answered by a `memchr` call each, the per-call setup on ~220-byte lines was
//! about a fifth of the single-core time. Here both come from one pass of wide compares per
//! window and a trailing-zero count per answer.
//!
//! Invariant: for every `i < len`, bit `i % 64` of word `i / 64` of `newline` (`quote`) is
//! set iff `data[start + i]` is `\n` (`"`); bits at `len` and beyond are clear; bit `k` of
//! the summary is set iff newline word `k` is not zero. Answers are exact for any input: a
//! line longer than a window falls back to `memchr`.

use memchr::memchr;

const WINDOW_WORDS: usize = 256;
/// How far ahead of the bytes being classified [`Bitmaps::fill`] asks for memory. The fill is
/// where each byte is first read from memory, and the hardware's stream prefetcher does not
/// cross a 4 KiB page, so every page began with a wait; one page ahead (4-8 KiB measured the
/// same, 1 KiB or a whole window did nothing) made the scan without failed lines 3-4 %
/// faster. A prefetch never faults, so reading past the data is harmless.
const PREFETCH_AHEAD: usize = 4096;
const WINDOW_BYTES: usize = WINDOW_WORDS * 64;
/// Words [`first_set`] reads at once; the arrays have as many spare words after a window,
/// kept clear, so the reads need no bound check.
const LOOKAHEAD: usize = 4;
const WORDS: usize = WINDOW_WORDS + LOOKAHEAD;
/// Words of [`Bitmaps::summary`]: one bit per newline word, and two spare words kept clear
/// (a two-word read just past the last word needs no bound check).
const SUMMARY_WORDS: usize = WINDOW_WORDS / 64 + 2;

pub struct Bitmaps {
    start: usize,
    len: usize,
    newline: [u64; WORDS],
    quote: [u64; WORDS],
    /// Bit `k % 64` of word `k / 64` is set iff `newline[k]` is not zero (`k` below the
    /// window's words). A line of ~220 bytes ends three or four words on: the summary finds
    /// that word with one two-word read instead of a test of each.
    summary: [u64; SUMMARY_WORDS],
    #[cfg(target_arch = "x86_64")]
    avx2: bool,
}

impl Default for Bitmaps {
    fn default() -> Self {
        Self::new()
    }
}

impl Bitmaps {
    pub fn new() -> Self {
        Bitmaps {
            start: 0,
            len: 0,
            newline: [0; WORDS],
            quote: [0; WORDS],
            summary: [0; SUMMARY_WORDS],
            #[cfg(target_arch = "x86_64")]
            avx2: std::is_x86_feature_detected!("avx2"),
        }
    }

    /// Index of the first `\n` at or after `pos` in `data`, or `data.len()` if none (also
    /// for `pos` at or past the end).
    /// Calls should move forward through `data` (each window is built once).
    #[inline(always)]
    pub fn line_end(&mut self, data: &[u8], pos: usize) -> usize {
        let window_end = self.start + self.len;
        if pos >= self.start && pos < window_end {
            if let Some(i) = self.next_newline(pos - self.start) {
                return self.start + i;
            }
            if window_end == data.len() {
                return data.len();
            }
        }
        if pos >= data.len() {
            return data.len();
        }
        self.fill(data, pos);
        if let Some(i) = self.next_newline(0) {
            return pos + i;
        }
        // A line longer than a window.
        let window_end = self.start + self.len;
        memchr(b'\n', &data[window_end..]).map_or(data.len(), |i| window_end + i)
    }

    /// Index in the window of its first newline at or after `offset` (below its length).
    #[inline(always)]
    fn next_newline(&self, offset: usize) -> Option<usize> {
        let w = offset / 64;
        let here = self.newline[w] & (u64::MAX << (offset % 64));
        if here != 0 {
            return Some(w * 64 + here.trailing_zeros() as usize);
        }
        // The next word holding one: `after` is at most WINDOW_WORDS, so the two summary
        // words read are in bounds (the spare ones are clear).
        let after = w + 1;
        let s = after / 64;
        let pair = self.summary[s] as u128 | (self.summary[s + 1] as u128) << 64;
        let ahead = pair >> (after % 64);
        let k = match ahead {
            0 => {
                let j = (s + 2..SUMMARY_WORDS).find(|&j| self.summary[j] != 0)?;
                j * 64 + self.summary[j].trailing_zeros() as usize
            }
            _ => after + ahead.trailing_zeros() as usize,
        };
        Some(k * 64 + self.newline[k].trailing_zeros() as usize)
    }

    /// Index of the first `"` in `data[from..end]`, if any. `end` is the line end returned
    /// by the last [`Self::line_end`] and `from` lies on that line.
    #[inline(always)]
    pub fn quote_before(&self, data: &[u8], from: usize, end: usize) -> Option<usize> {
        if from >= self.start && end <= self.start + self.len {
            // Requests are short (a few dozen bytes), so the closing quote is nearly always
            // within the 64 bits after `from`: two words read as one u128 find it without
            // `first_set`'s lookahead and without a branch on whether it crossed a word (the
            // whole scan: 7 % fewer instructions). `w + 1` is in bounds, and clear past the
            // window's end: the spare words after a window are kept clear.
            let offset = from - self.start;
            let w = offset / 64;
            let pair = self.quote[w] as u128 | (self.quote[w + 1] as u128) << 64;
            let ahead = pair >> (offset % 64);
            if ahead != 0 {
                let q = from + ahead.trailing_zeros() as usize;
                return (q < end).then_some(q);
            }
            first_set(&self.quote, offset, self.len)
                .map(|i| self.start + i)
                .filter(|&q| q < end)
        } else {
            let slice = data.get(from..end)?;
            memchr(b'"', slice).map(|i| from + i)
        }
    }

    /// Build the window starting at `pos`.
    fn fill(&mut self, data: &[u8], pos: usize) {
        let window = &data[pos.min(data.len())..data.len().min(pos.saturating_add(WINDOW_BYTES))];
        self.start = pos;
        self.len = window.len();
        let words = window.len() / 64;
        #[cfg(target_arch = "x86_64")]
        let done = {
            if self.avx2 {
                // SAFETY: AVX2 was detected at run time.
                unsafe { fill_avx2(window, &mut self.newline, &mut self.quote) };
            } else {
                fill_sse2(window, &mut self.newline, &mut self.quote);
            }
            words
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for k in done..words {
            (self.newline[k], self.quote[k]) = block_scalar(&window[64 * k..64 * k + 64]);
        }
        let tail = &window[64 * words..];
        if !tail.is_empty() {
            (self.newline[words], self.quote[words]) = block_scalar(tail);
        }
        // A short (last) window leaves an earlier window's words after it.
        let used = window.len().div_ceil(64);
        self.newline[used..used + LOOKAHEAD].fill(0);
        self.quote[used..used + LOOKAHEAD].fill(0);
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: AVX2 was detected at run time.
            unsafe { summarize_avx2(&self.newline, used, &mut self.summary) };
        } else {
            summarize(&self.newline, used, &mut self.summary);
        }
        #[cfg(not(target_arch = "x86_64"))]
        summarize(&self.newline, used, &mut self.summary);
        // Words past the window's may be an earlier window's.
        for (j, word) in self.summary.iter_mut().enumerate() {
            *word &= match used.saturating_sub(64 * j) {
                0 => 0,
                n if n >= 64 => u64::MAX,
                n => (1 << n) - 1,
            };
        }
    }
}

/// Index of the first set bit at or after `from`, below `len`.
#[inline(always)]
fn first_set(words: &[u64; WORDS], from: usize, len: usize) -> Option<usize> {
    let last = len.div_ceil(64).min(WINDOW_WORDS);
    let w = from / 64;
    if w >= last {
        return None;
    }
    // The answer is nearly always within a few words (lines are a few hundred bytes), but how
    // many varies line to line: a word-by-word loop mispredicts its exit about once a call.
    // So the next LOOKAHEAD words are tested at once (the words from `last` on are clear).
    let mut near: [u64; LOOKAHEAD] = std::array::from_fn(|k| words[w + k]);
    near[0] &= u64::MAX << (from % 64);
    let nonzero = near
        .iter()
        .enumerate()
        .fold(0u32, |m, (k, &bits)| m | ((bits != 0) as u32) << k);
    if nonzero != 0 {
        let k = nonzero.trailing_zeros() as usize;
        return Some((w + k) * 64 + near[k].trailing_zeros() as usize);
    }
    (w + LOOKAHEAD..last)
        .find(|&k| words[k] != 0)
        .map(|k| k * 64 + words[k].trailing_zeros() as usize)
}

/// Masks of up to 64 bytes, one byte at a time (tails, other architectures).
fn block_scalar(block: &[u8]) -> (u64, u64) {
    let (mut n, mut q) = (0u64, 0u64);
    for (i, &b) in block.iter().enumerate().take(64) {
        n |= ((b == b'\n') as u64) << i;
        q |= ((b == b'"') as u64) << i;
    }
    (n, q)
}

#[cfg(target_arch = "x86_64")]
fn fill_sse2(window: &[u8], newline: &mut [u64; WORDS], quote: &mut [u64; WORDS]) {
    use std::arch::x86_64::*;
    for (k, block) in window.chunks_exact(64).take(WINDOW_WORDS).enumerate() {
        // SAFETY: a prefetch is a hint: it never faults and never changes memory.
        unsafe {
            _mm_prefetch(
                block.as_ptr().wrapping_add(PREFETCH_AHEAD).cast::<i8>(),
                _MM_HINT_T0,
            );
        }
        let (mut n, mut q) = (0u64, 0u64);
        for part in 0..4 {
            // SAFETY: SSE2 is baseline on x86_64; `block` has 64 bytes, so 16 at
            // 16 * part are in bounds.
            unsafe {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * part).cast());
                let nl = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)));
                let qu = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)));
                n |= (nl as u16 as u64) << (16 * part);
                q |= (qu as u16 as u64) << (16 * part);
            }
        }
        newline[k] = n;
        quote[k] = q;
    }
}

/// [`Bitmaps::summary`] of a window's `used` words (and up to three more, cleared or masked
/// by the caller, to end a group of four); not the words past them: a small file's window
/// is a word or two of the 256.
fn summarize(newline: &[u64; WORDS], used: usize, summary: &mut [u64; SUMMARY_WORDS]) {
    *summary = [0; SUMMARY_WORDS];
    let words = used.next_multiple_of(4).min(WINDOW_WORDS);
    for (k, &word) in newline[..words].iter().enumerate() {
        summary[k / 64] |= ((word != 0) as u64) << (k % 64);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn summarize_avx2(newline: &[u64; WORDS], used: usize, summary: &mut [u64; SUMMARY_WORDS]) {
    use std::arch::x86_64::*;
    *summary = [0; SUMMARY_WORDS];
    let zero = _mm256_setzero_si256();
    let groups = |words: usize, summary: &mut [u64; SUMMARY_WORDS]| {
        for (j, group) in newline[..words].chunks_exact(4).enumerate() {
            // SAFETY (caller): AVX2 is present; `group` has four words.
            let words = _mm256_loadu_si256(group.as_ptr().cast());
            let empty = _mm256_castsi256_pd(_mm256_cmpeq_epi64(words, zero));
            let full = !_mm256_movemask_pd(empty) as u64 & 0xf;
            summary[j / 16] |= full << (4 * (j % 16));
        }
    };
    // A whole window (nearly every one) as a loop of known length, as before short ones
    // were summarized only as far as they go: the variable bound cost ~190 instructions a
    // window.
    match used >= WINDOW_WORDS {
        true => groups(WINDOW_WORDS, summary),
        false => groups(used.next_multiple_of(4), summary),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(window: &[u8], newline: &mut [u64; WORDS], quote: &mut [u64; WORDS]) {
    use std::arch::x86_64::*;
    let nl = _mm256_set1_epi8(b'\n' as i8);
    let qu = _mm256_set1_epi8(b'"' as i8);
    // The masks of the 64 bytes at `block`, fetched a page ahead.
    let masks = |block: *const u8| {
        _mm_prefetch(block.wrapping_add(PREFETCH_AHEAD).cast::<i8>(), _MM_HINT_T0);
        // SAFETY (caller): AVX2 is present; `block` has 64 bytes, two 32-byte loads.
        let lo = _mm256_loadu_si256(block.cast());
        let hi = _mm256_loadu_si256(block.add(32).cast());
        let n_lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, nl)) as u32 as u64;
        let n_hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, nl)) as u32 as u64;
        let q_lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, qu)) as u32 as u64;
        let q_hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, qu)) as u32 as u64;
        (n_lo | (n_hi << 32), q_lo | (q_hi << 32))
    };
    let words = (window.len() / 64).min(WINDOW_WORDS);
    let mut k = 0;
    // Two words an iteration: the loop's own instructions were a fifth of its count.
    while k + 2 <= words {
        let block = window.as_ptr().add(64 * k);
        let (n0, q0) = masks(block);
        let (n1, q1) = masks(block.add(64));
        newline[k] = n0;
        quote[k] = q0;
        newline[k + 1] = n1;
        quote[k + 1] = q1;
        k += 2;
    }
    if k < words {
        (newline[k], quote[k]) = masks(window.as_ptr().add(64 * k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn newline_ends(data: &[u8], bitmaps: &mut Bitmaps) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let end = bitmaps.line_end(data, pos);
            ends.push(end);
            pos = end + 1;
        }
        ends
    }

    fn reference_ends(data: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let end = data[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |i| pos + i);
            ends.push(end);
            pos = end + 1;
        }
        ends
    }

    #[test]
    fn lines_longer_than_a_window_and_window_edges() {
        for len in [
            0,
            1,
            63,
            64,
            65,
            WINDOW_BYTES - 1,
            WINDOW_BYTES,
            WINDOW_BYTES + 1,
        ] {
            let mut data = vec![b'a'; len];
            data.extend_from_slice(b"\n\"x\"\nlast");
            data.extend(std::iter::repeat_n(b'b', 3 * WINDOW_BYTES + 5));
            data.push(b'\n');
            let mut b = Bitmaps::new();
            assert_eq!(newline_ends(&data, &mut b), reference_ends(&data), "{len}");
            let end = b.line_end(&data, len + 1);
            assert_eq!(end, len + 4);
            assert_eq!(b.quote_before(&data, len + 1, end), Some(len + 1));
            assert_eq!(b.quote_before(&data, len + 2, end), Some(len + 3));
            assert_eq!(b.quote_before(&data, len + 4, end), None);
            assert_eq!(b.line_end(&data, data.len() + 3), data.len());
        }
    }

    /// Line ends a word, a summary word (64 words) and two on, from every alignment.
    #[test]
    fn line_ends_near_and_far_within_a_window() {
        for align in [0, 1, 37, 63] {
            let mut data = vec![b'a'; align];
            for len in [
                0, 1, 63, 64, 65, 255, 4095, 4096, 4097, 8191, 8192, 8193, 12000,
            ] {
                data.extend(std::iter::repeat_n(b'x', len));
                data.push(b'\n');
            }
            // Both builds of the summary (the scalar one on CPUs without AVX2).
            let mut b = Bitmaps::new();
            assert_eq!(
                newline_ends(&data, &mut b),
                reference_ends(&data),
                "{align}"
            );
            #[cfg(target_arch = "x86_64")]
            {
                let mut b = Bitmaps::new();
                b.avx2 = false;
                assert_eq!(
                    newline_ends(&data, &mut b),
                    reference_ends(&data),
                    "{align}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_summaries_agree() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut newline = [0u64; WORDS];
        for (k, word) in newline.iter_mut().enumerate() {
            *word = match (k * 7 + k / 5) % 4 {
                1 => 1 << (k % 64),
                2 => u64::MAX,
                _ => 0,
            };
        }
        // A whole window, a short one in each place of a group of four, none.
        for used in [WINDOW_WORDS, 0, 1, 2, 3, 4, 5, 63, 64, 65, 200, 255] {
            let (mut scalar, mut wide) = ([7; SUMMARY_WORDS], [7; SUMMARY_WORDS]);
            summarize(&newline, used, &mut scalar);
            // SAFETY: AVX2 was detected above.
            unsafe { summarize_avx2(&newline, used, &mut wide) };
            assert_eq!(scalar, wide, "{used} words");
            // The words used are summarized; from the end of their group of four on, none.
            let read = used.next_multiple_of(4);
            let expect: Vec<bool> = (0..WINDOW_WORDS)
                .map(|k| k < read && newline[k] != 0)
                .collect();
            let got: Vec<bool> = (0..WINDOW_WORDS)
                .map(|k| scalar[k / 64] >> (k % 64) & 1 == 1)
                .collect();
            assert_eq!(got, expect, "{used} words");
            assert_eq!(scalar[WINDOW_WORDS / 64..], [0, 0]);
        }
    }

    #[test]
    fn quotes_near_and_past_the_two_word_reach() {
        // Every alignment of `from`, and a quote 0-200 bytes on (the two-word read covers 64
        // to 127 bits, the lookahead the rest), or none before the line end.
        for align in 0..64 {
            for gap in 0..200 {
                let mut data = vec![b'a'; align + gap + 300];
                data[align + gap] = b'"';
                let end = data.len() - 1;
                data[end] = b'\n';
                let mut b = Bitmaps::new();
                assert_eq!(b.line_end(&data, 0), end);
                let expect = (align + gap < end).then_some(align + gap);
                assert_eq!(b.quote_before(&data, align, end), expect, "{align} {gap}");
                assert_eq!(b.quote_before(&data, align, align + gap), None);
                if gap > 0 {
                    assert_eq!(b.quote_before(&data, align + gap + 1, end), None);
                }
            }
        }
        // In the window's last word, where the second word read is a spare one.
        let mut data = vec![b'a'; WINDOW_BYTES + 100];
        data[WINDOW_BYTES - 5] = b'\n';
        let mut b = Bitmaps::new();
        assert_eq!(b.line_end(&data, 0), WINDOW_BYTES - 5);
        assert_eq!(
            b.quote_before(&data, WINDOW_BYTES - 60, WINDOW_BYTES - 5),
            None
        );
        data[WINDOW_BYTES - 10] = b'"';
        let mut b = Bitmaps::new();
        assert_eq!(b.line_end(&data, 0), WINDOW_BYTES - 5);
        let quote = b.quote_before(&data, WINDOW_BYTES - 60, WINDOW_BYTES - 5);
        assert_eq!(quote, Some(WINDOW_BYTES - 10));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_and_avx2_fills_agree_with_the_scalar_masks() {
        let data: Vec<u8> = (0..WINDOW_BYTES + 100)
            .map(|i| [b'\n', b'"', b'a', 0, 0xff][(i * 7 + i / 3) % 5])
            .collect();
        // A whole window, and short ones of an odd and an even number of words and a tail.
        for len in [data.len(), 3 + 64 * 5 + 10, 3 + 64 * 6, 3 + 64] {
            let data = &data[..len];
            let mut sse2 = Bitmaps::new();
            sse2.avx2 = false;
            sse2.fill(data, 3);
            let mut best = Bitmaps::new();
            best.fill(data, 3);
            let words = (len - 3).div_ceil(64).min(WINDOW_WORDS);
            for k in 0..words + LOOKAHEAD {
                let expect = match k < words {
                    true => block_scalar(&data[3 + 64 * k..(3 + 64 * (k + 1)).min(len)]),
                    false => (0, 0), // the spare words after a window
                };
                assert_eq!((sse2.newline[k], sse2.quote[k]), expect, "{len} {k}");
                assert_eq!((best.newline[k], best.quote[k]), expect, "{len} {k}");
            }
        }
    }

    proptest! {
        #[test]
        fn line_ends_and_quotes_match_a_byte_loop(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'"'), Just(b'a')], 0..300),
            repeat in 1usize..300,
        ) {
            let data: Vec<u8> = data.iter().copied().cycle().take(data.len() * repeat).collect();
            let mut b = Bitmaps::new();
            prop_assert_eq!(newline_ends(&data, &mut b), reference_ends(&data));
            let mut b = Bitmaps::new();
            let mut pos = 0;
            while pos < data.len() {
                let end = b.line_end(&data, pos);
                for from in pos..end {
                    let expect = data[from..end].iter().position(|&c| c == b'"').map(|i| from + i);
                    prop_assert_eq!(b.quote_before(&data, from, end), expect);
                }
                pos = end + 1;
            }
        }
    }
}
