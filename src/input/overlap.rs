//! Duplicate content across inputs, found by content (never by name).
//!
//! Two cases happen in real archives: the same archive present twice under two names, and
//! the seed's daily copies of a live log that was never rotated, where each day's copy starts
//! with the whole previous copy. Invariant: after [`plan`], every byte of content is scanned
//! in exactly one input — an input identical to an earlier one is skipped whole, and an input
//! that starts with another input's complete content skips that prefix (up to its last full
//! line; a partial last line of the shorter copy is counted in the longer one, where it is
//! complete). Prefixes are verified byte for byte, never assumed from a hash.

use ahash::AHashMap;
use memchr::{memchr, memchr_iter, memrchr};

/// The most of a file's first line hashed to group candidate files cheaply.
const HEAD: usize = 4096;

/// Earlier members a file is compared with byte for byte before the rest are screened by
/// hash: the usual match (a daily copy and the copy before it) is the first one, and needs
/// no hash; many files sharing a first line without covering each other (a shared 50 KB
/// prefix and a different last line each) cost a comparison with every earlier one: 4,000
/// such files took 26 s.
const DIRECT_COMPARISONS: usize = 2;

/// What to scan of one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlap {
    /// Bytes at the start already counted in another input (`covered_by`).
    pub skip: usize,
    /// Physical lines in those bytes.
    pub skip_lines: u64,
    /// The input whose content covers the skipped bytes.
    pub covered_by: Option<usize>,
    /// Scan only up to here: the rest is a partial last line completed in `continued_in`.
    pub stop: Option<usize>,
    pub continued_in: Option<usize>,
}

/// `contents[i]`: the bytes of input i where available (a mapped regular file, or the
/// decoded text of a `.gz` one), and whether they are plain text (prefix overlap only makes
/// sense for plain text; identical compressed archives are still caught).
pub fn plan(contents: &[Option<(&[u8], bool)>]) -> Vec<Overlap> {
    plan_with(contents, &|_| {})
}

/// [`plan`], calling `forget` on each window of [`WINDOW`] bytes that a comparison, a hash
/// or a line count has read (on mapped files, to drop their pages from the page tables as
/// it goes: comparing a week of daily copies reads all of them).
pub fn plan_with(contents: &[Option<(&[u8], bool)>], forget: &dyn Fn(&[u8])) -> Vec<Overlap> {
    // A byte order mark is no content (the scanner drops it): a copy saved with one (by an
    // editor) beside the same text without one counted twice. Plain texts are compared
    // after their marks, and the plan's offsets moved past them again. Not a mark followed
    // by NUL padding: the scanner drops padding only before a mark, so after one the NULs
    // are the line's, and the same text without the mark reads as another line.
    let marks: Vec<usize> = contents
        .iter()
        .map(|c| match c {
            Some((data, true)) => match crate::scan::line::bom_len(data) {
                mark if data.get(mark) == Some(&0) => 0,
                mark => mark,
            },
            _ => 0,
        })
        .collect();
    let texts: Vec<Option<(&[u8], bool)>> = contents
        .iter()
        .zip(&marks)
        .map(|(c, &mark)| c.map(|(data, plain)| (&data[mark..], plain)))
        .collect();
    let mut result = plan_texts(&texts, forget);
    for (o, &mark) in result.iter_mut().zip(&marks) {
        if o.skip > 0 {
            o.skip += mark;
        }
        // A stop at 0 scans nothing, the mark included.
        o.stop = o.stop.map(|s| if s > 0 { s + mark } else { 0 });
    }
    result
}

/// [`plan_with`] on texts without byte order marks.
fn plan_texts(contents: &[Option<(&[u8], bool)>], forget: &dyn Fn(&[u8])) -> Vec<Overlap> {
    let mut result = vec![Overlap::default(); contents.len()];
    // Candidates share their first line (up to HEAD bytes): a copy and a file that starts
    // with it do, however short the copy (a quiet day's first copy is under a page).
    let mut groups: AHashMap<u64, Vec<usize>> = AHashMap::new();
    // Files that are one short unterminated line (a copy taken in the middle of its first
    // line): their whole content is the start of a longer file's first line, whose group key
    // (the line with its `\n`) they cannot share. Matched against every file afterwards.
    let mut lineless = vec![false; contents.len()];
    for (i, c) in contents.iter().enumerate() {
        if let Some((data, _)) = c {
            if data.is_empty() {
                continue;
            }
            let first_line = first_line(data);
            if first_line.len() == data.len() && data.last() != Some(&b'\n') {
                lineless[i] = true;
            }
            groups.entry(hash(first_line)).or_default().push(i);
        }
    }
    let mut keys: Vec<_> = groups.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let mut members = groups.remove(&key).unwrap_or_default();
        if members.len() < 2 {
            continue;
        }
        let len = |i: usize| contents[i].map_or(0, |(d, _)| d.len());
        members.sort_by_key(|&i| (len(i), i));
        // Each member's whole-content hash, made when first needed.
        let mut whole: Vec<Option<u64>> = vec![None; members.len()];
        for (pos, &f) in members.iter().enumerate() {
            let Some((fdata, fplain)) = contents[f] else {
                continue;
            };
            // f's prefix hashes at the earlier members' lengths, made once the direct
            // comparisons are spent.
            let mut prefixes: Option<AHashMap<usize, u64>> = None;
            let mut direct = DIRECT_COMPARISONS;
            // The longest earlier member (shorter, or equal and listed first) that covers f.
            for (at, &g) in members[..pos].iter().enumerate().rev() {
                let Some((gdata, gplain)) = contents[g] else {
                    continue;
                };
                if gdata.len() != fdata.len() && !(fplain && gplain) {
                    continue;
                }
                // A member that covers f has f's prefix of its length, so equal hashes; a
                // hash that differs skips the byte comparison (which stays the proof).
                if direct > 0 {
                    direct -= 1;
                } else {
                    let prefixes = prefixes.get_or_insert_with(|| {
                        // Ascending, as the members are sorted.
                        let mut lens: Vec<usize> = members[..pos].iter().map(|&i| len(i)).collect();
                        lens.dedup();
                        let hashes = prefix_hashes(fdata, &lens, forget);
                        lens.into_iter().zip(hashes).collect()
                    });
                    let g_hash = *whole[at]
                        .get_or_insert_with(|| prefix_hashes(gdata, &[gdata.len()], forget)[0]);
                    if prefixes.get(&gdata.len()) != Some(&g_hash) {
                        continue;
                    }
                }
                // A copy skipped whole stands for the input it copies: that one is scanned,
                // so that is the one whose partial last line a longer input completes.
                let original = result[g]
                    .covered_by
                    .filter(|_| result[g].skip == gdata.len())
                    .unwrap_or(g);
                if gdata.len() == fdata.len() {
                    if equal(gdata, fdata, forget) {
                        result[f] = Overlap {
                            skip: fdata.len(),
                            // Compressed bytes have no lines: the original's count is
                            // taken once it is scanned.
                            skip_lines: if fplain { lines_in(fdata, forget) } else { 0 },
                            covered_by: Some(original),
                            ..Overlap::default()
                        };
                        break;
                    }
                } else if fplain && gplain && starts_with(fdata, gdata, forget) {
                    // Skip g's complete lines; g's partial last line (a copy taken mid-write)
                    // is completed in f, so it is counted here and no longer in g.
                    let full = memrchr(b'\n', gdata).map_or(0, |i| i + 1);
                    if full < gdata.len() && result[original].continued_in.is_none() {
                        result[original].stop = Some(full);
                        result[original].continued_in = Some(f);
                    }
                    if full == 0 {
                        // No complete line in g (its only line is cut): nothing in f is
                        // covered; g's fragment is counted in f, where it is complete.
                        break;
                    }
                    let keep_stop = result[f].stop;
                    let keep_cont = result[f].continued_in;
                    result[f] = Overlap {
                        skip: full,
                        skip_lines: lines_in(&fdata[..full], forget),
                        covered_by: Some(original),
                        stop: keep_stop,
                        continued_in: keep_cont,
                    };
                    break;
                }
            }
        }
    }
    // A short unterminated line that starts a longer plain file is counted there, where it
    // goes on, and not in its own file: the shortest such file whose first line is complete,
    // else the longest (another fragment, which is scanned, being the longest).
    for g in (0..contents.len()).filter(|&g| lineless[g]) {
        let Some((gdata, true)) = contents[g] else {
            continue;
        };
        if result[g].covered_by.is_some() || result[g].continued_in.is_some() {
            continue;
        }
        let len = |f: usize| contents[f].map_or(0, |(d, _)| d.len());
        let longer: Vec<usize> = (0..contents.len())
            .filter(|&f| match contents[f] {
                Some((fdata, true)) => fdata.len() > gdata.len() && fdata.starts_with(gdata),
                _ => false,
            })
            .collect();
        let completed = longer
            .iter()
            .copied()
            .filter(|&f| !lineless[f])
            .min_by_key(|&f| (len(f), f))
            .or_else(|| {
                longer
                    .iter()
                    .copied()
                    .max_by_key(|&f| (len(f), usize::MAX - f))
            });
        if let Some(f) = completed {
            result[g].stop = Some(0);
            result[g].continued_in = Some(f);
        }
    }
    // A partial line continued in an input that stops at the same place (a longer copy cut
    // later in the same line) is counted further on: name the input that counts it.
    for x in 0..result.len() {
        let mut counted_in = result[x].continued_in;
        for _ in 0..result.len() {
            match counted_in {
                Some(y) if y != x && result[y].stop == result[x].stop => {
                    match result[y].continued_in {
                        Some(z) => counted_in = Some(z),
                        None => break,
                    }
                }
                _ => break,
            }
        }
        result[x].continued_in = counted_in;
    }
    result
}

/// The part of `data` that groups it with the inputs it may share content with: its first
/// line with its `\n`, or its first [`HEAD`] bytes.
fn first_line(data: &[u8]) -> &[u8] {
    let head = &data[..data.len().min(HEAD)];
    memchr(b'\n', head).map_or(head, |end| &head[..=end])
}

/// Which of the `heads` (an input's first [`HEAD`] bytes at least, where known: a `.gz`
/// file's decoded ones) start like another of them, through their first line of text, so
/// that [`plan`] may find a copy among them. Empty heads take no part.
pub fn may_share_content(heads: &[Option<&[u8]>]) -> Vec<bool> {
    // Whole inputs told by their length first; then the heads are compared after a leading
    // byte order mark, as [`plan_with`] compares texts (a marked `.gz` copy of unmarked text
    // was never decoded, so it counted again).
    let whole: Vec<bool> = heads
        .iter()
        .map(|h| h.is_some_and(|h| h.len() < HEAD))
        .collect();
    // All cut to the same length after the mark: a `.gz` head is [`HEAD`] decoded bytes, so
    // a marked one has 3 fewer of text, and a first line longer than that keyed it apart
    // from the same text unmarked.
    let text_head = HEAD - crate::scan::line::UTF8_BOM.len();
    let heads: Vec<Option<&[u8]>> = heads
        .iter()
        .map(|h| {
            h.map(|h| {
                let text = crate::scan::line::strip_bom(h);
                &text[..text.len().min(text_head)]
            })
        })
        .collect();
    let keys: Vec<Option<&[u8]>> = heads
        .iter()
        .map(|h| h.map(through_first_text).filter(|k| !k.is_empty()))
        .collect();
    let mut seen: AHashMap<&[u8], usize> = AHashMap::new();
    for key in keys.iter().flatten() {
        *seen.entry(key).or_default() += 1;
    }
    let mut candidates: Vec<bool> = keys
        .iter()
        .map(|k| k.is_some_and(|k| seen.get(k).is_some_and(|&n| n > 1)))
        .collect();
    // A whole input that ends before its first line of text does (a copy taken in the
    // middle of that line, or one of only blank lines) is the start of a longer copy, not
    // its key: it goes with every head that starts with it.
    let mut open: Vec<&[u8]> = heads
        .iter()
        .zip(&keys)
        .zip(&whole)
        .filter_map(|((h, k), &whole)| match (h, k) {
            (Some(h), Some(k)) if whole && !ends_text_line(k) => Some(*h),
            _ => None,
        })
        .collect();
    if open.is_empty() {
        return candidates;
    }
    open.sort_unstable();
    open.dedup();
    let mut sorted: Vec<(&[u8], usize)> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.map(|h| (&h[..h.len().min(HEAD)], i)))
        .collect();
    sorted.sort_unstable();
    for start in open {
        // The heads that start with `start` sort together, from `start` itself on.
        let from = sorted.partition_point(|(h, _)| *h < start);
        let sharing: Vec<usize> = sorted[from..]
            .iter()
            .take_while(|(h, _)| h.starts_with(start))
            .map(|&(_, i)| i)
            .collect();
        if sharing.len() > 1 {
            for i in sharing {
                candidates[i] = true;
            }
        }
    }
    candidates
}

/// Whether `key` (from [`through_first_text`]) ends with a whole line of text.
fn ends_text_line(key: &[u8]) -> bool {
    let Some(body) = key.strip_suffix(b"\n") else {
        return false;
    };
    has_text(&body[memrchr(b'\n', body).map_or(0, |i| i + 1)..])
}

/// The start of `head` (at most [`HEAD`] bytes) through its first line the scanner reads as
/// text: lines of only blanks or NUL padding (a `copytruncate` hole), with or without a
/// byte order mark after the padding, start unrelated files alike, so they are kept with
/// the text after them, which a copy shares byte for byte. The whole head where it holds
/// no text.
fn through_first_text(head: &[u8]) -> &[u8] {
    let head = &head[..head.len().min(HEAD)];
    let mut start = 0;
    while start < head.len() {
        let end = memchr(b'\n', &head[start..]).map_or(head.len(), |e| start + e + 1);
        if has_text(&head[start..end]) {
            return &head[..end];
        }
        start = end;
    }
    head
}

/// Whether `line` holds more than blanks, NUL padding and a byte order mark after it.
fn has_text(line: &[u8]) -> bool {
    let padding = line.iter().take_while(|&&b| b == 0).count();
    crate::scan::line::strip_bom(&line[padding..])
        .iter()
        .any(|&b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t' | 0))
}

/// How many decoded bytes of a `.gz` input [`may_share_content`] needs.
pub const HEAD_BYTES: usize = HEAD;

/// Bytes a comparison reads between two calls of [`plan_with`]'s `forget`.
const WINDOW: usize = 8 << 20;

/// `a == b`, window by window.
fn equal(a: &[u8], b: &[u8], forget: &dyn Fn(&[u8])) -> bool {
    a.len() == b.len()
        && a.chunks(WINDOW).zip(b.chunks(WINDOW)).all(|(x, y)| {
            let same = x == y;
            forget(x);
            forget(y);
            same
        })
}

/// `data.starts_with(prefix)`, window by window.
fn starts_with(data: &[u8], prefix: &[u8], forget: &dyn Fn(&[u8])) -> bool {
    data.len() >= prefix.len() && equal(&data[..prefix.len()], prefix, forget)
}

/// [`count_lines`], window by window.
fn lines_in(data: &[u8], forget: &dyn Fn(&[u8])) -> u64 {
    let newlines: u64 = data
        .chunks(WINDOW)
        .map(|w| {
            let n = memchr_iter(b'\n', w).count() as u64;
            forget(w);
            n
        })
        .sum();
    newlines + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// Physical lines (a final line without `\n` counts).
pub fn count_lines(data: &[u8]) -> u64 {
    let newlines = memchr_iter(b'\n', data).count() as u64;
    newlines + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// Hashes of `data[..len]` for each of `lens` (ascending, none past `data`), in one pass: a
/// word at a time, so the state after a prefix of whole words is shared, and the tail and
/// the length mixed in last. Equal prefixes hash equal; unequal ones rarely do (fixed keys:
/// a chosen collision costs a byte comparison, not a wrong answer).
fn prefix_hashes(data: &[u8], lens: &[usize], forget: &dyn Fn(&[u8])) -> Vec<u64> {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let step = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(29);
    let (mut h, mut done) = (K, 0usize);
    let hashes = lens
        .iter()
        .map(|&len| {
            let len = len.min(data.len());
            if len < done {
                // Out of order (callers pass them ascending): start again, never panic.
                (h, done) = (K, 0);
            }
            while done + 8 <= len {
                let mut word = [0u8; 8];
                word.copy_from_slice(&data[done..done + 8]);
                h = step(h, u64::from_le_bytes(word));
                done += 8;
                if done % WINDOW == 0 {
                    forget(&data[done - WINDOW..done]);
                }
            }
            let mut tail = [0u8; 8];
            tail[..len - done].copy_from_slice(&data[done..len]);
            let f = step(step(h, u64::from_le_bytes(tail)), len as u64);
            (f ^ (f >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        })
        .collect();
    forget(&data[done - done % WINDOW..done]);
    hashes
}

fn hash(bytes: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Fixed keys: the grouping must not depend on the run.
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(files: &[&[u8]]) -> Vec<Overlap> {
        let contents: Vec<Option<(&[u8], bool)>> = files.iter().map(|f| Some((*f, true))).collect();
        plan(&contents)
    }

    /// Inputs are grouped by their start through the first line the scanner reads as text:
    /// not a line of blanks, NUL padding or a byte order mark (the scanner drops one mark
    /// after the padding) alone, which starts unrelated files alike; a copy shares it.
    #[test]
    fn blank_first_lines_group_inputs_by_the_text_after_them() {
        let heads = |lines: &[&[u8]]| -> Vec<bool> {
            let twice: Vec<Option<&[u8]>> = lines.iter().flat_map(|l| [Some(*l); 2]).collect();
            may_share_content(&twice)
        };
        let blank_then_text: [&[u8]; 4] = [
            b" \t\r\nA",
            b"\0\0\nA\nB",
            b"\xef\xbb\xbf\r\nA",
            b"\0\xef\xbb\xbf \n\n\nA\n",
        ];
        assert_eq!(heads(&blank_then_text), [true; 8]);
        // A leading mark is no content: a marked head goes with the same text unmarked, and
        // one of a mark alone is empty (no part).
        let some = |h: &'static [u8]| Some(h);
        assert_eq!(
            may_share_content(&[
                some(b"\xef\xbb\xbfA\nB"),
                some(b"A\nC"),
                some(b"\xef\xbb\xbfB\n")
            ]),
            [true, true, false]
        );
        assert_eq!(
            may_share_content(&[some(b"\xef\xbb\xbfAB"), some(b"ABC\n")]),
            [true, true]
        );
        assert_eq!(heads(&[b"\xef\xbb\xbf"]), [false; 2]);
        // A first line longer than a head: a `.gz` head is HEAD decoded bytes, the mark's
        // among them; the same text unmarked (a whole plain file) goes with it.
        for line_len in [HEAD - 3, HEAD - 2, HEAD, HEAD + 100] {
            let text = [&b"x".repeat(line_len)[..], b"\nnext\n"].concat();
            let marked = [crate::scan::line::UTF8_BOM, &text].concat();
            for (a, b) in [(&marked[..HEAD], &text[..]), (&text[..HEAD], &marked[..])] {
                assert_eq!(
                    may_share_content(&[Some(a), Some(b)]),
                    [true; 2],
                    "{line_len}"
                );
            }
        }
        let telling: [&[u8]; 3] = [b"a\n", b"\xef\xbb\xbf\xef\xbb\xbf\n", b"\xef\xbb\xbfx\n"];
        assert_eq!(heads(&telling), [true; 6]);
        // Alike blank lines, different text after them: no copy.
        assert_eq!(
            may_share_content(&[some(b"\n\nA\n"), some(b"\n\nB\n"), some(b"\0\0\0\nA\n")]),
            [false; 3]
        );
        // A shorter copy, and a longer one cut within the head: the same first text.
        assert_eq!(
            may_share_content(&[some(b"\n\0\nA\n"), some(b"\n\0\nA\nB\nC"), some(b"\nA\n")]),
            [true, true, false]
        );
        assert_eq!(
            may_share_content(&[Some(b"a\n"), Some(b"b\n"), None, some(b"")]),
            [false; 4]
        );
        // A whole input cut inside its first line of text, or of blank lines only, goes
        // with the heads that start with it (the longer copies).
        assert_eq!(
            may_share_content(&[
                some(b"\n\nAB"),
                some(b"\n\nABC\nD\n"),
                some(b"\n\nAX\n"),
                some(b"\r\r\n"),
                some(b"\r\r\nZ\n"),
                some(b"\n\nAY"),
                some(b"\n\n\n"),
                some(b"\n\n\nQ\n"),
                some(b"zz"),
                some(b"z\n"),
            ]),
            [true, true, false, true, true, false, true, true, false, false]
        );
        // A head of padding with no text in it is its own key: a hole's copy shares it.
        let hole = vec![0u8; HEAD + 10];
        // (Heads are compared through their first HEAD - 3 bytes of text: see the mark.)
        let mut other = vec![0u8; HEAD - 4];
        other.push(b'x');
        assert_eq!(
            may_share_content(&[Some(&hole[..]), Some(&hole[..HEAD]), Some(&other[..])]),
            [true, true, false]
        );
    }

    /// Past the direct comparisons, earlier members are screened by hash: the one that covers
    /// a file is still found however far back it is (a shorter prefix, an identical copy),
    /// and the others are skipped.
    #[test]
    fn covering_members_beyond_the_direct_comparisons_are_found() {
        let p = big("shared", 40);
        let with = |tail: &str| [&p[..], tail.as_bytes()].concat();
        // Sorted by length, then index: the prefix, then f, five others of f's length, and
        // a copy of f last (its earlier candidates: the five, then f).
        let files = [
            p.clone(),
            with("f f\n"),
            with("b 0\n"),
            with("b 1\n"),
            with("b 2\n"),
            with("b 3\n"),
            with("b 4\n"),
            with("f f\n"),
        ];
        let refs: Vec<&[u8]> = files.iter().map(|f| &f[..]).collect();
        let got = plan_of(&refs);
        for (i, o) in got.iter().enumerate().take(7).skip(1) {
            assert_eq!((o.skip, o.covered_by), (p.len(), Some(0)), "file {i}");
        }
        assert_eq!((got[7].skip, got[7].covered_by), (files[7].len(), Some(1)));
        assert_eq!(got[7].skip_lines, 41);
        let keep = &|_: &[u8]| {};
        let hashes = prefix_hashes(&files[1], &[1, 9, p.len(), files[1].len()], keep);
        assert_eq!(hashes[2], prefix_hashes(&p, &[p.len()], keep)[0]);
        assert_ne!(
            hashes[3],
            prefix_hashes(&files[2], &[files[2].len()], keep)[0]
        );
        // Lengths out of order (never passed) start the pass again: no panic, same hashes.
        assert_eq!(prefix_hashes(&files[1], &[p.len(), 9], keep)[1], hashes[1]);
    }

    fn big(prefix: &str, lines: usize) -> Vec<u8> {
        (0..lines)
            .map(|i| format!("{prefix} line {i:06} padding padding padding padding\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn identical_files_are_skipped_after_the_first() {
        let a = big("a", 200);
        let p = plan_of(&[&a, &a, &a]);
        assert_eq!(p[0], Overlap::default());
        assert_eq!(
            (p[1].skip, p[1].skip_lines, p[1].covered_by),
            (a.len(), 200, Some(0))
        );
        assert_eq!((p[2].skip, p[2].covered_by), (a.len(), Some(0)));
        // Small identical files too.
        let p = plan_of(&[b"x\ny\n", b"x\ny\n", b"x\n"]);
        assert_eq!(
            (p[1].skip, p[1].skip_lines, p[1].covered_by),
            (4, 2, Some(0))
        );
        // A short file is a prefix like any other (it once was only ever compared whole).
        let p = plan_of(&[b"x\ny\n", b"x\n"]);
        assert_eq!(
            (p[0].skip, p[0].skip_lines, p[0].covered_by),
            (2, 1, Some(1))
        );
        assert_eq!(p[1], Overlap::default());
    }

    #[test]
    fn a_daily_copy_under_a_page_is_skipped_in_the_next_one() {
        let day1 = big("d", 20);
        assert!(day1.len() < HEAD);
        let mut day2 = day1.clone();
        day2.extend(big("e", 100));
        let p = plan_of(&[&day1, &day2]);
        assert_eq!(p[0], Overlap::default());
        assert_eq!(
            (p[1].skip, p[1].skip_lines, p[1].covered_by),
            (day1.len(), 20, Some(0))
        );
        // Files that only share their first line are each scanned whole.
        let mut other = big("d", 1);
        other.extend(big("x", 30));
        assert_eq!(plan_of(&[&day1, &other]), vec![Overlap::default(); 2]);
    }

    #[test]
    fn daily_copies_of_a_growing_log_skip_the_previous_copy() {
        let day1 = big("d", 100);
        let mut day2 = day1.clone();
        day2.extend(big("e", 100));
        let mut day3 = day2.clone();
        day3.extend(big("f", 50));
        // Listed newest first, to show the order does not matter.
        let p = plan_of(&[&day3, &day1, &day2]);
        assert_eq!(p[1], Overlap::default());
        assert_eq!(
            (p[2].skip, p[2].skip_lines, p[2].covered_by),
            (day1.len(), 100, Some(1))
        );
        assert_eq!(
            (p[0].skip, p[0].skip_lines, p[0].covered_by),
            (day2.len(), 200, Some(2))
        );
    }

    /// A copy taken mid-write (100 lines and half of one), the later copy completing that
    /// line (and 10 more), and the length of the copy's full lines.
    fn copy_and_completion() -> (Vec<u8>, Vec<u8>, usize) {
        let mut copy = big("d", 100);
        copy.extend_from_slice(b"1.2.3.4 - - [half a li");
        let mut completed = big("d", 100);
        completed.extend_from_slice(b"1.2.3.4 - - [half a line, now complete\n");
        completed.extend(big("e", 10));
        (copy, completed, big("d", 100).len())
    }

    #[test]
    fn a_partial_last_line_is_counted_once_in_the_longer_copy() {
        let (day1, day2, full) = copy_and_completion();
        let p = plan_of(&[&day1, &day2]);
        assert_eq!((p[0].stop, p[0].continued_in), (Some(full), Some(1)));
        assert_eq!(
            (p[1].skip, p[1].skip_lines, p[1].covered_by),
            (full, 100, Some(0))
        );
    }

    /// Three copies cut in one line, ever later: the first's part of it is counted in the
    /// third, which completes it, and the first says so (it named the second, which stops
    /// there too).
    #[test]
    fn a_partial_line_cut_again_in_the_next_copy_names_the_copy_that_counts_it() {
        let (_, completed, full) = copy_and_completion();
        let files = [
            &completed[..full + 15],
            &completed[..full + 30],
            &completed[..],
        ];
        let p = plan_of(&files);
        assert_eq!(scanned(&files, &p), completed);
        assert_eq!((p[0].stop, p[0].continued_in), (Some(full), Some(2)));
        assert_eq!((p[1].stop, p[1].continued_in), (Some(full), Some(2)));
        // A later line cut in the second copy is not the first's line.
        let mut longer = completed[..full + 39].to_vec();
        longer.extend_from_slice(b"8.8.8.8 - - [cut");
        let third = [&longer[..], b" now whole\n"].concat();
        let files = [&completed[..full + 15], &longer[..], &third[..]];
        let p = plan_of(&files);
        assert_eq!(scanned(&files, &p), third);
        assert_eq!((p[0].stop, p[0].continued_in), (Some(full), Some(1)));
        assert_eq!((p[1].stop, p[1].continued_in), (Some(full + 39), Some(2)));
    }

    /// Each input's scanned bytes (`skip` up to `stop` or its end; nothing when skipped
    /// whole), concatenated in input order.
    fn scanned(files: &[&[u8]], p: &[Overlap]) -> Vec<u8> {
        let mut out = Vec::new();
        for (data, o) in files.iter().zip(p) {
            let end = o.stop.unwrap_or(data.len());
            if o.skip < end {
                out.extend_from_slice(&data[o.skip..end]);
            }
        }
        out
    }

    #[test]
    fn a_copy_without_a_complete_line_is_counted_in_the_file_it_starts() {
        let line = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 5";
        let mut whole = line.to_vec();
        whole.extend_from_slice(b"\n10.0.0.2 - - [19/Jun/2023:10:00:01 +0000] \"GET /\" 200 5\n");
        // The line without its `\n`, a copy cut inside it, the same cut twice, and a first
        // line longer than the grouping's head cut inside (its file is still one line).
        let long: Vec<u8> = [&b"x"[..]].repeat(HEAD + 100).concat();
        let mut long_whole = long.clone();
        long_whole.extend_from_slice(b"yz\nnext\n");
        for (files, scanned_all) in [
            (vec![&line[..], &whole[..]], whole.clone()),
            (vec![&whole[..], &line[..20]], whole.clone()),
            (vec![&line[..20], &line[..20], &whole[..]], whole.clone()),
            (vec![&long[..], &long_whole[..]], long_whole.clone()),
        ] {
            let p = plan_of(&files);
            assert_eq!(scanned(&files, &p), scanned_all, "{p:?}");
            let (cut, completed) = match files[0].len() < files[files.len() - 1].len() {
                true => (0, files.len() - 1),
                false => (1, 0),
            };
            assert_eq!(
                (p[cut].stop, p[cut].continued_in),
                (Some(0), Some(completed))
            );
            assert_eq!(p[completed], Overlap::default());
        }
        // A fragment that starts no other file is scanned.
        let p = plan_of(&[&line[..20], &b"other\n"[..]]);
        assert_eq!(p, vec![Overlap::default(); 2]);
    }

    #[test]
    fn a_partial_last_line_held_by_two_identical_copies_is_counted_once() {
        let (copy, completed, full) = copy_and_completion();
        // The same archive twice, then the copy that completes its last line: the partial
        // line is scanned in neither copy, and the completed one skips only the full lines,
        // naming the first copy (the second is skipped whole).
        let files: [&[u8]; 3] = [&copy, &copy, &completed];
        let p = plan_of(&files);
        assert_eq!((p[0].stop, p[0].continued_in), (Some(full), Some(2)));
        assert_eq!((p[1].skip, p[1].covered_by), (copy.len(), Some(0)));
        assert_eq!((p[2].skip, p[2].covered_by), (full, Some(0)));
        let mut expected = big("d", 100);
        expected.extend_from_slice(&completed[full..]);
        assert_eq!(scanned(&files, &p), expected);
        // One step longer: a copy with more lines and a partial one, that copy twice, then
        // the copy completing it.
        let base = big("d", 95);
        let files: [&[u8]; 4] = [&base, &copy, &copy, &completed];
        let p = plan_of(&files);
        assert_eq!(
            (p[1].skip, p[1].stop, p[1].continued_in),
            (base.len(), Some(full), Some(3))
        );
        assert_eq!((p[2].skip, p[2].covered_by), (copy.len(), Some(1)));
        assert_eq!((p[3].skip, p[3].covered_by), (full, Some(1)));
        assert_eq!(scanned(&files, &p), expected);
    }

    /// The comparisons hand back what they read in windows of at most [`WINDOW`] bytes,
    /// covering both files of a copy and its longer copy (so the engine can drop their pages
    /// as it goes), and plan as [`plan`] does.
    #[test]
    fn comparisons_forget_what_they_read_window_by_window() {
        let short = big("a", 400_000); // 18.4 MB: over 2 windows
        let mut long = short.clone();
        long.extend(big("b", 10));
        // Two files that start alike without covering it, compared with it first (the
        // longest earlier members): the third comparison is screened by prefix hashes.
        let mut other1 = short[..short.len() / 2].to_vec();
        other1.extend(big("c", 200_001));
        let mut other2 = other1.clone();
        other2.extend(big("d", 1));
        let contents = [
            Some((&short[..], true)),
            Some((&other1[..], true)),
            Some((&other2[..], true)),
            Some((&long[..], true)),
        ];
        let seen = std::cell::RefCell::new(Vec::new());
        let plan = plan_with(&contents, &|w: &[u8]| {
            seen.borrow_mut().push((w.as_ptr() as usize, w.len()))
        });
        assert_eq!(plan, super::plan(&contents));
        assert_eq!(plan[3].skip, short.len());
        assert_eq!(plan[3].covered_by, Some(0));
        let seen = seen.into_inner();
        assert!(seen.iter().all(|&(_, len)| len <= WINDOW));
        // The copy hashed whole, then compared; the longer file's part hashed, compared,
        // and its lines counted (without the hash's windows: once less each).
        for (data, times) in [(&short[..], 2), (&long[..], 3)] {
            let start = data.as_ptr() as usize;
            let range = start..start + data.len();
            let covered: usize = seen
                .iter()
                .filter(|(at, _)| range.contains(at))
                .map(|&(_, len)| len)
                .sum();
            assert!(covered >= times * short.len(), "{covered}");
        }
    }

    /// A copy saved with a byte order mark beside the same text without one (either way
    /// round, whole or as a prefix) is a copy: compared after the mark, its offsets past it.
    #[test]
    fn a_byte_order_mark_does_not_hide_a_copy() {
        let bom = |data: &[u8]| [crate::scan::line::UTF8_BOM, data].concat();
        let a = big("a", 100);
        let mut longer = a.clone();
        longer.extend(big("b", 5));
        let (bom_a, bom_longer) = (bom(&a), bom(&longer));
        let p = plan_of(&[&a, &bom_a]);
        assert_eq!(p[0], Overlap::default());
        assert_eq!(
            (p[1].skip, p[1].skip_lines, p[1].covered_by),
            (a.len() + 3, 100, Some(0))
        );
        let p = plan_of(&[&bom_a, &a]);
        assert_eq!(p[0], Overlap::default());
        assert_eq!((p[1].skip, p[1].covered_by), (a.len(), Some(0)));
        let p = plan_of(&[&bom_a, &longer]);
        assert_eq!((p[1].skip, p[1].skip_lines), (a.len(), 100));
        let p = plan_of(&[&a, &bom_longer]);
        assert_eq!((p[1].skip, p[1].skip_lines), (a.len() + 3, 100));
        // Both marked: as before.
        let p = plan_of(&[&bom_a, &bom_longer]);
        assert_eq!((p[1].skip, p[1].skip_lines), (a.len() + 3, 100));
        // A copy taken mid-line: its partial line stops after the mark's offset too.
        let cut = bom(b"x 1\ny 2");
        let p = plan_of(&[&cut, b"x 1\ny 2 and more\n"]);
        assert_eq!(
            (p[0].stop, p[0].continued_in, p[1].skip, p[1].skip_lines),
            (Some(3 + 4), Some(1), 4, 1)
        );
        // A mark and a piece of a first line, no newline: nothing of it is scanned.
        let p = plan_of(&[&bom(b"x 1"), b"x 1 and more\n"]);
        assert_eq!((p[0].stop, p[0].continued_in), (Some(0), Some(1)));
        // Compressed bytes are not text: a mark there is nothing.
        let contents = [Some((&a[..], true)), Some((&bom_a[..], false))];
        assert_eq!(plan(&contents), vec![Overlap::default(); 2]);
    }

    /// A mark before NUL padding is content: the scanner keeps padding after a mark as part
    /// of the line (a malformed one), where the same text without the mark is padding and a
    /// line. So the two are not copies; the same marked text twice still is.
    #[test]
    fn a_mark_before_padding_is_not_dropped_for_the_comparison() {
        let line = b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] \"GET / HTTP/1.1\" 404 1\n";
        let padded = [&b"\0\0"[..], line].concat();
        let marked = [crate::scan::line::UTF8_BOM, &padded].concat();
        let twice = [&padded[..], line].concat();
        assert_eq!(plan_of(&[&marked, &twice]), vec![Overlap::default(); 2]);
        assert_eq!(plan_of(&[&twice, &marked]), vec![Overlap::default(); 2]);
        let marked_twice = [crate::scan::line::UTF8_BOM, &twice].concat();
        let p = plan_of(&[&marked, &marked_twice]);
        assert_eq!(
            (p[1].skip, p[1].skip_lines, p[1].covered_by),
            (marked.len(), 1, Some(0))
        );
    }

    #[test]
    fn different_files_and_compressed_prefixes_are_left_alone() {
        let a = big("a", 100);
        let b = big("b", 100);
        assert_eq!(plan_of(&[&a, &b]), vec![Overlap::default(); 2]);
        let mut longer = a.clone();
        longer.extend(big("z", 5));
        let contents = [Some((&a[..], false)), Some((&longer[..], true))];
        assert_eq!(
            plan(&contents),
            vec![Overlap::default(); 2],
            "no prefix logic on compressed bytes"
        );
    }
}
